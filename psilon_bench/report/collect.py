"""Collect the records below some folders for the report: complete runs (read by
`psilon_bench.records.io.collect`, the one record reader), incomplete runs (no `DONE`) and failed
ones (`FAILED` holding a one-line error), and readable method names.

A *method* (docs/protocols.md, selection) is model + regularizer + pruning + every non-axis
option that differs between the runs of that model+regularizer+pruning combination, e.g.
`mlp+lp_bridge(p=0.8)`. Member axes (`strength`, `lr`) are chosen by selection and the
pruning amount (`prune.amount`) is an evaluation dimension: neither is part of a method.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from psilon_bench.errors import UserError
from psilon_bench.records import io

METHOD_GROUPS = ("cfg.model.", "cfg.regularizer.", "cfg.pruning.", "cfg.optimizer.")
METHOD_GROUPS += ("cfg.schedule.", "cfg.trainer.")
# config keys that are axes, evaluation dimensions or run-time settings, never a method
NOT_METHOD = {
    "cfg.regularizer.strength",
    "cfg.optimizer.lr",
    "cfg.pruning.fraction",
    "cfg.pruning.sparsity",
    "cfg.pruning.amount",
    "cfg.trainer.device",
    "cfg.trainer.threads",
    "cfg.trainer.member_chunk",
    "cfg.trainer.progress",
    "cfg.trainer.curve_every",
}
BASE_KEYS = ("cfg.model.name", "cfg.regularizer.name", "cfg.pruning.name")
DATA_GROUPS = ("cfg.split.", "cfg.preprocess.")  # options that make another data setting
NOT_DATA = {"cfg.split.seed"}


@dataclass
class Collected:
    """The records of every complete run (one row per member and pruning amount), plus the
    run folders that are incomplete or failed (path -> error line) and the complete runs
    that share one config (config hash -> their folders: the same job run twice)."""

    records: pd.DataFrame
    runs: list[Path] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    repeated: dict[str, list[Path]] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per incomplete or failed run (printed under the table)."""
        lines = [f"failed run {p}: {msg}" for p, msg in sorted(self.failed.items())]
        lines += [f"incomplete run (no DONE) {p}" for p in self.incomplete]
        if self.failed or self.incomplete:
            lines.insert(
                0,
                f"{len(self.runs)} complete, {len(self.failed)} failed, "
                f"{len(self.incomplete)} incomplete runs",
            )
        for config_hash, runs in sorted(self.repeated.items()):
            lines.append(
                f"the same config ran {len(runs)} times (config hash {config_hash[:12]}), and "
                f"every copy is counted: {', '.join(str(r) for r in runs)}; keep one of them, "
                "or give table one sweep folder (a sweep re-run in its own hydra.sweep.dir "
                "skips finished jobs)"
            )
        return lines


def repeated_configs(runs: list[Path]) -> dict[str, list[Path]]:
    """Config hash -> the complete runs that hold it, where more than one does."""
    by_hash: dict[str, list[Path]] = {}
    for run in runs:
        config_hash = io.done_hash(run)
        if config_hash:
            by_hash.setdefault(config_hash, []).append(run)
    return {h: sorted(rs) for h, rs in by_hash.items() if len(rs) > 1}


def scan(roots: list[Path]) -> tuple[list[Path], list[Path], dict[Path, str]]:
    """(complete, incomplete, failed) run folders below `roots`. A run folder holds
    `DONE`, `FAILED` or `config.yaml`/`records.jsonl`; in a Hydra sweep folder (with
    `multirun.yaml`) a job folder without any of them is incomplete too (killed early)."""
    complete: set[Path] = set()
    incomplete: set[Path] = set()
    failed: dict[Path, str] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"{root} is not a folder (table/plot read run folders below DIR)")
        for marker in (io.DONE, io.FAILED, io.CONFIG, io.RECORDS):
            for hit in root.rglob(marker):
                run = hit.parent
                if (run / io.DONE).exists():
                    complete.add(run)
                elif (run / io.FAILED).exists():
                    text = (run / io.FAILED).read_text(errors="replace").strip()
                    failed[run] = text.splitlines()[0] if text else "(empty FAILED file)"
                else:
                    incomplete.add(run)
        for sweep in root.rglob("multirun.yaml"):  # a Hydra sweep: every job folder counts
            for job in sweep.parent.iterdir():
                if job.is_dir() and job not in complete and job not in failed:
                    if not any(job.rglob(io.DONE)):
                        incomplete.add(job)
    return sorted(complete), sorted(incomplete), failed


def collect(roots: list[Path]) -> Collected:
    """Every record below `roots`, normalized (see `normalize`); a UserError when no
    complete run is found."""
    roots = [Path(r) for r in roots]
    complete, incomplete, failed = scan(roots)
    if not complete:
        where = ", ".join(str(r) for r in roots)
        extra = (
            f" ({len(failed)} failed, {len(incomplete)} incomplete)" if failed or incomplete else ""
        )
        raise UserError(f"no complete run (a folder with {io.DONE}) below {where}{extra}")
    frames = [io.collect(root) for root in roots]
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True)
    frame = frame.drop_duplicates(subset=["path", "member", *_prune_cols(frame)])
    return Collected(normalize(frame), complete, incomplete, failed, repeated_configs(complete))


