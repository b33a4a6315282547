"""Regularizer registry: `build(reg_cfg, strength)` -> the object `train.fit` calls."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from psilon_bench.errors import ConfigError
from psilon_bench.regularizers.base import Regularizer


def build(cfg: Any, strength: Tensor, model: Any = None) -> Regularizer:
    """Regularizer `cfg.name` with per-member strengths `strength` (E,)."""
    from psilon_bench.regularizers import penalties

    registry = {
        "none": Regularizer,
        "l2": penalties.L2Penalty,
        "l1": penalties.L1Penalty,
        "weight_decay": penalties.DecoupledWeightDecay,
    }
    if cfg.name not in registry:
        raise ConfigError(
            f"regularizer.name={cfg.name!r} is not known; allowed: {', '.join(sorted(registry))}"
        )
    return registry[cfg.name](strength)
