/*
 * stats.c — vx_stats_compute: options, the result's lifetime, and the small tools both
 * halves use (distribution summaries, sorting, phase timing). The embedding statistics
 * are stats_embed.c, the per-layer battery stats_layers.c (spec/stats.md §3, §4).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "stats.h"

const double vx_stats_pcts[VX_STATS_NPCT] = { 1, 5, 25, 50, 75, 95, 99 };

static const char *const class_names[VX_TC_COUNT] = { "empty",      "byte",       "special",      "whitespace",
                                                      "digits",     "punctuation", "ascii_word",  "ascii_other",
                                                      "partial_utf8", "cjk",      "other_unicode" };

const char *vx_token_class_name(vx_token_class c) { return (unsigned)c < VX_TC_COUNT ? class_names[c] : "?"; }

void vx_stats_opts_init(vx_stats_opts *o) {
    memset(o, 0, sizeof *o);
    o->layer_hi = UINT32_MAX;
    o->sample = 5000;
    o->dup_sample = 1000;
    o->pentachora = 1000;
    o->seed = VX_STATS_DEFAULT_SEED;
}

/* The wall and CPU time of each phase (CPU near 2x wall: both cores busy; on a shared
 * machine the CPU time is the steadier measure of the work). */
void vx_stats_phase(const char *name) {
    static double last = -1, last_cpu;
    static int on = -1;
    if (on < 0) on = getenv("VINDEX_STATS_TIMING") != NULL;
    if (!on) return;
    double t = vx_wall_s(), u = vx_cpu_s();
    if (last >= 0 && name) fprintf(stderr, "stats: %-12s %8.3f s  cpu %8.3f s\n", name, t - last, u - last_cpu);
    last = t;
    last_cpu = u;
}

/* Order-preserving unsigned key of a float (no NaN). */
static inline uint32_t fkey(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

int vx_sort_floats(float *v, size_t n) {
    if (n < 2) return VX_OK;
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return VX_ENOMEM;
    float *src = v, *dst = tmp;
    for (int pass = 0; pass < 4; pass++) { /* LSD radix, 8 bits a pass */
        size_t cnt[257] = { 0 };
        int sh = pass * 8;
        for (size_t i = 0; i < n; i++) cnt[((fkey(src[i]) >> sh) & 255) + 1]++;
        for (int b = 0; b < 256; b++) cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++) dst[cnt[(fkey(src[i]) >> sh) & 255]++] = src[i];
        float *t = src; src = dst; dst = t;
    }
    /* four passes: the result is back in v */
    free(tmp);
    return VX_OK;
}

static int float_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void vx_dist_of_floats(vx_dist *d, float *v, size_t n) {
    memset(d, 0, sizeof *d);
    d->n = n;
    if (!n) {
        d->mean = d->std = d->min = d->max = NAN;
        for (int i = 0; i < VX_STATS_NPCT; i++) d->pct[i] = NAN;
        return;
    }
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    double mean = s / (double)n, q = 0;
    for (size_t i = 0; i < n; i++) q += ((double)v[i] - mean) * ((double)v[i] - mean);
    d->mean = mean;
    d->std = sqrt(q / (double)n);
    if (vx_sort_floats(v, n)) qsort(v, n, sizeof *v, float_cmp); /* no memory for the radix scratch */
    d->min = v[0];
    d->max = v[n - 1];
    for (int i = 0; i < VX_STATS_NPCT; i++) {
        double pos = (double)(n - 1) * vx_stats_pcts[i] / 100.0;
        size_t lo = (size_t)floor(pos);
        double fr = pos - (double)lo;
        d->pct[i] = lo + 1 < n ? (double)v[lo] + ((double)v[lo + 1] - (double)v[lo]) * fr : (double)v[lo];
    }
}

static void free_parts(vx_stats *s) {
    free(s->emb.dim_mean);
    free(s->emb.dim_std);
    free(s->emb.eig);
    free(s->layers);
}

void vx_stats_free(vx_stats *s) {
    if (!s) return;
    free_parts(s);
    free(s);
}

typedef struct layers_job { vx_stats *s; const vx_index *vx; const vx_stats_opts *o; vx_err err; int rc; } layers_job;
static void *layers_run(void *arg) {
    layers_job *j = arg;
    j->rc = vx_stats_layers(j->s, j->vx, j->o, &j->err);
    return NULL;
}

int vx_stats_compute(vx_stats **out, const vx_index *vx, const vx_stats_opts *o, vx_err *err) {
    *out = NULL;
    vx_stats_opts def;
    if (!o) { vx_stats_opts_init(&def); o = &def; }
    uint32_t L = vx->meta.num_layers;
    uint32_t hi = o->layer_hi == UINT32_MAX ? L - 1 : o->layer_hi;
    if (o->layer_lo > hi || hi >= L)
        return vx_fail(err, VX_EUSAGE, "stats: layers %u-%u: this vindex has layers 0-%u", o->layer_lo, hi, L - 1);
    if (o->sample < 2 || o->sample > 10000) return vx_fail(err, VX_EUSAGE, "stats: sample %zu: expected 2..10000", o->sample);
    if (o->dup_sample < 1 || o->dup_sample > 100000)
        return vx_fail(err, VX_EUSAGE, "stats: dup-sample %zu: expected 1..100000", o->dup_sample);
    if (o->pentachora > 1000000) return vx_fail(err, VX_EUSAGE, "stats: pentachora %zu: expected 0..1000000", o->pentachora);
    int vrc = vx_vocab_check(vx, err); /* the token classes read every entry */
    if (vrc) return vrc;
    vx_stats *s = calloc(1, sizeof *s);
    if (!s) return vx_fail(err, VX_ENOMEM, "stats: out of memory");
    s->format_version = vx_format_version(vx);
    s->seed = o->seed;
    s->sample = o->sample;
    s->dup_sample = o->dup_sample;
    s->pentachora = o->pentachora;
    s->layer_lo = o->layer_lo;
    s->layer_hi = hi;
    vx_stats_opts oo = *o;
    oo.layer_hi = hi;
    vx_stats_phase(NULL);
    /* The layers touch none of the embedding numbers: they run beside the embeddings'
     * eigensolver. An embedding failure is reported first. */
    layers_job lj = { s, vx, &oo, { 0, { 0 } }, 0 };
    vx_stats_side side = { layers_run, &lj };
    int rc = vx_stats_embeddings(s, vx, &oo, &side, err);
    if (!rc && lj.rc) {
        rc = lj.rc;
        if (err) *err = lj.err;
    }
    if (rc) { vx_stats_free(s); return rc; }
    *out = s;
    return VX_OK;
}
