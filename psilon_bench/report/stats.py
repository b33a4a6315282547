"""Statistics across datasets (Demsar 2006, JMLR 7:1-30): mean rank per method, the
Friedman test, the Nemenyi critical difference and its diagram (autorank), a Wilcoxon
signed-rank test of every method against a baseline with Holm's correction, and
wins/ties/losses. Computed on one metric (the block's first, e.g. test accuracy) from the
per-dataset means of the selected members."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as st

from psilon_bench.report.select import higher_is_better
from psilon_bench.report.tables import Block

MIN_DATASETS = 3
ALPHA = 0.05


@dataclass
class Stats:
    task: str
    metric: str
    table: pd.DataFrame  # one row per method
    notes: list[str] = field(default_factory=list)
    rank_result: object = None  # autorank's RankResult, for the CD diagram

    def skipped(self) -> bool:
        return self.table.empty


def matrix(block: Block, metric: str) -> pd.DataFrame:
    """Datasets x methods of the per-dataset mean of `metric`."""
    rows = block.rows.assign(_g=block.rows.apply(block.group, axis=1))
    rows = rows.assign(_m=rows.apply(block.label, axis=1))
    return rows.pivot_table(index="_g", columns="_m", values=f"{metric}.mean", aggfunc="first")


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels' implementation); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out.tolist()


def default_baseline(methods: list[str]) -> str | None:
    """`mlp+none` if present, else the first method that starts with `mlp`, else None."""
    if "mlp+none" in methods:
        return "mlp+none"
    return next((m for m in sorted(methods) if m.startswith("mlp")), None)


def compute(block: Block, baseline: str | list[str] | None) -> Stats:
    """The statistics of one task block (empty table + a note when skipped). `baseline`: one
    method or several; the table holds one row per method and baseline, the first baseline's
    rows first (Holm's correction within each baseline's tests)."""
    metric = block.metrics[0]
    full = matrix(block, metric)
    mat = full.dropna(axis=0, how="any")
    notes = []
    if len(mat) < len(full):
        dropped = sorted(set(full.index) - set(mat.index))
        notes.append(
            f"datasets without every method left out of the statistics: {', '.join(dropped)}"
        )
    empty = Stats(block.task, metric, pd.DataFrame(), notes)
    if len(mat) < MIN_DATASETS or mat.shape[1] < 2:
        notes.append(
            f"statistics skipped ({block.task}): {len(mat)} dataset(s) with every method and "
            f"{mat.shape[1]} method(s); need at least {MIN_DATASETS} datasets and 2 methods"
        )
        return empty
    hib = higher_is_better(metric)
    ranks = mat.rank(axis=1, ascending=not hib, method="average")
    table = pd.DataFrame({"method": mat.columns, "mean_rank": ranks.mean().values})
    table["n_datasets"] = len(mat)
    table["friedman_stat"] = table["friedman_p"] = table["cd"] = np.nan
    result = None
    if mat.shape[1] >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every method tied on every dataset: NaN
            f = st.friedmanchisquare(*[mat[c].values for c in mat.columns])
        table["friedman_stat"], table["friedman_p"] = f.statistic, f.pvalue
        table["cd"] = nemenyi_cd(mat.shape[1], len(mat))
        result = _autorank(mat, hib, notes)
    else:
        notes.append("Friedman test and critical difference need at least 3 methods")
    bases = [baseline] if isinstance(baseline, str) or baseline is None else list(baseline)
    bases = [b or default_baseline(list(mat.columns)) for b in bases]
    tables = [_versus(table.copy(), mat, base, hib) for base in bases]
    for base in bases:
        if base is not None and base not in mat.columns:
            notes.append(
                f"baseline {base!r} has no result on every dataset of {block.task}: "
                "no Wilcoxon tests"
            )
    table = pd.concat(
        [
            t.assign(task=block.task, metric=metric)[["task", "metric", *t.columns]]
            .sort_values("mean_rank", kind="mergesort")
            .reset_index(drop=True)
            for t in tables
        ],
        ignore_index=True,
    )
    return Stats(block.task, metric, table, notes, result)


def _versus(table: pd.DataFrame, mat: pd.DataFrame, base: str | None, hib: bool) -> pd.DataFrame:
    """`table` (one row per method) with the wins/ties/losses and Wilcoxon signed-rank test
    of every method against `base` over the datasets, Holm-corrected."""
    table["baseline"] = base
    p, wins, ties, losses = [], [], [], []
    for m in mat.columns:
        if base is None or m == base or base not in mat.columns:
            p.append(np.nan), wins.append(np.nan), ties.append(np.nan), losses.append(np.nan)
            continue
        d = mat[m].values - mat[base].values
        d = d if hib else -d  # > 0: m better than the baseline
        wins.append(int((d > 0).sum()))
        losses.append(int((d < 0).sum()))
        ties.append(int((d == 0).sum()))
        p.append(
            1.0 if np.all(d == 0) else float(st.wilcoxon(mat[m].values, mat[base].values).pvalue)
        )
    table["wins"], table["ties"], table["losses"] = wins, ties, losses
    table["wilcoxon_p"] = p
    table["wilcoxon_p_holm"] = holm(p)
    return table


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi critical difference q_alpha * sqrt(k (k+1) / (6 n)), q_alpha the studentized
    range quantile over sqrt(2) (Demsar 2006, eq. 5)."""
    q = st.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


def _autorank(mat: pd.DataFrame, hib: bool, notes: list[str]):
    """autorank's Friedman + Nemenyi result (it needs >= 5 datasets) for the CD diagram."""
    if len(mat) < 5:
        notes.append(
            f"critical-difference diagram needs at least 5 datasets (autorank); got {len(mat)}"
        )
        return None
    import contextlib
    import io as _io

    from autorank import autorank

    with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # autorank prints and warns on ties; we report them
        return autorank(
            mat.reset_index(drop=True),
            alpha=ALPHA,
            verbose=False,
            order="descending" if hib else "ascending",
            force_mode="nonparametric",
        )


def cd_title(res: Stats) -> str:
    """The diagram's title: metric, task, number of datasets and the Friedman p-value."""
    from psilon_bench.report.figure_style import metric_label

    t = res.table
    n = int(t["n_datasets"].iloc[0])
    p = t["friedman_p"].iloc[0]
    friedman = "Friedman p = -" if p != p else f"Friedman p = {p:.3g}"
    return (
        f"{metric_label(res.metric)}, {res.task}: mean ranks over {n} datasets\n"
        f"{friedman}; Nemenyi critical difference at \u03b1 = {ALPHA:g}"
    )


def cd_figure(res: Stats):
    """The critical-difference diagram of a Stats result (a matplotlib Figure): methods under
    their display names, titled with `cd_title`."""
    import matplotlib

    matplotlib.use("Agg")
    from autorank import plot_stats

    from psilon_bench.report.figure_style import display_names

    result = res.rank_result
    names = display_names(result.rankdf.index)
    result = result._replace(rankdf=result.rankdf.rename(index=names))
    ax = plot_stats(result, allow_insignificant=True)
    ax.set_title(cd_title(res), fontsize=9)
    return ax.figure
