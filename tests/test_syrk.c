/*
 * test_syrk.c — the PCA covariance's SYRK of kern.h (kern_syrk.c, used by compare when the
 * CPU has AVX-512), against a double-precision reference on shapes that exercise the
 * blocking: H of one panel and of several row blocks, K below, at and across the 512-row
 * slab, row blocks taken in any order.
 *   - packing: every packed value is rows[k][h]·scale − shift[h] rounded once (fmaf), and
 *     the column sums equal a plain loop's over the rows in order, bit for bit;
 *   - the product: every entry of the upper triangle within 2·K·2^-24·Σ|x_i x_j| of the
 *     exact Σ x_i x_j (f32 accumulation), accumulating onto what C held; the strict lower
 *     triangle outside the 32×32 diagonal blocks is not touched.
 * And the extractor's Gram product of bf16 vectors (vx_bgram: kern_bsyrk.c, src/gram.c,
 * when the CPU has AVX-512 BF16), on the same kind of shapes and across 512 k-pairs:
 *   - the upper triangle within the same bound of the exact sums, added to what G held;
 *     the strict lower triangle zero within the diagonal blocks and untouched outside;
 *   - the same bits from vectors given as rows or as columns, on 1 or 3 threads;
 *   - a value that is not a bf16 number, or VINDEX_GRAM=blas: declined, G untouched.
 * And its block-scaled form (vx_bgram_scaled: FP8 stored numbers with per-slab, per-32-value
 * scales): within the f32 bound of the double sums of the scaled values, across several
 * slabs with a short last one, rows and columns on 1 and 3 threads the same bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "gram.h"
#include "kern.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static double urand(void) { /* [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / (double)(1ull << 52) - 1.0;
}

/* The worst |C[i][j] − (c0 + Σ_k x_ki x_kj)| over the upper triangle of C [H][H], in units
 * of the f32 accumulation bound 2·(K+1)·2^-24·(|c0| + Σ_k |x_ki x_kj|); X [K][H]. */
static double worst_upper(const float *C, size_t H, const float *X, size_t K, double c0) {
    double worst = 0;
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++) {
            double s = c0, a = fabs(c0);
            for (size_t k = 0; k < K; k++) {
                double xi = X[k * H + i], xj = X[k * H + j];
                s += xi * xj;
                a += fabs(xi * xj);
            }
            double e = fabs((double)C[i * H + j] - s) / (2.0 * (double)(K + 1) * 0x1p-24 * a);
            if (!(e <= worst)) worst = e;
        }
    return worst;
}

static void test_shape(size_t H, size_t K) {
    size_t np = H / 32;
    uint16_t *E = malloc(sizeof(uint16_t) * K * H);
    const uint16_t **rows = malloc(sizeof(*rows) * K);
    float *shift = malloc(sizeof(float) * H), *P = malloc(sizeof(float) * K * H), *C = malloc(sizeof(float) * H * H);
    float *X = malloc(sizeof(float) * K * H); /* the packed values, as rows */
    double *sums = calloc(H, sizeof(double)), *want_sums = calloc(H, sizeof(double));
    const float scale = 0.75f;
    for (size_t i = 0; i < K * H; i++) {
        uint16_t mag = (uint16_t)(0x2c00 + (rng >> 40) % 0x1400); /* |x| in [2^-4, 2^1) */
        E[i] = (uint16_t)(mag | (urand() < 0 ? 0x8000 : 0));
    }
    for (size_t h = 0; h < H; h++) shift[h] = (float)(urand() * 0.3);
    for (size_t k = 0; k < K; k++) rows[k] = E + ((k * 7) % K) * H; /* any row order */
    for (size_t i = 0; i < H * H; i++) C[i] = 0.5f;
    /* two "threads": the panels in two ranges */
    vx_syrk_pack_avx512(P, rows, K, 0, np / 2, scale, shift, sums);
    vx_syrk_pack_avx512(P, rows, K, np / 2, np, scale, shift, sums);
    int pack_ok = 1;
    for (size_t k = 0; k < K; k++)
        for (size_t h = 0; h < H; h++) {
            float x = fmaf(vx_f16_to_f32(rows[k][h]), scale, -shift[h]);
            want_sums[h] += (double)x;
            X[k * H + h] = P[((h / 32) * K + k) * 32 + h % 32];
            if (memcmp(&X[k * H + h], &x, sizeof x)) pack_ok = 0;
        }
    CHECK(pack_ok, "syrk H=%zu K=%zu: packed values are x·scale − shift", H, K);
    CHECK(!memcmp(sums, want_sums, sizeof(double) * H), "syrk H=%zu K=%zu: column sums as a loop over the rows", H, K);
    /* row blocks in reverse order */
    for (size_t i0 = (H - 1) / VX_SYRK_MC * VX_SYRK_MC;; i0 -= VX_SYRK_MC) {
        vx_syrk_rows_avx512(C, H, P, K, i0);
        if (!i0) break;
    }
    double worst = worst_upper(C, H, X, K, 0.5);
    int lower_ok = 1;
    for (size_t i = 0; i < H; i++)
        for (size_t j = 0; j < i; j++)
            if (j / 32 != i / 32 && C[i * H + j] != 0.5f) lower_ok = 0;
    CHECK(worst <= 1.0, "syrk H=%zu K=%zu: upper triangle within the f32 bound (worst %.3g of it)", H, K, worst);
    CHECK(lower_ok, "syrk H=%zu K=%zu: the lower triangle off the diagonal blocks untouched", H, K);
    free(E); free(rows); free(shift); free(P); free(C); free(X); free(sums); free(want_sums);
}

