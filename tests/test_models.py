"""Weight-normalized models (docs/methods.md (weight norm)) and their path norms (§2.2-2.3) on real
model instances, against independent oracles: per-row norms, explicit matrix products and
brute-force enumeration of every input -> output path (numpy), Lipschitz inequalities on
random input pairs through the model's own forward, and E = 1 runs per seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf
from oracles import brute_force_path_norm

from psilon_bench import models, regularizers
from psilon_bench.config import MetricsConfig, OptimizerConfig, RegularizerConfig, ScheduleConfig
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.errors import ConfigError
from psilon_bench.measure.evaluate import structure_metrics
from psilon_bench.measure.lipschitz import empirical_lipschitz_lower_bound
from psilon_bench.models.members import member_generators
from psilon_bench.models.mlp import MLP
from psilon_bench.models.psilon import CReLUResNet, WeightNormMLP
from psilon_bench.models.weightnorm import NormalizedLayer
from psilon_bench.regularizers.path_norm import path_norm_chain, residual_path_norm

F64 = torch.float64


def perturb_(model, seed: int = 0, length_scale: float = 1.5) -> None:
    """Random directions, lengths of both signs and sizes, and biases (a generic trained state)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if name.endswith("log_length"):
                p.copy_(0.5 * noise)
            elif name.endswith("length"):
                p.copy_(length_scale * noise)
            else:
                p.add_(noise)


def mlp(seeds=(0, 1, 2), d_in=5, d_out=3, **kw) -> WeightNormMLP:
    return WeightNormMLP(d_in, d_out, list(seeds), **{"width": 6, "depth": 2, **kw})


def resnet(seeds=(0, 1, 2), d_in=5, d_out=3, **kw) -> CReLUResNet:
    return CReLUResNet(d_in, d_out, list(seeds), **{"width": 6, "depth": 2, **kw})


# ----------------------------------------------------------------------------------------
# Numpy oracles (one member at a time)


def crelu_channels(embed, blocks, head) -> list[np.ndarray]:
    """The residual net as a plain ReLU chain over its 2m CReLU channels (h = relu(h) - relu(-h))."""
    m = embed.shape[0]
    eye = np.eye(m)
    split = np.vstack([eye, -eye])  # h -> (h, -h), then relu
    mats = [split @ embed]
    for a, b in blocks:
        mats.append(split @ np.hstack([eye + a, -(eye + b)]))
    c, d = head
    mats.append(np.hstack([c, -d]))
    return mats


def improved_bound_matrix_product(embed, blocks, head) -> float:
    """phi_IB = 1^T max(|C|,|D|) prod_l (I + max(|A_l|,|B_l|)) |W_0| 1 by explicit products."""
    prod = np.abs(embed)
    for a, b in blocks:
        prod = (np.eye(a.shape[0]) + np.maximum(np.abs(a), np.abs(b))) @ prod
    c, d = head
    return float((np.maximum(np.abs(c), np.abs(d)) @ prod).sum())


def numpy_residual(model: CReLUResNet, e: int):
    embed, blocks, head = model.residual_weights()
    to = lambda t: t[e].detach().double().numpy()  # noqa: E731
    return to(embed), [(to(a), to(b)) for a, b in blocks], (to(head[0]), to(head[1]))


# ----------------------------------------------------------------------------------------
# Row norms and init


def test_every_psilon_layer_row_has_l1_norm_abs_g():
    net = mlp(depth=3)
    perturb_(net)
    for layer in net.hidden:
        rows = layer.weight_and_bias()[0].abs().sum(dim=-1)  # (E, out)
        torch.testing.assert_close(rows, layer.length.abs().view(-1, 1).expand_as(rows))
    out_rows = net.output.weight_and_bias()[0].abs().sum(dim=-1)
    torch.testing.assert_close(out_rows, net.output.length.abs().squeeze(-1))  # per output
    assert net.output.length.shape == (3, 3, 1) and net.hidden[0].length.shape == (3, 1, 1)


