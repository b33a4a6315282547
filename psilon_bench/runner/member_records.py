"""A run's records (one per member and pruning amount) and writing them with the run's
other files (`records.io.write_run`)."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from psilon_bench import baselines
from psilon_bench.engine.train import FitResult
from psilon_bench.records import io
from psilon_bench.records.provenance import RunInfo, flat_config
from psilon_bench.runner import tracking
from psilon_bench.runner.grid import Members
from psilon_bench.runner.outcome import null_diverged_metrics

#: what `runner.experiment._fit` returns: d_in, evaluations (a list per member), the fit,
#: the member chunk size and the evaluation seconds
Fitted = tuple[int, list[list[dict[str, Any]]], FitResult, int, float]


def member_records(
    cfg: DictConfig,
    members: Members,
    splits: list[Any],
    table: Any,
    fitted: Fitted,
    device: torch.device,
    started: float,
    data_s: float,
    info: RunInfo,
) -> list[dict[str, Any]]:
    """One record per member (and pruning amount) of `members`, trained on `splits`."""
    d_in, evaluation, fit, chunk_size, eval_s = fitted
    first = splits[0]
    d_out = first.n_classes if first.task == "classification" else 1
    flat_cfg = flat_config(cfg)
    provenance = info.record_fields()
    records = []
    for e, evaluated in ((m, ev) for m, evs in enumerate(evaluation) for ev in evs):
        diverged = fit.diverged_step[e]
        records.append(
            {
                "run_id": provenance["run_id"],
                "config_hash": provenance["config_hash"],
                "member": e,
                "seed": members.seeds[e],
                "split_seed": members.split_seeds[e],
                "strength": members.strengths[e],
                "lr": members.lrs[e],
                "fold": members.folds[e],
                "status": "ok" if diverged is None else "diverged",
                "diverged_step": diverged,
                "best_step": fit.best_step_of(e) if diverged is None else None,
                "dataset": cfg.dataset.name,
                "model": cfg.model.name,
                "regularizer": cfg.regularizer.name,
                "pruning": cfg.pruning.name,
                "task": first.task,
                "n_classes": first.n_classes,
                "d_in": d_in,
                "d_out": d_out,
                "n_train": splits[e].sizes["train"],
                "n_val": splits[e].sizes["val"],
                "n_test": splits[e].sizes["test"],
                "data.warnings": list(table.warnings),
                "data.missing_classes": list(splits[e].missing_classes),
                **evaluated,
                "train.final_loss": fit.final_loss[e],
                "time.wall_s": fit.wall_time_s,
                "time.steps": fit.steps,
                "time.steps_per_s": fit.steps_per_s,
                "time.members": len(members),
                "time.member_chunk": chunk_size,
                "time.run_s": time.time() - started,
                "time.started": started,  # unix time run_experiment began (after start-up)
                "time.data_s": data_s,  # loading, splitting and preprocessing the data
                "time.eval_s": eval_s,  # evaluate_members: metrics of every member
                "env.device": str(device),
                "env.threads": torch.get_num_threads(),
                "env.torch": torch.__version__,
                "env.python": platform.python_version(),
                "env.version": provenance["env.version"],
                "env.git_commit": provenance["env.git_commit"],
                **flat_cfg,
            }
        )
    return [null_diverged_metrics(r) for r in records]


def write(
    cfg: DictConfig,
    run_dir: Path,
    records: list[dict[str, Any]],
    fit: FitResult,
    info: RunInfo,
    files: dict[str, str] | None = None,
) -> None:
    """config.yaml, records.jsonl, curves.jsonl (networks with `trainer.curves`),
    overrides.yaml and the `files` ({name: text}), the `logger`'s tracking, then DONE."""
    run_id = info.record_fields()["run_id"]
    curves = [{"run_id": run_id, **point} for point in fit.curves]
    network = not baselines.is_baseline(cfg.model)
    curves = curves if network and cfg.trainer.curves else None
    io.write_run(
        Path(run_dir),
        OmegaConf.to_yaml(cfg, resolve=True),
        records,
        curves=curves,
        files={io.OVERRIDES: info.overrides_yaml(), **(files or {})},
        done=info.config_hash,
        before_done=lambda: tracking.log_run(cfg, run_dir, records, curves, info.sweep),
    )
