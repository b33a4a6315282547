"""`psilon-bench`: the command-line dispatcher.

    psilon-bench run [overrides...]        train the members of one config (Hydra app)
    psilon-bench run -m [sweep...]         a Hydra multirun sweep
    psilon-bench datasets [--data-dir D]   the dataset registry and what is available offline
    psilon-bench table DIR... / plot DIR... --kind K   tables and figures (psilon_bench.report)

`run` hands the rest of argv to the `@hydra.main` entry point (`--help`, `--cfg job`,
`--info`, `-m` work as in Hydra). User errors print one line and exit with code 2; torch
is never imported here, so `psilon-bench --help` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

USAGE = """usage: psilon-bench <command> [args...]

commands:
  run [overrides...]        train one config: psilon-bench run model=mlp dataset=wine seeds=5
  run -m [sweep...]         Hydra multirun: psilon-bench run -m regularizer=l2,weight_decay
  run --help                every config group and option (Hydra's help); --cfg job prints the config
  datasets [--data-dir D]   list the dataset registry (rows, features, task, source, offline?)
  table DIR... [options]    select on validation, tabulate, test across datasets (table --help)
  plot DIR... --kind K      figures: pareto, lambda-path, lipschitz, pruning, curves (plot --help)

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
    for flag in ("-sc", "--shell-completion"):  # `psilon-bench [run] -sc install=bash` etc.
        if flag in args[:2] and args.index(flag) + 1 < len(args):
            return _completion(args[args.index(flag) + 1])
    command, rest = args[0], args[1:]
    if command == "run":
        return _guarded(lambda: _run(rest))
    if command == "datasets":
        return _guarded(lambda: _datasets(rest))
    if command in ("table", "plot"):
        from psilon_bench.report import commands

        return _guarded(lambda: getattr(commands, command)(rest))
    print(
        f"error: unknown command {command!r}; allowed: run, datasets, table, plot (see psilon-bench --help)",
        file=sys.stderr,
    )
    return 2


def _run(rest: list[str]) -> int:
    argv = hydra_argv(rest)
    from psilon_bench import signals

    signals.install()  # Ctrl-C / SIGTERM: clean up, one line, exit 130 / 143
    from psilon_bench.hydra_app import run_app

    flags = [a for a in argv if a in ("-m", "--multirun")]
    try:
        _call_hydra(run_app, argv)
    except Exception as ex:
        if flags and config_error_line(ex) is not None:
            raise _sweep_error(argv, ex) from None
        raise
    return 0


def _call_hydra(app, argv: list[str]) -> None:  # noqa: ANN001
    """Run the `@hydra.main` app on `argv`. HYDRA_FULL_ERROR=1 only while it runs in this
    process: it makes Hydra raise composition errors (which `_guarded` turns into one line)
    instead of printing them itself; the user's own setting is put back afterwards."""
    saved_argv, saved_full = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = ["psilon-bench run", *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        app()
    finally:
        sys.argv = saved_argv
        if saved_full is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full


def _sweep_error(argv: list[str], ex: Exception) -> Exception:
    """A sweep that does not compose: name the first job whose own config fails (Hydra
    composes the sweep's base config, with each swept group at its default, first)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    from psilon_bench.errors import ConfigError
    from psilon_bench.hydra_app import job_label

    line = config_error_line(ex)
    hint = "; set a key only some options have with ++key=value, or one experiment file per option"
    hint = hint if " is not a key of " in str(line) else ""
    try:
        args = get_args_parser().parse_args(argv)
        search = create_automatic_config_search_path(None, None, "pkg://psilon_bench.conf")
        if args.config_dir:  # as Hydra's own start-up adds it
            where = f"file://{os.path.abspath(args.config_dir)}"
            search.prepend("command-line", where, SearchPathQuery(provider="schema"))
        loader = Hydra.create_main_hydra2("psilon-bench", search).config_loader
        parsed = OverridesParser.create().parse_overrides(args.overrides)
        jobs = [list(j) for batch in BasicSweeper.split_arguments(parsed, None) for j in batch]
        for num, job in enumerate(jobs):
            try:
                loader.load_configuration(args.config_name or "config", job, RunMode.RUN)
            except Exception as job_ex:  # noqa: BLE001 - reported as the user's error
                job_line = config_error_line(job_ex) or str(job_ex).splitlines()[0]
                return ConfigError(f"{job_label(num, job)}: {job_line}{hint}")
    except Exception:  # noqa: BLE001, S110 - fall back to the sweep's own message
        pass
    finally:
        GlobalHydra.instance().clear()
    return ConfigError(f"{line} (in the sweep's base config, swept groups at their defaults{hint})")


def _completion(spec: str) -> int:
    from psilon_bench.completion import shell_completion

    try:
        text = shell_completion(spec)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


def hydra_argv(rest: list[str]) -> list[str]:
    """`run`'s arguments for Hydra: its options first, then the overrides (Hydra's parser
    wants options before overrides; users put them anywhere). A malformed option is one
    UsageError line."""
    from hydra._internal.utils import get_args_parser

    from psilon_bench.errors import UsageError

    parser = get_args_parser()
    parser.prog = "psilon-bench run"
    hint = "see psilon-bench run --help"

    def error(message: str) -> None:
        raise UsageError(f"psilon-bench run: {message}; {hint}")

    parser.error = error  # type: ignore[method-assign]
    actions = parser._option_string_actions
    options: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        name = token.split("=", 1)[0]
        if not token.startswith("-") or token == "-":
            overrides.append(token)
        elif name not in actions:
            allowed = "--help, --cfg job|hydra|all, --resolve, --multirun/-m, --config-dir DIR"
            raise UsageError(f"psilon-bench run: unknown option {name}; allowed: {allowed}; {hint}")
        else:
            action = actions[name]
            options.append(token)
            wants = action.nargs is None or (
                action.nargs == "?" and i + 1 < len(rest) and rest[i + 1] in (action.choices or ())
            )
            if "=" not in token and wants and action.nargs != 0:
                if i + 1 >= len(rest):
                    error(f"{name} needs a value")
                options.append(rest[i + 1])
                i += 1
        i += 1
    ns = parser.parse_args([*options, *overrides])  # bad option values (--cfg jobb) -> UsageError
    modes = [
        name
        for name, on in [
            ("--run", ns.run),
            ("--multirun", ns.multirun),
            ("--cfg", ns.cfg),
            ("--info", ns.info is not None),
            ("--shell-completion", ns.shell_completion),
        ]
        if on
    ]
    if len(modes) > 1:
        error(f"{' and '.join(modes)} exclude each other; give one of them")
    return [*options, *overrides]


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

    def error(message: str) -> None:
        from psilon_bench.errors import UsageError

        raise UsageError(
            f"psilon-bench datasets: {message}; allowed: --data-dir DIR (see psilon-bench datasets --help)"
        )

    parser.error = error  # type: ignore[method-assign]
    ns = parser.parse_args(rest)
    import io
    import shutil

    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from psilon_bench.config import PathsConfig
    from psilon_bench.data import list_datasets, resolve_data_dir

    data_dir = resolve_data_dir(PathsConfig(data_dir=ns.data_dir))
    entries = list_datasets(data_dir)

    def table(described: bool) -> Table:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        columns = ["name", "rows", "features", "task", "source", "offline"]
        for col in columns + (["description"] if described else []):
            t.add_column(col, justify="right" if col in ("rows", "features") else "left")
            t.columns[-1].no_wrap = col != "description"
        for d in entries:
            row = [d["name"], _fmt(d.get("rows")), _fmt(d.get("features")), str(d["task"])]
            row += [str(d["source"]), "yes" if d.get("available") else "no"]
            t.add_row(*row, *([str(d.get("description", ""))] if described else []))
        return t

    # a terminal: fit its width (the descriptions go first); a pipe or a log: natural width
    measure = Console(file=io.StringIO(), width=10_000)
    full = table(True)
    need = Measurement.get(measure, measure.options, full).maximum
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else need
    short = table(False)
    fits = need <= width or Measurement.get(measure, measure.options, short).maximum > width
    out = io.StringIO()
    Console(file=out, width=max(width, 20), force_terminal=False).print(full if fits else short)
    lines = ["psilon-bench datasets; CSV files are looked for in (paths.data_dir):", str(data_dir)]
    lines += [ln.rstrip() for ln in out.getvalue().rstrip("\n").splitlines()]
    if not fits:
        lines.append("(descriptions left out at this width: psilon-bench datasets | cat)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _fmt(n: object) -> str:
    return "-" if n is None else str(n)


def _guarded(command) -> int:  # noqa: ANN001
    """Run `command`; user and config errors become one line on stderr and exit code 2,
    Ctrl-C / SIGTERM one line and exit code 130 / 143."""
    try:
        return command()
    except BaseException as ex:
        from psilon_bench.signals import EXIT_CODES, received

        name = received()
        if name is None:
            if isinstance(ex, KeyboardInterrupt):
                name = "SIGINT"
            else:
                return _report(ex)
        print(
            f"interrupted ({name}): unfinished runs hold no DONE; re-run the same command "
            "(same hydra.sweep.dir for a sweep) to finish them",
            file=sys.stderr,
        )
        return EXIT_CODES[name]


def _report(ex: BaseException) -> int:
    """The error reports of `_guarded` (re-raises what is not a user or config error)."""
    from psilon_bench.errors import SweepFailed, UserAbort, UserError

    try:
        raise ex
    except UserAbort as abort:
        print(f"error: {abort.error}", file=sys.stderr)
        return abort.error.exit_code
    except UserError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return ex.exit_code
    except SweepFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        return failed.exit_code
    except Exception as ex:
        message = config_error_line(ex)
        if message is None and isinstance(ex, OSError):
            from psilon_bench.output import output_error

            message = str(output_error(ex, ex.filename or "the output folder"))
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
                if key.rpartition(".")[2] in allowed.split(", "):  # removed with ~key
                    return f"{key} is required; it cannot be removed (~{key})"
                return f"{key} is not a key of {parent}; allowed keys: {allowed}"
        return f"{key}: {msg}" if key else msg
    import yaml

    parse = next((e for e in chain if isinstance(e, yaml.YAMLError)), None)
    if parse is not None:
        return yaml_error_line(parse)
    if isinstance(ex, (ValueError, TypeError)) and _raised_in_hydra(ex):
        first = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
        return f"{first} (a config group takes an option name, e.g. model=mlp; see psilon-bench run --help)"
    if isinstance(ex, HydraException):
        lines = [ln.strip() for ln in str(ex).splitlines() if ln.strip()]
        line = " ".join(lines[:2]) if lines else type(ex).__name__
        line = line.removesuffix(" Config search path:")  # the list follows on more lines
        if "token recognition error" in line or "NoViableAlt" in line:
            line += (
                "; quote values with spaces, non-ASCII letters or special characters, "
                "e.g. 'paths.results_dir=\"/data/résultats\"'"
            )
        return line
    return None


def _raised_in_hydra(ex: BaseException) -> bool:
    """The innermost frame of `ex` is Hydra's own code (its argument checks)."""
    tb = ex.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}hydra{os.sep}" in tb.tb_frame.f_code.co_filename


