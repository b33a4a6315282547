"""The scikit-learn baselines (`model=sklearn_*`): records through `run_experiment` equal
scikit-learn called directly on the same split, with metrics from sklearn.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import compose_config
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from threadpoolctl import threadpool_limits

from psilon_bench import data as data_pkg
from psilon_bench.errors import ConfigError, DataError
from psilon_bench.experiment import run_experiment
from psilon_bench.io import read_records
from psilon_bench.validation import validate


def _direct(name: str, task: str, strength: float, seed: int):
    """The estimator a member should be, written out here independently of baselines.py."""
    if name == "sklearn_logistic":
        return LogisticRegression(C=1 / strength if strength else np.inf, max_iter=1000)
    if name == "sklearn_ridge":
        return Ridge(alpha=strength)
    forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return forest(n_estimators=25, min_samples_leaf=max(1, int(strength)), random_state=seed)


def _expected(cfg, split, name: str, strength: float, seed: int) -> dict[str, float]:
    with threadpool_limits(limits=1):  # as the run (BLAS threads change lbfgs' rounding)
        est = _direct(name, split.task, strength, seed).fit(split.X_train, split.y_train)
    out = {}
    for part in ("train", "val", "test"):
        X, y = getattr(split, f"X_{part}"), getattr(split, f"y_{part}")
        if split.task == "classification":
            proba = np.clip(est.predict_proba(X).astype(np.float64), 1e-15, None)
            proba = proba / proba.sum(axis=1, keepdims=True)
            out[f"{part}.accuracy"] = accuracy_score(y, est.predict(X))
            out[f"{part}.log_loss"] = log_loss(y, proba, labels=list(range(split.n_classes)))
        else:
            pred = est.predict(X)
            out[f"{part}.rmse"] = math.sqrt(mean_squared_error(y, pred))
            out[f"{part}.r2"] = r2_score(y, pred)
    return out


CASES = [
    ("sklearn_logistic", "breast_cancer", [0.0, 0.1, 10.0]),
    ("sklearn_ridge", "diabetes", [0.0, 1.0, 100.0]),
    ("sklearn_rf", "wine", [1.0, 8.0]),
    ("sklearn_rf", "diabetes", [0.0, 5.0]),
]


@pytest.mark.parametrize(("name", "dataset", "grid"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_records_equal_scikit_learn_on_the_same_split(tmp_path, name, dataset, grid):
    overrides = [f"model={name}", f"dataset={dataset}", f"regularizer.strength={grid}"]
    if name == "sklearn_rf":
        overrides.append("model.n_estimators=25")
    cfg = compose_config([*overrides, "seeds=[0,3]", "trainer.threads=1"])
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert records == read_records(tmp_path / "run")
    assert len(records) == 2 * len(grid)
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    for r in records:
        assert r["model"] == name and r["status"] == "ok" and r["cfg.model.name"] == name
        assert r["path_norm"] is None and r["sparsity.exact"] is None
        split = data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=r["split_seed"])
        assert (r["n_train"], r["n_val"], r["n_test"]) == tuple(split.sizes.values())
        want = _expected(cfg, split, name, r["strength"], r["seed"])
        for key, value in want.items():
            assert r[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    if name != "sklearn_rf":
        coef = records[0]["params.weights"]
        assert coef == table.n_features * (1 if table.task == "regression" else 1)


def test_logistic_strength_is_one_over_c():
    """Larger strength = smaller C = smaller coefficients (the L2 penalty's direction)."""
    cfg = compose_config(["model=sklearn_logistic"])
    from psilon_bench.baselines import estimator

    assert estimator(cfg.model, "classification", 4.0, 0).C == 0.25
    assert math.isinf(estimator(cfg.model, "classification", 0.0, 0).C)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=sklearn_rf", "regularizer=l2"], "use regularizer=none, got regularizer=l2"),
        (["model=sklearn_ridge", "pruning=magnitude"], "use pruning=none"),
        (["model=sklearn_rf", "regularizer.strength=[1,2.5]"], "whole numbers >= 0; got 2.5"),
    ],
)
def test_config_errors_are_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        validate(compose_config(overrides))
    assert "\n" not in str(err.value)


def test_wrong_task_is_a_one_line_data_error_and_writes_nothing(tmp_path):
    cfg = compose_config(["model=sklearn_logistic", "dataset=diabetes"])
    with pytest.raises(DataError) as err:
        run_experiment(cfg, tmp_path / "run", threads=1)
    assert str(err.value) == (
        "model=sklearn_logistic is for classification but dataset=diabetes is a "
        "regression task; use model=sklearn_ridge or model=sklearn_rf"
    )
    assert not (tmp_path / "run").exists()
