"""The 1-path-norm chain: pure mathematics shared by models, regularizers and measures.

1-path-norms of ReLU MLPs and CReLU residual nets, docs/methods.md (path norm), §2.3 [PSiLON], [PNT].

References:
- [PSiLON] A. Biswas, "Hidden Synergy: L1 Weight Normalization and 1-Path-Norm
  Regularization", arXiv:2404.19112 (2024): the improved residual bound phi_IB.
- [PNT] A. Gonon et al., "A path-norm toolkit for modern networks", ICLR 2024: the
  path-norm is one forward pass of the absolute weights on the all-ones input.

Every weight carries leading batch ("member") dimensions: a layer is `(E, out, in)` (row j =
unit j's incoming vector), and each function returns one value per member, `(E,)`. Any
number of leading dimensions works, none included (then the result is a scalar), so the
functions also run under `torch.func.vmap`. Biases never enter. The value is computed in the
weights' dtype and is differentiable (it doubles as the §2.5 regularizer); callers cast
to float64 for the reported metric, or pass float64 weights.

The closed forms of §2.2 and §2.3 (PSiLON Net, PSiLON ResNet) live with their models and
are tested against these chains; the chains are the one implementation of the formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["path_norm_chain", "residual_path_norm"]


def _apply(weight_abs: Tensor, v: Tensor) -> Tensor:
    """`|W| v` for stacked `|W|` `(..., out, in)` and `v` `(..., in)` -> `(..., out)`."""
    return torch.einsum("...oi,...i->...o", weight_abs, v)


def _check_chain(weights: Sequence[Tensor]) -> None:
    if len(weights) == 0:
        raise ValueError("path_norm_chain needs at least one weight matrix; got none")
    for k, (prev, nxt) in enumerate(zip(weights[:-1], weights[1:])):
        if nxt.shape[-1] != prev.shape[-2]:
            raise ValueError(
                f"weights[{k + 1}] must take {prev.shape[-2]} inputs (the outputs of "
                f"weights[{k}], shape {tuple(prev.shape)}); got shape {tuple(nxt.shape)}"
            )


def path_norm_chain(weights: Sequence[Tensor]) -> Tensor:
    """General 1-path-norm `1^T |W_K| ... |W_1| 1` of a ReLU MLP, docs/methods.md (path norm) [PNT]; (E,).

    One pass of the absolute weights on the all-ones vector (no bias, no activation); it is
    the l_inf -> l_1 Lipschitz bound `||f(x) - f(y)||_1 <= phi ||x - y||_inf`.

    Args:
        weights: effective weights in forward order, `W_1` `(E, n_1, d_in)`, ...,
            `W_K` `(E, d_out, n_{K-1})`; leading dimensions must broadcast.

    Returns:
        `(E,)` in the promoted dtype of the weights, differentiable.
    """
    _check_chain(weights)
    dtype = weights[0].dtype
    for w in weights[1:]:
        dtype = torch.promote_types(dtype, w.dtype)
    first = weights[0]
    v = first.new_ones(first.shape[-1], dtype=dtype)  # (d_in,), broadcast over members
    for w in weights:
        v = _apply(w.abs().to(dtype), v)  # (E, n_k)
    return v.sum(dim=-1)


def residual_path_norm(
    embed: Tensor,
    blocks: Sequence[tuple[Tensor, Tensor]],
    head: tuple[Tensor, Tensor],
    bound: str = "improved",
) -> Tensor:
    """phi_OB or phi_IB of a CReLU residual net, docs/methods.md (residual bounds) [PSiLON], [PNT]; (E,).

    The net: `h_0 = W_0 x + b_0`, `h_l = h_{l-1} + A_l relu(h_{l-1}) - B_l relu(-h_{l-1}) + b_l`,
    `f = C relu(h_L) - D relu(-h_L) + c`.

    - `bound="original"`: `phi_OB = 1^T (|C|+|D|) prod_l (|I+A_l| + |I+B_l|) |W_0| 1`, the
      plain 1-path-norm with the 2m CReLU channels as separate neurons (the identity of
      each block is routed through them: `h = relu(h) - relu(-h)`).
    - `bound="improved"`: `phi_IB = 1^T max(|C|,|D|) prod_l (I + max(|A_l|,|B_l|)) |W_0| 1`
      (entrywise max): one CReLU branch is active per coordinate. `phi_IB <= phi_OB`.

    Computed as one pass of a vector through the chain; no matrix product is formed.

    Args:
        embed: `W_0`, `(E, m, d_in)`.
        blocks: `(A_l, B_l)` per block, each `(E, m, m)`; may be empty.
        head: `(C, D)`, each `(E, d_out, m)`.
        bound: `"improved"` (default) or `"original"` (a `config.Bound` works too).

    Returns:
        `(E,)` in the promoted dtype of the weights, differentiable.
    """
    if bound not in ("improved", "original"):
        raise ValueError(f"bound must be 'improved' or 'original'; got {bound!r}")
    m = embed.shape[-2]
    for k, (a, b) in enumerate(blocks):
        if a.shape[-2:] != (m, m) or b.shape[-2:] != (m, m):
            raise ValueError(
                f"blocks[{k}] must be two ({m}, {m}) matrices (after the member dims); "
                f"got {tuple(a.shape)} and {tuple(b.shape)}"
            )
    c, d = head
    if c.shape[-1] != m or d.shape[-1] != m or c.shape[-2:] != d.shape[-2:]:
        raise ValueError(
            f"head must be two (d_out, {m}) matrices (after the member dims); "
            f"got {tuple(c.shape)} and {tuple(d.shape)}"
        )
    tensors = [embed, c, d] + [t for pair in blocks for t in pair]
    dtype = embed.dtype
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)

    v = _apply(embed.abs().to(dtype), embed.new_ones(embed.shape[-1], dtype=dtype))  # (E, m)
    eye = torch.eye(m, dtype=dtype, device=embed.device)
    for a, b in blocks:
        a, b = a.to(dtype), b.to(dtype)
        if bound == "original":
            v = _apply((eye + a).abs() + (eye + b).abs(), v)  # (E, m)
        else:
            v = v + _apply(torch.maximum(a.abs(), b.abs()), v)  # (E, m)
    c, d = c.to(dtype), d.to(dtype)
    head_abs = c.abs() + d.abs() if bound == "original" else torch.maximum(c.abs(), d.abs())
    return _apply(head_abs, v).sum(dim=-1)  # (E,)
