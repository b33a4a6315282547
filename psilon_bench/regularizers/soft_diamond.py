"""The soft-diamond penalty of docs/methods.md (soft diamond) [SD], as a custom autograd function.

[SD] O. Adigun, B. Kosko, "Soft Diamond Regularizers for Deep Learning", arXiv:2412.20724.

Each weight gets the negative log of a symmetric alpha-stable (SaS) prior at scale c,
shifted so that a zero weight costs nothing:

    R(w) = -log p_{alpha,c}(w) + log p_{alpha,c}(0) = -log(p_alpha(w/c) / p_alpha(0)),

so R(0) = 0 and R >= 0; the constant log p(0) changes no gradient. The forward pass reads
R from the table's cubic Hermite -log p, the backward pass the table's score,
dR/dw = psi_{alpha,c}(w) = psi_alpha(w/c)/c, so the penalty is exact in the loss and costs
one table look-up in the gradient (no autograd through the interpolation). The strength
lambda multiplies outside: `L_total = L_data + lambda * R_total`.

`SoftDiamond` (`regularizer=soft_diamond`) is the regularizer the training loop calls: it
builds (or loads from the disk cache) the table for `alpha` once and adds
`lambda_e * sum_i R(w_i)` over the model's decay parameters to member e's loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, autograd

from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel
from psilon_bench.regularizers.base import PenaltyRegularizer
from psilon_bench.regularizers.stable import StableTable


class SoftDiamondPenalty(autograd.Function):
    """Elementwise R(w) = -log(p_{alpha,c}(w)/p_{alpha,c}(0)); backward psi_{alpha,c}(w).

    `apply(w, table, scale)` returns `(R, psi)`: w any shape, `scale` a float or a tensor
    broadcastable with w (for example (E, 1, 1) against stacked weights (E, out, in)); both
    outputs have the broadcast shape. The forward computes R and psi from one table look-up
    and keeps psi for the backward (psi is not differentiable). A tensor `scale` that
    requires grad gets dR/dc = -psi_{alpha,c}(w) w / c. Works under `torch.func` transforms
    (vmap, grad) through the generated vmap rule.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(w: Tensor, table: StableTable, scale: Tensor | float) -> tuple[Tensor, Tensor]:
        return table.neg_log_pdf_ratio_and_score(w, scale)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        w, _, scale = inputs
        _, psi = output
        ctx.mark_non_differentiable(psi)
        ctx.scale_is_tensor = isinstance(scale, Tensor)
        ctx.w_shape, ctx.w_dtype = w.shape, w.dtype
        if ctx.scale_is_tensor:
            ctx.save_for_backward(psi, w, scale)
        else:
            ctx.save_for_backward(psi)

    @staticmethod
    def backward(
        ctx: Any, grad: Tensor, _grad_psi: Tensor | None
    ) -> tuple[Tensor | None, None, Tensor | None]:
        psi = ctx.saved_tensors[0]
        grad_w = grad_scale = None
        if ctx.needs_input_grad[0]:
            grad_w = grad * psi
            if grad_w.shape != ctx.w_shape:
                grad_w = grad_w.sum_to_size(ctx.w_shape)
            grad_w = grad_w.to(ctx.w_dtype)
        if ctx.needs_input_grad[2]:
            _, w, scale = ctx.saved_tensors
            grad_scale = (-grad * psi * w / scale).sum_to_size(scale.shape).to(scale.dtype)
        return grad_w, None, grad_scale


def soft_diamond_elementwise(w: Tensor, table: StableTable, scale: Tensor | float = 1.0) -> Tensor:
    """R(w) of every entry (docs/methods.md (soft diamond) [SD]); the broadcast shape of w and scale.

    The single-member view to use under `torch.func.vmap`: `soft_diamond_elementwise(w, ...).sum()`.
    """
    return SoftDiamondPenalty.apply(w, table, scale)[0]


def soft_diamond_penalty(w: Tensor, table: StableTable, scale: Tensor | float = 1.0) -> Tensor:
    """Per-member soft-diamond penalty sum_i R(w_i), docs/methods.md (soft diamond) [SD]; (E,).

    w: stacked weights (E, ...) with the member dimension first, e.g. (E, out, in).
    scale: the SaS scale c > 0, a float or a tensor broadcastable to w, e.g. (E, 1, 1) for
    one scale per member. R(w) = -log(p_{alpha,c}(w)/p_{alpha,c}(0)), so R(0) = 0.
    A per-member strength lambda (E,) multiplies the result: `(lam * penalty).sum()`.

    Example::

        >>> table = StableTable(1.5)
        >>> w = torch.zeros(3, 4, 5, requires_grad=True)
        >>> soft_diamond_penalty(w, table, torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)).shape
        torch.Size([3])
    """
    values = SoftDiamondPenalty.apply(w, table, scale)[0]  # (E, ...)
    return values.reshape(values.shape[0], -1).sum(dim=1)


