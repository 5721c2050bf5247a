"""Reading results from Python: any run file as a labelled dataset, defect tables, a
profile fitted from runs, and a campaign (run, then read back as one dataset over dies)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mtj_hil.errors import StoreError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from mtj_hil.campaigns.engine import CampaignOutcome
    from mtj_hil.profile_fit.fit import FittedProfile


def load(path: str | Path) -> xr.Dataset:
    """Any run file (characterisation or switching, finished or not) as an
    ``xarray.Dataset`` with named dimensions (array, row, column, state, cycle, direction,
    width, amplitude ...), coordinates and CF ``units`` / ``long_name`` attributes; the run's
    provenance is in ``ds.attrs``. The documentation's run-file page lists every variable.

    Raises:
        StoreError: not an mtj-hil run file, or damaged (the message names the file and
            the dataset that cannot be read).
    """
    from mtj_hil.labelled.load import load_dataset

    data = load_dataset(path)
    warn_unverified(path)
    return data


def warn_unverified(path: str | Path) -> None:
    """Warn (:class:`~mtj_hil.errors.UnverifiedCopyWarning`) when the run file ``path`` is a
    copy without its checksum header, as the commands say of it."""
    import warnings

    from mtj_hil.errors import UnverifiedCopyWarning
    from mtj_hil.runs.store.verify import unverified_header_note

    note = unverified_header_note(path)
    if note:
        warnings.warn(note, UnverifiedCopyWarning, stacklevel=3)


def defect_table(run: str | Path | xr.Dataset, *, include_good: bool = False) -> pd.DataFrame:
    """The devices of a characterisation that are not GOOD (all with ``include_good``), one
    row each: array, row, column, defect, confidence, best guess, R_P / R_AP (ohm),
    G_P / G_AP (S) and the bias signatures.

    Raises:
        StoreError: not a characterisation run file. ValueError: not classified yet.
    """
    from mtj_hil.labelled.characterization import defect_table as table

    return table(run, include_good=include_good)


def fit_profile(
    runs: Iterable[str | Path],
    out: str | Path | None = None,
    *,
    base: str | Path = "1t1r-20k",
    name: str | None = None,
    force: bool = False,
) -> FittedProfile:
    """Fit a die profile from characterisation (and switching) run files, as
    ``mtj-hil fit-profile`` does; with ``out``, also write it as a profile TOML that loads
    anywhere a profile does (``simulated_die(profile=out)``).

    Args:
        runs: run files of one or many dies.
        out: profile TOML to write (None: write nothing).
        base: profile whose values stand for what the runs cannot tell.
        name: the fitted profile's name (default: ``out``'s stem, else ``"fitted"``).
        force: overwrite an existing ``out``.

    Returns:
        The fit: ``.profile`` (a loadable :class:`~mtj_hil.sim.profile.DeviceProfile`),
        ``.values`` (each fitted value with uncertainty and source), ``.defaults``.

    Raises:
        StoreError: a file that is not a finished run, or ``out`` exists (without
            ``force``). ConfigError: the fitted values do not make a valid profile.
    """
    from mtj_hil.profile_fit.fit import fit_profile as fit
    from mtj_hil.profile_fit.writer import write_profile_toml
    from mtj_hil.sim.profile import load_profile

    target = Path(out) if out is not None else None
    if target is not None and target.exists() and not force:
        raise StoreError(f"{target} already exists; choose another out= or pass force=True")
    label = name or (target.stem if target is not None else "fitted")
    fitted = fit([Path(p) for p in runs], load_profile(str(base)), name=label)
    if target is not None:
        write_profile_toml(fitted, target)
    return fitted


def run_campaign(
    campaign: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    in_process: bool = False,
) -> CampaignOutcome:
    """Run every unfinished task of the campaign file ``campaign``, as ``mtj-hil campaign
    run`` does: on a new local Dask cluster of ``workers`` processes (default one per
    core), on the running cluster at ``scheduler``, or with ``in_process`` one task after
    the other in this process (no Dask cluster).

    Returns:
        The outcome: ``.completed``, ``.skipped``, ``.failed`` (task id -> error).

    Raises:
        ConfigError: the campaign file is invalid, or the scheduler does not answer.
        StoreError: the campaign's index is in use by another run.
    """
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.campaigns.engine import connect
    from mtj_hil.campaigns.engine import run_campaign as run

    spec = load_campaign(campaign)
    if in_process:
        return run(spec)
    client = connect(scheduler, workers)
    try:
        return run(spec, client)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()


def campaign_dataset(
    campaign: str | Path, group: str | None = None, *, raw: bool = False
) -> xr.Dataset:
    """A campaign group's results as one ``xarray.Dataset`` over dies (dimension ``die``);
    see :func:`mtj_hil.campaigns.dataset.campaign_dataset`.

    Raises:
        ConfigError: no such group, not a die measurement, or nothing finished yet.
        StoreError: a run file that cannot be read.
    """
    from mtj_hil.campaigns.dataset import campaign_dataset as build

    return build(campaign, group, raw=raw)
