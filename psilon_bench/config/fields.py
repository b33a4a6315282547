"""What a schema field may hold: declared numeric ranges (`ranged`, checked by
`psilon_bench.config.validation`), the string of an Enum choice (`choice`) and member-axis
values that may be a scalar or a list (`values`). Imports nothing of psilon_bench (omegaconf only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from omegaconf import ListConfig


@dataclass(frozen=True)
class Interval:
    """A numeric range; `closed` in {"both", "left", "right", "neither"}; None = unbounded."""

    lo: float | None = None
    hi: float | None = None
    closed: str = "both"

    def contains(self, x: float) -> bool:
        """`x` lies in the range (never true for NaN or an infinity)."""
        if not math.isfinite(x):
            return False
        lo_ok = self.lo is None or (
            x >= self.lo if self.closed in ("both", "left") else x > self.lo
        )
        hi_ok = self.hi is None or (
            x <= self.hi if self.closed in ("both", "right") else x < self.hi
        )
        return lo_ok and hi_ok

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.lo is not None else "("
        right = "]" if self.closed in ("both", "right") and self.hi is not None else ")"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{left}{lo}, {hi}{right}"


def ranged(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    closed: str = "both",
    *,
    many: bool = False,
    optional: bool = False,
) -> Any:
    """A dataclass field whose value must lie in `Interval(lo, hi, closed)`.

    `many=True`: a scalar or a list of scalars (a member sweep, e.g. `strength: [1e-4, 1e-3]`).
    `optional=True`: None is allowed too.
    """
    meta = {"range": Interval(lo, hi, closed), "many": many, "optional": optional}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def choice(value: Any) -> str:
    """The string of a config choice, whether OmegaConf hands back an Enum member or a str."""
    return str(value.value) if isinstance(value, Enum) else str(value)


def values(value: Any) -> list[float]:
    """A config value that may be a scalar or a list, as a list of floats."""
    if isinstance(value, (list, tuple, ListConfig)):
        return [float(v) for v in value]
    return [float(value)]
