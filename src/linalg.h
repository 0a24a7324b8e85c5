/*
 * linalg.h — the only door to BLAS and LAPACK. Every call checks its dimensions first
 * and returns VX_EUSAGE rather than letting a library print and continue.
 */
#ifndef VX_SRC_LINALG_H
#define VX_SRC_LINALG_H
#include <stddef.h>
#include <stdint.h>

/* Orthonormalise the rows of B [k][n] (k ≤ n) in place by Cholesky QR (syrk, potrf, trsm —
 * all BLAS 3), repeated `passes` times (CholQR2 with 2), G a [k][k] scratch. One pass leaves
 * an orthogonality error of about 1e-16·cond(B)²; two, about 1e-16 for cond(B) up to ~1e7.
 * ldiag[k] gets the first pass's Cholesky diagonal: the length of each row's part
 * orthogonal to the rows before it, accurate to ~1e-16·‖B‖²/ldiag (callers check
 * conditioning). VX_ECORRUPT when the rows are numerically dependent. */
int vx_dorth_rows_chol(double *B, size_t k, size_t n, int passes, double *ldiag, double *G);

/* G[H][H] (upper triangle, row-major) += X^T X for X [n][H] (rows are vectors). */
int vx_gram_rows(double *G, size_t H, const double *X, size_t n);
/* Top-F eigenpairs of the symmetric G [H][H] (upper triangle read; G is destroyed).
 * vals[F] descending; vecs[F][H] row i = unit eigenvector of vals[i] (vecs NULL: values only).
 * Returns 0, VX_EUSAGE for bad sizes, VX_ENOMEM, VX_ECORRUPT if LAPACK fails
 * (non-finite input). */
int vx_eig_top(double *vals, double *vecs, double *G, size_t H, size_t F);
/* C[M][N] = A[M][K] · B[N][K]^T, single precision, row-major. */
/* All H eigenvalues of the symmetric single-precision G [H][H] (upper read, destroyed),
 * descending, into vals[H]: the tridiagonal reduction in f32 (ssytrd, half the memory
 * traffic of dsytrd, which streams the matrix once per column), its eigenvalues in double
 * (dsterf). */
int vx_seig_values(double *vals, float *G, size_t H);
int vx_sgemm_nt(size_t M, size_t N, size_t K, const float *A, const float *B, float *C);
/* The same product for tall A (many rows mapped by a fixed B): computed as Cᵀ = B Aᵀ. */
int vx_sgemm_map(size_t M, size_t N, size_t K, const float *A, const float *B, float *C);
/* C [M][N] = op(A) · op(B) in double, row-major, packed: op(A) is A [M][K], or Aᵀ with
 * A [K][M] when transA; op(B) is B [K][N], or Bᵀ with B [N][K] when transB. */
int vx_dgemm(int transA, int transB, size_t M, size_t N, size_t K, const double *A, const double *B, double *C);
/* The same, added to C: C += op(A) · op(B). */
int vx_dgemm_acc(int transA, int transB, size_t M, size_t N, size_t K, const double *A, const double *B, double *C);
/* The orthogonal polar factor R [d][d] of M (M = R P, P = (MᵀM)^½, so R = U Vᵀ for the
 * SVD M = U Σ Vᵀ) and Σ σ, from the eigendecomposition of MᵀM (dsyevd: ~2.5x faster than
 * dgesdd at d = 1024). Returns VX_EUNSUPPORTED, R undefined, when M is too ill-conditioned for
 * that (σ_min/σ_max ≤ 1e-6) or the result is not orthogonal to 1e-9: use vx_dsvd then. */
int vx_dpolar(double *R, double *sigma_sum, const double *M, size_t d);
/* Full SVD of A[m][n] (destroyed) in double: U[m][m], s[min], VT[n][n]; row-major. */
int vx_dsvd(double *U, double *s, double *VT, double *A, size_t m, size_t n);
/* Single-precision Gram matrices, G[H][H] upper: XᵀX for X [n][H] rows (added to G when
 * `accumulate`, else replacing it), or += M Mᵀ for M [H][n] columns with row stride ld. */
int vx_sgram_rows(float *G, size_t H, const float *X, size_t n, int accumulate);
int vx_sgram_cols(float *G, size_t H, const float *M, size_t n, size_t ld);
/* Top-F eigenpairs of the symmetric single-precision G [H][H] (upper read, destroyed):
 * vals[F] descending (as double), vecs[F][H] row i = unit eigenvector of vals[i]; and,
 * when `all` is not NULL, all H eigenvalues of G, descending, into all[H] (from the same
 * tridiagonal reduction: what the weight battery's spectra need). */
int vx_seig_top(double *vals, double *vecs, double *all, float *G, size_t H, size_t F);
/* The same, for a Rayleigh–Ritz basis: k orthonormal vectors of which the leading `sure`
 * (≤ k) are eigenvectors of G to single precision (the two-stage path certifies only
 * those; the others are the best approximations its subspace holds), vals[k] their
 * Rayleigh quotients, and every eigenvalue into all[H].
 * early (may be NULL) is the caller's next step, started sooner: the two-stage path calls
 * early(arg) on this thread, BLAS on one thread, as soon as vals and vecs hold its basis
 * and while its serial band reduction still runs on another — before that basis is
 * certified. *early_final = 1 when the returned vals/vecs are the ones early saw; 0 when
 * early did not run or the fallback replaced them (the caller then does its step again). */
int vx_seig_basis(double *vals, double *vecs, double *all, float *G, size_t H, size_t k, size_t sure,
                  void (*early)(void *), void *arg, int *early_final);
/* The same with f32 vectors (what the solver computes: no widened copy), running side(arg)
 * on another thread while the tridiagonal eigensolver (mostly single-threaded) runs, BLAS
 * on one thread each meanwhile; side runs exactly once whatever happens (inline when the
 * path has no such phase). */
int vx_seig_top_with(double *vals, float *vecs, float *G, size_t H, size_t F, void *(*side)(void *), void *arg);
/* The eigensolver path of vx_seig_top when `all` is asked for and F + 32 < H: the two-stage
 * reduction with certified subspace iteration (falling back to the one-stage reduction
 * when not certified), the one-stage reduction, or auto (two-stage from H = 1024). The
 * initial choice comes from the environment variable VINDEX_EIG (2stage, tri, auto). */
enum { VX_EIG_AUTO = 0, VX_EIG_TRI = 1, VX_EIG_2STAGE = 2 };
void vx_eig_path(int path);
/* How many calls the two-stage path answered, and how many it handed to the fallback. */
void vx_eig_counts(unsigned long *two_stage, unsigned long *fallback);
/* A[n][n] (row-major) is replaced by Q of A = QR; rdiag[n] receives the diagonal of R. */
int vx_dqr_square(double *A, double *rdiag, size_t n);
/* Orthonormalise the columns of Q [H][k] in place (Householder QR, k <= H). */
int vx_dorth_cols(double *Q, size_t H, size_t k);
/* C[M][N] = op(A) · op(B), single precision, row-major, lda/ldb the stored row lengths. */
int vx_sgemm(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
             size_t ldb, float *C, size_t ldc);
/* Limit BLAS threads (0 = leave the library's default). */
void vx_blas_threads(int n);
/* BLAS threads in use now. */
int vx_blas_threads_get(void);
/* The BLAS kernel set in use ("SkylakeX", "Haswell", ...): the same inputs give the same
 * bits only with the same kernels (spec/parts.md P6). Borrowed, static. */
const char *vx_blas_core(void);

#endif