@pytest.mark.parametrize(("norm", "p"), [("l1", 1), ("l2", 2)])
def test_resnet_pairs_are_jointly_normalized(norm, p):
    net = resnet(norm=norm)
    perturb_(net)
    for block in [*net.blocks, net.head]:
        a, b = block.pair()
        rows = torch.linalg.vector_norm(torch.maximum(a.abs(), b.abs()), ord=p, dim=-1)
        torch.testing.assert_close(rows, block.length.abs().squeeze(-1).expand_as(rows))
    embed_rows = torch.linalg.vector_norm(net.embed.weight_and_bias()[0], ord=p, dim=-1)
    torch.testing.assert_close(embed_rows, net.embed.length.abs().view(-1, 1).expand_as(embed_rows))


def test_psilon_net_init_orthogonal_directions_unit_lengths_zero_biases():
    net = mlp(width=8, depth=2, d_in=8)
    for layer in net.layers:
        assert torch.all(layer.length == 1) and torch.all(layer.bias == 0)
    v = net.hidden[1].direction  # square (8, 8): orthogonal
    torch.testing.assert_close(
        v @ v.transpose(1, 2), torch.eye(8).expand(3, 8, 8), atol=1e-5, rtol=0
    )


def test_kaiming_lengths_reproduce_a_kaiming_uniform_layer():
    """EWN/SWN with Kaiming directions and `length_init=kaiming`: the first layer's effective
    weight IS nn.Linear's init draw (the baseline MLP's first weight for the same seed)."""
    reference = MLP(7, 2, width=5, depth=1, seeds=[4, 9])
    for length in ("per_unit", "exp_per_unit"):
        net = mlp(seeds=(4, 9), d_in=7, d_out=2, width=5, depth=1, norm="l2", length=length,
                  direction_init="kaiming_uniform", length_init="kaiming")  # fmt: skip
        w = net.hidden[0].weight_and_bias()[0]
        torch.testing.assert_close(w, reference.weights[0], rtol=1e-5, atol=1e-6)
    # EWN: unit-row directions, ||w_j||_2 = exp(a_j)
    v = net.hidden[0].direction
    torch.testing.assert_close(v.norm(dim=-1), torch.ones(2, 5))
    torch.testing.assert_close(w.norm(dim=-1), net.hidden[0].log_length.exp().squeeze(-1))


def test_ewn_default_init_has_unit_lengths_and_unit_rows():
    net = mlp(norm="l2", length="exp_per_unit", direction_init="kaiming_uniform")
    for layer in net.layers:
        assert torch.all(layer.log_length == 0)
        torch.testing.assert_close(
            layer.weight_and_bias()[0].norm(dim=-1), torch.ones(3, layer.fan_out)
        )


def test_all_zero_direction_row_gives_zero_weight_and_finite_gradient():
    for net in (mlp(), mlp(norm="l2"), resnet()):
        layer = net.layers[1]
        with torch.no_grad():
            layer.direction[0, 2] = 0.0
            layer.length.fill_(0.7)
        w = layer.weight_and_bias()[0]
        assert torch.all(w[0, 2] == 0) and torch.isfinite(w).all()
        net(torch.randn(3, 4, 5)).square().sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_fold_bias_puts_the_bias_inside_the_normalized_vector():
    folded, free = mlp(fold_bias=True), mlp()
    x = torch.randn(3, 10, 5)
    torch.testing.assert_close(folded(x), free(x))  # same init: biases 0
    perturb_(folded)
    for layer in folded.layers:
        w, b = layer.weight_and_bias()
        rows = w.abs().sum(dim=-1) + b.abs()  # ||(w_j, b_j)||_1 = |g_j|
        torch.testing.assert_close(rows, layer.length.abs().squeeze(-1).expand_as(rows))
    assert not folded.closed_form
    chain = path_norm_chain(folded.weight_matrices())
    torch.testing.assert_close(folded.path_norm(), chain)
    closed = folded.hidden[0].length.abs().flatten() * folded.hidden[1].length.abs().flatten()
    closed = closed * folded.output.length.abs().sum(dim=(1, 2))
    assert torch.all(chain <= closed * (1 + 1e-6))  # the biases take part of each row's mass


# ----------------------------------------------------------------------------------------
# Closed forms = chain = brute force


