"""Baseline ReLU MLP, docs/methods.md (MLP): h_1 = W_1 x + b_1, h_l = W_l relu(h_{l-1}) + b_l."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from psilon_bench.models.members import (
    MemberModel,
    affine,
    affine_relu,
    init_members_,
    kaiming_normal_fill,
    kaiming_uniform_fill,
    linear_bias_fill,
    member_generators,
)


class PlainLinear(nn.Module):
    """An ordinary affine layer: the baseline MLP's layers, and weight-normalized models'
    `output_layer: plain` [EWN]; docs/methods.md (MLP) init.

    `weight` `(E, out, in)`, `bias` `(E, out)`, PyTorch's nn.Linear init per member. Same
    interface as the normalized layers (its "length" is each row's L2 norm). `bias=False`:
    no bias ([EWN]'s output layer); `bias` is then a constant zero buffer, not trained.
    """

    def __init__(self, n_members: int, fan_in: int, fan_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_members, fan_out, fan_in))
        if bias:
            self.bias = nn.Parameter(torch.zeros(n_members, fan_out))
        else:
            self.register_buffer("bias", torch.zeros(n_members, fan_out))
        self.projection = None

    @torch.no_grad()
    def init_(self, gens: Sequence[torch.Generator], init: str = "default") -> None:
        """`default`: nn.Linear's (Kaiming-uniform weight, uniform bias); `kaiming_normal`:
        [EWN]'s reference (N(0, 2/fan_in) weight, zero bias)."""
        if init == "kaiming_normal":
            init_members_(self.weight, gens, kaiming_normal_fill)
            self.bias.zero_()
            return
        init_members_(self.weight, gens, kaiming_uniform_fill)
        if isinstance(self.bias, nn.Parameter):
            init_members_(self.bias, gens, linear_bias_fill(self.weight.shape[-1]))

    def weight_and_bias(self) -> tuple[Tensor, Tensor]:
        return self.weight, self.bias

    def forward(self, x: Tensor) -> Tensor:
        return affine(x, self.weight, self.bias)

    def matrices(self) -> list[Tensor]:
        return [self.weight]

    def incoming(self) -> Tensor:
        return self.weight

    def squared_lengths(self) -> Tensor:
        """`sum_j ||w_j||_2^2`, (E,)."""
        return self.weight.square().sum(dim=(1, 2))

    @torch.no_grad()
    def mask_(self, masks: Sequence[Tensor]) -> None:
        (mask,) = masks
        self.weight.mul_(mask.to(self.weight.dtype))

    @torch.no_grad()
    def remove_units_(self, keep: Tensor) -> None:
        k = keep.to(self.weight.dtype)
        self.weight.mul_(k.unsqueeze(-1))
        self.bias.mul_(k)


class MLP(MemberModel):
    """E stacked ReLU MLPs d_in -> width x depth -> d_out, nn.Linear's default init per member
    (`init="kaiming_normal"`: [EWN]'s reference init); `output_bias=False`: no output bias."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        width: int,
        depth: int,
        seeds: Sequence[int],
        init: str = "default",
        output_bias: bool = True,
    ):
        super().__init__()
        self.n_members, self.d_in, self.d_out = len(seeds), d_in, d_out
        sizes = [d_in] + [width] * depth + [d_out]
        gens = member_generators(seeds, "init")
        self.layers = nn.ModuleList()
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bias = output_bias or k < len(sizes) - 2
            layer = PlainLinear(self.n_members, fan_in, fan_out, bias=bias)
            layer.init_(gens, init)  # weight, then bias, layer by layer: each member's own stream
            self.layers.append(layer)

    def forward(self, x: Tensor) -> Tensor:
        """x (E, B, d_in) -> (E, B, d_out)."""
        *hidden, last = self.layers
        for layer in hidden:  # each output's one consumer is the next layer (affine_relu)
            x = affine_relu(x, layer.weight, layer.bias)  # (E, B, width)
        return last(x)

    @property
    def weights(self) -> list[nn.Parameter]:
        """The weight matrices (E, out, in), input to output."""
        return [layer.weight for layer in self.layers]

    @property
    def biases(self) -> list[nn.Parameter]:
        """The biases (E, out), input to output."""
        return [layer.bias for layer in self.layers]

    def decay_parameters(self) -> list[nn.Parameter]:
        return self.weights

    def weight_matrices(self) -> list[Tensor]:
        return self.weights
