"""Sparsity metrics of weight matrices, docs/methods.md (metrics) [PSiLON].

Every function takes a sequence of stacked tensors (member dimension first: a layer's
weight is `(E, out, in)`, row j = unit j's incoming vector) and returns one value per
member, `(E,)`, in float64 (`nonzero_count`: int64). "Units" are rows, i.e. the last
dimension is a unit's incoming vector and every dimension between the first and the last
counts units. Pass weight matrices only, never biases or lengths (METHODS §6); CReLU
blocks pass their positive and negative halves as separate matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "exact_sparsity",
    "near_sparsity",
    "neuron_sparsity",
    "nonzero_count",
    "parameter_count",
    "threshold_sparsity",
    "unit_near_sparsity",
]

# The epsilon inside the logarithm of the near-sparsity entropy, docs/methods.md (metrics).
NEAR_SPARSITY_EPS = 1e-8


def _as_list(tensors: Sequence[Tensor] | Tensor) -> list[Tensor]:
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not tensors:
        raise ValueError("expected at least one stacked tensor (E, ...); got none")
    return tensors


def _entries(w: Tensor) -> Tensor:
    """All entries of each member, `(E, ...)` -> `(E, n)`, float64."""
    return w.detach().to(torch.float64).reshape(w.shape[0], -1)


def _rows(w: Tensor) -> Tensor:
    """Unit rows of each member, `(E, ..., in)` -> `(E, units, in)`, float64."""
    return w.detach().to(torch.float64).reshape(w.shape[0], -1, w.shape[-1])


def exact_sparsity(weights: Sequence[Tensor] | Tensor) -> Tensor:
    """Fraction of weight entries exactly 0 over all given matrices, docs/methods.md (metrics); (E,).

    Args:
        weights: stacked matrices, each `(E, out, in)`.
    """
    weights = _as_list(weights)
    zeros = sum((_entries(w) == 0).sum(dim=1) for w in weights)
    total = sum(w[0].numel() for w in weights)
    return zeros.to(torch.float64) / total


def threshold_sparsity(
    weights: Sequence[Tensor] | Tensor, tau: float, absolute: bool = False
) -> Tensor:
    """Fraction of weights below a threshold, docs/methods.md (metrics) (choice: relative, scale-free); (E,).

    Relative rule (default): entry `w_ij` of unit j counts when
    `|w_ij| <= tau * ||w_j||_1 / d`, d = fan-in, i.e. `tau` times the unit's mean
    magnitude; rescaling a unit leaves it unchanged. An all-zero unit counts fully.
    Absolute rule (`absolute=True`): `|w_ij| <= tau`.

    Args:
        weights: stacked matrices, each `(E, out, in)`.
        tau: threshold (METHODS uses 1e-3 and 1e-2 with the relative rule).
    """
    weights = _as_list(weights)
    counts = []
    for w in weights:
        a = _rows(w).abs()  # (E, units, in)
        if absolute:
            limit = torch.as_tensor(tau, dtype=a.dtype)
        else:
            limit = tau * a.sum(dim=-1, keepdim=True) / a.shape[-1]  # (E, units, 1)
        counts.append((a <= limit).flatten(1).sum(dim=1))
    total = sum(w[0].numel() for w in weights)
    return sum(counts).to(torch.float64) / total


def unit_near_sparsity(w: Tensor) -> Tensor:
    """Near-sparsity of each unit's incoming vector, docs/methods.md (metrics) [PSiLON]; `(E, units)`.

    `p_i = |w_i| / ||w||_1`, `H = -sum_i p_i log(p_i + 1e-8)`, `ns = 1 - exp(H) / d`:
    0 for a constant-magnitude vector, `1 - k/d` for a k-hot vector. An all-zero vector
    gets `p = 0`, `H = 0`, hence `ns = 1 - 1/d`, the value of a one-hot vector: it is the
    metric's largest value for any vector, so a dead unit counts as maximally sparse
    (never above a live one) and the metric stays in `[0, 1 - 1/d]`.

    Args:
        w: stacked matrix `(E, out, in)` (more unit dimensions are flattened).
    """
    a = _rows(w).abs()  # (E, units, d)
    norm = a.sum(dim=-1, keepdim=True)
    p = a / torch.where(norm > 0, norm, 1.0)  # all-zero row -> p = 0
    entropy = -(p * torch.log(p + NEAR_SPARSITY_EPS)).sum(dim=-1)  # (E, units)
    return 1.0 - torch.exp(entropy) / a.shape[-1]


def near_sparsity(vectors: Sequence[Tensor] | Tensor) -> Tensor:
    """Near-sparsity averaged over all units of all given matrices, docs/methods.md (metrics) [PSiLON]; (E,).

    Each unit counts once, whatever its matrix (see `unit_near_sparsity` for the per-unit
    value and the all-zero convention). A dense Gaussian vector of length 500 scores
    0.2467 in expectation (0.2470 as d -> inf; sd 0.012 per vector), a 10-hot one 0.98.

    Args:
        vectors: stacked matrices, each `(E, out, in)`; CReLU halves as separate entries.
    """
    per_unit = [unit_near_sparsity(w) for w in _as_list(vectors)]  # each (E, units)
    return torch.cat(per_unit, dim=1).mean(dim=1)


def neuron_sparsity(hidden_weights: Sequence[Tensor] | Tensor) -> Tensor:
    """Fraction of hidden units whose whole incoming vector is 0, docs/methods.md (metrics); (E,).

    Args:
        hidden_weights: incoming weights of the hidden layers, each `(E, units, in)`.
    """
    dead = [(_rows(w) == 0).all(dim=-1) for w in _as_list(hidden_weights)]  # (E, units)
    return torch.cat(dead, dim=1).to(torch.float64).mean(dim=1)


def nonzero_count(tensors: Sequence[Tensor] | Tensor) -> Tensor:
    """Number of non-zero entries over all given tensors, docs/methods.md (metrics); (E,) int64.

    Args:
        tensors: stacked parameters, each `(E, ...)` (biases and lengths allowed).
    """
    counts = [(_entries(t) != 0).sum(dim=1) for t in _as_list(tensors)]
    return sum(counts)


def parameter_count(tensors: Sequence[Tensor] | Tensor) -> int:
    """Number of entries per member over all given stacked tensors `(E, ...)`, docs/methods.md (metrics)."""
    return sum(math.prod(t.shape[1:]) for t in _as_list(tensors))
