/*
 * linalg.c — thin, checked wrappers over OpenBLAS (cblas_*) and LAPACKE. Kept in one
 * file so the rest of the code never sees a BLAS calling convention.
 */
#include "linalg.h"
#include "band.h"
#include "lapack_2stage.h"
#include "kern.h"
#include "mem.h"
#include "rng.h"

#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
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
    /* dsyevr with range 'I' computes only the F largest pairs (ascending order). G's
     * row-major upper triangle is the column-major lower one: no transposed copies. */
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, vecs ? 'V' : 'N', 'I', 'L', (lapack_int)H, G, (lapack_int)H, 0.0, 0.0,
                                     (lapack_int)(H - F + 1), (lapack_int)H, 0.0, &m, w, Z, (lapack_int)H, isuppz);
    if (info != 0 || (size_t)m != F) { rc = VX_ECORRUPT; goto out; }
    for (size_t i = 0; i < F; i++) { /* reverse to descending; eigenvector j is column j of Z */
        size_t j = F - 1 - i;
        vals[i] = w[j];
        if (vecs)
            for (size_t h = 0; h < H; h++) vecs[i * H + h] = Z[j * H + h];
    }
out:
    free(w);
    free(Z);
    free(isuppz);
    return rc;
}

int vx_seig_values(double *vals, float *G, size_t H) {
    if (!dims_ok(H, H)) return VX_EUSAGE;
    lapack_int n = (lapack_int)H, info = -1;
    float *d = malloc(sizeof(float) * H), *e = malloc(sizeof(float) * H), *tau = malloc(sizeof(float) * H), q = 0;
    double *de = malloc(sizeof(double) * H);
    float *work = NULL;
    if (!d || !e || !tau || !de) goto out;
    /* G's row-major upper triangle is the column-major lower one */
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, &q, -1) != 0) goto out;
    size_t lw = (size_t)q > H ? (size_t)q : H;
    if (!(work = malloc(sizeof(float) * lw))) goto out;
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, work, (lapack_int)lw) != 0) goto out;
    for (size_t i = 0; i < H; i++) { vals[i] = d[i]; de[i] = i + 1 < H ? e[i] : 0; }
    info = LAPACKE_dsterf_work(n, vals, de);
    for (size_t i = 0; i < H / 2; i++) { double t = vals[i]; vals[i] = vals[H - 1 - i]; vals[H - 1 - i] = t; }
out:
    free(d); free(e); free(tau); free(de); free(work);
    return info == 0 ? VX_OK : info < 0 && !work ? VX_ENOMEM : VX_ECORRUPT;
}

int vx_sgemm_nt(size_t M, size_t N, size_t K, const float *A, const float *B, float *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)K, 0.0f, C,
                (int)N);
    return VX_OK;
}

int vx_sgemm_map(size_t M, size_t N, size_t K, const float *A, const float *B, float *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    /* Cᵀ = B Aᵀ in column-major terms: the same numbers as vx_sgemm_nt, with OpenBLAS
     * packing the operands the other way round, which is faster for tall A
     * (doc/benchmarks.md, "The reasons in numbers"). */
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)N, (int)M, (int)K, 1.0f, B, (int)K, A, (int)K, 0.0f, C,
                (int)N);
    return VX_OK;
}

int vx_dsvd(double *U, double *s, double *VT, double *A, size_t m, size_t n) {
    if (!dims_ok(m, n)) return VX_EUSAGE;
    /* Row-major A [m][n] is the column-major n×m matrix Aᵀ = U' Σ VT', so A = VT'ᵀ Σ U'ᵀ:
     * the column-major VT' buffer is row-major U and U' is row-major VT. No transposed
     * copies; the workspace (~4·min(m,n)² doubles) is prefaulted. */
    lapack_int M = (lapack_int)n, N = (lapack_int)m, k = M < N ? M : N, info;
    lapack_int *iw = vx_big_array(8 * (size_t)k, sizeof(lapack_int));
    double q = 0, *work = NULL;
    if (!iw) return VX_ENOMEM;
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'A', M, N, A, M, s, VT, M, U, N, &q, -1, iw);
    if (info == 0 && q >= 1 && q < 1e15 && (work = vx_big_array((size_t)q, sizeof(double))))
        info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'A', M, N, A, M, s, VT, M, U, N, work, (lapack_int)q, iw);
    else if (info == 0)
        info = -1;
    vx_big_free(work);
    vx_big_free(iw);
    return info == 0 ? VX_OK : VX_ECORRUPT;
}

int vx_dpolar(double *R, double *sigma_sum, const double *M, size_t d) {
    if (!dims_ok(d, d) || !d) return VX_EUSAGE;
    double *G = vx_big_array(d * d, sizeof(double)), *w = malloc(sizeof(double) * d);
    double *B = vx_big_array(d * d, sizeof(double)), *S = vx_big_array(d * d, sizeof(double));
    int rc = VX_EUNSUPPORTED;
    if (!G || !w || !B || !S) { rc = VX_ENOMEM; goto out; }
    /* G = MᵀM = V Λ Vᵀ; the singular values of M are √λ. Row-major upper = column-major
     * lower, and column j of the column-major result is eigenvector j. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)d, 1.0, M, (int)d, 0.0, G, (int)d);
    {   /* dsyevd's workspace (1 + 6d + 2d² doubles, 16 MB at d = 1024) as huge pages, not
         * LAPACKE's malloc: on the project machine each fresh 4 KiB page costs ~5 µs */
        double q = 0;
        lapack_int qi = 0, info;
        if (LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)d, G, (lapack_int)d, w, &q, -1, &qi, -1) != 0 ||
            !(q >= 1 && q < 1e15 && qi >= 1)) goto out;
        double *work = vx_big_array((size_t)q, sizeof(double));
        lapack_int *iwork = vx_big_array((size_t)qi, sizeof(lapack_int));
        info = work && iwork ? LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)d, G, (lapack_int)d, w, work,
                                                   (lapack_int)q, iwork, qi)
                             : -1;
        vx_big_free(work);
        vx_big_free(iwork);
        if (!work || !iwork) { rc = VX_ENOMEM; goto out; }
        if (info != 0) goto out;
    }
    /* λ_min/λ_max > 1e-12 (cond(M) < 1e6): (MᵀM)^(-1/2) is accurate to ~1e-16·cond² */
    if (!(w[d - 1] > 0) || !(w[0] > 1e-12 * w[d - 1])) goto out;
    double sum = 0;
    for (size_t j = 0; j < d; j++) {
        sum += sqrt(w[j]);
        double f = 1.0 / sqrt(sqrt(w[j]));
        for (size_t h = 0; h < d; h++) B[h * d + j] = G[j * d + h] * f;
    }
    /* S = B Bᵀ = V Λ^(-1/2) Vᵀ, R = M S */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d, 1.0, B, (int)d, B, (int)d, 0.0, S, (int)d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, M, (int)d, S, (int)d, 0.0, R,
                (int)d);
    /* accept only an orthogonal R: ‖RᵀR − I‖max ≤ 1e-9 */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)d, 1.0, R, (int)d, 0.0, G, (int)d);
    double dev = 0;
    for (size_t i2 = 0; i2 < d; i2++)
        for (size_t j = i2; j < d; j++) {
            double e = fabs(G[i2 * d + j] - (i2 == j));
            if (!(e <= dev)) dev = e; /* NaN propagates as a failure */
        }
    if (!(dev <= 1e-9)) goto out;
    *sigma_sum = sum;
    rc = VX_OK;
