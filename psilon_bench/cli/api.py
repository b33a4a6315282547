"""The Python API behind `psilon_bench.run`, `psilon_bench.collect` and `psilon_bench.table`:
the command line's own paths (the Hydra app, the report's table builder), so a notebook gets
the same configs, checks, files and numbers, and a user error raises the exception whose
message is the CLI's one `error:` line."""

from __future__ import annotations

import contextlib
import io as _io
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from psilon_bench.errors import ConfigError, SweepFailed, UserAbort, UserError


def overrides_list(overrides: Sequence[str] | Mapping[str, Any] | None) -> list[str]:
    """Hydra override strings from a list (as given) or a mapping (`key=value`; a list value
    becomes `[a,b]`, None `null`, a bool `true`/`false`)."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise UserError(f"overrides must be a list or a mapping of key=value; got {overrides!r}")
    if not isinstance(overrides, Mapping):
        return [str(o) for o in overrides]

    def text(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return "[" + ",".join(text(v) for v in value) + "]"
        return str(value)

    return [f"{key}={text(value)}" for key, value in overrides.items()]


def _compose(args: list[str]) -> Any:
    """The composed config of `args` (no `hydra` node), or the CLI's one-line error."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from psilon_bench.cli.hydra_app import register

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("psilon_bench.conf", version_base=None):
            return compose("config", overrides=args)
    except Exception as ex:
        raise _user_error(ex) from None
    finally:
        GlobalHydra.instance().clear()


def _user_error(ex: BaseException) -> BaseException:
    from psilon_bench.cli.error_lines import config_error_line

    line = config_error_line(ex)
    return ConfigError(line) if line is not None else ex


def default_folder(args: list[str], multirun: bool) -> Path:
    """Where the CLI would write: `<paths.results_dir>/runs|multirun/<name>/<time>_<id>`."""
    cfg = _compose([a for a in args if not a.startswith("hydra")])
    kind = "multirun" if multirun else "runs"
    stamp = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(4)}"
    return Path(str(cfg.paths.results_dir)) / kind / str(cfg.name) / stamp


def run(
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    multirun: bool = False,
    quiet: bool = True,
) -> Any:
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
    import pandas as pd

    from psilon_bench.cli.hydra_app import run_app
    from psilon_bench.cli.invoke import call_hydra, hydra_argv, sweep_error
    from psilon_bench.records import io

    args = overrides_list(overrides)
    folder = Path(out) if out is not None else default_folder(args, multirun)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    argv = hydra_argv([*(["-m"] if multirun else []), *args, f"{key}={folder}"])
    sink = _io.StringIO()
    shown = contextlib.nullcontext() if not quiet else contextlib.redirect_stdout(sink)
    try:
        with shown:
            call_hydra(run_app, argv)
    except UserAbort as abort:
        raise abort.error from None
    except SweepFailed as failed:
        raise UserError(str(failed)) from None
    except UserError:
        raise
    except Exception as ex:
        error = _user_error(ex)
        if error is ex:
            raise
        raise (sweep_error(argv, ex) if multirun else error) from None
    if multirun:
        return io.collect(folder)
    return pd.DataFrame(io.read_records(folder))


def collect(paths: str | Path | Sequence[str | Path]) -> Any:
    """Every complete run's records below `paths` (searched recursively), as
    `psilon-bench table` reads them: one row per member and pruning amount, with the
    `method` and `data` columns tables group by and the run folder in `path`."""
    from psilon_bench.report.collect import collect as collect_runs

    return collect_runs(_paths(paths)).records


def table(
    paths: str | Path | Sequence[str | Path],
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    select_on: str | None = None,
    baseline: str | Sequence[str] | None = None,
    claims: str | Path | None = None,
    cost_relative_to: str | None = None,
) -> dict[str, Any]:
    """The tables `psilon-bench table` writes, as DataFrames by file stem: `table` (one
    row per data x method: selected on validation, mean and std over seeds), `selected`
    (one row per data x method x seed) and, with at least 3 datasets, `stats` (ranks,
    Friedman, Wilcoxon-Holm against `baseline`) and, with `claims` (a claims YAML file),
    `claims` (one row per claim: means, paired test, verdict). The options are `table`'s
    (`--by`, `--metrics`, `--select-on`, `--baseline`, `--claims`, `--cost-relative-to`);
    nothing is written."""
    import pandas as pd

    from psilon_bench.report.commands import build_tables

    bases = [baseline] if isinstance(baseline, str) else baseline
    built = build_tables(
        _paths(paths),
        list(by) if by else None,
        list(metrics) if metrics else None,
        select_on,
        list(bases) if bases else None,
        Path(claims) if claims else None,
        cost_relative_to,
    )
    return {
        name.removesuffix(".csv"): pd.read_csv(_io.StringIO(text))
        for name, text in built.files().items()
        if name.endswith(".csv")
    }


def _paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
