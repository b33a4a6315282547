"""The Hydra side of `psilon-bench run`: the `@hydra.main` entry point, the `psilon_uid`
resolver that keeps run folders apart, and the callback that validates every job's config
before Hydra writes anything (run and multirun alike).

Torch is imported only inside the task function, so `--help`, `--cfg job` and `--info`
stay fast and a parallel launcher can set OMP_WAIT_POLICY before torch starts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from psilon_bench.config import register_configs, register_resolvers
from psilon_bench.errors import ConfigError, UserAbort, UserError
from psilon_bench.options import check_choices, groups_help
from psilon_bench.outcome import all_diverged, check_sweep_diverged
from psilon_bench.output import check_output_dir, remove_created_dirs
from psilon_bench.safety import install_hydra_guard
from psilon_bench.validation import validate, validate_launcher

_RUN_TOKEN = f"{os.getpid():x}{secrets.token_hex(2)}"


def register() -> None:
    """Schemas in the ConfigStore, the `psilon_uid` resolver and the safety check of every
    composed config (`psilon_bench.safety`); idempotent."""
    register_configs()
    register_resolvers()
    install_hydra_guard()
    if not OmegaConf.has_resolver("psilon_uid"):
        # a per-process token: two runs started in the same second get different folders
        OmegaConf.register_new_resolver("psilon_uid", lambda: _RUN_TOKEN)
    if not OmegaConf.has_resolver("psilon_groups"):  # the group list of `run --help`
        OmegaConf.register_new_resolver("psilon_groups", groups_help)


class ValidateBeforeWriting(Callback):
    """Validates the run's config (or every job of a basic sweep) and the output folder
    before any folder exists; after a sweep, reports jobs whose members all diverged.
    (`validate` skips the `hydra` node.)"""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _abort_on_user_error(check_choices, config)
        _abort_on_user_error(validate, config)
        _abort_on_user_error(_check_output, config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _abort_on_user_error(validate_launcher, config)
        _abort_on_user_error(self._validate_sweep, config)
        _abort_on_user_error(_check_output, config, "hydra.sweep.dir")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        _abort_on_user_error(check_sweep_diverged, Path(config.hydra.sweep.dir))

    @staticmethod
    def _validate_sweep(config: DictConfig) -> None:
        if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
            check_choices(config)
            validate(config)
            return
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.override_parser.overrides_parser import OverridesParser

        overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        loader = GlobalHydra.instance().config_loader()
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(list(overrides))
        jobs = [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        for num, job in enumerate(jobs):
            try:
                job_cfg = loader.load_sweep_config(config, job)
                check_choices(job_cfg)
                validate(job_cfg)
            except UserError as err:
                raise ConfigError(f"{job_label(num, job)}: {err}") from None


def job_label(num: int, overrides: list[str]) -> str:
    """How errors name a sweep's job: its number (the folder name) and its overrides."""
    return f"job {num} ({' '.join(overrides)})"


def _abort_on_user_error(fn: Any, *args: Any) -> Any:
    """Call fn; a UserError, or an OmegaConf/Hydra error in the config (a missing key, a bad
    interpolation), leaves as UserAbort, which Hydra's handlers let through (they would only
    warn about any Exception raised in a callback, and run the job anyway)."""
    try:
        return fn(*args)
    except UserError as err:
        raise UserAbort(err) from err
    except Exception as ex:
        from psilon_bench.cli import config_error_line

        line = config_error_line(ex)
        if line is None:
            raise
        raise UserAbort(ConfigError(line)) from ex


def _check_output(config: DictConfig, key: str) -> None:
    """The run (or sweep) folder can be created: no file in the way, writable."""
    check_output_dir(str(OmegaConf.select(config, key)), str(config.paths.results_dir))


def _parallel_jobs(hc: Any) -> int:
    """Jobs the launcher runs side by side on this machine: joblib's `n_jobs` (-1: one per
    core), 1 for the basic launcher and for submitit (each job has its own CPUs)."""
    if "joblib" not in str(hc.launcher.get("_target_", "")):
        return 1
    n_jobs = int(hc.launcher.get("n_jobs", 1) or 1)
    return n_jobs if n_jobs > 0 else (os.cpu_count() or 1)


def _compose_once() -> None:
    """Hydra composes the whole config once only to read `hydra.mode` (`Hydra.get_mode`),
    then again to run (~0.2 s each). Our configs never set `hydra.mode`, so unless an
    override names it the mode comes from `-m` alone and the first composition is skipped."""
    from hydra._internal.hydra import Hydra

    original = Hydra.get_mode
    if getattr(original, "_psilon_once", False):
        return

    def get_mode(self: Any, config_name: str | None, overrides: list[str]) -> Any:
        if any(o.lstrip("+~").startswith("hydra.mode") for o in overrides):
            return original(self, config_name=config_name, overrides=overrides)
        return None

    get_mode._psilon_once = True  # type: ignore[attr-defined]
    Hydra.get_mode = get_mode  # type: ignore[method-assign]


register()
_compose_once()


@hydra.main(version_base=None, config_path="pkg://psilon_bench.conf", config_name="config")
def run_app(cfg: DictConfig) -> None:
    """Train the members of one job and write its records into Hydra's output folder."""
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    # idle OpenMP threads must not spin on a shared machine; set before torch starts OpenMP
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from psilon_bench.config import choice
    from psilon_bench.experiment import run_experiment
    from psilon_bench.progress import live_output
    from psilon_bench.summary import print_summary
    from psilon_bench.threads import available_cores

    jobs = _parallel_jobs(hc)
    live = live_output(choice(cfg.trainer.progress), parallel=jobs > 1)  # workers: no bars
    try:
        records = run_experiment(cfg, run_dir, cores=available_cores(jobs), live=live)
    except UserError as err:
        remove_created_dirs(run_dir)
        if hc.mode.name == "MULTIRUN":  # say which job of the sweep
            err = type(err)(f"{job_label(hc.job.num, list(hc.overrides.task))}: {err}")
        raise UserAbort(err) from err
    print_summary(records, run_dir)
    diverged = all_diverged(records, run_dir)
    if diverged is not None and hc.mode.name != "MULTIRUN":  # a sweep goes on: exit 3 at its end
        raise UserAbort(diverged)
