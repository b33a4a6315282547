// The soft-diamond look-up in one pass (docs/methods.md (soft diamond) [SD]): for float32 weights u and a
// scale c, R(u) = -log(p(u/c)/p(0)) (cubic Hermite in v = asinh(|u/c|/u0)) and
// psi_c(u) = psi(u/c)/c (linear in v), from StableTable's per-cell coefficients.
//
// It repeats the eager torch path of table.py (`_ratio_and_score`, `_cell`, `_lookup`) op for
// op, so the results are the same bits: ATen's own Vectorized<float> ops (log1p is Sleef's),
// the sqrt MKL VML computes for ATen's sqrt_ (VML's, not the hardware's: 18 % of values differ),
// one fused multiply-add per addcmul (ATen's CPU addcmul) and no other contraction
// (-ffp-contract=off). fused.py builds it for the CPU level ATen runs at (AVX2 or AVX-512) and
// checks it against the eager path before any use.
//
// The six coefficients of 8 (or 16) cells are read as whole rows and transposed in registers:
// on AMD Zen the vector gather instruction took 0.43 ms of 0.68 ms at 196,608 weights.
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>

extern "C" void vmsSqrt_64(int64_t n, const float* a, float* r, int64_t mode);  // libtorch_cpu
// VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE: the mode of ATen's MKL sqrt
constexpr int64_t kVmlMode = 0x2 | 0x140000 | 0x100;

using Vec = at::vec::Vectorized<float>;
using IVec = at::vec::Vectorized<int32_t>;
constexpr int kWidth = Vec::size();
constexpr int64_t kBlock = 512;  // elements per call of the MKL sqrt

