/*
 * linalg.c — thin, checked wrappers over OpenBLAS (cblas_*) and LAPACKE. Kept in one
 * file so the rest of the code never sees a BLAS calling convention.
 */
#include "linalg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "vindex.h"

static int dims_ok(size_t a, size_t b) { return a > 0 && b > 0 && a <= INT_MAX && b <= INT_MAX; }

int vx_gram_rows(double *G, size_t H, const double *X, size_t n) {
    if (!dims_ok(H, n)) return VX_EUSAGE;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)H, (int)n, 1.0, X, (int)H, 1.0, G, (int)H);
    return VX_OK;
}

int vx_eig_top(double *vals, double *vecs, double *G, size_t H, size_t F) {
    if (!dims_ok(H, F) || F > H) return VX_EUSAGE;
    double *w = malloc(sizeof(double) * H), *Z = malloc(sizeof(double) * H * F);
    lapack_int *isuppz = malloc(sizeof(lapack_int) * 2 * F), m = 0;
    int rc = VX_OK;
    if (!w || !Z || !isuppz) { rc = VX_ENOMEM; goto out; }
    /* dsyevr with range 'I' computes only the F largest pairs (ascending order). */
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)H, G, (lapack_int)H, 0.0, 0.0,
                                     (lapack_int)(H - F + 1), (lapack_int)H, 0.0, &m, w, Z, (lapack_int)F, isuppz);
    if (info != 0 || (size_t)m != F) { rc = VX_ECORRUPT; goto out; }
    for (size_t i = 0; i < F; i++) { /* reverse to descending; Z column j is eigenvector j */
        size_t j = F - 1 - i;
        vals[i] = w[j];
        for (size_t h = 0; h < H; h++) vecs[i * H + h] = Z[h * F + j];
    }
out:
    free(w);
    free(Z);
    free(isuppz);
    return rc;
}

int vx_sgemm_nt(size_t M, size_t N, size_t K, const float *A, const float *B, float *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)K, 0.0f, C,
                (int)N);
    return VX_OK;
}

int vx_dgemm_nn(size_t M, size_t N, size_t K, const double *A, const double *B, double *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0, A, (int)K, B, (int)N, 0.0, C,
                (int)N);
    return VX_OK;
}

int vx_dsvd(double *U, double *s, double *VT, double *A, size_t m, size_t n) {
    if (!dims_ok(m, n)) return VX_EUSAGE;
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', (lapack_int)m, (lapack_int)n, A, (lapack_int)n, s, U,
                                     (lapack_int)m, VT, (lapack_int)n);
    return info == 0 ? VX_OK : VX_ECORRUPT;
}

int vx_sgram_rows(float *G, size_t H, const float *X, size_t n, int accumulate) {
    if (!dims_ok(H, n)) return VX_EUSAGE;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)H, (int)n, 1.0f, X, (int)H, accumulate ? 1.0f : 0.0f, G,
                (int)H);
    return VX_OK;
}

int vx_sgram_cols(float *G, size_t H, const float *M, size_t n, size_t ld) {
    if (!dims_ok(H, n) || ld < n || ld > INT_MAX) return VX_EUSAGE;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)H, (int)n, 1.0f, M, (int)ld, 1.0f, G, (int)H);
    return VX_OK;
}

int vx_seig_top(double *vals, double *vecs, float *G, size_t H, size_t F) {
    if (!dims_ok(H, F) || F > H) return VX_EUSAGE;
    float *w = malloc(sizeof(float) * H), *Z = malloc(sizeof(float) * H * F);
    lapack_int *isuppz = malloc(sizeof(lapack_int) * 2 * F), m = 0;
    int rc = VX_OK;
    if (!w || !Z || !isuppz) { rc = VX_ENOMEM; goto out; }
    lapack_int info = LAPACKE_ssyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)H, G, (lapack_int)H, 0.0f, 0.0f,
                                     (lapack_int)(H - F + 1), (lapack_int)H, 0.0f, &m, w, Z, (lapack_int)F, isuppz);
    if (info != 0 || (size_t)m != F) { rc = VX_ECORRUPT; goto out; }
    for (size_t i = 0; i < F; i++) { /* ascending → descending; Z column j is eigenvector j */
        size_t j = F - 1 - i;
        vals[i] = w[j];
        for (size_t h = 0; h < H; h++) vecs[i * H + h] = Z[h * F + j];
    }
out:
    free(w);
    free(Z);
    free(isuppz);
    return rc;
}

int vx_dqr_square(double *A, double *rdiag, size_t n) {
    if (!dims_ok(n, n)) return VX_EUSAGE;
    double *tau = malloc(sizeof(double) * n);
    if (!tau) return VX_ENOMEM;
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, A, (lapack_int)n, tau);
    if (info == 0) {
        for (size_t i = 0; i < n; i++) rdiag[i] = A[i * n + i];
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, (lapack_int)n, A, (lapack_int)n, tau);
    }
    free(tau);
    return info == 0 ? VX_OK : VX_ECORRUPT;
}

int vx_dorth_cols(double *Q, size_t H, size_t k) {
    if (!dims_ok(H, k) || k > H) return VX_EUSAGE;
    double *tau = malloc(sizeof(double) * k);
    if (!tau) return VX_ENOMEM;
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)H, (lapack_int)k, Q, (lapack_int)k, tau);
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)H, (lapack_int)k, (lapack_int)k, Q, (lapack_int)k, tau);
    free(tau);
    return info == 0 ? VX_OK : VX_ECORRUPT;
}

int vx_sgemm(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
             size_t ldb, float *C, size_t ldc) {
    if (!dims_ok(M, N) || !dims_ok(K, 1) || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX || ldc < N) return VX_EUSAGE;
    if (lda < (transA ? M : K) || ldb < (transB ? K : N)) return VX_EUSAGE;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
    return VX_OK;
}

int vx_dgemm_nt(size_t M, size_t N, size_t K, const double *A, const double *B, double *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0, A, (int)K, B, (int)K, 0.0, C,
                (int)N);
    return VX_OK;
}

void vx_blas_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
}
