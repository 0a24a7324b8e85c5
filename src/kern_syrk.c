/*
 * kern_syrk.c — the f32 SYRK of compare's PCA covariance, with the f16 rows converted
 * while they are packed (AVX-512 F + F16C; compiled with -mavx512f -mfma -mf16c; called
 * only when vx_cpu_avx512() says the CPU has them). See kern.h for the layout.
 *
 * Why not OpenBLAS's SSYRK: that needs the rows converted to f32 first (a pass over 16 MB
 * per 1,024 rows, plus a second pass for the column sums in double), then packs them
 * again itself. Here one pass converts, centres, sums and packs, and the packed layout —
 * panels of 32 columns, [panel][k][32] — serves both operands of the product: a 32-column
 * panel is the B micro-panel as it is, and eight of its columns are the A rows of a tile.
 * The product runs at OpenBLAS's rate; what is saved is OpenBLAS's own packing
 * (doc/benchmarks.md, "The reasons in numbers").
 *
 * Loops: for a block of MC rows of C and each KC slab of k, each column panel (32 KB of P,
 * from L3 into L1) meets the block's A panels (MC × KC floats, 512 KB, in L2) in tiles of
 * MR = 8 rows × NR = 32 columns (16 zmm accumulators, two zmm of B and eight broadcasts
 * of A per k). A C element is the f32 sum of ⌈K/KC⌉ slab sums.
 */
#include <immintrin.h>

#include "kern_syrk.h"

#define NR VX_SYRK_NR
#define MR VX_SYRK_MR
#define KC 512

/* C[8][32] (row stride ldc) += Σ_k a[k·NR + r] · b[k·NR + c] over kc k's (f32 words). */
static void tile(size_t kc, const uint32_t *aw, const uint32_t *bw, float *C, size_t ldc, float s) {
    const float *a = (const float *)(const void *)aw, *b = (const float *)(const void *)bw;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (size_t k = 0; k < kc; k++, a += NR, b += NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define ROW(i, x0, x1)                                  \
    do {                                                \
        __m512 ai = _mm512_set1_ps(a[i]);               \
        x0 = _mm512_fmadd_ps(ai, b0, x0);               \
        x1 = _mm512_fmadd_ps(ai, b1, x1);               \
    } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31);
        ROW(4, c40, c41); ROW(5, c50, c51); ROW(6, c60, c61); ROW(7, c70, c71);
#undef ROW
    }
    const __m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
                                { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
    vx_syrk_tile_add(C, ldc, acc, s);
}

void vx_syrk_rows_avx512(float *C, size_t H, const float *P, size_t K, size_t i0) {
    vx_syrk_walk(C, H, (const uint32_t *)(const void *)P, K, i0, KC, tile, NULL);
}

void vx_syrk_pack_avx512(float *P, const uint16_t *const *rows, size_t K, size_t p0, size_t p1, float scale,
                         const float *shift, double *sums) {
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t k = 0; k < K; k++) {
        const uint16_t *x = rows[k];
        for (size_t p = p0; p < p1; p++) {
            size_t h = p * NR;
            __m512 v0 = _mm512_fmsub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x + h))), vs,
                                        _mm512_loadu_ps(shift + h));
            __m512 v1 = _mm512_fmsub_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(x + h + 16))),
                                        vs, _mm512_loadu_ps(shift + h + 16));
            float *dst = P + (p * K + k) * NR;
            _mm512_storeu_ps(dst, v0);
            _mm512_storeu_ps(dst + 16, v1);
            if (sums) { /* in row order per column, as compare's column sums */
                double *s = sums + h;
                _mm512_storeu_pd(s, _mm512_add_pd(_mm512_loadu_pd(s), _mm512_cvtps_pd(_mm512_castps512_ps256(v0))));
                _mm512_storeu_pd(s + 8, _mm512_add_pd(_mm512_loadu_pd(s + 8),
                                                      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v0), 1)))));
                _mm512_storeu_pd(s + 16, _mm512_add_pd(_mm512_loadu_pd(s + 16), _mm512_cvtps_pd(_mm512_castps512_ps256(v1))));
                _mm512_storeu_pd(s + 24, _mm512_add_pd(_mm512_loadu_pd(s + 24),
                                                       _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v1), 1)))));
            }
        }
    }
}
