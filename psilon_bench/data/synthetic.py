"""Synthetic datasets (`dataset.source=synthetic`), deterministic in `synthetic.seed`.

Kinds: scikit-learn's `make_classification`, `make_regression`, `make_moons`,
`make_circles`, and `sparse_teacher`: a random sparse ReLU network (numpy only) that
labels standard Gaussian inputs and reads only `n_informative` of the `n_features` inputs,
so a student's sparsity can be checked against the teacher's support.
Each generator returns features (n, d) float64, targets (n,), and ground-truth facts for
`Table.extra` (`informative` / `teacher_support`: (d,) bool mask of the inputs that matter).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psilon_bench.config import SyntheticKind, TaskKind
from psilon_bench.errors import DataError

from .table import Table, one_line, table_from_arrays

Generated = tuple[np.ndarray, np.ndarray, dict[str, Any]]


def _check_informative(cfg: Any) -> None:
    if cfg.n_informative > cfg.n_features:
        raise DataError(
            f"dataset.synthetic.n_informative={cfg.n_informative} exceeds "
            f"dataset.synthetic.n_features={cfg.n_features}"
        )


def _make_classification(cfg: Any) -> Generated:
    """Gaussian clusters; the informative features come first, `noise` = label flip rate."""
    from sklearn.datasets import make_classification

    _check_informative(cfg)
    X, y = make_classification(
        n_samples=cfg.n_samples, n_features=cfg.n_features, n_informative=cfg.n_informative,
        n_redundant=0, n_repeated=0, n_classes=cfg.n_classes, flip_y=min(cfg.noise, 1.0),
        shuffle=False, random_state=cfg.seed,
    )  # fmt: skip
    informative = np.arange(cfg.n_features) < cfg.n_informative
    return X, y, {"informative": informative}


def _make_regression(cfg: Any) -> Generated:
    """A random sparse linear model; `noise` = std of the Gaussian output noise."""
    from sklearn.datasets import make_regression

    _check_informative(cfg)
    X, y, coef = make_regression(
        n_samples=cfg.n_samples, n_features=cfg.n_features, n_informative=cfg.n_informative,
        noise=cfg.noise, coef=True, random_state=cfg.seed,
    )  # fmt: skip
    return X, y, {"informative": coef != 0, "coef": coef}


def _make_moons(cfg: Any) -> Generated:
    """Two interleaved half circles in 2-D (`n_features` is ignored)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=cfg.seed)
    return X, y, {}


