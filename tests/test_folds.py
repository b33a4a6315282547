"""Cross-validation splits (issue 7): `split.kind=kfold` (stratified folds, a member axis)
and `split.kind=predefined` (NAME.splits.json beside a CSV file), and `table` over folds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config, run_cli

from psilon_bench import data as data_pkg
from psilon_bench.data.folds import read_split_file, split_file_path
from psilon_bench.errors import DataError
from psilon_bench.runner.experiment import run_experiment
from psilon_bench.runner.grid import Members

QUICK = ["trainer.epochs=2", "trainer.threads=1", "trainer.progress=off"]


def _kfold_parts(cfg, seed: int) -> list[dict[str, np.ndarray]]:
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    return table, [
        data_pkg.make_split(table, cfg.split, cfg.preprocess, seed, fold).indices
        for fold in range(cfg.split.n_folds)
    ]


@pytest.mark.parametrize("seed", [0, 3])
def test_kfold_folds_partition_the_rows_and_are_stratified(seed):
    k = 4
    cfg = compose_config(["dataset=wine", "split.kind=kfold", f"split.n_folds={k}"])
    table, parts = _kfold_parts(cfg, seed)
    n = table.n_rows
    tests = [p["test"] for p in parts]
    assert sorted(np.concatenate(tests).tolist()) == list(range(n))  # a partition of the rows
    classes, counts = np.unique(table.y, return_counts=True)
    for f, p in enumerate(parts):
        everything = np.concatenate([p["train"], p["val"], p["test"]])
        assert sorted(everything.tolist()) == list(range(n))  # disjoint parts covering all rows
        assert np.array_equal(np.sort(p["val"]), np.sort(tests[(f + 1) % k]))  # val = next fold
        for c, n_c in zip(classes, counts):  # each class split as evenly as folds allow
            in_test = int((table.y[p["test"]] == c).sum())
            assert math.floor(n_c / k) <= in_test <= math.ceil(n_c / k)
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    other = _kfold_parts(cfg, seed + 1)[1]
    assert not np.array_equal(np.sort(other[0]["test"]), np.sort(tests[0]))  # seeded


def test_fold_is_a_member_axis_and_records_carry_it(tmp_path):
    cfg = compose_config(
        ["dataset=iris", "split.kind=kfold", "split.n_folds=4", "seeds=2", *QUICK]
        + ["regularizer=l2", "regularizer.strength=[0,1e-3]"]
    )  # 150 rows in 4 folds: folds of unequal sizes train in separate blocks
    members = Members.from_config(cfg)
    assert len(members) == 4 * 2 * 2 and members.folds == [f for f in range(4) for _ in range(4)]
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert [r["fold"] for r in records] == members.folds
    for r in records:  # each member's parts are its seed's fold of an independent computation
        table, parts = _kfold_parts(cfg, r["split_seed"])
        p = parts[r["fold"]]
        assert (r["n_train"], r["n_val"], r["n_test"]) == tuple(map(len, p.values()))
    holdout = run_experiment(compose_config(["dataset=iris", *QUICK]), tmp_path / "h", threads=1)
    assert holdout and all(r["fold"] is None for r in holdout)


def _tiny_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 12)
    frame = pd.DataFrame({"a": rng.normal(size=24) + 2 * y, "b": rng.normal(size=24), "y": y})
    path = folder / "tiny.csv"
    frame.to_csv(path, index=False)
    return path


SPLITS = {
    "train": list(range(0, 16)),
    "val": list(range(16, 20)),
    "folds": [
        {"train": list(range(0, 16)), "test": list(range(20, 24))},
        {"train": list(range(4, 20)), "test": list(range(0, 4))},
    ],
}


def _predefined(csv: Path, extra: list[str] | None = None):
    return compose_config(
        ["dataset=csv", f"dataset.path={csv}", "split.kind=predefined", *QUICK, *(extra or [])]
    )


def test_predefined_splits_train_and_test_on_the_listed_rows(tmp_path):
    csv = _tiny_csv(tmp_path)
    split_file_path(csv).write_text(json.dumps(SPLITS))
    cfg = _predefined(csv, ["seeds=2"])
    table = data_pkg.load_table(cfg.dataset, tmp_path)
    sf = read_split_file(split_file_path(csv), table)
    for fold, spec in enumerate(SPLITS["folds"]):
        rows = data_pkg.make_split(table, cfg.split, cfg.preprocess, 0, fold, sf).indices
        assert set(rows["train"]) == set(spec["train"]) - set(SPLITS["val"])
        assert set(rows["val"]) == set(SPLITS["val"]) and set(rows["test"]) == set(spec["test"])
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert [(r["fold"], r["seed"]) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [(r["n_train"], r["n_val"], r["n_test"]) for r in records[::2]] == [
        (16, 4, 4),
        (12, 4, 4),
    ]
    assert all(r["test.accuracy"] * 4 == round(r["test.accuracy"] * 4) for r in records)


BAD = {
    "out of range": ({**SPLITS, "val": [16, 17, 99]}, "val holds row 99, out of range"),
    "train/test overlap": (
        {**SPLITS, "folds": [{"train": list(range(0, 16)), "test": [15, 20]}]},
        "folds[0] train and test overlap",
    ),
    "missing class": (
        {**SPLITS, "folds": [{"train": list(range(0, 16, 2)), "test": [20, 21]}]},
        "folds[0].train less val hold a single class",
    ),
    "unreadable": ("{not json", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_split_file_errors_name_the_file(tmp_path, case):
    content, message = BAD[case]
    csv = _tiny_csv(tmp_path)
    path = split_file_path(csv)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    table = data_pkg.load_table(_predefined(csv).dataset, tmp_path)
    with pytest.raises(DataError) as err:
        read_split_file(path, table)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_split_file_exits_2_and_writes_nothing(tmp_path):
    csv = _tiny_csv(tmp_path)
    split_file_path(csv).write_text(json.dumps({**SPLITS, "val": [16, 17, 99]}))
    out = tmp_path / "out"
    args = ["run", "dataset=csv", f"dataset.path={csv}", "split.kind=predefined", *QUICK]
    proc = run_cli([*args, f"paths.results_dir={out}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiny.splits.json" in lines[0] and "99" in lines[0]
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_table_averages_a_kfold_run_over_folds(tmp_path):
    cfg = compose_config(
        ["dataset=iris", "split.kind=kfold", "split.n_folds=3", "seeds=2", *QUICK]
        + ["regularizer=l2", "regularizer.strength=[0,1e-3]"]
    )
    records = pd.DataFrame(run_experiment(cfg, tmp_path / "runs" / "a", threads=1))
    proc = run_cli(["table", str(tmp_path / "runs"), "--out", str(tmp_path / "t")], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # independent selection: per (seed, fold) the smallest val.log_loss (ties: larger strength)
    best = records.sort_values(["val.log_loss", "strength"], ascending=[True, False])
    best = best.groupby(["seed", "fold"]).head(1)
    assert len(best) == 6
    selected = pd.read_csv(tmp_path / "t" / "selected.csv")
    assert sorted(zip(selected["seed"], selected["fold"])) == sorted(
        zip(best["seed"], best["fold"])
    )
    table = pd.read_csv(tmp_path / "t" / "table.csv")
    assert table["n"].tolist() == [6]
    assert table["test.accuracy.mean"].iloc[0] == pytest.approx(best["test.accuracy"].mean())


def test_a_class_rarer_than_the_folds_warns_and_every_class_is_kept(tmp_path, capsys):
    """A class with fewer rows than folds is absent from some folds' training rows: the run
    goes on (networks and scikit-learn alike), names the class and its count once per fold,
    and records it; every model still outputs every class."""
    rng = np.random.default_rng(1)
    y = ["a", "b"] * 20 + ["rare", "rare"]
    frame = pd.DataFrame({"x": rng.normal(size=42), "z": rng.normal(size=42), "y": y})
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    base = ["dataset=csv", f"dataset.path={path}", "split.kind=kfold", "split.n_folds=4"]
    base += ["seeds=1", "trainer=quick", "trainer.steps=5"]
    for model in (["model=mlp"], ["model=sklearn_logistic", "regularizer=none"]):
        cfg = compose_config([*base, *model])
        records = run_experiment(cfg, tmp_path / model[0], threads=1)
        lines = capsys.readouterr().err.strip().splitlines()
        lacking = sorted(r["fold"] for r in records if r["data.missing_classes"])
        assert lacking and len(lacking) < 4, records  # 2 rows in 4 folds: some folds lack it
        assert all(r["data.missing_classes"] in ([], ["rare"]) for r in records)
        assert len(lines) == len(lacking), lines
        for fold, line in zip(lacking, lines):
            assert line.startswith("warning: class 'rare' (2 rows) of rare is absent")
            assert f"training rows of fold {fold};" in line
        assert all(r["d_out"] == 3 and math.isfinite(r["test.log_loss"]) for r in records)
