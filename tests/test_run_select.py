"""`report.run_select` (the run summary's selection without pandas) against the report's
pandas selection, `select(normalize(DataFrame(records)))`, on random record sets shaped
like one run's: ties in the metric, diverged members, missing and infinite metrics, folds,
learning-rate axes, several pruning amounts (with records missing at some), legacy
records without `prune.amount`."""

from __future__ import annotations

import math
import random
from collections import Counter

import pandas as pd
import pytest
from conftest import fast_first

from psilon_bench.report.collect import normalize
from psilon_bench.report.run_select import select_run
from psilon_bench.report.select import select
from psilon_bench.runner.summary import _axes, selected_counts, selected_counts_pandas


def random_run(seed: int) -> list[dict]:
    """One run's records: seeds x folds x strengths x lrs members, at 1-3 pruning amounts
    (a strength may repeat: two members with the same axes)."""
    rng = random.Random(seed)
    task = rng.choice(["classification", "regression"])
    metric = "val.log_loss" if task == "classification" else "val.rmse"
    strengths = rng.choice([[0.0], [0, 1e-3, 1e-2], [0.0, 1e-4, 1e-3, 1e-2, 0.1], [1e-3, 1e-3]])
    lrs = rng.choice([[1e-3], [1e-3, 1e-2], None])  # None: a baseline's null lr
    folds = rng.choice([[None], [0, 1, 2]])
    amounts = rng.choice([[0.0], [0.0, 0.5], [0.0, 0.3, 0.8]])
    legacy = len(amounts) == 1 and rng.random() < 0.3  # no prune.amount key at all
    level = rng.choice([[0.1, 0.2, 0.3], [0.25], None])  # few values: ties
    shared = {
        "task": task, "dataset": "d", "model": "mlp", "regularizer": "l2",
        "cfg.model.name": "mlp", "cfg.regularizer.name": "l2", "cfg.pruning.name": "none",
        "cfg.optimizer.lr": 1e-3, "cfg.seeds": 3,
    }  # fmt: skip
    if legacy and rng.random() < 0.5:
        shared.update({"cfg.pruning.name": "neuron_norm", "cfg.pruning.fraction": 0.8})
    records, member = [], 0
    for s in range(rng.randint(1, 5)):
        for fold in folds:
            for lam in strengths:
                for lr in lrs or [None]:
                    status = "diverged" if rng.random() < 0.15 else "ok"
                    for amount in amounts:
                        if amount > 0 and rng.random() < 0.1:
                            continue  # a record missing at this amount
                        r = {**shared, "seed": s, "fold": fold, "member": member,
                             "strength": lam, "lr": lr, "status": status}  # fmt: skip
                        if not legacy:
                            r["prune.amount"] = amount
                        value = rng.choice(level) if level else rng.random()
                        value += amount
                        roll = rng.random()
                        if roll < 0.05:
                            value = None
                        elif roll < 0.08:
                            value = math.inf
                        elif roll < 0.1:
                            value = math.nan
                        r[metric] = value
                        other = "val.accuracy" if task == "classification" else "val.r2"
                        r[other] = rng.choice([0.5, 0.75]) if level else rng.random()
                        records.append(r)
                    member += 1
    rng.shuffle(records)  # record order is the last tie-break of neither rule
    return records


def _key(row) -> tuple:
    fold = row.get("fold")
    fold = None if fold is None or (isinstance(fold, float) and math.isnan(fold)) else fold
    return row["seed"], fold, row["member"], float(row.get("prune.amount") or 0.0)


@pytest.mark.parametrize("seed", fast_first(300, 40))
def test_run_select_picks_what_the_pandas_selection_picks(seed):
    records = random_run(seed)
    fast = select_run(records)
    assert fast is not None  # one run's records: no fallback
    chosen = select(normalize(pd.DataFrame(records)))
    _assert_same_picks(records, fast, chosen)
    axes = _axes(records)
    assert selected_counts(records, axes) == selected_counts_pandas(records, axes)


@pytest.mark.parametrize("seed", fast_first(100, 15))
def test_select_on_another_metric_picks_what_the_pandas_selection_picks(seed):
    """`summary.select_on` (the records' `cfg.summary.select_on`): the higher-is-better
    metric of the task, in both selections and in the summary's counts."""
    records = random_run(seed)
    other = "val.accuracy" if records[0]["task"] == "classification" else "val.r2"
    fast = select_run(records, other)
    assert fast is not None and fast.metric == other
    _assert_same_picks(records, fast, select(normalize(pd.DataFrame(records)), other))
    for r in records:
        r["cfg.summary.select_on"] = other
    axes = _axes(records)
    counts = selected_counts(records, axes)
    assert counts[2] == other and counts == selected_counts_pandas(records, axes, other)


def test_select_on_a_metric_of_the_other_task_falls_back_to_the_default():
    records = random_run(3)
    task = records[0]["task"]
    for r in records:
        r["cfg.summary.select_on"] = "val.rmse" if task == "classification" else "val.accuracy"
    want = "val.log_loss" if task == "classification" else "val.rmse"
    axes = _axes(records)
    assert selected_counts(records, axes)[2] == want
    assert selected_counts(records, axes) == selected_counts_pandas(records, axes)


def _assert_same_picks(records, fast, chosen) -> None:
    picked = chosen[chosen["selected"].astype(bool)]
    want = sorted(_key(r) for r in picked.to_dict("records"))
    got = sorted(
        (r["seed"], r["fold"], r["member"], float(r.get("prune.amount") or 0.0))
        for r in fast.picked
    )
    if "prune.amount" not in records[0]:  # legacy: the amount comes from cfg.pruning.*
        want = [k[:3] for k in want]
        got = [k[:3] for k in got]
    assert got == want
    base = chosen[chosen["prune.amount"] == chosen["prune.amount"].min()]
    assert fast.groups == len(base) and fast.metric == chosen["selected_on"].iloc[0]


def test_tie_break_larger_strength_then_smaller_lr_then_member():
    base = {"task": "classification", "dataset": "d", "model": "m", "regularizer": "r"}
    records = [
        {**base, "seed": 0, "member": m, "strength": s, "lr": lr, "val.log_loss": 0.5}
        for m, (s, lr) in enumerate([(0.1, 1e-2), (0.1, 1e-3), (0.1, 1e-3), (0.01, 1e-4)])
    ]
    run = select_run(records)
    assert [r["member"] for r in run.picked] == [1] and run.groups == 1
    counts, groups, metric = selected_counts(records, ["strength", "lr"])
    assert counts == Counter({(0.1, 1e-3): 1}) and (groups, metric) == (1, "val.log_loss")


@pytest.mark.parametrize(
    "change",
    ["two datasets", "a path", "mixed null strength", "text seed", "text metric", "no metric"],
)
def test_records_of_other_shapes_fall_back_to_pandas(change):
    records = random_run(7)
    first = records[0]
    if change == "two datasets":
        first["dataset"] = "other"
    elif change == "a path":
        first["path"] = "runs/a"
    elif change == "mixed null strength":
        first["strength"] = None
    elif change == "text seed":
        first["seed"] = "0"
    elif change == "text metric":
        first["val.log_loss" if first["task"] == "classification" else "val.rmse"] = "0.3"
    else:
        for r in records:
            r.pop("val.log_loss", None), r.pop("val.rmse", None)
    assert select_run(records) is None
    if change != "no metric":  # the pandas selection answers (no metric: its one-line error)
        axes = _axes(records)
        assert selected_counts(records, axes) == selected_counts_pandas(records, axes)
