"""`psilon-bench` end to end, as a user runs it: a real subprocess, real Hydra, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, all_files, needs_shared_data, run_cli

QUICK = ["trainer=quick", "trainer.steps=20", "seeds=2"]


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def _run_dirs(root):
    return sorted(p.parent for p in root.rglob("DONE"))


def test_cli_module_does_not_import_torch():
    code = (
        "import sys, psilon_bench.cli.main; print('torch' in sys.modules, 'hydra' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_top_level_help_and_unknown_command(tmp_path):
    res = run_cli(["--help"], tmp_path)
    assert res.returncode == 0 and "run" in res.stdout and "datasets" in res.stdout
    res = run_cli(["trian"], tmp_path)
    assert (
        res.returncode == 2
        and res.stderr.count("\n") == 1
        and "allowed: run, datasets" in res.stderr
    )


def test_run_writes_one_record_per_member(tmp_path):
    res = run_cli(["run", *QUICK, "regularizer=l2", "regularizer.strength=[0.0,0.01]"], tmp_path)
    assert res.returncode == 0, res.stderr
    (run_dir,) = _run_dirs(tmp_path / "results")
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "DONE",
        "config.yaml",
        "curves.jsonl",
        "overrides.yaml",
        "records.jsonl",
    ]
    records = _records(run_dir)
    assert len(records) == 4  # 2 seeds x 2 strengths
    assert {(r["seed"], r["strength"]) for r in records} == {
        (0, 0.0),
        (0, 0.01),
        (1, 0.0),
        (1, 0.01),
    }
    r = records[0]
    for key in [
        "status",
        "train.accuracy",
        "val.log_loss",
        "test.accuracy",
        "test.log_loss",
        "params.total",
        "time.wall_s",
        "time.steps_per_s",
        "n_train",
        "n_val",
        "n_test",
        "cfg.model.width",
        "cfg.regularizer.name",
        "cfg.dataset.name",
    ]:
        assert key in r, key
    assert r["status"] == "ok" and r["n_train"] + r["n_val"] + r["n_test"] == 569
    assert 0.5 < r["test.accuracy"] <= 1.0
    assert "test acc" in res.stdout  # the rich summary table


@pytest.mark.slow  # a subprocess run; regression CSVs are tested in-process (test_data)
@needs_shared_data
def test_regression_csv_dataset_run(tmp_path):
    res = run_cli(
        [
            "run",
            *QUICK,
            "dataset=wine_quality",
            "split.n_train=300",
            "split.n_val=100",
            "split.n_test=100",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    (run_dir,) = _run_dirs(tmp_path / "results")
    r = _records(run_dir)[0]
    assert r["task"] == "regression" and r["n_train"] == 300 and "test.rmse" in r and "test.r2" in r


@pytest.mark.slow  # a two-job sweep in a subprocess; test_sweeps.py runs one in the fast suite
def test_multirun_sweep_of_two_jobs(tmp_path):
    res = run_cli(["run", "-m", *QUICK, "model.width=8,16"], tmp_path)
    assert res.returncode == 0, res.stderr
    dirs = _run_dirs(tmp_path / "results" / "multirun")
    assert len(dirs) == 2
    widths = sorted(_records(d)[0]["cfg.model.width"] for d in dirs)
    assert widths == [8, 16]


@pytest.mark.slow  # a parallel sweep of worker processes (~5 s on 2 cores)
def test_parallel_launcher_runs_jobs_with_one_thread_each(tmp_path):
    res = run_cli(
        ["run", "-m", "hydra/launcher=parallel", *QUICK, "trainer.threads=null", "seeds=1,2"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    dirs = _run_dirs(tmp_path / "results" / "multirun")
    assert len(dirs) == 2
    assert {r["env.threads"] for d in dirs for r in _records(d)} == {1}


@pytest.mark.slow  # two runs side by side (~2 s on 2 cores)
def test_two_runs_started_together_get_different_folders(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "psilon_bench.cli.main", "run", *QUICK],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert len(_run_dirs(tmp_path / "results")) == 2


def test_cfg_job_and_info(tmp_path):
    res = run_cli(["run", "--cfg", "job", "model.width=7"], tmp_path)
    assert res.returncode == 0 and "width: 7" in res.stdout
    res = run_cli(["run", "--info", "searchpath"], tmp_path)
    assert res.returncode == 0 and "pkg://psilon_bench.conf" in res.stdout
    res = run_cli(["run", "--help"], tmp_path)
    assert res.returncode == 0 and "model:" in res.stdout
    assert not (tmp_path / "results").exists()


ERRORS = {
    "unknown key": (["model.widht=3"], ["model.widht", "allowed keys", "width"]),
    "wrong type": (["model.width=abc"], ["model.width", "abc"]),
    "out of range": (
        ["regularizer=l2", "regularizer.strength=-1"],
        ["regularizer.strength", "[0, inf)"],
    ),
    "unknown option": (["model=resnet50"], ["model=resnet50", "allowed", "mlp"]),
    "bad enum": (["trainer.device=tpu"], ["trainer.device", "tpu", "cpu"]),
    "subsample larger than data": (["split.n_train=5000"], ["split.n_train", "569"]),
    "bad sweep value": (
        ["-m", "regularizer=l2", "regularizer.strength=0.1,-1"],
        ["regularizer.strength"],
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, case):
    args, expected = ERRORS[case]
    res = run_cli(["run", *QUICK, *args], tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert all_files(tmp_path) == [], all_files(tmp_path)


def test_missing_data_file_names_where_it_looked(tmp_path):
    empty = tmp_path / "nodata"
    empty.mkdir()
    res = run_cli(
        ["run", *QUICK, "dataset=magic_telescope"], tmp_path, env={"PSILON_BENCH_DATA": str(empty)}
    )
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert str(empty / "MagicTelescope.csv.gz") in line
    assert all_files(tmp_path) == []


@needs_shared_data
def test_datasets_command_lists_registry_and_availability(tmp_path):
    res = run_cli(["datasets"], tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ["breast_cancer", "magic_telescope", "wine_quality", "sparse_teacher"]:
        assert name in res.stdout
    line = next(ln for ln in res.stdout.splitlines() if "magic_telescope" in ln)
    assert "yes" in line and "19020" in line


def test_repo_readme_quickstart_commands_exist():
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1]
    commands = [
        ln.split("#")[0].strip() for ln in quick.splitlines() if ln.strip().startswith("make ")
    ]
    first_two = commands[:2]
    assert first_two == ["make run", "make test"]
