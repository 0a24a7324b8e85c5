/*
 * stats_causal.c — the causal metric over the unembedding (spec/stats.md §6): tokens
 * ranked by cosine in the whitened coordinates z(γ) = Λ^(−1/2) Qᵀ (γ − μ) of the
 * unembedding's covariance (Park et al. 2024's causal inner product).
 *
 * vx_causal_open makes the whitening: the covariance pass of stats_cov.c over Γ and a
 * double eigendecomposition with vectors; W [r][H] holds the kept rows q_k/√λ_k in f32.
 * vx_causal_nearest maps every row into causal coordinates by f32 GEMM, block by block
 * (Z = (Γ − μ) Wᵀ on centred rows, so nothing cancels), and takes from each block both the
 * rows' causal norms and their dot products with the queries' coordinates (a second, small
 * GEMM) — one pass for any number of queries.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "stats.h"

#define REL_CUT 1e-6 /* eigenvalues at or below REL_CUT·λ₁ are dropped (§6) */

struct vx_causal {
    const vx_index *vx;
    const uint16_t *U;   /* [V][H] f16, the unembedding */
    size_t V, H, r;
    double *mu;          /* [H] */
    float *muf;          /* [H] */
    float *W;            /* [r][H]: q_k / √λ_k */
    double *Wd;          /* the same in double, for the queries */
};

void vx_causal_free(vx_causal *c) {
    if (!c) return;
    free(c->mu);
    free(c->muf);
    vx_big_free(c->W);
    vx_big_free(c->Wd);
    free(c);
}

size_t vx_causal_rank(const vx_causal *c) { return c->r; }

int vx_causal_open(vx_causal **out, const vx_index *vx, vx_err *err) {
    *out = NULL;
    const uint16_t *U = vx_unembedding(vx);
    if (!U)
        return vx_fail(err, VX_ENOTFOUND,
                       "%s: the unembedding of this untied model was not kept: extract with --unembed for the causal metric",
                       vx->dir);
    size_t V = vx->meta.vocab_size, H = vx->meta.hidden_size;
    vx_causal *c = calloc(1, sizeof *c);
    double *var = malloc(H * sizeof *var), *C = vx_big_array(H * H, sizeof(double));
    double *vals = malloc(H * sizeof *vals), *vecs = vx_big_array(H * H, sizeof(double));
    int rc = VX_OK;
    if (!c || !var || !C || !vals || !vecs || !(c->mu = malloc(H * sizeof(double))) || !(c->muf = malloc(H * sizeof(float)))) {
        rc = vx_fail(err, VX_ENOMEM, "causal: out of memory (H = %zu)", H);
        goto out;
    }
    c->vx = vx;
    c->U = U;
    c->V = V;
    c->H = H;
    vx_covpass cp = { U, V, H, 0, NULL, NULL, 0, c->mu, var, C, NULL, NULL };
    if ((rc = vx_cov_run(&cp, err))) goto out;
    if ((rc = vx_eig_top(vals, vecs, C, H, H))) { rc = vx_fail(err, rc, "causal: the eigensolver failed (%zu x %zu)", H, H); goto out; }
    size_t r = 0;
    while (r < H && vals[r] > REL_CUT * vals[0]) r++;
    if (!r) { rc = vx_fail(err, VX_ECORRUPT, "causal: the unembedding has no variance"); goto out; }
    c->r = r;
    c->W = vx_big_array(r * H, sizeof(float));
    c->Wd = vx_big_array(r * H, sizeof(double));
    if (!c->W || !c->Wd) { rc = vx_fail(err, VX_ENOMEM, "causal: out of memory"); goto out; }
    for (size_t k = 0; k < r; k++) {
        double s = 1 / sqrt(vals[k]);
        for (size_t h = 0; h < H; h++) {
            c->Wd[k * H + h] = vecs[k * H + h] * s;
            c->W[k * H + h] = (float)c->Wd[k * H + h];
        }
    }
    for (size_t h = 0; h < H; h++) c->muf[h] = (float)c->mu[h];
out:
    free(var);
    free(vals);
    vx_big_free(C);
    vx_big_free(vecs);
    if (rc) { vx_causal_free(c); return rc; }
    *out = c;
    return VX_OK;
}

/* The k best (cosine, id) of one query: largest cosine first, lower id on ties. */
typedef struct topk { vx_tok_hit *h; size_t n, k; } topk;
static inline int tk_better(float a, uint32_t ia, float b, uint32_t ib) { return a > b || (a == b && ia < ib); }
static void tk_offer(topk *t, uint32_t id, float c) {
    size_t i = t->n;
    if (i == t->k) {
        if (!tk_better(c, id, t->h[i - 1].cosine, t->h[i - 1].token_id)) return;
        i--;
    } else t->n++;
    while (i > 0 && tk_better(c, id, t->h[i - 1].cosine, t->h[i - 1].token_id)) { t->h[i] = t->h[i - 1]; i--; }
    t->h[i] = (vx_tok_hit){ id, c };
}

