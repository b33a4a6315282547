"""Member batching, in one place: E models stacked along a leading dimension.

Every layer of every model is an affine map applied to all E members at once with one
`torch.baddbmm` (hand-batched, docs/design.md "Members"; measured on the 2-core dev
machine at 30-64-64-2, batch 32, E = 32, one thread: 53 us per model-step against 107 us
for `torch.func.vmap` over `functional_call` and 590 us for a plain per-model loop).
Model code computes each member's effective weight with ordinary broadcasting over the
leading dimension, so the per-member mathematics reads as single-model code.
Large float32 CPU layers run the same products per member through oneDNN (`_use_onednn`;
`PSILON_ONEDNN=0` turns that off).

Each member has its own seed. Its parameters are initialised from a generator seeded by
that seed alone, so member e of a run equals the E = 1 run with the same seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from psilon_bench.models.norms import path_norm_chain


class _Affine(torch.autograd.Function):
    """`affine` with a weight gradient that comes out in the weight's own layout.

    Autograd's `bmm` backward hands `W` the transpose of `x^T G`, a strided view; every
    elementwise op that follows on it (a weight-norm backward, the optimizer) then runs on
    mixed layouts, unvectorized (measured ~15x slower per op at 500 x 500), and the leaf
    gets a transposed copy. Here `grad_W = G^T x` is computed directly as `(E, out, in)`
    (same FLOPs). Measured on the dev machine at P1's size (width 500, batch 400): a PSiLON
    step 7 % faster. Where the layer widens (`_transposed_weight_grad`) it is computed as
    `(x^T G)^T` instead.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        if _use_onednn(x, weight):
            return _onednn_nt(x, weight, bias)
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        return _affine_grads(ctx, grad, x, weight)


class _AffineReLU(torch.autograd.Function):
    """`relu(affine(x, W, b))` as one node (`affine_relu`): the ReLU in place on the matmul's
    output, and in the backward the ReLU's mask applied in place on the incoming gradient
    instead of into a new buffer, then `_Affine`'s gradients."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        out = _Affine.forward(ctx, x, weight, bias).relu_()
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable  # the in-place mask: no double backward
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, out = ctx.saved_tensors
        if grad.is_contiguous():  # the next affine's fresh input gradient (see affine_relu)
            grad = torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad)
        else:
            grad = torch.ops.aten.threshold_backward(grad, out, 0)
        return _affine_grads(ctx, grad, x, weight)


def _affine_grads(
    ctx: Any, grad: Tensor, x: Tensor, weight: Tensor
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The input, weight and bias gradients of `x W^T + b` from the output's gradient."""
    need_x, need_w, need_b = ctx.needs_input_grad
    grad_b = grad.sum(dim=1) if (need_b and ctx.has_bias) else None  # (E, out)
    if _use_onednn(x, weight):  # the same products through oneDNN, contiguous results
        grad_x = _onednn_nt(grad, weight.transpose(1, 2), None) if need_x else None
        grad_w = _onednn_nt(grad.transpose(1, 2), x.transpose(1, 2), None) if need_w else None
        return grad_x, grad_w, grad_b
    grad_x = torch.bmm(grad, weight) if need_x else None  # (E, B, in)
    grad_w = _weight_grad(grad, x) if need_w else None  # (E, out, in), contiguous
    return grad_x, grad_w, grad_b


#: Per member, `B * in * out` multiply-adds from which a layer's products go through oneDNN
#: (`_use_onednn`). Measured on the dev machine (Zen 5, one thread; forward and both backward
#: products per member, MKL / oneDNN): 400 x 500 x 500 1.90x, 400 x 11 x 500 1.32x, 256 x 128
#: x 128 1.28x, 128 x 128 x 128 (2^21) 1.09x; below it the ~11 us per call loses: 341 x 30 x 64
#: 0.77x, 32 x 64 x 64 0.18x, 400 x 500 x 1 0.53x.
ONEDNN_MIN_MACS = 2**21

#: Environment variable that turns the oneDNN route off when set to `0` (docs/design.md).
ONEDNN_ENV = "PSILON_ONEDNN"


def _onednn_linear() -> Callable[..., Tensor] | None:
    """torch's oneDNN matmul, `linear(a, b, bias, "none", [], "") = a b^T + bias` for 2-D
    float32 `a`, `b` (strided views allowed), or None where this torch build has none."""
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


_LINEAR = _onednn_linear()


def _use_onednn(x: Tensor, weight: Tensor) -> bool:
    """Whether a layer's three products run per member through oneDNN instead of MKL's
    bmm: on CPU in float32 (oneDNN has no float64 matmul), per member at least
    `ONEDNN_MIN_MACS`, unless `PSILON_ONEDNN=0`, and not while autograd records (a
    backward with `create_graph`: the oneDNN op has no derivative). torch.mm/bmm call MKL, which on AMD CPUs
    runs its AVX2 kernels at about half the speed of oneDNN's AVX-512 ones
    (docs/benchmarks.md); oneDNN is reached one matrix at a time (~11 us a call), hence the size."""
    return (
        _LINEAR is not None
        and x.shape[1] * weight.shape[1] * weight.shape[2] >= ONEDNN_MIN_MACS
        and x.dtype == weight.dtype == torch.float32
        and x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and os.environ.get(ONEDNN_ENV, "1") != "0"
    )


