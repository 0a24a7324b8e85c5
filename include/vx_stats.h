/*
 * vx_stats.h — what one vindex measures: the geometry of its embedding matrix and the
 * weight battery of its MLP layers (vx_stats), and the causal metric over its
 * unembedding (vx_causal). Definitions, every pinned choice and the JSON form are
 * spec/stats.md; this header is the contract the CLI and the HTML report build on.
 *
 * Conventions are vindex.h's. A vx_stats result is owned by the caller (vx_stats_free)
 * and holds plain values only: token ids, never pointers into the vindex, so it outlives
 * vx_close. Undefined numbers (spec/stats.md says when) are NaN; counts are exact.
 */
#ifndef VX_STATS_H
#define VX_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"
#include "vx_query.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VX_STATS_DEFAULT_SEED 42
#define VX_STATS_NPCT 7      /* percentiles 1, 5, 25, 50, 75, 95, 99 */
#define VX_STATS_NEXTREME 10 /* largest / smallest norms listed */
#define VX_STATS_NDIR 10     /* prediction / suppression directions listed */
#define VX_STATS_NDIRTOK 5   /* top tokens per listed direction */

/* The percentiles of every vx_dist, in order. */
extern const double vx_stats_pcts[VX_STATS_NPCT];

typedef struct vx_stats_opts {
    uint32_t layer_lo;     /* first layer of §4 (default 0) */
    uint32_t layer_hi;     /* last, inclusive (default UINT32_MAX = the last) */
    size_t sample;         /* pairwise-cosine sample, §3.3 (default 5000; 2..10000) */
    size_t dup_sample;     /* near-duplicate sample, §3.7 (default 1000; ≥ 1) */
    size_t pentachora;     /* 5-token subsets, §3.5 (default 1000) */
    uint64_t seed;         /* §2 (default 42) */
} vx_stats_opts;

/* Fill `o` with the defaults above. */
void vx_stats_opts_init(vx_stats_opts *o);

/* A distribution: count, moments (population std), extremes, percentiles. */
typedef struct vx_dist {
    uint64_t n;
    double mean, std, min, max;
    double pct[VX_STATS_NPCT];
} vx_dist;

typedef struct vx_tok_val { uint32_t token_id; double value; } vx_tok_val;

/* Token classes of spec/stats.md §3.8, in its priority order. */
typedef enum {
    VX_TC_EMPTY, VX_TC_BYTE, VX_TC_SPECIAL, VX_TC_WHITESPACE, VX_TC_DIGITS, VX_TC_PUNCT, VX_TC_ASCII_WORD,
    VX_TC_ASCII_OTHER, VX_TC_PARTIAL_UTF8, VX_TC_CJK, VX_TC_OTHER_UNICODE, VX_TC_COUNT
} vx_token_class;
/* JSON name of a class ("empty", "byte", ...). */
const char *vx_token_class_name(vx_token_class c);

/* spec/stats.md §3. */
typedef struct vx_emb_stats {
    uint32_t rows, hidden;                 /* V, H */
    double embed_scale;
    /* §3.2 */
    vx_dist norm;
    uint32_t norm_min_id, norm_max_id;
    uint64_t zero_rows;
    vx_tok_val largest[VX_STATS_NEXTREME], smallest[VX_STATS_NEXTREME];
    size_t n_extreme;
    double *dim_mean, *dim_std;            /* [H], owned by the result */
    double mean_of_means, mean_of_stds, std_of_means, max_abs_mean, max_std;
    uint32_t max_abs_mean_dim, max_std_dim;
    /* §3.3 */
    size_t pair_sample;
    vx_dist pair_cos;
    /* §3.4 */
    double *eig;                           /* [H] descending, owned by the result */
    double total_variance, pc1, pc1_3, participation_ratio, pr_over_h;
    uint32_t dims[4];                      /* for 80, 90, 95, 99 % */
    /* §3.5 */
    size_t pent_subsets, pent_valid, gauss_valid;
    double pent_mean, pent_cv, gauss_mean, gauss_cv, pent_ratio;
    /* §3.6 */
    int n_digits;
    int digit_present[10];
    uint32_t digit_id[10];
    double digit_cos[10][10];              /* NaN where a digit is absent */
    double digit_corr, digit_adj, digit_nonadj, digit_gap;
    /* §3.7 */
    size_t dup_sample;
    vx_dist nn1;
    uint64_t count_099, count_0999;
    double frac_099, frac_0999;
    /* §3.8 */
    uint64_t classes[VX_TC_COUNT];
    uint64_t leading_space;
} vx_emb_stats;

