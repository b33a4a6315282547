"""Models: the registry `build(model_cfg, d_in, d_out, seeds)` -> one module holding E
members; the members' layers (`members`), the MLP, the weight-normalized family (`psilon`,
`weightnorm`), the 1-path-norm chain (`norms`) and pruning's L1-sphere projection.

May import `config` and `errors` only: models know no training, data, measure or pruning
schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psilon_bench.config import choice
from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel


def build(cfg: Any, d_in: int, d_out: int, seeds: Sequence[int]) -> MemberModel:
    """Build `len(seeds)` members of the model `cfg.name` for inputs d_in and outputs d_out."""
    name = cfg.name
    if name == "mlp":
        from psilon_bench.models.mlp import MLP

        return MLP(
            d_in, d_out, width=cfg.width, depth=cfg.depth, seeds=seeds,
            init=choice(cfg.init), output_bias=bool(cfg.output_bias),
        )  # fmt: skip
    if name in WEIGHTNORM_MODELS:  # one family (docs/methods.md): the config decides the rest
        from psilon_bench.models.psilon import build_weightnorm

        return build_weightnorm(cfg, d_in, d_out, seeds)
    raise ConfigError(
        f"model.name={name!r} is not a known model; allowed: {', '.join(MODEL_NAMES)}"
    )


WEIGHTNORM_MODELS = ("standard_net", "psilon_net", "psilon_resnet", "swn_mlp", "ewn_mlp")
MODEL_NAMES = ("mlp", *WEIGHTNORM_MODELS)
