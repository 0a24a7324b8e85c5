/*
 * kern_bf16.c — a bf16 GEMM for screening (AVX-512 BF16; compiled with -mavx512f
 * -mavx512bw -mavx512vl -mavx512bf16 -mfma; called only when vx_cpu_bf16() says the CPU has
 * them). See kern.h for the layouts and the error bound a caller may rely on.
 *
 * VDPBF16PS multiplies 16 pairs of bf16 and adds both products to 16 f32 lanes: about
 * twice the multiply-adds of an f32 FMA per instruction, which is the whole point. The register tile is MR = 12 rows × NR = 32 columns (24 zmm accumulators,
 * two zmm of B per k-pair, twelve 32-bit broadcasts of A as memory operands). Loops follow
 * the usual GEMM blocking: for a block of MC rows of A and C, each KC slab of B (KC × N bf16,
 * 1 MB for N = 1024) comes from L3, one B micro-panel (KC × NR, 32 KB) stays in L1 while the
 * A micro-panels of the block (MC × KC, 384 KB, in L2) sweep past it, and the block's C
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
#define MC_PANELS 32         /* A panels (of MR rows) per L2 block: 384 rows × KC × 2 B = 384 KB */
_Static_assert(KC2 % 16 == 0, "a 16-pair group of the packers must not straddle two KC blocks");

/* C[rows][cols] (row stride ldc) = or += the MR×NR tile of a[MR][kc] · b[kc][NR] (k-pairs). */
static void tile(size_t kc, const uint32_t *a, const uint32_t *b, float *C, size_t ldc, int add, size_t rows,
                 size_t cols) {
    /* rows 0-2, 3-5, 6-8, 9-11 from four bases and one stride (x86 scaled addressing) */
    const uint32_t *a0 = a, *a3 = a + 3 * kc, *a6 = a + 6 * kc, *a9 = a + 9 * kc;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
    for (size_t k = 0; k < kc; k++, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define ROW(p, i, x0, x1)                                               \
    do {                                                                \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)p[k + i * kc]);  \
        x0 = _mm512_dpbf16_ps(x0, ai, b0);                              \
        x1 = _mm512_dpbf16_ps(x1, ai, b1);                              \
    } while (0)
        ROW(a0, 0, c00, c01); ROW(a0, 1, c10, c11); ROW(a0, 2, c20, c21); ROW(a3, 0, c30, c31);
        ROW(a3, 1, c40, c41); ROW(a3, 2, c50, c51); ROW(a6, 0, c60, c61); ROW(a6, 1, c70, c71);
        ROW(a6, 2, c80, c81); ROW(a9, 0, c90, c91); ROW(a9, 1, ca0, ca1); ROW(a9, 2, cb0, cb1);
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
                    tile(kc, Ap + ir * kp * MR + pc * MR, b, C + ir * MR * ldc + jr * NR, ldc, pc > 0, rows, cols);
                }
            }
        }
    }
}

/* 32 values of one row (v0, v1) → 16 k-pair words in t, and their rounding error and
 * square sums added to e and n. Values below 2^-125 in magnitude are zeroed first, as
 * vx_bf16_bits does, so both give the same bits; the conversion is VCVTNE2PS2BF16 (nearest
 * even). */
static inline void pack32(__m512 v0, __m512 v1, uint32_t *t, __mmask16 mt, __m512 *e, __m512 *n) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 tiny = _mm512_set1_ps(0x1p-125f);
    v0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v0), tiny, _CMP_GE_OQ), v0);
    v1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v1), tiny, _CMP_GE_OQ), v1);
    __m512i b = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    __m512 xe = _mm512_permutex2var_ps(v0, ev, v1), xo = _mm512_permutex2var_ps(v0, od, v1);
    __m512 he = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
    __m512 ho = _mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u)));
    __m512 de = _mm512_sub_ps(xe, he), dd = _mm512_sub_ps(xo, ho);
    *e = _mm512_fmadd_ps(de, de, _mm512_fmadd_ps(dd, dd, *e));
    *n = _mm512_fmadd_ps(he, he, _mm512_fmadd_ps(ho, ho, *n));
    _mm512_mask_storeu_epi32(t, mt, b);
}

static inline __mmask16 tail16(size_t left) { return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1); }