@pytest.mark.parametrize(("depth", "width"), [(2, 2), (2, 4), (3, 3)])
def test_psilon_net_closed_form_equals_chain_equals_brute_force(depth, width):
    net = mlp(d_in=3, d_out=2, width=width, depth=depth)
    perturb_(net, seed=depth * 10 + width)
    assert net.closed_form
    closed, chain = net.path_norm().detach(), path_norm_chain(net.weight_matrices()).detach()
    torch.testing.assert_close(closed, chain, rtol=1e-5, atol=0)
    for e in range(net.n_members):
        mats = [w[e].detach().double().numpy() for w in net.weight_matrices()]
        assert brute_force_path_norm(mats) == pytest.approx(float(closed[e]), rel=1e-5)


@pytest.mark.parametrize(("depth", "width"), [(2, 2), (2, 3), (3, 2)])
def test_psilon_resnet_closed_form_equals_chains_and_brute_force(depth, width):
    net = resnet(d_in=3, d_out=2, width=width, depth=depth)
    perturb_(net, seed=depth * 10 + width)
    assert net.closed_form
    embed, blocks, head = net.residual_weights()
    improved = residual_path_norm(embed, blocks, head, bound="improved").detach()
    torch.testing.assert_close(net.path_norm().detach(), improved, rtol=1e-5, atol=0)
    original = residual_path_norm(embed, blocks, head, bound="original").detach()
    for e in range(net.n_members):
        parts = numpy_residual(net, e)
        assert improved_bound_matrix_product(*parts) == pytest.approx(float(improved[e]), rel=1e-5)
        assert brute_force_path_norm(crelu_channels(*parts)) == pytest.approx(
            float(original[e]), rel=1e-5
        )


def test_path_norm_of_other_models_is_the_general_chain():
    for net in (mlp(norm="l2", length="per_unit"), mlp(length="per_unit"),
                mlp(norm="l2", length="exp_per_unit", output_layer="plain")):  # fmt: skip
        perturb_(net)
        assert not net.closed_form
        torch.testing.assert_close(net.path_norm(), path_norm_chain(net.weight_matrices()))


# ----------------------------------------------------------------------------------------
# Lipschitz bounds through the model's forward


def _random_pairs(net, n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(net.n_members, n, net.d_in, generator=gen, dtype=F64)
    y = x + torch.randn(x.shape, generator=gen, dtype=F64) * torch.rand(
        n, 1, generator=gen, dtype=F64
    )
    return x, y


NETS = {
    "psilon_net": lambda: mlp(),
    "standard_net": lambda: mlp(norm="l2", length="per_unit"),
    "ewn_plain_out": lambda: mlp(norm="l2", length="exp_per_unit", output_layer="plain"),
    "psilon_resnet": lambda: resnet(),
    "resnet_l2_ob": lambda: resnet(norm="l2", bound="original"),
    "resnet_l1_per_unit": lambda: resnet(length="per_unit"),
}


@pytest.mark.parametrize("name", NETS)
def test_lipschitz_bounds_hold_on_random_pairs_and_lower_bound_stays_below(name):
    net = NETS[name]().double()
    perturb_(net, seed=3, length_scale=0.8)
    x, y = _random_pairs(net)
    with torch.no_grad():
        lhs = (net(x) - net(y)).abs().sum(dim=-1)  # (E, n) ||f(x) - f(y)||_1
        dist = (x - y).abs().amax(dim=-1)  # ||x - y||_inf
        bounds = [net.path_norm()]
        if isinstance(net, CReLUResNet):
            embed, blocks, head = net.residual_weights()
            ib = residual_path_norm(embed, blocks, head, bound="improved")
            ob = residual_path_norm(embed, blocks, head, bound="original")
            assert torch.all(ib <= ob * (1 + 1e-12))  # phi_IB <= phi_OB
            bounds.append(ib)
    for bound in bounds:
        assert torch.all(lhs <= bound.unsqueeze(1) * dist * (1 + 1e-9))
    lower = empirical_lipschitz_lower_bound(net, x[:, :64], starts=2)
    assert torch.all(lower <= bounds[-1] * (1 + 1e-9)) and torch.all(lower > 0)


def test_improved_bound_is_below_original_on_random_residual_nets():
    for seed in range(5):
        net = resnet(width=5, depth=3, norm="l1" if seed % 2 else "l2").double()
        perturb_(net, seed=seed)
        embed, blocks, head = net.residual_weights()
        ib = residual_path_norm(embed, blocks, head, bound="improved")
        ob = residual_path_norm(embed, blocks, head, bound="original")
        assert torch.all(ib <= ob * (1 + 1e-12)) and torch.all(ib < ob)


def test_resnet_at_init_is_the_affine_map_c_w0():
    """Blocks start as the identity (length 0, B = A) and the head has D = C, so
    f(x) = C (W_0 x + b_0) + c: checked against the explicit product, for inputs of any sign."""
    net = resnet(d_in=4, d_out=3, width=7, depth=3).double()
    x = 3 * torch.randn(3, 50, 4, dtype=F64)
    c, d = net.head.pair()
    torch.testing.assert_close(c, d)
    w0 = net.embed.weight_and_bias()[0]
    expected = x @ (c @ w0).transpose(1, 2)  # biases are 0 at init
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected)
        net.embed.bias.normal_()
        net.head.bias.normal_()  # still affine with biases
        f = net(x)
        ref = (x @ w0.transpose(1, 2) + net.embed.bias.unsqueeze(1)) @ c.transpose(1, 2)
        torch.testing.assert_close(f, ref + net.head.bias.unsqueeze(1))


