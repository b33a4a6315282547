"""Published averages on the UCI collection beside ours (`make table-uci`).

Reference numbers (average test accuracy over datasets, each the mean over the 4 folds of
conxuntos_kfold.dat after selection on conxuntos.dat):

| source                                | method        | datasets | accuracy % |
|---------------------------------------|---------------|----------|------------|
| Arora et al. 2020 (ICLR)              | NTK           | 90       | 81.95      |
| Arora et al. 2020 (ICLR)              | random forest | 90       | 81.56      |

Their 90 sets are the 121 of Fernandez-Delgado et al. (2014) less those with more than
5,000 rows or a separate test file (`make table-uci UCI_FILTER=1`). Averages over other
sets are not comparable with these.

`python -m psilon_bench.report.published TABLE_CSV` prints, per method of a
`psilon-bench table --by data` result, its average test accuracy over the datasets every
method holds, then the published lines.
"""

from __future__ import annotations

from pathlib import Path

#: (source, method, datasets, average test accuracy in %)
PUBLISHED = (
    ("Arora et al. 2020", "NTK", 90, 81.95),
    ("Arora et al. 2020", "random forest", 90, 81.56),
)
FILTER = "at most 5,000 rows, no separate test file"


def ours(table_csv: Path | str, metric: str = "test.accuracy.mean") -> tuple[list[tuple], int]:
    """Per method, best first: (method, datasets it holds, its average of `metric` over them
    in %, its average over the datasets every method holds in %, NaN when none); and the
    number of those shared datasets."""
    import pandas as pd

    table = pd.read_csv(table_csv)
    if metric not in table.columns:
        raise ValueError(f"{table_csv} has no column {metric!r} (table --metrics test.accuracy)")
    wide = table.pivot_table(index="data", columns="method", values=metric, aggfunc="mean")
    common = wide.dropna()
    rows = [
        (str(m), int(wide[m].count()), float(wide[m].mean() * 100), float(common[m].mean() * 100))
        for m in wide.columns
    ]
    return sorted(rows, key=lambda r: -r[2]), len(common)


def comparison(table_csv: Path | str) -> str:
    """Our averages and the published ones, as aligned text lines."""
    rows, n_common = ours(table_csv)
    lines = [
        "average test accuracy over datasets (%)",
        f"{'method':44s} {'datasets':>8s} {'acc %':>7s} {f'on the {n_common} shared':>16s}",
    ]
    for method, n, acc, shared in rows:
        lines.append(f"{method:44s} {n:8d} {acc:7.2f} {shared:16.2f}")
    lines.append(f"published ({FILTER}):")
    for source, method, n, acc in PUBLISHED:
        lines.append(f"{method + ' (' + source + ')':44s} {n:8d} {acc:7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m psilon_bench.report.published")
    parser.add_argument("table_csv", help="a table.csv written by psilon-bench table")
    args = parser.parse_args(argv)
    if not Path(args.table_csv).is_file():
        parser.error(f"{args.table_csv} is not a file (a table.csv written by psilon-bench table)")
    try:
        print(comparison(args.table_csv))
    except (ValueError, KeyError) as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
