/*
 * blas_lazy.c — the OpenBLAS and LAPACKE functions src/linalg.c calls, loaded on first
 * use (see format/lazylib.h for why and how). Only extract, compare, stats and batch
 * queries call BLAS; score, nearest, describe, info and verify never load it.
 */
#include <cblas.h>
#include <lapacke.h>

#include "lapack_2stage.h"
#include "lazylib.h"

#define C const
typedef enum CBLAS_ORDER ord;
typedef enum CBLAS_TRANSPOSE trn;
typedef enum CBLAS_UPLO upl;

/* ------------------------------------------------------------------------- BLAS */
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, openblas_set_num_threads, (int n), (n))
VX_TRAMPOLINE(VX_LIB_BLAS, int, openblas_get_num_threads, (void), ())
VX_TRAMPOLINE(VX_LIB_BLAS, char *, openblas_get_corename, (void), ())
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, cblas_sgemm,
           (C ord o, C trn ta, C trn tb, C blasint m, C blasint n, C blasint k, C float al, C float *a, C blasint lda,
            C float *b, C blasint ldb, C float be, float *c, C blasint ldc),
           (o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc))
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, cblas_dgemm,
           (C ord o, C trn ta, C trn tb, C blasint m, C blasint n, C blasint k, C double al, C double *a, C blasint lda,
            C double *b, C blasint ldb, C double be, double *c, C blasint ldc),
           (o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc))
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, cblas_ssyrk,
           (C ord o, C upl u, C trn t, C blasint n, C blasint k, C float al, C float *a, C blasint lda, C float be,
            float *c, C blasint ldc),
           (o, u, t, n, k, al, a, lda, be, c, ldc))
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, cblas_dsyrk,
           (C ord o, C upl u, C trn t, C blasint n, C blasint k, C double al, C double *a, C blasint lda, C double be,
            double *c, C blasint ldc),
           (o, u, t, n, k, al, a, lda, be, c, ldc))
VX_TRAMPOLINE_VOID(VX_LIB_BLAS, cblas_dtrsm,
           (C ord o, C enum CBLAS_SIDE s, C upl u, C trn t, C enum CBLAS_DIAG d, C blasint m, C blasint n, C double al,
            C double *a, C blasint lda, double *b, C blasint ldb),
           (o, s, u, t, d, m, n, al, a, lda, b, ldb))

/* ---------------------------------------------------------------------- LAPACKE */
typedef lapack_int li;
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_ssyevr,
           (int L, char jz, char rg, char ul, li n, float *a, li lda, float vl, float vu, li il, li iu, float tol, li *m,
            float *w, float *z, li ldz, li *isuppz),
           (L, jz, rg, ul, n, a, lda, vl, vu, il, iu, tol, m, w, z, ldz, isuppz))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dsyevr,
           (int L, char jz, char rg, char ul, li n, double *a, li lda, double vl, double vu, li il, li iu, double tol,
            li *m, double *w, double *z, li ldz, li *isuppz),
           (L, jz, rg, ul, n, a, lda, vl, vu, il, iu, tol, m, w, z, ldz, isuppz))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dsyevd_work,
           (int L, char jz, char ul, li n, double *a, li lda, double *w, double *work, li lwork, li *iwork, li liwork),
           (L, jz, ul, n, a, lda, w, work, lwork, iwork, liwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dgesdd_work,
           (int L, char jz, li m, li n, double *a, li lda, double *s, double *u, li ldu, double *vt, li ldvt,
            double *work, li lwork, li *iwork),
           (L, jz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_ssytrd_work,
           (int L, char ul, li n, float *a, li lda, float *d, float *e, float *tau, float *work, li lwork),
           (L, ul, n, a, lda, d, e, tau, work, lwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sstedc_work,
           (int L, char cz, li n, float *d, float *e, float *z, li ldz, float *work, li lwork, li *iwork, li liwork),
           (L, cz, n, d, e, z, ldz, work, lwork, iwork, liwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_slarft_work,
           (int L, char dir, char sv, li n, li k, C float *v, li ldv, C float *tau, float *t, li ldt),
           (L, dir, sv, n, k, v, ldv, tau, t, ldt))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_slarfb_work,
           (int L, char side, char tr, char dir, char sv, li m, li n, li k, C float *v, li ldv, C float *t, li ldt,
            float *c, li ldc, float *work, li ldwork),
           (L, side, tr, dir, sv, m, n, k, v, ldv, t, ldt, c, ldc, work, ldwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dgeqrf, (int L, li m, li n, double *a, li lda, double *tau), (L, m, n, a, lda, tau))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dorgqr, (int L, li m, li n, li k, double *a, li lda, C double *tau),
           (L, m, n, k, a, lda, tau))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dpotrf, (int L, char ul, li n, double *a, li lda), (L, ul, n, a, lda))
/* the weight battery's eigensolver path (linalg.c seig_top_tri) */
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_ssterf_work, (li n, float *d, float *e), (n, d, e))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_dsterf_work, (li n, double *d, double *e), (n, d, e))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sstebz_work,
           (char rg, char ord_, li n, float vl, float vu, li il, li iu, float tol, C float *d, C float *e, li *m,
            li *nsplit, float *w, li *iblock, li *isplit, float *work, li *iwork),
           (rg, ord_, n, vl, vu, il, iu, tol, d, e, m, nsplit, w, iblock, isplit, work, iwork))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sstein_work,
           (int L, li n, C float *d, C float *e, li m, C float *w, C li *iblock, C li *isplit, float *z, li ldz,
            float *work, li *iwork, li *ifailv),
           (L, n, d, e, m, w, iblock, isplit, z, ldz, work, iwork, ifailv))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sormtr_work,
           (int L, char side, char ul, char tr, li m, li n, C float *a, li lda, C float *tau, float *c, li ldc,
            float *work, li lwork),
           (L, side, ul, tr, m, n, a, lda, tau, c, ldc, work, lwork))
/* the two-stage spectrum path (linalg.c seig_top_2stage): LAPACK's own symbols, found
 * through liblapacke's dependency on liblapack */
VX_TRAMPOLINE_VOID(VX_LIB_LAPACKE, ssytrd_sy2sb_,
           (const char *u, const int *n, const int *kd, float *a, const int *lda, float *ab, const int *ldab, float *tau,
            float *work, const int *lwork, int *info, size_t ul),
           (u, n, kd, a, lda, ab, ldab, tau, work, lwork, info, ul))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sgeqrf_work, (int L, li m, li n, float *a, li lda, float *tau, float *w, li lw),
           (L, m, n, a, lda, tau, w, lw))
VX_TRAMPOLINE(VX_LIB_LAPACKE, li, LAPACKE_sorgqr_work,
           (int L, li m, li n, li k, float *a, li lda, C float *tau, float *w, li lw), (L, m, n, k, a, lda, tau, w, lw))
