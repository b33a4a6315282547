"""The step-size estimate that decides when glibc's mmap is turned off (allocator.py)."""

from __future__ import annotations

import subprocess
import sys

from psilon_bench.engine.train import largest_step_tensor
from psilon_bench.models.mlp import MLP


def test_largest_step_tensor_is_a_weight_stack_or_the_activations():
    model = MLP(30, 2, width=64, depth=2, seeds=list(range(8)))
    assert largest_step_tensor(model, batch=32) == 8 * 64 * 64 * 4  # (8, 64, 64) float32
    assert largest_step_tensor(model, batch=10_000) == 8 * 10_000 * 64 * 4  # (E, B, width)


def test_large_steps_turn_mmap_off_once_per_process():
    code = (
        "from psilon_bench.engine import allocator as a\n"
        "assert a.keep_freed_memory(1 << 20) and not a._no_mmap\n"
        "assert a.keep_freed_memory(64 << 20) and a._no_mmap\n"
        "import torch; x = torch.ones(80 << 18); del x; y = torch.ones(80 << 18)\n"
        "assert float(y.sum()) == 80 << 18\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
