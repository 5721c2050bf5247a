"""Per-neuron digital recalibration from chip reads of a calibration batch (no weight
retraining).

A network trained once (software, statistics-aware, or averaged over LEA copies) meets a
die whose differential pairs differ from the weights it was trained for. Each neuron's
crossbar signal on the die is, to first order, an affine function of the signal the network
expects: the column's pairs scale it (their mean ``G_P - G_AP``) and the devices' mismatch
adds an input-dependent offset whose mean over the data is a per-neuron constant. Reading a
batch of (unlabelled) training images through the die and fitting, per neuron, ``scale`` and
``shift`` so that ``scale * measured + shift`` matches the ideal network's signal in the least
squares sense removes both parts that an affine map can remove. The fit goes layer by layer:
the batch reaches layer ``l`` through the already recalibrated layers before it, so each layer
is fitted to the inputs it will really see.

The correction is digital (two numbers per neuron, applied where the bias is added); no device
is rewritten and the network's weights are unchanged, so the same network serves every die.

With ``components = k > 0`` the part of the mismatch that depends on the input is corrected
too, to rank ``k``: a pair's mismatch adds ``x . o_j`` to neuron ``j``, linear in the layer's
input ``x``; its projection on the ``k`` principal directions of the inputs seen in the
calibration batch is fitted per neuron with the scale and shift (``k`` more numbers per
neuron, and a ``k x n_in`` projection of the input shared by the layer's neurons: the
digital cost is ``k (n_in + n_out)`` multiply-adds per layer per input, against the
crossbar's ``n_in n_out``).
The reads go through any :data:`~mtj_hil.training.evaluation.LayerCurrents` (emulated die,
``Chip.read`` through :func:`~mtj_hil.training.evaluation.crossbar_layer_currents`, LEA
copies averaged by :func:`~mtj_hil.training.ensemble.lea_layer_currents`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.training.bnn import BNN, LayerSignal
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import V_READ, LayerCurrents

CALIBRATION_BATCH = 512
"""Default number of training images read through the die to fit the recalibration."""


@dataclass
class Recalibration:
    """Per layer, ``signal -> scale * signal + shift`` (signal in weight units).

    With ``basis``, ``+ ((a - centre) @ basis) @ mix`` for the layer's input ``a`` too.

    Attributes:
        scale: per layer, shape ``(n_out,)``, dimensionless.
        shift: per layer, shape ``(n_out,)``, weight units.
        centre: per layer, the calibration inputs' mean, shape ``(n_in,)`` (or None).
        basis: per layer, their ``k`` principal directions, shape ``(n_in, k)`` (or None).
        mix: per layer, weight units per input component, shape ``(k, n_out)`` (or None).
    """

    scale: list[np.ndarray]
    shift: list[np.ndarray]
    centre: list[np.ndarray] | None = None
    basis: list[np.ndarray] | None = None
    mix: list[np.ndarray] | None = None

    def digital_cost(self) -> int:
        """Digital multiply-adds per input the input-dependent part adds (0 without it)."""
        if self.basis is None:
            return 0
        return int(
            sum(
                b.shape[0] * b.shape[1] + m.size
                for b, m in zip(self.basis, self.mix or [], strict=True)
            )
        )

    @classmethod
    def identity(cls, net: BNN) -> Recalibration:
        """No correction (scale 1, shift 0 for every neuron)."""
        return cls([np.ones(n) for n in net.sizes[1:]], [np.zeros(n) for n in net.sizes[1:]])

    def check(self, net: BNN) -> None:
        """Raise TrainingError unless the shapes match ``net``'s layers."""
        want = [(n,) for n in net.sizes[1:]]
        got = [np.shape(s) for s in self.scale], [np.shape(s) for s in self.shift]
        if got[0] != want or got[1] != want:
            raise TrainingError(f"recalibration shapes {got} do not match layers {want}")

    def wrap(self, layer_signal: LayerSignal) -> LayerSignal:
        """``layer_signal`` with the correction applied to every layer's output."""

        def corrected(layer: int, a: np.ndarray) -> np.ndarray:
            out = self.scale[layer] * layer_signal(layer, a) + self.shift[layer]
            if self.basis is not None and self.centre is not None and self.mix is not None:
                out = out + ((a - self.centre[layer]) @ self.basis[layer]) @ self.mix[layer]
            return out

        return corrected


