"""One line for each error Hydra, OmegaConf or YAML raise while composing a config: the
dispatcher and the Hydra app print these instead of multi-line reports."""

from __future__ import annotations

import os


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
    if isinstance(ex, (ValueError, TypeError)) and raised_in_hydra(ex):
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


def raised_in_hydra(ex: BaseException) -> bool:
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
