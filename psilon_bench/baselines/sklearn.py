"""scikit-learn baselines (docs/protocols.md P1: "ridge/logistic regression and a random forest
(scikit-learn) tuned on validation", and scikit-learn's MLP tuned the same way):
`model=sklearn_logistic|sklearn_ridge|sklearn_rf|sklearn_mlp|sklearn_hgb`.

They run through the same `psilon-bench run` path as the networks (same data, split and
preprocessing per member, same sweeps) and write records of the same format; members are
seeds x `regularizer.strength` (x `optimizer.lr` for `sklearn_mlp` and `sklearn_hgb`), where the strength is the
estimator's own penalty:

- `sklearn_logistic`: 1/C of `LogisticRegression` (L2, lbfgs; 0 = unpenalized);
- `sklearn_ridge`: alpha of `Ridge` (0 = least squares);
- `sklearn_rf`: `min_samples_leaf` of the random forest (whole numbers; 0 and 1 = grown trees);
- `sklearn_mlp`: alpha (L2) of `MLPClassifier` / `MLPRegressor` (Adam, `model.width` x
  `model.depth` ReLU units, mini-batches of `model.batch_size`), with `optimizer.lr` as its
  `learning_rate_init`: a list of rates is a member axis, as for the networks;
- `sklearn_hgb`: l2_regularization of `HistGradientBoostingClassifier` / `Regressor`, with
  `optimizer.lr` as its `learning_rate` (a member axis too); no early stopping of its own.

The other baselines have no learning rate: their `lr` axis is a single null.
`trainer.class_weight=balanced` weights the training rows by n / (K n_c) (`sample_weight`,
the networks' rule) for every classifier.

Metrics come from the same `measure.metrics.task_metrics` as the networks' (log-loss on the
predicted probabilities, clipped at 1e-15 so a forest's zero probability stays finite).
Parameter counts are given for the linear models; sparsity, path-norm and Lipschitz keys
are null. Module import is cheap (scikit-learn and torch load inside the functions).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

from psilon_bench.errors import ConfigError, DataError, error_line

TASKS = {
    "sklearn_logistic": "classification",
    "sklearn_ridge": "regression",
    "sklearn_rf": None,
    "sklearn_mlp": None,
    "sklearn_hgb": None,
}
#: Baselines whose members have a learning rate (`optimizer.lr`).
WITH_LR = {"sklearn_mlp", "sklearn_hgb"}
OTHER = {"sklearn_logistic": "sklearn_ridge", "sklearn_ridge": "sklearn_logistic"}
PROBA_FLOOR = 1e-15
NULL_KEYS = (
    "params.nonzero",
    "sparsity.exact",
    "sparsity.near",
    "sparsity.neuron",
    "path_norm",
    "lipschitz.spectral",
    "lipschitz.spectral_linf_l1",
    "lipschitz.lower",
    "lipschitz.tightness",
)


def check_config(cfg: Any) -> None:
    """Rules every baseline adds to `validation.validate` (the gradient boosting libraries'
    too): no torch regularizer or pruning, and whole-number strengths for the forest."""
    name = cfg.model.name
    if cfg.regularizer.name != "none":
        raise ConfigError(
            f"model={name} has its own penalty (its strength is regularizer.strength); "
            f"use regularizer=none, got regularizer={cfg.regularizer.name}"
        )
    if cfg.pruning.name != "none":
        raise ConfigError(
            f"model={name} cannot be pruned; use pruning=none, got {cfg.pruning.name}"
        )
    if name == "sklearn_rf":
        from psilon_bench.config.fields import values as strengths

        bad = [s for s in strengths(cfg.regularizer.strength) if not float(s).is_integer()]
        if bad:
            raise ConfigError(
                "regularizer.strength of model=sklearn_rf is min_samples_leaf and must be "
                f"whole numbers >= 0; got {bad[0]}"
            )


def estimator(
    model_cfg: Any,
    task: str,
    strength: float,
    seed: int,
    threads: int = 1,
    dataset: str = "",
    lr: float | None = None,
) -> Any:
    """The unfitted scikit-learn estimator of one member (`lr`: sklearn_mlp's
    learning_rate_init, sklearn_hgb's learning_rate)."""
    name = str(model_cfg.name)
    wanted = TASKS.get(name, "?")
    if wanted is not None and wanted != task:
        raise DataError(
            f"model={name} is for {wanted} but dataset={dataset or '?'} is a {task} task; "
            f"use model={OTHER[name]} or model=sklearn_rf"
        )
    if name == "sklearn_logistic":
        from sklearn.linear_model import LogisticRegression

        C = 1.0 / strength if strength > 0 else math.inf  # C = inf: no penalty
        return LogisticRegression(C=C, max_iter=model_cfg.max_iter, tol=model_cfg.tol)
    if name == "sklearn_ridge":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=strength, tol=model_cfg.tol, max_iter=model_cfg.max_iter)
    if name == "sklearn_rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = RandomForestClassifier if task == "classification" else RandomForestRegressor
        options: dict[str, Any] = {}
        if model_cfg.max_features is not None:
            options["max_features"] = float(model_cfg.max_features)
        return forest(
            n_estimators=model_cfg.n_estimators,
            min_samples_leaf=max(1, int(strength)),
            random_state=seed,
            n_jobs=threads,
            **options,
        )
    if name == "sklearn_mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        net = MLPClassifier if task == "classification" else MLPRegressor
        return net(
            hidden_layer_sizes=(model_cfg.width,) * model_cfg.depth,
            alpha=strength,
            learning_rate_init=lr,
            batch_size=model_cfg.batch_size,
            max_iter=model_cfg.max_iter,
            tol=model_cfg.tol,
            n_iter_no_change=model_cfg.n_iter_no_change,
            random_state=seed,
        )
    if name == "sklearn_hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        boost = (
            HistGradientBoostingClassifier
            if task == "classification"
            else HistGradientBoostingRegressor
        )
        return boost(
            learning_rate=lr,
            l2_regularization=strength,
            max_iter=model_cfg.max_iter,
            max_leaf_nodes=model_cfg.max_leaf_nodes,
            min_samples_leaf=model_cfg.min_samples_leaf,
            max_features=float(model_cfg.max_features),
            early_stopping=False,
            random_state=seed,
        )
    raise ConfigError(
        f"model.name={name!r} is not a scikit-learn baseline; allowed: {', '.join(TASKS)}"
    )


