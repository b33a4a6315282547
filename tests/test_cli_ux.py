"""What a new user meets around a run: help without schema names, sweep errors that name
the job, HYDRA_FULL_ERROR left alone, `make clean` keeping results, declared imports."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions, requires

import pytest
from conftest import REPO, all_files, run_cli

QUICK = ["trainer=quick", "trainer.steps=5", "seeds=1"]


def test_help_lists_options_without_schemas(tmp_path):
    res = run_cli(["run", "--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    groups = res.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert (
        "model: catboost, ewn_mlp, lightgbm, mlp, psilon_net, psilon_resnet, sklearn_hgb, "
        "sklearn_logistic, sklearn_mlp, sklearn_rf, sklearn_ridge, standard_net, swn_mlp, "
        "xgboost" in groups
    )
    assert "base_" not in groups


@pytest.mark.parametrize("args", [["model=base_mlp"], ["-m", "model=mlp,base_weightnorm"]])
def test_schema_is_not_an_option(tmp_path, args):
    res = run_cli(["run", *QUICK, *args], tmp_path)
    assert res.returncode == 2
    (line,) = res.stderr.splitlines()
    assert "is not an option of 'model'; allowed: catboost, ewn_mlp, lightgbm, mlp," in line
    assert all_files(tmp_path) == []


def test_sweep_error_names_the_job(tmp_path):
    res = run_cli(
        ["run", *QUICK, "-m", "regularizer=lp_bridge,weight_decay", "regularizer.p=2.0"], tmp_path
    )
    assert res.returncode == 2
    (line,) = res.stderr.splitlines()
    assert (
        line.startswith("error: job 1 (trainer=quick ")
        and "weight_decay regularizer.p=2.0): " in line
    )
    assert "regularizer.p is not a key of regularizer" in line and "++key=value" in line
    res = run_cli(["run", "-m", "seeds=1,2", "regularizer=l2", "regularizer.strength=-1"], tmp_path)
    (line,) = res.stderr.splitlines()
    assert res.returncode == 2
    assert line.startswith("error: job 0 (seeds=1 regularizer=l2 regularizer.strength=-1): ")
    assert all_files(tmp_path) == []


@pytest.mark.slow  # a two-job sweep in a subprocess; its refusals are tested fast
def test_plus_plus_sets_a_key_only_some_options_have(tmp_path):
    res = run_cli(
        ["run", *QUICK, "-m", "regularizer=lp_bridge,weight_decay", "++regularizer.p=2.0"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert len(list(tmp_path.rglob("DONE"))) == 2


def test_hydra_full_error_is_not_left_set(monkeypatch, tmp_path, capsys):
    from psilon_bench.cli import main as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    assert cli.main(["run", "model.widht=3"]) == 2
    assert "HYDRA_FULL_ERROR" not in os.environ
    assert capsys.readouterr().err.startswith("error: model.widht is not a key of model")
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    assert cli.main(["run", "--cfg", "job"]) == 0
    assert os.environ["HYDRA_FULL_ERROR"] == "0"


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_clean_keeps_results(tmp_path):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    keep = ["results/P3/table.csv", "results/README.md", "results/runs/x/DONE"]
    for path in [*keep, "results/multirun/y/DONE", ".pytest_cache/v", "build/lib/z"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert [p.relative_to(tmp_path).as_posix() for p in all_files(tmp_path / "results")] == [
        "results/P3/table.csv",
        "results/README.md",
        "results/multirun/y/DONE",
        "results/runs/x/DONE",
    ]
    assert not (tmp_path / ".pytest_cache").exists() and not (tmp_path / "build").exists()
    subprocess.run(["make", "-s", "clean-results"], cwd=tmp_path, check=True, capture_output=True)
    assert [p.relative_to(tmp_path).as_posix() for p in all_files(tmp_path / "results")] == [
        "results/P3/table.csv",
        "results/README.md",
    ]


def _requirement_name(spec: str) -> str:
    for stop in "<>=!~[; ":
        spec = spec.split(stop)[0]
    return spec.strip().lower().replace("_", "-")


def test_every_third_party_import_is_a_declared_dependency():
    requirements = requires("psilon-bench")  # the installed metadata of pyproject.toml
    declared = {_requirement_name(d) for d in requirements if "extra ==" not in d}
    optional = {_requirement_name(d) for d in requirements if "extra ==" in d}
    dists = packages_distributions()
    missing = set()
    for module in (REPO / "psilon_bench").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "psilon_bench":
                    continue
                for dist in dists.get(top, [top]):
                    if _requirement_name(dist) not in declared | optional:
                        missing.add(f"{top} ({module.name})")
    assert not missing, missing
    assert {"numpy", "tabulate"} <= declared  # tabulate: pandas' DataFrame.to_markdown()


def test_readme_and_docs_commands_quote_every_bracket():
    import re
    import shlex

    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    text = "\n".join(p.read_text() for p in pages)
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    spans = re.findall(r"`((?:psilon-bench|-m|\.venv/bin/psilon-bench) [^`]*)`", text)
    lines = [ln for b in blocks for ln in b.splitlines()] + spans
    unquoted = []
    for line in lines:
        lexer = shlex.shlex(line.split(" #")[0], posix=False)
        lexer.whitespace_split = True
        unquoted += [t for t in lexer if "[" in t and t[0] not in "'\""]
    assert not unquoted, unquoted


def test_datasets_with_a_missing_data_dir_is_one_line(tmp_path, capsys):
    from psilon_bench.cli import main as cli

    missing, a_file = tmp_path / "no" / "such", tmp_path / "f.csv"
    a_file.write_text("a,b\n1,2\n")
    assert cli.main(["datasets", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--data-dir {missing} does not exist" in err
    assert cli.main(["datasets", "--data-dir", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert cli.main(["datasets", "--data-dir", str(tmp_path)]) == 0  # an empty folder is fine
    assert "breast_cancer" in capsys.readouterr().out


def test_axes_that_change_nothing_are_warned_about_and_noted(tmp_path, monkeypatch, capsys):
    from conftest import compose_config

    from psilon_bench.cli import main as cli
    from psilon_bench.runner.grid import idle_axes

    grid = "regularizer.strength=[1e-3,1e-2]"
    assert len(idle_axes(compose_config([grid]))) == 1  # regularizer=none: identical members
    assert idle_axes(compose_config([grid, "regularizer=l2"])) == []
    assert idle_axes(compose_config(["model=sklearn_rf", "regularizer.strength=[1,2]"])) == []
    (line,) = idle_axes(compose_config(["model=sklearn_rf", "optimizer.lr=[1e-3,1e-2]"]))
    assert "model=sklearn_rf has no learning rate" in line
    assert idle_axes(compose_config(["model=sklearn_mlp", "optimizer.lr=[1e-3,1e-2]"])) == []

    monkeypatch.chdir(tmp_path)
    args = ["run", "trainer=quick", "trainer.steps=5", "seeds=2", grid, "trainer.progress=off"]
    assert cli.main(args) == 0
    out = capsys.readouterr()
    assert "warning: regularizer.strength has 2 values but regularizer=none" in out.err
    assert "strength: regularizer=none uses none" in out.out
    assert cli.main([*args[:-2], "regularizer=l2", grid, "trainer.progress=off", "name=b"]) == 0
    out = capsys.readouterr()
    assert "warning" not in out.err and "regularizer=none uses none" not in out.out
