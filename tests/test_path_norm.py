"""Path-norms (docs/methods.md (path norm), §2.3) and Lipschitz metrics (§2.4) against independent oracles.

Oracles: explicit matrix products, brute-force enumeration of every input -> output path,
reference forwards written here from the formulas, and brute force over cube vertices.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from oracles import brute_force_path_norm

from psilon_bench.measure.lipschitz import (
    empirical_lipschitz_lower_bound,
    inf_to_one_norm,
    residual_spectral_product,
    spectral_product,
    spectral_to_linf_l1_factor,
    tightness,
)
from psilon_bench.regularizers.path_norm import path_norm_chain, residual_path_norm

F64 = torch.float64


# ----------------------------------------------------------------------------------------
# Oracles (numpy, one member at a time)


def matrix_product_path_norm(mats: list[np.ndarray]) -> float:
    """1^T |W_K| ... |W_1| 1 with explicit matrix products."""
    prod = np.abs(mats[0])
    for m in mats[1:]:
        prod = np.abs(m) @ prod
    return float(prod.sum())


def crelu_expanded(embed, blocks, head) -> list[np.ndarray]:
    """The residual net as a plain chain with the 2m CReLU channels as separate neurons.

    h -> (relu(h), relu(-h)) is [I; -I]; the block output is [I+A, -(I+B)] on the channels
    (since h = relu(h) - relu(-h)); the head is [C, -D].
    """
    m = embed.shape[0]
    eye = np.eye(m)
    split = np.vstack([eye, -eye])  # (2m, m)
    mats = [embed]
    for a, b in blocks:
        mats += [split, np.hstack([eye + a, -(eye + b)])]
    c, d = head
    return mats + [split, np.hstack([c, -d])]


def improved_bound_by_matrices(embed, blocks, head) -> float:
    """phi_IB = 1^T max(|C|,|D|) prod_l (I + max(|A_l|,|B_l|)) |W_0| 1, explicit products."""
    m = embed.shape[0]
    prod = np.abs(embed)
    for a, b in blocks:
        prod = (np.eye(m) + np.maximum(np.abs(a), np.abs(b))) @ prod
    c, d = head
    return float((np.maximum(np.abs(c), np.abs(d)) @ prod).sum())


def cube_inf_to_one(mat: np.ndarray) -> float:
    """||M||_{inf->1} = max over input cube vertices u of ||M u||_1 (the input side)."""
    best = 0.0
    for u in itertools.product((1.0, -1.0), repeat=mat.shape[1]):
        best = max(best, float(np.abs(mat @ np.array(u)).sum()))
    return best


# ----------------------------------------------------------------------------------------
# Random nets and reference forwards (stacked: (E, out, in))


def random_mlp(widths, members, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    weights = [
        scale * torch.randn(members, n_out, n_in, generator=g, dtype=F64)
        for n_in, n_out in zip(widths[:-1], widths[1:])
    ]
    biases = [0.3 * torch.randn(members, n_out, generator=g, dtype=F64) for n_out in widths[1:]]
    return weights, biases


def mlp_forward(weights, biases, x):
    """h_1 = W_1 x + b_1, h_l = W_l relu(h_{l-1}) + b_l (METHODS §1.1); x (E, B, d_in)."""
    h = x
    for k, (w, b) in enumerate(zip(weights, biases)):
        if k > 0:
            h = torch.relu(h)
        h = torch.einsum("eoi,ebi->ebo", w, h) + b[:, None, :]
    return h


def random_resnet(d_in, m, d_out, depth, members, seed, scale=0.6):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return scale * torch.randn(members, *shape, generator=g, dtype=F64)

    embed, b0 = rnd(m, d_in), rnd(m)
    blocks = [(rnd(m, m), rnd(m, m)) for _ in range(depth)]
    block_biases = [rnd(m) for _ in range(depth)]
    head, c = (rnd(d_out, m), rnd(d_out, m)), rnd(d_out)
    return embed, b0, blocks, block_biases, head, c


def resnet_forward(embed, b0, blocks, block_biases, head, c, x):
    """METHODS §1.4: h_0 = W_0 x + b_0, h_l = h + A relu(h) - B relu(-h) + b_l, f = C relu(h) - D relu(-h) + c."""

    def lin(w, h):
        return torch.einsum("eoi,ebi->ebo", w, h)

    h = lin(embed, x) + b0[:, None, :]
    for (a, b), bias in zip(blocks, block_biases):
        h = h + lin(a, torch.relu(h)) - lin(b, torch.relu(-h)) + bias[:, None, :]
    cc, dd = head
    return lin(cc, torch.relu(h)) - lin(dd, torch.relu(-h)) + c[:, None, :]


def to_np(t, e):
    return t[e].detach().numpy()


# ----------------------------------------------------------------------------------------
# §2.1 general chain

MLP_SHAPES = [(2, 3, 2), (3, 2, 4, 2), (2, 4, 3, 2, 3), (4, 1, 3)]


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("widths", MLP_SHAPES)
def test_chain_equals_matrix_product_and_path_enumeration(widths, members):
    weights, _ = random_mlp(widths, members, seed=len(widths) + members)
    weights[0][0, 0, :] = 0.0  # exact zeros must not matter
    phi = path_norm_chain(weights)
    assert phi.shape == (members,)
    assert phi.dtype == F64
    for e in range(members):
        mats = [to_np(w, e) for w in weights]
        assert phi[e].item() == pytest.approx(matrix_product_path_norm(mats), rel=1e-12)
        assert phi[e].item() == pytest.approx(brute_force_path_norm(mats), rel=1e-12)


def test_chain_dtype_gradient_and_vmap():
    weights, _ = random_mlp((3, 4, 2), 2, seed=7)
    w32 = [w.float() for w in weights]
    assert path_norm_chain(w32).dtype == torch.float32
    # differentiable: d phi / d W_1[j, i] = sign(W_1[j, i]) * (1^T |W_2|)_j
    params = [w.clone().requires_grad_(True) for w in weights]
    path_norm_chain(params).sum().backward()
    expected = torch.sign(weights[0]) * weights[1].abs().sum(dim=1)[:, :, None]
    torch.testing.assert_close(params[0].grad, expected)
    assert torch.autograd.gradcheck(lambda a, b: path_norm_chain([a, b]), tuple(params))
    # one member at a time under vmap gives the stacked result
    per_member = torch.func.vmap(lambda a, b: path_norm_chain([a, b]))(*weights)
    torch.testing.assert_close(per_member, path_norm_chain(weights))


def test_chain_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="weights\\[1\\] must take 4 inputs"):
        path_norm_chain([torch.ones(1, 4, 3), torch.ones(1, 2, 5)])


# ----------------------------------------------------------------------------------------
# §2.3 residual bounds

RES_SHAPES = [(2, 2, 2, 1), (2, 2, 1, 2), (3, 2, 2, 0), (1, 3, 1, 1)]  # d_in, m, d_out, depth


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("shape", RES_SHAPES)
def test_residual_bounds_equal_enumeration_and_matrices(shape, members):
    d_in, m, d_out, depth = shape
    embed, _, blocks, _, head, _ = random_resnet(d_in, m, d_out, depth, members, seed=sum(shape))
    phi_ob = residual_path_norm(embed, blocks, head, "original")
    phi_ib = residual_path_norm(embed, blocks, head, "improved")
    assert phi_ob.shape == phi_ib.shape == (members,)
    for e in range(members):
        np_blocks = [(to_np(a, e), to_np(b, e)) for a, b in blocks]
        np_head = (to_np(head[0], e), to_np(head[1], e))
        expanded = crelu_expanded(to_np(embed, e), np_blocks, np_head)
        assert phi_ob[e].item() == pytest.approx(brute_force_path_norm(expanded), rel=1e-12)
        ib = improved_bound_by_matrices(to_np(embed, e), np_blocks, np_head)
        assert phi_ib[e].item() == pytest.approx(ib, rel=1e-12)


def test_improved_bound_below_original():
    for seed in range(20):
        embed, _, blocks, _, head, _ = random_resnet(3, 5, 2, 3, 4, seed=seed)
        phi_ob = residual_path_norm(embed, blocks, head, "original")
        phi_ib = residual_path_norm(embed, blocks, head, "improved")
        assert torch.all(phi_ib <= phi_ob * (1 + 1e-12))
    # looks-linear init (A = B = 0, D = C): IB is the plain path-norm of C W_0, OB twice it
    embed, _, _, _, head, _ = random_resnet(3, 4, 2, 0, 2, seed=3)
    c = head[0]
    zero = torch.zeros(2, 4, 4, dtype=F64)
    blocks = [(zero, zero)] * 2
    ib = residual_path_norm(embed, blocks, (c, c), "improved")
    ob = residual_path_norm(embed, blocks, (c, c), "original")
    torch.testing.assert_close(ib, path_norm_chain([embed, c]))
    torch.testing.assert_close(ob, 2**3 * ib)  # (|I| + |I|) per block, |C| + |C| at the head


def test_residual_rejects_bad_bound_and_shapes():
    embed, _, blocks, _, head, _ = random_resnet(2, 3, 2, 1, 1, seed=0)
    with pytest.raises(ValueError, match="bound must be"):
        residual_path_norm(embed, blocks, head, "tight")
    with pytest.raises(ValueError, match="head must be"):
        residual_path_norm(embed, blocks, (head[0][..., :2], head[1]), "improved")


# ----------------------------------------------------------------------------------------
# Lipschitz validity: ||f(x) - f(y)||_1 <= phi ||x - y||_inf, and lower <= bound


def random_pairs(members, n, d_in, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(members, n, d_in, generator=g, dtype=F64)
    scales = 10.0 ** torch.empty(members, n, 1, dtype=F64).uniform_(-3, 0.5, generator=g)
    y = x + scales * torch.randn(members, n, d_in, generator=g, dtype=F64)
    return x, y


@pytest.mark.parametrize("widths", [(3, 5, 2), (4, 6, 6, 3), (2, 8, 1)])
def test_mlp_path_norm_bounds_differences_and_lower_bound(widths):
    members = 3
    weights, biases = random_mlp(widths, members, seed=11)
    phi = path_norm_chain(weights)
    x, y = random_pairs(members, 400, widths[0], seed=12)
    diff = (mlp_forward(weights, biases, x) - mlp_forward(weights, biases, y)).abs().sum(-1)
    gap = (x - y).abs().amax(-1)
    assert torch.all(diff <= phi[:, None] * gap * (1 + 1e-12))

    def f(z):
        return mlp_forward(weights, biases, z)

    lower = empirical_lipschitz_lower_bound(f, x, starts=4)
    assert lower.shape == (members,) and lower.dtype == F64
    assert torch.all(lower > 0)
    assert torch.all(lower <= phi * (1 + 1e-12))
    spectral = spectral_product(weights) * spectral_to_linf_l1_factor(widths[0], widths[-1])
    assert torch.all(lower <= spectral * (1 + 1e-12))
    assert torch.all(tightness(phi, lower) >= 1.0)


def test_path_norm_is_tight_for_nonnegative_active_net():
    """Non-negative weights, positive biases and a positive step of eps * 1: every ReLU stays
    active and every path adds up, so ||f(x + eps 1) - f(x)||_1 = phi * eps exactly."""
    weights, _ = random_mlp((3, 4, 4, 2), 2, seed=5)
    weights = [w.abs() for w in weights]
    biases = [torch.full((2, w.shape[1]), 1.0, dtype=F64) for w in weights]
    x = torch.rand(2, 1, 3, dtype=F64)
    eps = 1e-3
    diff = (mlp_forward(weights, biases, x + eps) - mlp_forward(weights, biases, x)).abs().sum(-1)
    torch.testing.assert_close(diff[:, 0], path_norm_chain(weights) * eps)
    lower = empirical_lipschitz_lower_bound(lambda z: mlp_forward(weights, biases, z), x, 2)
    torch.testing.assert_close(lower, path_norm_chain(weights))


@pytest.mark.parametrize("shape", [(3, 4, 2, 2), (2, 5, 3, 3), (4, 3, 1, 1)])
def test_residual_bounds_are_lipschitz_bounds(shape):
    d_in, m, d_out, depth = shape
    members = 3
    net = random_resnet(d_in, m, d_out, depth, members, seed=21)
    embed, _, blocks, _, head, _ = net
    phi_ib = residual_path_norm(embed, blocks, head, "improved")
    phi_ob = residual_path_norm(embed, blocks, head, "original")
    x, y = random_pairs(members, 400, d_in, seed=22)
    diff = (resnet_forward(*net, x) - resnet_forward(*net, y)).abs().sum(-1)
    gap = (x - y).abs().amax(-1)
    assert torch.all(diff <= phi_ib[:, None] * gap * (1 + 1e-12))
    assert torch.all(diff <= phi_ob[:, None] * gap * (1 + 1e-12))
    # l_2 -> l_2 spectral bound on the same pairs
    spec = residual_spectral_product(embed, blocks, head)
    diff2 = (resnet_forward(*net, x) - resnet_forward(*net, y)).norm(dim=-1)
    assert torch.all(diff2 <= spec[:, None] * (x - y).norm(dim=-1) * (1 + 1e-12))

    lower = empirical_lipschitz_lower_bound(lambda z: resnet_forward(*net, z), x, starts=4)
    assert torch.all(lower > 0)
    assert torch.all(lower <= phi_ib * (1 + 1e-12))
    assert torch.all(lower <= spec * spectral_to_linf_l1_factor(d_in, d_out) * (1 + 1e-12))


def top_singular_value(mat: np.ndarray) -> float:
    return float(np.linalg.svd(mat, compute_uv=False)[0])


def test_spectral_products_match_numpy_svd():
    weights, _ = random_mlp((4, 3, 5, 2), 3, seed=1)
    got = spectral_product(weights)
    for e in range(3):
        ref = math.prod(top_singular_value(to_np(w, e)) for w in weights)
        assert got[e].item() == pytest.approx(ref, rel=1e-10)
    embed, _, blocks, _, head, _ = random_resnet(3, 4, 2, 2, 2, seed=2)
    got = residual_spectral_product(embed, blocks, head)
    for e in range(2):
        ref = top_singular_value(to_np(embed, e))
        for a, b in blocks:
            ref *= 1 + top_singular_value(np.hstack([to_np(a, e), -to_np(b, e)]))
        ref *= top_singular_value(np.hstack([to_np(head[0], e), -to_np(head[1], e)]))
        assert got[e].item() == pytest.approx(ref, rel=1e-10)
    assert spectral_to_linf_l1_factor(4, 9) == 6.0


# ----------------------------------------------------------------------------------------
# Empirical lower bound on linear nets equals ||W||_{inf->1} by brute force


@pytest.mark.parametrize("d_out", [1, 2, 5])
def test_lower_bound_of_linear_net_is_inf_to_one_norm(d_out):
    members, d_in = 3, 6
    weights, biases = random_mlp((d_in, d_out), members, seed=d_out)  # depth 0: linear
    x = torch.randn(members, 7, d_in, dtype=F64)
    lower = empirical_lipschitz_lower_bound(lambda z: mlp_forward(weights, biases, z), x, 3)
    for e in range(members):
        assert lower[e].item() == pytest.approx(cube_inf_to_one(to_np(weights[0], e)), rel=1e-12)
    if d_out == 1:  # one output: exactly ||grad f||_1 = ||w||_1
        torch.testing.assert_close(lower, weights[0].abs().sum(dim=(1, 2)))
    # linear path-norm is the entrywise L1 norm, an upper bound
    assert torch.all(lower <= path_norm_chain(weights) * (1 + 1e-12))


def test_lower_bound_of_identity_like_residual_net():
    """Blocks at init (A = B = 0) and D = C: f(x) = C W_0 x + const, a linear map."""
    embed, b0, _, _, head, c = random_resnet(4, 3, 3, 0, 2, seed=9)
    zero = torch.zeros(2, 3, 3, dtype=F64)
    net = (embed, b0, [(zero, zero)], [torch.zeros(2, 3, dtype=F64)], (head[0], head[0]), c)
    x = torch.randn(2, 5, 4, dtype=F64)
    lower = empirical_lipschitz_lower_bound(lambda z: resnet_forward(*net, z), x, 3)
    for e in range(2):
        mat = to_np(head[0], e) @ to_np(embed, e)
        assert lower[e].item() == pytest.approx(cube_inf_to_one(mat), rel=1e-12)


def test_sign_iteration_for_many_outputs():
    """d_out > 12 uses the alternating sign iteration: never above the exact value, never
    below its s = 1 start, and exact for one output."""
    g = torch.Generator().manual_seed(0)
    jac = torch.randn(2, 3, 14, 8, generator=g, dtype=F64)  # (E, B, d_out, d_in)
    approx = inf_to_one_norm(jac, starts=8, iters=10, generator=g)
    start_value = jac.sum(dim=-2).abs().sum(dim=-1)  # ||J^T 1||_1
    for e, b in itertools.product(range(2), range(3)):
        exact = cube_inf_to_one(jac[e, b].numpy())
        assert approx[e, b].item() <= exact * (1 + 1e-12)
        assert approx[e, b].item() >= start_value[e, b].item() * (1 - 1e-12)
        assert approx[e, b].item() >= 0.9 * exact
    exact_by_enumeration = inf_to_one_norm(jac[..., :5, :])
    for e, b in itertools.product(range(2), range(3)):
        assert exact_by_enumeration[e, b].item() == pytest.approx(
            cube_inf_to_one(jac[e, b, :5].numpy()), rel=1e-12
        )
    one = inf_to_one_norm(jac[..., :1, :], starts=2, exact_max_outputs=0, generator=g)
    torch.testing.assert_close(one, jac[..., 0, :].abs().sum(-1))


def test_lower_bound_iteration_path_through_model():
    weights, biases = random_mlp((5, 7, 14), 2, seed=4)
    x = torch.randn(2, 6, 5, dtype=F64, generator=torch.Generator().manual_seed(5))

    def f(z):
        return mlp_forward(weights, biases, z)

    g = torch.Generator().manual_seed(1)
    lower = empirical_lipschitz_lower_bound(f, x, starts=6, generator=g)
    assert torch.all(lower <= path_norm_chain(weights) * (1 + 1e-12))
    exact = empirical_lipschitz_lower_bound(f, x, starts=0, exact_max_outputs=14)
    assert torch.all(lower <= exact * (1 + 1e-12)) and torch.all(lower >= 0.9 * exact)


def test_tightness_ratio():
    torch.testing.assert_close(
        tightness(torch.tensor([4.0, 3.0]), torch.tensor([2.0, 3.0], dtype=F64)),
        torch.tensor([2.0, 1.0], dtype=F64),
    )


def test_residual_path_norm_dtype_gradient_and_vmap():
    embed, _, blocks, _, head, _ = random_resnet(3, 4, 2, 2, 3, seed=8)
    (a1, b1), (a2, b2) = blocks
    for bound in ("improved", "original"):

        def one(w0, a1, b1, a2, b2, c, d, bound=bound):
            return residual_path_norm(w0, [(a1, b1), (a2, b2)], (c, d), bound)

        args = (embed, a1, b1, a2, b2, *head)
        torch.testing.assert_close(torch.func.vmap(one)(*args), one(*args))
        assert one(*(t.float() for t in args)).dtype == torch.float32
        params = tuple(t.clone().requires_grad_(True) for t in args)
        assert torch.autograd.gradcheck(lambda *p: one(*p).sum(), params)
