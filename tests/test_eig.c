/*
 * test_eig.c — the eigensolver paths behind vx_seig_top's spectrum case (src/linalg.c):
 * the two-stage reduction with certified subspace iteration, and the one-stage reduction
 * it falls back to, each against a float64 reference (dsyevr of the Gram accumulated in
 * double) on decaying, flat (Marchenko–Pastur), power-law, rank-deficient and clustered
 * spectra: every eigenvalue within 2e-5·λ₁, the top-F values within 2e-4 relative (down to 1e-3·λ₁), the
 * top-F subspace (mean cos² of the principal angles) ≥ 0.9999 where the reference has a
 * gap at F, ≥ 0.999 for the flat spectrum; and a spectrum the iteration cannot certify
 * in its budget goes to the fallback, with the same answers. Prints "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>
#undef I

#include "check.h"
#include "linalg.h"
#include "vindex.h"

static unsigned long long rs = 88172645463325252ull;
static double unif(void) {
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (double)(rs >> 11) * 0x1.0p-53;
}
static double gauss(void) { return sqrt(-2 * log(unif() + 1e-300)) * cos(6.283185307179586 * unif()); }

/* mean cos² of the principal angles between the row spaces of A [F][H] and B [F][H] */
static double subspace(const double *A, const double *B, size_t F, size_t H) {
    double *M = malloc(sizeof(double) * F * F), *s = malloc(sizeof(double) * F), *sup = malloc(sizeof(double) * F);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)F, (int)F, (int)H, 1, A, (int)H, B, (int)H, 0, M, (int)F);
    LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (int)F, (int)F, M, (int)F, s, NULL, 1, NULL, 1, sup);
    double m = 0;
    for (size_t i = 0; i < F; i++) m += s[i] * s[i];
    free(M); free(s); free(sup);
    return m / (double)F;
}

typedef struct result {
    double vals[512], all[4096], *vecs;
} result;

static int solve(result *r, int path, const float *G0, size_t H, size_t F) {
    float *G = malloc(sizeof(float) * H * H);
    memcpy(G, G0, sizeof(float) * H * H);
    vx_eig_path(path);
    int rc = vx_seig_top(r->vals, r->vecs, r->all, G, H, F);
    free(G);
    return rc;
}

/* A [N][H] with column scales s[H] (G = AᵀA), or, with N = 0, A [H][H] whose row i is
 * √s_i·q_i for a random orthonormal basis q (G = Σ s_i q_i q_iᵀ: the spectrum exactly s) */
