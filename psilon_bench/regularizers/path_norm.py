"""The path-norm regularizers (`regularizer=path_norm`, `length_l2`), docs/methods.md (path-norm regularizer) [PSiLON].

[PSiLON] A. Biswas, "Hidden Synergy: L1 Weight Normalization and 1-Path-Norm Regularization",
arXiv:2404.19112 (2024). The norms themselves (the §2.1 chain, the §2.3 residual bounds
phi_OB/phi_IB) are `psilon_bench.models.norms`, re-exported here.
"""

from __future__ import annotations

from torch import Tensor

from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel
from psilon_bench.models.norms import path_norm_chain, residual_path_norm
from psilon_bench.regularizers.base import PenaltyRegularizer

__all__ = ["LengthL2Penalty", "PathNormPenalty", "path_norm_chain", "residual_path_norm"]


# ----------------------------------------------------------------------------------------
# Regularizers (`regularizer=path_norm`, `regularizer=length_l2`)


class PathNormPenalty(PenaltyRegularizer):
    """`L_total = L_data + lambda * R`, R = the model's 1-path-norm bound, docs/methods.md (path-norm regularizer) [PSiLON].

    R is `model.path_norm()`: the O(depth) closed form for PSiLON Net / ResNet (§2.2, §2.3),
    phi_IB or phi_OB for other residual nets (`model.bound`), the §2.1 chain for any other
    model (the plain MLP too). Not squared; no proximal step.
    """

    def value(self, model: MemberModel) -> Tensor:
        return model.path_norm()


class LengthL2Penalty(PenaltyRegularizer):
    """The "Standard Net" penalty of [PSiLON], docs/methods.md (Standard Net): R = sum_layers sum_units length_j^2.

    For L2 weight norm with per-unit lengths this is `sum ||w_j||_2^2`; a shared length counts
    once per unit; a plain (unnormalized) output layer adds its `sum ||w_j||_2^2`. On the CReLU
    residual layout it follows the paper's reference code (which produced the P2 table): the
    squared Frobenius norms of the effective matrices, `||A_j||^2 + ||B_j||^2` per pair unit
    (`CReLUResNet.squared_lengths`), 1-2x the squared joint lengths.
    """

    def value(self, model: MemberModel) -> Tensor:
        squared_lengths = getattr(model, "squared_lengths", None)
        if squared_lengths is None:
            raise ConfigError(
                "regularizer=length_l2 needs a weight-normalized model (standard_net, "
                f"psilon_net, psilon_resnet, swn_mlp, ewn_mlp); got {type(model).__name__}"
            )
        return squared_lengths()
