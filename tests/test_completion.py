"""Shell completion through the dispatcher: the bash script that `run -sc install=bash`
prints is evaluated in a real bash, and its completion function is called the way bash's
`complete -F` calls it (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

BIN = Path(sys.executable).parent
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
needs_script = pytest.mark.skipif(
    not (BIN / "psilon-bench").exists(), reason="the psilon-bench console script is not installed"
)


def _bash_complete(line: str, tmp_path) -> list[str]:
    script = (
        'eval "$(psilon-bench run -sc install=bash)"\n'
        'COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}\n'
        'read -r -a COMP_WORDS <<< "$LINE"\n'
        'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); [[ "$LINE" == *" " ]] && COMP_CWORD=${#COMP_WORDS[@]}\n'
        "_psilon_bench_complete\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LINE": line}
    res = subprocess.run(
        ["bash", "--norc", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.split("\n") if w]


@needs_bash
@needs_script
def test_bash_install_registers_psilon_bench(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(
        ["bash", "--norc", "-c", 'eval "$(psilon-bench run -sc install=bash)"; complete -p'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    (rule,) = [ln for ln in res.stdout.splitlines() if "_psilon_bench_complete" in ln]
    assert rule.split()[-1] == "psilon-bench"


@needs_bash
@needs_script
@pytest.mark.parametrize(
    "line, expected",
    [
        ("psilon-bench r", ["run", "report"]),
        ("psilon-bench rep", ["report"]),
        ("psilon-bench da", ["datasets"]),
        ("psilon-bench run model=psilon", ["model=psilon_net", "model=psilon_resnet"]),
        ("psilon-bench run -m dataset=iris,wine regularizer=lp", ["regularizer=lp_bridge"]),
        ("psilon-bench run --multi", ["--multirun"]),
    ],
)
def test_bash_completion_function_answers(tmp_path, line, expected):
    assert _bash_complete(line, tmp_path) == expected


def test_query_lists_subcommands_groups_and_keys(tmp_path):
    def query(line):
        res = run_cli(["-sc", "query=bash"], tmp_path, env={"COMP_LINE": line})
        assert res.returncode == 0, res.stderr
        return res.stdout.split()

    assert set(query("psilon-bench ")) == {
        "run",
        "datasets",
        "table",
        "plot",
        "report",
        "--help",
        "--version",
    }
    assert query("psilon-bench plot sweeps --kind l") == ["lambda-path", "lipschitz"]
    assert query("psilon-bench table sweeps --se") == ["--select-on"]
    assert query("psilon-bench table sweeps --c") == ["--claims", "--cost-relative-to"]
    assert query("psilon-bench report results/ewn --") == ["--out", "--runs", "--claims", "--help"]
    groups = query("psilon-bench run ")
    assert {"model=", "regularizer=", "dataset=", "seeds="} <= set(groups)
    models = query("psilon-bench run model=")
    assert "model=mlp" in models and not [m for m in models if "base_" in m]
    keys = query("psilon-bench run regularizer=lp_bridge regularizer.")
    assert sorted(keys) == ["regularizer.name=", "regularizer.p=", "regularizer.strength="]
    # a user's own options (--config-dir) complete too; after --config-dir the shell's files
    own = tmp_path / "mine" / "dataset"
    own.mkdir(parents=True)
    (own / "houses.yaml").write_text(
        "defaults: [base_dataset, _self_]\nname: houses\nsource: csv\n"
    )
    assert query(f"psilon-bench run --config-dir {own.parent} dataset=hou") == [
        "dataset=house_16h",
        "dataset=houses",
    ]
    assert query("psilon-bench run dataset=hou") == ["dataset=house_16h"]
    assert query("psilon-bench run --config-dir ") == []
    # the cursor in the middle of the line: only what is left of it counts
    line = "psilon-bench run model= seeds=3"
    res = run_cli(
        ["run", "-sc", "query=zsh"], tmp_path, env={"COMP_LINE": line, "COMP_POINT": "23"}
    )
    assert "model=mlp" in res.stdout.split()


def test_zsh_script_and_bad_spec(tmp_path):
    res = run_cli(["run", "-sc", "install=zsh"], tmp_path)
    assert res.returncode == 0
    assert "compdef _psilon_bench_complete psilon-bench" in res.stdout
    assert "query=zsh" in res.stdout
    res = run_cli(["run", "-sc", "install=fish"], tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "install=bash" in res.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
@needs_script
def test_zsh_install_registers_and_completes(tmp_path):
    """Real zsh: the script registers `psilon-bench` with compdef; its function, called as
    the completion system calls it (`words`, `CURRENT`), hands the candidates to compadd
    (replaced here by a printer: compadd only works inside a completion widget)."""
    script = (
        'eval "$(psilon-bench run -sc install=zsh)"\n'
        'print -r -- "rule=$_comps[psilon-bench]"\n'
        'compadd() { print -rl -- "$@" }\n'
        "words=(psilon-bench run model=ps); CURRENT=3; _psilon_bench_complete\n"
        'words=(psilon-bench ""); CURRENT=2; _psilon_bench_complete\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    res = subprocess.run(
        ["zsh", "-f", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "rule=_psilon_bench_complete"
    got = [ln for ln in lines[1:] if ln not in ("-S", "", "--")]
    from psilon_bench.cli.completion import COMMANDS

    assert got == ["model=psilon_net", "model=psilon_resnet", *COMMANDS]
