/*
 * kern.h — the scan kernels of the query engine: f16 rows read straight from the map,
 * converted to f32 and reduced against an f32 query. One scalar version (any x86-64 or
 * other CPU) and two SIMD versions (AVX2+F16C+FMA, AVX-512), chosen at run time.
 *
 * Every version computes bit-identical results because they all follow one *canonical
 * accumulation order* (spec/queries.md §2):
 *   - a row of H values is processed in blocks of 16, the last block zero-padded;
 *   - 16 f32 lanes; lane j accumulates the elements i ≡ j (mod 16) in increasing i, each
 *     step one fused multiply-add (round once);
 *   - the 16 lanes are reduced pairwise: for w = 8, 4, 2, 1: a[j] = a[j] + a[j + w].
 * f16 → f32 conversion is exact in every version, so the only rounding is in the FMAs and
 * the reduction, and those are the same operations in the same order everywhere.
 *
 * Kernels never see a file: they take typed arrays and lengths.
 */
#ifndef VX_SRC_KERN_H
#define VX_SRC_KERN_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "vindex.h"

#define VX_LANES 16
/* How far ahead in each row the SIMD scan kernels ask for cache lines. They stream several
 * rows at once with enough arithmetic per line that the hardware prefetcher alone keeps
 * too few misses in flight: a scan of rows in DRAM ran at 15-19 GB/s per core against
 * 25-34 GB/s for a plain sum (doc/benchmarks.md, "Query processes"). */
#define VX_PREFETCH_BYTES 1024

/* H rounded up to a multiple of VX_LANES: the length of a padded query. */
static inline size_t vx_kern_pad(size_t H) { return (H + VX_LANES - 1) / VX_LANES * VX_LANES; }

/* The canonical pairwise reduction of 16 lanes (shared so that every version does it). */
static inline float vx_kern_reduce16(float a[VX_LANES]) {
    for (int w = VX_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) a[j] = a[j] + a[j + w];
    return a[0];
}

/*
 * dot_ss: for each of the n rows x_r of X [n][H] (f16, row stride H):
 *   dot[r] = Σ q_i·x_ri and ss[r] = Σ x_ri², both f32 in the canonical order.
 * q is f32 [vx_kern_pad(H)], zero beyond H (the caller pads it once).
 *
 * cvt_ss: Y [n][H] f32 = X converted (row stride H, exact), and ss[r] as above — the same
 * ss as dot_ss computes, so the BLAS path and the scan path agree on row norms.
 */
typedef void (*vx_dot_ss_fn)(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q);
typedef void (*vx_cvt_ss_fn)(float *Y, float *ss, const uint16_t *X, size_t n, size_t H);

typedef struct vx_kern {
    const char *name;    /* "scalar", "avx2", "avx512" */
    vx_dot_ss_fn dot_ss;
    vx_cvt_ss_fn cvt_ss;
} vx_kern;

void vx_dot_ss_scalar(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q);
void vx_cvt_ss_scalar(float *Y, float *ss, const uint16_t *X, size_t n, size_t H);
void vx_dot_ss_avx2(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q);
void vx_cvt_ss_avx2(float *Y, float *ss, const uint16_t *X, size_t n, size_t H);
void vx_dot_ss_avx512(float *dot, float *ss, const uint16_t *X, size_t n, size_t H, const float *q);
void vx_cvt_ss_avx512(float *Y, float *ss, const uint16_t *X, size_t n, size_t H);

/*
 * bf16 GEMM, for screening only (compare's all-token pass, spec/compare.md §6). Inputs are
 * rounded to bf16 (round to nearest even; |x| < 2^-125 becomes +0, so the CPU's treatment of
 * bf16 denormals never matters) and multiplied with f32 accumulation:
 *   C [M][N] f32 (row stride ldc) = Â [M][K] · B̂ [K][N].
 * Packed layouts, k-pairs (k, k+1) in one 32-bit word, low half = even k; K is padded to
 * even with zeros (kp = (K + 1) / 2 pairs):
 *   A: panels of VX_BF16_MR rows, each cut into blocks of KC2 = VX_BF16_KC / 2 k-pairs (the
 *      last one kc = kp − kb·KC2 when shorter), row-major within a block, so that packing
 *      stores a row's words in runs rather than transposing them:
 *      Ap[panel·MR·kp + kb·MR·KC2 + i·kc + kk − kb·KC2] for kb = kk / KC2  (rows past M: anything)
 *   B: panels of VX_BF16_NR columns: Bp[(panel·kp + kk)·NR + j]  (columns past N: zero)
 * Error: each C element is Σ_k â_k·b̂_k (products exact in f32) summed with at most
 * VX_BF16_KC + ⌈K/VX_BF16_KC⌉ roundings, so |C − exact| ≤ γ·Σ_k |â_k·b̂_k| with
 * γ = n·2^-24 / (1 − n·2^-24) for that n, plus at most K·2^-126 from flushed tiny products.
 */
