"""Cross-validation splits: `split.kind=kfold` and `split.kind=predefined`.

- `kfold`: the kept rows are shuffled with the member's split seed and dealt into
  `split.n_folds` folds (stratified: each class is dealt in turn, so fold sizes differ by at
  most one row and do not depend on the seed). Fold f is the test part, fold f+1 (mod k)
  the validation part and the other k-2 folds train, so hyper-parameters are selected on
  rows that fold never tests on. With k = 5: 60/20/20 %, the holdout default.
- `predefined`: a CSV dataset's `NAME.splits.json` beside the file (NAME = the file name
  without .csv/.csv.gz): `{"train": [...], "val": [...], "folds": [{"train": [...],
  "test": [...]}, ...]}` of 0-based data-row indices. Fold f trains on its train rows
  (less the `val` rows), is validated on `val` (hyper-parameters are selected there, never
  on a test row) and tests on its test rows; `val` must not meet any fold's test rows.

A class with fewer rows than folds (or one a split file leaves out of a fold's training
rows) is absent from some folds' training rows: the run goes on and warns
(`Split.missing_classes`); training rows of a single class are an error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from psilon_bench.errors import DataError

if TYPE_CHECKING:
    from .table import Table

SUFFIX = ".splits.json"


def split_file_path(csv_path: Path) -> Path:
    """NAME.splits.json beside NAME.csv / NAME.csv.gz."""
    name = csv_path.name
    for ext in (".csv.gz", ".csv", ".gz"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return csv_path.with_name(name + SUFFIX)


@dataclass
class SplitFile:
    """The validated contents of a split file."""

    path: Path
    train: np.ndarray
    val: np.ndarray
    folds: list[dict[str, np.ndarray]]

    def rows(self, fold: int) -> dict[str, np.ndarray]:
        """Table rows of each part of fold `fold`: its train rows less `val`, `val`, its test rows."""
        train = self.folds[fold]["train"]
        train = train[~np.isin(train, self.val)]
        return {"train": train, "val": self.val, "test": self.folds[fold]["test"]}


def _raw(path: Path) -> dict[str, Any]:
    """The parsed JSON object of a split file (structure checked, indices not yet)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("folds"), list) or not raw["folds"]:
        raise DataError(f"{path} must be an object with train, val and a non-empty folds list")
    return raw


def predefined_path(cfg: Any) -> Path:
    """The split file of the composed config's CSV dataset (split.kind=predefined)."""
    from psilon_bench.config import choice

    from .registry import dataset_file, resolve_data_dir

    source = choice(cfg.dataset.source)
    if source != "csv" or not cfg.dataset.path:
        raise DataError(
            f"split.kind=predefined needs a CSV dataset with NAME{SUFFIX} beside its file; "
            f"{cfg.dataset.name} has dataset.source={source}; use split.kind=holdout or kfold"
        )
    return split_file_path(dataset_file(cfg.dataset, resolve_data_dir(cfg.paths)))


def fold_values(cfg: Any) -> list[int | None]:
    """The `fold` member axis: [None] (holdout; two_stage, whose folds are its refit),
    range(split.n_folds) (kfold), or one fold per entry of the split file's `folds`
    (predefined)."""
    from psilon_bench.config import choice

    kind = choice(cfg.split.kind)
    if kind == "kfold":
        return list(range(cfg.split.n_folds))
    if kind == "predefined":
        path = predefined_path(cfg)
        _exists(path)
        return list(range(len(_raw(path)["folds"])))
    return [None]


def _exists(path: Path) -> None:
    if not path.is_file():
        raise DataError(
            f"split.kind=predefined needs {path} beside the data file "
            '({"train": [...], "val": [...], "folds": [{"train": [...], "test": [...]}]})'
        )


def _indices(value: Any, where: str, n_rows: int) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where} must be a non-empty list of row indices")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise DataError(f"{where} must hold integer row indices; got e.g. {value[0]!r}")
    return check_rows(np.asarray(value, dtype=np.int64), where, n_rows)


def check_rows(rows: np.ndarray, where: str, n_rows: int, note: str = "") -> np.ndarray:
    """`rows` when every index is in range for `n_rows` data rows and none repeats, else a
    one-line DataError starting with `where` (`note` follows the range error)."""
    bad = rows[(rows < 0) | (rows >= n_rows)]
    if len(bad):
        raise DataError(
            f"{where} holds row {bad[0]}, out of range for the {n_rows} data rows{note}"
        )
    if len(np.unique(rows)) != len(rows):
        raise DataError(f"{where} lists a row twice (e.g. row {_first_duplicate(rows)})")
    return rows


