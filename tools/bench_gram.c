/*
 * bench_gram.c — the extractor's Gram product alone, both paths alternated:
 *
 *   bench_gram [H N THREADS ROUNDS [SLAB]]   (default 4096 12288 1 3: one 8B-shape matrix,
 *                                             as extract runs it beside the layer's other
 *                                             matrix; SLAB: also the block-scaled form,
 *                                             FP8's, with scale blocks of SLAB vectors)
 *
 * Forms G = XᵀX (upper) of a random N×H matrix of bf16 numbers in chunks of 1,024 rows, as
 * extract does (src/extract.c layer_directions), with OpenBLAS's ssyrk (vx_sgram_rows) and
 * with VDPBF16PS (vx_bgram, src/gram.c), alternating, and prints each best time, the rate
 * (N·H² floating-point operations: the triangle's multiply-adds, twice), their ratio and the largest difference between the two Gs
 * relative to the largest entry. Needs a CPU with AVX-512 BF16 for the second path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gram.h"
#include "clock.h"
#include "linalg.h"
#include "mem.h"

#define CHUNK 1024

int main(int argc, char **argv) {
    size_t H = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096, N = argc > 2 ? strtoul(argv[2], NULL, 10) : 12288;
    int T = argc > 3 ? atoi(argv[3]) : 1, rounds = argc > 4 ? atoi(argv[4]) : 3;
    size_t slab = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
    if (!H || H % 32 || !N || T < 1 || rounds < 1 || slab % 2) {
        fprintf(stderr, "usage: bench_gram [H N THREADS ROUNDS [SLAB]]   (H a multiple of 32, SLAB even)\n");
        return 2;
    }
    if (!vx_bgram_words(H, CHUNK)) {
        fprintf(stderr, "bench_gram: no bf16 Gram here (AVX-512 BF16 missing, or VINDEX_GRAM=blas)\n");
        return 1;
    }
    float *X = vx_big_array(N * H, sizeof(float)), *Gs = vx_big_array(H * H, sizeof(float));
    float *Gb = vx_big_array(H * H, sizeof(float)), *Gq = slab ? vx_big_array(H * H, sizeof(float)) : NULL;
    uint32_t *P = vx_big_array(vx_bgram_words(H, CHUNK), sizeof(uint32_t));
    float *sc = malloc(sizeof(float) * (CHUNK / 2 + 1) * (H / VX_SCALE_GROUP));
    if (!X || !Gs || !Gb || !P || !sc || (slab && !Gq)) {
        fprintf(stderr, "bench_gram: out of memory\n");
        return 1;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < N * H; i++) { /* bf16 numbers, |x| in [2^-8, 2^-4), either sign */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)((0x3b80u + (s >> 40) % 0x200u) | ((s >> 20) & 0x8000u)) << 16;
        memcpy(&X[i], &u, 4);
    }
    for (size_t i = 0; i < (CHUNK / 2 + 1) * (H / VX_SCALE_GROUP); i++) sc[i] = 1.0f + (float)(i % 7) * 0.0625f;
    vx_blas_threads(T);
    double best_s = 1e30, best_b = 1e30, best_q = 1e30;
    for (int r = 0; r < rounds; r++) {
        memset(Gs, 0, sizeof(float) * H * H);
        double t0 = vx_wall_s();
        for (size_t c = 0; c < N; c += CHUNK)
            vx_sgram_rows(Gs, H, X + c * H, N - c < CHUNK ? N - c : CHUNK, 1);
        double t1 = vx_wall_s();
        memset(Gb, 0, sizeof(float) * H * H);
        for (size_t c = 0; c < N; c += CHUNK)
            if (vx_bgram(Gb, H, X + c * H, N - c < CHUNK ? N - c : CHUNK, H, 0, P, T)) {
                fprintf(stderr, "bench_gram: vx_bgram declined\n");
                return 1;
            }
        double t2 = vx_wall_s();
        if (t1 - t0 < best_s) best_s = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
        if (!slab) continue;
        memset(Gq, 0, sizeof(float) * H * H);
        for (size_t c = 0; c < N; c += CHUNK)
            if (vx_bgram_scaled(Gq, H, X + c * H, N - c < CHUNK ? N - c : CHUNK, H, 0, P, T, sc, slab)) {
                fprintf(stderr, "bench_gram: vx_bgram_scaled declined\n");
                return 1;
            }
        double t3 = vx_wall_s();
        if (t3 - t2 < best_q) best_q = t3 - t2;
    }
    double dmax = 0, gmax = 0;
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++) {
            double d = fabs((double)Gs[i * H + j] - (double)Gb[i * H + j]), g = fabs((double)Gs[i * H + j]);
            if (d > dmax) dmax = d;
            if (g > gmax) gmax = g;
        }
    double gf = (double)N * (double)H * (double)H / 1e9;
    printf("H=%zu N=%zu threads=%d: ssyrk %.3f s (%.0f GFLOP/s), bf16 %.3f s (%.0f GFLOP/s): %.2fx; "
           "max |difference| %.2e of the largest entry\n",
           H, N, T, best_s, gf / best_s, best_b, gf / best_b, best_s / best_b, gmax > 0 ? dmax / gmax : 0.0);
    if (slab) printf("  block-scaled, slabs of %zu vectors: %.3f s (%.0f GFLOP/s)\n", slab, best_q, gf / best_q);
    vx_big_free(X); vx_big_free(Gs); vx_big_free(Gb); vx_big_free(P); vx_big_free(Gq); free(sc);
    return 0;
}
