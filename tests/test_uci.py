"""The UCI collection's layout (`dataset=uci`) and its protocol (`split.kind=two_stage`):
folders written here in exactly that layout (scikit-learn's wine, our own random splits),
run end to end through the real CLI, checked against independent computations: the
chosen setting is the best by validation (recomputed from the selection records), each
fold's refit uses exactly the file's rows (scikit-learn refit by hand for the logistic
baseline), the table is the mean over the 4 folds, and selection never sees a test row
(changing labels outside conxuntos.dat and the folds' file leaves it unchanged)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA, run_cli
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.data.uci import read_uci_splits, read_uci_table, uci_folders
from psilon_bench.engine.monitor import Monitor
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.errors import DataError
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.base import Regularizer
from psilon_bench.report.published import PUBLISHED, comparison, ours

TOY = SHARED_DATA / "uci_layout" / "toy-iris"
NET = [
    "experiment=small_data",
    "model=mlp",
    "regularizer=weight_decay",
    "regularizer.strength=[0.0,1.0]",
    "optimizer.lr=[1e-2,3e-2]",
    "seeds=[0,1]",
    "trainer.steps=60",
    "trainer.eval_every=10",
]
LOGISTIC = [
    "experiment=small_data",
    "model=sklearn_logistic",
    "regularizer=none",
    "regularizer.strength=[1e-2,1,100]",
    "seeds=[0,1]",
]
UCI = ["dataset=uci", "split.kind=two_stage", "split.select_on=val.accuracy"]


def write_layout(
    root: Path, name: str, X: np.ndarray, y: np.ndarray, seed: int, fold_seed: int | None = None
) -> dict:
    """NAME/NAME_R.dat, conxuntos.dat (40 % train, 40 % validation, 20 % in neither) and
    conxuntos_kfold.dat (4 folds; the last 2 rows of the shuffle in no test part), exactly as
    the collection writes them; returns the row indices written."""
    folder = root / name
    folder.mkdir(parents=True)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    header = "\t" + "\t".join([f"f{j + 1}" for j in range(X.shape[1])] + ["clase"])
    rows = [
        "\t".join([str(i + 1), *(f"{v:g}" for v in Z[i]), str(int(y[i]))]) for i in range(len(y))
    ]
    (folder / f"{name}_R.dat").write_text("\n".join([header, *rows]) + "\n")
    n = len(y)
    perm = np.random.default_rng(seed).permutation(n)
    train, val, outside = perm[: 2 * n // 5], perm[2 * n // 5 : 4 * n // 5], perm[4 * n // 5 :]
    line = lambda idx: " ".join(str(i) for i in idx) + " "  # noqa: E731 (trailing space)
    (folder / "conxuntos.dat").write_text(f"{line(train)}\n{line(val)}\n")
    shuffled = np.random.default_rng(seed if fold_seed is None else fold_seed).permutation(n)
    folds = []
    for f in range(4):
        test = shuffled[: n - 2][f::4]
        folds.append((np.setdiff1d(np.arange(n), test), test))
    (folder / "conxuntos_kfold.dat").write_text(
        "".join(f"{line(tr)}\n{line(te)}\n" for tr, te in folds)
    )
    return {"folder": folder, "train": train, "val": val, "outside": outside, "folds": folds}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """wine in the layout, and a copy whose labels outside conxuntos.dat and whose folds differ."""
    root = tmp_path_factory.mktemp("uci")
    X, y = load_wine(return_X_y=True)
    a = write_layout(root / "a", "wine", X, y, seed=3)
    changed = y.copy()
    changed[a["outside"]] = (changed[a["outside"]] + 1) % 3  # rows no selection part holds
    b = write_layout(root / "b", "wine-b", X, changed, seed=3, fold_seed=11)
    return {"a": a, "b": b, "y": y, "y_b": changed, "root": root}


def _sweep(args: list[str], paths: list[Path], out: Path) -> list[Path]:
    quoted = ",".join(f"'{p}'" for p in paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = run_cli(
        ["run", "-m", *args, *UCI, f"dataset.path={quoted}", f"hydra.sweep.dir={out}"], out.parent
    )
    assert result.returncode == 0, result.stderr
    return [out / str(i) for i in range(len(paths))]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(layouts, tmp_path_factory):
    work = tmp_path_factory.mktemp("runs")
    paths = [layouts["a"]["folder"], layouts["b"]["folder"]]
    return {
        "net": _sweep(NET, paths, work / "sweep" / "net"),
        "logistic": _sweep(LOGISTIC, paths, work / "sweep" / "logistic"),
        "work": work,
    }


def _best_by_validation(selection: list[dict]) -> dict[int, tuple]:
    """Seed -> (strength, lr) of the best val.accuracy, ties to the larger strength, then the
    smaller learning rate (the documented rule), computed here from the records alone."""
    best = {}
    for seed in {r["seed"] for r in selection}:
        mine = [r for r in selection if r["seed"] == seed and r["status"] == "ok"]
        top = max(r["val.accuracy"] for r in mine)
        tied = [r for r in mine if r["val.accuracy"] == top]
        tied.sort(key=lambda r: (-r["strength"], r["lr"] if r["lr"] is not None else math.inf))
        best[seed] = (tied[0]["strength"], tied[0]["lr"], tied[0])
    return best


@pytest.mark.parametrize("kind", ["net", "logistic"])
def test_chosen_setting_is_best_by_validation_and_refit_uses_the_files_rows(runs, layouts, kind):
    run = runs[kind][0]
    selection, refit = _jsonl(run / "selection.jsonl"), _jsonl(run / "records.jsonl")
    lay = layouts["a"]
    assert {r["stage"] for r in selection} == {"select"} and {r["stage"] for r in refit} == {
        "refit"
    }
    assert all(r["fold"] is None and r["n_test"] == 0 for r in selection)
    assert all(
        r["n_train"] == len(lay["train"]) and r["n_val"] == len(lay["val"]) for r in selection
    )
    assert all(r.get("test.accuracy") is None for r in selection)  # selection never tests
    best = _best_by_validation(selection)
    assert len(refit) == 2 * 4
    for r in refit:
        strength, lr, chosen = best[r["seed"]]
        assert (r["strength"], r["lr"]) == (strength, lr)
        assert r["two_stage.member"] == chosen["member"]
        assert r["val.accuracy"] == chosen["val.accuracy"]
        train, test = lay["folds"][r["fold"]]
        assert (r["n_train"], r["n_val"], r["n_test"]) == (len(train), 0, len(test))
        if kind == "net":  # keep_best=val: the refit kept at the step selection kept it at
            assert r["best_step"] == chosen["best_step"] is not None
    assert sorted({r["fold"] for r in refit}) == [0, 1, 2, 3]


def test_logistic_refit_equals_scikit_learn_on_the_folds_rows(runs, layouts):
    """The refit's test accuracy, recomputed with scikit-learn on the fold's rows as written."""
    refit = _jsonl(runs["logistic"][0] / "records.jsonl")
    lay, y = layouts["a"], layouts["y"]
    X = np.loadtxt(lay["folder"] / "wine_R.dat", skiprows=1, delimiter="\t")[:, 1:-1]
    for r in refit:
        train, test = lay["folds"][r["fold"]]
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        scaled = lambda rows: ((X[rows] - mean) / std).astype(np.float32)  # noqa: E731
        model = LogisticRegression(C=1 / r["strength"], max_iter=1000).fit(scaled(train), y[train])
        expected = float((model.predict(scaled(test)) == y[test]).mean())
        assert r["test.accuracy"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("kind", ["net", "logistic"])
def test_selection_never_sees_a_test_row(runs, kind):
    """Copy b: other labels on rows outside conxuntos.dat, other folds: the same selection
    records and choice, other test results."""
    a, b = runs[kind]
    sel_a, sel_b = _jsonl(a / "selection.jsonl"), _jsonl(b / "selection.jsonl")
    keys = [k for k in sel_a[0] if k.startswith("val.")]
    assert [[r[k] for k in keys] for r in sel_a] == [[r[k] for k in keys] for r in sel_b]
    ref_a, ref_b = _jsonl(a / "records.jsonl"), _jsonl(b / "records.jsonl")
    assert [(r["strength"], r["lr"]) for r in ref_a] == [(r["strength"], r["lr"]) for r in ref_b]
    assert [r["test.accuracy"] for r in ref_a] != [r["test.accuracy"] for r in ref_b]


def test_table_reports_the_mean_over_the_four_folds(runs):
    out = runs["work"] / "table"
    result = run_cli(
        ["table", str(runs["work"] / "sweep"), "--out", str(out), "--by", "data",
         "--metrics", "test.accuracy", "--select-on", "val.accuracy"],
        runs["work"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 2 * 2  # 2 methods x 2 datasets (wine, wine-b)
    for kind, method in (("net", "mlp+weight_decay"), ("logistic", "sklearn_logistic")):
        for run, data in zip(runs[kind], ("wine", "wine-b")):
            refit = _jsonl(run / "records.jsonl")
            folds = {s: [r["test.accuracy"] for r in refit if r["seed"] == s] for s in (0, 1)}
            assert all(len(v) == 4 for v in folds.values())
            row = table[(table["method"] == method) & (table["data"] == data)].iloc[0]
            assert row["test.accuracy.mean"] == pytest.approx(
                np.mean([np.mean(v) for v in folds.values()]), rel=1e-12
            )
            assert row["n"] == 8  # 2 seeds x 4 folds, one selected setting each


def test_reader_reads_the_layout_as_written(layouts):
    lay = layouts["a"]
    table = read_uci_table(lay["folder"])
    X, y = load_wine(return_X_y=True)
    assert table.name == "wine" and table.task == "classification" and table.n_classes == 3
    np.testing.assert_array_equal(table.y, y)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(table.X.iloc[np.arange(len(y))].to_numpy(), Z, rtol=1e-5, atol=1e-5)
    splits = read_uci_splits(lay["folder"], table)
    np.testing.assert_array_equal(splits.train, lay["train"])
    np.testing.assert_array_equal(splits.val, lay["val"])
    for f, (train, test) in enumerate(lay["folds"]):
        rows = splits.rows(f)
        np.testing.assert_array_equal(rows["train"], train)
        np.testing.assert_array_equal(rows["test"], test)
        assert len(rows["val"]) == 0


@pytest.mark.skipif(not TOY.is_dir(), reason=f"{TOY} not found")
def test_reader_on_the_shared_toy_iris():
    table = read_uci_table(TOY)
    X, y = load_iris(return_X_y=True)
    assert table.name == "toy-iris" and table.n_rows == 150 and table.n_features == 4
    np.testing.assert_array_equal(np.bincount(table.y), np.bincount(y))
    lines = (TOY / "conxuntos_kfold.dat").read_text().splitlines()
    splits = read_uci_splits(TOY, table)
    for f in range(4):
        assert list(splits.rows(f)["train"]) == [int(v) for v in lines[2 * f].split()]
        assert list(splits.rows(f)["test"]) == [int(v) for v in lines[2 * f + 1].split()]


def _broken(root: Path, name: str, edit) -> Path:
    X, y = load_iris(return_X_y=True)
    lay = write_layout(root, name, X, y, seed=0)
    edit(lay["folder"])
    return lay["folder"]


BAD = {
    "missing": (lambda d: (d / "conxuntos_kfold.dat").unlink(), "conxuntos_kfold.dat is missing"),
    "range": (
        lambda d: (d / "conxuntos.dat").write_text("0 1 2 150 \n3 4 5 \n"),
        "conxuntos.dat: line 1 holds row 150, out of range for the 150 data rows (indices are 0-based)",
    ),
    "overlap": (
        lambda d: (d / "conxuntos.dat").write_text("0 1 2 60 61 100 \n2 3 \n"),
        "conxuntos.dat: lines 1 and 2 (training and validation) overlap in 1 rows (e.g. row 2)",
    ),
    "twice": (
        lambda d: (d / "conxuntos.dat").write_text("0 1 2 60 61 100 1 \n3 4 \n"),
        "conxuntos.dat: line 1 lists a row twice (e.g. row 1)",
    ),
    "lines": (
        lambda d: (d / "conxuntos_kfold.dat").write_text("0 1 \n2 3 \n"),
        "conxuntos_kfold.dat: 2 lines; want 8",
    ),
    "one-class": (
        lambda d: (d / "conxuntos.dat").write_text("0 1 2 3 \n60 61 62 \n"),
        "conxuntos.dat: the training rows (line 1) hold a single class ('0')",
    ),
    "header": (
        lambda d: (d / f"{d.name}_R.dat").write_text("f1\tclase\n1\t0.5\t0\n"),
        "_R.dat: the first line must be a header starting with a tab",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_layouts_are_one_line_errors_naming_the_file(tmp_path, case):
    edit, message = BAD[case]
    folder = _broken(tmp_path, f"bad-{case}", edit)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        table = read_uci_table(folder)
        read_uci_splits(folder, table)
    if case == "range":  # and through the CLI: exit 2, one line, nothing written
        result = run_cli(
            ["run", f"dataset.path={folder}", *UCI, "model=sklearn_logistic",
             "paths.results_dir=out"],
            tmp_path,
        )  # fmt: skip
        assert result.returncode == 2
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "conxuntos.dat" in lines[0], result.stderr
        assert not (tmp_path / "out").exists()


def test_two_stage_needs_uci_and_bad_options_are_one_line_errors(tmp_path, layouts):
    folder = layouts["a"]["folder"]
    for args, needle in (
        (["dataset=iris", "split.kind=two_stage"], "split.kind=two_stage needs dataset=uci"),
        ([f"dataset.path={folder}", *UCI[:2], "split.select_on=test.accuracy"],
         "split.select_on must be"),
        (["dataset.path=nowhere", *UCI], "no such dataset folder"),
    ):  # fmt: skip
        result = run_cli(["run", *args, "paths.results_dir=out"], tmp_path)
        assert result.returncode == 2 and needle in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()


def test_keep_at_equals_a_run_stopped_at_that_step():
    """The refit's `keep_at`: each member's parameters after exactly its step count (one not
    on the evaluation grid, one beyond the plan: the last step, one None: the last step)."""
    X, y = load_wine(return_X_y=True)
    x = torch.as_tensor(((X - X.mean(0)) / X.std(0)).astype(np.float32))
    y = torch.as_tensor(y)
    seeds, steps, at = [0, 1, 2], 40, [17, 99, None]

    def train(member_seeds, n_steps, monitor=None):
        E = len(member_seeds)
        model = MLP(13, 3, width=16, depth=2, seeds=member_seeds)
        data = MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 3)
        fit(model, data, member_seeds, Regularizer(torch.zeros(E)), OptimizerConfig(lr=3e-2),
            ScheduleConfig(), plan_steps(len(y), 16, None, n_steps), monitor=monitor)  # fmt: skip
        return model

    monitor = Monitor(None, every=10, n_steps=steps, keep_at=at)
    kept = train(seeds, steps, monitor)
    assert monitor.best_steps() == [17, 40, None]
    for e, n in enumerate([17, steps, steps]):
        stopped = train([seeds[e]], n)
        for pk, ps in zip(kept.parameters(), stopped.parameters()):
            torch.testing.assert_close(pk[e], ps[0], rtol=1e-5, atol=1e-6)


def _fake_set(root: Path, name: str, rows: int, test_file: bool = False) -> None:
    folder = root / name
    folder.mkdir()
    (folder / f"{name}_R.dat").write_text(
        "\tf1\tclase\n" + "".join(f"{i + 1}\t0\t0\n" for i in range(rows))
    )
    if test_file:
        (folder / f"{name}_test_R.dat").write_text("")


def test_folders_and_arora_filter(tmp_path):
    _fake_set(tmp_path, "small", 10)
    _fake_set(tmp_path, "large", 5001)
    _fake_set(tmp_path, "fixed-test", 10, test_file=True)
    (tmp_path / "notes").mkdir()  # no NAME_R.dat: not a dataset
    assert [f.name for f in uci_folders(tmp_path)] == ["fixed-test", "large", "small"]
    assert [f.name for f in uci_folders(tmp_path, 5000, no_test_file=True)] == ["small"]
    with pytest.raises(DataError, match="holds no dataset folder"):
        uci_folders(tmp_path / "notes")
    with pytest.raises(DataError, match="is not a folder"):
        uci_folders(tmp_path / "absent")


def test_published_comparison(tmp_path):
    table = pd.DataFrame(
        {
            "data": ["a", "a", "b", "b", "c"],
            "method": ["m1", "m2", "m1", "m2", "m1"],
            "test.accuracy.mean": [0.8, 0.7, 0.9, 0.6, 0.5],
        }
    )
    table.to_csv(tmp_path / "table.csv", index=False)
    rows, shared = ours(tmp_path / "table.csv")
    assert shared == 2
    assert rows[0][:2] == ("m1", 3) and rows[0][2] == pytest.approx(100 * (0.8 + 0.9 + 0.5) / 3)
    assert rows[0][3] == pytest.approx(85.0) and rows[1][2:] == pytest.approx((65.0, 65.0))
    text = comparison(tmp_path / "table.csv")
    assert all(f"{acc:.2f}" in text for *_, acc in PUBLISHED) and "81.95" in text


def test_a_uci_folder_split_another_way_runs_and_says_so(tmp_path, layouts):
    folder = layouts["a"]["folder"]
    args = ["run", "dataset=uci", f"dataset.path={folder}", "model=sklearn_logistic", "seeds=1"]
    result = run_cli([*args, "paths.results_dir=out"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "conxuntos.dat and conxuntos_kfold.dat are not used" in result.stderr
    (records,) = list((tmp_path / "out").rglob("records.jsonl"))
    assert _jsonl(records)[0]["n_train"] == int(0.6 * 178)  # the holdout split's 60 % (floor)


@pytest.mark.parametrize("where", ["unset", "absent", "no-dataset"])
def test_make_table_uci_refuses_a_missing_or_empty_folder(tmp_path, where):
    """One line, exit 2, nothing run or written."""
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    folder = {"unset": None, "absent": tmp_path / "absent", "no-dataset": tmp_path / "empty"}[where]
    res = tmp_path / "res"
    args = ["make", "-s", "-o", "setup", "-o", ".venv/.installed", "table-uci", f"RES={res}"]
    out = subprocess.run(
        args + ([f"UCI_DIR={folder}"] if folder else []),
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "UCI_DIR" in errors[0], out.stderr
    assert not res.exists()


def test_make_table_uci_sweeps_every_dataset_with_each_p6_method(tmp_path):
    """The dry run: the P6 methods' sweeps over the listed folders, then table and the
    published averages (the listing itself: `test_folders_and_arora_filter`)."""
    X, y = load_iris(return_X_y=True)
    for name in ("one", "two"):
        write_layout(tmp_path, name, X, y, seed=0)
    out = subprocess.run(
        ["make", "-n", "-o", "setup", "-o", ".venv/.installed", "table-uci", f"UCI_DIR={tmp_path}"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "for m in mlp:weight_decay psilon_net:path_norm psilon_resnet:path_norm" in text
    for method in ("${m%%:*}", "sklearn_mlp", "logistic", "rf"):  # the networks, the baselines
        assert f"hydra.sweep.dir=results/uci/runs/uci-{method}" in text
    assert "split.kind=two_stage split.select_on=val.accuracy" in text
    assert "--by data" in text and "psilon_bench.report.published results/uci/table.csv" in text