class _SoftDiamondSum(autograd.Function):
    """`sum_i R(w_i)` per member over several stacked tensors `(E, ...)`, in one table
    look-up over their concatenation; backward `grad_e * psi` straight into each tensor's
    shape (no gradient of the concatenation to split and copy back). The same values as
    `soft_diamond_penalty` of the concatenation, bit for bit."""

    @staticmethod
    def forward(ctx: Any, table: StableTable, scale: float, *weights: Tensor) -> Tensor:
        flats = [w.flatten(1) for w in weights]
        flat = flats[0] if len(flats) == 1 else torch.cat(flats, dim=1)  # (E, n_weights)
        ratio, psi = table.neg_log_pdf_ratio_and_score(flat, scale)
        ctx.save_for_backward(psi)
        ctx.shapes = [w.shape for w in weights]
        return ratio.sum(dim=1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (psi,) = ctx.saved_tensors
        per_member = grad.view(-1, 1)
        grads, start = [], 0
        for shape in ctx.shapes:
            n = psi.shape[1] if len(ctx.shapes) == 1 else shape[1:].numel()
            grads.append((per_member * psi[:, start : start + n]).view(shape))
            start += n
        return (None, None, *grads)


def sas_scale(alpha: float, scale: float | None = None, dispersion: float | None = None) -> float:
    """The SaS scale c from exactly one of `scale` (c) or `dispersion` (gamma = c^alpha), §5 [SD].

    [SD] speaks of the dispersion gamma of the characteristic function `exp(-gamma |t|^alpha)`;
    `c = gamma^(1/alpha)`.
    """
    if (scale is None) == (dispersion is None):
        raise ConfigError(
            "regularizer.scale and regularizer.dispersion: set exactly one "
            f"(scale = dispersion^(1/alpha)); got scale={scale}, dispersion={dispersion}"
        )
    c = float(scale) if scale is not None else float(dispersion) ** (1.0 / alpha)
    if not c > 0:
        key = "scale" if scale is not None else "dispersion"
        raise ConfigError(
            f"regularizer.{key} must be > 0; got {scale if scale is not None else dispersion}"
        )
    return c


class SoftDiamond(PenaltyRegularizer):
    """`regularizer=soft_diamond`: lambda_e * sum_i R(w_i), the SaS prior's -log density, §5 [SD].

    R(w) = -log(p_{alpha,c}(w) / p_{alpha,c}(0)) (`SoftDiamondPenalty`: table `-log p`
    forward, table score `psi_{alpha,c}(w) = psi_alpha(w/c)/c` backward), summed over
    `model.decay_parameters()`: the weight matrices of the plain MLP, the directions `v` of
    weight-normalized models; never biases or lengths. alpha = 2 is ridge with
    `R = w^2 / (4 c^2)`, alpha = 1 the Cauchy penalty `log(1 + w^2/c^2)`; smaller alpha gives a
    heavier-tailed prior: quadratic near 0 (curvature `kappa_alpha / c^2`), redescending score
    `(1 + alpha)/|w|` far out, so large weights are barely shrunk.

    All decay parameters are flattened into one `(E, n_weights)` tensor so the table is read
    with one set of kernels per step, not one per layer.

    Args:
        strength: lambda_e >= 0 per member, `(E,)`.
        alpha: the stability index, 0 < alpha <= 2.
        scale: c > 0, or None when `dispersion` is given.
        dispersion: gamma = c^alpha > 0, or None when `scale` is given.
        table: a prebuilt `StableTable(alpha)` (tests, benchmarks); built or loaded if None.
    """

    def __init__(
        self,
        strength: Tensor,
        alpha: float,
        scale: float | None = None,
        dispersion: float | None = None,
        table: StableTable | None = None,
    ):
        super().__init__(strength)
        self.scale = sas_scale(alpha, scale, dispersion)
        if table is not None and table.alpha != float(alpha):
            raise ValueError(f"table is for alpha={table.alpha}; the regularizer has alpha={alpha}")
        self.table = table if table is not None else StableTable(alpha)
        self.alpha = self.table.alpha

    def value(self, model: MemberModel) -> Tensor:
        """sum_i R(w_i) over all decay parameters, per member; (E,)."""
        return _SoftDiamondSum.apply(self.table, self.scale, *model.decay_parameters())
