/*
 * cmp_pca.c — the source model projected to the target's width (spec/compare.md §4): the
 * covariance of a seeded sample of shared tokens accumulated in one pass by f32 SYRK (the
 * project's AVX-512 kernel packing straight from f16, or OpenBLAS), its top-d eigenvectors
 * with a sign convention, and the projected anchor/test rows.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"

/* ------------------------------------------------------------------------- PCA */
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

#define BLOCK 1024 /* rows per cmp_gather + GEMM of the anchor/test projection */
/* Rows per f32 SYRK of the PCA covariance: 16 MB at H = 4096. Small on purpose: OpenBLAS
 * updates C once per internal K block whatever the call's K, so larger blocks gain nothing,
 * and fresh memory is slow to touch on a virtual machine (doc/benchmarks.md). */
#define PCA_BLOCK 1024

/* The covariance's SYRK with packing from f16 (kern_syrk.c), when the CPU has AVX-512, H
 * is a multiple of 32 and VINDEX_COMPARE_SYRK is not "blas" (tests compare both). */
static int own_syrk(size_t H) {
    const char *e = getenv("VINDEX_COMPARE_SYRK");
    if (e && !strcmp(e, "blas")) return 0;
    return vx_cpu_avx512() && H % 32 == 0;
}

typedef struct kjob {
    const ctx *c;
    const uint16_t *const *rows;
    size_t K, p0, p1;
    const float *shift;
    double *sums;
    float *P, *G;
    atomic_size_t *next;
} kjob;

static void *syrk_pack_worker(void *arg) {
    kjob *j = arg;
    vx_syrk_pack_avx512(j->P, j->rows, j->K, j->p0, j->p1, j->c->S->scale, j->shift, j->sums);
    return NULL;
}
/* row blocks taken from a shared counter, the widest (first) first */
static void *syrk_rows_worker(void *arg) {
    kjob *j = arg;
    size_t H = j->c->HS;
    for (;;) {
        size_t i0 = atomic_fetch_add(j->next, VX_SYRK_MC);
        if (i0 >= H) break;
        vx_syrk_rows_avx512(j->G, H, j->P, j->K, i0);
    }
    return NULL;
}

/* One block of the PCA sample, rows fit[0..nb): G += (x − shift)ᵀ(x − shift) (upper), and
 * sums += Σ (x − shift) in double when given. X: PCA_BLOCK·HS floats of scratch. */
static int cov_block(ctx *c, const uint32_t *fit, size_t nb, const float *shift, float *X, double *sums, float *G,
                     int accumulate) {
    size_t HS = c->HS;
    if (!own_syrk(HS)) {
        cmp_gather(c, c->S, c->sid, fit, 0, nb, shift, X, sums);
        return G ? vx_sgram_rows(G, HS, X, nb, accumulate) : VX_OK;
    }
    const uint16_t *rows[PCA_BLOCK];
    for (size_t i = 0; i < nb; i++) rows[i] = c->S->emb + (size_t)c->sid[fit[i]] * HS;
    kjob jobs[VX_THREADS_MAX];
    int T = vx_threads_cap(c->nthr);
    size_t np = HS / 32;
    atomic_size_t next = 0;
    for (int t = 0; t < T; t++)
        jobs[t] = (kjob){ c, rows, nb, np * (size_t)t / (size_t)T, np * (size_t)(t + 1) / (size_t)T, shift ? shift : c->zero,
                          sums, X, G, &next };
    vx_run_parallel(syrk_pack_worker, jobs, sizeof jobs[0], T);
    if (G) vx_run_parallel(syrk_rows_worker, jobs, sizeof jobs[0], T);
    return VX_OK;
}

