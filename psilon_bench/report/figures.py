"""Figures from records (matplotlib, Agg): `pareto` (sparsity vs test metric, P3/P4),
`lambda-path` (validation and test metric vs strength, selected strength marked),
`lipschitz` (1-path-norm [PSiLON], spectral and empirical bounds vs strength), `pruning`
(test metric vs fraction pruned, P5 [EWN]) and `curves` (validation loss vs step per
strength, the layout of [PSiLON] Figure 1). One panel per dataset (per dataset and method
for `lipschitz` and `curves`), legend outside the panels, means over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.report import PLOT_KINDS
from psilon_bench.report import figure_style as fs
from psilon_bench.report.collect import Collected, run_curves
from psilon_bench.report.matched import pareto_front
from psilon_bench.report.select import higher_is_better, select, select_metric, summarize

STRENGTH = "regularization strength \u03bb"
SELECTED = "selected \u03bb"
LIPSCHITZ = {
    "path_norm": "1-path-norm",
    "path_norm.improved": "\u03c6_IB (improved bound)",
    "path_norm.original": "\u03c6_OB (original bound)",
    "lipschitz.spectral_linf_l1": "spectral bound (\u2113\u221e\u2192\u21131)",
    "lipschitz.lower": "empirical lower bound",
}


def _strength_axis(ax, strengths) -> None:
    s = np.asarray([v for v in strengths if v == v], dtype=float)
    if (s > 0).any():
        if (s == 0).any():  # log axis that still shows lambda = 0
            ax.set_xscale("symlog", linthresh=float(s[s > 0].min()))
        else:
            ax.set_xscale("log")
    ax.set_xlabel(STRENGTH)


def _label(name: str, amount: float) -> str:
    return name if not amount else f"{name} [pruned {amount:g}]"


def _test_metric(task: str) -> str:
    return "test.accuracy" if task == "classification" else "test.rmse"


def _need_strength(df: pd.DataFrame, kind: str) -> None:
    if "strength" not in df.columns or df["strength"].nunique() < 2:
        raise UserError(
            f"plot --kind {kind} needs runs with several regularization strengths (regularizer.strength=[...])"
        )


def _style(c: Collected) -> tuple[dict[str, str], dict[str, str]]:
    """Display names and colours of every method of the records: the same in every panel
    and every figure drawn from them."""
    methods = c.records["method"].astype(str).unique()
    return fs.display_names(methods), fs.palette(methods)


def sparsity_column(df: pd.DataFrame) -> str:
    """Exact sparsity where some weight is exactly zero, else the relative threshold
    sparsity the tables use (1e-2, then 1e-3)."""
    if (pd.to_numeric(df.get("sparsity.exact"), errors="coerce") > 0).any():
        return "sparsity.exact"
    return next(
        (c for c in ("sparsity.threshold_1e-2", "sparsity.threshold_1e-3") if c in df.columns),
        "sparsity.exact",
    )


def sparsity_label(col: str) -> str:
    """The axis label of a sparsity column, with the threshold rule of measure.sparsity."""
    if col.startswith("sparsity.threshold_"):
        tau = col.removeprefix("sparsity.threshold_")
        return f"relative sparsity: |w| \u2264 {tau} \u00d7 unit's mean |w|"
    return "exact sparsity (fraction of weights = 0)"


def pareto(c: Collected, select_on: str | None = None):
    """Sparsity vs test metric, one curve per method through its non-dominated points
    (means over seeds per strength; the others faded), the table's selected member starred,
    the panel's non-dominated points ringed; y-limits from the non-dominated and selected
    points, outliers drawn as triangles on the edge."""
    df = c.records
    if "sparsity.exact" not in df.columns:
        raise UserError("plot --kind pareto needs sparsity.exact in the records")
    xcol = sparsity_column(df)
    names, colors = _style(c)
    ok = df[df["status"].fillna("ok") == "ok"]
    chosen = select(ok, select_on)
    chosen = chosen[chosen["selected"].astype(bool)]
    fig, axes = fs.grid(df["data"].nunique())
    for ax, data in zip(axes, sorted(df["data"].unique())):
        sub = ok[ok["data"] == data]
        ycol = _test_metric(str(sub["task"].iloc[0]))
        better = higher_is_better(ycol)
        keys = ["method", "prune.amount", *[a for a in ("strength", "lr") if a in sub.columns]]
        pts = sub.groupby(keys, dropna=False)[[xcol, ycol]].mean().reset_index()
        sel = chosen[chosen["data"] == data].groupby(["method", "prune.amount"])[[xcol, ycol]]
        sel = sel.mean()
        focus = list(sel[ycol].values)
        faded = []
        for (method, amount), g in pts.groupby(["method", "prune.amount"]):
            color, label = colors[method], _label(names[method], amount)
            mask = pareto_front(g[xcol].values, g[ycol].values, better)
            own = g[mask].sort_values(xcol)
            focus += list(own[ycol].values)
            faded.append((g[~mask], color))
            ls = "-" if not amount else "--"
            ax.plot(own[xcol], own[ycol], marker="o", ms=3, lw=1, ls=ls, color=color, label=label)
            if (method, amount) in sel.index:
                x, y = sel.loc[(method, amount)]
                ax.plot([x], [y], marker="*", ms=9, color=color, mec="black", mew=0.5, ls="")
        front = pareto_front(pts[xcol].values, pts[ycol].values, better)
        ax.scatter(
            pts[xcol].values[front], pts[ycol].values[front], s=40, facecolors="none",
            edgecolors="black", linewidths=1, label="non-dominated", zorder=3,
        )  # fmt: skip
        limits = fs.focus_limits(focus)
        for g, color in faded:
            inside = g[(g[ycol] >= limits[0]) & (g[ycol] <= limits[1])]
            ax.scatter(inside[xcol], inside[ycol], s=6, color=color, alpha=0.4, lw=0)
            fs.at_the_edge(ax, g[xcol], g[ycol], limits, color)
        ax.set_ylim(*limits)
        ax.plot(
            [], [], ls="", marker="*", ms=9, color="gray", mec="black", label="selected (table)"
        )
        ax.set(title=fs.wrap(data), xlabel=fs.wrap(sparsity_label(xcol), 50))
        ax.set_ylabel(fs.metric_label(ycol))
    fs.legend_outside(fig, axes, last=("selected (table)", "non-dominated", fs.OUTSIDE))
    return fig


def _grid_position(strengths: pd.Series) -> pd.Series:
    """Each strength's place in its own sorted grid, 0 (weakest) to 1 (strongest)."""
    grid = sorted(strengths.dropna().unique())
    pos = {s: (i / (len(grid) - 1) if len(grid) > 1 else 0.5) for i, s in enumerate(grid)}
    return strengths.map(pos)


