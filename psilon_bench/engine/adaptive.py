"""[EWN]'s loss-adaptive learning rate (`trainer.loss_adaptive`), per member.

D. Morwani, H. G. Ramaswamy, "Inductive Bias of Gradient Descent for Weight Normalized
Smooth Homogeneous Neural Nets", ALT 2022, arXiv:2010.12909: the asymptotic regime their
theory describes (and their MNIST pruning figure shows) is reached by training to a very
small loss, with a learning rate that grows as the loss falls. Their reference code divides
the loss by the previous epoch's training loss (so plain SGD steps by `lr * grad L / L_prev`)
and, once per epoch, multiplies `lr` by 1.1 if the training loss fell, else restores the
epoch's starting weights and divides `lr` by 1.1.

Here each member e keeps `m_e` (that multiplier) and `log L_e` (its full training loss at the
last accepted epoch end); its objective for the gradient is `m_e * L / L_e`, computed as
`m_e * exp(log L - log L_e)` with the loss in log space (`log_cross_entropy`), so it neither
underflows nor loses precision at losses far below float32's smallest number. With SGD
without momentum this is exactly a per-member learning rate `lr * m_e / L_e`. Differences
from the reference: the step budget is fixed (a rejected epoch still counts), and the
loss is the per-row mean in every case (the reference switches formulas at margin 30).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from psilon_bench.engine.plan import MemberData
from psilon_bench.models.members import MemberModel


def log_cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    """`log` of the mean cross-entropy per member, accurate down to any loss; `(E, B, K)` -> `(E,)`.

    Per row, `CE = log(1 + sum_{k != y} exp(z_k - z_y)) = softplus(a)`, `a = logsumexp_{k != y}
    (z_k - z_y)`, and `log CE = a + log1p(-...)` ~ `a` when `a < -20` (relative error
    < 1e-9); then the log-mean-exp over the batch.
    """
    z_y = out.gather(-1, y.unsqueeze(-1))  # (E, B, 1)
    others = (out - z_y).masked_fill(
        torch.nn.functional.one_hot(y, out.shape[-1]).bool(), float("-inf")
    )
    a = torch.logsumexp(others, dim=-1)  # (E, B)
    log_ce = torch.where(a < -20.0, a, torch.log(torch.nn.functional.softplus(a.clamp_min(-20.0))))
    return torch.logsumexp(log_ce, dim=-1) - math.log(out.shape[1])


class LossAdaptive:
    """Per-member loss-adaptive learning rate of [EWN] (module docstring); classification only.

    Args:
        model, data: the members being trained and their training rows (full-batch loss at
            every epoch end).
        factor: the multiplier's step, up when the epoch's loss fell, down (with the
            epoch undone) when it rose (the reference's 1.1).
    """

    def __init__(self, model: MemberModel, data: MemberData, factor: float = 1.1):
        if data.task != "classification":
            raise ValueError("trainer.loss_adaptive needs a classification task")
        self.data, self.factor = data, factor
        self.multiplier = torch.ones(model.n_members, dtype=data.x.dtype, device=data.x.device)
        self.log_loss = self.full_log_loss(model)  # (E,)
        self.saved = [p.detach().clone() for p in model.parameters()]
        self.skipped = torch.zeros_like(self.multiplier, dtype=torch.bool)  # non-finite this epoch
        self.any_skipped = False

    def skip(self, objective: Tensor) -> None:
        """Members whose objective is not finite take no more steps this epoch (the
        reference code undoes such an epoch and lowers the rate; `end_epoch` does)."""
        self.skipped |= ~torch.isfinite(objective.detach())
        self.any_skipped = bool(self.skipped.any())

    @torch.no_grad()
    def zero_skipped_grads(self, model: MemberModel) -> None:
        for p in model.parameters():
            if p.grad is not None:
                p.grad[self.skipped] = 0

    @torch.no_grad()
    def full_log_loss(self, model: MemberModel) -> Tensor:
        """`log L_e` of every member on all its training rows, `(E,)`."""
        return log_cross_entropy(model(self.data.x), self.data.y)

    def objective(self, log_loss: Tensor, penalty: Tensor | None) -> Tensor:
        """Per-member objective `m_e (L + penalty) / L_e` for the gradient, `(E,)`."""
        scale = self.multiplier * torch.exp(-self.log_loss)
        obj = self.multiplier * torch.exp(log_loss - self.log_loss)
        return obj if penalty is None else obj + scale * penalty

    @torch.no_grad()
    def end_epoch(self, model: MemberModel) -> None:
        """Accept members whose full training loss fell (multiplier up, new `L_e`, new
        snapshot); undo the epoch of the others (multiplier down)."""
        new = self.full_log_loss(model)
        better = torch.isfinite(new) & (new <= self.log_loss) & ~self.skipped
        self.skipped.zero_()
        self.any_skipped = False
        up = torch.full_like(self.multiplier, self.factor)
        self.multiplier *= torch.where(better, up, 1.0 / up)
        self.log_loss = torch.where(better, new, self.log_loss)
        for p, saved in zip(model.parameters(), self.saved):
            keep = better.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(keep, p, saved))
            saved.copy_(p)
