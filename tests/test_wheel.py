"""The wheel carries the config tree: a non-editable install runs `psilon-bench run` from
any directory (Hydra finds `pkg://psilon_bench.conf` inside the installed package)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import CONF, REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0 and "No module named" in res.stderr and "setuptools" in res.stderr:
        pytest.skip(
            "setuptools is not installed in this environment (needed to build the wheel offline)"
        )
    assert res.returncode == 0, res.stderr
    (whl,) = out.glob("psilon_bench-*.whl")
    return whl


def test_wheel_contains_every_config_group_and_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for yaml in CONF.rglob("*.yaml"):
        assert f"psilon_bench/conf/{yaml.relative_to(CONF).as_posix()}" in names, yaml
    for module in [*(REPO / "psilon_bench").rglob("*.py"), *(REPO / "psilon_bench").rglob("*.cpp")]:
        assert module.relative_to(REPO).as_posix() in names, module
    assert "psilon_bench/py.typed" in names  # typed for the users' type checkers (PEP 561)
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    text = zipfile.ZipFile(wheel).read(licence).decode()
    assert text.startswith("MIT License") and text == (REPO / "LICENSE").read_text()


def test_installed_wheel_runs_from_any_directory(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PSILON_BENCH_DATA", None)
    where = subprocess.run(
        [sys.executable, "-c", "import psilon_bench; print(psilon_bench.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(site)), "the test must exercise the installed copy"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "psilon_bench.cli.main",
            "run",
            "dataset=iris",
            "trainer=quick",
            "seeds=1",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    (records,) = work.rglob("records.jsonl")
    assert json.loads(records.read_text().splitlines()[0])["dataset"] == "iris"
