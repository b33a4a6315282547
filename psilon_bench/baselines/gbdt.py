"""Gradient-boosted trees from the optional extra `[gbdt]`: `model=catboost|lightgbm|xgboost`
(`pip install psilon-bench[gbdt]`).

They run exactly like the scikit-learn baselines (`baselines.sklearn.fit_members`: same data,
split and preprocessing per member, seeds x `regularizer.strength` x `optimizer.lr` as members,
selection on validation, records of the same format). The strength is each library's L2 penalty
on the leaf values and the rate its shrinkage:

- `catboost`: `l2_leaf_reg` of `CatBoostClassifier` / `CatBoostRegressor` (symmetric trees of
  `model.depth`; CatBoost writes no files of its own);
- `lightgbm`: `reg_lambda` of `LGBMClassifier` / `LGBMRegressor` (`model.num_leaves`,
  `model.min_child_samples`);
- `xgboost`: `reg_lambda` of `XGBClassifier` / `XGBRegressor` (histogram trees of
  `model.max_depth`, `model.min_child_weight`).

Each uses `model.n_estimators` rounds and no early stopping of its own (the run's validation
rows select), is seeded by the member's seed and runs on the job's thread count (one unless
`trainer.threads` says more), so a seed gives the same model every time. The libraries load
inside `estimator`; a missing one is a one-line `ConfigError` naming the install command.
"""

from __future__ import annotations

import importlib
from typing import Any

from psilon_bench.config.validation import package_installed
from psilon_bench.errors import ConfigError

#: model name -> (the module it imports, the PyPI distribution that provides it).
PACKAGES = {
    "catboost": ("catboost", "catboost"),
    "lightgbm": ("lightgbm", "lightgbm"),
    "xgboost": ("xgboost", "xgboost-cpu"),
}
TASKS: dict[str, str | None] = dict.fromkeys(PACKAGES)  # every one: both tasks
INSTALL = "pip install 'psilon-bench[gbdt]'"


def _missing(name: str) -> ConfigError:
    return ConfigError(
        f"model={name} needs the optional package {PACKAGES[name][1]}, which is not "
        f"installed; install the gradient boosting extra: {INSTALL}"
    )


def check_config(cfg: Any) -> None:
    """The library of `model=` is installed (checked without importing it)."""
    name = str(cfg.model.name)
    if not package_installed(PACKAGES[name][0]):
        raise _missing(name)


def _load(name: str) -> Any:
    try:
        return importlib.import_module(PACKAGES[name][0])
    except ImportError:
        raise _missing(name) from None


def estimator(
    model_cfg: Any,
    task: str,
    strength: float,
    seed: int,
    threads: int = 1,
    dataset: str = "",
    lr: float | None = None,
) -> Any:
    """The unfitted estimator of one member: L2 penalty `strength`, learning rate `lr`,
    seeded by `seed`, on `threads` threads."""
    name = str(model_cfg.name)
    if name not in PACKAGES:
        raise ConfigError(
            f"model.name={name!r} is not a gradient boosting baseline; allowed: "
            f"{', '.join(PACKAGES)}"
        )
    lib = _load(name)
    classify = task == "classification"
    if name == "catboost":
        boost = lib.CatBoostClassifier if classify else lib.CatBoostRegressor
        return boost(
            iterations=model_cfg.n_estimators,
            depth=model_cfg.depth,
            learning_rate=lr,
            l2_leaf_reg=strength,
            random_seed=seed,
            thread_count=threads,
            allow_writing_files=False,
            logging_level="Silent",
        )
    if name == "lightgbm":
        boost = lib.LGBMClassifier if classify else lib.LGBMRegressor
        return boost(
            n_estimators=model_cfg.n_estimators,
            num_leaves=model_cfg.num_leaves,
            min_child_samples=model_cfg.min_child_samples,
            learning_rate=lr,
            reg_lambda=strength,
            random_state=seed,
            n_jobs=threads,
            deterministic=True,
            force_col_wise=True,  # with `deterministic`: the same trees at any thread count
            verbose=-1,
        )
    boost = _EncodedLabels if classify else lib.XGBRegressor
    return boost(
        n_estimators=model_cfg.n_estimators,
        max_depth=model_cfg.max_depth,
        min_child_weight=model_cfg.min_child_weight,
        learning_rate=lr,
        reg_lambda=strength,
        random_state=seed,
        n_jobs=threads,
        tree_method="hist",
    )


class _EncodedLabels:
    """`XGBClassifier` fitted on the training rows' classes numbered 0..k-1 (XGBoost refuses
    labels with a gap, e.g. a class that a small split left out of the training rows);
    `classes_` holds the original labels, as scikit-learn's classifiers do."""

    def __init__(self, **params: Any):
        from xgboost import XGBClassifier

        self.model = XGBClassifier(**params)

    def get_params(self) -> dict[str, Any]:
        return self.model.get_params()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _EncodedLabels:
        import numpy as np

        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.model.fit(X, codes, sample_weight=sample_weight)
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.model.predict_proba(X)

    def predict(self, X: Any) -> Any:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