def _baseline_axis(sub: pd.DataFrame, names: dict[str, str]) -> str:
    """The baselines panel's x-label: grid position, and each baseline's own penalty."""
    own = []
    for method, g in sub.groupby("method"):
        model = str(method).partition("(")[0]
        s = g["strength"].dropna()
        what = fs.BASELINE_PENALTY.get(model, "strength")
        own.append(f"{names[method]}: {what} {s.min():g}\u2013{s.max():g}")
    return "own penalty grid, 0 weakest \u2192 1 strongest (" + "; ".join(own) + ")"


def lambda_path(c: Collected, select_on: str | None = None):
    """Validation (dashed) and test (solid) metric vs strength per method, means over
    seeds; a star marks the most often selected strength. scikit-learn baselines, whose
    strength is their own penalty (1/C, min_samples_leaf, ...), get their own panel beside
    the networks', on the position in each one's grid."""
    df = c.records
    _need_strength(df, "lambda-path")
    base = df[df["prune.amount"] == 0]
    sel = select(base, select_on)
    names, colors = _style(c)
    is_base = base["method"].astype(str).str.startswith("sklearn_")
    sides = [s for s, m in (("networks", ~is_base), ("baselines", is_base)) if m.any()]
    panels = [(d, s) for d in sorted(base["data"].unique()) for s in sides]
    fig, axes = fs.grid(len(panels), ncols=4 if len(sides) == 2 else 3)
    for ax, (data, side) in zip(axes, panels):
        sub = base[(base["data"] == data) & (base["status"].fillna("ok") == "ok")]
        sub = sub[sub["method"].astype(str).str.startswith("sklearn_") == (side == "baselines")]
        if sub.empty:
            ax.set_visible(False)
            continue
        val = select_metric(str(sub["task"].iloc[0]), select_on)
        test = "test." + val.partition(".")[2]
        chosen = summarize(sel[sel["data"] == data], [test]).set_index("method")
        for method, g in sub.groupby("method"):
            color = colors[method]
            if "lr" in g.columns and g["lr"].nunique() > 1:  # the curve at the selected lr
                g = g[g["lr"] == chosen.loc[method, "lr"]]
            mean = g.groupby("strength")[[val, test]].mean()
            x = mean.index.to_series()
            x = _grid_position(x) if side == "baselines" else x
            ax.plot(x.values, mean[val], ls="--", color=color, lw=1)
            ax.plot(
                x.values, mean[test], ls="-", color=color, lw=1, marker="o", ms=2.5,
                label=names[method],
            )  # fmt: skip
            s = chosen.loc[method, "strength"] if method in chosen.index else np.nan
            if s in mean.index:
                ax.plot(
                    [x[s]], [mean.loc[s, test]], marker="*", ms=9, color=color, mec="black", mew=0.5
                )
        if side == "baselines":
            ax.set_xlabel(fs.wrap(_baseline_axis(sub, names), 52))
        else:
            _strength_axis(ax, sub["strength"])
        title = data if len(sides) == 1 else f"{data}: {side}"
        ax.set(title=fs.wrap(title), ylabel=fs.NAMES.get(val.partition(".")[2], val))
        ax.plot([], [], ls="--", color="gray", label="validation (dashed)")
        ax.plot([], [], ls="-", color="gray", label="test (solid)")
        ax.plot([], [], ls="", marker="*", ms=9, color="gray", mec="black", label=SELECTED)
    keys = ("validation (dashed)", "test (solid)", SELECTED)
    fs.legend_outside(fig, [ax for ax in axes if ax.get_visible()], last=keys)
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
    names, _ = _style(c)
    base = df[(df["prune.amount"] == 0) & (df["status"].fillna("ok") == "ok")]
    panels = sorted(base.groupby(["data", "method"]).groups)
    fig, axes = fs.grid(len(panels))
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
            title=fs.wrap(f"{data}: {names[method]}"),
            ylabel="Lipschitz constant / bound (\u2113\u221e\u2192\u21131)",
        )
    fs.legend_outside(fig, axes)
    return fig


