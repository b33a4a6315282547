"""The intra-op thread count of a run when `trainer.threads` is null (every launcher).

Small models get one thread: their steps are dozens of tiny kernels, where a second thread
only adds synchronization, and on a busy machine a multi-threaded step waits for a core at
every kernel (measured on the 2-core dev VM with another process running: the default
experiment 30-56x slower with 2 threads than with 1). Only a step with enough matmul work
(`MIN_FLOPS_PER_THREAD` per thread) is spread over the cores this job may use: the CPUs in
its affinity mask (what SLURM/submitit grants) divided by the jobs running side by side
(`hydra.launcher.n_jobs` of the joblib launcher).
"""

from __future__ import annotations

import os

#: Matmul FLOPs of one training step (all members of a chunk) each extra thread needs.
#: A 2-core dev VM runs ~50-100 GFLOP/s per core, so 2e8 is a step of ~2-4 ms per thread,
#: long next to the ~10-50 us a thread hand-off costs per kernel.
MIN_FLOPS_PER_THREAD = 2e8


def available_cores(n_jobs: int = 1) -> int:
    """CPUs this process may run on (its affinity mask), shared among `n_jobs` parallel jobs."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, n_jobs))


def step_flops(params_per_member: int, members: int, batch_rows: int) -> float:
    """Approximate matmul FLOPs of one training step: 6 per parameter and row (forward 2,
    backward 4), for every member of the chunk."""
    return 6.0 * params_per_member * members * batch_rows


def default_threads(flops_per_step: float, cores: int) -> int:
    """1 for small steps; otherwise one thread per `MIN_FLOPS_PER_THREAD`, at most `cores`."""
    return int(max(1, min(cores, flops_per_step // MIN_FLOPS_PER_THREAD)))
