"""The SaS look-up table and the soft-diamond penalty, docs/methods.md (soft diamond) [SD].

The accuracy oracle is independent of how the table is built (Fourier integrals by QUADPACK
QAWO, Taylor series at 0, large-u series): Zolotarev's integral representation of the
stable density (J. P. Nolan, "Numerical calculation of stable densities and distribution
functions", Comm. Statist. Stochastic Models 13 (1997), Theorem 1, beta = 0), integrated by
plain adaptive quadrature in log variables, gives p and psi for u >= 0.05 and at every u for
alpha < 1; for alpha > 1 and u < 0.05, where that formula cancels, plain adaptive quadrature
(QAGS, no oscillatory weight) of the Fourier integrals; at alpha = 1 the Cauchy density.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special

from psilon_bench.errors import ConfigError
from psilon_bench.regularizers import stable
from psilon_bench.regularizers.soft_diamond import (
    soft_diamond_elementwise,
    soft_diamond_penalty,
)
from psilon_bench.regularizers.stable import StableTable, build_table_arrays, grid_nodes

# docs/methods.md (soft diamond) golden values, c = 1.
GOLDEN = {
    0.5: {
        "pdf0": 0.636619772368,
        "pdf1": 0.0861071469126,
        "score1": 1.07014909826,
        "score10": 0.136835519804,
    },
    1.5: {
        "pdf0": 0.287352751452,
        "pdf1": 0.202038159608,
        "score1": 0.671211833342,
        "neg_log_pdf10": 6.86108543259,
    },
}
ACCURACY_ALPHAS = (0.5, 1.0, 1.5, 1.9)  # docs/methods.md: psi within 1e-5 on [1e-4, 1e7]
U = stable.GRID_U_MAX


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stable_cache")


@pytest.fixture(scope="session")
def table(cache_dir: Path):
    """table(alpha): one StableTable per alpha for the whole session, built once."""
    tables: dict[float, StableTable] = {}

    def get(alpha: float) -> StableTable:
        if alpha not in tables:
            tables[alpha] = StableTable(alpha, cache_dir=cache_dir)
        return tables[alpha]

    return get


def f64(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


# ---------------------------------------------------------------------------------------
# The oracle.


def zolotarev_score(alpha: float, x: float) -> tuple[float, float]:
    """psi(x) and p(x), x > 0, alpha != 1, from Zolotarev's integral (Nolan 1997, Thm 1).

    p(x) = alpha / (pi |alpha - 1| x) int_0^(pi/2) g e^-g dtheta, g = x^b V(theta),
    b = alpha/(alpha-1), V = (cos th / sin(alpha th))^b cos((alpha-1) th) / cos th; and, by
    differentiating under the integral, psi(x) = (b J/I - 1/(alpha-1)) / x with
    I = int g e^-g, J = int g^2 e^-g. Integrated in s = log(theta) on (0, pi/4] and in
    s = log(pi/2 - theta) on the other half, so the peak at g = 1 is resolved at any x.
    """
    a, b, log_x = alpha, alpha / (alpha - 1), math.log(x)

    def log_v_near_0(th: float) -> float:
        return (
            b * (math.log(math.cos(th)) - math.log(math.sin(a * th)))
            + math.log(math.cos((a - 1) * th))
            - math.log(math.cos(th))
        )

    def log_v_near_half_pi(e: float) -> float:  # theta = pi/2 - e
        return (
            b * (math.log(math.sin(e)) - math.log(math.sin(a * (math.pi / 2 - e))))
            + math.log(math.cos((a - 1) * (math.pi / 2 - e)))
            - math.log(math.sin(e))
        )

    i_sum = j_sum = 0.0
    s_lo, s_hi = -700.0, math.log(math.pi / 4)
    for log_v in (log_v_near_0, log_v_near_half_pi):

        def log_g(s: float, log_v=log_v) -> float:
            return b * log_x + log_v(math.exp(s))

        marks = [s_hi - d for d in (0.5, 2, 8, 30, 100)]
        if log_g(s_lo) * log_g(s_hi) < 0:
            peak = optimize.brentq(log_g, s_lo, s_hi, xtol=1e-12)
            marks += [peak + d for d in (-30, -3, 0, 3, 30)]
        edges = sorted({s_lo, s_hi, *[m for m in marks if s_lo < m < s_hi]})

        def f_i(s: float, log_g=log_g) -> float:
            lg = log_g(s)
            return math.exp(lg - math.exp(lg) + s) if lg < 700 else 0.0

        def f_j(s: float, log_g=log_g) -> float:
            lg = log_g(s)
            return math.exp(2 * lg - math.exp(lg) + s) if lg < 700 else 0.0

        for lo, hi in zip(edges[:-1], edges[1:]):
            i_sum += integrate.quad(f_i, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
            j_sum += integrate.quad(f_j, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
    return (b * j_sum / i_sum - 1 / (a - 1)) / x, a / (math.pi * abs(a - 1) * x) * i_sum


def fourier_score(alpha: float, x: float) -> float:
    """psi(x) from the Fourier integrals by plain adaptive quadrature (QAGS); x * T small."""
    cutoff = special.gammainccinv(2 / alpha, 1e-22 * alpha / special.gamma(2 / alpha)) ** (
        1 / alpha
    )
    options = {"epsabs": 0, "epsrel": 1e-13, "limit": 2000}
    p = integrate.quad(lambda t: math.cos(x * t) * math.exp(-(t**alpha)), 0, cutoff, **options)[0]
    dp = -integrate.quad(
        lambda t: t * math.sin(x * t) * math.exp(-(t**alpha)), 0, cutoff, **options
    )[0]
    return -dp / p


def oracle_score(alpha: float, x: float) -> float:
    """Exact psi_alpha(x), x > 0, independent of the table's construction."""
    if alpha == 1.0:
        return 2 * x / (1 + x * x)
    if alpha > 1 and x < 0.05:
        return fourier_score(alpha, x)
    return zolotarev_score(alpha, x)[0]


