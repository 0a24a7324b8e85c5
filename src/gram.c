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
    for (int s = 0; s < nsets; s++) {
        const vx_tensor *t = sets[s].t;
        if (!(t->dtype == VX_DT_BF16 && t->q.kind == VX_Q_NONE) && t->q.kind != VX_Q_MXFP4) return 0;
    }
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
    const float *sc; size_t slab2;
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
        vx_bsyrk_rows_avx512(j->G, j->H, j->P, (j->n + 1) / 2, i0, j->sc, j->slab2);
    }
    return NULL;
}

static int bgram(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads,
                 const float *sc, size_t slab) {
    if (!vx_bgram_words(H, n) || (by_column && ld < n) || (sc && (slab < 2 || slab % 2))) return 1;
    bjob jobs[VX_THREADS_MAX];
    int T = vx_threads_cap(threads);
    size_t np = H / 32;
    if ((size_t)T > np) T = (int)np;
    atomic_size_t next = 0;
    for (int t = 0; t < T; t++)
        jobs[t] = (bjob){ G, H, X, n, ld, by_column, P, np * (size_t)t / (size_t)T, np * (size_t)(t + 1) / (size_t)T, 0, &next,
                          sc, slab / 2 };
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

int vx_bgram(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads) {
    return bgram(G, H, X, n, ld, by_column, P, threads, NULL, 0);
}

int vx_bgram_scaled(float *G, size_t H, const float *X, size_t n, size_t ld, int by_column, uint32_t *P, int threads,
                    const float *sc, size_t slab) {
    return sc ? bgram(G, H, X, n, ld, by_column, P, threads, sc, slab) : 1;
}

/* The geometry: element (vector v, value h) of a set is element offset + v·ld + h of its
 * tensor (rows), or offset + h·ld + v (columns); element e is row e / cols, column
 * e % cols of the tensor's [batch·rows][cols] view, and FP8_BLOCK's scale index is
 * (row / br)·⌈cols/bc⌉ + column / bc once rows is a multiple of br (no block straddles two
 * batches). A slab is br rows (vectors as rows) or bc columns (as columns), starting at a
 * block's first; a 32-value group lies in one block when the block is a multiple of 32
 * along the values and the first value sits at a multiple of 32. */
int vx_vecset_scales(float *sc, size_t *slab, const vx_vecset *s, uint64_t c0, size_t nc, size_t H) {
    const vx_tensor *t = s->t;
    const vx_quant *q = &t->q;
    if ((t->dtype != VX_DT_F8_E4M3 && t->dtype != VX_DT_F8_E5M2) || !nc || !H || H % VX_SCALE_GROUP ||
        (s->by_column && s->step > 1))
        return 0;
    size_t ng = H / VX_SCALE_GROUP;
    if (q->kind == VX_Q_FP8_TENSOR) {
        *slab = nc + nc % 2; /* one slab */
        if (sc) {
            float v = vx_tensor_get(q->scale, 0);
            for (size_t g = 0; g < ng; g++) sc[g] = v;
        }
        return 1;
    }
    if (q->kind != VX_Q_FP8_BLOCK || q->rows % q->br || s->ld != q->cols) return 0;
    uint64_t scn = (q->cols + q->bc - 1) / q->bc, R0 = s->offset / q->cols, C0 = s->offset % q->cols;
    uint64_t along = s->by_column ? q->bc : q->br, first = s->by_column ? C0 + c0 : R0 + c0;
    uint64_t across = s->by_column ? q->br : q->bc, h0 = s->by_column ? R0 : C0;
    if (along % 2 || first % along || across % VX_SCALE_GROUP || h0 % VX_SCALE_GROUP) return 0;
    if (s->by_column ? C0 + c0 + nc > q->cols : C0 + H > q->cols) return 0;
    *slab = (size_t)along;
    if (sc)
        for (size_t j = 0; j * along < nc; j++)
            for (size_t g = 0; g < ng; g++) {
                uint64_t v = first + j * along, h = h0 + g * VX_SCALE_GROUP;
                uint64_t idx = s->by_column ? h / q->br * scn + v / q->bc : v / q->br * scn + h / q->bc;
                sc[j * ng + g] = vx_tensor_get(q->scale, idx);
            }
    return 1;
}

int vx_gram_path(const vx_vecset *sets, int nsets, size_t H, size_t chunk) {
    if (vx_vecsets_bf16(sets, nsets)) return VX_GRAM_BF16;
    size_t slab;
    for (int s = 0; s < nsets; s++)
        if (!vx_vecset_scales(NULL, &slab, &sets[s], 0, (size_t)(sets[s].count < chunk ? sets[s].count : chunk), H))
            return VX_GRAM_BLAS;
    return nsets > 0 ? VX_GRAM_SCALED : VX_GRAM_BLAS;
}
