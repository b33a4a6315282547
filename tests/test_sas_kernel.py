"""The compiled soft-diamond look-up (`regularizers/stable/fused.py`, `sas_kernel.cpp`): the
eager torch path's bits for every input it takes, the eager path for the rest (the tail, NaN,
float64, tensor scales, autograd), the same training, and the eager path, silently, where it
cannot be built or disagrees."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from psilon_bench.regularizers.stable import StableTable, fused
from psilon_bench.regularizers.stable.build import grid_nodes

#: where the kernel must build: CI and the dev machine (x86-64 Linux, g++, an AVX2+ torch)
BUILDS_HERE = (
    platform.system() == "Linux"
    and platform.machine() == "x86_64"
    and shutil.which(os.environ.get("CXX") or "g++") is not None
    and torch.backends.cpu.get_cpu_capability() in fused.ARCH_FLAGS
)
needs_kernel = pytest.mark.skipif(not BUILDS_HERE, reason="the kernel builds on x86-64 Linux")


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[float, StableTable]:
    cache = tmp_path_factory.mktemp("sas_tables")
    return {alpha: StableTable(alpha, cache_dir=cache) for alpha in (0.7, 1.0, 1.5, 2.0)}


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and torch.equal(a.view(torch.int32), b.view(torch.int32))


@needs_kernel
def test_the_kernel_builds_and_loads_here():
    """On this kind of machine the tests below exercise the kernel, not the fallback."""
    assert fused.enabled() and fused.library() is not None


@needs_kernel
@pytest.mark.parametrize("alpha", (0.7, 1.0, 1.5, 2.0))
@pytest.mark.parametrize("scale", (0.05, 1.0, 0.37))
@pytest.mark.parametrize("n", (1, 5, 17, 511, 512, 513, 196_608, 1_000_003))
def test_the_kernel_gives_the_eager_bits(tables, alpha, scale, n):
    t = tables[alpha]
    u = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 0.05
    u[: min(n, 3)] = torch.tensor([0.0, -0.0, 3 * scale])[: min(n, 3)]
    got = fused.ratio_and_score(t, u, scale)
    assert got is not None and t._kernel_checked[scale]
    want = t._eager_ratio_and_score(u, scale)
    assert _same_bits(got[0], want[0]) and _same_bits(got[1], want[1])
    assert all(_same_bits(a, b) for a, b in zip(t.neg_log_pdf_ratio_and_score(u, scale), want))


@needs_kernel
def test_every_grid_node_and_its_neighbours(tables):
    """The cell boundaries, where truncation picks the cell: nodes and one float32 step on
    either side, both signs, and the sweep the load-time check uses."""
    t = tables[1.5]
    nodes = torch.from_numpy(grid_nodes(t.u0, t.u_max, t.n_nodes)).float()
    u = torch.cat([nodes, torch.nextafter(nodes, torch.tensor(0.0)), -nodes])
    u = u[u.abs() <= t.u_max]
    for x in (u, fused.check_inputs(t, 1.0)):
        got, want = fused.ratio_and_score(t, x, 1.0), t._eager_ratio_and_score(x, 1.0)
        assert got is not None
        assert _same_bits(got[0], want[0]) and _same_bits(got[1], want[1])


@needs_kernel
@pytest.mark.parametrize("special", (1e3 * 0.05 * 1.001, 1e9, float("inf"), float("nan")))
def test_past_the_table_or_nan_the_eager_path_answers(tables, special):
    t = tables[1.5]
    u = torch.randn(1000) * 0.05
    u[500] = special
    assert fused.ratio_and_score(t, u, 0.05) is None  # the kernel hands it back
    got, want = t.neg_log_pdf_ratio_and_score(u, 0.05), t._eager_ratio_and_score(u, 0.05)
    for a, b in zip(got, want):
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)) and a.isnan().equal(b.isnan())


@needs_kernel
def test_two_dimensional_weights_and_other_inputs(tables):
    """Stacked members (E, n) go through it; float64, a tensor scale, a strided view and a
    tensor that autograd tracks take the eager path (same results either way)."""
    t = tables[1.0]
    w = torch.randn(32, 6144) * 0.05
    got, want = t.neg_log_pdf_ratio_and_score(w, 0.05), t._eager_ratio_and_score(w, 0.05)
    assert got[0].shape == (32, 6144) and _same_bits(got[0], want[0])
    assert _same_bits(got[1], want[1])
    for u, scale in [
        (w.double(), 0.05),
        (w, torch.full((32, 1), 0.05)),
        (w.t(), 0.05),
        (w.clone().requires_grad_(True), 0.05),
    ]:
        got, want = t.neg_log_pdf_ratio_and_score(u, scale), t._eager_ratio_and_score(u, scale)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@needs_kernel
def test_training_with_and_without_the_kernel_is_the_same(monkeypatch):
    """`regularizer=soft_diamond` through `fit`: every parameter bit for bit."""
    from omegaconf import OmegaConf

    from psilon_bench import regularizers
    from psilon_bench.config import OptimizerConfig, ScheduleConfig, SoftDiamondConfig
    from psilon_bench.engine.train import MemberData, fit, plan_steps
    from psilon_bench.models.mlp import MLP

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 200, 30, generator=g), torch.randint(0, 2, (4, 200), generator=g)
    cfg = OmegaConf.structured(SoftDiamondConfig(alpha=1.5, scale=0.05))

    def train() -> list[torch.Tensor]:
        model = MLP(30, 2, width=64, depth=2, seeds=[0, 1, 2, 3])
        reg = regularizers.build(cfg, torch.tensor([1e-4, 1e-3, 1e-2, 1e-1]), model)
        data = MemberData(x, y, "classification", 2)
        plan = plan_steps(200, 32, None, 60)
        fit(model, data, [0, 1, 2, 3], reg, OptimizerConfig(lr=1e-2), ScheduleConfig(), plan)
        return [p.detach().clone() for p in model.parameters()]

    with_kernel = train()
    monkeypatch.setenv(fused.KERNEL_ENV, "0")
    without = train()
    assert all(_same_bits(a, b) for a, b in zip(with_kernel, without))


@needs_kernel
def test_a_disagreeing_kernel_is_turned_off(tables, monkeypatch, caplog):
    """The load-time check is real: a table whose kernel coefficients are not the eager
    ones (here: another alpha's) fails it, and the process goes on with the eager path."""
    monkeypatch.setattr(fused, "_mismatch", False)
    t = StableTable(1.5, cache_dir=tables[1.5].cache_dir)
    t._kernel_coefficients = fused._coefficients(tables[1.0])
    u = torch.randn(1000) * 0.05
    assert fused.ratio_and_score(t, u, 0.05) is None
    assert t._kernel_checked == {0.05: False} and not fused.enabled()
    assert "differs from the eager one" in caplog.text
    got, want = t.neg_log_pdf_ratio_and_score(u, 0.05), t._eager_ratio_and_score(u, 0.05)
    assert _same_bits(got[0], want[0]) and _same_bits(got[1], want[1])
    assert fused.ratio_and_score(tables[1.5], u, 0.05) is None  # off for every table now


def _lookup_in_a_new_process(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import torch, logging; logging.basicConfig(level=logging.INFO)\n"
        "from psilon_bench.regularizers.stable import StableTable, fused\n"
        "t = StableTable(1.5)\n"
        "u = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 0.05\n"
        "got, want = t.neg_log_pdf_ratio_and_score(u, 0.05), t._eager_ratio_and_score(u, 0.05)\n"
        "assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])\n"
        "print('kernel', fused.enabled() and fused.library() is not None)\n"
    )
    full = {**os.environ, "PSILON_BENCH_CACHE": str(tmp_path / "cache"), **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300
    )


def test_without_a_compiler_the_eager_path_runs(tmp_path):
    res = _lookup_in_a_new_process(tmp_path, {"CXX": str(tmp_path / "no-such-compiler")})
    assert res.returncode == 0, res.stderr
    assert "kernel False" in res.stdout
    assert "the compiled one is off" in res.stderr and "not found" in res.stderr
    assert not (tmp_path / "cache" / "kernels").exists()


@pytest.mark.slow  # two training subprocesses (~3 s); the eager fallback is tested fast above
def test_the_switch_turns_it_off(tmp_path):
    res = _lookup_in_a_new_process(tmp_path, {fused.KERNEL_ENV: "0"})
    assert res.returncode == 0, res.stderr
    assert "kernel False" in res.stdout and not (tmp_path / "cache" / "kernels").exists()


@pytest.mark.slow  # two processes compile the kernel side by side (~6 s on 2 cores)
@needs_kernel
def test_two_processes_building_at_once_share_one_library(tmp_path):
    """The build is written to a temporary file and renamed: two first uses at the same time
    both load a whole library, and no temporary file is left."""
    env = {**os.environ, "PSILON_BENCH_CACHE": str(tmp_path / "cache")}
    code = "from psilon_bench.regularizers.stable import fused; print(fused.library() is not None)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    assert [p.communicate(timeout=300)[0].strip() for p in procs] == ["True", "True"]
    files = sorted(p.name for p in (tmp_path / "cache" / "kernels").iterdir())
    assert len(files) == 1 and files[0].startswith("sas_kernel_") and files[0].endswith(".so")