out:
    vx_big_free(G);
    free(w);
    vx_big_free(B);
    vx_big_free(S);
    return rc;
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

/* C [m×nc, column-major] ← Q C with Q = H(0)…H(k−1), the reflectors stored in the columns of
 * V [m×k] below an implicit unit diagonal (sgeqrf's layout, and ssytrd 'L' one row down),
 * either in place (ldv > 0: V's leading dimension) or in compact blocks (ldv = 0): block b
 * (reflectors i = b·QBLOCK … i + ib − 1) is the (m − i) × ib column-major matrix of rows
 * i … m − 1 of those columns, leading dimension m − i, the blocks one after the other
 * (compact_v).
 * sormqr does this with LAPACK's 32-reflector blocks, which makes it memory-bound on
 * a C of 16 MB (each block reads and writes C twice); here the blocks are 128 reflectors,
 * their triangular factors T are formed once, and C goes through them in column chunks of
 * QCHUNK (2 MB at m = 4096, cache-resident across all the blocks), the chunks shared out
 * between two threads with single-threaded BLAS each (doc/benchmarks.md, "The reasons in
 * numbers"). */
#define QBLOCK 128
#define QCHUNK 128
typedef struct qjob {
    lapack_int m, nc, k, ldv, ldc;
    const float *V, *T;
    float *C;
    int t, T_, rc;
} qjob;

/* Where compact block b starts: Σ over earlier blocks of (m − i)·QBLOCK. */
static size_t vblock_offset(lapack_int m, lapack_int b) {
    size_t off = 0;
    for (lapack_int c = 0; c < b; c++) off += (size_t)(m - c * QBLOCK) * QBLOCK;
    return off;
}

/* The k reflectors of V [m×k] (leading dimension ldv) into compact blocks (above); Vc holds
 * vblock_offset(m, ⌈k/QBLOCK⌉) floats. */
static void compact_v(float *Vc, lapack_int m, lapack_int k, const float *V, lapack_int ldv) {
    for (lapack_int b = 0; b * QBLOCK < k; b++) {
        lapack_int i = b * QBLOCK, ib = k - i < QBLOCK ? k - i : QBLOCK;
        float *dst = Vc + vblock_offset(m, b);
        for (lapack_int c = 0; c < ib; c++)
            memcpy(dst + (size_t)c * (size_t)(m - i), V + (size_t)i + (size_t)(i + c) * (size_t)ldv, sizeof(float) * (size_t)(m - i));
    }
}

/* Block b of the reflectors (see apply_q) and its leading dimension. */
static const float *vblock(const float *V, lapack_int ldv, lapack_int m, lapack_int b, lapack_int *ld) {
    lapack_int i = b * QBLOCK;
    *ld = ldv > 0 ? ldv : m - i;
    return ldv > 0 ? V + (size_t)i + (size_t)i * (size_t)ldv : V + vblock_offset(m, b);
}

static void *apply_q_worker(void *arg) {
    qjob *j = arg;
    float *work = malloc(sizeof(float) * QCHUNK * QBLOCK);
    if (!work) { j->rc = VX_ENOMEM; return NULL; }
    lapack_int nblk = (j->k + QBLOCK - 1) / QBLOCK;
    for (lapack_int c0 = (lapack_int)j->t * QCHUNK; c0 < j->nc; c0 += (lapack_int)j->T_ * QCHUNK) {
        lapack_int w = j->nc - c0 < QCHUNK ? j->nc - c0 : QCHUNK;
        float *C = j->C + (size_t)c0 * (size_t)j->ldc;
        for (lapack_int b = nblk - 1; b >= 0; b--) {
            lapack_int i = b * QBLOCK, ib = j->k - i < QBLOCK ? j->k - i : QBLOCK;
            lapack_int ld;
            const float *Vi = vblock(j->V, j->ldv, j->m, b, &ld);
            if (LAPACKE_slarfb_work(LAPACK_COL_MAJOR, 'L', 'N', 'F', 'C', j->m - i, w, ib, Vi, ld,
                                    j->T + (size_t)b * QBLOCK * QBLOCK, QBLOCK, C + i, j->ldc, work, w) != 0) {
                j->rc = VX_ECORRUPT;
                free(work);
                return NULL;
            }
        }
    }
    free(work);
    return NULL;
}

