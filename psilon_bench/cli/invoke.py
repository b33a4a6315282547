"""Running Hydra from the dispatcher: `run`'s command line put in the order Hydra's parser
wants (`hydra_argv`), the `@hydra.main` app called in-process (`call_hydra`), and a sweep that
does not compose reported as the first job whose own config fails (`sweep_error`)."""

from __future__ import annotations

import os
import sys

from psilon_bench.cli.error_lines import config_error_line


def call_hydra(app, argv: list[str]) -> None:  # noqa: ANN001
    """Run the `@hydra.main` app on `argv`. HYDRA_FULL_ERROR=1 only while it runs in this
    process: it makes Hydra raise composition errors (which `main` turns into one line)
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


def sweep_error(argv: list[str], ex: Exception) -> Exception:
    """A sweep that does not compose: name the first job whose own config fails (Hydra
    composes the sweep's base config, with each swept group at its default, first)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    from psilon_bench.cli.hydra_app import job_label
    from psilon_bench.errors import ConfigError

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
