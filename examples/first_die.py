"""A first die: characterise a simulated die, look at its defect map and resistance
distributions, list its defective devices and save it as NetCDF.

    python examples/first_die.py            # die 7, all 32 arrays (a few seconds)
    python examples/first_die.py --small    # 4 arrays
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402
from _common import fresh, options  # noqa: E402

import mtj_hil  # noqa: E402

args = options(__doc__.splitlines()[0])
arrays = range(4) if args.small else None  # None: every array of the die

# 1. measure: the same defaults as `mtj-hil characterize --die 7`
run = mtj_hil.characterize(mtj_hil.simulated_die(7), fresh(args.out / "die7.h5"), arrays=arrays)
ds = run.dataset()
print(ds)

# 2. the defect map (codes: ds.defect.attrs["flag_meanings"])
ds.defect.plot(col="array", col_wrap=8, cmap="viridis")
plt.savefig(args.out / "die7-defects.png", dpi=80)

# 3. resistance distributions of the good devices, per state
good = ds.resistance.where(ds.defect == 0)
fig, ax = plt.subplots()
for state in ("P", "AP"):
    r = good.sel(state=state)
    r.plot.hist(ax=ax, bins=100, alpha=0.6, label=f"R_{state}")
    print(f"R_{state}: median {float(r.median()):.0f} ohm, spread {float(r.std() / r.mean()):.1%}")
ax.legend()
fig.savefig(args.out / "die7-resistance.png", dpi=80)
print(f"yield {float((ds.defect == 0).mean()):.2%}")

# 4. the defective devices as a table, and the whole run as NetCDF
table = mtj_hil.defect_table(ds)
print(table.groupby("defect").size())
table.to_csv(args.out / "die7-defects.csv", index=False)
nc = run.export("netcdf", args.out / "die7.nc", force=True)[0]
with xr.open_dataset(nc) as back:
    assert back.resistance.attrs["units"] == "ohm"
print(f"wrote {nc}")
