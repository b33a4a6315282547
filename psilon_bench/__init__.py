"""psilon-bench: small-data benchmarks of sparse, norm-controlled neural networks.

The Python API (the command line's own paths, so the configs, checks, files and numbers
are the same; a user error raises the exception whose message is the CLI's `error:` line):

    import psilon_bench as pb
    records = pb.run(["model=psilon_net", "regularizer=path_norm", "seeds=3"])
    sweep = pb.run(["dataset=iris,wine", "model=mlp,psilon_net"], out="sweeps/demo", multirun=True)
    frames = pb.table("sweeps/demo")          # {"table": ..., "selected": ..., "stats": ...}

Import-light on purpose: `import psilon_bench` (and the CLI) must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__version__ = "0.1.0"
__all__ = ["__version__", "collect", "run", "table"]


def run(
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    multirun: bool = False,
    quiet: bool = True,
) -> pd.DataFrame:
    """Train and evaluate the members of one config, as `psilon-bench run` does, and return
    their records (one row per member and pruning amount).

    Args:
        overrides: Hydra overrides, as on the command line (`["model=psilon_net",
            "regularizer.strength=[1e-4,1e-3]"]`) or a mapping (`{"model": "psilon_net",
            "regularizer.strength": [1e-4, 1e-3]}`).
        out: the run folder (with `multirun`: the sweep folder, one job folder inside per
            job); default: where the CLI writes, `results/runs/<name>/<time>_<id>`.
        multirun: a sweep (`psilon-bench run -m`): comma-separated values are crossed, each
            job its own folder; the records of every complete job come back, with their
            folder in the `path` column.
        quiet: leave out what the run prints (the summary table).

    Raises:
        psilon_bench.errors.UserError: a config, data or output mistake (its subclasses
            ConfigError, DataError, ...), with the CLI's one-line message; nothing is
            written. AllDiverged (exit code 3 on the command line): every member diverged,
            the records are written to `out`.
    """
    from psilon_bench.cli import api

    return api.run(overrides, out, multirun, quiet)


def collect(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Every complete run's records below `paths` (searched recursively), as
    `psilon-bench table` reads them: one row per member and pruning amount, with the
    `method` and `data` columns tables group by and the run folder in `path`."""
    from psilon_bench.cli import api

    return api.collect(paths)


def table(
    paths: str | Path | Sequence[str | Path],
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    select_on: str | None = None,
    baseline: str | Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables `psilon-bench table` writes, as DataFrames by file stem: `table` (one
    row per data x method: selected on validation, mean and std over seeds), `selected`
    (one row per data x method x seed) and, with at least 3 datasets, `stats` (ranks,
    Friedman, Wilcoxon-Holm against `baseline`). The options are `table`'s
    (`--by`, `--metrics`, `--select-on`, `--baseline`); nothing is written."""
    from psilon_bench.cli import api

    return api.table(paths, by, metrics, select_on, baseline)
