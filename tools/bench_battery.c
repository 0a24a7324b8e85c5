/*
 * bench_battery.c — what the weight battery (spec/vindex-format.md §9) adds to extraction,
 * piece by piece, at one layer of a real shape (default the Qwen3-8B layer: H 4096,
 * I 12288, F 128, V 151936, L 36 for the projection's width). Wall and CPU seconds of:
 *   - one matrix converted BF16 → f32 in 1024-vector chunks (what the up pass adds besides
 *     the statistics; gate and down are converted anyway);
 *   - the sparsity counts and row norms of that matrix (gate, up) and its column norms
 *     (down's layout);
 *   - the moments of every direction's projection over the whole vocabulary;
 *   - the top-(F+32) eigensolver without (ssyevr) and with every eigenvalue (ssytrd once,
 *     ssterf beside bisection + inverse iteration, sormtr), on a Gram of the layer's shape.
 * Each is run REPS times, alternating the two eigensolver paths; tools/bench-battery.sh
 * runs whole extractions before/after. Set OPENBLAS_CORETYPE as for the extraction runs.
 *
 *   bench_battery [REPS] [H I F V L]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "battery.h"
#include "clock.h"
#include "linalg.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-0.5, 0.5) */
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (float)(rs >> 40) / (float)(1u << 24) - 0.5f;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    size_t H = 4096, I = 12288, F = 128, V = 151936, L = 36, chunk = 1024;
    if (argc > 6) {
        H = strtoul(argv[2], NULL, 10); I = strtoul(argv[3], NULL, 10); F = strtoul(argv[4], NULL, 10);
        V = strtoul(argv[5], NULL, 10); L = strtoul(argv[6], NULL, 10);
    }
    if (reps < 1 || !H || !I || !F || F + 32 > H || !V || !L || I % chunk) {
        fprintf(stderr, "usage: bench_battery [REPS] [H I F V L]   (I a multiple of 1024, F + 32 <= H)\n");
        return 2;
    }
    printf("bench_battery: H=%zu I=%zu F=%zu V=%zu L=%zu, %d reps (wall s / cpu s)\n", H, I, F, V, L, reps);
    uint16_t *W = malloc(2 * I * H);
    float *buf = malloc(4 * H * chunk), thr[VX_N_SPARSITY];
    double *sq = malloc(8 * I);
    if (!W || !buf || !sq) return 1;
    for (size_t i = 0; i < I * H; i++) {
        float f = frand() * 0.04f;
        uint32_t u;
        memcpy(&u, &f, 4);
        W[i] = (uint16_t)(u >> 16);
    }
    vx_bat_thresholds(thr);
    for (int r = 0; r < reps; r++) {
        double w[4], c[4];
        uint64_t below[VX_N_SPARSITY] = { 0 };
        w[0] = vx_wall_s(), c[0] = vx_cpu_s();
        for (size_t c0 = 0; c0 < I; c0 += chunk)
            for (size_t i = 0; i < chunk * H; i++) buf[i] = vx_bf16_to_f32(W[c0 * H + i]);
        w[1] = vx_wall_s(), c[1] = vx_cpu_s();
        for (size_t c0 = 0; c0 < I; c0 += chunk) {
            vx_bat_count(below, buf, chunk * H, thr);
            vx_bat_sq_rows(sq + c0, buf, chunk, H);
        }
        w[2] = vx_wall_s(), c[2] = vx_cpu_s();
        for (size_t c0 = 0; c0 < I; c0 += chunk) {
            memset(sq + c0, 0, 8 * chunk);
            vx_bat_sq_cols(sq + c0, buf, H, chunk);
        }
        w[3] = vx_wall_s(), c[3] = vx_cpu_s();
        printf("matrix %zux%zu: convert %.3f/%.3f  count+row norms %.3f/%.3f  column norms %.3f/%.3f\n", I, H, w[1] - w[0],
               c[1] - c[0], w[2] - w[1], c[2] - c[1], w[3] - w[2], c[3] - c[2]);
    }
    size_t ncol = L * 2 * F, tile = (16u << 20) / (ncol * 4);
    if (tile < 64) tile = 64;
    float *S = malloc(4 * tile * ncol);
    if (!S) return 1;
    for (size_t i = 0; i < tile * ncol; i++) S[i] = frand();
    for (int r = 0; r < reps; r++) {
        vx_mom_acc m;
        if (vx_mom_init(&m, ncol)) return 1;
        double w0 = vx_wall_s(), c0 = vx_cpu_s();
        for (size_t v = 0; v < V; v += tile) vx_mom_add(&m, S, V - v < tile ? V - v : tile);
        printf("moments of %zu projections over %zu tokens: %.3f/%.3f\n", ncol, V, vx_wall_s() - w0, vx_cpu_s() - c0);
        vx_mom_free(&m);
    }
    size_t k = F + 32, n = 2048;
    float *G0 = calloc(H * H, 4), *G = malloc(4 * H * H), *X = malloc(4 * H * n);
    double *vals = malloc(8 * k), *vecs = malloc(8 * k * H), *all = malloc(8 * H);
    if (!G0 || !G || !X || !vals || !vecs || !all) return 1;
    for (size_t i = 0; i < H * n; i++) X[i] = frand() * ((i % H) < 256 ? 4.0f : 1.0f);
    vx_sgram_rows(G0, H, X, n, 0);
    for (int r = 0; r < reps; r++) {
        double t[2], tc[2];
        for (int path = 0; path < 2; path++) {
            memcpy(G, G0, 4 * H * H);
            double w0 = vx_wall_s(), c0 = vx_cpu_s();
            if (vx_seig_top(vals, vecs, path ? all : NULL, G, H, k)) { fprintf(stderr, "eigensolver failed\n"); return 1; }
            t[path] = vx_wall_s() - w0, tc[path] = vx_cpu_s() - c0;
        }
        printf("eigensolver top-%zu of %zu: ssyevr %.3f/%.3f  with every eigenvalue %.3f/%.3f\n", k, H, t[0], tc[0], t[1], tc[1]);
    }
    return 0;
}
