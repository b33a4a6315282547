"""Section `threads`: the default thread choice (`trainer.threads=null`, threads.py) against
fixed settings, for the default experiment and a P1-size step (PSiLON Net 11-500-500-500-1,
batch 400, 3 members: the size where the rule picks more than one thread), on an idle
machine and with a second CPU-bound process running. Whole `psilon-bench run` processes,
interleaved rounds, medians of the training time (`time.wall_s`) and of the whole process.
Target: the default never more than 1.2x slower than the best setting.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_e2e import PSB, last_records, run_process
from common import console, interleaved, load_average, median, result_table

NAME = "threads"
JOBS = {
    "default experiment": ["trainer.epochs=30", "trainer.progress=off"],
    "P1-size step (synthetic, 20 steps)": [
        "model=psilon_net", "model.width=500", "model.depth=3", "regularizer=path_norm",
        "regularizer.strength=1e-3", "dataset=synthetic_regression",
        "dataset.synthetic.n_samples=2400", "dataset.synthetic.n_features=11",
        "split.n_train=2000", "split.n_val=null", "split.n_test=null",
        "trainer.steps=20", "trainer.epochs=null",
        "trainer.batch_size=400", "trainer.progress=off", "metrics.spectral=false",
    ],
}  # fmt: skip
SETTINGS = {"default (null)": "null", "1 thread": "1", "2 threads": "2"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads-rounds", type=int, default=2, help="threads: rounds")


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for job, overrides in JOBS.items():
            for busy in (False, True):
                train: dict[str, list[float]] = {s: [] for s in SETTINGS}
                chosen: dict[str, int] = {}

                def runner(name: str, value: str) -> Any:
                    def go() -> float:
                        t0 = time.perf_counter()
                        run_process(
                            [PSB, "run", *overrides, f"trainer.threads={value}",
                             f"paths.results_dir={cwd / 'results'}"], cwd,
                        )  # fmt: skip
                        elapsed = time.perf_counter() - t0
                        record = last_records(cwd / "results")[0]
                        train[name].append(record["time.wall_s"])
                        chosen[name] = record["env.threads"]
                        return elapsed

                    return go

                fns = {name: runner(name, value) for name, value in SETTINGS.items()}
                load = load_average()
                whole = interleaved(args.threads_rounds, fns, busy=busy)
                label = f"{job}, {'second process busy' if busy else 'idle'}"
                med_train = {k: median(v) for k, v in train.items()}
                best = min(med_train.values())
                table = result_table(
                    f"{label}: median of {args.threads_rounds} interleaved rounds (load {load:.1f})",
                    ["threads", "used", "training s", "vs best", "whole process s"],
                )
                rows = {}
                for name in SETTINGS:
                    m = med_train[name]
                    rows[name] = {"train_s": m, "vs_best": m / best, "used": chosen[name],
                                  "whole_s": median(whole[name])}  # fmt: skip
                    table.add_row(name, str(chosen[name]), f"{m:.3f}", f"{m / best:.2f}x",
                                  f"{median(whole[name]):.2f}")  # fmt: skip
                console.print(table)
                out[label] = {"load": load, "rows": rows,
                              "default_vs_best": med_train["default (null)"] / best}  # fmt: skip
    return out
