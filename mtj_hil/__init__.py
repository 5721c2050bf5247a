"""mtj-hil: instrument control, characterisation and measurement-driven training for MTJ
crossbar test dies.

The layers live in sub-packages: ``mtj_hil.instruments`` (drivers), ``mtj_hil.protocols``
(procedures written against the ``Chip`` seam), ``mtj_hil.calibration``, ``mtj_hil.sim``
(the simulated die and virtual lab), ``mtj_hil.station`` (a real bench), ``mtj_hil.runs``
(run files and jobs), ``mtj_hil.reports``, ``mtj_hil.profile_fit``, ``mtj_hil.campaigns``,
``mtj_hil.training``, ``mtj_hil.experiments`` and ``mtj_hil.cli``; ``docs/architecture.md``
draws the house.

The Python API (:mod:`mtj_hil.api`) is importable from here and loaded on first use, so
``import mtj_hil`` stays light::

    import mtj_hil

    run = mtj_hil.characterize(mtj_hil.simulated_die(7), "die7.h5")
    ds = run.dataset()
"""

from typing import TYPE_CHECKING, Any

from mtj_hil.compat.legacy_names import install_finder as _install_legacy_finder

_install_legacy_finder()

__all__ = [
    "Die",
    "Run",
    "campaign_dataset",
    "characterize",
    "defect_table",
    "fit_profile",
    "load",
    "measure_switching",
    "open_run",
    "run_campaign",
    "simulated_die",
    "station_die",
]
_API = frozenset(__all__)
"""Names of :mod:`mtj_hil.api` re-exported from the package root (PEP 562, lazily)."""

if TYPE_CHECKING:
    from mtj_hil.api import (
        Die,
        Run,
        campaign_dataset,
        characterize,
        defect_table,
        fit_profile,
        load,
        measure_switching,
        open_run,
        run_campaign,
        simulated_die,
        station_die,
    )


def __getattr__(name: str) -> Any:
    """The API's names, imported from :mod:`mtj_hil.api` on first use."""
    if name in _API:
        import importlib

        value = getattr(importlib.import_module("mtj_hil.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mtj_hil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
