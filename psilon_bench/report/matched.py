"""Accuracy at matched sparsity (docs/protocols.md P3 [pWD]): each method's test metric at
the sparsity levels the other methods reach, read off its own Pareto front.

A method's points are its members (strength, lr) averaged over seeds; its front keeps the
non-dominated ones (no other point of the method is at least as sparse and at least as good,
and better in one). Between two front points the metric is interpolated linearly in the
sparsity; outside the front's sparsity range the value is NaN (never extrapolated)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.report.select import higher_is_better

MEMBER = ("strength", "lr")


def pareto_front(x: np.ndarray, y: np.ndarray, higher: bool = True) -> np.ndarray:
    """Mask of the points no other point beats in both x (sparsity, more is better) and y
    (the metric, `higher` is better); a point with a NaN coordinate is never on it."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    y = y if higher else -y
    keep = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        dominated = (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        keep[i] = not dominated.any() and np.isfinite(y[i]) and np.isfinite(x[i])
    return keep


def on_front(x: np.ndarray, y: np.ndarray, at, higher: bool = True) -> np.ndarray:
    """The front of (x, y) read at the sparsity levels `at`: linear between front points,
    NaN outside [min, max] of the front's x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = pareto_front(x, y, higher)
    fx, fy = x[keep], y[keep]
    at = np.asarray(at, dtype=float)
    if not len(fx):
        return np.full(at.shape, np.nan)
    order = np.argsort(fx, kind="mergesort")
    fx, fy = fx[order], fy[order]
    out = np.interp(at, fx, fy)
    return np.where((at >= fx[0]) & (at <= fx[-1]), out, np.nan)


def member_means(records: pd.DataFrame, sparsity: str, metric: str) -> pd.DataFrame:
    """One row per (task, data, method, member): `sparsity` and `metric` averaged over
    seeds and folds (unpruned records, runs that did not diverge)."""
    df = records[(records["prune.amount"] == 0) & (records["status"].fillna("ok") == "ok")]
    keys = ["task", "data", "method", *[a for a in MEMBER if a in df.columns]]
    df = df.assign(**{c: pd.to_numeric(df[c], errors="coerce") for c in (sparsity, metric)})
    return df.groupby(keys, dropna=False)[[sparsity, metric]].mean().reset_index()


def matched_sparsity(
    records: pd.DataFrame, sparsity: str, metrics: list[str] | None = None
) -> pd.DataFrame:
    """Long table: per (task, data), every front point of every method is a sparsity level
    (`level_of` names the method that reaches it); each method's `metric` there, read off
    its own front (`value`, NaN outside its range)."""
    if sparsity not in records.columns or not sparsity.startswith("sparsity."):
        allowed = sorted(c for c in records.columns if str(c).startswith("sparsity."))
        raise UserError(
            f"--matched-sparsity {sparsity!r} is not a sparsity column of these records; "
            f"allowed: {', '.join(allowed) or '(none recorded)'}"
        )
    rows = []
    for task, block in records.groupby("task", sort=True):
        metric = next(
            (m for m in metrics or [] if m.startswith("test.") and block[m].notna().any()),
            "test.accuracy" if task == "classification" else "test.rmse",
        )
        hib = higher_is_better(metric)
        pts = member_means(block, sparsity, metric)
        for data, d in pts.groupby("data", sort=True):
            methods = {m: g for m, g in d.groupby("method", sort=True)}
            levels = []
            for m, g in methods.items():
                keep = pareto_front(g[sparsity].values, g[metric].values, hib)
                levels += [(m, x) for x in sorted(g[sparsity].values[keep])]
            for level_of, x in levels:
                for m, g in methods.items():
                    v = on_front(g[sparsity].values, g[metric].values, [x], hib)[0]
                    rows.append((task, data, level_of, x, m, metric, v))
    cols = ["task", "data", "level_of", sparsity, "method", "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


def markdown(table: pd.DataFrame, sparsity: str) -> str:
    """One section per task and dataset: a row per sparsity level (and the methods whose
    front reaches it), a column per method."""
    out = [
        f"Accuracy at matched sparsity ({sparsity}): each method's test metric at the levels "
        "the methods reach on their Pareto fronts (members averaged over seeds; linear "
        "between front points; - outside a method's range, never extrapolated).",
        "",
    ]
    for (task, data), g in table.groupby(["task", "data"], sort=True):
        metric = g["metric"].iloc[0]
        wide = g.groupby([sparsity, "method"])["value"].first().unstack("method")
        reached = g.groupby(sparsity)["level_of"].agg(lambda v: ", ".join(dict.fromkeys(v)))
        methods = list(wide.columns)
        out += [f"### {data} ({task}, {metric})", ""]
        out.append("| sparsity | reached by | " + " | ".join(methods) + " |")
        out.append("|---:|---|" + "---:|" * len(methods))
        for x, r in wide.sort_index().iterrows():
            cells = ["-" if v != v else f"{v:.3f}" for v in r.values]
            out.append(f"| {x:.3f} | {reached[x]} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
