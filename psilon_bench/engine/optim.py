"""Adam and SGD steps over stacked member parameters, without `torch.optim`.

The arithmetic is PyTorch's own fused kernels (`torch._fused_adam_`, `torch._fused_sgd_`),
called exactly as `torch.optim.Adam(fused=True)` / `torch.optim.SGD(fused=True)` call them,
so a step is bit-identical to theirs (tests/test_optim.py). What is skipped is the
`torch.optim.Optimizer` machinery: building one imports `torch._dynamo` (~1.1 s on the dev
machine, more than a short run's training). Adam: Kingma & Ba (2015), Algorithm 1; the
optimizer's own weight decay is always 0 (decay is a regularizer's job).

Per-member learning rates: `step(lr)` takes a float, or one learning rate per member
(`(E,)`); the kernels take one scalar lr, so members are grouped by their lr and each group
is stepped on views of its rows of every stacked tensor (`(E, ...)`, member first). The
kernels are elementwise, so member e gets the arithmetic of a one-member run with its
learning rate, up to rounding (a kernel's vector/scalar split follows a view's length).
Give per-member learning rates as floats or a float64 tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from psilon_bench.config import choice


class MemberOptimizer:
    """Shared parts: the parameters, their per-parameter `state` (as in torch.optim)."""

    def __init__(self, params: Sequence[Tensor]):
        self.params = list(params)
        self.state: dict[Tensor, dict[str, Any]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _with_grads(self) -> list[Tensor]:
        return [p for p in self.params if p.grad is not None]

    def step(self, lr: float | Sequence[float] | Tensor) -> None:
        params = self._with_grads()
        if not params:
            return
        groups = _lr_groups(lr)
        self._prepare(params)
        for value, rows in groups:
            if rows is None:
                self._kernel(params, value, lambda t: t)
            else:
                self._kernel(params, value, lambda t, rows=rows: [t[a:b] for a, b in rows])

    def _prepare(self, params: list[Tensor]) -> None:  # state set-up once per step
        raise NotImplementedError

    def _kernel(self, params: list[Tensor], lr: float, rows: Any) -> None:
        raise NotImplementedError


class Adam(MemberOptimizer):
    """`torch.optim.Adam(params, lr, betas, eps, weight_decay=0, fused=True)`, step by step."""

    def __init__(self, params: Sequence[Tensor], betas: tuple[float, float], eps: float):
        super().__init__(params)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)

    def _prepare(self, params: list[Tensor]) -> None:
        for p in params:
            if p not in self.state:  # lazily, like torch.optim: the step counter in float32
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        torch._foreach_add_([self.state[p]["step"] for p in params], 1)

    def _kernel(self, params: list[Tensor], lr: float, rows: Any) -> None:
        views: list[list[Tensor]] = [[], [], [], [], []]
        for p in params:
            s = self.state[p]
            parts = [rows(p), rows(p.grad), rows(s["exp_avg"]), rows(s["exp_avg_sq"])]
            n = len(parts[0]) if isinstance(parts[0], list) else 1
            for i, part in enumerate(parts):
                views[i].extend(part if isinstance(part, list) else [part])
            views[4].extend([s["step"]] * n)
        torch._fused_adam_(
            views[0],
            views[1],
            views[2],
            views[3],
            [],
            views[4],
            amsgrad=False,
            lr=lr,
            beta1=self.beta1,
            beta2=self.beta2,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )


class SGD(MemberOptimizer):
    """`torch.optim.SGD(params, lr, momentum, nesterov, weight_decay=0, fused=True)`."""

    def __init__(self, params: Sequence[Tensor], momentum: float, nesterov: bool):
        super().__init__(params)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._first = False

    def _prepare(self, params: list[Tensor]) -> None:
        # torch.optim's rule: the first step is the one where no parameter has a buffer yet
        self._first = self.momentum != 0 and not any(p in self.state for p in params)
        if self.momentum != 0:
            for p in params:
                if p not in self.state:
                    self.state[p] = {"momentum_buffer": torch.empty_like(p.grad)}

    def _kernel(self, params: list[Tensor], lr: float, rows: Any) -> None:
        views: list[list[Tensor]] = [[], [], []]
        for p in params:
            parts = [rows(p), rows(p.grad)]
            if self.momentum != 0:
                parts.append(rows(self.state[p]["momentum_buffer"]))
            for i, part in enumerate(parts):
                views[i].extend(part if isinstance(part, list) else [part])
        torch._fused_sgd_(
            views[0],
            views[1],
            views[2],
            weight_decay=0.0,
            momentum=self.momentum,
            lr=lr,
            dampening=0.0,
            nesterov=self.nesterov,
            maximize=False,
            is_first_step=self._first,
            grad_scale=None,
            found_inf=None,
        )


def _lr_groups(
    lr: float | Sequence[float] | Tensor,
) -> list[tuple[float, list[tuple[int, int]] | None]]:
    """`[(lr, rows)]`: one scalar lr for all members (rows None), or per distinct member lr the
    runs `[(start, stop)]` of consecutive members that have it."""
    if isinstance(lr, Tensor):
        lr = lr.detach().cpu().double().flatten().tolist()
    if not isinstance(lr, (list, tuple)):
        return [(float(lr), None)]
    values = [float(v) for v in lr]
    if len(set(values)) == 1:
        return [(values[0], None)]
    runs: dict[float, list[tuple[int, int]]] = {}
    start = 0
    for e in range(1, len(values) + 1):
        if e == len(values) or values[e] != values[start]:
            runs.setdefault(values[start], []).append((start, e))
            start = e
    return list(runs.items())


def make_optimizer(params: Sequence[Tensor], cfg: Any) -> MemberOptimizer:
    """The base optimizer of `cfg` (`optimizer` group: adam | sgd), weight decay 0."""
    name = choice(cfg.name)
    if name == "adam":
        return Adam(params, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    if name == "sgd":
        return SGD(params, momentum=cfg.momentum, nesterov=cfg.nesterov)
    raise ValueError(f"unknown optimizer {name!r}")
