"""Pruning [PSiLON, EWN] (docs/methods.md (pruning)): the schedules and rules a run applies
(`pruners`), and the tensor operations they are made of (`ops`: the blend weight,
magnitude and neuron-norm masks; the L1-sphere projection is `models.projection`).

May import `models`, `config`, `errors` and the engine's value types (`engine.plan`); never
the training loop."""

from psilon_bench.pruning.pruners import (
    MagnitudePruning,
    NeuronNormPruning,
    PsilonProjection,
    apply_masks_,
    build,
    model_layers,
    neuron_norm_prune_,
    projection_schedule,
    prune_amounts,
    pruned_copy,
    record_amount,
)

__all__ = [
    "MagnitudePruning",
    "NeuronNormPruning",
    "PsilonProjection",
    "apply_masks_",
    "build",
    "model_layers",
    "neuron_norm_prune_",
    "projection_schedule",
    "prune_amounts",
    "pruned_copy",
    "record_amount",
]
