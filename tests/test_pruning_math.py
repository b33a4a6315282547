"""Pruning math of docs/methods.md (pruning) against sort-free references written here."""

import math

import numpy as np
import pytest
import torch

from psilon_bench.models.projection import (
    blended_direction,
    crelu_pair_norm,
    crelu_pair_projection,
    l1_sphere_projection,
    psilon_projection_target,
    relative_scale,
)
from psilon_bench.pruning.ops import magnitude_mask, neuron_norm_mask, prune_blend

F64 = torch.float64


def bisection_tau(a: np.ndarray, radius: float) -> float:
    """tau >= 0 with sum max(a - tau, 0) = radius, by bisection (a >= 0, sum(a) >= radius)."""
    lo, hi = 0.0, float(a.max())
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.maximum(a - mid, 0).sum() > radius:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def reference_projection(v: np.ndarray, radius: float) -> np.ndarray:
    """Row-wise projection onto the L1 sphere via a bisection tau (no sort)."""
    flat = v.reshape(-1, v.shape[-1])
    out = np.empty_like(flat)
    for i, row in enumerate(flat):
        tau = bisection_tau(np.abs(row), radius)
        out[i] = np.sign(row) * np.maximum(np.abs(row) - tau, 0)
    return out.reshape(v.shape)


SHAPES = [(7,), (3, 5), (1, 4, 9), (3, 6, 50), (2, 3, 1), (4, 2, 2, 8)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", [1.0, 0.3, 2.5])
def test_projection_matches_bisection_reference(shape, radius):
    g = torch.Generator().manual_seed(len(shape) * 10 + int(radius * 10))
    v = torch.randn(*shape, generator=g, dtype=F64)
    v = v * (3 * radius / v.abs().sum(-1, keepdim=True))  # ||v||_1 = 3 radius >= radius
    got = l1_sphere_projection(v, radius)
    assert got.shape == v.shape and got.dtype == F64
    np.testing.assert_allclose(got.numpy(), reference_projection(v.numpy(), radius), atol=1e-12)
    torch.testing.assert_close(got.abs().sum(-1), torch.full(shape[:-1], radius, dtype=F64))
    assert torch.all((got == 0) | (torch.sign(got) == torch.sign(v)))  # signs kept
    if shape[-1] >= 5:
        assert (got == 0).any()  # cutting 2/3 of the mass leaves exact zeros


def test_projection_float32_and_ties_and_vmap():
    v = torch.tensor([[0.5, -0.5, 0.5, 0.25, 0.0, 0.1]], dtype=torch.float32) * 3
    got = l1_sphere_projection(v)
    assert got.dtype == torch.float32
    assert got.abs().sum().item() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(
        got.numpy(), reference_projection(v.double().numpy(), 1.0), atol=1e-6
    )
    torch.testing.assert_close(got[0, :3].abs(), torch.full((3,), 1 / 3))  # ties treated alike
    assert got[0, 3:].abs().sum() == 0
    stacked = torch.randn(3, 4, 10, dtype=F64) * 2
    torch.testing.assert_close(
        torch.func.vmap(l1_sphere_projection)(stacked), l1_sphere_projection(stacked)
    )


def test_projection_inside_ball_and_zero_rows():
    inside = torch.tensor([[0.2, -0.1, 0.0, 0.3]], dtype=F64)  # ||.||_1 = 0.6 < 1
    torch.testing.assert_close(l1_sphere_projection(inside), inside)
    on_sphere = inside / 0.6
    torch.testing.assert_close(l1_sphere_projection(on_sphere), on_sphere)
    zeros = torch.zeros(2, 3, 5, dtype=F64)
    out = l1_sphere_projection(zeros)
    assert torch.equal(out, zeros) and not torch.isnan(out).any()
    with pytest.raises(ValueError, match="radius"):
        l1_sphere_projection(inside, 0.0)


def test_psilon_target_scale_free_and_scale_one_prunes_nothing():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(3, 5, 20, generator=g, dtype=F64)
    target = psilon_projection_target(v, 2.0)
    torch.testing.assert_close(psilon_projection_target(1e4 * v, 2.0), target)
    torch.testing.assert_close(target.abs().sum(-1), torch.ones(3, 5, dtype=F64))
    ref = reference_projection((2.0 * v / v.abs().sum(-1, keepdim=True)).numpy(), 1.0)
    np.testing.assert_allclose(target.numpy(), ref, atol=1e-12)
    unit = v / v.abs().sum(-1, keepdim=True)
    torch.testing.assert_close(psilon_projection_target(v, 1.0), unit)
    # larger s cuts more
    zeros = [(psilon_projection_target(v, s) == 0).sum().item() for s in (1.0, 1.5, 2.0, 5.0)]
    assert zeros == sorted(zeros) and zeros[0] == 0 and zeros[-1] > zeros[1]
    # all-zero direction stays zero
    v[0, 0] = 0.0
    assert torch.equal(psilon_projection_target(v, 2.0)[0, 0], torch.zeros(20, dtype=F64))
    with pytest.raises(ValueError, match="scale"):
        psilon_projection_target(v, 0.5)


def test_crelu_pair_projection_against_reference():
    g = torch.Generator().manual_seed(4)
    u = torch.randn(3, 6, 12, generator=g, dtype=F64)
    u_neg = torch.randn(3, 6, 12, generator=g, dtype=F64)
    scale = 2.5
    t, t_neg = crelu_pair_projection(u, u_neg, scale)
    un, unn = u.numpy(), u_neg.numpy()
    n = np.maximum(np.abs(un), np.abs(unn)).sum(-1, keepdims=True)
    x, xn = scale * np.abs(un) / n, scale * np.abs(unn) / n
    ref_t, ref_tn = np.empty_like(x), np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):
        tau = bisection_tau(np.maximum(x[idx], xn[idx]), 1.0)
        ref_t[idx] = np.sign(un[idx]) * np.maximum(x[idx] - tau, 0)
        ref_tn[idx] = np.sign(unn[idx]) * np.maximum(xn[idx] - tau, 0)
    np.testing.assert_allclose(t.numpy(), ref_t, atol=1e-12)
    np.testing.assert_allclose(t_neg.numpy(), ref_tn, atol=1e-12)
    joint = torch.maximum(t.abs(), t_neg.abs()).sum(-1)
    torch.testing.assert_close(joint, torch.ones(3, 6, dtype=F64))
    assert (t == 0).any() and (t_neg == 0).any()
    # looks-linear pair (u' = u): both halves get the single-vector target
    same, same_neg = crelu_pair_projection(u, u.clone(), scale)
    torch.testing.assert_close(same, psilon_projection_target(u, scale))
    torch.testing.assert_close(same_neg, same)


