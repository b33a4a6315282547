"""The run summary's selection (its `sel` column) without pandas: `report.select`'s rule
(docs/protocols.md, "Selection") over one run's records as plain dicts. Importing pandas for it
took ~0.2 s, more than the default experiment's data path.

`select_run(records)` picks the members `select(normalize(DataFrame(records)))` selects
(tests/test_run_select.py compares both on random record sets and on real runs) when the
records look like one run's: one dataset, model, regularizer and task, the same `cfg.*`
values, int seeds and members, each axis (`strength`, `lr`, `prune.amount`) a number in
every record or null in every one, numeric or null metrics, no `path`. For anything else it
returns None and the caller uses the report's pandas selection.

The rule, as in `report.select`: per (seed, fold), among the members with `status` ok and a
finite metric at the smallest pruning amount, the best metric, then the larger strength,
the smaller learning rate, the smaller member index; with several pruning amounts, that
member's record at every amount (matched on seed, fold and the axes' values as text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psilon_bench.report.rules import higher_is_better, select_metric

#: the values every record of one run shares
SHARED = ("task", "dataset", "model", "regularizer")
#: legacy records (before `prune.amount`): the amount is this key's value for this pruner
LEGACY_AMOUNT = (("cfg.pruning.fraction", "neuron_norm"), ("cfg.pruning.sparsity", "magnitude"))
_MISSING = object()


class _NotOneRun(Exception):
    """The records are outside what `select_run` handles: use the pandas selection."""


@dataclass
class RunSelection:
    metric: str  # the metric selected on
    groups: int  # (seed, fold) groups
    picked: list[dict[str, Any]] = field(default_factory=list)  # records, one per amount


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers_or_nulls(values: list[Any]) -> list[float | None]:
    """An axis: numbers in every record, or null in every one (then not an axis)."""
    if all(v is None for v in values):
        return [None] * len(values)
    if all(_is_number(v) and not math.isnan(v) for v in values):
        return [float(v) for v in values]
    raise _NotOneRun


def _check_one_run(records: Sequence[dict[str, Any]]) -> None:
    first = records[0]
    keys = {k for r in records for k in r if k.startswith("cfg.")}
    if any(k not in first for k in SHARED):
        raise _NotOneRun
    for k in (*SHARED, *keys):
        want = repr(first.get(k, _MISSING))
        if any(repr(r.get(k, _MISSING)) != want for r in records):
            raise _NotOneRun
    if first["task"] not in ("classification", "regression") or any("path" in r for r in records):
        raise _NotOneRun
    for r in records:
        seed, fold, member = r.get("seed"), r.get("fold"), r.get("member")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (seed, member)):
            raise _NotOneRun
        if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool) or fold < 0):
            raise _NotOneRun
        if not (r.get("status") is None or isinstance(r.get("status"), str)):
            raise _NotOneRun


def _lr(records: Sequence[dict[str, Any]]) -> list[float | None]:
    """`lr`, or (older records) `cfg.optimizer.lr` where that is one number."""
    if any("lr" in r for r in records):
        return _numbers_or_nulls([r.get("lr") for r in records])
    values = [r.get("cfg.optimizer.lr") for r in records]
    if any(isinstance(v, (str, bool)) for v in values):
        raise _NotOneRun
    return _numbers_or_nulls([v if _is_number(v) else None for v in values])


def _amounts(records: Sequence[dict[str, Any]]) -> list[float]:
    """`prune.amount` (null: 0), or for records before it the legacy pruning amount."""
    if any("prune.amount" in r for r in records):
        if not all("prune.amount" in r for r in records):
            raise _NotOneRun
        values = _numbers_or_nulls([r["prune.amount"] for r in records])
        return [0.0 if v is None else v for v in values]
    amounts = []
    for r in records:
        amount = 0.0
        for key, pruner in LEGACY_AMOUNT:
            v = r.get(key)
            if isinstance(v, (str, bool)):
                raise _NotOneRun
            if _is_number(v) and not math.isnan(v) and r.get("cfg.pruning.name") == pruner:
                amount = float(v)
        amounts.append(amount)
    return amounts


def _text(v: float | None) -> str | None:
    """An axis value as `report.select._matches` compares it (as text; null matches null)."""
    return None if v is None else str(v)


def select_run(
    records: Sequence[dict[str, Any]], select_on: str | None = None
) -> RunSelection | None:
    """The selected members of one run's records (module docstring), on `select_on` (None:
    the task's default); None when the records are not one run's (the caller then uses
    `report.select`)."""
    try:
        _check_one_run(records)
        metric = select_metric(records[0]["task"], select_on)
        if not any(metric in r for r in records):  # `report.select` raises the error
            return None
        values = [r.get(metric) for r in records]
        if any(v is not None and not _is_number(v) for v in values):
            return None
        strength = _numbers_or_nulls([r.get("strength") for r in records])
        lr, amounts = _lr(records), _amounts(records)
    except _NotOneRun:
        return None
    sign = -1.0 if higher_is_better(metric) else 1.0
    base = min(amounts)

    def rank(i: int) -> tuple:
        s, rate = strength[i], lr[i]
        return (
            sign * values[i],
            -(s if s is not None else -math.inf),
            rate if rate is not None else math.inf,
            records[i]["member"],
        )

    def group(i: int) -> tuple[int, int]:
        fold = records[i].get("fold")
        return records[i]["seed"], -1 if fold is None else fold

    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(len(records)):
        if amounts[i] == base:
            groups.setdefault(group(i), []).append(i)
    picked = []
    for (seed, fold), members in sorted(groups.items()):
        valid = [
            i
            for i in members
            if records[i].get("status", "ok") in (None, "ok")
            and values[i] is not None
            and math.isfinite(values[i])
        ]
        if not valid:  # every member diverged: nothing selected
            continue
        best = min(valid, key=rank)  # the first of equals: the record order, as a stable sort
        if len(set(amounts)) == 1:
            picked.append(records[best])
            continue
        same = [
            i
            for i in range(len(records))
            if group(i) == (seed, fold)
            and (strength[best] is None or _text(strength[i]) == _text(strength[best]))
            and (lr[best] is None or _text(lr[i]) == _text(lr[best]))
        ]
        for amount in sorted({amounts[i] for i in same}):
            at = [i for i in same if amounts[i] == amount]
            own = [i for i in at if records[i]["member"] == records[best]["member"]]
            picked.append(records[best if amount == amounts[best] else (own or at)[0]])
    return RunSelection(metric, len(groups), picked)