static int apply_q(lapack_int m, lapack_int nc, lapack_int k, const float *V, lapack_int ldv, const float *tau, float *C,
                   lapack_int ldc) {
    if (k <= 0 || nc <= 0) return VX_OK;
    lapack_int nblk = (k + QBLOCK - 1) / QBLOCK;
    float *T = vx_big_array((size_t)nblk * QBLOCK * QBLOCK, sizeof(float));
    int rc = VX_OK;
    if (!T) return VX_ENOMEM;
    for (lapack_int b = 0; b < nblk && !rc; b++) {
        lapack_int i = b * QBLOCK, ib = k - i < QBLOCK ? k - i : QBLOCK;
        lapack_int ld;
        const float *Vb = vblock(V, ldv, m, b, &ld);
        if (LAPACKE_slarft_work(LAPACK_COL_MAJOR, 'F', 'C', m - i, ib, Vb, ld, tau + i,
                                T + (size_t)b * QBLOCK * QBLOCK, QBLOCK) != 0)
            rc = VX_ECORRUPT;
    }
    if (!rc) {
        /* as many workers as BLAS had threads (the caller's --threads or the machine's
         * cores), each with single-threaded BLAS */
        int before = vx_blas_threads_get(), NT = vx_threads_cap(before);
        qjob jobs[VX_THREADS_MAX];
        pthread_t th[VX_THREADS_MAX];
        int started[VX_THREADS_MAX] = { 0 };
        vx_blas_threads(1);
        for (int t = 0; t < NT; t++) jobs[t] = (qjob){ m, nc, k, ldv, ldc, V, T, C, t, NT, VX_OK };
        for (int t = 1; t < NT; t++) started[t] = vx_thread_start(&th[t], apply_q_worker, &jobs[t]) == 0;
        apply_q_worker(&jobs[0]);
        for (int t = 1; t < NT; t++) {
            if (started[t]) pthread_join(th[t], NULL);
            else apply_q_worker(&jobs[t]);
        }
        vx_blas_threads(before);
        for (int t = 0; t < NT; t++)
            if (jobs[t].rc) rc = jobs[t].rc;
    }
    vx_big_free(T);
    return rc;
}

/* Top-F eigenpairs by tridiagonalisation, divide and conquer on the tridiagonal (all its
 * eigenvectors, BLAS 3 merges) and back-transformation of the F wanted ones only. For F a
 * sizeable fraction of H this beats ssyevr, whose subset path is bisection plus inverse
 * iteration (doc/benchmarks.md, "The reasons in numbers"). */
/* Row i of the eigenvector output: double (vd) or float (vf), whichever is given. */
static void put_vec(double *vd, float *vf, size_t i, const float *src, size_t H) {
    if (vd)
        for (size_t h = 0; h < H; h++) vd[i * H + h] = src[h];
    else
        memcpy(vf + i * H, src, sizeof(float) * H);
}

static int seig_top_dc(double *vals, double *vecs, float *vecf, double *all, float *G, size_t H, size_t F,
                       void *(*side)(void *), void *arg) {
    lapack_int n = (lapack_int)H, m = n - 1, info;
    float *d = malloc(sizeof(float) * H), *e = malloc(sizeof(float) * H), *tau = malloc(sizeof(float) * H), q = 0;
    float *work = NULL, *Vc = NULL;
    lapack_int *iwork = NULL;
    int rc = VX_ECORRUPT;
    if (!d || !e || !tau) { rc = VX_ENOMEM; goto out; }
    /* G's row-major upper triangle is the column-major lower one. */
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, &q, -1) != 0) goto out;
    size_t lw = (size_t)q + 1;
    /* sstedc's workspace, 1 + 4n + n² floats, is not exact as a float: use the formula */
    size_t lwd = 1 + 4 * H + H * H, liw = 3 + 5 * H;
    if (lwd > (size_t)INT_MAX || lw > (size_t)INT_MAX || liw > (size_t)INT_MAX) { rc = VX_EUSAGE; goto out; }
    if (!(work = vx_big_array(lw, sizeof(float)))) { rc = VX_ENOMEM; goto out; }
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, work, (lapack_int)lw) != 0) goto out;
    vx_big_free(work);
    /* Q of ssytrd 'L' acts on rows 1..H-1: its reflectors sit one row below the diagonal.
     * They move to compact blocks (n²/2 floats), and G itself becomes sstedc's Z: one
     * n² buffer less to touch for the first time than Z and the workspace both fresh
     * (fresh memory is slow to touch on a VM: mem.h). */
    if (!(Vc = vx_big_array(vblock_offset(m, (m + QBLOCK - 1) / QBLOCK), sizeof(float)))) { rc = VX_ENOMEM; goto out; }
    compact_v(Vc, m, m, G + 1, n);
    work = vx_big_array(lwd, sizeof(float));
    iwork = malloc(sizeof(lapack_int) * liw);
    if (!work || !iwork) { rc = VX_ENOMEM; goto out; }
    float *Z = G;
    /* sstedc runs mostly on one thread: the caller's side job gets the other core, both
     * with single-threaded BLAS (two callers sharing OpenBLAS's pool oversubscribe it) */
    pthread_t th;
    int before = vx_blas_threads_get(), started = 0;
    if (side) {
        vx_blas_threads(1);
        started = vx_thread_start(&th, side, arg) == 0;
    }
    info = LAPACKE_sstedc_work(LAPACK_COL_MAJOR, 'I', n, d, e, Z, n, work, (lapack_int)lwd, iwork, (lapack_int)liw);
    if (side) {
        if (started) pthread_join(th, NULL);
        else side(arg);
        vx_blas_threads(before);
        side = NULL;
    }
    vx_big_free(work);
    work = NULL;
    if (info != 0) goto out;
    /* ascending: the wanted vectors are the last F columns */
    float *Zk = Z + (H - F) * H;
    if ((rc = apply_q(m, (lapack_int)F, m, Vc, 0, tau, Zk + 1, n)) != VX_OK) goto out;
    for (size_t i = 0; i < F; i++) {
        size_t j = F - 1 - i;
        vals[i] = d[H - F + j];
        put_vec(vecs, vecf, i, Zk + j * H, H);
    }
    if (all) /* sstedc found every eigenvalue on the way (ascending) */
        for (size_t i = 0; i < H; i++) all[i] = d[H - 1 - i];
    rc = VX_OK;
out:
    if (side) side(arg); /* failed before it ran: the caller still expects its work done */
    free(d);
    free(e);
    free(tau);
    vx_big_free(Vc);
    vx_big_free(work);
    free(iwork);
    return rc;
}