int cmp_fit_pca(ctx *c, const vx_compare_opts *o, vx_compare_result *r, void *(*bg)(void *), void *arg) {
    size_t N = c->N, HS = c->HS, d = c->d, n = N;
    uint32_t *fit = vx_big_alloc(sizeof(uint32_t) * N);
    double *vals = vx_big_alloc(sizeof(double) * d), *sum = vx_big_array(HS, sizeof(double));
    float *G = vx_big_alloc(sizeof(float) * HS * HS), *X = vx_big_alloc(sizeof(float) * PCA_BLOCK * HS);
    float *shift = vx_big_array(HS, sizeof(float));
    int rc = VX_OK;
    if (!fit || !vals || !sum || !G || !X || !shift) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the PCA"); goto out; }
    for (size_t i = 0; i < N; i++) fit[i] = (uint32_t)i;
    if (N > o->pca_sample) { /* spec §4: seeded sample, then ascending */
        uint64_t x = vx_sm_stream(o->seed, 1);
        vx_sm_shuffle_prefix(fit, N, o->pca_sample, &x);
        n = o->pca_sample;
        qsort(fit, n, sizeof(uint32_t), cmp_u32);
    }
    /* One pass, each row converted once: rows are centred on a shift s (the mean of the
     * first block), G = Σ (x−s)ᵀ(x−s) is accumulated by f32 SYRK and Σ (x−s) in double;
     * then C = (G − n·δᵀδ)/(n−1) with δ = mean(x) − s, which holds for any s — and with s
     * close to the mean there is no cancellation. */
    size_t nb0 = n < PCA_BLOCK ? n : PCA_BLOCK;
    cov_block(c, fit, nb0, NULL, X, sum, NULL, 0);
    for (size_t h = 0; h < HS; h++) { shift[h] = (float)(sum[h] / (double)nb0); sum[h] = 0; }
    for (size_t b0 = 0; b0 < n; b0 += PCA_BLOCK) {
        size_t nb = n - b0 < PCA_BLOCK ? n - b0 : PCA_BLOCK;
        if ((rc = cov_block(c, fit + b0, nb, shift, X, sum, G, b0 > 0))) goto out;
    }
    cmp_phase("pca: cov");
    double tr = 0, den = n > 1 ? (double)(n - 1) : 1.0;
    for (size_t i = 0; i < HS; i++) {
        double di = sum[i] / (double)n;
        c->mu0[i] = (double)shift[i] + di;
        c->mu0f[i] = (float)c->mu0[i];
        for (size_t j = i; j < HS; j++) {
            double v = ((double)G[i * HS + j] - (double)n * di * (sum[j] / (double)n)) / den;
            G[i * HS + j] = (float)v;
            if (j == i) tr += v;
        }
    }
    /* the basis takes the row block's pages (freed just now, so still backed) */
    vx_big_free(X);
    X = NULL;
    c->Wf = vx_big_alloc(sizeof(float) * d * HS);
    if (!c->Wf) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the PCA"); goto out; }
    if ((rc = vx_seig_top_with(vals, c->Wf, G, HS, d, bg, arg))) {
        rc = vx_fail(c->err, rc, "PCA eigensolver failed (non-finite embeddings?)");
        goto out;
    }
    cmp_phase("pca: eig");
    /* Sign convention: the entry of largest magnitude of each basis vector is positive
     * (lowest index on ties), so the basis — and the baseline, which is not invariant
     * to it — does not depend on the eigensolver (spec §4). */
    double kept = 0;
    for (size_t i = 0; i < d; i++) {
        float *w = c->Wf + i * HS;
        size_t big = 0;
        for (size_t h = 1; h < HS; h++)
            if (fabsf(w[h]) > fabsf(w[big])) big = h;
        if (w[big] < 0)
            for (size_t h = 0; h < HS; h++) w[h] = -w[h];
        kept += vals[i];
    }
    r->pca_dim = (uint32_t)d;
    r->pca_fit_tokens = n;
    r->pca_variance_retained = tr > 0 ? kept / tr : 1.0;
out:
    vx_big_free(fit);
    vx_big_free(vals);
    vx_big_free(sum);
    vx_big_free(G);
    vx_big_free(X);
    vx_big_free(shift);
    return rc;
}

/* Rows of the shared indices idx[n]: the source projected into Z [n][d], (x - mu0) Wᵀ, or
 * x itself without PCA; the target's rows as they are into Y [n][d] (both f32, as computed
 * and as stored: the metrics centre them in double a block at a time, cmp_centre_rows); and the
 * source's full-width mean of the first `nmean` rows into mux [HS] (the anchor mean at full
 * width). */
int cmp_project_rows(ctx *c, float *Z, float *Y, const uint32_t *idx, size_t n, double *mux, size_t nmean) {
    size_t HS = c->HS, d = c->d;
    float *X = vx_big_array(BLOCK * HS, sizeof(float));
    double *sum = vx_big_array(HS, sizeof(double));
    if (!X || !sum) { vx_big_free(X); vx_big_free(sum); return vx_fail(c->err, VX_ENOMEM, "out of memory"); }
    int rc = VX_OK;
    for (size_t b0 = 0; b0 < n && !rc; b0 += BLOCK) {
        size_t nb = n - b0 < BLOCK ? n - b0 : BLOCK, nm = b0 < nmean ? (nmean - b0 < nb ? nmean - b0 : nb) : 0;
        cmp_gather(c, c->S, c->sid, idx + b0, 0, nm, c->mu0f, X, sum);
        cmp_gather(c, c->S, c->sid, idx + b0 + nm, 0, nb - nm, c->mu0f, X + nm * HS, NULL);
        if (c->Wf) rc = vx_sgemm_map(nb, d, HS, X, c->Wf, Z + b0 * d);
        else memcpy(Z + b0 * d, X, sizeof(float) * nb * d);
        cmp_gather(c, c->T, c->tid, idx + b0, 0, nb, NULL, Y + b0 * d, NULL);
    }
    for (size_t h = 0; h < HS; h++) mux[h] = nmean ? sum[h] / (double)nmean + (double)c->mu0f[h] : 0.0;
    vx_big_free(X);
    vx_big_free(sum);
    return rc;
}
