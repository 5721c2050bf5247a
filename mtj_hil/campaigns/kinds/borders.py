"""Campaign kind ``borders``: the Borders experiment over the dies a ``characterize`` group
measured, one task (one result folder) per master seed.

Keys: ``characterization`` (name of an earlier ``characterize`` group on a simulated lot;
required), ``seeds`` (an int or a list; default ``[0]``), and the settings of
:class:`mtj_hil.experiments.borders.BordersConfig`: ``dataset``, ``data_dir``,
``image_size``, ``hidden``, ``epochs``, ``lr_final``, ``finetune_epochs``, ``finetune_lr``,
``finetune_shrink``, ``freeze_defective``, ``shared_rows``, ``stats_epochs``, ``stats_lr``,
``stats_shrink``, ``recalibrate``, ``pool_size``, ``select``, ``compare_plain``,
``finetune_from``, ``stats_from``,
``calibration_batch``, ``recal_components``, ``lea_copies``, ``lea_beta``, ``folds``,
``stats_model``, ``validation``, ``weight_routing``, ``bias_correction``,
``compensation_budget``, ``compensation_training``, ``compensation_epochs`` (:data:`NOT_TAKEN` lists the others and why). Every method (software, unaware, defect-aware, statistics-aware...) runs in
each task, since they share the trained base network. The die models are the measured ones,
read from the characterisation run files.

Results per task: ``<out_dir>/<group>/seed<k>/borders.{h5,md,csv}`` and figures, as
``mtj-hil experiment borders`` writes them. A task cut short is run again from the start
(training is not resumable); its half-written outputs are removed first.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.campaigns.registry import TaskKind, register_kind
from mtj_hil.campaigns.task import ExpandContext, Task
from mtj_hil.errors import ConfigError, counted
from mtj_hil.experiments.data import DEFAULT_IMAGE_SIZE, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.schema import Field, Section
from mtj_hil.training.bnn import MAX_EPOCHS
from mtj_hil.training.compensation import COMPENSATION_BUDGET, COMPENSATION_EPOCHS

NAME = "borders"
STEM = "borders"


def _ints(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ok = ok or (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )
    return None if ok else f"= {value!r} is not allowed; allowed: an integer or a list of them"


_SETTINGS = (
    Field("dataset", "str", "Training data.", default="mnist5k",
          choices=("mnist5k", "digits", "idx")),
    Field("data_dir", "str", "Folder of IDX files (dataset = idx; relative: to the campaign "
          "file).", default=None),
    Field(
        "image_size",
        "int",
        "MNIST pixels per side.",
        default=DEFAULT_IMAGE_SIZE,
        lo=MIN_IMAGE_SIZE,
        hi=MAX_IMAGE_SIZE,
    ),
    Field("hidden", "any", "Hidden-layer widths.", default=[64], check=_ints,
          allowed="an integer or a list of integers"),
    Field("epochs", "int", "Epochs of the ideal-device training.", default=30, lo=1, hi=MAX_EPOCHS),
    Field("lr_final", "float", "Adam step every training decays to.", default=1e-4, lo=0,
          lo_open=True),
    Field("finetune_epochs", "int", "Epochs of the per-die fine-tuning.", default=30, lo=1, hi=MAX_EPOCHS),
    Field("finetune_lr", "float", "Adam step of the fine-tunings.", default=0.02, lo=0,
          lo_open=True),
    Field("finetune_shrink", "float", "Factor on the trained latent weights before a "
          "fine-tuning.", default=1.0, lo=0, lo_open=True, hi=1),
    Field("freeze_defective", "bool", "Freeze pairs holding a defective device.",
          default=False),
    Field("shared_rows", "int", "First-layer rows the defect-aware network takes from its "
          "least important inputs for copies of its most important.", default=0, lo=0),
    Field("stats_epochs", "int", "Epochs of statistics-aware training.", default=20, lo=1, hi=MAX_EPOCHS),
    Field("stats_lr", "float", "Adam step of statistics-aware training.", default=0.01, lo=0,
          lo_open=True),
    Field("stats_shrink", "float", "Factor on the trained latent weights before "
          "statistics-aware training.", default=0.2, lo=0, lo_open=True, hi=1),
    Field("recalibrate", "bool", "Also evaluate LEA and statistics-aware after per-neuron "
          "recalibration.", default=True),
    Field("pool_size", "int", "Die realisations drawn for statistics-aware training.",
          default=128, lo=1),
    Field("select", "bool", "Keep the best epoch of each fine-tuning.", default=True),
    Field("compare_plain", "bool", "Also train statistics-aware on the plain placement.",
          default=False),
    Field("finetune_from", "str", "Network each per-die fine-tuning starts from.",
          default="base", choices=("base", "statistics")),
    Field("stats_from", "str", "Network statistics-aware training starts from.",
          default="software", choices=("base", "software")),
    Field("calibration_batch", "int", "Training images read through each die for the "
          "recalibration.", default=512, lo=2),
    Field("recal_components", "int", "Rank of the recalibration's input-dependent part "
          "(0: a scale and shift per neuron).", default=0, lo=0),
    Field("lea_copies", "int list", "Copies per layer for Layer Ensemble Averaging (empty: "
          "the most that fit).", default=[], lo=1),
    Field("lea_beta", "int", "LEA copies averaged per output (absent: every copy tied at "
          "the fewest defects).", default=None, lo=1),
    Field("folds", "bool", "mnist5k: test on cross-validation fold seed % 5 (true with "
          "another dataset is refused).", default=True),
    Field("stats_model", "str", "Population of statistics-aware training.",
          default="measured", choices=("measured", "parametric")),
    Field("validation", "float", "Fraction of the training set held out as the test set "
          "(0: the real test set).", default=0.0, lo=0, hi=0.5),
    Field("weight_routing", "bool", "Route each network's lines for its weights on each "
          "die.", default=True),
    Field("bias_correction", "bool", "Correct the statistics-aware network's biases for "
          "each die's measured devices (no retraining, no reads).", default=True),
    Field("compensation_budget", "float", "Fraction of the weights the data-free "
          "compensation corrects digitally (no reads, no retraining).",
          default=COMPENSATION_BUDGET, lo=0, hi=1),
    Field("compensation_training", "bool", "Deploy the compensation with a statistics-aware "
          "network trained against what it leaves of each die.", default=True),
    Field("compensation_epochs", "int", "Epochs each die's defect-aware network is "
          "fine-tuned further for the compensation budget.", default=COMPENSATION_EPOCHS,
          lo=1, hi=MAX_EPOCHS),
)  # fmt: skip
#: BordersConfig settings a campaign does not take, and why.
NOT_TAKEN = {
    "profile": "from the characterize group",
    "lot_seed": "from the characterize group",
    "dies": "from the characterize group",
    "seed": "from the task's seed",
    "workers": "the campaign engine spreads tasks itself",
    "on_chip": "a campaign trains on measured run files, not a live chip",
}
_CONFIG_KEYS = {f.name for f in _SETTINGS}
KEYS = Section(
    "task",
    "The Borders experiment over the dies an earlier characterize group measured, one "
    "result folder per master seed.",
    (
        Field("characterization", "str", "Name of an earlier characterize group on a "
              "simulated lot."),
        Field("seeds", "any", "Master seeds, one task each.", default=[0], check=_ints,
              allowed="an integer or a list of integers"),
    )
    + _SETTINGS,
    many=True,
)  # fmt: skip


def expand(group: dict[str, Any], ctx: ExpandContext) -> list[Task]:
    """One task per seed, needing every task of the ``characterization`` group.

    Everything a task would refuse when it starts is refused here, by the same checks
    (:class:`BordersConfig` and :func:`checked_setup`): the data set, the network and its
    LEA copies against the geometry of the group's dies (arrays x rows x cols), shared rows,
    the recalibration's rank, and a die model's need for every array measured. Only the
    dies' usable devices wait for their characterisation (checked when the task starts).

    Raises:
        ConfigError: unknown key, a missing or wrong ``characterization`` group, bad seeds or
            a setting refused (naming ``task[i].key``, its value and the group).
    """
    from mtj_hil.experiments.borders import checked_setup
    from mtj_hil.experiments.data import check_folds, check_image_size
    from mtj_hil.experiments.diemodels import check_model_arrays
    from mtj_hil.sim.profile import load_profile
    from mtj_hil.training.errors import TrainingError

    values = ctx.check(group, KEYS)
    source = group.get("characterization")
    if not isinstance(source, str):
        raise ctx.error("characterization", "is missing: the name of a characterize group")
    deps = ctx.groups.get(source)
    if deps is None:
        raise ctx.error("characterization", f"= {source!r} names no earlier [[task]] group")
    if deps[0].kind != "characterize" or deps[0].params.get("profile") is None:
        raise ctx.error(
            "characterization",
            f"= {source!r} must be a characterize group on a "
            "simulated lot (profile, lot_seed, dies)",
        )
    seeds = group.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ctx.error("seeds", "must be an integer or a list of distinct integers")
    settings = {k: group[k] for k in _CONFIG_KEYS if k in group}
    if "hidden" in settings:
        h = settings["hidden"]
        settings["hidden"] = [h] if isinstance(h, int) else h
    if "data_dir" in settings:
        settings["data_dir"] = str(ctx.path(str(settings["data_dir"])))
    first = deps[0].params
    common = {"profile": first["profile"], "lot_seed": first["lot_seed"], "dies": len(deps)}
    gname = group["name"]
    where = f"(group {gname!r} on the dies of group {source!r}, profile {first['profile']})"

    def refused(key: str, exc: Exception) -> ConfigError:
        """``exc`` as the error of the group's setting ``key`` and its value (``dies``: the
        characterize group's count; a key the group has not: the group)."""
        if key == "dies":
            return ctx.error(
                "characterization",
                f"= {source!r} ({counted(len(deps), 'die')}) is refused {where}: {exc}",
            )
        if key not in values:
            return ctx.error("name", f"= {gname!r}: a setting is refused {where}: {exc}")
        if values[key] is None:
            return ctx.error(key, f"is missing {where}: {exc}")
        default = "" if key in group else " (the default)"
        return ctx.error(key, f"= {values[key]!r}{default} is refused {where}: {exc}")

    try:
        check_image_size(str(values["dataset"]), group.get("image_size"), "image_size")
    except ConfigError as exc:
        raise refused("image_size", exc) from None
    try:
        check_folds(str(values["dataset"]), group.get("folds"))
    except ConfigError as exc:
        raise refused("folds", exc) from None
    try:  # a die model needs every array of the die measured
        layout = load_profile(first["profile"]).layout
        check_model_arrays(list(first["plan"]["arrays"]), layout, f"group {source!r}")
    except TrainingError as exc:
        raise ctx.error("characterization", f"= {source!r} is refused {where}: {exc}") from None
    try:
        config = _config({**settings, **common, "seed": seeds[0]})
    except (ConfigError, TypeError, ValueError) as exc:  # its messages start with the setting
        raise refused(str(exc).split(" ")[0], exc) from None
    try:  # the checks the task makes when it starts, but the machine's free memory
        checked_setup(config, memory=False)
    except (ConfigError, TrainingError) as exc:  # DatasetError is a TrainingError
        raise refused(getattr(exc, "setting", ""), exc) from None
    inputs = [
        {"run_file": str(t.run_file), "die_id": t.params["die_id"], "die": t.params["die"]}
        for t in deps
    ]
    return [
        Task(
            id=f"{gname}/seed{s}",
            kind=NAME,
            group=gname,
            run_file=ctx.out_dir / gname / f"seed{s}" / f"{STEM}.h5",
            params={"settings": settings, **common, "seed": s, "inputs": inputs},
            needs=tuple(t.id for t in deps),
        )
        for s in seeds
    ]


