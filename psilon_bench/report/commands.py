"""`psilon-bench table`, `plot` and `report`: argument parsing, validation of every input
before anything is written, then output. Bad input is a UserError (one line, exit 2,
nothing written).

Longer than 400 lines: the three commands share one parser and one validation pass (every
option is checked before any file is written), which splitting would duplicate."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psilon_bench.errors import UserError
from psilon_bench.records import io


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UserError(f"{self.prog}: {message}")


def _list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def table_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="psilon-bench table",
        description="Select members on validation and tabulate their test metrics "
        "(mean +- std over seeds), with statistics across datasets.",
    )
    p.add_argument(
        "dirs", nargs="+", metavar="DIR", help="folders holding run folders (searched recursively)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="where table.*, selected.csv, stats.csv, cd.* go (default: the first DIR)",
    )
    p.add_argument(
        "--by",
        default="data",
        help="comma-separated record columns that group rows (default: data)",
    )
    p.add_argument(
        "--metrics",
        default=None,
        help="comma-separated metrics (default: test.accuracy,test.log_loss | test.rmse)",
    )
    p.add_argument(
        "--select-on",
        default=None,
        help="validation metric of selection (default: val.log_loss | val.rmse)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        help="method the Wilcoxon tests compare against, or several with commas (one column "
        "each; the first leads): default mlp+none, else the first mlp method",
    )
    p.add_argument(
        "--matched-sparsity",
        default=None,
        metavar="SPARSITY",
        help="also write matched_sparsity.csv/md: each method's test metric (the first of "
        "--metrics) at the sparsity levels (this column, e.g. sparsity.exact) the methods "
        "reach, read off its own Pareto front",
    )
    p.add_argument(
        "--claims",
        default=None,
        metavar="FILE",
        help="a claims YAML file: each claim compared on the selected members with a paired "
        "test, written to claims.md and claims.csv",
    )
    p.add_argument(
        "--cost-relative-to",
        default=None,
        metavar="REGULARIZER",
        help="add a column: seconds per step and member relative to the same model with this "
        "regularizer (e.g. l2), from the records' timings",
    )
    return p


@dataclass
class Tables:
    """What `table` computes from the records below some folders, before anything is
    written: the collected runs, one block per task, their statistics, the selection."""

    collected: Any
    blocks: list
    results: list
    selected: Any
    shown: list[str]
    claims: Any = None  # the evaluated claims (a DataFrame) when --claims was given

    def files(self) -> dict[str, str]:
        """The text of every table file `table` writes (figures aside), by file name."""
        import pandas as pd

        from psilon_bench.report import tables as tb

        tidy = pd.concat([b.rows for b in self.blocks], ignore_index=True)
        files = {
            "table.csv": tidy.to_csv(index=False),
            "selected.csv": tb.selected_csv(self.selected, self.shown),
            "table.md": tb.markdown(self.blocks),
            "table.tex": tb.latex(self.blocks),
        }
        done = [r for r in self.results if not r.skipped()]
        if done:
            files["stats.csv"] = pd.concat([r.table for r in done], ignore_index=True).to_csv(
                index=False
            )
        if self.claims is not None:
            from psilon_bench.report import claims as cl

            files["claims.md"] = cl.markdown(self.claims)
            files["claims.csv"] = cl.csv(self.claims)
        return files


def build_tables(
    dirs: list[Path],
    by: list[str] | None = None,
    metrics: list[str] | None = None,
    select_on: str | None = None,
    baseline: list[str] | None = None,
    claims_file: Path | None = None,
    cost_reference: str | None = None,
) -> Tables:
    """Collect, select on validation, summarize and test: every check of `table` (a one-line
    UserError naming the option), nothing written."""
    from psilon_bench.report import stats as st
    from psilon_bench.report import tables as tb
    from psilon_bench.report.collect import collect
    from psilon_bench.report.select import select, summarize

    by = by or ["data"]
    collected = collect([Path(d) for d in dirs])
    records = collected.records
    tb.check_by(records, by)
    tb.check_metrics(records, metrics)
    selected = select(records, select_on)
    shown = metrics or sorted(
        {m for ms in tb.DEFAULT_METRICS.values() for m in ms} & set(records.columns)
    )
    summary = summarize(selected, shown, by)
    blocks = tb.blocks(summary, by, metrics, records)
    if not blocks:
        raise UserError(f"none of the metrics {', '.join(shown)} has a value in these records")
    if cost_reference:
        from psilon_bench.report import cost

        ratios = cost.relative(records, cost_reference, by)
        for b in blocks:
            b.rows = cost.add_column(b.rows, ratios, cost_reference)
            b.metrics.append(cost.column(cost_reference))
    evaluated = None
    if claims_file is not None:
        from psilon_bench.report import claims as cl

        evaluated = cl.evaluate(cl.load(claims_file), selected)
    labels = {b.label(r) for b in blocks for _, r in b.rows.iterrows()}
    bases = baseline or [None]
    for base in bases:
        if base is not None and base not in labels:
            raise UserError(
                f"--baseline {base!r} is not a method here; allowed: {', '.join(sorted(labels))}"
            )
    results = [st.compute(b, bases) for b in blocks]
    return Tables(collected, blocks, results, selected, shown, evaluated)


def table(argv: list[str]) -> int:
    from rich.console import Console

    from psilon_bench.report import tables as tb

    ns = table_parser().parse_args(argv)
    built = build_tables(
        ns.dirs,
        _list(ns.by),
        _list(ns.metrics),
        ns.select_on,
        _list(ns.baseline),
        Path(ns.claims) if ns.claims else None,
        ns.cost_relative_to,
    )
    out = Path(ns.out) if ns.out else Path(ns.dirs[0])
    matched = _matched(built, ns.matched_sparsity, _list(ns.metrics))  # checked before writing
    console = Console()
    for block, res in zip(built.blocks, built.results):
        console.print(tb.rich_table(block, console.width))
        _print_stats(console, res)
    if built.claims is not None:
        _print_claims(console, built.claims)
    for line in built.collected.notes():
        console.print(line, markup=False, highlight=False)
    written = _write_tables(out, built)
    for name, text in matched.items():
        io.atomic_write(out / name, text)
        written.append(name)
    console.print(f"written: {', '.join(written)} in {out}", markup=False, highlight=False)
    return 0


def _matched(built: Tables, sparsity: str | None, metrics: list[str] | None) -> dict[str, str]:
    """matched_sparsity.csv/md by file name (none unless --matched-sparsity is given)."""
    if not sparsity:
        return {}
    from psilon_bench.report import matched

    table = matched.matched_sparsity(built.collected.records, sparsity, metrics)
    return {
        "matched_sparsity.csv": table.to_csv(index=False),
        "matched_sparsity.md": matched.markdown(table, sparsity),
    }


def _write_tables(out: Path, built: Tables) -> list[str]:
    from psilon_bench.report import stats as st

    files = built.files()
    results = built.results
    for name, text in files.items():
        io.atomic_write(out / name, text)
    written = list(files)
    figures = [r for r in results if r.rank_result is not None]
    for r in figures:
        stem = "cd" if len(figures) == 1 else f"cd-{r.task}"
        fig = st.cd_figure(r)
        written += _save(fig, out, stem)
    return written


def _save(fig, out: Path, stem: str) -> list[str]:
    """PNG and PDF of `fig`, each written atomically."""
    import io as _io

    import matplotlib.pyplot as plt

    names = []
    for ext in ("png", "pdf"):
        buf = _io.BytesIO()
        fig.savefig(buf, format=ext, dpi=200, bbox_inches="tight")
        io.atomic_write(out / f"{stem}.{ext}", buf.getvalue())
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def _print_claims(console, result) -> None:
    from rich.table import Table
    from rich.text import Text

    from psilon_bench.report import claims as cl

    table = Table(title="claims", title_justify="left", show_edge=False, pad_edge=False)
    for head in ("claim", "ours", "p", "verdict"):
        table.add_column(head, overflow="fold")
    for _, r in result.iterrows():
        cells = [f"{r['claim']} ({r['comparison']})", cl.ours(r), f"{r['p']:.3g}", r["verdict"]]
        table.add_row(*[Text(c) for c in cells])
    console.print(table)


def _print_stats(console, res) -> None:
    from rich.table import Table

    for note in res.notes:
        console.print(note, markup=False, highlight=False)
    if res.skipped():
        return
    t = res.table
    head = f"statistics ({res.task}, {res.metric}, {int(t['n_datasets'].iloc[0])} datasets)"
    if not t["friedman_p"].isna().all():
        head += (
            f": Friedman chi2 = {t['friedman_stat'].iloc[0]:.3g}, p = {t['friedman_p'].iloc[0]:.3g};"
            f" Nemenyi CD = {t['cd'].iloc[0]:.3g}"
        )
    table = Table(title=head, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("method", overflow="fold", min_width=12)
    table.add_column("mean rank", justify="right", no_wrap=True)
    bases = list(dict.fromkeys(t["baseline"].tolist()))
    for base in bases:
        if len(bases) == 1:
            table.add_column(f"W/T/L vs {base}", justify="right", no_wrap=True)
            table.add_column("Wilcoxon p (Holm)", justify="right", no_wrap=True)
        else:  # several baselines: narrow columns, the baseline's name wraps in the header
            table.add_column(f"W/T/L vs {base}", justify="right", overflow="fold", min_width=7)
            table.add_column("p (Holm)", justify="right", no_wrap=True)
    first = t[t["baseline"] == bases[0]] if bases[0] is not None else t
    for _, r in first.iterrows():
        cells = []
        for base in bases:
            same = t[t["method"] == r["method"]]
            row = same[same["baseline"] == base].iloc[0] if base is not None else same.iloc[0]
            wtl = (
                "-"
                if row["wins"] != row["wins"]
                else f"{int(row['wins'])}/{int(row['ties'])}/{int(row['losses'])}"
            )
            p = row["wilcoxon_p_holm"]
            cells += [wtl, "-" if p != p else f"{p:.3g}"]
        table.add_row(r["method"], f"{r['mean_rank']:.2f}", *cells)
    console.print(table)


def plot_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="psilon-bench plot", description="Figures from the records of run folders.")
    p.add_argument(
        "dirs", nargs="+", metavar="DIR", help="folders holding run folders (searched recursively)"
    )
    p.add_argument(
        "--kind",
        required=True,
        help="pareto, lambda-path, lipschitz, pruning or curves; several with commas; all: every "
        "kind the records hold what it needs for (the others are skipped with a note)",
    )
    p.add_argument(
        "--out", default=None, help="where <kind>.png and <kind>.pdf go (default: the first DIR)"
    )
    p.add_argument(
        "--select-on",
        default=None,
        help="validation metric of selection (the starred members of pareto and lambda-path, pruning)",
    )
    return p


def plot(argv: list[str]) -> int:
    from psilon_bench.report import figures
    from psilon_bench.report.collect import collect

    ns = plot_parser().parse_args(argv)
    every = ns.kind == "all"
    kinds = list(figures.KINDS) if every else [k.strip() for k in ns.kind.split(",") if k.strip()]
    for kind in kinds or [ns.kind]:
        if kind not in figures.KINDS:
            raise UserError(
                f"--kind {kind!r} is not a plot kind; allowed: all, {', '.join(figures.KINDS)}"
            )

    collected = collect([Path(d) for d in ns.dirs])
    drawn, skipped = {}, []
    for kind in kinds:  # every figure first: an error leaves no file behind
        try:
            drawn[kind] = figures.draw(kind, collected, select_on=ns.select_on)
        except UserError as err:
            if not every:
                raise
            skipped.append(f"{kind} ({err})")
    if not drawn:
        raise UserError(f"--kind all: no figure fits these records: {'; '.join(skipped)}")
    out = Path(ns.out) if ns.out else Path(ns.dirs[0])
    written = [name for kind, fig in drawn.items() for name in _save(fig, out, kind)]
    for line in skipped:
        print(f"skipped {line}")
    print(f"written: {', '.join(written)} in {out}")
    return 0


def report_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="psilon-bench report",
        description="One self-contained HTML page (tables, claims, statistics, figures, "
        "provenance) from a folder that `table` and `plot` wrote.",
    )
    p.add_argument("dir", metavar="DIR", help="the results folder (table.md, stats.csv, *.png)")
    p.add_argument("--out", default=None, help="the HTML file (default: DIR/report.html)")
    p.add_argument(
        "--runs",
        default=None,
        help="the run folders the provenance is read from (default: DIR/runs when present)",
    )
    p.add_argument(
        "--claims",
        default=None,
        metavar="FILE",
        help="evaluate this claims file on DIR/selected.csv first and write DIR/claims.md "
        "and claims.csv (for results whose run folders are gone; table --claims otherwise)",
    )
    return p


def report(argv: list[str]) -> int:
    import pandas as pd

    from psilon_bench.report import claims as cl
    from psilon_bench.report import html

    ns = report_parser().parse_args(argv)
    directory = Path(ns.dir)
    out = Path(ns.out) if ns.out else directory / "report.html"
    runs = Path(ns.runs) if ns.runs else directory / "runs"
    if ns.runs and not runs.is_dir():
        raise UserError(f"--runs {runs} is not a folder")
    files = {}
    if ns.claims:
        selected = directory / "selected.csv"
        if not selected.is_file():
            raise UserError(f"--claims: {directory} holds no selected.csv (run table first)")
        result = cl.evaluate(cl.load(Path(ns.claims)), pd.read_csv(selected))
        files = {"claims.md": cl.markdown(result), "claims.csv": cl.csv(result)}
        for name, text in files.items():  # the page below reads claims.md
            io.atomic_write(directory / name, text)
    page = html.render(directory, runs if runs.is_dir() else None)
    io.atomic_write(out, page)
    print(f"written: {', '.join([*files, str(out)])}")
    return 0