# ----------------------------------------------------------------------------------------
# Configuration: ablations, errors, registry


ABLATIONS = {
    "PSiLON": ["model=psilon_resnet"],
    "L1-IB": ["model=psilon_resnet", "model.length=per_unit"],
    "L2-IB": ["model=psilon_resnet", "model.norm=l2", "model.length=per_unit"],
    "L1-OB": ["model=psilon_resnet", "model.length=per_unit", "model.bound=original"],
    "L2-OB": ["model=psilon_resnet", "model.norm=l2", "model.bound=original"],
    "Standard": ["model=standard_net", "model.layout=residual", "regularizer=length_l2"],
}


@pytest.mark.parametrize("variant", ABLATIONS)
def test_ablation_variants_are_configurations(variant):
    cfg = compose_config(ABLATIONS[variant])
    net = models.build(cfg.model, d_in=4, d_out=3, seeds=[0, 1])
    assert isinstance(net, CReLUResNet)
    perturb_(net)
    embed, blocks, head = net.residual_weights()
    bound = "original" if "OB" in variant else "improved"
    torch.testing.assert_close(
        net.path_norm(), residual_path_norm(embed, blocks, head, bound=bound)
    )
    p = 2 if "L2" in variant or variant == "Standard" else 1
    a, b = net.blocks[0].pair()
    rows = torch.linalg.vector_norm(torch.maximum(a.abs(), b.abs()), ord=p, dim=-1)
    torch.testing.assert_close(rows, net.blocks[0].length.abs().squeeze(-1).expand_as(rows))
    penalty = regularizers.build(cfg.regularizer, torch.ones(2)).penalty(net)
    assert penalty is None or penalty.shape == (2,)


def test_model_registry_and_config_errors():
    assert {"psilon_net", "psilon_resnet", "standard_net", "swn_mlp", "ewn_mlp"} <= set(
        models.MODEL_NAMES
    )
    with pytest.raises(ConfigError, match="model.length=exp_per_unit"):
        cfg = compose_config(
            ["model=ewn_mlp", "model.layout=residual", "model.output_layer=normalized"]
        )
        models.build(cfg.model, 4, 3, [0])
    with pytest.raises(ConfigError, match="model.output_layer=plain"):
        cfg = compose_config(["model=psilon_resnet", "model.output_layer=plain"])
        models.build(cfg.model, 4, 3, [0])
    reg = regularizers.build(
        OmegaConf.structured(RegularizerConfig(name="length_l2")), torch.ones(1)
    )
    with pytest.raises(ConfigError, match="length_l2 needs a weight-normalized model"):
        reg.penalty(MLP(4, 3, width=5, depth=1, seeds=[0]))


