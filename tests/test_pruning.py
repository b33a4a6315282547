"""Pruners (docs/methods.md (pruning)) on real models: the PSiLON projection schedule in optimizer steps,
its exact zeros and exact closed forms, magnitude pruning with fine-tuning, neuron-norm
pruning; oracles: a sort-free bisection projection, explicit per-row norms, and networks
with the removed units deleted (numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from psilon_bench import pruning, regularizers
from psilon_bench.config import (
    MagnitudePruningConfig,
    NeuronNormPruningConfig,
    OptimizerConfig,
    PsilonProjectionConfig,
    RegularizerConfig,
    ScheduleConfig,
)
from psilon_bench.engine.train import MemberData, StepPlan, fit, plan_steps
from psilon_bench.errors import ConfigError
from psilon_bench.measure.sparsity import exact_sparsity
from psilon_bench.models.mlp import MLP
from psilon_bench.models.psilon import CReLUResNet, WeightNormMLP
from psilon_bench.models.weightnorm import Projection
from psilon_bench.regularizers.path_norm import path_norm_chain, residual_path_norm


def bisection_projection(v: np.ndarray, iters: int = 200) -> np.ndarray:
    """Projection of one row onto the unit L1 sphere, tau by bisection (no sort), |v|_1 >= 1."""
    a = np.abs(v)
    lo, hi = 0.0, float(a.max())
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(a - mid, 0).sum() > 1 else (lo, mid)
    return np.sign(v) * np.maximum(a - 0.5 * (lo + hi), 0)


def psilon(seeds=(0, 1, 2), **kw) -> WeightNormMLP:
    return WeightNormMLP(5, 3, list(seeds), **{"width": 8, "depth": 2, **kw})


def resnet(seeds=(0, 1, 2), **kw) -> CReLUResNet:
    return CReLUResNet(5, 3, list(seeds), **{"width": 8, "depth": 2, **kw})


def perturb_(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.copy_(1.5 * noise if name.endswith("length") else p + noise)


def data(E, n=64, seed=1):
    x = torch.randn(n, 5, generator=torch.Generator().manual_seed(seed))
    y = (x[:, 0] > x[:, 1]).long() + (x[:, 2] > 1).long()
    return MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 3)


def train(model, pruner, steps=40, seeds=None, reg="path_norm", strength=1e-3, batch=16):
    E = model.n_members
    seeds = seeds or list(range(E))
    r = regularizers.build(
        OmegaConf.structured(RegularizerConfig(name=reg)), torch.full((E,), strength)
    )
    return fit(model, data(E), seeds, r, OptimizerConfig(lr=1e-2), ScheduleConfig(),
               plan_steps(64, batch, None, steps), pruner=pruner)  # fmt: skip


def projection_cfg(**kw):
    return OmegaConf.structured(PsilonProjectionConfig(**kw))


# ----------------------------------------------------------------------------------------
# PSiLON projection


def test_schedule_counts_optimizer_steps():
    assert pruning.projection_schedule(100, 0.8, 0.1) == (80, 10)
    assert pruning.projection_schedule(7, 0.85, 0.15) == (6, 1)  # capped: start + T <= N
    net = psilon()
    pruner = pruning.build(projection_cfg(start=0.5, ramp=0.25), net)
    plan = StepPlan(total_steps=8, steps_per_epoch=4, batch=16)
    blends = []
    for step in range(8):
        pruner.on_step_end(net, step, plan)
        proj = net.hidden[0].projection
        blends.append(0.0 if proj is None else proj.blend)
    # a_{t+1} after step t: start 4, T = 2 -> a_5 = 0.5, a_6 = 1
    assert blends == [0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    assert all(layer.projection.scale is None for layer in net.layers)  # default: scale-aware
    assert all(layer.projection.threshold == 0.1 for layer in net.layers)


def test_projected_layer_matches_a_bisection_projection():
    net = psilon()
    perturb_(net)
    layer = net.hidden[1]
    layer.projection = Projection(blend=1.0, scale=3.0)
    w = layer.weight_and_bias()[0].detach()
    g = layer.length.detach()
    v = layer.direction.detach().numpy().astype(np.float64)
    for e in range(3):
        for j in range(8):
            row = 3.0 * v[e, j] / np.abs(v[e, j]).sum()
            expected = g[e, 0, 0].item() * bisection_projection(row)
            np.testing.assert_allclose(w[e, j].numpy(), expected, atol=1e-5)
    assert (w == 0).any()


@pytest.mark.parametrize("blend", [0.3, 1.0])
def test_rows_keep_norm_abs_g_and_closed_forms_stay_exact_during_the_blend(blend):
    for net in (psilon(), resnet(), psilon(fold_bias=True), resnet(fold_bias=True)):
        perturb_(net)
        for layer in net.layers:
            layer.projection = Projection(blend=blend, scale=2.5)
        for layer in net.layers:
            w, b = layer.weight_and_bias()
            if w.dim() == 4:  # CReLU pair: rows of max(|A|, |B|)
                rows = w.abs().amax(dim=-2).sum(dim=-1)
            else:
                rows = w.abs().sum(dim=-1)
            rows = rows + (b.abs() if layer.fold_bias else 0)  # ||(w_j, b_j)||_1
            torch.testing.assert_close(rows, layer.lengths().abs().squeeze(-1).expand_as(rows))
        if isinstance(net, CReLUResNet):
            chain = residual_path_norm(*net.residual_weights(), bound="improved")
        else:
            chain = path_norm_chain(net.weight_matrices())
        if net.closed_form:
            torch.testing.assert_close(net.path_norm(), chain, rtol=1e-5, atol=0)


@pytest.mark.parametrize("make", [psilon, resnet], ids=["psilon_net", "psilon_resnet"])
def test_training_with_projection_ends_with_exact_zeros(make):
    net = make()
    result = train(net, pruning.build(projection_cfg(start=0.5, ramp=0.25, scale=3.0), net))
    assert result.steps == 40
    assert all(layer.projection is None for layer in net.layers)  # baked
    sparsity = exact_sparsity(net.weight_matrices())
    assert torch.all(sparsity > 0.3), sparsity
    # the baked raw directions are the projections: unit L1 rows (jointly for pairs)
    for layer in net.layers:
        mags = (
            layer.direction.abs().amax(dim=-2)
            if layer.direction.dim() == 4
            else layer.direction.abs()
        )
        torch.testing.assert_close(mags.sum(dim=-1), torch.ones_like(mags[..., 0]))
    if isinstance(net, WeightNormMLP):
        torch.testing.assert_close(
            net.path_norm(), path_norm_chain(net.weight_matrices()), rtol=1e-5, atol=0
        )


@pytest.mark.parametrize("blend", [0.6, 1.0])
def test_bake_keeps_the_function(blend):
    for net in (resnet(), resnet(fold_bias=True), psilon(fold_bias=True)):
        perturb_(net)
        for layer in net.layers:
            layer.projection = Projection(blend=blend, scale=2.0)
        x = torch.randn(3, 20, 5)
        before = net(x).detach()
        for layer in net.layers:
            layer.bake_projection_()
        assert all(layer.projection is None for layer in net.layers)
        torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)


def test_projection_members_equal_single_runs():
    seeds = [3, 7, 11]
    cfg = projection_cfg(start=0.4, ramp=0.3)
    batched = psilon(seeds)
    train(batched, pruning.build(cfg, batched), seeds=seeds, steps=20)
    for e, seed in enumerate(seeds):
        single = psilon([seed])
        train(single, pruning.build(cfg, single), seeds=[seed], steps=20)
        for pb, ps in zip(batched.parameters(), single.parameters()):
            torch.testing.assert_close(pb[e], ps[0], rtol=1e-4, atol=1e-5)
        assert torch.equal(batched.hidden[0].direction[e] == 0, single.hidden[0].direction[0] == 0)


def test_projection_refuses_models_without_l1_layers():
    with pytest.raises(ConfigError, match="model.norm=l1"):
        pruning.build(projection_cfg(), psilon(norm="l2", length="per_unit"))
    with pytest.raises(ConfigError, match="weight-normalized model"):
        pruning.build(projection_cfg(), MLP(5, 3, width=4, depth=1, seeds=[0]))


# ----------------------------------------------------------------------------------------
# Magnitude pruning


def magnitude_cfg(**kw):
    return OmegaConf.structured(MagnitudePruningConfig(**kw))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_pruning_hits_the_target_exactly(scope):
    for net in (MLP(5, 3, width=8, depth=2, seeds=[0, 1]), psilon((0, 1)), resnet((0, 1))):
        train(net, pruning.build(magnitude_cfg(scope=scope, sparsity=0.6), net), steps=10)
        weights = net.weight_matrices()
        total = sum(w[0].numel() for w in weights)
        if scope == "global":
            expected = torch.full((2,), round(0.6 * total) / total, dtype=torch.float64)
            torch.testing.assert_close(exact_sparsity(weights), expected)
        else:
            for w in weights:
                n = w[0].numel()
                torch.testing.assert_close(
                    exact_sparsity([w]), torch.full((2,), round(0.6 * n) / n, dtype=torch.float64)
                )


def test_magnitude_pruning_zeros_the_smallest_and_keeps_the_rest_of_a_plain_mlp():
    net = MLP(5, 3, width=8, depth=2, seeds=[0])
    train(net, None, steps=10)
    before = [w.detach().clone() for w in net.weights]
    pruner = pruning.build(magnitude_cfg(sparsity=0.5), net)
    pruner.on_train_end(net, StepPlan(0, 1, 1))
    flat = torch.cat([w.abs().flatten() for w in before])
    cut = flat.sort().values[round(0.5 * flat.numel()) - 1]
    for w, b in zip(net.weights, before):
        kept = b.abs() > cut
        torch.testing.assert_close(w[kept], b[kept])
        assert torch.all(w[~kept] == 0)


def test_magnitude_finetune_runs_extra_steps_and_holds_the_zeros():
    net = psilon((0, 1))
    pruner = pruning.build(magnitude_cfg(sparsity=0.7, finetune_steps=15), net)
    result = train(net, pruner, steps=10)
    assert result.steps == 25
    zeros = [w == 0 for w in net.weight_matrices()]
    assert [torch.equal(z, ~m) for z, m in zip(zeros, pruner.masks)] == [True] * len(zeros)
    for layer in net.layers:  # masked directions renormalize: rows keep norm |g|
        rows = layer.weight_and_bias()[0].abs().sum(dim=-1)
        torch.testing.assert_close(rows, layer.length.abs().squeeze(-1).expand_as(rows))


# ----------------------------------------------------------------------------------------
# Neuron-norm pruning


def numpy_forward(mats, biases, x, keep_units):
    """The MLP with the removed hidden units deleted from every matrix (rows and columns)."""
    h = x
    for k, (w, b) in enumerate(zip(mats, biases)):
        if k > 0:
            w = w[:, keep_units[k - 1]]
        if k < len(mats) - 1:
            w, b = w[keep_units[k]], b[keep_units[k]]
            h = np.maximum(h @ w.T + b, 0)
        else:
            h = h @ w.T + b
    return h


@pytest.mark.parametrize("kind", ["mlp", "ewn", "swn_folded", "psilon"])
def test_neuron_norm_pruning_equals_deleting_the_smallest_units(kind):
    net = {
        "mlp": lambda: MLP(5, 3, width=10, depth=2, seeds=[0, 1]),
        "ewn": lambda: WeightNormMLP(5, 3, [0, 1], width=10, depth=2, norm="l2", length="exp_per_unit",
                                     direction_init="kaiming_uniform"),
        "swn_folded": lambda: WeightNormMLP(5, 3, [0, 1], width=10, depth=2, norm="l2", length="per_unit",
                                            fold_bias=True),
        "psilon": lambda: psilon((0, 1), width=10),
    }[kind]().double()  # fmt: skip
    perturb_(net, seed=4)
    layers = pruning.model_layers(net)
    norms = [layer.incoming().detach().norm(dim=-1) for layer in layers[:-1]]  # (E, width)
    mats = [layer.incoming().detach() for layer in layers]
    bias = [_bias(layer).detach() for layer in layers]
    x = torch.randn(2, 30, 5, dtype=torch.float64)
    pruning.build(OmegaConf.structured(NeuronNormPruningConfig(fraction=0.3)), net).on_train_end(
        net, None
    )
    out = net(x).detach()
    for e in range(2):
        keep = [np.argsort(n[e].numpy(), kind="stable")[3:] for n in norms]  # drop round(0.3*10)
        keep = [np.sort(k) for k in keep]
        expected = numpy_forward(
            [m[e].numpy() for m in mats], [b[e].numpy() for b in bias], x[e].numpy(), keep
        )
        np.testing.assert_allclose(out[e].numpy(), expected, rtol=1e-9, atol=1e-9)
    for layer in layers[:-1]:
        dead = (layer.incoming() == 0).all(dim=-1)
        assert torch.all(dead.sum(dim=-1) == 3)


def _bias(layer):
    if hasattr(layer, "weight_and_bias"):
        return layer.weight_and_bias()[1]
    return layer.bias


def test_neuron_norm_pruning_refuses_residual_nets():
    with pytest.raises(ConfigError, match="MLP layout"):
        pruning.build(OmegaConf.structured(NeuronNormPruningConfig()), resnet())


def test_compare_unpruned_reports_the_same_training_without_its_projection(tmp_path):
    """pruning.compare_unpruned: with the projection only at the very end (start 1, ramp 0)
    training is untouched, so `unpruned.*` must equal a run with pruning=none (an
    independent training), while the records' own metrics are the projected model's."""
    from conftest import compose_config

    from psilon_bench.runner.experiment import run_experiment

    common = ["model=psilon_net", "regularizer=path_norm", "dataset=wine", "trainer=quick",
              "trainer.steps=40", "seeds=[0,1]", "regularizer.strength=[1e-3,1e-1]"]  # fmt: skip
    projected = run_experiment(
        compose_config(
            [
                *common,
                "pruning=psilon_projection",
                "pruning.start=1.0",
                "pruning.ramp=0.0",
                "pruning.scale=2.0",
                "pruning.compare_unpruned=true",
            ]
        ),  # fmt: skip
        tmp_path / "projected",
        threads=1,
    )
    plain = run_experiment(compose_config(common), tmp_path / "plain", threads=1)
    assert len(projected) == len(plain) == 4
    for p, q in zip(projected, plain):
        for split in ("train", "val", "test"):
            for metric in ("accuracy", "log_loss"):
                key = f"{split}.{metric}"
                assert p[f"unpruned.{key}"] == pytest.approx(q[key], rel=1e-6), key
        assert p["sparsity.exact"] > 0.3 and q["sparsity.exact"] == 0  # scale 2 cuts many
        assert p["test.log_loss"] != pytest.approx(q["test.log_loss"], rel=1e-6)
    # without the flag: no unpruned keys, and the same projected metrics
    again = run_experiment(
        compose_config(
            [
                *common,
                "pruning=psilon_projection",
                "pruning.start=1.0",
                "pruning.ramp=0.0",
                "pruning.scale=2.0",
            ]
        ),  # fmt: skip
        tmp_path / "again",
        threads=1,
    )
    assert not any(k.startswith("unpruned.") for k in again[0])
    assert [r["test.log_loss"] for r in again] == [r["test.log_loss"] for r in projected]


def test_compare_unpruned_follows_metrics_train_split(tmp_path):
    """metrics.train_split=false skips the training split's metrics for the unpruned
    evaluation too (keys present, null), as for the record's own."""
    from conftest import compose_config

    from psilon_bench.runner.experiment import run_experiment

    cfg = compose_config(["model=psilon_net", "dataset=wine", "trainer=quick", "trainer.steps=10",
                          "seeds=[0]", "pruning=psilon_projection",
                          "pruning.compare_unpruned=true", "metrics.train_split=false"])  # fmt: skip
    from psilon_bench.records.io import read_records

    run_experiment(cfg, tmp_path / "run", threads=1)
    (record,) = read_records(tmp_path / "run")
    assert record["train.accuracy"] is None and record["unpruned.train.accuracy"] is None
    assert record["unpruned.test.accuracy"] is not None