def _first_duplicate(rows: np.ndarray) -> int:
    values, counts = np.unique(rows, return_counts=True)
    return int(values[counts > 1][0])


def read_split_file(path: Path, table: Table) -> SplitFile:
    """Read and validate `path` for `table`; every problem is a one-line DataError naming
    the file and the part (out of range, duplicate, train/test overlap, missing class)."""
    _exists(path)
    if table.extra.get("dropped_missing_target"):
        raise DataError(
            f"{table.name}: {table.extra['dropped_missing_target']} rows have no target, so the row "
            f"indices of {path} are ambiguous; remove those rows from the data file"
        )
    raw = _raw(path)
    n = table.n_rows
    train = _indices(raw.get("train"), f"{path}: train", n)
    val = _indices(raw.get("val"), f"{path}: val", n)
    disjoint(train, val, f"{path}: train and val")
    two_classes(table, train, f"{path}: train")
    folds = []
    for i, fold in enumerate(raw["folds"]):
        if not isinstance(fold, dict):
            raise DataError(f"{path}: folds[{i}] must be an object with train and test")
        where = f"{path}: folds[{i}]"
        rows = {part: _indices(fold.get(part), f"{where}.{part}", n) for part in ("train", "test")}
        disjoint(rows["train"], rows["test"], f"{where} train and test")
        disjoint(val, rows["test"], f"{path}: val and folds[{i}].test")
        two_classes(table, rows["train"][~np.isin(rows["train"], val)], f"{where}.train less val")
        folds.append(rows)
    return SplitFile(path, train, val, folds)


def disjoint(a: np.ndarray, b: np.ndarray, where: str) -> None:
    """A one-line DataError starting with `where` when index sets `a` and `b` share a row."""
    common = np.intersect1d(a, b)
    if len(common):
        raise DataError(f"{where} overlap in {len(common)} rows (e.g. row {common[0]})")


def two_classes(table: Table, rows: np.ndarray, where: str) -> None:
    """Training rows must hold two classes at least (absent ones are warned about per
    member, `Split.missing_classes`)."""
    if table.task != "classification":
        return
    present = np.unique(table.y[rows])
    if len(present) < 2:
        raise DataError(
            f"{where} hold a single class ({table.class_names[present[0]]!r}) of {table.name}; "
            "a classifier needs two"
        )


def kfold_rows(table: Table, order: np.ndarray, n_folds: int, fold: int, stratify: bool):
    """Parts of fold `fold` of the shuffled kept rows `order`: test = that fold, val = the
    next one, train = the rest; stratified by class when asked (classification)."""
    if n_folds > len(order):
        raise DataError(f"split.n_folds={n_folds} exceeds the {len(order)} rows of {table.name}")
    assignment = np.empty(len(order), dtype=np.int64)
    if stratify and table.task == "classification":
        position = 0
        labels = table.y[order]
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            assignment[members] = (position + np.arange(len(members))) % n_folds
            position += len(members)
    else:
        assignment[:] = np.arange(len(order)) % n_folds
    val = (fold + 1) % n_folds
    rows = {
        "train": order[(assignment != fold) & (assignment != val)],
        "val": order[assignment == val],
        "test": order[assignment == fold],
    }
    if table.task == "classification":
        two_classes(
            table, rows["train"], f"split.n_folds={n_folds}: the training rows of fold {fold}"
        )
    return rows


def missing_classes(table: Table, train_rows: np.ndarray) -> list[str]:
    """The classes of `table` (their names) that `train_rows` lack."""
    if table.task != "classification":
        return []
    present = set(np.unique(table.y[train_rows]).tolist())
    return [table.class_names[c] for c in range(table.n_classes) if c not in present]


def warn_missing_classes(table: Table, missing: list[str], where: str) -> None:
    """Print `missing_classes_line` as a warning on stderr when a class is absent."""
    if missing:
        print(f"warning: {missing_classes_line(table, missing, where)}", file=sys.stderr)


def missing_classes_line(table: Table, missing: list[str], where: str) -> str:
    """One warning line naming the absent classes, each with its row count in the data."""
    counts = np.bincount(table.y.astype(np.int64), minlength=table.n_classes)
    code = {name: c for c, name in enumerate(table.class_names)}
    named = [f"{n!r} ({counts[code[n]]} row{'s' if counts[code[n]] != 1 else ''})" for n in missing]
    shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
    return (
        f"class{'es' if len(missing) > 1 else ''} {shown} of {table.name} "
        f"{'are' if len(missing) > 1 else 'is'} absent from the training rows of {where}; "
        "the model still outputs every class (records: data.missing_classes)"
    )
