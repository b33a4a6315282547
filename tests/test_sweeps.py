"""Sweeps and provenance (issues 7, 11): config hash, run id = folder name, overrides and
version/commit in every run folder, `path` column, list values as strings, resumable
sweeps with FAILED markers, and the same records under every launcher. Real subprocesses,
real Hydra, real files."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, compose_config, run_cli
from omegaconf import OmegaConf

from psilon_bench import __version__
from psilon_bench.records import io
from psilon_bench.records.provenance import config_hash

QUICK = ["trainer=quick", "trainer.steps=20", "trainer.threads=1", "seeds=1"]


def _records(folder):
    return [json.loads(line) for line in (folder / io.RECORDS).read_text().splitlines()]


def _result_keys(record):
    """What must not depend on launcher, resume or timing: all but timings, ids, paths
    and the thread/process environment."""
    skip = ("time.", "env.threads", "env.cores")
    return {k: v for k, v in record.items() if not k.startswith(skip) and k != "path"}


def test_config_hash_ignores_output_paths_threads_and_progress():
    base = config_hash(compose_config(["seeds=2"]))
    same = [
        "paths.results_dir=/elsewhere",
        "paths.data_dir=/data",
        "trainer.threads=3",
        "trainer.progress=off",
        "trainer.member_chunk=2",
        "name=other",
    ]
    assert config_hash(compose_config(["seeds=2", *same])) == base
    for changed in ["seeds=3", "regularizer=l2", "optimizer.lr=0.002", "trainer.steps=7"]:
        assert config_hash(compose_config(["seeds=2", changed])) != base, changed
    assert len(base) == 16 and int(base, 16) >= 0


def test_collect_has_path_column_and_lists_failed_jobs(tmp_path):
    io.write_run(tmp_path / "sweep" / "0", "", [{"member": 0}, {"member": 1}], done="abc")
    io.write_run(tmp_path / "single", "", [{"member": 0}])
    (tmp_path / "sweep" / "1").mkdir()
    io.write_failed(tmp_path / "sweep" / "1", "dataset.path: no such file\nsecond line")
    frame = io.collect(tmp_path)
    assert sorted(frame["path"].unique()) == sorted(
        str(tmp_path / p) for p in ("single", "sweep/0")
    )
    assert io.done_hash(tmp_path / "sweep" / "0") == "abc"
    assert io.failed_runs(tmp_path) == [(tmp_path / "sweep" / "1", "dataset.path: no such file")]
    assert io.run_state(tmp_path / "sweep" / "1") == "failed"


def _git_head():
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True)
    return out.stdout.decode().strip() if out.returncode == 0 else None


def test_sweep_with_a_failing_job_goes_on_and_resumes(tmp_path):
    """Job 1 fails with a data error (more training rows than the data has): FAILED holds
    the one line, jobs 0 and 2 finish, exit code 1, summary line. A re-run of the same
    command skips job 0 (untouched), redoes job 2 (made incomplete) and job 1 again."""
    sweep = tmp_path / "sw"
    args = ["run", "-m", *QUICK, "split.n_train=100,100000,200", f"hydra.sweep.dir={sweep}"]
    res = run_cli(args, tmp_path)
    assert res.returncode == 1, res.stderr
    assert (sweep / "1" / io.FAILED).read_text() == (
        "split.n_train=100000 exceeds the 569 rows of breast_cancer\n"
    )
    assert not (sweep / "1" / io.DONE).exists()
    assert "3 jobs, 0 skipped (already complete), 2 run, 1 failed" in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 job(s) failed, first") and "Traceback" not in res.stderr
    assert f"re-run the same command with hydra.sweep.dir={sweep} to redo only those" in last

    # provenance of one job folder
    job0 = sweep / "0"
    assert sorted(p.name for p in job0.iterdir()) == [
        "DONE",
        "config.yaml",
        "curves.jsonl",
        "overrides.yaml",
        "records.jsonl",
    ]
    assert OmegaConf.to_container(OmegaConf.load(job0 / "overrides.yaml")) == [
        *QUICK,
        "split.n_train=100",
        f"hydra.sweep.dir={sweep}",
    ]
    (rec,) = _records(job0)
    assert rec["run_id"] == "sw/0"  # <sweep folder>/<job folder>
    assert rec["config_hash"] == io.done_hash(job0)
    assert rec["env.version"] == __version__
    head = _git_head()
    assert rec["env.git_commit"] == head or rec["env.git_commit"].startswith(f"{head}-dirty")
    assert rec["cfg.metrics.thresholds"] == "[0.001,0.01]"  # lists as strings
    frame = io.collect(sweep)
    assert sorted(frame["path"]) == [str(job0), str(sweep / "2")]
    cfg_cols = [c for c in frame.columns if c.startswith("cfg.")]
    assert frame.groupby(cfg_cols, dropna=False).size().sum() == 2  # every cfg.* hashable

    # resume: job 0 complete, job 2 made incomplete (as by a kill before DONE)
    done0 = (job0 / io.DONE).stat().st_mtime_ns
    records0 = (job0 / io.RECORDS).read_bytes()
    first2 = _records(sweep / "2")
    (sweep / "2" / io.DONE).unlink()
    res = run_cli(args, tmp_path)
    assert res.returncode == 1, res.stderr
    assert "3 jobs, 1 skipped (already complete), 1 run, 1 failed" in res.stdout
    assert (job0 / io.DONE).stat().st_mtime_ns == done0
    assert (job0 / io.RECORDS).read_bytes() == records0
    again2 = _records(sweep / "2")
    assert [_result_keys(r) for r in again2] == [_result_keys(r) for r in first2]
    assert len(io.collect(sweep)) == 2  # nothing twice


def test_sweep_into_a_folder_of_another_sweep_is_refused(tmp_path):
    sweep = tmp_path / "sw"
    io.write_run(sweep / "0", "", [{"member": 0}], done="0123456789abcdef")
    before = sorted(p.name for p in sweep.rglob("*"))
    quick = [a for a in QUICK if a != "seeds=1"]
    res = run_cli(["run", "-m", *quick, "seeds=1,2", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "refusing to overwrite" in res.stderr
    assert "hydra.sweep.dir" in res.stderr
    assert sorted(p.name for p in sweep.rglob("*")) == before


# --------------------------------------------------------------------------------------
# slow: SIGKILL mid-sweep, launchers


def _sweep_records(sweep):
    rows = []
    for done in sorted(sweep.rglob(io.DONE)):
        rows += [_result_keys(r) for r in _records(done.parent)]
    return sorted(rows, key=lambda r: (r["run_id"], r["member"]))


@pytest.mark.slow
def test_sweep_killed_with_sigkill_and_rerun_equals_an_uninterrupted_sweep(tmp_path):
    grid = ["seeds=2", "regularizer=l2", "regularizer.strength=0.0,0.01,0.1,1.0"]
    quick = ["trainer=quick", "trainer.steps=300", "trainer.threads=1"]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PSILON_BENCH_DATA": str(REPO.parent / "shared" / "data"),
    }
    whole, killed = tmp_path / "a" / "sw", tmp_path / "b" / "sw"
    cmd = [sys.executable, "-m", "psilon_bench.cli.main", "run", "-m", *quick, *grid]
    proc = subprocess.Popen(
        [*cmd, f"hydra.sweep.dir={killed}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (killed / "1" / io.DONE).exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.parent.name for p in killed.rglob(io.DONE))
    assert "1" in done_before and len(done_before) < 4, done_before
    resumed = subprocess.run(
        [*cmd, f"hydra.sweep.dir={killed}"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"4 jobs, {len(done_before)} skipped" in resumed.stdout
    full = subprocess.run(
        [*cmd, f"hydra.sweep.dir={whole}"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert full.returncode == 0, full.stderr
    assert _sweep_records(killed) == _sweep_records(whole)
    assert len(io.collect(killed)) == 8  # 4 jobs x 2 seeds, none twice


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["parallel", "submitit_local"])
def test_launchers_give_the_records_of_the_basic_launcher(tmp_path, launcher):
    if launcher.startswith("submitit") and importlib.util.find_spec("submitit") is None:
        pytest.skip("the [cluster] extra (hydra-submitit-launcher) is not installed")
    quick = [a for a in QUICK if a != "seeds=1"]
    sweep = ["run", "-m", *quick, "seeds=2", "regularizer=l2", "regularizer.strength=0,0.01,0.1,1"]
    basic = run_cli([*sweep, f"hydra.sweep.dir={tmp_path / 'basic' / 'sw'}"], tmp_path)
    assert basic.returncode == 0, basic.stderr
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "parallel" else []
    other = run_cli(
        [*sweep, f"hydra/launcher={launcher}", *extra, f"hydra.sweep.dir={tmp_path / 'o' / 'sw'}"],
        tmp_path,
    )
    assert other.returncode == 0, other.stderr
    assert "4 jobs, 0 skipped (already complete), 4 run, 0 failed" in other.stdout
    assert "[4/4 jobs]" in other.stderr  # the parent's progress
    strip = ("cfg.hydra", "env.")
    got = [
        {k: v for k, v in r.items() if not k.startswith(strip)}
        for r in _sweep_records(tmp_path / "o" / "sw")
    ]
    want = [
        {k: v for k, v in r.items() if not k.startswith(strip)}
        for r in _sweep_records(tmp_path / "basic" / "sw")
    ]
    assert len(want) == 8 and got == want
