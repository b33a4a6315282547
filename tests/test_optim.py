"""psilon_bench.engine.optim against torch.optim's fused Adam/SGD: bit-identical steps."""

from __future__ import annotations

import pytest
import torch

from psilon_bench.engine.optim import SGD, Adam, _lr_groups


def _params(seed: int, E: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(E, 7, 5), (E, 7), (E, 3, 7), (E, 1)]
    return [torch.randn(s, generator=g).requires_grad_(True) for s in shapes]


def _grads(params: list[torch.Tensor], step: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(p.shape, generator=g) * (step + 1) for p in params]


def _run(make, lrs: list[float], steps: int = 6) -> list[torch.Tensor]:
    params = _params(0)
    opt, step_fn = make(params)
    for t in range(steps):
        for p, g in zip(params, _grads(params, t)):
            p.grad = g.clone()
        with torch.no_grad():
            step_fn(opt, lrs[t % len(lrs)])
    return [p.detach() for p in params]


def _torch_step(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()


CASES = {
    "adam": (
        lambda ps: (
            torch.optim.Adam(ps, lr=1.0, betas=(0.9, 0.99), eps=1e-7, fused=True),
            _torch_step,
        ),
        lambda ps: (Adam(ps, betas=(0.9, 0.99), eps=1e-7), lambda o, lr: o.step(lr)),
    ),
    "sgd": (
        lambda ps: (torch.optim.SGD(ps, lr=1.0, fused=True), _torch_step),
        lambda ps: (SGD(ps, momentum=0.0, nesterov=False), lambda o, lr: o.step(lr)),
    ),
    "sgd momentum": (
        lambda ps: (torch.optim.SGD(ps, lr=1.0, momentum=0.9, fused=True), _torch_step),
        lambda ps: (SGD(ps, momentum=0.9, nesterov=False), lambda o, lr: o.step(lr)),
    ),
    "sgd nesterov": (
        lambda ps: (
            torch.optim.SGD(ps, lr=1.0, momentum=0.8, nesterov=True, fused=True),
            _torch_step,
        ),
        lambda ps: (SGD(ps, momentum=0.8, nesterov=True), lambda o, lr: o.step(lr)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_step_equals_torch_fused_bit_for_bit(name):
    reference, ours = CASES[name]
    lrs = [1e-2, 3e-3, 5e-2]
    expected, got = _run(reference, lrs), _run(ours, lrs)
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    assert not torch.equal(got[0], _params(0)[0])  # the parameters did move


@pytest.mark.parametrize("name", list(CASES))
def test_per_member_lr_equals_one_member_runs(name):
    _, ours = CASES[name]
    member_lrs = [1e-2, 3e-2, 3e-2, 1e-3]
    params = _params(0)
    opt, _ = ours(params)
    singles = [
        [p.detach()[e : e + 1].clone().requires_grad_(True) for p in params] for e in range(4)
    ]
    single_opts = [ours(s)[0] for s in singles]
    for t in range(5):
        grads = _grads(params, t)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        for e, s in enumerate(singles):
            for p, g in zip(s, grads):
                p.grad = g[e : e + 1].clone()
        with torch.no_grad():
            opt.step(torch.tensor(member_lrs, dtype=torch.float64) * (t + 1))
            for e, o in enumerate(single_opts):
                o.step(member_lrs[e] * (t + 1))
    # equal up to rounding: the fused kernels' vector/scalar split follows a view's length
    for e, s in enumerate(singles):
        for p, q in zip(params, s):
            torch.testing.assert_close(p.detach()[e : e + 1], q.detach(), rtol=1e-6, atol=1e-7)


def test_lr_groups():
    assert _lr_groups(0.1) == [(0.1, None)]
    assert _lr_groups([0.1, 0.1]) == [(0.1, None)]
    assert _lr_groups([0.1, 0.2, 0.2, 0.1]) == [(0.1, [(0, 1), (3, 4)]), (0.2, [(1, 3)])]
