/*
 * gram.c — the extractor's Gram products of bf16 vectors on several threads (gram.h; the
 * kernel is kern_bsyrk.c). VINDEX_GRAM=blas turns this path off, so that
 * the tests can compare it with OpenBLAS's ssyrk on the same checkpoint.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gram.h"
#include "kern.h"

int vx_vecsets_bf16(const vx_vecset *sets, int nsets) {
    for (int s = 0; s < nsets; s++)
        if (sets[s].t->dtype != VX_DT_BF16 || sets[s].t->q.kind != VX_Q_NONE) return 0;
    return nsets > 0;
}

int vx_bgram_cpu(void) {
    const char *e = getenv("VINDEX_GRAM");
    return !(e && !strcmp(e, "blas")) && vx_cpu_bf16();
}

size_t vx_bgram_words(size_t H, size_t n) {
    return vx_bgram_cpu() && H && H % 32 == 0 && n ? vx_bsyrk_words(H, n) : 0;
}

typedef struct bjob {
    float *G; size_t H; const float *X; size_t n, ld; int by_column; uint32_t *P;
    size_t p0, p1; int lost;
    atomic_size_t *next;
} bjob;

static void *pack_worker(void *arg) {
    bjob *j = arg;
    j->lost = j->by_column ? vx_bsyrk_pack_cols_avx512(j->P, j->X, j->ld, j->n, j->p0, j->p1)
                           : vx_bsyrk_pack_rows_avx512(j->P, j->X, j->n, j->H, j->p0, j->p1);
    return NULL;
}

/* row blocks from a shared counter, the widest (first) first */
static void *rows_worker(void *arg) {
    bjob *j = arg;
    for (;;) {
        size_t i0 = atomic_fetch_add(j->next, VX_SYRK_MC);
        if (i0 >= j->H) break;
        vx_bsyrk_rows_avx512(j->G, j->H, j->P, (j->n + 1) / 2, i0);
    }
    return NULL;
}

int vx_bgram(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads) {
    if (!vx_bgram_words(H, n) || (by_column && ld < n)) return 1;
    bjob jobs[VX_THREADS_MAX];
    int T = vx_threads_cap(threads);
    size_t np = H / 32;
    if ((size_t)T > np) T = (int)np;
    atomic_size_t next = 0;
    for (int t = 0; t < T; t++)
        jobs[t] = (bjob){ G, H, X, n, ld, by_column, P, np * (size_t)t / (size_t)T, np * (size_t)(t + 1) / (size_t)T, 0, &next };
    vx_run_parallel(pack_worker, jobs, sizeof jobs[0], T);
    for (int t = 0; t < T; t++)
        if (jobs[t].lost) return 1;
    vx_run_parallel(rows_worker, jobs, sizeof jobs[0], T);
    /* the diagonal blocks' tiles also wrote below the diagonal: cleared, so that the
     * extractor's G (zeroed, its lower triangle untouched by ssyrk) is the same matrix
     * whichever path formed it */
    for (size_t i = 0; i < H; i++)
        for (size_t j = i / 32 * 32; j < i; j++) G[i * H + j] = 0;
    return 0;
}
