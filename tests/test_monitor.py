"""Evaluation during training (issues 7, 9): learning curves, best-validation checkpoints
(equal to a run stopped at that step), class weights and balanced accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import compose_config
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from psilon_bench.config import OptimizerConfig, ScheduleConfig
from psilon_bench.engine.monitor import Monitor, eval_interval, eval_steps
from psilon_bench.engine.train import MemberData, balanced_class_weights, fit, plan_steps
from psilon_bench.errors import ConfigError
from psilon_bench.measure.metrics import classification_metrics, predict
from psilon_bench.models.mlp import MLP
from psilon_bench.regularizers.base import Regularizer
from psilon_bench.runner.experiment import run_experiment


def _data(x, y, E):
    return MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), "classification", 2)


@pytest.fixture(scope="module")
def small():
    """40 training rows (a net overfits them fast) and 200 validation rows."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    x, y = torch.as_tensor(X), torch.as_tensor(y)
    return (x[:40], y[:40]), (x[40:240], y[40:240])


def _fit(train, seeds, steps, monitor=None, class_weight=None, width=64, lr=3e-2):
    E = len(seeds)
    model = MLP(train[0].shape[1], 2, width=width, depth=2, seeds=seeds)
    fit(
        model,
        _data(*train, E),
        seeds,
        Regularizer(torch.zeros(E)),
        OptimizerConfig(lr=lr),
        ScheduleConfig(),
        plan_steps(train[0].shape[0], 8, None, steps),
        class_weight=class_weight,
        monitor=monitor,
    )
    return model


def test_eval_steps_and_default_interval():
    assert eval_steps(3, 10) == [3, 6, 9, 10] and eval_steps(5, 10) == [5, 10]
    assert eval_interval(None, 5000) == 50 and eval_interval(None, 30) == 10
    assert eval_interval(None, 451) == 10 and eval_interval(None, 1001) == 11
    assert len(eval_steps(eval_interval(None, 1234), 1234)) in range(95, 106)
    assert eval_interval(7, 5000) == 7


def test_best_checkpoint_equals_a_run_stopped_at_that_step(small):
    train, val = small
    seeds, steps = [0, 1, 2], 150
    monitor = Monitor(_data(*val, 3), every=10, n_steps=steps, keep_best=True)
    kept = _fit(train, seeds, steps, monitor)
    best = monitor.best_steps()
    assert all(b is not None and b % 10 == 0 for b in best)
    assert min(best) < steps  # the test means something: some member stopped early
    curves = monitor.curve_rows([{"seed": s} for s in seeds])
    for e, seed in enumerate(seeds):
        stopped = _fit(train, [seed], best[e])
        for pk, ps in zip(kept.parameters(), stopped.parameters()):
            torch.testing.assert_close(pk[e], ps[0], rtol=1e-5, atol=1e-6)
        mine = [c for c in curves if c["member"] == e]
        assert {c["seed"] for c in mine} == {seed}
        losses = [p["val.loss"] for p in mine]
        assert mine[int(np.argmin(losses))]["step"] == best[e]  # the lowest point
        assert len(mine) == steps // 10
    # the learning curve's validation loss is the model's validation log-loss at that point
    out = predict(stopped, val[0].unsqueeze(0))
    ref = classification_metrics(out, val[1].unsqueeze(0))
    assert min(losses) == pytest.approx(ref["log_loss"].item(), rel=1e-5)


def test_run_records_best_step_and_writes_curves(tmp_path):
    cfg = compose_config(
        [
            "trainer=quick",
            "trainer.steps=60",
            "seeds=2",
            "trainer.keep_best=val",
            "trainer.eval_every=10",
            "optimizer.lr=[3e-2,1e-3]",
        ]
    )
    records = run_experiment(cfg, tmp_path, threads=1)
    curves = [json.loads(line) for line in (tmp_path / "curves.jsonl").read_text().splitlines()]
    assert len(curves) == 4 * 6
    assert set(curves[0]) == {
        "run_id",
        "member",
        "fold",  # null unless split.kind=kfold|predefined
        "seed",
        "strength",
        "lr",
        "step",
        "train.loss",
        "val.loss",
        "val.accuracy",
    }
    for r in records:
        mine = [c for c in curves if c["member"] == r["member"]]
        assert [c["lr"] for c in mine] == [r["lr"]] * 6
        at_best = min(mine, key=lambda c: c["val.loss"])
        assert r["best_step"] == at_best["step"]
        assert r["val.log_loss"] == pytest.approx(at_best["val.loss"], rel=1e-5)
        assert r["val.accuracy"] == pytest.approx(at_best["val.accuracy"])


