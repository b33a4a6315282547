"""Shared pieces of the benchmark sections: timing, the matmul peak, the console."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console

console = Console()


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


def interleaved(rounds: int, fns: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Wall times of every fn, `rounds` times in turn (A B A B ...), so drifting load hits
    every contender alike. A fn that returns a float reports its own time (e.g. a phase)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            own = fn()
            elapsed = time.perf_counter() - t0
            times[name].append(float(own) if isinstance(own, float) else elapsed)
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