int vx_causal_nearest(vx_tok_hit *out, size_t *n_out, const vx_causal *c, const vx_query *const *qs, size_t nq,
                      size_t k, vx_err *err) {
    size_t V = c->V, H = c->H, r = c->r;
    if (!k) return vx_fail(err, VX_EUSAGE, "nearest: the number of tokens must be at least 1");
    for (size_t i = 0; i < nq; i++)
        if (!qs[i] || qs[i]->dim != H || !qs[i]->vec)
            return vx_fail(err, VX_EUSAGE, "query %zu: dimension %u, this vindex has hidden size %zu", i, qs[i] ? qs[i]->dim : 0, H);
    size_t B = ((size_t)4 << 20) / (H > r ? H : r);
    if (B < 64) B = 64;
    if (B > V) B = V;
    float *Zq = malloc(nq * r * sizeof *Zq), *Y = vx_big_array(B * H, sizeof(float)), *Z = vx_big_array(B * r, sizeof(float));
    float *D = malloc(B * nq * sizeof *D), *ss = malloc(B * sizeof *ss);
    double *zqn = malloc(nq * sizeof *zqn), *g = malloc(H * sizeof *g);
    topk *tk = calloc(nq, sizeof *tk);
    int rc = VX_OK;
    if (!Zq || !Y || !Z || !D || !ss || !zqn || !g || !tk) { rc = vx_fail(err, VX_ENOMEM, "causal: out of memory"); goto out; }
    /* The queries' causal coordinates: from the unembedding row(s) of a token (or text),
     * else from the vector itself (§6). */
    for (size_t i = 0; i < nq; i++) {
        const vx_query *q = qs[i];
        if (q->token_id >= 0 || q->n_pieces) {
            size_t np = q->token_id >= 0 ? 1 : q->n_pieces;
            memset(g, 0, H * sizeof *g);
            for (size_t p = 0; p < np; p++) {
                uint32_t id = q->token_id >= 0 ? (uint32_t)q->token_id : q->pieces[p];
                for (size_t h = 0; h < H; h++) g[h] += vx_f16_to_f32(c->U[(size_t)id * H + h]);
            }
            for (size_t h = 0; h < H; h++) g[h] = g[h] / (double)np - c->mu[h];
        } else
            for (size_t h = 0; h < H; h++) g[h] = (double)q->vec[h] - c->mu[h];
        double n2 = 0;
        for (size_t kk = 0; kk < r; kk++) {
            double s = 0;
            for (size_t h = 0; h < H; h++) s += c->Wd[kk * H + h] * g[h];
            Zq[i * r + kk] = (float)s;
            n2 += s * s;
        }
        zqn[i] = sqrt(n2);
        tk[i] = (topk){ out + i * k, 0, k };
    }
    const vx_kern *kern = vx_kern_active();
    for (size_t r0 = 0; r0 < V; r0 += B) {
        size_t m = V - r0 < B ? V - r0 : B;
        kern->cvt_ss(Y, ss, c->U + r0 * H, m, H);
        for (size_t i = 0; i < m; i++)
            for (size_t h = 0; h < H; h++) Y[i * H + h] -= c->muf[h];
        if ((rc = vx_sgemm_nt(m, r, H, Y, c->W, Z)) || (rc = vx_sgemm_nt(m, nq, r, Z, Zq, D))) {
            rc = vx_fail(err, rc, "causal: sgemm refused");
            goto out;
        }
        for (size_t i = 0; i < m; i++) {
            double zn = 0;
            for (size_t kk = 0; kk < r; kk++) zn += (double)Z[i * r + kk] * Z[i * r + kk];
            zn = sqrt(zn);
            uint32_t id = (uint32_t)(r0 + i);
            for (size_t q = 0; q < nq; q++) {
                if (qs[q]->token_id == (int64_t)id) continue;
                double cs = zn > 0 && zqn[q] > 0 ? (double)D[i * nq + q] / (zn * zqn[q]) : 0;
                if (!(cs == cs)) cs = 0;
                tk_offer(&tk[q], id, (float)(cs > 1 ? 1 : cs < -1 ? -1 : cs));
            }
        }
        if (vx_once(c->vx)) vx_map_release(c->U + r0 * H, m * H * sizeof(uint16_t));
    }
    for (size_t i = 0; i < nq; i++) n_out[i] = tk[i].n;
out:
    free(Zq); vx_big_free(Y); vx_big_free(Z); free(D); free(ss); free(zqn); free(g); free(tk);
    return rc;
}
