"""What every figure shares: display names of methods (the raw method id stays in the CSVs),
one colour per method for a whole report, wrapped titles, plain log-axis ticks, the legend
outside the panels and y-limits that keep outliers at the panel's edge."""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np

MODELS = {
    "mlp": "MLP",
    "psilon_net": "PSiLON Net",
    "psilon_resnet": "PSiLON ResNet",
    "standard_net": "Standard Net",
    "ewn_mlp": "EWN MLP",
    "swn_mlp": "SWN MLP",
    "sklearn_logistic": "logistic regression",
    "sklearn_ridge": "ridge regression",
    "sklearn_rf": "random forest",
    "sklearn_mlp": "scikit-learn MLP",
    "sklearn_hgb": "gradient boosting (HGB)",
    "catboost": "CatBoost",
    "lightgbm": "LightGBM",
    "xgboost": "XGBoost",
}
REGULARIZERS = {
    "none": "",
    "path_norm": "path norm",
    "weight_decay": "weight decay",
    "l1": "L1",
    "l2": "L2",
    "length_l2": "L2 on lengths",
    "lp_bridge": "L_p bridge",
    "soft_diamond": "soft diamond",
}
PRUNINGS = {
    "none": "",
    "psilon_projection": "L1 projection",
    "neuron_norm": "unit pruning",
    "magnitude": "magnitude pruning",
}
# what `regularizer.strength` means for a scikit-learn baseline (its own penalty)
BASELINE_PENALTY = {
    "sklearn_logistic": "1/C",
    "sklearn_ridge": "alpha",
    "sklearn_rf": "min_samples_leaf",
    "sklearn_mlp": "alpha (L2)",
    "sklearn_hgb": "l2_regularization",
    "catboost": "l2_leaf_reg",
    "lightgbm": "reg_lambda",
    "xgboost": "reg_lambda",
}
OUTSIDE = "outside the y-range (drawn at the edge)"
NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy"}
NAMES.update(log_loss="log-loss (nats)", rmse="RMSE (transformed target)", r2="R\u00b2")
PANEL = (3.3, 2.6)  # inches per panel: two or three panels span a paper's text width


def pyplot():
    """matplotlib.pyplot on the Agg backend, with the figures' font sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7})
    return plt


def grid(n: int, ncols: int = 3):
    """n panels, `ncols` a row, the unused ones hidden: (figure, list of n axes)."""
    plt = pyplot()
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(PANEL[0] * ncols, PANEL[1] * nrows), squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def metric_label(metric: str) -> str:
    """`test.accuracy` -> `test accuracy`, `val.log_loss` -> `validation log-loss (nats)`."""
    split, _, name = metric.partition(".")
    split = {"val": "validation", "test": "test", "train": "training"}.get(split, split)
    return f"{split} {NAMES.get(name, name)}"


def _parts(method: str) -> tuple[list[str], str]:
    """`model+regularizer[+pruning](options)` -> ([model, regularizer, pruning], options)."""
    m = re.fullmatch(r"([^()]*)(?:\((.*)\))?", method)
    base, options = (m.group(1), m.group(2) or "") if m else (method, "")
    return base.split("+"), options


def display_name(method: str, with_pruning: bool = False) -> str:
    """A method id as a reader names it: `psilon_net+path_norm` -> `PSiLON Net + path norm`,
    `mlp+lp_bridge(p=0.8)` -> `MLP + L_p bridge (p=0.8)`, `sklearn_rf` -> `random forest`.
    The pruning (evaluation) is named only `with_pruning`, except the L1 projection, which
    is part of training. `<method> + ensemble(k)` (`ensemble: k`) -> `<its name>, ensemble of k`."""
    found = re.fullmatch(r"(.+) \+ ensemble\((\d+)\)", method)
    if found:
        return f"{display_name(found.group(1), with_pruning)}, ensemble of {found.group(2)}"
    parts, options = _parts(method)
    model, rest = parts[0], parts[1:]
    words = [MODELS.get(model, model)]
    if rest and not model.startswith("sklearn_"):
        reg = REGULARIZERS.get(rest[0], rest[0])
        words += [reg] if reg else []
    for prune in rest[1:]:
        if with_pruning or prune == "psilon_projection":
            name = PRUNINGS.get(prune, prune)
            words += [name] if name else []
    name = " + ".join(words)
    return f"{name} ({options})" if options else name


def display_names(methods) -> dict[str, str]:
    """One display name per method id of a report, unique: the pruning is named where two
    methods differ only in it, and the raw id is kept where names would still coincide."""
    ids = sorted({str(m) for m in methods})
    names = {m: display_name(m) for m in ids}
    for m in ids:
        if sum(v == names[m] for v in names.values()) > 1:
            names[m] = display_name(m, with_pruning=True)
    for m in ids:
        if sum(v == names[m] for v in names.values()) > 1:
            names[m] = f"{names[m]} [{m}]"
    return names


def palette(labels) -> dict[str, str]:
    """One colour per label for a whole report, the same in every panel and in every figure
    drawn from the same records (pass every method of the records, not a panel's), in
    sorted order of the labels."""
    names = sorted({str(label) for label in labels})
    cycle = [f"C{i}" for i in range(10)]
    if len(names) > 10:  # beyond matplotlib's ten: tab20, then tab20b and tab20c (60 in all)
        import matplotlib

        cycle = [
            matplotlib.colors.to_hex(c)
            for name in ("tab20", "tab20b", "tab20c")
            for c in matplotlib.colormaps[name].colors
        ]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def wrap(title: str, width: int = 44) -> str:
    """A title on as many lines as it needs, so neighbouring titles never overlap."""
    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False)) or title


def plain_ticks(axis) -> None:
    """Plain numbers on a log axis (0.9, 1, 2), never `1.08x10^0`: a loss curve often spans
    less than a decade, where matplotlib labels the minor ticks in scientific notation."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # matplotlib's choice of ticks to label, written plainly
        def __call__(self, x, pos=None):  # noqa: ANN001, ANN204
            return f"{x:.3g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def legend_outside(fig, axes, last=()) -> None:
    """One legend for the figure, right of the panels (never over the data): the methods
    first, then the entries that explain the marks (`last`, in that order)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    keys = [k for k in last if k in seen]
    seen = {k: v for k, v in seen.items() if k not in keys} | {k: seen[k] for k in keys}
    if seen:
        fig.tight_layout()
        fig.legend(
            seen.values(), seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
        )


def focus_limits(values, pad: float = 0.15, min_span: float = 0.01) -> tuple[float, float]:
    """y-limits around the points that matter (non-dominated, selected): their range plus
    `pad` of it on each side, at least `min_span` wide."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
    span = max(hi - lo, min_span)
    mid = (lo + hi) / 2
    half = span / 2 * (1 + 2 * pad)
    return mid - half, mid + half


def at_the_edge(ax, x, y, limits, color) -> int:
    """Scatter the points of (x, y) outside `limits` on the panel's edge (a triangle pointing
    out, at their own x) so they are seen without squashing the rest; returns how many."""
    lo, hi = limits
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = 0
    for mask, edge, marker in ((y < lo, lo, "v"), (y > hi, hi, "^")):
        if mask.any():
            ax.scatter(
                x[mask], np.full(mask.sum(), edge), marker=marker, s=22, color=color,
                edgecolors="black", linewidths=0.4, clip_on=False, zorder=4, label=OUTSIDE,
            )  # fmt: skip
            n += int(mask.sum())
    return n
