/*
 * gram.h — the extractor's Gram products of bf16 vectors (gram.c; the kernel is
 * kern_bsyrk.c). A BF16 checkpoint's values are bf16 numbers, whose products are exact in
 * f32: VDPBF16PS forms the sums vx_sgram_* (linalg.h) forms, in another order, faster.
 */
#ifndef VX_SRC_GRAM_H
#define VX_SRC_GRAM_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* vx_sgram_*'s sums for n vectors whose values are bf16 numbers (a BF16 checkpoint's), as rows
 * X [n][H] or, by_column, the columns of X [H][ld]: G += XᵀX (or X Xᵀ) with VDPBF16PS on
 * `threads` threads (src/gram.c), P scratch of vx_bgram_words(H, n) words. Returns 1, G
 * untouched, when that path does not apply (vx_bgram_words returned 0, or a value is not a
 * bf16 number): then use vx_sgram_*. The result does not depend on `threads`. */
size_t vx_bgram_words(size_t H, size_t n);
/* 1 when this run forms Grams of BF16 weights on VDPBF16PS: the CPU has AVX-512 BF16 and
 * VINDEX_GRAM is not "blas" (vx_bgram_words also asks H to be a multiple of 32). */
int vx_bgram_cpu(void);
int vx_bgram(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads);
/* 1 when every vector of the sets is stored as BF16 (read as stored) or as MXFP4 (an E2M1
 * number, two significant bits, times a power of two), so that each value read is a bf16
 * number (the pack checks it; an MXFP4 value below 2^-126, a scale exponent under 2, is a
 * bf16 subnormal, which VDPBF16PS takes as zero: kern.h's bound); 0 for no sets. */
int vx_vecsets_bf16(const vx_vecset *sets, int nsets);

/*
 * Block-scaled vectors: an FP8 checkpoint's values are stored numbers times scales
 * (FP8_BLOCK, FP8_TENSOR), and every FP8 number is a bf16 number. Their Gram is
 * Σ_slabs D (QᵀQ) D, where Q holds a slab's stored numbers and D its scales, constant over
 * the slab's vectors and over 32 consecutive h: VDPBF16PS sums QᵀQ exactly per product,
 * and each slab's sums enter G times their two scales (kern.h).
 *
 * vx_vecset_scales: for vectors c0..c0+nc of `s`, the slab length (even, in vectors) and
 * the scales sc [⌈nc/slab⌉][H/32], each exactly the factor vx_tensor_read applies there.
 * Returns 0 when the set's geometry does not fit (not FP8 with block or tensor scales; a
 * slab or a 32-value group that would straddle a scale block; interleaved columns): then
 * load and multiply as for any other dtype. sc may be NULL to ask only whether it fits.
 * vx_bgram_scaled: G += Σ (q·s)(q·s)ᵀ from X holding the stored numbers (vx_tensor_read_stored),
 * laid out as for vx_bgram; same return values.
 */
#define VX_SCALE_GROUP 32
int vx_vecset_scales(float *sc, size_t *slab, const vx_vecset *s, uint64_t c0, size_t nc, size_t H);
/* Which Gram a matrix's sets take when the CPU has AVX-512 BF16 (vx_bgram_words): VX_GRAM_BF16
 * (vx_vecsets_bf16), VX_GRAM_SCALED (every set's first chunk of `chunk` vectors fits
 * vx_vecset_scales; a later chunk that does not is taken as VX_GRAM_BLAS), or VX_GRAM_BLAS.
 * extract decides by it, and plan counts its time by it. */
enum { VX_GRAM_BLAS, VX_GRAM_BF16, VX_GRAM_SCALED };
int vx_gram_path(const vx_vecset *sets, int nsets, size_t H, size_t chunk);
int vx_bgram_scaled(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads,
                    const float *sc, size_t slab);

#endif
