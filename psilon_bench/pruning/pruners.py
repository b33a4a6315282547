"""Pruners the training loop calls (`train.Pruner`), docs/methods.md (pruning).

- `psilon_projection` [PSiLON]: from optimizer step `start` the effective weight of every
  L1-normalized layer blends, over `T` steps, to `g * P(s v / ||v||_1)` (L1-sphere
  projection); training ends at `a = 1` with exact zeros, and every row keeps L1 norm
  `|g|`, so the closed-form path norms stay exact during and after.
- `magnitude`: at the end of training, zero the smallest-magnitude effective weights to a
  target sparsity (globally or per layer), then optionally fine-tune with the masks held.
- `neuron_norm` [EWN]: remove the fraction q of each hidden layer's units with the
  smallest incoming-vector L2 norm, no retraining (`neuron_norm_prune_`, the one
  implementation, for every MLP layout: plain, PSiLON, SWN, EWN).

[PSiLON] A. Biswas, "Hidden Synergy: L1 Weight Normalization and 1-Path-Norm
Regularization", arXiv:2404.19112. [EWN] D. Morwani, H. G. Ramaswamy, arXiv:2010.12909.
The tensor math (blend, masks) is `psilon_bench.pruning.ops`, the projection
`psilon_bench.models.projection`; this module
decides when it runs and which parameters it edits.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from omegaconf import ListConfig
from torch import Tensor

import psilon_bench.models.weightnorm as weightnorm
from psilon_bench.config import choice
from psilon_bench.engine.plan import StepPlan
from psilon_bench.errors import ConfigError
from psilon_bench.models.members import MemberModel
from psilon_bench.pruning.ops import magnitude_mask, neuron_norm_mask, prune_blend


def build(cfg: Any, model: MemberModel) -> Any:
    """The pruner `cfg.name` for `model` (an object with the `train.Pruner` interface)."""
    name = cfg.name
    if name == "psilon_projection":
        return PsilonProjection(
            model, cfg.start, cfg.ramp, cfg.scale, cfg.threshold, bool(cfg.compare_unpruned)
        )
    if name == "magnitude":
        return MagnitudePruning(model, choice(cfg.scope), _first(cfg.sparsity), cfg.finetune_steps)
    if name == "neuron_norm":
        return NeuronNormPruning(model, _first(cfg.fraction))
    raise ConfigError(
        f"pruning.name={name!r} is not known; allowed: none, psilon_projection, magnitude, "
        "neuron_norm"
    )


def _first(value: Any) -> float:
    """A list-form amount's first value (the pruner is then only built to check the model)."""
    return float(value[0]) if isinstance(value, (list, ListConfig)) else value


#: the key holding the amount of each pruning applied after training
AMOUNT_KEY = {"neuron_norm": "fraction", "magnitude": "sparsity"}


def prune_amounts(cfg: Any) -> list[float] | None:
    """The amounts of a list-form `pruning.fraction` (neuron_norm) or `pruning.sparsity`
    (magnitude, no fine-tuning), each evaluated on a copy of one trained model; None for a
    scalar or another pruner. Zeros and repeats are dropped (the unpruned record is 0)."""
    key = AMOUNT_KEY.get(str(cfg.name))
    value = cfg.get(key) if key else None
    if value is None or isinstance(value, (int, float)):
        return None
    return [a for a in dict.fromkeys(float(v) for v in value) if a > 0]


def record_amount(cfg: Any) -> dict[str, Any]:
    """`prune.kind` / `prune.amount` of a run's records with a scalar amount ({} otherwise)."""
    key = AMOUNT_KEY.get(str(cfg.name))
    if key is None:
        return {}
    return {"prune.kind": str(cfg.name), "prune.amount": float(cfg[key])}


@torch.no_grad()
def pruned_copy(cfg: Any, model: MemberModel, amount: float) -> MemberModel:
    """A copy of the trained `model` pruned at `amount` by `cfg.name` (neuron_norm or
    magnitude without fine-tuning), exactly as the pruner's `on_train_end` prunes."""
    pruned = copy.deepcopy(model)
    if cfg.name == "neuron_norm":
        neuron_norm_prune_(pruned, amount)
    else:
        MagnitudePruning(pruned, choice(cfg.scope), amount, 0).prune_(pruned)
    return pruned


# ----------------------------------------------------------------------------------------
# Layers a pruner edits


def model_layers(model: MemberModel) -> list[Any]:
    """The model's layers, input to output, each with `matrices()`, `incoming()`, `mask_`,
    `remove_units_` (`PlainLinear` and the weight-normalized layers)."""
    if hasattr(model, "layers"):
        return list(model.layers)
    raise ConfigError(f"pruning does not know the layers of {type(model).__name__}")


def _check_mlp_layout(model: MemberModel) -> None:
    if hasattr(model, "residual_weights"):
        raise ConfigError(
            "pruning=neuron_norm needs an MLP layout: a residual stream's units cannot be "
            "removed by their incoming weights (use model.layout=mlp)"
        )


# ----------------------------------------------------------------------------------------
# PSiLON projection


def projection_schedule(total_steps: int, start: float, ramp: float) -> tuple[int, int]:
    """`(start, T)` in optimizer steps from fractions of `total_steps`, docs/methods.md (pruning) [PSiLON].

    `start = round(start * N)`, `T = round(ramp * N)`, capped so that `start + T <= N`:
    `a` reaches 1 by the end of training.
    """
    first = round(start * total_steps)
    return first, min(round(ramp * total_steps), total_steps - first)


class PsilonProjection:
    """The L1-sphere projection schedule of docs/methods.md (pruning) [PSiLON], counted in optimizer steps.

    After optimizer step t (0-based) the layers get `a_{t+1} = prune_blend(t + 1, start, T)`:
    the next forward, and the model after the last step (`a_N = 1`), use it. While `a = 0`
    the forward is untouched. At the end the projected direction is stored as the raw
    direction (`bake_projection_`), so the trained model is an ordinary weight-normalized
    net whose zeros are exact.
    """

    extra_steps = 0

    def __init__(
        self,
        model: MemberModel,
        start: float,
        ramp: float,
        scale: float | None = None,
        threshold: float = 0.1,
        keep_raw: bool = False,
    ):
        self.layers = [
            layer for layer in model.modules() if isinstance(layer, weightnorm.NormalizedLayer)
        ]
        if not self.layers:
            raise ConfigError(
                f"pruning=psilon_projection needs a weight-normalized model; got "
                f"{type(model).__name__} (allowed: psilon_net, psilon_resnet, or another model "
                "with model.norm=l1)"
            )
        if any(layer.norm != "l1" for layer in self.layers):
            raise ConfigError(
                "pruning=psilon_projection needs model.norm=l1 (the L1-sphere projection of "
                "docs/methods.md (pruning)); got model.norm=l2"
            )
        self.start, self.ramp, self.scale, self.threshold = start, ramp, scale, threshold
        self.keep_raw = keep_raw  # keep the unprojected directions for `unprojected()`
        self.raw: list[tuple[Tensor, Tensor | None]] | None = None

    def blend_after(self, step: int, plan: StepPlan) -> float:
        """`a` in force after optimizer step `step` (i.e. `a_{step+1}`)."""
        first, ramp = projection_schedule(plan.total_steps, self.start, self.ramp)
        return prune_blend(step + 1, first, ramp)

    def set_blend(self, blend: float) -> None:
        projection = weightnorm.Projection(blend, self.scale, self.threshold) if blend > 0 else None
        for layer in self.layers:
            layer.projection = projection

    def on_step_end(self, model: MemberModel, step: int, plan: StepPlan) -> None:
        self.set_blend(self.blend_after(step, plan))

    def keep_from(self, plan: StepPlan) -> int:
        """A best-validation checkpoint (`trainer.keep_best`) is taken only once `a = 1`
        (after `start + T` steps), so the kept model is fully projected, exact zeros."""
        first, ramp = projection_schedule(plan.total_steps, self.start, self.ramp)
        return first + ramp

    def on_train_end(self, model: MemberModel, plan: StepPlan) -> None:
        self.set_blend(self.blend_after(plan.total_steps - 1, plan))  # a_N (1 unless N = 0)
        if self.keep_raw:
            self.raw = [_raw_direction(layer) for layer in self.layers]
        for layer in self.layers:
            layer.bake_projection_()

    @contextlib.contextmanager
    def unprojected(self) -> Iterator[None]:
        """The trained model without its projection (`pruning.compare_unpruned`): the raw
        directions of the end of training, before `on_train_end` baked the projection, as an
        ordinary weight-normalized net (a = 0). Restored on exit."""
        if self.raw is None:
            raise RuntimeError("unprojected() needs keep_raw=True and a finished training")
        baked = [_raw_direction(layer) for layer in self.layers]
        try:
            for layer, raw in zip(self.layers, self.raw):
                _set_raw_direction(layer, raw)
            yield
        finally:
            for layer, kept in zip(self.layers, baked):
                _set_raw_direction(layer, kept)


def _raw_direction(layer: Any) -> tuple[Tensor, Tensor | None]:
    bias = layer.bias_direction.detach().clone() if layer.fold_bias else None
    return layer.direction.detach().clone(), bias


@torch.no_grad()
def _set_raw_direction(layer: Any, raw: tuple[Tensor, Tensor | None]) -> None:
    layer.direction.copy_(raw[0])
    if raw[1] is not None:
        layer.bias_direction.copy_(raw[1])


# ----------------------------------------------------------------------------------------
# Magnitude pruning


@torch.no_grad()
def apply_masks_(model: MemberModel, masks: Sequence[Tensor]) -> None:
    """Zero the entries where `masks` (one per `model.weight_matrices()`) are False.

    Plain layers: `w <- w * mask`. Weight-normalized layers: the raw direction is masked,
    so each row is renormalized to its length **(choice)**: a layer whose rows must have
    norm `|g|` cannot hold `w * mask` itself, and the closed-form path norms stay exact.
    """
    masks = list(masks)
    for layer in model_layers(model):
        n = len(layer.matrices())
        layer.mask_(masks[:n])
        masks = masks[n:]
    assert not masks, "one mask per weight matrix"


class MagnitudePruning:
    """Magnitude pruning to an exact target sparsity after training, docs/methods.md (pruning) (baseline).

    After the last training step the `round(sparsity * n)` smallest `|w|` of each member
    (effective weights; `scope` global: all layers together, layer: each layer) are zeroed;
    then `finetune_steps` more optimizer steps run (`extra_steps`, at the schedule's final
    learning rate), the masks re-applied after each.
    """

    def __init__(self, model: MemberModel, scope: str, sparsity: float, finetune_steps: int):
        model_layers(model)  # fails early for a model without known layers
        self.scope, self.sparsity = scope, sparsity
        self.extra_steps = int(finetune_steps)
        self.masks: list[Tensor] | None = None

    @torch.no_grad()
    def prune_(self, model: MemberModel) -> None:
        self.masks = magnitude_mask(model.weight_matrices(), self.sparsity, self.scope)
        apply_masks_(model, self.masks)

    def on_step_end(self, model: MemberModel, step: int, plan: StepPlan) -> None:
        if step == plan.total_steps - 1 and self.extra_steps:  # fine-tuning follows
            self.prune_(model)
        elif step >= plan.total_steps:  # fine-tuning: hold the zeros
            apply_masks_(model, self.masks)

    def keep_from(self, plan: StepPlan) -> int:
        """With fine-tuning, checkpoints come from the fine-tuning steps (masks held); without,
        any step: the kept weights are pruned at the end (`on_train_end`)."""
        return plan.total_steps if self.extra_steps else 0

    def on_train_end(self, model: MemberModel, plan: StepPlan) -> None:
        if self.masks is None:
            self.prune_(model)
        else:
            apply_masks_(model, self.masks)


# ----------------------------------------------------------------------------------------
# Neuron-norm pruning


@torch.no_grad()
def neuron_norm_prune_(model: MemberModel, fraction: float, p: float = 2.0) -> list[Tensor]:
    """Remove the fraction q of each hidden layer's units by incoming norm, docs/methods.md (pruning) [EWN].

    Per member and per hidden layer, the `round(q * width)` units with the smallest
    `||w_j||_p` (effective incoming weights, bias excluded; for EWN `||w_j||_2 = exp(a_j)`)
    get a zero incoming vector and bias, so they output relu(0) = 0. MLP layouts only.

    Returns:
        the keep-masks, one `(E, width)` bool per hidden layer.
    """
    _check_mlp_layout(model)
    keeps = []
    for layer in model_layers(model)[:-1]:
        keep = neuron_norm_mask(layer.incoming(), fraction, p)
        layer.remove_units_(keep)
        keeps.append(keep)
    return keeps


class NeuronNormPruning:
    """Neuron-norm pruning at the end of training, no retraining, docs/methods.md (pruning) [EWN]."""

    extra_steps = 0

    def __init__(self, model: MemberModel, fraction: float):
        _check_mlp_layout(model)  # fails before training, not after
        model_layers(model)
        self.fraction = fraction

    def on_step_end(self, model: MemberModel, step: int, plan: StepPlan) -> None:
        return None

    def keep_from(self, plan: StepPlan) -> int:
        """Any step: the kept weights are pruned at the end."""
        return 0

    def on_train_end(self, model: MemberModel, plan: StepPlan) -> None:
        neuron_norm_prune_(model, self.fraction)
