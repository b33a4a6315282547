"""The dataset registry (`conf/dataset/*.yaml`, shipped as `psilon_bench.conf`) and the
data folder: where csv files and the OpenML cache live."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from psilon_bench.config import DatasetConfig, Source, TaskKind, register_resolvers
from psilon_bench.errors import DataError

from .openml import openml_cached

DATA_ENV = "PSILON_BENCH_DATA"


def resolve_data_dir(paths_cfg: Any = None) -> Path:
    """`paths.data_dir` if set, else $PSILON_BENCH_DATA if set, else ./data (from the cwd)."""
    configured = getattr(paths_cfg, "data_dir", None) if paths_cfg is not None else None
    chosen = configured or os.environ.get(DATA_ENV) or "data"
    return Path(chosen).expanduser().resolve()


def dataset_file(dataset_cfg: Any, data_dir: Path) -> Path:
    """Where `dataset.path` points: absolute as given; a relative path inside `data_dir`,
    else from the current folder when the file is there (else inside `data_dir`, the path
    errors name)."""
    path = Path(dataset_cfg.path).expanduser()
    if path.is_absolute():
        return path
    inside = Path(data_dir) / path
    if not inside.is_file() and path.is_file():
        return path.resolve()
    return inside


def _registry_files() -> dict[str, Any]:
    """Registry name (file stem) -> the YAML resource, sorted by name."""
    folder = files("psilon_bench.conf") / "dataset"
    found = {f.name[: -len(".yaml")]: f for f in folder.iterdir() if f.name.endswith(".yaml")}
    return dict(sorted(found.items()))


def registry_names() -> list[str]:
    """What `dataset=<name>` accepts from the shipped registry."""
    return list(_registry_files())


def dataset_config(name: str) -> DictConfig:
    """Registry entry `name` merged over the `DatasetConfig` schema (types checked)."""
    register_resolvers()
    entries = _registry_files()
    if name not in entries:
        raise DataError(f"dataset={name} is not in the registry; known: {', '.join(entries)}")
    with entries[name].open("r") as handle:
        raw = OmegaConf.load(handle)
    raw.pop("defaults", None)
    return OmegaConf.merge(OmegaConf.structured(DatasetConfig), raw)


def is_available(dataset_cfg: Any, data_dir: Path) -> bool:
    """Whether the dataset loads offline now: bundled and synthetic always; csv when its
    file is in `data_dir` or OpenML's cache there has it; openml when cached."""
    source = Source(dataset_cfg.source)
    if source in (Source.sklearn, Source.synthetic):
        return True
    cached = dataset_cfg.openml_id is not None and openml_cached(data_dir, dataset_cfg.openml_id)
    if source == Source.csv and dataset_cfg.path:
        return dataset_file(dataset_cfg, data_dir).is_file() or cached
    if source == Source.uci:
        return bool(dataset_cfg.path) and dataset_file(dataset_cfg, data_dir).is_dir()
    return cached


def list_datasets(data_dir: Path | str) -> list[dict[str, Any]]:
    """One row per registry entry: name, rows, features, task, source, available, description."""
    data_dir = Path(data_dir)
    rows = []
    for name in registry_names():
        cfg = dataset_config(name)
        rows.append(
            {
                "name": cfg.name,
                "rows": cfg.n_rows,
                "features": cfg.n_features,
                "task": TaskKind(cfg.task).value,
                "source": Source(cfg.source).value,
                "available": is_available(cfg, data_dir),
                "description": cfg.description,
            }
        )
    return rows
