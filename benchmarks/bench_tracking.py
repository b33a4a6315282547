"""Section `tracking`: what experiment tracking adds to a run (`logger=mlflow`,
`logger=tensorboard`) against the same run with `logger=none`.

The default experiment (MLP on breast_cancer, 3 seeds, 100 epochs = 1100 steps, learning
curves at the default interval: every 11 steps, 100 points per member), one thread,
through `run_experiment` in this process. Each round runs it with `logger=none` (timed),
then logs that run's records and curves with each logger (`tracking.log_run`, what a run
with that logger does before its DONE marker; timed): the overhead is the logging time
over the run's, medians of the rounds, so both come from the same moments of a shared
machine. MLflow writes to a local file store, TensorBoard into a run folder. The
libraries' import (once per process, at the first run that logs) is timed apart.
Wall and CPU seconds (`time.process_time`) of each: CPU time counts the work done, not the
waiting for a shared core.
Target: each logger at most +10 % on a run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import console, environment
from rich.table import Table

NAME = "tracking"
#: what is timed: the run (logger=none), then logging it with each of the others
LOGGERS = ("none", "mlflow", "tensorboard", "mlflow-no-curves")
#: the overrides of each logger
CHOICES = {
    "none": ["logger=none"],
    "mlflow": ["logger=mlflow"],
    "tensorboard": ["logger=tensorboard"],
    "mlflow-no-curves": ["logger=mlflow", "logger.curves=false"],
}
#: the libraries each logger imports on first use
IMPORTS = {"mlflow": ("mlflow", "mlflow.tracking"), "tensorboard": ("torch.utils.tensorboard",)}


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from psilon_bench.cli.hydra_app import register

    register()
    GlobalHydra.instance().clear()
    with initialize_config_module("psilon_bench.conf", version_base=None):
        return compose("config", overrides=overrides)


def _import_seconds(logger: str) -> float:
    t0 = time.perf_counter()
    for module in IMPORTS[logger]:
        importlib.import_module(module)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from psilon_bench.records import io
    from psilon_bench.runner import tracking
    from psilon_bench.runner.experiment import run_experiment

    out: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp, environment({"MLFLOW_ALLOW_FILE_STORE": "true"}):
        root = Path(tmp)
        base = ["trainer.progress=off", "trainer.threads=1", f"paths.results_dir={root}"]
        cfgs = {name: _compose([*base, *CHOICES[name], "name=bench"]) for name in LOGGERS}
        out["import_s"] = {name: _import_seconds(name) for name in IMPORTS}
        times: dict[str, list[float]] = {name: [] for name in LOGGERS}
        cpu: dict[str, list[float]] = {name: [] for name in LOGGERS}
        for i in range(max(1, args.repeats) + 1):  # round 0 warms up (experiment creation)
            folder = root / "runs" / f"none-{i}"
            t0, c0 = time.perf_counter(), time.process_time()
            records = run_experiment(cfgs["none"], folder, live=False)
            spent = {"none": (time.perf_counter() - t0, time.process_time() - c0)}
            curves = io.read_jsonl(folder / io.CURVES)
            for name in LOGGERS[1:]:
                t0, c0 = time.perf_counter(), time.process_time()
                tracking.log_run(cfgs[name], root / "runs" / f"{name}-{i}", records, curves)
                spent[name] = (time.perf_counter() - t0, time.process_time() - c0)
            for name, (seconds, cpu_seconds) in spent.items():
                if i > 0:
                    times[name].append(seconds)
                    cpu[name].append(cpu_seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    median_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    out.update(
        {
            "run_s": median["none"],
            "log_s": {n: median[n] for n in LOGGERS[1:]},
            "all_s": times,
            "cpu_s": median_cpu,
            "overhead": {n: median[n] / median["none"] for n in LOGGERS[1:]},
            "overhead_cpu": {n: median_cpu[n] / median_cpu["none"] for n in LOGGERS[1:]},
            "load_after": os.getloadavg()[0],
        }
    )
    table = Table(title="experiment tracking: a default run (3 members, 1100 steps, 100 points)")
    for col in ("logger", "wall s", "vs run", "CPU s", "vs run (CPU)", "import s"):
        table.add_column(col, justify="right")
    table.add_row("run (none)", f"{median['none']:.3f}", "", f"{median_cpu['none']:.3f}")
    for name in LOGGERS[1:]:
        library = name.split("-")[0]
        table.add_row(
            name,
            f"{median[name]:.3f}",
            f"+{100 * out['overhead'][name]:.1f} %",
            f"{median_cpu[name]:.3f}",
            f"+{100 * out['overhead_cpu'][name]:.1f} %",
            f"{out['import_s'][library]:.2f}",
        )
    console.print(table)
    console.print(
        f"target: each logger <= +10 % on a run; load average {out['load_before']:.1f} -> "
        f"{out['load_after']:.1f}"
    )
    return out