def large_u_series(alpha: float, u: float, terms: int = 30) -> tuple[float, float]:
    """psi and -log p from `terms` terms of the large-u series (docs/methods.md (soft diamond)), for large u."""
    k = np.arange(1, terms + 1)
    c = (
        (-1.0) ** (k + 1)
        * np.exp(special.gammaln(alpha * k + 1) - special.gammaln(k + 1))
        * np.sin(k * np.pi * alpha / 2)
    )
    s0 = np.sum(c * u ** (-alpha * k))
    s1 = np.sum(c * (alpha * k + 1) * u ** (-alpha * k))
    return s1 / (u * s0), -math.log(s0 / (math.pi * u))


def test_oracle_reproduces_golden_values() -> None:
    for alpha, golden in GOLDEN.items():
        psi1, pdf1 = zolotarev_score(alpha, 1.0)
        assert pdf1 == pytest.approx(golden["pdf1"], rel=1e-11)
        assert psi1 == pytest.approx(golden["score1"], rel=1e-10)
    # docs/methods.md's psi(10) = 0.136835519804 is 1.2e-10 off in its last digits: the Fresnel
    # closed form (test_fresnel_closed_form_at_alpha_half) at 30 digits gives 0.1368355197877306.
    assert zolotarev_score(0.5, 10.0)[0] == pytest.approx(0.1368355197877306, rel=1e-12)
    assert zolotarev_score(0.5, 10.0)[0] == pytest.approx(GOLDEN[0.5]["score10"], rel=1e-9)
    assert -math.log(zolotarev_score(1.5, 10.0)[1]) == pytest.approx(
        GOLDEN[1.5]["neg_log_pdf10"], rel=1e-11
    )
    assert fourier_score(1.5, 0.04) == pytest.approx(zolotarev_score(1.5, 0.04)[0], rel=1e-8)


# ---------------------------------------------------------------------------------------
# Values.


