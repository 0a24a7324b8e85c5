/*
 * compare.c — `vindex compare`: align two models' embedding spaces by orthogonal
 * Procrustes on their shared tokens and measure how well they agree (spec/compare.md).
 *
 * Shape of the computation (S = source, the wider model; T = target; d = T's width):
 *   1. shared tokens (by id for identical vocabularies, else by readable text);
 *   2. a seeded split into anchors and held-out test tokens (splitmix64, §3 of the spec);
 *   3. if S is wider, PCA of S's embeddings to d dims: covariance accumulated in f32 blocks
 *      into double, top-d eigenvectors;
 *   4. anchors/test rows gathered from the f16 maps, projected (f32 GEMM), kept in f32
 *      and centred in double a block at a time where used;
 *   5. centring on anchor means, R = U Vᵀ from the SVD of the d×d cross-covariance (double);
 *   6. metrics on the test set; a random-orthogonal baseline; relational correlations;
 *   7. gate/down subspace similarity for every layer pair;
 *   8. one streaming pass over every shared token for the best/worst aligned tokens (bf16
 *      screening, then an exact f32 map of the few that can be among them).
 * Memory: the anchor/test subsets, the PCA basis, d×d matrices and one row block; the
 * embedding matrices are read from the maps row by row.
 */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "vx_compare.h"
#include "vxindex.h"


static void phase(const char *name);

/* ------------------------------------------------------------------------- PRNG */
/* splitmix64 (Steele, Lea, Flood 2014): portable, and vectorisable in numpy because output
 * k of a stream is mix64(state0 + (k+1)·GAMMA). Spec §3. */
#define SM_GAMMA 0x9E3779B97F4A7C15ull
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t sm_next(uint64_t *x) { return mix64(*x += SM_GAMMA); }
/* Stream k of seed s: its initial state is mix64(s + k). 0 split, 1 PCA sample, 2 baseline. */
static uint64_t sm_stream(uint64_t seed, uint64_t k) { return mix64(seed + k); }
/* Uniform in [0, n), unbiased: reject outputs below 2^64 mod n. */
static uint64_t sm_below(uint64_t *x, uint64_t n) {
    uint64_t t = (0 - n) % n, r;
    do r = sm_next(x); while (r < t);
    return r % n;
}
/* Partial Fisher–Yates: the first k entries of p[n] become a uniform sample, in order. */
static void sm_shuffle_prefix(uint32_t *p, size_t n, size_t k, uint64_t *x) {
    for (size_t i = 0; i < k && i < n; i++) {
        size_t j = i + (size_t)sm_below(x, n - i);
        uint32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* ------------------------------------------------------------------------ state */
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

static void side_init(side *s, const vx_index *vx) {
    const vx_info *in = vx_get_info(vx);
    s->vx = vx;
    s->emb = vx_embeddings(vx);
    s->H = in->hidden_size;
    s->V = in->vocab_size;
    s->L = in->num_layers;
    s->F = in->num_feats;
    s->scale = in->embed_scale > 0 ? in->embed_scale : 1.0f;
}

/* dst[n] = f16 row * sc - mu, in f32: F16C + FMA when the CPU has them (every source row
 * of the PCA, the projections and the all-token pass goes through here), else the table. */
#if defined(__x86_64__)
__attribute__((target("avx2,f16c,fma"))) static void cvt_f16c(float *dst, const uint16_t *e, size_t n, float sc,
                                                               const float *mu, const float *lut) {
    size_t h = 0;
    __m256 vs = _mm256_set1_ps(sc);
    for (; h + 8 <= n; h += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(e + h)));
        _mm256_storeu_ps(dst + h, _mm256_fmsub_ps(v, vs, _mm256_loadu_ps(mu + h)));
    }
    for (; h < n; h++) dst[h] = fmaf(lut[e[h]], sc, -mu[h]); /* fused, as above */
}
#endif
/* One row of side s: dst[H] = row · scale − mu (f32). */
static void cvt_row(const ctx *c, const side *s, float *dst, uint32_t id, const float *mu) {
    const uint16_t *e = s->emb + (size_t)id * s->H;
    float sc = s->scale;
#if defined(__x86_64__)
    if (c->avx2) { cvt_f16c(dst, e, s->H, sc, mu, c->lut); return; }
#endif
    for (size_t h = 0; h < s->H; h++) dst[h] = c->lut[e[h]] * sc - mu[h];
}

/* dst[n] = f16 src[n] as f32 (stored directions: no scale, no mean). */
static void cvt_row_raw(const ctx *c, float *dst, const uint16_t *e, size_t n) {
#if defined(__x86_64__)
    if (c->avx2) { cvt_f16c(dst, e, n, 1.0f, c->zero, c->lut); return; }
#endif
    for (size_t h = 0; h < n; h++) dst[h] = c->lut[e[h]];
}

/* gather(): rows of one side into X [n][H] f32, row · scale − mu, on c->nthr threads. Row i is
 * side id map[idx ? idx[i] : first + i]. With sums, the column sums of X are added to
 * sums [H] in double, in row order whatever the thread count (threads split the columns),
 * so results do not depend on it. Every embedding row the comparison reads goes through
 * here. */
typedef struct gjob {
    const ctx *c;
    const side *s;
    const uint32_t *map, *idx;
    size_t first, n, r0, r1;  /* rows [r0, r1) to convert; then columns [r0c, r1c) to sum */
    size_t c0, c1;
    const float *mu;
    float *X;
    double *sums;
} gjob;

static void *gather_worker(void *arg) {
    gjob *j = arg;
    size_t H = j->s->H;
    for (size_t i = j->r0; i < j->r1; i++)
        cvt_row(j->c, j->s, j->X + i * H, j->map[j->idx ? j->idx[i] : j->first + i], j->mu);
    return NULL;
}
static void *colsum_worker(void *arg) {
    gjob *j = arg;
    size_t H = j->s->H;
    for (size_t i = 0; i < j->n; i++) {
        const float *x = j->X + i * H;
        for (size_t h = j->c0; h < j->c1; h++) j->sums[h] += (double)x[h];
    }
    return NULL;
}

static void gather(const ctx *c, const side *s, const uint32_t *map, const uint32_t *idx, size_t first, size_t n,
                   const float *mu, float *X, double *sums) {
    gjob jobs[64];
    int T = c->nthr;
    if ((size_t)T > n / 16) T = n / 16 > 1 ? (int)(n / 16) : 1;
    for (int t = 0; t < T; t++)
        jobs[t] = (gjob){ c, s, map, idx, first, n, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T,
                          s->H * (size_t)t / (size_t)T, s->H * (size_t)(t + 1) / (size_t)T, mu ? mu : c->zero, X, sums };
    vx_run_parallel(gather_worker, jobs, sizeof jobs[0], T);
    if (sums) vx_run_parallel(colsum_worker, jobs, sizeof jobs[0], T);
}

/* dst[n] = src[n] widened to double, on c->nthr threads (the anchor/test rows). */
typedef struct wjob { double *dst; const float *src; size_t i0, i1; } wjob;
static void *widen_worker(void *arg) {
    wjob *j = arg;
    for (size_t i = j->i0; i < j->i1; i++) j->dst[i] = j->src[i];
    return NULL;
}
static void widen(const ctx *c, double *dst, const float *src, size_t n) {
    wjob jobs[64];
    int T = n < ((size_t)1 << 16) ? 1 : c->nthr;
    for (int t = 0; t < T; t++) jobs[t] = (wjob){ dst, src, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T };
    vx_run_parallel(widen_worker, jobs, sizeof jobs[0], T);
}

static void row_f64(const ctx *c, const side *s, double *dst, uint32_t id) {
    const uint16_t *e = s->emb + (size_t)id * s->H;
    for (size_t h = 0; h < s->H; h++) dst[h] = (double)(c->lut[e[h]] * s->scale);
}

