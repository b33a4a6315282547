"""`psilon-bench datasets [--data-dir D]`: the dataset registry as a table (rows, features,
task, source, whether it is available offline), fitted to the terminal's width."""

from __future__ import annotations

import sys


def datasets(rest: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="psilon-bench datasets", description="List the dataset registry."
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where CSV files are looked for (default: $PSILON_BENCH_DATA, else ./data)",
    )

    def error(message: str) -> None:
        from psilon_bench.errors import UsageError

        raise UsageError(
            f"psilon-bench datasets: {message}; allowed: --data-dir DIR (see psilon-bench datasets --help)"
        )

    parser.error = error  # type: ignore[method-assign]
    ns = parser.parse_args(rest)
    import io
    import shutil

    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from psilon_bench.config import PathsConfig
    from psilon_bench.data import list_datasets, resolve_data_dir

    data_dir = resolve_data_dir(PathsConfig(data_dir=ns.data_dir))
    if ns.data_dir is not None and not data_dir.is_dir():
        from psilon_bench.errors import UsageError

        what = "is not a folder" if data_dir.exists() else "does not exist"
        raise UsageError(f"psilon-bench datasets: --data-dir {ns.data_dir} {what} ({data_dir})")
    entries = list_datasets(data_dir)

    def table(described: bool) -> Table:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        columns = ["name", "rows", "features", "task", "source", "offline"]
        for col in columns + (["description"] if described else []):
            t.add_column(col, justify="right" if col in ("rows", "features") else "left")
            t.columns[-1].no_wrap = col != "description"
        for d in entries:
            row = [d["name"], fmt(d.get("rows")), fmt(d.get("features")), str(d["task"])]
            row += [str(d["source"]), "yes" if d.get("available") else "no"]
            t.add_row(*row, *([str(d.get("description", ""))] if described else []))
        return t

    # a terminal: fit its width (the descriptions go first); a pipe or a log: natural width
    measure = Console(file=io.StringIO(), width=10_000)
    full = table(True)
    need = Measurement.get(measure, measure.options, full).maximum
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else need
    short = table(False)
    fits = need <= width or Measurement.get(measure, measure.options, short).maximum > width
    out = io.StringIO()
    Console(file=out, width=max(width, 20), force_terminal=False).print(full if fits else short)
    lines = ["psilon-bench datasets; CSV files are looked for in (paths.data_dir):", str(data_dir)]
    lines += [ln.rstrip() for ln in out.getvalue().rstrip("\n").splitlines()]
    if not fits:
        lines.append("(descriptions left out at this width: psilon-bench datasets | cat)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def fmt(n: object) -> str:
    return "-" if n is None else str(n)
