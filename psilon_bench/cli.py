"""`psilon-bench`: the command-line dispatcher.

    psilon-bench run [overrides...]        train the members of one config (Hydra app)
    psilon-bench run -m [sweep...]         a Hydra multirun sweep
    psilon-bench datasets [--data-dir D]   the dataset registry and what is available offline

`run` hands the rest of argv to the `@hydra.main` entry point (`--help`, `--cfg job`,
`--info`, `-m` work as in Hydra). User errors print one line and exit with code 2; torch
is never imported here, so `psilon-bench --help` answers at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

USAGE = """usage: psilon-bench <command> [args...]

commands:
  run [overrides...]        train one config: psilon-bench run model=mlp dataset=wine seeds=5
  run -m [sweep...]         Hydra multirun: psilon-bench run -m regularizer=l2,weight_decay
  run --help                every config group and option (Hydra's help); --cfg job prints the config
  datasets [--data-dir D]   list the dataset registry (rows, features, task, source, offline?)

options:
  -h, --help                this message
  --version                 the version

Configs live in conf/ (shipped in the package); results land in ./results by default.
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if args[0] in ("-V", "--version"):
        from psilon_bench import __version__

        print(f"psilon-bench {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command == "run":
        return _guarded(lambda: _run(rest))
    if command == "datasets":
        return _guarded(lambda: _datasets(rest))
    print(
        f"error: unknown command {command!r}; allowed: run, datasets (see psilon-bench --help)",
        file=sys.stderr,
    )
    return 2


def _run(rest: list[str]) -> int:
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach _guarded instead of Hydra's printer
    from psilon_bench.hydra_app import run_app

    saved = sys.argv
    flags = [a for a in rest if a in ("-m", "--multirun")]  # Hydra wants them before overrides
    sys.argv = ["psilon-bench run", *flags, *[a for a in rest if a not in flags]]
    try:
        run_app()
    finally:
        sys.argv = saved
    return 0


def _datasets(rest: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="psilon-bench datasets", description="List the dataset registry."
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where CSV files are looked for (default: $PSILON_BENCH_DATA, else ./data)",
    )
    ns = parser.parse_args(rest)
    from rich.console import Console
    from rich.table import Table

    from psilon_bench.config import PathsConfig
    from psilon_bench.data import list_datasets, resolve_data_dir

    data_dir = resolve_data_dir(PathsConfig(data_dir=ns.data_dir))
    table = Table(title=f"psilon-bench datasets (data dir: {data_dir})", title_justify="left")
    for col, justify in [
        ("name", "left"),
        ("rows", "right"),
        ("features", "right"),
        ("task", "left"),
        ("source", "left"),
        ("offline", "left"),
        ("description", "left"),
    ]:
        table.add_column(col, justify=justify)
    for d in list_datasets(data_dir):
        table.add_row(
            d["name"],
            _fmt(d.get("rows")),
            _fmt(d.get("features")),
            str(d.get("task", "")),
            str(d.get("source", "")),
            "yes" if d.get("available") else "no",
            str(d.get("description", "")),
        )
    Console().print(table)
    return 0


def _fmt(n: object) -> str:
    return "-" if n is None else str(n)


def _guarded(command) -> int:  # noqa: ANN001
    """Run `command`; user and config errors become one line on stderr and exit code 2."""
    from psilon_bench.errors import UserAbort, UserError

    try:
        return command()
    except UserAbort as abort:
        print(f"error: {abort.error}", file=sys.stderr)
        return abort.error.exit_code
    except UserError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return ex.exit_code
    except Exception as ex:
        message = config_error_line(ex)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def config_error_line(ex: BaseException) -> str | None:
    """One line for a Hydra/OmegaConf composition error (None if `ex` is not one)."""
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(ex, MissingConfigException) and ex.options is not None and ex.missing_cfg_file:
        group, _, name = str(ex.missing_cfg_file).rpartition("/")
        allowed = ", ".join(sorted(o for o in ex.options if not o.startswith("base_")))
        return f"{group}={name} is not an option of '{group}'; allowed: {allowed}"
    chain = []
    node: BaseException | None = ex
    while node is not None and node not in chain:
        chain.append(node)
        node = node.__cause__ or node.__context__
    # the outermost OmegaConf error carries the formatted message and the full key
    omega = next((e for e in chain if isinstance(e, OmegaConfBaseException)), None)
    if omega is not None:
        key = getattr(omega, "full_key", None) or ""
        msg = str(omega).splitlines()[0].strip()  # str() has $VALUE etc. filled in
        if (
            isinstance(omega, (ConfigKeyError, ConfigAttributeError))
            and getattr(omega, "object_type", None) is not None
        ):
            import dataclasses

            t = omega.object_type
            if dataclasses.is_dataclass(t):
                allowed = ", ".join(f.name for f in dataclasses.fields(t))
                parent = key.rpartition(".")[0] or "the config"
                return f"{key} is not a key of {parent}; allowed keys: {allowed}"
        return f"{key}: {msg}" if key else msg
    if isinstance(ex, HydraException):
        lines = [ln.strip() for ln in str(ex).splitlines() if ln.strip()]
        return " ".join(lines[:2]) if lines else type(ex).__name__
    return None


def entry() -> int:
    """Console-script entry: `main`, quiet when the reader of stdout goes away (`| head`)."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(entry())
