"""The soft-diamond look-up as one compiled pass (`sas_kernel.cpp`, docs/methods.md (soft diamond) [SD]).

`ratio_and_score(table, u, scale)` returns `StableTable.neg_log_pdf_ratio_and_score(u, scale)`
for a contiguous float32 CPU tensor and a float scale, the same bits as the eager torch path,
about 2.7x faster (docs/benchmarks.md), or None where the caller must use the eager path:

- the kernel is off (`PSILON_SAS_KERNEL=0`) or unavailable: no C++ compiler (`$CXX`, else
  `g++`), a torch build not at ATen's AVX2 or AVX-512 level on x86-64 Linux, a failed build,
  or a failed check against the eager path;
- some |u/c| lies past the table (its tail series) or is NaN.

The library is built at first use (about 1 s) against torch's own headers and libraries into
`$PSILON_BENCH_CACHE/kernels` (else `~/.cache/psilon-bench/kernels`), named by a hash of
the source, the flags and torch's version, written atomically; later processes load it. Before
a table is read through it at a scale, every grid node (and its neighbours one float32 step
away), a log-uniform sweep of |u| over 1e-8 .. U, zeros and subnormals are compared with the
eager path bit for bit; any difference turns it off for good in this process.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from psilon_bench.regularizers.stable.cache import default_cache_dir

log = logging.getLogger(__name__)

#: Environment variable that turns the kernel off when set to `0` (docs/design.md).
KERNEL_ENV = "PSILON_SAS_KERNEL"
SOURCE = Path(__file__).with_name("sas_kernel.cpp")
#: Compiler flags per ATen CPU level (`torch.backends.cpu.get_cpu_capability()`).
ARCH_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}
BUILD_TIMEOUT_S = 300


def kernel_dir() -> Path:
    """`$PSILON_BENCH_CACHE/kernels`, else `~/.cache/psilon-bench/kernels` (beside the
    tables' cache folder)."""
    return default_cache_dir().parent / "kernels"


#: Set when the kernel disagreed with the eager path: off for the rest of the process.
_mismatch = False


def enabled() -> bool:
    return os.environ.get(KERNEL_ENV, "1") != "0" and not _mismatch


def ratio_and_score(table: Any, u: Tensor, scale: float) -> tuple[Tensor, Tensor] | None:
    """(R(u), psi_c(u)) of `table` through the kernel, or None (module docstring). `u`:
    contiguous float32 on the CPU, not tracked by autograd (the caller checks)."""
    if not enabled():
        return None
    kernel = library()
    if kernel is None or not _checked(table, kernel, float(scale)):
        return None
    return _call(kernel, table, u, float(scale))


def _call(kernel: Any, table: Any, u: Tensor, scale: float) -> tuple[Tensor, Tensor] | None:
    coef = _coefficients(table)
    ratio, score = torch.empty_like(u), torch.empty_like(u)
    tail = kernel(
        u.data_ptr(), u.numel(), scale, coef.data_ptr(), coef.shape[0],
        table.u0, table._dv, table.u_max, ratio.data_ptr(), score.data_ptr(),
    )  # fmt: skip
    return None if tail else (ratio, score)


def _coefficients(table: Any) -> Tensor:
    """The table's six per-cell coefficient rows as (cells, 8) float32 rows, padded with 0."""
    coef = getattr(table, "_kernel_coefficients", None)
    if coef is None:
        rows = table._buffers_for(torch.device("cpu"), torch.float32).ratio_score  # (6, cells)
        coef = torch.zeros(rows.shape[1], 8)
        coef[:, :6] = rows.t()
        table._kernel_coefficients = coef
    return coef


def _checked(table: Any, kernel: Any, scale: float) -> bool:
    """Whether the kernel gives the eager path's bits for `table` at `scale` (once per pair)."""
    global _mismatch
    done = table.__dict__.setdefault("_kernel_checked", {})
    if scale not in done:
        done[scale] = _agrees(table, kernel, scale)
        if not done[scale]:
            log.warning(
                "soft diamond: the compiled SaS look-up differs from the eager one here; "
                "using the eager look-up (the same values, slower)"
            )
            _mismatch = True
    return done[scale]


def check_inputs(table: Any, scale: float) -> Tensor:
    """The inputs of the check: grid nodes and their float32 neighbours, a signed log-uniform
    sweep of |u/c| over 1e-8 .. U, +-0 and subnormals; all times `scale`, float32."""
    from psilon_bench.regularizers.stable.build import grid_nodes

    nodes = torch.from_numpy(grid_nodes(table.u0, table.u_max, table.n_nodes)).float()
    up = torch.nextafter(nodes, torch.tensor(float("inf")))
    down = torch.nextafter(nodes, torch.tensor(0.0))
    rng = np.random.default_rng(0)
    sweep = np.exp(rng.uniform(np.log(1e-8), np.log(table.u_max), 20_000))
    sweep *= rng.choice([-1.0, 1.0], sweep.size)
    special = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1e-40, 1e-38])
    standard = torch.cat([nodes, up, down, -nodes, torch.from_numpy(sweep).float(), special])
    u = standard * scale
    return u[(u / scale).abs() <= table.u_max]  # the tail goes to the eager path anyway