def test_scale_aware_target_cuts_exactly_the_entries_below_the_relative_threshold():
    """pruning.scale=null: per row, zero the entries with |v_i|/||v||_1 <= threshold/d, keep
    the rest soft-thresholded by threshold/d and renormalized (numpy, row by row)."""
    g = torch.Generator().manual_seed(5)
    v = (
        torch.randn(3, 4, 50, generator=g, dtype=F64)
        * torch.rand(3, 4, 50, generator=g, dtype=F64) ** 3
    )
    for threshold in (0.1, 0.5):
        target = psilon_projection_target(v, None, threshold)
        vn = v.numpy()
        p = np.abs(vn) / np.abs(vn).sum(-1, keepdims=True)
        cut = threshold / vn.shape[-1]
        kept = np.maximum(p - cut, 0)
        ref = np.sign(vn) * kept / kept.sum(-1, keepdims=True)
        np.testing.assert_allclose(target.numpy(), ref, atol=1e-12)
        assert torch.equal(target == 0, torch.from_numpy(p <= cut))
        # it is the docs/methods.md (pruning) projection P(s v/||v||_1) with s = relative_scale per row
        s = relative_scale(torch.from_numpy(p), threshold)
        np.testing.assert_allclose(s.numpy(), 1 / kept.sum(-1, keepdims=True), rtol=1e-12)
        assert torch.all(s >= 1)
        ref_proj = reference_projection(s.numpy() * vn / np.abs(vn).sum(-1, keepdims=True), 1.0)
        np.testing.assert_allclose(target.numpy(), ref_proj, atol=1e-12)
    # scale-free, and a dense Gaussian row loses only P(|z| <= 0.1 E|z|) ~ 6.4 % of its entries
    torch.testing.assert_close(
        psilon_projection_target(1e3 * v, None), psilon_projection_target(v, None)
    )
    dense = torch.randn(200, 1000, generator=g, dtype=F64)
    frac = (psilon_projection_target(dense, None, 0.1) == 0).double().mean().item()
    expected = math.erf(0.1 * math.sqrt(2 / math.pi) / math.sqrt(2))
    assert frac == pytest.approx(expected, abs=0.003)
    assert (psilon_projection_target(dense, 2.0) == 0).double().mean().item() > 0.3  # fixed s
    # CReLU pairs: the rule on max(|u|, |u'|) / n, applied to both halves (numpy)
    u, u_neg = v, torch.randn(3, 4, 50, generator=g, dtype=F64)
    t, t_neg = crelu_pair_projection(u, u_neg, None, 0.1)
    un, unn = u.numpy(), u_neg.numpy()
    n = np.maximum(np.abs(un), np.abs(unn)).sum(-1, keepdims=True)
    x, xn, cut = np.abs(un) / n, np.abs(unn) / n, 0.1 / 50
    kept = np.maximum(np.maximum(x, xn) - cut, 0).sum(-1, keepdims=True)
    np.testing.assert_allclose(t.numpy(), np.sign(un) * np.maximum(x - cut, 0) / kept, atol=1e-12)
    np.testing.assert_allclose(
        t_neg.numpy(), np.sign(unn) * np.maximum(xn - cut, 0) / kept, atol=1e-12
    )
    with pytest.raises(ValueError, match="threshold"):
        psilon_projection_target(v, None, 1.0)


