"""Model selection (docs/protocols.md, "Selection"): for each (data, method, seed, fold) the
setting of the member axes (`strength`, `lr`) with the best validation metric, then the
test metrics of the selected members, mean +- std over seeds (and folds).

Rules:
- the selection metric is `--select-on`, default `val.log_loss` (classification) and
  `val.rmse` (regression); accuracy, balanced accuracy and r2 are maximized, the rest
  minimized; a (data, method) whose records lack the `--select-on` metric (val.accuracy
  for a regression set) uses its task's default;
- a member with `status != ok` or a missing metric never wins; a group whose members all
  diverged is kept with `selected = False` and no metrics (counted as `n_failed`);
- ties are broken towards the larger strength (the simpler, more regularized model), then
  the smaller learning rate, then the first run folder and member index;
- selection uses the records of the smallest pruning amount present (the unpruned record,
  `prune.amount` 0); the selected member's records at every other amount are reported as
  their own rows (`prune.amount` > 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.report.rules import (
    AXES,
    GROUP,
    SPLIT_METRIC_PREFIXES,
    higher_is_better,
    select_metric,
)


def check_metric(df: pd.DataFrame, metric: str, flag: str) -> None:
    """A UserError naming the allowed metrics when `metric` is not a column."""
    if metric not in df.columns:
        allowed = sorted(c for c in df.columns if c.startswith(SPLIT_METRIC_PREFIXES))
        raise UserError(
            f"{flag} {metric!r} is not a metric of these records; allowed: {', '.join(allowed)}"
        )


def select(df: pd.DataFrame, select_on: str | None = None) -> pd.DataFrame:
    """One row per (data, method, seed, fold, prune.amount): the selected member's record
    with `selected_on` (the metric), `selected` (False when every member diverged) and the
    axes' chosen values. `select_on=None` picks the default per task."""
    if select_on is not None:
        check_metric(df, select_on, "--select-on")
    df = df.copy()
    df["fold"] = df["fold"].astype(object).where(df["fold"].notna(), -1)  # groupby drops NaN
    axes = [a for a in AXES if a in df.columns and df[a].notna().any()]
    out = []
    for _, block in df.groupby(["data", "method"], sort=True):
        task = str(block["task"].iloc[0])
        metric = select_metric(task, select_on)
        if select_on and block[metric].isna().all():  # e.g. val.accuracy for regression
            metric = select_metric(task, None)
        if metric not in block.columns:
            check_metric(block.dropna(axis=1, how="all"), metric, "--select-on")
        base = block[block["prune.amount"] == block["prune.amount"].min()]
        if len(base) == len(block):  # one pruning amount: every group at once
            out.append(_pick_each(base, axes, metric))
            continue
        for key, group in base.groupby(GROUP[2:], sort=True, dropna=False):
            out.append(_pick(group, block, axes, metric, key))
    result = pd.DataFrame([row for rows in out for row in rows]).reset_index(drop=True)
    result["fold"] = result["fold"].astype(object).where(result["fold"] != -1, None)
    return result


def _pick_each(block: pd.DataFrame, axes: list[str], metric: str) -> list:
    """`_pick` for every (seed, fold) group of a block with one pruning amount, from one
    sort of the whole block (the same rows as `_pick` group by group, ~9x faster at 32
    groups: the run summary's `sel` column)."""
    keys = GROUP[2:]
    ranked = _rank_order(block, axes, metric, by=keys)
    best = ranked.groupby(keys, sort=False, dropna=False).head(1)
    best = best.drop(columns=[c for c in best.columns if c.startswith("_")])
    best_at = {(r["seed"], r["fold"]): r for r in best.to_dict("records")}
    rows = []
    for key, size in block.groupby(keys, sort=True, dropna=False).size().items():
        row = best_at.get(key)
        if row is None:  # every member diverged
            group = block[(block["seed"] == key[0]) & (block["fold"] == key[1])]
            rows.extend(_pick(group, block, axes, metric, key))
            continue
        rows.append(_selected(row, metric, int(size), row[metric]))
    return rows


