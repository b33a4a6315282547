"""Resumable, fault-tolerant `-m` sweeps and their processes.

Parent side: `plan_jobs` lists every job of a basic sweep with its folder and config hash
(validating each config), `precheck` refuses the sweep before anything runs when a job
folder holds another run's files, `SweepProgress` prints one line per finished job
(only the parent: workers print no live bars), and `outcome` counts skipped, run and
failed jobs for the summary line. Worker side: `watch_parent` ends a worker process
when its parent dies, so a killed sweep leaves no orphans.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from psilon_bench.records import io
from psilon_bench.records.provenance import config_hash
from psilon_bench.records.rundir import FolderRefused

KEY = "hydra.sweep.dir"


@dataclass
class Job:
    """One job of a sweep as the parent sees it before launching."""

    num: int
    overrides: list[str]
    folder: Path
    config_hash: str
    skip: bool  # complete with the same config hash: the job will skip itself


def plan_jobs(config: DictConfig, check: Any) -> list[Job] | None:
    """Every job of a basic sweep (Hydra's BasicSweeper order = job numbers), each config
    passed to `check(cfg, num, overrides)`; None for other sweepers (their jobs are known
    only as they run; `check(config)` sees the sweep's base config)."""
    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        check(config)
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    str(config.hydra.sweep.dir)  # resolve ${now:...} once: jobs copy the cached value
    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    loader = GlobalHydra.instance().config_loader()  # glob sweeps need the loader to parse
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(list(overrides))
    saved = HydraConfig.instance().cfg
    jobs = []
    try:
        for batch in BasicSweeper.split_arguments(parsed, None):
            for job_overrides in batch:
                num = len(jobs)
                cfg = loader.load_sweep_config(config, list(job_overrides))
                check(cfg, num, list(job_overrides))
                with open_dict(cfg):
                    cfg.hydra.job.id = num
                    cfg.hydra.job.num = num
                HydraConfig.instance().set_config(cfg)
                folder = Path(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir)).absolute()
                chash = config_hash(cfg)
                skip = io.run_state(folder) == "done" and io.done_hash(folder) == chash
                jobs.append(Job(num, list(job_overrides), folder, chash, skip))
    finally:
        HydraConfig.instance().cfg = saved
    return jobs


def precheck(jobs: list[Job]) -> None:
    """Refuse the whole sweep (one line) when a job folder holds another run's complete
    files or files a run does not write; incomplete and failed jobs will be redone."""
    for job in jobs:
        state = io.run_state(job.folder)
        if state == "foreign" or (state == "done" and not job.skip):
            what = (
                "files a run does not write"
                if state == "foreign"
                else f"a complete run of another config (hash {io.done_hash(job.folder)}, "
                f"job {job.num} has {job.config_hash})"
            )
            raise FolderRefused(
                f"refusing to overwrite {job.folder}: it holds {what}; choose another {KEY}"
            )


def finished(folder: Path) -> str | None:
    """ "done" | "failed" once a job folder holds its marker, else None."""
    if (folder / io.DONE).exists():
        return "done"
    return "failed" if (folder / io.FAILED).exists() else None


def _marker(folder: Path) -> tuple[str, int] | None:
    """(marker name, mtime in ns) of a job folder's DONE or FAILED, None without one."""
    for name in (io.DONE, io.FAILED):
        try:
            return name, (folder / name).stat().st_mtime_ns
        except OSError:
            continue
    return None


class SweepProgress:
    """The parent's progress: one plain line on stderr per finished job (jobs done / total,
    failures, time left), from the job folders' markers (works under every launcher)."""

    def __init__(self, jobs: list[Job], interval: float = 0.5):
        self.jobs = jobs
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sweep-progress", daemon=True)

    def start(self) -> SweepProgress:
        todo = [j for j in self.jobs if not j.skip]
        self._todo = todo
        self._before = {j.num: _marker(j.folder) for j in todo}  # a stale FAILED is not news
        self._seen: dict[int, str] = {}
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, after reporting the jobs that finished since the last look."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _poll(self) -> None:
        total, skipped = len(self.jobs), len(self.jobs) - len(self._todo)
        for job in self._todo:
            if job.num in self._seen or _marker(job.folder) in (None, self._before[job.num]):
                continue
            state = finished(job.folder) or "failed"
            self._seen[job.num] = state
            done = len(self._seen)
            left = (time.monotonic() - self._started) / done * (len(self._todo) - done)
            failed = sum(s == "failed" for s in self._seen.values())
            print(
                f"[{skipped + done}/{total} jobs] job {job.num} {state}"
                + (f", {failed} failed" if failed else "")
                + (f", ~{_duration(left)} left" if done < len(self._todo) else ""),
                file=sys.stderr,
                flush=True,
            )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Outcome:
    """How a sweep ended: counts and the failed jobs' folders with their errors."""

    skipped: int
    run: int
    failed: list[tuple[Path, str]]

    def line(self, sweep_dir: Path) -> str:
        return (
            f"sweep {sweep_dir}: {self.skipped + self.run + len(self.failed)} jobs, "
            f"{self.skipped} skipped (already complete), {self.run} run, {len(self.failed)} failed"
        )


def outcome(jobs: list[Job] | None, sweep_dir: Path) -> Outcome:
    """Count the jobs from their folders; without a job list (other sweepers) every
    sub-folder of the sweep folder is a job and none counts as skipped."""
    if jobs is None:
        folders = [p for p in sorted(Path(sweep_dir).iterdir()) if p.is_dir()]
        jobs = [
            Job(i, [], f, "", False) for i, f in enumerate(folders) if not f.name.startswith(".")
        ]
    skipped = run = 0
    failed = []
    for job in jobs:
        state = finished(job.folder)
        if state == "done":
            skipped += job.skip
            run += not job.skip
        else:
            text = ""
            if state == "failed":
                text = (job.folder / io.FAILED).read_text(encoding="utf-8", errors="replace")
            failed.append((job.folder, text.strip() or "did not finish (no DONE, no FAILED)"))
    return Outcome(skipped, run, failed)


#: Set by the parent of a sweep; job processes it starts inherit it.
PARENT_ENV = "PSILON_BENCH_SWEEP_PID"
_watchdog_started = False


def mark_parent() -> None:
    """In the sweep's parent: tell the job processes it will start who their parent is."""
    os.environ[PARENT_ENV] = str(os.getpid())


def watch_parent(interval: float = 0.5) -> None:
    """In a job process started by the sweep's parent (joblib, submitit_local): a daemon
    thread that kills this process (SIGKILL) as soon as that parent is gone, so killing the
    sweep leaves no orphans (nothing is read as complete without DONE). Also right away
    when the parent died before the job started. Idempotent."""
    global _watchdog_started
    if _watchdog_started:
        return
    _watchdog_started = True
    parent = os.getppid()
    sweep = int(os.environ.get(PARENT_ENV) or parent)

    def watch() -> None:
        while os.getppid() == parent and _alive(sweep):
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
