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
#include <stdint.h>

#define VX_LANES 16

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

/* Threads used for large scans: VINDEX_THREADS when set (1..64), else the online CPUs
 * (at most 64). */
int vx_kern_threads(void);

/* Run fn on jobs[0..T) (job_size bytes each): T-1 new threads and the caller; a thread
 * that cannot be created runs its job inline, so results never depend on thread creation. */
void vx_run_parallel(void *(*fn)(void *), void *jobs, size_t job_size, int T);

/* A size_t tuning knob from the environment variable `name` (decimal), or `def` when
 * unset or malformed. Used for VINDEX_MT_MIN (elements of f16 a scan must cover before
 * it is split across threads) and VINDEX_BLAS_MIN (queries from which a batch goes
 * through sgemm); tests set them to force each path. */
size_t vx_kern_env(const char *name, size_t def);

#endif
