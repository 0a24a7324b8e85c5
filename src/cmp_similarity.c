/*
 * cmp_similarity.c — the map-free similarity of two models' shared-token rows
 * (spec/compare.md §10): linear and debiased CKA, SVCCA, the Procrustes and angular
 * Procrustes distances from the Grams of the centred rows, and mutual k-nearest
 * neighbours from blocked cosine scans. Nothing here forms an N×N matrix: at N = 151,936
 * that would be 92 GB.
 *
 * Shape (X [N][p] = A's rows, Y [N][q] = B's rows, W = p + q):
 *   1. column means, in double, each column summed in row order;
 *   2. one pass over the rows in blocks: the f32 Gram of the concatenated centred rows
 *      [x | y] (its upper triangle holds XᵀX, XᵀY and YᵀY at once — the same flops as three
 *      products) and each row's centred squared norms (the debiased estimator's diagonals);
 *   3. CKA and the Procrustes distances from traces, Frobenius and nuclear norms of the
 *      blocks; SVCCA from the eigenvectors of XᵀX and YᵀY and the whitened XᵀY;
 *   4. mutual k-NN: for each query token, its k nearest other shared tokens by cosine in
 *      each model. The scan is an f32 GEMM of unit rows, which only shortlists: every
 *      token whose f32 cosine is within twice its error bound of the k-th is re-scored
 *      in double, and the k come from those exact cosines (ties: lower index first).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cmp.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "vxindex.h"

#define GBLOCK 1024 /* rows per Gram block */
#define KNN_RB 2048 /* rows per scan block */
#define KNN_QB 1024 /* queries per scan block */

/* One model's rows of the shared tokens: row of shared token i = emb[ids[i]][0..H). */
typedef struct vx_sim_side {
    const uint16_t *emb;  /* [V][H] f16, read from the map */
    size_t H;
    float scale;          /* embed_scale (every measure here is invariant to it) */
    const uint32_t *ids;  /* [N] */
} vx_sim_side;

typedef struct sctx {
    const vx_sim_side *s[2];
    size_t N, W, off[2];  /* off: first column of each side in [x | y] */
    const float *lut;     /* [65536] f16 → f32 */
    int avx2, nthr;
    vx_err *err;
} sctx;

/* ------------------------------------------------------------------ conversion */
/* dst[n] = f16 e[n] · sc − mu (mu NULL: 0), one fused rounding as compare's rows. */
static void cvt(const sctx *c, float *dst, const uint16_t *e, size_t n, float sc, const float *mu) {
#if defined(__x86_64__)
    if (c->avx2) { cmp_cvt_f16c(dst, e, n, sc, mu, c->lut); return; }
#endif
    for (size_t h = 0; h < n; h++) dst[h] = fmaf(c->lut[e[h]], sc, mu ? -mu[h] : 0.0f);
}

static const uint16_t *row_of(const sctx *c, int k, size_t i) {
    const vx_sim_side *s = c->s[k];
    return s->emb + (size_t)s->ids[i] * s->H;
}