# [EWN] Figure (MNIST, one hidden layer, units with the smallest incoming norm pruned, no
# retraining): test accuracy at 80 % and 90 % of the units pruned
PAPER_PRUNING = {
    "ewn_mlp": {0.8: 0.972, 0.9: 0.932},
    "swn_mlp": {0.8: 0.925, 0.9: 0.759},
    "mlp": {0.8: 0.931, 0.9: 0.792},
}
PAPER_LABEL = "paper (MNIST), hollow diamonds"
DODGE = 0.008  # x-offset between the methods' error bars (fraction pruned)


def _paper_points(ax, method: str, color: str) -> bool:
    """The paper's accuracy after unit pruning for this method's model, hollow diamonds."""
    parts = str(method).partition("(")[0].split("+")
    ref = PAPER_PRUNING.get(parts[0]) if parts[1:2] in (["none"], []) else None
    if ref is None:
        return False
    ax.plot(
        list(ref), list(ref.values()), ls="", marker="D", ms=5, mfc="none", mec=color, mew=1.2,
        zorder=4,
    )  # fmt: skip
    return True


def pruning(c: Collected, select_on: str | None = None):
    """Test metric (mean +- std over seeds) of the selected members vs the fraction of
    units or weights pruned, one curve per method; for unit pruning of EWN, SWN and the
    plain net, the [EWN] paper's MNIST accuracies as hollow diamonds."""
    df = c.records
    if not (df["prune.amount"] > 0).any():
        raise UserError(
            "plot --kind pruning: no pruned records (prune.amount > 0) in these runs; "
            "run with pruning=neuron_norm or pruning=magnitude"
        )
    names, colors = _style(c)
    sel = select(df, select_on)
    kinds = sorted(set(df.get("prune.kind", pd.Series(dtype=object)).dropna().astype(str)))
    kind = kinds[0] if len(kinds) == 1 else None
    what = {"neuron_norm": "units", "magnitude": "weights"}.get(kind, "units or weights")
    panels = sorted(sel["data"].unique())
    fig, axes = fs.grid(len(panels))
    for ax, data in zip(axes, panels):
        sub = sel[(sel["data"] == data) & sel["selected"].astype(bool)]
        ycol = _test_metric(str(sub["task"].iloc[0]))
        paper = False
        groups = list(sub.groupby("method"))
        for i, (method, g) in enumerate(groups):
            stats = g.groupby("prune.amount")[ycol].agg(["mean", "std"])
            x = stats.index + DODGE * (i - (len(groups) - 1) / 2)  # error bars side by side
            color = colors[method]
            ax.errorbar(
                x, stats["mean"], yerr=stats["std"].fillna(0), ls="", capsize=2,
                color=color,
            )  # fmt: skip
            ax.plot(x, stats["mean"], marker="o", ms=3, lw=1, color=color,
                    label=names[method])  # fmt: skip
            if kind == "neuron_norm" and ycol == "test.accuracy":
                paper |= _paper_points(ax, method, colors[method])
        if paper:
            label = "paper" if "mnist" in str(data).lower() else PAPER_LABEL
            ax.plot([], [], ls="", marker="D", ms=5, mfc="none", mec="gray", label=label)
        ax.set(
            title=fs.wrap(data), xlabel=f"fraction of {what} pruned", ylabel=fs.metric_label(ycol)
        )
    fs.legend_outside(fig, axes)
    return fig


