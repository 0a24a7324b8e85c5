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

typedef void vx_syrk_tile_fn(size_t kc, const uint32_t *a, const uint32_t *b, float *C, size_t ldc);

/* C[8][32] (row stride ldc) += acc. */
static inline void vx_syrk_tile_add(float *C, size_t ldc, const __m512 acc[VX_SYRK_MR][2]) {
    for (size_t i = 0; i < VX_SYRK_MR; i++) {
        float *c = C + i * ldc;
        _mm512_storeu_ps(c, _mm512_add_ps(acc[i][0], _mm512_loadu_ps(c)));
        _mm512_storeu_ps(c + 16, _mm512_add_ps(acc[i][1], _mm512_loadu_ps(c + 16)));
    }
}

/* Rows [i0, i0 + VX_SYRK_MC) of the upper triangle of C [H][H] += PᵀP, in slabs of at most
 * kc_max steps: for each slab, each panel at or right of the block meets the block's rows
 * up to its last column (so the diagonal blocks' tiles also write left of the diagonal). */
static inline void vx_syrk_walk(float *C, size_t H, const uint32_t *P, size_t K, size_t i0, size_t kc_max,
                                vx_syrk_tile_fn *tile) {
    const size_t NR = VX_SYRK_NR;
    size_t np = H / NR, ie = i0 + VX_SYRK_MC < H ? i0 + VX_SYRK_MC : H;
    for (size_t pc = 0; pc < K; pc += kc_max) {
        size_t kc = K - pc < kc_max ? K - pc : kc_max;
        for (size_t jp = i0 / NR; jp < np; jp++) {
            const uint32_t *b = P + (jp * K + pc) * NR;
            size_t re = jp * NR + NR < ie ? jp * NR + NR : ie;
            for (size_t ir = i0; ir < re; ir += VX_SYRK_MR)
                tile(kc, P + ((ir / NR) * K + pc) * NR + ir % NR, b, C + ir * H + jp * NR, H);
        }
    }
}

#endif