/* Σ x², Σ x·y in double with four partial sums (fixed order) */
static double sumsq(const float *x, size_t n) {
    double a[4] = { 0, 0, 0, 0 };
    size_t h = 0;
    for (; h + 4 <= n; h += 4)
        for (int j = 0; j < 4; j++) a[j] += (double)x[h + j] * x[h + j];
    for (; h < n; h++) a[0] += (double)x[h] * x[h];
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* ------------------------------------------------------------------ 1. means */
typedef struct mjob { const sctx *c; int k; size_t h0, h1; double *sum; float *tmp; } mjob;
static void *mean_worker(void *arg) {
    mjob *j = arg;
    const sctx *c = j->c;
    float sc = c->s[j->k]->scale;
    for (size_t i = 0; i < c->N; i++) {
        cvt(c, j->tmp, row_of(c, j->k, i) + j->h0, j->h1 - j->h0, sc, NULL);
        for (size_t h = j->h0; h < j->h1; h++) j->sum[h] += (double)j->tmp[h - j->h0];
    }
    return NULL;
}

/* mean[h] of side k, each column's sum in row order whatever the thread count */
static int column_means(const sctx *c, int k, double *mean) {
    size_t H = c->s[k]->H;
    int T = c->nthr;
    if ((size_t)T > H / 16) T = H / 16 > 1 ? (int)(H / 16) : 1;
    mjob jobs[VX_THREADS_MAX];
    float *tmp = malloc(sizeof(float) * H);
    if (!tmp) return vx_fail(c->err, VX_ENOMEM, "out of memory");
    for (int t = 0; t < T; t++) {
        size_t h0 = H * (size_t)t / (size_t)T;
        jobs[t] = (mjob){ c, k, h0, H * (size_t)(t + 1) / (size_t)T, mean, tmp + h0 };
    }
    vx_run_parallel(mean_worker, jobs, sizeof jobs[0], T);
    for (size_t h = 0; h < H; h++) mean[h] /= (double)c->N;
    free(tmp);
    return VX_OK;
}

/* ------------------------------------------------------------------ 2. Grams */
typedef struct gram {
    float *G;       /* [W][W] upper: Σ u uᵀ, u = [x − s_x | y − s_y] */
    float *P;       /* [GBLOCK][W] scratch: packed panels or converted rows */
    float *shift;   /* [W] f32 means */
    double *sums;   /* [W] Σ u, in double */
    double *rn;     /* [GBLOCK][2] squared norms of each row's two parts */
    double saa, sbb, sab; /* Σ a², Σ b², Σ a·b over rows (a = ‖x − s_x‖², b = ‖y − s_y‖²) */
    const uint16_t **rows[2];
    int own;
} gram;

typedef struct gjob {
    const sctx *c;
    gram *g;
    size_t K, p0, p1, r0, r1;
    atomic_size_t *next;
} gjob;

static void *pack_worker(void *arg) {
    gjob *j = arg;
    const sctx *c = j->c;
    gram *g = j->g;
    size_t pa = c->s[0]->H / 32, pb = c->s[1]->H / 32;
    size_t a0 = j->p0, a1 = j->p1 < pa ? j->p1 : pa;
    if (a0 < a1) vx_syrk_pack_avx512(g->P, g->rows[0], j->K, a0, a1, c->s[0]->scale, g->shift, g->sums);
    size_t b0 = j->p0 > pa ? j->p0 - pa : 0, b1 = j->p1 > pa ? j->p1 - pa : 0;
    if (b1 > pb) b1 = pb;
    if (b0 < b1)
        vx_syrk_pack_avx512(g->P + pa * j->K * 32, g->rows[1], j->K, b0, b1, c->s[1]->scale, g->shift + c->off[1],
                            g->sums + c->off[1]);
    return NULL;
}
static void *syrk_worker(void *arg) {
    gjob *j = arg;
    for (;;) {
        size_t i0 = atomic_fetch_add(j->next, VX_SYRK_MC);
        if (i0 >= j->c->W) break;
        vx_syrk_rows_avx512(j->g->G, j->c->W, j->g->P, j->K, i0);
    }
    return NULL;
}
/* squared norms of rows [r0, r1) from the packed panels */
static void *pnorm_worker(void *arg) {
    gjob *j = arg;
    const sctx *c = j->c;
    size_t pa = c->s[0]->H / 32, np = c->W / 32, K = j->K;
    for (size_t k = j->r0; k < j->r1; k++) {
        double s[2] = { 0, 0 };
        for (size_t p = 0; p < np; p++) s[p >= pa] += sumsq(j->g->P + (p * K + k) * 32, 32);
        j->g->rn[2 * k] = s[0];
        j->g->rn[2 * k + 1] = s[1];
    }
    return NULL;
}
/* rows [r0, r1) converted and centred into P [K][W], with their squared norms */
static void *cvt_worker(void *arg) {
    gjob *j = arg;
    const sctx *c = j->c;
    for (size_t k = j->r0; k < j->r1; k++)
        for (int s = 0; s < 2; s++) {
            float *dst = j->g->P + k * c->W + c->off[s];
            cvt(c, dst, j->g->rows[s][k], c->s[s]->H, c->s[s]->scale, j->g->shift + c->off[s]);
            j->g->rn[2 * k + (size_t)s] = sumsq(dst, c->s[s]->H);
        }
    return NULL;
}
/* column sums of P [K][W] over columns [p0, p1), in row order */
static void *csum_worker(void *arg) {
    gjob *j = arg;
    size_t W = j->c->W;
    for (size_t k = 0; k < j->K; k++)
        for (size_t h = j->p0; h < j->p1; h++) j->g->sums[h] += (double)j->g->P[k * W + h];
    return NULL;
}

static int gram_block(const sctx *c, gram *g, size_t i0, size_t K) {
    for (int s = 0; s < 2; s++)
        for (size_t k = 0; k < K; k++) g->rows[s][k] = row_of(c, s, i0 + k);
    gjob jobs[VX_THREADS_MAX];
    int T = c->nthr;
    atomic_size_t next = 0;
    size_t np = c->W / 32;
    for (int t = 0; t < T; t++)
        jobs[t] = (gjob){ c, g, K, 0, 0, K * (size_t)t / (size_t)T, K * (size_t)(t + 1) / (size_t)T, &next };
    int rc = VX_OK;
    if (g->own) {
        for (int t = 0; t < T; t++) { jobs[t].p0 = np * (size_t)t / (size_t)T; jobs[t].p1 = np * (size_t)(t + 1) / (size_t)T; }
        vx_run_parallel(pack_worker, jobs, sizeof jobs[0], T);
        vx_run_parallel(syrk_worker, jobs, sizeof jobs[0], T);
        vx_run_parallel(pnorm_worker, jobs, sizeof jobs[0], T);
    } else {
        vx_run_parallel(cvt_worker, jobs, sizeof jobs[0], T);
        for (int t = 0; t < T; t++) { jobs[t].p0 = c->W * (size_t)t / (size_t)T; jobs[t].p1 = c->W * (size_t)(t + 1) / (size_t)T; }
        vx_run_parallel(csum_worker, jobs, sizeof jobs[0], T);
        rc = vx_sgram_rows(g->G, c->W, g->P, K, i0 > 0);
    }
    for (size_t k = 0; k < K; k++) { /* in row order: the sums do not depend on threads */
        double a = g->rn[2 * k], b = g->rn[2 * k + 1];
        g->saa += a * a;
        g->sbb += b * b;
        g->sab += a * b;
    }
    return rc;
}

/* The own SYRK (kern_syrk.c) where the CPU has AVX-512 and both widths are whole panels,
 * unless VINDEX_COMPARE_SYRK=blas (the tests compare both). */
static int own_syrk(const sctx *c) {
    const char *e = getenv("VINDEX_COMPARE_SYRK");
    if (e && !strcmp(e, "blas")) return 0;
    return vx_cpu_avx512() && c->s[0]->H % 32 == 0 && c->s[1]->H % 32 == 0;
}

/* ------------------------------------------------------------------ 3. from the Grams */
/* The min(m, n) singular values of M [m][n] (destroyed), descending, into sv: the square
 * roots of the eigenvalues of the smaller Gram (negative rounding clamped to 0). */
static int sing_vals(double *sv, double *M, size_t m, size_t n, vx_err *err) {
    size_t r = m < n ? m : n;
    double *G = vx_big_array(r * r, sizeof(double)), *Mt = NULL;
    int rc = VX_OK;
    if (!G) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (n <= m) rc = vx_gram_rows(G, n, M, m);
    else {
        if (!(Mt = vx_big_array(m * n, sizeof(double)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) Mt[j * m + i] = M[i * n + j];
        rc = vx_gram_rows(G, m, Mt, n);
    }
    if (!rc) rc = vx_eig_top(sv, NULL, G, r, r);
    if (rc) { rc = vx_fail(err, rc, "singular values of a cross-Gram failed (non-finite embeddings?)"); goto out; }
    for (size_t i = 0; i < r; i++) sv[i] = sv[i] > 0 ? sqrt(sv[i]) : 0.0;
out:
    vx_big_free(G);
    vx_big_free(Mt);
    return rc;
}

/* Eigenpairs of the centred Gram block C [H][H] (f32 copy from the double C), descending,
 * and the number of leading directions holding 99 % of the variance (λ > 0 only). */
static int svcca_side(double *vals, double *vecs, size_t *kept, const double *C, size_t ldc, size_t H, vx_err *err) {
    float *Gf = vx_big_array(H * H, sizeof(float));
    if (!Gf) return vx_fail(err, VX_ENOMEM, "out of memory for SVCCA");
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++) Gf[i * H + j] = (float)C[i * ldc + j];
    int rc = vx_seig_top(vals, vecs, NULL, Gf, H, H);
    vx_big_free(Gf);
    if (rc) return vx_fail(err, rc, "SVCCA eigensolver failed (non-finite embeddings?)");
    double tot = 0, cum = 0;
    for (size_t i = 0; i < H; i++) tot += vals[i] > 0 ? vals[i] : 0;
    size_t k = 0;
    while (k < H && vals[k] > 0) {
        cum += vals[k++];
        if (cum >= 0.99 * tot) break;
    }
    *kept = k;
    return VX_OK;
}

static int svcca(vx_cmp_mapfree *r, const double *Cd, size_t W, size_t p, size_t q, const double *Cxy, vx_err *err) {
    double *la = vx_big_array(p, sizeof(double)), *va = vx_big_array(p * p, sizeof(double));
    double *lb = vx_big_array(q, sizeof(double)), *vb = vx_big_array(q * q, sizeof(double));
    double *T1 = NULL, *T = NULL, *rho = NULL;
    size_t ka = 0, kb = 0;
    int rc = VX_OK;
    if (!la || !va || !lb || !vb) { rc = vx_fail(err, VX_ENOMEM, "out of memory for SVCCA"); goto out; }
    if ((rc = svcca_side(la, va, &ka, Cd, W, p, err)) || (rc = svcca_side(lb, vb, &kb, Cd + p * W + p, W, q, err))) goto out;
    r->svcca_dims_a = (uint32_t)ka;
    r->svcca_dims_b = (uint32_t)kb;
    if (!ka || !kb) { r->svcca = NAN; goto out; }
    /* T = Λ_a^-½ V_aᵀ Cxy V_b Λ_b^-½ (k_a × k_b): the cross-covariance of the whitened
     * reduced sides, whose singular values are the canonical correlations */
    T1 = vx_big_array(ka * q, sizeof(double));
    T = vx_big_array(ka * kb, sizeof(double));
    size_t m = ka < kb ? ka : kb;
    rho = vx_big_array(m, sizeof(double));
    if (!T1 || !T || !rho) { rc = vx_fail(err, VX_ENOMEM, "out of memory for SVCCA"); goto out; }
    if ((rc = vx_dgemm(0, 0, ka, q, p, va, Cxy, T1)) || (rc = vx_dgemm(0, 1, ka, kb, q, T1, vb, T))) goto out;
    for (size_t i = 0; i < ka; i++)
        for (size_t j = 0; j < kb; j++) T[i * kb + j] /= sqrt(la[i] * lb[j]);
    if ((rc = sing_vals(rho, T, ka, kb, err))) goto out;
    double sum = 0;
    for (size_t i = m; i-- > 0;) sum += rho[i] < 1 ? rho[i] : 1.0; /* rounding can pass 1 */
    r->svcca = sum / (double)m;
out:
    vx_big_free(la);
    vx_big_free(va);
    vx_big_free(lb);
    vx_big_free(vb);
    vx_big_free(T1);
    vx_big_free(T);
    vx_big_free(rho);
    return rc;
}

/* ------------------------------------------------------------------ 4. mutual k-NN */
typedef struct kcand { float v; uint32_t j; } kcand;
typedef struct kstate {
    float *heap;     /* [k] min-heap of the k largest f32 cosines so far */
    size_t nh;
    kcand *c;        /* every token whose f32 cosine reached the running threshold */
    size_t nc, cap;
} kstate;

typedef struct kscan {
    const sctx *c;
    int side;
    size_t k, nq, nb, r0;
    const uint32_t *q;   /* [nq] query shared indices */
    const float *S;      /* [nq][nb] f32 cosines of the block */
    kstate *st;
    float bound2;        /* twice the f32 cosine's error bound */
    int oom;
} kscan;

static void heap_down(float *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l] < h[m]) m = l;
        if (l + 1 < n && h[l + 1] < h[m]) m = l + 1;
        if (m == i) return;
        float t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}
