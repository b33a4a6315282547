"""Model registry: `build(model_cfg, d_in, d_out, seeds)` -> one module holding E members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel


def build(cfg: Any, d_in: int, d_out: int, seeds: Sequence[int]) -> MemberModel:
    """Build `len(seeds)` members of the model `cfg.name` for inputs d_in and outputs d_out."""
    name = cfg.name
    if name == "mlp":
        from psilon_bench.models.mlp import MLP

        return MLP(d_in, d_out, width=cfg.width, depth=cfg.depth, seeds=seeds)
    raise ConfigError(
        f"model.name={name!r} is not a known model; allowed: {', '.join(MODEL_NAMES)}"
    )


MODEL_NAMES = ("mlp",)