def _onednn_nt(a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    """`a[e] b[e]^T + bias[e]` per member through oneDNN: a (E, m, k), b (E, n, k), bias
    (E, n) or None -> (E, m, n), contiguous. Inputs may be strided views (no copies here)."""
    assert _LINEAR is not None
    out = torch.empty(a.shape[0], a.shape[1], b.shape[1], dtype=a.dtype)
    for e in range(a.shape[0]):
        out[e] = _LINEAR(a[e], b[e], None if bias is None else bias[e], "none", [], "")
    return out


def _transposed_weight_grad(x: Tensor, grad: Tensor) -> bool:
    """Whether `grad_W = G^T x` is faster as `(x^T G)^T`: on CPU, where the layer widens
    (out >= 2 in) over >= 128 rows. MKL runs the tall `(out, in)` product at half speed;
    measured on the dev machine (one thread, per step): 30 -> 64 with 32 members x 341 rows
    766 -> 486 us, 11 -> 500 with 3 x 400 (P1's first layer) 741 -> 211 us; no gain at 64 ->
    64, and a loss at 64 -> 2 (0.13x) or at 32 rows."""
    rows, fan_in, fan_out = x.shape[1], x.shape[2], grad.shape[2]
    return x.device.type == "cpu" and rows >= 128 and 2 * fan_in <= fan_out


def _weight_grad(grad: Tensor, x: Tensor) -> Tensor:
    """`G^T x` per member: grad (E, B, out), x (E, B, in) -> (E, out, in), contiguous."""
    if _transposed_weight_grad(x, grad):
        return torch.bmm(x.transpose(1, 2), grad).transpose(1, 2).contiguous()
    return torch.bmm(grad.transpose(1, 2), x)


def affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Per-member affine map: x (E, B, in), weight (E, out, in), bias (E, out) -> (E, B, out).

    One `baddbmm` forward; the backward is `_Affine`'s (contiguous weight gradients).
    """
    return _Affine.apply(x, weight, bias)


def affine_relu(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """`relu(affine(x, weight, bias))` (a hidden layer of a plain MLP), one autograd node.

    Its backward overwrites the gradient it receives with the ReLU's mask (measured: a
    full-batch MLP step ~3 % faster, no new activation-sized buffer): use it only where the
    output's one consumer is another `affine` or `affine_relu`, whose input gradient is a
    fresh tensor nothing else holds (a residual sum would hand the same tensor to both
    branches)."""
    return _AffineReLU.apply(x, weight, bias)


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for one use of a member's seed ("init", "data", ...)."""
    words = [int(seed) & 0xFFFFFFFF, *purpose.encode()]
    return int(np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)[0] >> 1)


def member_generators(seeds: Sequence[int], purpose: str) -> list[torch.Generator]:
    """One CPU generator per member, seeded from (seed, purpose)."""
    return [torch.Generator().manual_seed(derived_seed(s, purpose)) for s in seeds]


def init_members_(
    tensor: Tensor,
    generators: Sequence[torch.Generator],
    fill: Callable[[Tensor, torch.Generator], None],
) -> Tensor:
    """Fill `tensor[e]` with `fill(slice, generators[e])` member by member (on CPU, then copy)."""
    assert tensor.shape[0] == len(generators), "one generator per member"
    with torch.no_grad():
        for e, gen in enumerate(generators):
            cpu = torch.empty(tensor.shape[1:], dtype=torch.float32)
            fill(cpu, gen)
            tensor[e].copy_(cpu)
    return tensor


def kaiming_uniform_fill(t: Tensor, gen: torch.Generator) -> None:
    """nn.Linear's default weight init: Kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in))."""
    torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=gen)


def kaiming_normal_fill(t: Tensor, gen: torch.Generator) -> None:
    """Kaiming-normal, N(0, 2 / fan_in) (ReLU gain): [EWN]'s reference init (`kaiming_normal_`)."""
    torch.nn.init.kaiming_normal_(t, generator=gen)


def linear_bias_fill(fan_in: int) -> Callable[[Tensor, torch.Generator], None]:
    """nn.Linear's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def fill(t: Tensor, gen: torch.Generator) -> None:
        torch.nn.init.uniform_(t, -bound, bound, generator=gen)

    return fill


def orthogonal_fill(t: Tensor, gen: torch.Generator) -> None:
    """Orthogonal rows/columns ([PSiLON] init of directions)."""
    torch.nn.init.orthogonal_(t, generator=gen)


class MemberModel(torch.nn.Module):
    """Base of every model: E members, input (E, B, d_in) -> output (E, B, d_out).

    Subclasses name their parameters by role (STYLE.md: decide what decays by role, not
    by `ndim`, since stacked biases are 2-D too).
    """

    n_members: int
    d_in: int
    d_out: int

    def decay_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters that weight penalties and decoupled decays act on (weights / directions)."""
        raise NotImplementedError

    def weight_matrices(self) -> list[Tensor]:
        """Effective weight matrices (E, out, in), input to output (sparsity metrics)."""
        raise NotImplementedError

    def hidden_weight_matrices(self) -> list[Tensor]:
        """Incoming weights of the hidden units, each `(E, units, in)` (neuron sparsity, §6)."""
        return self.weight_matrices()[:-1]

    def path_norm(self) -> Tensor:
        """The model's 1-path-norm, (E,) in the weights' dtype (docs/methods.md (path norm) chain by default)."""
        return path_norm_chain(self.weight_matrices())
