"""Regularizers (docs/methods.md (bounds), §4, §5): the registry `build(reg_cfg, strength)` returns the
object the training loop calls each step (a penalty added to the loss, or a decoupled decay
after the optimizer step). May import models, config, errors and records' atomic writes
(the soft-diamond table's cache); never the engine, the data or the measures."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from psilon_bench.errors import ConfigError
from psilon_bench.regularizers.base import Regularizer


def build(cfg: Any, strength: Tensor, model: Any = None) -> Regularizer:
    """Regularizer `cfg.name` with per-member strengths `strength` (E,)."""
    from psilon_bench.regularizers import lp_bridge, path_norm, penalties

    def soft_diamond_cls() -> Any:  # imported on demand: the SaS table module loads scipy
        from psilon_bench.regularizers.soft_diamond import SoftDiamond

        return SoftDiamond

    registry = {
        "none": Regularizer,
        "l2": penalties.L2Penalty,
        "l1": penalties.L1Penalty,
        "weight_decay": penalties.DecoupledWeightDecay,
        "path_norm": path_norm.PathNormPenalty,  # docs/methods.md (path-norm regularizer)
        "length_l2": path_norm.LengthL2Penalty,  # docs/methods.md (Standard Net)
        # regularizers with options of their own: the rest of cfg is bound here
        "lp_bridge": lambda s: lp_bridge.LpBridgeDecay(s, p=cfg.p),  # docs/methods.md (L_p bridge)
        "soft_diamond": lambda s: soft_diamond_cls()(  # docs/methods.md (soft diamond)
            s, alpha=cfg.alpha, scale=cfg.scale, dispersion=cfg.dispersion
        ),
    }
    if cfg.name not in registry:
        raise ConfigError(
            f"regularizer.name={cfg.name!r} is not known; allowed: {', '.join(sorted(registry))}"
        )
    return registry[cfg.name](strength)
