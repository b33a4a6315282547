"""Decoupled L_p ("bridge") weight decay, docs/methods.md (L_p bridge) [pWD].

N. J. Outmezguine, N. Levi, "Decoupled Weight Decay for Any p Norm", arXiv:2404.10824
(2024). The penalty `lambda sum |w|^p` (0 < p <= 2) is applied after the base optimizer's
step (Adam/SGD with weight_decay = 0) as a multiplicative factor per weight:

    w_new = w_hat * |w_prev|^(2-p) / (|w_prev|^(2-p) + p * lr_t * lambda)

(`w_hat` the base step's result, `w_prev` the weight before the step). This module holds
the one implementation of that factor, used by the training loop and by the test that
p = 2 is AdamW with decay 2*lambda to first order in lr*lambda, and the regularizer
`LpBridgeDecay` (`regularizer=lp_bridge`) that applies it to a model's decay parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from psilon_bench.models.members import MemberModel
from psilon_bench.regularizers.base import Regularizer, member_lr

__all__ = ["LpBridgeDecay", "apply_lp_decay_", "lp_decay_factor"]


def lp_decay_factor(
    w_prev: Tensor, p: float, lr: float | Tensor, strength: float | Tensor
) -> Tensor:
    """Decoupled L_p decay factor `|w|^(2-p) / (|w|^(2-p) + p lr lambda)`, docs/methods.md (L_p bridge) [pWD].

    Elementwise, in [0, 1], same shape and dtype as `w_prev`. Edge cases, with no NaN:
    `lr * strength = 0` gives exactly 1; `w_prev = 0` with `lr * strength > 0` gives 0
    for p < 2 (a weight that reaches 0 stays 0) and `1 / (1 + 2 lr lambda)` for p = 2
    (`|0|^0 = 1`, plain decay).

    Args:
        w_prev: the weights before the base step, e.g. `(E, out, in)`.
        p: the norm exponent, 0 < p <= 2.
        lr: the scheduled learning rate `lr_t`, >= 0 (a float, or a tensor broadcastable
            to `w_prev`: one per member).
        strength: lambda >= 0, a float or a tensor broadcastable to `w_prev`
            (e.g. `(E, 1, 1)`, one per member).
    """
    if not 0 < p <= 2:
        raise ValueError(f"p must be in (0, 2]; got {p}")
    w = w_prev.detach()
    strength = torch.as_tensor(strength, dtype=w.dtype, device=w.device)
    decay = (p * lr) * strength  # p lr_t lambda, broadcastable
    kept = w.abs().pow(2.0 - p)  # |w|^(2-p); pow(0, 0) = 1 at p = 2
    den = kept + decay
    # den = 0 only where |w|^(2-p) = 0 and lr * lambda = 0: no decay there, factor 1.
    # Where lr * lambda = 0 and w != 0, kept / kept = 1 exactly.
    return torch.where(den > 0, kept / torch.where(den > 0, den, 1.0), 1.0)


@torch.no_grad()
def apply_lp_decay_(
    params_after: Sequence[Tensor] | Tensor, factors: Sequence[Tensor] | Tensor
) -> None:
    """Multiply each weight, after the base step, in place by its L_p decay factor (§4 [pWD]).

    Args:
        params_after: the weights `w_hat` after the base optimizer's step.
        factors: `lp_decay_factor(w_prev, ...)` for each, computed BEFORE the step.
    """
    if isinstance(params_after, Tensor):
        params_after = [params_after]
    if isinstance(factors, Tensor):
        factors = [factors]
    if len(params_after) != len(factors):
        raise ValueError(
            f"need one factor per parameter; got {len(params_after)} parameters "
            f"and {len(factors)} factors"
        )
    for w, factor in zip(params_after, factors):
        w.mul_(factor)


class LpBridgeDecay(Regularizer):
    """`regularizer=lp_bridge`: decoupled L_p decay of docs/methods.md (L_p bridge) [pWD], one lambda per member.

    `before_step` sees the weights `w_prev` BEFORE the base optimizer step and computes each
    factor `|w_prev|^(2-p) / (|w_prev|^(2-p) + p lr_t lambda_e)` (`lp_decay_factor`, with
    member e's strength broadcast as `(E, 1, ..., 1)`); `after_step` multiplies the stepped
    weights `w_hat` by them (`apply_lp_decay_`). The base optimizer has weight_decay = 0.

    It acts on `model.decay_parameters()`: the weight matrices of the plain MLP; on
    weight-normalized models (PSiLON, Standard Net, SWN, EWN) the raw directions `v` (and a
    plain output layer's weight). Lengths `g` / `a` and biases are never decayed **(choice)**,
    so on a normalized layer the decay shapes each unit's direction, not its scale: it still
    drives entries of `v`, and with them of the effective `w`, to exact zeros.
    No coupled penalty: `penalty` returns None.

    Args:
        strength: lambda_e >= 0 per member, `(E,)`.
        p: the exponent, 0 < p <= 2 (p = 2 is AdamW with decay 2 lambda to first order).
    """

    def __init__(self, strength: Tensor, p: float):
        super().__init__(strength)
        if not 0 < p <= 2:
            raise ValueError(f"regularizer.p must be in (0, 2]; got {p}")
        self.p = float(p)
        self.active = bool((strength > 0).any())  # all lambda_e = 0: the factors are all 1

    def before_step(
        self, model: MemberModel, lr: float | Tensor
    ) -> list[tuple[Tensor, Tensor]] | None:
        """`(w, factor)` for each decay parameter, factors from w_prev (docs/methods.md (L_p bridge))."""
        if not self.active or (not isinstance(lr, Tensor) and lr == 0):
            return None
        return [
            (w, lp_decay_factor(w, self.p, member_lr(lr, w), self.member_view(w)))  # like w
            for w in model.decay_parameters()
        ]

    def after_step(self, model: MemberModel, state: list[tuple[Tensor, Tensor]] | None) -> None:
        """w_new = w_hat * factor, in place, after the base step."""
        if state is None:
            return
        params, factors = zip(*state)
        apply_lp_decay_(list(params), list(factors))
