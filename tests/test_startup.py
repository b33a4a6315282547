"""`psilon_bench.cli.startup`: the cyclic GC is off while `run` imports and back on (with the
start-up's objects frozen) before data and training; a library caller's GC is left alone."""

from __future__ import annotations

import gc

from psilon_bench.cli import startup


def test_pause_then_resume_freezes_the_start_up():
    frozen = gc.get_freeze_count()
    startup.resume()  # never paused (a library caller of run_experiment): nothing changes
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    try:
        startup.pause()
        assert not gc.isenabled()
        made = [[i] for i in range(1000)]  # objects of the "imports", alive afterwards
        startup.resume()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(made)
        startup.resume()  # once only
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_pause_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        startup.pause()
        startup.resume()  # it was not ours to turn on
        assert not gc.isenabled()
    finally:
        gc.enable()