/* --------------------------------------------------------------- shared tokens */
static int same_vocab(const vx_index *a, const vx_index *b) {
    const vx_vocab *va = &a->vocab, *vb = &b->vocab;
    if (va->n != vb->n) return 0;
    for (uint32_t i = 0; i < va->n; i++) {
        const char *ra, *rb, *t;
        size_t la, lb, tl;
        vx_vocab_get(va, i, &ra, &la, &t, &tl);
        vx_vocab_get(vb, i, &rb, &lb, &t, &tl);
        if (la != lb || memcmp(ra, rb, la)) return 0;
    }
    return 1;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* Readable-text intersection: each text of B maps to B's lowest id with it; A's ids are
 * walked in order and the first A id of each text is kept (spec §2). Empty texts never match. */
static int match_text(ctx *c) {
    const vx_vocab *va = &c->A.vx->vocab, *vb = &c->B.vx->vocab;
    size_t nb = 1;
    while (nb < 2 * (size_t)vb->n + 2) nb <<= 1;
    uint32_t *tb = vx_big_alloc(sizeof(uint32_t) * nb);   /* B ids */
    size_t na = 1;
    while (na < 2 * (size_t)va->n + 2) na <<= 1;
    uint32_t *ta = vx_big_alloc(sizeof(uint32_t) * na);   /* A ids already taken, by text */
    c->sa = vx_big_alloc(sizeof(uint32_t) * (va->n ? va->n : 1));
    c->sb = vx_big_alloc(sizeof(uint32_t) * (va->n ? va->n : 1));
    if (!tb || !ta || !c->sa || !c->sb) { vx_big_free(tb); vx_big_free(ta); return vx_fail(c->err, VX_ENOMEM, "out of memory"); }
    memset(tb, 0xff, sizeof(uint32_t) * nb);
    memset(ta, 0xff, sizeof(uint32_t) * na);
    for (uint32_t i = 0; i < vb->n; i++) {
        const char *r, *t;
        size_t rl, tl;
        vx_vocab_get(vb, i, &r, &rl, &t, &tl);
        if (!tl) continue;
        for (size_t k = fnv1a(t, tl) & (nb - 1);; k = (k + 1) & (nb - 1)) {
            if (tb[k] == UINT32_MAX) { tb[k] = i; break; }
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(vb, tb[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) break; /* keep the lower id */
        }
    }
    size_t n = 0;
    for (uint32_t i = 0; i < va->n; i++) {
        const char *r, *t;
        size_t rl, tl;
        vx_vocab_get(va, i, &r, &rl, &t, &tl);
        if (!tl) continue;
        int dup = 0;
        for (size_t k = fnv1a(t, tl) & (na - 1);; k = (k + 1) & (na - 1)) {
            if (ta[k] == UINT32_MAX) { ta[k] = i; break; }
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(va, ta[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) { dup = 1; break; }
        }
        if (dup) continue;
        for (size_t k = fnv1a(t, tl) & (nb - 1); tb[k] != UINT32_MAX; k = (k + 1) & (nb - 1)) {
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(vb, tb[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) { c->sa[n] = i; c->sb[n] = tb[k]; n++; break; }
        }
    }
    vx_big_free(tb);
    vx_big_free(ta);
    c->N = n;
    return VX_OK;
}

/* ------------------------------------------------------------------ statistics */
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* numpy's default ("linear") percentile of sorted s[n]. */
static double pct_sorted(const double *s, size_t n, double p) {
    double pos = (double)(n - 1) * p / 100.0;
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n) return s[n - 1];
    double t = pos - (double)lo;
    return s[lo] + (s[lo + 1] - s[lo]) * t;
}
static void mean_std(const double *x, size_t n, double *mean, double *std) {
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = sqrt(v / (double)n);
}
static int stats(vx_cmp_stats *st, const double *cs, const uint32_t *ida, size_t n) {
    static const double P[9] = { 1, 5, 10, 25, 50, 75, 90, 95, 99 };
    double *s = vx_big_alloc(sizeof(double) * n);
    if (!s) return VX_ENOMEM;
    memcpy(s, cs, sizeof(double) * n);
    qsort(s, n, sizeof(double), cmp_dbl);
    mean_std(cs, n, &st->mean, &st->std);
    st->median = pct_sorted(s, n, 50);
    for (int i = 0; i < 9; i++) st->pct[i] = pct_sorted(s, n, P[i]);
    size_t im = 0;
    for (size_t i = 1; i < n; i++)
        if (cs[i] < cs[im]) im = i;
    st->min = cs[im];
    st->min_id = ida[im];
    for (int k = 0; k < 10; k++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) cnt += cs[i] > (double)k / 10.0;
        st->frac_above[k] = (double)cnt / (double)n;
    }
    vx_big_free(s);
    return VX_OK;
}
static double cosine(const double *a, const double *b, size_t d) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < d; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* Rows of X [m][n] scaled to unit length (zero rows stay zero), then G = X Xᵀ [m][m]. */
static int unit_gram(double *G, double *X, size_t m, size_t n) {
    for (size_t i = 0; i < m; i++) {
        double s = 0;
        for (size_t h = 0; h < n; h++) s += X[i * n + h] * X[i * n + h];
        s = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (size_t h = 0; h < n; h++) X[i * n + h] *= s;
    }
    return vx_dgemm(0, 1, m, m, n, X, X, G);
}
/* Pearson correlation and mean |difference| of the strict upper triangles of G1, G2 [m][m]. */
static void pair_corr(double *r, double *mad, const double *G1, const double *G2, size_t m) {
    double n = 0, s1 = 0, s2 = 0, ad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = i + 1; j < m; j++) { s1 += G1[i * m + j]; s2 += G2[i * m + j]; ad += fabs(G1[i * m + j] - G2[i * m + j]); n++; }
    double m1 = s1 / n, m2 = s2 / n, c12 = 0, c11 = 0, c22 = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = i + 1; j < m; j++) {
            double a = G1[i * m + j] - m1, b = G2[i * m + j] - m2;
            c12 += a * b; c11 += a * a; c22 += b * b;
        }
    *r = c11 > 0 && c22 > 0 ? c12 / sqrt(c11 * c22) : NAN;
    *mad = ad / n;
}