def test_prune_blend_schedule():
    assert prune_blend(0, 80, 10) == 0.0
    assert prune_blend(79, 80, 10) == 0.0
    assert prune_blend(80, 80, 10) == 0.0
    assert prune_blend(85, 80, 10) == 0.5
    assert prune_blend(90, 80, 10) == 1.0
    assert prune_blend(1000, 80, 10) == 1.0
    assert prune_blend(79, 80, 0) == 0.0
    assert prune_blend(80, 80, 0) == 1.0  # ramp 0: jump


@pytest.mark.parametrize("members", [1, 3])
def test_blend_keeps_l1_norm_equal_to_length(members):
    g = torch.Generator().manual_seed(5)
    v = torch.randn(members, 7, 15, generator=g, dtype=F64)
    length = torch.tensor([-1.7, 0.4, 2.0][:members], dtype=F64).reshape(members, 1, 1)
    target = psilon_projection_target(v, 3.0)
    for a in np.linspace(0.0, 1.0, 11):
        w = length * blended_direction(v, target, float(a))
        torch.testing.assert_close(
            w.abs().sum(-1), length.abs().reshape(members, 1).expand(members, 7), rtol=1e-14, atol=0
        )
    torch.testing.assert_close(blended_direction(v, target, 1.0), target)
    torch.testing.assert_close(blended_direction(v, target, 0.0), v / v.abs().sum(-1, keepdim=True))
    # a per member, as a tensor
    a = torch.tensor([0.0, 0.5, 1.0][:members], dtype=F64).reshape(members, 1, 1)
    torch.testing.assert_close(
        blended_direction(v, target, a).abs().sum(-1), torch.ones(members, 7, dtype=F64)
    )
    # CReLU pair: max(|w|, |w'|) keeps unit row norm for every a
    u_neg = torch.randn(members, 7, 15, generator=g, dtype=F64)
    t, t_neg = crelu_pair_projection(v, u_neg, 3.0)
    norm = crelu_pair_norm(v, u_neg)
    for a in np.linspace(0.0, 1.0, 11):
        w = blended_direction(v, t, float(a), norm)
        w_neg = blended_direction(u_neg, t_neg, float(a), norm)
        joint = torch.maximum(w.abs(), w_neg.abs()).sum(-1)
        torch.testing.assert_close(joint, torch.ones(members, 7, dtype=F64), rtol=1e-14, atol=0)


