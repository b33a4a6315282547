"""Schemas of the `logger` group: where a run's records and learning curves are sent besides
its own folder (experiment tracking, `psilon_bench.runner.tracking`). Display only: no
`logger.*` key is part of the config hash, so adding a logger never re-runs a finished job."""

from dataclasses import dataclass
from enum import Enum


class LoggerName(str, Enum):
    none = "none"  # the run folder only
    mlflow = "mlflow"  # one MLflow run per member (`pip install 'psilon-bench[mlflow]'`)
    tensorboard = "tensorboard"  # one event folder per member (`psilon-bench[tensorboard]`)


@dataclass
class LoggerConfig:
    """`logger=none`: nothing is logged outside the run folder."""

    name: LoggerName = LoggerName.none


@dataclass
class MlflowLoggerConfig(LoggerConfig):
    """`logger=mlflow`: `tracking_uri` is a folder (a local file store) or any URI MLflow
    takes (`sqlite:///mlflow.db`, `http://host:5000`); `experiment` names the experiment."""

    name: LoggerName = LoggerName.mlflow
    tracking_uri: str = "results/mlruns"
    experiment: str = "default"
    curves: bool = True  # the learning curves as step metrics (false: the records only)


@dataclass
class TensorBoardLoggerConfig(LoggerConfig):
    """`logger=tensorboard`: event files in `<save_dir>/<run id>/member_<i>`; `save_dir`
    null: the run folder's own `tensorboard/` (one sub-folder per member)."""

    name: LoggerName = LoggerName.tensorboard
    save_dir: str | None = None
    curves: bool = True  # the learning curves as step scalars (false: the records only)
