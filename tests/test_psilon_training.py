"""PSiLON Net + path-norm regularizer + L1-sphere projection end to end (docs/methods.md (PSiLON Net),
§2.5, §3), through the real run path (`run_experiment`: compose, data, fit, evaluate, write).

Data: `dataset=sparse_teacher` (a random sparse ReLU teacher, 1 hidden layer of 16 units,
labels 2 classes from 20 standard Gaussian features of which it reads 4; 4000 rows),
split 1000 train / 500 validation / 1000 test. Model: PSiLON Net, 2 hidden layers of 32,
Adam lr 5e-3, 600 steps of batch 100 (60 epochs), one seed, lambda in {1e-4, 1e-3, 1e-2}
as three members of one run. The same run is repeated with `pruning=psilon_projection`
(start 80 %, ramp 10 %, scale 2). About 3 s on the 2-core dev machine.
"""

from __future__ import annotations

import json

import pytest
from conftest import compose_config

from psilon_bench.runner.experiment import run_experiment

LAMBDAS = [1e-4, 1e-3, 1e-2]
OVERRIDES = [
    "model=psilon_net", "model.width=32", "model.depth=2",
    "regularizer=path_norm", f"regularizer.strength=[{','.join(map(str, LAMBDAS))}]",
    "dataset=sparse_teacher", "split.n_train=1000", "split.n_val=500", "split.n_test=1000",
    "seeds=[0]", "trainer=quick", "trainer.steps=600", "trainer.batch_size=100",
    "optimizer.lr=5e-3",
]  # fmt: skip
METRICS = [
    "sparsity.exact", "sparsity.threshold_1e-3", "sparsity.threshold_1e-2", "sparsity.near",
    "sparsity.neuron", "params.nonzero", "path_norm", "lipschitz.spectral",
    "lipschitz.spectral_linf_l1", "lipschitz.lower", "lipschitz.tightness",
]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for pruning in ("none", "psilon_projection"):
        cfg = compose_config([*OVERRIDES, f"pruning={pruning}"])
        out[pruning] = run_experiment(cfg, tmp_path_factory.mktemp(pruning), threads=1)
    return out


def test_records_carry_the_structure_metrics(runs):
    for records in runs.values():
        assert [r["strength"] for r in records] == LAMBDAS
        for r in records:
            assert r["status"] == "ok"
            for key in METRICS:
                assert key in r, key
            assert r["lipschitz.lower"] <= r["path_norm"] and r["lipschitz.tightness"] >= 1
            assert r["path_norm.bound"] == "chain" and r["path_norm.regularized"] == r["path_norm"]
            assert r["lipschitz.tightness.spectral"] >= 1


def test_path_norm_falls_as_lambda_grows(runs):
    for records in runs.values():
        norms = [r["path_norm"] for r in records]
        assert norms[0] > norms[1] > norms[2], norms


def test_projection_gives_exact_sparsity_at_unchanged_accuracy(runs):
    """The scale-aware default: more zeros where the path norm made directions near-sparse."""
    sparsity = [r["sparsity.exact"] for r in runs["psilon_projection"]]
    assert sparsity == sorted(sparsity) and sparsity[-1] > 0.4, sparsity
    for dense, pruned in zip(runs["none"], runs["psilon_projection"]):
        assert dense["sparsity.exact"] == 0.0
        assert pruned["sparsity.exact"] > 0.2, pruned["sparsity.exact"]
        assert pruned["params.nonzero"] < dense["params.nonzero"]
        assert pruned["test.accuracy"] >= dense["test.accuracy"] - 0.02
        assert dense["test.accuracy"] > 0.85  # the teacher is learned at all


def test_records_file_matches_the_returned_records(runs, tmp_path):
    cfg = compose_config([*OVERRIDES, "pruning=psilon_projection", "trainer.steps=20"])
    records = run_experiment(cfg, tmp_path, threads=1)
    on_disk = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["sparsity.exact"] for r in on_disk] == [r["sparsity.exact"] for r in records]
