"""`NumericFrame`: the features of an all-numeric table, without pandas.

A bundled scikit-learn set or a synthetic one arrives as a float64 array with no
categorical column; importing pandas only to hold it costs ~0.2 s, more than the default
experiment's data path. `NumericFrame` keeps the array and the column names and offers the
frame operations the data path uses (`columns`, `shape`, `len`, `iloc[rows]`, `to_numpy`).

The values are stored column-major, (d, n) C-contiguous, as pandas stores a float64 frame,
so `to_numpy()` returns the same Fortran-ordered (n, d) array a DataFrame would: numpy's
reductions (`mean(axis=0)`, `std(axis=0)`) sum in an order that depends on the memory
layout, and preprocessing must give bit-identical statistics either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NumericFrame:
    """(n, d) float64 features with column names; missing values are NaN."""

    def __init__(self, by_column: np.ndarray, columns: list[str]) -> None:
        assert by_column.ndim == 2 and by_column.shape[0] == len(columns), "(d, n) values"
        self._by_column = np.ascontiguousarray(by_column, dtype=np.float64)  # (d, n)
        self.columns = list(columns)

    @classmethod
    def from_rows(cls, values: np.ndarray, columns: list[str]) -> NumericFrame:
        """From (n, d) values (any layout)."""
        return cls(np.asarray(values, dtype=np.float64).T, columns)

    @property
    def shape(self) -> tuple[int, int]:
        return self._by_column.shape[1], self._by_column.shape[0]

    def __len__(self) -> int:
        return self._by_column.shape[1]

    def column(self, name: str) -> np.ndarray:
        """One column (n,) float64 (a view)."""
        return self._by_column[self.columns.index(name)]

    def to_numpy(self, dtype: Any = np.float64) -> np.ndarray:
        """(n, d), Fortran-ordered like `DataFrame.to_numpy()` of a float64 frame."""
        return self._by_column.T.astype(dtype, copy=False)

    def missing_counts(self) -> dict[str, int]:
        """Missing values per column, in column order."""
        counts = np.isnan(self._by_column).sum(axis=1)
        return dict(zip(self.columns, (int(c) for c in counts)))

    def select(self, keep: np.ndarray | None = None, columns: list[str] | None = None):
        """The rows `keep` (bool mask or positions) and the `columns` (names), in order."""
        block = self._by_column
        names = self.columns if columns is None else list(columns)
        if columns is not None:
            block = block[[self.columns.index(c) for c in names]]
        if keep is not None:
            block = block[:, keep]
        return NumericFrame(block, names)

    @property
    def iloc(self) -> _Rows:
        """`frame.iloc[rows]`: the rows at positions `rows`, as a DataFrame's `iloc`."""
        return _Rows(self)


class _Rows:
    def __init__(self, frame: NumericFrame) -> None:
        self._frame = frame

    def __getitem__(self, rows: Any) -> NumericFrame:
        return self._frame.select(keep=np.asarray(rows))
