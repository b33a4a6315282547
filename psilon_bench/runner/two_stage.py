"""`split.kind=two_stage`: the UCI collection's protocol in one run (Fernandez-Delgado et
al. 2014; Klambauer et al. 2017; Arora et al. 2020), for `dataset=uci`.

1. Selection: every member (seeds x strengths x learning rates) trains on the training rows
   of conxuntos.dat and is scored on its validation rows; per seed, the setting (strength,
   lr) with the best `split.select_on` (null: val.log_loss) is chosen by the report's rule
   (`report.run_select`: ties to the larger strength, then the smaller learning rate). These
   records go to `selection.jsonl` (`stage: select`); no test row is used.
2. Refit: per seed and fold of conxuntos_kfold.dat, the chosen setting trains on the fold's
   training rows and is tested on its test rows (`records.jsonl`, `stage: refit`, `fold`
   0-3). The refit has no validation rows: with `trainer.keep_best=val` each refit member is
   kept after the step its setting was kept at in selection (`two_stage.best_step`), on the
   same step plan; with `keep_best=none` it trains the whole plan, as selection did.

A refit record carries its setting's selection metrics as `val.*` (and `two_stage.*`: the
metric, the chosen member, candidates, selection sizes), so `psilon-bench table` sees one
candidate per (seed, fold) and, across runs (another method option), picks by those
validation values, the same for every fold: the table's test metric is the mean over the
4 folds (and seeds) of the setting chosen on validation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from psilon_bench.config import choice
from psilon_bench.data.folds import warn_missing_classes
from psilon_bench.data.split import split_from_rows
from psilon_bench.data.uci import N_FOLDS, UciSplits
from psilon_bench.engine.train import FitResult
from psilon_bench.errors import ConfigError
from psilon_bench.records import io
from psilon_bench.records.provenance import RunInfo
from psilon_bench.report.rules import select_metric
from psilon_bench.report.run_select import select_run
from psilon_bench.runner.grid import Members
from psilon_bench.runner.member_records import member_records, write


def choose(records: list[dict[str, Any]], metric: str) -> dict[int, dict[str, Any]]:
    """Seed -> the selection record of its chosen setting (seeds whose members all
    diverged are absent); the unpruned record where several pruning amounts are."""
    picked = select_run(records, metric)
    if picked is None:
        raise ConfigError(
            f"split.select_on={metric}: the selection records hold no such finite metric"
        )
    chosen: dict[int, dict[str, Any]] = {}
    for record in picked.picked:  # the smallest pruning amount comes first per seed
        chosen.setdefault(record["seed"], record)
    return chosen


def refit_members(chosen: dict[int, dict[str, Any]], seeds: list[int]) -> Members:
    """One member per fold and seed (fold slowest, as the grid orders them) with its seed's
    chosen strength and learning rate."""
    rows = [
        {"fold": f, "seed": s, "strength": chosen[s]["strength"], "lr": chosen[s]["lr"]}
        for f in range(N_FOLDS)
        for s in seeds
        if s in chosen
    ]
    return Members(rows=rows, split_seeds=[chosen[r["seed"]]["split_seed"] for r in rows])


def refit_fields(chosen: dict[str, Any], metric: str, candidates: int) -> dict[str, Any]:
    """What a refit record carries from its selection: the `val.*` metrics, `two_stage.*`."""
    return {
        **{k: v for k, v in chosen.items() if k.startswith("val.")},
        "stage": "refit",
        "two_stage.select_on": metric,
        "two_stage.member": chosen["member"],
        "two_stage.candidates": candidates,
        "two_stage.best_step": chosen.get("best_step"),
        "two_stage.n_train": chosen["n_train"],
        "two_stage.n_val": chosen["n_val"],
    }


@dataclass
class TwoStageRun:
    cfg: DictConfig
    table: Any
    splits: UciSplits
    device: torch.device
    started: float
    data_s: float
    info: RunInfo

    def _records(self, members: Members, splits: list[Any], fitted: Any) -> list[dict[str, Any]]:
        return member_records(
            self.cfg, members, splits, self.table, fitted, self.device, self.started,
            self.data_s, self.info,
        )  # fmt: skip

    def run(
        self, run_dir: Path, members: Members, splits: list[Any], train: Any
    ) -> list[dict[str, Any]]:
        """Selection on `members` (their `splits`: conxuntos.dat's rows), then the refit;
        `train(members, splits, offset=, keep_at=)` is `runner.experiment._fit`."""
        cfg = self.cfg
        fitted = train(members, splits)
        selection = [r | {"stage": "select"} for r in self._records(members, splits, fitted)]
        metric = select_metric(self.table.task, cfg.split.get("select_on"))
        chosen = choose(selection, metric)
        seeds = list(dict.fromkeys(members.seeds))
        lost = [s for s in seeds if s not in chosen]
        if not chosen:  # every member diverged: those are the run's records (exit 3)
            write(cfg, run_dir, selection, fitted[2], self.info)
            return selection
        for seed in lost:
            print(
                f"warning: every member of seed {seed} diverged in selection: no refit",
                file=sys.stderr,
            )
        refit = refit_members(chosen, seeds)
        by_fold = {
            f: split_from_rows(self.table, self.splits.rows(f), cfg.preprocess)
            for f in range(N_FOLDS)
        }
        for f, split in by_fold.items():
            warn_missing_classes(self.table, split.missing_classes, f"fold {f}")
        fold_splits = [by_fold[f] for f in refit.folds]
        keep_at = None
        if choice(cfg.trainer.keep_best) == "val":
            keep_at = [chosen[s].get("best_step") for s in refit.seeds]
        refitted = train(refit, fold_splits, offset=len(members), keep_at=keep_at)
        candidates = {s: members.seeds.count(s) for s in seeds}
        records = [  # members numbered after selection's, as in curves.jsonl
            r
            | {"member": len(members) + r["member"]}
            | refit_fields(chosen[r["seed"]], metric, candidates[r["seed"]])
            for r in self._records(refit, fold_splits, refitted)
        ]
        curves = FitResult.combine([fitted[2], refitted[2]])
        stages = ["select"] * len(fitted[2].curves) + ["refit"] * len(refitted[2].curves)
        curves.curves = [c | {"stage": s} for c, s in zip(curves.curves, stages)]
        write(cfg, run_dir, records, curves, self.info, files={io.SELECTION: io.jsonl(selection)})
        return records
