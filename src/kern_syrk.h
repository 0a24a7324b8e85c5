/*
 * kern_syrk.h — what the two SYRK kernels share (kern_syrk.c: f32 values by FMA;
 * kern_bsyrk.c: bf16 pairs by VDPBF16PS): the walk of one block of rows over the column
 * panels, and the 8×32 tile's update of C. Included only by files compiled for AVX-512 F.
 *
 * P holds 4-byte words (f32 values, or bf16 pairs) in panels of 32 columns,
 * P[(p·K + k)·32 + c], K steps each; a tile adds kc steps of a (8 of a panel's columns)
 * times b (a whole panel) to C[8][32].
 */
#ifndef VX_SRC_KERN_SYRK_H
#define VX_SRC_KERN_SYRK_H

#include <immintrin.h>
#include <stdint.h>

#include "kern.h"

#define VX_SYRK_NR 32
#define VX_SYRK_MR 8
_Static_assert(VX_SYRK_MC % VX_SYRK_NR == 0, "a row block must be whole panels");

typedef void vx_syrk_tile_fn(size_t kc, const uint32_t *a, const uint32_t *b, float *C, size_t ldc, float s);

/* C[8][32] (row stride ldc) += s·acc, one rounding per element (s = 1 adds acc exactly as
 * an addition would). */
static inline void vx_syrk_tile_add(float *C, size_t ldc, const __m512 acc[VX_SYRK_MR][2], float s) {
    const __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < VX_SYRK_MR; i++) {
        float *c = C + i * ldc;
        _mm512_storeu_ps(c, _mm512_fmadd_ps(acc[i][0], vs, _mm512_loadu_ps(c)));
        _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(acc[i][1], vs, _mm512_loadu_ps(c + 16)));
    }
}

/* Rows [i0, i0 + VX_SYRK_MC) of the upper triangle of C [H][H] += PᵀP, in slabs of at most
 * kc_max steps: for each slab, each panel at or right of the block meets the block's rows
 * up to its last column (so the diagonal blocks' tiles also write left of the diagonal).
 * With sc (block-scaled vectors, gram.h), slab b's sums enter C times sc[b·H/32 + i/32] ·
 * sc[b·H/32 + j/32] for entry (i, j); NULL: times 1. Scaled slabs are short (a scale
 * block's vectors), so a tile runs all of them, its C block staying in L1, before the next
 * tile, rather than sweeping the whole row block's C once per slab (doc/benchmarks.md,
 * "FP8 Grams"). Each entry gains the slab sums in slab order either way. */
static inline void vx_syrk_walk(float *C, size_t H, const uint32_t *P, size_t K, size_t i0, size_t kc_max,
                                vx_syrk_tile_fn *tile, const float *sc) {
    const size_t NR = VX_SYRK_NR;
    size_t np = H / NR, ie = i0 + VX_SYRK_MC < H ? i0 + VX_SYRK_MC : H, span = sc ? K : kc_max;
    for (size_t p0 = 0; p0 < K; p0 += span)
        for (size_t jp = i0 / NR; jp < np; jp++) {
            size_t re = jp * NR + NR < ie ? jp * NR + NR : ie;
            for (size_t ir = i0; ir < re; ir += VX_SYRK_MR)
                for (size_t pc = p0; pc < K && pc < p0 + span; pc += kc_max) {
                    size_t kc = K - pc < kc_max ? K - pc : kc_max;
                    const float *s = sc ? sc + pc / kc_max * np : NULL;
                    tile(kc, P + ((ir / NR) * K + pc) * NR + ir % NR, P + (jp * K + pc) * NR, C + ir * H + jp * NR, H,
                         s ? s[ir / NR] * s[jp] : 1.0f);
                }
        }
}

#endif
