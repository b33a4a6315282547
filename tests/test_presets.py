"""The P3, P4 and P5 presets (`experiment=lp_bridge`, `soft_diamond`, `ewn`) run end to end
through `run_experiment`: a few-step smoke run in the fast suite, the quick size under `slow`."""

from __future__ import annotations

import math

import pytest
from conftest import SHARED_DATA, compose_config, needs_shared_data

from psilon_bench.records.io import read_records
from psilon_bench.runner.experiment import run_experiment
from psilon_bench.runner.summary import _axes, selected_counts

PRESETS = ["lp_bridge", "soft_diamond", "ewn"]


@pytest.fixture(autouse=True)
def table_cache(tmp_path_factory, monkeypatch):
    """The soft-diamond table goes to a per-session folder, not the user's cache."""
    monkeypatch.setenv("PSILON_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


#: P3/P4 quick presets read MagicTelescope (a user's data folder or OpenML; here ../shared/data)
TABULAR = {"lp_bridge", "soft_diamond"}
#: their offline option with only the bundled sets (documented in the presets' headers)
BUNDLED = ["dataset=digits", "split.n_val=null", "split.n_test=null"]


def _run(preset: str, overrides: list[str], run_dir) -> tuple[object, list[dict]]:
    data = [f"paths.data_dir={SHARED_DATA}"] if preset in TABULAR else []
    cfg = compose_config([f"experiment={preset}", *data, *overrides])
    records = run_experiment(cfg, run_dir, threads=1)
    assert (run_dir / "DONE").exists()
    assert len(read_records(run_dir)) == len(records)
    n_seeds = len(cfg.seeds) if not isinstance(cfg.seeds, int) else cfg.seeds
    strengths = cfg.regularizer.strength
    n_strengths = len(strengths) if not isinstance(strengths, (int, float)) else 1
    assert len(records) == n_seeds * n_strengths  # one record per member
    assert sorted(r["member"] for r in records) == list(range(len(records)))
    return cfg, records


@pytest.mark.parametrize(
    "preset", [pytest.param(p, marks=needs_shared_data) if p in TABULAR else p for p in PRESETS]
)
def test_preset_smoke(preset, tmp_path):
    """A few steps, one seed: composes, trains every member, writes records and DONE."""
    cfg, records = _run(preset, ["trainer.steps=5", "seeds=[0]"], tmp_path / preset)
    assert all(r["status"] == "ok" and r["time.steps"] == 5 for r in records)
    assert {r["dataset"] for r in records} == {cfg.dataset.name}
    assert {r["regularizer"] for r in records} == {cfg.regularizer.name}


@pytest.mark.parametrize("preset", sorted(TABULAR))
def test_tabular_presets_bundled_data_option(preset, tmp_path):
    """The offline option of the P3/P4 headers (digits, the rest shared by val and test)."""
    _, records = _run(preset, ["trainer.steps=3", "seeds=[0]", *BUNDLED], tmp_path / preset)
    assert {r["dataset"] for r in records} == {"digits"}
    assert all(r["n_train"] == 500 and r["n_val"] + r["n_test"] == 1797 - 500 for r in records)


@needs_shared_data
@pytest.mark.slow
def test_lp_bridge_preset_quick_size(tmp_path):
    """P3 quick: exact sparsity grows with lambda; the largest lambda prunes most weights;
    validation and test parts large enough that members differ in test accuracy."""
    _, records = _run("lp_bridge", [], tmp_path / "run")
    assert all(r["status"] == "ok" and r["n_train"] == 500 for r in records)
    assert all(r["n_val"] == 2000 and r["n_test"] == 5000 for r in records)
    assert len({r["test.accuracy"] for r in records}) > len(records) // 2
    by_strength: dict[float, list[float]] = {}
    for r in records:
        by_strength.setdefault(r["strength"], []).append(r["sparsity.exact"])
    means = [sum(v) / len(v) for _, v in sorted(by_strength.items())]
    assert means == sorted(means) and means[-1] > 0.5
    assert max(r["test.accuracy"] for r in records) > 0.8


@needs_shared_data
@pytest.mark.slow
def test_soft_diamond_preset_quick_size(tmp_path):
    """P4 quick: soft diamond gives threshold sparsity, never exact zeros (docs/methods.md (soft diamond))."""
    _, records = _run("soft_diamond", [], tmp_path / "run")
    assert all(r["status"] == "ok" and r["regularizer"] == "soft_diamond" for r in records)
    assert all(r["sparsity.exact"] == 0 for r in records)
    assert max(r["sparsity.threshold_1e-2"] for r in records) > 0.1
    assert all(math.isfinite(r["train.final_loss"]) for r in records)


@pytest.mark.slow
def test_ewn_preset_quick_size(tmp_path):
    """P5 quick: [EWN]'s recipe trains to a tiny loss; 80 % of the hidden units removed
    (int(0.8 * 256) = 204), EWN keeps more accuracy than the plain net from the same init."""
    _, records = _run("ewn", [], tmp_path / "ewn")
    assert all(r["model"] == "ewn_mlp" and r["pruning"] == "neuron_norm" for r in records)
    assert all(r["train.final_loss"] < 1e-15 for r in records)
    assert all(r["sparsity.neuron"] == 204 / 256 for r in records)
    _, plain = _run("ewn", ["model=mlp"], tmp_path / "plain")
    ewn_acc = sum(r["test.accuracy"] for r in records) / len(records)
    plain_acc = sum(r["test.accuracy"] for r in plain) / len(plain)
    assert ewn_acc > plain_acc + 0.01, (ewn_acc, plain_acc)


@pytest.mark.parametrize(
    ("model", "regularizer"),
    [("mlp", "weight_decay"), ("psilon_net", "path_norm"), ("psilon_resnet", "path_norm"),
     ("standard_net", "length_l2")],
)  # fmt: skip
def test_small_data_recipe_runs_every_family(model, regularizer, tmp_path):
    """experiment=small_data: seeds x strengths x learning rates in one run, for every model
    family with its default regularizer (a few steps here)."""
    overrides = ["experiment=small_data", f"model={model}", f"regularizer={regularizer}",
                 "dataset=iris", "trainer.steps=3", "seeds=[0]"]  # fmt: skip
    cfg = compose_config(overrides)
    records = run_experiment(cfg, tmp_path, threads=1)
    lrs, strengths = list(cfg.optimizer.lr), list(cfg.regularizer.strength)
    assert len(records) == len(lrs) * len(strengths)
    assert {(r["lr"], r["strength"]) for r in records} == {(a, b) for a in lrs for b in strengths}
    assert all(r["status"] == "ok" and r["n_train"] == 100 for r in records)
    # the recipe stops early: each member is reported at its lowest validation loss
    assert all(r["best_step"] is not None and 0 <= r["best_step"] <= 3 for r in records)
    # and its summary's sel column selects on validation accuracy, as P6's tables do
    assert all(r["cfg.summary.select_on"] == "val.accuracy" for r in records)
    assert selected_counts(records, _axes(records))[2] == "val.accuracy"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("model", ["sklearn_mlp", "sklearn_logistic", "sklearn_rf"])
def test_small_data_recipe_serves_the_scikit_learn_baselines(model, tmp_path):
    """P6 runs the baselines under the same preset: same split sizes as the networks;
    sklearn_mlp crosses strengths with the learning rates, the others have no lr axis."""
    extra = ["model.max_iter=5"] if model == "sklearn_mlp" else []
    if model == "sklearn_rf":
        extra = ["model.n_estimators=5", "regularizer.strength=[1,4]"]
    cfg = compose_config(
        ["experiment=small_data", f"model={model}", "regularizer=none", "dataset=iris",
         "seeds=[0]", *extra]
    )  # fmt: skip
    records = run_experiment(cfg, tmp_path, threads=1)
    strengths = list(cfg.regularizer.strength)
    lrs = list(cfg.optimizer.lr) if model == "sklearn_mlp" else [None]
    assert {(r["lr"], r["strength"]) for r in records} == {(a, b) for a in lrs for b in strengths}
    assert len(records) == len(lrs) * len(strengths)
    assert all(r["status"] == "ok" and r["n_train"] == 100 for r in records)
