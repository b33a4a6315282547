"""Coupled L2 and L1 penalties and decoupled (AdamW-style) weight decay, on the model's
decay parameters only (weight matrices, or directions v of weight-normalized layers)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from psilon_bench.models.members import MemberModel
from psilon_bench.regularizers.base import (
    PenaltyRegularizer,
    Regularizer,
    member_lr,
    per_member_sum,
)


class L2Penalty(PenaltyRegularizer):
    """R = sum_ij w_ij^2 over the decay parameters (ridge; coupled, through the gradient)."""

    def value(self, model: MemberModel) -> Tensor:
        return per_member_sum(model.decay_parameters(), lambda w: w.square())


class L1Penalty(PenaltyRegularizer):
    """R = sum_ij |w_ij| (lasso, the "hard diamond" baseline of [SD]; coupled)."""

    def value(self, model: MemberModel) -> Tensor:
        return per_member_sum(model.decay_parameters(), lambda w: w.abs())


class DecoupledWeightDecay(Regularizer):
    """AdamW-style decay (Loshchilov & Hutter): w <- w_hat - lr_t * lambda * w_prev.

    Applied in place before the base step, which gives the same result because the base
    step's update does not depend on the weight's value once the gradient is computed.
    """

    def before_step(self, model: MemberModel, lr: float | Tensor) -> Any:
        for w in model.decay_parameters():
            w.mul_(1.0 - member_lr(lr, w) * self.member_view(w))
        return None
