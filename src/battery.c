/*
 * battery.c — the weight battery's kernels (see battery.h). They run on every element of
 * every MLP matrix and of the [V][2·L·F] projection, so they are written with GCC/Clang
 * vector extensions: 16-byte (4 float or 2 double lanes) arithmetic that compiles to
 * whatever the target has (SSE2 on baseline x86-64), with no run-time dispatch. Sums of squares and
 * moments are in double (each f32 is widened exactly), counts in integers; nothing here
 * depends on the order in which chunks arrive beyond floating-point summation order.
 */
#include "battery.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 16-byte vectors only: every x86-64 has them (SSE2), and wider types are split, for
 * comparisons even into scalar code, where the target lacks the registers. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef float v2f __attribute__((vector_size(8)));
typedef double v2d __attribute__((vector_size(16)));

void vx_bat_thresholds(float c[VX_N_SPARSITY]) {
    for (int t = 0; t < VX_N_SPARSITY; t++) {
        float f = (float)vx_sparsity_thresholds[t];
        if ((double)f < vx_sparsity_thresholds[t]) f = nextafterf(f, INFINITY);
        c[t] = f;
    }
}

void vx_bat_count(uint64_t below[VX_N_SPARSITY], const float *x, size_t n, const float c[VX_N_SPARSITY]) {
    /* 4 lanes (one SSE register: wider vector types are split into scalar compares where
     * the target has no such registers), five named counters so they stay in registers;
     * a true comparison is -1, so the counters count down, flushed before they overflow */
    const v4i absmask = { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff };
    const v4f c0 = { c[0], c[0], c[0], c[0] }, c1 = { c[1], c[1], c[1], c[1] }, c2 = { c[2], c[2], c[2], c[2] },
              c3 = { c[3], c[3], c[3], c[3] }, c4 = { c[4], c[4], c[4], c[4] };
    size_t i = 0;
    while (n - i >= 4) {
        v4i k0 = { 0, 0, 0, 0 }, k1 = k0, k2 = k0, k3 = k0, k4 = k0;
        size_t stop = n - i > ((size_t)1 << 30) ? i + ((size_t)1 << 30) : n - (n - i) % 4;
        for (; i < stop; i += 4) {
            v4f v;
            memcpy(&v, x + i, sizeof v);
            v = (v4f)((v4i)v & absmask);
            k0 += (v4i)(v < c0);
            k1 += (v4i)(v < c1);
            k2 += (v4i)(v < c2);
            k3 += (v4i)(v < c3);
            k4 += (v4i)(v < c4);
        }
        const v4i *k[VX_N_SPARSITY] = { &k0, &k1, &k2, &k3, &k4 };
        for (int t = 0; t < VX_N_SPARSITY; t++)
            for (int j = 0; j < 4; j++) below[t] += (uint64_t)(-(int64_t)(*k[t])[j]);
    }
    for (; i < n; i++) {
        float a = fabsf(x[i]);
        for (int t = 0; t < VX_N_SPARSITY; t++) below[t] += a < c[t];
    }
}

void vx_bat_sq_rows(double *sq, const float *X, size_t n, size_t H) {
    for (size_t r = 0; r < n; r++) {
        const float *p = X + r * H;
        v2d a0 = { 0, 0 }, a1 = a0, a2 = a0, a3 = a0;
        size_t j = 0;
        for (; j + 8 <= H; j += 8) {
            v2f u0, u1, u2, u3;
            memcpy(&u0, p + j, sizeof u0);
            memcpy(&u1, p + j + 2, sizeof u1);
            memcpy(&u2, p + j + 4, sizeof u2);
            memcpy(&u3, p + j + 6, sizeof u3);
            v2d d0 = __builtin_convertvector(u0, v2d), d1 = __builtin_convertvector(u1, v2d);
            v2d d2 = __builtin_convertvector(u2, v2d), d3 = __builtin_convertvector(u3, v2d);
            a0 += d0 * d0;
            a1 += d1 * d1;
            a2 += d2 * d2;
            a3 += d3 * d3;
        }
        a0 = (a0 + a1) + (a2 + a3);
        double s = a0[0] + a0[1];
        for (; j < H; j++) s += (double)p[j] * p[j];
        sq[r] = s;
    }
}

