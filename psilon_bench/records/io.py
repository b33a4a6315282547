"""Run records on disk: `records.jsonl` (one JSON object per member), the resolved
`config.yaml`, the command line's overrides `overrides.yaml`, `curves.jsonl`, the
`tensorboard/` folder of `logger=tensorboard`, and a `DONE` marker written last (its text:
the config hash). A job that failed holds `FAILED` (its one-line error)
and no `DONE`. Every file is written atomically (a temporary file in the same folder, then
`os.replace`), so a reader never sees half a file. `collect` reads many run folders into
one pandas DataFrame."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

RECORDS = "records.jsonl"
DONE = "DONE"
CONFIG = "config.yaml"
OVERRIDES = "overrides.yaml"
FAILED = "FAILED"
CURVES = "curves.jsonl"
TENSORBOARD = "tensorboard"
SELECTION = "selection.jsonl"  # split.kind=two_stage: the selection stage's records
#: Every file a run writes; a folder holding anything else is not a run folder.
RUN_FILES = (DONE, FAILED, CONFIG, OVERRIDES, RECORDS, CURVES, SELECTION)
#: ... and the folders (`logger=tensorboard`'s event files, one sub-folder per member).
RUN_DIRS = (TENSORBOARD,)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes) to `path` via a unique temporary file in the
    same folder and `os.replace`: readers see the old file or the new one, never half of it,
    also when several processes write the same path at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; honour the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per line (NaN / inf as null)."""
    lines = [json.dumps({k: _json_safe(v) for k, v in r.items()}, sort_keys=False) for r in rows]
    return "\n".join(lines) + "\n"


def write_run(
    run_dir: Path,
    config_yaml: str,
    records: Iterable[Mapping[str, Any]],
    curves: Iterable[Mapping[str, Any]] | None = None,
    files: Mapping[str, str] | None = None,
    done: str = "",
    before_done: Callable[[], None] | None = None,
) -> None:
    """config.yaml, records.jsonl, curves.jsonl (learning curves, when given), the `files`
    ({name: text}, e.g. overrides.yaml), `before_done()` (experiment tracking), then DONE
    (the marker that the run is complete; its text `done`, the config hash). An error on the
    way removes what this call wrote."""
    run_dir = Path(run_dir)
    extra = dict(files or {})
    files = [(CONFIG, config_yaml), (RECORDS, jsonl(records))]
    if curves is not None:
        files.append((CURVES, jsonl(curves)))
    files += [*extra.items(), (DONE, done)]
    written: list[Path] = []
    try:
        for name, text in files:
            if name == DONE and before_done is not None:
                before_done()
            atomic_write(run_dir / name, text)
            written.append(run_dir / name)
    except OSError as err:  # disk full, read-only: remove what this call wrote, one line
        from psilon_bench.records.output import output_error

        for path in written:
            path.unlink(missing_ok=True)
        raise output_error(err, run_dir / files[len(written)][0]) from None
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def write_failed(run_dir: Path, error: str) -> None:
    """Mark a job as failed: FAILED holding its one-line error (never beside a DONE)."""
    run_dir = Path(run_dir)
    (run_dir / DONE).unlink(missing_ok=True)
    atomic_write(run_dir / FAILED, error.strip().splitlines()[0] + "\n" if error.strip() else "\n")


def clear_run(run_dir: Path) -> None:
    """Remove a run's files before the folder is rewritten on purpose: DONE and FAILED
    first, so a kill at any moment leaves a folder that reads as incomplete."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_DIRS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def run_state(run_dir: Path) -> str:
    """ "empty" (absent, or no run file yet), "done", "failed", "incomplete" (run files
    without a marker) or "foreign" (holds something a run does not write, see `run_entry`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "empty"
    names = [p.name for p in run_dir.iterdir()]
    if any(not run_entry(n) for n in names):
        return "foreign"
    if not any(n in RUN_FILES or n in RUN_DIRS or n.endswith(".tmp") for n in names):
        return "empty"
    if DONE in names:
        return "done"
    return "failed" if FAILED in names else "incomplete"


def run_entry(name: str) -> bool:
    """Whether a run folder may hold `name`: a run file or folder, a hidden entry (temporary
    files, Hydra's `.hydra`), or a log file Hydra's job logging writes before the job starts."""
    return name in RUN_FILES or name in RUN_DIRS or name.startswith(".") or name.endswith(".log")


def done_hash(run_dir: Path) -> str | None:
    """The config hash stored in a complete run's DONE (None if absent or empty)."""
    try:
        return (Path(run_dir) / DONE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def failed_runs(root: Path) -> list[tuple[Path, str]]:
    """(folder, one-line error) of every failed job below `root`."""
    out = []
    for marker in sorted(Path(root).rglob(FAILED)):
        if marker.is_file() and not (marker.parent / DONE).exists():
            text = marker.read_text(encoding="utf-8", errors="replace").strip()
            out.append((marker.parent, text))
    return out


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    """The records of one complete run (raises FileNotFoundError if DONE is missing)."""
    run_dir = Path(run_dir)
    if not (run_dir / DONE).exists():
        raise FileNotFoundError(f"{run_dir} has no {DONE} marker (run incomplete)")
    return read_jsonl(run_dir / RECORDS)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-empty line."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def collect(root: Path) -> Any:
    """Every complete run below `root` as one pandas DataFrame (one row per member), with
    the run folder in a `path` column. `psilon_bench.report.collect` builds on this."""
    import pandas as pd

    rows = []
    for done in sorted(Path(root).rglob(DONE)):
        run_dir = done.parent
        rows.extend({**r, "path": str(run_dir)} for r in read_records(run_dir))
    return pd.DataFrame(rows)
