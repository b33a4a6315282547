"""The regularizer interface the training loop calls (`psilon_bench.engine.train.fit`).

A regularizer holds each member's strength lambda_e, shape (E,), and may
- add a coupled penalty to the loss: `penalty(model)` returns lambda_e * R_e, shape (E,);
- apply a decoupled decay around the base optimizer step: `before_step(model, lr)` sees the
  weights before the step (w_prev) and returns what `after_step(model, state)` needs.
  `lr` is the scheduled learning rate: a float shared by all members, or an (E,) tensor
  when members have their own (`optimizer.lr` a list); `member_lr` broadcasts either.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from psilon_bench.models.members import MemberModel


class Regularizer:
    """No penalty and no decay (`regularizer=none`); the base of every regularizer."""

    def __init__(self, strength: Tensor):
        self.strength = strength  # (E,)

    def member_view(self, like: Tensor) -> Tensor:
        """lambda_e broadcast against a stacked tensor `like` (E, ...) -> (E, 1, ..., 1)."""
        return self.strength.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def penalty(self, model: MemberModel) -> Tensor | None:
        return None

    def before_step(self, model: MemberModel, lr: float | Tensor) -> Any:
        return None

    def after_step(self, model: MemberModel, state: Any) -> None:
        return None


class PenaltyRegularizer(Regularizer):
    """A coupled penalty lambda_e * R_e(theta) added to member e's loss; subclasses define R."""

    def penalty(self, model: MemberModel) -> Tensor:
        return self.strength.to(_device(model)) * self.value(model)

    def value(self, model: MemberModel) -> Tensor:
        """R per member, (E,)."""
        raise NotImplementedError


def member_lr(lr: float | Tensor, like: Tensor) -> float | Tensor:
    """The scheduled learning rate against a stacked tensor `like` (E, ...): a float as it
    is, an (E,) tensor as (E, 1, ..., 1)."""
    if isinstance(lr, Tensor):
        return lr.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))
    return lr


def _device(model: MemberModel) -> torch.device:
    return next(model.parameters()).device


def per_member_sum(tensors: list[Tensor], fn: Any) -> Tensor:
    """sum over all tensors and all non-member dims of fn(t): list of (E, ...) -> (E,)."""
    return sum(fn(t).flatten(1).sum(dim=1) for t in tensors)
