/*
 * report_pca.c — the two leading principal components of a token sample, for the
 * report's PCA scatter (spec/report.md §2.4).
 *
 * The sample is small (at most 20,000 rows) and only two components are wanted, so this
 * runs block subspace iteration in double on the centred rows — X (XᵀX) applied as two
 * thin products per step, never a covariance — followed by a Rayleigh-Ritz step
 * (Jacobi on the k x k projected matrix). It needs no LAPACK, which the command does not
 * call, and costs O(S·H·k) per step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

enum { K = 8, MAX_STEPS = 1000 };

/* Orthonormalise the k columns of V [H][K] in place (modified Gram-Schmidt, twice). */
static void orthonormalise(double *V, size_t H) {
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < K; j++) {
            for (int i = 0; i < j; i++) {
                double d = 0;
                for (size_t h = 0; h < H; h++) d += V[h * K + i] * V[h * K + j];
                for (size_t h = 0; h < H; h++) V[h * K + j] -= d * V[h * K + i];
            }
            double n = 0;
            for (size_t h = 0; h < H; h++) n += V[h * K + j] * V[h * K + j];
            n = sqrt(n);
            for (size_t h = 0; h < H; h++) V[h * K + j] = n > 0 ? V[h * K + j] / n : (h == (size_t)j);
        }
}

/* W [S][K] = X V. */
static void mul_xv(double *W, const float *X, const double *V, size_t S, size_t H) {
    for (size_t s = 0; s < S; s++) {
        double acc[K] = { 0 };
        const float *x = X + s * H;
        for (size_t h = 0; h < H; h++)
            for (int j = 0; j < K; j++) acc[j] += x[h] * V[h * K + j];
        memcpy(W + s * K, acc, sizeof acc);
    }
}

/* Z [H][K] = Xᵀ W. */
static void mul_xtw(double *Z, const float *X, const double *W, size_t S, size_t H) {
    memset(Z, 0, sizeof *Z * H * K);
    for (size_t s = 0; s < S; s++) {
        const float *x = X + s * H;
        const double *w = W + s * K;
        for (size_t h = 0; h < H; h++)
            for (int j = 0; j < K; j++) Z[h * K + j] += x[h] * w[j];
    }
}

/* Eigen-decomposition of the symmetric K x K matrix A (cyclic Jacobi): eigenvalues on the
 * diagonal of A, eigenvectors in the columns of Q. */
static void jacobi(double A[K][K], double Q[K][K]) {
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) Q[i][j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) *(i == j ? &tot : &off) += A[i][j] * A[i][j];
        if (off <= 1e-30 * (tot + off)) break;
        for (int p = 0; p < K; p++)
            for (int q = p + 1; q < K; q++) {
                if (A[p][q] == 0) continue;
                double th = (A[q][q] - A[p][p]) / (2 * A[p][q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1)), c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < K; k++) { /* A = Jᵀ A J */
                    double akp = A[k][p], akq = A[k][q];
                    A[k][p] = c * akp - s * akq;
                    A[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < K; k++) {
                    double apk = A[p][k], aqk = A[q][k];
                    A[p][k] = c * apk - s * aqk;
                    A[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < K; k++) {
                    double qkp = Q[k][p], qkq = Q[k][q];
                    Q[k][p] = c * qkp - s * qkq;
                    Q[k][q] = s * qkp + c * qkq;
                }
            }
    }
}

int sample_pca2(double *coords, double *var2, double *var_total, float *X, size_t S, size_t H, uint64_t seed) {
    if (S < 2 || H < 1) return -1;
    int k_eff = H < K ? (int)H : K;
    double *mean = calloc(H, sizeof *mean), *V = malloc(sizeof *V * H * K), *Z = malloc(sizeof *Z * H * K),
           *W = malloc(sizeof *W * S * K);
    if (!mean || !V || !Z || !W) { free(mean); free(V); free(Z); free(W); return -1; }
    for (size_t s = 0; s < S; s++)
        for (size_t h = 0; h < H; h++) mean[h] += X[s * H + h];
    double tot = 0;
    for (size_t h = 0; h < H; h++) mean[h] /= (double)S;
    for (size_t s = 0; s < S; s++)
        for (size_t h = 0; h < H; h++) {
            X[s * H + h] = (float)(X[s * H + h] - mean[h]);
            tot += (double)X[s * H + h] * X[s * H + h];
        }
    rng r;
    rng_init(&r, seed, 4);
    for (size_t i = 0; i < H * K; i++) V[i] = (double)(rng_below(&r, 1u << 30)) / (1u << 29) - 1;
    if (k_eff < K) /* fewer dimensions than the block: the block is the identity's columns */
        for (size_t h = 0; h < H; h++)
            for (int j = 0; j < K; j++) V[h * K + j] = j < k_eff ? (h == (size_t)j) : 0;
    else orthonormalise(V, H);
    for (int step = 0; step < MAX_STEPS && k_eff == K; step++) {
        mul_xv(W, X, V, S, H);
        mul_xtw(Z, X, W, S, H);
        orthonormalise(Z, H);
        double c0 = 0, c1 = 0;
        for (size_t h = 0; h < H; h++) {
            c0 += Z[h * K] * V[h * K];
            c1 += Z[h * K + 1] * V[h * K + 1];
        }
        memcpy(V, Z, sizeof *V * H * K);
        if (fabs(c0) > 1 - 1e-13 && fabs(c1) > 1 - 1e-13) break;
    }
    /* Rayleigh-Ritz: eigenpairs of (XV)ᵀ(XV) rotate the block onto the components */
    mul_xv(W, X, V, S, H);
    double A[K][K], Q[K][K];
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double d = 0;
            for (size_t s = 0; s < S; s++) d += W[s * K + i] * W[s * K + j];
            A[i][j] = d;
        }
    jacobi(A, Q);
    int ord[K];
    for (int i = 0; i < K; i++) ord[i] = i;
    for (int i = 0; i < K; i++) /* descending eigenvalues */
        for (int j = i + 1; j < K; j++)
            if (A[ord[j]][ord[j]] > A[ord[i]][ord[i]]) { int t = ord[i]; ord[i] = ord[j]; ord[j] = t; }
    for (int c = 0; c < 2; c++) {
        /* component c = V Q[:, ord[c]], signed so its entry of largest magnitude is positive */
        double best = 0;
        for (size_t h = 0; h < H; h++) {
            double v = 0;
            for (int j = 0; j < K; j++) v += V[h * K + j] * Q[j][ord[c]];
            Z[h * K + c] = v;
            if (fabs(v) > fabs(best)) best = v;
        }
        double sg = best < 0 ? -1 : 1;
        for (size_t s = 0; s < S; s++) {
            double d = 0;
            for (size_t h = 0; h < H; h++) d += X[s * H + h] * Z[h * K + c];
            coords[s * 2 + c] = sg * d;
        }
        var2[c] = c < k_eff ? A[ord[c]][ord[c]] / (double)(S - 1) : 0;
    }
    *var_total = tot / (double)(S - 1);
    free(mean);
    free(V);
    free(Z);
    free(W);
    return 0;
}
