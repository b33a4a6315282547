"""Weight-normalized affine layers for E stacked members, docs/methods.md (weight norm) and §1.4.

References:
- [PSiLON] A. Biswas, "Hidden Synergy: L1 Weight Normalization and 1-Path-Norm
  Regularization", arXiv:2404.19112 (2024): L1 weight norm, shared lengths, CReLU pairs.
- [EWN] D. Morwani, H. G. Ramaswamy, "Inductive Bias of Gradient Descent for Weight
  Normalized Smooth Homogeneous Neural Nets", arXiv:2010.12909: exponential lengths.

Each unit j has a raw direction `v_j` and a length; its incoming vector is

    w_j = length_j * v_j / ||v_j||_p          p = 1 (`norm: l1`) or 2 (`norm: l2`)

with `length: shared` (one g per layer, PSiLON), `per_unit` (g_j: SWN, "Standard Net") or
`exp_per_unit` (exp(a_j): EWN). An all-zero `v_j` gives `w_j = 0` (the norm is replaced by
1, so its gradient stays finite too). With `fold_bias` the bias is a raw entry `beta_j` of the
same normalized vector (the input augmented with a constant 1): `(w_j, b_j) = length_j *
(v_j, beta_j) / ||(v_j, beta_j)||_p`; it is stored beside `v` so `v` stays the weight matrix.

Every tensor has the member dimension first (`v`: `(E, out, in)`, lengths `(E, 1, 1)` or
`(E, out, 1)`); the effective weight is one broadcast product, so the code reads as
single-model code. The layers share one interface, used by the models, the closed-form
path norms, the metrics and the pruners:

- `weight_and_bias()`: effective weight and bias (`(E, out, in)`, `(E, out)`);
- `lengths()`: `g`, or `exp(a)`; `matrices()`: effective weight matrices for metrics
  (`[W]`, or `[A, B]` for a CReLU pair); `incoming()`: each unit's whole incoming vector;
- `mask_(masks)`, `remove_units_(keep)`: pruning edits of the raw parameters;
- `projection`: None, or the L1-sphere projection blend of docs/methods.md (pruning) (set by
  `psilon_bench.pruning`): the unit direction becomes `(1 - a) v/||v||_1 + a P(s v/||v||_1)`,
  whose rows keep unit L1 norm, so `||w_j||_1 = |length_j|` holds during and after pruning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from psilon_bench.models.members import (
    affine,
    init_members_,
    kaiming_normal_fill,
    kaiming_uniform_fill,
    orthogonal_fill,
)
from psilon_bench.models.projection import (
    blended_direction,
    crelu_pair_norm,
    crelu_pair_projection,
    psilon_projection_target,
)

NORM_ORDER = {"l1": 1, "l2": 2}
LENGTHS = ("shared", "per_unit", "exp_per_unit")
Fill = Callable[[Tensor, torch.Generator], None]


@dataclass
class Projection:
    """State of the L1-sphere projection schedule, docs/methods.md (pruning) [PSiLON]."""

    blend: float  # a_t in [0, 1]
    scale: float | None  # s >= 1: the target is P(s v / ||v||_1); None: s per row (relative)
    threshold: float = 0.1  # scale None: cut entries below threshold * the row's mean


def row_norm(v: Tensor, p: int) -> Tensor:
    """`||v_j||_p` of every row, `(..., out, in)` -> `(..., out, 1)`.

    p = 1 as `abs().sum()`: on the dev machine `vector_norm(ord=1)` is ~7x slower (no SIMD).
    """
    if p == 1:
        return v.abs().sum(dim=-1, keepdim=True)
    return torch.linalg.vector_norm(v, ord=p, dim=-1, keepdim=True)


def augmented_norm(norm: Tensor, beta: Tensor, p: int) -> Tensor:
    """`||(v_j, beta_j)||_p` from `||v_j||_p` and the folded bias `beta_j`; `(..., out, 1)`."""
    return norm + beta.abs() if p == 1 else torch.hypot(norm, beta)


def nonzero(norm: Tensor) -> Tensor:
    """A row norm with zeros replaced by 1: an all-zero row divides to zeros, gradient finite."""
    return torch.where(norm > 0, norm, torch.ones_like(norm))


def direction_fill(kind: str) -> Fill:
    """Member-wise fill of a raw direction: `orthogonal` [PSiLON], `kaiming_uniform`, or
    `kaiming_normal` ([EWN]'s reference)."""
    fills = {"orthogonal": orthogonal_fill, "kaiming_uniform": kaiming_uniform_fill}
    return {**fills, "kaiming_normal": kaiming_normal_fill}[kind]


class NormalizedLayer(nn.Module):
    """Lengths, bias and projection state shared by `WeightNormLinear` and `CReLUPairLinear`.

    Subclasses hold `direction` (raw, member dim first) and define `_row_magnitudes()` (the
    rows whose p-norm is the normalizer), `_expand(t)` (an `(E, out, 1)` tensor broadcast
    against `direction`) and the projection target.
    """

    direction: nn.Parameter

    def __init__(self, n_members: int, fan_out: int, norm: str, length: str, fold_bias: bool):
        super().__init__()
        if norm not in NORM_ORDER:
            raise ValueError(f"norm must be one of {sorted(NORM_ORDER)}; got {norm!r}")
        if length not in LENGTHS:
            raise ValueError(f"length must be one of {LENGTHS}; got {length!r}")
        self.norm, self.p = norm, NORM_ORDER[norm]
        self.length_kind, self.fold_bias = length, fold_bias
        E = n_members
        units = 1 if length == "shared" else fan_out
        if length == "exp_per_unit":
            self.log_length = nn.Parameter(torch.zeros(E, units, 1))  # a, length = exp(a)
        else:
            self.length = nn.Parameter(torch.ones(E, units, 1))  # g (any sign)
        if fold_bias:
            self.bias_direction = nn.Parameter(torch.zeros(E, fan_out, 1))  # beta, normalized
            self.bias = None
        else:
            self.bias = nn.Parameter(torch.zeros(E, fan_out))  # free, unnormalized
        self.projection: Projection | None = None

    # ---- lengths -------------------------------------------------------------------
    def lengths(self) -> Tensor:
        """`g` (shared `(E, 1, 1)`, per unit `(E, out, 1)`) or `exp(a)` (`(E, out, 1)`)."""
        return self.log_length.exp() if self.length_kind == "exp_per_unit" else self.length

    def length_parameter(self) -> nn.Parameter:
        return self.log_length if self.length_kind == "exp_per_unit" else self.length

    def squared_lengths(self) -> Tensor:
        """`sum_j length_j^2` over the units (a shared g counts once per unit), docs/methods.md (Standard Net); (E,)."""
        per_unit = self.lengths().square().expand(-1, self.fan_out, 1)  # (E, out, 1)
        return per_unit.sum(dim=(1, 2))

    @property
    def fan_out(self) -> int:
        return self.direction.shape[1]

    # ---- the effective weight --------------------------------------------------------
    def _row_magnitudes(self) -> Tensor:
        raise NotImplementedError

    def _expand(self, t: Tensor) -> Tensor:
        return t

    def _projected_unit(self, projection: Projection) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def _norm(self) -> Tensor:
        """Guarded row normalizer `(E, out, 1)` (with the folded bias when `fold_bias`)."""
        norm = row_norm(self._row_magnitudes(), self.p)
        if self.fold_bias:
            norm = augmented_norm(norm, self.bias_direction, self.p)
        return nonzero(norm)

    def weight_and_bias(self) -> tuple[Tensor, Tensor]:
        """Effective `length * direction / ||direction||` (shaped like `direction`) and bias `(E, out)`.

        Without a projection: one `(E, out, 1)` scale `g / n`, then one broadcast product.
        Under a projection (docs/methods.md (pruning)): `g` times the blended unit direction.
        """
        g = self.lengths()
        if self.projection is None:
            scale = g / self._norm()  # (E, out, 1)
            w = self.direction * self._expand(scale)
            beta = self.bias_direction * scale if self.fold_bias else None
        else:
            unit, beta_unit = self._projected_unit(self.projection)  # unit-L1 rows
            w = unit * self._expand(g)
            beta = beta_unit * g if self.fold_bias else None
        return w, (beta.squeeze(-1) if self.fold_bias else self.bias)

    # ---- pruning edits ---------------------------------------------------------------
    @torch.no_grad()
    def bake_projection_(self) -> None:
        """Store the current (projected) unit direction as the raw direction, end the blend.

        The rows of the unit direction have norm 1, so the layer computes the same function
        afterwards, and zeros of the projection stay exact zeros.
        """
        if self.projection is None:
            return
        unit, beta = self._projected_unit(self.projection)
        self.direction.copy_(unit)
        if self.fold_bias:
            self.bias_direction.copy_(beta)
        self.projection = None

    @torch.no_grad()
    def remove_units_(self, keep: Tensor) -> None:
        """Zero the raw incoming vector and bias of every unit with `keep` False, `(E, out)`.

        The unit's activation is then relu(0) = 0. Its outgoing weights are left in place:
        they multiply 0, and zeroing them would rescale the rest of a normalized row.
        """
        k = keep.to(self.direction.dtype).unsqueeze(-1)  # (E, out, 1)
        self.direction.mul_(self._expand(k))
        if self.fold_bias:
            self.bias_direction.mul_(k)
        else:
            self.bias.mul_(k.squeeze(-1))


class WeightNormLinear(NormalizedLayer):
    """E stacked weight-normalized affine layers, `(E, B, in) -> (E, B, out)`, docs/methods.md (weight norm).

    `w_j = length_j * v_j / ||v_j||_p` [PSiLON] (p = 1, shared length: a PSiLON layer,
    whose rows all have L1 norm `|g|`), [EWN] (exp lengths). Parameters: `direction` v
    `(E, out, in)`; `length` g `(E, 1, 1)` / `(E, out, 1)` or `log_length` a `(E, out, 1)`;
    `bias` `(E, out)`, or `bias_direction` `(E, out, 1)` with `fold_bias`.
    """

    def __init__(
        self,
        n_members: int,
        fan_in: int,
        fan_out: int,
        norm: str = "l1",
        length: str = "shared",
        fold_bias: bool = False,
    ):
        super().__init__(n_members, fan_out, norm, length, fold_bias)
        self.direction = nn.Parameter(torch.zeros(n_members, fan_out, fan_in))

    def _row_magnitudes(self) -> Tensor:
        return self.direction

    def _projected_unit(self, projection: Projection) -> tuple[Tensor, Tensor | None]:
        if self.p != 1:
            raise ValueError("the L1-sphere projection needs an L1-normalized layer (norm=l1)")
        raw = self.direction
        if self.fold_bias:
            raw = torch.cat([raw, self.bias_direction], dim=-1)  # (E, out, in + 1)
        target = psilon_projection_target(raw, projection.scale, projection.threshold)
        unit = target if projection.blend >= 1 else blended_direction(raw, target, projection.blend)
        if self.fold_bias:
            return unit[..., :-1], unit[..., -1:]
        return unit, None

    def forward(self, x: Tensor) -> Tensor:
        """x `(E, B, in)` -> `(E, B, out)`."""
        w, b = self.weight_and_bias()
        return affine(x, w, b)

    def matrices(self) -> list[Tensor]:
        return [self.weight_and_bias()[0]]

    def incoming(self) -> Tensor:
        """Each unit's incoming weights (bias excluded), `(E, out, in)`."""
        return self.weight_and_bias()[0]

    @torch.no_grad()
    def mask_(self, masks: Sequence[Tensor]) -> None:
        """Zero raw direction entries where `masks[0]` `(E, out, in)` is False (rows renormalize)."""
        (mask,) = masks
        self.direction.mul_(mask.to(self.direction.dtype))

    @torch.no_grad()
    def init_(
        self, gens: Sequence[torch.Generator], direction_init: str, length_init: str | float
    ) -> None:
        """Per-member init, docs/methods.md (weight norm): direction (orthogonal [PSiLON] or Kaiming-uniform),
        then the length: a number, `"one"` (g = 1, a = 0), or `"kaiming"` (the row norm of a
        Kaiming-uniform reference draw: `w_j` has the reference row's norm; with a Kaiming
        direction init, the reference IS the direction, so `W` equals an nn.Linear init).
        EWN directions get unit L2 rows [EWN]. Biases stay 0.
        """
        _init_direction(self, self.direction, gens, direction_init, length_init)


class CReLUPairLinear(NormalizedLayer):
    """`h -> A relu(h) - B relu(-h) + b` with `(A, B)` normalized jointly, docs/methods.md (PSiLON ResNet) [PSiLON].

    Raw rows `u_j`, `u'_j`, joint norm `n_j = ||max(|u_j|, |u'_j|)||_p` (p = 1 is [PSiLON]'s
    `sum_i max(|u_ji|, |u'_ji|)`; p = 2 is the same rule for the L2 ablations **(choice)**),
    `A_j = g_j u_j / n_j`, `B_j = g_j u'_j / n_j`: each row of `max(|A|, |B|)` has p-norm
    `|g_j|`. `direction` is `(E, out, 2, in)` (`[..., 0, :]` = u, `[..., 1, :]` = u'), so
    `[A | B]` is one `(E, out, 2 in)` matrix applied to the features `(relu(h), min(h, 0))`
    (since `-B relu(-h) = B min(h, 0)`): one batched product per block.
    """

    def __init__(
        self,
        n_members: int,
        fan_in: int,
        fan_out: int,
        norm: str = "l1",
        length: str = "shared",
        fold_bias: bool = False,
    ):
        super().__init__(n_members, fan_out, norm, length, fold_bias)
        self.direction = nn.Parameter(torch.zeros(n_members, fan_out, 2, fan_in))

    def _row_magnitudes(self) -> Tensor:
        return self.direction.abs().amax(dim=-2)  # max(|u|, |u'|), (E, out, in)

    def _expand(self, t: Tensor) -> Tensor:
        return t.unsqueeze(-1)  # (E, out, 1) -> (E, out, 1, 1)

    def _projected_unit(self, projection: Projection) -> tuple[Tensor, Tensor | None]:
        if self.p != 1:
            raise ValueError("the L1-sphere projection needs an L1-normalized layer (norm=l1)")
        u, u_neg = self.direction[..., 0, :], self.direction[..., 1, :]  # (E, out, in) each
        if self.fold_bias:  # the bias is one entry of both halves: max(|beta|, |beta|) = |beta|
            u = torch.cat([u, self.bias_direction], dim=-1)
            u_neg = torch.cat([u_neg, self.bias_direction], dim=-1)
        t, t_neg = crelu_pair_projection(u, u_neg, projection.scale, projection.threshold)
        if projection.blend < 1:
            joint = crelu_pair_norm(u, u_neg)
            t = blended_direction(u, t, projection.blend, norm=joint)
            t_neg = blended_direction(u_neg, t_neg, projection.blend, norm=joint)
        if self.fold_bias:
            return torch.stack([t[..., :-1], t_neg[..., :-1]], dim=-2), t[..., -1:]
        return torch.stack([t, t_neg], dim=-2), None

    def forward(self, h: Tensor) -> Tensor:
        """h `(E, B, in)` -> `A relu(h) - B relu(-h) + b`, `(E, B, out)`."""
        w, b = self.weight_and_bias()
        E, out, _, fan_in = w.shape
        features = torch.cat([torch.relu(h), h.clamp_max(0.0)], dim=-1)  # (E, B, 2 in)
        return affine(features, w.reshape(E, out, 2 * fan_in), b)

    def pair(self) -> tuple[Tensor, Tensor]:
        """Effective `(A, B)`, each `(E, out, in)`."""
        w, _ = self.weight_and_bias()
        return w[..., 0, :], w[..., 1, :]

    def matrices(self) -> list[Tensor]:
        return list(self.pair())

    def incoming(self) -> Tensor:
        """Each unit's whole incoming vector `(A_j, B_j)`, `(E, out, 2 in)`."""
        w, _ = self.weight_and_bias()
        return w.flatten(-2)

    @torch.no_grad()
    def mask_(self, masks: Sequence[Tensor]) -> None:
        """Zero raw entries where the masks of `A` and `B` (each `(E, out, in)`) are False."""
        mask_a, mask_b = masks
        self.direction.mul_(torch.stack([mask_a, mask_b], dim=-2).to(self.direction.dtype))

    @torch.no_grad()
    def init_(
        self, gens: Sequence[torch.Generator], direction_init: str, length_init: str | float
    ) -> None:
        """`u` by `direction_init`, `u' = u` ("looks-linear": at init the pair computes
        `A h`), then the length as in `WeightNormLinear.init_`, docs/methods.md (PSiLON ResNet)."""
        u = torch.empty(self.direction.shape[0], self.fan_out, self.direction.shape[-1])
        _init_direction(self, u, gens, direction_init, length_init)
        self.direction.copy_(torch.stack([u, u], dim=-2))


@torch.no_grad()
def _init_direction(
    layer: NormalizedLayer,
    direction: Tensor,
    gens: Sequence[torch.Generator],
    direction_init: str,
    length_init: str | float,
) -> None:
    """Fill `direction` `(E, out, in)` and the layer's length, member by member."""
    init_members_(direction, gens, direction_fill(direction_init))
    if length_init == "kaiming":
        if direction_init in ("kaiming_uniform", "kaiming_normal"):
            reference = direction.clone()  # the direction draw is the reference layer
        else:
            reference = init_members_(torch.empty_like(direction), gens, kaiming_uniform_fill)
        norms = row_norm(reference, layer.p)  # (E, out, 1), the reference rows' norms
        if layer.length_kind == "shared":
            norms = norms.mean(dim=1, keepdim=True)  # one length: the mean row norm
        value = norms.log() if layer.length_kind == "exp_per_unit" else norms
    elif length_init == "one":
        value = torch.ones(())  # g = 1; a = log 1 = 0
        if layer.length_kind == "exp_per_unit":
            value = torch.zeros(())
    else:
        if layer.length_kind == "exp_per_unit":
            if not float(length_init) > 0:
                raise ValueError(f"an exponential length must start > 0; got {length_init}")
            value = torch.tensor(math.log(float(length_init)))
        else:
            value = torch.tensor(float(length_init))
    layer.length_parameter().copy_(value.expand_as(layer.length_parameter()))
    if layer.length_kind == "exp_per_unit":  # [EWN]: unit rows (the length carries the scale)
        direction.div_(nonzero(row_norm(direction, 2)))
