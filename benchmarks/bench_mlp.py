"""Section `mlp`: MLP 30-64-64-2 on breast_cancer, Adam, 450 steps, 32 seeds, three ways:
member-batched (psilon_bench.engine.train.fit), a plain per-model PyTorch loop, and scikit-learn's
MLPClassifier. Regime "mini-batch 32" (overhead-bound; target: batched >= 5x faster per
model than the loop and than sklearn) and "full batch" (compute-bound; target: >= 50 % of the
single-thread float32 matmul peak of torch.mm, measured in every interleaved round beside the
contenders; oneDNN's peak, about twice MKL's on AMD CPUs, is reported beside it)."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from common import (
    console,
    interleaved,
    load_average,
    matmul_peak_gflops,
    median,
    onednn_peak_gflops,
    result_table,
)
from omegaconf import OmegaConf

from psilon_bench import data as data_pkg
from psilon_bench.config import (
    DatasetConfig,
    OptimizerConfig,
    PreprocessConfig,
    ScheduleConfig,
    SplitConfig,
)
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.base import Regularizer

NAME = "mlp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=32, help="mlp: seeds trained at once")
    parser.add_argument("--steps", type=int, default=450, help="mlp: optimizer steps")


def breast_cancer_split(seed: int = 0) -> Any:
    """breast_cancer through psilon-bench's own data path (60 % train, standardized)."""
    table = data_pkg.load_table(
        OmegaConf.structured(
            DatasetConfig(name="breast_cancer", source="sklearn", loader="breast_cancer")
        ),
        Path("."),
    )
    return data_pkg.make_split(
        table,
        OmegaConf.structured(SplitConfig()),
        OmegaConf.structured(PreprocessConfig()),
        seed=seed,
    )


def mlp_flops_per_step(sizes: list[int], rows: int) -> int:
    """Matmul FLOPs of one training step of an MLP: forward, weight gradients, and input
    gradients of every layer but the first (the data needs none)."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    fwd = sum(2 * rows * i * o for i, o in layers)
    grad_w = fwd
    grad_x = sum(2 * rows * i * o for i, o in layers[1:])
    return fwd + grad_w + grad_x


def train_batched(
    x: torch.Tensor, y: torch.Tensor, seeds: list[int], width: int, steps: int, batch: int | None
) -> None:
    """The product: every member on its own split, stacked (E, N, d) as `psilon-bench run`
    lays them out, one `train.fit`."""
    E = len(seeds)
    model = MLP(x.shape[-1], 2, width=width, depth=2, seeds=seeds)
    data = MemberData(x, y, "classification", 2)
    plan = plan_steps(x.shape[1], batch, None, steps)
    fit(model, data, seeds, Regularizer(torch.zeros(E)), OptimizerConfig(), ScheduleConfig(), plan)


def train_loop(
    xs: torch.Tensor, ys: torch.Tensor, seeds: list[int], width: int, steps: int, batch: int | None
) -> None:
    """The plain way: one nn.Sequential and one fused torch.optim.Adam (as the product's
    kernel) per seed, on its own split, trained in turn."""
    n = xs.shape[1]
    batch = n if batch is None else batch
    for e, seed in enumerate(seeds):
        x, y = xs[e], ys[e]
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, 2),
        )
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
        perm, pos = torch.randperm(n), 0
        for _ in range(steps):
            if pos >= n:
                perm, pos = torch.randperm(n), 0
            idx = perm[pos : pos + batch]
            pos += batch
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def train_sklearn(
    splits: list[Any], seeds: list[int], width: int, steps: int, batch: int | None
) -> None:
    """scikit-learn's MLPClassifier, same sizes, Adam, the same number of optimizer steps,
    each seed on its own split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = splits[0].X_train.shape[0]
    b = n if batch is None else batch
    epochs = math.ceil(steps / math.ceil(n / b))
    for seed, split in zip(seeds, splits):
        x, y = split.X_train, split.y_train
        clf = MLPClassifier(
            hidden_layer_sizes=(width, width),
            solver="adam",
            batch_size=b,
            max_iter=epochs,
            learning_rate_init=1e-3,
            alpha=0.0,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y)


