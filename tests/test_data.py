"""psilon_bench.data: loaders, registry, splits, preprocessing and their one-line errors.

Real data only: scikit-learn's bundled sets, the gzip CSVs of `../shared/data` (skipped
when absent), small CSVs written to tmp_path, and scikit-learn's own OpenML test fixtures
as an offline cache. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from psilon_bench.config import (
    DatasetConfig,
    PathsConfig,
    PreprocessConfig,
    SplitConfig,
    SyntheticConfig,
)
from psilon_bench.data import (
    Split,
    Table,
    dataset_config,
    list_datasets,
    load_table,
    make_split,
    registry_names,
    resolve_data_dir,
)
from psilon_bench.data import openml as openml_module
from psilon_bench.data.from_frame import table_from_frame
from psilon_bench.data.preprocess import fit_features
from psilon_bench.data.registry import is_available
from psilon_bench.data.synthetic import teacher_forward
from psilon_bench.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CONF_DATASET = Path(__file__).resolve().parents[1] / "conf" / "dataset"
needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "manifest.json").is_file(),
    reason=f"shared datasets not found at {SHARED_DATA}",
)
TABLE_BODY = "".join(f"{i},{i * 7 % 13},{i % 3}\n" for i in range(5000)).encode()
P1_SPLIT = dict(n_train=2000, n_val=None, n_test=None, keep=20000)  # docs/protocols.md P1


def dataset(**kw) -> object:
    return OmegaConf.structured(DatasetConfig(**kw))


def split_cfg(**kw) -> object:
    return OmegaConf.structured(SplitConfig(**kw))


def prep_cfg(**kw) -> object:
    return OmegaConf.structured(PreprocessConfig(**kw))


def error_of(fn, *args) -> str:
    """The DataError message of fn(*args), checked to be one line."""
    with pytest.raises(DataError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message and message.strip(), message
    return message


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def breast_cancer() -> Table:
    return load_table(dataset_config("breast_cancer"), Path("."))


@pytest.fixture(scope="module")
def magic() -> Table:
    if not (SHARED_DATA / "MagicTelescope.csv.gz").is_file():
        pytest.skip(f"MagicTelescope.csv.gz not found in {SHARED_DATA}")
    return load_table(dataset_config("magic_telescope"), SHARED_DATA)


# --------------------------------------------------------------------------------------
# loaders


@pytest.mark.parametrize(
    "loader, rows, features, n_classes",
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
        ("digits", 1797, 64, 10),
        ("diabetes", 442, 10, 0),
    ],
)
def test_sklearn_loaders(loader: str, rows: int, features: int, n_classes: int) -> None:
    table = load_table(
        dataset(name=loader, source="sklearn", loader=loader), Path(".")
    )  # task=auto
    assert (table.n_rows, table.n_features, table.n_classes) == (rows, features, n_classes)
    assert table.task == ("regression" if n_classes == 0 else "classification")
    if n_classes:
        assert table.y.dtype == np.int64 and set(np.unique(table.y)) == set(range(n_classes))
    if loader == "iris":
        assert table.class_names == ["setosa", "versicolor", "virginica"]


def test_unknown_sklearn_loader() -> None:
    message = error_of(load_table, dataset(name="x", source="sklearn", loader="mnist"), Path("."))
    assert "dataset.loader=mnist" in message and "breast_cancer" in message


@needs_shared
def test_csv_magic_telescope_string_labels(magic: Table) -> None:
    assert (magic.n_rows, magic.n_features, magic.task) == (19020, 10, "classification")
    assert magic.class_names == ["g", "h"]
    assert np.bincount(magic.y).tolist() == [12332, 6688]  # MANIFEST.md class counts


@needs_shared
def test_csv_wine_quality_is_regression() -> None:
    table = load_table(dataset_config("wine_quality"), SHARED_DATA)
    assert table.task == "regression" and table.y.dtype == np.float64
    assert (table.y.min(), table.y.max()) == (3.0, 9.0)
    # the same file with task=auto looks like 7 classes: why the registry states task:
    auto = load_table(dataset(name="wq", source="csv", path="wine_quality.csv.gz"), SHARED_DATA)
    assert auto.task == "classification" and auto.n_classes == 7


def test_plain_csv_and_task_detection(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.integers(0, 5, 40)})
    frame["label"] = np.where(frame.a > 0, "yes", "no")
    frame["score"] = rng.normal(size=40)
    write_csv(tmp_path / "plain.csv", frame)
    text = load_table(dataset(name="p", source="csv", path="plain.csv", target="label"), tmp_path)
    assert text.task == "classification" and text.class_names == ["no", "yes"]
    assert list(text.X.columns) == ["a", "b", "score"]
    real = load_table(
        dataset(name="p", source="csv", path=str(tmp_path / "plain.csv")), Path("/nonexistent")
    )
    assert real.task == "regression"  # last column, absolute path, float target
    ints = load_table(dataset(name="p", source="csv", path="plain.csv", target="b"), tmp_path)
    assert ints.task == "classification" and ints.class_names == [
        str(v) for v in sorted(frame.b.unique())
    ]
    forced = load_table(
        dataset(name="p", source="csv", path="plain.csv", target="b", task="regression"), tmp_path
    )
    assert forced.task == "regression"


def test_frame_typing_nullable_and_category() -> None:
    """OpenML-style frames: nullable integers, `category` nominals with numeric codes."""
    X = pd.DataFrame(
        {
            "count": pd.Series([1, None, 3, 4], dtype="Int64"),
            "flag": [True, False, True, False],
            "nominal": pd.Series(["1", "2", "1", "3"], dtype="category"),
            "numbers_as_text": ["1.5", "2", None, "4"],
        }
    )
    y = pd.Series([0.5, None, 2.5, 3.5], dtype="Float64")
    table = table_from_frame("frame", X, y)
    assert table.task == "regression" and table.n_rows == 3
    assert table.extra["dropped_missing_target"] == 1
    assert table.categorical_columns == ["nominal"]
    assert table.X["count"].dtype == np.float64 and table.X["numbers_as_text"].isna().sum() == 1


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "target": [0.5, 1.5, 2.5, 3.5]})
    (tmp_path / "data.csv").write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    table = load_table(dataset(name="g", source="csv", path="data.csv"), tmp_path)
    assert table.n_rows == 4 and table.task == "regression"


@pytest.mark.parametrize("kind, task", [("classification", "classification"), ("regression", "regression"),
                                        ("moons", "classification"), ("circles", "classification"),
                                        ("sparse_teacher", "classification")])  # fmt: skip
def test_synthetic_kinds(kind: str, task: str) -> None:
    cfg = dataset(
        name=kind,
        source="synthetic",
        synthetic=SyntheticConfig(
            kind=kind, n_samples=300, n_classes=3 if kind == "classification" else 2
        ),
    )
    table = load_table(cfg, Path("."))
    again = load_table(cfg, Path("."))
    other = load_table(
        dataset(
            name=kind,
            source="synthetic",
            synthetic=SyntheticConfig(kind=kind, n_samples=300, seed=1),
        ),
        Path("."),
    )
    assert table.task == task and table.n_rows == 300
    assert table.n_features == (2 if kind in ("moons", "circles") else 20)
    np.testing.assert_array_equal(
        table.X.to_numpy(), again.X.to_numpy()
    )  # deterministic in synthetic.seed
    assert not np.array_equal(table.X.to_numpy(), other.X.to_numpy())
    if kind in ("classification", "regression"):
        assert table.extra["informative"].sum() == 5


def test_synthetic_kind_task_mismatch() -> None:
    cfg = dataset(
        name="m", source="synthetic", task="regression", synthetic=SyntheticConfig(kind="moons")
    )
    assert "dataset.task=regression" in error_of(load_table, cfg, Path("."))
    cfg = dataset(
        name="m", source="synthetic", synthetic=SyntheticConfig(n_features=3, n_informative=5)
    )
    assert "dataset.synthetic.n_informative=5" in error_of(load_table, cfg, Path("."))


@pytest.mark.parametrize(
    "task, depth", [("classification", 1), ("regression", 1), ("classification", 2)]
)
def test_sparse_teacher_support(task: str, depth: int) -> None:
    synthetic = SyntheticConfig(kind="sparse_teacher", n_samples=500, n_features=20, n_informative=4,
                                n_classes=3, teacher_depth=depth, teacher_density=0.5, seed=3)  # fmt: skip
    table = load_table(
        dataset(name="t", source="synthetic", task=task, synthetic=synthetic), Path(".")
    )
    support = table.extra["teacher_support"]
    weights, biases = table.extra["teacher_weights"], table.extra["teacher_biases"]
    assert support.shape == (20,) and support.sum() == 4
    assert all((W != 0).any(axis=1).all() for W in weights)  # every unit is connected
    X = table.X.to_numpy()
    out = teacher_forward(weights, biases, X)
    assert out.shape == (500, 1 if task == "regression" else 3)
    perturbed = X.copy()
    perturbed[:, ~support] = np.random.default_rng(0).normal(size=(500, 16)) * 10
    np.testing.assert_array_equal(teacher_forward(weights, biases, perturbed), out)
    for j in np.flatnonzero(support):  # each feature of the support matters
        moved = X.copy()
        moved[:, j] += 1.0
        assert not np.allclose(teacher_forward(weights, biases, moved), out)
    if task == "classification":
        assert min(np.bincount(table.y)) > 20  # centred outputs: no class starves
        assert np.mean(out.argmax(axis=1) == table.y) > 0.8  # labels follow the teacher (noise 0.1)


# --------------------------------------------------------------------------------------
# registry


@pytest.mark.parametrize("name", registry_names())
def test_registry_entry_composes(name: str) -> None:
    from hydra import compose, initialize_config_module

    from psilon_bench.config import register_configs

    text = (CONF_DATASET / f"{name}.yaml").read_text()
    assert text.startswith("# ") and "defaults: [base_dataset, _self_]" in text
    register_configs()
    with initialize_config_module("psilon_bench.conf", version_base=None):
        composed = compose(f"dataset/{name}").dataset
    assert OmegaConf.get_type(composed) is DatasetConfig
    cfg = dataset_config(name)
    assert cfg == composed and cfg.name == name
    if name == "csv":  # the generic entry for a user's file (tests/test_own_data.py)
        assert cfg.task == "auto" and cfg.path is None and cfg.description
        return
    if name == "uci":  # the generic entry for a UCI collection folder (tests/test_uci.py)
        assert cfg.task == "classification" and cfg.path is None and cfg.description
        return
    assert cfg.task != "auto" and cfg.n_rows and cfg.n_features and cfg.description


def test_registry_contents() -> None:
    names = set(registry_names())
    assert {"iris", "wine", "breast_cancer", "digits", "diabetes"} <= names
    assert {"synthetic_classification", "sparse_teacher", "moons"} <= names
    for name in names:
        cfg = dataset_config(name)
        if cfg.source == "synthetic":
            assert cfg.n_rows == cfg.synthetic.n_samples
    assert "dataset=nope is not in the registry" in error_of(dataset_config, "nope")


@needs_shared
def test_registry_covers_manifest() -> None:
    manifest = json.loads((SHARED_DATA / "manifest.json").read_text())
    by_path = {
        dataset_config(n).path: dataset_config(n)
        for n in registry_names()
        if dataset_config(n).source == "csv" and dataset_config(n).path
    }
    assert set(by_path) == {entry["file"] for entry in manifest}
    for entry in manifest:
        cfg = by_path[entry["file"]]
        table = load_table(cfg, SHARED_DATA)
        features = entry["features"] - len(cfg.drop)  # dataset.drop: ID columns
        assert (cfg.n_rows, cfg.n_features) == (entry["rows"], features)
        assert (table.n_rows, table.n_features) == (entry["rows"], features)
        assert not set(cfg.drop) & set(table.X.columns)
        assert entry["task"].startswith(table.task) and cfg.task == table.task
        assert cfg.openml_id is not None


def test_list_datasets(tmp_path: Path) -> None:
    rows = list_datasets(tmp_path)
    assert [r["name"] for r in rows] == registry_names()
    keys = {"name", "rows", "features", "task", "source", "available", "description"}
    assert all(set(r) == keys for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["iris"]["available"] and by_name["sparse_teacher"]["available"]
    assert not by_name["magic_telescope"]["available"]  # empty data folder, no OpenML cache
    if SHARED_DATA.is_dir():
        # every registry file is there; `csv` and `uci` are templates for a user's file (no path)
        listed = list_datasets(SHARED_DATA)
        assert all(r["available"] for r in listed if r["name"] not in ("csv", "uci"))


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PSILON_BENCH_DATA", raising=False)
    paths = OmegaConf.structured(PathsConfig)
    assert resolve_data_dir(paths) == tmp_path.resolve() / "data"
    monkeypatch.setenv("PSILON_BENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(paths) == tmp_path.resolve() / "env"
    paths.data_dir = str(tmp_path / "cfg")
    assert resolve_data_dir(paths) == tmp_path.resolve() / "cfg"


# --------------------------------------------------------------------------------------
# splits


def test_split_arrays(breast_cancer: Table) -> None:
    split = make_split(breast_cancer, split_cfg(), prep_cfg(), seed=0)
    assert isinstance(split, Split) and split.sizes == {"train": 341, "val": 113, "test": 115}
    assert split.X_train.dtype == np.float32 and split.X_train.shape == (341, 30)
    assert split.y_train.dtype == np.int64 and split.n_classes == 2
    assert split.class_names == ["malignant", "benign"] and len(split.feature_names) == 30
    rows = np.concatenate(list(split.indices.values()))
    assert len(np.unique(rows)) == len(rows) == 569  # disjoint and complete


def test_split_sizes(breast_cancer: Table) -> None:
    sizes = lambda **kw: make_split(breast_cancer, split_cfg(**kw), prep_cfg(), seed=1).sizes  # noqa: E731
    assert sizes(n_train=100, n_val=50, n_test=50) == {"train": 100, "val": 50, "test": 50}
    assert sizes(n_train=100, n_val=None, n_test=None) == {"train": 100, "val": 234, "test": 235}
    assert sizes(n_train=0.5, n_val=0.1, n_test=None) == {"train": 284, "val": 56, "test": 229}
    assert sizes(n_train=50, n_val=None, n_test=None, keep=100) == {
        "train": 50,
        "val": 25,
        "test": 25,
    }
    assert sizes(n_train=50, n_val=0, n_test=None) == {"train": 50, "val": 0, "test": 519}
    assert sizes(n_train=0.5, n_val=0.25, n_test=0.25, keep=10_000) == {
        "train": 284,
        "val": 142,
        "test": 143,
    }


@needs_shared
def test_p1_split(magic: Table) -> None:
    split = make_split(magic, split_cfg(**P1_SPLIT), prep_cfg(), seed=0)
    assert split.sizes == {"train": 2000, "val": 8510, "test": 8510}
    small = make_split(magic, split_cfg(**{**P1_SPLIT, "keep": 10001}), prep_cfg(), seed=0)
    assert small.sizes == {"train": 2000, "val": 4000, "test": 4001}


@needs_shared
def test_stratified_proportions(magic: Table) -> None:
    split = make_split(magic, split_cfg(n_train=500, n_val=300, n_test=None), prep_cfg(), seed=4)
    share = 12332 / 19020  # class g
    for y in (split.y_train, split.y_val, split.y_test):
        assert abs(np.sum(y == 0) - share * len(y)) <= 1
    digits = load_table(dataset_config("digits"), Path("."))
    tiny = make_split(digits, split_cfg(n_train=10, n_val=None, n_test=None), prep_cfg(), seed=0)
    assert sorted(tiny.y_train.tolist()) == list(range(10))  # one row of each class


def test_split_determinism(breast_cancer: Table) -> None:
    a = make_split(breast_cancer, split_cfg(), prep_cfg(), seed=7)
    b = make_split(breast_cancer, split_cfg(), prep_cfg(), seed=7)
    c = make_split(breast_cancer, split_cfg(), prep_cfg(), seed=8)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a.indices[part], b.indices[part])
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.indices["train"], c.indices["train"])


def test_standardization_uses_train_statistics(breast_cancer: Table) -> None:
    split = make_split(
        breast_cancer, split_cfg(n_train=100, n_val=None, n_test=None), prep_cfg(), seed=2
    )
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1, atol=1e-4)
    raw_train = breast_cancer.X.to_numpy()[split.indices["train"]]
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    for part, X in (("val", split.X_val), ("test", split.X_test)):
        expected = (breast_cancer.X.to_numpy()[split.indices[part]] - mean) / std
        np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-4)
    raw = make_split(breast_cancer, split_cfg(), prep_cfg(standardize=False), seed=2)
    np.testing.assert_allclose(raw.X_val, breast_cancer.X.to_numpy()[raw.indices["val"]], rtol=1e-6)


def test_constant_column_scale_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"c": [3.3] * 30, "x": np.arange(30.0), "target": np.arange(30.0) ** 1.5})
    table = load_table(
        dataset(name="c", source="csv", path=str(write_csv(tmp_path / "c.csv", frame))), tmp_path
    )
    split = make_split(table, split_cfg(), prep_cfg(), seed=0)
    assert np.all(split.X_train[:, 0] == 0) and np.isfinite(split.X_test).all()


def test_target_transforms() -> None:
    table = load_table(dataset_config("diabetes"), Path("."))
    split = make_split(table, split_cfg(), prep_cfg(target="iqr"), seed=3)
    y_train = table.y[split.indices["train"]]
    q25, median, q75 = np.percentile(y_train, [25, 50, 75])
    assert split.target_center == pytest.approx(median) and split.target_scale == pytest.approx(
        (q75 - q25) / 2
    )
    np.testing.assert_allclose(
        split.y_test, (table.y[split.indices["test"]] - median) / ((q75 - q25) / 2), rtol=1e-5
    )
    assert split.y_test.dtype == np.float32 and split.n_classes == 0
    standard = make_split(table, split_cfg(), prep_cfg(target="standard"), seed=3)
    assert standard.target_center == pytest.approx(y_train.mean())
    assert standard.target_scale == pytest.approx(y_train.std())
    none = make_split(table, split_cfg(), prep_cfg(target="none"), seed=3)
    assert (none.target_center, none.target_scale) == (0.0, 1.0)


def test_iqr_zero_gets_scale_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "target": [5.0] * 39 + [6.0]})
    write_csv(tmp_path / "z.csv", frame)
    table = load_table(dataset(name="z", source="csv", path="z.csv", task="regression"), tmp_path)
    split = make_split(table, split_cfg(), prep_cfg(), seed=0)
    assert split.target_scale == 1.0 and np.isfinite(split.y_train).all()


def test_imputation_with_train_medians(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=60)
    a[::4] = np.nan
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=60), "target": rng.normal(size=60)})
    write_csv(tmp_path / "m.csv", frame)
    table = load_table(dataset(name="m", source="csv", path="m.csv"), tmp_path)
    split = make_split(table, split_cfg(), prep_cfg(standardize=False), seed=0)
    median = np.nanmedian(a[split.indices["train"]])
    for part, X in (("train", split.X_train), ("val", split.X_val), ("test", split.X_test)):
        missing = np.isnan(a[split.indices[part]])
        assert missing.any()
        np.testing.assert_allclose(X[missing, 0], median, rtol=1e-6)
    message = error_of(make_split, table, split_cfg(), prep_cfg(impute="none"), 0)
    assert "column 'a'" in message and "preprocess.impute" in message


def test_onehot_unseen_category_and_ordinal(tmp_path: Path) -> None:
    colors = ["red", "green"] * 20 + ["blue"]  # blue: one row
    frame = pd.DataFrame({"x": np.arange(41.0), "color": colors, "target": np.arange(41) % 2})
    write_csv(tmp_path / "cat.csv", frame)
    table = load_table(dataset(name="cat", source="csv", path="cat.csv"), tmp_path)
    assert table.categorical_columns == ["color"]
    for seed in range(50):  # the first seed that puts the blue row outside training
        split = make_split(table, split_cfg(), prep_cfg(), seed=seed)
        if 40 not in split.indices["train"]:
            break
    # the categories are the whole column's values: blue has its column, though no training
    # row holds it (every member's split encodes to the same columns)
    assert split.feature_names == ["x", "color=blue", "color=green", "color=red"]
    part = "val" if 40 in split.indices["val"] else "test"
    X = split.X_val if part == "val" else split.X_test
    row = X[list(split.indices[part]).index(40)]
    assert row[1:].tolist() == [1, 0, 0]
    assert not split.X_train[:, 1].any()  # blue: 0 on every training row
    assert set(np.unique(split.X_train[:, 1:])) == {
        0.0,
        1.0,
    }  # one-hot columns are not standardized
    ordinal = make_split(
        table, split_cfg(), prep_cfg(categorical="ordinal", standardize=False), seed=seed
    )
    assert ordinal.feature_names == ["x", "color"]
    X = ordinal.X_val if part == "val" else ordinal.X_test
    assert X[list(ordinal.indices[part]).index(40), 1] == 0  # blue < green < red
    # fitted on the training rows alone, a value outside them is all zeros / -1
    train_only = fit_features(table.X.iloc[split.indices["train"]], ["color"], "onehot", False)
    assert train_only.feature_names == ["x", "color=green", "color=red"]
    assert train_only.transform(table.X.iloc[[40]])[0, 1:].tolist() == [0, 0]
    codes = fit_features(table.X.iloc[split.indices["train"]], ["color"], "ordinal", False)
    assert codes.transform(table.X.iloc[[40]])[0, 1] == -1
    listed = load_table(
        dataset(name="cat", source="csv", path="cat.csv", categorical=["x"]), tmp_path
    )
    assert listed.categorical_columns == ["x", "color"]


# --------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path: Path) -> None:
    message = error_of(load_table, dataset(name="m", source="csv", path="absent.csv.gz"), tmp_path)
    assert str(tmp_path / "absent.csv.gz") in message and "PSILON_BENCH_DATA" in message
    assert "paths.data_dir" in message


@pytest.mark.parametrize(
    "name, content",
    [
        ("garbage.csv.gz", bytes(range(256)) * 8),  # not gzip at all
        ("truncated.csv.gz", gzip.compress(b"a,b,target\n" + TABLE_BODY)[:4000]),  # of ~14 kB
        ("binary.csv", bytes(range(128, 256)) * 16),  # not UTF-8
        ("empty.csv", b""),
        ("header.csv", b"a,b,target\n"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    message = error_of(load_table, dataset(name="bad", source="csv", path=name), tmp_path)
    assert str(tmp_path / name) in message and "cannot read" in message


def test_target_column_absent(tmp_path: Path) -> None:
    write_csv(tmp_path / "t.csv", pd.DataFrame({f"col{i}": [1.0, 2.0] for i in range(30)}))
    message = error_of(
        load_table, dataset(name="t", source="csv", path="t.csv", target="label"), tmp_path
    )
    assert "dataset.target=label" in message and "col0" in message and "30 in all" in message


def test_unencodable_text_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "x": np.arange(80.0),
            "comment": [f"note {i}" for i in range(80)],
            "target": np.arange(80) % 2,
        }
    )
    write_csv(tmp_path / "text.csv", frame)
    message = error_of(load_table, dataset(name="text", source="csv", path="text.csv"), tmp_path)
    assert "'comment'" in message and "dataset.categorical" in message
    forced = load_table(
        dataset(name="text", source="csv", path="text.csv", categorical=["comment"]), tmp_path
    )
    assert (
        make_split(forced, split_cfg(), prep_cfg(), seed=0).n_features == 1 + 80
    )  # x + every note of the column
    message = error_of(
        load_table,
        dataset(name="text", source="csv", path="text.csv", categorical=["nope"]),
        tmp_path,
    )
    assert "dataset.categorical" in message and "nope" in message


def test_split_errors(breast_cancer: Table) -> None:
    message = error_of(make_split, breast_cancer, split_cfg(n_train=5000), prep_cfg(), 0)
    assert message == "split.n_train=5000 exceeds the 569 rows of breast_cancer"
    message = error_of(
        make_split, breast_cancer, split_cfg(n_train=100, n_test=None, keep=50), prep_cfg(), 0
    )
    assert (
        "split.n_train=100" in message
        and "50 rows of breast_cancer kept by split.keep=50" in message
    )
    message = error_of(
        make_split, breast_cancer, split_cfg(n_train=400, n_val=100, n_test=100), prep_cfg(), 0
    )
    assert "split.n_train=400 + split.n_val=100 + split.n_test=100" in message and "569" in message
    assert "sum to more than 1" in error_of(
        make_split, breast_cancer, split_cfg(n_train=0.7, n_val=0.3), prep_cfg(), 0
    )
    message = error_of(
        make_split, breast_cancer, split_cfg(n_train=569, n_val=None, n_test=None), prep_cfg(), 0
    )
    assert "split.n_test resolves to 0 rows" in message
    assert "split.n_train" in error_of(
        make_split, breast_cancer, split_cfg(n_train=1.5), prep_cfg(), 0
    )


def test_class_absent_from_training_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(41.0), "target": ["a"] * 20 + ["b"] * 20 + ["c"]})
    write_csv(tmp_path / "rare.csv", frame)
    table = load_table(dataset(name="rare", source="csv", path="rare.csv"), tmp_path)
    split = make_split(table, split_cfg(n_train=2, n_val=None, n_test=None), prep_cfg(), 0)
    assert split.missing_classes == ["c"] and split.n_classes == 3  # a warning, not an error
    message = error_of(
        make_split, table, split_cfg(n_train=1, n_val=None, n_test=None), prep_cfg(), 0
    )
    assert "single class" in message and "split.n_train=1" in message
    split = make_split(table, split_cfg(n_train=3, n_val=None, n_test=None), prep_cfg(), 0)
    assert sorted(split.y_train.tolist()) == [0, 1, 2]  # stratified: every class trains


def test_openml_fails_fast_offline(tmp_path: Path) -> None:
    if openml_module._unreachable_reason() is None:
        pytest.skip(
            "OpenML is reachable from here; this test covers the offline path (no downloads in tests)"
        )
    start = time.perf_counter()
    message = error_of(load_table, dataset(name="o", source="openml", openml_id=61), tmp_path)
    assert "dataset.openml_id=61" in message and "PSILON_BENCH_DATA" in message
    fallback = dataset(name="magic", source="csv", path="MagicTelescope.csv.gz", openml_id=1120)
    message = error_of(load_table, fallback, tmp_path)
    assert (
        str(tmp_path / "MagicTelescope.csv.gz") in message and "dataset.openml_id=1120" in message
    )
    assert time.perf_counter() - start < 20


def _sklearn_openml_fixture(data_dir: Path) -> None:
    """Lay out scikit-learn's bundled OpenML test files for iris (id 61) as a cache."""
    import sklearn

    source = Path(sklearn.__file__).parent / "datasets" / "tests" / "data" / "openml" / "id_61"
    if not source.is_dir():
        pytest.skip("scikit-learn's OpenML test fixtures are not installed")
    root = openml_module.openml_cache(data_dir) / "openml.org"
    for name, target in [
        ("api-v1-jd-61.json.gz", "api/v1/json/data/61.gz"),
        ("api-v1-jdf-61.json.gz", "api/v1/json/data/features/61.gz"),
        ("api-v1-jdq-61.json.gz", "api/v1/json/data/qualities/61.gz"),
        ("data-v1-dl-61.arff.gz", "data/v1/download/61/iris.arff.gz"),
    ]:
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, root / target)


def test_openml_cache_loads_offline(tmp_path: Path) -> None:
    fallback = dataset(name="iris_csv", source="csv", path="iris.csv", openml_id=61)
    assert not is_available(fallback, tmp_path)
    _sklearn_openml_fixture(tmp_path)
    assert is_available(fallback, tmp_path)
    for cfg in (dataset(name="iris_openml", source="openml", openml_id=61), fallback):
        table = load_table(cfg, tmp_path)
        assert (table.n_rows, table.n_features, table.n_classes) == (150, 4, 3)
        assert table.class_names == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
