"""Configs that cannot run code or leak the environment.

Hydra instantiates `hydra.callbacks` entries, any `_target_` nested in a launcher's
parameters, and `()` factories / handler classes of its logging configs, all right after
composition; a preset passed with `--config-dir` (or an `experiment=` file with
`# @package _global_`) could run arbitrary code that way. `check_config_safety` refuses
those, and `${oc.env:...}` in every key that is written to records or folder names,
before anything is instantiated: `install_hydra_guard` runs it on every config Hydra
composes (Hydra offers no public hook between composition and instantiation).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from psilon_bench.errors import ConfigError

#: the one callback psilon-bench's own config defines (conf/config.yaml)
VALIDATE_CALLBACK = "psilon_bench.cli.hydra_app.ValidateBeforeWriting"
#: `_target_` keys Hydra resolves against its registered plugins only (core_plugins/hydra_plugins)
PLUGIN_TARGETS = ("hydra.launcher._target_", "hydra.sweeper._target_")
#: logging classes a config may name (Hydra's own handlers and the formatter; a FileHandler's
#: `filename` must stay inside the run folder, see `_check_logging`)
LOGGING_CLASSES = (
    "logging.StreamHandler",
    "logging.NullHandler",
    "logging.FileHandler",
    "logging.Formatter",
)
#: `ext://` objects a logging config may name (anything else would import a module)
LOGGING_EXT = ("ext://sys.stdout", "ext://sys.stderr")
#: environment variables that make programs load code (refused in `hydra.job.env_set`)
LOADER_ENV = ("LD_", "DYLD_", "PYTHON", "BASH_ENV", "ENV", "PERL5", "NODE_OPTIONS")
#: hydra keys that name folders (their values end up in paths and run ids)
FOLDER_KEYS = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")

_OC_ENV = re.compile(r"\$\{\s*oc\.env\s*:")
_NO_CODE = "a config must not run code"


def walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every entry of a plain container tree, parents first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        dotted = f"{prefix}{key}" if isinstance(node, dict) else f"{prefix[:-1]}[{key}]"
        yield dotted, value
        if isinstance(value, (dict, list)):
            yield from walk(value, dotted + ".")


def check_config_safety(cfg: DictConfig) -> None:
    """Raise ConfigError (one line, naming the key) on any code-running or env-reading entry."""
    tree = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    assert isinstance(tree, dict)
    for key, value in walk(tree, ""):
        in_hydra = key.startswith("hydra.")
        if key.endswith("._target_") or key == "_target_":
            _check_target(key, value)
        elif in_hydra and key.startswith("hydra.callbacks.") and key.count(".") == 2:
            if key != "hydra.callbacks.validate":
                raise ConfigError(
                    f"{key}: extra Hydra callbacks are not allowed ({_NO_CODE}); psilon-bench "
                    "runs only its own validation callback: remove the entry"
                )
        elif key.startswith(("hydra.job_logging.", "hydra.hydra_logging.")):
            _check_logging(key, value)
        elif key.startswith("hydra.job.env_set.") and key.rpartition(".")[2].startswith(LOADER_ENV):
            raise ConfigError(
                f"{key}: setting loader or interpreter variables is not allowed ({_NO_CODE})"
            )
        if isinstance(value, str) and _OC_ENV.search(value):
            if not in_hydra or key in FOLDER_KEYS:
                raise ConfigError(
                    f"{key}: ${{oc.env:...}} is not allowed (environment values would be copied "
                    "into records and folder names); write the value itself, e.g. on the "
                    "command line: key=$VARIABLE"
                )
    callbacks = tree.get("hydra", {}).get("callbacks") or {}
    validate = callbacks.get("validate") if isinstance(callbacks, dict) else None
    if callbacks and (not isinstance(validate, dict) or set(validate) != {"_target_"}):
        raise ConfigError(
            f"hydra.callbacks.validate must be exactly {{_target_: {VALIDATE_CALLBACK}}} "
            f"({_NO_CODE}); got {validate!r}"
        )


def _check_target(key: str, value: Any) -> None:
    if key in PLUGIN_TARGETS:
        return  # Hydra instantiates these only from its registered plugin classes
    if key == "hydra.callbacks.validate._target_" and value == VALIDATE_CALLBACK:
        return
    raise ConfigError(
        f"{key}={value}: `_target_` is not allowed in psilon-bench configs ({_NO_CODE}); remove it"
    )


def _check_logging(key: str, value: Any) -> None:
    leaf = key.rpartition(".")[2]
    if leaf == "()":
        raise ConfigError(f"{key}: logging factories `()` are not allowed ({_NO_CODE}); remove it")
    if leaf == "filename" and not _inside_output(str(value)):
        raise ConfigError(
            f"{key}={value}: a log file must be inside the run folder "
            "(${hydra.runtime.output_dir}/...) or a relative name"
        )
    if leaf == "class" and value not in LOGGING_CLASSES:
        raise ConfigError(
            f"{key}={value}: logging classes may only be {', '.join(LOGGING_CLASSES)} ({_NO_CODE})"
        )
    if isinstance(value, str) and value.startswith("ext://") and value not in LOGGING_EXT:
        raise ConfigError(f"{key}={value}: only {', '.join(LOGGING_EXT)} are allowed ({_NO_CODE})")


def _inside_output(filename: str) -> bool:
    """Hydra's own log file names: under the run folder, or relative without `..`."""
    if filename.startswith("${hydra.runtime.output_dir}/"):
        return ".." not in filename
    return not filename.startswith(("/", "~", "$")) and ".." not in filename


def install_hydra_guard() -> None:
    """Run `check_config_safety` on every config Hydra composes, before it instantiates
    callbacks, logging or launchers (idempotent; wraps `ConfigLoaderImpl.load_configuration`,
    which composes the run, multirun, `--cfg` and per-job sweep configs alike)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration
    if getattr(original, "psilon_guarded", False):
        return

    @functools.wraps(original)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> DictConfig:
        cfg = original(self, *args, **kwargs)
        check_config_safety(cfg)
        return cfg

    guarded.psilon_guarded = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = guarded  # type: ignore[method-assign]
