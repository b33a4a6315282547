"""Spectral norms `||W||_2` of stacked matrices for the l_2 bound of METHODS.md §2.4, float64.

Two ways to the largest singular value, both float64:

- `gram_spectral_norm`: `sqrt(lambda_max)` of the shorter side's Gram matrix by a dense
  symmetric eigensolver (exact to rounding; a 500 x 500 layer costs ~15 ms).
- `lanczos_spectral_norm`: the Lanczos iteration on the same Gram matrix, applied as two
  matrix-vector products per step (never formed), with full reorthogonalization, stopped
  when the residual bound `beta_k |s_k|` of the top Ritz value is below `tol` of it: then an
  eigenvalue lies within `tol * theta` of `theta` (Parlett, *The Symmetric Eigenvalue
  Problem*, Thm. 11.5.1), so `sigma` is exact to ~`tol / 2`. From a random start (fixed
  seed, the same for every matrix, so a value does not depend on the batch) the top Ritz
  value converges to `lambda_max`; P1's 500 x 500 layers take ~70 steps,
  ~2.5x faster than the dense solver. Matrices that do not converge in `max_steps` get the
  dense value.

`spectral_norms` picks per matrix: dense below `LANCZOS_MIN_SIDE`, Lanczos above.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["gram_spectral_norm", "lanczos_spectral_norm", "spectral_norm", "spectral_norms"]

# Shorter side from which the Lanczos iteration beats the dense eigensolver (measured: 500
# x 500 float64, 70 steps ~2.5x faster; at 64 both take well under a millisecond).
LANCZOS_MIN_SIDE = 64
# Relative residual bound on lambda_max = sigma^2 at which the iteration stops.
LANCZOS_TOL = 1e-13
LANCZOS_MAX_STEPS = 300
_CHECK_EVERY = 8  # steps between convergence checks (a small batched eigh each)


def gram_spectral_norm(w: Tensor) -> Tensor:
    """Largest singular value of each matrix, `(..., out, in)` -> `(...)`, float64.

    `sqrt(lambda_max(G))` of the Gram matrix `G` of the shorter side (`W W^T` or `W^T W`),
    by a symmetric eigensolver in float64: no singular vectors, and an n x n problem for
    the smaller n (500 x 500 P1 layers: ~1.3x faster than the SVD; 500 x 11: 11 x 11). The
    eigenvalue's absolute error is ~eps ||G|| = eps sigma_max^2, so sigma_max keeps a relative
    error ~eps (tests/test_spectral.py compares with the SVD).
    """
    w = w.detach().to(torch.float64)
    gram = w @ w.mT if w.shape[-2] <= w.shape[-1] else w.mT @ w
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0.0).sqrt()


def lanczos_spectral_norm(
    w: Tensor, tol: float = LANCZOS_TOL, max_steps: int = LANCZOS_MAX_STEPS
) -> tuple[Tensor, Tensor]:
    """Largest singular value of each matrix `(B, out, in)` by Lanczos on its Gram matrix;
    `((B,) float64, (B,) bool converged)`. Unconverged entries hold the last Ritz value."""
    w = w.detach().to(torch.float64)
    if w.shape[-2] < w.shape[-1]:
        w = w.mT  # iterate on W W^T: the shorter side
    w = w.contiguous()
    B, _, d = w.shape
    steps = min(d, max_steps)
    # one start vector for every matrix: a member's value does not depend on its batch
    start = torch.randn(d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = (start / start.norm()).to(w.device).expand(B, d).clone()
    basis = w.new_zeros(B, steps, d)
    alphas, betas = w.new_zeros(B, steps), w.new_zeros(B, steps)
    # each matrix keeps the Ritz value of the first check it passes and stops iterating, so
    # its value is the same in any batch
    sigma2, converged = w.new_zeros(B), torch.zeros(B, dtype=torch.bool)
    for j in range(steps):
        active = [b for b in range(B) if not converged[b]]
        basis[active, j] = q[active]
        for b in active:
            alphas[b, j], z = _lanczos_step(w[b], basis[b, : j + 1], q[b])
            betas[b, j] = beta = z.norm()
            # an exhausted Krylov space (beta = 0) goes on with q = 0: T gains a decoupled 0
            q[b] = torch.where(beta > 0, z / beta, 0.0)
        if (j + 1) % _CHECK_EVERY == 0 or j + 1 == steps:
            theta, ok = _ritz_top(alphas[active, : j + 1], betas[active, : j + 1], tol)
            last = j + 1 == steps
            for i, b in enumerate(active):
                if ok[i] or last:
                    sigma2[b], converged[b] = theta[i], bool(ok[i])
            if last or bool(converged.all()):
                break
    return sigma2.clamp_min(0.0).sqrt(), converged.to(w.device)


def _lanczos_step(w: Tensor, done: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
    """`alpha = q^T G q` and `G q` without its components along the rows of `done` (the
    Lanczos basis so far, q its last row), `G = W^T W`: full reorthogonalization, twice
    ("twice is enough"). Per matrix with `torch.mv`, which runs at memory speed (a batched
    product with one column does not)."""
    z = torch.mv(w.T, torch.mv(w, q))
    alpha = torch.dot(q, z)
    for _ in range(2):
        z = z - torch.mv(done.T, torch.mv(done, z))
    return alpha, z


def _ritz_top(alphas: Tensor, betas: Tensor, tol: float) -> tuple[Tensor, Tensor]:
    """Top Ritz value of the Lanczos tridiagonal `T_k` and whether its residual bound
    `beta_k |s_k|` (s: its eigenvector) is below `tol` of it; (B,) each."""
    off = betas[:, :-1]
    t = torch.diag_embed(alphas) + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    values, vectors = torch.linalg.eigh(t)
    theta = values[:, -1]
    residual = betas[:, -1] * vectors[:, -1, -1].abs()
    return theta, residual <= tol * theta.abs()


def spectral_norm(w: Tensor) -> Tensor:
    """`||W||_2` of each matrix `(..., out, in)` -> `(...)`, float64: Lanczos where the shorter
    side is at least `LANCZOS_MIN_SIDE` (the dense value where it does not converge), else
    `gram_spectral_norm`."""
    if min(w.shape[-2:]) < LANCZOS_MIN_SIDE or w[..., 0, 0].numel() == 0:
        return gram_spectral_norm(w)
    flat = w.reshape(-1, *w.shape[-2:])
    sigma, converged = lanczos_spectral_norm(flat, LANCZOS_TOL, LANCZOS_MAX_STEPS)
    if not bool(converged.all()):
        sigma[~converged] = gram_spectral_norm(flat[~converged])
    return sigma.reshape(w.shape[:-2])


def spectral_norms(weights: Sequence[Tensor]) -> list[Tensor]:
    """`spectral_norm` of every stacked `(E, out, in)` tensor, the ones of equal shape in one
    call (P1's hidden layers iterate together); `(E,)` each, in the given order."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, w in enumerate(weights):
        by_shape.setdefault(tuple(w.shape), []).append(i)
    out: list[Tensor] = [torch.empty(0)] * len(weights)
    for indices in by_shape.values():
        norms = spectral_norm(torch.stack([weights[i].detach() for i in indices]))
        for i, value in zip(indices, norms):
            out[i] = value
    return out
