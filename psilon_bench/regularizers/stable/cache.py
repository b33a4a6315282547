"""The SaS table's disk cache (METHODS.md §5): one `.npz` per alpha and grid, written atomically
through `psilon_bench.io`; a missing, torn or foreign file is rebuilt."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np

from psilon_bench.io import atomic_write
from psilon_bench.regularizers.stable.build import (
    FORMAT_VERSION,
    GRID_N,
    GRID_U0,
    GRID_U_MAX,
    TableArrays,
)

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$PSILON_BENCH_CACHE/stable` if that variable is set, else `~/.cache/psilon-bench/stable`."""
    root = os.environ.get("PSILON_BENCH_CACHE")
    if root:
        return Path(root).expanduser() / "stable"
    return Path.home() / ".cache" / "psilon-bench" / "stable"


def cache_file_name(
    alpha: float, u0: float = GRID_U0, u_max: float = GRID_U_MAX, n: int = GRID_N
) -> str:
    """`sas_alpha<alpha>_u0<u0>_U<U>_N<N>_v<version>.npz`, floats written as `repr` (exact)."""
    return f"sas_alpha{alpha!r}_u0{u0!r}_U{u_max!r}_N{n}_v{FORMAT_VERSION}.npz"


def save(path: Path, arrays: TableArrays, u0: float, u_max: float, n: int) -> None:
    """Write atomically (`psilon_bench.io.atomic_write`: a unique temporary file, then `os.replace`)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        psi=arrays.psi,
        neg_log_pdf_ratio=arrays.neg_log_pdf_ratio,
        methods=arrays.methods,
        errors=arrays.errors,
        key=np.array([arrays.alpha, u0, u_max, n, FORMAT_VERSION, arrays.neg_log_pdf0]),
    )
    atomic_write(path, buffer.getvalue())


def load(path: Path, alpha: float, u0: float, u_max: float, n: int) -> TableArrays | None:
    """The cached table, or None when the file is missing, corrupt or for another key."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            key = data["key"]
            psi = np.array(data["psi"], dtype=np.float64)
            ratio = np.array(data["neg_log_pdf_ratio"], dtype=np.float64)
            methods = np.array(data["methods"], dtype=np.int8)
            errors = np.array(data["errors"], dtype=np.float64)
        expected = np.array([alpha, u0, u_max, n, FORMAT_VERSION])
        valid = (
            key.shape == (6,)
            and np.array_equal(key[:5], expected)
            and psi.shape == ratio.shape == methods.shape == errors.shape == (n,)
            and np.all(np.isfinite(psi))
            and np.all(np.isfinite(ratio))
            and np.isfinite(key[5])
        )
    except Exception as error:  # a torn or foreign file: rebuild it
        log.warning("ignoring unreadable SaS table cache %s (%s); rebuilding", path, error)
        return None
    if not valid:
        log.warning("ignoring SaS table cache %s with unexpected contents; rebuilding", path)
        return None
    return TableArrays(alpha, psi, ratio, float(key[5]), methods, errors)
