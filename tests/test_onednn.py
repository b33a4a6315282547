"""The oneDNN route of `members._Affine` (large float32 CPU layers): the same products as
MKL's bmm path to float32 rounding, gradients against float64 (oneDNN has no float64 matmul),
and a P1-width run whose records equal the `PSILON_ONEDNN=0` run's."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config

from psilon_bench.models import members
from psilon_bench.models.members import ONEDNN_ENV, _use_onednn, affine, affine_relu
from psilon_bench.runner.experiment import run_experiment

pytestmark = pytest.mark.skipif(members._LINEAR is None, reason="torch built without oneDNN")

# Per member 64 x 128 x 256 = 2^21 multiply-adds: the smallest size that is routed.
E, B, IN, OUT = 2, 64, 128, 256


def _inputs(dtype=torch.float32):
    gen = torch.Generator().manual_seed(3)
    x, w, b = (torch.randn(*s, generator=gen) for s in [(E, B, IN), (E, OUT, IN), (E, OUT)])
    g = torch.randn(E, B, OUT, generator=gen)
    x[0, :, :5] = 0.0  # exact zeros, so the ReLU mask and sparse rows are exercised too
    return [t.to(dtype).requires_grad_(t is not g) for t in (x, w, b)], g.to(dtype)


def _rel(a: torch.Tensor, r: torch.Tensor) -> float:
    return ((a.double() - r.double()).norm() / r.double().norm()).item()


def _ops(fn, *args) -> list[str]:
    """The names of the operators a forward and backward of `fn(*args)` calls (profiler)."""
    with torch.profiler.profile() as prof:
        fn(*args).sum().backward()
    return [e.name for e in prof.events()]


@pytest.mark.parametrize("fn", [affine, affine_relu])
def test_all_three_products_of_a_routed_layer_call_onednn(fn, monkeypatch):
    (x, w, b), _ = _inputs()
    ops = _ops(fn, x, w, b)
    assert ops.count("mkldnn::_linear_pointwise") == 3 * E  # forward, grad x, grad W per member
    assert not {"aten::bmm", "aten::baddbmm"} & set(ops)
    monkeypatch.setenv(ONEDNN_ENV, "0")
    ops = _ops(fn, x, w, b)
    assert "mkldnn::_linear_pointwise" not in ops and "aten::baddbmm" in ops


def test_route_is_taken_only_where_it_should_be(monkeypatch):
    x, w = torch.zeros(E, B, IN), torch.zeros(E, OUT, IN)
    with torch.no_grad():
        assert _use_onednn(x, w)
        assert not _use_onednn(x[:, :-1], w)  # one row short of 2^21
        assert not _use_onednn(x.double(), w.double())  # oneDNN has no float64 matmul
        monkeypatch.setenv(ONEDNN_ENV, "0")
        assert not _use_onednn(x, w)
    monkeypatch.delenv(ONEDNN_ENV)
    assert not _use_onednn(x, w)  # autograd recording (create_graph): the MKL path


@pytest.mark.parametrize("fn", [affine, affine_relu])
@pytest.mark.parametrize("bias", [True, False])
def test_onednn_products_and_gradients_equal_mkl_and_float64(fn, bias, monkeypatch):
    (x, w, b), g = _inputs()
    (x64, w64, b64), g64 = _inputs(torch.float64)
    args = (x, w, b if bias else None)
    ours = fn(*args)
    grads = torch.autograd.grad(ours, [x, w, *([b] if bias else [])], g)
    monkeypatch.setenv(ONEDNN_ENV, "0")
    mkl = fn(*args)
    mkl_grads = torch.autograd.grad(mkl, [x, w, *([b] if bias else [])], g)
    zero = torch.zeros(1, dtype=torch.float64)
    ref = torch.baddbmm(b64.unsqueeze(1) if bias else zero, x64, w64.mT)  # autograd's
    ref = ref.relu() if fn is affine_relu else ref
    ref_grads = torch.autograd.grad(ref, [x64, w64, *([b64] if bias else [])], g64)
    assert _rel(ours, ref) < 1e-6 and _rel(ours, mkl) < 1e-6
    for a, m, r in zip(grads, mkl_grads, ref_grads):
        assert a.shape == r.shape and a.is_contiguous()
        assert _rel(a, r) < 1e-6 and _rel(a, m) < 1e-6
        torch.testing.assert_close(a.double(), r, rtol=1e-5, atol=1e-4)


def test_p1_width_run_records_equal_the_mkl_path(tmp_path, monkeypatch):
    """PSiLON Net 11-500-500-500-1, batch 400 (P1's width), two members, 10 steps."""
    cfg = compose_config([
        "dataset=synthetic_regression", "dataset.synthetic.n_samples=1200",
        "dataset.synthetic.n_features=11", "split.n_train=800", "split.n_val=200",
        "split.n_test=200", "model=psilon_net", "model.width=500", "model.depth=3",
        "regularizer=path_norm", "regularizer.strength=[1e-4,1e-2]", "seeds=[0]",
        "trainer=quick", "trainer.steps=10", "trainer.batch_size=400",
    ])  # fmt: skip
    ours = run_experiment(cfg, tmp_path / "onednn", 1)
    monkeypatch.setenv(ONEDNN_ENV, "0")
    mkl = run_experiment(cfg, tmp_path / "mkl", 1)
    assert len(ours) == len(mkl) == 2
    keys = [k for k, v in mkl[0].items() if isinstance(v, float) and not k.startswith("time.")]
    assert {"train.rmse", "test.rmse", "path_norm"} <= set(keys), keys
    for a, m in zip(ours, mkl):
        for key in keys:
            assert a[key] == pytest.approx(m[key], rel=1e-4, abs=1e-6), key