@pytest.mark.parametrize("alpha", sorted(GOLDEN))
def test_golden_values(table, alpha: float) -> None:
    t, golden = table(alpha), GOLDEN[alpha]
    u = f64([0.0, 1.0, 10.0])
    pdf, score, neg_log_pdf = t.pdf(u), t.score(u), t.neg_log_pdf(u)
    got = {
        "pdf0": pdf[0],
        "pdf1": pdf[1],
        "score1": score[1],
        "score10": score[2],
        "neg_log_pdf10": neg_log_pdf[2],
    }
    for name, value in golden.items():
        assert float(got[name]) == pytest.approx(value, rel=1e-6), name
    assert t.neg_log_pdf0 == pytest.approx(-math.log(golden["pdf0"]), rel=1e-11)


@pytest.mark.parametrize("alpha", ACCURACY_ALPHAS)
def test_score_accuracy_target(table, alpha: float) -> None:
    """docs/methods.md (soft diamond): table psi within 1e-5 relative of exact for |u| in [1e-4, 1e7]."""
    u = np.geomspace(1e-4, 1e7, 200)
    exact = np.array([oracle_score(alpha, x) for x in u])
    got = table(alpha).score(f64(u)).numpy()
    relative = np.abs(got / exact - 1)
    assert relative.max() < 1e-5, (
        f"alpha={alpha}: {relative.max():.2e} at u={u[relative.argmax()]:.4g}"
    )


@pytest.mark.parametrize("alpha", (0.5, 1.5, 1.9))
def test_table_nodes_match_oracle(alpha: float) -> None:
    """The stored values themselves (before interpolation), at every 16th node from 0.05 up."""
    arrays = build_table_arrays(alpha)
    u = grid_nodes()
    nodes = np.flatnonzero(u >= 0.05)[::16]
    exact = np.array([oracle_score(alpha, u[i]) for i in nodes])
    assert np.abs(arrays.psi[nodes] / exact - 1).max() < 1e-8
    assert set(np.unique(arrays.methods[1:])) == {1, 2, 3}  # series, quadrature, series


@pytest.mark.parametrize("scale", [0.1, 1.0, 7.0])
def test_gaussian_at_alpha_2(table, scale: float) -> None:
    """alpha = 2: variance 2c^2, R = w^2/(4c^2) (ridge), psi = w/(2c^2), also past U."""
    t = table(2.0)
    w = f64(np.concatenate([-np.geomspace(1e-3, 1e5, 50), np.geomspace(1e-3, 1e5, 50)]) * scale)
    torch.testing.assert_close(
        t.neg_log_pdf_ratio(w, scale), w**2 / (4 * scale**2), rtol=1e-5, atol=0
    )
    torch.testing.assert_close(t.score(w, scale), w / (2 * scale**2), rtol=1e-5, atol=0)
    torch.testing.assert_close(
        t.neg_log_pdf(w, scale),
        w**2 / (4 * scale**2) + math.log(2 * math.sqrt(math.pi) * scale),
        rtol=1e-5,
        atol=0,
    )


@pytest.mark.parametrize("scale", [0.1, 1.0, 7.0])
def test_cauchy_at_alpha_1(table, scale: float) -> None:
    """alpha = 1: Cauchy, psi = 2w/(c^2 + w^2), -log p = log(pi c (1 + w^2/c^2))."""
    t = table(1.0)
    w = f64(np.geomspace(1e-4, 1e7, 200) * scale)
    torch.testing.assert_close(t.score(w, scale), 2 * w / (scale**2 + w**2), rtol=1e-5, atol=0)
    torch.testing.assert_close(
        t.neg_log_pdf(w, scale),
        torch.log(math.pi * scale * (1 + (w / scale) ** 2)),
        rtol=1e-7,
        atol=0,
    )


def test_general_path_at_alpha_1_matches_cauchy() -> None:
    """The series-and-quadrature construction, not the closed form, at alpha = 1."""
    arrays = build_table_arrays(1.0, use_closed_form=False)
    u = grid_nodes()
    assert set(np.unique(arrays.methods[1:])) == {1, 2, 3}
    np.testing.assert_allclose(arrays.psi[1:], 2 * u[1:] / (1 + u[1:] ** 2), rtol=1e-10)
    np.testing.assert_allclose(arrays.neg_log_pdf_ratio[1:], np.log1p(u[1:] ** 2), rtol=1e-10)
    assert arrays.neg_log_pdf0 == pytest.approx(math.log(math.pi), rel=1e-14)


