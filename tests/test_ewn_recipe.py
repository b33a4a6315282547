"""[EWN]'s training recipe (docs/protocols.md P5): the Kaiming-normal init shared by the three
models, the bias-free plain output layer, and the loss-adaptive learning rate
(`psilon_bench.engine.adaptive`), each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import compose_config

from psilon_bench import models
from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.adaptive import LossAdaptive, log_cross_entropy
from psilon_bench.engine.plan import MemberData
from psilon_bench.engine.train import fit, plan_steps
from psilon_bench.errors import ConfigError
from psilon_bench.regularizers.base import Regularizer

F64 = torch.float64
RECIPE = ["model.width=32", "model.depth=1", "model.init=kaiming_normal", "model.output_bias=false"]


def build(name: str, seeds=(0, 1), d_in=6, d_out=4):
    cfg = compose_config([f"model={name}", *RECIPE])  # swn/ewn_mlp: plain output by default
    return models.build(cfg.model, d_in=d_in, d_out=d_out, seeds=list(seeds))


def test_kaiming_normal_init_gives_the_three_models_one_function():
    """[EWN]'s reference starts SWN and EWN from the plain net's Kaiming-normal draw: same
    seed, same function; hidden weights N(0, 2 / fan_in), zero biases, no output bias."""
    x = torch.randn(2, 9, 6, generator=torch.Generator().manual_seed(0))
    plain, swn, ewn = (build(n) for n in ("mlp", "swn_mlp", "ewn_mlp"))
    torch.testing.assert_close(swn(x), plain(x))
    torch.testing.assert_close(ewn(x), plain(x), rtol=1e-5, atol=1e-6)
    assert [n for n, _ in plain.named_parameters()] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
    ]
    assert "output.bias" not in dict(ewn.named_parameters())
    assert torch.all(plain.layers[0].bias == 0) and torch.all(plain.layers[1].bias == 0)
    big = build("mlp", seeds=(3,), d_in=400).layers[0].weight  # 32 x 400 draws
    assert big.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert abs(big.mean().item()) < 0.01
    torch.testing.assert_close(
        ewn.hidden[0].log_length.exp().squeeze(-1), plain.layers[0].weight.norm(dim=-1)
    )


def test_recipe_options_are_checked():
    with pytest.raises(ConfigError, match="output_bias=false needs model.output_layer=plain"):
        cfg = compose_config(
            ["model=swn_mlp", "model.output_layer=normalized", "model.output_bias=false"]
        )
        models.build(cfg.model, 4, 3, [0])
    with pytest.raises(ConfigError, match="model.layout=mlp"):
        cfg = compose_config(["model=psilon_resnet", "model.init=kaiming_normal"])
        models.build(cfg.model, 4, 3, [0])


def test_log_cross_entropy_is_exact_far_below_float32():
    """log of the mean cross-entropy, float32 logits with margins up to ~300 (where float32's
    own cross-entropy is 0), against a float64 numpy evaluation row by row."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 20, 5, generator=g)
    y = torch.randint(0, 5, (3, 20), generator=g)
    for scale in (1.0, 30.0, 300.0):
        out = logits * scale
        out = out.scatter_add(-1, y.unsqueeze(-1), torch.full((3, 20, 1), scale * 3.0))
        got = log_cross_entropy(out, y).double().numpy()
        z, yy = out.double().numpy(), y.numpy()
        expected = []
        for e in range(3):
            rows = []
            for i in range(20):
                d = np.delete(z[e, i] - z[e, i, yy[e, i]], yy[e, i])
                m = d.max()
                a = m + np.log(np.exp(d - m).sum())  # log sum_{k != y} exp(z_k - z_y)
                rows.append(np.log(np.log1p(np.exp(a))) if a > -30 else a)
            r = np.array(rows)
            expected.append(r.max() + np.log(np.exp(r - r.max()).mean()))
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-5)
    sure = 200.0 * torch.nn.functional.one_hot(y, 5).float()  # every margin 200
    assert torch.nn.functional.cross_entropy(sure[0], y[0]).item() == 0.0  # float32 gives up
    expected = math.log(4) - 200.0  # log(log1p(4 e^-200)) = log(4 e^-200) to 1e-87
    torch.testing.assert_close(log_cross_entropy(sure, y), torch.full((3,), expected))


def _data(E=2, n=24, d=6, k=4, seed=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return MemberData(
        x.expand(E, n, d).contiguous(), y.expand(E, n).contiguous(), "classification", k
    )


def test_loss_adaptive_sgd_steps_by_lr_times_multiplier_over_the_last_loss():
    """Full batch, two epochs of one SGD step each: member e moves by
    lr * m_e / L_e * grad L_e, with L_e its loss at the last accepted epoch end and
    m_e = 1, then 1.1 after an epoch whose loss fell: a plain float64 loop reproduces it."""
    data, lr = _data(), 0.3
    model = build("mlp").double()
    data64 = MemberData(data.x.double(), data.y, data.task, data.n_classes)
    reference = [[p.detach()[e].clone() for p in model.parameters()] for e in range(2)]
    fit(model, data64, [0, 1], Regularizer(torch.zeros(2)), OptimizerConfig(name="sgd", lr=lr),
        ScheduleConfig(), plan_steps(24, None, 2, None), loss_adaptive=True)  # fmt: skip
    for e in range(2):
        params = [p.requires_grad_(True) for p in reference[e]]
        w1, b1, w2 = params

        def loss(w1=w1, b1=b1, w2=w2):
            h = torch.relu(data64.x[e] @ w1.T + b1)
            return torch.nn.functional.cross_entropy(h @ w2.T, data.y[e])

        last, multiplier = loss().item(), 1.0
        for _ in range(2):
            grads = torch.autograd.grad(loss(), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * multiplier / last * g
            new = loss().item()
            assert new < last  # both epochs are accepted at this rate
            last, multiplier = new, multiplier * 1.1
        for p, q in zip(model.parameters(), params):
            torch.testing.assert_close(p.detach()[e], q.detach(), rtol=1e-9, atol=1e-12)


def test_an_epoch_that_raises_the_loss_is_undone_and_the_rate_lowered():
    data = _data()
    model = build("mlp")
    adaptive = LossAdaptive(model, data)
    before = [p.detach().clone() for p in model.parameters()]
    start = adaptive.log_loss.clone()
    with torch.no_grad():
        model.layers[1].weight[1] *= -5.0  # member 1 gets much worse
        model.layers[1].weight[0] *= 1.0 + 1e-4  # member 0 barely changes
    new0 = adaptive.full_log_loss(model)[0]
    adaptive.end_epoch(model)
    torch.testing.assert_close(model.layers[1].weight[1], before[2][1])  # restored
    assert adaptive.multiplier[1].item() == pytest.approx(1 / 1.1)
    assert adaptive.log_loss[1] == start[1]
    if new0 <= start[0]:  # member 0 accepted: new loss, rate up
        assert adaptive.multiplier[0].item() == pytest.approx(1.1)
        assert adaptive.log_loss[0] == new0
    with pytest.raises(ValueError, match="classification"):
        LossAdaptive(model, MemberData(data.x, data.x[..., 0], "regression", None))
