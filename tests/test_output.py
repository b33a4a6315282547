"""Output that survives 80 columns, pipes and logs: the summary rendered at 80 columns,
a run through a pipe (no live bars, the records path whole on its own line) and on a real
pseudo-terminal 80 columns wide (one bar for the whole run, nothing wider than 80)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import run_cli

from psilon_bench.engine.progress import RunProgress
from psilon_bench.runner.summary import mean_std, number, render

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
QUICK = ["trainer=quick", "trainer.steps=20", "seeds=3"]


def _records(task="classification", residual=False):
    """3 seeds x 3 strengths of made-up but plausible records."""
    out = []
    for seed in range(3):
        for i, lam in enumerate([1e-4, 1e-3, 1e-2]):
            r = {
                "seed": seed,
                "strength": lam,
                "status": "ok" if (seed, i) != (2, 2) else "diverged",
                "model": "psilon_resnet" if residual else "mlp",
                "regularizer": "path_norm",
                "pruning": "neuron_norm",
                "cfg.pruning.fraction": 0.8,
                "dataset": "digits",
                "task": task,
                "path_norm": 2000.0 + 100 * seed,
                "path_norm.regularized": 1234.5 + 10 * seed + i,
                "path_norm.bound": "improved" if residual else "chain",
                "sparsity.exact": 0.01 * seed,
                "time.steps": 50,
                "time.wall_s": 1.5,
                "time.members": 9,
                "time.member_chunk": 9,
            }
            metrics = ["accuracy", "log_loss"] if task == "classification" else ["rmse", "r2"]
            for j, m in enumerate(metrics):
                for split in ("val", "test"):
                    r[f"{split}.{m}"] = 0.9 + 0.01 * seed + 0.001 * i + 0.0001 * j
            r["val.log_loss"] = 0.3 + 0.05 * ((seed + i) % 3)  # the best strength varies by seed
            out.append(r)
    return out


def test_number_and_mean_std():
    assert number(0.95612, 4) == "0.9561" and number(1285.34, 4) == "1285"
    assert number(40.2, 1) == "40" and number(123456.7, 4) == "123500"
    assert number(2.5e-7, 2) == "2.5e-07"
    values = [0.9594, 0.9644, 0.9544]
    std = statistics.stdev(values)
    assert mean_std(values) == f"0.9594 ± {std:.1g}"
    assert (
        mean_std(values, "compact") == f"0.9594±{std:.1g}" and mean_std(values, "mean") == "0.9594"
    )
    assert mean_std([float("nan"), None]) == "-"


@pytest.mark.parametrize("residual", [False, True])
def test_summary_fits_80_columns_and_never_breaks_a_number(residual):
    records = _records(residual=residual)
    run_dir = "/a/very/long/folder/" + "x" * 90
    text = render(records, run_dir, 80)
    lines = text.splitlines()
    path_line = f"{run_dir}/records.jsonl"
    assert lines[-2:] == ["records:", path_line]
    assert all(len(ln) <= 80 for ln in lines if ln != path_line), text
    assert lines[0] == "psilon_resnet + path_norm + neuron_norm (80 % of units)" or lines[0] == (
        "mlp + path_norm + neuron_norm (80 % of units) on digits (classification)"
    )
    header = next(ln for ln in lines if ln.lstrip().startswith("strength"))
    assert ("phi_IB" in header) == residual and ("path-norm" in header) != residual
    # every row: the strength, n, then one whole number (mean or mean±std) per column
    rows = [ln.split() for ln in lines if re.match(r"^\s+[0-9.e-]+\s+\d/\d", ln)]
    assert [r[:2] for r in rows] == [["0.0001", "3/3"], ["0.001", "3/3"], ["0.01", "2/3"]]
    width = len(header.split()) - header.count(" acc") - header.count(" loss") - 1  # sel
    assert all(len(r) in (width, width + 1) for r in rows)
    ok = [r for r in records if r["strength"] == 1e-3 and r["status"] == "ok"]
    want = number(statistics.fmean(r["test.accuracy"] for r in ok), 4)
    assert any(cell.startswith(want) for cell in rows[1]), (want, rows[1])
    if residual:
        assert "phi_IB: the improved 1-path-norm bound" in text
    # sel: per seed the strength with the smallest val.log_loss among its trained members
    best = {}
    for r in records:
        if r["status"] == "ok" and r["val.log_loss"] < best.get(r["seed"], (9, 0))[0]:
            best[r["seed"]] = (r["val.log_loss"], r["strength"])
    for row, lam in zip(rows, [1e-4, 1e-3, 1e-2]):
        n = sum(1 for _, s in best.values() if s == lam)
        assert row[-1] == f"{n}/3" if n else "/3" not in row[-1], (row, n)
    assert "sel: seeds for which val.log_loss selects the setting" in text


def test_summary_unlimited_width_keeps_every_column_with_std():
    text = render(_records(task="regression"), None, None)
    header = next(ln for ln in text.splitlines() if ln.lstrip().startswith("strength"))
    assert header.split() == [
        "strength", "n", "val", "RMSE", "val", "R^2", "test", "RMSE", "test", "R^2",
        "path-norm", "sparsity", "sel",
    ]  # fmt: skip
    assert " ± " in text and "left out" not in text


@pytest.mark.slow  # waits 2 s on purpose
def test_status_line_only_after_a_second():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with RunProgress(3, enabled=True, console=console) as progress:
        with progress.status("loading quick"):
            pass
        with progress.status("evaluating slow"):
            time.sleep(2.0)
    text = ANSI.sub("", out.getvalue())
    assert "evaluating slow" in text and "loading quick" not in text


def test_piped_run_prints_plain_lines(tmp_path):
    res = run_cli(
        ["run", *QUICK, "trainer.progress=auto", "regularizer=l2"], tmp_path, env={"COLUMNS": "80"}
    )
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout and "\x1b" not in res.stdout and "member-steps" not in res.stdout
    (done,) = tmp_path.rglob("DONE")
    lines = res.stdout.splitlines()
    assert lines[-2:] == ["records:", str(done.parent / "records.jsonl")]


def test_summary_select_on_names_its_metric(tmp_path):
    """`summary.select_on=val.accuracy`: the sel column selects on it and the footer says so;
    a value outside the allowed list is a one-line error, and nothing is written."""
    res = run_cli(["run", *QUICK, "summary.select_on=val.accuracy"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "sel: seeds for which val.accuracy selects the setting" in res.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    res = run_cli(["run", *QUICK, "summary.select_on=val.acc"], bad)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "summary.select_on" in lines[0] and "val.accuracy" in lines[0]
    assert not any(bad.rglob("*"))


def _pty_run(args, cwd, columns=80, timeout=240):
    """Run psilon-bench on a pseudo-terminal `columns` wide; its output without ANSI codes."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm"}
    for key in ("COLUMNS", "LINES", "HYDRA_FULL_ERROR"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "psilon_bench.cli.main", *args],
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    raw = b"".join(chunks).decode(errors="replace")
    return proc.returncode, raw


