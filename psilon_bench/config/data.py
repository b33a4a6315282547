"""Schemas of the `dataset` group and the `split` and `preprocess` sections: where the
rows come from, how they are split per member and what is fitted on the training rows."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from omegaconf import MISSING

from psilon_bench.config.fields import ranged


class Source(str, Enum):
    sklearn = "sklearn"
    csv = "csv"
    openml = "openml"
    synthetic = "synthetic"
    uci = "uci"  # a folder of the UCI collection's layout (data/uci.py)


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
    two_stage = "two_stage"  # dataset=uci: select on conxuntos.dat, refit on its 4 folds


class Encoding(str, Enum):
    onehot = "onehot"
    ordinal = "ordinal"


class Impute(str, Enum):
    median = "median"
    none = "none"  # a missing value is an error


class TargetTransform(str, Enum):
    iqr = "iqr"  # (y - median) / (IQR / 2), docs/protocols.md P1
    standard = "standard"  # (y - mean) / std
    none = "none"


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
    (docs/protocols.md P1: 2000 train, the rest 50/50). `seed` = null: each member's seed.
    """

    n_train: Any = ranged(0.6, 0, None, "neither")
    n_val: Any = ranged(0.2, 0, None, "left", optional=True)
    n_test: Any = ranged(0.2, 0, None, "neither", optional=True)
    keep: int | None = ranged(None, 1, None, optional=True)  # cap on rows (after shuffling)
    stratify: bool = True
    seed: int | None = None
    kind: SplitKind = SplitKind.holdout  # kfold / predefined: members carry `fold`
    n_folds: int = ranged(5, 3)  # kfold: test = fold f, validation = fold f+1, train = the rest
    # two_stage: the validation metric that picks each seed's setting (null: val.log_loss or
    # val.rmse, the report's default); one of config.run.SUMMARY_SELECT_ON
    select_on: str | None = None


@dataclass
class PreprocessConfig:
    """Preprocessing fitted on the training rows only."""

    standardize: bool = True
    categorical: Encoding = Encoding.onehot
    impute: Impute = Impute.median
    target: TargetTransform = TargetTransform.iqr  # regression targets only
