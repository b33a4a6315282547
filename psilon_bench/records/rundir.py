"""Claiming a run folder before a job writes into it.

A run never writes into a folder that holds another run's files. The claim takes an
exclusive `flock` on the folder itself (released when the process ends, also by SIGKILL),
so two runs aimed at one folder at once cannot both proceed, then looks at what is there:

| folder holds                         | single run | job of a (resumed) sweep      |
|--------------------------------------|------------|-------------------------------|
| nothing                              | run        | run                           |
| DONE with this job's config hash     | refuse     | skip                          |
| DONE with another hash               | refuse     | refuse                        |
| FAILED, or run files without DONE    | refuse     | redo: DONE/FAILED removed first |
| anything a run does not write        | refuse     | refuse                        |
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from psilon_bench.errors import UserError
from psilon_bench.records import io


class FolderRefused(UserError):
    """The output folder holds another run's files, or another run is writing into it."""


@dataclass
class Claim:
    """A claimed run folder; `action` is "run" or "skip". Release it when the job ends."""

    path: Path
    action: str
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def claim(run_dir: Path, config_hash: str, resume: bool, key: str = "hydra.run.dir") -> Claim:
    """Lock `run_dir` and decide (table above); raise FolderRefused with one line otherwise.
    `resume`: the job belongs to a sweep; `key` names the setting to change in the message."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        raise FolderRefused(
            f"{run_dir} is being written by another run right now; choose another {key}"
        ) from err
    try:
        action = _decide(run_dir, config_hash, resume, key)
    except BaseException:
        os.close(fd)
        raise
    return Claim(run_dir, action, fd)


def _decide(run_dir: Path, config_hash: str, resume: bool, key: str) -> str:
    state = io.run_state(run_dir)
    if state == "empty":
        return "run"
    if state == "foreign":
        names = sorted(p.name for p in run_dir.iterdir() if not io.run_entry(p.name))
        raise FolderRefused(
            f"refusing to write into {run_dir}: it holds files a run does not write "
            f"({', '.join(names[:3])}); choose an empty or new {key}"
        )
    if state == "done":
        stored = io.done_hash(run_dir)
        if resume and stored == config_hash:
            return "skip"
        what = "a complete run" + (
            f" of another config (hash {stored}, this job {config_hash})" if resume else ""
        )
        raise FolderRefused(
            f"refusing to overwrite {run_dir}: it holds {what}; choose another {key}"
        )
    if not resume:
        raise FolderRefused(
            f"refusing to write into {run_dir}: it holds a {state} run; remove the folder "
            f"or choose another {key}"
        )
    io.clear_run(run_dir)  # redo: markers first, then the stale files
    return "run"
