/*
 * cmp.h — the inside of `vindex compare` (spec/compare.md), shared by its files and nothing
 * else. One file per section of the spec:
 *
 *   cmp_tokens.c      §2 shared tokens, §3 random numbers and the anchor/test split, token lists
 *   cmp_rows.c        the embedding rows as the comparison reads them (f16 → f32, scale, mean)
 *   cmp_pca.c         §4 roles and PCA; the projected anchor/test rows
 *   cmp_procrustes.c  §5 the anchor cross-covariance and the rotation
 *   cmp_metrics.c     §6 held-out, baseline, relational and digit metrics
 *   cmp_screen.c      §6 every shared token: best / worst (bf16 screening, exact f32 map)
 *   cmp_layers.c      §7 layer subspaces
 *   cmp_similarity.c  §10 map-free similarity (CKA, SVCCA, Procrustes distances, mutual k-NN)
 *   cmp_map.c         the fitted map as a file (spec/map-format.md) and vx_map_*
 *   compare.c         vx_compare: the order of the steps, threads, memory, timing
 *
 * Conventions: S = source (the wider model), T = target, d = T's width, HS = S's width;
 * "shared index" i ∈ [0, N) names the i-th shared token (c->sa[i] in A, c->sb[i] in B).
 * Functions returning int return 0 or a VX_E* code, with the message in c->err.
 */
#ifndef VX_SRC_CMP_H
#define VX_SRC_CMP_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "vx_compare.h"
#include "vxindex.h"

/* ------------------------------------------------------------------- the state */
typedef struct side {
    const vx_index *vx;
    const uint16_t *emb;   /* [V][H] f16 */
    size_t H, V, L, F;
    float scale;           /* embed_scale: rows are used as the model uses them */
} side;

typedef struct ctx {
    side A, B;
    const side *S, *T;     /* source, target */
    float *lut;            /* [65536] f16 → f32 */
    size_t N;              /* shared tokens */
    uint32_t *sa, *sb;     /* [N] A id, B id; ascending A id */
    const uint32_t *sid, *tid; /* [N] source id, target id (= sa or sb) */
    size_t d, HS;          /* target width, source width */
    float *Wf;             /* [d][HS] f32 copy of the basis (NULL without PCA) */
    float *Mf;             /* [d][HS] f32: Rᵀ W (Rᵀ without PCA), source row → target space */
    double *mu0;           /* [HS] subtracted from source rows before projection (PCA mean or 0) */
    float *mu0f;           /* [HS] f32 copy of mu0 */
    int avx2;              /* the CPU has AVX2, F16C and FMA */
    int nthr;              /* threads for row conversion and per-token work */
    float *zero;           /* [max H] zeros: "no mean" for gather() */
    vx_err *err;
} ctx;

/* The fitted alignment (§5) and the rows it was fitted on: what the metrics (§6) and
 * anything else measured on the map take. Z and Y are uncentred; z̃ = z − muz, ỹ = y − muy,
 * the mapped source row is z̃ R, the published aligned row z̃ R + muy. */
typedef struct cmp_fit {
    const uint32_t *anc, *tst; /* [na], [nt] shared indices, in drawn (or listed) order */
    const uint32_t *both;      /* [na + nt] anchors then test tokens */
    size_t na, nt;
    const float *Z, *Y;        /* [na + nt][d] projected source rows, target rows (f32) */
    const double *muz, *muy;   /* [d] anchor means of Z and Y */
    const double *mux;         /* [HS] the source's anchor mean at full width (before PCA) */
    const double *R;           /* [d][d] the rotation, row-major: z̃ R */
    double procrustes_scale;
    const double *Qb;          /* [d][d] the baseline's random orthogonal map */
    double *csr, *csp;         /* [na + nt] centred, published cosines under R (filled by the metrics) */
} cmp_fit;

/* Rows per block of the metrics' double-precision passes (and the cross-covariance). */
#define CMP_EVAL_BLOCK 1024

/* ------------------------------------------------------ cmp_tokens.c: §2, §3 */
/* Random draws: rng.h's splitmix64 streams, k = 0 split, 1 PCA sample, 2 baseline,
 * 3 mutual k-NN queries, 4 simplices (spec §3). */
/* 1 when A and B have the same vocabulary (equal size, byte-identical raw strings). */
int cmp_same_vocab(const vx_index *a, const vx_index *b);
/* c->sa, c->sb, c->N: the readable-text intersection of A's and B's vocabularies. */
int cmp_match_text(ctx *c);
/* The anchor and test sets as shared indices (big allocations, freed by the caller). */
int cmp_draw_sets(ctx *c, const vx_compare_opts *o, uint32_t **anc, size_t *na, uint32_t **tst, size_t *nt);

/* ------------------------------------------------------------ cmp_rows.c */
void cmp_side_init(side *s, const vx_index *vx);
#if defined(__x86_64__)
/* dst[n] = f16 e[n] · sc − mu (mu NULL: 0), one fused rounding, by F16C + FMA: call only
 * when the CPU has AVX2, F16C and FMA (ctx.avx2); lut finishes the tail. */
