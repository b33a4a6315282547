"""Issue 8: output folders that cannot be written (read-only, disk full, a file in the
way) are one line and leave nothing behind; created files honour the umask; a run whose
members all diverged keeps its records but exits with code 3."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess

import pytest
from invoke import files_under, invoke

from psilon_bench.records.io import atomic_write

QUICK = ["trainer=quick", "trainer.steps=2", "seeds=1", "dataset=iris"]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (needs root and mount(8)); yields a function (size, read_only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount(size: str, read_only: bool = False):
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)])
        if res.returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_read_only_output_folder(tmpfs, tmp_path):
    point = tmpfs("1m", read_only=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    res = invoke(["run", *QUICK, f"paths.results_dir={point}/results"], cwd)
    line = res.one_line_error()
    assert res.code == 2 and "read-only file system" in line and "paths.results_dir" in line
    assert files_under(cwd) == [] and files_under(point) == []


def test_disk_full_while_writing_records(tmpfs, tmp_path):
    point = tmpfs("64k")
    filler = point / "filler"
    # leave about one page free: config.yaml fits, the records do not
    with contextlib.suppress(OSError), open(filler, "wb") as fh:
        fh.write(b"x" * (64 * 1024 - 4096))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    res = invoke(["run", *QUICK, "seeds=8", f"paths.results_dir={point}/results"], cwd)
    line = res.one_line_error()
    assert res.code == 2 and "No space left" in line and "records.jsonl" in line, line
    assert files_under(point) == ["filler"] and files_under(cwd) == []


def test_results_dir_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("x")
    res = invoke(["run", *QUICK, "paths.results_dir=taken/sub"], tmp_path)
    line = res.one_line_error()
    assert res.code == 2 and "taken" in line and "not a folder" in line
    assert files_under(tmp_path) == ["taken"]


def test_data_error_leaves_no_folder_outside_the_working_directory(tmp_path):
    cwd, outside = tmp_path / "cwd", tmp_path / "outside"
    cwd.mkdir()
    res = invoke(
        ["run", *QUICK, "split.n_train=1000", f"paths.results_dir={outside}/deep/results"], cwd
    )
    assert res.code == 2 and "split.n_train" in res.one_line_error()
    assert not outside.exists() and files_under(cwd) == []


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_run_files_are_group_readable_with_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        res = invoke(["run", *QUICK], tmp_path)
    finally:
        os.umask(old)
    assert res.code == 0, res.err
    files = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    names = {"config.yaml", "overrides.yaml", "records.jsonl", "curves.jsonl", "DONE"}
    assert {p.name for p in files} == names
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}


def _records(root):
    return [
        json.loads(line)
        for done in sorted(root.rglob("DONE"))
        for line in (done.parent / "records.jsonl").read_text().splitlines()
    ]


def test_all_members_diverged_exits_3_with_records(tmp_path):
    res = invoke(["run", *QUICK, "seeds=2", "optimizer.lr=1e30"], tmp_path)
    line = res.one_line_error()
    assert res.code == 3 and "all 2 members diverged" in line and "optimizer.lr" in line
    records = _records(tmp_path / "results")
    assert [r["status"] for r in records] == ["diverged", "diverged"]
    for r in records:
        assert isinstance(r["diverged_step"], int)
        metrics = [k for k in r if k.startswith(("train.", "val.", "test.", "sparsity."))]
        assert metrics and all(r[k] is None for k in metrics), r
        assert r["params.total"] > 0


def test_sweep_with_one_diverged_job_exits_3_after_all_jobs(tmp_path):
    res = invoke(["run", "-m", *QUICK, "optimizer.lr=1e30,1e-3"], tmp_path)
    line = res.one_line_error()
    assert res.code == 3 and "1 of 2 jobs" in line
    statuses = sorted(r["status"] for r in _records(tmp_path / "results"))
    assert statuses == ["diverged", "ok"]


def test_partly_diverged_run_exits_0(tmp_path):
    res = invoke(
        ["run", *QUICK, "optimizer=sgd", "regularizer=l2", "regularizer.strength=[0.0,1e30]"],
        tmp_path,
    )
    assert res.code == 0, res.err
    by_strength = {r["strength"]: r for r in _records(tmp_path / "results")}
    assert by_strength[0.0]["status"] == "ok" and by_strength[0.0]["test.accuracy"] is not None
    assert by_strength[1e30]["status"] == "diverged" and by_strength[1e30]["test.accuracy"] is None
