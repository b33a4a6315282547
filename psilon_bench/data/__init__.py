"""Datasets: the registry, loaders (sklearn, csv, openml, synthetic) and splits.

The data path of ARCHITECTURE.md, numpy and pandas only (no torch):

    table = load_table(cfg.dataset, resolve_data_dir(cfg.paths))   # raw features + task
    split = make_split(table, cfg.split, cfg.preprocess, seed)      # float32 arrays
"""

from .loaders import load_table
from .registry import dataset_config, list_datasets, registry_names, resolve_data_dir
from .split import Split, make_split
from .table import Table

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
