"""`table_from_frame`: a pandas frame (CSV, OpenML, or any set with a declared categorical
column) to a `Table`, by the rules of `table.py`'s docstring; text, boolean and pandas
`category` values need pandas here, numbers share their rules with `table_from_arrays`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from psilon_bench.config import TaskKind
from psilon_bench.errors import DataError

from .table import (
    MAX_AUTO_CATEGORIES,
    Table,
    check_drop,
    check_finite_target,
    empty_columns_note,
    encode_numeric_labels,
    infinite_column_error,
    integer_regression_note,
    integral,
    label_string,
    numeric_task,
    rename_classes,
    shorten_list,
    sort_key,
)


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
    return integral(y.to_numpy(dtype=np.float64, na_value=np.nan))


def detect_task(y: pd.Series) -> str:
    """The task=auto rule of the module docstring."""
    if _is_label_like(y):
        return "classification"
    return numeric_task(y.to_numpy(dtype=np.float64, na_value=np.nan))


def encode_labels(y: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Class codes (n,) int64 in sorted label order, and the labels as strings."""
    if isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype(object)
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        return encode_numeric_labels(y.to_numpy(dtype=np.float64, na_value=np.nan))
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
                raise infinite_column_error(col, name)
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
    check_drop(list(drop or []), list(X.columns), name)
    X = X.drop(columns=list(drop or []))
    y = y.reset_index(drop=True) if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    assert len(y) == len(X), "features and target differ in length"
    keep = y.notna().to_numpy()
    dropped = int((~keep).sum())
    X, y = X.loc[keep].reset_index(drop=True), y.loc[keep].reset_index(drop=True)
    if len(y) == 0:
        raise DataError(f"{name} has no rows with a target value")

    notes = list(warnings or [])
    notes += empty_columns_note([str(c) for c in X.columns if X[c].isna().all()], name)
    task_name = TaskKind(task).value
    if task_name == "auto":
        task_name = detect_task(y)
        distinct = len(pd.unique(y))
        if task_name == "regression" and _is_integral(y):
            notes.append(integer_regression_note(distinct, name))
    if task_name == "classification":
        target, names = encode_labels(y)
        names = rename_classes(names, class_names, name)
    else:
        if _is_label_like(y):
            raise DataError(
                f"dataset.task=regression but the target of {name} is not numeric (e.g. {y.iloc[0]!r})"
            )
        target, names = y.to_numpy(dtype=np.float64, na_value=np.nan), []
        check_finite_target(target, name)

    features, categorical_columns = type_features(X, list(categorical or []), name)
    extra = {"dropped_missing_target": dropped} if dropped else {}
    return Table(name, features, target, task_name, names, categorical_columns, extra, notes)
