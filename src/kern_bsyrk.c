/*
 * kern_bsyrk.c — the Gram product of vectors whose values are bf16 numbers (a BF16
 * checkpoint's gate and down vectors), with VDPBF16PS (AVX-512 BF16; compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mfma; called only when vx_cpu_bf16()).
 * See kern.h for the layout.
 *
 * Why: the Gram products are a large part of an extraction's arithmetic (N·H² per
 * matrix). The product of two bf16 numbers is exact in f32, so VDPBF16PS, which adds two
 * such products to each of 16 f32 lanes per instruction, forms the same sums as an f32
 * SYRK of the converted values, in another order, in about half the instructions
 * (rates: doc/benchmarks.md, "make bench-extract", and tools/bench_gram).
 *
 * Loops as kern_syrk.c's (kern_syrk.h): for a block of VX_SYRK_MC rows of C and each slab
 * of KC2 k-pairs, each 32-column panel meets the block's rows in tiles of MR = 8 rows × NR =
 * 32 columns (16 zmm accumulators, two zmm of B and eight 32-bit broadcasts of A per k-pair).
 * A C element gains the f32 sum of ⌈kp/KC2⌉ slab sums; which thread computes it does not
 * change the order, so the result does not depend on the thread count. Block-scaled
 * vectors (FP8, gram.h) come in slabs of their scale blocks instead, each slab's sums
 * entering C times its scales.
 */
#include <immintrin.h>

#include "kern_syrk.h"

#define NR VX_SYRK_NR
#define MR VX_SYRK_MR
#define KC2 512 /* k-pairs per slab: a chunk of 1,024 vectors in one, C touched once */

static void tile(size_t kc2, const uint32_t *a, const uint32_t *b, float *C, size_t ldc, float s) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (size_t k = 0; k < kc2; k++, a += NR, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)b), b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + 16));
#define ROW(i, x0, x1)                                                    \
    do {                                                                  \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);             \
        x0 = _mm512_dpbf16_ps(x0, ai, b0);                                \
        x1 = _mm512_dpbf16_ps(x1, ai, b1);                                \
    } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31);
        ROW(4, c40, c41); ROW(5, c50, c51); ROW(6, c60, c61); ROW(7, c70, c71);
#undef ROW
    }
    const __m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
                                { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
    vx_syrk_tile_add(C, ldc, acc, s);
}

void vx_bsyrk_rows_avx512(float *C, size_t H, const uint32_t *P, size_t kp, size_t i0, const float *sc, size_t slab2) {
    vx_syrk_walk(C, H, P, kp, i0, sc ? slab2 : KC2, tile, sc);
}

/* The word of two f32 values that are bf16 numbers: their upper halves, a's low. */
static inline __m512i pair_words(__m512i a, __m512i b) {
    return _mm512_or_si512(_mm512_srli_epi32(a, 16), _mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u)));
}

int vx_bsyrk_pack_rows_avx512(uint32_t *P, const float *X, size_t K, size_t H, size_t p0, size_t p1) {
    const __m512i low = _mm512_set1_epi32(0xffff);
    __m512i lost = _mm512_setzero_si512();
    size_t kp = (K + 1) / 2;
    for (size_t kk = 0; kk < kp; kk++) {
        const float *r0 = X + 2 * kk * H, *r1 = 2 * kk + 1 < K ? r0 + H : NULL;
        for (size_t p = p0; p < p1; p++) {
            __m512i a0 = _mm512_loadu_si512((const void *)(r0 + p * NR)), a1 = _mm512_loadu_si512((const void *)(r0 + p * NR + 16));
            __m512i b0 = r1 ? _mm512_loadu_si512((const void *)(r1 + p * NR)) : _mm512_setzero_si512();
            __m512i b1 = r1 ? _mm512_loadu_si512((const void *)(r1 + p * NR + 16)) : _mm512_setzero_si512();
            lost = _mm512_or_si512(lost, _mm512_and_si512(_mm512_or_si512(_mm512_or_si512(a0, a1), _mm512_or_si512(b0, b1)), low));
            uint32_t *d = P + (p * kp + kk) * NR;
            _mm512_storeu_si512((void *)d, pair_words(a0, b0));
            _mm512_storeu_si512((void *)(d + 16), pair_words(a1, b1));
        }
    }
    return _mm512_test_epi32_mask(lost, lost) != 0;
}

int vx_bsyrk_pack_cols_avx512(uint32_t *P, const float *M, size_t ld, size_t K, size_t p0, size_t p1) {
    /* vector k is column k: a row of M holds, for one h, the values of consecutive vectors,
     * so its pairs are adjacent words; they go to P one k-pair apart (a transpose) */
    static const uint16_t upper[32] = { 1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                        33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63 };
    const __m512i low = _mm512_set1_epi32(0xffff), odd = _mm512_loadu_si512((const void *)upper);
    __m512i lost = _mm512_setzero_si512();
    size_t kp = (K + 1) / 2, K32 = K / 32 * 32;
    for (size_t p = p0; p < p1; p++)
        for (size_t c = 0; c < NR; c++) {
            const float *row = M + (p * NR + c) * ld;
            uint32_t *d = P + p * kp * NR + c;
            size_t k = 0;
            for (; k < K32; k += 32) {
                __m512i x0 = _mm512_loadu_si512((const void *)(row + k)), x1 = _mm512_loadu_si512((const void *)(row + k + 16));
                lost = _mm512_or_si512(lost, _mm512_and_si512(_mm512_or_si512(x0, x1), low));
                /* the upper halves of the 32 values, in order: 16 words of pairs */
                __m512i w = _mm512_permutex2var_epi16(x0, odd, x1);
                uint32_t tmp[16];
                _mm512_storeu_si512((void *)tmp, w);
                for (size_t i = 0; i < 16; i++) d[(k / 2 + i) * NR] = tmp[i];
            }
            for (; k < K; k += 2) {
                uint32_t a, b = 0;
                __builtin_memcpy(&a, row + k, 4);
                if (k + 1 < K) __builtin_memcpy(&b, row + k + 1, 4);
                if ((a | b) & 0xffffu) lost = _mm512_set1_epi32(1);
                d[(k / 2) * NR] = a >> 16 | (b & 0xffff0000u);
            }
        }
    return _mm512_test_epi32_mask(lost, lost) != 0;
}
