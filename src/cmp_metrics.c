/*
 * cmp_metrics.c — what `vindex compare` measures on the anchor and test rows
 * (spec/compare.md §6), under both definitions of §6.1: held-out cosine and L2 statistics
 * and the residual spectrum under the fitted rotation, the same under a random orthogonal
 * map (the baseline), the anchors' cosines (for the all-token ranking), the relational and
 * digit correlations, and the pentachoron (5-token simplex) volumes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "kern.h"
#include "det4.h"
#include "linalg.h"
#include "mem.h"

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
    size_t im = 0, ix = 0;
    for (size_t i = 1; i < n; i++)
        if (cs[i] < cs[im]) im = i;
    st->min = cs[im];
    st->min_id = ida[im];
    for (size_t i = 1; i < n; i++)
        if (cs[i] > cs[ix]) ix = i;
    st->max = cs[ix];
    st->max_id = ida[ix];
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

/* Held-out cosines and L2 of z̃·M against y, z and y the rows of Zt and Yt [nt][d] (z̃ = z − muz,
 * ỹ = y − muy), CMP_EVAL_BLOCK rows at a time (8 MB buffers instead of all nt rows):
 * cs = cos(z̃M, ỹ) (centred), csp = cos(z̃M + muy, y) (published), l2 = ‖z̃M − ỹ‖ (both).
 * With G (d×d, zero), also the residual covariance's upper triangle:
 * G = Σ (e − ē)ᵀ(e − ē) / (nt − 1) for e = z̃M − ỹ, with ē = mean(z̃)·M − mean(ỹ) (the mean of
 * the e, by linearity) into ebar [d]. */
