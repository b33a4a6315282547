"""Divergence without a per-step host sync (train.Divergence, check_every > 1): the same
`diverged_step`, the other members untouched, the diverged one frozen at the last check."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_breast_cancer

from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP


class InfAt:
    """A penalty hook: 0 for every member, except inf for `member` at optimizer step `at`."""

    def __init__(self, n_members: int, member: int | None, at: int):
        self.n, self.member, self.at, self.calls = n_members, member, at, 0

    def penalty(self, model):
        out = torch.zeros(self.n)
        if self.calls == self.at and self.member is not None:
            out[self.member] = float("inf")
        self.calls += 1
        return out

    def before_step(self, model, lr):
        return None

    def after_step(self, model, state):
        return None


def _fit(steps: int, check_every: int, member: int | None = 1, at: int = 7):
    X, y = load_breast_cancer(return_X_y=True)
    x = torch.as_tensor((X[:120] - X[:120].mean(0)) / X[:120].std(0), dtype=torch.float32)
    y = torch.as_tensor(y[:120])
    seeds = [0, 1, 2]
    model = MLP(30, 2, width=8, depth=2, seeds=seeds)
    data = MemberData(x.expand(3, *x.shape), y.expand(3, *y.shape), "classification", 2)
    result = fit(
        model,
        data,
        seeds,
        InfAt(3, member, at),
        OptimizerConfig(lr=1e-2),
        ScheduleConfig(),
        plan_steps(120, 16, None, steps),
        check_every=check_every,
    )
    return model, result


@pytest.mark.parametrize("check_every", [4, 25])
def test_lazy_checks_record_the_same_step_and_spare_the_others(check_every):
    eager, eager_result = _fit(30, check_every=1)
    lazy, lazy_result = _fit(30, check_every=check_every)
    assert eager_result.diverged_step == lazy_result.diverged_step == [None, 7, None]
    for pe, pl in zip(eager.parameters(), lazy.parameters()):
        for e in (0, 2):
            assert torch.equal(pe[e], pl[e])
    # frozen at the last check before step 7: the parameters of a clean run that long
    last_check = (7 // check_every) * check_every
    clean, clean_result = _fit(last_check, check_every=1, member=None)
    assert clean_result.diverged_step == [None, None, None]
    for pl, pc in zip(lazy.parameters(), clean.parameters()):
        assert torch.equal(pl[1], pc[1])