def _pick(group: pd.DataFrame, block: pd.DataFrame, axes: list[str], metric: str, key) -> list:
    """The best member of one (data, method, seed, fold) group, then that member's records
    at every pruning amount of the method (matched on seed, fold and the axes)."""
    seed, fold = key
    order = _rank_order(group, axes, metric)
    first = group.iloc[0]
    if order.empty:  # every member diverged: a row without metrics
        return [
            {
                "data": first["data"],
                "method": first["method"],
                "task": first["task"],
                "dataset": first.get("dataset"),
                "seed": seed,
                "fold": fold,
                "prune.amount": first["prune.amount"],
                "selected": False,
                "selected_on": metric,
                "n_candidates": len(group),
            }
        ]
    best = order.iloc[0]
    same = (block["seed"] == seed) & (block["fold"] == fold)
    for a in axes:
        same &= _matches(block[a], best[a])
    rows = []
    for amount, at in block[same].groupby("prune.amount", sort=True):
        if amount == best["prune.amount"]:
            rec = best
        else:  # the same run and member if it holds this amount, else the first match
            own = at["member"] == best.get("member")
            if "path" in at.columns:  # collected runs (the run summary has one run, no path)
                own &= at["path"] == best.get("path")
            own = at[own]
            rec = (own if len(own) else at).iloc[0]
        row = rec.drop(labels=[c for c in rec.index if c.startswith("_")]).to_dict()
        rows.append(_selected(row, metric, len(group), best[metric]))
    return rows


def _selected(row: dict, metric: str, n_candidates: int, value: object) -> dict:
    """A selected member's row with the selection's columns added."""
    row.update(selected=True, selected_on=metric, n_candidates=n_candidates)
    row["selected_value"] = value
    return row


def _matches(column: pd.Series, value: object) -> pd.Series:
    """Rows whose axis value is `value`; a missing value (a baseline's null `lr`) matches
    missing ones (pandas keeps NaN through `astype(str)`, and NaN != NaN)."""
    if pd.isna(value):
        return column.isna()
    return column.astype(str) == str(value)


def _rank_order(
    group: pd.DataFrame, axes: list[str], metric: str, by: list[str] | None = None
) -> pd.DataFrame:
    """Valid members sorted best first with the documented tie-break (within each `by`
    group when given)."""
    values = pd.to_numeric(group[metric], errors="coerce")
    ok = (group["status"].fillna("ok") == "ok") & np.isfinite(values)
    cand = group[ok].assign(_m=-values[ok] if higher_is_better(metric) else values[ok])
    sort_cols, ascending = ["_m"], [True]
    if "strength" in axes:
        cand = cand.assign(_s=pd.to_numeric(cand["strength"], errors="coerce").fillna(-np.inf))
        sort_cols.append("_s")
        ascending.append(False)
    if "lr" in axes:
        cand = cand.assign(_lr=pd.to_numeric(cand["lr"], errors="coerce").fillna(np.inf))
        sort_cols.append("_lr")
        ascending.append(True)
    sort_cols += [c for c in ("path", "member") if c in cand.columns]
    ascending += [True] * (len(sort_cols) - len(ascending))
    if by:  # the groups stay apart; the order within each is the one above
        sort_cols, ascending = [*by, *sort_cols], [True] * len(by) + ascending
    return cand.sort_values(sort_cols, ascending=ascending, kind="mergesort")


def summarize(selected: pd.DataFrame, metrics: list[str], by=("data",)) -> pd.DataFrame:
    """One row per (task, *by, method, prune.amount): for each metric `<m>.mean` and
    `<m>.std` (sample std, ddof 1) over the selected seeds and folds; `n` (selected
    members), `n_failed` (groups whose members all diverged) and the most often selected
    `strength` and `lr` (ties: the larger strength, the smaller lr)."""
    keys = ["task", *[b for b in by if b != "task"], "method", "prune.amount"]
    rows = []
    for key, g in selected.groupby(keys, sort=True, dropna=False):
        ok = g[g["selected"].astype(bool)]
        row = dict(zip(keys, key))
        for m in metrics:
            v = pd.to_numeric(ok[m], errors="coerce") if m in ok.columns else pd.Series(dtype=float)
            row[f"{m}.mean"] = v.mean()
            row[f"{m}.std"] = v.std(ddof=1) if v.count() > 1 else np.nan
        row["n"] = len(ok)
        row["n_failed"] = int((~g["selected"].astype(bool)).sum())
        for a in AXES:
            row[a] = _mode(ok[a], larger=(a == "strength")) if a in ok.columns else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _mode(values: pd.Series, larger: bool) -> float:
    """The most frequent value; among equally frequent ones the largest (or smallest)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return np.nan
    counts = v.value_counts()
    top = counts[counts == counts.max()].index
    return float(top.max() if larger else top.min())
