"""Shell completion through the `psilon-bench` dispatcher (bash and zsh).

`psilon-bench run -sc install=bash` (or `=zsh`) prints a script that registers completion
for `psilon-bench`; the script asks `psilon-bench -sc query=bash` with the line up to the
cursor in COMP_LINE (as bash's `complete -F` sets it). Subcommands and flags are answered
here; overrides after `run` are Hydra's own completion (groups, options, keys) with the
structured-config schemas (`base_mlp`, ...) left out.
"""

from __future__ import annotations

import contextlib
import io
import os

from psilon_bench.report import PLOT_KINDS

COMMANDS = ("run", "datasets", "table", "plot", "report", "--help", "--version")
RUN_FLAGS = ("--multirun", "-m", "--help", "--hydra-help", "--cfg", "--info", "--config-dir")
DATASETS_FLAGS = ("--data-dir", "--help")
CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
REPORT_FLAGS = {  # psilon_bench.report.commands
    "table": (
        "--out",
        "--by",
        "--metrics",
        "--select-on",
        "--baseline",
        "--claims",
        "--cost-relative-to",
        "--help",
    ),
    "plot": ("--kind", "--out", "--select-on", "--help"),
    "report": ("--out", "--runs", "--claims", "--help"),
}

BASH = """_psilon_bench_complete()
{
    local line="${COMP_LINE:0:$COMP_POINT}"
    local word="${line##*[[:space:]]}"
    local choices
    choices=$(COMP_LINE="$line" COMP_POINT=${#line} psilon-bench -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -W "$choices" -- "$word"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _psilon_bench_complete psilon-bench
"""

ZSH = """(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }
_psilon_bench_complete() {
    local line="${(j: :)words[1,CURRENT]}"
    local -a choices
    choices=(${=$(COMP_LINE="$line" COMP_POINT=${#line} psilon-bench -sc query=zsh 2>/dev/null)})
    compadd -S '' -- $choices
}
compdef _psilon_bench_complete psilon-bench
"""

UNINSTALL = {
    "bash": "complete -r psilon-bench 2>/dev/null; unset -f _psilon_bench_complete\n",
    "zsh": "compdef -d psilon-bench; unfunction _psilon_bench_complete 2>/dev/null\n",
}


def shell_completion(spec: str) -> str:
    """What `-sc install=SHELL|uninstall=SHELL|query=SHELL` prints; ValueError if unknown."""
    action, _, shell = spec.partition("=")
    if shell not in ("bash", "zsh") or action not in ("install", "uninstall", "query"):
        raise ValueError(
            f"-sc {spec}: allowed: install=bash, install=zsh, uninstall=bash, uninstall=zsh, "
            "query=bash, query=zsh"
        )
    if action == "install":
        return BASH if shell == "bash" else ZSH
    if action == "uninstall":
        return UNINSTALL[shell]
    line = os.environ.get("COMP_LINE", "")
    point = os.environ.get("COMP_POINT", "")
    line = line[: int(point)] if point.isdigit() else line
    return " ".join(candidates(line)) + "\n"


def candidates(line: str) -> list[str]:
    """Completions of the last word of `line` (the command line up to the cursor)."""
    words = line.split()
    current = "" if not line or line[-1].isspace() else words.pop()
    before = words[1:]  # without the program name
    if not before:
        return [c for c in COMMANDS if c.startswith(current)]
    if before[0] == "datasets":
        return [f for f in DATASETS_FLAGS if f.startswith(current)]
    if before[0] in REPORT_FLAGS:  # folders complete through the shell's default
        if before[-1] == "--kind":
            return [k for k in (*PLOT_KINDS, "all") if k.startswith(current)]
        return [f for f in REPORT_FLAGS[before[0]] if current and f.startswith(current)]
    if before[0] != "run":
        return []
    if before[-1] in CONFIG_DIR_FLAGS:  # a folder: the shell's own file completion
        return []
    if current.startswith("-"):
        return [f for f in RUN_FLAGS if f.startswith(current)]
    rest = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
    return _hydra_query("psilon-bench " + rest, _config_dir_args(before[1:]))


def _config_dir_args(words: list[str]) -> list[str]:
    """`--config-dir DIR` from the line, so a user's own options complete too."""
    for i, word in enumerate(words):
        if word in CONFIG_DIR_FLAGS and i + 1 < len(words):
            return ["--config-dir", words[i + 1]]
        if word.startswith("--config-dir="):
            return ["--config-dir", word.partition("=")[2]]
    return []


def _hydra_query(line: str, args: list[str]) -> list[str]:
    """Hydra's completion of an override line (`prog overrides...`), schemas left out."""
    from psilon_bench.cli.hydra_app import run_app
    from psilon_bench.config.options import SCHEMA_NAMES

    saved = os.environ.get("COMP_LINE")
    os.environ["COMP_LINE"] = line
    out = io.StringIO()
    try:
        from psilon_bench.cli.invoke import call_hydra

        with contextlib.redirect_stdout(out):
            call_hydra(run_app, [*args, "-sc", "query=bash"])
    finally:
        if saved is None:
            os.environ.pop("COMP_LINE", None)
        else:
            os.environ["COMP_LINE"] = saved
    found = out.getvalue().split()
    return [c for c in found if c.rpartition("=")[2] not in SCHEMA_NAMES]
