"""Scratches in a die's defect map: straight, one-device-wide lines of defects at any angle,
told apart from particle clusters and from what is left of a line defect (used by
:mod:`mtj_hil.profile_fit.spatial`; coordinates in device pitches on the die's array grid).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SCRATCH_MIN = 8
"""A scratch hits at least this many devices."""
SCRATCH_LENGTH = 12.0
"""A scratch is at least this long (pitches): a line through a cluster is shorter."""
SCRATCH_GAP = 2.5
"""Largest gap (pitches) along a scratch: a device or two the classifier did not call."""
SCRATCH_FILL = 0.7
"""Share of the devices along its length a scratch must hit."""
JOIN_DEGREES = 3.0
JOIN_OFFSET = 1.5
"""Pieces of a scratch join when this close in direction (degrees) and offset (pitches)."""
HOUGH_ANGLES = 180
"""Angles tried for a scratch's direction (one degree apart)."""
LINE_SHARE = 0.8
"""A thin group with this share of its devices on one line of one array is what is left of a
line defect, not a scratch (a scratch runs at a random angle, across arrays)."""
THIN_NEIGHBOURS = 3.2
"""Mean defective neighbours (of 8) of a scratch's devices at most (a line has 2)."""


def line_share(groups: np.ndarray, n: int, array_shape: tuple[int, int]) -> np.ndarray:
    """Per group (1..n), the largest share of its devices on one line of one array (an
    array's output or input line: a line defect the classifier left partly called)."""
    rows, cols = array_shape
    yy, xx = np.nonzero(groups)
    lab = groups[yy, xx] - 1
    size = np.maximum(np.bincount(lab, minlength=n), 1)
    best = np.zeros(n)
    for line in (xx * 10**6 + yy // rows, yy * 10**6 + xx // cols):  # (column, array row) ...
        key = lab.astype(np.int64) * 10**12 + line
        uniq, counts = np.unique(key, return_counts=True)
        np.maximum.at(best, (uniq // 10**12).astype(int), counts)
    return best / size


def best_line(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The devices (a boolean over ``ys``, ``xs``) on the straight one-device-wide line that
    holds most of them: a Hough transform over 180 angles, offsets in bins of one pitch
    (each device also counted in the neighbouring bin, so no line splits at a bin edge)."""
    angles = np.linspace(0.0, np.pi, HOUGH_ANGLES, endpoint=False)
    offset = np.outer(xs, np.sin(angles)) - np.outer(ys, np.cos(angles))  # (devices, angles)
    lo = np.floor(offset.min())
    bins = np.floor(offset - lo).astype(int)
    n_bins = int(bins.max()) + 2
    flat = (bins + n_bins * np.arange(angles.size)[None, :]).ravel()
    votes = np.bincount(flat, minlength=n_bins * angles.size).reshape(angles.size, n_bins)
    votes = votes[:, :-1] + votes[:, 1:]  # windows two bins wide
    a, b = np.unravel_index(int(np.argmax(votes)), votes.shape)
    return (bins[:, a] == b) | (bins[:, a] == b + 1)


def scratches(
    defect: np.ndarray, array_shape: tuple[int, int]
) -> tuple[np.ndarray, int, list[float]]:
    """The devices of a map's scratches (grid mask), how many scratches and their lengths
    (pitches).

    Defects closer than a two-device gap are grouped (a scratch device the classifier did
    not call a defect breaks no scratch). A group is thin when its devices have at most
    ``THIN_NEIGHBOURS`` defective neighbours on average (a line has two, a disc up to
    eight). From a thin group straight lines are taken one by one (:func:`best_line`) while
    one holds at least ``SCRATCH_MIN`` devices: each is a scratch (crossing scratches are
    one group). A group along one line of one array is left out (:func:`line_share`).
    """
    box = np.ones((3, 3), int)
    groups, n = ndimage.label(ndimage.binary_dilation(defect, box), structure=box)
    groups = np.where(defect, groups, 0)
    mask = np.zeros(defect.shape, bool)
    if not n:
        return mask, 0, []
    size = np.bincount(groups[defect] - 1, minlength=n)
    nb = ndimage.convolve(defect.astype(int), box, mode="constant") - 1
    mean_nb = np.bincount(groups[defect] - 1, weights=nb[defect], minlength=n) / np.maximum(size, 1)
    thin = (size >= SCRATCH_MIN) & (mean_nb <= THIN_NEIGHBOURS)
    thin &= line_share(groups, n, array_shape) < LINE_SHARE
    segments: list[tuple[np.ndarray, np.ndarray]] = []  # (ys, xs) of each straight piece
    for g in np.flatnonzero(thin) + 1:  # a handful of groups per die
        ys, xs = np.nonzero(groups == g)
        left = np.ones(ys.size, bool)
        while left.sum() >= SCRATCH_MIN:
            on = np.zeros(ys.size, bool)
            on[left] = best_line(ys[left], xs[left])
            on |= ~left & _near_line(ys, xs, on)  # where it crosses a scratch already taken
            on, length = _solid_run(ys, xs, on)
            # a band through a particle cluster is solid too, but short and thick
            if (on & left).sum() < SCRATCH_MIN or length < SCRATCH_LENGTH:
                break
            if np.median(nb[ys[on], xs[on]]) > THIN_NEIGHBOURS:
                break
            segments.append((ys[on], xs[on]))
            mask[ys[on], xs[on]] = True
            left &= ~on
    lengths = [_solid_run(y, x, np.ones(y.size, bool), fill=0.0)[1] for y, x in _join(segments)]
    # a scratch's ragged edges and ends, and what touches it, go with it
    mask = ndimage.binary_dilation(mask, box) & defect
    return mask, len(lengths), lengths


def _join(segments: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pieces of one straight scratch joined (a dead array, a line defect or a stray device
    cuts it): pieces within ``JOIN_DEGREES`` of one direction whose centres lie within
    ``JOIN_OFFSET`` pitches of each other's line."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for ys, xs in segments:
        c1, d1 = _axis(ys, xs)
        for i, (oy, ox) in enumerate(out):
            c2, d2 = _axis(oy, ox)
            cross = abs(d1[0] * d2[1] - d1[1] * d2[0])  # sine of the angle between them
            off = max(abs(_cross(d1, c2 - c1)), abs(_cross(d2, c1 - c2)))
            if cross < np.sin(np.radians(JOIN_DEGREES)) and off < JOIN_OFFSET:
                out[i] = (np.concatenate([oy, ys]), np.concatenate([ox, xs]))
                break
        else:
            out.append((ys, xs))
    return out


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    """z of the cross product of two plane vectors."""
    return float(a[0] * b[1] - a[1] * b[0])


def _axis(ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and unit direction (x, y) of a set of devices' principal axis."""
    pts = np.vstack([xs, ys]).astype(float)
    _, vec = np.linalg.eigh(np.cov(pts))
    return pts.mean(axis=1), vec[:, -1]


def _near_line(ys: np.ndarray, xs: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Devices within one pitch of the straight line through the devices ``on``."""
    if on.sum() < 2:
        return on.copy()
    pts = np.vstack([xs, ys]).astype(float)
    centre = pts[:, on].mean(axis=1, keepdims=True)
    _, vec = np.linalg.eigh(np.cov(pts[:, on]))
    normal = vec[:, 0]
    return np.abs(normal @ (pts - centre)) <= 1.0


def _solid_run(
    ys: np.ndarray, xs: np.ndarray, on: np.ndarray, fill: float = SCRATCH_FILL
) -> tuple[np.ndarray, float]:
    """The longest unbroken stretch of the devices ``on`` a line (gaps of at most
    ``SCRATCH_GAP`` pitches along it) and its length (pitches); empty unless the stretch is
    solid (``fill`` of the devices a line of that length crosses): random defects that happen
    to line up leave most of their line empty. ``fill`` 0: every device on, gaps and all."""
    idx = np.flatnonzero(on)
    none = np.zeros(on.size, bool)
    if idx.size < SCRATCH_MIN:
        return none, 0.0
    pts = np.vstack([xs[idx], ys[idx]]).astype(float)
    _, vec = np.linalg.eigh(np.cov(pts))
    direction = vec[:, -1]
    t = direction @ pts
    order = np.argsort(t)
    breaks = np.flatnonzero(np.diff(t[order]) > SCRATCH_GAP)
    pieces = np.split(order, breaks + 1) if fill else [order]
    run = max(pieces, key=len)
    length = float(np.ptp(t[run]) + 1.0)
    crossed = length * max(abs(direction[0]), abs(direction[1]))  # one device per pitch
    if run.size < fill * crossed:
        return none, 0.0
    out = none.copy()
    out[idx[run]] = True
    return out, length
