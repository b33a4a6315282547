"""`Table`: a loaded dataset before splitting, and the rules that build one from a frame.

Every loader (sklearn, csv, openml, synthetic) ends in `table_from_frame`, so feature
typing, task detection and label encoding follow one set of rules:

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
  3..9 are a regression target in PROTOCOLS.md P1).
- class labels are encoded 0..K-1 in sorted order (numeric labels numerically);
  `class_names` keeps the originals as strings.
- silent changes are warned about in `Table.warnings` (one line each; printed by the run
  and stored in every record as `data.warnings`): a column with no values at all (it
  becomes a constant feature), duplicate CSV column names (pandas renames the copies),
  and task=auto choosing regression for an integer target with many distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from psilon_bench.config import TaskKind
from psilon_bench.errors import DataError

#: a text column with at most this many distinct values is encoded as categorical
MAX_AUTO_CATEGORIES = 50
#: task=auto: an integer-valued target with at most this many distinct values is a class label
MAX_AUTO_CLASSES = 20


@dataclass
class Table:
    """A dataset as loaded: raw features, encoded target, task; nothing fitted yet."""

    name: str
    X: pd.DataFrame  # (n, d) numeric columns float64; categorical columns str (NaN = missing)
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


def _is_label_like(values: pd.Series) -> bool:
    """Text, boolean or categorical: values that can only be class labels."""
    return (
        pd.api.types.is_bool_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
        or not pd.api.types.is_numeric_dtype(values)
    )


def _is_integral(y: pd.Series) -> bool:
    """A numeric target whose values are all whole numbers."""
    if _is_label_like(y):
        return False
    values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def detect_task(y: pd.Series) -> str:
    """The task=auto rule of the module docstring."""
    if _is_label_like(y):
        return "classification"
    values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    if _is_integral(y) and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def encode_labels(y: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Class codes (n,) int64 in sorted label order, and the labels as strings."""
    if isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype(object)
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        classes, codes = np.unique(
            y.to_numpy(dtype=np.float64, na_value=np.nan), return_inverse=True
        )
        return codes.astype(np.int64), [label_string(c) for c in classes]
    text = np.array([label_string(v) for v in y], dtype=object)
    classes = sorted(set(text), key=sort_key)
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[t] for t in text], dtype=np.int64), classes


def _numeric_or_none(column: pd.Series) -> pd.Series | None:
    """The column as float64 (missing = NaN) when all its non-missing values are numbers
    or booleans, else None. A pandas `category` column (e.g. an OpenML nominal) is None."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return None
    if not pd.api.types.is_numeric_dtype(column):  # text: numeric when every value parses
        parsed = pd.to_numeric(column.astype(object), errors="coerce")
        if parsed.notna().sum() != column.notna().sum():
            return None
        column = parsed
    return pd.Series(column.to_numpy(dtype=np.float64, na_value=np.nan), index=column.index)


def _as_category_text(column: pd.Series) -> pd.Series:
    """Categorical values as strings, missing kept as NaN."""
    text = column.astype(object).map(label_string, na_action="ignore")
    return text.astype(object).where(column.notna(), np.nan)


def type_features(
    X: pd.DataFrame, categorical: list[str], name: str
) -> tuple[pd.DataFrame, list[str]]:
    """Numeric columns as float64 and categorical ones as text (module docstring rules)."""
    unknown = [c for c in categorical if c not in X.columns]
    if unknown:
        raise DataError(
            f"dataset.categorical names {shorten_list(unknown)}, not columns of {name} "
            f"(columns: {shorten_list([str(c) for c in X.columns])})"
        )
    columns: dict[str, pd.Series] = {}
    categorical_columns: list[str] = []
    for col in X.columns:
        values = X[col]
        declared = col in categorical or isinstance(values.dtype, pd.CategoricalDtype)
        numeric = None if declared else _numeric_or_none(values)
        if numeric is not None:
            if np.isinf(numeric.to_numpy()).any():
                raise DataError(f"column {col!r} of {name} holds infinite values")
            columns[col] = numeric
            continue
        distinct = values.nunique(dropna=True)
        if not declared and distinct > MAX_AUTO_CATEGORIES:
            raise DataError(
                f"column {col!r} of {name} is text with {distinct} distinct values "
                f"(more than {MAX_AUTO_CATEGORIES}); leave it out with 'dataset.drop=[{col}]', or "
                f"list it in dataset.categorical to one-hot encode it anyway"
            )
        columns[col] = _as_category_text(values)
        categorical_columns.append(col)
    return pd.DataFrame(columns, index=X.index), categorical_columns


def table_from_frame(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    task: TaskKind | str = TaskKind.auto,
    categorical: list[str] | None = None,
    class_names: list[str] | None = None,
    drop: list[str] | None = None,
    warnings: list[str] | None = None,
) -> Table:
    """Build a `Table` from features and target; `class_names` renames codes 0..K-1
    (used by the scikit-learn loaders, whose integer targets come with label names);
    the columns in `drop` (`dataset.drop`: IDs) are removed first."""
    X = X.reset_index(drop=True)
    X.columns = [str(c) for c in X.columns]
    unknown = [c for c in drop or [] if c not in X.columns]
    if unknown:
        raise DataError(
            f"dataset.drop names {shorten_list(unknown)}, not feature columns of {name} "
            f"(columns: {shorten_list(list(X.columns))})"
        )
    X = X.drop(columns=list(drop or []))
    if X.shape[1] == 0:
        raise DataError(f"{name} has no feature columns besides the target")
    y = y.reset_index(drop=True) if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    assert len(y) == len(X), "features and target differ in length"
    keep = y.notna().to_numpy()
    dropped = int((~keep).sum())
    X, y = X.loc[keep].reset_index(drop=True), y.loc[keep].reset_index(drop=True)
    if len(y) == 0:
        raise DataError(f"{name} has no rows with a target value")

    notes = list(warnings or [])
    empty = [str(c) for c in X.columns if X[c].isna().all()]
    if empty:
        many = len(empty) > 1
        notes.append(
            f"column{'s' if many else ''} {shorten_list([repr(c) for c in empty])} of {name} "
            f"{'hold' if many else 'holds'} no values (all missing) and "
            f"{'become constant features' if many else 'becomes a constant feature'}; "
            "drop it from the file"
        )
    task_name = TaskKind(task).value
    if task_name == "auto":
        task_name = detect_task(y)
        distinct = len(pd.unique(y))
        if task_name == "regression" and _is_integral(y):
            notes.append(
                f"task=auto treats the integer target of {name} ({distinct} distinct values, "
                f"more than {MAX_AUTO_CLASSES}) as regression; set dataset.task=classification "
                "if they are classes"
            )
    if task_name == "classification":
        codes, names = encode_labels(y)
        if class_names is not None:
            names = [class_names[int(float(c))] for c in names]
        if len(names) < 2:
            raise DataError(
                f"the target of {name} has a single class ({names[0]!r}); classification needs two"
            )
        target = codes
    else:
        if _is_label_like(y):
            raise DataError(
                f"dataset.task=regression but the target of {name} is not numeric (e.g. {y.iloc[0]!r})"
            )
        target, names = y.to_numpy(dtype=np.float64, na_value=np.nan), []
        if not np.all(np.isfinite(target)):
            raise DataError(f"the target of {name} holds infinite values")

    features, categorical_columns = type_features(X, list(categorical or []), name)
    extra = {"dropped_missing_target": dropped} if dropped else {}
    return Table(name, features, target, task_name, names, categorical_columns, extra, notes)
