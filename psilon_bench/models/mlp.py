"""Baseline ReLU MLP, METHODS.md §1.1: h_1 = W_1 x + b_1, h_l = W_l relu(h_{l-1}) + b_l."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from psilon_bench.models.members import (
    MemberModel,
    affine,
    init_members_,
    kaiming_uniform_fill,
    linear_bias_fill,
    member_generators,
)


class MLP(MemberModel):
    """E stacked ReLU MLPs d_in -> width x depth -> d_out, nn.Linear's default init per member."""

    def __init__(self, d_in: int, d_out: int, width: int, depth: int, seeds: Sequence[int]):
        super().__init__()
        self.n_members, self.d_in, self.d_out = len(seeds), d_in, d_out
        sizes = [d_in] + [width] * depth + [d_out]
        gens = member_generators(seeds, "init")
        E = self.n_members
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            w = init_members_(torch.empty(E, fan_out, fan_in), gens, kaiming_uniform_fill)
            b = init_members_(torch.empty(E, fan_out), gens, linear_bias_fill(fan_in))
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: Tensor) -> Tensor:
        """x (E, B, d_in) -> (E, B, d_out)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = affine(x, w, b)  # (E, B, out)
            if i < last:
                x = torch.relu_(x)  # in place: saves an activation-sized buffer per layer
        return x

    def decay_parameters(self) -> list[nn.Parameter]:
        return list(self.weights)

    def weight_matrices(self) -> list[Tensor]:
        return list(self.weights)
