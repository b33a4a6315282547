"""Lipschitz metrics besides the path-norm, docs/methods.md (other bounds) [PSiLON].

- `spectral_product` / `residual_spectral_product`: the l_2 -> l_2 bound
  `prod_l ||W_l||_2`, with `spectral_to_linf_l1_factor` converting it to l_inf -> l_1.
- `empirical_lipschitz_lower_bound`: `max_x ||J_f(x)||_{inf->1}` over evaluation points.
- `tightness`: bound / lower bound.

Stacked members: weights are `(E, out, in)`, inputs `(E, B, d_in)`; every metric is one
value per member, `(E,)`, in float64.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from psilon_bench.measure.spectral import spectral_norm, spectral_norms

__all__ = [
    "empirical_lipschitz_lower_bound",
    "inf_to_one_norm",
    "residual_spectral_product",
    "spectral_product",
    "spectral_to_linf_l1_factor",
    "tightness",
]

# Enumerate all 2^(d_out - 1) sign vectors (exact) up to this many outputs.
EXACT_MAX_OUTPUTS = 12
# Elements of one (E, B, n_signs, d_in) chunk in the exact enumeration (~128 MiB float64).
_CHUNK_ELEMENTS = 1 << 24


def _spectral_norm(w: Tensor) -> Tensor:
    """Largest singular value of each matrix, `(..., out, in)` -> `(...)`, float64
    (`measure.spectral.spectral_norm`: Lanczos for wide layers, a dense eigensolver else)."""
    return spectral_norm(w)


def spectral_product(weights: Sequence[Tensor]) -> Tensor:
    """Spectral product `prod_l ||W_l||_2`, the l_2 -> l_2 bound of docs/methods.md (other bounds); (E,) float64.

    Args:
        weights: effective weights of a ReLU MLP, each `(E, out, in)`.
    """
    if len(weights) == 0:
        raise ValueError("spectral_product needs at least one weight matrix; got none")
    norms = spectral_norms(weights)
    out = norms[0]
    for norm in norms[1:]:
        out = out * norm
    return out


def residual_spectral_product(
    embed: Tensor, blocks: Sequence[tuple[Tensor, Tensor]], head: tuple[Tensor, Tensor]
) -> Tensor:
    """Spectral bound of a CReLU residual net, docs/methods.md (other bounds) [PSiLON]; (E,) float64.

    `||W_0||_2 * prod_l (1 + ||[A_l, -B_l]||_2) * ||[C, -D]||_2`: the map
    `h -> (relu(h), relu(-h))` is 1-Lipschitz in l_2 (the two halves partition `h`), so
    each block `h + [A, -B] (relu(h); relu(-h))` is `(1 + ||[A, -B]||_2)`-Lipschitz.

    Args:
        embed: `W_0`, `(E, m, d_in)`; blocks: `(A_l, B_l)`, each `(E, m, m)`;
        head: `(C, D)`, each `(E, d_out, m)`.
    """
    c, d = head
    pairs = [torch.cat([a, -b], dim=-1) for a, b in blocks]
    embed_norm, *block_norms, head_norm = spectral_norms([embed, *pairs, torch.cat([c, -d], -1)])
    out = embed_norm
    for norm in block_norms:
        out = out * (1.0 + norm)
    return out * head_norm


def spectral_to_linf_l1_factor(d_in: int, d_out: int) -> float:
    """`sqrt(d_in * d_out)`: an l_2 -> l_2 bound times this is an l_inf -> l_1 bound (§2.4).

    `||y||_1 <= sqrt(d_out) ||y||_2` and `||x||_2 <= sqrt(d_in) ||x||_inf`.
    """
    return math.sqrt(d_in * d_out)


def _sign(x: Tensor) -> Tensor:
    """Sign with sign(0) = +1, so every iterate is a vertex of the cube."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _all_sign_vectors(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 2^(n-1) sign vectors with first entry +1 (s and -s give the same norm); (S, n)."""
    rest = list(itertools.product((1.0, -1.0), repeat=n - 1))
    return torch.tensor([(1.0, *r) for r in rest], dtype=dtype, device=device)


