/*
 * test_bf16.c — the bf16 screening GEMM of kern.h (used by compare's all-token pass):
 *   1. vx_bf16_bits rounds to nearest even and zeroes |x| < 2^-125;
 *   2. the AVX-512 packers (from f32 rows, and from f16 rows · scale − mu) write the same
 *      words as the scalar one, and the same error and norm sums (to f32-lane rounding),
 *      for odd shapes; the vector cosine sums equal a scalar loop's to 1e-12;
 *   3. the GEMM equals the double-precision product of the rounded inputs within the error
 *      bound kern.h documents, writes only C [M][N] (not the padding of ldc), and handles
 *      K odd, K spanning several KC blocks, M and N not multiples of the tile.
 * Parts 2–3 run only on a CPU with AVX-512 BF16 (they say so when skipped).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "kern.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) { /* xorshift64, in [-0.5, 0.5) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53 - 0.5;
}

static float fbits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_rounding(void) {
    CHECK(vx_bf16_bits(1.0f) == 0x3f80, "1.0");
    CHECK(vx_bf16_bits(-2.0f) == 0xc000, "-2.0");
    CHECK(vx_bf16_bits(1.0f + 0x1p-8f) == 0x3f80, "tie 1 + 2^-8 rounds to even (down)");
    CHECK(vx_bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3f82, "tie 1 + 3·2^-8 rounds to even (up)");
    CHECK(vx_bf16_bits(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81, "above the tie rounds up");
    CHECK(vx_bf16_bits(0x1p-126f) == 0 && vx_bf16_bits(-0x1p-126f) == 0, "below 2^-125 → +0");
    CHECK(vx_bf16_bits(0x1p-125f) == 0x0100, "2^-125 kept");
    CHECK(vx_bf16_bits(fbits(0x3f80ffffu)) == 0x3f81, "0x3f80ffff rounds up");
    CHECK(vx_bf16_float(0x3f81) == 1.0078125f, "bf16 → float");
}

/* Random matrices with varied magnitudes (and some tiny values that must flush). */
static void fill(float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) {
        double v = urand() * scale;
        if (i % 97 == 5) v *= 1e-40;
        x[i] = (float)v;
    }
}

/* Largest relative difference between two packers' err2 (e) and norm2 (n) sums over M rows. */
static double sums_dev(const double *e1, const double *n1, const double *e2, const double *n2, size_t M) {
    double dev = 0;
    for (size_t r = 0; r < M; r++) {
        double a = fabs(e1[r] - e2[r]) / (e1[r] > 0 ? e1[r] : 1), b = fabs(n1[r] - n2[r]) / (n1[r] > 0 ? n1[r] : 1);
        if (!(a <= dev)) dev = a;
        if (!(b <= dev)) dev = b;
    }
    return dev;
}

static void test_pack(size_t M, size_t K) {
    float *X = malloc(sizeof(float) * M * K);
    size_t words = vx_bf16_a_words(M, K);
    uint32_t *A1 = calloc(words, 4), *A2 = calloc(words, 4);
    double *e1 = malloc(sizeof(double) * M), *n1 = malloc(sizeof(double) * M);
    double *e2 = malloc(sizeof(double) * M), *n2 = malloc(sizeof(double) * M);
    fill(X, M * K, 3.0);
    for (size_t r = 0; r < M; r++) vx_bf16_pack_a_row(A1, r, X + r * K, K, &e1[r], &n1[r]);
    vx_bf16_pack_a_avx512(A2, X, K, M, K, e2, n2);
    CHECK(!memcmp(A1, A2, words * 4), "pack M=%zu K=%zu: AVX-512 words equal the scalar ones", M, K);
    double dev = sums_dev(e1, n1, e2, n2, M);
    CHECK(dev < 1e-5, "pack M=%zu K=%zu: err2/norm2 agree to %g", M, K, dev);
    free(X); free(A1); free(A2); free(e1); free(n1); free(e2); free(n2);
}

/* Straight from f16 rows (x·scale − mu, fused) gives the words of packing those f32 rows. */
static void test_pack_f16(size_t M, size_t K) {
    uint16_t *H = malloc(sizeof(uint16_t) * M * K);
    const uint16_t **rows = malloc(sizeof(*rows) * M);
    float *X = malloc(sizeof(float) * M * K), *mu = malloc(sizeof(float) * K), sc = 1.7f;
    size_t words = vx_bf16_a_words(M, K);
    uint32_t *A1 = calloc(words, 4), *A2 = calloc(words, 4);
    double *e1 = malloc(sizeof(double) * M), *n1 = malloc(sizeof(double) * M);
    double *e2 = malloc(sizeof(double) * M), *n2 = malloc(sizeof(double) * M);
    for (size_t k = 0; k < K; k++) mu[k] = (float)(urand() * 0.01);
    for (size_t i = 0; i < M * K; i++) {
        uint16_t h = (uint16_t)((uint16_t)(0x2000 + (rng >> 20) % 0x1c00) | (urand() < 0 ? 0x8000 : 0));
        H[i] = (i % 89 == 3) ? 0 : h;
    }
    for (size_t r = 0; r < M; r++) {
        rows[M - 1 - r] = H + r * K; /* any row order */
        for (size_t k = 0; k < K; k++) X[(M - 1 - r) * K + k] = fmaf(vx_f16_to_f32(H[r * K + k]), sc, -mu[k]);
    }
    for (size_t r = 0; r < M; r++) vx_bf16_pack_a_row(A1, r, X + r * K, K, &e1[r], &n1[r]);
    vx_bf16_pack_a_f16(A2, rows, M, K, sc, mu, e2, n2);
    CHECK(!memcmp(A1, A2, words * 4), "pack from f16 M=%zu K=%zu: the words of the f32 rows", M, K);
    double dev = sums_dev(e1, n1, e2, n2, M);
    CHECK(dev < 1e-5, "pack from f16 M=%zu K=%zu: err2/norm2 agree to %g", M, K, dev);
    free(H); free(rows); free(X); free(mu); free(A1); free(A2); free(e1); free(n1); free(e2); free(n2);
}

