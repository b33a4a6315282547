"""Ensembles of members (`ensemble: k`): per setting, k members that differ only in their
init seed and share one split get one more record, the average of their predicted
probabilities, whose metrics equal a recomputation here from the members' own predictions
(the estimators fitted again by scikit-learn, the networks rebuilt and trained again);
one-line errors when it cannot be formed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import compose_config
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

from psilon_bench import data as data_pkg
from psilon_bench import models, regularizers
from psilon_bench.engine.train import fit, plan_steps
from psilon_bench.errors import ConfigError
from psilon_bench.records.io import read_records
from psilon_bench.report.collect import collect
from psilon_bench.runner.checks import check_job
from psilon_bench.runner.experiment import run_experiment, stack_splits


def _split(cfg, seed):
    table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
    return data_pkg.make_split(table, cfg.split, cfg.preprocess, seed=seed)


def _scores(task, y, members_pred, n_classes=None) -> dict[str, float]:
    """Metrics of the mean of the members' probabilities (or predictions) by sklearn.metrics."""
    mean = np.mean(members_pred, axis=0)
    if task == "classification":
        proba = mean / mean.sum(axis=1, keepdims=True)
        return {
            "accuracy": accuracy_score(y, proba.argmax(axis=1)),
            "log_loss": log_loss(y, np.clip(proba, 1e-15, None), labels=list(range(n_classes))),
        }
    return {"rmse": math.sqrt(mean_squared_error(y, mean)), "r2": r2_score(y, mean)}


@pytest.mark.parametrize("dataset", ["wine", "diabetes"])
def test_forest_ensemble_equals_the_average_of_the_members_probabilities(tmp_path, dataset):
    overrides = [f"dataset={dataset}", "model=sklearn_rf", "model.n_estimators=10",
                 "regularizer.strength=[1,4]", "seeds=[0,1,2,3,4]", "split.seed=7",
                 "ensemble=2", "trainer.threads=1"]  # fmt: skip
    cfg = compose_config(overrides)
    records = run_experiment(cfg, tmp_path / "run", live=False)
    assert records == read_records(tmp_path / "run")
    members = [r for r in records if r.get("ensemble.k") is None]
    ensembles = [r for r in records if r.get("ensemble.k") is not None]
    assert len(members) == 10 and len(ensembles) == 2 * 2  # 5 seeds: blocks [0,1], [2,3]
    assert [r["member"] for r in records] == list(range(14))
    split = _split(cfg, 7)
    for ens in ensembles:
        assert ens["ensemble.k"] == 2 and ens["seed"] == ens["ensemble.seeds"][0]
        assert ens["ensemble.seeds"] in ([0, 1], [2, 3]) and ens["split_seed"] == 7
        assert ens["path_norm"] is None and ens["train.final_loss"] is None
        by_member = [members[e] for e in ens["ensemble.members"]]
        assert {(m["strength"], m["split_seed"]) for m in by_member} == {(ens["strength"], 7)}
        assert [m["seed"] for m in by_member] == ens["ensemble.seeds"]
        for part in ("train", "val", "test"):
            X, y = getattr(split, f"X_{part}"), getattr(split, f"y_{part}")
            preds = []
            for seed in ens["ensemble.seeds"]:
                forest = (
                    RandomForestClassifier
                    if split.task == "classification"
                    else RandomForestRegressor
                )
                est = forest(
                    n_estimators=10, min_samples_leaf=int(ens["strength"]), random_state=seed
                )
                est.fit(split.X_train, split.y_train)
                preds.append(est.predict_proba(X) if split.task == "classification" else est.predict(X))  # fmt: skip
            want = _scores(split.task, y, preds, split.n_classes)
            for name, value in want.items():
                assert ens[f"{part}.{name}"] == pytest.approx(value, rel=1e-6, abs=1e-9), part
    table = collect([tmp_path]).records
    assert set(table["method"]) == {"sklearn_rf", "sklearn_rf + ensemble(2)"}


