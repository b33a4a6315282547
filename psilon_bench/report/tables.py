"""Tables of selected members (docs/protocols.md): one block per task (classification,
regression), one row per (group, method), mean +- std over seeds and folds. Rendered as
a rich table (fits 80 columns: method names wrap, numbers never), tidy CSV, Markdown and
LaTeX (booktabs). Best mean per group and metric in bold; a dagger marks a mean within one
standard deviation (of the best) of the best."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.report.rules import AXES
from psilon_bench.report.select import SPLIT_METRIC_PREFIXES, higher_is_better

DEFAULT_METRICS = {
    "classification": ["test.accuracy", "test.log_loss"],
    "regression": ["test.rmse"],
}
TIE = "\u2020"  # dagger
AXIS_HEAD = {"strength": "\u03bb*", "lr": "lr*"}  # the selected value (terminal header)


@dataclass
class Block:
    """One task's table: `rows` = the summary rows (by + method + metric means/stds)."""

    task: str
    by: list[str]
    metrics: list[str]
    rows: pd.DataFrame
    axes: list[str] = field(default_factory=list)  # member axes with several values

    def label(self, row: pd.Series) -> str:
        """The method, with the pruning amount when the record is a pruned one."""
        amount = row.get("prune.amount", 0.0)
        return row["method"] if not amount else f"{row['method']} [pruned {amount:g}]"

    def group(self, row: pd.Series) -> str:
        return ", ".join(_cell(row[b]) for b in self.by)

    def marks(self) -> pd.DataFrame:
        """Per row and metric: 'best', 'tie' (within one std of the best) or ''."""
        out = pd.DataFrame("", index=self.rows.index, columns=self.metrics)
        for _, g in self.rows.groupby(self.by, sort=False, dropna=False):
            for m in self.metrics:
                means = g[f"{m}.mean"].dropna()
                if means.empty:
                    continue
                best = means.idxmax() if higher_is_better(m) else means.idxmin()
                best_std = g.loc[best, f"{m}.std"]
                for i in means.index:
                    if means[i] == means[best]:
                        out.loc[i, m] = "best"
                    elif not math.isnan(best_std) and abs(means[i] - means[best]) <= best_std:
                        out.loc[i, m] = "tie"
        return out

    def show_axes(self) -> list[str]:
        return [a for a in self.axes if a in self.rows.columns]


