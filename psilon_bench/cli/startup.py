"""Start-up without the cyclic garbage collector.

Importing torch, Hydra and composing the config allocate a few hundred thousand container
objects that live as long as the process; the collector's passes over them while they are
created cost ~0.13 s of torch's ~0.9 s import on the dev machine (measured: `import torch`
0.92-0.96 s with the collector, 0.79-0.83 s without). A `psilon-bench run` process pauses
it first thing (`cli.entry`: `pause`) and turns it back on once the imports are done, before
any data or training (`hydra_app`: `resume`), with the objects alive then frozen (the
collector never scans them again, and does not pay the deferred passes either), so a run's
own objects are collected as usual. Garbage collection changes no value a run computes.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn the cyclic collector off for the start-up (if it is on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Turn it back on if `pause` turned it off (no-op otherwise, e.g. a library caller)."""
    global _paused
    if _paused:
        gc.freeze()  # what the imports made lives on: never scanned again
        gc.enable()
        _paused = False
