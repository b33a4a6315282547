"""Ensembles of members (`ensemble: k`): members that differ only in their init seed (same
fold, strength and learning rate) and share one split (`split.seed` set) are averaged k at a
time, at no extra training.

Per setting, the seeds in the order of `seeds` are cut into consecutive blocks of k (a
remainder of fewer than k seeds joins no ensemble); each block adds one record after the
members' own: the average of its members' predicted probabilities (or predictions, for
regression) scored on every split by `measure.ensemble` (its own `train.*`, `val.*`,
`test.*`), with `ensemble.k`, `ensemble.seeds` and `ensemble.members` (the members'
indices), `seed` = the block's first seed (selection picks a setting per block, as per seed
for single members), and null structure metrics. The report names it
`<method> + ensemble(k)`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch

from psilon_bench.config import choice
from psilon_bench.config.validation import member_seeds
from psilon_bench.errors import ConfigError
from psilon_bench.measure.ensemble import ensemble_metrics

PARTS = ("train", "val", "test")


def scored_parts(split: Any, train_split: bool) -> list[str]:
    """The split parts an ensemble is scored on: those with rows (`train` only with
    `metrics.train_split`, as for the members)."""
    return [p for p in PARTS if split.sizes[p] > 0 and (p != "train" or train_split)]


def check_ensemble(cfg: Any) -> None:
    """One-line errors for `ensemble: k` that cannot be formed: more members per ensemble
    than seeds, members whose splits follow their seeds, several records per member."""
    k = cfg.get("ensemble")
    if k is None:
        return
    seeds = member_seeds(cfg.seeds)
    if k > len(seeds):
        raise ConfigError(
            f"ensemble={k} averages {k} members per setting but seeds gives {len(seeds)} "
            f"(seeds={list(seeds)}); use ensemble <= {len(seeds)} or more seeds"
        )
    if cfg.split.seed is None:
        raise ConfigError(
            f"ensemble={k} averages members that differ only in their init seed, so they must "
            "share one split; split.seed=null gives each seed its own split: set split.seed "
            "(e.g. split.seed=0)"
        )
    if choice(cfg.split.kind) == "two_stage":
        raise ConfigError(
            f"ensemble={k} does not apply to split.kind=two_stage (each seed refits its own "
            "chosen setting on the folds); allowed there: ensemble=null"
        )
    amounts = [cfg.pruning.get(key) for key in ("fraction", "sparsity")]
    if any(not isinstance(a, (int, float, type(None))) for a in amounts):
        raise ConfigError(
            f"ensemble={k} needs one record per member; a list of pruning amounts gives "
            "several: use a single pruning.fraction / pruning.sparsity"
        )


def blocks(rows: list[dict[str, Any]], split_seeds: list[int], k: int) -> list[list[int]]:
    """Member indices of every ensemble: members with equal values on every axis but `seed`,
    in member order, cut into consecutive blocks of k. ConfigError when a block's members do
    not share a split."""
    settings: dict[tuple, list[int]] = defaultdict(list)
    for e, row in enumerate(rows):
        settings[tuple((a, v) for a, v in row.items() if a != "seed")].append(e)
    out = []
    for members in settings.values():
        for i in range(0, len(members) - k + 1, k):
            block = members[i : i + k]
            if len({split_seeds[e] for e in block}) > 1:
                raise ConfigError(
                    f"ensemble={k}: members {block} differ in their split (split seeds "
                    f"{[split_seeds[e] for e in block]}); set split.seed to share one split"
                )
            out.append(block)
    return out


def ensemble_records(
    records: list[dict[str, Any]],
    members: Any,
    outputs: list[dict[str, torch.Tensor]],
    splits: list[Any],
    k: int,
    parts: list[str],
) -> list[dict[str, Any]]:
    """One record per ensemble of `blocks`: the first member's record with its evaluation
    (`<split>.*`, structure metrics) replaced by the ensemble's. `records[e]` and
    `outputs[e]` (split part -> (N, d_out) outputs) belong to member e; `parts`: the parts
    to score (`scored_parts`)."""
    evaluated = {key for r in records for key in r if key.startswith(_EVALUATED)}
    out = []
    for i, block in enumerate(blocks(members.rows, members.split_seeds, k)):
        first, split = records[block[0]], splits[block[0]]
        record = first | dict.fromkeys(evaluated) | {"best_step": None, "diverged_step": None}
        bad = [records[e]["status"] for e in block if records[e]["status"] != "ok"]
        scored = parts if all(outputs[e] for e in block) else []  # a failed fit has no outputs
        for part in scored:
            stacked = torch.stack([outputs[e][part] for e in block])
            y = getattr(split, f"y_{part}")
            for name, value in ensemble_metrics(stacked, y, split.task).items():
                record[f"{part}.{name}"] = value
        record.update(
            {
                "member": len(records) + i,
                "status": bad[0] if bad else "ok",
                "ensemble.k": k,
                "ensemble.seeds": [members.seeds[e] for e in block],
                "ensemble.members": list(block),
            }
        )
        out.append(record)
    return out


#: keys of a member's own evaluation, null in an ensemble's record unless it computes them
_EVALUATED = ("train.", "val.", "test.", "unpruned.", "params.", "sparsity.", "path_norm")
_EVALUATED += ("lipschitz.",)
