"""Run records on disk: atomic files, the DONE marker last, NaN as null, collection."""

from __future__ import annotations

import json
import math

import pytest

from psilon_bench.records.io import DONE, atomic_write, collect, flatten, read_records, write_run


def test_write_run_files_and_marker(tmp_path):
    write_run(
        tmp_path / "run",
        "a: 1\n",
        [{"member": 0, "x": math.nan, "y": math.inf}, {"member": 1, "x": 0.5}],
    )
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["DONE", "config.yaml", "records.jsonl"]
    lines = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert lines == [{"member": 0, "x": None, "y": None}, {"member": 1, "x": 0.5}]
    assert read_records(run) == lines


def test_incomplete_run_is_not_read(tmp_path):
    write_run(tmp_path / "run", "", [{"member": 0}])
    (tmp_path / "run" / DONE).unlink()
    with pytest.raises(FileNotFoundError, match="DONE"):
        read_records(tmp_path / "run")


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "f.txt", "one")
    atomic_write(tmp_path / "f.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "two"


def test_collect_reads_complete_runs_only(tmp_path):
    write_run(tmp_path / "a", "", [{"member": 0, "v": 1}, {"member": 1, "v": 2}])
    write_run(tmp_path / "b" / "nested", "", [{"member": 0, "v": 3}])
    write_run(tmp_path / "c", "", [{"member": 0, "v": 4}])
    (tmp_path / "c" / DONE).unlink()
    frame = collect(tmp_path)
    assert sorted(frame["v"]) == [1, 2, 3]


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }
