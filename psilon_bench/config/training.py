"""Schemas of the `optimizer`, `schedule` and `trainer` groups: the base optimizer (its
own weight decay is always 0), the learning-rate schedule, and how a run trains."""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from psilon_bench.config.fields import ranged


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class KeepBest(str, Enum):
    none = "none"  # report the model after the last step
    val = "val"  # ... at each member's lowest validation loss (psilon_bench.engine.monitor)


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


class OptimizerName(str, Enum):
    adam = "adam"
    sgd = "sgd"


class ScheduleName(str, Enum):
    constant = "constant"
    one_cycle = "one_cycle"
    cosine = "cosine"


class StepUnit(str, Enum):
    step = "step"  # the learning rate changes every optimizer step
    epoch = "epoch"  # ... once per epoch (docs/protocols.md P1)


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
    """Learning-rate multiplier as a pure function of the step (`psilon_bench.engine.schedules`)."""

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
    # an epoch budget clipped to [min_steps, max_steps] (null: no floor / no ceiling)
    min_steps: int | None = ranged(None, 1, optional=True)
    max_steps: int | None = ranged(None, 1, optional=True)
    batch_size: int | None = ranged(32, 1, optional=True)  # null = full batch
    device: Device = Device.auto
    threads: int | None = ranged(None, 1, optional=True)  # null: from the model size (threads.py)
    member_chunk: int | None = ranged(None, 1, optional=True)  # null: auto (train.member_chunks)
    dtype: DType = DType.float32
    progress: Progress = Progress.auto
    # [EWN]'s loss-adaptive learning rate (psilon_bench/engine/adaptive.py): per member lr * m / L_prev,
    # m x1.1 per epoch whose training loss fell, else the epoch undone and m / 1.1
    loss_adaptive: bool = False
    eval_every: int | None = ranged(None, 1, optional=True)  # null: ~100 points, >= 10 steps apart
    curves: bool = True  # write curves.jsonl (train loss, val loss, val metric per point)
    keep_best: KeepBest = KeepBest.none
    class_weight: ClassWeight = ClassWeight.none