/* ----------------------------------------------------------------- the split */
static int draw_sets(ctx *c, const vx_compare_opts *o, uint32_t **anc, size_t *na, uint32_t **tst, size_t *nt) {
    vx_err *err = c->err;
    size_t VA = c->A.V, N = c->N;
    int32_t *pos = vx_big_alloc(sizeof(int32_t) * VA);
    uint8_t *used = vx_big_array(N, 1);
    uint32_t *pool = vx_big_alloc(sizeof(uint32_t) * N);
    int rc = VX_OK;
    *anc = *tst = NULL;
    if (!pos || !used || !pool) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    memset(pos, 0xff, sizeof(int32_t) * VA);
    for (size_t i = 0; i < N; i++) pos[c->sa[i]] = (int32_t)i;
    const uint32_t *lists[2] = { o->anchor_ids, o->test_ids };
    size_t lens[2] = { o->n_anchor_ids, o->n_test_ids };
    uint32_t **outs[2] = { anc, tst };
    size_t *outn[2] = { na, nt };
    const char *names[2] = { "anchor", "test" };
    for (int k = 0; k < 2; k++) {
        if (!lists[k]) continue;
        if (!(*outs[k] = vx_big_alloc(sizeof(uint32_t) * (lens[k] ? lens[k] : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < lens[k]; i++) {
            uint32_t id = lists[k][i];
            if (id >= VA) { rc = vx_fail(err, VX_ENOTFOUND, "%s token #%u: out of range (A has %zu tokens)", names[k], id, VA); goto out; }
            if (pos[id] < 0) { rc = vx_fail(err, VX_ENOTFOUND, "%s token #%u is not shared with B", names[k], id); goto out; }
            (*outs[k])[i] = (uint32_t)pos[id];
            used[pos[id]] = 1;
        }
        *outn[k] = lens[k];
    }
    size_t P = 0;
    for (size_t i = 0; i < N; i++)
        if (!used[i]) pool[P++] = (uint32_t)i;
    int draw_a = !o->anchor_ids, draw_t = !o->test_ids;
    size_t a = draw_a ? o->anchors : 0, t = draw_t ? o->test : 0;
    if (draw_a && draw_t && !a && !t) {
        if (P >= VX_CMP_DEFAULT_ANCHORS + VX_CMP_DEFAULT_TEST) { a = VX_CMP_DEFAULT_ANCHORS; t = VX_CMP_DEFAULT_TEST; }
        else { t = P / 3; a = P - t; }
    } else {
        if (draw_a && !a) a = P > t ? (P - t < VX_CMP_DEFAULT_ANCHORS ? P - t : VX_CMP_DEFAULT_ANCHORS) : 0;
        if (draw_t && !t) t = P > a ? (P - a < VX_CMP_DEFAULT_TEST ? P - a : VX_CMP_DEFAULT_TEST) : 0;
    }
    if (a + t > P) {
        rc = vx_fail(err, VX_EUSAGE, "%zu anchors + %zu test tokens requested, only %zu shared tokens available", a, t, P);
        goto out;
    }
    uint64_t x = sm_stream(o->seed, 0);
    sm_shuffle_prefix(pool, P, a + t, &x);
    if (draw_a) {
        if (!(*anc = vx_big_alloc(sizeof(uint32_t) * (a ? a : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        memcpy(*anc, pool, sizeof(uint32_t) * a);
        *na = a;
    }
    if (draw_t) {
        if (!(*tst = vx_big_alloc(sizeof(uint32_t) * (t ? t : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        memcpy(*tst, pool + a, sizeof(uint32_t) * t);
        *nt = t;
    }
    if (*na < VX_CMP_MIN_SPLIT || *nt < VX_CMP_MIN_SPLIT)
        rc = vx_fail(err, VX_EUSAGE, "%zu anchors and %zu test tokens; each needs at least %d", *na, *nt, VX_CMP_MIN_SPLIT);
out:
    if (rc) { vx_big_free(*anc); vx_big_free(*tst); *anc = *tst = NULL; }
    vx_big_free(pos);
    vx_big_free(used);
    vx_big_free(pool);
    return rc;
}

/* ------------------------------------------------------------------------- PCA */
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

#define BLOCK 1024 /* rows per gather + GEMM of the anchor/test projection */
/* Rows per f32 SYRK of the PCA covariance: 16 MB at H = 4096. Small on purpose: OpenBLAS
 * updates C once per internal K block whatever the call's K (1024, 4096, 8192 and 16384
 * measured the same), and a smaller peak is worth having — on a virtual machine each fresh
 * megabyte costs ~2 ms on first touch while the host backs it (0.54 GB/s measured here). */
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
        gather(c, c->S, c->sid, fit, 0, nb, shift, X, sums);
        return G ? vx_sgram_rows(G, HS, X, nb, accumulate) : VX_OK;
    }
    const uint16_t *rows[PCA_BLOCK];
    for (size_t i = 0; i < nb; i++) rows[i] = c->S->emb + (size_t)c->sid[fit[i]] * HS;
    kjob jobs[64];
    int T = c->nthr > 64 ? 64 : c->nthr;
    size_t np = HS / 32;
    atomic_size_t next = 0;
    for (int t = 0; t < T; t++)
        jobs[t] = (kjob){ c, rows, nb, np * (size_t)t / (size_t)T, np * (size_t)(t + 1) / (size_t)T, shift ? shift : c->zero,
                          sums, X, G, &next };
    vx_run_parallel(syrk_pack_worker, jobs, sizeof jobs[0], T);
    if (G) vx_run_parallel(syrk_rows_worker, jobs, sizeof jobs[0], T);
    return VX_OK;
}

static int fit_pca(ctx *c, const vx_compare_opts *o, vx_compare_result *r, void *(*bg)(void *), void *arg) {
    size_t N = c->N, HS = c->HS, d = c->d, n = N;
    uint32_t *fit = vx_big_alloc(sizeof(uint32_t) * N);
    double *vals = vx_big_alloc(sizeof(double) * d), *sum = vx_big_array(HS, sizeof(double));
    float *G = vx_big_alloc(sizeof(float) * HS * HS), *X = vx_big_alloc(sizeof(float) * PCA_BLOCK * HS);
    float *shift = vx_big_array(HS, sizeof(float));
    int rc = VX_OK;
    if (!fit || !vals || !sum || !G || !X || !shift) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the PCA"); goto out; }
    for (size_t i = 0; i < N; i++) fit[i] = (uint32_t)i;
    if (N > o->pca_sample) { /* spec §4: seeded sample, then ascending */
        uint64_t x = sm_stream(o->seed, 1);
        sm_shuffle_prefix(fit, N, o->pca_sample, &x);
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
    phase("pca: cov");
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
    phase("pca: eig");
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
 * and as stored: the metrics centre them in double a block at a time, centre_rows); and the
 * source's full-width mean of the first `nmean` rows into mux [HS] (the anchor mean at full
 * width). */
static int project_rows(ctx *c, float *Z, float *Y, const uint32_t *idx, size_t n, double *mux, size_t nmean) {
    size_t HS = c->HS, d = c->d;
    float *X = vx_big_array(BLOCK * HS, sizeof(float));
    double *sum = vx_big_array(HS, sizeof(double));
    if (!X || !sum) { vx_big_free(X); vx_big_free(sum); return vx_fail(c->err, VX_ENOMEM, "out of memory"); }
    int rc = VX_OK;
    for (size_t b0 = 0; b0 < n && !rc; b0 += BLOCK) {
        size_t nb = n - b0 < BLOCK ? n - b0 : BLOCK, nm = b0 < nmean ? (nmean - b0 < nb ? nmean - b0 : nb) : 0;
        gather(c, c->S, c->sid, idx + b0, 0, nm, c->mu0f, X, sum);
        gather(c, c->S, c->sid, idx + b0 + nm, 0, nb - nm, c->mu0f, X + nm * HS, NULL);
        if (c->Wf) rc = vx_sgemm_map(nb, d, HS, X, c->Wf, Z + b0 * d);
        else memcpy(Z + b0 * d, X, sizeof(float) * nb * d);
        gather(c, c->T, c->tid, idx + b0, 0, nb, NULL, Y + b0 * d, NULL);
    }
    for (size_t h = 0; h < HS; h++) mux[h] = nmean ? sum[h] / (double)nmean + (double)c->mu0f[h] : 0.0;
    vx_big_free(X);
    vx_big_free(sum);
    return rc;
}

/* dst [nb][d] = src − mu in double: the centred rows the metrics work with (the f32 rows
 * widened exactly, then one rounding). */
static void centre_rows(double *dst, const float *src, const double *mu, size_t nb, size_t d) {
    for (size_t i = 0; i < nb; i++)
        for (size_t h = 0; h < d; h++) dst[i * d + h] = (double)src[i * d + h] - mu[h];
}

/* ------------------------------------------------------------- layer subspaces */
/* Dot product and y -= a·x for the Gram–Schmidt below (its cost is F²·d per layer and
 * kind: scalar code made the layer phase the slowest one at real shape). */
static double dot_scalar(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static void axpy_scalar(double *y, double a, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] -= a * x[i];
}
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static double dot_avx2(const double *a, const double *b, size_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + i + 4), _mm256_loadu_pd(b + i + 4), s1);
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
__attribute__((target("avx2,fma"))) static void axpy_avx2(double *y, double a, const double *x, size_t n) {
    __m256d va = _mm256_set1_pd(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, _mm256_fnmadd_pd(va, _mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i)));
    for (; i < n; i++) y[i] -= a * x[i];
}
#endif

/* Orthonormal basis of the rows of M [k][n] (modified Gram–Schmidt, two passes), in place;
 * rows whose remainder is below 1e-8 of their length are dropped. Returns the rank. */
static size_t orthonormalise(double *M, size_t k, size_t n, int avx2) {
    double (*dot)(const double *, const double *, size_t) = dot_scalar;
    void (*axpy)(double *, double, const double *, size_t) = axpy_scalar;
#if defined(__x86_64__)
    if (avx2) { dot = dot_avx2; axpy = axpy_avx2; }
#endif
    size_t r = 0;
    for (size_t i = 0; i < k; i++) {
        double *v = M + i * n, n0 = dot(v, v, n), nn;
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < r; j++) axpy(v, dot(M + j * n, v, n), M + j * n, n);
        nn = dot(v, v, n);
        if (n0 <= 0 || nn <= 1e-16 * n0) continue;
        double s = 1.0 / sqrt(nn);
        double *dst = M + r * n;
        for (size_t h = 0; h < n; h++) dst[h] = v[h] * s;
        r++;
    }
    return r;
}

/* Bases of every layer of one side in the target space: out [L][F][d], ranks[L]. */
/* Rows of every layer of one side in the target space, double: out [L][F][d]. */
static int layer_rows(ctx *c, const side *s, vx_kind kind, double *out) {
    size_t L = s->L, F = s->F, H = s->H, d = c->d;
    const uint16_t *D = vx_features(s->vx, kind);
    int is_src = s == c->S;
    size_t chunk = F < 1024 ? 1024 / F : 1; /* layers per f32 GEMM of the source's map */
    float *X = vx_big_array(chunk * F * H, sizeof(float)), *Y = vx_big_array(chunk * F * d, sizeof(float));
    int rc = VX_OK;
    if (!X || !Y) { rc = VX_ENOMEM; goto out; }
    for (size_t l0 = 0; l0 < L && !rc; l0 += chunk) {
        size_t nl = L - l0 < chunk ? L - l0 : chunk;
        for (size_t i = 0; i < nl * F; i++) cvt_row_raw(c, X + i * H, D + (l0 * F + i) * H, H);
        /* the source's g → g Wᵀ R (f32 GEMM with the map of §6), the target's as stored */
        if (is_src && (rc = vx_sgemm_map(nl * F, d, H, X, c->Mf, Y))) break;
        widen(c, out + l0 * F * d, is_src ? Y : X, nl * F * d);
    }
out:
    vx_big_free(X);
    vx_big_free(Y);
    return rc;
}

/* vx_run_parallel with BLAS single-threaded per caller while T > 1 jobs run (two callers
 * sharing OpenBLAS's pool oversubscribe it: measured 5x slower), restored after. */
static void run_blas_serial(void *(*fn)(void *), void *jobs, size_t job_size, int T) {
    int before = vx_blas_threads_get();
    if (T > 1) vx_blas_threads(1);
    vx_run_parallel(fn, jobs, job_size, T);
    if (T > 1) vx_blas_threads(before);
}

/* Orthonormal bases of one side's layers: job t of T takes layers t, t+T, … */
typedef struct ojob {
    const ctx *c;
    double *Q;
    size_t L, F, *k;
    int t, T, rc;
} ojob;

/* Orthonormalise the rows of B [F][d] in place; returns the rank. Cholesky QR gives the
 * Gram–Schmidt basis up to signs when the rows are well conditioned: every remainder above
 * 1e-3 of its row's length, so cond ≲ 1e4 and one pass is orthogonal to ~1e-8. Otherwise,
 * or with more rows than dimensions, the Gram–Schmidt of the spec runs. scratch: F·d + 2F +
 * F² doubles. */
static size_t layer_basis(const ctx *c, double *B, size_t F, size_t d, double *scratch) {
    double *copy = scratch, *ld = copy + F * d, *n0 = ld + F, *G = n0 + F;
    int fast = F <= d;
    if (fast) {
        memcpy(copy, B, sizeof(double) * F * d);
        for (size_t j = 0; j < F; j++) {
            double t = 0;
            for (size_t h = 0; h < d; h++) t += B[j * d + h] * B[j * d + h];
            n0[j] = t;
            fast &= t > 0;
        }
        fast = fast && vx_dorth_rows_chol(B, F, d, 1, ld, G) == VX_OK;
        for (size_t j = 0; fast && j < F; j++) fast = ld[j] * ld[j] > 1e-6 * n0[j];
        if (!fast) memcpy(B, copy, sizeof(double) * F * d);
    }
    return fast ? F : orthonormalise(B, F, d, c->avx2);
}

static void *orth_worker(void *arg) {
    ojob *j = arg;
    size_t F = j->F, d = j->c->d;
    double *scratch = vx_big_array(F * d + 2 * F + F * F, sizeof(double));
    if (!scratch) { j->rc = VX_ENOMEM; return NULL; }
    for (size_t l = (size_t)j->t; l < j->L; l += (size_t)j->T) j->k[l] = layer_basis(j->c, j->Q + l * F * d, F, d, scratch);
    vx_big_free(scratch);
    return NULL;
}

/* Every layer of one side, on c->nthr threads with single-threaded BLAS (the factors are
 * small: 128 × 1024). */
static int layer_bases(ctx *c, double *Q, size_t L, size_t F, size_t *k) {
    ojob jobs[64];
    int T = c->nthr;
    for (int t = 0; t < T; t++) jobs[t] = (ojob){ c, Q, L, F, k, t, T, VX_OK };
    run_blas_serial(orth_worker, jobs, sizeof jobs[0], T);
    for (int t = 0; t < T; t++)
        if (jobs[t].rc) return jobs[t].rc;
    return VX_OK;
}

/* dst [F][d] f32 = src [F][d] with the rows from the layer's rank k on set to zero, so
 * every layer keeps F rows in layer_sims' GEMM. */
static void basis_f32(float *dst, const double *src, size_t F, size_t d, size_t k) {
    for (size_t i = 0; i < F * d; i++) dst[i] = i < k * d ? (float)src[i] : 0.0f;
}

/* The target's layer bases as stored (no map), one layer at a time through a double
 * scratch, kept as f32 [L][F][d] with the rows past each layer's rank zeroed (what the
 * GEMM of layer_sims takes): half the memory of keeping them in double, which on the
 * project machine is fresh memory at the PCA's high-water mark. One thread. */
static int target_bases(ctx *c, vx_kind kind, float *Q, size_t *k) {
    const side *T = c->T;
    size_t L = T->L, F = T->F, d = c->d;
    const uint16_t *D = vx_features(T->vx, kind);
    double *B = vx_big_array(F * d, sizeof(double)), *scratch = vx_big_array(F * d + 2 * F + F * F, sizeof(double));
    float *row = vx_big_array(d, sizeof(float));
    int rc = VX_OK;
    if (!B || !scratch || !row) { rc = VX_ENOMEM; goto out; }
    for (size_t l = 0; l < L; l++) {
        for (size_t i = 0; i < F; i++) {
            cvt_row_raw(c, row, D + (l * F + i) * d, d);
            for (size_t h = 0; h < d; h++) B[i * d + h] = row[h];
        }
        k[l] = layer_basis(c, B, F, d, scratch);
        basis_f32(Q + l * F * d, B, F, d, k[l]);
    }
out:
    vx_big_free(B);
    vx_big_free(scratch);
    vx_big_free(row);
    return rc;
}

static int layer_sims(ctx *c, vx_compare_result *r, float *const qT[2], size_t *const kT[2]) {
    const side *A = &c->A, *B = &c->B, *S = c->S;
    size_t d = c->d, LA = A->L, LB = B->L, NB = LB * B->F;
    r->layers_a = (uint32_t)LA;
    r->layers_b = (uint32_t)LB;
    r->gate_sim = calloc(LA * LB, sizeof(double));
    r->down_sim = calloc(LA * LB, sizeof(double));
    double *QS = vx_big_array(S->L * S->F * d, sizeof(double));
    /* f32 copies for the GEMM of all pairs: cosines of orthonormal rows, error ~1e-7 */
    float *QAf = vx_big_alloc(sizeof(float) * LA * A->F * d), *QBf = vx_big_alloc(sizeof(float) * NB * d);
    size_t PL = A->F < 1024 ? 1024 / A->F : 1; /* A layers per GEMM: P stays ~1024 rows */
    if (PL > LA) PL = LA;
    float *P = vx_big_array(PL * A->F * NB, sizeof(float));
    size_t *kS = vx_big_array(S->L, sizeof(size_t));
    int rc = VX_OK;
    if (!r->gate_sim || !r->down_sim || !QS || !QAf || !QBf || !P || !kS) { rc = VX_ENOMEM; goto out; }
    for (int kind = 0; kind < 2 && !rc; kind++) {
        double *sim = kind ? r->down_sim : r->gate_sim;
        if ((rc = layer_rows(c, S, (vx_kind)kind, QS)) || (rc = layer_bases(c, QS, S->L, S->F, kS))) break;
        const size_t *ka = S == A ? kS : kT[kind], *kb = S == A ? kT[kind] : kS;
        /* the target's bases come f32 and masked from the early work */
        float *QSf = S == A ? QAf : QBf;
        for (size_t l = 0; l < S->L; l++) basis_f32(QSf + l * S->F * d, QS + l * S->F * d, S->F, d, kS[l]);
        memcpy(S == A ? QBf : QAf, qT[kind], sizeof(float) * c->T->L * c->T->F * d);
        /* all pairs of PL of A's layers at a time: P = QA QBᵀ [PL·F][LB·F], one GEMM */
        for (size_t l0 = 0; l0 < LA && !rc; l0 += PL) {
            size_t nl = LA - l0 < PL ? LA - l0 : PL;
            if ((rc = vx_sgemm_map(nl * A->F, NB, d, QAf + l0 * A->F * d, QBf, P))) break;
            for (size_t la = l0; la < l0 + nl; la++) {
                if (!ka[la]) continue;
                const float *Pl = P + (la - l0) * A->F * NB;
                for (size_t lb = 0; lb < LB; lb++) {
                    double s = 0;
                    for (size_t i = 0; i < ka[la]; i++)
                        for (size_t j = 0; j < kb[lb]; j++) { double v = Pl[i * NB + lb * B->F + j]; s += v * v; }
                    size_t k = ka[la] < kb[lb] ? ka[la] : kb[lb];
                    sim[la * LB + lb] = k ? s / (double)k : 0.0;
                }
            }
        }
    }
out:
    vx_big_free(QS);
    vx_big_free(QAf);
    vx_big_free(QBf);
    vx_big_free(P);
    vx_big_free(kS);
    return rc == VX_ENOMEM ? vx_fail(c->err, rc, "out of memory for the layer subspaces") : rc;
}

static int match_layers(vx_compare_result *r, const vx_compare_opts *o, vx_err *err) {
    size_t LA = r->layers_a, LB = r->layers_b;
    if (o->layer_map) {
        if (!(r->matched = malloc(sizeof *r->matched * (o->n_layer_map ? o->n_layer_map : 1)))) return vx_fail(err, VX_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->n_layer_map; i++) {
            if (o->layer_map[i][0] >= LA || o->layer_map[i][1] >= LB)
                return vx_fail(err, VX_EUSAGE, "--layer-map %u:%u: out of range (A has %zu layers, B %zu)",
                               o->layer_map[i][0], o->layer_map[i][1], LA, LB);
            r->matched[i][0] = o->layer_map[i][0];
            r->matched[i][1] = o->layer_map[i][1];
        }
        r->n_matched = o->n_layer_map;
        return VX_OK;
    }
    /* Every layer i of the shallower model (A on ties) with the deeper model's layer
     * round(i·(L2-1)/(L1-1)), halves rounded up (spec §7). */
    int a_short = LA <= LB;
    size_t L1 = a_short ? LA : LB, L2 = a_short ? LB : LA;
    if (!(r->matched = malloc(sizeof *r->matched * L1))) return vx_fail(err, VX_ENOMEM, "out of memory");
    for (size_t i = 0; i < L1; i++) {
        size_t j = L1 == 1 ? 0 : (2 * i * (L2 - 1) + (L1 - 1)) / (2 * (L1 - 1));
        r->matched[i][0] = (uint32_t)(a_short ? i : j);
        r->matched[i][1] = (uint32_t)(a_short ? j : i);
    }
    r->n_matched = L1;
    return VX_OK;
}

/* --------------------------------------------------------------- best / worst */
typedef struct scored { float cos; uint32_t id; uint32_t idx; } scored;
static int by_best(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->cos != y->cos) return x->cos > y->cos ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}
static int by_worst(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->cos != y->cos) return x->cos < y->cos ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* c->Mf = (Wᵀ R)ᵀ = Rᵀ W [d][HS] in f32 (Rᵀ without PCA): one f32 GEMM of the f32 copies
 * (Wf, Rᵀ rounded), error ~1e-7 relative — as small as rounding a double product would
 * leave, at a fifth of the time. */
static int build_map(ctx *c, const double *R) {
    size_t HS = c->HS, d = c->d;
    float *RT = vx_big_alloc(sizeof(float) * d * d);
    c->Mf = vx_big_alloc(sizeof(float) * d * HS);
    int rc = VX_OK;
    if (!RT || !c->Mf) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) RT[i * d + j] = (float)R[j * d + i];
    if (c->Wf) rc = vx_sgemm(0, 0, d, HS, d, RT, d, c->Wf, HS, c->Mf, HS);
    else memcpy(c->Mf, RT, sizeof(float) * d * d);
out:
    vx_big_free(RT);
    return rc;
}

/* Map every shared token: ẑ = (x - mu0) Mfᵀ - mu_z R, against ỹ = y - mu_y. The anchors and
 * test tokens (shared indices both[n]) are already mapped, their cosines in cs_both[n].
 * map_rows() maps a list of shared indices exactly: blocks of MAP_BLOCK rows, both sides
 * gathered on c->nthr threads, one f32 GEMM, cosines on c->nthr threads. */
#define MAP_BLOCK 4096
typedef struct cjob {
    const float *Z, *Y;       /* [nb][d] mapped source (before - cz), raw target */
    const double *cz, *muy;
    size_t d, r0, r1;
    scored *out;              /* [N], indexed by shared index */
    const uint32_t *idx;      /* the block's shared indices */
    const uint32_t *sa;
} cjob;
static void *cos_worker(void *arg) {
    cjob *j = arg;
    size_t d = j->d;
    for (size_t i = j->r0; i < j->r1; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t h = 0; h < d; h++) {
            double a = (double)j->Z[i * d + h] - j->cz[h], b = (double)j->Y[i * d + h] - j->muy[h];
            ab += a * b; aa += a * a; bb += b * b;
        }
        uint32_t k = j->idx[i];
        j->out[k] = (scored){ (float)(aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0), j->sa[k], k };
    }
    return NULL;
}

static int map_rows(ctx *c, const uint32_t *rows, size_t nr, const double *cz, const double *muy, scored *sc) {
    size_t HS = c->HS, d = c->d, blk = nr < MAP_BLOCK ? nr : MAP_BLOCK;
    float *X = vx_big_array(blk * HS, sizeof(float)), *Z = vx_big_array(blk * d, sizeof(float));
    float *Y = vx_big_array(blk * d, sizeof(float));
    int rc = VX_OK;
    if (!X || !Z || !Y) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t b0 = 0; b0 < nr; b0 += MAP_BLOCK) {
        size_t nb = nr - b0 < MAP_BLOCK ? nr - b0 : MAP_BLOCK;
        gather(c, c->S, c->sid, rows + b0, 0, nb, c->mu0f, X, NULL);
        gather(c, c->T, c->tid, rows + b0, 0, nb, NULL, Y, NULL);
        if ((rc = vx_sgemm_map(nb, d, HS, X, c->Mf, Z))) goto out;
        cjob jobs[64];
        int T = c->nthr;
        for (int t = 0; t < T; t++)
            jobs[t] = (cjob){ Z, Y, cz, muy, d, nb * (size_t)t / (size_t)T, nb * (size_t)(t + 1) / (size_t)T, sc, rows + b0, c->sa };
        vx_run_parallel(cos_worker, jobs, sizeof jobs[0], T);
    }
out:
    vx_big_free(X);
    vx_big_free(Z);
    vx_big_free(Y);
    return rc;
}

/* ------------------------------------------------------------------ screening */
/* The best and worst VX_CMP_TOP cosines over all shared tokens need exact cosines for only
 * a few tokens. With AVX-512 BF16, the rest are first mapped with the bf16 GEMM of kern.h
 * (~1.6× the f32 GEMM's speed) together with a rigorous bound on each cosine's error; only
 * tokens whose bound interval can reach the top or bottom VX_CMP_TOP go through map_rows
 * (spec/compare.md §6). The bound, for one source row x̃ (f32, what map_rows multiplies) and
 * its bf16 rounding x̂, with Ŵ the bf16 rounding of Mf and E = Mf − Ŵ:
 *   ‖Mf x̃ − û‖ ≤ σ(Mf)·‖x̃ − x̂‖ + σ(E)·‖x̂‖ + γ·‖Ŵ‖_F·‖x̂‖ = ε
 * (û the bf16 GEMM's row; γ its accumulation bound, kern.h; ‖|Ŵ||x̂|‖ ≤ ‖Ŵ‖_F‖x̂‖). The
 * true v = Mf x̃ − cz is then within angle θ = asin(ε/‖v̂‖) of v̂, so its cosine with ỹ is
 * within θ·(sin φ̂ + θ) of v̂'s (φ̂ the angle of v̂ and ỹ; |d cos/dφ| = |sin φ|). How σ(E)
 * and σ(Mf) are bounded: screen_setup. */
#define SCREEN_CHUNK 192      /* rows per thread step: 16 panels; A 1.5 MB and Z 0.8 MB for HS = 4096, d = 1024,
                                 * so both stay in L2/L3 (1,200-row steps ran the GEMM ~7% slower) */
#define SCREEN_SLACK 1e-5     /* added to every half-width: the f32 path's own rounding */

typedef struct sjob {
    const ctx *c;
    const uint32_t *rows;     /* the shared indices to screen, [n] */
    size_t n;
    atomic_size_t *next;      /* the first row no thread has taken yet */
    const uint32_t *Bp;       /* packed Ŵ */
    double sig_m, sig_e, gam_w;  /* σ(Mf), σ(E), γ·‖Ŵ‖_F */
    const double *cz, *muy;
    float *Z, *Y;             /* [SCREEN_CHUNK][d] each */
    uint32_t *Ap;             /* packed chunk */
    double *e2, *n2;          /* [SCREEN_CHUNK] */
    scored *sc;               /* [N] screened cosines */
    double *lo, *hi;          /* [N] bounds of the exact cosines */
} sjob;

static void *screen_worker(void *arg) {
    sjob *j = arg;
    const ctx *c = j->c;
    size_t HS = c->HS, d = c->d;
    /* Chunks are taken, not dealt: the two vCPUs of the project machine do not run at the
     * same speed (halves dealt in advance finished 1.6 s and 2.0 s into the pass). */
    for (;;) {
        size_t c0 = atomic_fetch_add(j->next, SCREEN_CHUNK);
        if (c0 >= j->n) break;
        size_t m = j->n - c0 < SCREEN_CHUNK ? j->n - c0 : SCREEN_CHUNK;
        const uint32_t *rows = j->rows + c0;
        const uint16_t *src[SCREEN_CHUNK];
        for (size_t i = 0; i < m; i++) src[i] = c->S->emb + (size_t)c->sid[rows[i]] * HS;
        vx_bf16_pack_a_f16(j->Ap, src, m, HS, c->S->scale, c->mu0f, j->e2, j->n2);
        vx_bf16_gemm_avx512(j->Z, d, j->Ap, j->Bp, m, d, HS);
        for (size_t i = 0; i < m; i++) cvt_row(c, c->T, j->Y + i * d, c->tid[rows[i]], c->zero);
        for (size_t i = 0; i < m; i++) {
            double p[3];
            vx_bf16_cos_parts(j->Z + i * d, j->Y + i * d, j->cz, j->muy, d, p);
            double ab = p[0], aa = p[1], bb = p[2];
            double cs = 0, half = INFINITY;
            if (bb == 0) half = 0;    /* the exact cosine is 0 too (cos_worker) */
            else if (aa > 0) {
                double en = (1 + 1e-4) * (j->sig_m * sqrt(j->e2[i]) + (j->sig_e + j->gam_w) * sqrt(j->n2[i])) + 1e-30;
                double na = sqrt(aa);
                cs = ab / sqrt(aa * bb);
                if (en < na && isfinite(cs)) {
                    double th = asin(en / na), sn = sqrt(fmax(0.0, 1 - cs * cs));
                    half = th * (sn + th) + SCREEN_SLACK;
                }
            }
            uint32_t k = rows[i];
            j->sc[k] = (scored){ (float)cs, c->sa[k], k };
            j->lo[k] = half < INFINITY ? cs - half : -INFINITY;
            j->hi[k] = half < INFINITY ? cs + half : INFINITY;
        }
    }
    return NULL;
}

/* σ(Mf), σ(E) and ‖Ŵ‖_F; Bp = packed Ŵ. Both Grams in f32 (SYRK) with their rounding
 * bounded: each entry of fl(M Mᵀ) is within γ_HS·‖m_i‖‖m_j‖ of the exact one (any summation
 * order), so σ(Mf)² ≤ max_i Σ_j (|Ĝ_ij| + γ_HS‖m_i‖‖m_j‖) (Gershgorin; Mf Mfᵀ is the
 * identity to rounding) and σ(E)² ≤ λ_max(Ĝ_E) + γ_HS‖E‖²_F (‖Ĝ − G‖₂ ≤ ‖Ĝ − G‖_F), λ_max
 * from LAPACK in double. */
static int screen_setup(ctx *c, uint32_t *Bp, double *sig_m, double *sig_e, double *wf) {
    size_t HS = c->HS, d = c->d;
    float *E = vx_big_array(d * HS, sizeof(float)), *Gf = vx_big_array(d * d, sizeof(float));
    double *G = vx_big_array(d * d, sizeof(double)), *rn = vx_big_array(d, sizeof(double));
    int rc = VX_OK;
    if (!E || !Gf || !G || !rn) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    vx_bf16_pack_bt(Bp, c->Mf, d, HS);
    double f = 0, rsum = 0, ef = 0;
    for (size_t n = 0; n < d; n++) {
        double r2 = 0;
        for (size_t k = 0; k < HS; k++) {
            float m = c->Mf[n * HS + k], w = vx_bf16_float(vx_bf16_bits(m));
            E[n * HS + k] = m - w; /* exact: w is m with its low 16 bits rounded off */
            f += (double)w * w;
            r2 += (double)m * m;
            ef += (double)(m - w) * (m - w);
        }
        rn[n] = sqrt(r2);
        rsum += rn[n];
    }
    *wf = sqrt(f);
    double gam = HS * 0x1p-24 / (1 - HS * 0x1p-24), gm = 0;
    if ((rc = vx_sgram_cols(Gf, d, c->Mf, HS, HS))) goto out;
    for (size_t i = 0; i < d; i++) {
        double row = 0;
        for (size_t j = 0; j < d; j++) row += fabs((double)(i <= j ? Gf[i * d + j] : Gf[j * d + i]));
        row += gam * rn[i] * rsum;
        if (!(row <= gm)) gm = row;
    }
    *sig_m = sqrt(gm) * (1 + 1e-12);
    memset(Gf, 0, sizeof(float) * d * d);
    if ((rc = vx_sgram_cols(Gf, d, E, HS, HS))) goto out;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) G[i * d + j] = Gf[i * d + j];
    double lam = 0;
    if ((rc = vx_eig_top(&lam, NULL, G, d, 1))) goto out;
    *sig_e = sqrt(fmax(lam, 0.0) * (1 + 1e-9) + gam * ef * (1 + 1e-12) + 1e-300);
out:
    vx_big_free(E);
    vx_big_free(Gf);
    vx_big_free(G);
    vx_big_free(rn);
    return rc;
}

/* The k-th largest (sign +1) or smallest (sign −1) of v[n], k ≤ n, k ≤ VX_CMP_TOP. */
static double kth(const double *v, size_t n, size_t k, int sign) {
    double top[VX_CMP_TOP];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = sign * v[i];
        if (m == k && !(x > top[m - 1])) continue;
        size_t p = m < k ? m++ : k - 1;
        while (p > 0 && top[p - 1] < x) { top[p] = top[p - 1]; p--; }
        top[p] = x;
    }
    return sign * top[k - 1];
}

