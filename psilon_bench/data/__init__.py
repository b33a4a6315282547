"""Datasets: the registry, loaders (sklearn, csv, openml, synthetic) and splits.

The data path of docs/design.md, numpy and pandas only (no torch); pandas only where it
does work (CSV, OpenML, categorical columns): bundled and synthetic sets stay numpy arrays
(`table_from_arrays`, `NumericFrame`), so a default run never imports it:

    table = load_table(cfg.dataset, resolve_data_dir(cfg.paths))   # raw features + task
    split = make_split(table, cfg.split, cfg.preprocess, seed)      # float32 arrays
"""

from __future__ import annotations

import importlib
from typing import Any

from .registry import dataset_config, list_datasets, registry_names, resolve_data_dir

# the pandas-based parts load on first use (`psilon-bench datasets` needs none of them)
_LAZY = {"load_table": "loaders", "Split": "split", "make_split": "split", "Table": "table"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Split",
    "Table",
    "dataset_config",
    "list_datasets",
    "load_table",
    "make_split",
    "registry_names",
    "resolve_data_dir",
]
