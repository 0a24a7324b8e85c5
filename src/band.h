/*
 * band.h — the second stage of the two-stage tridiagonal reduction: a symmetric band
 * matrix to a tridiagonal one with the same eigenvalues, by bulge chasing (band.c; the
 * steps are band_steps.h, compiled once for any x86-64 and once for AVX-512).
 *
 * LAPACK's ssytrd_sb2st does the same chase, with a BLAS level-2 call per piece of each
 * step on blocks of kd×kd: at kd = 64 most of its time was call overhead and scalar loops
 * (doc/benchmarks.md). Here each step runs as whole 16-lane vectors over a block that stays
 * in L1.
 *
 * Every build gives the same bits: the vectors are GCC/Clang vector extensions (16 floats,
 * which the baseline build carries as four SSE registers), products and sums are never
 * fused (-ffp-contract=off), and a dot product's 16 lanes are added in one fixed pairwise
 * order.
 */
#ifndef VX_SRC_BAND_H
#define VX_SRC_BAND_H

#include <stddef.h>

/* d [n], e [n − 1]: the tridiagonal matrix orthogonally similar to the symmetric band
 * matrix B of half-bandwidth kd given in LAPACK's lower band storage (ab[(i − j) + j·ldab]
 * = B[i][j] for 0 ≤ i − j ≤ kd, ldab ≥ kd + 1; ab is not modified). Returns VX_OK, or
 * VX_ENOMEM, or VX_EUSAGE for n = 0 or ldab ≤ kd. */
int vx_band_tri(float *d, float *e, const float *ab, size_t ldab, size_t n, size_t kd);

/* The two builds of the chase, for tests (vx_band_tri picks the AVX-512 one when the CPU
 * has it). W holds vx_band_work(n, kd) floats. */
size_t vx_band_work(size_t n, size_t kd);
void vx_band_tri_base(float *d, float *e, const float *ab, size_t ldab, size_t n, size_t kd, float *W);
void vx_band_tri_avx512(float *d, float *e, const float *ab, size_t ldab, size_t n, size_t kd, float *W);

#endif