def _config(values: dict[str, Any]) -> Any:
    from mtj_hil.experiments.borders import BordersConfig

    v = dict(values)
    if "hidden" in v:
        v["hidden"] = tuple(int(x) for x in v["hidden"])
    if "lea_copies" in v:
        v["lea_copies"] = tuple(int(x) for x in v["lea_copies"])
    if v.get("data_dir") is not None:
        v["data_dir"] = Path(v["data_dir"])
    return BordersConfig(**v)


def run(task: Task) -> dict[str, Any]:
    """Run the experiment for the task's seed on the measured dies and write its results.

    Raises:
        StoreError: a characterisation run file is missing, unfinished or of another die.
        ConfigError, DatasetError, TrainingError: see :func:`run_borders`.
    """
    from mtj_hil.experiments.borders import run_borders
    from mtj_hil.experiments.diemodels import load_die_model
    from mtj_hil.experiments.outputs import write_borders
    from mtj_hil.runs.store.characterization import load_characterization
    from mtj_hil.sim.die import make_die
    from mtj_hil.sim.profile import load_profile

    out = Path(task.run_file)
    if out.exists():
        with RunFile.open(out, "r") as existing:
            done = existing.status == "completed"
        if done:
            return summary(out)
    for old in out.parent.glob(f"{STEM}*"):
        if not old.name.endswith(".claim"):
            old.unlink()
    p = task.params
    config = _config(
        {
            **p["settings"],
            "profile": p["profile"],
            "lot_seed": p["lot_seed"],
            "dies": p["dies"],
            "seed": p["seed"],
        }
    )
    profile = load_profile(p["profile"])
    models, agreement = [], []
    for item in p["inputs"]:
        models.append(load_die_model(item["run_file"], profile.layout, die_id=item["die_id"]))
        truth = make_die(profile, int(p["lot_seed"]), int(item["die"])).defect
        codes = load_characterization(item["run_file"]).codes
        agreement.append(float(np.mean(codes == truth)))
    result = run_borders(config, characterised=(models, agreement))
    write_borders(result, out.parent, STEM)
    return summary(out)


