"""Section `eval`: evaluation cost at P1 size against a 25-step run (target: <= 10 %).

One member chunk as `psilon-bench run` trains P1 (3 PSiLON Net members 11-500-500-500-1,
batch 400, path-norm penalty): 25 training steps (`train.fit`) against `evaluate_members`
on train/val/test of P1's sizes (2000 / 2248 / 2249 rows), with every metric, with
`metrics.spectral=false`, and with `metrics.train_split=false` as well; the spectral norms
alone by the SVD, by the dense Gram eigensolver, and as the product computes them
(`spectral_norms`: Lanczos on the 500 x 500 layers). Interleaved rounds, medians, one
thread.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from common import console, interleaved, load_average, median, result_table
from omegaconf import OmegaConf

from psilon_bench.config import MetricsConfig, OptimizerConfig, ScheduleConfig
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.measure.evaluate import evaluate_members
from psilon_bench.measure.spectral import gram_spectral_norm, spectral_norms
from psilon_bench.models.psilon import WeightNormMLP
from psilon_bench.regularizers.path_norm import PathNormPenalty

NAME = "eval"
E, D_IN, WIDTH, DEPTH, BATCH = 3, 11, 500, 3, 400
ROWS = {"train": 2000, "val": 2248, "test": 2249}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval-rounds", type=int, default=3, help="eval: interleaved rounds")


def run(args: argparse.Namespace) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    parts = {
        k: MemberData(
            torch.randn(E, n, D_IN, generator=g), torch.randn(E, n, generator=g), "regression", 0
        )
        for k, n in ROWS.items()
    }
    seeds = list(range(E))
    model = WeightNormMLP(D_IN, 1, seeds, width=WIDTH, depth=DEPTH)
    plan = plan_steps(ROWS["train"], BATCH, None, 25)
    reg = PathNormPenalty(torch.full((E,), 1e-3))
    full = OmegaConf.create({"metrics": OmegaConf.structured(MetricsConfig())})
    cheap = OmegaConf.create({"metrics": OmegaConf.structured(MetricsConfig(spectral=False))})
    no_train = OmegaConf.create(
        {"metrics": OmegaConf.structured(MetricsConfig(spectral=False, train_split=False))}
    )
    weights = [w.detach().double() for w in model.weight_matrices()]
    load = load_average()

    def train() -> None:
        fit(model, parts["train"], seeds, reg, OptimizerConfig(), ScheduleConfig(), plan)

    times = interleaved(
        args.eval_rounds,
        {
            "25 training steps": train,
            "evaluation, every metric": lambda: evaluate_members(model, parts, full),
            "evaluation, metrics.spectral=false": lambda: evaluate_members(model, parts, cheap),
            "evaluation, also metrics.train_split=false": lambda: evaluate_members(
                model, parts, no_train
            ),
            "spectral norms by SVD": lambda: [torch.linalg.matrix_norm(w, ord=2) for w in weights],
            "spectral norms by the dense Gram eigensolver": lambda: [
                gram_spectral_norm(w) for w in weights
            ],
            "spectral norms as evaluated (Lanczos)": lambda: spectral_norms(weights),
        },
    )
    med = {k: median(v) for k, v in times.items()}
    base = med["25 training steps"]
    table = result_table(
        f"P1 chunk ({E} members, 500x3, batch 400): evaluation vs 25 steps, median of "
        f"{args.eval_rounds} interleaved rounds (load {load:.1f})",
        ["what", "s", "% of 25 steps", "target"],
    )
    for k, v in med.items():
        target = "<= 10 %" if k.startswith("evaluation") else ""
        table.add_row(k, f"{v:.3f}", f"{100 * v / base:.1f} %", target)
    console.print(table)
    return {"median_s": med, "load": load, "rounds": args.eval_rounds}
