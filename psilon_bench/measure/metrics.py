"""Task metrics per member, METHODS.md §6: accuracy and log-loss (classification), RMSE on
the transformed target and R^2 (regression). Inputs are stacked: out (E, N, K), y (E, N)."""

from __future__ import annotations

import torch
from torch import Tensor

from psilon_bench.models.members import MemberModel


@torch.no_grad()
def predict(model: MemberModel, x: Tensor, chunk: int = 4096) -> Tensor:
    """Model outputs for all rows, x (E, N, d_in) -> (E, N, d_out), in chunks of rows."""
    return torch.cat([model(x[:, i : i + chunk]) for i in range(0, x.shape[1], chunk)], dim=1)


def classification_metrics(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    """accuracy and log-loss (mean cross-entropy, natural log) per member, (E,) float64."""
    E, N, K = out.shape
    logp = torch.log_softmax(out.double(), dim=-1)
    log_loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)
    accuracy = (out.argmax(dim=-1) == y).double().mean(dim=1)
    return {"accuracy": accuracy, "log_loss": log_loss}


def regression_metrics(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    """RMSE and R^2 = 1 - SSE/SST per member, (E,) float64."""
    pred, y = out.squeeze(-1).double(), y.double()
    sse = (pred - y).square().sum(dim=1)
    sst = (y - y.mean(dim=1, keepdim=True)).square().sum(dim=1)
    return {"rmse": (sse / y.shape[1]).sqrt(), "r2": 1.0 - sse / sst}


def task_metrics(out: Tensor, y: Tensor, task: str) -> dict[str, Tensor]:
    if task == "classification":
        return classification_metrics(out, y)
    return regression_metrics(out, y)