@pytest.mark.slow  # 9000 member-steps drawn on a pseudo-terminal (~5 s)
def test_terminal_run_at_80_columns_shows_one_bar(tmp_path):
    args = ["run", "trainer=quick", "trainer.steps=1500", "trainer.progress=auto", "seeds=3"]
    args += ["regularizer=l2", "regularizer.strength=[0,1e-3]", "trainer.member_chunk=2"]
    code, raw = _pty_run(args, tmp_path)
    assert code == 0, raw
    frames = [ANSI.sub("", f) for f in re.split(r"\r|\n", raw)]
    bars = [f for f in frames if "member-steps" in f]
    assert bars, raw
    totals = {re.search(r"(\d+)/(\d+) member-steps", b).group(2) for b in bars}
    assert totals == {str(6 * 1500)}  # one bar: 6 members x 1500 steps over 3 chunks
    assert any("members 3-4 of 6" in b for b in bars)
    (done,) = tmp_path.rglob("DONE")
    path = str(done.parent / "records.jsonl")  # the one line allowed to be longer
    assert all(len(f) <= 80 for f in frames if f != path), [f for f in frames if len(f) > 80]
    text = ANSI.sub("", raw).replace("\r", "")
    assert f"records:\n{done.parent / 'records.jsonl'}" in text
    records = [json.loads(x) for x in (done.parent / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6


@pytest.mark.slow  # two parallel worker processes (~20 s on 2 cores)
def test_parallel_workers_draw_no_bars(tmp_path):
    args = ["run", "-m", "hydra/launcher=parallel", "trainer=quick", "trainer.steps=300"]
    args += ["trainer.progress=on", "seeds=1", "dataset=iris,wine"]
    code, raw = _pty_run(args, tmp_path)
    assert code == 0, raw
    assert "member-steps" not in raw
    assert len(list(tmp_path.rglob("DONE"))) == 2
    text = ANSI.sub("", raw).replace("\r", "")
    for folder in tmp_path.rglob("DONE"):  # each worker's summary whole, its path unbroken
        assert f"records:\n{folder.parent / 'records.jsonl'}" in text


def test_datasets_listing_at_80_columns_and_through_a_pipe(tmp_path):
    code, raw = _pty_run(["datasets"], tmp_path)
    assert code == 0, raw
    lines = ANSI.sub("", raw).replace("\r", "").splitlines()
    assert lines[1] == str(tmp_path / "data")  # the data folder whole on its own line
    assert all(len(ln) <= 80 for ln in lines[2:]), [ln for ln in lines if len(ln) > 80]
    magic = next(ln.split() for ln in lines if ln.split()[:1] == ["magic_telescope"])
    assert magic[1:4] == ["19020", "10", "classification"]
    header = next(ln.split() for ln in lines if ln.split()[:1] == ["name"])
    assert header == ["name", "rows", "features", "task", "source", "offline"]
    assert "descriptions left out" in lines[-1]
    res = run_cli(["datasets", "--data-dir", str(tmp_path)], tmp_path)
    assert res.returncode == 0 and "\x1b" not in res.stdout
    magic = next(ln for ln in res.stdout.splitlines() if ln.split()[:1] == ["magic_telescope"])
    assert "19020" in magic and "MAGIC" in magic  # the description too, at natural width


def test_summary_without_a_validation_split():
    records = [{k: v for k, v in r.items() if not k.startswith("val.")} for r in _records()]
    text = render(records, None, 80)
    assert "nothing selected without a validation split" in text
    rows = [ln.split() for ln in text.splitlines() if re.match(r"^\s+[0-9.e-]+\s+\d/\d", ln)]
    assert len(rows) == 3 and not [r for r in rows if re.fullmatch(r"\d/\d", r[-1])]