def curves(c: Collected, select_on: str | None = None):
    """Validation loss vs optimizer step, one line per strength (mean over seeds, a band of
    +- one std over seeds), one panel per dataset and method (the layout of [PSiLON]
    Figure 1)."""
    cur = run_curves(c)
    if cur.empty or "val.loss" not in cur.columns:
        missing = [str(r) for r in c.runs][:3]
        raise UserError(
            f"plot --kind curves: no curves.jsonl beside the records of {len(c.runs)} run(s) "
            f"(e.g. {', '.join(missing)}); learning curves are written by runs with trainer.curve_every"
        )
    names, _ = _style(c)
    panels = sorted(cur.groupby(["data", "method"]).groups)

    def label(s: float | None) -> str:
        return "\u03bb = -" if s is None else f"\u03bb = {s:g}"

    every = cur["strength"].dropna().unique() if "strength" in cur.columns else []
    colors = fs.palette([label(None), *(label(s) for s in every)])
    fig, axes = fs.grid(len(panels))
    band = False
    for ax, (data, method) in zip(axes, panels):
        g = cur[(cur["data"] == data) & (cur["method"] == method)]
        strengths = sorted(g["strength"].dropna().unique()) if "strength" in g.columns else [None]
        for s in strengths:
            h = g if s is None else g[g["strength"] == s]
            # a curve per seed first (its members averaged), then mean and std over seeds
            by = ["step", "seed"] if "seed" in h.columns else ["step"]
            per_seed = h.groupby(by)["val.loss"].mean()
            stats = per_seed.groupby(level="step").agg(["mean", "std"])
            color = colors[label(s)]
            ax.plot(stats.index, stats["mean"], lw=1, color=color, label=label(s))
            if stats["std"].notna().any():
                lo = (stats["mean"] - stats["std"]).clip(lower=stats["mean"] * 0.05)
                ax.fill_between(stats.index, lo, stats["mean"] + stats["std"], color=color,
                                alpha=0.2, lw=0)  # fmt: skip
                band = True
        ax.set_yscale("log")
        fs.plain_ticks(ax.yaxis)
        ax.set(
            title=fs.wrap(f"{data}: {names[method]}"),
            xlabel="optimizer step",
            ylabel="validation loss (nats)"
            if g["task"].iloc[0] == "classification"
            else "validation loss (MSE)",
        )
    if band:
        axes[0].fill_between([], [], [], color="gray", alpha=0.2, label="\u00b1 1 std over seeds")
    fs.legend_outside(fig, axes)
    return fig


KINDS = dict(zip(PLOT_KINDS, (pareto, lambda_path, lipschitz, pruning, curves)))


def draw(kind: str, collected: Collected, select_on: str | None = None):
    """The matplotlib Figure of `kind` (see KINDS)."""
    if kind not in KINDS:
        raise UserError(f"--kind {kind!r} is not a plot kind; allowed: {', '.join(KINDS)}")
    return KINDS[kind](collected, select_on)
