"""Structured-config schemas for every Hydra group, registered in Hydra's ConfigStore.

Values live in `conf/**.yaml`; each YAML names its schema first in its defaults list
(`defaults: [base_mlp, _self_]`). Types and choices (Enums) are enforced by OmegaConf at
composition; numeric ranges and cross-field rules are declared here as field metadata
(`range`) and checked once by `psilon_bench.validation.validate` before any data loads.
Sizes the data decides (`d_in`, `d_out`) are not config: they are arguments to
`models.build`. Importing this module must stay cheap (no torch).
"""

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from omegaconf import MISSING

# --------------------------------------------------------------------------------------
# Declared ranges


@dataclass(frozen=True)
class Interval:
    """A numeric range; `closed` in {"both", "left", "right", "neither"}; None = unbounded."""

    lo: float | None = None
    hi: float | None = None
    closed: str = "both"

    def contains(self, x: float) -> bool:
        """`x` lies in the range (never true for NaN or an infinity)."""
        if not math.isfinite(x):
            return False
        lo_ok = self.lo is None or (
            x >= self.lo if self.closed in ("both", "left") else x > self.lo
        )
        hi_ok = self.hi is None or (
            x <= self.hi if self.closed in ("both", "right") else x < self.hi
        )
        return lo_ok and hi_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.lo is not None else "("
        right = "]" if self.closed in ("both", "right") and self.hi is not None else ")"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{left}{lo}, {hi}{right}"


def ranged(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    closed: str = "both",
    *,
    many: bool = False,
    optional: bool = False,
) -> Any:
    """A dataclass field whose value must lie in `Interval(lo, hi, closed)`.

    `many=True`: a scalar or a list of scalars (a member sweep, e.g. `strength: [1e-4, 1e-3]`).
    `optional=True`: None is allowed too.
    """
    meta = {"range": Interval(lo, hi, closed), "many": many, "optional": optional}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def choice(value: Any) -> str:
    """The string of a config choice, whether OmegaConf hands back an Enum member or a str."""
    return str(value.value) if isinstance(value, Enum) else str(value)


# --------------------------------------------------------------------------------------
# Choices


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class KeepBest(str, Enum):
    none = "none"  # report the model after the last step
    val = "val"  # ... at each member's lowest validation loss (psilon_bench.monitor)


class ClassWeight(str, Enum):
    none = "none"
    balanced = "balanced"  # n / (K n_c) from the member's training rows (sklearn's rule)


class Progress(str, Enum):
    auto = "auto"  # on when stdout is a terminal
    on = "on"
    off = "off"


class DType(str, Enum):
    float32 = "float32"
    float64 = "float64"


class Norm(str, Enum):
    l1 = "l1"
    l2 = "l2"


class Length(str, Enum):
    shared = "shared"  # one length g per layer (PSiLON)
    per_unit = "per_unit"  # g_j per unit (SWN / Standard Net)
    exp_per_unit = "exp_per_unit"  # exp(a_j) per unit (EWN)


class Layout(str, Enum):
    mlp = "mlp"
    residual = "residual"  # CReLU residual blocks (PSiLON ResNet layout)


class Bound(str, Enum):
    improved = "improved"  # phi_IB, METHODS.md §2.3
    original = "original"  # phi_OB


class OutputLayer(str, Enum):
    normalized = "normalized"  # weight-normalized with per-output lengths
    plain = "plain"  # an ordinary linear layer ([EWN] option)


class DirectionInit(str, Enum):
    orthogonal = "orthogonal"  # [PSiLON]
    kaiming_uniform = "kaiming_uniform"  # PyTorch's nn.Linear default
    kaiming_normal = "kaiming_normal"  # N(0, 2/fan_in), [EWN]'s reference code


class WeightInit(str, Enum):
    default = (
        "default"  # the model's own init (MLP: nn.Linear's; weight norm: direction/length_init)
    )
    kaiming_normal = "kaiming_normal"  # [EWN]'s reference: Kaiming-normal weights, zero biases


class LengthInit(str, Enum):
    one = "one"  # g = 1 (exp(a) with a = 0 for EWN)
    kaiming = "kaiming"  # the row norm of a Kaiming-uniform reference layer ([EWN] option)


class Source(str, Enum):
    sklearn = "sklearn"
    csv = "csv"
    openml = "openml"
    synthetic = "synthetic"


class TaskKind(str, Enum):
    auto = "auto"
    classification = "classification"
    regression = "regression"


class SyntheticKind(str, Enum):
    classification = "classification"  # sklearn.datasets.make_classification
    regression = "regression"  # sklearn.datasets.make_regression
    moons = "moons"
    circles = "circles"
    sparse_teacher = "sparse_teacher"  # a random sparse ReLU net labels Gaussian inputs


