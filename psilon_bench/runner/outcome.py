"""A run whose members all diverged is a failure: its records are kept
(each with `status: diverged` and `diverged_step`), and the command exits with code 3
and one line saying so; in a sweep, once every job has run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psilon_bench.errors import AllDiverged
from psilon_bench.records.io import DONE, RECORDS

HINT = "lower optimizer.lr or regularizer.strength"


def all_diverged(records: Sequence[dict[str, Any]], run_dir: Path) -> AllDiverged | None:
    """AllDiverged when no member of `records` finished with status ok, else None."""
    if not records or any(r.get("status") != "diverged" for r in records):
        return None
    steps = sorted({r.get("diverged_step") for r in records if r.get("diverged_step") is not None})
    at = f" (at step {steps[0]})" if len(steps) == 1 else ""
    return AllDiverged(
        f"all {len(records)} members diverged{at}; records written with status=diverged "
        f"to {run_dir}; {HINT}"
    )


def check_sweep_diverged(sweep_dir: Path) -> None:
    """Raise AllDiverged when some complete job of the sweep in `sweep_dir` diverged entirely."""
    bad, jobs = [], 0
    for done in sorted(Path(sweep_dir).rglob(DONE)):
        jobs += 1
        lines = (done.parent / RECORDS).read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        if all_diverged(records, done.parent) is not None:
            bad.append(done.parent)
    if bad:
        raise AllDiverged(
            f"every member diverged in {len(bad)} of {jobs} jobs (first: {bad[0]}); "
            f"records written with status=diverged; {HINT}"
        )


#: record keys that measure the trained model (null for a diverged member)
METRIC_PREFIXES = ("train.", "val.", "test.", "unpruned.", "sparsity.", "lipschitz.", "path_norm")


def null_diverged_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """A diverged member's metrics come from weights frozen at the step it diverged: set them
    to null (the record keeps `status`, `diverged_step` and the parameter counts)."""
    if record.get("status") == "diverged":
        for key in record:
            if key.startswith(METRIC_PREFIXES):
                record[key] = None
    return record
