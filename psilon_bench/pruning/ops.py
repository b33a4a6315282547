"""Tensor math of pruning, docs/methods.md (pruning): the blend weight of [PSiLON]'s exact-sparsity
schedule and the masks of the other pruning rules.

- `prune_blend`: the blend weight `a_t` of [PSiLON] (A. Biswas, "Hidden Synergy: L1 Weight
  Normalization and 1-Path-Norm Regularization", arXiv:2404.19112); the projection it blends
  in lives with the models that use it, `psilon_bench.models.projection`.
- `magnitude_mask`, `neuron_norm_mask`: the baselines (magnitude pruning; neuron-norm
  pruning of [EWN], Morwani & Ramaswamy, arXiv:2010.12909).

Rows are the last dimension (a unit's incoming vector); any leading dimensions (members
first: `(E, out, in)`) are batch. The training loop applies these in its own order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["magnitude_mask", "neuron_norm_mask", "prune_blend"]


def prune_blend(step: int, start: int, ramp: int) -> float:
    """Blend weight `a_t` of docs/methods.md (pruning) [PSiLON]: 0 before `start`, linear to 1 over `ramp` steps.

    `a_t = min((t - start) / ramp, 1)` for `t >= start`; `ramp <= 0` jumps to 1 at `start`.
    `step` counts optimizer steps, not forward calls.
    """
    if step < start:
        return 0.0
    return 1.0 if ramp <= 0 else min((step - start) / ramp, 1.0)


def _smallest_fraction_mask(scores: Tensor, fraction: float, truncate: bool = False) -> Tensor:
    """Keep-mask `(E, n)` that drops the `round(fraction * n)` smallest scores of each row
    (`int(fraction * n)` with `truncate`, as [EWN]'s reference code counts pruned neurons).

    Ranks come from a stable sort, so ties are broken by position and the count is exact.
    """
    n = scores.shape[-1]
    drop = int(fraction * n) if truncate else int(math.floor(fraction * n + 0.5))
    drop = min(n, drop)
    order = torch.argsort(scores, dim=-1, stable=True)  # (E, n)
    keep = torch.ones_like(scores, dtype=torch.bool)
    return keep.scatter(-1, order[..., :drop], False)


def magnitude_mask(
    weights: Sequence[Tensor], sparsity: float, scope: str = "global"
) -> list[Tensor]:
    """Keep-masks of magnitude pruning to a target sparsity, docs/methods.md (pruning) (baseline); per member.

    Each member drops its `round(sparsity * n)` smallest-magnitude entries (ties broken by
    position, so the count is exact): `scope="global"` ranks all given matrices of a member
    together (one threshold), `scope="layer"` ranks each matrix on its own (`n` per matrix).

    Args:
        weights: stacked matrices, each `(E, out, in)`.
        sparsity: target fraction of zeros, in [0, 1].
        scope: `"global"` or `"layer"` (a `config.PruneScope` works too).

    Returns:
        one bool keep-mask per matrix, same shape (True = keep).
    """
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer'; got {scope!r}")
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1]; got {sparsity}")
    flats = [w.detach().abs().reshape(w.shape[0], -1) for w in weights]  # each (E, n_l)
    if scope == "layer":
        return [
            _smallest_fraction_mask(f, sparsity).reshape(w.shape) for f, w in zip(flats, weights)
        ]
    dtype = flats[0].dtype
    for f in flats[1:]:
        dtype = torch.promote_types(dtype, f.dtype)
    keep = _smallest_fraction_mask(torch.cat([f.to(dtype) for f in flats], dim=1), sparsity)
    pieces = torch.split(keep, [f.shape[1] for f in flats], dim=1)
    return [piece.reshape(w.shape) for piece, w in zip(pieces, weights)]


def neuron_norm_mask(w_in: Tensor, fraction: float, p: float = 2.0) -> Tensor:
    """Keep-mask of hidden units by incoming-vector norm, docs/methods.md (pruning) [EWN]; `(E, out)` bool.

    Removes the `int(fraction * out)` units (truncated, as the reference code of [EWN]) with
    the smallest `||w_j||_p` (ties broken by position), per member, within this one layer; the caller zeroes the unit's incoming
    row, bias and outgoing column. No retraining.

    Args:
        w_in: incoming weights of one hidden layer, `(E, out, in)`.
        fraction: q, in [0, 1].
        p: norm order (default 2).
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1]; got {fraction}")
    norms = torch.linalg.vector_norm(w_in.detach().to(torch.float64), ord=p, dim=-1)  # (E, out)
    return _smallest_fraction_mask(norms, fraction, truncate=True)