static void heap_push(float *h, size_t *n, float v) {
    size_t i = (*n)++;
    h[i] = v;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        float t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}
static float kthr(const kstate *s, size_t k, float b2) { return s->nh < k ? -INFINITY : s->heap[0] - b2; }

/* keep the candidates at or above the threshold; grow when still half full */
static int prune(kstate *s, size_t k, float b2) {
    float t = kthr(s, k, b2);
    size_t m = 0;
    for (size_t i = 0; i < s->nc; i++)
        if (s->c[i].v >= t) s->c[m++] = s->c[i];
    s->nc = m;
    if (m * 2 > s->cap) {
        kcand *n = realloc(s->c, sizeof(kcand) * s->cap * 2);
        if (!n) return -1;
        s->c = n;
        s->cap *= 2;
    }
    return 0;
}

static void *kscan_worker(void *arg) {
    kscan *j = arg;
    for (size_t qi = 0; qi < j->nq; qi++) {
        kstate *s = j->st + qi;
        const float *v = j->S + qi * j->nb;
        uint32_t self = j->q[qi];
        float t = kthr(s, j->k, j->bound2);
        for (size_t r = 0; r < j->nb; r++) {
            float x = v[r];
            if (x < t || j->r0 + r == self) continue;
            if (s->nh < j->k) heap_push(s->heap, &s->nh, x);
            else if (x > s->heap[0]) { s->heap[0] = x; heap_down(s->heap, s->nh, 0); }
            if (s->nc == s->cap && prune(s, j->k, j->bound2)) { j->oom = 1; return NULL; }
            s->c[s->nc++] = (kcand){ x, (uint32_t)(j->r0 + r) };
            t = kthr(s, j->k, j->bound2);
        }
    }
    return NULL;
}

