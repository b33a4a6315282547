"""Independent numpy oracles shared by the tests (never the code under test)."""

from __future__ import annotations

import itertools

import numpy as np


def brute_force_path_norm(mats: list[np.ndarray]) -> float:
    """Sum over every input -> output path of the product of |weights| along it."""
    dims = [mats[0].shape[1]] + [m.shape[0] for m in mats]
    total = 0.0
    for path in itertools.product(*[range(n) for n in dims]):
        prod = 1.0
        for k, m in enumerate(mats):
            prod *= abs(m[path[k + 1], path[k]])
        total += prod
    return total
