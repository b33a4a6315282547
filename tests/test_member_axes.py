"""Member axes (issue 9): `optimizer.lr` as a list. Member e with learning rate lr_e equals
a separate run at lr_e; the grid is seeds x strengths x learning rates; records carry `lr`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from psilon_bench import regularizers
from psilon_bench.config import OptimizerConfig, RegularizerConfig, ScheduleConfig
from psilon_bench.engine.train import MemberData, fit, plan_steps
from psilon_bench.models.mlp import MLP
from psilon_bench.runner.experiment import run_experiment
from psilon_bench.runner.grid import Members


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:200]).astype(np.float32)
    return torch.as_tensor(X), torch.as_tensor(y[:200])


def _train(x, y, seeds, lrs, reg="none", strengths=None, opt=None, schedule=None):
    E = len(seeds)
    model = MLP(x.shape[1], 2, width=8, depth=2, seeds=seeds)
    strength = torch.tensor(strengths if strengths is not None else [0.0] * E)
    reg_cfg = OmegaConf.structured(RegularizerConfig(name=reg))
    if reg == "lp_bridge":
        reg_cfg = OmegaConf.create({"name": "lp_bridge", "strength": 0.0, "p": 0.8})
    data = MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 2)
    fit(
        model,
        data,
        seeds,
        regularizers.build(reg_cfg, strength),
        opt or OptimizerConfig(),
        schedule or ScheduleConfig(),
        plan_steps(x.shape[0], 16, None, 40),
        lrs=lrs,
    )
    return model


SGD = OptimizerConfig(name="sgd", momentum=0.9, nesterov=True)
ONE_CYCLE = ScheduleConfig(name="one_cycle")


@pytest.mark.parametrize(
    ("reg", "strengths", "opt", "schedule"),
    [
        ("none", None, None, None),
        ("weight_decay", [0.5, 0.5, 1.0], None, ONE_CYCLE),
        ("lp_bridge", [0.1, 0.3, 0.1], SGD, None),
    ],
)
def test_per_member_learning_rates_equal_separate_runs(cancer, reg, strengths, opt, schedule):
    x, y = cancer
    seeds, lrs = [3, 3, 7], [1e-2, 2.5e-3, 4e-3]
    batched = _train(x, y, seeds, lrs, reg, strengths, opt, schedule)
    for e, seed in enumerate(seeds):
        single = _train(
            x,
            y,
            [seed],
            [lrs[e]],
            reg,
            None if strengths is None else [strengths[e]],
            opt,
            schedule,
        )
        for pb, ps in zip(batched.parameters(), single.parameters()):
            torch.testing.assert_close(pb[e], ps[0], rtol=1e-5, atol=1e-6)
    # the rate matters: member 0 and member 1 (same seed, other rate) differ
    assert not torch.allclose(batched.weights[0][0], batched.weights[0][1], atol=1e-3)


def test_member_grid_is_seeds_by_strengths_by_lrs():
    cfg = compose_config(
        [
            "seeds=[4,5]",
            "regularizer=l2",
            "regularizer.strength=[0.0,0.1]",
            "optimizer.lr=[1e-3,1e-2]",
        ]
    )
    members = Members.from_config(cfg)
    assert len(members) == 8
    assert members.rows[:3] == [
        {"fold": None, "seed": 4, "strength": 0.0, "lr": 1e-3},
        {"fold": None, "seed": 4, "strength": 0.0, "lr": 1e-2},
        {"fold": None, "seed": 4, "strength": 0.1, "lr": 1e-3},
    ]
    assert members.seeds == [4] * 4 + [5] * 4 and members.split_seeds == members.seeds
    one = Members.from_config(compose_config(["seeds=3"]))
    assert one.seeds == [0, 1, 2] and one.lrs == [1e-3] * 3


def test_records_carry_lr_and_equal_single_lr_runs(tmp_path):
    base = ["trainer=quick", "seeds=[0,1]", "dataset=iris"]
    both = run_experiment(compose_config([*base, "optimizer.lr=[1e-2,1e-3]"]), tmp_path / "a", 1)
    assert [(r["member"], r["seed"], r["lr"]) for r in both] == [
        (0, 0, 1e-2),
        (1, 0, 1e-3),
        (2, 1, 1e-2),
        (3, 1, 1e-3),
    ]
    alone = run_experiment(compose_config([*base, "optimizer.lr=1e-3"]), tmp_path / "b", 1)
    for a, b in zip((both[1], both[3]), alone):
        assert a["lr"] == b["lr"] == 1e-3
        for key in ("val.log_loss", "test.accuracy", "path_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key


def test_lr_list_is_validated(tmp_path):
    from psilon_bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"optimizer\.lr must be in \(0, inf\); got 0"):
        run_experiment(compose_config(["optimizer.lr=[1e-3,0]"]), tmp_path, 1)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
