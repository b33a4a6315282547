"""The soft-diamond regularizer (`regularizer=soft_diamond`, docs/methods.md (soft diamond) [SD]) in a model and
in training: its gradient is lambda * psi_{alpha,c}, per member; scale and dispersion agree."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose_config

from psilon_bench import regularizers
from psilon_bench.config.validation import validate
from psilon_bench.errors import ConfigError
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.soft_diamond import SoftDiamond, sas_scale
from psilon_bench.regularizers.stable import StableTable
from psilon_bench.runner.experiment import run_experiment

F64 = torch.float64


@pytest.fixture(autouse=True)
def table_cache(tmp_path_factory, monkeypatch):
    """Tables go to a per-session folder, not the user's cache."""
    monkeypatch.setenv("PSILON_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _hand_made_model(E: int = 3) -> MLP:
    """MLP 3 -> 2 -> 1 with hand-set weights in float64 (different per member)."""
    model = MLP(3, 1, width=2, depth=1, seeds=list(range(E))).to(F64)
    base = [
        torch.tensor([[0.0, 0.01, -0.05], [0.2, -1.5, 30.0]], dtype=F64),
        torch.tensor([[-0.003, 2.0]], dtype=F64),
    ]
    with torch.no_grad():
        for e in range(E):
            for w, b in zip(model.weights, base):
                w[e] = b * (e + 1)
    return model


def _closed_form_psi(w: torch.Tensor, alpha: float, c: float) -> torch.Tensor:
    """psi_{alpha,c}(w) without the table: Cauchy (alpha 1) and Gaussian of variance 2c^2 (alpha 2)."""
    if alpha == 1.0:
        return 2 * w / (c * c + w * w)
    assert alpha == 2.0
    return w / (2 * c * c)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_gradient_is_strength_times_psi_on_hand_made_weights(alpha):
    c = 0.05
    lams = torch.tensor([1e-3, 0.5, 2.0], dtype=F64)
    model = _hand_made_model()
    reg = SoftDiamond(lams, alpha=alpha, scale=c)
    reg.penalty(model).sum().backward()
    for w in model.weights:
        expected = lams.view(-1, 1, 1) * _closed_form_psi(w.detach(), alpha, c)
        torch.testing.assert_close(w.grad, expected, rtol=1e-5, atol=1e-12)
    assert all(b.grad is None for b in model.biases)  # biases are never penalized


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_penalty_value_is_the_negative_log_density_ratio(alpha):
    """R = log(1 + w^2/c^2) (Cauchy) or w^2/(4c^2) (Gaussian), summed over weight matrices."""
    c = 0.1
    lams = torch.tensor([1.0, 0.0, 3.0], dtype=F64)
    model = _hand_made_model()
    got = SoftDiamond(lams, alpha=alpha, scale=c).penalty(model)
    weights = torch.cat([w.detach().flatten(1) for w in model.weights], dim=1)  # (E, n)
    per_weight = torch.log1p((weights / c) ** 2) if alpha == 1.0 else weights**2 / (4 * c * c)
    torch.testing.assert_close(got, lams * per_weight.sum(dim=1), rtol=1e-6, atol=1e-12)
    assert got[1] == 0


def test_member_strengths_act_per_member():
    """A member with strength 0 gets no penalty gradient; the others scale linearly."""
    model = _hand_made_model()
    lams = torch.tensor([0.0, 1e-2, 2e-2], dtype=F64)
    SoftDiamond(lams, alpha=1.5, scale=0.2).penalty(model).sum().backward()
    single = _hand_made_model()
    SoftDiamond(torch.tensor([1.0, 1.0, 1.0], dtype=F64), alpha=1.5, scale=0.2).penalty(
        single
    ).sum().backward()
    for w, w1 in zip(model.weights, single.weights):
        assert torch.all(w.grad[0] == 0)
        torch.testing.assert_close(w.grad[1], 1e-2 * w1.grad[1])
        torch.testing.assert_close(w.grad[2], 2e-2 * w1.grad[2])


@pytest.mark.parametrize("alpha", [0.5, 1.5, 2.0])
def test_scale_and_dispersion_give_the_same_penalty(alpha):
    gamma = 0.01
    lams = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    by_dispersion = SoftDiamond(lams, alpha=alpha, dispersion=gamma)
    by_scale = SoftDiamond(lams, alpha=alpha, scale=gamma ** (1 / alpha), table=by_dispersion.table)
    assert by_dispersion.scale == pytest.approx(gamma ** (1 / alpha), rel=1e-15)
    model = _hand_made_model()
    torch.testing.assert_close(by_dispersion.penalty(model), by_scale.penalty(model))


def test_scale_xor_dispersion():
    assert sas_scale(2.0, dispersion=0.04) == pytest.approx(0.2)
    assert sas_scale(0.5, scale=3.0) == 3.0
    with pytest.raises(ConfigError, match="exactly one"):
        sas_scale(1.0)
    with pytest.raises(ConfigError, match="exactly one"):
        sas_scale(1.0, scale=1.0, dispersion=1.0)
    with pytest.raises(ConfigError, match="regularizer.scale must be > 0"):
        sas_scale(1.0, scale=0.0)
    with pytest.raises(ValueError, match="alpha"):
        SoftDiamond(torch.ones(1), alpha=1.0, scale=1.0, table=StableTable(2.0))


def test_config_default_and_validation():
    cfg = compose_config(["regularizer=soft_diamond"])
    validate(cfg)
    reg = regularizers.build(cfg.regularizer, torch.tensor([1e-4]))
    assert isinstance(reg, SoftDiamond) and reg.alpha == 1.0 and reg.scale == pytest.approx(0.05)
    cfg = compose_config(
        ["regularizer=soft_diamond", "regularizer.alpha=1.5", "regularizer.dispersion=0.01"]
    )
    validate(cfg)
    reg = regularizers.build(cfg.regularizer, torch.tensor([1e-4]))
    assert reg.scale == pytest.approx(0.01 ** (1 / 1.5))
    cfg = compose_config(
        ["regularizer=soft_diamond", "regularizer.scale=0.1", "regularizer.dispersion=null"]
    )
    validate(cfg)
    assert regularizers.build(cfg.regularizer, torch.tensor([1e-4])).scale == 0.1
    with pytest.raises(ConfigError, match="set exactly one"):
        validate(compose_config(["regularizer=soft_diamond", "regularizer.scale=0.1"]))
    with pytest.raises(ConfigError, match=r"regularizer.alpha must be in \(0, 2\]"):
        validate(compose_config(["regularizer=soft_diamond", "regularizer.alpha=2.5"]))


def test_trains_end_to_end_and_shrinks_small_weights(tmp_path):
    """run_experiment on a quick config: one record per member (seeds x strengths); the
    strongest member ends with more weights below the threshold than the unregularized one."""
    cfg = compose_config([
        "regularizer=soft_diamond", "regularizer.strength=[0.0,1e-2]", "regularizer.alpha=0.5",
        "regularizer.scale=0.01", "regularizer.dispersion=null", "trainer=quick", "trainer.steps=150",
        "seeds=2", "model.width=16",
    ])  # fmt: skip
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert len(records) == 4 and (tmp_path / "run" / "DONE").exists()
    assert all(r["status"] == "ok" and r["regularizer"] == "soft_diamond" for r in records)
    assert all(math.isfinite(r["train.final_loss"]) for r in records)
    by_strength = {lam: [r for r in records if r["strength"] == lam] for lam in (0.0, 1e-2)}
    for plain, shrunk in zip(by_strength[0.0], by_strength[1e-2]):
        assert shrunk["path_norm"] < plain["path_norm"]
        assert shrunk["sparsity.threshold_1e-2"] > plain["sparsity.threshold_1e-2"]
        assert shrunk["sparsity.exact"] == 0  # soft diamond never reaches exact zeros (§5)
