/*
 * cmp_metrics.c — what `vindex compare` measures on the anchor and test rows
 * (spec/compare.md §6): held-out cosine and L2 statistics and the residual spectrum under
 * the fitted rotation, the same under a random orthogonal map (the baseline), the anchors'
 * cosines (for the all-token ranking), and the relational and digit correlations.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "kern.h"
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

/* Test-set cosines and L2 of z·M against y, z and y the rows of Zt and Yt [nt][d] centred on
 * muz and muy, CMP_EVAL_BLOCK rows at a time (8 MB buffers instead of all nt rows). With G (d×d,
 * zero), also the residual covariance's upper triangle: G = Σ (e − ē)ᵀ(e − ē) / (nt − 1) for
 * e = z M − y, with ē = mean(z)·M − mean(y) (the mean of the e, by linearity). */
#define CMP_EVAL_BLOCK 1024
static int eval_map(const float *Zt, const float *Yt, const double *muz, const double *muy, const double *M, size_t nt,
                    size_t d, double *cs, double *l2, double *G) {
    size_t blk = nt < CMP_EVAL_BLOCK ? nt : CMP_EVAL_BLOCK;
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
        cmp_centre_rows(zc, Zt + b0 * d, muz, nb, d);
        cmp_centre_rows(yc, Yt + b0 * d, muy, nb, d);
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
    uint64_t x = cmp_sm_stream(seed, 2);
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < d * d; i += 2) {
        double u1 = (double)((cmp_sm_next(&x) >> 11) + 1) * 0x1p-53, u2 = (double)(cmp_sm_next(&x) >> 11) * 0x1p-53;
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

/* Cosines of the centred anchors Z̃ₐ R against Ỹₐ [na][d] into cs[na], with one f32 GEMM
 * like the all-token pass (whose best/worst ranking they join). */
static int anchor_cos(ctx *c, const float *Z, const float *Y, const double *muz, const double *muy, const double *R,
                      size_t na, double *cs) {
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

/* ---------------------------------------------------------------- §6 metrics */
typedef struct mjob {
    ctx *c;
    const cmp_fit *f;
    vx_compare_result *r;
    int which, rc;
    vx_err err;                           /* this job's own, copied to the caller's on failure */
} mjob;

/* 0: held-out cosines, L2 and residual eigenvalues under R; 1: the random-orthogonal
 * baseline; 2: the anchors' cosines; 3: relational and digit correlations. */
static void *metric_job(void *arg) {
    mjob *j = arg;
    ctx cj = *j->c;
    cj.err = &j->err;
    vx_compare_result *r = j->r;
    const cmp_fit *f = j->f;
    size_t d = cj.d, na = f->na, nt = f->nt;
    const float *Zt = f->Z + na * d, *Yt = f->Y + na * d;
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
        for (size_t i = 0; i < nt; i++) ida[i] = cj.sa[f->tst[i]];
    }
    if (j->which == 0) {
        /* with the residual covariance of the test set, (E - mean)ᵀ(E - mean) / (nt - 1), in Q */
        if ((rc = eval_map(Zt, Yt, f->muz, f->muy, f->R, nt, d, cs, l2, Q)) || (rc = stats(&r->cosine, cs, ida, nt))) goto out;
        memcpy(f->csr + na, cs, sizeof(double) * nt);
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
        if ((rc = eval_map(Zt, Yt, f->muz, f->muy, f->Qb, nt, d, cs, l2, NULL)) || (rc = stats(&r->baseline, cs, ida, nt))) goto out;
        double sd;
        mean_std(l2, nt, &r->baseline_l2_mean, &sd);
    } else if (j->which == 2) {
        rc = anchor_cos(&cj, f->Z, f->Y, f->muz, f->muy, f->R, na, f->csr);
    } else {
        /* relational: first min(1000, nt) test tokens; digits "0".."9" among shared tokens */
        r->relational_n = nt < VX_CMP_RELATIONAL ? nt : VX_CMP_RELATIONAL;
        if ((rc = relational(&cj, f->tst, r->relational_n, f->mux, f->muy, &r->relational_correlation,
                             &r->relational_mean_abs_diff)))
            goto out;
        uint32_t dig[10];
        int seen[10] = { 0 };
        for (size_t i = 0; i < cj.N; i++) {
            const char *raw, *txt;
            size_t rl, tl;
            vx_vocab_get(&cj.A.vx->vocab, cj.sa[i], &raw, &rl, &txt, &tl);
            if (tl == 1 && txt[0] >= '0' && txt[0] <= '9' && !seen[txt[0] - '0']) { seen[txt[0] - '0'] = 1; dig[txt[0] - '0'] = (uint32_t)i; }
        }
        size_t nd = 0;
        for (int k = 0; k < 10; k++)
            if (seen[k]) dig[nd++] = dig[k];
        r->digits_n = nd;
        r->digit_correlation = r->digit_mean_abs_diff = NAN;
        if (nd >= 3) rc = relational(&cj, dig, nd, f->mux, f->muy, &r->digit_correlation, &r->digit_mean_abs_diff);
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
    cmp_run_blas_serial(metric_pair, pairs, sizeof pairs[0], 2);
}


int cmp_metrics(ctx *c, const cmp_fit *f, vx_compare_result *r) {
    mjob jobs[4];
    for (int k = 0; k < 4; k++) jobs[k] = (mjob){ c, f, r, k, VX_OK, { 0, { 0 } } };
    run_metric_jobs(jobs, c->nthr);
    for (int k = 0; k < 4; k++)
        if (jobs[k].rc) {
            if (c->err) *c->err = jobs[k].err;
            return jobs[k].rc;
        }
    return VX_OK;
}
