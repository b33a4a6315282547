"""Everything a record reports about a trained member, METHODS.md §6: task metrics on each
split and parameter counts (structure metrics join here as models provide them)."""

from __future__ import annotations

from typing import Any

import torch

from psilon_bench.metrics import predict, task_metrics
from psilon_bench.models.members import MemberModel
from psilon_bench.train import MemberData


@torch.no_grad()
def parameter_counts(model: MemberModel) -> dict[str, torch.Tensor]:
    """Per member: trainable scalars, weight-matrix entries, and the non-zero ones of those."""
    E = model.n_members
    total = sum(p.numel() for p in model.parameters()) // E
    weights = model.weight_matrices()
    n_weights = sum(w[0].numel() for w in weights)
    nonzero = sum((w != 0).flatten(1).sum(dim=1) for w in weights)
    return {
        "params.total": torch.full((E,), total),
        "params.weights": torch.full((E,), n_weights),
        "params.nonzero_weights": nonzero,
    }


@torch.no_grad()
def evaluate_members(
    model: MemberModel, parts: dict[str, MemberData], cfg: Any
) -> list[dict[str, Any]]:
    """One flat dict per member: `<split>.<metric>` for every split, plus `params.*`."""
    model.eval()
    columns: dict[str, torch.Tensor] = {}
    for split, data in parts.items():
        for name, value in task_metrics(predict(model, data.x), data.y, data.task).items():
            columns[f"{split}.{name}"] = value
    columns.update(parameter_counts(model))
    model.train()
    rows = []
    for e in range(model.n_members):
        rows.append({k: _scalar(v[e]) for k, v in columns.items()})
    return rows


def _scalar(v: torch.Tensor) -> Any:
    return int(v.item()) if not v.is_floating_point() else float(v.item())