def _agrees(table: Any, kernel: Any, scale: float) -> bool:
    u = check_inputs(table, scale)
    got = _call(kernel, table, u, scale)
    want = table._eager_ratio_and_score(u, scale)
    return got is not None and all(
        torch.equal(a.view(torch.int32), b.view(torch.int32)) for a, b in zip(got, want)
    )


@functools.lru_cache(maxsize=1)
def library() -> Any:
    """The kernel's C function, built or loaded; None (and one log line) where unavailable."""
    try:
        return _load()
    except _Unavailable as why:
        log.info("soft diamond: eager SaS look-up (the compiled one is off: %s)", why)
        return None


class _Unavailable(Exception):
    pass


def _load() -> Any:
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise _Unavailable(
            f"built only on x86-64 Linux, not {platform.system()} {platform.machine()}"
        )
    if capability not in ARCH_FLAGS:
        raise _Unavailable(f"torch runs at CPU level {capability}, not AVX2 or AVX512")
    compiler = shutil.which(os.environ.get("CXX") or "g++")
    if compiler is None:
        raise _Unavailable(f"no C++ compiler ({os.environ.get('CXX') or 'g++'} not found)")
    torch_dir = Path(torch.__file__).resolve().parent
    flags = [
        "-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", *ARCH_FLAGS[capability],
        f"-DCPU_CAPABILITY={capability}", f"-DCPU_CAPABILITY_{capability}",
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch.compiled_with_cxx11_abi())}",
    ]  # fmt: skip
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join(flags).encode() + torch.__version__.encode())
    path = kernel_dir() / f"sas_kernel_{key.hexdigest()[:16]}.so"
    if not path.exists():
        start = time.perf_counter()
        _build(compiler, flags, torch_dir, path)
        log.info(
            "compiled the soft-diamond SaS look-up in %.1fs (%s)", time.perf_counter() - start, path
        )
    try:
        fn = ctypes.CDLL(str(path)).sas_ratio_and_score
    except OSError as error:
        raise _Unavailable(f"cannot load {path}: {error}") from error
    fn.restype = ctypes.c_int
    fn.argtypes = [
        ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p, ctypes.c_int64,
        ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    return fn


def _build(compiler: str, flags: list[str], torch_dir: Path, path: Path) -> None:
    """Compile into a temporary file beside `path`, then rename it there (atomic)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as error:
        raise _Unavailable(f"cannot write to {path.parent}: {error}") from error
    lib = torch_dir / "lib"
    command = [
        compiler, *flags, "-I", str(torch_dir / "include"), str(SOURCE), "-o", tmp,
        "-L", str(lib), "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{lib}",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise _Unavailable(f"the build failed: {last}")
        os.replace(tmp, path)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _Unavailable(f"the build failed: {error}") from error
    finally:
        Path(tmp).unlink(missing_ok=True)
