"""The Python face of mtj-hil: measure a die and read the results as labelled arrays.

Everything here is also importable from the package root (``import mtj_hil``), loaded on
first use. The defaults are the ``mtj-hil`` command's::

    import mtj_hil

    run = mtj_hil.characterize(mtj_hil.simulated_die(7), "die7.h5")
    ds = run.dataset()                              # xarray.Dataset
    ds.defect.plot(col="array", col_wrap=8)         # the defect map
    ds.resistance.where(ds.defect == 0).plot.hist(bins=200)   # R_P and R_AP
"""

from mtj_hil.api.dies import Die, simulated_die, station_die
from mtj_hil.api.measure import Run, characterize, measure_switching, open_run
from mtj_hil.api.results import (
    campaign_dataset,
    defect_table,
    fit_profile,
    load,
    run_campaign,
)

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
