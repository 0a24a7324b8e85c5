/*
 * vx_compare.h — compare the embedding spaces (and MLP subspaces) of two vindexes by
 * orthogonal Procrustes on their shared tokens. The procedure, its sampling and every
 * formula are normative in spec/compare.md; this header is the C contract.
 *
 * Conventions are those of vindex.h: int results (0 or a negative VX_E* code), a
 * `vx_err *` that may be NULL, caller-owned `T **out` results released by the matching
 * free function.
 */
#ifndef VX_COMPARE_H
#define VX_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VX_CMP_DEFAULT_ANCHORS 10000
#define VX_CMP_DEFAULT_TEST 5000
#define VX_CMP_DEFAULT_PCA_SAMPLE 50000
#define VX_CMP_DEFAULT_SEED 42
#define VX_CMP_MIN_SHARED 10  /* fewer shared tokens is an error (VX_EMISMATCH) */
#define VX_CMP_MIN_SPLIT 3    /* anchors and test sets need at least this many tokens */
#define VX_CMP_TOP 20         /* best / worst tokens and centred residual eigenvalues reported */
#define VX_CMP_RELATIONAL 1000 /* test tokens used for the relational correlations */
#define VX_CMP_RESIDUAL 200   /* published residual spectrum: eigenvalues reported (at most d) */
#define VX_CMP_SIMPLICES 1000 /* pentachora (5-token simplices) drawn */

typedef struct vx_compare_opts {
    /* Explicit anchor / test tokens as ids of A (NULL = sample). Each must be shared. */
    const uint32_t *anchor_ids; size_t n_anchor_ids;
    const uint32_t *test_ids;   size_t n_test_ids;
    /* Sizes of sampled sets; 0 = default (spec/compare.md §3). Ignored for explicit lists. */
    size_t anchors, test;
    uint64_t seed;          /* default 42 */
    size_t pca_sample;      /* default 50,000; at least 1 */
    /* Layer pairs (A layer, B layer) to mark as matched; NULL = matched relative depth. */
    const uint32_t (*layer_map)[2]; size_t n_layer_map;
    int threads;            /* BLAS threads; 0 = library default */
    /* Map-free similarity (spec/compare.md §10). */
    int no_mapfree;         /* 1: skip it (r->mapfree stays zero) */
    size_t knn;             /* mutual k-NN neighbours; 0 = VX_CMP_DEFAULT_KNN */
    size_t knn_sample;      /* query tokens; 0 = VX_CMP_DEFAULT_KNN_SAMPLE, VX_CMP_KNN_ALL = all */
    const char *save_map;   /* write the fitted map here (spec/map-format.md); NULL = don't */
    /* 1: also return the per-token values behind the statistics (r->arrays, spec/compare.md
     * §11). The all-token pass then also maps exactly the tokens its bf16 screening settled,
     * after the pass it does anyway: every other number is the same bytes as without. */
    int keep_arrays;
} vx_compare_opts;

/* Fill `o` with the defaults above. */
void vx_compare_opts_init(vx_compare_opts *o);

/* Cosine statistics over a set of tokens. `min_id`, `max_id` are A's ids of the extremes. */
typedef struct vx_cmp_stats {
    double mean, std, median, min, max;
    uint32_t min_id, max_id;
    double pct[9];          /* percentiles 1, 5, 10, 25, 50, 75, 90, 95, 99 */
    double frac_above[10];  /* fraction with cosine > 0.0, 0.1, ..., 0.9 (over the same tokens) */
} vx_cmp_stats;

typedef struct vx_cmp_token { uint32_t id_a, id_b; double cosine; } vx_cmp_token;

#define VX_CMP_DEFAULT_KNN 10          /* mutual k-NN: neighbours per token */
#define VX_CMP_DEFAULT_KNN_SAMPLE 1000 /* mutual k-NN: query tokens drawn (spec/compare.md §10) */
#define VX_CMP_KNN_ALL ((size_t)-1)    /* knn_sample: every shared token is a query */

/* Map-free similarity of the two models' shared-token rows (spec/compare.md §10): no PCA,
 * no fitted map; names as in the literature. */
typedef struct vx_cmp_mapfree {
    size_t tokens;                 /* shared tokens the measures are computed on (all) */
    double cka_linear;             /* Kornblith et al. 2019, from Grams */
    double cka_debiased;           /* the same with the unbiased HSIC of Song et al. 2012 */
    double svcca;                  /* Raghu et al. 2017: mean canonical correlation */
    uint32_t svcca_dims_a, svcca_dims_b; /* directions kept for 99 % of each side's variance */
    double procrustes_distance;    /* Williams et al. 2021, centred rows of unit Frobenius norm */
    double procrustes_angular;     /* arccos(‖XᵀY‖_* / (‖X‖_F‖Y‖_F)) */
    double mutual_knn;             /* Huh et al. 2024: mean |NN_A ∩ NN_B| / k */
    uint32_t knn_k;
    size_t knn_queries;            /* query tokens (all, or the seeded sample) */
} vx_cmp_mapfree;