static int eval_map(const float *Zt, const float *Yt, const double *muz, const double *muy, const double *M, size_t nt,
                    size_t d, double *cs, double *csp, double *l2, double *G, double *ebar) {
    size_t blk = nt < CMP_EVAL_BLOCK ? nt : CMP_EVAL_BLOCK;
    double *buf = vx_big_array(blk * d, sizeof(double)), *eb = vx_big_array(d, sizeof(double));
    double *zb = vx_big_array(d, sizeof(double)), *pa = vx_big_array(d, sizeof(double)), *py = vx_big_array(d, sizeof(double));
    double *zc = vx_big_array(blk * d, sizeof(double)), *yc = vx_big_array(blk * d, sizeof(double));
    int rc = VX_OK;
    if (!buf || !eb || !zb || !pa || !py || !zc || !yc) { rc = VX_ENOMEM; goto out; }
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
        memcpy(ebar, eb, sizeof(double) * d);
    }
    double sc = nt > 1 ? 1.0 / sqrt((double)(nt - 1)) : 1.0;
    for (size_t b0 = 0; b0 < nt && !rc; b0 += blk) {
        size_t nb = nt - b0 < blk ? nt - b0 : blk;
        cmp_centre_rows(zc, Zt + b0 * d, muz, nb, d);
        cmp_centre_rows(yc, Yt + b0 * d, muy, nb, d);
        if ((rc = vx_dgemm(0, 0, nb, d, d, zc, M, buf))) break;
        for (size_t i = 0; i < nb; i++) {
            double *m = buf + i * d;
            const double *y = yc + i * d;
            cs[b0 + i] = cosine(m, y, d);
            for (size_t h = 0; h < d; h++) { pa[h] = m[h] + muy[h]; py[h] = (double)Yt[(b0 + i) * d + h]; }
            csp[b0 + i] = cosine(pa, py, d);
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
    vx_big_free(pa);
    vx_big_free(py);
    vx_big_free(zc);
    vx_big_free(yc);
    return rc;
}

/* ------------------------------------------------------------------ relational */
/* Centred: pairwise cosines of shared indices idx[m] in both models' own spaces, the source
 * at full width minus its anchor mean mux, the target minus muy (spec §6.3). */
static int relational(ctx *c, const uint32_t *idx, size_t m, const double *mux, const double *muy, double *corr, double *mad) {
    size_t HS = c->HS, d = c->d;
    double *XS = vx_big_alloc(sizeof(double) * m * HS), *XT = vx_big_alloc(sizeof(double) * m * d);
    double *G1 = vx_big_alloc(sizeof(double) * m * m), *G2 = vx_big_alloc(sizeof(double) * m * m);
    int rc = VX_OK;
    if (!XS || !XT || !G1 || !G2) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < m; i++) {
        cmp_row_f64(c, c->S, XS + i * HS, c->sid[idx[i]]);
        cmp_row_f64(c, c->T, XT + i * d, c->tid[idx[i]]);
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
int cmp_random_orthogonal(double *Q, size_t d, uint64_t seed) {
    uint64_t x = vx_sm_stream(seed, 2);
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < d * d; i += 2) {
        double u1 = (double)((vx_sm_next(&x) >> 11) + 1) * 0x1p-53, u2 = (double)(vx_sm_next(&x) >> 11) * 0x1p-53;
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

/* The pairwise cosines G [m][m] into keep: the strict upper triangle row by row (ld 0), or
 * the whole matrix with row stride ld. */
static void keep_gram(double *keep, const double *G, size_t m, size_t ld) {
    size_t q = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = ld ? 0 : i + 1; j < m; j++) {
            if (ld) keep[i * ld + j] = G[i * m + j];
            else keep[q++] = G[i * m + j];
        }
}

/* Published: rows Z, Y [m][d] (projected source, target; f32); the aligned rows
 * A = (z − muz)R + muy and the native y, each normalised; Pearson correlation and mean
 * |difference| of their pairwise cosines, and with cosv, cos(y_i, A_i) per row (spec §6.2).
 * With keepT / keepA (r->arrays), the two cosine matrices as keep_gram(…, ld) writes them. */
static int relational_pub(ctx *c, const float *Z, const float *Y, size_t m, const double *muz, const double *muy,
                          const double *R, double *corr, double *mad, double *cosv, double *keepT, double *keepA,
                          size_t ld) {
    size_t d = c->d;
    double *XA = vx_big_array(m * d, sizeof(double)), *XT = vx_big_array(m * d, sizeof(double));
    double *G1 = vx_big_alloc(sizeof(double) * m * m), *G2 = vx_big_alloc(sizeof(double) * m * m);
    int rc = VX_OK;
    if (!XA || !XT || !G1 || !G2) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    cmp_centre_rows(XT, Z, muz, m, d); /* z̃, then z̃ R into XA */
    if ((rc = vx_dgemm(0, 0, m, d, d, XT, R, XA))) goto out;
    for (size_t i = 0; i < m; i++)
        for (size_t h = 0; h < d; h++) {
            XA[i * d + h] += muy[h];
            XT[i * d + h] = (double)Y[i * d + h];
        }
    if (cosv)
        for (size_t i = 0; i < m; i++) cosv[i] = cosine(XT + i * d, XA + i * d, d);
    if ((rc = unit_gram(G1, XT, m, d)) || (rc = unit_gram(G2, XA, m, d))) goto out;
    pair_corr(corr, mad, G1, G2, m);
    if (keepT) keep_gram(keepT, G1, m, ld);
    if (keepA) keep_gram(keepA, G2, m, ld);
out:
    vx_big_free(XA);
    vx_big_free(XT);
    vx_big_free(G1);
    vx_big_free(G2);
    return rc;
}

/* ------------------------------------------------------------------ simplices */
/* vol² of the 4-simplex with vertices p[5][d] (spaced `ld` apart): det(G)/(4!)², G the Gram
 * matrix of the edges p_k − p_0 — the Cayley–Menger volume (spec §6.2), computed from
 * edges rather than the bordered determinant of squared distances, which cancels more.
 * *s2 = the mean of the 10 squared edge lengths. */
static double simplex_vol2(const float *p, size_t ld, size_t d, double *s2) {
    double E[4][1024], G[4][4];
    double acc[4][4] = { { 0 } };
    for (size_t h0 = 0; h0 < d; h0 += 1024) { /* edges a slice of 1,024 coordinates at a time */
        size_t w = d - h0 < 1024 ? d - h0 : 1024;
        for (int k = 0; k < 4; k++)
            for (size_t h = 0; h < w; h++) E[k][h] = (double)p[(size_t)(k + 1) * ld + h0 + h] - (double)p[h0 + h];
        for (int k = 0; k < 4; k++)
            for (int l = k; l < 4; l++) {
                double s = 0;
                for (size_t h = 0; h < w; h++) s += E[k][h] * E[l][h];
                acc[k][l] += s;
            }
    }
    double sum = 0;
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 4; l++) G[k][l] = k <= l ? acc[k][l] : acc[l][k];
    for (int k = 0; k < 4; k++) {
        sum += G[k][k];
        for (int l = k + 1; l < 4; l++) sum += G[k][k] + G[l][l] - 2 * G[k][l];
    }
    *s2 = sum / 10;
    return vx_det4(G) / 576.0;
}

/* Mean, CV (population std / mean) of v[n]. */
static void mean_cv(const double *v, size_t n, double *mean, double *cv) {
    double m, s;
    mean_std(v, n, &m, &s);
    *mean = m;
    *cv = m != 0 ? s / m : NAN;
}

#define SIMPLEX_BLOCK 200 /* simplices per projection: 1,000 rows */
/* VX_CMP_SIMPLICES simplices of 5 shared tokens, drawn with stream 4: each a partial
 * Fisher–Yates of 5 over the shared indices (the array carried from one draw to the next);
 * volumes in the target's native rows y and in the aligned source rows. The aligned rows
 * (z − muz)R + muy differ from the projected z by a rotation and a shift, which keep every
 * distance, so the aligned volumes are those of z (without PCA: of the source's rows). */
static int simplices(ctx *c, uint64_t seed, vx_cmp_simplices *out, vx_cmp_arrays *keep) {
    size_t N = c->N, d = c->d, S = VX_CMP_SIMPLICES;
    uint32_t *perm = vx_big_array(N, sizeof(uint32_t)), *idx = vx_big_array(S * 5, sizeof(uint32_t));
    float *Z = vx_big_array(SIMPLEX_BLOCK * 5 * d, sizeof(float)), *Y = vx_big_array(SIMPLEX_BLOCK * 5 * d, sizeof(float));
    double *mux = vx_big_array(c->HS, sizeof(double));
    double *vn = vx_big_array(S, sizeof(double)), *va = vx_big_array(S, sizeof(double));
    int rc = VX_OK;
    if (!perm || !idx || !Z || !Y || !mux || !vn || !va) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the simplices"); goto out; }
    for (size_t i = 0; i < N; i++) perm[i] = (uint32_t)i;
    uint64_t x = vx_sm_stream(seed, 4);
    for (size_t s = 0; s < S; s++) {
        vx_sm_shuffle_prefix(perm, N, 5, &x);
        memcpy(idx + 5 * s, perm, 5 * sizeof(uint32_t));
    }
    size_t nv = 0;
    for (size_t s0 = 0; s0 < S; s0 += SIMPLEX_BLOCK) {
        size_t ns = S - s0 < SIMPLEX_BLOCK ? S - s0 : SIMPLEX_BLOCK;
        if ((rc = cmp_project_rows(c, Z, Y, idx + 5 * s0, 5 * ns, mux, 0))) goto out;
        for (size_t s = 0; s < ns; s++) {
            double sn, sa;
            double v2n = simplex_vol2(Y + 5 * s * d, d, d, &sn), v2a = simplex_vol2(Z + 5 * s * d, d, d, &sa);
            /* valid: not degenerate beyond rounding in either space */
            if (v2n > 1e-12 * sn * sn * sn * sn && v2a > 1e-12 * sa * sa * sa * sa && isfinite(v2n) && isfinite(v2a)) {
                vn[nv] = sqrt(v2n);
                va[nv] = sqrt(v2a);
                if (keep) { keep->vol_native[s0 + s] = vn[nv]; keep->vol_aligned[s0 + s] = va[nv]; }
                nv++;
            }
        }
    }
    out->n = S;
    out->valid = nv;
    out->native_mean = out->native_cv = out->aligned_mean = out->aligned_cv = out->volume_ratio = out->correlation = NAN;
    if (nv >= 2) {
        mean_cv(vn, nv, &out->native_mean, &out->native_cv);
        mean_cv(va, nv, &out->aligned_mean, &out->aligned_cv);
        out->volume_ratio = out->aligned_mean / out->native_mean;
        double c12 = 0, c11 = 0, c22 = 0;
        for (size_t i = 0; i < nv; i++) {
            double a = vn[i] - out->native_mean, b = va[i] - out->aligned_mean;
            c12 += a * b; c11 += a * a; c22 += b * b;
        }
        out->correlation = c11 > 0 && c22 > 0 ? c12 / sqrt(c11 * c22) : NAN;
    }
out:
    vx_big_free(perm);
    vx_big_free(idx);
    vx_big_free(Z);
    vx_big_free(Y);
    vx_big_free(mux);
    vx_big_free(vn);
    vx_big_free(va);
    return rc;
}

/* Cosines of the centred anchors Z̃ₐ R against Ỹₐ [na][d] into cs[na], and of the aligned
 * rows Z̃ₐ R + muy against the native Yₐ into csp[na], with one f32 GEMM like the all-token
 * pass (whose rankings they join). */
static int anchor_cos(ctx *c, const float *Z, const float *Y, const double *muz, const double *muy, const double *R,
                      size_t na, double *cs, double *csp) {
    size_t d = c->d, blk = na < CMP_EVAL_BLOCK ? na : CMP_EVAL_BLOCK;
    float *Zf = vx_big_array(blk * d, sizeof(float)), *Rf = vx_big_array(d * d, sizeof(float));
    float *Mf = vx_big_array(blk * d, sizeof(float));
    int rc = VX_OK;
    if (!Zf || !Rf || !Mf) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d * d; i++) Rf[i] = (float)R[i];
    for (size_t b0 = 0; b0 < na; b0 += blk) { /* blocks of CMP_EVAL_BLOCK anchors: 4 MB buffers */
        size_t nb = na - b0 < blk ? na - b0 : blk;
        for (size_t i = 0; i < nb; i++)
            for (size_t h = 0; h < d; h++) Zf[i * d + h] = (float)((double)Z[(b0 + i) * d + h] - muz[h]);
        if ((rc = vx_sgemm(0, 0, nb, d, d, Zf, d, Rf, d, Mf, d))) goto out;
        for (size_t i = 0; i < nb; i++) {
            double ab = 0, aa = 0, bb = 0, pb = 0, pa = 0, py = 0;
            for (size_t h = 0; h < d; h++) {
                double a = Mf[i * d + h], y = (double)Y[(b0 + i) * d + h], b = y - muy[h], ap = a + muy[h];
                ab += a * b; aa += a * a; bb += b * b;
                pb += ap * y; pa += ap * ap; py += y * y;
            }
            cs[b0 + i] = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
            csp[b0 + i] = pa > 0 && py > 0 ? pb / sqrt(pa * py) : 0.0;
        }
    }
out:
    vx_big_free(Zf);
    vx_big_free(Rf);
    vx_big_free(Mf);
    return rc;
}