def test_near_gaussian_alpha(table) -> None:
    """alpha = 1.999 (general path) is Gaussian in the core, with a (1+alpha)/u tail."""
    t = table(1.999)
    u = f64(np.linspace(0.01, 3.0, 50))
    torch.testing.assert_close(t.score(u), u / 2, rtol=2e-3, atol=0)
    torch.testing.assert_close(t.neg_log_pdf_ratio(u), u * u / 4, rtol=2e-3, atol=0)
    assert float(t.score(f64([1e4]))) * 1e4 == pytest.approx(2.999, rel=1e-6)


def test_fresnel_closed_form_at_alpha_half(table) -> None:
    """alpha = 1/2 has a closed form in Fresnel integrals (Hopcraft, Jakeman, Tanner, Phys.
    Rev. E 60, 5327 (1999); listed in Wikipedia's "Stable distribution", other analytic cases):
    p(x) = x^-3/2 / sqrt(2 pi) [sin(1/(4x)) (1/2 - S(z)) + cos(1/(4x)) (1/2 - C(z))],
    z = 1/sqrt(2 pi x), with scipy's S, C (argument scaled by pi/2)."""

    def log_pdf(x: np.ndarray) -> np.ndarray:
        s, c = special.fresnel(1 / np.sqrt(2 * np.pi * x))
        bracket = np.sin(1 / (4 * x)) * (0.5 - s) + np.cos(1 / (4 * x)) * (0.5 - c)
        return -1.5 * np.log(x) - 0.5 * np.log(2 * np.pi) + np.log(bracket)

    t = table(0.5)
    x = np.geomspace(1e-2, 1e4, 60)
    h = 1e-5 * x
    score = -(log_pdf(x + h) - log_pdf(x - h)) / (2 * h)
    np.testing.assert_allclose(t.neg_log_pdf(f64(x)).numpy(), -log_pdf(x), rtol=1e-9)
    np.testing.assert_allclose(t.score(f64(x)).numpy(), score, rtol=1e-5)


@pytest.mark.parametrize("alpha", (0.5, 1.0, 1.5, 2.0))
@pytest.mark.parametrize("scale", (1.0, 0.05, 3.0))
def test_score_is_derivative_of_neg_log_pdf(table, alpha: float, scale: float) -> None:
    t = table(alpha)
    w = f64(np.geomspace(1e-3, 2e3, 80) * scale)
    h = 1e-5 * w
    # -log(p_c/p_c(0)) differs from -log p_c by a constant and keeps small values exact
    slope = (t.neg_log_pdf_ratio(w + h, scale) - t.neg_log_pdf_ratio(w - h, scale)) / (2 * h)
    torch.testing.assert_close(t.score(w, scale), slope, rtol=1e-5, atol=0)
    log_scale = math.log(scale)
    torch.testing.assert_close(
        t.neg_log_pdf(w, scale), t.neg_log_pdf_ratio(w, scale) + t.neg_log_pdf0 + log_scale
    )


@pytest.mark.parametrize("alpha", (0.5, 1.5))
def test_symmetry(table, alpha: float) -> None:
    t = table(alpha)
    u = f64(np.geomspace(1e-6, 1e8, 500))
    assert torch.equal(t.score(-u), -t.score(u))
    assert torch.equal(t.neg_log_pdf(-u), t.neg_log_pdf(u))
    assert float(t.score(f64([0.0]))) == 0.0
    assert float(t.neg_log_pdf_ratio(f64([0.0]))) == 0.0


@pytest.mark.parametrize("alpha", (0.5, 1.5, 1.9))
def test_far_tail_is_large_u_series(table, alpha: float) -> None:
    t = table(alpha)
    psi, neg_log_pdf = large_u_series(alpha, 1e5)
    assert float(t.score(f64([1e5]))) == pytest.approx(psi, rel=1e-9)
    assert float(t.neg_log_pdf(f64([1e5]))) == pytest.approx(neg_log_pdf, rel=1e-9)
    assert float(t.score(f64([1e12]))) * 1e12 == pytest.approx(
        1 + alpha, rel=1e-6
    )  # psi ~ (1+alpha)/u