#define VX_BF16_MR 12
#define VX_BF16_NR 32
#define VX_BF16_KC 512
/* 1 when the CPU runs AVX-512 BF16 (and F, BW, VL). */
int vx_cpu_bf16(void);
/* The bf16 nearest to f (ties to even), as its 16 bits; |f| < 2^-125 → +0. f finite. */
static inline uint16_t vx_bf16_bits(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7f800000u) < 0x01000000u) return 0;
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float vx_bf16_float(uint16_t b) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}
/* Words of a packed A of M rows / B of N columns, for K. */
size_t vx_bf16_a_words(size_t M, size_t K);
size_t vx_bf16_b_words(size_t N, size_t K);
/* Row r of A from x[K] f32: writes its bf16 values into Ap; *err2 = Σ (x − x̂)², *norm2 =
 * Σ x̂², both in double (exact up to double rounding). */
void vx_bf16_pack_a_row(uint32_t *Ap, size_t r, const float *x, size_t K, double *err2, double *norm2);
/* All of B from its transpose Bt [N][K] f32 (row n = column n of B). */
void vx_bf16_pack_bt(uint32_t *Bp, const float *Bt, size_t N, size_t K);
/* The same for rows [0, M) of X (row stride ldx) at once, with AVX-512 BF16: the same bits
 * as vx_bf16_pack_a_row, err2 and norm2 [M] summed in f32 lanes (relative error below
 * K·2^-24 / 16). Only call when vx_cpu_bf16(). */
void vx_bf16_pack_a_avx512(uint32_t *Ap, const float *X, size_t ldx, size_t M, size_t K, double *err2,
                           double *norm2);
/* The same straight from f16 rows: row r is rows[r][0..K) · scale − mu (one fused
 * multiply-subtract, as F16C code computes it), then rounded to bf16. */
void vx_bf16_pack_a_f16(uint32_t *Ap, const uint16_t *const *rows, size_t M, size_t K, float scale,
                        const float *mu, double *err2, double *norm2);
/* out = {Σ a·b, Σ a², Σ b²} in double, a = z − cz, b = y − my (length n), AVX-512; the sums
 * order differs from a scalar loop's (eight lanes), so use it where rounding at 1e-15 does
 * not matter. Only call when vx_cpu_bf16(). */
void vx_bf16_cos_parts(const float *z, const float *y, const double *cz, const double *my, size_t n, double out[3]);
/* The GEMM on one thread; rows of Ap from panel 0. Only call when vx_cpu_bf16(). */
void vx_bf16_gemm_avx512(float *C, size_t ldc, const uint32_t *Ap, const uint32_t *Bp, size_t M, size_t N,
                         size_t K);

/*
 * f32 SYRK of compare's PCA covariance (kern_syrk.c; AVX-512 F + F16C, only when
 * vx_cpu_avx512()). K rows of H values (H a multiple of 32) are packed into P in panels
 * of 32 columns, P[(p·K + k)·32 + c] = row k's value h = 32p + c, as
 * rows[k][h]·scale − shift[h] (f16 in, one fused multiply-subtract); the pack of panels
 * [p0, p1) also adds those values to sums[h] in double, row by row (so each column's sum
 * has the order of a plain loop over the rows). vx_syrk_rows_avx512 then adds PᵀP to rows
 * [i0, i0 + VX_SYRK_MC) of the row-major upper triangle of C [H][H] (entries left of the
 * diagonal within a 32×32 diagonal block are written too; the rest of the lower triangle
 * is not touched). Each C entry gains the f32 sum of ⌈K/512⌉ partial sums of at most 512
 * products.
 */
#define VX_SYRK_MC 256
void vx_syrk_pack_avx512(float *P, const uint16_t *const *rows, size_t K, size_t p0, size_t p1, float scale,
                         const float *shift, double *sums);
void vx_syrk_rows_avx512(float *C, size_t H, const float *P, size_t K, size_t i0);
/* 1 when the CPU runs AVX-512 F/BW/VL code. */
int vx_cpu_avx512(void);

