"""The `make table-*` targets (docs/protocols.md): a dry run (`make -n`) shows
each protocol's sweeps, table and figure into results/<protocol>/, forwards DATA_DIR,
LAUNCHER and FULL, and every job it would start composes and validates."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest
from conftest import REPO, compose_config

from psilon_bench.runner.checks import check_job

TARGETS = {
    "table-psilon-tabular": "psilon_tabular",
    "table-psilon-deep": "psilon_deep",
    "table-lp-bridge": "lp_bridge",
    "table-soft-diamond": "soft_diamond",
    "table-ewn": "ewn",
    "table-small-data": "small_data",
    "table-small-data-dev": "small_data_dev",
    "table-small-data-budget-dev": "small_data_budget_dev",
}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _dry(target: str, *variables: str) -> list[str]:
    out = subprocess.run(
        ["make", "-n", "-o", "setup", "-o", ".venv/.installed", target, *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "psilon-bench" in line]


def _jobs(line: str) -> list[list[str]]:
    """The overrides of the first job of every `psilon-bench run -m` in `line`."""
    line = line.replace("$n", "50").replace("$data", "iris")
    nets = re.search(r"for m in (.*?); do", line)  # P6: a shell loop over model:regularizer
    pairs = [pair.split(":") for pair in nets.group(1).split()] if nets else []
    gbdt = re.search(r"for g in (.*?); do", line)  # P6: the optional boosting libraries
    commands = []
    for command in re.findall(r"psilon-bench run -m (.*?)(?:\|\||&&|;|$)", line):
        if "${m%%:*}" not in command and "$g" not in command:
            commands.append(command)
        for model, reg in pairs if "${m%%:*}" in command else []:
            commands.append(command.replace("${m%%:*}", model).replace("${m##*:}", reg))
        for model in gbdt.group(1).split() if gbdt and "$g" in command else []:
            commands.append(command.replace("$g", model))
    jobs = []
    for command in commands:
        overrides = []
        for token in shlex.split(command):
            key, _, value = token.partition("=")
            if key.startswith("hydra") or not value:
                continue
            if "," in value and not value.startswith("["):
                value = value.split(",")[0]  # the sweep's first job
            overrides.append(f"{key}={value}")
        jobs.append(overrides)
    return jobs


@pytest.mark.parametrize(("target", "protocol"), TARGETS.items())
def test_target_runs_sweeps_then_table_and_figure_into_results(target, protocol):
    lines = _dry(target, "DATA_DIR=../shared/data", "LAUNCHER=parallel")
    runs = [line for line in lines if "psilon-bench run -m" in line]
    assert runs, lines
    for line in runs:
        assert f"hydra.sweep.dir=results/{protocol}/runs/" in line
        assert "hydra/launcher=parallel" in line and "trainer.threads=1" in line
        assert f"PSILON_BENCH_DATA={os.path.abspath(REPO.parent / 'shared' / 'data')}" in line
    table = [line for line in lines if "psilon-bench table" in line]
    assert table and f"results/{protocol}/runs --out results/{protocol}" in table[0]
    if not protocol.startswith("small_data"):
        assert any(f"psilon-bench plot results/{protocol}/runs --kind" in x for x in lines)


@pytest.mark.parametrize(
    ("target", "protocol"),
    [  # the development target (how P6's recipe was chosen) runs in make test-full
        pytest.param(t, p, marks=pytest.mark.slow) if t.endswith("-dev") else (t, p)
        for t, p in TARGETS.items()
    ],
)
def test_every_job_of_a_target_composes_and_validates(target, protocol):
    for full in ([], ["FULL=1"]):
        for line in _dry(target, "DATA_DIR=../shared/data", *full):
            for overrides in _jobs(line):
                check_job(compose_config(overrides))


def test_full_switches_to_the_paper_sizes():
    quick = " ".join(_dry("table-psilon-tabular"))
    full = " ".join(_dry("table-psilon-tabular", "FULL=1"))
    assert "model.width=500" not in quick and "model.width=500 trainer.epochs=1000" in full
    assert "5e-5,1e-4,2.5e-4" in full
    # FULL results go beside the committed quick ones, never over them
    assert "results/psilon_tabular/runs" in quick and "results/psilon_tabular_full/" not in quick
    assert "results/psilon_tabular/" not in full
    assert "--out results/psilon_tabular_full --baseline" in full
    assert "hydra.sweep.dir=results/psilon_tabular_full/runs/psilon_net" in full
    assert "DATA" not in quick.split("psilon-bench")[0]  # no DATA_DIR: the default data folder


def test_small_data_refuses_a_p6_dir_without_split_files(tmp_path):
    """P6_DIR must hold NAME.splits.json files: one line, exit 2, nothing run or written."""
    res = tmp_path / "res"
    out = subprocess.run(
        ["make", "-s", "-o", "setup", "-o", ".venv/.installed", "table-small-data"]
        + [f"P6_DIR={tmp_path}", f"RES={res}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "splits.json" in errors[0] and str(tmp_path) in errors[0]
    assert not res.exists()


def test_small_data_with_p6_dir_sweeps_each_predefined_dataset(tmp_path):
    out = subprocess.run(
        ["make", "-n", "-o", "setup", "-o", ".venv/.installed", "table-small-data"]
        + [f"P6_DIR={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loop = out[out.index(f"for f in {tmp_path}/*.splits.json") :]
    loop = loop[: loop.index("done; fi")]
    assert "split.kind=predefined" in loop and "dataset=csv" in loop
    jobs = [dict(o.split("=", 1) for o in job) for job in _jobs(loop)]
    assert sorted(job["model"] for job in jobs) == sorted(
        [
            "mlp",
            "psilon_net",
            "psilon_resnet",
            "sklearn_mlp",
            "sklearn_logistic",
            "sklearn_rf",
            "sklearn_hgb",
            "catboost",  # the optional libraries, each where it is installed
            "lightgbm",
            "xgboost",
        ]
    )
    assert all(job["experiment"] == "small_data" for job in jobs)


def test_recipe_development_never_uses_the_p6_seeds():
    """Both recipe targets score their candidates on split draws that P6 (seeds 0-2, FULL 0-4)
    never uses, so choosing the recipe never looks at P6's test rows (docs/protocols.md, "A recipe for small data")."""
    p6_seeds = set(range(5))
    dev = ("table-small-data-dev", "table-small-data-budget-dev")
    for line in (line for t in dev for line in _dry(t, "DATA_DIR=../shared/data")):
        for overrides in _jobs(line):
            cfg = compose_config(overrides)
            assert not p6_seeds & set(cfg.seeds), overrides
            assert cfg.split.seed is None  # each member's split comes from its own seed


@pytest.mark.parametrize(("target", "protocol"), list(TARGETS.items())[:6])
def test_target_checks_the_claims_and_writes_the_report(target, protocol):
    """`table` gets the protocol's claims file (it exists), the page comes last (after the
    figure it embeds), into the same folder; FULL=1 writes beside the quick results."""
    for full, res in (([], f"results/{protocol}"), (["FULL=1"], f"results/{protocol}_full")):
        lines = _dry(target, *full)
        table = next(line for line in lines if "psilon-bench table" in line)
        assert f"--claims claims/{protocol}.yaml" in table
        assert (REPO / "claims" / f"{protocol}.yaml").is_file()
        assert lines[-1].endswith(f"psilon-bench report {res}")
    soft = " ".join(_dry("table-soft-diamond"))
    assert "--cost-relative-to l2" in soft
