"""Section `soft_diamond`: what the soft-diamond penalty (docs/methods.md (soft diamond), [SD]) costs per training
step, against the L2 penalty on the same model (target: at most 1.5x) and against calling scipy
for every weight every step.

Each regime trains the same member-batched MLP with `psilon_bench.engine.train.fit` (Adam; one forward,
backward and optimizer step per step) four times: no penalty, the L2 penalty, and the soft
diamond at alpha = 1.5 (a general alpha: no closed form, the table and its tail series are
used) with the compiled look-up (`regularizers/stable/fused.py`, where it builds) and with the
eager torch one (`PSILON_SAS_KERNEL=0`; the same values), and reports milliseconds per step and
the ratios soft diamond / L2.

The scipy baseline is the table-free way to get the gradient: `scipy.stats.levy_stable.pdf`
for p(w) of every weight, and p'(w) by a central difference (two more pdf calls), every step.
It is far too slow to run for a whole step at these sizes, so it is timed on `--scipy-points`
standardized weights drawn like the model's and extrapolated to all of its weights; the
reported factor is (that time + the L2 step) / the soft-diamond step. A lower bound with ONE
pdf call per weight is reported too (it would not even give the gradient).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from bench_mlp import breast_cancer_split
from common import best_of, console, environment, interleaved, load_average, median, result_table
from omegaconf import OmegaConf

from psilon_bench import regularizers
from psilon_bench.config import (
    OptimizerConfig,
    RegularizerConfig,
    ScheduleConfig,
    SoftDiamondConfig,
)
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.stable import StableTable, fused

NAME = "soft_diamond"
ALPHA = 1.5
SCALE = 0.05  # c: about half the typical |w| of these layers (conf/regularizer/soft_diamond.yaml)
STRENGTH = 1e-4

# (label, width, depth, members, batch, share of --soft-diamond-steps); batch None = full batch.
# Labels: hidden width x depth of an MLP 30 -> ... -> 2, batch rows, members E.
REGIMES = [
    ("64x2, b32, E=1", 64, 2, 1, 32, 1.0),  # one small model: overhead-bound
    ("64x2, b32, E=32", 64, 2, 32, 32, 1.0),  # a seed x lambda sweep at once: elementwise-bound
    ("500x3, full, E=4", 500, 3, 4, None, 0.1),  # P1's width: the matmuls weigh more
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--soft-diamond-steps", type=int, default=200, help="soft_diamond: steps per timing"
    )
    parser.add_argument(
        "--scipy-points",
        type=int,
        default=200,
        help="soft_diamond: weights timed through scipy (extrapolated to the model)",
    )


def _regularizer_cfgs() -> dict[str, Any]:
    return {
        "none": OmegaConf.structured(RegularizerConfig(name="none")),
        "l2": OmegaConf.structured(RegularizerConfig(name="l2")),
        "soft_diamond": OmegaConf.structured(SoftDiamondConfig(alpha=ALPHA, scale=SCALE)),
    }


def step_timer(
    x: torch.Tensor,
    y: torch.Tensor,
    width: int,
    depth: int,
    members: int,
    batch: int | None,
    reg_cfg: Any,
    steps: int,
    env: dict[str, str] | None = None,
) -> tuple[Any, int]:
    """A function timing `steps` training steps of `fit` (after a warm-up run) with the
    environment variables `env` set meanwhile, and the weight count."""
    seeds = list(range(members))
    model = MLP(x.shape[1], 2, width=width, depth=depth, seeds=seeds)
    reg = regularizers.build(reg_cfg, torch.full((members,), STRENGTH), model)
    data = MemberData(x.expand(members, *x.shape), y.expand(members, *y.shape), "classification", 2)

    def train(n: int) -> None:
        with environment(env):
            fit(model, data, seeds, reg, OptimizerConfig(), ScheduleConfig(),
                plan_steps(x.shape[0], batch, None, n))  # fmt: skip

    train(5)  # warm-up: allocator, table buffers on this device and dtype
    n_weights = sum(w.numel() for w in model.decay_parameters())
    return (lambda: train(steps)), n_weights


def scipy_seconds_per_weight(n_points: int, repeats: int) -> float:
    """Seconds for ONE `levy_stable.pdf` call per weight, at weights like a trained layer's."""
    from scipy.stats import levy_stable

    rng = np.random.default_rng(0)
    u = rng.uniform(-0.1, 0.1, n_points) / SCALE  # standardized weights w / c
    levy_stable.pdf(u[:5], ALPHA, 0.0)  # import and set-up costs out of the timing
    return best_of(repeats, lambda: levy_stable.pdf(u, ALPHA, 0.0)) / n_points


