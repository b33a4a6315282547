"""Section `monitor`: what evaluation during training and a learning-rate grid cost.

`psilon_bench.engine.train.fit` on one thread, each configuration timed four ways in the same run:
plain (no monitor), learning curves at the default interval (`trainer.curves`, about 100
points a run), curves + best-validation checkpoints (`trainer.keep_best=val`), and the
same members with four different learning rates (`optimizer.lr` a list) instead of one.
Configurations (Gaussian data of the real sizes; the run's real interval is kept, the run
is shortened):
- `mlp`: the default run, MLP 30-64-64-2 on breast_cancer's split (341 training rows,
  113 validation rows), batch 32, 100 epochs = 1100 steps -> every 11 steps; 12 members.
- `p1`: PSiLON Net 11-500-500-500-1 (P1), 2000 training rows, 2248 validation rows (the
  wine_quality split), batch 400, 1000 epochs = 5000 steps -> every 50 steps; 2 members.
Targets: curves < 10 %, keep_best < 15 % of the training time.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from common import best_of, console
from rich.table import Table

from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.monitor import Monitor
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.models.psilon import WeightNormMLP
from psilon_bench.regularizers.base import Regularizer

NAME = "monitor"

#: name -> (model factory, d_in, d_out, n_train, n_val, batch, real steps, members, points
#: timed)
CONFIGS: dict[str, tuple[Any, ...]] = {
    "mlp": (lambda s: MLP(30, 2, width=64, depth=2, seeds=s), 30, 2, 341, 113, 32, 1100, 12, 20),
    "p1": (
        lambda s: WeightNormMLP(11, 1, s, width=500, depth=3),
        11,
        1,
        2000,
        2248,
        400,
        5000,
        2,
        2,
    ),
}


def _data(n: int, d_in: int, d_out: int, E: int, seed: int) -> MemberData:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=gen)
    if d_out == 1:
        return MemberData(
            x.expand(E, -1, -1), torch.randn(n, generator=gen).expand(E, -1), "regression", 0
        )
    y = torch.randint(0, d_out, (n,), generator=gen)
    return MemberData(x.expand(E, -1, -1), y.expand(E, -1), "classification", d_out)


def _time(cfg: tuple[Any, ...], repeats: int) -> dict[str, float]:
    build, d_in, d_out, n_train, n_val, batch, real_steps, E, points = cfg
    every = max(1, -(-real_steps // 100))
    steps = every * points
    seeds = list(range(E))
    train, val = _data(n_train, d_in, d_out, E, 0), _data(n_val, d_in, d_out, E, 1)
    plan = plan_steps(n_train, batch, None, steps)

    def run(monitor: str, lrs: list[float] | None = None) -> None:
        mon = None
        if monitor != "none":
            mon = Monitor(val, every, steps, keep_best=monitor == "keep_best")
        fit(
            build(seeds),
            train,
            seeds,
            Regularizer(torch.zeros(E)),
            OptimizerConfig(),
            ScheduleConfig(),
            plan,
            monitor=mon,
            lrs=lrs,
        )

    lr_grid = [1e-3 * 2.0 ** -(e % 4) for e in range(E)]
    variants = {
        "plain": lambda: run("none"),
        "curves": lambda: run("curves"),
        "keep_best": lambda: run("keep_best"),
        "lr_grid": lambda: run("none", lr_grid),
    }
    variants["plain"]()  # warm-up
    times = {k: float("inf") for k in variants}
    for _ in range(repeats):  # round robin: load changes hit every variant alike
        for k, fn in variants.items():
            times[k] = min(times[k], best_of(1, fn))
    return {"every": every, "steps": steps, **times}


def run(args: argparse.Namespace) -> dict[str, Any]:
    table = Table(title="evaluation during training and lr grids: time vs plain training")
    for col in ("config", "interval", "plain s", "curves", "keep_best", "4 lrs"):
        table.add_column(col, justify="right")
    out: dict[str, Any] = {}
    for name, cfg in CONFIGS.items():
        t = _time(cfg, args.repeats)
        ratio = {k: t[k] / t["plain"] - 1 for k in ("curves", "keep_best", "lr_grid")}
        out[name] = {**t, **{f"{k}_overhead": v for k, v in ratio.items()}}
        table.add_row(
            name,
            f"every {t['every']}",
            f"{t['plain']:.3f}",
            *[f"{100 * ratio[k]:+.1f} %" for k in ("curves", "keep_best", "lr_grid")],
        )
    console.print(table)
    console.print("targets: curves < +10 %, keep_best < +15 %")
    return out
