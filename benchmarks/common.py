"""Shared pieces of the benchmark sections: timing, the matmul peak, the console."""

from __future__ import annotations

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