/* vx_bgram over K random bf16 vectors of length H: rows, columns, threads agree. */
static void test_bgram(size_t H, size_t K) {
    size_t ld = K + 3;
    float *X = malloc(sizeof(float) * K * H), *M = malloc(sizeof(float) * H * ld);
    float *G = malloc(sizeof(float) * H * H), *G2 = malloc(sizeof(float) * H * H);
    uint32_t *P = malloc(sizeof(uint32_t) * vx_bsyrk_words(H, K));
    for (size_t i = 0; i < K * H; i++) {
        uint32_t mag = 0x3d00u + (uint32_t)((rng >> 40) % 0x400u); /* |x| in [2^-5, 2^3) */
        uint32_t u = (mag | (urand() < 0 ? 0x8000u : 0)) << 16;
        memcpy(&X[i], &u, 4);
    }
    for (size_t k = 0; k < K; k++)
        for (size_t h = 0; h < H; h++) M[h * ld + k] = X[k * H + h];
    for (size_t i = 0; i < H * H; i++) G[i] = G2[i] = 0.5f;
    int rc = vx_bgram(G, H, X, K, H, 0, P, 1);
    CHECK(rc == 0, "bgram H=%zu K=%zu: taken (rows)", H, K);
    double worst = worst_upper(G, H, X, K, 0.5);
    int lower_ok = 1;
    for (size_t i = 0; i < H; i++)
        for (size_t j = 0; j < i; j++)
            if (G[i * H + j] != (j / 32 == i / 32 ? 0.0f : 0.5f)) lower_ok = 0;
    CHECK(worst <= 1.0, "bgram H=%zu K=%zu: upper triangle within the f32 bound (worst %.3g of it)", H, K, worst);
    CHECK(lower_ok, "bgram H=%zu K=%zu: lower triangle zero in the diagonal blocks, untouched elsewhere", H, K);
    rc = vx_bgram(G2, H, M, K, ld, 1, P, 3);
    CHECK(rc == 0 && !memcmp(G, G2, sizeof(float) * H * H), "bgram H=%zu K=%zu: columns on 3 threads give the same bits", H, K);
    memcpy(G2, G, sizeof(float) * H * H);
    uint32_t u;
    memcpy(&u, &X[(K / 2) * H + H - 1], 4);
    u |= 1u; /* now not a bf16 number */
    memcpy(&X[(K / 2) * H + H - 1], &u, 4);
    CHECK(vx_bgram(G2, H, X, K, H, 0, P, 2) == 1 && !memcmp(G, G2, sizeof(float) * H * H),
          "bgram H=%zu K=%zu: a value that is not bf16 declined, G untouched", H, K);
    free(X); free(M); free(G); free(G2); free(P);
}

/* vx_bgram_scaled: K random bf16 vectors X of length H whose values are X·scale, the scale
 * sc[k / slab][h / 32] (random, not powers of two), against the double sums of the scaled
 * values; rows and columns on 1 and 3 threads give the same bits. */
