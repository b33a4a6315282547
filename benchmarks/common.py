"""Shared pieces of the benchmark sections: timing, the matmul peak, the console."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from rich.console import Console

console = Console()


@contextmanager
def environment(values: dict[str, str] | None) -> Iterator[None]:
    """Set the environment variables `values` for the block, then restore what was there
    (switches the product reads per call, e.g. PSILON_ONEDNN, PSILON_SAS_KERNEL)."""
    saved = {k: os.environ.get(k) for k in values or {}}
    os.environ.update(values or {})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """Best wall time of `repeats` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Single-thread float32 matmul peak: best of `repeats` n x n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    t = best_of(repeats, lambda: torch.mm(a, b, out=out))
    return 2 * n**3 / t / 1e9


def onednn_peak_gflops(n: int = 1024, repeats: int = 5) -> float | None:
    """The same product through oneDNN (`torch.ops.mkldnn._linear_pointwise`, float32, no
    reduced precision), or None where torch has no oneDNN. torch.mm and bmm use MKL, which
    on AMD CPUs runs its AVX2 kernels: on the dev machine's Zen 5 oneDNN's AVX-512 kernels
    reach about twice `matmul_peak_gflops`, the machine's real single-thread peak."""
    try:
        linear = torch.ops.mkldnn._linear_pointwise
        a, b = torch.randn(n, n), torch.randn(n, n)
        linear(a, b, None, "none", [], "")
    except (AttributeError, RuntimeError):
        return None
    t = best_of(repeats, lambda: linear(a, b, None, "none", [], ""))
    return 2 * n**3 / t / 1e9


class BusyProcess:
    """A second CPU-bound process (a Python spin loop) while the block runs."""

    def __enter__(self) -> BusyProcess:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


def interleaved(
    rounds: int,
    fns: dict[str, Callable[[], Any]],
    busy: bool = False,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Wall times of every fn, `rounds` times in turn (A B A B ...), so drifting load hits
    every contender alike. A fn that returns a float reports its own time (e.g. a phase).
    `busy`: with a second CPU-bound process running throughout (`BusyProcess`). `cpu`, if
    given, receives each call's CPU time of this process (what other processes' load does
    not add to, apart from sharing caches and clock)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    with BusyProcess() if busy else nullcontext():
        for _ in range(rounds):
            for name, fn in fns.items():
                t0, c0 = time.perf_counter(), time.process_time()
                own = fn()
                elapsed = time.perf_counter() - t0
                times[name].append(float(own) if isinstance(own, float) else elapsed)
                if cpu is not None:
                    cpu.setdefault(name, []).append(time.process_time() - c0)
    return times


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def load_average() -> float:
    """The 1-minute load average (to print beside every figure of a shared machine)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def result_table(title: str, columns: list[str], left: tuple[str, ...] = ()) -> Any:
    """A section's rich table: its title flush left, the first column and `left` (and a
    "target" column) left-justified, every other (numeric) column right-justified."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in (columns[0], *left, "target") else "right")
    return table
