"""`metrics.train_split=false`: the training split's task metrics are skipped (null), every
other value and every key stay as they are; `METRIC_NAMES` are `task_metrics`' keys."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose_config

from psilon_bench import models
from psilon_bench.engine.plan import MemberData
from psilon_bench.measure.evaluate import evaluate_members
from psilon_bench.measure.metrics import METRIC_NAMES, task_metrics


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_metric_names_are_the_keys_task_metrics_returns(task):
    g = torch.Generator().manual_seed(0)
    out = torch.randn(2, 30, 3 if task == "classification" else 1, generator=g)
    y = (
        torch.randint(0, 3, (2, 30), generator=g)
        if task == "classification"
        else torch.randn(2, 30)
    )
    assert tuple(task_metrics(out, y, task)) == METRIC_NAMES[task]


def _parts(task: str, n_classes: int) -> dict[str, MemberData]:
    g = torch.Generator().manual_seed(1)
    parts = {}
    for split, n in (("train", 40), ("val", 20), ("test", 25)):
        x = torch.randn(2, n, 6, generator=g)
        if task == "classification":
            y = torch.randint(0, n_classes, (2, n), generator=g)
        else:
            y = torch.randn(2, n, generator=g)
        parts[split] = MemberData(x, y, task, n_classes)
    return parts


@pytest.mark.parametrize(("task", "d_out"), [("classification", 3), ("regression", 1)])
def test_train_split_false_nulls_only_the_train_metrics(task, d_out):
    full_cfg = compose_config(["model=psilon_net"])
    cfg = compose_config(["model=psilon_net", "metrics.train_split=false"])
    assert cfg.metrics.train_split is False and full_cfg.metrics.train_split is True
    model = models.build(cfg.model, d_in=6, d_out=d_out, seeds=[0, 1])
    parts = _parts(task, 3 if task == "classification" else 0)
    full = evaluate_members(model, parts, full_cfg)
    without = evaluate_members(model, parts, cfg)
    train_keys = {f"train.{name}" for name in METRIC_NAMES[task]}
    for a, b in zip(full, without):
        assert a.keys() == b.keys() and train_keys <= a.keys()
        for key in a:
            if key in train_keys:
                assert math.isfinite(a[key]) and math.isnan(b[key])
            else:
                assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key
