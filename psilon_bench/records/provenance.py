"""What a record says about where it came from: the config hash that identifies a job
across re-runs (resumable sweeps), the flat `cfg.*` columns, and the package
version and git commit (`env.version`, `env.git_commit`).

The hash covers the resolved config minus the keys in `HASH_EXCLUDE`, which change where
output goes or how fast it comes, not what it is: output paths and the data folder
(`paths.*`, `name`, which only names the default folder), threads, member chunks (both
change results only to float rounding), progress display, the run summary (`summary.*`)
and experiment tracking (`logger.*`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from psilon_bench import __version__
from psilon_bench.records import io

#: Dotted keys (or key prefixes ending in ".") left out of the config hash.
HASH_EXCLUDE = (
    "hydra.",
    "paths.",
    "name",
    "trainer.threads",
    "trainer.member_chunk",
    "trainer.progress",
    "summary.",
    "logger.",
)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The task config as plain containers, interpolations resolved, no `hydra` node."""
    tree = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tree.pop("hydra", None)
    return tree


def _excluded(key: str) -> bool:
    return any(key == ex or (ex.endswith(".") and key.startswith(ex)) for ex in HASH_EXCLUDE)


def config_hash(cfg: DictConfig | Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of the resolved config without
    the `HASH_EXCLUDE` keys; equal configs give equal hashes in any process."""
    tree = resolved(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    kept = {k: v for k, v in io.flatten(tree).items() if not _excluded(k)}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.<dotted key>` columns; list values as compact JSON strings ("[0.001,0.01]"), so
    a pandas groupby over `cfg.*` works."""
    return {
        f"cfg.{k}": json.dumps(v, separators=(",", ":")) if isinstance(v, list) else v
        for k, v in io.flatten(resolved(cfg)).items()
    }


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """HEAD of the git checkout this package runs from (`-dirty` when it has uncommitted
    changes to tracked files), or None for an installed wheel / no git."""
    import psilon_bench

    root = Path(psilon_bench.__file__).resolve().parent.parent  # the checkout holding the package
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """`env.version` (psilon-bench) and `env.git_commit` for every record."""
    return {"env.version": __version__, "env.git_commit": git_commit()}


@dataclass
class RunInfo:
    """Who a run is: `run_id` (the folder's name; `<sweep folder>/<job folder>` in a
    sweep), its config hash and the command line's overrides (written to overrides.yaml)."""

    run_id: str
    config_hash: str
    overrides: list[str] = field(default_factory=list)
    sweep: bool = False  # a job of a sweep: its folder's parent is the sweep folder

    @classmethod
    def of(
        cls, cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None, sweep: bool = False
    ) -> RunInfo:
        run_dir = Path(run_dir)
        run_id = f"{run_dir.parent.name}/{run_dir.name}" if sweep else run_dir.name
        return cls(run_id, config_hash(cfg), list(overrides or []), sweep)

    def record_fields(self) -> dict[str, Any]:
        """`run_id`, `config_hash`, `env.version`, `env.git_commit` for every record."""
        return {"run_id": self.run_id, "config_hash": self.config_hash, **environment()}

    def overrides_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.create(self.overrides))