/* unit f32 rows [i0, i0+n) of side k (by shared index list idx, or consecutive from i0)
 * into U [n][H]; their norms (double, of the f16 values) into nrm[n] */
typedef struct ujob { const sctx *c; int k; const uint32_t *idx; size_t i0, r0, r1; float *U; double *nrm; } ujob;
static void *unit_worker(void *arg) {
    ujob *j = arg;
    size_t H = j->c->s[j->k]->H;
    for (size_t r = j->r0; r < j->r1; r++) {
        float *u = j->U + r * H;
        cvt(j->c, u, row_of(j->c, j->k, j->idx ? j->idx[r] : j->i0 + r), H, 1.0f, NULL);
        double n = sqrt(sumsq(u, H));
        float inv = n > 0 ? (float)(1.0 / n) : 0.0f;
        for (size_t h = 0; h < H; h++) u[h] *= inv;
        j->nrm[r] = n;
    }
    return NULL;
}
static void unit_rows(const sctx *c, int k, const uint32_t *idx, size_t i0, size_t n, float *U, double *nrm) {
    ujob jobs[VX_THREADS_MAX];
    int T = c->nthr;
    for (int t = 0; t < T; t++) jobs[t] = (ujob){ c, k, idx, i0, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T, U, nrm };
    vx_run_parallel(unit_worker, jobs, sizeof jobs[0], T);
}

