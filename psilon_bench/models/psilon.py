"""Weight-normalized MLPs and CReLU ResNets: PSiLON Net / ResNet, Standard Net, SWN, EWN.

docs/methods.md (weight norm) and the closed-form path norms of §2.2-2.3, from
[PSiLON] A. Biswas, "Hidden Synergy: L1 Weight Normalization and 1-Path-Norm
Regularization", arXiv:2404.19112 (2024), and [EWN] D. Morwani, H. G. Ramaswamy,
"Inductive Bias of Gradient Descent for Weight Normalized Smooth Homogeneous Neural Nets",
arXiv:2010.12909. The layers are in `psilon_bench.models.weightnorm`.

One config (`WeightNormConfig`) covers the family; the model names are presets of it:

    psilon_net     norm l1, length shared, layout mlp        (§1.3)
    psilon_resnet  norm l1, length shared, layout residual   (§1.4)
    standard_net   norm l2, length per_unit, either layout   (§1.5)
    swn_mlp        norm l2, length per_unit                  ([EWN]'s SWN)
    ewn_mlp        norm l2, length exp_per_unit              ([EWN])

so the P2 ablations (L1/L2 x improved/original bound) are configurations, not classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from psilon_bench.config import choice
from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel, member_generators
from psilon_bench.models.mlp import PlainLinear
from psilon_bench.models.norms import path_norm_chain, residual_path_norm
from psilon_bench.models.weightnorm import CReLUPairLinear, WeightNormLinear

# ----------------------------------------------------------------------------------------
# Closed-form path norms (tested against the general chains of norms.py)


def psilon_net_path_norm(hidden: Sequence[WeightNormLinear], output: WeightNormLinear) -> Tensor:
    """`phi_PSiLON = (prod_{l<K} |g_l|) * sum_k |g_{K,k}|`, docs/methods.md (closed form) [PSiLON]; (E,).

    Exact when every hidden layer is L1-normalized with a shared length (each row of
    `|W_l|` sums to `|g_l|`) and the output layer is L1-normalized with per-output lengths,
    without folded biases. O(depth), differentiable (the §2.5 regularizer).
    """
    phi = output.lengths().abs().sum(dim=(1, 2))  # sum_k |g_K,k|, (E,)
    for layer in hidden:
        phi = phi * layer.lengths().abs().flatten()  # shared g_l: (E, 1, 1) -> (E,)
    return phi


def psilon_resnet_path_norm(
    embed: WeightNormLinear, blocks: Sequence[CReLUPairLinear], head: CReLUPairLinear
) -> Tensor:
    """`phi_IB = |g_0| * prod_l (1 + |g_l|) * sum_k |g_out,k|`, docs/methods.md (residual bounds) [PSiLON]; (E,).

    Exact for an L1-normalized embedder and blocks with shared lengths (rows of `|W_0|` and
    of `max(|A_l|, |B_l|)` sum to `|g_0|`, `|g_l|`) and an L1 pair head, biases not folded.
    """
    phi = head.lengths().abs().sum(dim=(1, 2)) * embed.lengths().abs().flatten()  # (E,)
    for block in blocks:
        phi = phi * (1.0 + block.lengths().abs().flatten())
    return phi


# ----------------------------------------------------------------------------------------
# Models


def _options(cfg: Any) -> dict[str, Any]:
    return {
        "norm": choice(cfg.norm),
        "length": choice(cfg.length),
        "fold_bias": bool(cfg.fold_bias),
        "direction_init": choice(cfg.direction_init),
        "length_init": choice(cfg.length_init),
    }


class WeightNormMLP(MemberModel):
    """E stacked weight-normalized ReLU MLPs, docs/methods.md (weight norm), §1.3, §1.5 [PSiLON], [EWN].

    `depth` hidden layers of `width` units with `length` (shared: PSiLON Net), then an output
    layer normalized the same way with one length per output (`exp_per_unit` stays
    exponential), or an ordinary linear layer (`output_layer="plain"`). Free biases (0 at
    init) unless `fold_bias`. Input `(E, B, d_in)` -> `(E, B, d_out)`.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        seeds: Sequence[int],
        width: int = 64,
        depth: int = 2,
        norm: str = "l1",
        length: str = "shared",
        fold_bias: bool = False,
        output_layer: str = "normalized",
        direction_init: str = "orthogonal",
        length_init: str = "one",
        init: str = "default",
        output_bias: bool = True,
    ):
        super().__init__()
        if not output_bias and output_layer != "plain":
            raise ConfigError(
                "model.output_bias=false needs model.output_layer=plain (a normalized output "
                "layer keeps its bias); allowed with normalized: output_bias=true"
            )
        if init == "kaiming_normal":  # [EWN]'s reference: W = a Kaiming-normal draw per layer
            direction_init, length_init = "kaiming_normal", "kaiming"
        self.n_members, self.d_in, self.d_out = len(seeds), d_in, d_out
        E = self.n_members
        gens = member_generators(seeds, "init")
        sizes = [d_in] + [width] * depth
        self.hidden = nn.ModuleList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layer = WeightNormLinear(E, fan_in, fan_out, norm, length, fold_bias)
            layer.init_(gens, direction_init, length_init)
            self.hidden.append(layer)
        if output_layer == "plain":
            self.output: WeightNormLinear | PlainLinear = PlainLinear(
                E, sizes[-1], d_out, bias=output_bias
            )
            self.output.init_(gens, init)
        else:
            out_length = "exp_per_unit" if length == "exp_per_unit" else "per_unit"
            self.output = WeightNormLinear(E, sizes[-1], d_out, norm, out_length, fold_bias)
            self.output.init_(gens, direction_init, length_init)
        self.closed_form = (
            norm == "l1" and length == "shared" and not fold_bias and output_layer != "plain"
        )

    @classmethod
    def from_config(cls, cfg: Any, d_in: int, d_out: int, seeds: Sequence[int]) -> WeightNormMLP:
        return cls(
            d_in, d_out, seeds, width=cfg.width, depth=cfg.depth,
            output_layer=choice(cfg.output_layer), init=choice(cfg.init),
            output_bias=bool(cfg.output_bias), **_options(cfg),
        )  # fmt: skip

    @property
    def layers(self) -> list[nn.Module]:
        return [*self.hidden, self.output]

    def forward(self, x: Tensor) -> Tensor:
        """x `(E, B, d_in)` -> `(E, B, d_out)`."""
        for layer in self.hidden:
            x = torch.relu_(layer(x))  # (E, B, width); in place: baddbmm's output is not needed
        return self.output(x)

    def decay_parameters(self) -> list[nn.Parameter]:
        """Raw directions `v` (and the plain output weight); never lengths or biases."""
        return [layer.direction for layer in self.hidden] + [_decayed(self.output)]

    def weight_matrices(self) -> list[Tensor]:
        """Effective weights `(E, out, in)`, input to output."""
        return [layer.weight_and_bias()[0] for layer in self.layers]

    def hidden_weight_matrices(self) -> list[Tensor]:
        return [layer.weight_and_bias()[0] for layer in self.hidden]

    def path_norm(self) -> Tensor:
        """1-path-norm, (E,): the closed form of docs/methods.md (closed form) where exact, else the §2.1 chain."""
        if self.closed_form:
            return psilon_net_path_norm(self.hidden, self.output)
        return path_norm_chain(self.weight_matrices())

    def squared_lengths(self) -> Tensor:
        """Standard Net penalty `sum_layers sum_units length_j^2`, docs/methods.md (Standard Net); (E,)."""
        return sum(layer.squared_lengths() for layer in self.layers)


