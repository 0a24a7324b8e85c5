/*
 * stats_cov.c — one pass over an f16 matrix for spec/stats.md §3.4 and §3.7: column
 * moments, the covariance by f32 SYRK, and the near-duplicate sample's nearest neighbours.
 *
 * The matrix is read once, front to back, in blocks of rows. Each block is converted to
 * f32 by the scan kernels (kern.h: exact conversion, and each row's Σx² in the canonical
 * order the queries use), centred on a shift s (the mean of the first 1,024 rows, so
 * nothing cancels in G even when the mean is large), its column sums added in double,
 * and then it serves twice while it is hot: G += X̃ᵀX̃ (ssyrk) and the near-duplicate
 * sample's screening GEMM (stats_nn1.c). Conversion and the column sums run
 * on every core (rows, then columns: each column's sum is in row order whatever the thread
 * count); BLAS uses its own threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "stats.h"

#define SHIFT_ROWS 1024

typedef struct blk_job {
    const vx_kern *kern;
    const uint16_t *X;   /* block start */
    float *Y, *ss;       /* [m][H], [m] */
    size_t m, H;
    const float *shift;
    double *sum, *sq;    /* [H] running column sums of (x - s), (x - s)² */
    int phase, t, T;
} blk_job;

static void *blk_worker(void *arg) {
    blk_job *j = arg;
    if (j->phase == 0) { /* rows: convert, Σx² */
        size_t lo = j->m * (size_t)j->t / (size_t)j->T, hi = j->m * (size_t)(j->t + 1) / (size_t)j->T;
        if (hi > lo) j->kern->cvt_ss(j->Y + lo * j->H, j->ss + lo, j->X + lo * j->H, hi - lo, j->H);
        return NULL;
    }
    /* columns: centre, add to the column sums in row order */
    size_t lo = j->H * (size_t)j->t / (size_t)j->T, hi = j->H * (size_t)(j->t + 1) / (size_t)j->T;
    for (size_t r = 0; r < j->m; r++) {
        float *y = j->Y + r * j->H;
        for (size_t c = lo; c < hi; c++) {
            float v = y[c] - j->shift[c];
            y[c] = v;
            j->sum[c] += v;
            j->sq[c] += (double)v * v;
        }
    }
    return NULL;
}

static void run_block(blk_job *jobs, int T, int phase) {
    for (int t = 0; t < T; t++) jobs[t].phase = phase;
    vx_run_parallel(blk_worker, jobs, sizeof *jobs, T);
}

int vx_cov_run(const vx_covpass *p, vx_err *err) {
    size_t n = p->n, H = p->H, D = p->D;
    if (!n || !H) return vx_fail(err, VX_EUSAGE, "covariance: empty matrix");
    size_t B = ((size_t)8 << 20) / H; /* rows per block: 32 MB of f32 */
    if (B < 64) B = 64;
    if (B > 4096) B = 4096;
    if (B > n) B = n;
    const vx_kern *kern = vx_kern_active();
    int T = vx_kern_threads();
    float *Y = vx_big_array(B * H, sizeof(float)), *ssb = malloc(B * sizeof(float));
    float *G = p->C ? vx_big_array(H * H, sizeof(float)) : NULL;
    float *shift = calloc(H, sizeof(float));
    double *sum = calloc(H, sizeof(double)), *sq = calloc(H, sizeof(double));
    vx_nn1 *nn = NULL;
    blk_job *jobs = calloc((size_t)T, sizeof *jobs);
    int rc = VX_OK;
    if (!Y || !ssb || (p->C && !G) || !shift || !sum || !sq || !jobs) {
        rc = vx_fail(err, VX_ENOMEM, "covariance: out of memory for %zu x %zu", n, H);
        goto out;
    }
    madvise((void *)(uintptr_t)p->X, n * H * sizeof(uint16_t), MADV_SEQUENTIAL);
    /* The shift: mean of the first rows, in double, rounded once. */
    {
        size_t m = n < SHIFT_ROWS ? n : SHIFT_ROWS;
        double *acc = calloc(H, sizeof(double));
        if (!acc) { rc = vx_fail(err, VX_ENOMEM, "covariance: out of memory"); goto out; }
        for (size_t r = 0; r < m; r++)
            for (size_t c = 0; c < H; c++) acc[c] += vx_f16_to_f32(p->X[r * H + c]);
        for (size_t c = 0; c < H; c++) shift[c] = (float)(acc[c] / (double)m);
        free(acc);
    }
    if (D && !(nn = vx_nn1_new(p->S, p->sid, D, n, H, B, shift, T))) {
        rc = vx_fail(err, VX_ENOMEM, "covariance: out of memory for the near-duplicate sample (%zu rows)", D);
        goto out;
    }
    size_t rel = 0;
    for (size_t r0 = 0; r0 < n; r0 += B) {
        size_t m = n - r0 < B ? n - r0 : B;
        for (int t = 0; t < T; t++)
            jobs[t] = (blk_job){ kern, p->X + r0 * H, Y, ssb, m, H, shift, sum, sq, 0, t, T };
        run_block(jobs, T, 0);
        for (size_t i = 0; i < m; i++)
            if (!isfinite(ssb[i])) {
                rc = vx_fail(err, VX_ECORRUPT, "row %zu: a value is not finite (NaN or Inf): no statistics over it", r0 + i);
                goto out;
            }
        if (p->ss) memcpy(p->ss + r0, ssb, m * sizeof(float));
        run_block(jobs, T, 1);
        if (G && (rc = vx_sgram_rows(G, H, Y, m, r0 > 0))) { rc = vx_fail(err, rc, "covariance: ssyrk refused %zu x %zu", m, H); goto out; }
        if (nn && (rc = vx_nn1_block(nn, p->X + r0 * H, Y, ssb, r0, m))) { rc = vx_fail(err, rc, "covariance: sgemm refused"); goto out; }
        if (p->release && ((r0 + m - rel) * H * sizeof(uint16_t) >= (8u << 20) || r0 + m == n)) {
            vx_map_release(p->X + rel * H, (r0 + m - rel) * H * sizeof(uint16_t));
            rel = r0 + m;
        }
    }
    /* A sample row whose every other row is zero (or that is alone) has no neighbour: 0
     * by ST-C1; so has a zero sample row. Cosines are clamped to [-1, 1]. */
    if (nn) vx_nn1_result(nn, p->nn1);
    for (size_t d = 0; d < D; d++) {
        float v = p->nn1[d];
        int zero = 1;
        for (size_t c = 0; c < H && zero; c++) zero = p->S[d * H + c] == 0;
        p->nn1[d] = zero || v == -INFINITY ? 0.0f : v > 1 ? 1.0f : v < -1 ? -1.0f : v;
    }
    for (size_t c = 0; c < H; c++) {
        double dm = sum[c] / (double)n;
        p->mean[c] = shift[c] + dm;
        double v = sq[c] / (double)n - dm * dm;
        p->var[c] = v > 0 ? v : 0;
    }
    if (p->C) { /* C = (G − n·δδᵀ)/n, δ = μ − s */
        for (size_t i = 0; i < H; i++) {
            double di = sum[i] / (double)n;
            for (size_t j = i; j < H; j++) {
                double v = ((double)G[i * H + j] - (double)n * di * (sum[j] / (double)n)) / (double)n;
                p->C[i * H + j] = v;
            }
        }
    }
out:
    vx_big_free(Y);
    vx_big_free(G);
    vx_nn1_free(nn);
    free(ssb); free(shift); free(sum); free(sq); free(jobs);
    return rc;
}
