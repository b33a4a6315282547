"""The gradient boosting baselines of the extra `[gbdt]` (`model=catboost|lightgbm|xgboost`):
records through `run_experiment` equal the library called directly on the same split (its own
estimator written out here, metrics from sklearn.metrics), the job's thread count reaches the
library, and a missing library is a one-line error with the install command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_DATA, compose_config, reference_metrics
from sklearn.metrics import accuracy_score

from psilon_bench import data as data_pkg
from psilon_bench.baselines.gbdt import estimator
from psilon_bench.records.io import read_records
from psilon_bench.report.collect import collect
from psilon_bench.runner.experiment import run_experiment
from psilon_bench.runner.summary import render

catboost = pytest.importorskip("catboost")
lightgbm = pytest.importorskip("lightgbm")
xgboost = pytest.importorskip("xgboost")

ROUNDS = 30
SIZES = {
    "catboost": "model.depth=4",
    "lightgbm": "model.num_leaves=8",
    "xgboost": "model.max_depth=3",
}


def _direct(name: str, task: str, strength: float, seed: int, lr: float):
    """The estimator a member should be, written out here independently of gbdt.py."""
    classify = task == "classification"
    if name == "catboost":
        boost = catboost.CatBoostClassifier if classify else catboost.CatBoostRegressor
        return boost(iterations=ROUNDS, depth=4, learning_rate=lr, l2_leaf_reg=strength,
                     random_seed=seed, thread_count=1, verbose=False, allow_writing_files=False)  # fmt: skip
    if name == "lightgbm":
        boost = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return boost(n_estimators=ROUNDS, num_leaves=8, learning_rate=lr, reg_lambda=strength,
                     random_state=seed, n_jobs=1, verbose=-1)  # fmt: skip
    boost = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
    return boost(n_estimators=ROUNDS, max_depth=3, learning_rate=lr, reg_lambda=strength,
                 random_state=seed, n_jobs=1)  # fmt: skip


def _expected(split, name: str, strength: float, seed: int, lr: float) -> dict[str, float]:
    est = _direct(name, split.task, strength, seed, lr).fit(split.X_train, split.y_train)
    return reference_metrics(est, split)


CASES = [(m, d) for m in ("catboost", "lightgbm", "xgboost") for d in ("breast_cancer", "diabetes")]


@pytest.mark.parametrize(("name", "dataset"), CASES, ids=[f"{m}-{d}" for m, d in CASES])
def test_records_equal_the_library_on_the_same_split(tmp_path, name, dataset):
    overrides = [f"model={name}", f"dataset={dataset}", f"model.n_estimators={ROUNDS}",
                 SIZES[name], "regularizer.strength=[1.0,5.0]", "optimizer.lr=[0.1,0.3]",
                 "seeds=[0,3]", "trainer.threads=1"]  # fmt: skip
    cfg = compose_config(overrides)
    records = run_experiment(cfg, tmp_path / "run", live=False)
    assert records == read_records(tmp_path / "run")
    assert len(records) == 2 * 2 * 2
    assert {(r["seed"], r["strength"], r["lr"]) for r in records} == {
        (s, k, lr) for s in (0, 3) for k in (1.0, 5.0) for lr in (0.1, 0.3)
    }
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    for r in records:
        assert r["model"] == name and r["status"] == "ok" and r["path_norm"] is None
        split = data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=r["split_seed"])
        assert (r["n_train"], r["n_val"], r["n_test"]) == tuple(split.sizes.values())
        want = _expected(split, name, r["strength"], r["seed"], r["lr"])
        for key, value in want.items():
            assert r[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert set(collect([tmp_path]).records["method"]) == {name}  # as sklearn_rf: no "+none"
    assert "identical" not in render(records, None, 200)  # strength is the library's penalty
    best = max(records, key=lambda r: r.get("val.accuracy", r.get("val.r2")))
    if dataset == "breast_cancer":  # sane fits: the forest gets ~0.95 and ~0.45 here
        assert best["test.accuracy"] > 0.9
    else:
        assert best["test.r2"] > 0.25


def test_xgboost_takes_a_training_split_that_lacks_a_class(tmp_path):
    """Labels 0, 2, 3 (class 1 absent from the training rows): XGBoost alone refuses the gap;
    the baseline numbers the classes it saw and gives the absent one probability ~0."""
    cfg = compose_config(["model=xgboost", "model.n_estimators=10"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.repeat([0, 2, 3], 20)
    X[:, 0] += y
    fitted = estimator(cfg.model, "classification", 1.0, 0, 1, "", 0.3).fit(X, y)
    assert list(fitted.classes_) == [0, 2, 3]
    assert accuracy_score(y, fitted.predict(X)) > 0.9
    with pytest.raises(ValueError):
        xgboost.XGBClassifier(n_estimators=2).fit(X, y)


def _library_threads(name: str, fitted) -> int:
    """The thread count as the fitted library itself reports it (CatBoost reports no thread
    count after fitting: the one its estimator holds)."""
    if name == "catboost":
        return fitted.get_params()["thread_count"]
    if name == "lightgbm":
        return fitted.booster_.params["num_threads"]
    config = json.loads(fitted.model.get_booster().save_config())
    return int(config["learner"]["generic_param"]["nthread"])


@pytest.mark.parametrize("name", ["catboost", "lightgbm", "xgboost"])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_jobs_thread_count_reaches_the_library(name, threads):
    cfg = compose_config([f"model={name}", "model.n_estimators=3"])
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    fitted = estimator(cfg.model, "classification", 1.0, 0, threads, "", 0.1).fit(X, y)
    assert _library_threads(name, fitted) == threads


@pytest.mark.parametrize("name", ["catboost", "lightgbm", "xgboost"])
def test_a_missing_library_is_one_line_naming_the_install_command(tmp_path, name):
    """The library blocked (`sys.modules[name] = None`, as if not installed): exit 2, one
    line naming model= and the extra, and no run folder."""
    prelude = (
        f"import sys, runpy; sys.modules[{name!r}] = None; "
        "sys.argv = ['psilon-bench'] + sys.argv[1:]; "
        "runpy.run_module('psilon_bench.cli.main', run_name='__main__')"
    )
    args = ["run", f"model={name}", "dataset=iris", "seeds=1", "hydra.run.dir=out"]
    env = {"PSILON_BENCH_DATA": str(SHARED_DATA), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-c", prelude, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert f"model={name} needs the optional package" in line
    assert "pip install 'psilon-bench[gbdt]'" in line
    assert not (tmp_path / "out").exists()


def test_a_member_the_library_cannot_fit_is_failed_and_never_selected(tmp_path, capsys):
    """CatBoost without L2 (l2_leaf_reg=0) at learning rate 0.3 on 50 iris rows stops with
    "not positive definite": those members are recorded with status=failed and the reason,
    the others as usual; selection skips them. When no member fits, the run fails."""
    from catboost import CatBoostError

    base = ["model=catboost", "regularizer=none", "dataset=iris", "split.n_train=50", "seeds=2"]
    base += ["trainer.threads=1", "optimizer.lr=[0.1,0.3]"]
    cfg = compose_config([*base, "regularizer.strength=[0,1]"])
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    failed = [r for r in records if r["status"] == "failed"]
    assert {(r["strength"], r["lr"]) for r in failed} == {(0.0, 0.3)} and len(failed) == 2
    assert all(r["fit_error"].startswith("CatBoostError: ") for r in failed)
    assert all(r.get("val.accuracy") is None for r in failed)
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) == 6 and all(0.5 < r["val.accuracy"] <= 1 for r in ok)
    assert "2 of 8 members could not be fitted" in capsys.readouterr().err
    from psilon_bench.report.select import select

    chosen = select(collect([tmp_path / "run"]).records, "val.accuracy")
    assert len(chosen) == 2 and set(chosen["status"]) == {"ok"} and chosen["selected"].all()
    with pytest.raises(CatBoostError, match="not positive definite"):
        run_experiment(compose_config([*base[:-1], "optimizer.lr=0.3", "regularizer.strength=0"]),
                       tmp_path / "none", threads=1)  # fmt: skip
