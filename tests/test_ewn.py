"""SWN and EWN MLPs (`model=swn_mlp`, `model=ewn_mlp`, docs/methods.md (weight norm) [EWN]): effective
weights equal the formula, EWN's radial update is ||w||^2 times the unnormalized one (SWN's
equals it), and neuron-norm pruning removes the smallest-norm units."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config

from psilon_bench import models, pruning
from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.config.validation import validate
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.base import Regularizer

F64 = torch.float64


def _build(name: str, overrides: list[str] | None = None, d_in=5, d_out=3, seeds=(0, 1)):
    """The model with a normalized output layer (the family's general case) unless overridden;
    swn_mlp and ewn_mlp default to [EWN]'s plain output layer."""
    normalized = [] if name == "mlp" else ["model.output_layer=normalized"]
    cfg = compose_config([f"model={name}", "model.width=6", *normalized, *(overrides or [])])
    validate(cfg)
    return models.build(cfg.model, d_in=d_in, d_out=d_out, seeds=list(seeds)).to(F64)


def _randomize_(model, seed: int = 0) -> None:
    """Move every parameter off its init (lengths too), so formulas are tested in general."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if "log_length" in name:
                p.copy_(0.5 * noise)  # a in about (-1.5, 1.5): lengths exp(a) around 1
            elif "length" in name:
                p.copy_(1.0 + 0.5 * noise)
            else:
                p.copy_(noise)


def _manual_forward(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor):
    """A plain ReLU MLP, one member: x (B, d_in)."""
    h = x
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T + b
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("name", ["swn_mlp", "ewn_mlp"])
def test_effective_weights_equal_the_formula(name):
    """SWN: w_j = g_j v_j / ||v_j||_2; EWN: w_j = exp(a_j) v_j / ||v_j||_2; the output layer
    too (per-output lengths); the forward pass is the plain MLP with those weights."""
    model = _build(name, ["model.depth=2"])
    _randomize_(model)
    x = torch.randn(2, 4, 5, dtype=F64)
    out = model(x)
    for e in range(2):
        weights, biases = [], []
        for layer in model.layers:
            v = layer.direction[e].detach()  # (out, in)
            if name == "ewn_mlp":
                length = layer.log_length[e].detach().exp()  # (out, 1)
            else:
                length = layer.length[e].detach()
            assert length.shape == (v.shape[0], 1)  # one length per unit
            expected = torch.stack(
                [length[j] * v[j] / v[j].pow(2).sum().sqrt() for j in range(v.shape[0])]
            )
            w, b = layer.weight_and_bias()
            torch.testing.assert_close(w[e], expected, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(w[e].norm(dim=1), length.abs().squeeze(1))
            weights.append(expected)
            biases.append(b[e].detach())
        torch.testing.assert_close(out[e], _manual_forward(weights, biases, x[e]))


def test_ewn_init_and_plain_output_layer():
    """[EWN] init: a = 0, unit-norm rows, so ||w_j|| = 1; `output_layer=plain` is an ordinary
    linear layer (its weight is the effective weight and it has no length)."""
    model = _build("ewn_mlp")
    for layer in model.layers:
        assert torch.all(layer.log_length == 0)
        torch.testing.assert_close(
            layer.weight_and_bias()[0].norm(dim=-1), torch.ones(2, layer.fan_out, dtype=F64)
        )
    plain = _build("ewn_mlp", ["model.output_layer=plain"])
    out_w, _ = plain.output.weight_and_bias()
    assert out_w is plain.output.weight and not hasattr(plain.output, "log_length")
    assert plain.weight_matrices()[-1] is plain.output.weight
    assert plain.decay_parameters()[-1] is plain.output.weight


def _radial_updates(name: str, lr: float):
    """One full-batch SGD step (momentum 0) through `train.fit` on a one-hidden-layer model.

    Returns, for each layer, the observed change of every row norm ||w_j|| and the change the
    unnormalized net takes along w_j's direction, -lr <dL/dw_j, w_j/||w_j||>, with dL/dw the
    gradient of the same loss with respect to the effective weights (a plain MLP holding them);
    and the row norms before the step.
    """
    torch.manual_seed(0)
    model = _build(name, ["model.depth=1"], d_in=4, d_out=3, seeds=(0,))
    _randomize_(model, seed=1)
    x = torch.randn(32, 4, dtype=F64)
    y = torch.randint(0, 3, (32,))

    plain = MLP(4, 3, width=6, depth=1, seeds=[0]).to(F64)  # the unnormalized twin
    with torch.no_grad():
        for pw, pb, layer in zip(plain.weights, plain.biases, model.layers):
            w, b = layer.weight_and_bias()
            pw.copy_(w)
            pb.copy_(b)
    loss = torch.nn.functional.cross_entropy(plain(x.unsqueeze(0))[0], y)
    grads = torch.autograd.grad(loss, list(plain.weights))  # dL/dw per layer, (1, out, in)

    before = [layer.weight_and_bias()[0].detach().clone() for layer in model.layers]
    data = MemberData(x.unsqueeze(0), y.unsqueeze(0), "classification", 3)
    fit(model, data, [0], Regularizer(torch.zeros(1, dtype=F64)),
        OptimizerConfig(name="sgd", lr=lr, momentum=0.0), ScheduleConfig(),
        plan_steps(32, None, None, 1))  # fmt: skip
    after = [layer.weight_and_bias()[0].detach() for layer in model.layers]

    rows = []
    for w0, w1, g in zip(before, after, grads):
        norm0 = w0.norm(dim=-1)  # (1, out)
        observed = w1.norm(dim=-1) - norm0
        unnormalized = -lr * (g * w0).sum(dim=-1) / norm0  # radial part of -lr dL/dw
        rows.append((observed, unnormalized, norm0))
    return rows


@pytest.mark.parametrize(("name", "power"), [("ewn_mlp", 2), ("swn_mlp", 0)])
def test_radial_update_is_norm_power_times_unnormalized(name, power):
    """docs/methods.md (weight norm) / [EWN]: one small gradient step changes ||w_j|| by ||w_j||^2 times the
    unnormalized gradient's radial part under EWN (d||w||/da = ||w||, and a's gradient is
    <dL/dw, w>), by exactly that part under SWN (power 0). Checked by finite differences: the
    relative error is O(lr), so it shrinks ~10x when lr does."""
    errors = []
    for lr in (1e-4, 1e-5):
        worst = 0.0
        for observed, unnormalized, norm0 in _radial_updates(name, lr):
            predicted = norm0**power * unnormalized
            assert torch.all(predicted.abs() > 0)
            worst = max(worst, ((observed - predicted).abs() / predicted.abs()).max().item())
        errors.append(worst)
    assert errors[0] < 1e-2, errors
    assert errors[1] < errors[0] / 5 or errors[1] < 1e-6, errors


def test_ewn_radial_factor_differs_from_swn():
    """The ||w||^2 factor is real: with lengths far from 1, EWN's and SWN's steps differ."""
    ewn = _radial_updates("ewn_mlp", 1e-5)
    for observed, unnormalized, norm0 in ewn:
        away = (norm0 - 1).abs() > 0.2
        assert away.any()
        ratio = observed[away] / unnormalized[away]
        torch.testing.assert_close(ratio, norm0[away] ** 2, rtol=1e-3, atol=0)


@pytest.mark.parametrize("name", ["ewn_mlp", "swn_mlp", "mlp"])
def test_neuron_norm_pruning_removes_the_smallest_norm_units(name):
    """pruning=neuron_norm (the one implementation, psilon_bench.pruning, [EWN]): the
    int(q * width) hidden units with the smallest incoming L2 norm output 0 afterwards, the
    others are untouched, and the net equals the plain net without those units."""
    cfg = compose_config([f"model={name}", "model.width=8", "model.depth=1",
                          "pruning=neuron_norm", "pruning.fraction=0.5"])  # fmt: skip
    validate(cfg)
    model = models.build(cfg.model, d_in=5, d_out=3, seeds=[0, 1]).to(F64)
    _randomize_(model, seed=2)
    hidden_w = model.weight_matrices()[0].detach().clone()  # (E, 8, 5)
    norms = hidden_w.norm(dim=-1)  # (E, 8)
    x = torch.randn(2, 16, 5, dtype=F64)

    pruner = pruning.build(cfg.pruning, model)
    pruner.on_train_end(model, plan_steps(16, None, None, 1))

    after = model.weight_matrices()[0].detach()
    for e in range(2):
        order = torch.argsort(norms[e])
        removed, kept = order[:4], order[4:]
        assert torch.all(after[e, removed] == 0)
        torch.testing.assert_close(after[e, kept], hidden_w[e, kept])
        assert norms[e, removed].max() <= norms[e, kept].min()
        # the pruned net is the plain net restricted to the kept units
        w_out = model.weight_matrices()[1].detach()[e]
        layers = model.layers if hasattr(model, "layers") else None
        b_in = (layers[0].weight_and_bias()[1] if layers else model.biases[0])[e].detach()
        b_out = (layers[1].weight_and_bias()[1] if layers else model.biases[1])[e].detach()
        expected = _manual_forward([hidden_w[e, kept], w_out[:, kept]], [b_in[kept], b_out], x[e])
        torch.testing.assert_close(model(x)[e], expected)
