"""The pandas-free numeric table path (`table_from_arrays`, `NumericFrame`) against the
pandas path (`table_from_frame`, DataFrame features) on the same data: the same table,
warnings and one-line errors, and bit-identical splits after preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from psilon_bench.config import DatasetConfig, PreprocessConfig, SplitConfig
from psilon_bench.data import dataset_config, load_table, make_split
from psilon_bench.data.frame import NumericFrame
from psilon_bench.data.from_frame import table_from_frame
from psilon_bench.data.preprocess import fit_features
from psilon_bench.data.table import table_from_arrays
from psilon_bench.errors import DataError


def _data(seed: int, n: int = 240, d: int = 6, nan_share: float = 0.05):
    """Features with missing values, one all-missing column and one constant column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100, size=d) + rng.normal(size=d)
    X[rng.random((n, d)) < nan_share] = np.nan
    X[:, 2] = np.nan
    X[:, 4] = 7.25
    return X, [f"c{j}" for j in range(d)]


def _frame_table(X, columns, y, **kw):
    """`table_from_arrays`' arguments through the pandas path."""
    frame, target = pd.DataFrame(X, columns=columns), pd.Series(y)
    task, names, drop = kw.get("task", "auto"), kw.get("class_names"), kw.get("drop")
    return table_from_frame("t", frame, target, task, None, names, drop=drop)


def _both(X, columns, y, **kw):
    """The same data through both paths."""
    return table_from_arrays("t", X, columns, y, **kw), _frame_table(X, columns, y, **kw)


def _assert_same_table(a, b) -> None:
    assert isinstance(a.X, NumericFrame) and isinstance(b.X, pd.DataFrame)
    assert a.X.columns == list(b.X.columns) and a.X.shape == b.X.shape
    np.testing.assert_array_equal(a.X.to_numpy(), b.X.to_numpy(dtype=np.float64))
    assert a.y.dtype == b.y.dtype and np.array_equal(a.y, b.y)
    assert (a.task, a.class_names, a.categorical_columns) == (b.task, b.class_names, [])
    assert a.extra == b.extra and a.warnings == b.warnings


