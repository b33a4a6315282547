"""The default intra-op thread count (psilon_bench/engine/threads.py) and where it is applied."""

from __future__ import annotations

import json

import pytest
from conftest import compose_config

from psilon_bench.engine.threads import (
    MIN_FLOPS_PER_THREAD,
    available_cores,
    default_threads,
    step_flops,
)
from psilon_bench.runner.experiment import run_experiment


def test_small_steps_get_one_thread_large_ones_the_cores():
    assert default_threads(step_flops(6_000, 32, 32), cores=16) == 1  # the default MLP
    assert default_threads(MIN_FLOPS_PER_THREAD * 2.5, cores=16) == 2
    assert default_threads(1e15, cores=4) == 4
    assert default_threads(1e15, cores=1) == 1


def test_available_cores_are_shared_among_parallel_jobs():
    cores = available_cores()
    assert cores >= 1
    assert available_cores(n_jobs=cores) == 1
    assert available_cores(n_jobs=10 * cores) == 1


QUICK = ["trainer=quick", "trainer.steps=1", "seeds=2", "metrics.lipschitz_points=2"]


@pytest.mark.parametrize(
    ("overrides", "cores", "expected"),
    [
        (["trainer.threads=null"], 2, 1),  # default MLP, tiny steps
        (["trainer.threads=2"], 1, 2),  # an explicit setting wins
        # 30-500-500-500-2 at full batch (341 rows), 2 members: ~3e9 FLOPs a step
        (
            ["trainer.threads=null", "model.width=500", "model.depth=3", "trainer.batch_size=null"],
            2,
            2,
        ),
    ],
)
def test_run_applies_the_choice(tmp_path, overrides, cores, expected):
    import torch

    before = torch.get_num_threads()
    try:
        records = run_experiment(compose_config([*QUICK, *overrides]), tmp_path, cores=cores)
    finally:
        torch.set_num_threads(before)
    assert {r["env.threads"] for r in records} == {expected}
    on_disk = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert {r["env.threads"] for r in on_disk} == {expected}
