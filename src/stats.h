/*
 * stats.h — the pieces of vx_stats shared by its files (src-internal): the covariance
 * pass over an f16 matrix (stats_cov.c, used by the embedding statistics and by the causal
 * metric), distribution summaries, and the two halves of vx_stats_compute.
 */
#ifndef VX_SRC_STATS_H
#define VX_SRC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "vx_stats.h"
#include "vxindex.h"

/*
 * One pass over X [n][H] f16 (spec/stats.md §3.4): column means and population variances
 * (double), the population covariance C [H][H] (double, the upper triangle, row-major;
 * NULL: not computed), each row's Σx² (f32 in the kernels' canonical
 * order; NULL: not kept), and for D sample rows S [D][H] (f32, unit length or zero, ids
 * sid[D]) each one's largest cosine with any other row (nn1 [D], §3.7). Everything is in
 * the stored units (no embed_scale). With `release`, X's pages leave the resident set
 * behind the pass.
 */
typedef struct vx_covpass {
    const uint16_t *X;
    size_t n, H;
    int release;
    const float *S;
    const uint32_t *sid;
    size_t D;
    double *mean, *var;   /* [H] out */
    double *C;            /* [H][H] out, or NULL */
    float *ss;            /* [n] out, or NULL */
    float *nn1;           /* [D] out (D > 0) */
} vx_covpass;
int vx_cov_run(const vx_covpass *p, vx_err *err);

/* The near-duplicate sample's nearest neighbours (stats_nn1.c, §3.7), fed block by block:
 * S [D][H] unit sample rows (sid their row ids, < n), blocks of at most B rows centred on
 * shift, T threads. vx_nn1_block takes the block's f16 rows X, their centred f32 copy Y and
 * canonical Σx² ss, from row r0; vx_nn1_result gives each sample's best cosine (-INFINITY
 * when no other row is non-zero). VINDEX_STATS_NN1=exact|f32 forces a path (tests). */
typedef struct vx_nn1 vx_nn1;
vx_nn1 *vx_nn1_new(const float *S, const uint32_t *sid, size_t D, size_t n, size_t H, size_t B, const float *shift,
                   int T);
int vx_nn1_block(vx_nn1 *q, const uint16_t *X, const float *Y, const float *ss, size_t r0, size_t m);
void vx_nn1_result(const vx_nn1 *q, float *nn1);
void vx_nn1_free(vx_nn1 *q);

/* Summary of v[n] (sorted in place, ascending): count, mean, population std, extremes,
 * spec/stats.md's percentiles with numpy's linear interpolation. n = 0 gives NaNs. */
void vx_dist_of_floats(vx_dist *d, float *v, size_t n);
/* Ascending sort of n floats (radix on the bits; NaN must not occur). */
int vx_sort_floats(float *v, size_t n);

/* The two halves of vx_stats_compute. */
/* A job vx_stats_embeddings runs on a thread of its own beside its eigensolver, once the
 * pass over the matrix is done, and joins before it returns (inline when no thread can
 * be made). */
typedef struct vx_stats_side { void *(*fn)(void *); void *arg; } vx_stats_side;
int vx_stats_embeddings(vx_stats *s, const vx_index *vx, const vx_stats_opts *o, const vx_stats_side *side, vx_err *err);
int vx_stats_layers(vx_stats *s, const vx_index *vx, const vx_stats_opts *o, vx_err *err);

/* Monotonic seconds, and a timing line on stderr when VINDEX_STATS_TIMING is set. */
void vx_stats_phase(const char *name);

#endif