class SplitKind(str, Enum):
    holdout = "holdout"  # one seeded train/val/test split (split.n_*)
    kfold = "kfold"  # split.n_folds stratified folds: test, validation, and train (data/folds.py)
    predefined = "predefined"  # the dataset's NAME.splits.json (train/val + folds)


class Encoding(str, Enum):
    onehot = "onehot"
    ordinal = "ordinal"


class Impute(str, Enum):
    median = "median"
    none = "none"  # a missing value is an error


class TargetTransform(str, Enum):
    iqr = "iqr"  # (y - median) / (IQR / 2), PROTOCOLS.md P1
    standard = "standard"  # (y - mean) / std
    none = "none"


class OptimizerName(str, Enum):
    adam = "adam"
    sgd = "sgd"


class ScheduleName(str, Enum):
    constant = "constant"
    one_cycle = "one_cycle"
    cosine = "cosine"


class StepUnit(str, Enum):
    step = "step"  # the learning rate changes every optimizer step
    epoch = "epoch"  # ... once per epoch (PROTOCOLS.md P1)


# OmegaConf looks an Enum up by member NAME, and `global` is a keyword: the functional form
# names the member `global`, so `pruning.scope=global` composes.
PruneScope = Enum("PruneScope", {"global": "global", "layer": "layer"}, type=str)


# --------------------------------------------------------------------------------------
# model/


@dataclass
class MLPConfig:
    """Baseline ReLU MLP, METHODS.md §1.1 (PyTorch's Kaiming-uniform init)."""

    name: str = "mlp"
    width: int = ranged(64, 1)
    depth: int = ranged(2, 0)  # hidden layers (K - 1)
    init: WeightInit = WeightInit.default  # kaiming_normal: [EWN]'s reference init
    output_bias: bool = True  # false: a bias-free output layer ([EWN]'s reference)


@dataclass
class WeightNormConfig:
    """The weight-normalized family, METHODS.md §1.2-1.5 (SWN, EWN, L1 per unit, PSiLON)."""

    name: str = MISSING
    width: int = ranged(64, 1)
    depth: int = ranged(2, 0)  # hidden layers (mlp) or residual blocks (residual)
    norm: Norm = Norm.l1
    length: Length = Length.shared
    layout: Layout = Layout.mlp
    bound: Bound = Bound.improved  # residual only: the bound regularizer=path_norm uses
    fold_bias: bool = False  # bias inside the normalized vector (input augmented with 1)
    output_layer: OutputLayer = OutputLayer.normalized
    direction_init: DirectionInit = DirectionInit.orthogonal
    length_init: LengthInit = LengthInit.one
    # kaiming_normal: every layer starts as the Kaiming-normal draw an `mlp` with
    # init=kaiming_normal and the same seed gets (direction = its rows, length = their
    # norms), zero biases: [EWN]'s reference; overrides direction_init/length_init
    init: WeightInit = WeightInit.default
    output_bias: bool = True  # false: a bias-free output layer (output_layer=plain only)


@dataclass
class SklearnLinearConfig:
    """scikit-learn logistic / ridge regression baselines (`psilon_bench.baselines`, PROTOCOLS.md
    P1); their penalty strength is `regularizer.strength` (1/C for logistic, alpha for ridge)."""

    name: str = MISSING
    max_iter: int = ranged(1000, 1)  # solver iterations (lbfgs for logistic; ridge: unused)
    tol: float = ranged(1e-4, 0, None, "neither")  # solver tolerance


@dataclass
class SklearnForestConfig:
    """scikit-learn random forest baseline (`psilon_bench.baselines`): `regularizer.strength`
    is min_samples_leaf (0 and 1 both mean 1, fully grown trees)."""

    name: str = "sklearn_rf"
    n_estimators: int = ranged(200, 1)  # trees
    max_features: float | None = ranged(None, 0, 1, "right", optional=True)  # null: sklearn's


@dataclass
class SklearnMLPConfig:
    """scikit-learn MLP baseline (`psilon_bench.baselines`, issue 9): `regularizer.strength` is
    its L2 alpha and `optimizer.lr` its learning_rate_init (both member axes)."""

    name: str = "sklearn_mlp"
    width: int = ranged(64, 1)  # units per hidden layer
    depth: int = ranged(2, 1)  # hidden layers
    batch_size: int = ranged(32, 1)  # rows per Adam step (min(batch_size, n_train))
    max_iter: int = ranged(300, 1)  # epochs at most
    tol: float = ranged(1e-4, 0, None, "left")  # stop when the training loss improves less
    n_iter_no_change: int = ranged(10, 1)  # ... for this many epochs


# --------------------------------------------------------------------------------------
# regularizer/


