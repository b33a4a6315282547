"""`make_split`: a seeded train/val/test split with preprocessing fitted on train.

docs/protocols.md P1: shuffle (seeded), keep `min(N, split.keep)` rows, the first `n_train`
rows train, the rest shared equally by validation and test (`n_val = n_test = null`).
Sizes are row counts (int) or fractions in (0, 1) of the kept rows; the null entries
share what the others leave (test takes the odd row). Classification splits are
stratified when `split.stratify`: each part takes from every class in proportion
(largest remainders), and the training part holds at least one row of every class when
`n_train` >= the number of classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psilon_bench.config import Impute, choice
from psilon_bench.errors import DataError

from .folds import SplitFile, kfold_rows, missing_classes
from .preprocess import check_missing, column_categories, fit_features, fit_target
from .table import Table

PARTS = ("train", "val", "test")


@dataclass
class Split:
    """Model-ready arrays: X (n, d) float32; y (n,) int64 class codes or float32 targets
    (transformed: y = (raw - target_center) / target_scale)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" | "regression"
    n_classes: int  # 0 for regression
    feature_names: list[str]  # after encoding, one per column of X
    class_names: list[str]  # original label of class code k
    target_center: float = 0.0
    target_scale: float = 1.0
    name: str = ""
    indices: dict[str, np.ndarray] = field(default_factory=dict)  # Table rows of each part
    missing_classes: list[str] = field(default_factory=list)  # classes the training rows lack

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


# --------------------------------------------------------------------------------------
# sizes


def _parse_size(key: str, value: Any) -> int | float | None:
    """A `split.n_*` value: int count, float fraction in (0, 1), or None (share the rest)."""
    if value is None:
        return None
    rule = "an int row count >= 0 or a float fraction in [0, 1)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"split.{key} must be {rule}; got {value!r}")
    if isinstance(value, float) and 0 <= value < 1:
        return value
    if isinstance(value, int) and value >= 0:
        return value
    raise DataError(f"split.{key} must be {rule} (1.0 is not all rows); got {value!r}")


def split_sizes(split_cfg: Any, n_rows: int, where: str) -> dict[str, int]:
    """Rows of each part out of the `n_rows` kept rows; `where` names them in errors."""
    given = {part: _parse_size(f"n_{part}", getattr(split_cfg, f"n_{part}")) for part in PARTS}
    fractions = {p: v for p, v in given.items() if isinstance(v, float)}
    if sum(fractions.values()) > 1 + 1e-9:
        terms = " + ".join(f"split.n_{p}={v:g}" for p, v in fractions.items())
        raise DataError(f"split fractions sum to more than 1: {terms}")

    sizes: dict[str, int] = {}
    for part, value in given.items():
        if value is None:
            continue
        count = value if isinstance(value, int) else math.floor(value * n_rows + 1e-9)
        if count > n_rows:
            raise DataError(f"split.n_{part}={value} exceeds the {n_rows} rows of {where}")
        sizes[part] = count
    if len(fractions) == 3 and abs(sum(fractions.values()) - 1) < 1e-9:
        sizes["test"] = n_rows - sizes["train"] - sizes["val"]  # rounding leftovers
    used = sum(sizes.values())
    if used > n_rows:
        terms = " + ".join(f"split.n_{p}={given[p]}" for p in sizes)
        raise DataError(f"{terms} asks for {used} rows; {where} has {n_rows}")

    shared = [p for p in PARTS if given[p] is None]
    for i, part in enumerate(shared):  # the last shared parts take the odd rows
        base, odd = divmod(n_rows - used, len(shared))
        sizes[part] = base + (1 if i >= len(shared) - odd else 0)

    if sizes["train"] == 0:
        raise DataError(
            f"split.n_train={given['train']} leaves no training rows out of the {n_rows} rows of {where}"
        )
    if sizes["test"] == 0:
        raise DataError(
            f"split.n_test resolves to 0 rows (split.n_train={given['train']}, split.n_val="
            f"{given['val']}, split.n_test={given['test']}, {n_rows} rows of {where})"
        )
    return sizes


# --------------------------------------------------------------------------------------
# row partition


def _quotas(counts: np.ndarray, k: int, every_class: bool) -> np.ndarray:
    """Rows to take from each class: proportional, largest remainders; `every_class`
    gives each class >= 1 (taken from the largest quotas) when k >= number of classes."""
    exact = counts * k / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: k - quota.sum()]] += 1
    if every_class and k >= len(counts):
        for c in np.flatnonzero((quota == 0) & (counts > 0)):
            quota[np.argmax(quota)] -= 1
            quota[c] += 1
    return quota


def _stratified_take(labels: np.ndarray, k: int, every_class: bool) -> np.ndarray:
    """Boolean mask of k positions of `labels` (already shuffled), stratified by class."""
    take = np.zeros(len(labels), dtype=bool)
    if k == 0:
        return take
    classes, counts = np.unique(labels, return_counts=True)
    for c, q in zip(classes, _quotas(counts, k, every_class)):
        take[np.flatnonzero(labels == c)[:q]] = True
    return take