static void test_cos_parts(size_t n) {
    float *z = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    double *cz = malloc(sizeof(double) * n), *my = malloc(sizeof(double) * n), s[3] = { 0, 0, 0 }, p[3];
    for (size_t h = 0; h < n; h++) {
        z[h] = (float)urand(); y[h] = (float)urand(); cz[h] = urand() * 0.1; my[h] = urand() * 0.1;
        double a = (double)z[h] - cz[h], b = (double)y[h] - my[h];
        s[0] += a * b; s[1] += a * a; s[2] += b * b;
    }
    vx_bf16_cos_parts(z, y, cz, my, n, p);
    int ok = 1;
    for (int k = 0; k < 3; k++) ok &= fabs(p[k] - s[k]) <= 1e-12 * (s[1] + s[2]);
    CHECK(ok, "cos_parts n=%zu: the three sums of a scalar loop", n);
    free(z); free(y); free(cz); free(my);
}

static void test_gemm(size_t M, size_t N, size_t K) {
    size_t ldc = N + 3;
    float *X = malloc(sizeof(float) * M * K), *Bt = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * ldc);
    uint32_t *Ap = calloc(vx_bf16_a_words(M, K), 4), *Bp = calloc(vx_bf16_b_words(N, K), 4);
    double *e2 = malloc(sizeof(double) * M), *n2 = malloc(sizeof(double) * M);
    fill(X, M * K, 2.0);
    fill(Bt, N * K, 0.05);
    for (size_t i = 0; i < M * ldc; i++) C[i] = 12345.0f;
    vx_bf16_pack_a_avx512(Ap, X, K, M, K, e2, n2);
    vx_bf16_pack_bt(Bp, Bt, N, K);
    vx_bf16_gemm_avx512(C, ldc, Ap, Bp, M, N, K);
    double nacc = VX_BF16_KC + (K + VX_BF16_KC - 1) / VX_BF16_KC, gam = nacc * 0x1p-24 / (1 - nacc * 0x1p-24);
    double worst = 0, err_max = 0;
    int pad_ok = 1;
    for (size_t i = 0; i < M; i++) {
        for (size_t j = 0; j < N; j++) {
            double s = 0, sa = 0;
            for (size_t k = 0; k < K; k++) {
                double p = (double)vx_bf16_float(vx_bf16_bits(X[i * K + k])) * vx_bf16_float(vx_bf16_bits(Bt[j * K + k]));
                s += p;
                sa += fabs(p);
            }
            double e = fabs(C[i * ldc + j] - s), bound = gam * sa + K * 0x1p-126;
            if (!(e / bound <= worst)) worst = e / bound;
            if (e > err_max) err_max = e;
        }
        for (size_t j = N; j < ldc; j++) pad_ok &= C[i * ldc + j] == 12345.0f;
    }
    CHECK(worst <= 1.0, "gemm %zux%zux%zu: error within the documented bound (worst %.3g of it)", M, N, K, worst);
    CHECK(err_max > 0 || K < 4, "gemm %zux%zux%zu: rounding seen (%g), so the check is not vacuous", M, N, K, err_max);
    CHECK(pad_ok, "gemm %zux%zux%zu: nothing written past N in a row of C", M, N, K);
    free(X); free(Bt); free(C); free(Ap); free(Bp); free(e2); free(n2);
}

int main(void) {
    test_rounding();
    if (!vx_cpu_bf16()) {
        printf("AVX-512 BF16: not supported here, packer and GEMM tests skipped\n");
        return CHECK_DONE();
    }
    static const size_t shapes[][3] = { { 1, 1, 1 }, { 12, 32, 2 }, { 25, 45, 37 }, { 13, 33, 600 }, { 40, 70, 513 },
                                        { 7, 100, 1030 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_pack(shapes[s][0], shapes[s][2]);
        test_pack_f16(shapes[s][0], shapes[s][2]);
        test_cos_parts(shapes[s][1]);
        test_gemm(shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    return CHECK_DONE();
}
