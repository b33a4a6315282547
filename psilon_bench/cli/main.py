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
  report DIR [--out FILE]   one self-contained HTML page of a results folder (report --help)

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
        from psilon_bench.cli.datasets import datasets

        return _guarded(lambda: datasets(rest))
    if command in ("table", "plot", "report"):
        from psilon_bench.report import commands

        return _guarded(lambda: getattr(commands, command)(rest))
    print(
        f"error: unknown command {command!r}; allowed: run, datasets, table, plot, report (see psilon-bench --help)",
        file=sys.stderr,
    )
    return 2


def _run(rest: list[str]) -> int:
    from psilon_bench.cli.invoke import call_hydra, hydra_argv, sweep_error

    argv = hydra_argv(rest)
    from psilon_bench.cli import signals

    signals.install()  # Ctrl-C / SIGTERM: clean up, one line, exit 130 / 143
    from psilon_bench.cli.hydra_app import run_app

    flags = [a for a in argv if a in ("-m", "--multirun")]
    try:
        call_hydra(run_app, argv)
    except Exception as ex:
        from psilon_bench.cli.error_lines import config_error_line

        if flags and config_error_line(ex) is not None:
            raise sweep_error(argv, ex) from None
        raise
    return 0


def _completion(spec: str) -> int:
    from psilon_bench.cli.completion import shell_completion

    try:
        text = shell_completion(spec)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


def _guarded(command) -> int:  # noqa: ANN001
    """Run `command`; user and config errors become one line on stderr and exit code 2,
    Ctrl-C / SIGTERM one line and exit code 130 / 143."""
    try:
        return command()
    except BaseException as ex:
        from psilon_bench.cli.signals import EXIT_CODES, received

        name = received()
        if name is None:
            if isinstance(ex, KeyboardInterrupt):
                name = "SIGINT"
            else:
                return _report(ex)
        app = sys.modules.get("psilon_bench.cli.hydra_app")
        sweep_dir = getattr(app, "current_sweep_dir", None)
        again = f" with hydra.sweep.dir={sweep_dir}" if sweep_dir else ""
        print(
            f"interrupted ({name}): unfinished runs hold no DONE; re-run the same command"
            f"{again} to finish them",
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
        from psilon_bench.cli.error_lines import config_error_line

        message = config_error_line(ex)
        if message is None and isinstance(ex, OSError):
            from psilon_bench.records.output import output_error

            message = str(output_error(ex, ex.filename or "the output folder"))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def entry() -> int:
    """Console-script entry: `main`, quiet when the reader of stdout goes away (`| head`).
    A `run` process imports torch and Hydra without the cyclic GC (`psilon_bench.cli.startup`;
    the task turns it back on); `main` called in-process leaves the caller's GC alone."""
    if sys.argv[1:2] == ["run"]:
        from psilon_bench.cli import startup

        startup.pause()
    try:
        code = main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    from psilon_bench.cli.signals import received

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
    and closed (`psilon_bench.records.io` writes atomically)."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(entry())