def _prune_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("prune.amount",) if c in frame.columns]


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill what older records lack and add the report's columns: `lr`, `fold`, `status`,
    `prune.amount` (from a scalar `cfg.pruning.fraction`/`sparsity` when absent, else 0),
    list values as JSON strings, `method` and `data` (dataset plus any split or
    preprocessing option that differs between runs of that dataset)."""
    df = frame.copy()
    for col in [c for c in df.columns if pd.api.types.is_object_dtype(df[c])]:
        if df[col].map(lambda v: isinstance(v, (list, dict))).any():
            df[col] = df[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    if "lr" not in df.columns:
        df["lr"] = pd.to_numeric(df.get("cfg.optimizer.lr"), errors="coerce")
    if "fold" not in df.columns:
        df["fold"] = None
    if "status" not in df.columns:
        df["status"] = "ok"
    if "seed" not in df.columns:
        df["seed"] = df.get("member", 0)
    if "prune.amount" not in df.columns:
        df["prune.amount"] = _legacy_amount(df)
    df["prune.amount"] = pd.to_numeric(df["prune.amount"], errors="coerce").fillna(0.0)
    if "task" not in df.columns:
        df["task"] = "classification" if "test.accuracy" in df.columns else "regression"
    if "dataset" not in df.columns:
        df["dataset"] = df.get("cfg.dataset.name", "data")
    df["method"] = method_names(df)
    if "ensemble.k" in df.columns:  # `ensemble: k`: the average of k members is its own method
        k = pd.to_numeric(df["ensemble.k"], errors="coerce")
        hit = k.notna()
        df.loc[hit, "method"] += " + ensemble(" + k[hit].astype(int).astype(str) + ")"
    df["data"] = data_names(df)
    return df


def _legacy_amount(df: pd.DataFrame) -> pd.Series:
    """Runs written before `prune.amount` existed: one pruning fraction/sparsity per run."""
    amount = pd.Series(0.0, index=df.index)
    name = df.get("cfg.pruning.name", pd.Series("none", index=df.index))
    for key, pruner in (
        ("cfg.pruning.fraction", "neuron_norm"),
        ("cfg.pruning.sparsity", "magnitude"),
    ):
        if key in df.columns:
            values = pd.to_numeric(df[key], errors="coerce")
            hit = (name == pruner) & values.notna()
            amount[hit] = values[hit]
    return amount


def _varying(df: pd.DataFrame, groups: tuple[str, ...], skip: set[str]) -> list[str]:
    cols = [c for c in df.columns if c.startswith(groups) and c not in skip]
    return [c for c in cols if df[c].astype(str).nunique(dropna=False) > 1]


def _value(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _short(keys: list[str]) -> dict[str, str]:
    """`cfg.regularizer.p` -> `p`, unless two keys share the last part (then `regularizer.p`)."""
    last = [k.rpartition(".")[2] for k in keys]
    return {k: (s if last.count(s) == 1 else k.removeprefix("cfg.")) for k, s in zip(keys, last)}


def method_names(df: pd.DataFrame) -> pd.Series:
    """`model+regularizer[+pruning](option=value, ...)` per record; the options are those
    that differ between runs of the same model+regularizer+pruning."""
    base_cols = [c for c in BASE_KEYS if c in df.columns]
    if not base_cols:
        fallback = [c for c in ("model", "regularizer") if c in df.columns]
        return (
            df[fallback].astype(str).agg("+".join, axis=1)
            if fallback
            else pd.Series("method", index=df.index)
        )
    parts = df[base_cols].fillna("none").astype(str)
    base = parts.apply(_base_name, axis=1)
    names = base.copy()
    for b, idx in base.groupby(base).groups.items():
        sub = df.loc[idx]
        keys = _varying(sub, METHOD_GROUPS, NOT_METHOD | set(BASE_KEYS))
        if not keys:
            continue
        short = _short(keys)
        names[idx] = sub[keys].apply(
            lambda r: f"{b}(" + ", ".join(f"{short[k]}={_value(r[k])}" for k in keys) + ")", axis=1
        )
    return names


#: Baselines named without `sklearn_` (`baselines.gbdt`): like scikit-learn's, their own
#: penalty is the strength axis and their regularizer always `none`.
GBDT_MODELS = ("catboost", "lightgbm", "xgboost")


def _base_name(parts: pd.Series) -> str:
    """model+regularizer[+pruning]; the baselines (scikit-learn's, gradient boosting) are their
    model name alone (their own penalty grid is the strength axis)."""
    model = str(parts.get("cfg.model.name", ""))
    baseline = model.startswith("sklearn_") or model in GBDT_MODELS
    keep = [
        v
        for c, v in parts.items()
        if not (c == "cfg.pruning.name" and v == "none")
        and not (c == "cfg.regularizer.name" and baseline)
    ]
    return "+".join(keep)


def data_names(df: pd.DataFrame) -> pd.Series:
    """The dataset, plus split/preprocessing options that differ between its runs
    (e.g. `breast_cancer(n_train=50)` in a P6 sweep over training sizes)."""
    names = df["dataset"].astype(str)
    out = names.copy()
    for d, idx in names.groupby(names).groups.items():
        sub = df.loc[idx]
        keys = _varying(sub, DATA_GROUPS, NOT_DATA)
        if keys:
            short = _short(keys)
            out[idx] = sub[keys].apply(
                lambda r: f"{d}(" + ", ".join(f"{short[k]}={_value(r[k])}" for k in keys) + ")",
                axis=1,
            )
    return out


def run_curves(collected: Collected) -> pd.DataFrame:
    """The learning curves (`curves.jsonl`) of every complete run, with the run's
    `method`, `data` and `task`; empty when no run has curves."""
    meta = collected.records.drop_duplicates("path").set_index("path")[["method", "data", "task"]]
    frames = []
    for run in collected.runs:
        path = run / io.CURVES
        if path.exists() and str(run) in meta.index:
            rows = pd.DataFrame(io.read_jsonl(path))
            for col in ("method", "data", "task"):
                rows[col] = meta.loc[str(run), col]
            frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
