"""A small campaign read back as one Dataset: characterise a few dies of a simulated lot as a
campaign, then look at the lot through one ``xarray.Dataset`` with a ``die`` dimension.

    python examples/small_campaign.py           # 6 dies, all arrays, on a local Dask cluster
    python examples/small_campaign.py --small   # 3 dies, 2 arrays, in this process
"""

from __future__ import annotations

import shutil

import xarray as xr
from _common import options

import mtj_hil

args = options(__doc__.splitlines()[0])
folder = args.out / "lot-campaign"
shutil.rmtree(folder, ignore_errors=True)
folder.mkdir()
campaign = folder / "lot.toml"
campaign.write_text(
    f"""
[campaign]
name = "small-lot"
out_dir = "runs"

[[task]]
name = "lot"
kind = "characterize"
profile = "1t1r-20k"
lot_seed = 0
dies = "{"0-2" if args.small else "0-5"}"
cycles = 3
{'arrays = "0-1"' if args.small else ""}
"""
)

# 1. run it: every die a task (on a local Dask cluster; --small: one after the other here)
outcome = mtj_hil.run_campaign(campaign, in_process=args.small, workers=2)
print(f"{len(outcome.completed)} dies measured, {len(outcome.failed)} failed")

# 2. the lot as one Dataset over dies
lot = mtj_hil.campaign_dataset(campaign)
print(lot)
good = lot.resistance.where(lot.defect == 0)
summary = xr.Dataset(
    {
        "yield": lot["yield"],
        "r_p_median": good.sel(state="P", drop=True).median(("array", "row", "column")),
        "r_ap_median": good.sel(state="AP", drop=True).median(("array", "row", "column")),
    }
)
print(summary.to_dataframe())

# 3. the same from the command line: mtj-hil export lot.toml --format netcdf
nc = folder / "lot.nc"
lot.to_netcdf(nc, engine="h5netcdf")
with xr.open_dataset(nc) as back:
    assert back.sizes["die"] == lot.sizes["die"]
print(f"wrote {nc}")
