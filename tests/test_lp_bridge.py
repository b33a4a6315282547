"""Decoupled L_p decay factor of docs/methods.md (L_p bridge) [pWD]."""

import math

import pytest
import torch

from psilon_bench.regularizers.lp_bridge import apply_lp_decay_, lp_decay_factor

F64 = torch.float64


def formula(w: float, p: float, lr: float, lam: float) -> float:
    kept = abs(w) ** (2 - p)
    return kept / (kept + p * lr * lam)


def test_factor_equals_formula_on_hand_made_tensors():
    w = torch.tensor([[[0.5, -2.0, 1e-3], [3.0, -0.25, 7.0]]], dtype=F64)  # (1, 2, 3)
    for p in (0.5, 0.8, 1.0, 1.5, 2.0):
        got = lp_decay_factor(w, p, lr=0.1, strength=0.3)
        assert got.shape == w.shape and got.dtype == F64
        expected = torch.tensor(
            [[[formula(x, p, 0.1, 0.3) for x in row] for row in w[0].tolist()]], dtype=F64
        )
        torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
        assert torch.all((got >= 0) & (got <= 1))


def test_strength_per_member():
    w = torch.full((3, 2, 2), -0.4, dtype=F64)
    lams = torch.tensor([0.0, 1e-3, 1.0], dtype=F64).reshape(3, 1, 1)
    got = lp_decay_factor(w, 0.8, lr=0.05, strength=lams)
    for e, lam in enumerate([0.0, 1e-3, 1.0]):
        torch.testing.assert_close(
            got[e], torch.full((2, 2), formula(-0.4, 0.8, 0.05, lam), dtype=F64)
        )
    assert torch.all(got[0] == 1.0)


def test_zero_weights_stay_zero():
    w = torch.tensor([[0.0, 1.0, -0.0]], dtype=torch.float32)
    for p in (0.3, 0.8, 1.0, 1.7):
        factor = lp_decay_factor(w, p, lr=1e-2, strength=1e-3)
        assert factor[0, 0].item() == 0.0 and factor[0, 2].item() == 0.0
        assert not torch.isnan(factor).any()
    # p = 2: |0|^0 = 1, plain decay 1 / (1 + 2 lr lambda)
    factor = lp_decay_factor(w, 2.0, lr=1e-2, strength=1e-3)
    assert factor[0, 0].item() == pytest.approx(1 / (1 + 2e-5), rel=1e-6)
    # a zero weight stays zero through the update (the base step moved it? it is w_prev = 0)
    after = torch.tensor([[0.3, 0.9, -0.2]])
    apply_lp_decay_([after], [lp_decay_factor(w, 0.8, lr=1e-2, strength=1e-3)])
    assert after[0, 0].item() == 0.0 and after[0, 2].item() == 0.0 and after[0, 1].item() > 0


def test_no_decay_gives_exactly_one():
    w = torch.tensor([[0.0, 1e-20, -3.0, 5e8]], dtype=F64)
    for p in (0.5, 1.0, 2.0):
        assert torch.all(lp_decay_factor(w, p, lr=0.0, strength=0.7) == 1.0)
        assert torch.all(lp_decay_factor(w, p, lr=0.1, strength=0.0) == 1.0)
        zero = torch.zeros(1, 1, dtype=F64)
        assert torch.all(lp_decay_factor(w, p, lr=0.1, strength=zero) == 1.0)


def test_rejects_bad_p():
    with pytest.raises(ValueError, match="p must be in"):
        lp_decay_factor(torch.ones(2), 2.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="p must be in"):
        lp_decay_factor(torch.ones(2), 0.0, 0.1, 0.1)


def test_apply_in_place():
    w = torch.ones(2, 3, requires_grad=True)
    factor = torch.full((2, 3), 0.5)
    apply_lp_decay_([w], [factor])  # no_grad inside: a leaf that requires grad is fine
    assert torch.all(w == 0.5)
    single = torch.ones(3)
    apply_lp_decay_(single, torch.tensor([1.0, 0.0, 0.25]))
    assert single.tolist() == [1.0, 0.0, 0.25]
    with pytest.raises(ValueError, match="one factor per parameter"):
        apply_lp_decay_([w, single], [factor])


def _adam_plus_decay_vs_adamw(lr: float, lam: float, warm_steps: int) -> float:
    """One Adam step + p = 2 decay vs one AdamW step with decay 2 lambda, same state.

    Returns max |difference| of the resulting weights.
    """
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(3, 4, 5, generator=g, dtype=F64)  # stacked (E, out, in)
    target = torch.randn(3, 4, 5, generator=g, dtype=F64)

    def loss(w):
        return ((w - target) ** 2 * torch.linspace(0.5, 2.0, 5, dtype=F64)).sum()

    w_adam = w0.clone().requires_grad_(True)
    adam = torch.optim.Adam([w_adam], lr=0.05, weight_decay=0.0)
    for _ in range(warm_steps):  # give the moments a non-trivial state
        adam.zero_grad()
        loss(w_adam).backward()
        adam.step()
    for group in adam.param_groups:
        group["lr"] = lr
    w_adamw = w_adam.detach().clone().requires_grad_(True)
    adamw = torch.optim.AdamW([w_adamw], lr=lr, weight_decay=2 * lam)
    # same moments and step count (copied by hand: load_state_dict would also copy Adam's
    # param_groups, turning AdamW's decay back into coupled L2)
    adamw.state[w_adamw] = {k: v.clone() for k, v in adam.state[w_adam].items()}

    factor = lp_decay_factor(w_adam.detach(), 2.0, lr=lr, strength=lam)  # from w_prev
    adam.zero_grad()
    loss(w_adam).backward()
    adam.step()
    apply_lp_decay_([w_adam], [factor])

    adamw.zero_grad()
    loss(w_adamw).backward()
    adamw.step()
    return (w_adam.detach() - w_adamw.detach()).abs().max().item()


@pytest.mark.parametrize("warm_steps", [0, 3])
def test_p2_matches_adamw_to_first_order(warm_steps):
    """(w - lr u) / (1 + 2 lr lam) - [w (1 - 2 lr lam) - lr u] = (2 lr lam)^2 w + 2 lr^2 lam u + ...:
    both terms are quadratic in lr, so shrinking lr (and with it lr * lambda) 10x shrinks
    the difference about 100x, while each update itself (first order) shrinks only 10x."""
    lam = 0.5
    big = _adam_plus_decay_vs_adamw(1e-2, lam, warm_steps)
    small = _adam_plus_decay_vs_adamw(1e-3, lam, warm_steps)
    tiny = _adam_plus_decay_vs_adamw(1e-4, lam, warm_steps)
    assert big > 0
    assert 70 < big / small < 130
    assert 70 < small / tiny < 130
    # and the difference is far below the decay step itself (lr * 2 lambda * |w| ~ 1e-2)
    assert big < 1e-2 * 2 * lam * 0.1
    assert math.isfinite(big)
