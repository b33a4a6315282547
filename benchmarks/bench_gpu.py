"""Section `gpu`: member-batched training on CUDA, when a CUDA device is visible (else the
section is skipped and says why).

Per model-step times of `train.fit` on the GPU against the same on CPU (one thread):
tiny nets (MLP 30-64-64-2, batch 32) with 32, 256 and 1024 members; the P1 net (PSiLON Net
11-500-500-500-1 + path-norm, batch 400) with 13 and 39 members; soft diamond vs L2 at 32
tiny members. Timings synchronize the device; the divergence check reads its flags every
`train.DIVERGENCE_CHECK_EVERY` steps (no per-step host sync). The estimate of FULL P1 on one
GPU: 9 datasets x 13 strengths x 3 seeds x 1000 epochs of 5 steps at the measured 39-member
per model-step time.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from common import console, interleaved, median, result_table
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
from psilon_bench.models.psilon import WeightNormMLP
from psilon_bench.regularizers.path_norm import PathNormPenalty

NAME = "gpu"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu-steps", type=int, default=100, help="gpu: steps per timing")


def _timer(device: str, kind: str, members: int, steps: int, reg: str = "none") -> Any:
    g = torch.Generator().manual_seed(0)
    seeds = list(range(members))
    if kind == "tiny":
        rows, d_in, batch, task = 341, 30, 32, "classification"
        model = MLP(d_in, 2, width=64, depth=2, seeds=seeds)
        y = torch.randint(0, 2, (members, rows), generator=g)
        if reg == "soft_diamond":
            cfg = OmegaConf.structured(SoftDiamondConfig(alpha=1.5, scale=0.05))
        else:
            cfg = OmegaConf.structured(RegularizerConfig(name=reg))
        hook = regularizers.build(cfg, torch.full((members,), 1e-4), model)
    else:
        rows, d_in, batch, task = 2000, 11, 400, "regression"
        model = WeightNormMLP(d_in, 1, seeds, width=500, depth=3)
        y = torch.randn(members, rows, generator=g)
        hook = PathNormPenalty(torch.full((members,), 1e-3))
    x = torch.randn(members, rows, d_in, generator=g)
    model = model.to(device)
    hook.strength = hook.strength.to(device)
    data = MemberData(x.to(device), y.to(device), task, 2 if task == "classification" else 0)
    plan = plan_steps(rows, batch, None, steps)

    def go() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fit(model, data, seeds, hook, OptimizerConfig(), ScheduleConfig(), plan)
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / (steps * members)

    go()  # warm-up
    return go


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not torch.cuda.is_available():
        reason = "no CUDA device visible (torch.cuda.is_available() is False)"
        console.print(f"[bold]gpu[/bold]: skipped: {reason}")
        return {"skipped": reason}
    steps, rounds = args.gpu_steps, args.repeats
    cases = [("tiny", 32), ("tiny", 256), ("tiny", 1024), ("p1", 13), ("p1", 39)]
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "cases": {}}
    table = result_table(
        f"GPU ({out['device']}) vs CPU (1 thread): us per model-step, median of {rounds}",
        ["net", "members", "GPU", "CPU", "CPU / GPU"],
    )
    for kind, members in cases:
        cpu_members = min(members, 32 if kind == "tiny" else 3)  # CPU: its own chunk size
        cpu_steps = max(5, steps // (10 if kind == "p1" else 1))
        times = interleaved(
            rounds,
            {
                "gpu": _timer("cuda", kind, members, steps),
                "cpu": _timer("cpu", kind, cpu_members, cpu_steps),
            },
        )
        gpu, cpu = median(times["gpu"]), median(times["cpu"])
        out["cases"][f"{kind} E={members}"] = {"gpu_s": gpu, "cpu_s": cpu, "speedup": cpu / gpu}
        table.add_row(
            kind, str(members), f"{gpu * 1e6:.1f}", f"{cpu * 1e6:.1f}", f"{cpu / gpu:.1f}x"
        )
    console.print(table)
    sd = interleaved(
        rounds,
        {
            "l2": _timer("cuda", "tiny", 32, steps, "l2"),
            "soft_diamond": _timer("cuda", "tiny", 32, steps, "soft_diamond"),
        },
    )
    out["soft_diamond_over_l2_gpu_E32"] = median(sd["soft_diamond"]) / median(sd["l2"])
    p1 = out["cases"]["p1 E=39"]["gpu_s"]
    full_steps = 9 * 13 * 3 * 1000 * 5  # model-steps of FULL P1 (2000 rows / batch 400)
    out["full_p1_estimate_h"] = p1 * full_steps / 3600
    console.print(
        f"soft diamond / L2 on the GPU at 32 tiny members: "
        f"{out['soft_diamond_over_l2_gpu_E32']:.2f}x; FULL P1 estimate (39 members a chunk): "
        f"{out['full_p1_estimate_h']:.2f} h of training"
    )
    return out
