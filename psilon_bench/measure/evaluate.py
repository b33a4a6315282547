"""Everything a record reports about a trained member, docs/methods.md (metrics): task metrics on each
split, parameter counts, and the structure metrics (sparsity, path norms, Lipschitz bounds;
`structure_metrics`), computed for every member in float64."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from psilon_bench.config import MetricsConfig
from psilon_bench.engine.plan import MemberData
from psilon_bench.measure.lipschitz import (
    empirical_lipschitz_lower_bound,
    residual_spectral_product,
    spectral_product,
    spectral_to_linf_l1_factor,
    tightness,
)
from psilon_bench.measure.metrics import METRIC_NAMES, predict, task_metrics
from psilon_bench.measure.sparsity import (
    exact_sparsity,
    near_sparsity,
    neuron_sparsity,
    nonzero_count,
    parameter_count,
    threshold_sparsity,
)
from psilon_bench.models.members import MemberModel
from psilon_bench.models.norms import path_norm_chain, residual_path_norm


@torch.no_grad()
def parameter_counts(model: MemberModel) -> dict[str, torch.Tensor]:
    """Per member: trainable scalars, weight-matrix entries, and the non-zero ones of those."""
    E = model.n_members
    weights = model.weight_matrices()
    return {
        "params.total": torch.full((E,), parameter_count(list(model.parameters()))),
        "params.weights": torch.full((E,), parameter_count(weights)),
        "params.nonzero_weights": nonzero_count(weights),
    }


@torch.no_grad()
def evaluate_members(
    model: MemberModel, parts: dict[str, MemberData], cfg: Any
) -> list[dict[str, Any]]:
    """One flat dict per member: `<split>.<metric>` for every split (NaN, null in the
    records, for the training split with `metrics.train_split=false`), plus `params.*`."""
    model.eval()
    metrics_cfg = getattr(cfg, "metrics", None) or MetricsConfig()
    columns = task_columns(model, parts, metrics_cfg)
    columns.update(parameter_counts(model))
    probe = next(parts[p] for p in ("test", "val", "train") if p in parts)
    columns.update(structure_metrics(model, probe.x, metrics_cfg))
    model.train()
    bound = regularized_bound(model)
    return [row | {"path_norm.bound": bound} for row in member_rows(columns, model.n_members)]


@torch.no_grad()
def task_columns(
    model: MemberModel, parts: dict[str, MemberData], metrics_cfg: Any, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """`<prefix><split>.<metric>` -> (E,) for every split (NaN for the training split with
    `metrics.train_split=false`); the model as it is (the caller sets eval mode)."""
    columns: dict[str, torch.Tensor] = {}
    for split, data in parts.items():
        if split == "train" and not getattr(metrics_cfg, "train_split", True):
            nan = torch.full((model.n_members,), math.nan, dtype=torch.float64)
            values = dict.fromkeys(METRIC_NAMES[data.task], nan)
        else:
            values = task_metrics(predict(model, data.x), data.y, data.task)
        for name, value in values.items():
            columns[f"{prefix}{split}.{name}"] = value
    return columns


def member_rows(columns: dict[str, torch.Tensor], n_members: int) -> list[dict[str, Any]]:
    """(E,) columns -> one dict of Python scalars per member."""
    return [{k: _scalar(v[e]) for k, v in columns.items()} for e in range(n_members)]


def threshold_name(tau: float) -> str:
    """`1e-3` for 0.001: the suffix of the `sparsity.threshold_*` columns."""
    return np.format_float_scientific(tau, trim="-", exp_digits=1)


def _float64_copy(model: MemberModel) -> tuple[MemberModel, Tensor]:
    """A float64 copy of `model` without gradients, and `finite` (E,): members whose
    parameters are all finite. Non-finite members (diverged) are zeroed in the copy so every
    metric computes; the caller reports NaN for them."""
    copy64 = copy.deepcopy(model).to(torch.float64).requires_grad_(False)
    E = model.n_members
    finite = torch.ones(E, dtype=torch.bool)
    for p in copy64.parameters():
        finite &= torch.isfinite(p).flatten(1).all(dim=1).cpu()
    if not bool(finite.all()):
        for p in copy64.parameters():
            p[~finite.to(p.device)] = 0.0
    return copy64, finite


@torch.no_grad()
def structure_metrics(model: MemberModel, x: Tensor, cfg: Any) -> dict[str, Tensor]:
    """Per-member structure metrics of docs/methods.md (metrics) and §2, (E,) each, float64.

    Sparsity of the effective weight matrices (exact; threshold at each `cfg.thresholds`
    tau, relative to the unit's mean magnitude, and at `cfg.absolute_threshold`; near;
    neuron), non-zero parameters; the 1-path-norm bounds of `path_norm_bounds` (§2.1,
    §2.3); the spectral product (§2.4) and its l_inf -> l_1 conversion; the empirical
    l_inf -> l_1 lower bound on the first `cfg.lipschitz_points` rows of `x` `(E, N, d_in)`;
    tightness ratios to it: `lipschitz.tightness` for the tightest path-norm bound (phi, or
    phi_IB), `lipschitz.tightness.<bound>` for every path-norm bound and for `spectral`
    (its l_inf -> l_1 form; the spectral columns are NaN, null in the records, with
    `cfg.spectral` false: the same keys either way).
    Computed on a float64 copy of the model; members with
    non-finite parameters get NaN.
    """
    columns: dict[str, Tensor] = {
        "params.nonzero": nonzero_count([p.detach() for p in model.parameters()])
    }
    m64, finite = _float64_copy(model)
    weights = m64.weight_matrices()
    E = model.n_members
    floats: dict[str, Tensor] = {"sparsity.exact": exact_sparsity(weights)}
    for tau in cfg.thresholds:
        floats[f"sparsity.threshold_{threshold_name(tau)}"] = threshold_sparsity(weights, tau)
    if cfg.absolute_threshold is not None:
        tau = cfg.absolute_threshold
        floats[f"sparsity.threshold_abs_{threshold_name(tau)}"] = threshold_sparsity(
            weights, tau, absolute=True
        )
    floats["sparsity.near"] = near_sparsity(weights)
    hidden = m64.hidden_weight_matrices()
    nan = torch.full((E,), math.nan, dtype=torch.float64)
    floats["sparsity.neuron"] = neuron_sparsity(hidden) if hidden else nan

    bounds = path_norm_bounds(m64, weights)
    floats.update(bounds)
    if not getattr(cfg, "spectral", True):  # metrics.spectral=false: null spectral columns
        spectral = nan
    elif hasattr(m64, "residual_weights"):
        spectral = residual_spectral_product(*m64.residual_weights())
    else:
        spectral = spectral_product(weights)
    floats["lipschitz.spectral"] = spectral
    floats["lipschitz.spectral_linf_l1"] = spectral * spectral_to_linf_l1_factor(
        m64.d_in, m64.d_out
    )
    points = x[:, : cfg.lipschitz_points].to(torch.float64).contiguous()  # (E, B, d_in)
    lower = empirical_lipschitz_lower_bound(
        m64, points, starts=cfg.lipschitz_starts, generator=torch.Generator().manual_seed(0)
    )
    floats["lipschitz.lower"] = lower
    tightest = bounds.get("path_norm.improved", bounds["path_norm"])
    floats["lipschitz.tightness"] = tightness(tightest, lower)
    for name in ("path_norm", "path_norm.original", "path_norm.improved", "path_norm.regularized"):
        if name in bounds:
            floats[f"lipschitz.tightness.{name}"] = tightness(bounds[name], lower)
    floats["lipschitz.tightness.spectral"] = tightness(floats["lipschitz.spectral_linf_l1"], lower)
    for name, value in floats.items():
        value = value.detach().to(torch.float64).cpu()
        columns[name] = torch.where(finite, value, nan)
    return columns


def regularized_bound(model: MemberModel) -> str:
    """Which 1-path-norm `regularizer=path_norm` penalizes on `model` (docs/methods.md (path-norm regularizer)):
    `improved` (phi_IB) or `original` (phi_OB) for residual nets (`model.bound`), else
    `chain` (the §2.1 1-path-norm, of which the PSiLON Net closed form is an exact form)."""
    return getattr(model, "bound", "chain") if hasattr(model, "residual_weights") else "chain"


def path_norm_bounds(m64: MemberModel, weights: list[Tensor]) -> dict[str, Tensor]:
    """The 1-path-norm bounds of a float64 model copy, docs/methods.md (path norm), §2.3; (E,) each.

    `path_norm`: the 1-path-norm (phi_OB for residual nets: the 2m CReLU channels as
    neurons); residual nets add `path_norm.original` (phi_OB) and `path_norm.improved`
    (phi_IB); every model adds `path_norm.regularized`, the bound `regularizer=path_norm`
    penalizes on it (named by `regularized_bound`), computed by the float64 chain.
    """
    if hasattr(m64, "residual_weights"):
        embed, blocks, head = m64.residual_weights()
        original = residual_path_norm(embed, blocks, head, bound="original")
        improved = residual_path_norm(embed, blocks, head, bound="improved")
        out = {
            "path_norm": original,
            "path_norm.original": original,
            "path_norm.improved": improved,
        }
        out["path_norm.regularized"] = out[f"path_norm.{regularized_bound(m64)}"]
        return out
    phi = path_norm_chain(weights)
    return {"path_norm": phi, "path_norm.regularized": phi}


def _scalar(v: torch.Tensor) -> Any:
    return int(v.item()) if not v.is_floating_point() else float(v.item())
