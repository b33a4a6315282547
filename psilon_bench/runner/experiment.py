"""One run, end to end (docs/design.md): config -> validate -> data.load_table -> make_split
per member -> models.build (E members) -> train.fit -> evaluate -> io.write_run (config.yaml,
records.jsonl, overrides.yaml, the `logger`'s experiment tracking, DONE).

`split.kind=two_stage` (the UCI collection's protocol) trains twice, selection then refit
(`runner/two_stage.py`). Nothing is written until every member has trained and been
evaluated; a user error (`UserError`) raised anywhere before that leaves no file behind.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from psilon_bench import baselines, models, regularizers
from psilon_bench import data as data_pkg
from psilon_bench.config import choice
from psilon_bench.data.folds import warn_missing_classes
from psilon_bench.data.uci import N_FOLDS
from psilon_bench.engine.monitor import build_monitor, check_evaluation
from psilon_bench.engine.progress import RunProgress, live_output
from psilon_bench.engine.threads import available_cores, default_threads, step_flops
from psilon_bench.engine.train import (
    FitResult,
    MemberData,
    balanced_class_weights,
    fit,
    member_chunks,
    plan_steps,
)
from psilon_bench.errors import ConfigError, DataError
from psilon_bench.measure.ensemble import member_outputs
from psilon_bench.measure.evaluate import evaluate_members, member_rows, task_columns
from psilon_bench.records.provenance import RunInfo
from psilon_bench.runner import ensemble
from psilon_bench.runner.checks import check_job
from psilon_bench.runner.grid import Members, idle_axes
from psilon_bench.runner.member_records import Fitted, member_records, write


def resolve_device(name: str) -> torch.device:
    """trainer.device: auto (CUDA when visible, else CPU) | cpu | cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "trainer.device=cuda but no CUDA device is visible; allowed here: cpu, auto"
        )
    return torch.device(name)


