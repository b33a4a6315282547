"""The spectral norm from the Gram eigensolver against the SVD, and `metrics.spectral=false`."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config

from psilon_bench import models
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


@pytest.mark.parametrize("w", list(_cases()), ids=lambda w: "x".join(map(str, w.shape)))
def test_spectral_norm_equals_the_svd(w):
    expected = torch.linalg.matrix_norm(w.to(torch.float64), ord=2)
    got = _spectral_norm(w)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-300)


def test_metrics_spectral_false_leaves_the_spectral_columns_out():
    cfg = compose_config(["model=psilon_net", "metrics.spectral=false"])
    model = models.build(cfg.model, d_in=6, d_out=3, seeds=[0, 1])
    x = torch.randn(2, 20, 6, generator=torch.Generator().manual_seed(0))
    without = structure_metrics(model, x, cfg.metrics)
    full = structure_metrics(model, x, compose_config(["model=psilon_net"]).metrics)
    spectral = {"lipschitz.spectral", "lipschitz.spectral_linf_l1", "lipschitz.tightness.spectral"}
    assert spectral <= set(full)
    assert set(full) - set(without) == spectral
    for k in without:
        torch.testing.assert_close(without[k], full[k], equal_nan=True)
