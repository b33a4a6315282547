"""The SaS table's disk cache (docs/methods.md (soft diamond)): one `.npz` per alpha and grid, written atomically
through `psilon_bench.records.io`; a missing, torn or foreign file is rebuilt, and so is one whose
values are finite but wrong: each file holds a SHA-256 of its arrays and psi at a few
nodes ("spots"), which `load` checks against the stored table and against psi recomputed
from the closed forms or series (`build.series_psi`), independently of the stored arrays."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from psilon_bench.records.io import atomic_write
from psilon_bench.regularizers.stable.build import (
    FORMAT_VERSION,
    GRID_N,
    GRID_U0,
    GRID_U_MAX,
    TableArrays,
    grid_nodes,
    series_psi,
)

SPOT_RTOL = 1e-8  # stored psi vs the series at the spot nodes (both are accurate to ~1e-13)

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


def spot_nodes(alpha: float, u0: float, u_max: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to three node indices (small u, u ~ 100, u = U) where the closed form or a series
    gives psi to 1e-10, and psi there."""
    u = grid_nodes(u0, u_max, n)
    candidates = np.unique([1, int(np.argmin(np.abs(u - 100.0))), n - 1])
    psi, error = series_psi(alpha, u[candidates])
    good = error < 1e-10
    return candidates[good], psi[good]


def _digest(key: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """SHA-256 of the key and the arrays' bytes, as 32 uint8."""
    h = hashlib.sha256(np.ascontiguousarray(key, dtype=np.float64).tobytes())
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def save(path: Path, arrays: TableArrays, u0: float, u_max: float, n: int) -> None:
    """Write atomically (`psilon_bench.records.io.atomic_write`: a unique temporary file, then `os.replace`)."""
    key = np.array([arrays.alpha, u0, u_max, n, FORMAT_VERSION, arrays.neg_log_pdf0])
    spot_index, spot_psi = spot_nodes(arrays.alpha, u0, u_max, n)
    stored = (arrays.psi, arrays.neg_log_pdf_ratio, arrays.methods, arrays.errors)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        psi=arrays.psi,
        neg_log_pdf_ratio=arrays.neg_log_pdf_ratio,
        methods=arrays.methods,
        errors=arrays.errors,
        key=key,
        spot_index=spot_index,
        spot_psi=spot_psi,
        sha256=_digest(key, *stored, spot_index, spot_psi),
    )
    atomic_write(path, buffer.getvalue())


def load(path: Path, alpha: float, u0: float, u_max: float, n: int) -> TableArrays | None:
    """The cached table, or None when the file is missing, corrupt, for another key, or its
    checksum or spot values do not match."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            key = np.array(data["key"], dtype=np.float64)
            psi = np.array(data["psi"], dtype=np.float64)
            ratio = np.array(data["neg_log_pdf_ratio"], dtype=np.float64)
            methods = np.array(data["methods"], dtype=np.int8)
            errors = np.array(data["errors"], dtype=np.float64)
            spot_index = np.array(data["spot_index"], dtype=np.int64)
            spot_psi = np.array(data["spot_psi"], dtype=np.float64)
            sha256 = np.array(data["sha256"], dtype=np.uint8)
        expected = np.array([alpha, u0, u_max, n, FORMAT_VERSION])
        valid = (
            key.shape == (6,)
            and np.array_equal(key[:5], expected)
            and psi.shape == ratio.shape == methods.shape == errors.shape == (n,)
            and np.all(np.isfinite(psi))
            and np.all(np.isfinite(ratio))
            and np.isfinite(key[5])
        )
        why = "unexpected contents"
        if valid:
            stored = (psi, ratio, methods, errors, spot_index, spot_psi)
            valid = np.array_equal(sha256, _digest(key, *stored))
            why = "checksum mismatch"
        if valid:
            index, reference = spot_nodes(alpha, u0, u_max, n)
            valid = (
                np.array_equal(spot_index, index)
                and np.allclose(spot_psi, reference, rtol=SPOT_RTOL, atol=0)
                and np.allclose(psi[index], reference, rtol=SPOT_RTOL, atol=0)
            )
            why = "psi differs from the series at the spot nodes"
    except Exception as error:  # a torn or foreign file: rebuild it
        log.warning("ignoring unreadable SaS table cache %s (%s); rebuilding", path, error)
        return None
    if not valid:
        log.warning("ignoring SaS table cache %s (%s); rebuilding", path, why)
        return None
    return TableArrays(alpha, psi, ratio, float(key[5]), methods, errors)
