"""The ``mtj-hil experiment`` commands (``mtj-hil train`` and ``mtj-hil evaluate``: in
:mod:`mtj_hil.cli.networks`, re-exported here).

Listed in the root group's table, :data:`mtj_hil.cli.command_table.COMMANDS`. Errors
propagate as the project's exception families, which ``mtj_hil.cli.main.main`` turns into
one line and an exit code.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.experiment_common import console, progress_bar, results_folder
from mtj_hil.cli.goodwill import goodwill
from mtj_hil.cli.numbers import FiniteRange
from mtj_hil.cli.tables import make_console, print_markdown
from mtj_hil.experiments.borders_config import MAX_DIES, MAX_WORKERS
from mtj_hil.experiments.data import DEFAULT_IMAGE_SIZE, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from mtj_hil.fileio.atomic import atomic_write_text
from mtj_hil.training.bnn import MAX_EPOCHS
from mtj_hil.training.compensation import COMPENSATION_BUDGET, COMPENSATION_EPOCHS

DATASET = click.Choice(["mnist5k", "digits", "idx"])


@click.group(short_help="Reproduce the seed experiments on simulated dies.")
def experiment() -> None:
    """Reproduce the seed experiments on simulated dies (results: run file, Markdown, CSV, PNG)."""


@experiment.command(short_help="MNIST on a lot of dies, after Borders et al.")
@click.option(
    "--dataset",
    type=DATASET,
    default="mnist5k",
    show_default=True,
    help="Training data: mnist5k (5,000 MNIST digits), digits (scikit-learn 8 x 8), idx (--data-dir).",
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
    help="Pixels a side.",
)
@click.option(
    "--dies",
    type=click.IntRange(1, MAX_DIES),
    default=36,
    show_default=True,
    help="Dies of the simulated lot (indices 0 .. N-1).",
)
@click.option(
    "--lot-seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the simulated lot.",
)
@click.option("--profile", default="1t1r-20k", show_default=True, help="Die profile name or TOML.")
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
    help="Epochs of the first, ideal-device training.",
)
@click.option(
    "--finetune-epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=30,
    show_default=True,
    help="Epochs of per-die defect-aware fine-tuning.",
)
@click.option(
    "--stats-epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=20,
    show_default=True,
    help="Epochs of statistics-aware training (from the software network).",
)
@click.option(
    "--freeze-defective/--no-freeze-defective",
    default=False,
    show_default=True,
    help="Freeze weights of pairs with a defective device in defect-aware fine-tuning "
    "(default: the gradient flows through the pair's working device).",
)
@click.option(
    "--shared-rows",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="First-layer rows the defect-aware network takes from its least important inputs "
    "(dropped) for extra copies of its most important ones (tied weights, split voltage).",
)
@click.option(
    "--recalibrate/--no-recalibrate",
    default=True,
    show_default=True,
    help="Also evaluate LEA and the statistics-aware network after per-neuron digital "
    "recalibration from each die's reads of a batch of training images (no retraining).",
)
@click.option(
    "--recal-components",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Rank of the recalibration's input-dependent part: per neuron, the mismatch along "
    "the K principal directions of the layer's calibration inputs is corrected too (digital "
    "cost K (n_in + n_out) multiply-adds per layer per input; 0: scale and shift only; "
    "not with --no-recalibrate).",
)
@click.option(
    "--weight-routing/--no-weight-routing",
    default=True,
    show_default=True,
    help="On each die, route every network's inputs and outputs for its weights (stuck "
    "devices under the weight they are stuck at, other defects on the least important "
    "lines; no retraining). Off: the weight-blind defect-aware placement.",
)
@click.option(
    "--bias-correction/--no-bias-correction",
    default=True,
    show_default=True,
    help="Deploy the statistics-aware network on each die with its biases corrected for "
    "the mean shift the die's measured devices cause (no retraining, no reads).",
)
@click.option(
    "--compensation-budget",
    type=FiniteRange(0.0, 1.0),
    default=COMPENSATION_BUDGET,
    show_default=True,
    help="Also deploy the statistics-aware network (and its LEA) with the data-free "
    "compensation: per-neuron scale and shift and this fraction of the weights corrected "
    "digitally, from each die's measured conductances (no retraining, no reads).",
)
@click.option(
    "--compensation-epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=COMPENSATION_EPOCHS,
    show_default=True,
    help="Epochs each die's defect-aware network is fine-tuned further for the same "
    "compensation budget: its costliest weight errors corrected digitally, trained through "
    "what that leaves (the defect_aware_compensated column).",
)
@click.option(
    "--compensation-training/--no-compensation-training",
    default=True,
    show_default=True,
    help="Deploy the compensation with a second statistics-aware network, trained against "
    "what the compensation leaves of each sampled die (off: the statistics-aware network).",
)
@click.option(
    "--validation",
    type=FiniteRange(0.0, 0.5),
    default=0.0,
    show_default=True,
    help="Test on this held-out fraction of the training set instead of the test set (for "
    "choosing settings without touching the test images).",
)
@click.option(
    "--compare-plain",
    is_flag=True,
    default=False,
    help="Also train statistics-aware for the plain placement (one more column).",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1),
    default=128,
    show_default=True,
    help="Die realisations pre-drawn for statistics-aware training.",
)
@click.option(
    "--lea-copies",
    default="auto",
    show_default=True,
    help="Layer Ensemble Averaging copies per layer: 'auto' (the most that fit, output layer "
    "first), K for every layer, or K0,K1,...",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Master seed."
)
@click.option(
    "--seeds",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Repeat with master seeds SEED .. SEED+N-1 (one characterisation); results per seed "
    "in seed-K/ and a summary over seeds in summary.md (mnist5k: seed K tests on "
    "cross-validation fold K mod 5, so up to 5 seeds test on disjoint images).",
)
@click.option(
    "--on-chip",
    is_flag=True,
    default=False,
    help="Also program each network on its simulated die and measure it there.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Local processes the per-die fine-tunings and evaluations are spread over (e.g. "
    "the machine's cores); the results do not depend on it.",
)
@click.option(
    "--out-dir",
    type=GivenPath(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the results [default: runs/borders-<time>].",
)
def borders(
    dataset: str,
    data_dir: Path | None,
    image_size: int,
    dies: int,
    lot_seed: int,
    profile: str,
    hidden: tuple[int, ...],
    epochs: int,
    finetune_epochs: int,
    stats_epochs: int,
    freeze_defective: bool,
    shared_rows: int,
    recalibrate: bool,
    recal_components: int,
    weight_routing: bool,
    bias_correction: bool,
    compensation_budget: float,
    compensation_epochs: int,
    compensation_training: bool,
    validation: float,
    compare_plain: bool,
    pool_size: int,
    lea_copies: str,
    seed: int,
    seeds: int,
    on_chip: bool,
    workers: int,
    out_dir: Path | None,
) -> None:
    """MNIST on a lot of characterised dies: software, unaware, defect-aware and
    statistics-aware test errors per die (after Borders et al.)."""
    from mtj_hil.cli.common import given_options
    from mtj_hil.errors import ConfigError
    from mtj_hil.experiments.borders import BordersConfig, run_borders, run_borders_seeds
    from mtj_hil.experiments.borders_config import check_recal_components
    from mtj_hil.experiments.data import check_image_size
    from mtj_hil.experiments.lea import parse_copies
    from mtj_hil.experiments.outputs import seeds_markdown, write_borders

    try:  # the checks BordersConfig makes, on the options typed (a default typed counts too)
        check_image_size(dataset, image_size if given_options(("image_size",)) else None)
        if given_options(("recal_components",)):
            check_recal_components(
                recal_components, recalibrate, ("--recal-components ", "--no-recalibrate")
            )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    config = BordersConfig(
        dataset=dataset,
        data_dir=data_dir,
        image_size=image_size,
        profile=profile,
        dies=dies,
        lot_seed=lot_seed,
        hidden=tuple(hidden),
        epochs=epochs,
        finetune_epochs=finetune_epochs,
        freeze_defective=freeze_defective,
        shared_rows=shared_rows,
        stats_epochs=stats_epochs,
        pool_size=pool_size,
        compare_plain=compare_plain,
        recalibrate=recalibrate,
        recal_components=recal_components,
        weight_routing=weight_routing,
        validation=validation,
        seed=seed,
        on_chip=on_chip,
        workers=workers,
        lea_copies=tuple(parse_copies(lea_copies, len(hidden) + 1, "--lea-copies") or ()),
        bias_correction=bias_correction,
        compensation_budget=compensation_budget,
        compensation_epochs=compensation_epochs,
        compensation_training=compensation_training,
    )
    last = "borders.h5" if seeds == 1 else f"seed-{seed + seeds - 1}/borders.h5"
    folder = results_folder(out_dir, "borders", last)
    if (folder / "borders.h5").exists() or (folder / "summary.md").exists():
        from mtj_hil.errors import StoreError

        raise StoreError(f"{folder} already holds borders results; choose another --out-dir")
    if seeds == 1:
        with progress_bar() as progress:
            result = run_borders(config, progress)
        paths = write_borders(result, folder)
        print_markdown(make_console(), paths["markdown"].read_text(encoding="utf-8"))
        for key, path in paths.items():
            console.print(escape(f"{key}: {path}"), soft_wrap=True)
        return
    with progress_bar() as progress:
        results = run_borders_seeds(config, range(seed, seed + seeds), progress)
    for r in results:
        write_borders(r, folder / f"seed-{r.config.seed}")
    summary = folder / "summary.md"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(summary, seeds_markdown(results))
    print_markdown(make_console(), summary.read_text(encoding="utf-8"))
    console.print(escape(f"summary: {summary}"), soft_wrap=True)
    console.print(escape(f"per seed: {folder}/seed-*/"), soft_wrap=True)


experiment.add_command(goodwill)

from mtj_hil.cli.networks import evaluate, train  # noqa: E402, F401 - old import path