def partition_rows(
    order: np.ndarray, sizes: dict[str, int], labels: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Table rows of each part, from shuffled rows `order`; stratified when `labels`
    (the class codes of all table rows) are given."""
    parts: dict[str, np.ndarray] = {}
    pool = order
    for part in PARTS:
        if labels is None:
            parts[part], pool = pool[: sizes[part]], pool[sizes[part] :]
        else:
            take = _stratified_take(labels[pool], sizes[part], every_class=part == "train")
            parts[part], pool = pool[take], pool[~take]
    return parts


def _check_training_classes(table: Table, y_train: np.ndarray, n_train: Any) -> None:
    present = np.unique(y_train)
    if len(present) == 1:
        raise DataError(
            f"the {len(y_train)} training rows of {table.name} (split.n_train={n_train}) hold a "
            f"single class ({table.class_names[present[0]]!r}); use more training rows or split.stratify=true"
        )


# --------------------------------------------------------------------------------------


def _check_float32(X: np.ndarray, y: np.ndarray, names: list[str], where: str) -> None:
    """Values beyond float32's range (~3.4e38) become inf in the cast: name the column."""
    if not np.isfinite(y).all():
        raise DataError(
            f"the target of {where} does not fit float32 after preprocessing; "
            "set preprocess.target=iqr or standard, or rescale the target"
        )
    bad = np.flatnonzero(~np.isfinite(X).all(axis=0))
    if len(bad):
        raise DataError(
            f"feature column {names[bad[0]]!r} of {where} does not fit float32 (|x| > 3.4e38) "
            "after preprocessing; set preprocess.standardize=true or rescale the column"
        )


def make_split(
    table: Table,
    split_cfg: Any,
    preprocess_cfg: Any,
    seed: int,
    fold: int | None = None,
    split_file: SplitFile | None = None,
) -> Split:
    """Split `table` with `seed` (the caller passes `split.seed`, or the member's seed when
    that is null) and preprocess with statistics of the training rows only. `fold`: the
    fold of `split.kind=kfold|predefined` (data/folds.py; predefined reads `split_file`, and
    two_stage its selection rows, `uci.UciSplits`)."""
    kind = choice(getattr(split_cfg, "kind", "holdout"))
    classification = table.task == "classification"
    if kind in ("predefined", "two_stage"):  # two_stage: the selection split (fold None)
        assert split_file is not None, "predefined and two_stage: a split file"
        rows = split_file.rows(fold)
    else:
        order = np.random.default_rng(seed).permutation(table.n_rows)
        where = table.name
        if split_cfg.keep is not None and split_cfg.keep < table.n_rows:
            order = order[: split_cfg.keep]
            where = f"{table.name} kept by split.keep={split_cfg.keep}"
        if kind == "kfold":
            rows = kfold_rows(table, order, split_cfg.n_folds, fold or 0, split_cfg.stratify)
        else:
            sizes = split_sizes(split_cfg, len(order), where)
            labels = table.y if classification and split_cfg.stratify else None
            rows = partition_rows(order, sizes, labels)
            if classification:
                _check_training_classes(table, table.y[rows["train"]], split_cfg.n_train)
    return split_from_rows(table, rows, preprocess_cfg)


def split_from_rows(table: Table, rows: dict[str, np.ndarray], preprocess_cfg: Any) -> Split:
    """The `Split` of given table rows per part (train, val, test; a part may be empty),
    preprocessed with statistics of the training rows only."""
    classification = table.task == "classification"
    if preprocess_cfg.impute == Impute.none:
        check_missing(table.X.iloc[np.concatenate(list(rows.values()))], table.name)
    encoder = fit_features(
        table.X.iloc[rows["train"]],
        table.categorical_columns,
        preprocess_cfg.categorical,
        preprocess_cfg.standardize,
        column_categories(table.X, table.categorical_columns)
        if table.categorical_columns
        else None,
    )
    X = {part: encoder.transform(table.X.iloc[idx]) for part, idx in rows.items()}
    if classification:
        center, scale = 0.0, 1.0
        y = {part: table.y[idx].astype(np.int64) for part, idx in rows.items()}
    else:
        center, scale = fit_target(table.y[rows["train"]], preprocess_cfg.target)
        y = {
            part: ((table.y[idx] - center) / scale).astype(np.float32) for part, idx in rows.items()
        }
    for part in PARTS:  # the loaders reject infinities and imputation fills NaN: what is
        _check_float32(X[part], y[part], encoder.feature_names, table.name)  # left is overflow
    return Split(
        X["train"], y["train"], X["val"], y["val"], X["test"], y["test"],
        task=table.task, n_classes=table.n_classes, feature_names=encoder.feature_names,
        class_names=list(table.class_names), target_center=center, target_scale=scale,
        name=table.name, indices=rows, missing_classes=missing_classes(table, rows["train"]),
    )  # fmt: skip
