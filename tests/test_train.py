"""The member-batched training loop: E members equal E separate runs, E = 1 equals a plain
PyTorch model, runs are deterministic, a diverging member is frozen and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import compose_config
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from psilon_bench import regularizers
from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.schedules import lr_at
from psilon_bench.engine.train import EpochOrder, MemberData, fit, plan_steps, task_loss
from psilon_bench.models.mlp import MLP
from psilon_bench.runner.experiment import run_experiment


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:200]).astype(np.float32)
    return torch.as_tensor(X), torch.as_tensor(y[:200])


def _data(x, y, E):
    return MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 2)


def _train(x, y, seeds, reg_name="none", strengths=None, steps=40, batch=16, opt=None):
    E = len(seeds)
    model = MLP(x.shape[1], 2, width=8, depth=2, seeds=seeds)
    strength = torch.tensor(strengths if strengths is not None else [0.0] * E)
    reg = regularizers.build(_reg_cfg(reg_name), strength)
    result = fit(
        model,
        _data(x, y, E),
        seeds,
        reg,
        opt or OptimizerConfig(lr=1e-2),
        ScheduleConfig(),
        plan_steps(x.shape[0], batch, None, steps),
    )
    return model, result


def _reg_cfg(name):
    from omegaconf import OmegaConf

    from psilon_bench.config import RegularizerConfig

    return OmegaConf.structured(RegularizerConfig(name=name))


@pytest.mark.parametrize(
    ("reg", "strengths"),
    [("none", None), ("l2", [1e-3, 0.0, 1e-2]), ("weight_decay", [1e-1, 0.0, 1.0])],
)
def test_e_members_equal_e_separate_single_runs(cancer, reg, strengths):
    x, y = cancer
    seeds = [3, 7, 11]
    batched, _ = _train(x, y, seeds, reg, strengths)
    for e, seed in enumerate(seeds):
        single, _ = _train(x, y, [seed], reg, None if strengths is None else [strengths[e]])
        for pb, ps in zip(batched.parameters(), single.parameters()):
            torch.testing.assert_close(pb[e], ps[0], rtol=1e-5, atol=1e-6)


def test_one_member_equals_a_plain_pytorch_model(cancer):
    """E = 1 against nn.Sequential(nn.Linear...) + torch.optim.Adam on the same batches."""
    x, y = cancer
    seed, steps, batch = 5, 30, 16
    member, _ = _train(x, y, [seed], steps=0)  # the initial weights
    plain = torch.nn.Sequential(
        torch.nn.Linear(30, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 2),
    )
    with torch.no_grad():
        for layer, w, b in zip(plain[::2], member.weights, member.biases):
            layer.weight.copy_(w[0])
            layer.bias.copy_(b[0])
    opt = torch.optim.Adam(plain.parameters(), lr=1e-2)
    order = EpochOrder([seed], x.shape[0], torch.device("cpu"))
    plan = plan_steps(x.shape[0], batch, None, steps)
    for step in range(steps):
        pos = (step % plan.steps_per_epoch) * batch
        if pos == 0:
            perm = order.next_epoch()[0]
        idx = perm[pos : pos + batch]
        loss = torch.nn.functional.cross_entropy(plain(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    batched, _ = _train(x, y, [seed], steps=steps, batch=batch)
    for layer, w, b in zip(plain[::2], batched.weights, batched.biases):
        torch.testing.assert_close(w[0], layer.weight, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b[0], layer.bias, rtol=1e-4, atol=1e-5)


def test_members_have_their_own_init_and_data_order(cancer):
    x, y = cancer
    model, _ = _train(x, y, [0, 1], steps=0)
    assert not torch.equal(model.weights[0][0], model.weights[0][1])
    order = EpochOrder([0, 1], 50, torch.device("cpu")).next_epoch()
    assert not torch.equal(order[0], order[1])


def test_diverging_member_is_frozen_and_others_go_on(cancer):
    x, y = cancer
    seeds = [0, 0]
    model, result = _train(
        x, y, seeds, "l2", [0.0, 1e38]
    )  # the second member's loss overflows at once
    assert result.diverged_step == [None, 0]
    init, _ = _train(x, y, [0], steps=0)
    for p, p0 in zip(model.parameters(), init.parameters()):
        torch.testing.assert_close(p[1], p0[0])  # frozen where it stood (step 0: the init)
    alone, _ = _train(x, y, [0], "l2", [0.0])
    for p, pa in zip(model.parameters(), alone.parameters()):
        torch.testing.assert_close(p[0], pa[0], rtol=1e-5, atol=1e-6)


def test_task_loss_per_member():
    out = torch.randn(3, 5, 4)
    y = torch.randint(0, 4, (3, 5))
    expected = torch.stack([torch.nn.functional.cross_entropy(out[e], y[e]) for e in range(3)])
    torch.testing.assert_close(task_loss(out, y, "classification"), expected)
    target = torch.randn(3, 5)
    torch.testing.assert_close(
        task_loss(out[..., :1], target, "regression"), ((out[..., 0] - target) ** 2).mean(dim=1)
    )


@pytest.mark.parametrize("classes", [2, 5])
def test_row_cross_entropy_against_torch(classes):
    """task_loss's own cross-entropy (value and gradient) against F.cross_entropy: float64
    gradcheck, float32 to rounding, class weights, large and -inf logits."""
    from psilon_bench.measure.metrics import _RowCrossEntropy

    gen = torch.Generator().manual_seed(classes)
    out = torch.randn(3, 40, classes, generator=gen, dtype=torch.float64) * 4
    out[0, :5] *= 300  # rows far from 0: the max shift keeps them finite
    out[1, 0, 1] = float("-inf")  # a class with zero probability, not the label
    y = torch.randint(0, classes, (3, 40), generator=gen)
    y[1, 0] = 0
    weight = torch.rand(3, classes, generator=gen, dtype=torch.float64)
    g = torch.rand(3, generator=gen, dtype=torch.float64)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-6)):
        z = out.to(dtype).requires_grad_()
        for cw in (None, weight.to(dtype)):
            ours = task_loss(z, y, "classification", cw)
            rows = torch.nn.functional.cross_entropy(
                z.reshape(-1, classes), y.reshape(-1), reduction="none"
            ).view(3, 40)
            ref = (rows if cw is None else rows * cw.gather(1, y)).mean(dim=1)
            torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
            grads = [torch.autograd.grad((v * g.to(dtype)).sum(), z)[0] for v in (ours, ref)]
            torch.testing.assert_close(grads[0], grads[1], rtol=tol, atol=tol)
    finite = out.clone()
    finite[1, 0, 1] = 0.0
    torch.autograd.gradcheck(
        lambda z: _RowCrossEntropy.apply(z, y[:, :6]), (finite[:, :6].clone().requires_grad_(),)
    )


def test_one_cycle_schedule_matches_protocol_p1():
    """docs/protocols.md P1: start 1e-4, peak 2e-3 at 20 %, end 5e-5 (the reference code's
    final rate, peak / 40), stepped per epoch."""
    cfg = compose_config(["schedule=one_cycle"]).schedule
    total, per_epoch = 100 * 5, 5  # 100 epochs of 5 steps
    lrs = [lr_at(s, 2e-3, cfg, total, per_epoch) for s in range(total)]
    assert lrs[0] == pytest.approx(1e-4)
    peak_step = int(np.argmax(lrs))
    assert lrs[peak_step] == pytest.approx(2e-3, rel=1e-3)
    assert abs(peak_step / total - 0.2) < 0.02
    assert lrs[-1] == pytest.approx(5e-5, rel=1e-9)
    assert min(lrs) == lrs[-1]
    longer = compose_config(["schedule=one_cycle", "schedule.div_final=1e4"]).schedule
    assert lr_at(total - 1, 2e-3, longer, total, per_epoch) == pytest.approx(1e-8, rel=1e-9)
    assert all(lrs[s] == lrs[s - s % per_epoch] for s in range(total))  # constant within an epoch
    assert all(a <= b for a, b in zip(lrs[:peak_step], lrs[1 : peak_step + 1]))  # rises, then falls
    assert all(a >= b for a, b in zip(lrs[peak_step:], lrs[peak_step + 1 :]))


def test_cosine_and_constant_schedules():
    cfg = compose_config(
        ["schedule=cosine", "schedule.warmup=0.1", "schedule.min_ratio=0.1"]
    ).schedule
    lrs = [lr_at(s, 1.0, cfg, 101, 10) for s in range(101)]
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    const = compose_config().schedule
    assert {lr_at(s, 0.3, const, 50, 7) for s in range(50)} == {0.3}


def _strip_times(record):
    return {k: v for k, v in record.items() if not k.startswith(("time.", "run_id"))}


def test_same_config_and_seed_give_identical_records(tmp_path):
    cfg = compose_config(
        ["trainer=quick", "seeds=[0,1]", "regularizer=l2", "regularizer.strength=[0.0,1e-3]"]
    )
    first = run_experiment(cfg, tmp_path / "a", threads=1)
    second = run_experiment(cfg, tmp_path / "b", threads=1)
    assert len(first) == 4
    assert [_strip_times(r) for r in first] == [_strip_times(r) for r in second]
    on_disk = [
        json.loads(line) for line in (tmp_path / "a" / "records.jsonl").read_text().splitlines()
    ]
    assert [_strip_times(r) for r in on_disk] == [_strip_times(r) for r in first]
    assert (tmp_path / "a" / "DONE").exists()


@pytest.mark.parametrize(
    ("n_rows", "epochs", "steps", "floor", "ceiling", "total"),
    [
        (100, 10, None, None, None, 40),  # ceil(100 / 32) = 4 steps per epoch
        (100, 10, None, 1000, None, 1000),  # the floor lifts a small set's budget
        (3000, 50, None, 1000, None, 4700),  # 94 steps per epoch: above the floor
        (3000, 50, None, 1000, 2000, 2000),  # the ceiling caps it
        (3000, 50, 700, 1000, 2000, 700),  # steps win over epochs and both bounds
    ],
)
def test_epoch_budget_is_clipped_to_its_floor_and_ceiling(
    n_rows, epochs, steps, floor, ceiling, total
):
    plan = plan_steps(n_rows, 32, epochs, steps, floor, ceiling)
    assert plan.total_steps == total
    assert plan.steps_per_epoch == -(-n_rows // 32)


def test_member_chunks():
    from psilon_bench.engine.train import member_chunks

    assert member_chunks(5, 10, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert member_chunks(13, 760_000, None) == [slice(i, min(i + 2, 13)) for i in range(0, 13, 2)]
    assert member_chunks(32, 6_000, None) == [slice(0, 32)]
    assert member_chunks(3, 10**9, None) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_chunked_members_give_the_same_records(tmp_path):
    base = ["trainer=quick", "seeds=[0,1,2]", "regularizer=l2", "regularizer.strength=[0.0,1e-2]"]
    whole = run_experiment(compose_config(base), tmp_path / "a", threads=1)
    chunked = run_experiment(
        compose_config([*base, "trainer.member_chunk=4"]), tmp_path / "b", threads=1
    )
    assert [r["time.member_chunk"] for r in (whole[0], chunked[0])] == [6, 4]

    def strip(r):
        return {k: v for k, v in _strip_times(r).items() if k != "cfg.trainer.member_chunk"}

    for a, b in zip(whole, chunked):
        assert strip(a).keys() == strip(b).keys()
        for k, v in strip(a).items():
            assert (
                v == pytest.approx(b[k], rel=1e-5, abs=1e-6) if isinstance(v, float) else v == b[k]
            ), k