@dataclass
class RegularizerConfig:
    """`none`, `l2`, `l1`, `weight_decay`, `path_norm`, `length_l2`: one strength lambda.

    `strength` may be a list: each value becomes its own member (crossed with the seeds).
    """

    name: str = MISSING
    strength: Any = ranged(0.0, 0, None, many=True)


@dataclass
class LpBridgeConfig:
    """Decoupled L_p bridge decay, METHODS.md §4 [pWD]."""

    name: str = "lp_bridge"
    strength: Any = ranged(1e-3, 0, None, many=True)
    p: float = ranged(0.8, 0, 2, "right")


@dataclass
class SoftDiamondConfig:
    """Soft-diamond (SaS prior) penalty, METHODS.md §5 [SD]: exactly one of scale, dispersion."""

    name: str = "soft_diamond"
    strength: Any = ranged(1e-4, 0, None, many=True)
    alpha: float = ranged(1.0, 0, 2, "right")
    scale: Any = ranged(None, 0, None, "neither", optional=True)  # c
    dispersion: Any = ranged(None, 0, None, "neither", optional=True)  # gamma = c^alpha


# --------------------------------------------------------------------------------------
# pruning/


@dataclass
class PruningConfig:
    """`none`."""

    name: str = "none"


@dataclass
class PsilonProjectionConfig:
    """L1-sphere projection schedule, METHODS.md §3 [PSiLON]; fractions of optimizer steps."""

    name: str = "psilon_projection"
    start: float = ranged(0.8, 0, 1)  # a_t starts to rise at this fraction of training
    ramp: float = ranged(0.1, 0, 1)  # ... and reaches 1 this fraction later (T)
    # s: project s * v / ||v||_1; null: s per unit, cutting entries below `threshold` times
    # the unit's mean magnitude (scale-aware; 2.0 is the paper's fixed rule)
    scale: float | None = ranged(None, 1, None, optional=True)
    threshold: float = ranged(0.1, 0, 1, "neither")  # scale null: the relative cut
    # also evaluate the same trained model without the projection: records gain
    # `unpruned.<split>.<metric>` (one training, accuracy with and without pruning)
    compare_unpruned: bool = False


@dataclass
class MagnitudePruningConfig:
    """Magnitude pruning to a target sparsity at the end of training, METHODS.md §3."""

    name: str = "magnitude"
    scope: PruneScope = PruneScope["global"]
    sparsity: Any = ranged(0.5, 0, 1, "left", many=True)  # a list: each evaluated (no fine-tuning)
    finetune_steps: int = ranged(0, 0)


@dataclass
class NeuronNormPruningConfig:
    """Remove the fraction q of hidden units with the smallest incoming norm [EWN]."""

    name: str = "neuron_norm"
    fraction: Any = ranged(0.5, 0, 1, "left", many=True)  # a list: each evaluated on one model


# --------------------------------------------------------------------------------------
# dataset/, split, preprocess


@dataclass
class SyntheticConfig:
    """Generator settings for `source: synthetic` (scikit-learn generators, sparse teacher)."""

    kind: SyntheticKind = SyntheticKind.classification
    n_samples: int = ranged(2000, 1)
    n_features: int = ranged(20, 1)
    n_informative: int = ranged(5, 1)
    n_classes: int = ranged(2, 2)
    noise: float = ranged(0.1, 0)
    teacher_width: int = ranged(16, 1)  # sparse_teacher: hidden units
    teacher_depth: int = ranged(1, 1)  # sparse_teacher: hidden layers
    teacher_density: float = ranged(0.2, 0, 1, "right")  # fraction of non-zero teacher weights
    seed: int = 0  # the data's own seed (members never change it)


@dataclass
class DatasetConfig:
    """One dataset of the registry (`conf/dataset/*.yaml`)."""

    name: str = MISSING
    source: Source = MISSING
    task: TaskKind = TaskKind.auto
    loader: str | None = None  # sklearn: iris | wine | breast_cancer | digits | diabetes
    path: str | None = None  # csv: file name, resolved against paths.data_dir
    target: str | None = None  # csv/openml: target column (default: the last column)
    openml_id: int | None = None  # openml, or the csv's fallback when the file is missing
    categorical: list[str] = field(default_factory=list)  # extra columns to encode
    drop: list[str] = field(default_factory=list)  # columns left out (IDs), before anything else
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    description: str = ""
    n_rows: int | None = None  # registry facts shown by `psilon-bench datasets`
    n_features: int | None = None