def test_length_l2_is_the_sum_of_squared_unit_norms_for_l2_weight_norm():
    net = mlp(norm="l2", length="per_unit", depth=3)
    perturb_(net)
    expected = sum(w.square().sum(dim=(1, 2)) for w in net.weight_matrices())  # sum ||w_j||_2^2
    reg = regularizers.build(
        OmegaConf.structured(RegularizerConfig(name="length_l2")), torch.tensor([1.0, 2.0, 0.5])
    )
    torch.testing.assert_close(reg.penalty(net), torch.tensor([1.0, 2.0, 0.5]) * expected)


def reference_standard_resnet_penalty(net: CReLUResNet, e: int) -> float:
    """[PSiLON]'s reference Standard ResNet penalty, from the raw parameters (numpy): each
    layer's raw rows normalized by the L2 norm of `max(|u|, |u'|)` (embedder: `||v||_2`),
    times its lengths, then the sum of squares of every entry of `W_0`, `A_l`, `B_l`, `C`, `D`."""
    total = 0.0
    v = net.embed.direction[e].detach().double().numpy()
    g = net.embed.length[e].detach().double().numpy()  # (out, 1)
    total += float(((g * v / np.linalg.norm(v, axis=1, keepdims=True)) ** 2).sum())
    for layer in [*net.blocks, net.head]:
        u = layer.direction[e, :, 0].detach().double().numpy()  # (out, in)
        u_neg = layer.direction[e, :, 1].detach().double().numpy()
        g = layer.length[e].detach().double().numpy()
        n = np.sqrt((np.maximum(np.abs(u), np.abs(u_neg)) ** 2).sum(axis=1, keepdims=True))
        total += float(((g * u / n) ** 2).sum() + ((g * u_neg / n) ** 2).sum())
    return total


def test_standard_resnet_penalty_follows_the_reference_code():
    """docs/methods.md (Standard Net): on the CReLU layout length_l2 is sum ||A_j||^2 + ||B_j||^2 of the
    normalized halves (the reference code), 1-2x the sum of squared lengths."""
    cfg = compose_config(["model=standard_net", "model.layout=residual", "regularizer=length_l2"])
    net = models.build(cfg.model, d_in=5, d_out=3, seeds=[0, 1]).double()
    perturb_(net)
    strength = torch.tensor([1.0, 0.25], dtype=F64)
    penalty = regularizers.build(cfg.regularizer, strength).penalty(net)
    expected = [reference_standard_resnet_penalty(net, e) for e in range(2)]
    torch.testing.assert_close(penalty, strength * torch.tensor(expected, dtype=F64))
    lengths = sum(layer.squared_lengths() for layer in net.layers)  # the old, smaller rule
    assert torch.all(penalty / strength > 1.05 * lengths) and torch.all(
        penalty / strength <= 2 * lengths
    )


# ----------------------------------------------------------------------------------------
# Members: E = 3 equals three E = 1 models, before and after training


BUILDERS = {
    "psilon_net": lambda seeds: mlp(seeds),
    "standard_net": lambda seeds: mlp(seeds, norm="l2", length="per_unit"),
    "ewn_mlp": lambda seeds: mlp(seeds, norm="l2", length="exp_per_unit",
                                 direction_init="kaiming_uniform", length_init="kaiming"),
    "swn_plain_out": lambda seeds: mlp(seeds, norm="l2", length="per_unit", output_layer="plain"),
    "psilon_folded": lambda seeds: mlp(seeds, fold_bias=True),
    "psilon_resnet": lambda seeds: resnet(seeds),
    "resnet_l2_ob_folded": lambda seeds: resnet(seeds, norm="l2", bound="original", fold_bias=True),
}  # fmt: skip


@pytest.mark.parametrize("name", BUILDERS)
def test_three_members_equal_three_single_models(name):
    seeds = [3, 7, 11]
    x = torch.randn(60, 5, generator=torch.Generator().manual_seed(1))
    y = (x[:, 0] > x[:, 1]).long() + (x[:, 2] > 1).long()  # 3 classes
    strengths = [1e-3, 1e-2, 0.0]

    def train(seeds_, strength):
        net = BUILDERS[name](seeds_)
        E = len(seeds_)
        data = MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 3)
        reg = regularizers.build(OmegaConf.structured(RegularizerConfig(name="path_norm")),
                                 torch.tensor(strength))  # fmt: skip
        fit(net, data, seeds_, reg, OptimizerConfig(lr=1e-2), ScheduleConfig(),
            plan_steps(60, 16, None, 12))  # fmt: skip
        return net

    batched = train(seeds, strengths)
    for e, seed in enumerate(seeds):
        single = train([seed], [strengths[e]])
        for (key, pb), ps in zip(batched.named_parameters(), single.parameters()):
            torch.testing.assert_close(pb[e], ps[0], rtol=1e-4, atol=1e-5, msg=f"{key}")