@pytest.mark.parametrize("alpha", (0.5, 1.0, 1.5, 1.9, 2.0))
def test_continuous_across_table_end(table, alpha: float) -> None:
    t = table(alpha)
    u = f64([U * (1 - 1e-12), U, U * (1 + 1e-12)])
    for values in (t.score(u), t.neg_log_pdf(u)):
        torch.testing.assert_close(values, values[1].expand(3), rtol=1e-9, atol=0)


@pytest.mark.parametrize("alpha", (0.5, 1.0, 1.5, 2.0))
@pytest.mark.parametrize("scale", (0.1, 1.0, 3.0))
def test_quadratic_near_zero(table, alpha: float, scale: float) -> None:
    """R(w) - R(0) ~ kappa w^2/(2c^2), kappa = Gamma(3/alpha)/Gamma(1/alpha) (docs/methods.md (soft diamond))."""
    kappa = math.exp(special.gammaln(3 / alpha) - special.gammaln(1 / alpha))
    w = f64([1e-5, 3e-5, 1e-4]) * scale
    torch.testing.assert_close(
        table(alpha).neg_log_pdf_ratio(w, scale), kappa * w**2 / (2 * scale**2), rtol=1e-4, atol=0
    )
    torch.testing.assert_close(
        table(alpha).score(w, scale), kappa * w / scale**2, rtol=1e-4, atol=0
    )


def test_kappa_at_alpha_half() -> None:
    assert math.gamma(3 / 0.5) / math.gamma(1 / 0.5) == 120


# ---------------------------------------------------------------------------------------
# Dtypes, devices, buffers.


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_shape_preserved(table, dtype: torch.dtype) -> None:
    t = table(1.5)
    u = torch.linspace(-20, 20, 24, dtype=dtype).reshape(2, 3, 4)
    exact = t.score(u.double())
    for method in (t.score, t.neg_log_pdf, t.neg_log_pdf_ratio, t.pdf):
        out = method(u)
        assert out.dtype == dtype and out.shape == u.shape
    torch.testing.assert_close(
        t.score(u).double(), exact, rtol={torch.float32: 1e-6}.get(dtype, 1e-2), atol=0
    )


def test_special_inputs(table) -> None:
    t = table(1.5)
    u = f64([math.inf, -math.inf, math.nan])
    assert t.score(u)[:2].tolist() == [0.0, 0.0] and t.score(u)[2].isnan()
    assert t.neg_log_pdf(u)[:2].tolist() == [math.inf, math.inf] and t.neg_log_pdf(u)[2].isnan()


def test_buffers_built_once_per_device_and_dtype(table) -> None:
    t = table(0.5)
    u = torch.randn(100)
    t.score(u)
    t.neg_log_pdf(u)
    buffers = t._buffers[(u.device, u.dtype)]
    t.score(u)
    assert t._buffers[(u.device, u.dtype)] is buffers
    t.score(u.double())
    assert set(t._buffers) == {(u.device, torch.float32), (u.device, torch.float64)}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(table) -> None:
    t = table(1.5)
    u = torch.randn(1000, dtype=torch.float64) * 100
    for method in (t.score, t.neg_log_pdf):
        out = method(u.cuda())
        assert out.device.type == "cuda" and out.dtype == torch.float64
        torch.testing.assert_close(out.cpu(), method(u), rtol=1e-12, atol=1e-15)
        assert method(u.cuda().float()).dtype == torch.float32


# ---------------------------------------------------------------------------------------
# Validation and the disk cache.


@pytest.mark.parametrize("alpha", [0, -1.0, 2.5, math.nan, math.inf, True, "1.5"])
def test_alpha_out_of_range(tmp_path: Path, alpha: object) -> None:
    with pytest.raises(ConfigError, match=r"regularizer\.alpha must be in \(0, 2\]; got") as error:
        StableTable(alpha, cache_dir=tmp_path)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)


