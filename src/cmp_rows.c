/*
 * cmp_rows.c — the embedding rows as `vindex compare` reads them: f16 from the maps, times
 * embed_scale, minus a mean, in f32 (F16C where the CPU has it) on every thread, with
 * column sums in double that do not depend on the thread count (spec/compare.md §3, §9).
 * Every embedding row and stored direction the comparison reads goes through here.
 */
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cmp.h"
#include "kern.h"

void cmp_side_init(side *s, const vx_index *vx) {
    const vx_info *in = vx_get_info(vx);
    s->vx = vx;
    s->emb = vx_embeddings(vx);
    s->H = in->hidden_size;
    s->V = in->vocab_size;
    s->L = in->num_layers;
    s->F = in->num_feats;
    s->scale = in->embed_scale > 0 ? in->embed_scale : 1.0f;
}

/* dst[n] = f16 row * sc - mu, in f32: F16C + FMA when the CPU has them (every source row
 * of the PCA, the projections, the all-token pass and the map-free Grams goes through
 * here), else the table. */
#if defined(__x86_64__)
__attribute__((target("avx2,f16c,fma"))) void cmp_cvt_f16c(float *dst, const uint16_t *e, size_t n, float sc,
                                                            const float *mu, const float *lut) {
    size_t h = 0;
    __m256 vs = _mm256_set1_ps(sc);
    for (; h + 8 <= n; h += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(e + h)));
        __m256 m = mu ? _mm256_loadu_ps(mu + h) : _mm256_setzero_ps();
        _mm256_storeu_ps(dst + h, _mm256_fmsub_ps(v, vs, m));
    }
    for (; h < n; h++) dst[h] = fmaf(lut[e[h]], sc, mu ? -mu[h] : 0.0f); /* fused, as above */
}
#endif
/* One row of side s: dst[H] = row · scale − mu (f32). */
void cmp_cvt_row(const ctx *c, const side *s, float *dst, uint32_t id, const float *mu) {
    const uint16_t *e = s->emb + (size_t)id * s->H;
    float sc = s->scale;
#if defined(__x86_64__)
    if (c->avx2) { cmp_cvt_f16c(dst, e, s->H, sc, mu, c->lut); return; }
#endif
    for (size_t h = 0; h < s->H; h++) dst[h] = c->lut[e[h]] * sc - mu[h];
}

/* dst[n] = f16 src[n] as f32 (stored directions: no scale, no mean). */
void cmp_cvt_row_raw(const ctx *c, float *dst, const uint16_t *e, size_t n) {
#if defined(__x86_64__)
    if (c->avx2) { cmp_cvt_f16c(dst, e, n, 1.0f, c->zero, c->lut); return; }
#endif
    for (size_t h = 0; h < n; h++) dst[h] = c->lut[e[h]];
}

/* cmp_gather(): rows of one side into X [n][H] f32, row · scale − mu, on c->nthr threads. Row i is
 * side id map[idx ? idx[i] : first + i]. With sums, the column sums of X are added to
 * sums [H] in double, in row order whatever the thread count (threads split the columns),
 * so results do not depend on it. Every embedding row the comparison reads goes through
 * here. */
typedef struct gjob {
    const ctx *c;
    const side *s;
    const uint32_t *map, *idx;
    size_t first, n, r0, r1;  /* rows [r0, r1) to convert; then columns [r0c, r1c) to sum */
    size_t c0, c1;
    const float *mu;
    float *X;
    double *sums;
} gjob;

static void *gather_worker(void *arg) {
    gjob *j = arg;
    size_t H = j->s->H;
    for (size_t i = j->r0; i < j->r1; i++)
        cmp_cvt_row(j->c, j->s, j->X + i * H, j->map[j->idx ? j->idx[i] : j->first + i], j->mu);
    return NULL;
}
static void *colsum_worker(void *arg) {
    gjob *j = arg;
    size_t H = j->s->H;
    for (size_t i = 0; i < j->n; i++) {
        const float *x = j->X + i * H;
        for (size_t h = j->c0; h < j->c1; h++) j->sums[h] += (double)x[h];
    }
    return NULL;
}

void cmp_gather(const ctx *c, const side *s, const uint32_t *map, const uint32_t *idx, size_t first, size_t n,
                   const float *mu, float *X, double *sums) {
    gjob jobs[VX_THREADS_MAX];
    int T = c->nthr;
    if ((size_t)T > n / 16) T = n / 16 > 1 ? (int)(n / 16) : 1;
    for (int t = 0; t < T; t++)
        jobs[t] = (gjob){ c, s, map, idx, first, n, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T,
                          s->H * (size_t)t / (size_t)T, s->H * (size_t)(t + 1) / (size_t)T, mu ? mu : c->zero, X, sums };
    vx_run_parallel(gather_worker, jobs, sizeof jobs[0], T);
    if (sums) vx_run_parallel(colsum_worker, jobs, sizeof jobs[0], T);
}

/* dst[n] = src[n] widened to double, on c->nthr threads (the anchor/test rows). */
typedef struct wjob { double *dst; const float *src; size_t i0, i1; } wjob;
static void *widen_worker(void *arg) {
    wjob *j = arg;
    for (size_t i = j->i0; i < j->i1; i++) j->dst[i] = j->src[i];
    return NULL;
}
void cmp_widen(const ctx *c, double *dst, const float *src, size_t n) {
    wjob jobs[VX_THREADS_MAX];
    int T = n < ((size_t)1 << 16) ? 1 : c->nthr;
    for (int t = 0; t < T; t++) jobs[t] = (wjob){ dst, src, n * (size_t)t / (size_t)T, n * (size_t)(t + 1) / (size_t)T };
    vx_run_parallel(widen_worker, jobs, sizeof jobs[0], T);
}

void cmp_row_f64(const ctx *c, const side *s, double *dst, uint32_t id) {
    const uint16_t *e = s->emb + (size_t)id * s->H;
    for (size_t h = 0; h < s->H; h++) dst[h] = (double)(c->lut[e[h]] * s->scale);
}

/* dst [nb][d] = src − mu in double: the centred rows the metrics work with (the f32 rows
 * widened exactly, then one rounding). */
void cmp_centre_rows(double *dst, const float *src, const double *mu, size_t nb, size_t d) {
    for (size_t i = 0; i < nb; i++)
        for (size_t h = 0; h < d; h++) dst[i * d + h] = (double)src[i * d + h] - mu[h];
}
