"""The spectral norm (Lanczos and the dense Gram eigensolver) against the SVD and each
other, and `metrics.spectral=false`."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config

from psilon_bench import models
from psilon_bench.measure import spectral
from psilon_bench.measure.evaluate import structure_metrics
from psilon_bench.measure.lipschitz import _spectral_norm


def _cases():
    g = torch.Generator().manual_seed(0)
    yield torch.randn(3, 500, 500, generator=g, dtype=torch.float64)
    yield torch.randn(2, 500, 11, generator=g, dtype=torch.float64)
    yield torch.randn(2, 1, 500, generator=g, dtype=torch.float64)
    yield torch.randn(2, 7, 40, generator=g) * 1e6  # float32 input, large values
    low_rank = torch.randn(2, 60, 2, generator=g, dtype=torch.float64)
    yield low_rank @ torch.randn(2, 2, 50, generator=g, dtype=torch.float64)
    u, _, v = torch.linalg.svd(torch.randn(40, 40, generator=g, dtype=torch.float64))
    yield (u * torch.logspace(0, -12, 40, dtype=torch.float64) @ v).unsqueeze(0)  # cond 1e12
    close = torch.ones(40, dtype=torch.float64)
    close[1] = 1 - 1e-9  # no gap between the top two singular values
    yield (u * close @ v).unsqueeze(0)
    yield torch.zeros(2, 5, 3)
    # at the Lanczos sizes (shorter side >= 300): no gap, all equal, dead units, one spike
    u, _, v = torch.linalg.svd(torch.randn(320, 320, generator=g, dtype=torch.float64))
    spread = torch.linspace(0.9, 0.0, 320, dtype=torch.float64)
    spread[:2] = torch.tensor([1.0, 1.0 - 1e-9])
    yield (u * spread @ v).unsqueeze(0)
    yield torch.eye(320, dtype=torch.float64).expand(2, 320, 320)
    dead = torch.randn(2, 320, 360, generator=g, dtype=torch.float64)
    dead[:, ::3] = 0.0  # every third unit pruned
    yield dead
    spike = torch.randn(1, 320, 1, generator=g, dtype=torch.float64)
    yield spike @ spike.mT * 100 + torch.randn(1, 320, 320, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("w", list(_cases()), ids=lambda w: "x".join(map(str, w.shape)))
def test_spectral_norm_equals_the_svd(w):
    expected = torch.linalg.matrix_norm(w.to(torch.float64), ord=2)
    got = _spectral_norm(w)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-300)


def test_metrics_spectral_false_nulls_the_spectral_columns():
    """Same keys with and without the spectral norms: the spectral ones NaN (null in the
    records), every other column unchanged."""
    cfg = compose_config(["model=psilon_net", "metrics.spectral=false"])
    model = models.build(cfg.model, d_in=6, d_out=3, seeds=[0, 1])
    x = torch.randn(2, 20, 6, generator=torch.Generator().manual_seed(0))
    without = structure_metrics(model, x, cfg.metrics)
    full = structure_metrics(model, x, compose_config(["model=psilon_net"]).metrics)
    spectral = {"lipschitz.spectral", "lipschitz.spectral_linf_l1", "lipschitz.tightness.spectral"}
    assert spectral <= set(full)
    assert set(full) == set(without)
    for k in without:
        if k in spectral:
            assert torch.isnan(without[k]).all() and torch.isfinite(full[k]).all()
        else:
            torch.testing.assert_close(without[k], full[k], equal_nan=True)


@pytest.mark.parametrize("w", list(_cases()), ids=lambda w: "x".join(map(str, w.shape)))
def test_lanczos_equals_the_dense_eigensolver(w):
    """The Lanczos path on every case (also those `spectral_norm` sends to the dense solver):
    converged, and equal to the dense Gram eigensolver and the SVD to rounding."""
    flat = w.reshape(-1, *w.shape[-2:])
    got, converged = spectral.lanczos_spectral_norm(flat)
    assert bool(converged.all())
    dense = spectral.gram_spectral_norm(flat)
    torch.testing.assert_close(got, dense, rtol=1e-12, atol=1e-300)
    svd = torch.linalg.matrix_norm(flat.to(torch.float64), ord=2)
    torch.testing.assert_close(got, svd, rtol=1e-12, atol=1e-300)


def test_trained_like_p1_layers_take_the_lanczos_path_and_match():
    """P1-size PSiLON Net layers (500 x 500, L1-normalized rows of mixed scale): converged
    by Lanczos, equal to the dense solver; member by member, the same values (bit for bit
    by Lanczos)."""
    model = models.build(
        compose_config(["model=psilon_net", "model.width=500", "model.depth=3"]).model,
        d_in=11,
        d_out=1,
        seeds=[0, 1, 2],
    )
    g = torch.Generator().manual_seed(1)
    weights = [w.detach().double() * torch.rand(w.shape, generator=g, dtype=torch.float64)
               for w in model.weight_matrices()]  # fmt: skip
    batched = spectral.spectral_norms(weights)
    for w, got in zip(weights, batched):
        assert (
            min(w.shape[-2:]) < spectral.LANCZOS_MIN_SIDE
            or spectral.lanczos_spectral_norm(w)[1].all()
        )
        torch.testing.assert_close(got, spectral.gram_spectral_norm(w), rtol=1e-12, atol=0)
        one_by_one = torch.stack([spectral.spectral_norm(w[e : e + 1])[0] for e in range(3)])
        if min(w.shape[-2:]) >= spectral.LANCZOS_MIN_SIDE:  # Lanczos: independent of the batch
            assert torch.equal(got, one_by_one)
        torch.testing.assert_close(got, one_by_one, rtol=1e-14, atol=0)


def test_unconverged_lanczos_falls_back_to_the_dense_value(monkeypatch):
    g = torch.Generator().manual_seed(2)
    w = torch.randn(2, 80, 90, generator=g, dtype=torch.float64)
    assert not bool(spectral.lanczos_spectral_norm(w, max_steps=4)[1].any())
    monkeypatch.setattr(spectral, "LANCZOS_MIN_SIDE", 1)  # 80 x 90 takes the Lanczos path
    monkeypatch.setattr(spectral, "LANCZOS_MAX_STEPS", 4)
    assert torch.equal(spectral.spectral_norm(w), spectral.gram_spectral_norm(w))
    monkeypatch.setattr(spectral, "LANCZOS_MAX_STEPS", 300)  # converged: Lanczos' own value
    lanczos = spectral.spectral_norm(w)
    assert torch.equal(lanczos, spectral.lanczos_spectral_norm(w)[0])
    torch.testing.assert_close(lanczos, spectral.gram_spectral_norm(w), rtol=1e-12, atol=0)
