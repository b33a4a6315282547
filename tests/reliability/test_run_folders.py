"""Never overwrite a run folder (issue 8 item 4): a second run aimed at a folder that holds
another run's files is refused with one line and exit 2, the first run's files untouched;
two runs at once cannot share a folder; a sweep redoes only incomplete or failed jobs and
removes their markers before anything else."""

from __future__ import annotations

import fcntl
import os

import pytest
from conftest import run_cli

from psilon_bench.records import io
from psilon_bench.records.rundir import FolderRefused, claim

QUICK = ["trainer=quick", "trainer.steps=20", "trainer.threads=1", "seeds=1"]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_second_run_into_the_same_run_dir_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli(["run", *QUICK, f"hydra.run.dir={run_dir}"], tmp_path)
    assert first.returncode == 0, first.stderr
    before = _snapshot(run_dir)
    again = run_cli(["run", *QUICK, "seeds=2", f"hydra.run.dir={run_dir}"], tmp_path)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert "refusing to overwrite" in again.stderr and "hydra.run.dir" in again.stderr
    assert _snapshot(run_dir) == before

    # at once: while another process holds the folder, a run is refused
    busy = tmp_path / "busy"
    busy.mkdir()
    lock = os.open(busy, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        res = run_cli(["run", *QUICK, f"hydra.run.dir={busy}"], tmp_path)
    finally:
        os.close(lock)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "being written by another run" in res.stderr
    assert list(busy.iterdir()) == []


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.mark.parametrize(
    ("files", "resume", "expect"),
    [
        ({}, False, "run"),
        ({io.DONE: "h1", io.RECORDS: "{}\n"}, True, "skip"),  # resumed sweep, same hash
        ({io.DONE: "h0", io.RECORDS: "{}\n"}, True, "refuse"),  # another config's run
        ({io.DONE: "h1", io.RECORDS: "{}\n"}, False, "refuse"),  # single run: never
        ({io.FAILED: "boom\n"}, True, "run"),  # failed job: redo
        ({io.CONFIG: "a: 1\n", io.RECORDS: "{}\n"}, True, "run"),  # killed before DONE
        ({io.CONFIG: "a: 1\n"}, False, "refuse"),
        ({"notes.txt": "mine"}, True, "refuse"),  # not a run folder
        ({"hydra_app.log": ""}, False, "run"),  # Hydra's job log, written before the job
    ],
)
def test_claim_decisions(tmp_path, files, resume, expect):
    folder = tmp_path / "job"
    _write(folder, files)
    if expect == "refuse":
        with pytest.raises(FolderRefused):
            claim(folder, "h1", resume=resume)
        assert {p.name for p in folder.iterdir()} == set(files)  # untouched
        return
    c = claim(folder, "h1", resume=resume)
    try:
        assert c.action == expect
        if expect == "run":
            assert not [p for p in folder.iterdir() if p.name in io.RUN_FILES]  # a clean start
    finally:
        c.release()


def test_clear_run_removes_the_markers_first(tmp_path, monkeypatch):
    """A kill at any moment of a redo leaves a folder without DONE/FAILED."""
    folder = tmp_path / "job"
    io.write_run(folder, "a: 1\n", [{"member": 0}], files={io.OVERRIDES: "[]\n"}, done="h")
    removed = []
    real_unlink = type(folder).unlink

    def unlink(self, missing_ok=False):
        removed.append(self.name)
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(folder), "unlink", unlink)
    io.clear_run(folder)
    assert removed[:2] == [io.DONE, io.FAILED]
    assert list(folder.iterdir()) == []
