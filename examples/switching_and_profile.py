"""Switching and a fitted profile: measure P(switch) against pulse amplitude, fit Vc0 and
Delta per device, then fit a die profile from the runs and simulate a die with it.

    python examples/switching_and_profile.py            # 2 dies, switching on one array
    python examples/switching_and_profile.py --small    # fewer arrays and trials
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from _common import fresh, options  # noqa: E402

import mtj_hil  # noqa: E402

args = options(__doc__.splitlines()[0])
arrays = [0, 1] if args.small else None

# 1. characterise two dies (a profile needs the spread between dies)
chars = [
    mtj_hil.characterize(mtj_hil.simulated_die(d), fresh(args.out / f"die{d}.h5"), arrays=arrays)
    for d in (1, 2)
]

# 2. switching on one array of die 1: P(switch) per device on an amplitude x width grid
switching = mtj_hil.measure_switching(
    mtj_hil.simulated_die(1),
    fresh(args.out / "die1-switching.h5"),
    arrays=[0],
    widths=[1e-7] if args.small else None,
    amplitudes=[0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0, 1.1] if args.small else None,
    trials=8 if args.small else 16,
    disturb_reads=100 if args.small else 2000,
)
sw = switching.dataset()
p = sw.p_switch.sel(array=0, direction="AP").isel(width=-1)
p.mean(("row", "column")).plot(marker="o")  # the array's mean P(switch) against amplitude
plt.savefig(args.out / "die1-p-switch.png", dpi=80)
vc = sw.vc.sel(direction="AP").where(sw.fit_status.sel(direction="AP") == 0)
print(f"Vc0 towards AP: median {float(vc.median()):.3f} V over {int(vc.count())} devices")
print(f"Delta: median {float(sw.delta.sel(direction='AP').median()):.1f}")
print("recommended pulse:", sw.attrs["recommendation"])

# 3. a die profile fitted from the runs, written as TOML and used to simulate a die
fitted = mtj_hil.fit_profile(
    [c.path for c in chars] + [switching.path], fresh(args.out / "fitted.toml")
)
for key, value in list(fitted.values.items())[:6]:
    print(f"{key:32s} {value.value:.4g} +- {value.sd or 0:.2g}  ({value.source})")
twin = mtj_hil.characterize(
    mtj_hil.simulated_die(0, profile=args.out / "fitted.toml"),
    fresh(args.out / "twin.h5"),
    arrays=arrays,
)
measured = chars[0].dataset().resistance.sel(state="P").median()
simulated = twin.dataset().resistance.sel(state="P").median()
print(
    f"median R_P: measured die {float(measured):.0f} ohm, fitted profile's die {float(simulated):.0f} ohm"
)