/* 1 when the screened pass is used: the CPU has AVX-512 BF16, VINDEX_COMPARE_SCREEN is not
 * "0", and there are enough tokens for it to matter. */
static int screen_on(size_t nr) {
    const char *e = getenv("VINDEX_COMPARE_SCREEN");
    if (e && !strcmp(e, "0")) return 0;
    return vx_cpu_bf16() && nr >= 2 * VX_CMP_TOP;
}

static int map_all(ctx *c, vx_compare_result *r, const double *R, const double *muz, const double *muy,
                   const uint32_t *both, size_t n, const double *cs_both) {
    size_t N = c->N, HS = c->HS, d = c->d, k = N < VX_CMP_TOP ? N : VX_CMP_TOP;
    int T = c->nthr > 64 ? 64 : c->nthr;
    double *cz = vx_big_array(d, sizeof(double));
    scored *sc = vx_big_array(N, sizeof(scored));
    uint8_t *done = vx_big_array(N, 1);
    uint32_t *rest = vx_big_array(N, sizeof(uint32_t));
    double *lo = NULL, *hi = NULL;
    uint32_t *Bp = NULL;
    sjob jobs[64];
    memset(jobs, 0, sizeof jobs);
    int rc = VX_OK;
    if (!cz || !sc || !done || !rest) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t j = 0; j < d; j++)
        for (size_t i = 0; i < d; i++) cz[j] += muz[i] * R[i * d + j];
    for (size_t i = 0; i < n; i++) {
        sc[both[i]] = (scored){ (float)cs_both[i], c->sa[both[i]], both[i] };
        done[both[i]] = 1;
    }
    size_t nr = 0;
    for (size_t i = 0; i < N; i++)
        if (!done[i]) rest[nr++] = (uint32_t)i;
    if (!screen_on(nr)) {
        if ((rc = map_rows(c, rest, nr, cz, muy, sc))) goto out;
    } else {
        double sig_m = 0, sig_e = 0, wf = 0;
        lo = vx_big_array(N, sizeof(double));
        hi = vx_big_array(N, sizeof(double));
        Bp = vx_big_array(vx_bf16_b_words(d, HS), sizeof(uint32_t));
        if (!lo || !hi || !Bp) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
        if ((rc = screen_setup(c, Bp, &sig_m, &sig_e, &wf))) goto out;
        phase("all: bounds");
        size_t nacc = VX_BF16_KC + (HS + VX_BF16_KC - 1) / VX_BF16_KC;
        double gam = nacc * 0x1p-24 / (1 - nacc * 0x1p-24);
        atomic_size_t next = 0;
        for (int t = 0; t < T; t++) {
            jobs[t] = (sjob){ c, rest, nr, &next, Bp, sig_m, sig_e, gam * wf, cz, muy,
                              vx_big_array(SCREEN_CHUNK * d, sizeof(float)),
                              vx_big_array(SCREEN_CHUNK * d, sizeof(float)),
                              vx_big_array(vx_bf16_a_words(SCREEN_CHUNK, HS), sizeof(uint32_t)),
                              vx_big_array(SCREEN_CHUNK, sizeof(double)), vx_big_array(SCREEN_CHUNK, sizeof(double)),
                              sc, lo, hi };
            if (!jobs[t].Z || !jobs[t].Y || !jobs[t].Ap || !jobs[t].e2 || !jobs[t].n2) {
                rc = vx_fail(c->err, VX_ENOMEM, "out of memory");
                goto out;
            }
        }
        vx_run_parallel(screen_worker, jobs, sizeof jobs[0], T);
        phase("all: bf16");
        for (size_t i = 0; i < n; i++) lo[both[i]] = hi[both[i]] = cs_both[i];
        double L = kth(lo, N, k, 1), U = kth(hi, N, k, -1);
        double hw = 0;
        size_t nf = 0, nc = 0;
        for (size_t i = 0; i < nr; i++)
            if (isfinite(hi[rest[i]] - lo[rest[i]])) { hw += (hi[rest[i]] - lo[rest[i]]) / 2; nf++; }
        for (size_t i = 0; i < nr; i++)
            if (!(hi[rest[i]] < L) || !(lo[rest[i]] > U)) rest[nc++] = rest[i];
        if (getenv("VINDEX_COMPARE_TIMING")) {
            fprintf(stderr, "compare: screened %zu tokens (sigma(E) %.3g, sigma(Mf) %.6f, mean half-width %.2e over %zu "
                    "bounded), %zu mapped exactly\n", nr, sig_e, sig_m, nf ? hw / (double)nf : 0.0, nf, nc);
        }
        if ((rc = map_rows(c, rest, nc, cz, muy, sc))) goto out;
    }
    qsort(sc, N, sizeof(scored), by_best);
    for (size_t i = 0; i < k; i++) r->best[i] = (vx_cmp_token){ sc[i].id, c->sb[sc[i].idx], sc[i].cos };
    qsort(sc, N, sizeof(scored), by_worst);
    for (size_t i = 0; i < k; i++) r->worst[i] = (vx_cmp_token){ sc[i].id, c->sb[sc[i].idx], sc[i].cos };
    r->n_best = k;