/* The spectrum job of seig_top_tri: every eigenvalue of the tridiagonal (d, e), in place
 * (ssterf: Pal–Walker–Kahan QL/QR, O(H²), no vectors), on its own thread. */
typedef struct sterf_job { float *d, *e; lapack_int n, info; } sterf_job;
static void *sterf_run(void *arg) {
    sterf_job *j = arg;
    j->info = LAPACKE_ssterf_work(j->n, j->d, j->e);
    return NULL;
}

/*
 * Top-F eigenpairs and, when `all` is given, every eigenvalue: one tridiagonal reduction
 * (ssytrd) serves both. The F wanted pairs come from bisection and inverse iteration on
 * the tridiagonal (sstebz + sstein, exactly ssyevr's path for an index subset) and the
 * back-transformation of those F vectors only (sormtr); the whole spectrum from ssterf on
 * a copy of (d, e), which runs on a second thread beside the single-threaded bisection
 * and inverse iteration, so it adds little wall time.
 */
static int seig_top_tri(double *vals, double *vecs, float *vecf, double *all, float *G, size_t H, size_t F) {
    lapack_int n = (lapack_int)H, m = 0, nsplit = 0, info;
    float *d = malloc(sizeof(float) * H), *e = malloc(sizeof(float) * H), *tau = malloc(sizeof(float) * H);
    float *d2 = malloc(sizeof(float) * H), *e2 = malloc(sizeof(float) * H), *w = malloc(sizeof(float) * H), q = 0;
    lapack_int *iblock = malloc(sizeof(lapack_int) * H), *isplit = malloc(sizeof(lapack_int) * H);
    lapack_int *ifail = malloc(sizeof(lapack_int) * F), *iw = malloc(sizeof(lapack_int) * 5 * H);
    float *work = NULL, *Z = vx_big_array(H * F, sizeof(float));
    size_t *order = malloc(sizeof(size_t) * F);
    int rc = VX_ECORRUPT;
    if (!d || !e || !tau || !d2 || !e2 || !w || !iblock || !isplit || !ifail || !iw || !Z || !order) { rc = VX_ENOMEM; goto out; }
    /* G's row-major upper triangle is the column-major lower one. */
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, &q, -1) != 0) goto out;
    size_t lw = (size_t)q + 1, lw2 = 5 * H;
    if (lw < lw2) lw = lw2; /* sstein needs 5·H floats; sormtr's own query follows */
    if (lw > (size_t)INT_MAX) { rc = VX_EUSAGE; goto out; }
    if (!(work = vx_big_array(lw, sizeof(float)))) { rc = VX_ENOMEM; goto out; }
    if (LAPACKE_ssytrd_work(LAPACK_COL_MAJOR, 'L', n, G, n, d, e, tau, work, (lapack_int)lw) != 0) goto out;
    sterf_job sj = { d2, e2, n, 0 };
    pthread_t th;
    int started = 0;
    if (all) {
        memcpy(d2, d, sizeof(float) * H);
        if (H > 1) memcpy(e2, e, sizeof(float) * (H - 1));
        started = vx_thread_start(&th, sterf_run, &sj) == 0;
    }
    info = LAPACKE_sstebz_work('I', 'B', n, 0.0f, 0.0f, (lapack_int)(H - F + 1), n, 0.0f, d, e, &m, &nsplit, w, iblock,
                               isplit, work, iw);
    if (info == 0 && (size_t)m == F)
        info = LAPACKE_sstein_work(LAPACK_COL_MAJOR, n, d, e, m, w, iblock, isplit, Z, n, work, iw, ifail);
    else
        info = -1;
    if (all) {
        if (started) pthread_join(th, NULL);
        else sterf_run(&sj);
    }
    if (info != 0 || (all && sj.info != 0)) goto out;
    /* Q of ssytrd applied to the F vectors (sormtr 'L': reflectors one row below the
     * diagonal of G, as seig_top_dc's apply_q) */
    lapack_int lwq = -1;
    if (LAPACKE_sormtr_work(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, (lapack_int)F, G, n, tau, Z, n, &q, lwq) != 0) goto out;
    if ((size_t)q + 1 > lw) {
        vx_big_free(work);
        lw = (size_t)q + 1;
        if (lw > (size_t)INT_MAX || !(work = vx_big_array(lw, sizeof(float)))) { rc = VX_ENOMEM; goto out; }
    }
    if (LAPACKE_sormtr_work(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, (lapack_int)F, G, n, tau, Z, n, work, (lapack_int)lw) != 0)
        goto out;
    /* sstebz 'B' groups the eigenvalues by split block: sort them (F is small) */
    for (size_t i = 0; i < F; i++) order[i] = i;
    for (size_t i = 1; i < F; i++)
        for (size_t j = i; j > 0 && w[order[j]] > w[order[j - 1]]; j--) {
            size_t t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    for (size_t i = 0; i < F; i++) { /* descending; eigenvector j is column j of Z */
        vals[i] = w[order[i]];
        put_vec(vecs, vecf, i, Z + order[i] * H, H);
    }
    if (all) /* ssterf sorts ascending */
        for (size_t i = 0; i < H; i++) all[i] = d2[H - 1 - i];
    rc = VX_OK;
out:
    free(d); free(e); free(tau); free(d2); free(e2); free(w);
    free(iblock); free(isplit); free(ifail); free(iw); free(order);
    vx_big_free(work);
    vx_big_free(Z);
    return rc;
}