/*
 * The Gram product of K vectors of H values that are bf16 numbers held in f32 (kern_bsyrk.c;
 * AVX-512 BF16, only when vx_cpu_bf16(); H a multiple of 32). The vectors are packed in
 * k-pairs, kp = ⌈K/2⌉ (an odd K padded with a zero vector), in panels of 32 values:
 * P[(p·kp + kk)·32 + c] = value h = 32p + c of vectors 2kk (low half) and 2kk + 1 (high half),
 * vx_bsyrk_words(H, K) words. The packs take vectors as rows X [K][H] or as the columns of
 * M [H][ld], panels [p0, p1) of them, and return nonzero, P then unusable, when a value is
 * not a bf16 number (its low 16 bits not zero). vx_bsyrk_rows_avx512 then adds PᵀP to rows
 * [i0, i0 + VX_SYRK_MC) of the row-major upper triangle of C [H][H] as
 * vx_syrk_rows_avx512 does (entries left of the diagonal within a 32×32 diagonal block are
 * written too). Products are exact in f32; each C entry gains the f32 sum of ⌈kp/512⌉
 * partial sums of at most 1,024 products, except that VDPBF16PS takes values below 2^-126
 * in magnitude as zero and flushes such results (at most K·2^-126 in all). With sc
 * (block-scaled vectors: value = stored number · scale, the scale constant over slabs of
 * 2·slab2 consecutive vectors and 32 consecutive h), P holds the stored numbers and slab b
 * of k-pairs [b·slab2, (b+1)·slab2) enters C[i][j] as one f32 sum times sc[b·H/32 + i/32] ·
 * sc[b·H/32 + j/32] (fused, one rounding); sc NULL: slabs of 512 k-pairs, times 1.
 */
static inline size_t vx_bsyrk_words(size_t H, size_t K) { return H * ((K + 1) / 2); }
int vx_bsyrk_pack_rows_avx512(uint32_t *P, const float *X, size_t K, size_t H, size_t p0, size_t p1);
int vx_bsyrk_pack_cols_avx512(uint32_t *P, const float *M, size_t ld, size_t K, size_t p0, size_t p1);
void vx_bsyrk_rows_avx512(float *C, size_t H, const uint32_t *P, size_t kp, size_t i0, const float *sc, size_t slab2);

/*
 * The kernel set in use. The first call chooses: the environment variable VINDEX_KERNEL
 * (scalar | avx2 | avx512) when set and supported by this CPU, else the best the CPU
 * supports (__builtin_cpu_supports). Never NULL.
 */
const vx_kern *vx_kern_active(void);
/* 1 when the CPU runs AVX2 + FMA + F16C code (the f16 conversion kernels). */
int vx_cpu_avx2(void);
/* Test hook: force a kernel set by name ("auto" = best). Returns 0, or -1 when the
 * name is unknown or the CPU lacks the instructions (the active set is unchanged). */
int vx_kern_select(const char *name);

/* SHA-256 compression on SHA-NI (kern_sha.c): n (1..VX_SHA_LANES) states h[i] each absorb
 * nblocks 64-byte blocks from p[i], the streams interleaved so that their rounds fill each
 * other's latency (src/shalanes.h feeds them). Only call when vx_cpu_sha(). */
#define VX_SHA_LANES 3
void vx_sha256_ni_blocks(int n, uint32_t *const h[], const uint8_t *const p[], size_t nblocks);
/* 1 when the CPU has SHA-NI, SSSE3 and SSE4.1. */
int vx_cpu_sha(void);

/* Threads used for large scans: VINDEX_THREADS when set (1..VX_THREADS_MAX), else the
 * online CPUs (at most VX_THREADS_MAX). */
int vx_kern_threads(void);
/* n clamped to 1..VX_THREADS_MAX: every fan-out sizes its per-thread state by that bound. */
static inline int vx_threads_cap(long n) { return n < 1 ? 1 : n > VX_THREADS_MAX ? VX_THREADS_MAX : (int)n; }

/* Run fn on jobs[0..T) (job_size bytes each): T-1 new threads and the caller; a thread
 * that cannot be created, or one past VX_THREADS_MAX, runs its job inline, so results never
 * depend on thread creation. */
void vx_run_parallel(void *(*fn)(void *), void *jobs, size_t job_size, int T);
/* pthread_create for every thread the library starts: the new thread starts on a CPU other
 * than its creator's, then may run on any the process may. Linux would start it on its
 * creator's CPU and move one of the two only when the other CPU's balancer ran, so the two
 * threads of a short scan in a fresh process took turns on one CPU for a good part of it
 * (doc/benchmarks.md, section 9; tests/test_parallel.c counts co-started pairs). */
int vx_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* A size_t tuning knob from the environment variable `name` (decimal), or `def` when
 * unset or malformed. Used for VINDEX_MT_MIN (elements of f16 a scan must cover before
 * it is split across threads) and VINDEX_BLAS_MIN (queries from which a batch goes
 * through sgemm), and by extract for VINDEX_PROJ_TILE_ROWS (the projection's tile
 * height); tests set them to force each path. */
size_t vx_kern_env(const char *name, size_t def);

#endif
