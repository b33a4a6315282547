"""The rich console summary printed after a run: one row per regularizer strength (and
learning rate, when members have several), test metrics as mean +- std over the seeds (members that diverged are counted, not averaged)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METRICS = {
    "classification": [("test.accuracy", "test acc"), ("test.log_loss", "test log-loss")],
    "regression": [("test.rmse", "test RMSE"), ("test.r2", "test R^2")],
}
#: Member axes shown as row labels when they vary (strength always), and their headers.
AXES = [("strength", "strength"), ("lr", "lr")]
STRUCTURE = [("path_norm", "1-path-norm"), ("sparsity.exact", "exact sparsity")]


def _mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g}"


def print_summary(records: Sequence[dict[str, Any]], run_dir: Path | None = None) -> None:
    """Print the summary table of one run's records to the terminal."""
    from rich.console import Console
    from rich.table import Table

    if not records:
        return
    first = records[0]
    inferred = ", inferred" if first.get("cfg.dataset.task") == "auto" else ""  # task=auto
    title = f"{first['model']} + {first['regularizer']} on {first['dataset']} ({first['task']}{inferred})"
    table = Table(title=title, title_justify="left")
    axes = [k for k, _ in AXES if k == "strength" or len({r.get(k) for r in records}) > 1]
    for key in axes:
        table.add_column(dict(AXES)[key], justify="right")
    table.add_column("members", justify="right")
    columns = METRICS[first["task"]] + [(k, label) for k, label in STRUCTURE if k in first]
    for _, label in columns:
        table.add_column(label, justify="right")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[tuple(r.get(k) for k in axes)].append(r)
    for values, rows in sorted(groups.items()):
        ok = [r for r in rows if r["status"] == "ok"]
        count = f"{len(ok)}/{len(rows)}" + ("" if len(ok) == len(rows) else " (diverged)")
        table.add_row(
            *[f"{v:g}" for v in values],
            count,
            *[_mean_std([r.get(k) for r in ok]) for k, _ in columns],
        )
    console = Console()
    console.print(table)
    chunk = first.get("time.member_chunk", len(records))
    groups_note = "all at once" if chunk >= len(records) else f"in groups of {chunk}"
    console.print(
        f"{len({r.get('member') for r in records})} members ({groups_note}), {first['time.steps']} steps each, "
        f"{first['time.wall_s']:.2f} s of training"
        + (f"\nrecords: {Path(run_dir) / 'records.jsonl'}" if run_dir is not None else "")
    )
