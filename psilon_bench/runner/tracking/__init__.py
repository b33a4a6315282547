"""Experiment tracking, the `logger` config group: a run's records and learning curves sent
to MLflow (one MLflow run per member) or TensorBoard (one event folder per member) besides
its own folder. `check` refuses a logger whose package is missing before anything runs;
`log_run` logs a run's members after its files are written and before its DONE marker, so
only members whose records exist are logged and an interrupted job is redone whole. The
third-party libraries are imported only when their logger is chosen."""

from psilon_bench.runner.tracking.base import check
from psilon_bench.runner.tracking.dispatch import log_run

__all__ = ["check", "log_run"]