def test_member_init_depends_only_on_its_seed():
    three, one = resnet([3, 7, 11]), resnet([7])
    for pb, ps in zip(three.parameters(), one.parameters()):
        torch.testing.assert_close(pb[1], ps[0], rtol=0, atol=0)
    assert (
        member_generators([7], "init")[0].initial_seed()
        == member_generators([3, 7], "init")[1].initial_seed()
    )


# ----------------------------------------------------------------------------------------
# Structure metrics on a model (the metric is the float64 chain; the regularizer the closed form)


def test_structure_metrics_of_a_psilon_net_and_a_diverged_member():
    net = mlp(seeds=(0, 1, 2), depth=2)
    perturb_(net)
    with torch.no_grad():
        net.hidden[0].direction[1, 0, 0] = float("nan")  # member 1 "diverged"
    x = torch.randn(3, 40, 5)
    cfg = OmegaConf.structured(MetricsConfig)
    cols = structure_metrics(net, x, cfg)
    for key in ["sparsity.exact", "sparsity.threshold_1e-3", "sparsity.threshold_1e-2", "sparsity.near",
                "sparsity.neuron", "path_norm", "lipschitz.spectral", "lipschitz.spectral_linf_l1",
                "lipschitz.lower", "lipschitz.tightness", "params.nonzero"]:  # fmt: skip
        assert cols[key].shape == (3,), key
    assert torch.isnan(cols["path_norm"][1]) and torch.isfinite(cols["path_norm"][[0, 2]]).all()
    closed = net.double().path_norm().detach()
    torch.testing.assert_close(cols["path_norm"][[0, 2]], closed[[0, 2]])
    assert torch.all(cols["lipschitz.tightness"][[0, 2]] >= 1)
    assert torch.all(cols["lipschitz.lower"][[0, 2]] <= cols["lipschitz.spectral_linf_l1"][[0, 2]])


def test_structure_metrics_of_a_resnet_report_both_bounds():
    net = resnet(seeds=(0, 1)).double()
    perturb_(net)
    cfg = OmegaConf.structured(MetricsConfig)
    cols = structure_metrics(net, torch.randn(2, 30, 5, dtype=F64), cfg)
    embed, blocks, head = net.residual_weights()
    torch.testing.assert_close(
        cols["path_norm.improved"], residual_path_norm(embed, blocks, head).detach()
    )
    torch.testing.assert_close(cols["path_norm"], cols["path_norm.original"])
    assert torch.all(cols["path_norm.improved"] < cols["path_norm.original"])
    torch.testing.assert_close(
        cols["lipschitz.tightness"], cols["path_norm.improved"] / cols["lipschitz.lower"]
    )


@pytest.mark.parametrize("bound", ["improved", "original"])
def test_residual_records_name_the_regularized_bound_and_every_tightness(bound):
    net = resnet(seeds=(0, 1), bound=bound).double()
    perturb_(net)
    cols = structure_metrics(
        net, torch.randn(2, 30, 5, dtype=F64), OmegaConf.structured(MetricsConfig)
    )
    embed, blocks, head = numpy_residual(net, 0)
    # the regularized bound is what regularizer=path_norm penalizes (net.path_norm()), and the
    # matching one of the two explicit formulas
    torch.testing.assert_close(cols["path_norm.regularized"], net.path_norm().detach())
    explicit_ib = improved_bound_matrix_product(embed, blocks, head)
    explicit_ob = brute_force_path_norm(crelu_channels(embed, blocks, head))
    expected = explicit_ib if bound == "improved" else explicit_ob
    assert cols["path_norm.regularized"][0].item() == pytest.approx(expected, rel=1e-9)
    assert cols["path_norm"][0].item() == pytest.approx(explicit_ob, rel=1e-9)  # README: phi_OB
    lower = cols["lipschitz.lower"]
    for name, value in [("path_norm.original", explicit_ob), ("path_norm.improved", explicit_ib),
                        ("path_norm.regularized", expected), ("path_norm", explicit_ob)]:  # fmt: skip
        ratio = cols[f"lipschitz.tightness.{name}"][0].item()
        assert ratio == pytest.approx(value / lower[0].item(), rel=1e-9) and ratio >= 1, name
    spectral = cols["lipschitz.tightness.spectral"]
    torch.testing.assert_close(spectral, cols["lipschitz.spectral_linf_l1"] / lower)
    assert torch.all(spectral >= 1)