out:
    for (int t = 0; t < T; t++) {
        vx_big_free(jobs[t].Z);
        vx_big_free(jobs[t].Y);
        vx_big_free(jobs[t].Ap);
        vx_big_free(jobs[t].e2);
        vx_big_free(jobs[t].n2);
    }
    vx_big_free(cz);
    vx_big_free(sc);
    vx_big_free(done);
    vx_big_free(rest);
    vx_big_free(lo);
    vx_big_free(hi);
    vx_big_free(Bp);
    return rc;
}

/* ------------------------------------------------------------------ relational */
/* Pairwise cosines of shared indices idx[m] in both models' own spaces: the source at full
 * width minus its anchor mean mux, the target minus muy (spec §6). */
static int relational(ctx *c, const uint32_t *idx, size_t m, const double *mux, const double *muy, double *corr, double *mad) {
    size_t HS = c->HS, d = c->d;
    double *XS = vx_big_alloc(sizeof(double) * m * HS), *XT = vx_big_alloc(sizeof(double) * m * d);
    double *G1 = vx_big_alloc(sizeof(double) * m * m), *G2 = vx_big_alloc(sizeof(double) * m * m);
    int rc = VX_OK;
    if (!XS || !XT || !G1 || !G2) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < m; i++) {
        row_f64(c, c->S, XS + i * HS, c->sid[idx[i]]);
        row_f64(c, c->T, XT + i * d, c->tid[idx[i]]);
        for (size_t h = 0; h < HS; h++) XS[i * HS + h] -= mux[h];
        for (size_t h = 0; h < d; h++) XT[i * d + h] -= muy[h];
    }
    if ((rc = unit_gram(G1, XS, m, HS)) || (rc = unit_gram(G2, XT, m, d))) goto out;
    pair_corr(corr, mad, G1, G2, m);