/*
 * Every eigenvalue and the top-F eigenpairs without a one-stage tridiagonal reduction.
 * ssytrd's reduction is half matrix-vector products that stream the whole matrix from
 * memory at every step; here:
 *   - the spectrum comes from the two-stage reduction (ssytrd_sy2sb: dense → band of
 *     half-bandwidth EIG_KD in BLAS 3; vx_band_tri, band.h: band → tridiagonal by bulge
 *     chasing, serial, on a second thread) and ssterf, values only — nothing of it is
 *     back-transformed;
 *   - the vectors meanwhile from Chebyshev-filtered subspace iteration on G (sgemm only):
 *     a block of p = F + EIG_EXTRA vectors, Rayleigh–Ritz every round, each round a
 *     Chebyshev polynomial damping [0, θ_p] (the smallest Ritz value) whose degree is the
 *     largest ≤ EIG_DMAX that amplifies θ_1 over θ_F by at most EIG_SPREAD (so no wanted
 *     column drowns in f32 rounding), until every wanted Ritz pair (θ_i, x_i) has
 *     ‖G x_i − θ_i x_i‖ ≤ EIG_TOL·θ_i + EIG_FLOOR·ε·θ_1 (relative to its own eigenvalue, down to
 *     the f32 product's rounding floor: a pair far below θ_1 needs it);
 *   - certification: the F Ritz values must equal the F largest eigenvalues of the
 *     independent reduction within EIG_MATCH·λ_i + 8ε√H·λ_1 (a pair the iteration
 *     missed would shift them). Otherwise — no convergence within EIG_MAXPROD products
 *     (eigenvalues too close around F), or a mismatch — the one-stage path
 *     (seig_top_tri) answers.
 */
#define EIG_KD 64
#define EIG_EXTRA 32
#define EIG_DMAX 8
#define EIG_SPREAD 1e5
#define EIG_TOL 1e-5
#define EIG_MATCH 1e-4
#define EIG_MAXPROD 64
#define EIG_FLOOR 4

typedef struct band_job {
    const float *ab;
    float *d, *e;
    size_t n, kd, ldab;
    int info;
} band_job;

static void *band_run(void *arg) {
    band_job *j = arg;
    j->info = vx_band_tri(j->d, j->e, j->ab, j->ldab, j->n, j->kd);
    if (j->info == 0) j->info = LAPACKE_ssterf_work((lapack_int)j->n, j->d, j->e);
    return NULL;
}

/* T_d(x) for x ≥ 1 (no overflow: the caller stops at EIG_SPREAD). */
static double cheb(int d, double x) {
    double t0 = 1, t1 = x;
    if (d == 0) return 1;
    for (int i = 2; i <= d; i++) {
        double t2 = 2 * x * t1 - t0;
        t0 = t1;
        t1 = t2;
    }
    return t1;
}

/* Orthonormal columns of the column-major H×p matrix stored as rows of Xt [p][H]. */
static int orth_rows(float *Xt, size_t H, size_t p, float *tau, float *work, int lwork) {
    if (LAPACKE_sgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)H, (lapack_int)p, Xt, (lapack_int)H, tau, work, lwork) != 0 ||
        LAPACKE_sorgqr_work(LAPACK_COL_MAJOR, (lapack_int)H, (lapack_int)p, (lapack_int)p, Xt, (lapack_int)H, tau, work,
                            lwork) != 0)
        return VX_ECORRUPT;
    return VX_OK;
}

/*
 * The symmetric operator of the subspace iteration: the dense G [H][H], or the band
 * matrix B = Q1ᵀ G Q1 of the first stage of the two-stage reduction, held as a block
 * tridiagonal matrix with blocks of kd (its half-bandwidth): D[k] = B[Ik][Ik] and
 * L[k] = B[Ik+1][Ik] (upper triangular: the band ends there), each [kd][kd] row-major,
 * zero-padded in the last block. A product with B costs 6·H·kd flops per vector against
 * 2·H² with G (1/10 at H = 4096, kd = 64).
 */
typedef struct eig_op {
    const float *G;
    size_t H, kd, nb;
    float *D, *L;
} eig_op;

/* Wt [rows][H] = Xt [rows][H] · A (A symmetric: (A X)ᵀ = Xᵀ A, vectors stay rows). */
static void op_apply(const eig_op *A, const float *Xt, float *Wt, size_t rows) {
    int NH = (int)A->H, R = (int)rows;
    if (A->G) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, NH, NH, 1.0f, Xt, NH, A->G, NH, 0.0f, Wt, NH);
        return;
    }
    int kd = (int)A->kd;
    for (size_t k = 0; k < A->nb; k++) {
        size_t i0 = k * A->kd;
        int bk = (int)(A->H - i0 < A->kd ? A->H - i0 : A->kd);
        const float *Dk = A->D + k * A->kd * A->kd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, bk, bk, 1.0f, Xt + i0, NH, Dk, kd, 0.0f, Wt + i0, NH);
        if (k + 1 < A->nb) { /* + X[Ik+1] · L[k] */
            size_t i1 = i0 + A->kd;
            int b1 = (int)(A->H - i1 < A->kd ? A->H - i1 : A->kd);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, bk, b1, 1.0f, Xt + i1, NH, A->L + k * A->kd * A->kd, kd,
                        1.0f, Wt + i0, NH);
        }
        if (k > 0) /* + X[Ik-1] · L[k-1]ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, bk, kd, 1.0f, Xt + i0 - A->kd, NH,
                        A->L + (k - 1) * A->kd * A->kd, kd, 1.0f, Wt + i0, NH);
    }
}

/* The blocks of the band ab (LAPACK 'L' band storage, ldab = kd + 1: ab[(i − j) + j·ldab]
 * = B[i][j] for 0 ≤ i − j ≤ kd) into op; D and L hold nb·kd² floats each. */
static void op_band(eig_op *A, const float *ab, int ldab) {
    size_t H = A->H, kd = A->kd;
    memset(A->D, 0, sizeof(float) * A->nb * kd * kd);
    memset(A->L, 0, sizeof(float) * A->nb * kd * kd);
    for (size_t j = 0; j < H; j++)
        for (size_t i = j; i < H && i <= j + kd; i++) {
            float v = ab[(i - j) + j * (size_t)ldab];
            size_t bi = i / kd, bj = j / kd, a = i % kd, b = j % kd;
            if (bi == bj) {
                A->D[bi * kd * kd + a * kd + b] = v;
                A->D[bi * kd * kd + b * kd + a] = v;
            } else /* bi == bj + 1 */
                A->L[bj * kd * kd + a * kd + b] = v;
        }
}

/*
 * Top-F Ritz pairs of the symmetric operator A by filtered subspace iteration: Xt
 * [p][H] rows = Ritz vectors (descending θ), theta[p]. Returns VX_OK and *ok = 1 when the
 * leading F residuals fell below EIG_TOL·θ_1.
 */
