"""Schemas of the `regularizer` and `pruning` groups: one strength lambda (a member axis),
the L_p bridge and soft-diamond settings, and the pruning schedules and rules."""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from omegaconf import MISSING

from psilon_bench.config.fields import ranged

# OmegaConf looks an Enum up by member NAME, and `global` is a keyword: the functional form
# names the member `global`, so `pruning.scope=global` composes.
PruneScope = Enum("PruneScope", {"global": "global", "layer": "layer"}, type=str)


@dataclass
class RegularizerConfig:
    """`none`, `l2`, `l1`, `weight_decay`, `path_norm`, `length_l2`: one strength lambda.

    `strength` may be a list: each value becomes its own member (crossed with the seeds).
    """

    name: str = MISSING
    strength: Any = ranged(0.0, 0, None, many=True)


@dataclass
class LpBridgeConfig:
    """Decoupled L_p bridge decay, docs/methods.md (L_p bridge) [pWD]."""

    name: str = "lp_bridge"
    strength: Any = ranged(1e-3, 0, None, many=True)
    p: float = ranged(0.8, 0, 2, "right")


@dataclass
class SoftDiamondConfig:
    """Soft-diamond (SaS prior) penalty, docs/methods.md (soft diamond) [SD]: exactly one of scale, dispersion."""

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
    """L1-sphere projection schedule, docs/methods.md (pruning) [PSiLON]; fractions of optimizer steps."""

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
    """Magnitude pruning to a target sparsity at the end of training, docs/methods.md (pruning)."""

    name: str = "magnitude"
    scope: PruneScope = PruneScope["global"]
    sparsity: Any = ranged(0.5, 0, 1, "left", many=True)  # a list: each evaluated (no fine-tuning)
    finetune_steps: int = ranged(0, 0)


@dataclass
class NeuronNormPruningConfig:
    """Remove the fraction q of hidden units with the smallest incoming norm [EWN]."""

    name: str = "neuron_norm"
    fraction: Any = ranged(0.5, 0, 1, "left", many=True)  # a list: each evaluated on one model
