"""Where a run writes: checked before Hydra creates any folder, and cleaned up after a
user error (no empty folders left behind, inside the working directory or outside it).

`check_output_dir` finds the deepest folder of the output path that already exists
(everything below it is created by this run) and refuses a path that runs through a file
or a folder that cannot be written (read-only file system, no permission), naming
`paths.results_dir`. `remove_created_dirs` removes, after an error, the empty folders
this run created, up to that folder.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from psilon_bench.errors import OutputError

#: the environment variable that hands the existing root to launcher worker processes
ROOT_ENV = "PSILON_BENCH_OUTPUT_ROOT"
HINT = "set paths.results_dir to a writable folder"


def check_output_dir(path: Path | str, results_dir: str) -> Path:
    """The deepest existing folder on `path`; OutputError if `path` cannot be created."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    key = f"paths.results_dir={results_dir}"
    if not existing.is_dir():
        raise OutputError(f"{key}: {existing} is a file, not a folder; {HINT}")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(existing) else "permission denied"
        raise OutputError(f"{key}: cannot create folders in {existing} ({reason}); {HINT}")
    os.environ[ROOT_ENV] = str(existing)
    return existing


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def remove_created_dirs(folder: Path, stop: Path | None = None) -> None:
    """Remove `folder` and its parents while they are empty, up to (not including) `stop`
    (default: the folder `check_output_dir` found, else the working directory). A sweep
    folder holding only Hydra's `multirun.yaml` counts as empty."""
    stop = Path(stop or os.environ.get(ROOT_ENV) or Path.cwd()).resolve()
    folder = Path(folder).resolve()
    while folder != stop and stop in folder.parents:
        if folder.is_dir() and [p.name for p in folder.iterdir()] == ["multirun.yaml"]:
            (folder / "multirun.yaml").unlink()
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def output_error(err: OSError, where: Path | str) -> OutputError:
    """An OSError while writing under `where` as one line with what to do."""
    name = (
        where
        if err.filename is None or Path(str(err.filename)).name.startswith(".")
        else err.filename
    )
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free some space, or set paths.results_dir to another disk"
    elif err.errno in (errno.ENOTDIR, errno.EEXIST):
        todo = "a file is in the way; " + HINT
    else:
        todo = HINT
    reason = err.strerror or type(err).__name__
    return OutputError(f"cannot write {name}: {reason} (nothing was kept); {todo}")
