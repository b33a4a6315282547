"""Figures from records (matplotlib, Agg): `pareto` (sparsity vs test metric, P3/P4),
`lambda-path` (validation and test metric vs strength, selected strength marked),
`lipschitz` (1-path-norm [PSiLON], spectral and empirical bounds vs strength), `pruning`
(test metric vs fraction pruned, P5 [EWN]) and `curves` (validation loss vs step per
strength, the layout of [PSiLON] Figure 1). One panel per dataset (per dataset and method
for `lipschitz` and `curves`), legend outside the panels, means over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.report import PLOT_KINDS
from psilon_bench.report.collect import Collected, run_curves
from psilon_bench.report.select import higher_is_better, select, select_metric, summarize

PANEL = (3.3, 2.6)  # inches per panel: two or three panels span a paper's text width
STRENGTH = "regularization strength \u03bb"
LIPSCHITZ = {
    "path_norm": "1-path-norm",
    "path_norm.improved": "\u03c6_IB (improved bound)",
    "path_norm.original": "\u03c6_OB (original bound)",
    "lipschitz.spectral_linf_l1": "spectral bound (\u2113\u221e\u2192\u21131)",
    "lipschitz.lower": "empirical lower bound",
}
NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy"}
NAMES.update(log_loss="log-loss (nats)", rmse="RMSE (transformed target)", r2="R\u00b2")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7})
    return plt


def metric_label(metric: str) -> str:
    split, _, name = metric.partition(".")
    split = {"val": "validation", "test": "test", "train": "training"}.get(split, split)
    return f"{split} {NAMES.get(name, name)}"


def _grid(n: int, ncols: int = 3):
    plt = _pyplot()
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(PANEL[0] * ncols, PANEL[1] * nrows), squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def palette(labels) -> dict[str, str]:
    """One colour per label for a whole figure, the same in every panel (the shared legend
    shows each label once), in sorted order of the labels."""
    names = sorted({str(label) for label in labels})
    cycle = [f"C{i}" for i in range(10)]
    if len(names) > 10:  # beyond matplotlib's ten: tab20, then repeat
        import matplotlib

        cycle = [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps["tab20"].colors]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _wrap(title: str, width: int = 44) -> str:
    """A panel title on as many lines as it needs, so neighbouring titles never overlap."""
    import textwrap

    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False)) or title


def _plain_ticks(axis) -> None:
    """Plain numbers on a log axis (0.9, 1, 2), never `1.08x10^0`: a loss curve often spans
    less than a decade, where matplotlib labels the minor ticks in scientific notation."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # matplotlib's choice of ticks to label, written plainly
        def __call__(self, x, pos=None):  # noqa: ANN001, ANN204
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _legend_outside(fig, axes) -> None:
    """One legend for the figure, right of the panels (never over the data)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    if seen:
        fig.tight_layout()
        fig.legend(
            seen.values(), seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
        )


def _strength_axis(ax, strengths) -> None:
    s = np.asarray([v for v in strengths if v == v], dtype=float)
    if (s > 0).any():
        if (s == 0).any():  # log axis that still shows lambda = 0
            ax.set_xscale("symlog", linthresh=float(s[s > 0].min()))
        else:
            ax.set_xscale("log")
    ax.set_xlabel(STRENGTH)


def _label(method: str, amount: float) -> str:
    return method if not amount else f"{method} [pruned {amount:g}]"


def _test_metric(task: str) -> str:
    return "test.accuracy" if task == "classification" else "test.rmse"


def _need_strength(df: pd.DataFrame, kind: str) -> None:
    if "strength" not in df.columns or df["strength"].nunique() < 2:
        raise UserError(
            f"plot --kind {kind} needs runs with several regularization strengths (regularizer.strength=[...])"
        )


def pareto(c: Collected, select_on: str | None = None):
    """Sparsity vs test metric, one curve per method (points: strengths, means over seeds);
    non-dominated points (more sparse and at least as good) ringed in black."""
    df = c.records
    xcol = "sparsity.exact"
    if xcol not in df.columns:
        raise UserError("plot --kind pareto needs sparsity.exact in the records")
    if (
        not (pd.to_numeric(df[xcol], errors="coerce") > 0).any()
        and "sparsity.threshold_1e-3" in df.columns
    ):
        xcol = "sparsity.threshold_1e-3"
    xlabel = "exact sparsity (fraction of weights = 0)"
    if xcol != "sparsity.exact":
        xlabel = "sparsity (fraction of |w| < 1e-3)"
    panels = sorted(df["data"].unique())
    pairs = df[["method", "prune.amount"]].drop_duplicates().itertuples(index=False)
    colors = palette(_label(m, a) for m, a in pairs)
    fig, axes = _grid(len(panels))
    for ax, data in zip(axes, panels):
        sub = df[(df["data"] == data) & (df["status"].fillna("ok") == "ok")]
        ycol = _test_metric(str(sub["task"].iloc[0]))
        keys = ["method", "prune.amount", *[a for a in ("strength", "lr") if a in sub.columns]]
        pts = sub.groupby(keys, dropna=False)[[xcol, ycol]].mean().reset_index()
        better = higher_is_better(ycol)
        for (method, amount), g in pts.groupby(["method", "prune.amount"]):
            color = colors[_label(method, amount)]
            own = g[_front(g[xcol].values, g[ycol].values, better)].sort_values(xcol)
            ax.scatter(g[xcol], g[ycol], s=6, color=color, alpha=0.4, lw=0)
            ax.plot(
                own[xcol],
                own[ycol],
                marker="o",
                ms=3,
                lw=1,
                color=color,
                label=_label(method, amount),
            )
        better = higher_is_better(ycol)
        front = _front(pts[xcol].values, pts[ycol].values, better)
        ax.scatter(
            pts[xcol].values[front],
            pts[ycol].values[front],
            s=40,
            facecolors="none",
            edgecolors="black",
            linewidths=1,
            label="non-dominated",
            zorder=3,
        )
        ax.set(title=data, xlabel=xlabel, ylabel=metric_label(ycol))
    _legend_outside(fig, axes)
    return fig


def _front(x: np.ndarray, y: np.ndarray, higher: bool) -> np.ndarray:
    """Points no other point beats in both sparsity (x) and the metric (y)."""
    y = y if higher else -y
    keep = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        dominated = (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        keep[i] = not dominated.any() and np.isfinite(y[i])
    return keep


def lambda_path(c: Collected, select_on: str | None = None):
    """Validation (dashed) and test (solid) metric vs strength per method, means over
    seeds; a star marks the most often selected strength."""
    df = c.records
    _need_strength(df, "lambda-path")
    base = df[df["prune.amount"] == 0]
    sel = select(base, select_on)
    panels = sorted(base["data"].unique())
    colors = palette(base["method"])
    fig, axes = _grid(len(panels))
    for ax, data in zip(axes, panels):
        sub = base[(base["data"] == data) & (base["status"].fillna("ok") == "ok")]
        val = select_metric(str(sub["task"].iloc[0]), select_on)
        test = "test." + val.partition(".")[2]
        chosen = summarize(sel[sel["data"] == data], [test]).set_index("method")
        for method, g in sub.groupby("method"):
            color = colors[method]
            if "lr" in g.columns and g["lr"].nunique() > 1:  # the curve at the selected lr
                g = g[g["lr"] == chosen.loc[method, "lr"]]
            mean = g.groupby("strength")[[val, test]].mean()
            ax.plot(mean.index, mean[val], ls="--", color=color, lw=1)
            ax.plot(
                mean.index, mean[test], ls="-", color=color, lw=1, marker="o", ms=2.5, label=method
            )
            s = chosen.loc[method, "strength"] if method in chosen.index else np.nan
            if s in mean.index:
                ax.plot(
                    [s], [mean.loc[s, test]], marker="*", ms=9, color=color, mec="black", mew=0.5
                )
        _strength_axis(ax, sub["strength"])
        ax.set(title=data, ylabel=NAMES.get(val.partition(".")[2], val))
        ax.plot([], [], ls="--", color="gray", label="validation (dashed)")
        ax.plot([], [], ls="-", color="gray", label="test (solid)")
        ax.plot([], [], ls="", marker="*", ms=9, color="gray", mec="black", label="selected \u03bb")
    _legend_outside(fig, axes)
    return fig


def lipschitz(c: Collected, select_on: str | None = None):
    """1-path-norm (phi_IB / phi_OB for residual nets), the spectral bound and the
    empirical lower bound vs strength, log scale, one panel per dataset and method."""
    df = c.records
    _need_strength(df, "lipschitz")
    cols = [
        k
        for k in LIPSCHITZ
        if k in df.columns and pd.to_numeric(df[k], errors="coerce").notna().any()
    ]
    if not cols:
        raise UserError(f"plot --kind lipschitz: the records hold none of {', '.join(LIPSCHITZ)}")
    base = df[(df["prune.amount"] == 0) & (df["status"].fillna("ok") == "ok")]
    panels = sorted(base.groupby(["data", "method"]).groups)
    fig, axes = _grid(len(panels))
    for ax, (data, method) in zip(axes, panels):
        g = base[(base["data"] == data) & (base["method"] == method)]
        mean = g.groupby("strength")[cols].mean(numeric_only=True)
        for i, col in enumerate(cols):
            # a residual net's 1-path-norm equals the bound it is regularized with: drawn
            # wide and pale underneath, it stays visible where the lines coincide
            wide = {"lw": 4, "alpha": 0.4, "zorder": 1} if col == "path_norm" else {"lw": 1}
            ax.plot(
                mean.index, mean[col], marker="o", ms=2.5, color=f"C{i}", label=LIPSCHITZ[col],
                **wide,
            )  # fmt: skip
        ax.set_yscale("log")
        _strength_axis(ax, g["strength"])
        ax.set(
            title=_wrap(f"{data}: {method}"),
            ylabel="Lipschitz constant / bound (\u2113\u221e\u2192\u21131)",
        )
    _legend_outside(fig, axes)
    return fig


def pruning(c: Collected, select_on: str | None = None):
    """Test metric (mean +- std over seeds) of the selected members vs the fraction of
    units or weights pruned, one curve per method."""
    df = c.records
    if not (df["prune.amount"] > 0).any():
        raise UserError(
            "plot --kind pruning: no pruned records (prune.amount > 0) in these runs; "
            "run with pruning=neuron_norm or pruning=magnitude"
        )
    sel = select(df, select_on)
    panels = sorted(sel["data"].unique())
    colors = palette(sel["method"])
    fig, axes = _grid(len(panels))
    for ax, data in zip(axes, panels):
        sub = sel[(sel["data"] == data) & sel["selected"].astype(bool)]
        ycol = _test_metric(str(sub["task"].iloc[0]))
        for method, g in sub.groupby("method"):
            stats = g.groupby("prune.amount")[ycol].agg(["mean", "std"])
            ax.errorbar(
                stats.index,
                stats["mean"],
                yerr=stats["std"].fillna(0),
                marker="o",
                ms=3,
                lw=1,
                capsize=2,
                color=colors[method],
                label=method,
            )
        kinds = sorted(set(df.get("prune.kind", pd.Series(dtype=object)).dropna().astype(str)))
        what = (
            {"neuron_norm": "units", "magnitude": "weights"}.get(kinds[0], "units or weights")
            if len(kinds) == 1
            else "units or weights"
        )
        ax.set(title=data, xlabel=f"fraction of {what} pruned", ylabel=metric_label(ycol))
    _legend_outside(fig, axes)
    return fig


def curves(c: Collected, select_on: str | None = None):
    """Validation loss vs optimizer step, one line per strength (mean over seeds), one
    panel per dataset and method (the layout of [PSiLON] Figure 1)."""
    cur = run_curves(c)
    if cur.empty or "val.loss" not in cur.columns:
        missing = [str(r) for r in c.runs][:3]
        raise UserError(
            f"plot --kind curves: no curves.jsonl beside the records of {len(c.runs)} run(s) "
            f"(e.g. {', '.join(missing)}); learning curves are written by runs with trainer.curve_every"
        )
    panels = sorted(cur.groupby(["data", "method"]).groups)

    def label(s: float | None) -> str:
        return "\u03bb = -" if s is None else f"\u03bb = {s:g}"

    every = cur["strength"].dropna().unique() if "strength" in cur.columns else []
    colors = palette([label(None), *(label(s) for s in every)])
    fig, axes = _grid(len(panels))
    for ax, (data, method) in zip(axes, panels):
        g = cur[(cur["data"] == data) & (cur["method"] == method)]
        strengths = sorted(g["strength"].dropna().unique()) if "strength" in g.columns else [None]
        for s in strengths:
            h = g if s is None else g[g["strength"] == s]
            mean = h.groupby("step")["val.loss"].mean()
            ax.plot(
                mean.index,
                mean.values,
                lw=1,
                color=colors[label(s)],
                label=label(s),
            )
        ax.set_yscale("log")
        _plain_ticks(ax.yaxis)
        ax.set(
            title=_wrap(f"{data}: {method}"),
            xlabel="optimizer step",
            ylabel="validation loss (nats)"
            if g["task"].iloc[0] == "classification"
            else "validation loss (MSE)",
        )
    _legend_outside(fig, axes)
    return fig


KINDS = dict(zip(PLOT_KINDS, (pareto, lambda_path, lipschitz, pruning, curves)))


def draw(kind: str, collected: Collected, select_on: str | None = None):
    """The matplotlib Figure of `kind` (see KINDS)."""
    if kind not in KINDS:
        raise UserError(f"--kind {kind!r} is not a plot kind; allowed: {', '.join(KINDS)}")
    return KINDS[kind](collected, select_on)