def test_network_ensemble_equals_the_average_of_the_members_probabilities(tmp_path):
    """The members trained again here (same builders, seeds and split) give the run's own
    member records; the mean of their softmax probabilities gives the ensemble's."""
    overrides = ["trainer=quick", "trainer.steps=40", "dataset=iris", "seeds=[3,5]",
                 "split.seed=1", "ensemble=2", "regularizer=l2", "regularizer.strength=1e-3"]  # fmt: skip
    cfg = compose_config(overrides)
    records = run_experiment(cfg, tmp_path / "run", live=False)
    (ens,) = [r for r in records if r.get("ensemble.k") == 2]
    split = _split(cfg, 1)
    parts = {p: stack_splits([split, split], p, torch.device("cpu"), torch.float32) for p in ("train", "val", "test")}  # fmt: skip
    model = models.build(cfg.model, d_in=split.n_features, d_out=split.n_classes, seeds=[3, 5])
    strength = torch.tensor([1e-3, 1e-3])
    train = parts["train"]
    plan = plan_steps(train.n_rows, cfg.trainer.batch_size, cfg.trainer.epochs, cfg.trainer.steps)
    fit(model, train, [3, 5], regularizers.build(cfg.regularizer, strength, model),
        cfg.optimizer, cfg.schedule, plan, lrs=[cfg.optimizer.lr] * 2)  # fmt: skip
    model.eval()
    for part in ("train", "val", "test"):
        y = getattr(split, f"y_{part}")
        with torch.no_grad():
            proba = torch.softmax(model(parts[part].x).double(), dim=-1).numpy()
        for e in range(2):  # the rebuilt members are the run's members
            assert records[e][f"{part}.accuracy"] == accuracy_score(y, proba[e].argmax(axis=1))
        want = _scores("classification", y, list(proba), split.n_classes)
        assert ens[f"{part}.accuracy"] == pytest.approx(want["accuracy"], abs=1e-12)
        assert ens[f"{part}.log_loss"] == pytest.approx(want["log_loss"], rel=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["seeds=3", "ensemble=4", "split.seed=0"],
         "ensemble=4 averages 4 members per setting but seeds gives 3 (seeds=[0, 1, 2]); "
         "use ensemble <= 3 or more seeds"),
        (["seeds=3", "ensemble=2"],
         "ensemble=2 averages members that differ only in their init seed, so they must share "
         "one split; split.seed=null gives each seed its own split: set split.seed"),
        (["seeds=2", "ensemble=1", "split.seed=0"], "ensemble must be in [2, inf)"),
        (["seeds=2", "ensemble=2", "split.seed=0", "regularizer=l2", "pruning=neuron_norm",
          "pruning.fraction=[0.0,0.5]"], "a list of pruning amounts gives several"),
    ],
)  # fmt: skip
def test_ensembles_that_cannot_be_formed_are_one_line_errors(tmp_path, overrides, message):
    cfg = compose_config(["trainer=quick", "dataset=iris", *overrides])
    with pytest.raises(ConfigError) as err:
        check_job(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        run_experiment(cfg, tmp_path / "run", live=False)
    assert not (tmp_path / "run").exists()


def test_members_of_a_block_with_different_splits_are_refused():
    """The block rule itself, past the config check: members of one setting whose split
    seeds differ form no ensemble."""
    from psilon_bench.runner.ensemble import blocks

    rows = [{"fold": None, "seed": s, "strength": 0.0, "lr": None} for s in (0, 1, 2, 3)]
    assert blocks(rows, [9, 9, 9, 9], 2) == [[0, 1], [2, 3]]
    assert blocks(rows, [9, 9, 9, 9], 3) == [[0, 1, 2]]
    with pytest.raises(ConfigError, match=r"members \[0, 1\] differ in their split"):
        blocks(rows, [0, 1, 2, 3], 2)


def test_without_ensemble_the_records_are_unchanged(tmp_path):
    cfg = compose_config(["model=sklearn_rf", "model.n_estimators=5", "dataset=iris", "seeds=2"])
    records = run_experiment(cfg, tmp_path / "run", live=False)
    assert len(records) == 2 and not any("ensemble.k" in r for r in records)
    assert records[0]["cfg.ensemble"] is None