def test_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = StableTable(1.5, cache_dir=tmp_path)
    assert not first.loaded_from_cache and first.cache_path.is_file()
    modified = first.cache_path.stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("the table was rebuilt instead of loaded")

    monkeypatch.setattr(stable.table, "build_table_arrays", no_build)
    start = time.perf_counter()
    second = StableTable(1.5, cache_dir=tmp_path)
    assert time.perf_counter() - start < 0.5
    assert second.loaded_from_cache and first.cache_path.stat().st_mtime_ns == modified
    u = f64(np.geomspace(1e-4, 1e6, 100))
    assert torch.equal(first.score(u), second.score(u))
    assert torch.equal(first.neg_log_pdf(u), second.neg_log_pdf(u))
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]  # no temporary files


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other_alpha"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    reference = StableTable(0.5, cache_dir=tmp_path)
    path = reference.cache_path
    content = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a table" * 100)
    elif damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid file for another alpha under this alpha's name
        path.write_bytes(StableTable(1.5, cache_dir=tmp_path).cache_path.read_bytes())
    rebuilt = StableTable(0.5, cache_dir=tmp_path)
    assert not rebuilt.loaded_from_cache
    u = f64(np.geomspace(1e-4, 1e6, 100))
    assert torch.equal(rebuilt.score(u), reference.score(u))
    assert StableTable(0.5, cache_dir=tmp_path).loaded_from_cache  # and the file is whole again


def _build_in_subprocess(alpha: float, cache_dir: str, barrier, results) -> None:
    barrier.wait(timeout=120)  # start both builds at once
    t = StableTable(alpha, cache_dir=cache_dir)
    results.put((os.getpid(), t.loaded_from_cache, t.arrays.psi, t.arrays.neg_log_pdf_ratio))