static void sums_out(const __m512 *e, const __m512 *n, size_t rows, double *err2, double *norm2) {
    for (size_t i = 0; i < rows; i++) {
        float a[16], b[16];
        _mm512_storeu_ps(a, e[i]);
        _mm512_storeu_ps(b, n[i]);
        double se = 0, sn = 0;
        for (int j = 0; j < 16; j++) { se += a[j]; sn += b[j]; }
        err2[i] = se;
        norm2[i] = sn;
    }
}

/* Rows [0, M) into the packed A layout, with their err2/norm2: row r is X[r·ldx …] (f32)
 * when X is given, else H[r][…] · scale − mu (f16, one fused multiply-subtract). The test
 * on X is one predictable branch per 32 values of a row. */
static void pack_rows(uint32_t *Ap, const float *X, size_t ldx, const uint16_t *const *H, float scale,
                             const float *mu, size_t M, size_t K, double *err2, double *norm2) {
    size_t kp = (K + 1) / 2;
    const __m512 vs = _mm512_set1_ps(scale);
    for (size_t p0 = 0; p0 < M; p0 += MR) {
        size_t rows = M - p0 < MR ? M - p0 : MR;
        __m512 e[MR], n[MR];
        for (size_t i = 0; i < rows; i++) e[i] = n[i] = _mm512_setzero_ps();
        for (size_t k = 0; k < K; k += 32) {
            /* 16 k-pairs from kk = k/2: never across a KC block (KC2 is a multiple of 16) */
            size_t kk = k / 2, kb = kk / KC2, kc = kp - kb * KC2 < KC2 ? kp - kb * KC2 : KC2;
            uint32_t *t = Ap + p0 * kp + kb * MR * KC2 + kk - kb * KC2;
            __mmask16 m0 = tail16(K - k), m1 = K - k <= 16 ? 0 : tail16(K - k - 16), mt = tail16(kp - kk);
            __m512 u0 = _mm512_setzero_ps(), u1 = u0;
            if (!X) u0 = _mm512_maskz_loadu_ps(m0, mu + k), u1 = _mm512_maskz_loadu_ps(m1, mu + k + 16);
            for (size_t i = 0; i < rows; i++) {
                __m512 v0, v1;
                if (X) {
                    const float *x = X + (p0 + i) * ldx + k;
                    v0 = _mm512_maskz_loadu_ps(m0, x);
                    v1 = _mm512_maskz_loadu_ps(m1, x + 16);
                } else {
                    const uint16_t *h = H[p0 + i] + k;
                    v0 = _mm512_fmsub_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, h)), vs, u0);
                    v1 = _mm512_fmsub_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, h + 16)), vs, u1);
                }
                pack32(v0, v1, t + i * kc, mt, &e[i], &n[i]);
            }
        }
        sums_out(e, n, rows, err2 + p0, norm2 + p0);
    }
}

void vx_bf16_pack_a_avx512(uint32_t *Ap, const float *X, size_t ldx, size_t M, size_t K, double *err2,
                           double *norm2) {
    pack_rows(Ap, X, ldx, NULL, 1.0f, NULL, M, K, err2, norm2);
}

void vx_bf16_pack_a_f16(uint32_t *Ap, const uint16_t *const *rows, size_t M, size_t K, float scale,
                        const float *mu, double *err2, double *norm2) {
    pack_rows(Ap, NULL, 0, rows, scale, mu, M, K, err2, norm2);
}

/* Σ a·b, Σ a², Σ b² in double for a = z − cz, b = y − my over n (z, y f32; cz, my double):
 * the screened cosines of compare's all-token pass, eight lanes at a time. */
void vx_bf16_cos_parts(const float *z, const float *y, const double *cz, const double *my, size_t n, double out[3]) {
    __m512d ab = _mm512_setzero_pd(), aa = ab, bb = ab;
    size_t h = 0;
    for (; h + 8 <= n; h += 8) {
        __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(z + h)), _mm512_loadu_pd(cz + h));
        __m512d b = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(y + h)), _mm512_loadu_pd(my + h));
        ab = _mm512_fmadd_pd(a, b, ab);
        aa = _mm512_fmadd_pd(a, a, aa);
        bb = _mm512_fmadd_pd(b, b, bb);
    }
    double s[3] = { _mm512_reduce_add_pd(ab), _mm512_reduce_add_pd(aa), _mm512_reduce_add_pd(bb) };
    for (; h < n; h++) {
        double a = (double)z[h] - cz[h], b = (double)y[h] - my[h];
        s[0] += a * b;
        s[1] += a * a;
        s[2] += b * b;
    }
    out[0] = s[0];
    out[1] = s[1];
    out[2] = s[2];
}