static int subspace_top(float *Xt, double *theta, int *ok, const eig_op *A, size_t H, size_t p, size_t F) {
    size_t n = p * H;
    float *Wt = vx_big_array(n, sizeof(float)), *Yt = vx_big_array(n, sizeof(float)), *Pt = vx_big_array(n, sizeof(float));
    float *Tf = malloc(sizeof(float) * p * p), *Zf = malloc(sizeof(float) * p * p), *tau = malloc(sizeof(float) * p), q = 0;
    double *Td = malloc(sizeof(double) * p * p), *Zd = malloc(sizeof(double) * p * p), *w = malloc(sizeof(double) * p);
    lapack_int *isuppz = malloc(sizeof(lapack_int) * 2 * p), m = 0;
    float *work = NULL;
    int rc = VX_ENOMEM, lwork = 0;
    *ok = 0;
    if (!Wt || !Yt || !Pt || !Tf || !Zf || !tau || !Td || !Zd || !w || !isuppz) goto out;
    rc = VX_ECORRUPT;
    if (LAPACKE_sgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)H, (lapack_int)p, Xt, (lapack_int)H, tau, &q, -1) != 0) goto out;
    lwork = (int)q + (int)(64 * p);
    if (!(work = malloc(sizeof(float) * (size_t)lwork))) { rc = VX_ENOMEM; goto out; }
    uint64_t st = vx_sm_stream(0x5eed0fe16e5ull, H * 131 + p); /* a fixed start: the same bits every run */
    for (size_t i = 0; i < n; i++) Xt[i] = (float)((double)(vx_sm_next(&st) >> 11) * 0x1.0p-53 * 2 - 1);
    if ((rc = orth_rows(Xt, H, p, tau, work, lwork))) goto out;
    int NH = (int)H, NP = (int)p;
    /* G symmetric: (G X)ᵀ = Xᵀ G, so the products keep vectors as contiguous rows */
    op_apply(A, Xt, Wt, p);
    for (int prod = 1;;) {
        /* Rayleigh–Ritz: T = Xᵀ G X, its eigenvectors rotate X and W = G X alike */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NP, NP, NH, 1.0f, Xt, NH, Wt, NH, 0.0f, Tf, NP);
        for (size_t i = 0; i < p; i++)
            for (size_t j = 0; j < p; j++) Td[i * p + j] = 0.5 * ((double)Tf[i * p + j] + (double)Tf[j * p + i]);
        if (LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'A', 'L', NP, Td, NP, 0, 0, 0, 0, 0, &m, w, Zd, NP, isuppz) != 0 ||
            (size_t)m != p) { rc = VX_ECORRUPT; goto out; }
        for (size_t i = 0; i < p; i++) { /* row i of Zf = eigenvector of the i-th largest */
            theta[i] = w[p - 1 - i];
            for (size_t j = 0; j < p; j++) Zf[i * p + j] = (float)Zd[(p - 1 - i) * p + j];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NP, NH, NP, 1.0f, Zf, NP, Xt, NH, 0.0f, Yt, NH);
        memcpy(Xt, Yt, sizeof(float) * n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NP, NH, NP, 1.0f, Zf, NP, Wt, NH, 0.0f, Yt, NH);
        memcpy(Wt, Yt, sizeof(float) * n);
        /* converged pairs from the top are locked: the filter leaves them as they are,
         * so its degree is limited by the spread of the pairs still moving only */
        double floor_ = EIG_FLOOR * FLT_EPSILON * theta[0];
        size_t lock = 0;
        int conv = 1;
        for (size_t i = 0; i < F; i++) {
            double r = 0;
            for (size_t h = 0; h < H; h++) {
                double x = (double)Wt[i * H + h] - theta[i] * (double)Xt[i * H + h];
                r += x * x;
            }
            if (!isfinite(r)) { rc = VX_ECORRUPT; goto out; }
            if (!(sqrt(r) <= EIG_TOL * fabs(theta[i]) + floor_)) conv = 0;
            else if (conv) lock = i + 1;
        }
        if (!(theta[0] > 0)) { rc = VX_ECORRUPT; goto out; }
        if (conv) { *ok = 1; break; }
        if (prod >= EIG_MAXPROD) break;
        /* the filter: Chebyshev on [0, b] mapped to [-1, 1], scaled (Zhou–Saad) so that
         * values stay near 1 at the largest unlocked θ */
        size_t q0 = lock, m_ = p - lock, nm = m_ * H;
        double b = theta[p - 1] > 0 ? theta[p - 1] : 0, e = b / 2, c = b / 2, top = theta[q0];
        int d = 1;
        if (b > 0 && top > b * (1 + 1e-6)) {
            double x0 = (top - c) / e, xF = (theta[F - 1] - c) / e;
            while (d < EIG_DMAX && xF > 1 && cheb(d + 1, x0) / cheb(d + 1, xF) <= EIG_SPREAD) d++;
            if (!(xF > 1)) d = 1;
        }
        if (d > EIG_MAXPROD - prod) d = EIG_MAXPROD - prod;
        float *X1 = Xt + q0 * H, *W1 = Wt + q0 * H;
        if (d == 1 || !(b > 0)) { /* a plain power step: W is G X already */
            memcpy(X1, W1, sizeof(float) * nm);
        } else {
            double sigma = e / (top - c), tau2 = 2 / sigma;
            /* Y = (G X − c X) σ/e */
            if (q0) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m_, (int)q0, NH, 1.0f, W1, NH, Xt, NH, 0.0f, Tf,
                            (int)q0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m_, NH, (int)q0, -1.0f, Tf, (int)q0, Xt, NH, 1.0f,
                            W1, NH);
            }
            for (size_t i = 0; i < nm; i++) Yt[i] = (float)(((double)W1[i] - c * X1[i]) * (sigma / e));
            memcpy(Pt, X1, sizeof(float) * nm);
            for (int k = 2; k <= d; k++) {
                double s1 = 1 / (tau2 - sigma);
                op_apply(A, Yt, W1, m_);
                if (q0) { /* deflated: the locked directions, which the filter would amplify most, projected out */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m_, (int)q0, NH, 1.0f, W1, NH, Xt, NH, 0.0f,
                                Tf, (int)q0);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m_, NH, (int)q0, -1.0f, Tf, (int)q0, Xt, NH,
                                1.0f, W1, NH);
                }
                for (size_t i = 0; i < nm; i++) {
                    float y = Yt[i];
                    Yt[i] = (float)(((double)W1[i] - c * y) * (2 * s1 / e) - sigma * s1 * Pt[i]);
                    Pt[i] = y;
                }
                sigma = s1;
            }
            memcpy(X1, Yt, sizeof(float) * nm);
        }
        prod += d;
        /* locked rows first: QR keeps their span and orthogonalises the rest against it */
        if ((rc = orth_rows(Xt, H, p, tau, work, lwork))) goto out;
        op_apply(A, Xt, Wt, p);
    }
    rc = VX_OK;
