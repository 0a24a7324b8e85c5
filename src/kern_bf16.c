/*
 * kern_bf16.c — a bf16 GEMM for screening (AVX-512 BF16; compiled with -mavx512f
 * -mavx512bw -mavx512vl -mavx512bf16 -mfma; called only when vx_cpu_bf16() says the CPU has
 * them). See kern.h for the layouts and the error bound a caller may rely on.
 *
 * VDPBF16PS multiplies 16 pairs of bf16 and adds both products to 16 f32 lanes; on this
 * machine's Zen 5 it runs at ~1.9× the multiply-adds of an f32 FMA (measured), which is
 * the whole point. The register tile is MR = 12 rows × NR = 32 columns (24 zmm accumulators,
 * two zmm of B per k-pair, twelve 32-bit broadcasts of A as memory operands). Loops follow
 * the usual GEMM blocking: for a block of MC rows of A and C, each KC slab of B (KC × N bf16,
 * 512 KB for N = 1024) comes from L3, one B micro-panel (KC × NR, 16 KB) stays in L1 while the
 * A micro-panels of the block (MC × KC, 96 KB, in L2) sweep past it, and the block's C
 * (MC × N f32) stays in L2/L3 across the slabs instead of going back to memory for each.
 * Each KC block starts its accumulators at zero and adds them to C once, so a C element is
 * the f32 sum of ⌈K/KC⌉ block sums, each a chain of at most KC roundings.
 */
#include <immintrin.h>
#include <string.h>

#include "kern.h"

#define MR VX_BF16_MR
#define NR VX_BF16_NR
#define KC2 (VX_BF16_KC / 2) /* k-pairs per block */
#ifndef MC_PANELS
#define MC_PANELS 32
#endif
//         /* A panels (of MR rows) per L2 block: 16·12·256·2 B = 96 KB */

/* C[rows][cols] (row stride ldc) = or += the MR×NR tile of a[kc][MR] · b[kc][NR] (k-pairs). */
static void tile(size_t kc, const uint32_t *a, const uint32_t *b, float *C, size_t ldc, int add, size_t rows,
                 size_t cols) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
    for (size_t k = 0; k < kc; k++, a += MR, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define ROW(i, x0, x1)                                                  \
    do {                                                                \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);           \
        x0 = _mm512_dpbf16_ps(x0, ai, b0);                              \
        x1 = _mm512_dpbf16_ps(x1, ai, b1);                              \
    } while (0)
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31);
        ROW(4, c40, c41); ROW(5, c50, c51); ROW(6, c60, c61); ROW(7, c70, c71);
        ROW(8, c80, c81); ROW(9, c90, c91); ROW(10, ca0, ca1); ROW(11, cb0, cb1);
#undef ROW
    }
    __m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 }, { c40, c41 }, { c50, c51 },
                          { c60, c61 }, { c70, c71 }, { c80, c81 }, { c90, c91 }, { ca0, ca1 }, { cb0, cb1 } };
    __mmask16 m0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    for (size_t i = 0; i < rows; i++) {
        float *c = C + i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

void vx_bf16_gemm_avx512(float *C, size_t ldc, const uint32_t *Ap, const uint32_t *Bp, size_t M, size_t N,
                         size_t K) {
    size_t kp = (K + 1) / 2, pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    for (size_t ic = 0; ic < pm; ic += MC_PANELS) {
        size_t ie = ic + MC_PANELS < pm ? ic + MC_PANELS : pm;
        for (size_t pc = 0; pc < kp; pc += KC2) {
            size_t kc = kp - pc < KC2 ? kp - pc : KC2;
            for (size_t jr = 0; jr < pn; jr++) {
                const uint32_t *b = Bp + (jr * kp + pc) * NR;
                size_t cols = N - jr * NR < NR ? N - jr * NR : NR;
                for (size_t ir = ic; ir < ie; ir++) {
                    size_t rows = M - ir * MR < MR ? M - ir * MR : MR;
                    tile(kc, Ap + (ir * kp + pc) * MR, b, C + ir * MR * ldc + jr * NR, ldc, pc > 0, rows, cols);
                }
            }
        }
    }
}

/* Rows [0, M) of X (f32, row stride ldx) into the packed A layout; err2[r] = Σ (x − x̂)² and
 * norm2[r] = Σ x̂² (f32 lanes, then double: relative error below 2^-15 for K ≤ 2^20). The
 * conversion is VCVTNE2PS2BF16 (nearest even); values below 2^-125 in magnitude are zeroed
 * first, as vx_bf16_bits does, so both give the same bits. */
void vx_bf16_pack_a_avx512(uint32_t *Ap, const float *X, size_t ldx, size_t M, size_t K, double *err2,
                           double *norm2) {
    size_t kp = (K + 1) / 2;
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 tiny = _mm512_set1_ps(0x1p-125f);
    const __m512i hi16 = _mm512_set1_epi32((int)0xffff0000u);
    for (size_t p0 = 0; p0 < M; p0 += MR) {
        size_t rows = M - p0 < MR ? M - p0 : MR;
        uint32_t *P = Ap + (p0 / MR) * kp * MR;
        __m512 e[MR], n[MR];
        for (size_t i = 0; i < rows; i++) e[i] = n[i] = _mm512_setzero_ps();
        for (size_t k = 0; k < K; k += 32) {
            uint32_t t[MR][16];
            __mmask16 m0 = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
            __mmask16 m1 = K - k >= 32 ? 0xffff : K - k <= 16 ? 0 : (__mmask16)((1u << (K - k - 16)) - 1);
            for (size_t i = 0; i < rows; i++) {
                const float *x = X + (p0 + i) * ldx + k;
                __m512 v0 = _mm512_maskz_loadu_ps(m0, x), v1 = _mm512_maskz_loadu_ps(m1, x + 16);
                v0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v0), tiny, _CMP_GE_OQ), v0);
                v1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v1), tiny, _CMP_GE_OQ), v1);
                __m512i b = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
                __m512 xe = _mm512_permutex2var_ps(v0, ev, v1), xo = _mm512_permutex2var_ps(v0, od, v1);
                __m512 he = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
                __m512 ho = _mm512_castsi512_ps(_mm512_and_si512(b, hi16));
                __m512 de = _mm512_sub_ps(xe, he), dd = _mm512_sub_ps(xo, ho);
                e[i] = _mm512_fmadd_ps(de, de, _mm512_fmadd_ps(dd, dd, e[i]));
                n[i] = _mm512_fmadd_ps(he, he, _mm512_fmadd_ps(ho, ho, n[i]));
                _mm512_storeu_si512(t[i], b);
            }
            size_t kk = k / 2, np = kp - kk < 16 ? kp - kk : 16;
            for (size_t j = 0; j < np; j++)
                for (size_t i = 0; i < rows; i++) P[(kk + j) * MR + i] = t[i][j];
        }
        for (size_t i = 0; i < rows; i++) {
            float a[16], b[16];
            _mm512_storeu_ps(a, e[i]);
            _mm512_storeu_ps(b, n[i]);
            double se = 0, sn = 0;
            for (int j = 0; j < 16; j++) { se += a[j]; sn += b[j]; }
            err2[p0 + i] = se;
            norm2[p0 + i] = sn;
        }
    }
}
