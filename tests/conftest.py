"""Shared test helpers: composing configs with Hydra's compose API, running the real CLI
in a subprocess, and the location of ../shared/data (tests may read it; the product may not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

REPO = Path(__file__).resolve().parents[1]
#: the team's data copies beside the checkout; a git worktree elsewhere names them by env var
SHARED_DATA = Path(os.environ.get("PSILON_TEST_SHARED_DATA", REPO.parent / "shared" / "data"))
CONF = REPO / "conf"

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "MANIFEST.md").exists(), reason=f"../shared/data not found at {SHARED_DATA}"
)


def compose_config(overrides: list[str] | None = None):
    """The composed config (with the `hydra` node stripped) for `overrides`."""
    from psilon_bench.cli.hydra_app import register

    register()
    GlobalHydra.instance().clear()
    with initialize_config_module("psilon_bench.conf", version_base=None):
        return compose("config", overrides=list(overrides or []))


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """`psilon-bench <args>` in a subprocess (the installed console script's entry point)."""
    full_env = {
        **os.environ,
        "PSILON_BENCH_DATA": str(SHARED_DATA),
        "COLUMNS": "200",
        **(env or {}),
    }
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "psilon_bench.cli.main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def fast_first(total: int, fast: int) -> list:
    """Parameters 0..total-1 for a randomized equivalence test: the first `fast` run in
    `make test`, the rest are marked slow (`make test-full` runs all)."""
    return [i if i < fast else pytest.param(i, marks=pytest.mark.slow) for i in range(total)]


def reference_metrics(fitted, split) -> dict[str, float]:
    """`<part>.<metric>` of a fitted scikit-learn-style estimator on every part of `split`,
    computed by sklearn.metrics (the independent side of the baselines' tests)."""
    import math

    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    out = {}
    for part in ("train", "val", "test"):
        X, y = getattr(split, f"X_{part}"), getattr(split, f"y_{part}")
        if split.task == "classification":
            proba = np.clip(fitted.predict_proba(X).astype(np.float64), 1e-15, None)
            proba = proba / proba.sum(axis=1, keepdims=True)
            out[f"{part}.accuracy"] = accuracy_score(y, np.ravel(fitted.predict(X)))
            out[f"{part}.log_loss"] = log_loss(y, proba, labels=list(range(split.n_classes)))
        else:
            pred = fitted.predict(X)
            out[f"{part}.rmse"] = math.sqrt(mean_squared_error(y, pred))
            out[f"{part}.r2"] = r2_score(y, pred)
    return out