def test_magnitude_mask_global_and_per_layer():
    g = torch.Generator().manual_seed(6)
    w1 = torch.randn(2, 10, 8, generator=g, dtype=F64)  # 80 entries
    w2 = 10 * torch.randn(2, 4, 10, generator=g, dtype=F64)  # 40 entries, larger scale
    w2[1] *= 0.001  # member 1: now layer 2 is the small one
    masks = magnitude_mask([w1, w2], 0.5, "global")
    assert [m.shape for m in masks] == [w1.shape, w2.shape] and masks[0].dtype == torch.bool
    kept = masks[0].flatten(1).sum(1) + masks[1].flatten(1).sum(1)
    assert kept.tolist() == [60, 60]
    for e in range(2):
        mags = torch.cat([w1[e].abs().flatten(), w2[e].abs().flatten()])
        keep = torch.cat([masks[0][e].flatten(), masks[1][e].flatten()])
        assert mags[~keep].max() <= mags[keep].min()  # one threshold per member
    # global: member 0 prunes mostly layer 1, member 1 mostly layer 2
    assert masks[0][0].sum() < masks[1][0].sum() * 2
    assert masks[1][1].sum() < 20
    layer = magnitude_mask([w1, w2], 0.5, "layer")
    assert layer[0].flatten(1).sum(1).tolist() == [40, 40]
    assert layer[1].flatten(1).sum(1).tolist() == [20, 20]
    for w, m in zip([w1, w2], layer):
        for e in range(2):
            assert w[e].abs()[~m[e]].max() <= w[e].abs()[m[e]].min()
    # ties (exact zeros, equal magnitudes) still give the exact count
    tied = torch.zeros(1, 3, 4)
    tied[0, 0] = 1.0
    assert magnitude_mask([tied], 0.25, "global")[0].sum().item() == 9
    assert magnitude_mask([tied], 0.0, "layer")[0].all()
    assert magnitude_mask([w1], 0.3, "global")[0].flatten(1).sum(1).tolist() == [56, 56]
    with pytest.raises(ValueError, match="scope"):
        magnitude_mask([w1], 0.5, "network")


@pytest.mark.parametrize(("n", "q"), [(10, 0.25), (10, 0.95), (1024, 0.9), (7, 0.5), (256, 0.8)])
def test_neuron_norm_mask_truncates_the_count_as_the_reference(n, q):
    """[EWN]'s reference prunes int(q * n) neurons (0.25 of 10: 2, where rounding gives 3)."""
    w = torch.randn(2, n, 4, generator=torch.Generator().manual_seed(n), dtype=F64)
    dropped = (~neuron_norm_mask(w, q)).sum(dim=-1)
    assert dropped.tolist() == [int(q * n)] * 2


def test_neuron_norm_mask_removes_smallest_units():
    w = torch.tensor(
        [
            [[3.0, 0.0], [0.1, 0.1], [1.0, 1.0], [0.0, 0.0]],  # L2 norms 3, .14, 1.41, 0
            [[1.0, 1.0], [0.0, 1.2], [5.0, 0.0], [0.2, 0.0]],  # L2 norms 1.41, 1.2, 5, .2
        ]
    )  # (E=2, out=4, in=2)
    keep = neuron_norm_mask(w, 0.5)
    assert keep.shape == (2, 4) and keep.dtype == torch.bool
    assert keep.tolist() == [[True, False, True, False], [True, False, True, False]]
    # L1 order differs for member 1: ||[1,1]||_1 = 2 > ||[0,1.2]||_1 = 1.2 still, change p
    keep_inf = neuron_norm_mask(w, 0.25, p=float("inf"))
    assert keep_inf.tolist() == [[True, True, True, False], [True, True, True, False]]
    w2 = torch.tensor([[[0.9, 0.9], [1.5, 0.0]]])  # L1: 1.8 vs 1.5; L2: 1.27 vs 1.5
    assert neuron_norm_mask(w2, 0.5, p=1).tolist() == [[True, False]]
    assert neuron_norm_mask(w2, 0.5, p=2).tolist() == [[False, True]]
    assert neuron_norm_mask(w2, 0.0).all()
