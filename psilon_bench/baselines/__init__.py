"""Baselines from other libraries, run by the same `psilon-bench run` path as the networks
(same data, splits, member axes, selection and records): `sklearn` holds scikit-learn's
logistic and ridge regression, random forest, histogram gradient boosting and MLP.

The run asks this package only (never a family module): `is_baseline`, `uses_lr`,
`check_config` (the family's own config rules) and `fit_members`. May import `config`,
`errors`, `measure.metrics` and its libraries (loaded inside the functions); never the
training engine, the models or the run.
"""

from psilon_bench.baselines.sklearn import (
    NULL_KEYS,
    check_config,
    estimator,
    fit_members,
    is_baseline,
    uses_lr,
)

__all__ = ["NULL_KEYS", "check_config", "estimator", "fit_members", "is_baseline", "uses_lr"]