static void test_bgram_scaled(size_t H, size_t K, size_t slab) {
    size_t ng = H / VX_SCALE_GROUP, ns = (K + slab - 1) / slab, ld = K + 1;
    float *X = malloc(sizeof(float) * K * H), *M = malloc(sizeof(float) * H * ld);
    float *sc = malloc(sizeof(float) * ns * ng), *G = malloc(sizeof(float) * H * H), *G2 = malloc(sizeof(float) * H * H);
    uint32_t *P = malloc(sizeof(uint32_t) * vx_bsyrk_words(H, K));
    for (size_t i = 0; i < ns * ng; i++) sc[i] = (float)(0.3 + 0.7 * (urand() + 1.0)); /* [0.3, 1.7) */
    for (size_t i = 0; i < K * H; i++) {
        uint32_t mag = 0x3d00u + (uint32_t)((rng >> 40) % 0x400u);
        uint32_t u = (mag | (urand() < 0 ? 0x8000u : 0)) << 16;
        memcpy(&X[i], &u, 4);
    }
    for (size_t k = 0; k < K; k++)
        for (size_t h = 0; h < H; h++) M[h * ld + k] = X[k * H + h];
    for (size_t i = 0; i < H * H; i++) G[i] = G2[i] = 0.5f;
    int rc = vx_bgram_scaled(G, H, X, K, H, 0, P, 1, sc, slab);
    CHECK(rc == 0, "bgram scaled H=%zu K=%zu slab=%zu: taken", H, K, slab);
    double worst = 0;
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++) {
            double sum = 0.5, a = 0.5;
            for (size_t k = 0; k < K; k++) {
                double si = sc[k / slab * ng + i / VX_SCALE_GROUP], sj = sc[k / slab * ng + j / VX_SCALE_GROUP];
                double p = (double)X[k * H + i] * si * (double)X[k * H + j] * sj;
                sum += p;
                a += fabs(p);
            }
            double e = fabs((double)G[i * H + j] - sum) / (2.0 * (double)(K + 3) * 0x1p-24 * a);
            if (!(e <= worst)) worst = e;
        }
    CHECK(worst <= 1.0, "bgram scaled H=%zu K=%zu slab=%zu: upper triangle within the f32 bound (worst %.3g of it)", H, K,
          slab, worst);
    rc = vx_bgram_scaled(G2, H, M, K, ld, 1, P, 3, sc, slab);
    CHECK(rc == 0 && !memcmp(G, G2, sizeof(float) * H * H), "bgram scaled H=%zu K=%zu slab=%zu: columns on 3 threads, same bits",
          H, K, slab);
    CHECK(vx_bgram_scaled(G2, H, X, K, H, 0, P, 1, sc, 3) == 1 && vx_bgram_scaled(G2, H, X, K, H, 0, P, 1, NULL, 2) == 1 &&
          !memcmp(G, G2, sizeof(float) * H * H), "bgram scaled: an odd slab or no scales declined, G untouched");
    free(X); free(M); free(sc); free(G); free(G2); free(P);
}

int main(void) {
    if (vx_cpu_bf16()) {
        static const size_t sshapes[][3] = { { 32, 1, 2 }, { 64, 7, 2 }, { 96, 300, 128 }, { 160, 1024, 128 }, { 288, 333, 32 },
                                             { 64, 1025, 1026 } };
        for (size_t s = 0; s < sizeof sshapes / sizeof sshapes[0]; s++) test_bgram_scaled(sshapes[s][0], sshapes[s][1], sshapes[s][2]);
        static const size_t bshapes[][2] = { { 32, 1 }, { 64, 7 }, { 96, 1024 }, { 288, 1025 }, { 544, 2100 } };
        for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++) test_bgram(bshapes[s][0], bshapes[s][1]);
        CHECK(vx_bgram_words(64, 10) == vx_bsyrk_words(64, 10) && vx_bgram_words(48, 10) == 0,
              "bgram: offered for H a multiple of 32 only");
        setenv("VINDEX_GRAM", "blas", 1);
        float g = 0;
        uint32_t p[64];
        float x[32] = { 1.0f };
        CHECK(vx_bgram_words(32, 1) == 0 && vx_bgram(&g, 32, x, 1, 32, 0, p, 1) == 1, "bgram: VINDEX_GRAM=blas declines");
        unsetenv("VINDEX_GRAM");
    } else printf("AVX-512 BF16: not supported here, bf16 Gram tests skipped\n");
    if (!vx_cpu_avx512()) {
        printf("AVX-512: not supported here, SYRK tests skipped\n");
        return CHECK_DONE();
    }
    static const size_t shapes[][2] = { { 32, 1 }, { 64, 7 }, { 96, 512 }, { 288, 513 }, { 544, 1100 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) test_shape(shapes[s][0], shapes[s][1]);
    return CHECK_DONE();
}