def stack_splits(
    splits: list[Any], part: str, device: torch.device, dtype: torch.dtype
) -> MemberData:
    """One split part ("train" | "val" | "test") of every member, stacked to (E, N, ...)."""
    first = splits[0]
    y_dtype = torch.int64 if first.task == "classification" else dtype

    def tensors(s: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(getattr(s, f"X_{part}"), dtype=dtype, device=device)
        y = torch.as_tensor(getattr(s, f"y_{part}"), dtype=y_dtype, device=device)
        return x, y

    if all(s is first for s in splits):  # one shared split: an expanded view, no copies
        x, y = tensors(first)
        E = len(splits)
        return MemberData(x.expand(E, *x.shape), y.expand(E, *y.shape), first.task, first.n_classes)
    unique = {id(s): tensors(s) for s in splits}
    if len({t[0].shape for t in unique.values()}) > 1:
        raise DataError(
            "members' splits encode to different feature counts (a rare category); "
            "set split.seed to give every member the same split"
        )
    xs, ys = zip(*(unique[id(s)] for s in splits))
    return MemberData(torch.stack(xs), torch.stack(ys), first.task, first.n_classes)


def run_experiment(
    cfg: DictConfig,
    run_dir: Path,
    threads: int | None = None,
    cores: int | None = None,
    live: bool | None = None,
    info: RunInfo | None = None,
) -> list[dict[str, Any]]:
    """Train and evaluate every member of `cfg`, write the run to `run_dir`, return the records.

    Intra-op threads: `threads`, else `trainer.threads`, else `default_threads` from the
    step's size and the `cores` this job may use (default: its affinity mask). `live`:
    draw progress on the terminal (None: `trainer.progress`, see `progress.live_output`).
    `info`: run id, config hash and overrides (default: from the folder name and `cfg`).
    """
    check_job(cfg)
    for line in idle_axes(cfg) + _protocol_note(cfg):
        print(f"warning: {line}", file=sys.stderr)
    info = info or RunInfo.of(cfg, Path(run_dir))
    if live is None:
        live = live_output(choice(cfg.trainer.progress), parallel=False)
    n_members = len(Members.from_config(cfg))
    if choice(cfg.split.kind) == "two_stage":  # and the refit: a member per seed and fold
        n_members += len(set(Members.from_config(cfg).seeds)) * N_FOLDS
    with RunProgress(n_members, enabled=live) as progress:
        return _run(cfg, run_dir, threads, cores, progress, info)


def _protocol_note(cfg: DictConfig) -> list[str]:
    """A UCI folder split another way than its own protocol (allowed, but said)."""
    kind = choice(cfg.split.kind)
    if choice(cfg.dataset.source) != "uci" or kind == "two_stage":
        return []
    return [
        f"dataset=uci with split.kind={kind}: the folder's conxuntos.dat and "
        "conxuntos_kfold.dat are not used; split.kind=two_stage runs the collection's protocol"
    ]


def _run(
    cfg: DictConfig,
    run_dir: Path,
    threads: int | None,
    cores: int | None,
    progress: RunProgress,
    info: RunInfo,
) -> list[dict[str, Any]]:
    started = time.time()
    members = Members.from_config(cfg)
    device = resolve_device(choice(cfg.trainer.device))
    dtype = torch.float64 if choice(cfg.trainer.dtype) == "float64" else torch.float32

    with progress.status(f"loading {cfg.dataset.name}"):
        table = data_pkg.load_table(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
        split_file = _split_file(cfg, table)
        keys = list(zip(members.split_seeds, members.folds))
        by_key = {
            (s, f): data_pkg.make_split(table, cfg.split, cfg.preprocess, s, f, split_file)
            for s, f in dict.fromkeys(keys)
        }
    for warning in table.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for (seed, fold), split in by_key.items():
        where = f"fold {fold}" if fold is not None else f"the split of seed {seed}"
        warn_missing_classes(table, split.missing_classes, where)
    splits = [by_key[k] for k in keys]
    data_s = time.time() - started
    where = (device, dtype, threads, cores, progress)
    train = functools.partial(_fit, cfg, where=where)
    if choice(cfg.split.kind) == "two_stage":  # select on validation, refit on the folds
        from psilon_bench.runner import two_stage

        run = two_stage.TwoStageRun(cfg, table, split_file, device, started, data_s, info)
        return run.run(run_dir, members, splits, train)
    outputs: list[dict[str, Any]] | None = [] if cfg.get("ensemble") else None
    fitted = train(members, splits, outputs=outputs)
    records = member_records(cfg, members, splits, table, fitted, device, started, data_s, info)
    if outputs is not None:  # `ensemble: k`: one more record per k members of a setting
        parts = ensemble.scored_parts(splits[0], cfg.metrics.train_split)
        records += ensemble.ensemble_records(records, members, outputs, splits, cfg.ensemble, parts)
    write(cfg, run_dir, records, fitted[2], info)
    return records


def _fit(
    cfg: DictConfig,
    members: Members,
    splits: list[Any],
    where: tuple,
    offset: int = 0,
    keep_at: list[int | None] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> Fitted:
    """Train (or fit, a scikit-learn baseline) and evaluate `members` on their `splits`:
    d_in, evaluations, fit, chunk size, evaluation seconds. `where`: device, dtype, threads,
    cores and progress, as `_train_networks` takes them; `offset`: the run's index of the
    first member; `keep_at`: each member's kept step (two_stage's refit); `outputs`: gets
    each member's outputs per split part (`ensemble: k`)."""
    first = splits[0]
    if baselines.is_baseline(cfg.model):  # scikit-learn: one estimator per member, no torch
        t_fit = where[2] or cfg.trainer.threads or 1
        scores, fit_s = baselines.fit_members(
            cfg.model,
            splits,
            members.seeds,
            members.strengths,
            t_fit,
            members.lrs,
            choice(cfg.trainer.class_weight),
            keep_outputs=outputs,
        )
        E = len(members)
        fitted = FitResult(0, fit_s, diverged_step=[None] * E, final_loss=[None] * E)
        return first.n_features, [[score] for score in scores], fitted, E, 0.0
    return _train_folds(
        cfg, members, splits, *where, offset=offset, keep_at=keep_at, outputs=outputs
    )


def _split_file(cfg: DictConfig, table: Any) -> Any:
    """The validated NAME.splits.json of split.kind=predefined, the UCI layout's row indices
    of two_stage, else None."""
    if choice(cfg.split.kind) == "two_stage":
        from psilon_bench.data.loaders import uci_folder
        from psilon_bench.data.uci import read_uci_splits

        folder = uci_folder(cfg.dataset, data_pkg.resolve_data_dir(cfg.paths))
        return read_uci_splits(folder, table)
    if choice(cfg.split.kind) != "predefined":
        return None
    from psilon_bench.data.folds import predefined_path, read_split_file

    return read_split_file(predefined_path(cfg), table)


def _train_folds(
    cfg: DictConfig,
    members: Members,
    splits: list[Any],
    *args: Any,
    offset: int = 0,
    keep_at: list[int | None] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> Fitted:
    """`_train_networks` on each fold's block of members (folds differ in size); one block
    (holdout) is exactly one call."""
    out = []
    for block in members.blocks():
        at = keep_at[block] if keep_at is not None else None
        out.append(
            _train_networks(
                cfg,
                members.subset(block),
                splits[block],
                *args,
                first=offset + block.start,
                keep_at=at,
                outputs=outputs,
            )  # fmt: skip
        )
    fitted = FitResult.combine([p[2] for p in out])
    evaluation = [row for p in out for row in p[1]]
    return out[0][0], evaluation, fitted, max(p[3] for p in out), sum(p[4] for p in out)


def _train_networks(
    cfg: DictConfig,
    members: Members,
    splits: list[Any],
    device: torch.device,
    dtype: torch.dtype,
    threads: int | None,
    cores: int | None,
    progress: RunProgress,
    first: int = 0,
    keep_at: list[int | None] | None = None,
    outputs: list[dict[str, Any]] | None = None,
) -> Fitted:
    """Train and evaluate the torch members (in chunks): d_in, evaluations (one list per
    member: one per pruning amount, `evaluate_amounts`), fit, chunk size, evaluation seconds.
    `first`: the run's index of `members`' first member; `outputs`: gets each member's
    outputs per split part (`ensemble: k`)."""
    offset, first = first, splits[0]
    parts = {
        p: stack_splits(splits, p, device, dtype)
        for p in ("train", "val", "test")
        if first.sizes[p] > 0
    }
    d_out = first.n_classes if first.task == "classification" else 1
    d_in = parts["train"].x.shape[-1]
    t = cfg.trainer  # an epoch budget within [min_steps, max_steps], or exactly `steps`
    budget = (t.batch_size, t.epochs, t.steps, t.min_steps, t.max_steps)
    plan = plan_steps(parts["train"].n_rows, *budget)
    probe = models.build(cfg.model, d_in=d_in, d_out=d_out, seeds=members.seeds[:1])
    chunk = cfg.trainer.member_chunk
    if chunk is None and device.type != "cpu":  # the cache argument of member_chunks is a CPU one
        chunk = len(members)
    per_member = sum(p.numel() for p in probe.parameters())
    chunks = member_chunks(len(members), per_member, chunk)
    n_threads = threads or cfg.trainer.threads
    if n_threads is None:
        flops = step_flops(per_member, chunks[0].stop - chunks[0].start, plan.batch)
        n_threads = default_threads(flops, cores or available_cores())
    torch.set_num_threads(n_threads)
    check_evaluation(cfg, "val" in parts or keep_at is not None, first.task)
    fits: list[FitResult] = []
    evaluation: list[list[dict[str, Any]]] = []
    eval_s = 0.0
    for chunk in chunks:  # all members at once unless they outgrow the cache (member_chunks)
        model = models.build(cfg.model, d_in=d_in, d_out=d_out, seeds=members.seeds[chunk])
        model = model.to(device=device, dtype=dtype)
        strength = torch.tensor(members.strengths[chunk], dtype=dtype, device=device)
        regularizer = regularizers.build(cfg.regularizer, strength, model)
        pruner = _build_pruner(cfg, model)
        train = parts["train"].members(chunk)
        class_weight = None
        if choice(cfg.trainer.class_weight) == "balanced":
            class_weight = balanced_class_weights(train.y, train.n_classes).to(dtype)
        val = parts["val"].members(chunk) if "val" in parts else None
        monitor = build_monitor(
            cfg.trainer,
            val,
            plan,
            None if _amounts(cfg) else pruner,
            class_weight,
            keep_at=keep_at[chunk] if keep_at is not None else None,
        )
        fits.append(
            fit(
                model,
                train,
                members.seeds[chunk],
                regularizer,
                cfg.optimizer,
                cfg.schedule,
                plan,
                pruner=None if _amounts(cfg) else pruner,  # a list: pruned copies after
                progress=progress.chunk(slice(chunk.start + offset, chunk.stop + offset)),
                lrs=members.lrs[chunk],
                loss_adaptive=bool(cfg.trainer.loss_adaptive),
                class_weight=class_weight,
                monitor=monitor,
            )
        )
        if monitor is not None and cfg.trainer.curves:
            fits[-1].curves = monitor.curve_rows(members.rows[chunk], first=offset + chunk.start)
        t_eval = time.perf_counter()
        with progress.status(
            f"evaluating members {offset + chunk.start + 1}-{offset + chunk.stop}"
        ):
            chunk_parts = {k: v.members(chunk) for k, v in parts.items()}
            rows = evaluate_amounts(model, chunk_parts, cfg)
            if getattr(pruner, "raw", None) is not None:  # pruning.compare_unpruned
                for records, extra in zip(rows, unpruned_metrics(model, pruner, chunk_parts, cfg)):
                    for row in records:
                        row.update(extra)
            evaluation += rows
            if outputs is not None:
                outputs += member_outputs(model, chunk_parts)
        eval_s += time.perf_counter() - t_eval
    fitted = FitResult.combine(fits)
    return d_in, evaluation, fitted, chunks[0].stop - chunks[0].start, eval_s


def _amounts(cfg: DictConfig) -> list[float] | None:
    if cfg.pruning.name == "none":
        return None
    from psilon_bench import pruning

    return pruning.prune_amounts(cfg.pruning)


def evaluate_amounts(
    model: Any, parts: dict[str, MemberData], cfg: DictConfig
) -> list[list[dict[str, Any]]]:
    """Per member, its records' evaluations: one, or with a list of pruning amounts
    (`pruning.prune_amounts`) the trained model unpruned (`prune.amount` 0) and a pruned
    copy at each amount, all from one training (`prune.kind`, `prune.amount`)."""
    amounts = _amounts(cfg)
    if amounts is None:
        from psilon_bench import pruning

        extra = pruning.record_amount(cfg.pruning) if cfg.pruning.name != "none" else {}
        return [[row | extra] for row in evaluate_members(model, parts, cfg)]
    from psilon_bench import pruning

    kind = {"prune.kind": str(cfg.pruning.name)}
    columns = [evaluate_members(model, parts, cfg)]
    columns += [
        evaluate_members(pruning.pruned_copy(cfg.pruning, model, a), parts, cfg) for a in amounts
    ]
    return [
        [row | kind | {"prune.amount": a} for row, a in zip(rows, [0.0, *amounts])]
        for rows in zip(*columns)
    ]


def unpruned_metrics(
    model: Any, pruner: Any, parts: dict[str, MemberData], cfg: DictConfig
) -> list[dict[str, Any]]:
    """Per member, `unpruned.<split>.<metric>`: the task metrics of the same trained model
    without its projection (`PsilonProjection.unprojected`), next to the pruned record's own."""
    model.eval()
    with pruner.unprojected():
        columns = task_columns(model, parts, cfg.metrics, prefix="unpruned.")
    model.train()
    return member_rows(columns, model.n_members)


def _build_pruner(cfg: DictConfig, model: Any) -> Any:
    if cfg.pruning.name == "none":
        return None
    from psilon_bench import pruning

    return pruning.build(cfg.pruning, model)
