"""The UCI collection's folder layout (Fernandez-Delgado et al., "Do we need hundreds of
classifiers to solve real world classification problems?", JMLR 15:3133, 2014; also used by
Klambauer et al. 2017, SNN, and Arora et al. 2020, NTK): `dataset=uci dataset.path=DIR/NAME`.

    NAME/NAME_R.dat           tab-separated; a header that starts with a tab (feature names,
                              then `clase`); each row: a 1-based row number, the features
                              (already standardized), the class as a 0-based integer
    NAME/conxuntos.dat        line 1: training rows, line 2: validation rows (0-based,
                              space-separated): where every setting is trained and scored
    NAME/conxuntos_kfold.dat  2 lines per fold (training rows, then test rows), 4 folds:
                              where the chosen setting is refit and tested

`read_uci_table` gives the `Table`, `read_uci_splits` the validated row indices (the
validation rows meet the folds' test rows by design: selection and test are separate
training runs, `split.kind=two_stage`). `uci_folders` lists the dataset folders of a
collection, optionally with Arora et al.'s filter (at most 5,000 rows, no separate test
file); `python -m psilon_bench.data.uci DIR [--max-rows N] [--no-test-file]` prints them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from psilon_bench.errors import DataError

from .folds import check_rows, disjoint, two_classes
from .table import Table, table_from_arrays

SPLITS = "conxuntos.dat"
FOLDS = "conxuntos_kfold.dat"
N_FOLDS = 4
TARGET = "clase"
#: Arora et al. (2020) keep the sets with at most this many rows and no separate test file
ARORA_MAX_ROWS = 5000


def data_file(folder: Path) -> Path:
    return folder / f"{folder.name}_R.dat"


def has_test_file(folder: Path) -> bool:
    """The collection's sets with a fixed test set (NAME_train_R.dat / NAME_test_R.dat)."""
    return (folder / f"{folder.name}_test_R.dat").is_file()


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"UCI layout: {path} is missing (dataset.path names the dataset folder)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    return [line for line in text.splitlines() if line.strip()]


def read_uci_table(folder: Path | str, name: str | None = None) -> Table:
    """NAME_R.dat of the dataset folder as a classification `Table` (row number dropped;
    classes named by their 0-based codes)."""
    folder = Path(folder)
    path = data_file(folder)
    lines = _lines(path)
    if len(lines) < 2 or not lines[0].startswith("\t"):
        raise DataError(
            f"{path}: the first line must be a header starting with a tab (feature names, then "
            f"{TARGET}), followed by data rows"
        )
    header = lines[0].strip("\n").split("\t")[1:]
    if len(header) < 2 or header[-1].strip() != TARGET:
        raise DataError(f"{path}: the header must end with the class column {TARGET!r}")
    width = len(header) + 1
    values = np.empty((len(lines) - 1, width), dtype=np.float64)
    for i, line in enumerate(lines[1:]):
        cells = line.split("\t")
        if len(cells) != width:
            raise DataError(f"{path}: line {i + 2} has {len(cells)} fields; the header has {width}")
        try:
            values[i] = [float(c) for c in cells]
        except ValueError:
            raise DataError(f"{path}: line {i + 2} holds a value that is not a number") from None
    if not np.array_equal(values[:, 0], np.arange(1, len(values) + 1)):
        raise DataError(f"{path}: the first column must number the rows 1, 2, 3, ...")
    target = values[:, -1]
    if not (np.all(target == np.round(target)) and target.min() >= 0):
        raise DataError(f"{path}: the class column {TARGET!r} must hold integers 0, 1, ...")
    columns = [c.strip() for c in header[:-1]]
    return table_from_arrays(
        name or folder.name, values[:, 1:-1], columns, target.astype(np.int64), "classification"
    )


@dataclass
class UciSplits:
    """Row indices (0-based, `Table` rows) of the selection split and of the folds."""

    train: np.ndarray
    val: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]  # (training rows, test rows) per fold

    def rows(self, fold: int | None) -> dict[str, np.ndarray]:
        """Table rows of each part: the selection split (fold None: train, validation, no
        test) or fold `fold` (its training rows, no validation, its test rows)."""
        if fold is None:
            return {"train": self.train, "val": self.val, "test": self.val[:0]}
        train, test = self.folds[fold]
        return {"train": train, "val": train[:0], "test": test}


def _index_line(line: str, path: Path, number: int, n_rows: int) -> np.ndarray:
    try:
        rows = np.asarray([int(v) for v in line.split()], dtype=np.int64)
    except ValueError:
        raise DataError(f"{path}: line {number} holds a value that is not a row index") from None
    if not len(rows):
        raise DataError(f"{path}: line {number} lists no rows")
    return check_rows(rows, f"{path}: line {number}", n_rows, " (indices are 0-based)")


def _pair(path: Path, lines: list[str], first: int, n_rows: int, what: str):
    train = _index_line(lines[first], path, first + 1, n_rows)
    other = _index_line(lines[first + 1], path, first + 2, n_rows)
    disjoint(train, other, f"{path}: lines {first + 1} and {first + 2} ({what})")
    return train, other


def read_uci_splits(folder: Path | str, table: Table) -> UciSplits:
    """conxuntos.dat (2 lines) and conxuntos_kfold.dat (2 lines per fold, 4 folds) for
    `table`, each a one-line DataError naming the file when missing, short, out of range, or
    when a training part holds a single class."""
    folder, n_rows = Path(folder), table.n_rows
    path = folder / SPLITS
    lines = _lines(path)
    if len(lines) != 2:
        raise DataError(f"{path}: {len(lines)} lines; want 2 (training rows, then validation rows)")
    train, val = _pair(path, lines, 0, n_rows, "training and validation")
    two_classes(table, train, f"{path}: the training rows (line 1)")
    path = folder / FOLDS
    lines = _lines(path)
    if len(lines) != 2 * N_FOLDS:
        raise DataError(
            f"{path}: {len(lines)} lines; want {2 * N_FOLDS} (training rows, then test rows, "
            f"for each of {N_FOLDS} folds)"
        )
    folds = [
        _pair(path, lines, 2 * f, n_rows, f"fold {f} training and test") for f in range(N_FOLDS)
    ]
    return UciSplits(train, val, folds)


def uci_folders(root: Path | str, max_rows: int | None = None, no_test_file: bool = False):
    """The dataset folders (those holding NAME_R.dat) directly under `root`, sorted by name;
    `max_rows` / `no_test_file`: Arora et al.'s filter."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"UCI_DIR={root} is not a folder")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not data_file(folder).is_file():
            continue
        if no_test_file and has_test_file(folder):
            continue
        if max_rows is not None and _count_rows(data_file(folder)) > max_rows:
            continue
        found.append(folder)
    if not found:
        rule = " that pass the filter" if (max_rows is not None or no_test_file) else ""
        raise DataError(f"UCI_DIR={root} holds no dataset folder NAME/NAME_R.dat{rule}")
    return found


def _count_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(sum(1 for line in handle if line.strip()) - 1, 0)


def main(argv: list[str] | None = None) -> int:
    """Print the dataset folders of a collection, one absolute path a line (`make table-uci`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m psilon_bench.data.uci")
    parser.add_argument("root")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--no-test-file", action="store_true")
    args = parser.parse_args(argv)
    try:
        folders = uci_folders(args.root, args.max_rows, args.no_test_file)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for folder in folders:
        print(folder.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