class CReLUResNet(MemberModel):
    """E stacked CReLU residual nets (PSiLON ResNet), docs/methods.md (PSiLON ResNet) [PSiLON]; also §1.5's
    Standard ResNet (L2, per-unit lengths) and the P2 ablations.

        h_0 = W_0 x + b_0                                    normalized embedder, g_0 = 1
        h_l = h_{l-1} + A_l relu(h_{l-1}) - B_l relu(-h_{l-1}) + b_l     `depth` blocks
        f   = C relu(h_L) - D relu(-h_L) + c                 pair head, per-output lengths

    Blocks start as the identity (`B = A`, length 0); the head starts with `D = C`, so the
    net is affine at init. `bound` picks what `path_norm()` (the regularizer) returns:
    phi_IB (`improved`) or phi_OB (`original`), docs/methods.md (residual bounds).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        seeds: Sequence[int],
        width: int = 64,
        depth: int = 2,
        norm: str = "l1",
        length: str = "shared",
        fold_bias: bool = False,
        bound: str = "improved",
        direction_init: str = "orthogonal",
        length_init: str = "one",
    ):
        super().__init__()
        if length == "exp_per_unit":
            raise ConfigError(
                "model.length=exp_per_unit cannot start a residual block as the identity "
                "(exp(a) > 0); with model.layout=residual use shared or per_unit"
            )
        if bound not in ("improved", "original"):
            raise ValueError(f"bound must be 'improved' or 'original'; got {bound!r}")
        self.n_members, self.d_in, self.d_out, self.bound = len(seeds), d_in, d_out, bound
        E = self.n_members
        gens = member_generators(seeds, "init")
        self.embed = WeightNormLinear(E, d_in, width, norm, length, fold_bias)
        self.embed.init_(gens, direction_init, length_init)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            block = CReLUPairLinear(E, width, width, norm, length, fold_bias)
            block.init_(gens, direction_init, 0.0)  # length 0: the block is the identity
            self.blocks.append(block)
        self.head = CReLUPairLinear(E, width, d_out, norm, "per_unit", fold_bias)
        self.head.init_(gens, direction_init, length_init)
        self.closed_form = norm == "l1" and length == "shared" and not fold_bias

    @classmethod
    def from_config(cls, cfg: Any, d_in: int, d_out: int, seeds: Sequence[int]) -> CReLUResNet:
        if choice(cfg.init) != "default" or not cfg.output_bias:
            raise ConfigError(
                "model.init and model.output_bias are [EWN] options for model.layout=mlp; "
                "with model.layout=residual use init=default, output_bias=true"
            )
        if choice(cfg.output_layer) != "normalized":
            raise ConfigError(
                "model.output_layer=plain is for model.layout=mlp; the residual head is a "
                "normalized CReLU pair (allowed here: normalized)"
            )
        return cls(
            d_in, d_out, seeds, width=cfg.width, depth=cfg.depth, bound=choice(cfg.bound),
            **_options(cfg),
        )  # fmt: skip

    @property
    def layers(self) -> list[nn.Module]:
        return [self.embed, *self.blocks, self.head]

    def forward(self, x: Tensor) -> Tensor:
        """x `(E, B, d_in)` -> `(E, B, d_out)`."""
        h = self.embed(x)  # (E, B, width)
        for block in self.blocks:
            h = block(h).add_(h)  # h + A relu(h) - B relu(-h) + b
        return self.head(h)

    def residual_weights(
        self,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]], tuple[Tensor, Tensor]]:
        """Effective `(W_0, [(A_l, B_l)], (C, D))` for `residual_path_norm` and the metrics."""
        embed = self.embed.weight_and_bias()[0]
        return embed, [block.pair() for block in self.blocks], self.head.pair()

    def decay_parameters(self) -> list[nn.Parameter]:
        return [layer.direction for layer in self.layers]

    def weight_matrices(self) -> list[Tensor]:
        """`[W_0, A_1, B_1, ..., C, D]`, each `(E, out, in)` (CReLU halves separate, METHODS §6)."""
        return [m for layer in self.layers for m in layer.matrices()]

    def hidden_weight_matrices(self) -> list[Tensor]:
        """Incoming vectors of the embedder's units and of each block's units `(A_j, B_j)`
        (a block unit with both zero only passes the identity on)."""
        return [self.embed.incoming()] + [block.incoming() for block in self.blocks]

    def path_norm(self) -> Tensor:
        """phi_IB or phi_OB per `bound`, (E,): the §2.3 closed form where exact, else the chain."""
        if self.bound == "improved" and self.closed_form:
            return psilon_resnet_path_norm(self.embed, self.blocks, self.head)
        embed, blocks, head = self.residual_weights()
        return residual_path_norm(embed, blocks, head, bound=self.bound)

    def squared_lengths(self) -> Tensor:
        """Standard ResNet penalty of [PSiLON]'s reference code, docs/methods.md (Standard Net); (E,).

        `||W_0||_F^2 + sum_l (||A_l||_F^2 + ||B_l||_F^2) + ||C||_F^2 + ||D||_F^2` of the
        effective (normalized) matrices: per pair unit `||A_j||^2 + ||B_j||^2`, not the
        squared joint length `g_j^2` (with L2 weight norm it lies in [g_j^2, 2 g_j^2]).
        The reference code produced the paper's P2 table, so it is followed here (for the
        embedder, `||W_0||_F^2` = its squared lengths under L2 weight norm). Biases excluded.
        """
        return sum(layer.incoming().square().sum(dim=(1, 2)) for layer in self.layers)


def _decayed(layer: nn.Module) -> nn.Parameter:
    return layer.weight if isinstance(layer, PlainLinear) else layer.direction


def build_weightnorm(
    cfg: Any, d_in: int, d_out: int, seeds: Sequence[int]
) -> WeightNormMLP | CReLUResNet:
    """The weight-normalized model of `cfg` (`WeightNormConfig`): MLP or residual layout."""
    if choice(cfg.layout) == "residual":
        return CReLUResNet.from_config(cfg, d_in, d_out, seeds)
    return WeightNormMLP.from_config(cfg, d_in, d_out, seeds)