/* Pentachoron geometry (spec §6.1): Cayley–Menger volumes of seeded 5-token simplices in
 * the target's native rows and in the aligned source's rows. NaN when fewer than 2 valid. */
typedef struct vx_cmp_simplices {
    size_t n, valid;        /* drawn; non-degenerate in both spaces (the statistics' set) */
    double native_mean, native_cv, aligned_mean, aligned_cv;
    double volume_ratio;    /* aligned_mean / native_mean */
    double correlation;     /* Pearson, per simplex */
} vx_cmp_simplices;

/*
 * The values the statistics of vx_compare_result are computed from (opts.keep_arrays;
 * spec/compare.md §11), for plots and notebooks. Published definitions unless named
 * _centred. Owned by the result: valid until vx_compare_free.
 */
typedef struct vx_cmp_arrays {
    /* held-out tokens, in test order */
    size_t n_test;
    uint32_t *test_id;               /* [n_test] A ids */
    double *test_cos, *test_cos_centred; /* [n_test] what r->cosine, r->cosine_centred summarise */
    double *test_l2;                 /* [n_test] ‖y − A‖ */
    double *baseline_cos, *baseline_cos_centred; /* [n_test] under the random orthogonal map */
    /* every shared token, in shared order (increasing A id); each mapped exactly (f32 map) */
    size_t n_shared;
    uint32_t *id_a, *id_b;           /* [n_shared] */
    double *all_cos, *all_cos_centred; /* [n_shared] what frac_above_all, best/worst rank */
    /* relational (published): pairwise cosines of the first relational_n test tokens,
     * pairs i < j in row-major order (i = 0: j = 1 … n−1, then i = 1, …) */
    size_t relational_n, relational_pairs;
    double *rel_target, *rel_aligned; /* [relational_pairs] normalised native y, aligned A */
    /* digits: cosine matrices of the present digits in r->digit_id order,
     * [digits_n][digits_n] with row stride 10; the rest NaN */
    size_t digits_n;
    double digit_target[100], digit_aligned[100];
    /* pentachora, in drawn order: volumes, NaN where the simplex is not valid (spec §6.2) */
    size_t n_simplices;
    double *vol_native, *vol_aligned; /* [n_simplices] */
} vx_cmp_arrays;

/*
 * Two families of numbers (spec/compare.md §6). The published definitions compare the
 * aligned source rows A = z̃R + μ_y (re-centred on the target's anchor mean) with the
 * target's native rows; they are the numbers published analyses report. The centred
 * ones (suffix _centred) compare z̃R with ỹ = y − μ_y: stricter, since the shared mean
 * direction no longer adds to every cosine. The L2 distance is the same under both.
 */
typedef struct vx_compare_result {
    size_t shared;            /* tokens present in both */
    int by_id;                /* 1: same vocabulary, matched by id; 0: matched by readable text */
    size_t n_anchors, n_test;
    int source_is_a;          /* 1: A is the source (wider), 0: B */
    uint32_t dim_source, dim_target;
    uint32_t pca_dim;         /* 0 when no PCA was needed */
    size_t pca_fit_tokens;    /* tokens the PCA was fitted on (0 without PCA) */
    double pca_variance_retained; /* 1 without PCA */
    double procrustes_scale;  /* sum of singular values of the anchor cross-covariance */
    /* published definitions */
    vx_cmp_stats cosine;      /* held-out tokens (its frac_above: held-out) */
    double l2_mean, l2_std, l2_median; /* held-out ‖y − A‖ (= ‖ỹ − z̃R‖) */
    double frac_above_all[10]; /* over every shared token */
    size_t relational_n;      /* test tokens used (<= 1000) */
    double relational_correlation, relational_mean_abs_diff;
    size_t digits_n;          /* digits "0".."9" among the shared tokens */
    uint32_t digit_id[10];    /* their A ids, in digit order */
    double digit_cosine[10];  /* cos(y, A) of each */
    double digit_correlation, digit_mean_abs_diff; /* NaN when digits_n < 3 */
    vx_cmp_token best[VX_CMP_TOP], worst[VX_CMP_TOP]; size_t n_best; /* over all shared */
    double residual_eig[VX_CMP_RESIDUAL]; size_t n_residual; /* of rᵀr/n_t, r = y − A (test) */
    vx_cmp_stats baseline;    /* held-out tokens, random orthogonal map */
    double baseline_l2_mean;
    vx_cmp_simplices simplices;
    /* centred (stricter) definitions */
    vx_cmp_stats cosine_centred;  /* held-out */
    double relational_correlation_centred, relational_mean_abs_diff_centred; /* own spaces, no map */
    double digit_correlation_centred, digit_mean_abs_diff_centred;
    vx_cmp_token best_centred[VX_CMP_TOP], worst_centred[VX_CMP_TOP];
    double residual_eig_centred[VX_CMP_TOP]; size_t n_residual_centred; /* covariance, ddof 1 */
    vx_cmp_stats baseline_centred;
    /* Layers: similarity[a * layers_b + b] for every pair, rows = A's layers. */
    uint32_t layers_a, layers_b;
    double *gate_sim, *down_sim;
    uint32_t (*matched)[2]; size_t n_matched;
    vx_cmp_mapfree mapfree;   /* spec §10; tokens == 0 when skipped */
    vx_cmp_arrays *arrays;    /* opts.keep_arrays, else NULL; freed by vx_compare_free */
} vx_compare_result;

