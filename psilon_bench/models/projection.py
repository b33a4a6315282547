"""The L1-sphere projection that weight-normalized layers blend into their directions while
they are pruned to exact sparsity, docs/methods.md (pruning) [PSiLON].

- `l1_sphere_projection`: J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra, "Efficient
  Projections onto the l1-Ball for Learning in High Dimensions", ICML 2008 (the sort rule).
- `psilon_projection_target`, `crelu_pair_projection`, `blended_direction`: the exact-sparsity
  schedule's targets and blend of [PSiLON] (A. Biswas, "Hidden Synergy: L1 Weight
  Normalization and 1-Path-Norm Regularization", arXiv:2404.19112); the blend weight `a_t`
  is `psilon_bench.pruning.ops.prune_blend`.

Rows are the last dimension (a unit's incoming vector); any leading dimensions (members
first: `(E, out, in)`) are batch. No Python branch depends on tensor values, so the
projections run under `torch.func.vmap`. Part of the models (their forward uses it), so
models never import the pruning schedules.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "blended_direction",
    "crelu_pair_norm",
    "crelu_pair_projection",
    "l1_sphere_projection",
    "l1_sphere_threshold",
    "psilon_projection_target",
    "relative_scale",
]


def _safe(norm: Tensor) -> Tensor:
    """A row norm with zeros replaced by 1, so an all-zero row divides to zeros."""
    return torch.where(norm > 0, norm, torch.ones_like(norm))


def l1_sphere_threshold(a: Tensor, radius: float = 1.0) -> Tensor:
    """Duchi et al. (2008) threshold tau for non-negative rows, docs/methods.md (pruning); `(..., 1)`.

    Sort `a` descending into `u`, `V_k = (sum_{i<=k} u_i - radius) / k`,
    `rho = max{k : u_k > V_k}`, `tau = V_rho`, clamped at 0: rows with
    `sum(a) <= radius` get `tau = 0` (nothing is cut; see `l1_sphere_projection`).

    Args:
        a: non-negative rows, `(..., d)`.
    """
    u, _ = torch.sort(a, dim=-1, descending=True)  # (..., d)
    k = torch.arange(1, a.shape[-1] + 1, dtype=a.dtype, device=a.device)  # (d,)
    v = (torch.cumsum(u, dim=-1) - radius) / k  # V_k, (..., d)
    # u_k > V_k holds exactly for k = 1..rho (and for k = 1 whenever radius > 0).
    rho = torch.where(u > v, k, torch.zeros_like(k)).amax(dim=-1, keepdim=True)  # (..., 1)
    tau = torch.gather(v, -1, (rho.long() - 1).clamp_min(0))  # (..., 1)
    return tau.clamp_min(0.0)


def l1_sphere_projection(v: Tensor, radius: float = 1.0) -> Tensor:
    """Euclidean projection of each row onto the L1 sphere of `radius`, docs/methods.md (pruning) (Duchi 2008).

    `P(v) = sign(v) * max(|v| - tau, 0)` with tau from `l1_sphere_threshold`: rows with
    `||v||_1 >= radius` land on the sphere (`||P(v)||_1 = radius` up to rounding) with
    exact zeros. Rows strictly inside the ball (`||v||_1 < radius`) are returned
    unchanged (tau clamped at 0: the projection onto the ball; a point on the sphere would
    need new non-zeros of arbitrary sign). The [PSiLON] schedule never meets that case:
    it projects `s v / ||v||_1` with `s >= 1`. All-zero rows return zeros.

    Args:
        v: `(..., d)`, e.g. `(E, out, in)`.
        radius: the sphere's L1 radius, > 0.

    Returns:
        same shape and dtype as `v`.
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0; got {radius}")
    a = v.abs()
    tau = l1_sphere_threshold(a, radius)  # (..., 1)
    return torch.sign(v) * (a - tau).clamp_min(0.0)


