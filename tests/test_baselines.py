"""The scikit-learn baselines (`model=sklearn_*`): records through `run_experiment` equal
scikit-learn called directly on the same split, with metrics from sklearn.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import compose_config, reference_metrics
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    balanced_accuracy_score,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from psilon_bench import data as data_pkg
from psilon_bench.errors import ConfigError, DataError
from psilon_bench.records.io import read_records
from psilon_bench.runner.checks import check_job
from psilon_bench.runner.experiment import run_experiment


def _direct(name: str, task: str, strength: float, seed: int, lr: float | None = None):
    """The estimator a member should be, written out here independently of baselines.py."""
    if name == "sklearn_mlp":
        net = MLPClassifier if task == "classification" else MLPRegressor
        return net(
            hidden_layer_sizes=(16, 16),
            alpha=strength,
            learning_rate_init=lr,
            batch_size=32,
            max_iter=40,
            random_state=seed,
        )
    if name == "sklearn_hgb":
        boost = (
            HistGradientBoostingClassifier
            if task == "classification"
            else HistGradientBoostingRegressor
        )
        return boost(learning_rate=lr, l2_regularization=strength, max_iter=30,
                     early_stopping=False, random_state=seed)  # fmt: skip
    if name == "sklearn_logistic":
        return LogisticRegression(C=1 / strength if strength else np.inf, max_iter=1000)
    if name == "sklearn_ridge":
        return Ridge(alpha=strength)
    forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
    return forest(n_estimators=25, min_samples_leaf=max(1, int(strength)), random_state=seed)


def _expected(cfg, split, name: str, strength: float, seed: int, lr=None) -> dict[str, float]:
    with threadpool_limits(limits=1):  # as the run (BLAS threads change lbfgs' rounding)
        est = _direct(name, split.task, strength, seed, lr).fit(split.X_train, split.y_train)
    return reference_metrics(est, split)


CASES = [
    ("sklearn_logistic", "breast_cancer", [0.0, 0.1, 10.0]),
    ("sklearn_ridge", "diabetes", [0.0, 1.0, 100.0]),
    ("sklearn_rf", "wine", [1.0, 8.0]),
    ("sklearn_rf", "diabetes", [0.0, 5.0]),
    ("sklearn_mlp", "wine", [0.0, 0.1]),
    ("sklearn_mlp", "diabetes", [1e-3]),
    ("sklearn_hgb", "wine", [0.0, 1.0]),
    ("sklearn_hgb", "diabetes", [0.0]),
]
MLP_KEYS = ["model.width=16", "model.depth=2", "model.max_iter=40", "optimizer.lr=[1e-3,1e-2]"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("name", "dataset", "grid"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_records_equal_scikit_learn_on_the_same_split(tmp_path, name, dataset, grid):
    overrides = [f"model={name}", f"dataset={dataset}", f"regularizer.strength={grid}"]
    if name == "sklearn_rf":
        overrides.append("model.n_estimators=25")
    lrs = [None]
    if name == "sklearn_mlp":
        overrides += MLP_KEYS
        lrs = [1e-3, 1e-2]
    if name == "sklearn_hgb":
        overrides += ["model.max_iter=30", "optimizer.lr=[0.05,0.3]"]
        lrs = [0.05, 0.3]
    cfg = compose_config([*overrides, "seeds=[0,3]", "trainer.threads=1"])
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert records == read_records(tmp_path / "run")
    assert len(records) == 2 * len(grid) * len(lrs)
    assert sorted({r["lr"] for r in records}, key=str) == sorted(lrs, key=str)
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    for r in records:
        assert r["model"] == name and r["status"] == "ok" and r["cfg.model.name"] == name
        assert r["path_norm"] is None and r["sparsity.exact"] is None
        split = data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=r["split_seed"])
        assert (r["n_train"], r["n_val"], r["n_test"]) == tuple(split.sizes.values())
        want = _expected(cfg, split, name, r["strength"], r["seed"], r["lr"])
        for key, value in want.items():
            assert r[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    if name in ("sklearn_logistic", "sklearn_ridge"):
        coef = records[0]["params.weights"]
        assert coef == table.n_features * (1 if table.task == "regression" else 1)


def test_logistic_strength_is_one_over_c():
    """Larger strength = smaller C = smaller coefficients (the L2 penalty's direction)."""
    cfg = compose_config(["model=sklearn_logistic"])
    from psilon_bench.baselines.sklearn import estimator

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
        check_job(compose_config(overrides))
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


def test_baselines_without_a_learning_rate_ignore_an_lr_list(tmp_path):
    """optimizer.lr is no member axis of logistic / ridge / forest: a list adds no members and
    their records carry lr = null (it used to be the unused optimizer.lr)."""
    cfg = compose_config(
        ["model=sklearn_logistic", "dataset=wine", "optimizer.lr=[1e-3,1e-2,1e-1]", "seeds=2"]
    )
    records = run_experiment(cfg, tmp_path / "run", threads=1)
    assert len(records) == 2 and {r["lr"] for r in records} == {None}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", ["sklearn_logistic", "sklearn_rf", "sklearn_mlp"])
def test_balanced_class_weight_equals_sample_weights_and_lifts_balanced_accuracy(tmp_path, name):
    """trainer.class_weight=balanced on a 9:1 synthetic set: each baseline equals scikit-learn
    fitted with sample_weight n / (K n_c) (counted here by hand), and its balanced accuracy on
    the validation rows is higher than without weights (the linear model and the MLP)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(1200, 6, n_informative=3, weights=[0.9], flip_y=0.05, random_state=0)
    csv = tmp_path / "imbalanced.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", fmt="%.8g",
               header="a,b,c,d,e,f,target", comments="")  # fmt: skip
    common = [
        f"model={name}",
        "dataset=csv",
        f"dataset.path={csv}",
        "dataset.task=classification",
        "seeds=[0]",
        "regularizer.strength=[1.0]",
    ]
    if name == "sklearn_rf":
        common.append("model.n_estimators=25")
    if name == "sklearn_mlp":
        common += ["model.width=16", "model.max_iter=40", "optimizer.lr=1e-2"]
    plain = run_experiment(compose_config(common), tmp_path / "plain", threads=1)[0]
    cfg = compose_config([*common, "trainer.class_weight=balanced"])
    weighted = run_experiment(cfg, tmp_path / "weighted", threads=1)[0]
    if name != "sklearn_rf":  # a forest's votes barely move with row weights (both ~0.87)
        assert weighted["val.balanced_accuracy"] > plain["val.balanced_accuracy"] + 0.02
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    split = data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=weighted["split_seed"])
    y = np.asarray(split.y_train)
    counts = np.bincount(y, minlength=2)
    sample_weight = (len(y) / (2 * counts))[y]
    lr = weighted["lr"]
    with threadpool_limits(limits=1):
        est = _direct(name, "classification", 1.0, 0, lr)
        if name == "sklearn_mlp":
            est.set_params(hidden_layer_sizes=(16, 16))
        est.fit(split.X_train, split.y_train, sample_weight=sample_weight)
    want = balanced_accuracy_score(split.y_val, est.predict(split.X_val))
    assert weighted["val.balanced_accuracy"] == pytest.approx(want, rel=1e-9)