typedef struct exact { double v; uint32_t j; } exact;
static int by_exact(const void *a, const void *b) {
    const exact *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}
static int by_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The k nearest of each query in double, from its shortlist: nn[qi][k], ascending */
typedef struct fjob {
    const sctx *c;
    int side;
    size_t k, q0, q1;
    const uint32_t *q;
    kstate *st;
    const double *nrm;   /* [N] */
    float bound2;
    uint32_t *nn;
    int oom;
} fjob;
static void *final_worker(void *arg) {
    fjob *j = arg;
    const sctx *c = j->c;
    size_t H = c->s[j->side]->H;
    const float *lut = c->lut;
    for (size_t qi = j->q0; qi < j->q1; qi++) {
        kstate *s = j->st + qi;
        float t = kthr(s, j->k, j->bound2);
        exact *e = malloc(sizeof(exact) * (s->nc ? s->nc : 1));
        if (!e) { j->oom = 1; return NULL; }
        uint32_t self = j->q[qi];
        const uint16_t *a = row_of(c, j->side, self);
        double na = j->nrm[self];
        size_t m = 0;
        for (size_t i = 0; i < s->nc; i++) {
            if (s->c[i].v < t) continue;
            uint32_t o = s->c[i].j;
            const uint16_t *b = row_of(c, j->side, o);
            double d[4] = { 0, 0, 0, 0 };
            size_t h = 0;
            for (; h + 4 <= H; h += 4)
                for (int l = 0; l < 4; l++) d[l] += (double)lut[a[h + l]] * (double)lut[b[h + l]];
            for (; h < H; h++) d[0] += (double)lut[a[h]] * (double)lut[b[h]];
            double den = na * j->nrm[o];
            e[m++] = (exact){ den > 0 ? ((d[0] + d[1]) + (d[2] + d[3])) / den : 0.0, o };
        }
        qsort(e, m, sizeof(exact), by_exact);
        uint32_t *out = j->nn + qi * j->k;
        for (size_t i = 0; i < j->k; i++) out[i] = e[i].j;
        qsort(out, j->k, sizeof(uint32_t), by_u32);
        free(e);
    }
    return NULL;
}

