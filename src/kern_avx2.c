/*
 * kern_avx2.c — AVX2 + F16C + FMA versions of the scan kernels (compiled with -mavx2
 * -mfma -mf16c; called only when the CPU has them, see kern.c).
 * The 16 canonical lanes of kern.h are two ymm registers (lanes 0-7, 8-15), so a row
 * needs four accumulators; two rows at a time give eight FMA chains and fit the 16 ymm
 * registers. AVX2 has no 16-bit masked load, so a partial last block is copied into a
 * zeroed 16-element buffer — the canonical zero padding.
 */
#include <immintrin.h>
#include <string.h>

#include "kern.h"

static inline __m256 cvt8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)); }

/* Pointer to 16 f16 values of row x at i: in place, or a zero-padded copy in buf. */
static inline const uint16_t *block(const uint16_t *x, size_t i, size_t H, uint16_t buf[VX_LANES]) {
    if (i + VX_LANES <= H) return x + i;
    memset(buf, 0, VX_LANES * sizeof *buf);
    memcpy(buf, x + i, (H - i) * sizeof *buf);
    return buf;
}

static inline float reduce(__m256 lo, __m256 hi) {
    float a[VX_LANES];
    _mm256_storeu_ps(a, lo);
    _mm256_storeu_ps(a + 8, hi);
    return vx_kern_reduce16(a);
}

void vx_dot_ss_avx2(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q) {
    uint16_t b0[VX_LANES], b1[VX_LANES];
    size_t r = 0;
    for (; r + 2 <= n; r += 2) {
        const uint16_t *x0 = X + r * H, *x1 = x0 + H;
        __m256 dl0 = _mm256_setzero_ps(), dh0 = dl0, sl0 = dl0, sh0 = dl0, dl1 = dl0, dh1 = dl0, sl1 = dl0, sh1 = dl0;
        for (size_t i = 0; i < H; i += VX_LANES) {
            _mm_prefetch((const char *)(x0 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(x1 + i) + VX_PREFETCH_BYTES, _MM_HINT_T0);
            __m256 ql = _mm256_loadu_ps(q + i), qh = _mm256_loadu_ps(q + i + 8);
            const uint16_t *p0 = block(x0, i, H, b0), *p1 = block(x1, i, H, b1);
            __m256 vl0 = cvt8(p0), vh0 = cvt8(p0 + 8), vl1 = cvt8(p1), vh1 = cvt8(p1 + 8);
            dl0 = _mm256_fmadd_ps(vl0, ql, dl0); dh0 = _mm256_fmadd_ps(vh0, qh, dh0);
            sl0 = _mm256_fmadd_ps(vl0, vl0, sl0); sh0 = _mm256_fmadd_ps(vh0, vh0, sh0);
            dl1 = _mm256_fmadd_ps(vl1, ql, dl1); dh1 = _mm256_fmadd_ps(vh1, qh, dh1);
            sl1 = _mm256_fmadd_ps(vl1, vl1, sl1); sh1 = _mm256_fmadd_ps(vh1, vh1, sh1);
        }
        dot[r] = reduce(dl0, dh0); ss[r] = reduce(sl0, sh0);
        dot[r + 1] = reduce(dl1, dh1); ss[r + 1] = reduce(sl1, sh1);
    }
    for (; r < n; r++) {
        const uint16_t *x = X + r * H;
        __m256 dl = _mm256_setzero_ps(), dh = dl, sl = dl, sh = dl;
        for (size_t i = 0; i < H; i += VX_LANES) {
            const uint16_t *p = block(x, i, H, b0);
            __m256 vl = cvt8(p), vh = cvt8(p + 8);
            dl = _mm256_fmadd_ps(vl, _mm256_loadu_ps(q + i), dl);
            dh = _mm256_fmadd_ps(vh, _mm256_loadu_ps(q + i + 8), dh);
            sl = _mm256_fmadd_ps(vl, vl, sl);
            sh = _mm256_fmadd_ps(vh, vh, sh);
        }
        dot[r] = reduce(dl, dh);
        ss[r] = reduce(sl, sh);
    }
}

void vx_cvt_ss_avx2(float *Y, float *ss, const uint16_t *X, size_t n, size_t H) {
    uint16_t b[VX_LANES];
    for (size_t r = 0; r < n; r++) {
        const uint16_t *x = X + r * H;
        float *y = Y + r * H;
        __m256 sl = _mm256_setzero_ps(), sh = sl;
        for (size_t i = 0; i < H; i += VX_LANES) {
            const uint16_t *p = block(x, i, H, b);
            __m256 vl = cvt8(p), vh = cvt8(p + 8);
            if (i + VX_LANES <= H) {
                _mm256_storeu_ps(y + i, vl);
                _mm256_storeu_ps(y + i + 8, vh);
            } else {
                float t[VX_LANES];
                _mm256_storeu_ps(t, vl);
                _mm256_storeu_ps(t + 8, vh);
                memcpy(y + i, t, (H - i) * sizeof *t);
            }
            sl = _mm256_fmadd_ps(vl, vl, sl);
            sh = _mm256_fmadd_ps(vh, vh, sh);
        }
        ss[r] = reduce(sl, sh);
    }
}
