"""The summary printed after a run: one row per setting of the member axes (strength,
learning rate, pruning amount), validation beside test as mean ± std over the seeds
(diverged members are counted, not averaged), the structure metrics, and in `sel` for how
many seeds validation selects the setting (the rule of `psilon_bench.report.select`,
docs/protocols.md; for one run's records without pandas, `report.run_select`).

Made for terminals of any width and for logs: numbers never wrap (when the table is too
wide it drops the std, then the least important columns, and says so), the title and the
records path are printed as plain lines that are never broken, and the whole summary is
one write (parallel workers do not interleave).
"""

from __future__ import annotations

import io
import math
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psilon_bench.baselines import is_baseline

#: member axes shown as the row key when present: (record key, header)
AXES = [("strength", "strength"), ("lr", "lr"), ("prune.amount", "pruned")]
#: (record key, header), most important first within each task
METRICS = {
    "classification": [
        ("val.log_loss", "val loss"),
        ("val.accuracy", "val acc"),
        ("test.accuracy", "test acc"),
        ("test.log_loss", "test loss"),
    ],
    "regression": [
        ("val.rmse", "val RMSE"),
        ("val.r2", "val R^2"),
        ("test.rmse", "test RMSE"),
        ("test.r2", "test R^2"),
    ],
}
#: the path-norm column's header per `path_norm.bound` (docs/methods.md (path norm), §2.3)
BOUND_LABEL = {"chain": "path-norm", "improved": "phi_IB", "original": "phi_OB"}
BOUND_NOTE = {
    "improved": "phi_IB: the improved 1-path-norm bound of the residual net (docs: methods)",
    "original": "phi_OB: the original 1-path-norm bound of the residual net (docs: methods)",
}
#: columns left out, in this order, when the terminal is narrow: the secondary metrics
#: first (keeping ± std), then, with means only, the structure metrics
SECONDARY = ["test.log_loss", "test.r2", "val.accuracy", "val.r2"]
DROP_ORDER = [*SECONDARY, "sparsity.exact", "path_norm.regularized", "path_norm"]


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def number(x: float, digits: int) -> str:
    """`x` to `digits` significant digits, without an exponent between 1e-4 and 1e6."""
    if x == 0 or not 1e-4 <= abs(x) < 1e6:
        return f"{x:.{digits}g}"
    rounded = round(x, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{rounded:.10g}"


def mean_std(values: Sequence[Any], style: str = "full") -> str:
    """`0.9594 ± 0.005` (full), `0.9594±0.005` (compact) or `0.9594` (mean)."""
    values = _finite(values)
    if not values:
        return "-"
    mean = number(statistics.fmean(values), 4)
    if len(values) == 1 or style == "mean":
        return mean
    std = number(statistics.stdev(values), 1)
    return f"{mean} ± {std}" if style == "full" else f"{mean}±{std}"


def _axis_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "prune.amount":
        return f"{value:.0%}"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _pruning_label(first: dict[str, Any], axes: list[str]) -> str:
    """` + neuron_norm (80 % of units)`: the pruning of the run, for the title."""
    name = first.get("pruning") or first.get("cfg.pruning.name") or "none"
    if name == "none":
        return ""
    if "prune.amount" in axes:  # the amounts are the rows
        return f" + {name}"
    details = {
        "cfg.pruning.fraction": "{:.0%} of units",
        "cfg.pruning.sparsity": "{:.0%} of weights",
        "cfg.pruning.scale": "s = {:g}",
    }
    for key, text in details.items():
        value = first.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f" + {name} ({text.format(value).replace('%', ' %')})"
    return f" + {name}"


def title(records: Sequence[dict[str, Any]], axes: list[str]) -> str:
    first = records[0]
    inferred = ", inferred" if first.get("cfg.dataset.task") == "auto" else ""
    k = first.get("ensemble.k")
    averaged = f" + ensemble({k})" if k else ""
    return (
        f"{first['model']} + {first['regularizer']}{_pruning_label(first, axes)}{averaged} "
        f"on {first['dataset']} ({first['task']}{inferred})"
    )


def _axes(records: Sequence[dict[str, Any]]) -> list[str]:
    """The member axes that vary in these records (strength always)."""
    found = []
    for key, _ in AXES:
        values = {repr(r.get(key)) for r in records if key in r}
        if key == "strength" or len(values) > 1:
            found.append(key)
    return found


def _identical_strengths(records: Sequence[dict[str, Any]]) -> bool:
    """Several strengths of a network under `regularizer=none` (they change nothing)."""
    first = records[0]
    network = not is_baseline(str(first.get("cfg.model.name", "")))
    return (
        network
        and first.get("cfg.regularizer.name") == "none"
        and len({r.get("strength") for r in records}) > 1
    )


def _columns(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    first = records[0]
    columns = [(k, label) for k, label in METRICS[first["task"]] if k in first]
    bound = first.get("path_norm.bound", "chain")
    key = "path_norm.regularized" if "path_norm.regularized" in first else "path_norm"
    if key in first:
        columns.append((key, BOUND_LABEL.get(bound, "path-norm")))
    if "sparsity.exact" in first:
        columns.append(("sparsity.exact", "sparsity"))
    return columns


def selected_counts(records: Sequence[dict[str, Any]], axes: list[str]) -> tuple[Counter, int, str]:
    """For each setting of `axes`: in how many (seed, fold) groups validation selects it
    (the report's selection, on the records' `summary.select_on`, else the task's default),
    the number of groups, and the metric it selects on. One run's records are selected
    without pandas (`report.run_select`), anything else by pandas."""
    if not any(k.startswith("val.") for k in records[0]):  # no validation split (n_val=0)
        return Counter(), 0, ""
    from psilon_bench.report.run_select import select_run

    select_on = records[0].get("cfg.summary.select_on")
    if select_on not in records[0]:  # null, or a metric of the other task: the default
        select_on = None
    run = select_run(records, select_on)
    if run is None:
        return selected_counts_pandas(records, axes, select_on)
    counts = Counter(tuple(row.get(a) for a in axes) for row in run.picked)
    return counts, run.groups, run.metric


def selected_counts_pandas(
    records: Sequence[dict[str, Any]], axes: list[str], select_on: str | None = None
) -> tuple[Counter, int, str]:
    """`selected_counts` by the report's pandas selection (any records)."""
    import pandas as pd

    from psilon_bench.report.collect import normalize
    from psilon_bench.report.select import select

    chosen = select(normalize(pd.DataFrame(list(records))), select_on)
    metric = str(chosen["selected_on"].iloc[0]) if len(chosen) else ""
    base = chosen[chosen["prune.amount"] == chosen["prune.amount"].min()]
    groups = len(base)
    picked = chosen[chosen["selected"].astype(bool)]
    counts = Counter(tuple(row.get(a) for a in axes) for _, row in picked.iterrows())
    return counts, groups, metric


def _table(records, axes, columns, style, selected):  # noqa: ANN001, ANN202
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for key in axes:
        table.add_column(dict(AXES)[key], justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for _, label in columns:
        table.add_column(label, justify="right", no_wrap=True)
    counts, n_groups, _ = selected
    table.add_column("sel", justify="right", no_wrap=True)
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[tuple(r.get(a) for a in axes)].append(r)
    for key, rows in sorted(groups.items(), key=lambda kv: [(v is None, v) for v in kv[0]]):
        ok = [r for r in rows if r.get("status", "ok") == "ok"]
        count = f"{len(ok)}/{len(rows)}"
        cells = [mean_std([r.get(k) for r in ok], style) for k, _ in columns]
        chosen = counts.get(key, 0)
        sel = f"{chosen}/{n_groups}" if chosen else ""
        table.add_row(*[_axis_value(a, v) for a, v in zip(axes, key)], count, *cells, sel)
    return table


def render(records: Sequence[dict[str, Any]], run_dir: Path | None, width: int | None) -> str:
    """The summary as text; `width` None: as wide as it needs (a pipe or a log)."""
    from rich.console import Console
    from rich.measure import Measurement

    axes = _axes(records)
    columns = _columns(records)
    selected = selected_counts(records, axes)
    measure = Console(file=io.StringIO(), width=10_000)
    every = columns
    secondary = [k for k in SECONDARY if k in dict(every)]
    tries = [("full", []), ("compact", [])]  # (style, columns left out)
    tries += [("compact", secondary[: i + 1]) for i in range(len(secondary))]
    tries.append(("mean", []))
    rest = [k for k in DROP_ORDER if k in dict(every)]
    tries += [("mean", rest[: i + 1]) for i in range(len(rest))]
    for style, left_out in tries:
        columns = [(k, label) for k, label in every if k not in left_out]
        table = _table(records, axes, columns, style, selected)
        need = Measurement.get(measure, measure.options, table).maximum
        if width is None or need <= width:
            break
    notes = [label for k, label in every if k in left_out]
    out = io.StringIO()
    console = Console(file=out, width=max(need, 20), force_terminal=False, highlight=False)
    lines = [title(records, axes)]
    if width is not None and len(lines[0]) > width:  # a narrow terminal: two lines
        head, _, tail = lines[0].partition(" on ")
        lines = [head, f"  on {tail}"]
    first = records[0]
    console.print(table)
    chunk = first.get("time.member_chunk", len(records))
    members = first.get("time.members", len(records))
    together = "all at once" if chunk >= members else f"in groups of {chunk}"
    footer = [
        f"{members} members ({together}), {first['time.steps']} steps each, "
        f"{first['time.wall_s']:.2f} s of training",
        "n: members that trained (of all); mean ± std over them",
    ]
    if style == "mean":
        footer[-1] = "n: members that trained (of all); mean over them (wider: ± std)"
    if notes:
        footer.append(f"left out at this width: {', '.join(notes)}")
    if selected[2]:
        footer.append(f"sel: seeds for which {selected[2]} selects the setting (the report's rule)")
    else:
        footer.append("sel: nothing selected without a validation split (split.n_val=0)")
    if "strength" in axes and _identical_strengths(records):
        footer.append(
            "strength: regularizer=none uses none, so each seed's members are identical "
            "and sel only breaks a tie (the larger strength)"
        )
    bound = first.get("path_norm.bound")
    if bound in BOUND_NOTE and any(k.startswith("path_norm") for k, _ in columns):
        footer.append(BOUND_NOTE[bound])
    if run_dir is not None:
        footer += ["records:", str(Path(run_dir) / "records.jsonl")]
    body = "\n".join(line.rstrip() for line in out.getvalue().splitlines())
    return "\n".join([*lines, body.strip("\n"), *footer]) + "\n"


def print_summary(records: Sequence[dict[str, Any]], run_dir: Path | None = None) -> None:
    """Print the summary of one run's records in one write: fitted to the terminal's
    width on a terminal, at its natural width otherwise."""
    if not records:
        return
    width = None
    if sys.stdout.isatty():
        import shutil

        width = shutil.get_terminal_size().columns
    members = [r for r in records if r.get("ensemble.k") is None]
    ensembles = [r for r in records if r.get("ensemble.k") is not None]  # `ensemble: k`
    text = render(members, None if ensembles else run_dir, width)
    if ensembles:  # their own table: selection per block of seeds, as per seed for members
        text += render(ensembles, run_dir, width)
    sys.stdout.write(text)
    sys.stdout.flush()
