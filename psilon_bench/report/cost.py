"""The training cost of each method relative to a reference regularizer (`table
--cost-relative-to l2`; docs/protocols.md P4 reports the soft diamond's cost per step relative to
L2): from the records' timings, each run's seconds per optimizer step and member,
`time.wall_s / (time.steps * time.members)`, the median over a method's runs divided by the
median of the runs of the same model with the reference regularizer, on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from psilon_bench.errors import UserError

TIMES = ("time.wall_s", "time.steps")


def column(reference: str) -> str:
    """The table's metric name of the cost column, e.g. `cost.vs_l2`."""
    return f"cost.vs_{reference}"


def step_seconds(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run (`path`): data, method, model, regularizer and the seconds per step and
    member (runs without timings left out)."""
    missing = [t for t in TIMES if t not in records.columns]
    if missing:
        raise UserError(
            f"--cost-relative-to: the records hold no {missing[0]} (timings are written by "
            "psilon-bench run); rerun the table without --cost-relative-to"
        )
    runs = records.drop_duplicates("path").copy()
    members = pd.to_numeric(runs.get("time.members", 1), errors="coerce").fillna(1)
    wall = pd.to_numeric(runs["time.wall_s"], errors="coerce")
    steps = pd.to_numeric(runs["time.steps"], errors="coerce")
    runs["_s"] = wall / (steps * members)
    runs["_model"] = runs.get("cfg.model.name", runs["method"].str.split("+").str[0])
    runs["_reg"] = runs.get("cfg.regularizer.name", runs["method"].str.split("+").str[1])
    runs = runs[np.isfinite(runs["_s"]) & (runs["_s"] > 0)]
    return runs[["task", "data", "method", "_model", "_reg", "_s"]]


def relative(records: pd.DataFrame, reference: str, by: list[str]) -> pd.DataFrame:
    """(task, *by without prune.amount, method) -> `ratio`: the method's median seconds per
    step and member over the reference regularizer's, same model and data (NaN where the
    model has no reference run)."""
    runs = step_seconds(records)
    regs = sorted(runs["_reg"].astype(str).unique())
    if reference not in regs:
        raise UserError(
            f"--cost-relative-to {reference!r} is not a regularizer of these runs; "
            f"allowed: {', '.join(regs)}"
        )
    keys = ["task", *[b for b in by if b not in ("task", "prune.amount")]]
    missing = [k for k in keys if k not in runs.columns]
    if missing:  # --by a record column: take it from the runs' records
        runs = runs.join(records.drop_duplicates("path")[missing])
    med = runs.groupby([*keys, "method", "_model", "_reg"], dropna=False)["_s"].median()
    med = med.reset_index()
    ref = med[med["_reg"] == reference].groupby([*keys, "_model"], dropna=False)["_s"].median()
    ref = ref.rename("_ref").reset_index()
    out = med.merge(ref, on=[*keys, "_model"], how="left")
    out["ratio"] = out["_s"] / out["_ref"]
    return out[[*keys, "method", "ratio"]]


def add_column(rows: pd.DataFrame, ratios: pd.DataFrame, reference: str) -> pd.DataFrame:
    """`rows` (a table block's summary rows) with `cost.vs_<reference>.mean` (the ratio) and
    `.std` (NaN: one ratio of medians per row)."""
    keys = [c for c in ratios.columns if c != "ratio"]
    name = column(reference)
    merged = rows.merge(ratios, on=keys, how="left")
    merged.index = rows.index
    out = rows.copy()
    out[f"{name}.mean"] = merged["ratio"]
    out[f"{name}.std"] = np.nan
    return out