def components_cost(sizes: list[int], components: int) -> int:
    """Digital multiply-adds per input a rank-``components`` recalibration adds to a network
    of layer widths ``sizes`` (``k (n_in + n_out)`` per layer, ``k`` at most ``n_in``)."""
    return sum(min(components, a) * (a + b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def signal_from_currents(
    layer_currents: LayerCurrents, layout: Layout, v_read: float = V_READ
) -> LayerSignal:
    """Crossbar currents as signals in weight units: inputs driven as ``a * v_read`` (V),
    ``(I+ - I-) / ((G_P_nom - G_AP_nom) * v_read)``, as in ``evaluation.forward_currents``."""
    g_norm = layout.nominal_g_p - layout.nominal_g_ap

    def signal(layer: int, a: np.ndarray) -> np.ndarray:
        return layer_currents(layer, a * v_read) / (g_norm * v_read)

    return signal


def fit_recalibration(
    net: BNN,
    X_cal: np.ndarray,
    layer_signal: LayerSignal,
    min_std: float = 1e-9,
    components: int = 0,
) -> Recalibration:
    """Fit the per-neuron correction from one read of ``X_cal`` through the die.

    Args:
        net: the deployed network (its ideal signals are the targets).
        X_cal: calibration inputs ``(n, n_in)`` (training images, never test data); no labels.
        layer_signal: the die's signal per layer (see :func:`signal_from_currents`).
        min_std: a neuron whose measured signal varies less than this over the batch (a dead
            column) keeps scale 0 and takes the target's mean as its shift.
        components: rank of the input-dependent correction (0: scale and shift only; at
            most the layer's inputs and the batch's rows minus 2).

    Raises:
        TrainingError: fewer than two calibration rows, rows of the wrong width, or
            ``components`` negative or more than the batch can fit.
    """
    X = np.asarray(X_cal, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] != net.sizes[0]:
        raise TrainingError(f"calibration batch {X.shape} needs >= 2 rows of {net.sizes[0]} inputs")
    if components < 0 or (components and components > X.shape[0] - 2):
        raise TrainingError(
            f"{components} components cannot be fitted from {X.shape[0]} calibration rows"
        )
    weights = net.binary_weights()
    ideal = X
    measured = X
    scales: list[np.ndarray] = []
    shifts: list[np.ndarray] = []
    centres: list[np.ndarray] = []
    bases: list[np.ndarray] = []
    mixes: list[np.ndarray] = []
    for i in range(net.n_layers):
        target = ideal @ weights[i]
        raw = layer_signal(i, measured)
        centre = measured.mean(axis=0)
        k = min(components, measured.shape[1])
        if k:
            spread = measured - centre
            _, vecs = np.linalg.eigh(spread.T @ spread)
            basis = vecs[:, ::-1][:, :k]  # the k principal directions
            features = (measured - centre) @ basis
            sc, sh, mix = _component_fit(raw, target, features, min_std)
            corrected = sc * raw + sh + features @ mix
        else:
            basis, mix = np.zeros((measured.shape[1], 0)), np.zeros((0, target.shape[1]))
            sc, sh = _affine_fit(raw, target, min_std)
            corrected = sc * raw + sh
        scales.append(sc)
        shifts.append(sh)
        centres.append(centre)
        bases.append(basis)
        mixes.append(mix)
        if i < net.n_layers - 1:
            ideal = net.activate(net.gains[i] * target + net.biases[i])
            measured = net.activate(net.gains[i] * corrected + net.biases[i])
    if not components:
        return Recalibration(scales, shifts)
    return Recalibration(scales, shifts, centres, bases, mixes)


def _component_fit(
    raw: np.ndarray, target: np.ndarray, features: np.ndarray, min_std: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column least squares ``target ~ scale * raw + shift + features @ mix``
    (``features`` centred, one batched solve of the normal equations over the columns); a
    dead column (``raw`` flat) keeps scale 0."""
    mr, mt = raw.mean(axis=0), target.mean(axis=0)
    dr, dt = raw - mr, target - mt
    n, k = features.shape
    live = dr.std(axis=0) > min_std
    dr = np.where(live, dr, 0.0)
    gram = np.empty((dr.shape[1], k + 1, k + 1))
    gram[:, 0, 0] = np.where(live, (dr * dr).sum(axis=0), 1.0)
    cross = dr.T @ features  # (n_out, k)
    gram[:, 0, 1:] = gram[:, 1:, 0] = cross
    gram[:, 1:, 1:] = features.T @ features
    rhs = np.concatenate([(dr * dt).sum(axis=0)[:, None], dt.T @ features], axis=1)
    coef = np.linalg.solve(gram + 1e-12 * n * np.eye(k + 1), rhs[..., None])[..., 0]
    scale = coef[:, 0]
    return scale, mt - scale * mr, coef[:, 1:].T


def _affine_fit(
    raw: np.ndarray, target: np.ndarray, min_std: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per column least squares ``target ~ scale * raw + shift``."""
    mr, mt = raw.mean(axis=0), target.mean(axis=0)
    dr = raw - mr
    var = (dr * dr).mean(axis=0)
    cov = (dr * (target - mt)).mean(axis=0)
    live = var > min_std * min_std
    scale = np.where(live, cov / np.where(live, var, 1.0), 0.0)
    return scale, mt - scale * mr


def predict_recalibrated(
    net: BNN, X: np.ndarray, layer_signal: LayerSignal, recalibration: Recalibration
) -> np.ndarray:
    """Classes predicted by ``net`` on the die with the correction applied.

    Raises:
        TrainingError: the correction does not match the network.
    """
    recalibration.check(net)
    logits = net.forward_signals(X, recalibration.wrap(layer_signal))
    return np.argmax(logits, axis=1)


def calibration_batch(
    X_train: np.ndarray, rng: np.random.Generator, size: int = CALIBRATION_BATCH
) -> np.ndarray:
    """``size`` training rows drawn without replacement (all of them if fewer)."""
    n = X_train.shape[0]
    return X_train[np.sort(rng.choice(n, size=min(size, n), replace=False))]