static void run_case(const char *name, size_t H, size_t N, size_t F, const double *scale, int expect_fallback,
                     double min_sub) {
    int exact = N == 0;
    if (exact) N = H;
    double *A = malloc(sizeof(double) * N * H), *Gd = calloc(H * H, sizeof(double));
    float *Af = malloc(sizeof(float) * N * H), *G = calloc(H * H, sizeof(float));
    for (size_t i = 0; i < N * H; i++) A[i] = gauss();
    if (exact) {
        double *tau = malloc(sizeof(double) * H);
        LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)H, (int)H, A, (int)H, tau);
        LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)H, (int)H, (int)H, A, (int)H, tau);
        free(tau);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < H; j++) {
            A[i * H + j] = (double)(float)(A[i * H + j] * (exact ? sqrt(scale[i]) : scale[j]));
            Af[i * H + j] = (float)A[i * H + j];
        }
    vx_gram_rows(Gd, H, A, N);
    vx_sgram_rows(G, H, Af, N, 0);
    /* reference: every eigenvalue and the top-F vectors in double */
    double *Gr = malloc(sizeof(double) * H * H), *ref_all = malloc(sizeof(double) * H);
    double *ref_vals = malloc(sizeof(double) * F), *ref_vecs = malloc(sizeof(double) * F * H);
    memcpy(Gr, Gd, sizeof(double) * H * H);
    vx_eig_top(ref_all, NULL, Gr, H, H);
    memcpy(Gr, Gd, sizeof(double) * H * H);
    vx_eig_top(ref_vals, ref_vecs, Gr, H, F);
    result two, tri;
    two.vecs = malloc(sizeof(double) * F * H);
    tri.vecs = malloc(sizeof(double) * F * H);
    unsigned long n2a, nfa, n2b, nfb;
    vx_eig_counts(&n2a, &nfa);
    CHECK(solve(&two, VX_EIG_2STAGE, G, H, F) == VX_OK, "%s: two-stage path", name);
    vx_eig_counts(&n2b, &nfb);
    CHECK((nfb - nfa == 1) == expect_fallback && (n2b - n2a == 1) == !expect_fallback,
          "%s: %s expected (two-stage %lu, fallback %lu)", name, expect_fallback ? "the fallback" : "a certified answer",
          n2b - n2a, nfb - nfa);
    CHECK(solve(&tri, VX_EIG_TRI, G, H, F) == VX_OK, "%s: one-stage path", name);
    vx_eig_path(VX_EIG_AUTO);
    double l1 = ref_all[0];
    for (int k = 0; k < 2; k++) {
        const result *r = k ? &tri : &two;
        const char *path = k ? "one-stage" : "two-stage";
        double worst = 0, worstv = 0;
        for (size_t i = 0; i < H; i++) worst = fmax(worst, fabs(r->all[i] - ref_all[i]));
        CHECK(worst <= 2e-5 * l1, "%s %s: every eigenvalue within 2e-5 of lambda1 (worst %.3g)", name, path, worst / l1);
        /* an f32 Gram resolves λ to ~1e-7·λ₁: relative 2e-4 (σ: 1e-4) down to 1e-3·λ₁, R-B1's range */
        for (size_t i = 0; i < F; i++)
            worstv = fmax(worstv, fabs(r->vals[i] - ref_vals[i]) / fmax(ref_vals[i], 1e-3 * l1));
        CHECK(worstv <= 2e-4, "%s %s: top-F eigenvalues within 2e-4 relative (worst %.3g)", name, path, worstv);
        double sub = subspace(r->vecs, ref_vecs, F, H);
        CHECK(sub >= min_sub, "%s %s: top-F subspace %.7f >= %g", name, path, sub, min_sub);
        /* residuals against the double Gram: ‖G v − λ v‖ ≤ 1e-4 λ₁ for every pair */
        double wr = 0, *gv = malloc(sizeof(double) * H);
        for (size_t i = 0; i < F; i++) {
            cblas_dsymv(CblasRowMajor, CblasUpper, (int)H, 1, Gd, (int)H, r->vecs + i * H, 1, 0, gv, 1);
            double s2 = 0;
            for (size_t h = 0; h < H; h++) s2 += (gv[h] - r->vals[i] * r->vecs[i * H + h]) * (gv[h] - r->vals[i] * r->vecs[i * H + h]);
            wr = fmax(wr, sqrt(s2));
        }
        free(gv);
        CHECK(wr <= 1e-4 * l1, "%s %s: residuals <= 1e-4 lambda1 (worst %.3g)", name, path, wr / l1);
    }
    printf("  %-14s H=%zu N=%zu F=%zu gap_F=%.2e: two-stage vs one-stage subspace %.8f\n", name, H, N, F,
           (ref_all[F - 1] - ref_all[F]) / ref_all[F - 1], subspace(two.vecs, tri.vecs, F, H));
    free(A); free(Gd); free(Af); free(G); free(Gr); free(ref_all); free(ref_vals); free(ref_vecs);
    free(two.vecs); free(tri.vecs);
}

int main(void) {
    size_t H = 512, F = 48;
    double *s = malloc(sizeof(double) * 4096);
    for (size_t j = 0; j < H; j++) s[j] = 1.0 / (1 + j / 10.0) + 0.05;
    run_case("decaying", H, 3 * H, F, s, 0, 0.9999);
    for (size_t j = 0; j < H; j++) s[j] = 1;
    run_case("flat", H, 3 * H, F, s, 0, 0.999);
    for (size_t j = 0; j < H; j++) s[j] = pow((double)j + 1, -0.5);
    run_case("power-law", H, 3 * H, F, s, 0, 0.9999);
    for (size_t j = 0; j < H; j++) s[j] = j < 8 ? 30 : 1.0 / (1 + j / 10.0); /* outliers: λ1/λF ~ 1e5 */
    run_case("outliers", H, 3 * H, F, s, 0, 0.9999);
    for (size_t j = 0; j < H; j++) s[j] = 1.0 / (1 + j / 20.0);
    run_case("rank-deficient", H, H / 4, F, s, 0, 0.9999); /* N < H: most eigenvalues are 0 */
    /* eigenvalues 2e-5 apart all around F: no subspace iteration separates them within its
     * budget, so the one-stage reduction answers */
    for (size_t j = 0; j < H; j++) s[j] = 1 - 2e-5 * (double)j;
    run_case("clustered", H, 0, F, s, 1, 0.99);
    /* H not a multiple of the band's half-bandwidth (64): the two-stage path's last band
     * block is partial */
    for (size_t j = 0; j < 450; j++) s[j] = 1.0 / (1 + j / 10.0) + 0.05;
    run_case("decaying H=450", 450, 3 * 450, F, s, 0, 0.9999);
    run_case("decaying H=100", 100, 300, 16, s, 0, 0.9999);
    free(s);
    return CHECK_DONE();
}
