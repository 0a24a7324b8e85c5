/*
 * lapack_2stage.h — the two LAPACK routines of the two-stage tridiagonal reduction that
 * LAPACKE does not wrap (Fortran interface, hidden string lengths last). Declared once
 * for src/linalg.c and the trampolines in src/blas_lazy.c.
 */
#ifndef VX_SRC_LAPACK_2STAGE_H
#define VX_SRC_LAPACK_2STAGE_H
#include <stddef.h>

/* Dense symmetric → band of half-bandwidth kd (BLAS 3). */
void ssytrd_sy2sb_(const char *uplo, const int *n, const int *kd, float *a, const int *lda, float *ab, const int *ldab,
                   float *tau, float *work, const int *lwork, int *info, size_t uplo_len);
/* Band → tridiagonal (bulge chasing, serial). */
void ssytrd_sb2st_(const char *stage1, const char *vect, const char *uplo, const int *n, const int *kd, float *ab,
                   const int *ldab, float *d, float *e, float *hous, const int *lhous, float *work, const int *lwork,
                   int *info, size_t stage1_len, size_t vect_len, size_t uplo_len);
#endif
