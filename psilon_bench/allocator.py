"""Keep freed CPU memory in the process instead of returning it to the kernel.

A training step allocates and frees the same few activation-sized buffers (a few MB each)
every step. glibc serves blocks above its mmap threshold with fresh mmap'd pages, so each
step pays thousands of page faults: on the 2-core dev machine, MLP 30-64-64-2 at full
batch with 32 members took 3525 minor faults per step and about twice the time it takes
with the settings below (141 faults per step). Set once per process, glibc/Linux only;
`PSILON_BENCH_MALLOPT=0` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Raise glibc's mmap and trim thresholds (mallopt); True if applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("PSILON_BENCH_MALLOPT", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
        ok &= bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
        ok &= bool(libc.mallopt(_M_TOP_PAD, 64 << 20))
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    _done = ok
    return ok