@dataclass
class SplitConfig:
    """Seeded train/val/test split; n_* are row counts (int) or fractions of the kept rows.

    `n_val` / `n_test` = null share what is left after the training rows equally
    (PROTOCOLS.md P1: 2000 train, the rest 50/50). `seed` = null: each member's seed.
    """

    n_train: Any = ranged(0.6, 0, None, "neither")
    n_val: Any = ranged(0.2, 0, None, "left", optional=True)
    n_test: Any = ranged(0.2, 0, None, "neither", optional=True)
    keep: int | None = ranged(None, 1, None, optional=True)  # cap on rows (after shuffling)
    stratify: bool = True
    seed: int | None = None
    kind: SplitKind = SplitKind.holdout  # kfold / predefined: members carry `fold`
    n_folds: int = ranged(5, 3)  # kfold: test = fold f, validation = fold f+1, train = the rest


@dataclass
class PreprocessConfig:
    """Preprocessing fitted on the training rows only."""

    standardize: bool = True
    categorical: Encoding = Encoding.onehot
    impute: Impute = Impute.median
    target: TargetTransform = TargetTransform.iqr  # regression targets only


# --------------------------------------------------------------------------------------
# optimizer/, schedule/, trainer/


@dataclass
class OptimizerConfig:
    """Base optimizer; its own weight decay is always 0 (decay lives in `regularizer`)."""

    name: OptimizerName = OptimizerName.adam
    lr: Any = ranged(1e-3, 0, None, "neither", many=True)  # a list: one member per value
    beta1: float = ranged(0.9, 0, 1, "left")
    beta2: float = ranged(0.999, 0, 1, "left")
    eps: float = ranged(1e-8, 0, None, "neither")
    momentum: float = ranged(0.0, 0, 1, "left")  # sgd
    nesterov: bool = False  # sgd


@dataclass
class ScheduleConfig:
    """Learning-rate multiplier as a pure function of the step (`psilon_bench.schedules`)."""

    name: ScheduleName = ScheduleName.constant
    unit: StepUnit = StepUnit.step
    pct_peak: float = ranged(0.2, 0, 1)  # one_cycle: where the peak (optimizer.lr) is reached
    div_start: float = ranged(20.0, 1)  # one_cycle: start lr = lr / div_start
    div_final: float = ranged(2.0, 1)  # one_cycle: final lr = start lr / div_final (P1: lr/40)
    warmup: float = ranged(0.0, 0, 1, "left")  # cosine: linear warm-up fraction
    min_ratio: float = ranged(0.0, 0, 1)  # cosine: final lr = min_ratio * lr


@dataclass
class TrainerConfig:
    """How a run trains its members: length, batch, device, threads, progress, evaluation
    during training (`eval_every`, `curves`, `keep_best`) and class weights."""

    epochs: int | None = ranged(100, 1, optional=True)
    steps: int | None = ranged(None, 1, optional=True)  # set -> overrides epochs
    batch_size: int | None = ranged(32, 1, optional=True)  # null = full batch
    device: Device = Device.auto
    threads: int | None = ranged(None, 1, optional=True)  # null: from the model size (threads.py)
    member_chunk: int | None = ranged(None, 1, optional=True)  # null: auto (train.member_chunks)
    dtype: DType = DType.float32
    progress: Progress = Progress.auto
    # [EWN]'s loss-adaptive learning rate (psilon_bench/adaptive.py): per member lr * m / L_prev,
    # m x1.1 per epoch whose training loss fell, else the epoch undone and m / 1.1
    loss_adaptive: bool = False
    eval_every: int | None = ranged(None, 1, optional=True)  # null: ~100 points, >= 10 steps apart
    curves: bool = True  # write curves.jsonl (train loss, val loss, val metric per point)
    keep_best: KeepBest = KeepBest.none
    class_weight: ClassWeight = ClassWeight.none


# --------------------------------------------------------------------------------------
# top level


@dataclass
class MetricsConfig:
    """Settings of the metrics computed for every member (METHODS.md §6)."""

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
    experiment: Any = None
    split: SplitConfig = field(default_factory=SplitConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seeds: Any = 3  # a count (seeds 0..n-1) or a list of seeds
    name: str = "default"  # names the run folder: results/runs/<name>/...


#: (group, schema name) -> dataclass; group None = the primary config.
SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "base_config"): Config,
    ("model", "base_mlp"): MLPConfig,
    ("model", "base_weightnorm"): WeightNormConfig,
    ("model", "base_sklearn_linear"): SklearnLinearConfig,
    ("model", "base_sklearn_forest"): SklearnForestConfig,
    ("model", "base_sklearn_mlp"): SklearnMLPConfig,
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
}


def file_stem(path: Any) -> str:
    """The `psilon_file_stem` resolver: a file's name without extensions, the dataset name
    of `dataset=csv` (`houses.csv.gz` -> `houses`); "csv" while there is no path."""
    from pathlib import Path

    return Path(str(path)).name.split(".")[0] if path else "csv"


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