def _targets(seed: int, n: int = 240) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    with_missing = rng.normal(size=n) * 3
    with_missing[::17] = np.nan
    return {
        "classes": rng.integers(0, 3, size=n),  # task=auto: classification
        "float classes": rng.integers(1, 4, size=n).astype(np.float64),
        "regression": with_missing,  # missing targets are dropped
        "many integers": rng.integers(0, 60, size=n),  # auto: regression, with a warning
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("target", ["classes", "float classes", "regression", "many integers"])
def test_arrays_build_the_table_the_frame_path_builds(seed, target):
    X, columns = _data(seed)
    y = _targets(seed)[target]
    _assert_same_table(*_both(X, columns, y))
    _assert_same_table(*_both(X, columns, y, drop=["c1", "c5"]))
    if target != "regression":
        _assert_same_table(*_both(X, columns, y, task="classification"))
    _assert_same_table(*_both(X, columns, np.asarray(y, dtype=np.float64), task="regression"))
    if target == "classes":
        names = ["zero", "one", "two"]
        _assert_same_table(*_both(X, columns, y, class_names=names))


def _message(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    "case", ["unknown drop", "drop all", "single class", "no target", "inf target", "inf feature"]
)
def test_arrays_fail_with_the_frame_paths_errors(case):
    X, columns = _data(3, n=40)
    y = np.arange(40) % 2
    kw = {}
    if case == "unknown drop":
        kw["drop"] = ["c1", "nope"]
    elif case == "drop all":
        kw["drop"] = list(columns)
    elif case == "single class":
        y = np.zeros(40, dtype=np.int64)
    elif case == "no target":
        y = np.full(40, np.nan)
    elif case == "inf target":
        y = np.linspace(0, 1, 40)
        y[5] = np.inf
        kw["task"] = "regression"
    else:
        X[3, 1] = X[7, 3] = -np.inf
    by_arrays = _message(lambda: table_from_arrays("t", X, columns, y, **kw))
    by_frame = _message(lambda: _frame_table(X, columns, y, **kw))
    assert by_arrays == by_frame


@pytest.mark.parametrize("target", ["classes", "regression"])
@pytest.mark.parametrize("standardize", [True, False])
def test_splits_are_bit_identical(target, standardize):
    """make_split on a NumericFrame table and on the same table as a DataFrame: the same
    float32 arrays bit for bit (the frame stores values column-major like pandas, so
    numpy's reductions sum in the same order)."""
    X, columns = _data(5, n=300, d=9)
    y = _targets(5, n=300)[target]
    a, b = _both(X, columns, y)
    split = OmegaConf.structured(SplitConfig(n_train=0.5, n_val=None, n_test=None))
    prep = OmegaConf.structured(PreprocessConfig(standardize=standardize))
    for seed in range(4):
        sa, sb = make_split(a, split, prep, seed), make_split(b, split, prep, seed)
        for part in ("train", "val", "test"):
            xa, xb = getattr(sa, f"X_{part}"), getattr(sb, f"X_{part}")
            assert xa.dtype == xb.dtype == np.float32
            assert xa.tobytes() == xb.tobytes(), part
            assert getattr(sa, f"y_{part}").tobytes() == getattr(sb, f"y_{part}").tobytes()
        assert sa.feature_names == sb.feature_names
        assert (sa.target_center, sa.target_scale) == (sb.target_center, sb.target_scale)
        rows = sa.indices["train"]  # the float64 statistics too, before the float32 cast
        fa, fb = (fit_features(t.X.iloc[rows], [], "onehot", standardize) for t in (a, b))
        assert fa.mean.tobytes() == fb.mean.tobytes() and fa.scale.tobytes() == fb.scale.tobytes()


def test_impute_none_names_the_same_column():
    X, columns = _data(6, n=80)
    a, b = _both(X, columns, np.arange(80) % 2)
    split = OmegaConf.structured(SplitConfig())
    prep = OmegaConf.structured(PreprocessConfig(impute="none"))
    message = _message(lambda: make_split(a, split, prep, 0))
    assert message == _message(lambda: make_split(b, split, prep, 0))
    assert message.startswith("column 'c0' of t has")


def test_numeric_frame_rows_and_columns():
    values = np.arange(12.0).reshape(4, 3)
    frame = NumericFrame.from_rows(values, ["a", "b", "c"])
    assert frame.shape == (4, 3) and len(frame) == 4
    assert frame.to_numpy().flags["F_CONTIGUOUS"]  # as DataFrame.to_numpy() of float64
    np.testing.assert_array_equal(frame.iloc[[2, 0]].to_numpy(), values[[2, 0]])
    picked = frame.select(keep=np.array([True, False, True, False]), columns=["c", "a"])
    np.testing.assert_array_equal(picked.to_numpy(), values[[0, 2]][:, [2, 0]])
    np.testing.assert_array_equal(frame.column("b"), values[:, 1])


def test_loaders_choose_the_numeric_path():
    """Bundled and synthetic sets load without pandas frames; a declared categorical
    column takes the pandas path, with the same numbers in the other columns."""
    numeric = load_table(dataset_config("breast_cancer"), Path("."))
    assert isinstance(numeric.X, NumericFrame)
    cfg = OmegaConf.merge(dataset_config("breast_cancer"), {"categorical": ["mean radius"]})
    with_category = load_table(cfg, Path("."))
    assert isinstance(with_category.X, pd.DataFrame)
    assert with_category.categorical_columns == ["mean radius"]
    rest = [c for c in numeric.X.columns if c != "mean radius"]
    np.testing.assert_array_equal(
        numeric.X.select(columns=rest).to_numpy(), with_category.X[rest].to_numpy(np.float64)
    )
    assert np.array_equal(numeric.y, with_category.y) and numeric.task == with_category.task
    synthetic = OmegaConf.structured(DatasetConfig(name="s", source="synthetic"))
    assert isinstance(load_table(synthetic, Path(".")).X, NumericFrame)
