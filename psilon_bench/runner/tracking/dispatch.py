"""`log_run`: a written run's members handed to the chosen logger (`base.member_logs`), its
store's failures turned into one line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from psilon_bench.errors import UserError, error_line
from psilon_bench.runner.tracking.base import TrackingError, logger_name, member_logs


def log_run(
    cfg: Any,
    run_dir: Path,
    records: Sequence[Mapping[str, Any]],
    curves: Sequence[Mapping[str, Any]] | None,
    sweep: bool = False,
) -> None:
    """Send every member of a written run to the chosen logger (nothing for `none`); a
    failure of the logger's store is a one-line TrackingError and leaves nothing of this
    run in it. `sweep`: the run is a job of a sweep (its folder's parent is the sweep's)."""
    name = logger_name(cfg)
    if name == "none" or not records:
        return
    if name == "mlflow":
        from psilon_bench.runner.tracking.mlflow_runs import log_members
    else:
        from psilon_bench.runner.tracking.tensorboard_events import log_members
    run_dir = Path(run_dir)
    curves = curves if cfg.logger.get("curves", True) else None
    logs = member_logs(records, curves, run_dir, run_dir.parent if sweep else None)
    try:
        log_members(cfg.logger, run_dir, str(records[0]["run_id"]), logs)
    except UserError:
        raise
    except Exception as err:
        raise TrackingError(
            f"logger={name} could not log run {run_dir}: {error_line(err)}"
        ) from err
