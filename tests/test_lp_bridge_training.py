"""The decoupled L_p decay (`regularizer=lp_bridge`, docs/methods.md (L_p bridge) [pWD]) inside training:
the update uses w_prev and the scheduled lr, members equal separate runs, zeros stay zero,
p = 0.8 recovers a sparse linear teacher with exact zeros, PSiLON lengths are not decayed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose_config
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from psilon_bench import models, regularizers
from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.config.validation import validate
from psilon_bench.engine.schedules import lr_at
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.lp_bridge import LpBridgeDecay, lp_decay_factor


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:200]).astype(np.float32)
    return torch.as_tensor(X), torch.as_tensor(y[:200])


def _data(x, y, E, task="classification", n_classes=2):
    return MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), task, n_classes)


def _train_mlp(x, y, seeds, strengths, p=0.8, steps=40, batch=16, schedule=None, model=None):
    """float64, so that batched and single runs agree to rounding even for weights near 0
    (the L_p factor magnifies relative differences there)."""
    E = len(seeds)
    model = (model or MLP(x.shape[1], 2, width=8, depth=2, seeds=seeds)).double()
    x = x.double()
    reg = LpBridgeDecay(torch.tensor(strengths, dtype=torch.float64), p=p)
    fit(model, _data(x, y, E), seeds, reg, OptimizerConfig(lr=1e-2), schedule or ScheduleConfig(),
        plan_steps(x.shape[0], batch, None, steps))  # fmt: skip
    return model


def test_one_step_is_the_base_step_then_the_factor_from_w_prev_at_the_scheduled_lr(cancer):
    """fit's first step = Adam (weight decay 0) at lr_t, then w_hat * factor(w_prev, lr_t)."""
    x, y = cancer
    seeds, lam, p = [4], 0.3, 0.5
    schedule = ScheduleConfig(name="one_cycle")  # lr_0 = lr / div_start, not the base lr
    plan = plan_steps(x.shape[0], None, None, 10)
    lr0 = lr_at(0, 1e-2, schedule, plan.total_steps, plan.steps_per_epoch)
    assert lr0 != pytest.approx(1e-2)

    start = MLP(x.shape[1], 2, width=8, depth=2, seeds=seeds)
    manual = MLP(x.shape[1], 2, width=8, depth=2, seeds=seeds)
    w_prev = [w.detach().clone() for w in manual.weights]
    adam = torch.optim.Adam(manual.parameters(), lr=lr0)
    loss = torch.nn.functional.cross_entropy(manual(x.unsqueeze(0))[0], y)
    loss.backward()
    adam.step()
    with torch.no_grad():
        for w, w0 in zip(manual.weights, w_prev):
            w.mul_(lp_decay_factor(w0, p, lr0, lam))

    reg = LpBridgeDecay(torch.tensor([lam]), p=p)
    fit(start, _data(x, y, 1), seeds, reg, OptimizerConfig(lr=1e-2), schedule,
        plan_steps(x.shape[0], None, None, 1))  # fmt: skip
    for got, want in zip(start.parameters(), manual.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("p", [0.5, 0.8, 2.0])
def test_e_members_equal_e_separate_runs(cancer, p):
    x, y = cancer
    seeds, strengths = [3, 7, 11], [1e-2, 0.0, 1e-1]
    batched = _train_mlp(x, y, seeds, strengths, p=p)
    for e, seed in enumerate(seeds):
        single = _train_mlp(x, y, [seed], [strengths[e]], p=p)
        for pb, ps in zip(batched.parameters(), single.parameters()):
            torch.testing.assert_close(pb[e], ps[0], rtol=1e-10, atol=1e-12)


def test_zero_weights_stay_exactly_zero_during_training(cancer):
    x, y = cancer
    model = MLP(x.shape[1], 2, width=8, depth=2, seeds=[0, 1])
    with torch.no_grad():
        model.weights[0][:, :, :5] = 0.0  # 5 input features cut in both members
    trained = _train_mlp(x, y, [0, 1], [1e-2, 1e-2], p=0.8, model=model)
    assert torch.all(trained.weights[0][:, :, :5] == 0)
    assert torch.all(trained.weights[0][:, :, 5:] != 0)


def test_no_decay_when_strength_or_lr_is_zero():
    model = MLP(4, 2, width=3, depth=1, seeds=[0])
    assert LpBridgeDecay(torch.zeros(1), p=0.8).before_step(model, lr=1e-2) is None
    assert LpBridgeDecay(torch.ones(1), p=0.8).before_step(model, lr=0.0) is None
    with pytest.raises(ValueError, match=r"regularizer.p must be in \(0, 2\]"):
        LpBridgeDecay(torch.ones(1), p=2.5)


def _sparse_linear_teacher(n=400, d=40, k=4, seed=0):
    """y = X beta + N(0, 0.1^2), beta with k non-zeros of magnitude 1..2 out of d."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    beta = np.zeros(d, dtype=np.float32)
    support = np.sort(rng.choice(d, k, replace=False))
    beta[support] = rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 2.0, k)
    y = X @ beta + 0.1 * rng.standard_normal(n).astype(np.float32)
    return torch.as_tensor(X), torch.as_tensor(y), support


def test_p08_recovers_a_sparse_linear_teacher_with_exact_zeros():
    """A linear model (MLP depth 0), Adam lr 1e-2, mini-batches of 32, 1000 steps: with
    p = 0.8 and lambda = 0.1 every member has exact sparsity 36/40 = 90 % (> 80 %) and its
    non-zero weights are exactly the teacher's 4 features; lambda = 0 leaves no exact zero."""
    x, y, support = _sparse_linear_teacher()
    seeds, strengths = [0, 1, 2, 0], [0.1, 0.1, 0.1, 0.0]
    model = MLP(x.shape[1], 1, width=1, depth=0, seeds=seeds)  # one (E, 1, 40) weight
    reg = LpBridgeDecay(torch.tensor(strengths), p=0.8)
    fit(model, _data(x, y, len(seeds), "regression", 0), seeds, reg, OptimizerConfig(lr=1e-2),
        ScheduleConfig(), plan_steps(x.shape[0], 32, None, 1000))  # fmt: skip
    w = model.weights[0].detach()[:, 0, :]  # (E, 40)
    for e in range(3):
        assert (w[e] == 0).float().mean().item() > 0.8
        np.testing.assert_array_equal(np.flatnonzero(w[e].numpy()), support)
    assert torch.all(w[3] != 0)


def test_psilon_lengths_and_biases_are_not_decayed():
    """On a PSiLON Net the decay acts on the directions v only (the decay parameters)."""
    cfg = compose_config(
        ["model=psilon_net", "regularizer=lp_bridge", "regularizer.strength=[0.5,0.0]"]
    )
    validate(cfg)
    model = models.build(cfg.model, d_in=6, d_out=3, seeds=[0, 0])
    reg = regularizers.build(cfg.regularizer, torch.tensor([0.5, 0.0]), model)
    decayed = {id(w) for w in model.decay_parameters()}
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        reg.after_step(model, reg.before_step(model, lr=0.1))  # no base step: the decay alone
    for name, p in model.named_parameters():
        if id(p) in decayed:
            assert "direction" in name or "weight" in name
            assert torch.all(p[0].abs() <= before[name][0].abs())
            assert not torch.equal(p[0], before[name][0])  # member 0 decayed
            assert torch.equal(p[1], before[name][1])  # member 1 has lambda = 0
        else:
            assert torch.equal(p, before[name]), f"{name} must not be decayed"
    assert any("length" in name for name, p in model.named_parameters() if id(p) not in decayed)
