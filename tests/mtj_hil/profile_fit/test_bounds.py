"""A fitted value outside what a profile can state is written at the nearest allowed value
with a warning (the fit does not fail on its own output); allowed values are untouched."""

from __future__ import annotations

from mtj_hil.profile_fit.bounds import bounded, keep_in_range
from mtj_hil.profile_fit.fit import FitValue
from mtj_hil.sim.profile import as_dict, load_profile, profile_from_dict


def test_a_p_curvature_fitted_below_zero_is_written_as_zero_with_a_warning():
    data = as_dict(load_profile("1t1r-20k"))
    data["bias"]["p_curvature"] = -0.0205
    values = {
        "bias.p_curvature": FitValue(-0.0205, 0.01, "bias signatures"),
        "bias.v_half": FitValue(data["bias"]["v_half"], None, "bias signatures"),
    }
    said = keep_in_range(data, values)
    assert data["bias"]["p_curvature"] == 0.0 and values["bias.p_curvature"].value == 0.0
    assert len(said) == 1 and said[0].startswith("bias.p_curvature fitted -0.0205 +/- 0.01")
    profile_from_dict(data, source="test")  # now a valid profile


def test_bounds_respect_exclusive_ends_and_leave_allowed_values():
    assert bounded("bias.p_curvature", 0.2) is None
    inside = bounded("bias.p_curvature", 1.5)  # allowed: [0, 1)
    assert inside is not None and inside < 1.0 and inside > 0.999999
    assert bounded("no_such.key", 5.0) is None
