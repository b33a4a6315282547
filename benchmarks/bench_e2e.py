"""Section `e2e`: what a user waits for, whole processes timed from launch to exit.

- Start-up: `python -c "import torch"` (the floor) against `psilon-bench --help`,
  `psilon-bench run --help`, `psilon-bench datasets` and `psilon-bench run trainer=quick`.
  Targets: quick run <= 2x the torch import; `run --help` and `datasets` faster than the
  import; `--help` under 0.2 s.
- Jobs against the scikit-learn script a user would write (`sklearn_job.py`): the 32-seed job
  (MLP 30-64-64-2 on breast_cancer, 41 epochs = 451 Adam steps at mini-batch 32) and the
  default experiment (3 seeds, 100 epochs). Targets: 32 seeds >= 2x faster than the script,
  the default experiment no slower.
- A breakdown of the 32-seed job from its records (`time.started`, `time.data_s`,
  `time.wall_s`, `time.eval_s`, `time.run_s`): start-up (imports, config), data, training,
  evaluation, the rest of the run, and writing + summary + exit.

Every command runs `--e2e-rounds` times, interleaved (A B A B), medians reported, with the
1-minute load average at the start and end. The children get no OMP_NUM_THREADS (as a user).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import console, interleaved, load_average, median, result_table

NAME = "e2e"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PSB = str(BIN / "psilon-bench")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--e2e-rounds", type=int, default=3, help="e2e: interleaved rounds")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PSILON_BENCH_DATA"] = env.get(
        "PSILON_BENCH_DATA", str(HERE.parents[1] / "shared" / "data")
    )
    return env


def run_process(cmd: list[str], cwd: Path) -> float:
    """Wall time of one whole process; fails loudly when the command fails."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=child_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"bench e2e: {' '.join(cmd)} failed: {res.stderr.strip()[-500:]}")
    return elapsed


def last_records(results: Path) -> list[dict[str, Any]]:
    newest = max(results.rglob("records.jsonl"), key=lambda p: p.stat().st_mtime)
    return [json.loads(line) for line in newest.read_text().splitlines()]


def psb_job(args: list[str], cwd: Path, phases: list[dict[str, float]] | None = None):
    def go() -> float:
        launched = time.time()
        t0 = time.perf_counter()
        run_process([PSB, "run", *args, f"paths.results_dir={cwd / 'results'}"], cwd)
        elapsed = time.perf_counter() - t0
        if phases is not None:
            r = last_records(cwd / "results")[0]
            end = launched + elapsed
            rest = r["time.run_s"] - r["time.data_s"] - r["time.wall_s"] - r["time.eval_s"]
            phases.append(
                {
                    "start-up (imports, config)": r["time.started"] - launched,
                    "data": r["time.data_s"],
                    "training": r["time.wall_s"],
                    "evaluation": r["time.eval_s"],
                    "rest of the run (models, records)": rest,
                    "writing, summary, exit": end - r["time.started"] - r["time.run_s"],
                }
            )
        return elapsed

    return go


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds = args.e2e_rounds
    out: dict[str, Any] = {"load_before": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        py = str(BIN / "python")
        startup = interleaved(
            rounds,
            {
                'python -c "import torch"': lambda: run_process([py, "-c", "import torch"], cwd),
                "psilon-bench --help": lambda: run_process([PSB, "--help"], cwd),
                "psilon-bench run --help": lambda: run_process([PSB, "run", "--help"], cwd),
                "psilon-bench datasets": lambda: run_process([PSB, "datasets"], cwd),
                "psilon-bench run trainer=quick": psb_job(["trainer=quick"], cwd),
            },
        )
        phases: list[dict[str, float]] = []
        sk = [py, str(HERE / "sklearn_job.py"), "--out", str(cwd / "sk.jsonl")]
        jobs = interleaved(
            rounds,
            {
                "32 seeds: psilon-bench run": psb_job(
                    ["seeds=32", "trainer.epochs=41", "trainer.progress=off"], cwd, phases
                ),
                "32 seeds: scikit-learn script": lambda: run_process(
                    [*sk, "--seeds", "32", "--epochs", "41"], cwd
                ),
                "default: psilon-bench run": psb_job(["trainer.progress=off"], cwd),
                "default: scikit-learn script": lambda: run_process(
                    [*sk, "--seeds", "3", "--epochs", "100"], cwd
                ),
            },
        )
    out["load_after"] = load_average()
    floor = median(startup['python -c "import torch"'])
    table = result_table(
        f"start-up, whole processes, median of {rounds} interleaved rounds "
        f"(load {out['load_before']:.1f} -> {out['load_after']:.1f})",
        ["command", "s", "vs import torch", "target"],
    )
    targets = {
        "psilon-bench --help": "< 0.2 s",
        "psilon-bench run --help": "< 1x",
        "psilon-bench datasets": "< 1x",
        "psilon-bench run trainer=quick": "<= 2x",
    }
    out["startup"] = {}
    for name, times in startup.items():
        m = median(times)
        out["startup"][name] = {"median_s": m, "vs_torch_import": m / floor, "all_s": times}
        table.add_row(name, f"{m:.2f}", f"{m / floor:.2f}x", targets.get(name, ""))
    console.print(table)

    table = result_table(
        "jobs, whole processes (median)",
        ["job", "psilon-bench s", "scikit-learn s", "speed-up", "target"],
    )
    out["jobs"] = {}
    for job, target in [("32 seeds", ">= 2x"), ("default", ">= 1x")]:
        ours, theirs = (
            median(jobs[f"{job}: psilon-bench run"]),
            median(jobs[f"{job}: scikit-learn script"]),
        )
        out["jobs"][job] = {"psilon_bench_s": ours, "sklearn_s": theirs, "speedup": theirs / ours}
        table.add_row(job, f"{ours:.2f}", f"{theirs:.2f}", f"{theirs / ours:.2f}x", target)
    console.print(table)

    table = result_table("32-seed job, where the time goes (median per phase)", ["phase", "s"])
    out["breakdown_32_seeds"] = {}
    for phase in phases[0]:
        m = median([p[phase] for p in phases])
        out["breakdown_32_seeds"][phase] = m
        table.add_row(phase, f"{m:.3f}")
    console.print(table)
    return out
