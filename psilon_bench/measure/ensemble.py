"""The task metrics of an ensemble of members (`ensemble: k`): the average of the members'
predicted probabilities (classification) or predictions (regression), scored by the same
`task_metrics` as every member."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from psilon_bench.measure.metrics import predict, task_metrics


def average_outputs(outputs: Tensor, task: str) -> Tensor:
    """(k, N, d_out) member outputs -> (1, N, d_out). Classification: the log of the mean of
    the members' softmax probabilities, log (1/k) sum_i softmax(z_i), as a logsumexp of their
    log-probabilities (outputs are logits or log-probabilities: softmax normalizes either);
    regression: the mean prediction."""
    out = outputs.to(torch.float64)
    if task == "classification":
        log_p = torch.log_softmax(out, dim=-1)
        return (torch.logsumexp(log_p, dim=0) - math.log(out.shape[0]))[None]
    return out.mean(dim=0, keepdim=True)


def ensemble_metrics(outputs: Tensor, y: Tensor, task: str) -> dict[str, float]:
    """`task_metrics` of the averaged `outputs` (k, N, d_out) against the targets y (N,)."""
    metrics = task_metrics(average_outputs(outputs, task), torch.as_tensor(y)[None], task)
    return {name: float(value[0]) for name, value in metrics.items()}


@torch.no_grad()
def member_outputs(model: Any, parts: dict[str, Any]) -> list[dict[str, Tensor]]:
    """Per member of `model`, split part -> its outputs (N, d_out) on that part's rows
    (`parts`: part -> the members' `MemberData`), in eval mode, on the CPU."""
    model.eval()
    outputs = {p: predict(model, data.x).cpu() for p, data in parts.items()}
    model.train()
    return [{p: out[e] for p, out in outputs.items()} for e in range(model.n_members)]
