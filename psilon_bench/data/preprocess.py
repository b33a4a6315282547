"""Preprocessing fitted on the training rows only (`preprocess` config, docs/protocols.md P1).

Features, in the table's column order:
- numeric: missing values -> the training median (`impute=median`; with `none` a missing
  value is an error); then standardized with the training mean and std (ddof 0) when
  `standardize`; a constant column gets scale 1.
- categorical: the categories are the values of the whole column (`column_categories`:
  values only, never a label), so every member's split encodes to the same columns, also
  when a rare category misses some members' training rows. `onehot`: one 0/1 column per
  category (`col=value`), not standardized; `ordinal`: codes 0..k-1 of the sorted
  categories, standardized like a numeric column. A missing value is its own category
  (`impute=median`; with `none` an error); a value outside the categories (a caller that
  fits on training rows alone) is all zeros / -1.
Regression target: `iqr` (y - median) / (IQR / 2), `standard` (y - mean) / std, `none`;
a zero spread gets scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from psilon_bench.config import Encoding, TargetTransform
from psilon_bench.errors import DataError

from .frame import NumericFrame
from .table import sort_key

if TYPE_CHECKING:  # a numeric table's features are a NumericFrame: no pandas
    import pandas as pd

MISSING_CATEGORY = "<missing>"


def _safe_scale(spread: np.ndarray | float, center: np.ndarray | float) -> np.ndarray:
    """`spread`, with 1 where it is (numerically) zero: constant columns never divide by 0."""
    spread = np.asarray(spread, dtype=np.float64)
    tiny = 1e-12 * (1.0 + np.abs(np.asarray(center, dtype=np.float64)))
    return np.where(spread > tiny, spread, 1.0)


def check_missing(X: pd.DataFrame | NumericFrame, name: str) -> None:
    """`preprocess.impute=none`: a missing feature value is an error naming the column."""
    counts = X.missing_counts() if isinstance(X, NumericFrame) else X.isna().sum().to_dict()
    bad = [(col, int(n)) for col, n in counts.items() if n > 0]
    if bad:
        col, n = bad[0]
        more = f" (and {len(bad) - 1} more columns)" if len(bad) > 1 else ""
        raise DataError(
            f"column {col!r} of {name} has {n} missing values{more}; "
            f"set preprocess.impute=median to fill them with the training median"
        )


def _numeric_values(X: pd.DataFrame | NumericFrame, col: str) -> np.ndarray:
    """A numeric column's values (n,) float64."""
    return X.column(col) if isinstance(X, NumericFrame) else X[col].to_numpy(dtype=np.float64)


def _category_values(column: pd.Series) -> np.ndarray:
    """A categorical column's values (n,) as objects, missing -> MISSING_CATEGORY."""
    return column.astype(object).where(column.notna(), MISSING_CATEGORY).to_numpy()


@dataclass
class FeatureEncoder:
    """Feature preprocessing with its training statistics; `transform` -> (n, d) float32."""

    columns: list[str]  # raw columns, in order
    categorical: dict[str, list[str]]  # categorical column -> training categories (sorted)
    medians: dict[str, float]  # numeric column -> training median
    encoding: Encoding
    feature_names: list[str]  # encoded columns
    mean: np.ndarray  # (d,) subtracted after encoding (0 for one-hot columns)
    scale: np.ndarray  # (d,) divided after encoding (1 for one-hot columns)

    def _encode(self, X: pd.DataFrame | NumericFrame) -> np.ndarray:
        """Imputed and encoded, not yet standardized: (n, d) float64."""
        if not self.categorical and self.columns:  # all numeric: one conversion, no loop
            if isinstance(X, NumericFrame):
                same = X.columns == self.columns
                values = (X if same else X.select(columns=self.columns)).to_numpy()
            else:
                values = X[self.columns].to_numpy(dtype=np.float64)
            medians = np.array([self.medians[c] for c in self.columns])
            return np.where(np.isnan(values), medians, values)
        blocks = []  # (n, k) per raw column
        for col in self.columns:
            if col not in self.categorical:
                values = _numeric_values(X, col)
                blocks.append(np.where(np.isnan(values), self.medians[col], values)[:, None])
                continue
            values, cats = _category_values(X[col]), self.categorical[col]
            if self.encoding == Encoding.onehot:
                onehot = values[:, None] == np.array(cats, dtype=object)[None, :]
                blocks.append(onehot.astype(np.float64))
            else:
                code = {c: i for i, c in enumerate(cats)}
                blocks.append(
                    np.array([code.get(v, -1) for v in values], dtype=np.float64)[:, None]
                )
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(X), 0))

    def transform(self, X: pd.DataFrame | NumericFrame) -> np.ndarray:
        """Encoded and standardized features (n, d) float32."""
        with np.errstate(over="ignore"):  # beyond float32 -> inf, reported by make_split
            return ((self._encode(X) - self.mean) / self.scale).astype(np.float32)


def column_categories(X: pd.DataFrame | NumericFrame, columns: list[str]) -> dict[str, list]:
    """Each categorical column's categories over all rows of `X` (sorted; missing values as
    their own category)."""
    return {col: sorted(set(_category_values(X[col])), key=sort_key) for col in columns}


def fit_features(
    X_train: pd.DataFrame | NumericFrame,
    categorical_columns: list[str],
    encoding: Encoding | str,
    standardize: bool,
    categories: dict[str, list] | None = None,
) -> FeatureEncoder:
    """Fit imputation, encoding and standardization on the training rows; `categories`:
    the categories of each categorical column (default: those of the training rows)."""
    encoding = Encoding(encoding)
    categorical: dict[str, list[str]] = {}
    medians: dict[str, float] = {}
    names: list[str] = []
    standardized: list[bool] = []  # per encoded column
    for col in X_train.columns:
        if col in categorical_columns:
            known = categories if categories and col in categories else None
            cats = list((known or column_categories(X_train, [col]))[col])
            categorical[col] = cats
            if encoding == Encoding.onehot:
                names += [f"{col}={c}" for c in cats]
                standardized += [False] * len(cats)
                continue
        else:
            values = _numeric_values(X_train, col)
            medians[col] = float(np.nanmedian(values)) if (~np.isnan(values)).any() else 0.0
        names.append(col)
        standardized.append(True)
    d = len(names)
    encoder = FeatureEncoder(
        list(X_train.columns), categorical, medians, encoding, names, np.zeros(d), np.ones(d)
    )
    if standardize and d:
        raw = encoder._encode(X_train)
        on = np.array(standardized)
        constant = (raw == raw[:1]).all(axis=0)  # centred on its value: exactly 0 on train
        mean = np.where(constant, raw[0], raw.mean(axis=0))
        encoder.mean = np.where(on, mean, 0.0)
        encoder.scale = np.where(on & ~constant, _safe_scale(raw.std(axis=0), mean), 1.0)
    return encoder


def fit_target(y_train: np.ndarray, transform: TargetTransform | str) -> tuple[float, float]:
    """(center, scale) of the regression target transform, from the training targets."""
    transform = TargetTransform(transform)
    if transform == TargetTransform.iqr:  # docs/protocols.md P1: (y - median) / (IQR / 2)
        q25, median, q75 = np.percentile(y_train, [25, 50, 75])
        return float(median), float(_safe_scale((q75 - q25) / 2.0, median))
    if transform == TargetTransform.standard:
        mean = float(np.mean(y_train))
        return mean, float(_safe_scale(np.std(y_train), mean))
    return 0.0, 1.0