def run(args: argparse.Namespace) -> dict[str, Any]:
    split = breast_cancer_split()
    x, y = torch.as_tensor(split.X_train), torch.as_tensor(split.y_train)
    steps = args.soft_diamond_steps
    start = time.perf_counter()
    table = StableTable(ALPHA)
    table_s = time.perf_counter() - start
    per_weight = scipy_seconds_per_weight(args.scipy_points, min(args.repeats, 2))
    cfgs = _regularizer_cfgs()
    kernel = fused.enabled() and fused.library() is not None
    out: dict[str, Any] = {
        "alpha": ALPHA,
        "scale": SCALE,
        "rows": x.shape[0],
        "steps": steps,
        "table_load_s": table_s,
        "table_from_cache": table.loaded_from_cache,
        "scipy_pdf_s_per_weight": per_weight,
        "compiled_lookup": kernel,
        "regimes": {},
    }
    result = result_table(
        f"Soft diamond (alpha {ALPHA}, scale {SCALE}) vs L2: ms per training step of an "
        f"MLP 30-(width x depth)-2 on breast_cancer ({x.shape[0]} rows), Adam, median of "
        f"{args.repeats} interleaved rounds (load {load_average():.1f})",
        ["regime", "weights", "none", "L2", "SD", "SD/L2", "SD eager", "eager/L2"],
    )
    for label, width, depth, members, batch, share in REGIMES:
        regime_steps = max(10, int(steps * share))
        timers, n_weights = {}, 0
        for name, cfg in cfgs.items():
            timers[name], n_weights = step_timer(
                x, y, width, depth, members, batch, cfg, regime_steps
            )
        timers["soft_diamond_eager"], _ = step_timer(
            x, y, width, depth, members, batch, cfgs["soft_diamond"], regime_steps,
            env={fused.KERNEL_ENV: "0"},
        )  # fmt: skip
        times = interleaved(args.repeats, timers)  # none L2 SD eager none L2 SD eager ...
        ms = {name: median(t) / regime_steps * 1e3 for name, t in times.items()}
        scipy_ms = 3 * per_weight * n_weights * 1e3 + ms["l2"]  # p, p(w +- h): the gradient
        scipy_one_call_ms = per_weight * n_weights * 1e3 + ms["l2"]  # a lower bound
        ratio = ms["soft_diamond"] / ms["l2"]
        eager = ms["soft_diamond_eager"] / ms["l2"]
        out["regimes"][label] = {
            "width": width,
            "depth": depth,
            "members": members,
            "batch": batch if batch is not None else x.shape[0],
            "steps": regime_steps,
            "weights": n_weights,
            "ms_per_step": ms,
            "soft_diamond_over_l2": ratio,
            "eager_soft_diamond_over_l2": eager,
            "meets_1.5x_target": ratio <= 1.5,
            "scipy_ms_per_step_extrapolated": scipy_ms,
            "scipy_over_soft_diamond": scipy_ms / ms["soft_diamond"],
            "scipy_one_call_over_soft_diamond": scipy_one_call_ms / ms["soft_diamond"],
        }
        result.add_row(
            label,
            f"{n_weights:,}",
            f"{ms['none']:.2f}",
            f"{ms['l2']:.2f}",
            f"{ms['soft_diamond']:.2f}",
            f"{ratio:.2f}x",
            f"{ms['soft_diamond_eager']:.2f}",
            f"{eager:.2f}x",
        )
    console.print(result)
    console.print(
        f"SD = soft diamond, with the compiled look-up "
        f"{'(built here)' if kernel else '(NOT available here: the eager one)'}; SD eager = "
        f"PSILON_SAS_KERNEL=0, the same values. scipy instead of the table, the L2 step plus 3 "
        f"scipy.stats.levy_stable.pdf calls per weight (p and a central difference for p', "
        f"{per_weight * 1e6:.0f} us each at alpha {ALPHA}, timed on {args.scipy_points} "
        f"weights, extrapolated to the model): "
        + ", ".join(f"{r['scipy_over_soft_diamond']:,.0f}x" for r in out["regimes"].values())
        + " the SD step; SaS table "
        f"{'loaded from cache' if table.loaded_from_cache else 'built'} in {table_s:.2f} s. "
        "Target for soft diamond / L2: <= 1.5x."
    )
    return out
