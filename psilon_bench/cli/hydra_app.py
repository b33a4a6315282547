"""The Hydra side of `psilon-bench run`: the `@hydra.main` entry point, the `psilon_uid`
resolver that keeps run folders apart, and the callback that validates every job's config
before Hydra writes anything (run and multirun alike).

Torch is imported only inside the task function, so `--help`, `--cfg job` and `--info`
stay fast and a parallel launcher can set OMP_WAIT_POLICY before torch starts.
"""

from __future__ import annotations

import os
import secrets
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from psilon_bench.config import register_configs, register_resolvers
from psilon_bench.config.options import check_choices, groups_help
from psilon_bench.config.safety import install_hydra_guard
from psilon_bench.config.validation import validate_launcher
from psilon_bench.errors import ConfigError, SweepFailed, UserAbort, UserError, error_line
from psilon_bench.records.output import check_output_dir, remove_created_dirs
from psilon_bench.runner.checks import check_job
from psilon_bench.runner.outcome import all_diverged, check_sweep_diverged

_RUN_TOKEN = f"{os.getpid():x}{secrets.token_hex(2)}"
#: The folder of the sweep this process runs (set when it starts): the dispatcher names it
#: when the sweep is interrupted, so that a re-run can resume into it.
current_sweep_dir: str | None = None
# conf/hydra/launcher/submitit_*.yaml refine the plugin's configs of the same name (typed by
# them); Hydra 1.3 still supports that and warns about it on every composition.
warnings.filterwarnings("ignore", message=r"[\s\S]*validated against ConfigStore schema")


