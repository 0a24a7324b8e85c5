/*
 * kern_avx512.c — AVX-512 versions of the scan kernels (compiled with -mavx512f -mavx512bw
 * -mavx512vl -mfma -mf16c; called only when the CPU has them, see kern.c).
 * One zmm register is the 16 canonical lanes of kern.h, so a row needs one accumulator
 * for q·x and one for x·x; four rows at a time give eight independent FMA chains, enough
 * to keep the loads, not the FMA latency, the limit. The last partial block is read with
 * a masked load, which supplies the zero padding of the canonical order.
 */
#include <immintrin.h>

#include "kern.h"

static inline __m512 load_ph(const uint16_t *p, size_t i, size_t H) {
    if (i + VX_LANES <= H) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + i)));
    __mmask16 m = (__mmask16)((1u << (H - i)) - 1);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + i));
}

static inline float reduce(__m512 v) {
    float a[VX_LANES];
    _mm512_storeu_ps(a, v);
    return vx_kern_reduce16(a);
}

void vx_dot_ss_avx512(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q) {
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const uint16_t *x0 = X + r * H, *x1 = x0 + H, *x2 = x1 + H, *x3 = x2 + H;
        __m512 d0 = _mm512_setzero_ps(), d1 = d0, d2 = d0, d3 = d0, s0 = d0, s1 = d0, s2 = d0, s3 = d0;
        for (size_t i = 0; i < H; i += VX_LANES) {
            _mm_prefetch((const char *)(x0 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(x1 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(x2 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(x3 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            __m512 qv = _mm512_loadu_ps(q + i);
            __m512 v0 = load_ph(x0, i, H), v1 = load_ph(x1, i, H), v2 = load_ph(x2, i, H), v3 = load_ph(x3, i, H);
            d0 = _mm512_fmadd_ps(v0, qv, d0); s0 = _mm512_fmadd_ps(v0, v0, s0);
            d1 = _mm512_fmadd_ps(v1, qv, d1); s1 = _mm512_fmadd_ps(v1, v1, s1);
            d2 = _mm512_fmadd_ps(v2, qv, d2); s2 = _mm512_fmadd_ps(v2, v2, s2);
            d3 = _mm512_fmadd_ps(v3, qv, d3); s3 = _mm512_fmadd_ps(v3, v3, s3);
        }
        dot[r] = reduce(d0); dot[r + 1] = reduce(d1); dot[r + 2] = reduce(d2); dot[r + 3] = reduce(d3);
        ss[r] = reduce(s0); ss[r + 1] = reduce(s1); ss[r + 2] = reduce(s2); ss[r + 3] = reduce(s3);
    }
    for (; r < n; r++) {
        const uint16_t *x = X + r * H;
        __m512 d = _mm512_setzero_ps(), s = d;
        for (size_t i = 0; i < H; i += VX_LANES) {
            __m512 v = load_ph(x, i, H);
            d = _mm512_fmadd_ps(v, _mm512_loadu_ps(q + i), d);
            s = _mm512_fmadd_ps(v, v, s);
        }
        dot[r] = reduce(d);
        ss[r] = reduce(s);
    }
}

void vx_cvt_ss_avx512(float *Y, float *ss, const uint16_t *X, size_t n, size_t H) {
    for (size_t r = 0; r < n; r++) {
        const uint16_t *x = X + r * H;
        float *y = Y + r * H;
        __m512 s = _mm512_setzero_ps();
        for (size_t i = 0; i < H; i += VX_LANES) {
            __m512 v = load_ph(x, i, H);
            if (i + VX_LANES <= H) _mm512_storeu_ps(y + i, v);
            else _mm512_mask_storeu_ps(y + i, (__mmask16)((1u << (H - i)) - 1), v);
            s = _mm512_fmadd_ps(v, v, s);
        }
        ss[r] = reduce(s);
    }
}
