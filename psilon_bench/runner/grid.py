"""The member grid: which models one run trains, in one place.

A run's members are the cross product of its member axes, in the order of `AXES` (the
first axis varies slowest): `fold` (None for `split.kind=holdout`, else the folds of
kfold/predefined, `data.folds.fold_values`; slowest, so one fold's members are one block
of equal-sized splits), `seed` (`seeds`), `strength` (`regularizer.strength`) and `lr`
(`optimizer.lr`, the member's peak learning rate; a single null for the scikit-learn
baselines that have none, `baselines.uses_lr`). Each axis is a scalar or a list in the
config; a new axis is one more entry of `AXES`. With one value on every axis
but `seed`, member e is seed e, as before the grid had more axes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from psilon_bench.baselines import is_baseline, uses_lr
from psilon_bench.config.fields import values
from psilon_bench.config.validation import member_seeds
from psilon_bench.data.folds import fold_values

#: (axis name, the values of that axis in a composed config), slowest-varying first.
AXES: list[tuple[str, Callable[[DictConfig], list[Any]]]] = [
    ("fold", lambda cfg: fold_values(cfg)),
    ("seed", lambda cfg: member_seeds(cfg.seeds)),
    ("strength", lambda cfg: values(cfg.regularizer.strength)),
    ("lr", lambda cfg: values(cfg.optimizer.lr) if uses_lr(cfg.model) else [None]),
]


@dataclass
class Members:
    """One row per member: its value on every axis (`rows[e]["seed"]`, ...) and its split seed."""

    rows: list[dict[str, Any]]
    split_seeds: list[int]

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Members:
        axes = {name: get(cfg) for name, get in AXES}
        rows = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
        split = [cfg.split.seed if cfg.split.seed is not None else r["seed"] for r in rows]
        return cls(rows=rows, split_seeds=split)

    def column(self, axis: str) -> list[Any]:
        """Every member's value on `axis`."""
        return [r[axis] for r in self.rows]

    @property
    def seeds(self) -> list[int]:
        return self.column("seed")

    @property
    def strengths(self) -> list[float]:
        return self.column("strength")

    @property
    def lrs(self) -> list[float]:
        return self.column("lr")

    @property
    def folds(self) -> list[int | None]:
        return self.column("fold")

    def blocks(self) -> list[slice]:
        """Consecutive members sharing one fold (their splits have equal sizes)."""
        starts = [e for e in range(len(self)) if e == 0 or self.folds[e] != self.folds[e - 1]]
        return [slice(a, b) for a, b in zip(starts, [*starts[1:], len(self)])]

    def subset(self, block: slice) -> Members:
        return Members(rows=self.rows[block], split_seeds=self.split_seeds[block])

    def __len__(self) -> int:
        return len(self.rows)


def idle_axes(cfg: DictConfig) -> list[str]:
    """One warning line per member axis given several values that change nothing: strengths
    under `regularizer=none` (a network's members are then identical; a baseline's strength
    is its own penalty, so it counts there) and learning rates of an estimator without one
    (the grid leaves them out)."""
    lines = []
    strengths = sorted(set(values(cfg.regularizer.strength)))
    if len(strengths) > 1 and cfg.regularizer.name == "none" and not is_baseline(cfg.model):
        lines.append(
            f"regularizer.strength has {len(strengths)} values but regularizer=none uses none: "
            f"the members of each seed are identical (pick a regularizer, e.g. regularizer=l2)"
        )
    lrs = sorted(set(values(cfg.optimizer.lr)))
    if len(lrs) > 1 and not uses_lr(cfg.model):
        lines.append(
            f"optimizer.lr has {len(lrs)} values but model={cfg.model.name} has no learning "
            "rate: they are left out (one member per seed and strength)"
        )
    return lines