#if defined(CPU_CAPABILITY_AVX512)
// g[j] = coefficient j of the cells in `cell` (16 lanes), from rows of 8 floats.
static inline void coefficients(const float* k, const IVec& cell, Vec g[6]) {
  alignas(64) int32_t ci[16];
  cell.store(ci);
  __m512 a[8];  // lane pair i | i + 8: the rows of cells ci[i] and ci[i + 8]
  for (int i = 0; i < 8; ++i) {
    a[i] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(k + 8 * ci[i])),
                              _mm256_loadu_ps(k + 8 * ci[i + 8]), 1);
  }
  __m512 c0[2], c1[2], c2[2], c3[2];  // columns (0 | 4), (1 | 5), (2 | 6), (3 | 7) per 128 bits
  for (int h = 0; h < 2; ++h) {
    const __m512 t0 = _mm512_unpacklo_ps(a[4 * h], a[4 * h + 1]);
    const __m512 t1 = _mm512_unpackhi_ps(a[4 * h], a[4 * h + 1]);
    const __m512 t2 = _mm512_unpacklo_ps(a[4 * h + 2], a[4 * h + 3]);
    const __m512 t3 = _mm512_unpackhi_ps(a[4 * h + 2], a[4 * h + 3]);
    c0[h] = _mm512_shuffle_ps(t0, t2, 0x44);
    c1[h] = _mm512_shuffle_ps(t0, t2, 0xEE);
    c2[h] = _mm512_shuffle_ps(t1, t3, 0x44);
    c3[h] = _mm512_shuffle_ps(t1, t3, 0xEE);
  }
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  g[0] = Vec(_mm512_permutex2var_ps(c0[0], lo, c0[1]));
  g[1] = Vec(_mm512_permutex2var_ps(c1[0], lo, c1[1]));
  g[2] = Vec(_mm512_permutex2var_ps(c2[0], lo, c2[1]));
  g[3] = Vec(_mm512_permutex2var_ps(c3[0], lo, c3[1]));
  g[4] = Vec(_mm512_permutex2var_ps(c0[0], hi, c0[1]));
  g[5] = Vec(_mm512_permutex2var_ps(c1[0], hi, c1[1]));
}
#elif defined(CPU_CAPABILITY_AVX2)
// g[j] = coefficient j of the cells in `cell` (8 lanes), from rows of 8 floats.
static inline void coefficients(const float* k, const IVec& cell, Vec g[6]) {
  alignas(32) int32_t ci[8];
  cell.store(ci);
  __m256 a[8], q[8];
  for (int i = 0; i < 8; ++i) a[i] = _mm256_loadu_ps(k + 8 * ci[i]);
  for (int h = 0; h < 2; ++h) {  // rows 0-3 and 4-7: columns (0 | 4), (1 | 5), (2 | 6), (3 | 7)
    const __m256 t0 = _mm256_unpacklo_ps(a[4 * h], a[4 * h + 1]);
    const __m256 t1 = _mm256_unpackhi_ps(a[4 * h], a[4 * h + 1]);
    const __m256 t2 = _mm256_unpacklo_ps(a[4 * h + 2], a[4 * h + 3]);
    const __m256 t3 = _mm256_unpackhi_ps(a[4 * h + 2], a[4 * h + 3]);
    q[4 * h] = _mm256_shuffle_ps(t0, t2, 0x44);
    q[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    q[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
    q[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
  }
  g[0] = Vec(_mm256_permute2f128_ps(q[0], q[4], 0x20));
  g[1] = Vec(_mm256_permute2f128_ps(q[1], q[5], 0x20));
  g[2] = Vec(_mm256_permute2f128_ps(q[2], q[6], 0x20));
  g[3] = Vec(_mm256_permute2f128_ps(q[3], q[7], 0x20));
  g[4] = Vec(_mm256_permute2f128_ps(q[0], q[4], 0x31));
  g[5] = Vec(_mm256_permute2f128_ps(q[1], q[5], 0x31));
}
#else
#error "build with -DCPU_CAPABILITY_AVX512 or -DCPU_CAPABILITY_AVX2 (fused.py does)"
#endif

// R and psi of the n weights x at scale c into ratio and score. coef: (n_cells, 8) rows
// (r0, r1, r2, r3, q0, q1, 0, 0) per cell. Returns 1 when some |x/c| exceeds u_max or is NaN:
// the caller then recomputes everything on the eager path (its tail series), and the values
// written here are to be ignored.
extern "C" int sas_ratio_and_score(const float* x, int64_t n, double scale, const float* coef,
                                   int64_t n_cells, double u0, double dv, double u_max,
                                   float* ratio, float* score) {
  const Vec c(static_cast<float>(scale)), one(1.0f), umax(static_cast<float>(u_max));
  const Vec inv_u0(static_cast<float>(1.0 / u0)), inv_dv(static_cast<float>(1.0 / dv));
  const IVec last(static_cast<int32_t>(n_cells - 1)), zero(0);
  alignas(64) float zc[kBlock], zz[kBlock], root[kBlock];
  int tail = 0;
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t nb = std::min(kBlock, n - lo);
    // z = min(|x / c|, U) / u0, z^2, 1 + z^2 for the block (lanes past nb: zeros)
    for (int64_t j = 0; j < nb; j += kWidth) {
      const int m = static_cast<int>(std::min<int64_t>(kWidth, nb - j));
      const Vec a = (Vec::loadu(x + lo + j, m) / c).abs();
      tail |= (a <= umax).zero_mask() & ((1 << m) - 1);
      const Vec z = at::vec::clamp_max(a, umax) * inv_u0;
      const Vec z2 = z * z;
      z.store(zc + j);
      z2.store(zz + j);
      (z2 + one).store(root + j);
    }
    vmsSqrt_64(nb, root, root, kVmlMode);
    for (int64_t j = 0; j < nb; j += kWidth) {
      const int m = static_cast<int>(std::min<int64_t>(kWidth, nb - j));
      // v = log1p(z + z^2 / (1 + sqrt(1 + z^2))) = asinh(z); the cell and the position in it
      const Vec v = (Vec::loadu(zc + j) + Vec::loadu(zz + j) / (Vec::loadu(root + j) + one)).log1p();
      const Vec position = v * inv_dv;
      IVec cell = at::vec::convert_to_int_of_same_size(position);
      cell = at::vec::maximum(at::vec::minimum(cell, last), zero);  // a NaN lane reads cell 0
      const Vec t = position - at::vec::convert_to_fp_of_same_size<float>(cell);
      Vec g[6];
      coefficients(coef, cell, g);
      Vec r = at::vec::fmadd(g[3], t, g[2]);  // Horner, one fma per addcmul
      r = at::vec::fmadd(r, t, g[1]);
      r = at::vec::fmadd(r, t, g[0]);
      const Vec s = at::vec::fmadd(g[5], t, g[4]);
      const Vec z = Vec::loadu(x + lo + j, m) / c;
      r.store(ratio + lo + j, m);
      (s.copysign(z) / c).store(score + lo + j, m);
    }
  }
  return tail != 0;
}