/* γ_n = n·2⁻²⁴ / (1 − n·2⁻²⁴): the f32 dot product's error bound over n terms */
static double gamma32(size_t n) {
    double nu = (double)n * 0x1p-24;
    return nu / (1 - nu);
}

static int mutual_knn(const sctx *c, vx_cmp_mapfree *r, size_t k, size_t sample, uint64_t seed) {
    size_t N = c->N, nq = sample < N ? sample : N;
    uint32_t *q = vx_big_array(N, sizeof(uint32_t));
    uint32_t *nn[2] = { NULL, NULL };
    kstate *st = NULL;
    float *heaps = NULL, *Q = NULL, *U = NULL, *S = NULL;
    double *nrm = NULL, *qn = NULL;
    size_t Hmax = c->s[0]->H > c->s[1]->H ? c->s[0]->H : c->s[1]->H;
    size_t qb = nq < KNN_QB ? nq : KNN_QB;
    int rc = VX_OK;
    uint64_t overlap = 0;
    if (!q) return vx_fail(c->err, VX_ENOMEM, "out of memory for the mutual k-NN");
    for (size_t i = 0; i < N; i++) q[i] = (uint32_t)i;
    if (nq < N) { /* partial Fisher–Yates of nq with stream 3, then ascending */
        uint64_t x = vx_sm_stream(seed, 3);
        vx_sm_shuffle_prefix(q, N, nq, &x);
        qsort(q, nq, sizeof(uint32_t), by_u32);
    }
    nn[0] = vx_big_array(qb * k, sizeof(uint32_t));
    nn[1] = vx_big_array(qb * k, sizeof(uint32_t));
    st = calloc(qb, sizeof(kstate));
    heaps = vx_big_array(qb * k, sizeof(float));
    Q = vx_big_array(qb * Hmax, sizeof(float));
    U = vx_big_array(KNN_RB * Hmax, sizeof(float));
    S = vx_big_array(qb * KNN_RB, sizeof(float));
    nrm = vx_big_array(N, sizeof(double));
    qn = vx_big_array(qb, sizeof(double));
    if (!nn[0] || !nn[1] || !st || !heaps || !Q || !U || !S || !nrm || !qn) {
        rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the mutual k-NN");
        goto out;
    }
    int T = c->nthr;
    for (size_t q0 = 0; q0 < nq && !rc; q0 += qb) {
        size_t m = nq - q0 < qb ? nq - q0 : qb;
        for (int sd = 0; sd < 2 && !rc; sd++) {
            size_t H = c->s[sd]->H;
            float b2 = (float)(2 * gamma32(H + 8)) * (1 + 0x1p-20f); /* spec §10: the shortlist's margin */
            for (size_t i = 0; i < m; i++) {
                free(st[i].c);
                st[i] = (kstate){ heaps + i * k, 0, malloc(sizeof(kcand) * 64), 0, 64 };
                if (!st[i].c) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the mutual k-NN"); break; }
            }
            if (rc) break;
            unit_rows(c, sd, q + q0, 0, m, Q, qn);
            for (size_t r0 = 0; r0 < N && !rc; r0 += KNN_RB) {
                size_t nb = N - r0 < KNN_RB ? N - r0 : KNN_RB;
                unit_rows(c, sd, NULL, r0, nb, U, nrm + r0);
                if ((rc = vx_sgemm_nt(m, nb, H, Q, U, S))) break;
                kscan jobs[VX_THREADS_MAX];
                for (int t = 0; t < T; t++) {
                    size_t a = m * (size_t)t / (size_t)T, e = m * (size_t)(t + 1) / (size_t)T;
                    jobs[t] = (kscan){ c, sd, k, e - a, nb, r0, q + q0 + a, S + a * nb, st + a, b2, 0 };
                }
                vx_run_parallel(kscan_worker, jobs, sizeof jobs[0], T);
                for (int t = 0; t < T; t++)
                    if (jobs[t].oom) rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the mutual k-NN");
            }
            if (rc) break;
            fjob fj[VX_THREADS_MAX];
            for (int t = 0; t < T; t++)
                fj[t] = (fjob){ c, sd, k, m * (size_t)t / (size_t)T, m * (size_t)(t + 1) / (size_t)T, q + q0, st, nrm, b2, nn[sd], 0 };
            vx_run_parallel(final_worker, fj, sizeof fj[0], T);
            for (int t = 0; t < T; t++)
                if (fj[t].oom) rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the mutual k-NN");
        }
        if (rc) break;
        for (size_t i = 0; i < m; i++) { /* |NN_A ∩ NN_B| of sorted lists */
            const uint32_t *x = nn[0] + i * k, *y = nn[1] + i * k;
            for (size_t u = 0, v = 0; u < k && v < k;) {
                if (x[u] == y[v]) { overlap++; u++; v++; }
                else if (x[u] < y[v]) u++;
                else v++;
            }
        }
    }
    if (!rc) {
        r->mutual_knn = (double)overlap / ((double)k * (double)nq);
        r->knn_k = (uint32_t)k;
        r->knn_queries = nq;
    }
out:
    if (st)
        for (size_t i = 0; i < qb; i++) free(st[i].c);
    free(st);
    vx_big_free(q);
    vx_big_free(nn[0]);
    vx_big_free(nn[1]);
    vx_big_free(heaps);
    vx_big_free(Q);
    vx_big_free(U);
    vx_big_free(S);
    vx_big_free(nrm);
    vx_big_free(qn);
    return rc;
}