out:
    vx_big_free(XS);
    vx_big_free(XT);
    vx_big_free(G1);
    vx_big_free(G2);
    return rc;
}

/* ------------------------------------------------------------------- baseline */
/* Haar-random orthogonal d×d: QR of a Gaussian matrix (Box–Muller on stream 2), columns
 * of Q multiplied by sign(diag R) so the result does not depend on the QR routine. */
static int random_orthogonal(double *Q, size_t d, uint64_t seed) {
    uint64_t x = sm_stream(seed, 2);
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < d * d; i += 2) {
        double u1 = (double)((sm_next(&x) >> 11) + 1) * 0x1p-53, u2 = (double)(sm_next(&x) >> 11) * 0x1p-53;
        double rr = sqrt(-2.0 * log(u1));
        Q[i] = rr * cos(two_pi * u2);
        if (i + 1 < d * d) Q[i + 1] = rr * sin(two_pi * u2);
    }
    double *Rd = vx_big_alloc(sizeof(double) * d);
    if (!Rd) return VX_ENOMEM;
    int rc = vx_dqr_square(Q, Rd, d);
    if (rc) goto out;
    for (size_t j = 0; j < d; j++)
        if (Rd[j] < 0)
            for (size_t i = 0; i < d; i++) Q[i * d + j] = -Q[i * d + j];
out:
    vx_big_free(Rd);
    return rc;
}

/* ------------------------------------------------------------------------ main */
/* VINDEX_COMPARE_TIMING=1 prints the wall time of each phase on stderr (benchmarking),
 * and the CPU time the process spent in it: cpu/wall near the thread count means both
 * cores were busy. */
static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static void phase(const char *name) {
    static double last = -1, last_cpu;
    static int on = -1;
    if (on < 0) on = getenv("VINDEX_COMPARE_TIMING") != NULL;
    if (!on) return;
    double t = clock_s(CLOCK_MONOTONIC), u = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (last >= 0 && name) fprintf(stderr, "compare: %-12s %8.3f s  cpu %6.3f s\n", name, t - last, u - last_cpu);
    last = t;
    last_cpu = u;
}

void vx_compare_opts_init(vx_compare_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = VX_CMP_DEFAULT_SEED;
    o->pca_sample = VX_CMP_DEFAULT_PCA_SAMPLE;
}

void vx_compare_free(vx_compare_result *r) {
    if (!r) return;
    free(r->gate_sim);
    free(r->down_sim);
    free(r->matched);
    free(r);
}

/* Test-set cosines and L2 of z·M against y, z and y the rows of Zt and Yt [nt][d] centred on
 * muz and muy, EVAL_BLOCK rows at a time (8 MB buffers instead of all nt rows). With G (d×d,
 * zero), also the residual covariance's upper triangle: G = Σ (e − ē)ᵀ(e − ē) / (nt − 1) for
 * e = z M − y, with ē = mean(z)·M − mean(y) (the mean of the e, by linearity). */
#define EVAL_BLOCK 1024
static int eval_map(const float *Zt, const float *Yt, const double *muz, const double *muy, const double *M, size_t nt,
                    size_t d, double *cs, double *l2, double *G) {
    size_t blk = nt < EVAL_BLOCK ? nt : EVAL_BLOCK;
    double *buf = vx_big_array(blk * d, sizeof(double)), *eb = vx_big_array(d, sizeof(double));
    double *zb = vx_big_array(d, sizeof(double));
    double *zc = vx_big_array(blk * d, sizeof(double)), *yc = vx_big_array(blk * d, sizeof(double));
    int rc = VX_OK;
    if (!buf || !eb || !zb || !zc || !yc) { rc = VX_ENOMEM; goto out; }
    if (G) {
        for (size_t i = 0; i < nt; i++)
            for (size_t h = 0; h < d; h++) {
                zb[h] += (double)Zt[i * d + h] - muz[h];
                eb[h] -= (double)Yt[i * d + h] - muy[h];
            }
        for (size_t k = 0; k < d; k++) zb[k] /= (double)nt;
        for (size_t h = 0; h < d; h++) eb[h] /= (double)nt;
        for (size_t k = 0; k < d; k++)
            for (size_t h = 0; h < d; h++) eb[h] += zb[k] * M[k * d + h];
    }
    double sc = nt > 1 ? 1.0 / sqrt((double)(nt - 1)) : 1.0;
    for (size_t b0 = 0; b0 < nt && !rc; b0 += blk) {
        size_t nb = nt - b0 < blk ? nt - b0 : blk;
        centre_rows(zc, Zt + b0 * d, muz, nb, d);
        centre_rows(yc, Yt + b0 * d, muy, nb, d);
        if ((rc = vx_dgemm(0, 0, nb, d, d, zc, M, buf))) break;
        for (size_t i = 0; i < nb; i++) {
            double *m = buf + i * d;
            const double *y = yc + i * d;
            cs[b0 + i] = cosine(m, y, d);
            double t = 0;
            for (size_t h = 0; h < d; h++) { double v = m[h] - y[h]; t += v * v; }
            l2[b0 + i] = sqrt(t);
            if (G)
                for (size_t h = 0; h < d; h++) m[h] = (m[h] - y[h] - eb[h]) * sc;
        }
        if (G) rc = vx_gram_rows(G, d, buf, nb);
    }
out:
    vx_big_free(buf);
    vx_big_free(eb);
    vx_big_free(zb);
    vx_big_free(zc);
    vx_big_free(yc);
    return rc;
}

/* ------------------------------------------------------------- early work */
/* What does not depend on the PCA basis, done while the PCA eigensolver runs on the other
 * core (vx_seig_top_with): the baseline's random rotation and the target's layer bases.
 * One thread, single-threaded BLAS. */
typedef struct early {
    ctx *c;
    const vx_compare_opts *o;
    double *Q;                 /* [d][d] */
    float *QT[2];              /* the target's bases [L_T][F_T][d], gate and down, f32 (rows past
                                * a layer's rank zero) */
    size_t *kT[2];             /* their ranks [L_T] */
    int ran, rc;
    vx_err err;
} early;

static void *early_work(void *arg) {
    early *e = arg;
    e->ran = 1;
    ctx cj = *e->c;
    cj.err = &e->err;
    cj.nthr = 1;
    int rc = VX_OK;
    /* baseline rotation */
    if ((rc = random_orthogonal(e->Q, cj.d, e->o->seed))) { rc = vx_fail(cj.err, rc, "random orthogonal baseline failed"); goto out; }
    /* the target's layer bases, as stored (no map) */
    for (int kind = 0; kind < 2 && !rc; kind++)
        rc = target_bases(&cj, (vx_kind)kind, e->QT[kind], e->kT[kind]);
    if (rc == VX_ENOMEM) rc = vx_fail(cj.err, rc, "out of memory for the layer subspaces");
out:
    if (rc && !e->err.code) vx_fail(&e->err, rc, "out of memory");
    e->rc = rc;
    return NULL;
}

