"""The Python API (`psilon_bench.run`, `collect`, `table`): the command line's own paths,
so the same files and numbers come back as DataFrames, and a user error raises the
exception whose message is the CLI's one line (nothing written). The examples of the API page
(docs/api.md) run in tests/test_docs.py."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import all_files

import psilon_bench as pb
from psilon_bench.cli.main import main
from psilon_bench.errors import ConfigError, DataError, UserError
from psilon_bench.records.io import read_records

QUICK = ["trainer=quick", "trainer.steps=5", "dataset=iris"]


def test_import_stays_light():
    code = "import sys, psilon_bench; print('torch' in sys.modules, 'hydra' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.split() == ["False", "False"], res.stderr


def test_run_returns_the_records_it_wrote(tmp_path):
    records = pb.run([*QUICK, "seeds=2", "regularizer=l2", "regularizer.strength=[0,0.1]"],
                     out=tmp_path / "run")  # fmt: skip
    assert isinstance(records, pd.DataFrame) and len(records) == 4
    pd.testing.assert_frame_equal(records, pd.DataFrame(read_records(tmp_path / "run")))
    assert sorted(records["strength"].unique()) == [0.0, 0.1]
    # a mapping; the default folder is the CLI's, below paths.results_dir
    again = pb.run({"trainer": "quick", "trainer.steps": 5, "dataset": "iris", "seeds": 1,
                    "paths.results_dir": str(tmp_path / "res")})  # fmt: skip
    (done,) = (tmp_path / "res" / "runs" / "default").glob("*/DONE")
    assert len(again) == 1 and again["run_id"].iloc[0] == done.parent.name


@pytest.mark.parametrize(
    "args, error",
    [
        (["model.width=-1"], ConfigError),
        (["model=resnet50"], ConfigError),
        (["split.n_train=100000"], DataError),
    ],
)
def test_a_mistake_raises_the_clis_one_line_and_writes_nothing(tmp_path, capsys, args, error):
    with pytest.raises(error) as raised:
        pb.run([*QUICK, *args], out=tmp_path / "api")
    assert all_files(tmp_path) == []
    assert main(["run", *QUICK, *args, f"hydra.run.dir={tmp_path / 'cli'}"]) == 2
    assert capsys.readouterr().err == f"error: {raised.value}\n"
    assert all_files(tmp_path) == []


def test_multirun_collect_and_table_equal_the_cli_files(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    grid = {"trainer": "quick", "trainer.steps": 10, "seeds": 1, "regularizer": "l2",
            "dataset": "iris,wine,moons", "regularizer.strength": [1e-4, 1e-1],
            "optimizer.lr": [1e-3, 1e-2]}  # fmt: skip
    records = pb.run(grid, out=sweep, multirun=True)
    assert len(records) == 3 * 2 * 2 and records["path"].nunique() == 3
    collected = pb.collect(sweep)
    assert {"method", "data"} <= set(collected.columns) and len(collected) == len(records)
    frames = pb.table(sweep, metrics=["test.accuracy"], by=["data"])
    assert sorted(frames) == ["selected", "table"]  # one method: no statistics
    assert main(["table", str(sweep), "--metrics", "test.accuracy", "--by", "data",
                 "--out", str(tmp_path / "cli")]) == 0  # fmt: skip
    capsys.readouterr()
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, pd.read_csv(tmp_path / "cli" / f"{name}.csv"))
    with pytest.raises(UserError, match="--baseline 'nope' is not a method here; allowed: mlp"):
        pb.table(sweep, baseline="nope")
    assert not (tmp_path / "sweep" / "table.csv").exists()  # the API writes nothing
