"""Baselines from other libraries, run by the same `psilon-bench run` path as the networks
(same data, splits, member axes, selection and records): `sklearn` holds scikit-learn's
logistic and ridge regression, random forest, histogram gradient boosting and MLP (and the
member loop every baseline shares); `gbdt` holds CatBoost, LightGBM and XGBoost (the optional
extra `[gbdt]`).

The run asks this package only (never a family module): `is_baseline`, `uses_lr`,
`check_config` (the family's own config rules) and `fit_members`. May import `config`,
`errors`, `measure.metrics` and its libraries (loaded inside the functions); never the
training engine, the models or the run.
"""

from __future__ import annotations

from typing import Any

from psilon_bench.baselines import gbdt, sklearn
from psilon_bench.baselines.sklearn import NULL_KEYS


def is_baseline(model_cfg: Any) -> bool:
    """Whether `model` (its config, or its name) is a baseline of another library
    (scikit-learn or gradient boosting)."""
    name = model_cfg if isinstance(model_cfg, str) else str(model_cfg.name)
    return name in sklearn.TASKS or name in gbdt.TASKS


def uses_lr(model_cfg: Any) -> bool:
    """Whether `optimizer.lr` is a member axis: every network, `sklearn_mlp`, `sklearn_hgb` and
    the gradient boosting libraries."""
    name = str(model_cfg.name)
    return not is_baseline(model_cfg) or name in sklearn.WITH_LR or name in gbdt.TASKS


def check_config(cfg: Any) -> None:
    """The rules of every baseline (`sklearn.check_config`), then the family's own."""
    sklearn.check_config(cfg)
    if str(cfg.model.name) in gbdt.TASKS:
        gbdt.check_config(cfg)


def estimator(model_cfg: Any, *args: Any, **kwargs: Any) -> Any:
    """The unfitted estimator of one member, from `model`'s family (`sklearn.estimator`'s
    arguments)."""
    family = gbdt if str(model_cfg.name) in gbdt.TASKS else sklearn
    return family.estimator(model_cfg, *args, **kwargs)


def fit_members(model_cfg: Any, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], float]:
    """`sklearn.fit_members` (the member loop every baseline shares) with the estimators of
    `model`'s family."""
    return sklearn.fit_members(model_cfg, *args, make=estimator, **kwargs)


__all__ = ["NULL_KEYS", "check_config", "estimator", "fit_members", "is_baseline", "uses_lr"]