/*
 * Compare A and B (spec/compare.md). Reads the embedding rows it needs straight from the
 * maps. Errors: VX_EMISMATCH (no or too few shared tokens), VX_EUSAGE (options: sizes,
 * tokens not shared, layer map out of range), VX_ENOMEM, VX_ECORRUPT (non-finite input
 * made LAPACK fail). On success *out is owned by the caller (vx_compare_free).
 * Threads: uses o->threads (or every CPU) for its own row conversions and for BLAS, and
 * sets OpenBLAS to one thread per caller while it runs independent jobs side by side, so
 * other threads should not call BLAS meanwhile. On return (success or failure) OpenBLAS
 * has the thread count it had on entry. `err` may be NULL.
 */
int vx_compare(vx_compare_result **out, const vx_index *a, const vx_index *b, const vx_compare_opts *o,
               vx_err *err);
void vx_compare_free(vx_compare_result *r);

/*
 * Read a token list file: one token per line, in the grammar of every token argument
 * (spec/queries.md Q-T1: "#ID", a raw vocabulary string, or readable text such as
 * " Paris"). Empty lines are skipped; "\n" or "\r\n" end lines. *ids is malloc'd (caller
 * frees). Errors: VX_ENOTFOUND (file, or a token not in the vocabulary — the message names
 * the line), VX_EUSAGE (a NUL byte in a line), VX_EIO, VX_ENOMEM.
 */
int vx_compare_read_tokens(uint32_t **ids, size_t *n, const vx_index *vx, const char *path, vx_err *err);

/* --------------------------------------------------------------- saved maps */

/* A map file loaded and checked (spec/map-format.md): the alignment `compare` fitted
 * between two vindexes, which carries vectors from either space into the other. */
typedef struct vx_saved_map vx_saved_map;

typedef struct vx_map_info {
    int source_is_a;             /* 1: A is the source (wider) model */
    uint32_t dim_source, dim_target;
    uint32_t dim_a, dim_b;       /* widths of A and B */
    const char *path_a, *path_b; /* the directories compare was given (absolute) */
    const char *digest_a, *digest_b; /* their content digests, 64 hex digits */
} vx_map_info;

/* Load and check `path` (rules M1–M8). Errors: VX_ENOTFOUND, VX_EIO, VX_ECORRUPT,
 * VX_EUNSUPPORTED (another version), VX_ENOMEM. *out owned by the caller (vx_map_free). */
int vx_map_open(vx_saved_map **out, const char *path, vx_err *err);
/* Accepts NULL. */
void vx_map_free(vx_saved_map *m);
/* Borrowed; valid until vx_map_free. */
const vx_map_info *vx_map_get_info(const vx_saved_map *m);
/* M9: `vx` is the map's A (side 0) or B (side 1): the same content digest and width.
 * Errors: VX_EMISMATCH (naming both digests), those of vx_content_digest. */
int vx_map_check(const vx_saved_map *m, int side, const vx_index *vx, vx_err *err);
/* Carry v [n] from the other model's space into side `to` (0 = A, 1 = B): out [n_out].
 * point = 1: v is a row as the model uses it (× embed_scale), carried affinely; 0: a
 * direction, carried linearly (spec/map-format.md §4). Errors: VX_EUSAGE (lengths,
 * non-finite values), VX_ENOMEM. */
int vx_map_apply(float *out, size_t n_out, const vx_saved_map *m, int to, int point, const float *v, size_t n, vx_err *err);
/* Write v [n] as n little-endian f32 (what `nearest --vector` reads), atomically.
 * Errors: VX_EIO, VX_ENOMEM. */
int vx_map_write_vector(const char *path, const float *v, size_t n, vx_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VX_COMPARE_H */