def test_curves_off_and_keep_best_none(tmp_path):
    cfg = compose_config(["trainer=quick", "seeds=1", "trainer.curves=false"])
    (record,) = run_experiment(cfg, tmp_path, threads=1)
    assert record["best_step"] is None and not (tmp_path / "curves.jsonl").exists()


def test_keep_best_with_projection_keeps_exact_sparsity(tmp_path):
    cfg = compose_config(
        [
            "trainer=quick",
            "trainer.steps=80",
            "seeds=2",
            "model=psilon_net",
            "model.width=16",
            "pruning=psilon_projection",
            "pruning.start=0.5",
            "pruning.ramp=0.25",
            "pruning.scale=2.0",
            "trainer.keep_best=val",
            "trainer.eval_every=5",
        ]
    )
    records = run_experiment(cfg, tmp_path, threads=1)
    for r in records:
        assert r["best_step"] >= 60  # only once the projection is complete
        assert r["sparsity.exact"] > 0.3


def test_keep_best_with_magnitude_pruning_prunes_the_kept_weights(tmp_path):
    base = [
        "trainer=quick",
        "trainer.steps=80",
        "seeds=2",
        "trainer.eval_every=5",
        "pruning=magnitude",
        "pruning.sparsity=0.6",
        "trainer.keep_best=val",
    ]
    records = run_experiment(compose_config(base), tmp_path / "a", threads=1)
    for r in records:
        assert r["sparsity.exact"] == pytest.approx(0.6, abs=1e-3)
    tuned = run_experiment(
        compose_config([*base, "pruning.finetune_steps=20"]), tmp_path / "b", threads=1
    )
    for r in tuned:
        assert r["best_step"] >= 80 and r["sparsity.exact"] == pytest.approx(0.6, abs=1e-3)


def test_keep_best_needs_validation_rows_and_class_weight_needs_classes(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.keep_best=val needs validation rows"):
        run_experiment(
            compose_config(["trainer=quick", "trainer.keep_best=val", "split.n_val=0"]),
            tmp_path / "a",
            threads=1,
        )
    with pytest.raises(ConfigError, match=r"trainer.class_weight=balanced needs a classification"):
        run_experiment(
            compose_config(["trainer=quick", "dataset=diabetes", "trainer.class_weight=balanced"]),
            tmp_path / "b",
            threads=1,
        )
    assert not any(tmp_path.rglob("records.jsonl"))


@pytest.mark.filterwarnings("ignore:y_pred contains classes")
def test_balanced_accuracy_matches_scikit_learn():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (3, 50), generator=gen)
    y[2][y[2] == 3] = 0  # a class absent from one member's rows
    out = torch.randn(3, 50, 4, generator=gen)
    got = classification_metrics(out, y)["balanced_accuracy"]
    for e in range(3):
        ref = balanced_accuracy_score(y[e].numpy(), out[e].argmax(-1).numpy())
        assert got[e].item() == pytest.approx(ref, abs=1e-12)


def test_balanced_class_weights():
    y = torch.tensor([[0, 0, 0, 1], [0, 1, 1, 1]])
    w = balanced_class_weights(y, 3)
    torch.testing.assert_close(
        w, torch.tensor([[4 / 9, 4 / 3, 0.0], [4 / 3, 4 / 9, 0.0]], dtype=torch.float64)
    )


def test_class_weights_raise_balanced_accuracy():
    X, y = make_classification(
        n_samples=3000,
        n_features=10,
        n_informative=4,
        weights=[0.93, 0.07],
        class_sep=0.6,
        flip_y=0.0,
        random_state=0,
    )
    X = StandardScaler().fit_transform(X).astype(np.float32)
    x, y = torch.as_tensor(X), torch.as_tensor(y)
    train, test = (x[:1500], y[:1500]), (x[1500:], y[1500:])
    seeds = [0, 1, 2]
    weights = balanced_class_weights(train[1].expand(3, -1), 2).float()
    scores = {}
    for name, cw in (("none", None), ("balanced", weights)):
        model = _fit(train, seeds, 400, class_weight=cw, width=16, lr=1e-2)
        out = predict(model, test[0].expand(3, *test[0].shape))
        scores[name] = classification_metrics(out, test[1].expand(3, -1))["balanced_accuracy"]
    assert (scores["balanced"] > scores["none"] + 0.05).all(), scores