/* ---------------------------------------------------------------- §6 metrics */
typedef struct mjob {
    ctx *c;
    const cmp_fit *f;
    vx_compare_result *r;
    const uint32_t *dig;                  /* [r->digits_n] shared indices of "0".."9" present */
    uint64_t seed;
    int which, rc;
    vx_err err;                           /* this job's own, copied to the caller's on failure */
} mjob;

static const char *const what[5] = { "held-out metrics", "random-orthogonal baseline", "anchor cosines",
                                     "centred relational and digit correlations",
                                     "published relational and digit correlations, simplices" };

/* 0: held-out cosines, L2 and both residual spectra under R; 1: the random-orthogonal
 * baseline; 2: the anchors' cosines; 3: centred relational and digit correlations;
 * 4: published relational and digit correlations, per-digit cosines, simplices. */
static void *metric_job(void *arg) {
    mjob *j = arg;
    ctx cj = *j->c;
    cj.err = &j->err;
    cj.nthr = 1;
    vx_compare_result *r = j->r;
    const cmp_fit *f = j->f;
    size_t d = cj.d, na = f->na, nt = f->nt, nd = r->digits_n;
    const float *Zt = f->Z + na * d, *Yt = f->Y + na * d;
    double *cs = NULL, *csp = NULL, *l2 = NULL, *tmp = NULL, *Q = NULL, *Gp = NULL, *eb = NULL, *mux = NULL;
    float *Zd = NULL, *Yd = NULL;
    uint32_t *ida = NULL;
    int rc = VX_OK;
    if (j->which <= 1) {
        cs = vx_big_array(nt, sizeof(double));
        csp = vx_big_array(nt, sizeof(double));
        l2 = vx_big_array(nt, sizeof(double));
        tmp = vx_big_array(nt, sizeof(double));
        ida = vx_big_array(nt, sizeof(uint32_t));
        Q = vx_big_array(d * d, sizeof(double));
        Gp = vx_big_array(d * d, sizeof(double));
        eb = vx_big_array(d, sizeof(double));
        if (!cs || !csp || !l2 || !tmp || !ida || !Q || !Gp || !eb) { rc = vx_fail(cj.err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < nt; i++) ida[i] = cj.sa[f->tst[i]];
    }
    if (j->which == 0) {
        /* with the residual covariance of the test set, (E - mean)ᵀ(E - mean) / (nt - 1), in Q */
        if ((rc = eval_map(Zt, Yt, f->muz, f->muy, f->R, nt, d, cs, csp, l2, Q, eb)) ||
            (rc = stats(&r->cosine_centred, cs, ida, nt)) || (rc = stats(&r->cosine, csp, ida, nt)))
            goto out;
        memcpy(f->csr + na, cs, sizeof(double) * nt);
        memcpy(f->csp + na, csp, sizeof(double) * nt);
        if (r->arrays) {
            memcpy(r->arrays->test_id, ida, sizeof(uint32_t) * nt);
            memcpy(r->arrays->test_cos, csp, sizeof(double) * nt);
            memcpy(r->arrays->test_cos_centred, cs, sizeof(double) * nt);
            memcpy(r->arrays->test_l2, l2, sizeof(double) * nt);
        }
        memcpy(tmp, l2, sizeof(double) * nt);
        qsort(tmp, nt, sizeof(double), cmp_dbl);
        mean_std(l2, nt, &r->l2_mean, &r->l2_std);
        r->l2_median = pct_sorted(tmp, nt, 50);
        /* published: rᵀr / nt with r = y − A = −e, uncentred: Σ e eᵀ = (nt − 1)·Q + nt·ē ēᵀ */
        double w = (double)(nt - 1) / (double)nt;
        for (size_t i = 0; i < d; i++)
            for (size_t k = i; k < d; k++) Gp[i * d + k] = Q[i * d + k] * w + eb[i] * eb[k];
        size_t k = d < VX_CMP_TOP ? d : VX_CMP_TOP, kp = d < VX_CMP_RESIDUAL ? d : VX_CMP_RESIDUAL;
        if ((rc = vx_eig_top(r->residual_eig_centred, NULL, Q, d, k)) || (rc = vx_eig_top(r->residual_eig, NULL, Gp, d, kp))) {
            rc = vx_fail(cj.err, rc, "residual eigenvalues failed");
            goto out;
        }
        r->n_residual_centred = k;
        r->n_residual = kp;
    } else if (j->which == 1) {
        /* baseline: a random orthogonal map in place of R */
        if ((rc = eval_map(Zt, Yt, f->muz, f->muy, f->Qb, nt, d, cs, csp, l2, NULL, NULL)) ||
            (rc = stats(&r->baseline_centred, cs, ida, nt)) || (rc = stats(&r->baseline, csp, ida, nt)))
            goto out;
        double sd;
        mean_std(l2, nt, &r->baseline_l2_mean, &sd);
        if (r->arrays) {
            memcpy(r->arrays->baseline_cos, csp, sizeof(double) * nt);
            memcpy(r->arrays->baseline_cos_centred, cs, sizeof(double) * nt);
        }
    } else if (j->which == 2) {
        rc = anchor_cos(&cj, f->Z, f->Y, f->muz, f->muy, f->R, na, f->csr, f->csp);
    } else if (j->which == 3) {
        /* centred relational: first min(1000, nt) test tokens; digits "0".."9" */
        if ((rc = relational(&cj, f->tst, r->relational_n, f->mux, f->muy, &r->relational_correlation_centred,
                             &r->relational_mean_abs_diff_centred)))
            goto out;
        if (nd >= 3)
            rc = relational(&cj, j->dig, nd, f->mux, f->muy, &r->digit_correlation_centred, &r->digit_mean_abs_diff_centred);
    } else {
        /* published relational on the test rows in memory; digits projected here */
        vx_cmp_arrays *x = r->arrays;
        if ((rc = relational_pub(&cj, Zt, Yt, r->relational_n, f->muz, f->muy, f->R, &r->relational_correlation,
                                 &r->relational_mean_abs_diff, NULL, x ? x->rel_target : NULL,
                                 x ? x->rel_aligned : NULL, 0)))
            goto out;
        if (nd) {
            double rr, mad;
            Zd = vx_big_array(nd * d, sizeof(float));
            Yd = vx_big_array(nd * d, sizeof(float));
            mux = vx_big_array(cj.HS, sizeof(double));
            if (!Zd || !Yd || !mux) { rc = vx_fail(cj.err, VX_ENOMEM, "out of memory"); goto out; }
            if ((rc = cmp_project_rows(&cj, Zd, Yd, j->dig, nd, mux, 0)) ||
                (rc = relational_pub(&cj, Zd, Yd, nd, f->muz, f->muy, f->R, &rr, &mad, r->digit_cosine,
                                     x ? x->digit_target : NULL, x ? x->digit_aligned : NULL, 10)))
                goto out;
            if (nd >= 3) { r->digit_correlation = rr; r->digit_mean_abs_diff = mad; }
        }
        if (x) x->digits_n = nd;
        rc = simplices(&cj, j->seed, &r->simplices, x);
    }
out:
    cmp_fail(cj.err, rc, what[j->which]);
    j->rc = rc;
    vx_big_free(cs);
    vx_big_free(csp);
    vx_big_free(l2);
    vx_big_free(tmp);
    vx_big_free(ida);
    vx_big_free(Q);
    vx_big_free(Gp);
    vx_big_free(eb);
    vx_big_free(mux);
    vx_big_free(Zd);
    vx_big_free(Yd);
    return NULL;
}

/* Two threads take jobs {0, 1} and {2, 3, 4}, BLAS on one thread each: the grouping whose
 * two halves take most nearly the same time (doc/benchmarks.md, "The reasons in
 * numbers"). */
typedef struct mgroup { mjob *job[3]; } mgroup;
static void *metric_group(void *arg) {
    mgroup *g = arg;
    for (int k = 0; k < 3; k++)
        if (g->job[k]) metric_job(g->job[k]);
    return NULL;
}

int cmp_metrics(ctx *c, const cmp_fit *f, vx_compare_result *r, uint64_t seed) {
    /* digits "0".."9": the lowest shared index whose A text is the digit, in digit order */
    uint32_t dig[10];
    int seen[10] = { 0 };
    for (size_t i = 0; i < c->N; i++) {
        const char *raw, *txt;
        size_t rl, tl;
        vx_vocab_get(&c->A.vx->vocab, c->sa[i], &raw, &rl, &txt, &tl);
        if (tl == 1 && txt[0] >= '0' && txt[0] <= '9' && !seen[txt[0] - '0']) { seen[txt[0] - '0'] = 1; dig[txt[0] - '0'] = (uint32_t)i; }
    }
    size_t nd = 0;
    for (int k = 0; k < 10; k++)
        if (seen[k]) dig[nd++] = dig[k];
    r->digits_n = nd;
    for (size_t k = 0; k < nd; k++) r->digit_id[k] = c->sa[dig[k]];
    r->digit_correlation = r->digit_mean_abs_diff = r->digit_correlation_centred = r->digit_mean_abs_diff_centred = NAN;
    r->relational_n = f->nt < VX_CMP_RELATIONAL ? f->nt : VX_CMP_RELATIONAL;

    mjob jobs[5];
    for (int k = 0; k < 5; k++) jobs[k] = (mjob){ c, f, r, dig, seed, k, VX_OK, { 0, { 0 } } };
    mgroup groups[2] = { { { &jobs[0], &jobs[1], NULL } }, { { &jobs[2], &jobs[3], &jobs[4] } } };
    if (c->nthr < 2) {
        metric_group(&groups[0]);
        metric_group(&groups[1]);
    } else {
        cmp_run_blas_serial(metric_group, groups, sizeof groups[0], 2);
    }
    for (int k = 0; k < 5; k++)
        if (jobs[k].rc) {
            if (c->err) *c->err = jobs[k].err;
            return jobs[k].rc;
        }
    return VX_OK;
}