def register() -> None:
    """Schemas in the ConfigStore, the `psilon_uid` resolver and the safety check of every
    composed config (`psilon_bench.config.safety`); idempotent."""
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
    before any folder exists, refuses a sweep whose job folders hold another run's files;
    after the sweep prints the summary line (skipped / run / failed): a failed job makes
    the exit code 1, a job whose members all diverged 3.
    (`validate` skips the `hydra` node.)"""

    def __init__(self) -> None:
        self.jobs: list[Any] | None = None
        self.progress: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle the callbacks into job processes: leave the parent's state."""
        return {"jobs": None, "progress": None}

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        global current_sweep_dir
        current_sweep_dir = None  # a single run: no sweep to name (an earlier one in-process)
        _abort_on_user_error(check_choices, config)
        _abort_on_user_error(check_job, config)
        _abort_on_user_error(_check_output, config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from psilon_bench.runner import sweep

        global current_sweep_dir
        current_sweep_dir = str(config.hydra.sweep.dir)
        _abort_on_user_error(validate_launcher, config)
        self.jobs = _abort_on_user_error(sweep.plan_jobs, config, _check_job)
        _abort_on_user_error(_check_output, config, "hydra.sweep.dir")
        if self.jobs is None:
            return
        _abort_on_user_error(sweep.precheck, self.jobs)
        if not _launcher(config.hydra).endswith("BasicLauncher"):  # jobs in other processes
            sweep.mark_parent()
            self.progress = sweep.SweepProgress(self.jobs).start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from psilon_bench.runner import sweep

        if self.progress is not None:
            self.progress.stop()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        result = sweep.outcome(self.jobs, sweep_dir)
        print(result.line(sweep_dir), flush=True)
        if result.failed:
            folder, error = result.failed[0]
            raise SweepFailed(
                f"{len(result.failed)} job(s) failed, first {folder}: {error}"
                f" (fix it and re-run the same command with hydra.sweep.dir={sweep_dir} to redo"
                " only those)"
            )
        _abort_on_user_error(check_sweep_diverged, sweep_dir)


def _launcher(hydra_node: Any) -> str:
    """The launcher class of a `hydra` config node (e.g. ...BasicLauncher, ...JoblibLauncher)."""
    return str(hydra_node.launcher.get("_target_", ""))


def _check_job(
    config: DictConfig, num: int | None = None, overrides: list[str] | None = None
) -> None:
    """Choices and values of one job's config; errors name the job (number and overrides)."""
    try:
        check_choices(config)
        check_job(config)
    except UserError as err:
        if num is None:
            raise
        raise ConfigError(f"{job_label(num, overrides or [])}: {err}") from None


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
        from psilon_bench.cli.error_lines import config_error_line

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
def run_app(cfg: DictConfig) -> Any:
    """Train the members of one job and write its records into Hydra's output folder.

    In a sweep a job that fails writes FAILED (its one-line error) and returns, so the
    sweep goes on; a job whose folder holds DONE with its config hash is skipped."""
    from psilon_bench.records import io, provenance, rundir

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    # idle OpenMP threads must not spin on a shared machine; set before torch starts OpenMP
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    in_sweep = hc.mode == RunMode.MULTIRUN
    launcher = _launcher(hc)
    separate = in_sweep and not launcher.endswith("BasicLauncher")  # a process per job
    if separate and launcher.endswith(("JoblibLauncher", "submitit_launcher.LocalLauncher")):
        from psilon_bench.runner.sweep import watch_parent

        watch_parent()  # children of the sweep's parent die with it: no orphaned workers
    label = job_label(hc.job.num, list(hc.overrides.task)) if in_sweep else "run"
    key = "hydra.sweep.dir" if in_sweep else "hydra.run.dir"
    try:
        # the job's command line: its config overrides, then the hydra ones (launcher, folders)
        command = [
            *hc.overrides.task,
            *(o for o in hc.overrides.hydra if not o.startswith("hydra.mode=")),
        ]
        info = provenance.RunInfo.of(cfg, run_dir, command, sweep=in_sweep)
        claim = rundir.claim(run_dir, info.config_hash, resume=in_sweep, key=key)
    except UserError as err:
        if not in_sweep:
            raise UserAbort(err) from err
        print(f"error: {label}: {err}", file=sys.stderr, flush=True)
        return "refused"
    except BaseException:  # Ctrl-C before the claim: drop the empty folder Hydra made
        if io.run_state(run_dir) == "empty":
            remove_created_dirs(run_dir)
        raise
    try:
        if claim.action == "skip":
            print(f"{label}: skipped, {run_dir} is complete with the same config", flush=True)
            return "skipped"
        return _run_job(cfg, run_dir, _parallel_jobs(hc), info, label, in_sweep)
    except BaseException:  # Ctrl-C, SIGTERM: leave nothing that looks complete
        if claim.action == "run" and not (run_dir / io.DONE).exists():  # DONE: complete
            io.clear_run(run_dir)
            remove_created_dirs(run_dir)
        raise
    finally:
        claim.release()


def _run_job(
    cfg: DictConfig, run_dir: Path, jobs: int, info: Any, label: str, in_sweep: bool
) -> str:
    """Train and write one job; in a sweep a failure writes FAILED and returns "failed"."""
    from psilon_bench.cli import startup
    from psilon_bench.config import choice
    from psilon_bench.engine.progress import live_output
    from psilon_bench.engine.threads import available_cores
    from psilon_bench.runner.experiment import run_experiment
    from psilon_bench.runner.summary import print_summary

    startup.resume()  # the imports are done: the cyclic GC runs as usual from here
    live = live_output(choice(cfg.trainer.progress), parallel=jobs > 1)  # workers: no bars
    try:
        records = run_experiment(cfg, run_dir, cores=available_cores(jobs), live=live, info=info)
    except UserError as err:
        if not in_sweep:
            remove_created_dirs(run_dir)
            raise UserAbort(err) from err
        _mark_failed(run_dir, str(err))
        print(f"error: {label}: {err}", file=sys.stderr, flush=True)
        return "failed"
    except Exception as err:
        from psilon_bench.cli.signals import received

        if not in_sweep or received():  # an error caused by Ctrl-C / SIGTERM is no failure
            raise
        import traceback

        traceback.print_exc()  # a bug, not a user error: keep the trace for the report
        line = error_line(err)
        _mark_failed(run_dir, line)
        print(f"error: {label}: {line}", file=sys.stderr, flush=True)
        return "failed"
    print_summary(records, run_dir)
    diverged = all_diverged(records, run_dir)
    if diverged is not None and not in_sweep:  # a sweep goes on: exit 3 at its end
        raise UserAbort(diverged)
    return "done"


def _mark_failed(run_dir: Path, line: str) -> None:
    """FAILED with the one-line error, in place of whatever the job left; a folder that
    cannot take it (read-only, full) is said in one line (it holds no DONE either way)."""
    from psilon_bench.records import io

    try:
        io.clear_run(run_dir)
        io.write_failed(run_dir, line)
    except OSError as err:
        print(f"error: cannot write {run_dir / io.FAILED}: {err.strerror}", file=sys.stderr)