def outputs(fitted: Any, X: Any, task: str, n_classes: int) -> Any:
    """Model outputs in the networks' layout (1, N, d_out): log-probabilities (all
    `n_classes` columns, clipped at PROBA_FLOOR) or the regression prediction."""
    import numpy as np
    import torch

    if task == "classification":
        proba = np.full((len(X), n_classes), PROBA_FLOOR)
        proba[:, fitted.classes_.astype(int)] = np.maximum(fitted.predict_proba(X), PROBA_FLOOR)
        return torch.from_numpy(np.log(proba))[None]
    return torch.from_numpy(np.asarray(fitted.predict(X), dtype=np.float64))[None, :, None]


def _parameter_counts(fitted: Any) -> dict[str, Any]:
    if not hasattr(fitted, "coef_"):
        return {"params.total": None, "params.weights": None, "params.nonzero_weights": None}
    import numpy as np

    coef = np.atleast_1d(fitted.coef_)
    intercept = np.atleast_1d(fitted.intercept_)
    return {
        "params.total": int(coef.size + intercept.size),
        "params.weights": int(coef.size),
        "params.nonzero_weights": int(np.count_nonzero(coef)),
    }


def fit_members(
    model_cfg: Any,
    splits: list[Any],
    seeds: list[int],
    strengths: list[float],
    threads: int = 1,
    lrs: list[float | None] | None = None,
    class_weight: str = "none",
    make: Callable[..., Any] | None = None,
    keep_outputs: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """Fit member e on `splits[e]` with `seeds[e]`, `strengths[e]` and `lrs[e]`; return one
    evaluation dict per member (the keys `evaluate_members` gives the networks) and the fitting
    time. `class_weight="balanced"`: rows weighted by n / (K n_c) of the training labels.
    `make`: the family's `estimator` (default: this module's, scikit-learn's). `keep_outputs`:
    a list that gets, per member, split part -> its outputs (N, d_out) (`outputs`' layout)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.class_weight import compute_sample_weight
    from threadpoolctl import threadpool_limits

    from psilon_bench.measure.metrics import task_metrics

    rows: list[dict[str, Any]] = []
    fit_time = 0.0
    lrs = lrs if lrs is not None else [None] * len(splits)
    make = make or estimator
    errors: list[Exception] = []
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        # an MLP or logistic fit stopped by max_iter is still a member: its validation score
        # decides, as for a network stopped by its step budget
        warnings.simplefilter("ignore", ConvergenceWarning)
        for split, seed, strength, lr in zip(splits, seeds, strengths, lrs):
            model = make(model_cfg, split.task, strength, seed, threads, split.name, lr)
            weights = None
            if class_weight == "balanced" and split.task == "classification":
                weights = compute_sample_weight("balanced", split.y_train)
            started = time.perf_counter()
            try:
                if weights is None:
                    model.fit(split.X_train, split.y_train)
                else:
                    model.fit(split.X_train, split.y_train, sample_weight=weights)
            except Exception as err:  # the library refuses this setting on these rows
                errors.append(err)
                rows.append({"status": "failed", "fit_error": error_line(err)})
                if keep_outputs is not None:
                    keep_outputs.append({})
                continue
            finally:
                fit_time += time.perf_counter() - started
            row: dict[str, Any] = {}
            kept: dict[str, Any] = {}
            for part in ("train", "val", "test"):
                if split.sizes[part] == 0:
                    continue
                X, y = getattr(split, f"X_{part}"), getattr(split, f"y_{part}")
                import torch

                out = outputs(model, X, split.task, split.n_classes)
                kept[part] = out[0]
                for metric, value in task_metrics(
                    out, torch.as_tensor(y)[None], split.task
                ).items():
                    row[f"{part}.{metric}"] = _finite(float(value[0]))
            row.update(_parameter_counts(model))
            row.update(dict.fromkeys(NULL_KEYS))
            rows.append(row)
            if keep_outputs is not None:
                keep_outputs.append(kept)
    if errors and len(errors) == len(rows):  # nothing fitted: the job fails with the reason
        raise errors[0]
    if errors:
        print(
            f"warning: {len(errors)} of {len(rows)} members could not be fitted and are "
            f"recorded with status=failed (selection skips them); first: {error_line(errors[0])}",
            file=sys.stderr,
        )
    return rows, fit_time


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None
