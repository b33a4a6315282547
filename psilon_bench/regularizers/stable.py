"""The standardized symmetric alpha-stable (SaS) look-up table of METHODS.md §5 [SD].

[SD] O. Adigun, B. Kosko, "Soft Diamond Regularizers for Deep Learning", arXiv:2412.20724.

The standardized SaS density `p = p_alpha` has characteristic function `exp(-|t|^alpha)`,
0 < alpha <= 2, so that

    p(u) = (1/pi) int_0^inf cos(u t) exp(-t^alpha) dt,     psi(u) = -p'(u)/p(u).

alpha = 2 is the Gaussian with variance 2 (psi = u/2) and alpha = 1 the Cauchy density
(psi = 2u/(1+u^2)). At scale c, `p_c(w) = p(w/c)/c`, so `psi_c(w) = psi(w/c)/c` and
`-log p_c(w) = -log p(w/c) + log c`: one table per alpha serves every scale; pass `scale=`
to the methods of `StableTable`.

The table (METHODS.md §5): N = 4096 nodes uniform in `v = asinh(u/u0)`, u0 = 0.05, from
u = 0 to U = 1e3, holding psi and -log p in float64. Evaluation, in torch and in the input's
dtype (float32 for half types): psi by linear interpolation in v, -log p by cubic Hermite
interpolation in v with slope `d(-log p)/dv = psi(u) * sqrt(u0^2 + u^2)`, and for |u| > U the
large-u series

    p(u) = (1/pi) sum_{k>=1} (-1)^(k+1) Gamma(alpha k + 1)/k! sin(k pi alpha/2) u^-(alpha k + 1)

with its first 6 non-zero terms, and more while the next one still exceeds 1e-16 of the
first at u = U (alpha < 0.8; 7 terms at alpha = 0.5, 17 at 0.05). psi is odd and -log p
even in u.

How the table values are computed (METHODS.md §5, with the deviations marked):

- u <= 0.02 (alpha >= 1) or u <= 0.02 alpha^4 (alpha < 1): the small-u series
  `p(u) = (1/(pi alpha)) sum_k (-1)^k Gamma((2k+1)/alpha)/(2k)! u^(2k)` and its derivative.
- Elsewhere p and p' come from the Fourier integrals, p from the cosine transform above and
  p' from the sine transform `p'(u) = -(1/pi) int_0^inf t sin(u t) exp(-t^alpha) dt`, both with
  `scipy.integrate.quad(..., weight='cos'|'sin', wvar=u)` on a finite interval [0, T] whose
  cut-off tail is below 1e-20 (QUADPACK's QAWO).
  *Deviation 1*: METHODS.md asks for `scipy.stats.levy_stable.pdf` for the density here. It is
  off by up to 6e-5 near u = 1e-3 (alpha = 0.5), returns garbage (1e-20 instead of 0.28) at
  u = 1e-3 for alpha = 1.5 and 1.9, and loses 1e-5..1e-1 relative accuracy past u ~ 100 for
  alpha > 1 (scipy 1.17), so the cosine transform, accurate to ~1e-12, is used instead.
  The infinite-range Fourier routine (QAWF, `quad(..., 0, inf, weight=...)`) is not used
  either: it returned errors up to 1e-2 for alpha = 0.5, u in [0.1, 7] and failed past
  u ~ 15 for alpha = 1.5.
- *Deviation 2*: wherever the large-u series is accurate to better than 1e-13 (estimated
  from its smallest term and its cancellation), it gives the table value, also below U
  (from u ~ 0.1 at alpha = 0.5, ~ 7 at 1.5, ~ 13 at 1.9). Far out the Fourier integrals are
  sums of O(1) oscillations that cancel to a tiny p', so quadrature loses accuracy
  (alpha = 1.9, u = 1e3: 1e-5 relative, with QUADPACK estimating 5e-7), while the series is
  exact to rounding. For alpha < 1 the series converges for every u > 0; for alpha > 1 it is
  asymptotic and summed up to its smallest term. Each node takes the method whose error
  estimate is smallest, so for alpha < ~0.3, whose Fourier integrands decay too slowly to
  integrate, the convergent series covers nearly the whole grid.
- -log p is stored as -log(p/p(0)) (from the small-u series as -log1p(p/p(0) - 1)), so the
  penalty's small values near 0 keep their relative accuracy, in float32 too.
- alpha = 2 and alpha = 1 use their closed forms (the general path, `use_closed_form=False`,
  is tested against them).

Accuracy (tests/test_stable.py, against an independent oracle: Zolotarev's integral
representation, and plain adaptive quadrature of the Fourier integrals for alpha > 1 and
u < 0.05): the node values agree with it to 1e-9 or better (alpha from 0.1 to 1.97), and
table psi is within 1e-5 relative of exact for |u| in [1e-4, 1e7] for alpha in
{0.5, 1, 1.5, 1.9} (worst, at cell midpoints: 4.7e-6, 8.4e-7, 1.6e-6, 7.5e-6). The limit is
the linear interpolation of psi on this grid. Its first node past 0 is u = 1.3e-4, too coarse
where psi leaves its linear regime `psi ~ kappa u` early (small alpha: 1.4e-4 at alpha = 0.4,
2e-2 at 0.3); near alpha = 2 psi turns from u/2 to (1+alpha)/u within a few cells
(1.4e-5 at alpha = 1.95).

Tables are cached on disk (`.npz`, one per alpha and grid, written atomically) in
`cache_dir`, default `$PSILON_BENCH_CACHE/stable` if that variable is set, else
`~/.cache/psilon-bench/stable`.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import integrate, special
from torch import Tensor

from psilon_bench.errors import ConfigError
from psilon_bench.results import atomic_write

log = logging.getLogger(__name__)

GRID_U0 = 0.05  # v = asinh(u / u0)
GRID_U_MAX = 1e3  # U: the table covers 0 <= u <= U, the large-u series the rest
GRID_N = 4096  # nodes, uniform in v
FORMAT_VERSION = 1  # bump when the stored arrays or how they are computed change
TAIL_MIN_TERMS = 6  # non-zero terms of the large-u series used past U (METHODS.md §5)

_SERIES_TOL = 1e-13  # a series value is used where its estimated relative error is below this
_LARGE_SERIES_TERMS = 400  # terms computed when deciding where the large-u series is accurate
_SMALL_SERIES_TERMS = 40


# ---------------------------------------------------------------------------------------
# Exact values (numpy, float64): used to build the table.


def _truncated_sums(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of a series stopped before its smallest term, and their relative error.

    terms: (n, K), zero entries (vanishing coefficients) are skipped. For a convergent series
    the smallest term is the last one; for an asymptotic one, summing up to the smallest term
    is the optimal truncation. The error estimate is the smallest term plus the rounding of
    the cancellation, `4 eps sum |t_k|`, relative to the sum.
    """
    magnitude = np.abs(terms)
    ranked = np.where(magnitude > 0, magnitude, np.inf)
    stop = np.argmin(ranked, axis=1)  # (n,)
    keep = np.arange(terms.shape[1])[None, :] < stop[:, None]
    total = np.where(keep, terms, 0.0).sum(axis=1)
    smallest = np.take_along_axis(magnitude, stop[:, None], axis=1)[:, 0]
    absolute = np.where(keep, magnitude, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = (smallest + 4 * np.finfo(float).eps * absolute) / np.abs(total)
    return total, np.where(np.isfinite(error), error, np.inf)


def _small_u_series(
    alpha: float, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """p(u), p'(u) from the Taylor series at 0 (METHODS.md §5), their relative error, and
    p(u)/p(0) - 1 without cancellation; u > 0.

    p(u) = (1/(pi alpha)) sum_k (-1)^k Gamma((2k+1)/alpha)/(2k)! u^(2k); convergent for
    alpha >= 1, asymptotic for alpha < 1.
    """
    k = np.arange(_SMALL_SERIES_TERMS)
    log_coef = special.gammaln((2 * k + 1) / alpha) - special.gammaln(2 * k + 1)
    sign = np.where(k % 2 == 0, 1.0, -1.0)
    log_u = np.log(u)[:, None]
    p_terms = sign * np.exp(np.minimum(log_coef + 2 * k * log_u, 700.0))
    kd = k[1:]  # d/du u^(2k) = 2k u^(2k-1)
    dp_terms = sign[1:] * np.exp(
        np.minimum(log_coef[1:] + np.log(2 * kd) + (2 * kd - 1) * log_u, 700.0)
    )
    p, p_err = _truncated_sums(p_terms)
    dp, dp_err = _truncated_sums(dp_terms)
    # p/p(0) - 1: the k >= 1 terms summed apart, relative to the k = 0 term
    excess = _truncated_sums(p_terms[:, 1:])[0] / p_terms[:, 0]
    norm = 1.0 / (math.pi * alpha)
    return norm * p, norm * dp, np.maximum(p_err, dp_err), excess


def _large_u_log_coefficients(alpha: float, n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """c_k = sign_k exp(log_k), k = 1..n_terms, of the large-u series (METHODS.md §5):

    p(u) = (1/pi) sum_k c_k u^-(alpha k + 1),
    c_k = (-1)^(k+1) Gamma(alpha k + 1)/k! sin(k pi alpha/2).

    sign_k carries the sine and is exactly 0 where the sine vanishes (k alpha even); the
    magnitude stays in logs, so that large k does not overflow before it is discarded.
    """
    k = np.arange(1, n_terms + 1)
    sine = np.sin(k * math.pi * alpha / 2)
    sine[np.abs(sine) < 1e-12] = 0.0
    sign = np.where(k % 2 == 1, 1.0, -1.0) * sine
    return sign, special.gammaln(alpha * k + 1) - special.gammaln(k + 1)


def _large_u_series(alpha: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(u), p'(u) from the large-u series (METHODS.md §5), and the relative error; u > 0.

    Convergent for alpha < 1 (and for u > 1 at alpha = 1), asymptotic for alpha > 1.
    """
    sign, log_magnitude = _large_u_log_coefficients(alpha, _LARGE_SERIES_TERMS)
    alpha_k = alpha * np.arange(1, _LARGE_SERIES_TERMS + 1)
    log_terms = log_magnitude - alpha_k * np.log(u)[:, None]
    terms = sign * np.exp(np.minimum(log_terms, 700.0))  # (n, K): c_k u^-(alpha k)
    s0, s0_err = _truncated_sums(terms)
    s1, s1_err = _truncated_sums(terms * (alpha_k + 1))
    p = s0 / (math.pi * u)
    dp = -s1 / (math.pi * u * u)
    return p, dp, np.maximum(s0_err, s1_err)


def _fourier_cutoff(alpha: float) -> float:
    """T with int_T^inf t exp(-t^alpha) dt < 1e-20, so the Fourier integrals can stop at T."""
    a = 2.0 / alpha  # int_T^inf t exp(-t^alpha) dt = Gamma(a, T^alpha) / alpha
    return float(special.gammainccinv(a, 1e-20 * alpha / special.gamma(a))) ** (1.0 / alpha)


def _fourier(alpha: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(u), p'(u) from the cosine and sine transforms (QUADPACK QAWO on [0, T]), and the
    relative error QUADPACK estimates; u > 0."""
    cutoff = _fourier_cutoff(alpha)

    def density(t: float) -> float:
        return math.exp(-(t**alpha))

    def moment(t: float) -> float:
        return t * math.exp(-(t**alpha))

    p = np.empty_like(u)
    dp = np.empty_like(u)
    error = np.empty_like(u)
    options = dict(epsabs=1e-18, epsrel=1e-13, limit=2000)
    with warnings.catch_warnings():
        # QUADPACK warns when it stops short of epsrel; its error estimate says by how much.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for i, x in enumerate(u):
            value, p_error = integrate.quad(density, 0, cutoff, weight="cos", wvar=x, **options)
            slope, dp_error = integrate.quad(moment, 0, cutoff, weight="sin", wvar=x, **options)
            p[i], dp[i] = value / math.pi, -slope / math.pi
            with np.errstate(divide="ignore", invalid="ignore"):
                error[i] = max(p_error / abs(value), dp_error / abs(slope))
    return p, dp, np.where(np.isfinite(error), error, np.inf)


@dataclass(frozen=True)
class TableArrays:
    """The stored table: psi and -log(p/p(0)) at the nodes u_i = u0 sinh(i dv), float64.

    `neg_log_pdf_ratio[i] = -log(p(u_i)/p(0))`, so -log p = neg_log_pdf_ratio + neg_log_pdf0;
    storing the ratio keeps the small penalty values near 0 exact in float32.
    `methods[i]` says how node i was computed: 0 closed form, 1 small-u series, 2 Fourier
    integrals, 3 large-u series; `errors[i]` is that method's estimate of the relative error
    of p and p' there.
    """

    alpha: float
    psi: np.ndarray  # (N,)
    neg_log_pdf_ratio: np.ndarray  # (N,)
    neg_log_pdf0: float
    methods: np.ndarray  # (N,) int8
    errors: np.ndarray  # (N,)


def grid_nodes(u0: float = GRID_U0, u_max: float = GRID_U_MAX, n: int = GRID_N) -> np.ndarray:
    """The table nodes u_i = u0 sinh(i dv), i = 0..n-1, dv = asinh(u_max/u0)/(n-1); (n,)."""
    v = np.arange(n) * (math.asinh(u_max / u0) / (n - 1))
    return u0 * np.sinh(v)


def neg_log_pdf_at_zero(alpha: float) -> float:
    """-log p_alpha(0), with p_alpha(0) = Gamma(1/alpha)/(pi alpha) (METHODS.md §5)."""
    return -(special.gammaln(1.0 / alpha) - math.log(math.pi * alpha))


def build_table_arrays(
    alpha: float,
    *,
    u0: float = GRID_U0,
    u_max: float = GRID_U_MAX,
    n: int = GRID_N,
    use_closed_form: bool = True,
) -> TableArrays:
    """Compute psi and -log p at the table nodes (METHODS.md §5; module docstring).

    With `use_closed_form=False`, alpha = 1 also goes through the series and quadrature.
    """
    u = grid_nodes(u0, u_max, n)
    nlp0 = neg_log_pdf_at_zero(alpha)
    methods = np.zeros(n, dtype=np.int8)
    exact = np.zeros(n)
    if use_closed_form and alpha == 2.0:  # Gaussian, variance 2
        return TableArrays(alpha, u / 2, u * u / 4, nlp0, methods, exact)
    if use_closed_form and alpha == 1.0:  # Cauchy
        return TableArrays(alpha, 2 * u / (1 + u * u), np.log1p(u * u), nlp0, methods, exact)

    positive = u[1:]
    small_limit = 0.02 if alpha >= 1 else 0.02 * alpha**4
    ps, dps, small_err, small_excess = _small_u_series(alpha, positive)
    small_err = np.where(positive <= small_limit, small_err, np.inf)
    pl, dpl, large_err = _large_u_series(alpha, positive)
    # Each node from the series with the smaller error, by quadrature where neither series
    # is within _SERIES_TOL, and back to a series where quadrature estimates a larger error
    # (only for alpha < ~0.3, whose Fourier integrands decay too slowly to integrate).
    use_small = small_err <= large_err
    p = np.where(use_small, ps, pl)
    dp = np.where(use_small, dps, dpl)
    error = np.minimum(small_err, large_err)
    method = np.where(use_small, 1, 3).astype(np.int8)
    quadrature = np.flatnonzero(error >= _SERIES_TOL)
    pq, dpq, quad_err = _fourier(alpha, positive[quadrature])
    better = quad_err < error[quadrature]
    chosen = quadrature[better]
    p[chosen], dp[chosen] = pq[better], dpq[better]
    error[chosen], method[chosen] = quad_err[better], 2

    psi = np.concatenate([[0.0], -dp / p])
    # -log(p/p(0)); from the series as -log1p(p/p(0) - 1), exact for the tiny values near 0
    with np.errstate(invalid="ignore"):
        ratio = np.where(method == 1, -np.log1p(small_excess), -np.log(p) - nlp0)
    ratio = np.concatenate([[0.0], ratio])
    methods[1:] = method
    errors = np.concatenate([[0.0], error])
    if not (np.all(np.isfinite(psi)) and np.all(np.isfinite(ratio)) and np.all(p > 0)):
        raise RuntimeError(f"SaS table for alpha={alpha} has non-finite values")
    if errors.max() > 1e-7:
        log.warning(
            "SaS table alpha=%s: node values have estimated relative errors up to %.1e",
            alpha,
            errors.max(),
        )
    return TableArrays(alpha, psi, ratio, nlp0, methods, errors)


def _tail_coefficients(alpha: float, u_max: float) -> list[float]:
    """c_1..c_K of the large-u series used past U: at least TAIL_MIN_TERMS non-zero terms,
    more while the next non-zero term at u = U is above 1e-16 of the first (METHODS.md §5)."""
    sign, log_magnitude = _large_u_log_coefficients(alpha, 64)
    coef = sign * np.exp(log_magnitude)  # Gamma(64 alpha + 1)/64! stays finite for alpha <= 2
    x = u_max ** (-alpha)
    k = np.arange(1, coef.size + 1)
    size = np.abs(coef) * x ** (k - 1) * (alpha * k + 1)  # terms of S1, the larger of S0, S1
    nonzero = np.flatnonzero(coef)
    if nonzero.size == 0:  # alpha = 2: no power tail
        return []
    count = min(TAIL_MIN_TERMS, nonzero.size)
    while count < nonzero.size and size[nonzero[count]] > 1e-16 * size[nonzero[0]]:
        count += 1
    return [float(c) for c in coef[: nonzero[count - 1] + 1]]


# ---------------------------------------------------------------------------------------
# The disk cache.


def default_cache_dir() -> Path:
    """`$PSILON_BENCH_CACHE/stable` if that variable is set, else `~/.cache/psilon-bench/stable`."""
    root = os.environ.get("PSILON_BENCH_CACHE")
    if root:
        return Path(root).expanduser() / "stable"
    return Path.home() / ".cache" / "psilon-bench" / "stable"


def cache_file_name(
    alpha: float, u0: float = GRID_U0, u_max: float = GRID_U_MAX, n: int = GRID_N
) -> str:
    """`sas_alpha<alpha>_u0<u0>_U<U>_N<N>_v<version>.npz`, floats written as `repr` (exact)."""
    return f"sas_alpha{alpha!r}_u0{u0!r}_U{u_max!r}_N{n}_v{FORMAT_VERSION}.npz"


def _save(path: Path, arrays: TableArrays, u0: float, u_max: float, n: int) -> None:
    """Write atomically (`results.atomic_write`: a unique temporary file, then `os.replace`)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        psi=arrays.psi,
        neg_log_pdf_ratio=arrays.neg_log_pdf_ratio,
        methods=arrays.methods,
        errors=arrays.errors,
        key=np.array([arrays.alpha, u0, u_max, n, FORMAT_VERSION, arrays.neg_log_pdf0]),
    )
    atomic_write(path, buffer.getvalue())


def _load(path: Path, alpha: float, u0: float, u_max: float, n: int) -> TableArrays | None:
    """The cached table, or None when the file is missing, corrupt or for another key."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            key = data["key"]
            psi = np.array(data["psi"], dtype=np.float64)
            ratio = np.array(data["neg_log_pdf_ratio"], dtype=np.float64)
            methods = np.array(data["methods"], dtype=np.int8)
            errors = np.array(data["errors"], dtype=np.float64)
        expected = np.array([alpha, u0, u_max, n, FORMAT_VERSION])
        valid = (
            key.shape == (6,)
            and np.array_equal(key[:5], expected)
            and psi.shape == ratio.shape == methods.shape == errors.shape == (n,)
            and np.all(np.isfinite(psi))
            and np.all(np.isfinite(ratio))
            and np.isfinite(key[5])
        )
    except Exception as error:  # a torn or foreign file: rebuild it
        log.warning("ignoring unreadable SaS table cache %s (%s); rebuilding", path, error)
        return None
    if not valid:
        log.warning("ignoring SaS table cache %s with unexpected contents; rebuilding", path)
        return None
    return TableArrays(alpha, psi, ratio, float(key[5]), methods, errors)


# ---------------------------------------------------------------------------------------
# The table in torch.


@dataclass(frozen=True)
class _Buffers:
    """The table on one device in one dtype, as per-cell polynomial coefficients, (N-1,) each:
    -log(p/p(0)) = ((r3 t + r2) t + r1) t + r0 (the cubic Hermite of METHODS.md §5 with psi as
    slope) and psi = q1 t + q0 (linear), t in [0, 1] the position inside the cell."""

    r0: Tensor
    r1: Tensor
    r2: Tensor
    r3: Tensor
    q0: Tensor
    q1: Tensor


class StableTable:
    """Standardized SaS (scale c = 1) score and negative log density, METHODS.md §5 [SD].

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
        self._tail = _tail_coefficients(self.alpha, self.u_max)
        u = grid_nodes(self.u0, self.u_max, self.n_nodes)
        slope = arrays.psi * np.sqrt(self.u0**2 + u * u) * self._dv  # du/dv = sqrt(u0^2 + u^2)
        self._host = (arrays.psi, arrays.neg_log_pdf_ratio, slope)
        self._buffers: dict[tuple[torch.device, torch.dtype], _Buffers] = {}

    def __repr__(self) -> str:
        return f"StableTable(alpha={self.alpha}, cache_path={str(self.cache_path)!r})"

    def _load_or_build(self) -> tuple[bool, float, TableArrays]:
        start = time.perf_counter()
        arrays = _load(self.cache_path, self.alpha, self.u0, self.u_max, self.n_nodes)
        if arrays is not None:
            return True, time.perf_counter() - start, arrays
        arrays = build_table_arrays(self.alpha, u0=self.u0, u_max=self.u_max, n=self.n_nodes)
        seconds = time.perf_counter() - start
        log.info("built SaS table alpha=%s in %.2fs", self.alpha, seconds)
        try:
            _save(self.cache_path, arrays, self.u0, self.u_max, self.n_nodes)
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
        cell = position.floor().clamp(0, self.n_nodes - 2)
        return cell.long().reshape(-1), position.sub_(cell)

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

        def at(values: Tensor) -> Tensor:
            return values.index_select(0, cell).view_as(t)

        out_ratio = out_score = None
        if ratio:  # Horner: ((r3 t + r2) t + r1) t + r0
            out_ratio = torch.addcmul(at(b.r2), at(b.r3), t)
            out_ratio = torch.addcmul(at(b.r1), out_ratio, t)
            out_ratio = torch.addcmul(at(b.r0), out_ratio, t)
        if score:
            out_score = torch.addcmul(at(b.q0), at(b.q1), t)
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
        """psi_{alpha,c}(u) = psi(u/c)/c, the score -p_c'/p_c (METHODS.md §5); odd in u."""
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
        its gradient in a single pass (what `SoftDiamondPenalty` uses)."""
        u, original = _as_compute(u)
        z = u / scale
        ratio, score = self._lookup(z.abs(), ratio=True, score=True)
        return ratio.to(original), (torch.copysign(score, z) / scale).to(original)

    def neg_log_pdf(self, u: Tensor, scale: Tensor | float = 1.0) -> Tensor:
        """-log p_{alpha,c}(u) = -log p(u/c) + log c (METHODS.md §5); even in u."""
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
