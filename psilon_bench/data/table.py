"""`Table`: a loaded dataset before splitting, and the rules that build one from a frame.

Every loader ends in `table_from_frame` (csv, openml, any declared categorical column:
`from_frame.py`, pandas) or in `table_from_arrays` (bundled scikit-learn and synthetic sets,
all numeric: here, without pandas), so feature typing, task detection and label encoding
follow one set of rules:

- features: numeric and boolean columns are numeric; a text column whose non-missing
  values all parse as numbers is numeric; any other text column is categorical when it is
  listed in `dataset.categorical` or has at most `MAX_AUTO_CATEGORIES` distinct values,
  else it is an error (free text cannot be encoded). Columns listed in
  `dataset.categorical`, and pandas `category` columns (OpenML nominals), are categorical
  even when their values are numbers (e.g. integer-coded SEX). Infinite values are errors.
- rows whose target is missing are dropped (counted in `Table.extra`).
- task (`dataset.task=auto`): classification when the target is text, boolean or
  categorical, or integer-valued with at most `MAX_AUTO_CLASSES` distinct values; else
  regression. Registry entries state `task:` explicitly (wine_quality's integer scores
  3..9 are a regression target in docs/protocols.md P1).
- class labels are encoded 0..K-1 in sorted order (numeric labels numerically);
  `class_names` keeps the originals as strings.
- silent changes are warned about in `Table.warnings` (one line each; printed by the run
  and stored in every record as `data.warnings`): a column with no values at all (it
  becomes a constant feature), duplicate CSV column names (pandas renames the copies),
  and task=auto choosing regression for an integer target with many distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from psilon_bench.config import TaskKind
from psilon_bench.errors import DataError

from .frame import NumericFrame

if TYPE_CHECKING:
    import pandas as pd

#: a text column with at most this many distinct values is encoded as categorical
MAX_AUTO_CATEGORIES = 50
#: task=auto: an integer-valued target with at most this many distinct values is a class label
MAX_AUTO_CLASSES = 20


@dataclass
class Table:
    """A dataset as loaded: raw features, encoded target, task; nothing fitted yet."""

    name: str
    X: pd.DataFrame | NumericFrame  # (n, d) numeric columns float64 (NaN = missing);
    # categorical columns str (NaN = missing): a DataFrame; all numeric: either
    y: np.ndarray  # (n,) int64 class codes 0..K-1, or float64 regression targets
    task: str  # "classification" | "regression"
    class_names: list[str] = field(default_factory=list)  # original labels of codes 0..K-1
    categorical_columns: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # loader facts (e.g. teacher_support)
    warnings: list[str] = field(default_factory=list)  # silent changes, one line each

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        """Raw feature columns (before one-hot encoding)."""
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 0


def label_string(value: Any) -> str:
    """A label or category as text: integral floats print as integers (1.0 -> "1")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def sort_key(text: str) -> tuple[int, float, str]:
    """Order labels numerically when they are numbers ("2" < "10"), else as text."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def one_line(err: BaseException) -> str:
    """The first line of an exception's message (errors here are one line)."""
    return (str(err).splitlines() or [type(err).__name__])[0]


def shorten_list(names: list[str], limit: int = 12) -> str:
    """Names joined by commas, cut after `limit` (error messages stay one readable line)."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def integral(values: np.ndarray) -> bool:
    """Numeric target values (float64) that are all whole numbers."""
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def numeric_task(values: np.ndarray) -> str:
    """The task=auto rule for a numeric (not boolean) target, values as float64."""
    if integral(values) and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def encode_numeric_labels(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Class codes (n,) int64 of numeric labels (float64) in numeric order, and the labels
    as strings."""
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), [label_string(c) for c in classes]


def check_drop(drop: list[str], columns: list[str], name: str) -> None:
    """`dataset.drop` names only feature columns and leaves at least one."""
    unknown = [c for c in drop if c not in columns]
    if unknown:
        raise DataError(
            f"dataset.drop names {shorten_list(unknown)}, not feature columns of {name} "
            f"(columns: {shorten_list(list(columns))})"
        )
    if all(c in drop for c in columns):
        raise DataError(f"{name} has no feature columns besides the target")


def empty_columns_note(empty: list[str], name: str) -> list[str]:
    """The warning for feature columns without any value (none: no warning)."""
    if not empty:
        return []
    many = len(empty) > 1
    return [
        f"column{'s' if many else ''} {shorten_list([repr(c) for c in empty])} of {name} "
        f"{'hold' if many else 'holds'} no values (all missing) and "
        f"{'become constant features' if many else 'becomes a constant feature'}; "
        "drop it from the file"
    ]


def integer_regression_note(distinct: int, name: str) -> str:
    return (
        f"task=auto treats the integer target of {name} ({distinct} distinct values, "
        f"more than {MAX_AUTO_CLASSES}) as regression; set dataset.task=classification "
        "if they are classes"
    )


def rename_classes(names: list[str], class_names: list[str] | None, name: str) -> list[str]:
    """Labels of codes 0..K-1, renamed by `class_names` (indexed by the original integer
    label); a single class is an error."""
    if class_names is not None:
        names = [class_names[int(float(c))] for c in names]
    if len(names) < 2:
        raise DataError(
            f"the target of {name} has a single class ({names[0]!r}); classification needs two"
        )
    return names


def check_finite_target(target: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(target)):
        raise DataError(f"the target of {name} holds infinite values")


def infinite_column_error(column: str, name: str) -> DataError:
    return DataError(f"column {column!r} of {name} holds infinite values")


def table_from_arrays(
    name: str,
    X: np.ndarray,
    columns: list[str],
    y: np.ndarray,
    task: TaskKind | str = TaskKind.auto,
    class_names: list[str] | None = None,
    drop: list[str] | None = None,
) -> Table:
    """`table_from_frame` for numeric features (n, d) and a numeric, non-boolean target
    (n,), without pandas: the same rules, checks and warnings, and a `NumericFrame` as
    `Table.X` (bundled and synthetic sets; a categorical column needs `table_from_frame`)."""
    assert y.dtype.kind in "iuf" and X.ndim == 2 and len(y) == len(X), "numeric arrays"
    columns = [str(c) for c in columns]
    drop = list(drop or [])
    check_drop(drop, columns, name)
    by_column = np.asarray(X, dtype=np.float64).T  # (d, n)
    if drop:
        kept = [c for c in columns if c not in drop]
        by_column, columns = by_column[[columns.index(c) for c in kept]], kept
    values = np.asarray(y, dtype=np.float64)
    keep = ~np.isnan(values)
    dropped = int((~keep).sum())
    if dropped:
        by_column, y, values = by_column[:, keep], y[keep], values[keep]
    if len(y) == 0:
        raise DataError(f"{name} has no rows with a target value")

    notes = empty_columns_note([c for c, v in zip(columns, by_column) if np.isnan(v).all()], name)
    task_name = TaskKind(task).value
    if task_name == "auto":
        task_name = numeric_task(values)
        if task_name == "regression" and integral(values):
            notes.append(integer_regression_note(len(np.unique(values)), name))
    if task_name == "classification":
        target, names = encode_numeric_labels(values)
        names = rename_classes(names, class_names, name)
    else:
        target, names = values, []
        check_finite_target(target, name)
    infinite = np.isinf(by_column).any(axis=1)
    if infinite.any():
        raise infinite_column_error(columns[int(np.argmax(infinite))], name)
    extra = {"dropped_missing_target": dropped} if dropped else {}
    return Table(name, NumericFrame(by_column, columns), target, task_name, names, [], extra, notes)
