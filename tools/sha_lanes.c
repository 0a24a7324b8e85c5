/*
 * sha_lanes.c — the hash-only floor of `verify` with its own SHA-256 lanes
 * (src/shalanes.c): every file of DIR cut into 16 MiB ranges, largest first, drained on
 * THREADS threads (default: the cores online), nothing else computed. Prints the best
 * in-process time of REPS runs as `floor_ms=…` (compare with a whole process minus
 * /bin/true) and whether the lanes ran on SHA-NI.
 *
 *   sha_lanes DIR [THREADS] [REPS]
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "common.h"
#include "kern.h"
#include "shalanes.h"

#define CHUNK ((uint64_t)16 << 20)

static void *drain(void *q) {
    vx_sha_drain(q);
    return NULL;
}

static int by_len_desc(const void *a, const void *b) {
    const vx_sha_range *x = *(vx_sha_range *const *)a, *y = *(vx_sha_range *const *)b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: sha_lanes DIR [THREADS] [REPS]\n");
        return 2;
    }
    int T = argc > 2 ? atoi(argv[2]) : vx_kern_threads(), reps = argc > 3 ? atoi(argv[3]) : 5;
    if (T < 1 || T > 64 || reps < 1) {
        fprintf(stderr, "sha_lanes: THREADS in 1..64, REPS >= 1\n");
        return 2;
    }
    int dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    vx_sha_range *r = NULL;
    size_t n = 0, cap = 0;
    uint64_t bytes = 0;
    struct dirent *de;
    struct stat st;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) >= sizeof r->name || fstatat(dfd, de->d_name, &st, 0) || !S_ISREG(st.st_mode) || !st.st_size)
            continue;
        for (uint64_t off = 0; off < (uint64_t)st.st_size; off += CHUNK) {
            if (n == cap && !(r = realloc(r, (cap = cap ? 2 * cap : 256) * sizeof *r))) return 1;
            memset(&r[n], 0, sizeof r[n]);
            memcpy(r[n].name, de->d_name, strlen(de->d_name) + 1);
            r[n].off = off;
            r[n].len = (uint64_t)st.st_size - off < CHUNK ? (uint64_t)st.st_size - off : CHUNK;
            n++;
        }
        bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    vx_sha_range **order = malloc((n + 1) * sizeof *order);
    if (!order) return 1;
    for (size_t i = 0; i < n; i++) order[i] = &r[i];
    qsort(order, n, sizeof *order, by_len_desc);
    double best = 0;
    for (int k = 0; k < reps; k++) {
        vx_sha_queue q = { dfd, order, n, 0 };
        pthread_t tid[64];
        double t0 = vx_wall_ms();
        for (int i = 1; i < T; i++) pthread_create(&tid[i], NULL, drain, &q);
        vx_sha_drain(&q);
        for (int i = 1; i < T; i++) pthread_join(tid[i], NULL);
        double ms = vx_wall_ms() - t0;
        if (k == 0 || ms < best) best = ms;
        for (size_t i = 0; i < n; i++)
            if (r[i].rc) {
                fprintf(stderr, "sha_lanes: %s\n", r[i].msg);
                return 1;
            }
    }
    printf("floor_ms=%.1f bytes=%llu threads=%d sha_ni=%d\n", best, (unsigned long long)bytes, T, vx_sha_ni());
    return 0;
}
