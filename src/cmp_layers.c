/*
 * cmp_layers.c — how alike the two models' MLP subspaces are, layer by layer
 * (spec/compare.md §7): every layer's stored gate and down directions in the target's space
 * (the source's through the map of §6), orthonormalised, and the mean squared cosine of the
 * principal angles for every pair of layers; the matched pairs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------- layer subspaces */
/* Dot product and y -= a·x for the Gram–Schmidt below (its cost is F²·d per layer and
 * kind, the largest of the layer step: doc/benchmarks.md, "The reasons in numbers"). */
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
        for (size_t i = 0; i < nl * F; i++) cmp_cvt_row_raw(c, X + i * H, D + (l0 * F + i) * H, H);
        /* the source's g → g Wᵀ R (f32 GEMM with the map of §6), the target's as stored */
        if (is_src && (rc = vx_sgemm_map(nl * F, d, H, X, c->Mf, Y))) break;
        cmp_widen(c, out + l0 * F * d, is_src ? Y : X, nl * F * d);
    }
out:
    vx_big_free(X);
    vx_big_free(Y);
    return rc;
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
    ojob jobs[VX_THREADS_MAX];
    int T = c->nthr;
    for (int t = 0; t < T; t++) jobs[t] = (ojob){ c, Q, L, F, k, t, T, VX_OK };
    cmp_run_blas_serial(orth_worker, jobs, sizeof jobs[0], T);
    for (int t = 0; t < T; t++)
        if (jobs[t].rc) return jobs[t].rc;
    return VX_OK;
}

/* dst [F][d] f32 = src [F][d] with the rows from the layer's rank k on set to zero, so
 * every layer keeps F rows in cmp_layer_sims' GEMM. */
static void basis_f32(float *dst, const double *src, size_t F, size_t d, size_t k) {
    for (size_t i = 0; i < F * d; i++) dst[i] = i < k * d ? (float)src[i] : 0.0f;
}

/* The target's layer bases as stored (no map), one layer at a time through a double
 * scratch, kept as f32 [L][F][d] with the rows past each layer's rank zeroed (what the
 * GEMM of cmp_layer_sims takes): half the memory of keeping them in double, at the moment
 * the PCA holds its most. One thread. */
int cmp_target_bases(ctx *c, vx_kind kind, float *Q, size_t *k) {
    const side *T = c->T;
    size_t L = T->L, F = T->F, d = c->d;
    const uint16_t *D = vx_features(T->vx, kind);
    double *B = vx_big_array(F * d, sizeof(double)), *scratch = vx_big_array(F * d + 2 * F + F * F, sizeof(double));
    float *row = vx_big_array(d, sizeof(float));
    int rc = VX_OK;
    if (!B || !scratch || !row) { rc = VX_ENOMEM; goto out; }
    for (size_t l = 0; l < L; l++) {
        for (size_t i = 0; i < F; i++) {
            cmp_cvt_row_raw(c, row, D + (l * F + i) * d, d);
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

int cmp_layer_sims(ctx *c, vx_compare_result *r, float *const qT[2], size_t *const kT[2]) {
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
    return cmp_fail(c->err, rc, "layer subspaces");
}

int cmp_match_layers(vx_compare_result *r, const vx_compare_opts *o, vx_err *err) {
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
