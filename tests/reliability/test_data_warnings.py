"""Issue 8, item 9: silent data changes are warned about in one line each and stored in
every record (`data.warnings`); float32 overflow is a one-line error naming the column."""

from __future__ import annotations

import json

import numpy as np
from invoke import files_under, invoke

QUICK = ["trainer=quick", "trainer.steps=2", "seeds=1", "split.n_train=40", "split.n_val=10"]


def _preset(root, name: str, csv_text: str, task: str = "auto"):
    data = root / f"{name}.csv"
    data.write_text(csv_text)
    folder = root / "presets" / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        f"defaults: [base_dataset, _self_]\nname: {name}\nsource: csv\npath: {data}\ntask: {task}\n"
    )
    return ["--config-dir", str(root / "presets"), f"dataset={name}"]


def _csv(header: str, extra: str = "") -> str:
    """80 rows of two Gaussian features, `extra` appended to each, and a binary target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    y = (x[:, 0] > 0).astype(int)
    return header + "".join(f"{a!r},{b!r}{extra},{t}\n" for (a, b), t in zip(x.tolist(), y))


def _records(root):
    (done,) = list(root.rglob("DONE"))
    return [json.loads(line) for line in (done.parent / "records.jsonl").read_text().splitlines()]


def _run(tmp_path, args):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return invoke(["run", *QUICK, *args], cwd), cwd


def test_all_missing_column_is_warned_and_recorded(tmp_path):
    res, cwd = _run(tmp_path, _preset(tmp_path, "nan_col", _csv("a,b,empty,y\n", ",")))
    assert res.code == 0, res.err
    (line,) = res.lines
    assert line.startswith("warning: ") and "'empty'" in line and "no values" in line
    assert _records(cwd)[0]["data.warnings"] == [line.removeprefix("warning: ")]


def test_duplicate_column_names_are_warned(tmp_path):
    res, cwd = _run(tmp_path, _preset(tmp_path, "dup", _csv("a,a,y\n")))
    assert res.code == 0, res.err
    (line,) = res.lines
    assert "repeats the column name" in line and "dup.csv" in line and "a.1" in line
    assert len(_records(cwd)[0]["data.warnings"]) == 1


def test_auto_task_with_many_integer_classes_is_warned(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = np.arange(300) % 100  # 100 integer "classes"
    text = "a,b,y\n" + "".join(f"{a!r},{b!r},{t}\n" for (a, b), t in zip(x.tolist(), y))
    res, cwd = _run(tmp_path, [*_preset(tmp_path, "many", text), "split.n_train=200"])
    assert res.code == 0, res.err
    (line,) = res.lines
    assert "100 distinct values" in line and "dataset.task=classification" in line
    assert _records(cwd)[0]["task"] == "regression"


def test_clean_data_has_no_warnings(tmp_path):
    res, cwd = _run(tmp_path, ["dataset=iris", "split.n_train=30", "split.n_val=10"])
    assert res.code == 0 and res.err == "", res.err
    assert _records(cwd)[0]["data.warnings"] == []


def test_float32_overflow_names_the_column(tmp_path):
    args = _preset(tmp_path, "huge", _csv("small,big,huge,y\n", ",1e40"), task="classification")
    res, cwd = _run(tmp_path, [*args, "preprocess.standardize=false"])
    assert "'huge'" in res.one_line_error() and "float32" in res.lines[0] and res.code == 2
    assert files_under(cwd) == []
    res, _ = _run(tmp_path, args)  # standardized, the same data trains
    assert res.code == 0, res.err
