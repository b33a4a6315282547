"""Signals and orphans (issue 8 items 1, 5): Ctrl-C (SIGINT) or SIGTERM during training
ends a run with one line, exit 130 / 143 and nothing that reads as complete; killing only
the parent of a parallel sweep leaves no worker or resource tracker alive, and SIGINT /
SIGTERM to it stop the whole sweep within seconds. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import SHARED_DATA

from psilon_bench.records import io

LONG = ["trainer=quick", "trainer.steps=10000000", "trainer.threads=1"]


def _env():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PSILON_BENCH_DATA": str(SHARED_DATA)}
    for leaked in ("HYDRA_FULL_ERROR", "PSILON_BENCH_OUTPUT_ROOT", "PSILON_BENCH_SWEEP_PID"):
        env.pop(leaked, None)  # set by in-process runs of other tests
    return env


def _start(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "psilon_bench.cli.main", "run", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except OSError:
                continue
    return kids


def _alive(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(pid)
        except OSError:
            continue
    return out


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_training_is_one_line_and_leaves_nothing(tmp_path, sig, code):
    run_dir = tmp_path / "results" / "run"
    proc = _start([*LONG, f"hydra.run.dir={run_dir}"], tmp_path)
    _wait_for(run_dir.exists)  # Hydra made the folder: the job has started
    time.sleep(1.0)  # into data loading / training
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    latency = time.monotonic() - sent
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and err.startswith("interrupted (SIG") and "Traceback" not in err
    assert latency < 10, latency
    assert not list(tmp_path.rglob(io.DONE)) and not list(tmp_path.rglob(io.RECORDS))
    assert not run_dir.exists()  # the empty folder it made is gone


def _parallel_sweep(tmp_path):
    sweep = tmp_path / "sw"
    args = ["-m", *LONG, "seeds=1,2,3", "hydra/launcher=parallel", f"hydra.sweep.dir={sweep}"]
    proc = _start(args, tmp_path)
    # two loky workers + loky's resource tracker (+ multiprocessing's)
    _wait_for(lambda: len(_children(proc.pid)) >= 3)
    _wait_for(lambda: (sweep / "1").exists())  # both workers run a job
    time.sleep(1.0)
    return proc, _children(proc.pid), sweep


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(signal.SIGKILL, marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
        pytest.param(signal.SIGINT, marks=pytest.mark.slow),
    ],
)
def test_parallel_sweep_parent_signal_leaves_no_process_behind(tmp_path, sig):
    proc, kids, sweep = _parallel_sweep(tmp_path)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig != signal.SIGKILL:
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
        assert (
            "interrupted" in err and f"re-run the same command with hydra.sweep.dir={sweep}" in err
        )
    _wait_for(lambda: not _alive(kids), timeout=10)
    assert time.monotonic() - sent < 10
    assert not list(sweep.rglob(io.DONE))