/* ------------------------------------------------------------------ entry */
int cmp_similarity(ctx *cx, const vx_compare_opts *o, vx_compare_result *r) {
    vx_cmp_mapfree *out = &r->mapfree;
    vx_err *err = cx->err;
    size_t N = cx->N, knn_k = o->knn ? o->knn : VX_CMP_DEFAULT_KNN;
    size_t knn_sample = o->knn_sample ? o->knn_sample : VX_CMP_DEFAULT_KNN_SAMPLE;
    memset(out, 0, sizeof *out);
    if (knn_k >= N) return vx_fail(err, VX_EUSAGE, "--knn %zu: must be below the number of shared tokens (%zu)", knn_k, N);
    vx_sim_side sa = { cx->A.emb, cx->A.H, cx->A.scale, cx->sa }, sb = { cx->B.emb, cx->B.H, cx->B.scale, cx->sb };
    const vx_sim_side *a = &sa, *b = &sb;
    sctx c = { { a, b }, N, a->H + b->H, { 0, a->H }, cx->lut, cx->avx2, cx->nthr, err };
    size_t p = a->H, q = b->H, W = c.W;
    gram g;
    memset(&g, 0, sizeof g);
    double *mean = NULL, *Cd = NULL, *Cxy = NULL;
    int rc = VX_OK;
    mean = vx_big_array(W, sizeof(double));
    g.G = vx_big_array(W * W, sizeof(float));
    g.P = vx_big_array(GBLOCK * W, sizeof(float));
    g.shift = vx_big_array(W, sizeof(float));
    g.sums = vx_big_array(W, sizeof(double));
    g.rn = vx_big_array(2 * GBLOCK, sizeof(double));
    g.rows[0] = malloc(sizeof(uint16_t *) * GBLOCK);
    g.rows[1] = malloc(sizeof(uint16_t *) * GBLOCK);
    if (!mean || !g.G || !g.P || !g.shift || !g.sums || !g.rn || !g.rows[0] || !g.rows[1]) {
        rc = vx_fail(err, VX_ENOMEM, "out of memory for the map-free similarity (%zu columns)", W);
        goto out;
    }
    out->tokens = N;

    /* 1-2: means, then the Gram of the rows centred on them (rounded to f32; the exact
     * remainder δ is taken out below, C = G − n·δδᵀ) */
    if ((rc = column_means(&c, 0, mean)) || (rc = column_means(&c, 1, mean + p))) goto out;
    for (size_t h = 0; h < W; h++) g.shift[h] = (float)mean[h];
    g.own = own_syrk(&c);
    cmp_phase("sim: means");
    for (size_t i0 = 0; i0 < N && !rc; i0 += GBLOCK) rc = gram_block(&c, &g, i0, N - i0 < GBLOCK ? N - i0 : GBLOCK);
    if (rc) goto out;
    cmp_phase("sim: gram");
    vx_big_free(g.P);
    g.P = NULL;
    /* Cd [W][W] upper, double: the centred Gram */
    if (!(Cd = vx_big_array(W * W, sizeof(double))) || !(Cxy = vx_big_array(p * q, sizeof(double)))) {
        rc = vx_fail(err, VX_ENOMEM, "out of memory for the map-free similarity");
        goto out;
    }
    double n = (double)N, trx = 0, try_ = 0, fxx = 0, fyy = 0, fxy = 0;
    for (size_t i = 0; i < W; i++) {
        double di = g.sums[i] / n;
        for (size_t j = i; j < W; j++) {
            double v = (double)g.G[i * W + j] - n * di * (g.sums[j] / n);
            Cd[i * W + j] = v;
            if (j < p) fxx += (i == j ? 1 : 2) * v * v;
            else if (i >= p) fyy += (i == j ? 1 : 2) * v * v;
            else { fxy += v * v; Cxy[i * q + (j - p)] = v; }
            if (i == j) *(i < p ? &trx : &try_) += v;
        }
    }
    vx_big_free(g.G);
    g.G = NULL;
    /* CKA: HSIC ∝ ‖XᵀY‖²_F (biased, centred); the unbiased HSIC of Song et al. with linear
     * kernels K = XXᵀ, L = YYᵀ, written with Grams (X, Y centred, a_i = ‖x_i‖²):
     * tr(K̃L̃) = ‖XᵀY‖² − Σ a_i b_i, 1ᵀK̃1 = −tr XᵀX, 1ᵀK̃L̃1 = Σ a_i b_i */
    out->cka_linear = fxx > 0 && fyy > 0 ? fxy / sqrt(fxx * fyy) : NAN;
    double c1 = 1.0 / ((n - 1) * (n - 2)), c2 = 2.0 / (n - 2);
    double hxy = fxy - g.sab + trx * try_ * c1 - c2 * g.sab;
    double hxx = fxx - g.saa + trx * trx * c1 - c2 * g.saa;
    double hyy = fyy - g.sbb + try_ * try_ * c1 - c2 * g.sbb;
    out->cka_debiased = hxx > 0 && hyy > 0 ? hxy / sqrt(hxx * hyy) : NAN;

    /* SVCCA (reads Cxy), then the Procrustes distances (destroys it) */
    if ((rc = svcca(out, Cd, W, p, q, Cxy, err))) goto out;
    vx_big_free(Cd);
    Cd = NULL;
    double nuc = 0, *sv = vx_big_array(p < q ? p : q, sizeof(double));
    if (!sv) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    rc = sing_vals(sv, Cxy, p, q, err);
    for (size_t i = (p < q ? p : q); i-- > 0;) nuc += sv[i]; /* smallest first */
    vx_big_free(sv);
    if (rc) goto out;
    double rho = trx > 0 && try_ > 0 ? nuc / sqrt(trx * try_) : NAN;
    if (rho > 1) rho = 1;
    out->procrustes_angular = acos(rho);
    out->procrustes_distance = sqrt(2 - 2 * rho);
    cmp_phase("sim: svcca+proc");

    rc = mutual_knn(&c, out, knn_k, knn_sample, o->seed);
    cmp_phase("sim: knn");
out:
    vx_big_free(mean);
    vx_big_free(g.G);
    vx_big_free(g.P);
    vx_big_free(g.shift);
    vx_big_free(g.sums);
    vx_big_free(g.rn);
    free(g.rows[0]);
    free(g.rows[1]);
    vx_big_free(Cd);
    vx_big_free(Cxy);
    return rc;
}
