"""Learning-rate schedules as pure functions of the optimizer step (no torch objects).

`lr_at(step, ...)` returns the learning rate for optimizer step `step` (0-based). With
`unit=epoch` the schedule advances once per epoch (docs/protocols.md P1), else every step.
"""

from __future__ import annotations

import math
from typing import Any

from psilon_bench.config import choice


def one_cycle(t: float, pct_peak: float, div_start: float, div_final: float) -> float:
    """One-cycle multiplier at progress t in [0, 1]: cosine from 1/div_start up to 1 at
    `pct_peak`, then cosine down to 1/(div_start*div_final) (Smith & Topin; PyTorch's OneCycleLR)."""
    start = 1.0 / div_start
    final = start / div_final
    if pct_peak > 0 and t < pct_peak:
        return _cos_interp(start, 1.0, t / pct_peak)
    rest = 1.0 - pct_peak
    return _cos_interp(1.0, final, 1.0 if rest <= 0 else (t - pct_peak) / rest)


def cosine(t: float, warmup: float, min_ratio: float) -> float:
    """Linear warm-up over the first `warmup` fraction, then cosine from 1 to `min_ratio`."""
    if warmup > 0 and t < warmup:
        return t / warmup
    rest = 1.0 - warmup
    return _cos_interp(1.0, min_ratio, 1.0 if rest <= 0 else (t - warmup) / rest)


def _cos_interp(a: float, b: float, frac: float) -> float:
    frac = min(max(frac, 0.0), 1.0)
    return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * frac))


def progress(step: int, total_steps: int, steps_per_epoch: int, unit: str) -> float:
    """Fraction of training done at `step`, in [0, 1], counted in steps or whole epochs."""
    if unit == "epoch":
        epochs = max(math.ceil(total_steps / steps_per_epoch), 1)
        return min((step // steps_per_epoch) / max(epochs - 1, 1), 1.0)
    return min(step / max(total_steps - 1, 1), 1.0)


def lr_at(step: int, base_lr: float, cfg: Any, total_steps: int, steps_per_epoch: int) -> float:
    """The scheduled learning rate for optimizer step `step` under schedule config `cfg`."""
    name = choice(cfg.name)
    if name == "constant":
        return base_lr
    t = progress(step, total_steps, steps_per_epoch, choice(cfg.unit))
    if name == "one_cycle":
        return base_lr * one_cycle(t, cfg.pct_peak, cfg.div_start, cfg.div_final)
    if name == "cosine":
        return base_lr * cosine(t, cfg.warmup, cfg.min_ratio)
    raise ValueError(f"unknown schedule {name!r}")
