"""The selection rules of docs/protocols.md ("Selection") as plain constants and functions, with
no pandas: shared by the report's selection (`report.select`, pandas) and the run summary's
(`report.run_select`, one run's records as dicts)."""

from __future__ import annotations

AXES = ("strength", "lr")  # member axes selected on validation (docs/protocols.md)
MAXIMIZE = ("accuracy", "balanced_accuracy", "r2")
DEFAULT_SELECT = {"classification": "val.log_loss", "regression": "val.rmse"}
GROUP = ["data", "method", "seed", "fold"]
#: Record keys of per-split task metrics, named in the errors' allowed lists
#: (`unpruned.<split>.*`: `pruning.compare_unpruned`).
SPLIT_METRIC_PREFIXES = ("train.", "val.", "test.", "unpruned.")


def higher_is_better(metric: str) -> bool:
    """True for accuracy, balanced_accuracy and r2 (any split) and for every `sparsity.*`
    metric (more zeros is what the sparse methods are for); False for losses, errors, norms."""
    return metric.startswith("sparsity.") or metric.rpartition(".")[2] in MAXIMIZE


def select_metric(task: str, select_on: str | None) -> str:
    return select_on or DEFAULT_SELECT.get(task, "val.log_loss")
