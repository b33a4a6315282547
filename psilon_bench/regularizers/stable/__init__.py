"""The standardized symmetric alpha-stable (SaS) look-up table of docs/methods.md (soft diamond) [SD].

[SD] O. Adigun, B. Kosko, "Soft Diamond Regularizers for Deep Learning", arXiv:2412.20724.

The standardized SaS density `p = p_alpha` has characteristic function `exp(-|t|^alpha)`,
0 < alpha <= 2, so that

    p(u) = (1/pi) int_0^inf cos(u t) exp(-t^alpha) dt,     psi(u) = -p'(u)/p(u).

alpha = 2 is the Gaussian with variance 2 (psi = u/2) and alpha = 1 the Cauchy density
(psi = 2u/(1+u^2)). At scale c, `p_c(w) = p(w/c)/c`, so `psi_c(w) = psi(w/c)/c` and
`-log p_c(w) = -log p(w/c) + log c`: one table per alpha serves every scale; pass `scale=`
to the methods of `StableTable`.

The table (docs/methods.md (soft diamond)): N = 4096 nodes uniform in `v = asinh(u/u0)`, u0 = 0.05, from
u = 0 to U = 1e3, holding psi and -log p in float64. Evaluation, in torch and in the input's
dtype (float32 for half types): psi by linear interpolation in v, -log p by cubic Hermite
interpolation in v with slope `d(-log p)/dv = psi(u) * sqrt(u0^2 + u^2)`, and for |u| > U the
large-u series

    p(u) = (1/pi) sum_{k>=1} (-1)^(k+1) Gamma(alpha k + 1)/k! sin(k pi alpha/2) u^-(alpha k + 1)

with its first 6 non-zero terms, and more while the next one still exceeds 1e-16 of the
first at u = U (alpha < 0.8; 7 terms at alpha = 0.5, 17 at 0.05). psi is odd and -log p
even in u.

How the table values are computed (docs/methods.md (soft diamond), with the deviations marked):

- u <= 0.02 (alpha >= 1) or u <= 0.02 alpha^4 (alpha < 1): the small-u series
  `p(u) = (1/(pi alpha)) sum_k (-1)^k Gamma((2k+1)/alpha)/(2k)! u^(2k)` and its derivative.
- Elsewhere p and p' come from the Fourier integrals, p from the cosine transform above and
  p' from the sine transform `p'(u) = -(1/pi) int_0^inf t sin(u t) exp(-t^alpha) dt`, both with
  `scipy.integrate.quad(..., weight='cos'|'sin', wvar=u)` on a finite interval [0, T] whose
  cut-off tail is below 1e-20 (QUADPACK's QAWO).
  *Deviation 1*: docs/methods.md asks for `scipy.stats.levy_stable.pdf` for the density here. It is
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

from psilon_bench.regularizers.stable import build, cache, table
from psilon_bench.regularizers.stable.build import (
    FORMAT_VERSION,
    GRID_N,
    GRID_U0,
    GRID_U_MAX,
    TAIL_MIN_TERMS,
    TableArrays,
    build_table_arrays,
    grid_nodes,
    neg_log_pdf_at_zero,
)
from psilon_bench.regularizers.stable.cache import cache_file_name, default_cache_dir
from psilon_bench.regularizers.stable.table import StableTable

__all__ = [
    "FORMAT_VERSION",
    "GRID_N",
    "GRID_U0",
    "GRID_U_MAX",
    "TAIL_MIN_TERMS",
    "StableTable",
    "TableArrays",
    "build",
    "build_table_arrays",
    "cache",
    "cache_file_name",
    "default_cache_dir",
    "grid_nodes",
    "neg_log_pdf_at_zero",
    "table",
]