def summary(path: Path) -> dict[str, Any]:
    """Mean test error per method (fractions) of a finished task."""
    with RunFile.open(path, "r") as run:
        errors = {name: float(np.mean(ds[()])) for name, ds in run.h5["errors"].items()}
    return {"mean_error": errors}


def digest(path: Path) -> str:
    """SHA-256 of the per-die errors, paired differences and die statistics."""
    h = hashlib.sha256()
    with RunFile.open(path, "r") as run:
        for group in ("errors", "paired", "dies"):
            for name in sorted(run.h5.get(group, {})):
                h.update(f"{group}/{name}".encode())
                h.update(np.ascontiguousarray(run.h5[group][name][()]).tobytes())
    return h.hexdigest()


def _stored_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A result file's settings as :class:`BordersConfig` takes them today. Files written
    before ``image_size`` was refused beside a data set that does not resize (digits) hold
    the size given then; the data set never used it, so it is read as the default. Likewise
    a recalibration rank recorded with the recalibration off (never used) is read as 0."""
    from mtj_hil.experiments.data import DEFAULT_IMAGE_SIZE, RESIZED_DATASETS

    cfg = dict(cfg)
    if cfg.get("dataset") not in RESIZED_DATASETS and "image_size" in cfg:
        cfg["image_size"] = DEFAULT_IMAGE_SIZE
    if cfg.get("recalibrate") is False and cfg.get("recal_components"):
        cfg["recal_components"] = 0
    return cfg


def load_result(path: Path) -> Any:
    """A :class:`BordersResult` read back from a task's ``borders.h5`` for the tables over
    seeds (per-die errors, paired differences, defect counts, config). Networks and the
    population model are not read back (``nets`` empty, ``population`` None).

    Raises:
        StoreError: not a completed Borders run file.
    """
    import json

    from mtj_hil.errors import StoreError
    from mtj_hil.experiments.borders import BordersResult, DieResult
    from mtj_hil.sim.profile import load_profile
    from mtj_hil.training.mapping import Placement

    with RunFile.open(path, "r", kind="experiment-borders") as run:
        if run.status != "completed":
            raise StoreError(f"{path} is not a completed Borders run (status {run.status!r})")
        h5 = run.h5
        attrs = h5.attrs
        config = _config(_stored_config(json.loads(attrs["config"])))
        n_test = int(attrs["n_test"])
        methods = [m for m in h5["errors"] if m != "software"]
        errors = {m: h5["errors"][m][()] for m in methods}
        paired = {m: h5["paired"][m][()] for m in methods}
        counts = h5["dies/defect_counts"][()]
        noise = h5["dies/read_noise"][()]
        agree = h5["dies/truth_agreement"][()]
        software = float(h5["errors/software"][()])
        layout = load_profile(config.profile).layout
        placement = Placement.from_dict(json.loads(attrs["placement_plain"]), layout)
        dies = [
            DieResult(
                k,
                {m: int(round(errors[m][k] * n_test)) for m in methods},
                {},
                dict(
                    zip(
                        ("SHORT", "OPEN", "STUCK_P", "STUCK_AP"),
                        (int(c) for c in counts[k]),
                        strict=True,
                    )
                ),
                float(noise[k]),
                float(agree[k]),
                json.loads(attrs["placements_defect_aware"])[k],
                {},
                {m: [float(x) for x in paired[m][k]] for m in methods},
            )
            for k in range(len(counts))
        ]
        return BordersResult(
            config,
            str(attrs["dataset"]),
            json.loads(attrs["preprocessing"]),
            [int(s) for s in json.loads(attrs["sizes"])],
            n_test,
            int(round(software * n_test)),
            dies,
            None,  # type: ignore[arg-type]
            {},
            placement,
            float(attrs["seconds"]),
        )


register_kind(TaskKind(NAME, expand, run, digest, KEYS))
