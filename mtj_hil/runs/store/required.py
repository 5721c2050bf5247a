"""Datasets a run must hold, given what it records of itself.

``STRUCTURE`` (each store's table) says what a dataset is when it is there; several are there
only for some runs. What the run records decides which: a plan with a bias read voltage
makes every stored array carry its reads at that voltage, and a defect map of version 2
(the evidence classifier, ``defects@defects_version``, written after its datasets) carries
the posterior, and the bias signature when its model says it used the bias reads; a switching run's fits,
once recorded, hold every per-device fit and the die's WER. A copy of a run file that
lost such a dataset (rewritten by another program, without its checksum header) is then
refused by every reader instead of read as a run without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from mtj_hil.errors import StoreError

_DEFECTS_V2 = ("codes", "g_p", "g_ap", "best_guess", "confidence", "posterior")


def _json(raw: object) -> dict:
    """A JSON object attribute as a dict ({} when absent or not a JSON object)."""
    try:
        value = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _plan(h5: h5py.File) -> dict:
    return _json(h5.attrs.get("plan"))


def characterization_required(h5: h5py.File) -> list[str]:
    """The datasets this characterisation run must hold (see the module docstring)."""
    need = []
    bias = _plan(h5).get("bias_read_voltage") not in (None, 0, 0.0, "auto")
    index = h5.get("characterization/array_index")
    if bias and isinstance(index, h5py.Dataset) and index.size:
        need += ["characterization/g_high_p", "characterization/g_high_ap"]
    defects = h5.get("defects")
    if isinstance(defects, h5py.Group) and "defects_version" in defects.attrs:
        need += ["defects/arrays"]
        if int(defects.attrs["defects_version"]) >= 2:
            need += [f"defects/{n}" for n in _DEFECTS_V2]
            if "bias_signature" in _json(defects.attrs.get("model")):
                # the classifier used the bias reads (it does not when it classified at the
                # higher voltage, on a converter too coarse at the lower one)
                need += ["defects/bias_p", "defects/bias_ap"]
    return need


_FIT = ("vc", "vc_sd", "delta", "delta_sd", "status", "cov", "wer_amplitudes", "wer_widths",
        "wer_median", "wer_low", "wer_high")  # fmt: skip


def switching_required(h5: h5py.File) -> list[str]:
    """The fits a switching run holds once its ``switching_fit@recommendation`` (written
    after them) is there: every per-device fit and the die's WER, both directions."""
    fit = h5.get("switching_fit")
    if not isinstance(fit, h5py.Group) or "recommendation" not in fit.attrs:
        return []
    return ["switching_fit/arrays"] + [f"switching_fit/{d}/{n}" for d in ("AP", "P") for n in _FIT]


REQUIRED = {"characterization": characterization_required, "switching": switching_required}
"""Per run kind, what decides its required datasets."""


def refuse_missing(h5: h5py.File, path: str | Path, kind: str | None) -> None:
    """Refuse a run of ``kind`` that lacks a dataset its own record requires.

    Raises:
        StoreError: naming the file, the dataset and why it belongs there.
    """
    rule = REQUIRED.get(kind or "")
    if rule is None:
        return
    missing = [name for name in rule(h5) if name not in h5]
    if missing:
        raise StoreError(
            f"{Path(path)}: damaged run file: dataset {missing[0]} is gone, though the run's "
            f"own record says it holds it{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}"
            ": it was damaged or rewritten by another program; use the original run file, or "
            "measure the die again"
        )
