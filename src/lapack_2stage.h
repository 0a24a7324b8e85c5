/*
 * lapack_2stage.h — the first stage of LAPACK's two-stage tridiagonal reduction, which
 * LAPACKE does not wrap (Fortran interface, hidden string lengths last). Declared once
 * for src/linalg.c and the trampolines in src/blas_lazy.c.
 */
#ifndef VX_SRC_LAPACK_2STAGE_H
#define VX_SRC_LAPACK_2STAGE_H
#include <stddef.h>

/* Dense symmetric → band of half-bandwidth kd (BLAS 3). */
void ssytrd_sy2sb_(const char *uplo, const int *n, const int *kd, float *a, const int *lda, float *ab, const int *ldab,
                   float *tau, float *work, const int *lwork, int *info, size_t uplo_len);
#endif
