"""The rich console summary printed after a run: one row per regularizer strength, test
metrics as mean +- std over the seeds (members that diverged are counted, not averaged)."""

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
    title = f"{first['model']} + {first['regularizer']} on {first['dataset']} ({first['task']})"
    table = Table(title=title, title_justify="left")
    table.add_column("strength", justify="right")
    table.add_column("members", justify="right")
    columns = METRICS[first["task"]] + [(k, label) for k, label in STRUCTURE if k in first]
    for _, label in columns:
        table.add_column(label, justify="right")
    groups: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["strength"]].append(r)
    for strength, rows in sorted(groups.items()):
        ok = [r for r in rows if r["status"] == "ok"]
        count = f"{len(ok)}/{len(rows)}" + ("" if len(ok) == len(rows) else " (diverged)")
        table.add_row(
            f"{strength:g}", count, *[_mean_std([r.get(k) for r in ok]) for k, _ in columns]
        )
    console = Console()
    console.print(table)
    chunk = first.get("time.member_chunk", len(records))
    groups_note = "all at once" if chunk >= len(records) else f"in groups of {chunk}"
    console.print(
        f"{len(records)} members ({groups_note}), {first['time.steps']} steps each, "
        f"{first['time.wall_s']:.2f} s of training"
        + (f"\nrecords: {Path(run_dir) / 'records.jsonl'}" if run_dir is not None else "")
    )
