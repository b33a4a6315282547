"""Keep freed CPU memory in the process instead of returning it to the kernel.

A training step allocates and frees the same few activation-sized buffers (a few MB each)
every step. glibc serves blocks above its mmap threshold with fresh mmap'd pages, so each
step pays thousands of page faults: on the 2-core dev machine, MLP 30-64-64-2 at full
batch with 32 members took 3525 minor faults per step and about twice the time it takes
with the settings below (141 faults per step). Set once per process, glibc/Linux only;
`PSILON_BENCH_MALLOPT=0` turns it off.

glibc caps the mmap threshold at 32 MB, so blocks above it are always mmap'd: at 64 P1-size
members in one chunk (64 MB weight stacks) or full batch with 10,000 rows every step paid
~120k-320k page faults (1.5x and 1.9x the step time on the dev machine). When a step's
tensors get that large, `keep_freed_memory(largest_bytes)` also sets `M_MMAP_MAX = 0`: every
block comes from the heap and is reused (faults per step: 321k -> 2.6k; peak RSS of that
64-member run 1.07 -> 1.41 GiB, the freed blocks kept). Only then, because with mmap off a
non-main thread cannot allocate a block above its arena's 64 MB heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -2, -3, -4
#: Blocks from this size on are near glibc's 32 MB mmap cap: turn mmap off (see above).
NO_MMAP_FROM_BYTES = 16 << 20
_done = False
_no_mmap = False


def keep_freed_memory(
    largest_bytes: int = 0, mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20
) -> bool:
    """Raise glibc's mmap and trim thresholds (mallopt), and with `largest_bytes` (the
    largest tensor a step allocates) >= NO_MMAP_FROM_BYTES turn mmap off; True if applied."""
    global _done, _no_mmap
    if not sys.platform.startswith("linux") or os.environ.get("PSILON_BENCH_MALLOPT", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not _done:
            ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
            ok &= bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
            ok &= bool(libc.mallopt(_M_TOP_PAD, 64 << 20))
            _done = ok
        if largest_bytes >= NO_MMAP_FROM_BYTES and not _no_mmap:
            _no_mmap = bool(libc.mallopt(_M_MMAP_MAX, 0))
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    return _done
