"""The primary config: one group per component (`logger`: experiment tracking), plus the
run's own sections (metrics, summary, paths), every schema by (group, name) in `SCHEMAS`,
and their registration in Hydra's ConfigStore (`register_configs`) with the YAMLs'
resolvers (`register_resolvers`)."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from psilon_bench.config.data import DatasetConfig, PreprocessConfig, SplitConfig
from psilon_bench.config.fields import ranged
from psilon_bench.config.model import (
    CatBoostConfig,
    LightGBMConfig,
    MLPConfig,
    SklearnForestConfig,
    SklearnHGBConfig,
    SklearnLinearConfig,
    SklearnMLPConfig,
    WeightNormConfig,
    XGBoostConfig,
)
from psilon_bench.config.regularization import (
    LpBridgeConfig,
    MagnitudePruningConfig,
    NeuronNormPruningConfig,
    PruningConfig,
    PsilonProjectionConfig,
    RegularizerConfig,
    SoftDiamondConfig,
)
from psilon_bench.config.tracking import (
    LoggerConfig,
    MlflowLoggerConfig,
    TensorBoardLoggerConfig,
)
from psilon_bench.config.training import OptimizerConfig, ScheduleConfig, TrainerConfig


@dataclass
class MetricsConfig:
    """Settings of the metrics computed for every member (docs/methods.md (metrics))."""

    lipschitz_points: int = ranged(128, 1)  # test inputs for the empirical lower bound
    lipschitz_starts: int = ranged(4, 1)  # random sign starts per point (§2.4)
    thresholds: list[float] = ranged([1e-3, 1e-2], 0, None, "neither", many=True)
    absolute_threshold: float | None = ranged(None, 0, None, "neither", optional=True)
    spectral: bool = True  # lipschitz.spectral*: false leaves them null
    train_split: bool = True  # train.* task metrics (a forward pass over the training rows)


#: Validation metrics the run summary's `sel` column may select on (`summary.select_on`): the
#: task metrics of `measure.metrics.METRIC_NAMES` (not imported here, it imports torch; a
#: test ties the two).
SUMMARY_SELECT_ON = (
    "val.log_loss",
    "val.accuracy",
    "val.balanced_accuracy",
    "val.rmse",
    "val.r2",
)


@dataclass
class SummaryConfig:
    """The summary printed after a run (display only: not in the config hash).

    `select_on`: the validation metric its `sel` column selects strength and learning rate
    on, per seed (the report's rule, `psilon-bench table --select-on`); null: the report's
    default per task, `val.log_loss` or `val.rmse`. A classification metric on a regression
    run (or the reverse) falls back to that default, as the report does.
    """

    select_on: str | None = None


@dataclass
class PathsConfig:
    """`data_dir` null: $PSILON_BENCH_DATA if set, else ./data."""

    data_dir: str | None = None
    results_dir: str = "results"


@dataclass
class Config:
    """The whole run: one group per component (see conf/config.yaml)."""

    model: Any = MISSING
    regularizer: Any = MISSING
    dataset: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    trainer: Any = MISSING
    pruning: Any = MISSING
    logger: Any = field(default_factory=LoggerConfig)  # experiment tracking; none by default
    experiment: Any = None
    split: SplitConfig = field(default_factory=SplitConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seeds: Any = 3  # a count (seeds 0..n-1) or a list of seeds
    # k: one more record per setting for the average of k members' predicted probabilities
    # (members that differ only in their init seed, sharing one split: set split.seed); null: off
    ensemble: int | None = ranged(None, 2, None, optional=True)
    name: str = "default"  # names the run folder: results/runs/<name>/...


#: (group, schema name) -> dataclass; group None = the primary config.
SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "base_config"): Config,
    ("model", "base_mlp"): MLPConfig,
    ("model", "base_weightnorm"): WeightNormConfig,
    ("model", "base_sklearn_linear"): SklearnLinearConfig,
    ("model", "base_sklearn_forest"): SklearnForestConfig,
    ("model", "base_sklearn_mlp"): SklearnMLPConfig,
    ("model", "base_sklearn_hgb"): SklearnHGBConfig,
    ("model", "base_catboost"): CatBoostConfig,
    ("model", "base_lightgbm"): LightGBMConfig,
    ("model", "base_xgboost"): XGBoostConfig,
    ("regularizer", "base_regularizer"): RegularizerConfig,
    ("regularizer", "base_lp_bridge"): LpBridgeConfig,
    ("regularizer", "base_soft_diamond"): SoftDiamondConfig,
    ("pruning", "base_pruning"): PruningConfig,
    ("pruning", "base_psilon_projection"): PsilonProjectionConfig,
    ("pruning", "base_magnitude"): MagnitudePruningConfig,
    ("pruning", "base_neuron_norm"): NeuronNormPruningConfig,
    ("dataset", "base_dataset"): DatasetConfig,
    ("optimizer", "base_optimizer"): OptimizerConfig,
    ("schedule", "base_schedule"): ScheduleConfig,
    ("trainer", "base_trainer"): TrainerConfig,
    ("logger", "base_logger"): LoggerConfig,
    ("logger", "base_mlflow"): MlflowLoggerConfig,
    ("logger", "base_tensorboard"): TensorBoardLoggerConfig,
}


def file_stem(path: Any, default: str = "csv") -> str:
    """The `psilon_file_stem` resolver: a file's name without extensions, the dataset name
    of `dataset=csv` (`houses.csv.gz` -> `houses`) and `dataset=uci` (the folder's name);
    `default` while there is no path."""
    from pathlib import Path

    return Path(str(path)).name.split(".")[0] if path else default


def register_resolvers() -> None:
    """OmegaConf resolvers the registry's YAMLs use (idempotent)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("psilon_file_stem"):
        OmegaConf.register_new_resolver("psilon_file_stem", file_stem)


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        cs.store(group=group, name=name, node=node)
