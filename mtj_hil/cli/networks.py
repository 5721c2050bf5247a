"""``mtj-hil train`` and ``mtj-hil evaluate``: one network at a time, trained for a die and
saved in a run file, or evaluated in software, emulated or on the die."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.text import Text

from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.numbers import FiniteRange
from mtj_hil.cli.tables import make_console
from mtj_hil.experiments.borders_config import MAX_DIES
from mtj_hil.experiments.data import DEFAULT_IMAGE_SIZE, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from mtj_hil.experiments.method_names import METHODS
from mtj_hil.training.bnn import MAX_EPOCHS
from mtj_hil.training.compensation import COMPENSATION_BUDGET, COMPENSATION_EPOCHS

console = make_console(stderr=True)

DATASET = click.Choice(["mnist5k", "digits", "idx"])


def _station_option(f: Callable) -> Callable:
    return click.option(
        "--station",
        type=GivenPath(dir_okay=False, path_type=Path),
        default=None,
        help="Station file: work on a real die instead of the simulated one.",
    )(f)


@click.command(short_help="Train a network for a die and save it in a run file.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    required=True,
    help="unaware: ideal devices; defect-aware: this die's measured map; "
    "defect-aware-compensated: the defect-aware network fine-tuned further for a digital "
    "correction of its costliest measured weight errors on the die, saved with that "
    "correction (evaluate applies it); statistics-aware: "
    "the lot's defect statistics; chip-in-the-loop: fine-tune with forward passes measured "
    "on the die (simulated, or the --station's); lea: the software network with Layer "
    "Ensemble Averaging (--copies of each layer on the die's cleanest arrays, averaged).",
)
@click.option(
    "--copies",
    default="auto",
    show_default=True,
    help="LEA copies: 'auto' (the most that fit, output layer first), K for every layer, or "
    "K0,K1,... per layer; each copy costs the layer's devices again.",
)
@click.option(
    "--loop-epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=5,
    show_default=True,
    help="Epochs of chip-in-the-loop fine-tuning (each reads every training sample).",
)
@click.option(
    "--compensation-budget",
    type=FiniteRange(0.0, 1.0),
    default=COMPENSATION_BUDGET,
    show_default=True,
    help="defect-aware-compensated: fraction of the network's weights whose measured error "
    "is corrected digitally, the costliest first (one multiply-add per input each, beside "
    "the crossbar's one per weight).",
)
@click.option(
    "--compensation-epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=COMPENSATION_EPOCHS,
    show_default=True,
    help="defect-aware-compensated: epochs the defect-aware network is fine-tuned further "
    "through what the correction leaves of the die.",
)
@click.option("--die", type=click.IntRange(0), required=True, help="Die of the simulated lot.")
@click.option(
    "--characterization",
    type=GivenPath(dir_okay=False, path_type=Path),
    multiple=True,
    help="Characterisation run file(s): the die's own (defect-aware, "
    "defect-aware-compensated, lea) or the population's (statistics-aware). Default: "
    "characterise now, in memory.",
)
@click.option(
    "--out",
    type=GivenPath(dir_okay=False, path_type=Path),
    required=True,
    help="Run file (HDF5) to write the network and its placement to.",
)
@click.option(
    "--dataset",
    type=DATASET,
    default="mnist5k",
    show_default=True,
    help="Training data: mnist5k, digits or idx (--data-dir).",
)
@click.option(
    "--data-dir",
    type=GivenPath(file_okay=False, path_type=Path),
    default=None,
    help="Folder of IDX files (--dataset idx).",
)
@click.option(
    "--image-size",
    type=click.IntRange(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
    default=DEFAULT_IMAGE_SIZE,
    show_default=True,
    help="MNIST pixels per side after down-sampling.",
)
@click.option(
    "--hidden",
    type=click.IntRange(1),
    multiple=True,
    default=(64,),
    show_default=True,
    help="Hidden-layer width (repeat for more layers).",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=30,
    show_default=True,
    help="Training epochs.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Master seed (data split, training).",
)
@click.option(
    "--profile",
    default="1t1r-20k",
    show_default=True,
    help="Die profile: a shipped name or a TOML file.",
)
@click.option(
    "--lot-seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the simulated lot.",
)
@click.option(
    "--population-dies",
    type=click.IntRange(1, MAX_DIES),
    default=8,
    show_default=True,
    help="Dies characterised to fit the population when no --characterization is given.",
)
@_station_option
def train(
    method: str,
    die: int,
    characterization: tuple[Path, ...],
    out: Path,
    dataset: str,
    data_dir: Path | None,
    image_size: int,
    hidden: tuple[int, ...],
    epochs: int,
    seed: int,
    profile: str,
    lot_seed: int,
    population_dies: int,
    station: Path | None,
    loop_epochs: int,
    compensation_budget: float,
    compensation_epochs: int,
    copies: str,
) -> None:
    """Train one network for a die and save it, with its placement, in a run file."""
    from mtj_hil.cli.common import given_options
    from mtj_hil.errors import ConfigError
    from mtj_hil.experiments.data import check_image_size
    from mtj_hil.experiments.method_names import METHOD_OPTIONS, check_method_options
    from mtj_hil.experiments.single import (
        TrainSpec,
        summary_json,
        train_network,
    )

    try:  # the checks TrainSpec makes, on the options typed (a default typed counts too)
        check_method_options(method, given_options(tuple(METHOD_OPTIONS)))
        check_image_size(dataset, image_size if given_options(("image_size",)) else None)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if len(characterization) > 1:
        from mtj_hil.runs.store.select import finished_runs, skipped_note

        usable, skipped = finished_runs(characterization, ("characterization",))
        if skipped:
            console.print(Text(skipped_note(skipped), style="yellow"), soft_wrap=True)
        if not usable:
            from mtj_hil.errors import StoreError

            raise StoreError(f"no finished run among the {len(characterization)} given")
        characterization = tuple(usable)
    spec = TrainSpec(
        method=method,
        die=die,
        out=out,
        dataset=dataset,
        data_dir=data_dir,
        image_size=image_size,
        hidden=tuple(hidden),
        epochs=epochs,
        seed=seed,
        profile=profile,
        lot_seed=lot_seed,
        characterization=characterization,
        population_dies=population_dies,
        station=station,
        loop_epochs=loop_epochs,
        copies=copies,
        compensation_budget=compensation_budget,
        compensation_epochs=compensation_epochs,
    )
    click.echo(summary_json(train_network(spec)))


@click.command(short_help="Test a saved network on a die: software, emulated, chip.")
@click.option(
    "--net",
    type=GivenPath(dir_okay=False, path_type=Path),
    required=True,
    help="Network run file written by mtj-hil train.",
)
@click.option(
    "--die",
    type=click.IntRange(0),
    required=True,
    help="Die of the simulated lot (or the station's die) to evaluate on.",
)
@click.option("--on-chip", is_flag=True, help="Program the network and measure it on the die.")
@click.option(
    "--characterization",
    type=GivenPath(dir_okay=False, path_type=Path),
    default=None,
    help="The die's characterisation run file (default: characterise now, in memory).",
)
@_station_option
def evaluate(
    net: Path, die: int, on_chip: bool, characterization: Path | None, station: Path | None
) -> None:
    """Test error of a saved network on a die: software, emulated, and (--on-chip) measured.
    A network saved with its digital correction (defect-aware-compensated) is evaluated
    with it, emulated and on the die alike."""
    from mtj_hil.experiments.single import summary_json
    from mtj_hil.experiments.single_eval import evaluate_network

    result = evaluate_network(
        net, die, on_chip=on_chip, characterization=characterization, station=station
    )
    click.echo(summary_json(result))