/* §4.1, one matrix kind of one layer. */
typedef struct vx_spec_stats {
    double sigma1, stable_rank_topf, pr_topf, condition_topf;   /* always */
    int full;                                                   /* 1 when the full spectrum is stored */
    uint32_t rank_bound;
    double stable_rank, participation_ratio, active_fraction, condition, topf_share;
    uint32_t rank_90;                                           /* 0 when !full */
    int condition_resolved;
} vx_spec_stats;

/* §4.2: whole-matrix statistics, as stored (present = 0 when absent). */
typedef struct vx_mat_stats {
    int present;
    uint64_t rows, cols;
    double fro, sparsity[5];
} vx_mat_stats;

/* §4.3, one matrix's own norms. */
typedef struct vx_neuron_mat {
    int present;
    double mean_norm;
    uint64_t dead, weak;
} vx_neuron_mat;

typedef struct vx_layer_stats {
    uint32_t layer;
    int partial;                    /* 1 when the vindex lacks the battery for this layer */
    vx_spec_stats spec[2];          /* [VX_GATE], [VX_DOWN] */
    int has_weights;
    vx_mat_stats w[3];              /* [VX_MAT_GATE], [VX_MAT_UP], [VX_MAT_DOWN] */
    int has_neurons;
    uint64_t neurons, dead, weak;
    vx_neuron_mat nm[3];
    double gate_coherence, gate_subspace_sim;  /* to layer + 1; NaN for the last layer */
} vx_layer_stats;

/* §4.5 */
typedef struct vx_dir_stats {
    uint32_t layer, feature;
    vx_kind kind;
    double mean, std, skew, kurtosis;
    uint32_t tokens[VX_STATS_NDIRTOK];
    size_t n_tokens;
} vx_dir_stats;

typedef struct vx_stats {
    uint32_t format_version;
    uint64_t seed;
    size_t sample, dup_sample, pentachora;   /* as requested */
    vx_emb_stats emb;
    uint32_t layer_lo, layer_hi;
    size_t n_layers;
    vx_layer_stats *layers;                  /* [n_layers], owned */
    double gate_coherence_mean;
    int has_moments;
    vx_dir_stats prediction[VX_STATS_NDIR], suppression[VX_STATS_NDIR];
    size_t n_prediction, n_suppression;
    const char *lacks[8];                    /* static sentences (§5) */
    size_t n_lacks;
} vx_stats;

/*
 * Measure `vx` (spec/stats.md §3–§5). Reads the embedding matrix once front to back
 * (with VX_ADVISE_ONCE, its pages leave the resident set behind the pass) plus the
 * sampled rows, and the per-layer files. Errors: VX_EUSAGE (bad options, a layer range
 * outside the vindex), VX_ENOMEM, VX_ECORRUPT (non-finite values where a number must
 * be finite). A vindex without the weight battery is not an error (`lacks`).
 */
int vx_stats_compute(vx_stats **out, const vx_index *vx, const vx_stats_opts *o, vx_err *err);

/* Release a result. Accepts NULL. */
void vx_stats_free(vx_stats *s);

/* ------------------------------------------------------------- causal metric */

/* The whitening of a vindex's unembedding (spec/stats.md §6): its mean, the eigenpairs of
 * its covariance and every token's causal norm. Owned by the caller; borrows `vx`, which
 * must stay open while it is used. */
typedef struct vx_causal vx_causal;

/* Build it (one covariance pass, an H×H eigendecomposition, one mapping pass).
 * Errors: VX_ENOTFOUND when the model is untied and the vindex has no unembed.bin (the
 * message says to extract with --unembed); VX_ENOMEM; VX_ECORRUPT (non-finite rows). */
int vx_causal_open(vx_causal **out, const vx_index *vx, vx_err *err);
void vx_causal_free(vx_causal *c);
/* Directions kept (eigenvalues above 1e-6·λ₁). */
size_t vx_causal_rank(const vx_causal *c);

/* The k tokens nearest to each query by causal cosine (§6), like vx_nearest_tokens:
 * out [nq][k], n_out[nq]. A token query uses the token's unembedding row (text queries
 * the mean of their pieces'), and skips its own token. Errors: VX_EUSAGE, VX_ENOMEM. */
int vx_causal_nearest(vx_tok_hit *out, size_t *n_out, const vx_causal *c, const vx_query *const *qs, size_t nq,
                      size_t k, vx_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VX_STATS_H */