void cmp_cvt_f16c(float *dst, const uint16_t *e, size_t n, float sc, const float *mu, const float *lut);
#endif
/* One row of side s: dst[H] = row · scale − mu (f32). */
void cmp_cvt_row(const ctx *c, const side *s, float *dst, uint32_t id, const float *mu);
/* dst[n] = f16 src[n] as f32 (stored directions: no scale, no mean). */
void cmp_cvt_row_raw(const ctx *c, float *dst, const uint16_t *e, size_t n);
/* Rows of one side into X [n][H] f32, row · scale − mu (NULL: no mean), on c->nthr threads;
 * row i is side id map[idx ? idx[i] : first + i]. With sums, X's column sums are added to
 * sums [H] in double, in row order whatever the thread count. */
void cmp_gather(const ctx *c, const side *s, const uint32_t *map, const uint32_t *idx, size_t first, size_t n,
                const float *mu, float *X, double *sums);
/* dst[n] = src[n] widened to double, on c->nthr threads. */
void cmp_widen(const ctx *c, double *dst, const float *src, size_t n);
/* One row of side s in double: dst[H] = row · scale (the f32 product, widened). */
void cmp_row_f64(const ctx *c, const side *s, double *dst, uint32_t id);
/* dst [nb][d] = src − mu in double. */
void cmp_centre_rows(double *dst, const float *src, const double *mu, size_t nb, size_t d);

/* ------------------------------------------------------------- cmp_pca.c: §4 */
/* If S is wider: the PCA basis c->Wf, mean c->mu0/mu0f; r->pca_*. bg(arg) runs beside the
 * eigensolver (vx_seig_top_with). */
int cmp_fit_pca(ctx *c, const vx_compare_opts *o, vx_compare_result *r, void *(*bg)(void *), void *arg);
/* Z [n][d] = projected source rows, Y [n][d] = target rows of shared indices idx[n] (f32);
 * mux [HS] = the source's full-width mean of the first nmean rows. */
int cmp_project_rows(ctx *c, float *Z, float *Y, const uint32_t *idx, size_t n, double *mux, size_t nmean);

/* ------------------------------------------------------ cmp_procrustes.c: §5 */
/* muz, muy [d] = anchor means of Z, Y (the first na rows); R [d][d] and Σσ from the
 * centred anchors' cross-covariance. */
int cmp_procrustes(ctx *c, const float *Z, const float *Y, size_t na, double *muz, double *muy, double *R,
                   double *scale);

/* -------------------------------------------------------- cmp_metrics.c: §6 */
/* Haar-random orthogonal Q [d][d] from stream 2 of seed. */
int cmp_random_orthogonal(double *Q, size_t d, uint64_t seed);
/* Every metric of §6 on the anchor/test rows, the digits and the simplices (not the
 * all-token lists); fills f->csr and f->csp. */
int cmp_metrics(ctx *c, const cmp_fit *f, vx_compare_result *r, uint64_t seed);

/* --------------------------------------------------------- cmp_screen.c: §6 */
/* c->Mf = Rᵀ W (Rᵀ without PCA), f32. */
int cmp_build_map(ctx *c, const double *R);
/* Best / worst under both definitions and the published frac_above over every shared
 * token (needs c->Mf, f->csr and f->csp); with r->arrays, every token mapped exactly and
 * its cosines kept there. */
int cmp_map_all(ctx *c, vx_compare_result *r, const cmp_fit *f);

/* --------------------------------------------------------- cmp_layers.c: §7 */
/* The target's layer bases, f32 [L_T][F_T][d] with rows past each rank zero; ranks k[L_T]. */
int cmp_target_bases(ctx *c, vx_kind kind, float *Q, size_t *k);
/* r->gate_sim, r->down_sim for every layer pair (needs c->Mf). */
int cmp_layer_sims(ctx *c, vx_compare_result *r, float *const qT[2], size_t *const kT[2]);
/* r->matched: the layer map given, or matched relative depth. */
int cmp_match_layers(vx_compare_result *r, const vx_compare_opts *o, vx_err *err);

/* ----------------------------------------------------- cmp_similarity.c: §10 */
/* r->mapfree over every shared token (the mutual k-NN's queries: o->knn_sample of them).
 * Needs c->lut, c->avx2, c->nthr and the shared tokens. */
int cmp_similarity(ctx *c, const vx_compare_opts *o, vx_compare_result *r);

/* ------------------------------------------------------------- cmp_map.c */
/* Write the map of `fit` (PCA mean and basis from c) to o->save_map, atomically. */
int cmp_save_map(ctx *c, const vx_compare_opts *o, const cmp_fit *fit);

/* ------------------------------------------------------------- compare.c */
/* rc, with "what: <rc's meaning>" in err unless a step already wrote its own message there
 * (err may be NULL; rc 0 is returned as it is). */
int cmp_fail(vx_err *err, int rc, const char *what);
/* VINDEX_COMPARE_TIMING=1: wall and CPU time since the last call on stderr (NULL: reset). */
void cmp_phase(const char *name);
/* vx_run_parallel with BLAS on one thread per caller while T > 1 jobs run, then the
 * process's previous BLAS thread count again. */
void cmp_run_blas_serial(void *(*fn)(void *), void *jobs, size_t job_size, int T);

#endif