def test_normalized_layers_are_found_by_type():
    assert len([m for m in resnet().modules() if isinstance(m, NormalizedLayer)]) == 4


def test_affine_with_contiguous_weight_gradient_matches_autograd():
    """members.affine's hand-written backward against autograd through torch.baddbmm."""
    from psilon_bench.models.members import affine

    gen = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)
               for s in [(3, 7, 4), (3, 5, 4), (3, 5)])  # fmt: skip
    torch.autograd.gradcheck(affine, (x, w, b))
    g = torch.randn(3, 7, 5, generator=gen, dtype=F64)
    ours = torch.autograd.grad(affine(x, w, b), (x, w, b), g)
    ref = torch.autograd.grad(torch.baddbmm(b.unsqueeze(1), x, w.mT), (x, w, b), g)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    assert ours[1].is_contiguous()


def test_affine_relu_matches_autograd_in_an_mlp():
    """affine_relu (mask applied in place on the incoming gradient) against relu(baddbmm)
    through autograd: gradcheck, and an MLP's gradients (its hidden layers use it)."""
    from psilon_bench.models.members import affine_relu
    from psilon_bench.models.mlp import MLP

    gen = torch.Generator().manual_seed(2)
    x, w, b = (torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)
               for s in [(2, 9, 4), (2, 6, 4), (2, 6)])  # fmt: skip
    torch.autograd.gradcheck(lambda *a: affine_relu(*a) * 1.0, (x, w, b))  # mul: fresh grad
    torch.autograd.gradcheck(lambda *a: affine_relu(*a).sum(), (x, w, b))  # sum: expanded grad
    net = MLP(5, 3, width=130, depth=2, seeds=[0, 1]).double()  # 130: the widening branch too
    data = torch.randn(2, 140, 5, generator=gen, dtype=F64)
    g = torch.randn(2, 140, 3, generator=gen, dtype=F64)
    ours = torch.autograd.grad(net(data), list(net.parameters()), g)
    h = data
    for i, layer in enumerate(net.layers):
        h = torch.baddbmm(layer.bias.unsqueeze(1), h, layer.weight.mT)
        h = torch.relu(h) if i < len(net.layers) - 1 else h
    ref = torch.autograd.grad(h, list(net.parameters()), g)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    first = torch.autograd.grad(affine_relu(x, w, b).square().sum(), w, create_graph=True)[0]
    with pytest.raises(RuntimeError, match="once_differentiable"):
        first.sum().backward()  # a double backward fails loudly instead of going wrong


def test_affine_weight_gradient_of_a_widening_layer_matches_autograd():
    """The widening-layer branch (`grad_W` as `(x^T G)^T`, >= 128 rows, out >= 2 in)."""
    from psilon_bench.models.members import _transposed_weight_grad, affine

    gen = torch.Generator().manual_seed(1)
    x, w, b = (torch.randn(*s, generator=gen, dtype=F64, requires_grad=True)
               for s in [(2, 130, 3), (2, 7, 3), (2, 7)])  # fmt: skip
    g = torch.randn(2, 130, 7, generator=gen, dtype=F64)
    assert _transposed_weight_grad(x, g)
    assert not _transposed_weight_grad(x[:, :127], g[:, :127])
    assert not _transposed_weight_grad(x, g[..., :5])
    torch.autograd.gradcheck(affine, (x, w, b))
    ours = torch.autograd.grad(affine(x, w, b), (x, w, b), g)
    ref = torch.autograd.grad(torch.baddbmm(b.unsqueeze(1), x, w.mT), (x, w, b), g)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    assert ours[1].is_contiguous()