out:
    vx_big_free(Wt); vx_big_free(Yt); vx_big_free(Pt);
    free(Tf); free(Zf); free(tau); free(Td); free(Zd); free(w); free(isuppz); free(work);
    return rc;
}

static int seig_top_2stage(double *vals, double *vecs, float *vecf, double *all, float *G, size_t H, size_t F,
                           size_t sure, void (*early)(void *), void *early_arg, int *early_final) {
    size_t p = F + EIG_EXTRA < H ? F + EIG_EXTRA : H;
    int n = (int)H, kd = EIG_KD < n - 1 ? EIG_KD : n - 1, ldab = kd + 1, info = 0, ok = 0, started = 0;
    float *Gc = vx_big_array(H * H, sizeof(float)), *ab = vx_big_array((size_t)ldab * H, sizeof(float));
    float *tau = malloc(sizeof(float) * H), *d = malloc(sizeof(float) * H), *e = malloc(sizeof(float) * H);
    float *Xt = vx_big_array(p * H, sizeof(float)), *work = NULL, q = 0;
    double *theta = malloc(sizeof(double) * p);
    band_job bj;
    memset(&bj, 0, sizeof bj);
    eig_op op = { 0 };
    pthread_t th;
    int before = vx_blas_threads_get(), rc = VX_ENOMEM;
    if (!Gc || !ab || !tau || !d || !e || !Xt || !theta) goto out;
    memcpy(Gc, G, sizeof(float) * H * H);
    int lw = -1;
    ssytrd_sy2sb_("L", &n, &kd, Gc, &n, ab, &ldab, tau, &q, &lw, &info, 1);
    lw = (int)q + 1;
    if (info != 0 || !(work = malloc(sizeof(float) * (size_t)lw))) { rc = info ? VX_ECORRUPT : VX_ENOMEM; goto out; }
    ssytrd_sy2sb_("L", &n, &kd, Gc, &n, ab, &ldab, tau, work, &lw, &info, 1);
    free(work);
    work = NULL;
    if (info != 0) { rc = VX_ECORRUPT; goto out; }
    /* the band as blocks for the subspace iteration (the chase reads ab and leaves it) */
    op = (eig_op){ NULL, H, (size_t)kd, (H + (size_t)kd - 1) / (size_t)kd, NULL, NULL };
    if (!(op.D = vx_big_array(op.nb * op.kd * op.kd, sizeof(float))) || !(op.L = vx_big_array(op.nb * op.kd * op.kd, sizeof(float))))
        goto out;
    op_band(&op, ab, ldab);
    bj = (band_job){ ab, d, e, H, (size_t)kd, (size_t)ldab, 0 };
    /* the band's bulge chasing is serial: it runs beside the subspace iteration, which
     * keeps the other cores (two callers sharing OpenBLAS's pool oversubscribe it) */
    vx_blas_threads(before > 1 ? before - 1 : 1);
    started = vx_thread_start(&th, band_run, &bj) == 0;
    rc = subspace_top(Xt, theta, &ok, &op, H, p, sure);
    /* B's eigenvectors y give G's as Q1 y: Q1's reflectors are sy2sb's, stored as sgeqrf
     * stores those of the (H − kd)-row block below the band (apply_q, as for ssytrd). */
    size_t m = H - (size_t)kd;
    if (rc == VX_OK && ok && m > 0) /* in place in Gc: a compact copy cost more to allocate than it saved */
        rc = apply_q((lapack_int)m, (lapack_int)F, (lapack_int)m, Gc + kd, n, tau, Xt + kd, n);
    if (rc == VX_OK && ok && early) { /* the caller's next step, on the answer still to be certified */
        for (size_t i = 0; i < F; i++) {
            vals[i] = theta[i];
            put_vec(vecs, vecf, i, Xt + i * H, H);
        }
        early(early_arg);
        *early_final = 1; /* until the certification below says otherwise */
    }
    if (started) pthread_join(th, NULL);
    else band_run(&bj);
    vx_blas_threads(before);
    if (rc) goto out;
    if (bj.info != 0) { rc = bj.info == VX_ENOMEM ? VX_ENOMEM : VX_ECORRUPT; goto out; }
    /* certification against the independent spectrum (ascending in d) */
    double slack = 8 * FLT_EPSILON * sqrt((double)H) * d[H - 1];
    for (size_t i = 0; i < sure && ok; i++)
        if (!(fabs(theta[i] - (double)d[H - 1 - i]) <= EIG_MATCH * fabs(theta[i]) + slack)) ok = 0;
    if (!ok) { /* the caller falls back */
        if (early_final) *early_final = 0;
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < F; i++) {
        vals[i] = theta[i];
        put_vec(vecs, vecf, i, Xt + i * H, H);
    }
    if (all)
        for (size_t i = 0; i < H; i++) all[i] = d[H - 1 - i];
    rc = VX_OK;
out:
    vx_big_free(Gc);
    vx_big_free(ab);
    vx_big_free(Xt);
    vx_big_free(op.D);
    vx_big_free(op.L);
    free(tau); free(d); free(e); free(theta); free(work);
    return rc;
}

/* Which path seig_top takes for the battery's case (all eigenvalues, F ≪ H): set by
 * vx_eig_path, initially from VINDEX_EIG (tri | 2stage | auto); auto takes the two-stage
 * path from EIG_2STAGE_MIN on. */