/* ---------------------------------------------------------------- §6 metrics */
typedef struct mjob {
    ctx *c;
    vx_compare_result *r;
    const vx_compare_opts *o;
    const vx_index *a;
    const float *Z, *Y;                  /* anchors then test rows [na + nt][d], f32 */
    const double *muz, *R, *mux, *muy;   /* Z and Y are centred on muz, muy */
    const uint32_t *tst;
    size_t na, nt;
    double *csr;                          /* [na + nt] cosines under R, for the all-token pass */
    const double *Qb;                     /* [d][d] the baseline's random rotation */
    int which, rc;
    vx_err err;                           /* this job's own, copied to the caller's on failure */
} mjob;

static int anchor_cos(ctx *c, const float *Z, const float *Y, const double *muz, const double *muy, const double *R,
                      size_t na, double *cs);

/* 0: held-out cosines, L2 and residual eigenvalues under R; 1: the random-orthogonal
 * baseline; 2: the anchors' cosines; 3: relational and digit correlations. */
static void *metric_job(void *arg) {
    mjob *j = arg;
    ctx cj = *j->c;
    cj.err = &j->err;
    vx_compare_result *r = j->r;
    size_t d = cj.d, na = j->na, nt = j->nt;
    const float *Zt = j->Z + na * d, *Yt = j->Y + na * d;
    double *cs = NULL, *l2 = NULL, *tmp = NULL, *Q = NULL;
    uint32_t *ida = NULL;
    int rc = VX_OK;
    if (j->which <= 1) {
        cs = vx_big_array(nt, sizeof(double));
        l2 = vx_big_array(nt, sizeof(double));
        tmp = vx_big_array(nt, sizeof(double));
        ida = vx_big_array(nt, sizeof(uint32_t));
        Q = vx_big_array(d * d, sizeof(double));
        if (!cs || !l2 || !tmp || !ida || !Q) { rc = vx_fail(cj.err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < nt; i++) ida[i] = cj.sa[j->tst[i]];
    }
    if (j->which == 0) {
        /* with the residual covariance of the test set, (E - mean)ᵀ(E - mean) / (nt - 1), in Q */
        if ((rc = eval_map(Zt, Yt, j->muz, j->muy, j->R, nt, d, cs, l2, Q)) || (rc = stats(&r->cosine, cs, ida, nt))) goto out;
        memcpy(j->csr + na, cs, sizeof(double) * nt);
        memcpy(tmp, l2, sizeof(double) * nt);
        qsort(tmp, nt, sizeof(double), cmp_dbl);
        mean_std(l2, nt, &r->l2_mean, &r->l2_std);
        r->l2_median = pct_sorted(tmp, nt, 50);
        size_t k = d < VX_CMP_TOP ? d : VX_CMP_TOP;
        rc = vx_eig_top(r->residual_eig, NULL, Q, d, k);
        if (rc) { rc = vx_fail(cj.err, rc, "residual eigenvalues failed"); goto out; }
        r->n_residual = k;
    } else if (j->which == 1) {
        /* baseline: a random orthogonal map in place of R */
        if ((rc = eval_map(Zt, Yt, j->muz, j->muy, j->Qb, nt, d, cs, l2, NULL)) || (rc = stats(&r->baseline, cs, ida, nt))) goto out;
        double sd;
        mean_std(l2, nt, &r->baseline_l2_mean, &sd);
    } else if (j->which == 2) {
        rc = anchor_cos(&cj, j->Z, j->Y, j->muz, j->muy, j->R, na, j->csr);
    } else {
        /* relational: first min(1000, nt) test tokens; digits "0".."9" among shared tokens */
        r->relational_n = nt < VX_CMP_RELATIONAL ? nt : VX_CMP_RELATIONAL;
        if ((rc = relational(&cj, j->tst, r->relational_n, j->mux, j->muy, &r->relational_correlation,
                             &r->relational_mean_abs_diff)))
            goto out;
        uint32_t dig[10];
        int seen[10] = { 0 };
        for (size_t i = 0; i < cj.N; i++) {
            const char *raw, *txt;
            size_t rl, tl;
            vx_vocab_get(&j->a->vocab, cj.sa[i], &raw, &rl, &txt, &tl);
            if (tl == 1 && txt[0] >= '0' && txt[0] <= '9' && !seen[txt[0] - '0']) { seen[txt[0] - '0'] = 1; dig[txt[0] - '0'] = (uint32_t)i; }
        }
        size_t nd = 0;
        for (int k = 0; k < 10; k++)
            if (seen[k]) dig[nd++] = dig[k];
        r->digits_n = nd;
        r->digit_correlation = r->digit_mean_abs_diff = NAN;
        if (nd >= 3) rc = relational(&cj, dig, nd, j->mux, j->muy, &r->digit_correlation, &r->digit_mean_abs_diff);
    }
out:
    if (rc && !j->err.code) vx_fail(&j->err, rc, "out of memory");
    j->rc = rc;
    vx_big_free(cs);
    vx_big_free(l2);
    vx_big_free(tmp);
    vx_big_free(ida);
    vx_big_free(Q);
    return NULL;
}

/* Two threads take jobs {0, 1} and {2, 3}, BLAS on one thread each (measured at real
 * shape: jobs 0-3 take 0.29, 0.16, 0.16 and 0.22 s, so these pairs end within 0.06 s of
 * each other, where {0, 3} and {1, 2} ended 0.19 s apart). */
typedef struct mpair { mjob *x, *y; } mpair;
static void *metric_pair(void *arg) {
    mpair *p = arg;
    metric_job(p->x);
    metric_job(p->y);
    return NULL;
}
static void run_metric_jobs(mjob *jobs, int nthr) {
    mpair pairs[2] = { { &jobs[0], &jobs[1] }, { &jobs[2], &jobs[3] } };
    if (nthr < 2) {
        metric_pair(&pairs[0]);
        metric_pair(&pairs[1]);
        return;
    }
    run_blas_serial(metric_pair, pairs, sizeof pairs[0], 2);
}

/* Cosines of the centred anchors Z̃ₐ R against Ỹₐ [na][d] into cs[na], with one f32 GEMM
 * like the all-token pass (whose best/worst ranking they join). */
static int anchor_cos(ctx *c, const float *Z, const float *Y, const double *muz, const double *muy, const double *R,
                      size_t na, double *cs) {
    size_t d = c->d, blk = na < EVAL_BLOCK ? na : EVAL_BLOCK;
    float *Zf = vx_big_array(blk * d, sizeof(float)), *Rf = vx_big_array(d * d, sizeof(float));
    float *Mf = vx_big_array(blk * d, sizeof(float));
    int rc = VX_OK;
    if (!Zf || !Rf || !Mf) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d * d; i++) Rf[i] = (float)R[i];
    for (size_t b0 = 0; b0 < na; b0 += blk) { /* blocks of EVAL_BLOCK anchors: 4 MB buffers */
        size_t nb = na - b0 < blk ? na - b0 : blk;
        for (size_t i = 0; i < nb; i++)
            for (size_t h = 0; h < d; h++) Zf[i * d + h] = (float)((double)Z[(b0 + i) * d + h] - muz[h]);
        if ((rc = vx_sgemm(0, 0, nb, d, d, Zf, d, Rf, d, Mf, d))) goto out;
        for (size_t i = 0; i < nb; i++) {
            double ab = 0, aa = 0, bb = 0;
            for (size_t h = 0; h < d; h++) {
                double a = Mf[i * d + h], b = (double)Y[(b0 + i) * d + h] - muy[h];
                ab += a * b; aa += a * a; bb += b * b;
            }
            cs[b0 + i] = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
        }
    }
out:
    vx_big_free(Zf);
    vx_big_free(Rf);
    vx_big_free(Mf);
    return rc;
}

int vx_compare(vx_compare_result **out, const vx_index *a, const vx_index *b, const vx_compare_opts *o, vx_err *err) {
    *out = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    side_init(&c.A, a);
    side_init(&c.B, b);
    /* Every embedding row is read (the all-token pass), and every layer direction: map
     * the pages in one call each rather than one fault per page. */
    for (int k = 0; k < 2; k++) {
        const side *sd = k ? &c.B : &c.A;
        vx_prefault(sd->emb, sd->V * sd->H * sizeof(uint16_t));
        vx_prefault(vx_features(sd->vx, VX_GATE), sd->L * sd->F * sd->H * sizeof(uint16_t));
        vx_prefault(vx_features(sd->vx, VX_DOWN), sd->L * sd->F * sd->H * sizeof(uint16_t));
    }
    vx_compare_result *r = calloc(1, sizeof *r);
    uint32_t *anc = NULL, *tst = NULL, *both = NULL;
    size_t na = 0, nt = 0;
    float *Z = NULL, *Y = NULL;
    double *M = NULL, *U = NULL, *s = NULL, *VT = NULL, *R = NULL, *Zb = NULL, *Yb = NULL;
    double *muz = NULL, *muy = NULL, *mux = NULL, *csr = NULL;
    early ew;
    memset(&ew, 0, sizeof ew);
    int rc = VX_OK;
    if (o->pca_sample < 1) return vx_fail(err, VX_EUSAGE, "--pca-sample must be at least 1");
    c.lut = vx_big_alloc(sizeof(float) * 65536);
    if (!r || !c.lut) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    for (uint32_t i = 0; i < 65536; i++) c.lut[i] = vx_f16_to_f32((uint16_t)i);
    vx_blas_threads(o->threads);
    c.nthr = o->threads > 0 ? (o->threads < 64 ? o->threads : 64) : vx_kern_threads();
    phase(NULL);

    /* §2 shared tokens */
    if (same_vocab(a, b)) {
        r->by_id = 1;
        c.N = c.A.V;
        c.sa = vx_big_alloc(sizeof(uint32_t) * c.N);
        c.sb = vx_big_alloc(sizeof(uint32_t) * c.N);
        if (!c.sa || !c.sb) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < c.N; i++) c.sa[i] = c.sb[i] = (uint32_t)i;
    } else if ((rc = match_text(&c))) goto out;
    r->shared = c.N;
    if (c.N == 0) { rc = vx_fail(err, VX_EMISMATCH, "the vocabularies of A and B are disjoint (no shared token)"); goto out; }
    if (c.N < VX_CMP_MIN_SHARED) {
        rc = vx_fail(err, VX_EMISMATCH, "too few shared tokens: %zu (at least %d are needed)", c.N, VX_CMP_MIN_SHARED);
        goto out;
    }
    /* §4 roles: the wider model is the source, B on ties */
    r->source_is_a = c.A.H > c.B.H;
    c.S = r->source_is_a ? &c.A : &c.B;
    c.T = r->source_is_a ? &c.B : &c.A;
    c.sid = r->source_is_a ? c.sa : c.sb;
    c.tid = r->source_is_a ? c.sb : c.sa;
    c.HS = c.S->H;
    c.d = c.T->H;
    r->dim_source = (uint32_t)c.HS;
    r->dim_target = (uint32_t)c.d;
    size_t HS = c.HS, d = c.d;

    /* §3 split */
    if ((rc = draw_sets(&c, o, &anc, &na, &tst, &nt))) goto out;
    r->n_anchors = na;
    r->n_test = nt;
    phase("shared+split");

    /* §4 PCA */
    r->pca_variance_retained = 1.0;
