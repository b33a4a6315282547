"""Building the SaS table (docs/methods.md (soft diamond) [SD]): exact float64 values of psi and -log p on the
grid, from the small-u series, the Fourier integrals (QAWO) and the large-u series. How and
why is told in the package docstring (`psilon_bench.regularizers.stable`)."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

from psilon_bench.errors import ConfigError

log = logging.getLogger(__name__)

GRID_U0 = 0.05  # v = asinh(u / u0)
GRID_U_MAX = 1e3  # U: the table covers 0 <= u <= U, the large-u series the rest
GRID_N = 4096  # nodes, uniform in v
FORMAT_VERSION = 2  # bump when the stored arrays or how they are computed change (2: checksum)
TAIL_MIN_TERMS = 6  # non-zero terms of the large-u series used past U (docs/methods.md)

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
    """p(u), p'(u) from the Taylor series at 0 (docs/methods.md (soft diamond)), their relative error, and
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
    """c_k = sign_k exp(log_k), k = 1..n_terms, of the large-u series (docs/methods.md (soft diamond)):

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
    """p(u), p'(u) from the large-u series (docs/methods.md (soft diamond)), and the relative error; u > 0.

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


def series_psi(alpha: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """psi(u) > 0 straight from the closed forms (alpha 1, 2) or the better of the two series
    (docs/methods.md (soft diamond)), and its estimated relative error (inf where neither series holds); used
    to check a cached table independently of its stored arrays."""
    u = np.asarray(u, dtype=np.float64)
    if alpha == 2.0:
        return u / 2, np.zeros_like(u)
    if alpha == 1.0:
        return 2 * u / (1 + u * u), np.zeros_like(u)
    ps, dps, small_err, _ = _small_u_series(alpha, u)
    small_limit = 0.02 if alpha >= 1 else 0.02 * alpha**4
    small_err = np.where(u <= small_limit, small_err, np.inf)
    pl, dpl, large_err = _large_u_series(alpha, u)
    use_small = small_err <= large_err
    with np.errstate(invalid="ignore", divide="ignore"):
        psi = np.where(use_small, -dps / ps, -dpl / pl)
    return psi, np.minimum(small_err, large_err)


def grid_nodes(u0: float = GRID_U0, u_max: float = GRID_U_MAX, n: int = GRID_N) -> np.ndarray:
    """The table nodes u_i = u0 sinh(i dv), i = 0..n-1, dv = asinh(u_max/u0)/(n-1); (n,)."""
    v = np.arange(n) * (math.asinh(u_max / u0) / (n - 1))
    return u0 * np.sinh(v)


def neg_log_pdf_at_zero(alpha: float) -> float:
    """-log p_alpha(0), with p_alpha(0) = Gamma(1/alpha)/(pi alpha) (docs/methods.md (soft diamond))."""
    return -(special.gammaln(1.0 / alpha) - math.log(math.pi * alpha))


def build_table_arrays(
    alpha: float,
    *,
    u0: float = GRID_U0,
    u_max: float = GRID_U_MAX,
    n: int = GRID_N,
    use_closed_form: bool = True,
) -> TableArrays:
    """Compute psi and -log p at the table nodes (docs/methods.md (soft diamond); module docstring).

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
        raise ConfigError(
            f"regularizer.alpha={alpha}: the SaS density cannot be tabulated this close to 0 "
            "(non-finite values); use a larger alpha (0.1 works)"
        )
    if errors.max() > 1e-7:
        log.warning(
            "SaS table alpha=%s: node values have estimated relative errors up to %.1e",
            alpha,
            errors.max(),
        )
    return TableArrays(alpha, psi, ratio, nlp0, methods, errors)


def tail_coefficients(alpha: float, u_max: float) -> list[float]:
    """c_1..c_K of the large-u series used past U: at least TAIL_MIN_TERMS non-zero terms,
    more while the next non-zero term at u = U is above 1e-16 of the first (docs/methods.md (soft diamond))."""
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