def relative_scale(p: Tensor, threshold: float) -> Tensor:
    """Per-row `s` that prunes exactly the entries below `threshold` times the row's mean; `(..., 1)`.

    For a row `p` of unit L1 norm (`p = |v| / ||v||_1`, `d` entries) and `t = threshold / d`,
    `s = 1 / sum_i max(p_i - t, 0)`: the L1-sphere projection of `s p` then has threshold
    exactly `s t` (since `sum_i max(s p_i - s t, 0) = 1`), so `P(s p)` zeroes the entries with
    `p_i <= t` -- those that `sparsity.threshold_<threshold>` (docs/methods.md (metrics)) counts as zero --
    and keeps the rest, shrunk by `t` and renormalized. A dense direction loses few entries
    (a Gaussian row: ~6 % at threshold 0.1), a near-sparse one its tail. `s >= 1`; rows with
    nothing above `t` (all-zero rows) get `s = 1`.

    Args:
        p: non-negative rows of unit L1 norm, `(..., d)`.
        threshold: in (0, 1): relative to the mean magnitude `1/d` (a value >= 1 could cut
            every entry of a uniform row).
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1); got {threshold}")
    kept = (p - threshold / p.shape[-1]).clamp_min(0.0).sum(dim=-1, keepdim=True)
    return 1.0 / _safe(kept)


def _check_scale(scale: float | None) -> None:
    if scale is not None and not scale >= 1:
        raise ValueError(f"scale must be >= 1 or None (relative); got {scale}")


def psilon_projection_target(v: Tensor, scale: float | None, threshold: float = 0.1) -> Tensor:
    """Pruning target `P(s v / ||v||_1)` of a direction, docs/methods.md (pruning) [PSiLON]; shape of `v`.

    Raw `v`'s scale is arbitrary (the layer normalizes it away), so `v` is first
    normalized to unit L1 norm and scaled by `s`. A number `scale >= 1` is one `s` for every
    row (`s = 1` prunes nothing, larger `s` cuts more mass before the projection back to
    the unit sphere; the paper's rule, `pruning.scale=2`). `scale=None` is the scale-aware
    rule: each row's `s` from `relative_scale` (cut the entries below `threshold` times the
    row's mean magnitude), so an unregularized, dense net is barely pruned.

    Args:
        v: raw directions `(..., d)`, e.g. `(E, out, in)`; all-zero rows give zeros.
        scale: `s` (`pruning.scale`), or None for the per-row rule.
        threshold: the relative threshold of the per-row rule (`pruning.threshold`).
    """
    _check_scale(scale)
    unit = v / _safe(v.abs().sum(dim=-1, keepdim=True))  # (..., d), unit L1 rows
    s = relative_scale(unit.abs(), threshold) if scale is None else scale
    return l1_sphere_projection(s * unit, 1.0)


def crelu_pair_norm(u: Tensor, u_neg: Tensor) -> Tensor:
    """Joint row norm `n_j = sum_i max(|u_ji|, |u'_ji|)` of a CReLU pair, docs/methods.md (PSiLON ResNet); `(..., 1)`."""
    return torch.maximum(u.abs(), u_neg.abs()).sum(dim=-1, keepdim=True)


def crelu_pair_projection(
    u: Tensor, u_neg: Tensor, scale: float | None, threshold: float = 0.1
) -> tuple[Tensor, Tensor]:
    """Pruning targets of a jointly normalized CReLU pair, docs/methods.md (pruning) [PSiLON]; two `(..., d)`.

    With `n_j = sum_i max(|u_ji|, |u'_ji|)`, `x = s |u| / n`, `x' = s |u'| / n`, tau is the
    L1-sphere threshold of `max(x, x')` row-wise and is applied to both:
    `t = sign(u) max(x - tau, 0)`, `t' = sign(u') max(x' - tau, 0)`. Then
    `max(|t|, |t'|) = P(max(x, x'))`, so each row of `max(|t|, |t'|)` has L1 norm 1, the
    joint normalization of §1.4.

    Args:
        u, u_neg: raw directions of the pair (`A`/`B` or `C`/`D` halves), each `(..., d)`.
        scale: `s >= 1`, or None: per row `relative_scale` of `max(|u|, |u'|) / n` at
            `threshold` (see `psilon_projection_target`).
    """
    _check_scale(scale)
    norm = _safe(crelu_pair_norm(u, u_neg))  # (..., 1)
    x, x_neg = u.abs() / norm, u_neg.abs() / norm
    s = relative_scale(torch.maximum(x, x_neg), threshold) if scale is None else scale
    x, x_neg = s * x, s * x_neg
    tau = l1_sphere_threshold(torch.maximum(x, x_neg), 1.0)  # (..., 1)
    return (
        torch.sign(u) * (x - tau).clamp_min(0.0),
        torch.sign(u_neg) * (x_neg - tau).clamp_min(0.0),
    )


def blended_direction(
    v: Tensor, target: Tensor, a: float | Tensor, norm: Tensor | None = None
) -> Tensor:
    """Blended unit direction `(1 - a) v / ||v||_1 + a target`, docs/methods.md (pruning) [PSiLON]; shape of `v`.

    The effective weight is `g` times this. `target` (from `psilon_projection_target`) has
    the sign of `v` wherever it is non-zero, so the two terms never cancel: entrywise
    `|w| = (1 - a) |v| / ||v||_1 + a |target|`, and each row's L1 norm is
    `(1 - a) + a = 1` exactly in exact arithmetic, so `||w_t||_1 = |g|` and the closed
    forms of §2 stay exact for every `a` in [0, 1]. For a CReLU pair pass the joint norm
    `norm = crelu_pair_norm(u, u')` and the targets of `crelu_pair_projection`: the target
    preserves the order of `|u|` and `|u'|`, so `max(|w|, |w'|)` keeps unit row norm too.

    Args:
        v: raw directions `(..., d)`; target: `(..., d)`.
        a: blend weight in [0, 1] (a float, or a tensor broadcastable to `(..., 1)`).
        norm: row normalizer `(..., 1)`; default `||v||_1` row-wise.
    """
    if norm is None:
        norm = v.abs().sum(dim=-1, keepdim=True)
    return (1.0 - a) * v / _safe(norm) + a * target
