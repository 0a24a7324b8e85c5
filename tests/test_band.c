/*
 * test_band.c — band to tridiagonal by bulge chasing (src/band.h), against float64: the
 * eigenvalues of the tridiagonal result (dsterf in double) against those of the band
 * matrix itself (dsyev in double), every one within TOL·‖B‖₂. On random bands of many
 * sizes and half-bandwidths (one step per sweep, several, the last block cut short, kd at
 * and beyond n − 1), and on bands that make the chase stop early (zero columns, a
 * diagonal matrix, an already tridiagonal one, a zero matrix), graded and huge/tiny scales.
 * Also: the baseline and AVX-512 builds give the same bits (when the CPU has AVX-512), ab
 * is left as it was, and bad arguments are refused. Prints "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>
#undef I

#include "band.h"
#include "check.h"
#include "kern.h"
#include "vindex.h"

static unsigned long long rs = 0x9e3779b97f4a7c15ull;
static double unif(void) { /* [-1, 1) */
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1.0p-52 - 1.0;
}

enum { RANDOM, ZERO_COLS, DIAGONAL, TRIDIAGONAL, ZERO, GRADED };
static const char *kind_name[] = { "random", "zero-cols", "diagonal", "tridiagonal", "zero", "graded" };

/* The band in LAPACK lower storage, ldab = kd + 1 + pad. */
static void make_band(float *ab, size_t ldab, size_t n, size_t kd, int kind, double scale) {
    memset(ab, 0, sizeof(float) * ldab * n);
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i <= j + kd && i < n; i++) {
            double x = unif();
            if (kind == ZERO || (kind == DIAGONAL && i != j) || (kind == TRIDIAGONAL && i > j + 1)) x = 0;
            if (kind == ZERO_COLS && j % 5 == 2 && i > j) x = 0; /* column j needs no reflector */
            if (kind == GRADED) x *= pow(10.0, -6.0 * (double)(i + j) / (double)(2 * n));
            ab[(i - j) + j * ldab] = (float)(x * scale);
        }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* max |λ_i(T) − λ_i(B)| / max(‖B‖₂, tiny), both in double; −1 if LAPACK failed. */
static double eig_error(const float *d, const float *e, const float *ab, size_t ldab, size_t n, size_t kd) {
    double *A = calloc(n * n, sizeof(double)), *w = malloc(sizeof(double) * n);
    double *td = malloc(sizeof(double) * n), *te = malloc(sizeof(double) * (n + 1));
    double worst = -1;
    if (!A || !w || !td || !te) goto out;
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i <= j + kd && i < n; i++) A[i * n + j] = A[j * n + i] = ab[(i - j) + j * ldab];
    for (size_t i = 0; i < n; i++) td[i] = d[i];
    for (size_t i = 0; i + 1 < n; i++) te[i] = e[i];
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (int)n, A, (int)n, w) != 0) goto out;
    if (LAPACKE_dsterf((int)n, td, te) != 0) goto out;
    qsort(td, n, sizeof(double), cmp_d);
    double norm = 0;
    for (size_t i = 0; i < n; i++) norm = fmax(norm, fabs(w[i]));
    worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(td[i] - w[i]));
    worst = norm > 0 ? worst / norm : worst;
out:
    free(A); free(w); free(td); free(te);
    return worst;
}

/* A few ε·n of the norm: the chase is n·kd reflectors, each a backward-stable step. */
#define TOL(n) (6.0 * 0x1.0p-24 * sqrt((double)(n)))

int main(void) {
    static const size_t ns[] = { 1, 2, 3, 5, 17, 64, 65, 100, 300 };
    static const size_t kds[] = { 0, 1, 2, 3, 15, 16, 17, 33, 64, 70, 400 };
    double worst_ratio = 0;
    int have512 = vx_cpu_avx512();
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof kds / sizeof kds[0]; b++)
            for (int kind = RANDOM; kind <= GRADED; kind++) {
                size_t n = ns[a], kd = kds[b], ldab = kd + 1 + (kind & 1);
                if (kind != RANDOM && n < 17) continue;
                float *ab = malloc(sizeof(float) * ldab * n), *ab0 = malloc(sizeof(float) * ldab * n);
                float *d = malloc(sizeof(float) * n), *e = malloc(sizeof(float) * n);
                if (!ab || !ab0 || !d || !e) { CHECK(0, "out of memory"); return CHECK_DONE(); }
                double scale = kind == ZERO_COLS ? 1e18 : kind == DIAGONAL ? 1e-18 : 1;
                make_band(ab, ldab, n, kd, kind, scale);
                memcpy(ab0, ab, sizeof(float) * ldab * n);
                int rc = vx_band_tri(d, e, ab, ldab, n, kd);
                CHECK(rc == VX_OK, "n %zu kd %zu %s: rc %d", n, kd, kind_name[kind], rc);
                CHECK(!memcmp(ab, ab0, sizeof(float) * ldab * n), "n %zu kd %zu %s: ab changed", n, kd, kind_name[kind]);
                double err = eig_error(d, e, ab, ldab, n, kd);
                CHECK(err >= 0 && err <= TOL(n), "n %zu kd %zu %s: eigenvalues off by %.3g of the norm (bound %.3g)", n,
                      kd, kind_name[kind], err, TOL(n));
                if (err / TOL(n) > worst_ratio) worst_ratio = err / TOL(n);
                size_t k = kd < n ? kd : n - 1;
                if (have512 && k > 0) {
                    size_t words = vx_band_work(n, k);
                    float *W = malloc(sizeof(float) * words), *d2 = malloc(sizeof(float) * n), *e2 = malloc(sizeof(float) * n);
                    float *d3 = malloc(sizeof(float) * n), *e3 = malloc(sizeof(float) * n);
                    if (!W || !d2 || !e2 || !d3 || !e3) { CHECK(0, "out of memory"); return CHECK_DONE(); }
                    vx_band_tri_base(d2, e2, ab, ldab, n, k, W);
                    vx_band_tri_avx512(d3, e3, ab, ldab, n, k, W);
                    CHECK(!memcmp(d2, d3, sizeof(float) * n) && !memcmp(e2, e3, sizeof(float) * (n - 1)),
                          "n %zu kd %zu %s: the two builds differ", n, kd, kind_name[kind]);
                    CHECK(!memcmp(d, d3, sizeof(float) * n), "n %zu kd %zu %s: vx_band_tri is not the AVX-512 build", n,
                          kd, kind_name[kind]);
                    free(W); free(d2); free(e2); free(d3); free(e3);
                }
                free(ab); free(ab0); free(d); free(e);
            }
    printf("worst eigenvalue error: %.3f of the bound\n", worst_ratio);
    float ab[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, d[4], e[4];
    CHECK(vx_band_tri(d, e, ab, 2, 0, 1) == VX_EUSAGE, "n = 0 refused");
    CHECK(vx_band_tri(d, e, ab, 2, 4, 2) == VX_EUSAGE, "ldab <= kd refused");
    return CHECK_DONE();
}