def yaml_error_line(err: BaseException) -> str:
    """One line for a YAML file that cannot be read: the file, line, column and a hint."""
    mark = getattr(err, "problem_mark", None)
    where = (
        f"{mark.name} (line {mark.line + 1}, column {mark.column + 1})" if mark else "a config file"
    )
    problem = str(getattr(err, "problem", None) or err).strip()
    if "\\t" in problem or "\t" in problem:
        hint = "indent with spaces, not tabs"
    elif "python/" in problem:
        problem = problem.replace("tag:yaml.org,2002:", "!!")
        hint = "python tags are not allowed in configs (a config must not run code); remove it"
    else:
        hint = "fix the YAML syntax"
    return f"cannot read config {where}: {problem}; {hint}"


def entry() -> int:
    """Console-script entry: `main`, quiet when the reader of stdout goes away (`| head`).
    A `run` process imports torch and Hydra without the cyclic GC (`psilon_bench.startup`;
    the task turns it back on); `main` called in-process leaves the caller's GC alone."""
    if sys.argv[1:2] == ["run"]:
        from psilon_bench import startup

        startup.pause()
    try:
        code = main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    from psilon_bench.signals import received

    if _fast_exit_ok(sys.argv[1:]) or received():
        fast_exit(code)
    return code


def _fast_exit_ok(args: list[str]) -> bool:
    """A single `run` (not a sweep: a parallel launcher's workers are shut down at exit)
    that imported torch, whose interpreter teardown takes ~1 s."""
    return (
        bool(args)
        and args[0] == "run"
        and "torch" in sys.modules
        and not ({"-m", "--multirun"} & set(args))
    )


def fast_exit(code: int) -> None:
    """Flush what the process wrote (stdout, stderr, log handlers), then leave at once with
    `os._exit(code)`, skipping the interpreter's teardown. Every run file is already written
    and closed (`psilon_bench.io` writes atomically)."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(entry())
