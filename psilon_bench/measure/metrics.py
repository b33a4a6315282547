"""Task metrics per member, docs/methods.md (metrics): accuracy, balanced accuracy and log-loss
(classification), RMSE on the transformed target and R^2 (regression); the training loss
(`task_loss`). Inputs are stacked: out (E, N, K), y (E, N)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from psilon_bench.models.members import MemberModel


@torch.no_grad()
def predict(model: MemberModel, x: Tensor, chunk: int = 4096) -> Tensor:
    """Model outputs for all rows, x (E, N, d_in) -> (E, N, d_out), in chunks of rows."""
    return torch.cat([model(x[:, i : i + chunk]) for i in range(0, x.shape[1], chunk)], dim=1)


class _RowCrossEntropy(torch.autograd.Function):
    """Cross-entropy of every row, out (E, B, K), y (E, B) -> (E, B): `log sum_k exp(z_k - m)
    - (z_y - m)`, m the row's max (log_softmax's own steps); backward `(softmax - onehot(y))`
    times the row's gradient. The same values as `F.cross_entropy(reduction="none")` to
    rounding (measured: within 6e-8 at losses ~1 in float32), computed with whole-tensor
    kernels: ATen's log_softmax walks the rows one at a time, which at two classes cost the
    full-batch MLP step of `make bench` (32 members x 341 rows) 367 us against 185 here."""

    @staticmethod
    def forward(ctx: Any, out: Tensor, y: Tensor) -> Tensor:
        shifted = out - out.amax(dim=-1, keepdim=True)
        exp = shifted.exp()
        total = exp.sum(dim=-1, keepdim=True)
        ctx.save_for_backward(exp, total, y)
        return (total.log() - shifted.gather(-1, y.unsqueeze(-1))).squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        exp, total, y = ctx.saved_tensors
        row = grad.unsqueeze(-1)  # (E, B, 1)
        grad_out = (exp / total).mul_(row)  # softmax * grad
        return grad_out.scatter_add_(-1, y.unsqueeze(-1), -row), None


def task_loss(out: Tensor, y: Tensor, task: str, class_weight: Tensor | None = None) -> Tensor:
    """Mean training loss per member, out (E, B, K) -> (E,): cross-entropy, each row weighted
    by `class_weight[e, y]` when given (`trainer.class_weight`), or squared error."""
    if task == "classification":
        ce = _RowCrossEntropy.apply(out, y)  # (E, B)
        if class_weight is not None:
            ce = ce * class_weight.gather(1, y)
        return ce.mean(dim=1)
    return (out.squeeze(-1) - y).pow(2).mean(dim=1)


def classification_metrics(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    """accuracy, balanced accuracy and log-loss (mean cross-entropy, natural log) per member,
    (E,) float64."""
    E, N, K = out.shape
    logp = torch.log_softmax(out.double(), dim=-1)
    log_loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)
    correct = (out.argmax(dim=-1) == y).double()
    return {
        "accuracy": correct.mean(dim=1),
        "balanced_accuracy": balanced_accuracy(correct, y, K),
        "log_loss": log_loss,
    }


def balanced_accuracy(correct: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """Mean recall over the classes present in y (scikit-learn's `balanced_accuracy_score`),
    per member: correct (E, N) 0/1, y (E, N) -> (E,) float64."""
    totals = torch.zeros(y.shape[0], n_classes, dtype=torch.float64, device=y.device)
    hits = torch.zeros_like(totals)
    totals.scatter_add_(1, y, torch.ones_like(correct))
    hits.scatter_add_(1, y, correct)
    present = totals > 0
    recall = torch.where(present, hits / totals.clamp(min=1), torch.zeros_like(hits))
    return recall.sum(dim=1) / present.sum(dim=1)


def regression_metrics(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    """RMSE and R^2 = 1 - SSE/SST per member, (E,) float64."""
    pred, y = out.squeeze(-1).double(), y.double()
    sse = (pred - y).square().sum(dim=1)
    sst = (y - y.mean(dim=1, keepdim=True)).square().sum(dim=1)
    return {"rmse": (sse / y.shape[1]).sqrt(), "r2": 1.0 - sse / sst}


# The keys `task_metrics` returns per task (tests/test_metrics_options.py checks them).
METRIC_NAMES = {
    "classification": ("accuracy", "balanced_accuracy", "log_loss"),
    "regression": ("rmse", "r2"),
}


def task_metrics(out: Tensor, y: Tensor, task: str) -> dict[str, Tensor]:
    """The task metrics of `METRIC_NAMES[task]` per member, (E,) float64 each."""
    if task == "classification":
        return classification_metrics(out, y)
    return regression_metrics(out, y)