void vx_bat_sq_cols(double *sq, const float *M, size_t H, size_t n) {
    for (size_t j = 0; j < H; j++) {
        const float *p = M + j * n;
        size_t i = 0;
        for (; i + 2 <= n; i += 2) {
            v2f u;
            v2d a;
            memcpy(&u, p + i, sizeof u);
            memcpy(&a, sq + i, sizeof a);
            v2d d = __builtin_convertvector(u, v2d);
            a += d * d;
            memcpy(sq + i, &a, sizeof a);
        }
        for (; i < n; i++) sq[i] += (double)p[i] * p[i];
    }
}

/* ------------------------------------------------------------------ moments */

int vx_mom_init(vx_mom_acc *m, size_t ncol) {
    memset(m, 0, sizeof *m);
    m->ncol = ncol;
    m->c = calloc(ncol ? ncol : 1, sizeof(double));
    m->s = calloc(4 * (ncol ? ncol : 1), sizeof(double));
    if (!m->c || !m->s) {
        vx_mom_free(m);
        return VX_ENOMEM;
    }
    return VX_OK;
}

void vx_mom_free(vx_mom_acc *m) {
    free(m->c);
    free(m->s);
    m->c = m->s = NULL;
}

void vx_mom_add_cols(vx_mom_acc *m, const float *S, size_t rows, size_t c0, size_t c1) {
    size_t nc = m->ncol;
    if (!rows || c1 > nc || c0 >= c1) return;
    if (m->n == 0) { /* the shifts: the first tile's column means */
        for (size_t r = 0; r < rows; r++)
            for (size_t c = c0; c < c1; c++) m->c[c] += S[r * nc + c];
        for (size_t c = c0; c < c1; c++) m->c[c] /= (double)rows;
    }
    double *s1 = m->s, *s2 = s1 + nc, *s3 = s2 + nc, *s4 = s3 + nc;
    for (size_t r = 0; r < rows; r++) {
        const float *p = S + r * nc;
        size_t c = c0;
        for (; c + 2 <= c1; c += 2) {
            v2f u;
            v2d sh, a1, a2, a3, a4;
            memcpy(&u, p + c, sizeof u);
            memcpy(&sh, m->c + c, sizeof sh);
            memcpy(&a1, s1 + c, sizeof a1);
            memcpy(&a2, s2 + c, sizeof a2);
            memcpy(&a3, s3 + c, sizeof a3);
            memcpy(&a4, s4 + c, sizeof a4);
            v2d d = __builtin_convertvector(u, v2d) - sh, d2 = d * d;
            a1 += d;
            a2 += d2;
            a3 += d2 * d;
            a4 += d2 * d2;
            memcpy(s1 + c, &a1, sizeof a1);
            memcpy(s2 + c, &a2, sizeof a2);
            memcpy(s3 + c, &a3, sizeof a3);
            memcpy(s4 + c, &a4, sizeof a4);
        }
        for (; c < c1; c++) {
            double d = (double)p[c] - m->c[c], d2 = d * d;
            s1[c] += d;
            s2[c] += d2;
            s3[c] += d2 * d;
            s4[c] += d2 * d2;
        }
    }
}

void vx_mom_count(vx_mom_acc *m, size_t rows) { m->n += rows; }

void vx_mom_add(vx_mom_acc *m, const float *S, size_t rows) {
    vx_mom_add_cols(m, S, rows, 0, m->ncol);
    vx_mom_count(m, rows);
}

void vx_mom_finish(const vx_mom_acc *m, float *out) {
    size_t nc = m->ncol;
    double n = m->n ? (double)m->n : 1.0;
    const double *s1 = m->s, *s2 = s1 + nc, *s3 = s2 + nc, *s4 = s3 + nc;
    for (size_t c = 0; c < nc; c++) {
        /* raw moments about the shift → central moments about the mean */
        double e1 = s1[c] / n, e2 = s2[c] / n, e3 = s3[c] / n, e4 = s4[c] / n, e1s = e1 * e1;
        double m2 = e2 - e1s, m3 = e3 - 3 * e1 * e2 + 2 * e1s * e1, m4 = e4 - 4 * e1 * e3 + 6 * e1s * e2 - 3 * e1s * e1s;
        if (!(m2 > 0)) m2 = 0;
        float *o = out + 4 * c;
        o[0] = (float)(m->c[c] + e1);
        o[1] = (float)sqrt(m2);
        o[2] = m2 > 0 ? (float)(m3 / (m2 * sqrt(m2))) : 0.0f;
        o[3] = m2 > 0 ? (float)(m4 / (m2 * m2) - 3.0) : 0.0f;
    }
}