def _cell(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def fmt_number(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.3f}"


def fmt_mean_std(mean: float, std: float) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "-"
    if isinstance(std, float) and math.isnan(std):
        return fmt_number(mean)
    return f"{fmt_number(mean)} \u00b1 {fmt_number(std)}"


def metrics_for(task: str, asked: list[str] | None, columns) -> list[str]:
    """The metrics of a task block: `asked` (those recorded for this task) or the default."""
    if asked:
        return [m for m in asked if m in columns]
    return [m for m in DEFAULT_METRICS.get(task, []) if m in columns]


def check_metrics(records: pd.DataFrame, asked: list[str] | None) -> None:
    for m in asked or []:
        if m not in records.columns or records[m].isna().all():
            allowed = sorted(
                c
                for c in records.columns
                if c.startswith(SPLIT_METRIC_PREFIXES) and pd.api.types.is_numeric_dtype(records[c])
            )
            raise UserError(
                f"--metrics {m!r} is not a recorded metric; allowed: {', '.join(allowed)}"
            )


def check_by(records: pd.DataFrame, by: list[str]) -> None:
    for b in by:
        if b not in records.columns:
            allowed = ["data", "dataset", "task", "cfg.<key> (e.g. cfg.split.n_train)"]
            raise UserError(f"--by {b!r} is not a record column; allowed: {', '.join(allowed)}")


def blocks(
    summary: pd.DataFrame, by: list[str], asked: list[str] | None, records: pd.DataFrame
) -> list[Block]:
    """One Block per task present, classification first; the selected `strength`/`lr`
    columns are shown when the task's records hold several values of that axis."""
    out = []
    for task in sorted(summary["task"].unique()):
        rows = summary[summary["task"] == task]
        metrics = metrics_for(task, asked, [c.removesuffix(".mean") for c in rows.columns])
        metrics = [m for m in metrics if rows[f"{m}.mean"].notna().any()]
        if metrics:
            rows = rows.sort_values([*by, "method", "prune.amount"], kind="mergesort")
            recs = records[records["task"] == task]
            axes = [a for a in AXES if a in recs.columns and recs[a].nunique() > 1]
            out.append(Block(task, by, metrics, rows.reset_index(drop=True), axes))
    return out


def _header(metric: str) -> str:
    return metric.replace(".", " ").replace("_", " ")


def wrap_label(text: str, width: int) -> str:
    """Break a method/dataset name into lines of at most `width` characters, after `+`,
    `(` and `, ` where possible."""
    import re

    lines, line = [], ""
    for token in re.split(r"(?<=[+(,])", text):
        if line and len(line) + len(token) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
        while len(line) > width:
            lines.append(line[:width])
            line = line[width:]
    lines.append(line)
    return "\n".join(x for x in lines if x)


def body_cells(block: Block, bold, tie: str, pm: str = "\u00b1") -> list[list[str]]:
    """Per row: group, method label, `mean +- std` per metric (`bold(text)` for the best,
    `tie` appended within one std of it), the selected axes and n."""
    marks = block.marks()
    body = []
    for i, row in block.rows.iterrows():
        cells = [block.group(row), block.label(row)]
        for m in block.metrics:
            text = fmt_mean_std(row[f"{m}.mean"], row[f"{m}.std"]).replace("\u00b1", pm)
            mark = marks.loc[i, m]
            cells.append(bold(text) if mark == "best" else text + (tie if mark == "tie" else ""))
        cells += [_cell(row[a]) if not pd.isna(row[a]) else "-" for a in block.show_axes()]
        failed = f" ({int(row['n_failed'])} div)" if row["n_failed"] else ""
        cells.append(f"{int(row['n'])}{failed}")
        body.append(cells)
    return body


def rich_table(block: Block, width: int = 80):
    """A rich Table that fits `width` columns: method and dataset names wrap (after `+`,
    `(` or `,`), numbers never do."""
    from rich import box
    from rich.table import Table

    def template():
        table = Table(
            title=f"{block.task} (mean \u00b1 std over seeds)",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column(" ".join(block.by) if block.by != ["data"] else "dataset", overflow="fold")
        table.add_column("method", overflow="fold")
        for m in block.metrics:
            table.add_column(_header(m), justify="right", no_wrap=True)
        for a in block.show_axes():
            table.add_column(AXIS_HEAD[a], justify="right", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
        return table

    body = body_cells(block, lambda t: f"[bold]{t}[/bold]", TIE)
    # numbers keep their width; the name columns wrap until the table fits `width`
    longest = max([6] + [len(r[1]) for r in body])
    longest_group = max([7] + [len(r[0]) for r in body])
    table = _fill(template(), body, max(8, longest_group), max(8, longest))  # unwrapped
    if _width(table) <= width:
        return table
    for method_w in range(max(longest, 8), 7, -2):  # at least once
        group_w = max(8, min(method_w, longest_group))
        table = _fill(template(), body, group_w, method_w)
        if _width(table) <= width:
            break
    return table


def _fill(table, body: list[list[str]], group_w: int, method_w: int):
    last = None
    for cells in body:
        group = cells[0]
        table.add_row(
            wrap_label(group, group_w) if group != last else "",
            wrap_label(cells[1], method_w),
            *cells[2:],
        )
        last = group
    return table


def _width(table) -> int:
    """The rendered width of a rich table (rendered off-screen)."""
    from rich.console import Console

    console = Console(width=1000, record=True, file=__import__("io").StringIO())
    console.print(table)
    return max(len(line.rstrip()) for line in console.export_text().splitlines())


def markdown(blocks_: list[Block]) -> str:
    """One Markdown table per task; best in bold, ties within one std marked."""
    parts = []
    for block in blocks_:
        axes = block.show_axes()
        head = ["dataset" if block.by == ["data"] else " ".join(block.by), "method"]
        head += [_header(m) for m in block.metrics] + [f"{a}*" for a in axes] + ["n"]
        lines = [f"### {block.task}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
        for cells in body_cells(block, lambda t: f"**{t}**", TIE):
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        parts.append("\n".join(lines))
    note = (
        f"Mean \u00b1 std over seeds (and folds) of the members selected on validation; **bold**: "
        f"best per dataset; {TIE}: within one std of the best; `strength*`/`lr*`: the most often selected value."
    )
    return "\n\n".join(parts) + "\n\n" + note + "\n"


def _tex_escape(s: str) -> str:
    for a, b in [
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("#", r"\#"),
    ]:
        s = s.replace(a, b)
    return s


def latex(blocks_: list[Block]) -> str:
    """One booktabs tabular per task; best in bold, ties within one std with a dagger."""
    parts = ["% psilon-bench table: mean $\\pm$ std over seeds; needs \\usepackage{booktabs}"]
    for block in blocks_:
        axes = block.show_axes()
        head = ["dataset" if block.by == ["data"] else " ".join(block.by), "method"]
        head += [_header(m) for m in block.metrics] + [f"{a}*" for a in axes] + ["n"]
        lines = [
            f"% {block.task}",
            "\\begin{tabular}{ll" + "r" * (len(head) - 2) + "}",
            "\\toprule",
            " & ".join(_tex_escape(h) for h in head) + " \\\\",
            "\\midrule",
        ]
        last = None
        for cells in body_cells(block, lambda t: f"\\textbf{{{t}}}", "$^\\dagger$", "$\\pm$"):
            group = cells[0]
            if last is not None and group != last:
                lines.append("\\midrule")
            cells[:2] = [_tex_escape(group) if group != last else "", _tex_escape(cells[1])]
            last = group
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


SELECTED_FIRST = [
    "task",
    "data",
    "dataset",
    "method",
    "prune.amount",
    "seed",
    "fold",
    "strength",
    "lr",
    "selected",
    "selected_on",
    "selected_value",
]


def selected_csv(selected: pd.DataFrame, metrics: list[str]) -> str:
    """Per-seed rows: the keys, the selection and every metric shown, plus the run folder."""
    cols = [c for c in SELECTED_FIRST if c in selected.columns]
    cols += [m for m in metrics if m in selected.columns and m not in cols]
    cols += [c for c in ("n_candidates", "path", "member") if c in selected.columns]
    return selected[cols].to_csv(index=False)