def inf_to_one_norm(
    jac: Tensor,
    starts: int = 0,
    iters: int = 10,
    generator: torch.Generator | None = None,
    exact_max_outputs: int = EXACT_MAX_OUTPUTS,
) -> Tensor:
    """`||J||_{inf->1} = max_{s in {+-1}^d_out} ||J^T s||_1` per matrix, docs/methods.md (other bounds); float64.

    With `d_out <= exact_max_outputs` every sign vector is enumerated (exact; `s` and `-s`
    are one case, so 2^(d_out-1) vectors). Otherwise a lower estimate by the alternating
    sign iteration `u = sign(J^T s)`, `s = sign(J u)` (each half-step can only raise
    `s^T J u`), from `s = 1` plus `starts` random sign vectors, best value kept.

    Args:
        jac: `(..., d_out, d_in)`.

    Returns:
        `(...)` float64.
    """
    jac = jac.to(torch.float64)
    d_out, d_in = jac.shape[-2:]
    batch = jac.shape[:-2]
    if d_out <= exact_max_outputs:
        signs = _all_sign_vectors(d_out, jac.dtype, jac.device)  # (S, d_out)
        per_sign = max(1, math.prod(batch) * d_in)
        chunk = max(1, _CHUNK_ELEMENTS // per_sign)
        best = jac.new_zeros(batch)
        for lo in range(0, signs.shape[0], chunk):
            s = signs[lo : lo + chunk]  # (S', d_out)
            vals = torch.einsum("sk,...ki->...si", s, jac).abs().sum(dim=-1)  # (..., S')
            best = torch.maximum(best, vals.amax(dim=-1))
        return best
    # Alternating sign iteration from s = 1 and `starts` random starts.
    device = generator.device if generator is not None else jac.device
    rand = torch.randint(0, 2, (*batch, starts, d_out), generator=generator, device=device)
    s = torch.cat(
        [jac.new_ones(*batch, 1, d_out), rand.to(jac.device, jac.dtype) * 2.0 - 1.0], dim=-2
    )  # (..., n_starts, d_out)
    for _ in range(iters):
        u = _sign(torch.einsum("...sk,...ki->...si", s, jac))  # sign(J^T s), (..., n, d_in)
        s = _sign(torch.einsum("...ki,...si->...sk", jac, u))  # sign(J u), (..., n, d_out)
    vals = torch.einsum("...sk,...ki->...si", s, jac).abs().sum(dim=-1)  # (..., n_starts)
    return vals.amax(dim=-1)


def _jacobians(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Per-sample Jacobians of a member-batched `f`: `(E, B, d_in)` -> `(E, B, d_out, d_in)`.

    Assumes each output row depends only on its own input row (no batch statistics), so the
    gradient of the sum over members and points of output k is every row's k-th Jacobian row.
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        y = f(xg)  # (E, B, d_out)
        if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(
                f"f must map (E, B, d_in) = {tuple(x.shape)} to (E, B, d_out); got {tuple(y.shape)}"
            )
        rows = []
        for k in range(y.shape[-1]):
            (g,) = torch.autograd.grad(
                y[..., k].sum(), xg, retain_graph=k + 1 < y.shape[-1], allow_unused=True
            )
            rows.append(torch.zeros_like(xg) if g is None else g)
    return torch.stack(rows, dim=-2).detach()  # (E, B, d_out, d_in)


def empirical_lipschitz_lower_bound(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    starts: int,
    iters: int = 10,
    generator: torch.Generator | None = None,
    exact_max_outputs: int = EXACT_MAX_OUTPUTS,
) -> Tensor:
    """Empirical l_inf -> l_1 Lipschitz lower bound `max_x ||J_f(x)||_{inf->1}`, docs/methods.md (other bounds); (E,).

    For each member and evaluation point the Jacobian `J` (d_out x d_in) is taken by
    autograd, one backward pass per output. `||J||_{inf->1}` is exact by enumeration of
    all sign vectors when `d_out <= exact_max_outputs` (default 12; for `d_out = 1` it is
    `||grad f||_1`), else estimated from below by the alternating sign iteration of
    `inf_to_one_norm` (`starts` random starts plus `s = 1`, `iters` rounds). The result is
    the max over points: a lower bound on the true constant of a piecewise-linear `f`.

    Args:
        f: member-batched forward, `(E, B, d_in)` -> `(E, B, d_out)`; rows independent.
        x: evaluation points, `(E, B, d_in)`.
        starts: random starts of the sign iteration (unused by the exact enumeration).
        iters: rounds of the sign iteration.
        generator: source of the random starts.
        exact_max_outputs: enumerate exactly up to this many outputs.

    Returns:
        `(E,)` float64.
    """
    jac = _jacobians(f, x)  # (E, B, d_out, d_in)
    norms = inf_to_one_norm(jac, starts, iters, generator, exact_max_outputs)  # (E, B)
    return norms.amax(dim=-1)


def tightness(bound: Tensor, lower: Tensor) -> Tensor:
    """Tightness ratio `bound / lower` of a Lipschitz bound, docs/methods.md (other bounds); (E,) float64.

    >= 1 for a valid bound; `inf` where the lower bound is 0 (a constant function).
    """
    return bound.to(torch.float64) / lower.to(torch.float64)