#define EIG_2STAGE_MIN 1024
static int eig_path = -1;
static unsigned long eig_count[2]; /* two-stage answers, fallbacks */

void vx_eig_path(int path) { __atomic_store_n(&eig_path, path, __ATOMIC_RELAXED); }

void vx_eig_counts(unsigned long *two_stage, unsigned long *fallback) {
    *two_stage = __atomic_load_n(&eig_count[0], __ATOMIC_RELAXED);
    *fallback = __atomic_load_n(&eig_count[1], __ATOMIC_RELAXED);
}

static int use_2stage(size_t H) {
    int m_ = __atomic_load_n(&eig_path, __ATOMIC_RELAXED);
    if (m_ < 0) {
        const char *e = getenv("VINDEX_EIG");
        m_ = e && !strcmp(e, "tri") ? VX_EIG_TRI : e && !strcmp(e, "2stage") ? VX_EIG_2STAGE : VX_EIG_AUTO;
        __atomic_store_n(&eig_path, m_, __ATOMIC_RELAXED);
    }
    return m_ == VX_EIG_2STAGE ? H >= 2 : m_ == VX_EIG_TRI ? 0 : H >= EIG_2STAGE_MIN;
}

static int seig_top(double *vals, double *vecs, float *vecf, double *all, float *G, size_t H, size_t F, size_t sure,
                    void *(*side)(void *), void *arg, void (*early)(void *), void *early_arg, int *early_final) {
    if (early_final) *early_final = 0;
    if (!dims_ok(H, F) || F > H) {
        if (side) side(arg);
        return VX_EUSAGE;
    }
    if (H >= 512 && F * 8 >= H) return seig_top_dc(vals, vecs, vecf, all, G, H, F, side, arg);
    if (side) side(arg);
    if (all && F + EIG_EXTRA < H && use_2stage(H)) {
        int rc = seig_top_2stage(vals, vecs, vecf, all, G, H, F, sure, early, early_arg, early_final);
        __atomic_add_fetch(&eig_count[rc == 1], 1, __ATOMIC_RELAXED);
        if (rc != 1) return rc;
        /* not certified: the one-stage reduction, on G (the two-stage path only read it) */
    }
    if (all) return seig_top_tri(vals, vecs, vecf, all, G, H, F);
    float *w = malloc(sizeof(float) * H), *Z = vx_big_array(H * F, sizeof(float));
    lapack_int *isuppz = malloc(sizeof(lapack_int) * 2 * F), m = 0;
    int rc = VX_OK;
    if (!w || !Z || !isuppz) { rc = VX_ENOMEM; goto out; }
    /* G's row-major upper triangle is the column-major lower one: no transposed copies
     * (LAPACKE's row-major path would copy G and Z, 2·H² floats). */
    lapack_int info = LAPACKE_ssyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', (lapack_int)H, G, (lapack_int)H, 0.0f, 0.0f,
                                     (lapack_int)(H - F + 1), (lapack_int)H, 0.0f, &m, w, Z, (lapack_int)H, isuppz);
    if (info != 0 || (size_t)m != F) { rc = VX_ECORRUPT; goto out; }
    for (size_t i = 0; i < F; i++) { /* ascending → descending; eigenvector j is column j of Z */
        size_t j = F - 1 - i;
        vals[i] = w[j];
        put_vec(vecs, vecf, i, Z + j * H, H);
    }
out:
    free(w);
    vx_big_free(Z);
    free(isuppz);
    return rc;
}

int vx_seig_top(double *vals, double *vecs, double *all, float *G, size_t H, size_t F) {
    return seig_top(vals, vecs, NULL, all, G, H, F, F, NULL, NULL, NULL, NULL, NULL);
}

int vx_seig_basis(double *vals, double *vecs, double *all, float *G, size_t H, size_t k, size_t sure,
                  void (*early)(void *), void *arg, int *early_final) {
    if (sure > k) return VX_EUSAGE;
    return seig_top(vals, vecs, NULL, all, G, H, k, sure, NULL, NULL, early, arg, early_final);
}

int vx_seig_top_with(double *vals, float *vecs, float *G, size_t H, size_t F, void *(*side)(void *), void *arg) {
    return seig_top(vals, NULL, vecs, NULL, G, H, F, F, side, arg, NULL, NULL, NULL);
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

int vx_dorth_rows_chol(double *B, size_t k, size_t n, int passes, double *ldiag, double *G) {
    if (!dims_ok(n, k) || k > n) return VX_EUSAGE;
    if (!k) return VX_OK;
    for (int pass = 0; pass < passes; pass++) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)k, (int)n, 1.0, B, (int)n, 0.0, G, (int)k);
        if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)k, G, (lapack_int)k) != 0) return VX_ECORRUPT;
        if (!pass)
            for (size_t j = 0; j < k; j++) ldiag[j] = G[j * k + j];
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)k, (int)n, 1.0, G, (int)k, B,
                    (int)n);
    }
    return VX_OK;
}

int vx_sgemm(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
             size_t ldb, float *C, size_t ldc) {
    if (!dims_ok(M, N) || !dims_ok(K, 1) || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX || ldc < N) return VX_EUSAGE;
    if (lda < (transA ? M : K) || ldb < (transB ? K : N)) return VX_EUSAGE;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
    return VX_OK;
}

static int dgemm(int transA, int transB, size_t M, size_t N, size_t K, const double *A, const double *B, double beta,
                 double *C) {
    if (!dims_ok(M, N) || !dims_ok(K, 1)) return VX_EUSAGE;
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, 1.0, A, (int)(transA ? M : K), B, (int)(transB ? K : N), beta, C, (int)N);
    return VX_OK;
}

int vx_dgemm(int transA, int transB, size_t M, size_t N, size_t K, const double *A, const double *B, double *C) {
    return dgemm(transA, transB, M, N, K, A, B, 0.0, C);
}

int vx_dgemm_acc(int transA, int transB, size_t M, size_t N, size_t K, const double *A, const double *B, double *C) {
    return dgemm(transA, transB, M, N, K, A, B, 1.0, C);
}

void vx_blas_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
}

int vx_blas_threads_get(void) { return openblas_get_num_threads(); }

const char *vx_blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}
