"""Evaluating the SaS table in torch (docs/methods.md (soft diamond) [SD]): `StableTable`, psi by linear and
-log p by cubic Hermite interpolation in v = asinh(u/u0), the large-u series past U."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from psilon_bench.errors import ConfigError
from psilon_bench.regularizers.stable.build import (
    GRID_N,
    GRID_U0,
    GRID_U_MAX,
    TableArrays,
    build_table_arrays,
    grid_nodes,
    tail_coefficients,
)
from psilon_bench.regularizers.stable.cache import cache_file_name, default_cache_dir, load, save

log = logging.getLogger(__name__)

# Elements per chunk of `neg_log_pdf_ratio_and_score` on CPU: a chunk's float32 temporaries
# (512 KiB each) stay in L2. A multiple of every SIMD width, so each element takes the same
# vectorized or scalar code path as unchunked. Measured on the 2-core dev VM: 2M weights
# 37.6 -> 12.0 ms, 196k weights 1.26 -> 1.10 ms.
CHUNK = 1 << 17


@dataclass(frozen=True)
class _Buffers:
    """The table on one device in one dtype, as per-cell polynomial coefficients, (N-1,) each:
    -log(p/p(0)) = ((r3 t + r2) t + r1) t + r0 (the cubic Hermite of docs/methods.md (soft diamond) with psi as
    slope) and psi = q1 t + q0 (linear), t in [0, 1] the position inside the cell."""

    r0: Tensor
    r1: Tensor
    r2: Tensor
    r3: Tensor
    q0: Tensor
    q1: Tensor

    def __post_init__(self) -> None:  # stacked rows, gathered with one index_select
        both = torch.stack([self.r0, self.r1, self.r2, self.r3, self.q0, self.q1])
        object.__setattr__(self, "ratio_score", both)
        object.__setattr__(self, "ratio", both[:4].contiguous())
        object.__setattr__(self, "score", both[4:].contiguous())


class StableTable:
    """Standardized SaS (scale c = 1) score and negative log density, docs/methods.md (soft diamond) [SD].

    `StableTable(alpha)` loads the table for `alpha` from the disk cache or builds it (seconds)
    and caches it. Methods take a float tensor `u` of any shape, dtype and device and return a
    tensor of the same shape, dtype and device; `scale` (a float or a tensor broadcastable to
    `u`) evaluates the scale-c density `p_c(w) = p(w/c)/c` instead:

    - `score(u, scale)`: psi_c(u) = -p_c'(u)/p_c(u) = psi(u/c)/c, odd in u;
    - `neg_log_pdf(u, scale)`: -log p_c(u) = -log p(u/c) + log c, even in u;
    - `neg_log_pdf_ratio(u, scale)`: -log(p_c(u)/p_c(0)) = -log p(u/c) + log p(0), >= 0 and
      0 at u = 0: the soft-diamond penalty R(u) (scale-free apart from u/c);
    - `pdf(u, scale)`: p_c(u).

    The table tensors are copied to a device and dtype once, on first use there, so calls in
    a training loop do no host-to-device copies and no numpy work. Half-precision inputs are
    evaluated in float32 and returned in their own dtype.

    Attributes: `alpha`; `neg_log_pdf0` = -log p(0); `arrays`, the float64 `TableArrays`;
    `cache_path`; `loaded_from_cache` (False when this call built the table); `seconds`
    taken to load or build it.

    Example::

        >>> table = StableTable(1.5)
        >>> table.score(torch.tensor([1.0, -1.0]))
        tensor([ 0.6712, -0.6712])
    """

    u0 = GRID_U0
    u_max = GRID_U_MAX
    n_nodes = GRID_N

    def __init__(self, alpha: float, *, cache_dir: Path | str | None = None) -> None:
        if not _is_valid_alpha(alpha):
            raise ConfigError(f"regularizer.alpha must be in (0, 2]; got {alpha!r}")
        self.alpha = float(alpha)
        self.cache_dir = (
            Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        )
        self.cache_path = self.cache_dir / cache_file_name(
            self.alpha, self.u0, self.u_max, self.n_nodes
        )
        self.loaded_from_cache, self.seconds, arrays = self._load_or_build()
        self.arrays = arrays
        self.neg_log_pdf0 = arrays.neg_log_pdf0  # -log p(0)
        self._dv = math.asinh(self.u_max / self.u0) / (self.n_nodes - 1)
        self._tail = tail_coefficients(self.alpha, self.u_max)
        u = grid_nodes(self.u0, self.u_max, self.n_nodes)
        slope = arrays.psi * np.sqrt(self.u0**2 + u * u) * self._dv  # du/dv = sqrt(u0^2 + u^2)
        self._host = (arrays.psi, arrays.neg_log_pdf_ratio, slope)
        self._buffers: dict[tuple[torch.device, torch.dtype], _Buffers] = {}

    def __repr__(self) -> str:
        return f"StableTable(alpha={self.alpha}, cache_path={str(self.cache_path)!r})"

    def _load_or_build(self) -> tuple[bool, float, TableArrays]:
        start = time.perf_counter()
        arrays = load(self.cache_path, self.alpha, self.u0, self.u_max, self.n_nodes)
        if arrays is not None:
            return True, time.perf_counter() - start, arrays
        arrays = build_table_arrays(self.alpha, u0=self.u0, u_max=self.u_max, n=self.n_nodes)
        seconds = time.perf_counter() - start
        log.info("built SaS table alpha=%s in %.2fs", self.alpha, seconds)
        try:
            save(self.cache_path, arrays, self.u0, self.u_max, self.n_nodes)
        except OSError as error:  # a read-only cache folder costs a rebuild next time, no more
            log.warning("could not cache SaS table in %s (%s)", self.cache_path, error)
        return False, seconds, arrays

    def _buffers_for(self, device: torch.device, dtype: torch.dtype) -> _Buffers:
        key = (device, dtype)
        buffers = self._buffers.get(key)
        if buffers is None:
            psi, ratio, slope = self._host  # values and Hermite slopes at the N nodes
            d = ratio[1:] - ratio[:-1]
            coefficients = (
                ratio[:-1],
                slope[:-1],
                3 * d - 2 * slope[:-1] - slope[1:],
                slope[:-1] + slope[1:] - 2 * d,
                psi[:-1],
                psi[1:] - psi[:-1],
            )
            buffers = self._buffers[key] = _Buffers(
                *(
                    torch.from_numpy(np.ascontiguousarray(c)).to(device=device, dtype=dtype)
                    for c in coefficients
                )
            )
        return buffers

    # -- standardized evaluation on |u| ------------------------------------------------------

    def _cell(self, magnitude: Tensor) -> tuple[Tensor, Tensor]:
        """Index i of the cell [v_i, v_(i+1)] holding min(|u|, U), and the position t in [0, 1].

        v = asinh(z) is computed as log1p(z + z^2/(1 + sqrt(1 + z^2))) (z >= 0): exact to
        rounding near 0 too, and on CPU several times faster than torch.asinh."""
        z = magnitude.clamp(max=self.u_max).mul_(1.0 / self.u0)
        zz = z * z
        v = torch.addcdiv(z, zz, zz.add(1.0).sqrt_().add_(1.0)).log1p_()  # in place: fewer buffers
        position = v.mul_(1.0 / self._dv).nan_to_num_(nan=0.0)  # NaN comes back via the tail
        # position >= 0, so truncation is the floor (one conversion instead of floor + cast);
        # int32 (< 4096 cells): a cheaper conversion and float32 - int32 than int64
        cell = position.int().clamp_(max=self.n_nodes - 2)
        return cell.reshape(-1), position.sub_(cell)

    def _tail_sums(self, magnitude: Tensor) -> tuple[Tensor, Tensor]:
        """S0 = sum c_k x^(k-1) and S1 = sum c_k (alpha k + 1) x^(k-1), x = u^-alpha, u >= U."""
        x = magnitude.clamp(min=self.u_max).pow(-self.alpha)
        s0 = torch.zeros_like(x)
        s1 = torch.zeros_like(x)
        for k in range(len(self._tail), 0, -1):  # Horner, highest power first
            c = self._tail[k - 1]
            s0 = s0 * x + c
            s1 = s1 * x + c * (self.alpha * k + 1)
        return s0, s1

    def _tail_score(self, magnitude: Tensor) -> Tensor:
        """psi(|u|) from the large-u series (meaningful for |u| >= U)."""
        tail_u = magnitude.clamp(min=self.u_max)
        if not self._tail:  # alpha = 2
            return tail_u / 2
        s0, s1 = self._tail_sums(magnitude)
        return s1 / (s0 * tail_u)  # psi = -p'/p = S1 / (u S0)

    def _tail_ratio(self, magnitude: Tensor) -> Tensor:
        """-log(p(|u|)/p(0)) from the large-u series (meaningful for |u| >= U)."""
        tail_u = magnitude.clamp(min=self.u_max)
        if not self._tail:  # alpha = 2
            return tail_u * tail_u / 4
        s0, _ = self._tail_sums(magnitude)
        # p = (1/pi) u^-(1+alpha) S0
        return (
            math.log(math.pi)
            + (1 + self.alpha) * torch.log(tail_u)
            - torch.log(s0)
            - self.neg_log_pdf0
        )

    def _may_reach_tail(self, magnitude: Tensor) -> bool:
        """False only when no |u| exceeds U (checked on CPU outside torch.func transforms,
        where the check is cheap and allowed); the tail series is then skipped entirely."""
        wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
        if magnitude.device.type != "cpu" or wrapped is None or wrapped(magnitude):
            return True
        return not bool(magnitude.max() <= self.u_max)  # NaN counts as reaching it

    def _lookup(
        self, magnitude: Tensor, ratio: bool, score: bool
    ) -> tuple[Tensor | None, Tensor | None]:
        """-log(p/p(0)) (cubic Hermite in v, slopes from psi) and psi (linear in v) at |u|,
        from ONE cell look-up; the large-u series past U."""
        b = self._buffers_for(magnitude.device, magnitude.dtype)
        cell, t = self._cell(magnitude)

        # one gather of the coefficient rows this call needs: (k, N-1) -> (k, n)
        rows = (b.ratio_score if score else b.ratio) if ratio else b.score
        got = rows.index_select(1, cell).view(rows.shape[0], *t.shape)
        out_ratio = out_score = None
        if ratio:  # Horner: ((r3 t + r2) t + r1) t + r0
            out_ratio = torch.addcmul(got[2], got[3], t)
            out_ratio = torch.addcmul(got[1], out_ratio, t)
            out_ratio = torch.addcmul(got[0], out_ratio, t)
        if score:
            out_score = torch.addcmul(got[-2], got[-1], t)
        if self._may_reach_tail(magnitude):
            inside = magnitude <= self.u_max
            if ratio:
                out_ratio = torch.where(inside, out_ratio, self._tail_ratio(magnitude))
            if score:
                out_score = torch.where(inside, out_score, self._tail_score(magnitude))
        return out_ratio, out_score

    def _abs_score(self, magnitude: Tensor) -> Tensor:
        """psi(|u|) for standardized |u|, in magnitude's dtype."""
        return self._lookup(magnitude, ratio=False, score=True)[1]

    def _abs_ratio(self, magnitude: Tensor) -> Tensor:
        """-log(p(|u|)/p(0)) for standardized |u|."""
        return self._lookup(magnitude, ratio=True, score=False)[0]

    # -- public API ---------------------------------------------------------------------------

    def score(self, u: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """psi_{alpha,c}(u) = psi(u/c)/c, the score -p_c'/p_c (docs/methods.md (soft diamond)); odd in u."""
        u, original = _as_compute(u)
        z = u / scale
        return (torch.copysign(self._abs_score(z.abs()), z) / scale).to(original)

    def neg_log_pdf_ratio(self, u: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """-log(p_c(u)/p_c(0)) = -log p(u/c) + log p(0): the penalty R(u) with R(0) = 0; even."""
        u, original = _as_compute(u)
        return self._abs_ratio((u / scale).abs()).to(original)

    def neg_log_pdf_ratio_and_score(
        self, u: Tensor, scale: Tensor | float = 1.0
    ) -> tuple[Tensor, Tensor]:
        """(R(u), psi_c(u)) from one table look-up: the soft-diamond penalty's forward and
        its gradient in a single pass (what `SoftDiamondPenalty` uses).

        A contiguous float32 CPU `u` with a float `scale` (outside autograd and torch.func)
        goes through the compiled look-up (`stable.fused`, the same bits, ~2.7x faster)
        where it is available; otherwise, see `_eager_ratio_and_score`."""
        if self._plain_cpu(u, scale) and u.dtype == torch.float32:
            from psilon_bench.regularizers.stable import fused

            out = fused.ratio_and_score(self, u, scale)
            if out is not None:
                return out
        return self._eager_ratio_and_score(u, scale)

    def _eager_ratio_and_score(
        self, u: Tensor, scale: Tensor | float = 1.0
    ) -> tuple[Tensor, Tensor]:
        """`neg_log_pdf_ratio_and_score` in torch ops. A large contiguous CPU `u` with a float
        `scale` (outside autograd and torch.func) is read in chunks of `CHUNK` elements
        written into the outputs, so the ~25 temporaries of each chunk stay in the cache: the
        same values bit for bit (elementwise; chunk starts are multiples of the vector
        width), ~3x faster at 2M weights."""
        u, original = _as_compute(u)
        if u.numel() > CHUNK and self._plain_cpu(u, scale):
            ratio, score = torch.empty_like(u), torch.empty_like(u)
            flat_u, flat_ratio, flat_score = u.view(-1), ratio.view(-1), score.view(-1)
            for lo in range(0, flat_u.numel(), CHUNK):
                part = self._ratio_and_score(flat_u[lo : lo + CHUNK], scale)
                flat_ratio[lo : lo + CHUNK].copy_(part[0])
                flat_score[lo : lo + CHUNK].copy_(part[1])
        else:
            ratio, score = self._ratio_and_score(u, scale)
        return ratio.to(original), score.to(original)

    def _ratio_and_score(self, u: Tensor, scale: Tensor | float) -> tuple[Tensor, Tensor]:
        z = u / scale
        ratio, score = self._lookup(z.abs(), ratio=True, score=True)
        return ratio, torch.copysign(score, z) / scale

    def _plain_cpu(self, u: Tensor, scale: Tensor | float) -> bool:
        """Whether `u` is a plain contiguous CPU tensor outside autograd and torch.func, with
        a float `scale`: what the compiled look-up and the chunked eager one need."""
        wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
        return (
            isinstance(u, Tensor)
            and u.device.type == "cpu"
            and u.is_contiguous()
            and not isinstance(scale, Tensor)
            and not (u.requires_grad and torch.is_grad_enabled())
            and wrapped is not None
            and not wrapped(u)
        )

    def neg_log_pdf(self, u: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """-log p_{alpha,c}(u) = -log p(u/c) + log c (docs/methods.md (soft diamond)); even in u."""
        u, original = _as_compute(u)
        log_scale = torch.log(scale) if isinstance(scale, Tensor) else math.log(scale)
        return (self._abs_ratio((u / scale).abs()) + self.neg_log_pdf0 + log_scale).to(original)

    def pdf(self, u: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """p_{alpha,c}(u) = p(u/c)/c."""
        return torch.exp(-self.neg_log_pdf(u, scale))


def _as_compute(u: Tensor) -> tuple[Tensor, torch.dtype]:
    """u in its compute dtype (float32 for half types, else its own), and its original dtype."""
    if not isinstance(u, Tensor):
        u = torch.as_tensor(u, dtype=torch.get_default_dtype())
    if not u.is_floating_point():
        raise TypeError(f"StableTable expects a floating-point tensor; got dtype {u.dtype}")
    if u.dtype in (torch.float16, torch.bfloat16):
        return u.float(), u.dtype
    return u, u.dtype


def _is_valid_alpha(alpha: object) -> bool:
    return not isinstance(alpha, bool) and isinstance(alpha, (int, float)) and 0 < alpha <= 2