def run(args: argparse.Namespace) -> dict[str, Any]:
    seeds = list(range(args.members))
    splits = [breast_cancer_split(seed) for seed in seeds]  # the product's per-member splits
    x = torch.stack([torch.as_tensor(sp.X_train) for sp in splits])  # (E, N, d)
    y = torch.stack([torch.as_tensor(sp.y_train) for sp in splits])
    width, steps, n = 64, args.steps, x.shape[1]
    out: dict[str, Any] = {"rows": n, "members": len(seeds), "steps": steps}
    peak_flops = 2 * 1024**3  # the peaks' 1024^3 product, timed in every round
    regimes = [("mini-batch 32", 32, False), ("mini-batch 32, second process busy", 32, True),
               ("full batch", None, False)]  # fmt: skip
    for regime, batch, busy in regimes:
        rows = 32 if batch else n
        flops = mlp_flops_per_step([x.shape[2], width, width, 2], rows) * steps * len(seeds)
        fns = {
            "batched": lambda b=batch: train_batched(x, y, seeds, width, steps, b),
            "torch loop (fused Adam)": lambda b=batch: train_loop(x, y, seeds, width, steps, b),
            "sklearn": lambda b=batch: train_sklearn(splits, seeds, width, steps, b),
            PEAK: lambda: peak_flops / matmul_peak_gflops() / 1e9,  # seconds, as a time
            ONEDNN: lambda: peak_flops / (onednn_peak_gflops() or float("nan")) / 1e9,
        }
        load = load_average()
        cpu: dict[str, list[float]] = {}
        times = interleaved(args.repeats, fns, busy=busy, cpu=cpu)
        peaks = {k: [peak_flops / t / 1e9 for t in times.pop(k)] for k in (PEAK, ONEDNN)}
        peak, onednn = median(peaks[PEAK]), median(peaks[ONEDNN])
        med = {way: median(t) for way, t in times.items()}
        table = result_table(
            f"MLP 30-64-64-2, breast_cancer ({n} rows, own split per member), Adam, "
            f"{steps} steps, {len(seeds)} seeds, {regime}; median of {args.repeats} "
            f"interleaved rounds, load {load:.1f}",
            ["way", "ms / model", "batched speed-up", "GFLOP/s", "% of matmul peak",
             "% of oneDNN peak"],
        )  # fmt: skip
        rows_out: dict[str, Any] = {
            "load": load,
            "peak_gflops": peak,
            "onednn_peak_gflops": onednn,
            "peak_runs": peaks[PEAK],
            "onednn_peak_runs": peaks[ONEDNN],
        }
        for way, t in med.items():
            per_model = t / len(seeds)
            gflops = flops / t / 1e9
            speedup = t / med["batched"]
            rows_out[way] = {
                "s_per_model": per_model,
                "speedup_of_batched": speedup,
                "gflops": gflops,
                "pct_of_peak": 100 * gflops / peak,
                "pct_of_onednn_peak": 100 * gflops / onednn,
                "all_s": times[way],
                "cpu_s": cpu[way],
                "pct_of_peak_by_cpu_time": 100 * flops / median(cpu[way]) / 1e9 / peak,
            }
            table.add_row(
                way,
                f"{per_model * 1e3:.2f}",
                f"{speedup:.2f}x",
                f"{gflops:.2f}",
                f"{100 * gflops / peak:.1f} %",
                f"{100 * gflops / onednn:.1f} %",
            )
        console.print(table)
        console.print(
            f"single-thread float32 peak (1024^3, median of the rounds): torch.mm (MKL) "
            f"{peak:.1f} GFLOP/s, the target's; oneDNN {onednn:.1f} GFLOP/s. batched by "
            f"this process's CPU time (other load aside): "
            f"{rows_out['batched']['pct_of_peak_by_cpu_time']:.1f} % of the matmul peak"
        )
        out[regime] = rows_out
    return out


#: Pseudo-contenders timed in every round: the two matmul peaks (not table rows).
PEAK, ONEDNN = "_peak_mkl", "_peak_onednn"