#if defined(__x86_64__)
    c.avx2 = vx_cpu_avx2();
#endif
    if (!(c.mu0 = vx_big_array(HS, sizeof(double))) || !(c.mu0f = vx_big_array(HS, sizeof(float))) || !(c.zero = vx_big_array(HS, sizeof(float)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    /* the early work runs beside the PCA eigensolver, or here without PCA */
    ew.c = &c;
    ew.o = o;
    ew.Q = vx_big_array(d * d, sizeof(double));
    for (int k = 0; k < 2; k++) {
        ew.QT[k] = vx_big_array(c.T->L * c.T->F * d, sizeof(float));
        ew.kT[k] = vx_big_array(c.T->L ? c.T->L : 1, sizeof(size_t));
    }
    if (!ew.Q || !ew.QT[0] || !ew.QT[1] || !ew.kT[0] || !ew.kT[1]) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (HS > d && (rc = fit_pca(&c, o, r, early_work, &ew))) goto out;
    if (!ew.ran) early_work(&ew);
    if (ew.rc) { rc = ew.rc; *err = ew.err; goto out; }
    phase("pca");

    /* §5 gather anchors then test, project, centre on anchor means */
    size_t n = na + nt;
    both = vx_big_alloc(sizeof(uint32_t) * n);
    Z = vx_big_array(n * d, sizeof(float));
    Y = vx_big_array(n * d, sizeof(float));
    muz = vx_big_array(d, sizeof(double));
    muy = vx_big_array(d, sizeof(double));
    mux = vx_big_array(HS, sizeof(double));
    if (!both || !Z || !Y || !muz || !muy || !mux) { rc = vx_fail(err, VX_ENOMEM, "out of memory for %zu tokens", n); goto out; }
    memcpy(both, anc, sizeof(uint32_t) * na);
    memcpy(both + na, tst, sizeof(uint32_t) * nt);
    if ((rc = project_rows(&c, Z, Y, both, n, mux, na))) goto out;
    phase("proj");
    for (size_t i = 0; i < na; i++)
        for (size_t h = 0; h < d; h++) { muz[h] += Z[i * d + h]; muy[h] += Y[i * d + h]; }
    for (size_t h = 0; h < d; h++) { muz[h] /= (double)na; muy[h] /= (double)na; }

    /* §5 Procrustes: M = Z̃ₐᵀ Ỹₐ = U Σ Vᵀ, R = U Vᵀ */
    M = vx_big_alloc(sizeof(double) * d * d);
    U = vx_big_alloc(sizeof(double) * d * d);
    VT = vx_big_alloc(sizeof(double) * d * d);
    R = vx_big_alloc(sizeof(double) * d * d);
    s = vx_big_alloc(sizeof(double) * d);
    {   /* the anchors centred a block at a time */
        size_t blk = na < EVAL_BLOCK ? na : EVAL_BLOCK;
        Zb = vx_big_array(blk * d, sizeof(double));
        Yb = vx_big_array(blk * d, sizeof(double));
        if (!M || !U || !VT || !R || !s || !Zb || !Yb) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t b0 = 0; b0 < na && !rc; b0 += blk) {
            size_t nb = na - b0 < blk ? na - b0 : blk;
            centre_rows(Zb, Z + b0 * d, muz, nb, d);
            centre_rows(Yb, Y + b0 * d, muy, nb, d);
            rc = b0 ? vx_dgemm_acc(1, 0, d, d, nb, Zb, Yb, M) : vx_dgemm(1, 0, d, d, nb, Zb, Yb, M);
        }
        vx_big_free(Zb);
        vx_big_free(Yb);
        Zb = Yb = NULL;
        if (rc) goto out;
    }
    phase("cross-cov");
    /* R = U Vᵀ is M's orthogonal polar factor: from MᵀM's eigendecomposition when M is well
     * conditioned (checked), else from the SVD — the same R and Σσ either way */
    if ((rc = vx_dpolar(R, &r->procrustes_scale, M, d)) == VX_EUNSUPPORTED) {
        r->procrustes_scale = 0;
        if ((rc = vx_dsvd(U, s, VT, M, d, d))) { rc = vx_fail(err, rc, "SVD of the cross-covariance failed (non-finite embeddings?)"); goto out; }
        if ((rc = vx_dgemm(0, 0, d, d, d, U, VT, R))) goto out;
        for (size_t i = 0; i < d; i++) r->procrustes_scale += s[i];
    } else if (rc) {
        rc = vx_fail(err, rc, "Procrustes rotation failed");
        goto out;
    }
    phase("procrustes");

    /* §6 metrics: four independent jobs, two at a time */
    {
        mjob jobs[4];
        for (int k = 0; k < 4; k++)
            jobs[k] = (mjob){ &c, r, o, a, Z, Y, muz, R, mux, muy, tst, na, nt, NULL, NULL, k, VX_OK, { 0, { 0 } } };
        csr = vx_big_alloc(sizeof(double) * n);
        if (!csr) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (int k = 0; k < 4; k++) jobs[k].csr = csr;
        for (int k = 0; k < 4; k++) jobs[k].Qb = ew.Q;
        run_metric_jobs(jobs, c.nthr);
        for (int k = 0; k < 4 && !rc; k++)
            if (jobs[k].rc) { rc = jobs[k].rc; *err = jobs[k].err; }
        if (rc) goto out;
    }
    phase("metrics");
    /* The anchor/test rows are done with: their pages go to the buffers below while still
     * backed (on a VM, memory left free for a few seconds must be backed again). For the
     * same reason the layers come before the long all-token pass. */
    vx_big_free(Z);
    vx_big_free(Y);
    Z = Y = NULL;
    if ((rc = build_map(&c, R))) goto out;

    /* §7 layers */
    if ((rc = layer_sims(&c, r, ew.QT, ew.kT)) || (rc = match_layers(r, o, err))) goto out;
    phase("layers");

    /* §6 every shared token: best / worst */
    if ((rc = map_all(&c, r, R, muz, muy, both, n, csr))) goto out;
    phase("all tokens");

out:
    vx_big_free(c.lut);
    vx_big_free(c.sa);
    vx_big_free(c.sb);
    vx_big_free(c.Wf);
    vx_big_free(c.Mf);
    vx_big_free(c.mu0);
    vx_big_free(c.mu0f);
    vx_big_free(c.zero);
    vx_big_free(anc);
    vx_big_free(tst);
    vx_big_free(both);
    vx_big_free(Z);
    vx_big_free(Y);
    vx_big_free(Zb);
    vx_big_free(Yb);
    vx_big_free(M);
    vx_big_free(U);
    vx_big_free(VT);
    vx_big_free(R);
    vx_big_free(s);
    vx_big_free(muz);
    vx_big_free(muy);
    vx_big_free(mux);
    vx_big_free(ew.Q);
    for (int k = 0; k < 2; k++) {
        vx_big_free(ew.QT[k]);
        vx_big_free(ew.kT[k]);
    }
    vx_big_free(csr);
    if (rc) { vx_compare_free(r); return rc; }
    *out = r;
    return VX_OK;
}

/* ---------------------------------------------------------------- token lists */
int vx_compare_read_tokens(uint32_t **ids, size_t *n, const vx_index *vx, const char *path, vx_err *err) {
    *ids = NULL;
    *n = 0;
    char *buf = NULL;
    size_t len = 0;
    int rc = vx_read_file(&buf, &len, path, (size_t)1 << 30, err);
    if (rc) return rc;
    size_t cap = 16, cnt = 0, line = 0;
    uint32_t *v = malloc(sizeof(uint32_t) * cap);
    if (!v) { free(buf); return vx_fail(err, VX_ENOMEM, "%s: out of memory", path); }
    for (size_t p = 0; p < len;) {
        size_t e = p;
        while (e < len && buf[e] != '\n') e++;
        size_t l = e - p;
        line++;
        if (l && buf[p + l - 1] == '\r') l--;
        if (l) {
            int64_t id = -1;
            size_t k = 1;
            if (buf[p] == '#' && l > 1) {
                uint64_t x = 0;
                while (k < l && buf[p + k] >= '0' && buf[p + k] <= '9' && x < (1ull << 40)) x = x * 10 + (uint64_t)(buf[p + k++] - '0');
                if (k == l) {
                    if (x >= vx->vocab.n) { rc = vx_fail(err, VX_ENOTFOUND, "%s:%zu: token #%llu: out of range (vocab_size %u)", path, line, (unsigned long long)x, vx->vocab.n); break; }
                    id = (int64_t)x;
                }
            }
            if (id < 0) id = vx_vocab_find(&vx->vocab, buf + p, l);
            if (id < 0) { rc = vx_fail(err, VX_ENOTFOUND, "%s:%zu: '%.*s' is not in the vocabulary", path, line, (int)(l < 200 ? l : 200), buf + p); break; }
            if (cnt == cap) {
                uint32_t *nv = realloc(v, sizeof(uint32_t) * (cap *= 2));
                if (!nv) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", path); break; }
                v = nv;
            }
            v[cnt++] = (uint32_t)id;
        }
        p = e + 1;
    }
    free(buf);
    if (rc) { free(v); return rc; }
    *ids = v;
    *n = cnt;
    return VX_OK;
}
