/*
 * bench_eig.c — the extractor's eigensolver step alone, both paths alternated:
 *
 *   bench_eig [H N K SURE ROUNDS]     (default 4096 12288 160 128 2: one 8B-shape matrix)
 *
 * Builds the f32 Gram matrix of a random N×H matrix with a decaying spectrum (columns
 * scaled 1/(1 + j/10) + 0.05, like tools/mkckpt's) and of a flat one (Gaussian), then
 * times vx_seig_basis (every eigenvalue and a K-vector basis whose leading SURE are
 * certified eigenvectors: what extract asks for) on the one-stage path (VX_EIG_TRI) and
 * the two-stage path, alternating, in wall and process CPU seconds, and says whether the
 * two-stage answer was certified or handed to the fallback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linalg.h"
#include "clock.h"
#include "mem.h"

int main(int argc, char **argv) {
    size_t H = argc > 1 ? strtoul(argv[1], NULL, 10) : 4096, N = argc > 2 ? strtoul(argv[2], NULL, 10) : 12288;
    size_t K = argc > 3 ? strtoul(argv[3], NULL, 10) : 160, sure = argc > 4 ? strtoul(argv[4], NULL, 10) : 128;
    int rounds = argc > 5 ? atoi(argv[5]) : 2;
    if (!H || !N || !K || sure > K || K >= H || rounds < 1) {
        fprintf(stderr, "usage: bench_eig [H N K SURE ROUNDS]\n");
        return 2;
    }
    float *A = vx_big_array(N * H, sizeof(float)), *G = vx_big_array(H * H, sizeof(float));
    float *G2 = vx_big_array(H * H, sizeof(float));
    double *vals = malloc(sizeof(double) * K), *vecs = malloc(sizeof(double) * K * H), *all = malloc(sizeof(double) * H);
    if (!A || !G || !G2 || !vals || !vecs || !all) return 1;
    unsigned long long s = 88172645463325252ull;
    for (int kind = 0; kind < 2; kind++) {
        for (size_t i = 0; i < N * H; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            A[i] = (float)((double)(s >> 11) * 0x1.0p-52 - 1.0);
            if (kind == 0) A[i] *= (float)(1.0 / (1.0 + (double)(i % H) / 10.0) + 0.05);
        }
        memset(G, 0, sizeof(float) * H * H);
        vx_sgram_rows(G, H, A, N, 0);
        for (int r = 0; r < rounds; r++)
            for (int path = VX_EIG_TRI; path <= VX_EIG_2STAGE; path++) {
                unsigned long a0, f0, a1, f1;
                memcpy(G2, G, sizeof(float) * H * H);
                vx_eig_path(path);
                vx_eig_counts(&a0, &f0);
                double t = vx_wall_s(), c = vx_cpu_s();
                int rc = vx_seig_basis(vals, vecs, all, G2, H, K, sure, NULL, NULL, NULL);
                double dt = vx_wall_s() - t, dc = vx_cpu_s() - c;
                vx_eig_counts(&a1, &f1);
                printf("EIG %s H=%zu N=%zu K=%zu sure=%zu path=%s wall_s=%.2f cpu_s=%.2f rc=%d%s\n",
                       kind ? "flat" : "decaying", H, N, K, sure, path == VX_EIG_TRI ? "one-stage" : "two-stage", dt, dc, rc,
                       path == VX_EIG_TRI ? "" : f1 > f0 ? " (not certified: fell back)" : " (certified)");
                fflush(stdout);
            }
    }
    vx_big_free(A);
    vx_big_free(G);
    vx_big_free(G2);
    free(vals); free(vecs); free(all);
    return 0;
}