def _make_circles(cfg: Any) -> Generated:
    """Two concentric circles in 2-D, radius ratio 0.5 (`n_features` is ignored)."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=cfg.n_samples, noise=cfg.noise, factor=0.5, random_state=cfg.seed)
    return X, y, {}


# --------------------------------------------------------------------------------------
# sparse ReLU teacher


def teacher_forward(
    weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray
) -> np.ndarray:
    """Teacher outputs (n, n_out): ReLU after every layer but the last; W_l: (out, in)."""
    h = X
    for i, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W.T + b  # (n, out)
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h


def _sparse_layer(
    rng: np.random.Generator, n_out: int, allowed: np.ndarray, density: float, positive_first: bool
) -> np.ndarray:
    """Weights (n_out, len(allowed)) with non-zeros only on `allowed` inputs, each with
    probability `density`; every unit reads >= 1 allowed input and every allowed input
    feeds >= 1 unit, so every path of the teacher is connected. Values are He-scaled by
    each unit's own fan-in. `positive_first`: each unit's first weight is positive, so a
    unit fed by ReLUs is not dead on every input."""
    cols = np.flatnonzero(allowed)
    mask = rng.random((n_out, len(cols))) < density
    for i in np.flatnonzero(~mask.any(axis=1)):
        mask[i, rng.integers(len(cols))] = True
    for j in np.flatnonzero(~mask.any(axis=0)):
        mask[rng.integers(n_out), j] = True
    values = rng.standard_normal(mask.shape) * np.sqrt(2.0 / mask.sum(axis=1, keepdims=True))
    if positive_first:
        first = mask.argmax(axis=1)
        rows = np.arange(n_out)
        values[rows, first] = np.abs(values[rows, first])
    W = np.zeros((n_out, len(allowed)))
    W[:, cols] = np.where(mask, values, 0.0)
    return W


def _make_sparse_teacher(cfg: Any, task: str) -> Generated:
    """Labels standard Gaussian inputs with a sparse ReLU net of `teacher_depth` hidden
    layers of `teacher_width` units that reads `n_informative` random inputs.

    Classification: argmax of `n_classes` outputs (+ `noise` x N(0, 1)); the output bias
    centres each output on the sample so classes are roughly balanced. Regression: the
    single output + `noise` x N(0, 1). `teacher_support` is the structural support (inputs
    with a path of non-zero weights to an output); for `teacher_depth` = 1 it is exact.
    """
    _check_informative(cfg)
    rng = np.random.default_rng(cfg.seed)
    d, n = cfg.n_features, cfg.n_samples
    support = np.zeros(d, dtype=bool)
    support[rng.choice(d, size=cfg.n_informative, replace=False)] = True
    n_out = 1 if task == "regression" else cfg.n_classes
    sizes = [d] + [cfg.teacher_width] * cfg.teacher_depth + [n_out]
    weights = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        allowed = support if layer == 0 else np.ones(fan_in, dtype=bool)
        hidden_after_relu = 0 < layer < len(sizes) - 2
        weights.append(_sparse_layer(rng, fan_out, allowed, cfg.teacher_density, hidden_after_relu))
    biases = [np.zeros(W.shape[0]) for W in weights]

    X = rng.standard_normal((n, d))
    out = teacher_forward(weights, biases, X)  # (n, n_out)
    biases[-1] = -out.mean(axis=0)
    out = out + biases[-1] + cfg.noise * rng.standard_normal(out.shape)
    y = out[:, 0] if task == "regression" else out.argmax(axis=1)
    extra = {"teacher_support": support, "teacher_weights": weights, "teacher_biases": biases}
    return X, y, extra


# --------------------------------------------------------------------------------------


def _task_of(kind: SyntheticKind, requested: str) -> str:
    """The task a kind produces; sparse_teacher does either (auto = classification)."""
    natural = "regression" if kind == SyntheticKind.regression else "classification"
    if kind == SyntheticKind.sparse_teacher:
        return "regression" if requested == "regression" else "classification"
    if requested not in ("auto", natural):
        raise DataError(
            f"dataset.task={requested} does not fit dataset.synthetic.kind={kind.value} "
            f"(it makes a {natural} dataset)"
        )
    return natural


def load_synthetic(dataset_cfg: Any) -> Table:
    """Generate the `dataset.synthetic` dataset as a `Table` (features x0..x{d-1})."""
    cfg = dataset_cfg.synthetic
    kind = SyntheticKind(cfg.kind)
    task = _task_of(kind, TaskKind(dataset_cfg.task).value)
    try:
        if kind == SyntheticKind.sparse_teacher:
            X, y, extra = _make_sparse_teacher(cfg, task)
        else:
            makers = {
                SyntheticKind.classification: _make_classification,
                SyntheticKind.regression: _make_regression,
                SyntheticKind.moons: _make_moons,
                SyntheticKind.circles: _make_circles,
            }
            X, y, extra = makers[kind](cfg)
    except DataError:
        raise
    except ValueError as err:  # scikit-learn's own checks, e.g. n_classes vs n_informative
        raise DataError(f"dataset.synthetic ({kind.value}): {one_line(err)}") from None
    names = [f"x{i}" for i in range(X.shape[1])]
    table = table_from_arrays(dataset_cfg.name, X, names, np.asarray(y), task)
    table.extra.update(extra)
    return table