@pytest.mark.slow  # processes building tables side by side (~4 s on 2 cores)
def test_concurrent_builds(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_build_in_subprocess, args=(0.5, str(tmp_path), barrier, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    (_, _, psi_a, ratio_a), (_, _, psi_b, ratio_b) = outcomes
    assert np.array_equal(psi_a, psi_b) and np.array_equal(ratio_a, ratio_b)
    loaded = StableTable(0.5, cache_dir=tmp_path)
    assert loaded.loaded_from_cache and np.array_equal(loaded.arrays.psi, psi_a)
    assert [p.suffix for p in tmp_path.iterdir()] == [".npz"]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PSILON_BENCH_CACHE", str(tmp_path))
    assert stable.default_cache_dir() == tmp_path / "stable"
    monkeypatch.delenv("PSILON_BENCH_CACHE")
    assert stable.default_cache_dir() == Path.home() / ".cache" / "psilon-bench" / "stable"


# ---------------------------------------------------------------------------------------
# The soft-diamond autograd function.


@pytest.mark.parametrize("alpha", (0.5, 1.5))
def test_penalty_backward_is_score(table, alpha: float) -> None:
    t = table(alpha)
    w = (torch.randn(3, 4, 5, dtype=torch.float64) * 2).requires_grad_(True)
    scale = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64).view(3, 1, 1)
    soft_diamond_penalty(w, t, scale).sum().backward()
    assert torch.equal(w.grad, t.score(w.detach(), scale))
    # gradcheck-style: backward (psi) against finite differences of forward (-log p)
    torch.autograd.gradcheck(
        lambda x: soft_diamond_penalty(x, t, scale),
        (w.detach().requires_grad_(True),),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-4,
    )
    torch.autograd.gradcheck(
        lambda c: soft_diamond_penalty(w.detach(), t, c),
        (scale.clone().requires_grad_(True),),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-4,
    )


def test_penalty_per_member_scales_match_loop(table) -> None:
    t = table(1.5)
    w = torch.randn(3, 6, 4, requires_grad=True)
    scale = torch.tensor([0.1, 1.0, 4.0]).view(3, 1, 1)
    penalty = soft_diamond_penalty(w, t, scale)
    assert penalty.shape == (3,)
    penalty.sum().backward()
    for e in range(3):
        member = w.detach()[e].clone().requires_grad_(True)
        alone = soft_diamond_elementwise(member, t, float(scale[e])).sum()
        alone.backward()
        torch.testing.assert_close(penalty[e], alone)
        torch.testing.assert_close(w.grad[e], member.grad)


def test_penalty_is_zero_at_zero_and_positive(table) -> None:
    t = table(0.5)
    assert soft_diamond_penalty(torch.zeros(2, 3, 3), t, 0.5).tolist() == [0.0, 0.0]
    assert bool((soft_diamond_elementwise(torch.randn(100), t, 0.5) > 0).all())


def test_penalty_under_vmap(table) -> None:
    t = table(1.5)
    w = torch.randn(3, 4, 5, dtype=torch.float64)
    scale = torch.tensor([0.2, 1.0, 3.0], dtype=torch.float64).view(3, 1, 1)

    def member_penalty(w_e: torch.Tensor, c_e: torch.Tensor) -> torch.Tensor:
        return soft_diamond_elementwise(w_e, t, c_e).sum()

    torch.testing.assert_close(
        torch.func.vmap(member_penalty)(w, scale), soft_diamond_penalty(w, t, scale)
    )
    gradient = torch.func.vmap(torch.func.grad(member_penalty))(w, scale)
    torch.testing.assert_close(gradient, t.score(w, scale))


# ---------------------------------------------------------------------------------------
# The chunked CPU path of neg_log_pdf_ratio_and_score.


def _special_and_random(n: int, dtype: torch.dtype) -> torch.Tensor:
    u = torch.randn(n, generator=torch.Generator().manual_seed(3), dtype=dtype) * 0.2
    u[:8] = torch.tensor(
        [0.0, -0.0, U * 0.05, -U * 0.05 * (1 - 1e-7), 5e3, -math.inf, math.nan, 1e-30]
    )
    return u


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
@pytest.mark.parametrize("n", (1000, 64 * 7, 64 * 7 + 5))
def test_chunked_lookup_is_bit_identical(table, monkeypatch, dtype, n) -> None:
    """Chunks of 64 elements (several chunks and a short last one) give the values of one
    pass, bit for bit, special values included."""
    t = table(1.5)
    u = _special_and_random(n, dtype)
    whole = t._eager_ratio_and_score(u, 0.05)
    monkeypatch.setattr(stable.table, "CHUNK", 64)
    assert t._plain_cpu(u, 0.05) and u.numel() > stable.table.CHUNK
    chunked = t._eager_ratio_and_score(u, 0.05)
    for a, b in zip(whole, chunked):
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)) and a.isnan().equal(b.isnan())


def test_chunked_penalty_gradient(table, monkeypatch) -> None:
    """The penalty over several stacked tensors through the chunked path: value and gradient
    equal to the one-pass ones, the gradient equal to psi and to finite differences of R."""
    from psilon_bench.regularizers.soft_diamond import _SoftDiamondSum

    t = table(1.5)
    g = torch.Generator().manual_seed(4)
    shapes = [(3, 16, 9), (3, 5, 16)]
    weights = [torch.randn(s, generator=g, dtype=torch.float64) * 0.1 for s in shapes]

    def value_and_grads() -> tuple[torch.Tensor, list[torch.Tensor]]:
        ws = [w.clone().requires_grad_(True) for w in weights]
        value = _SoftDiamondSum.apply(t, 0.05, *ws)
        (value * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
        return value.detach(), [w.grad for w in ws]

    whole = value_and_grads()
    monkeypatch.setattr(stable.table, "CHUNK", 64)
    flat = torch.cat([w.flatten(1) for w in weights], dim=1)
    assert t._plain_cpu(flat, 0.05) and flat.numel() > 64  # 3 x 224 elements: 11 chunks
    chunked = value_and_grads()
    assert torch.equal(whole[0], chunked[0])
    lams = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).view(3, 1, 1)
    for w, a, b in zip(weights, whole[1], chunked[1]):
        assert torch.equal(a, b)
        assert torch.equal(b, lams * t.score(w, 0.05))
    torch.autograd.gradcheck(
        lambda *ws: _SoftDiamondSum.apply(t, 0.05, *ws),
        tuple(w.clone().requires_grad_(True) for w in weights),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-4,
    )
