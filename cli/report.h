/*
 * report.h — the pieces of `vindex report` (cli/cmd_report.c): the page's sections for
 * one vindex (report_one.c) and for a pair (report_pair.c), and the helpers they share.
 * Everything is computed through the public API (include/) in this process.
 */
#ifndef VX_CLI_REPORT_H
#define VX_CLI_REPORT_H
#include <stdint.h>
#include <stdio.h>

#include "html.h"
#include "svg.h"
#include "vindex.h"
#include "vx_stats.h"

typedef struct report_opts {
    uint64_t seed;      /* every sample (default 42) */
    size_t sample;      /* tokens in the PCA scatter (default 1500) */
    size_t cos_sample;  /* rows whose pairwise cosines are histogrammed (default 1000) */
    int threads;        /* compare's BLAS threads, 0 = all */
} report_opts;

/* Sections of one vindex into b. `tag` prefixes element ids ("a"); 0 or -1 (message). */
int report_one(sbuf *b, const vx_index *vx, const char *tag, const report_opts *o, char *msg, size_t msg_size);
/* Sections comparing a and b (vx_compare); 0, or a VX_E* code with the message in msg. */
int report_pair(sbuf *b, const vx_index *a, const vx_index *vb, const report_opts *o, char *msg, size_t msg_size);

/* The pair's figures of the published analysis (report_align.c, spec/report.md §4.1), from
 * r->arrays (vx_compare with keep_arrays). */
struct vx_compare_result;
void report_align(sbuf *b, const struct vx_compare_result *r, const vx_index *a, const report_opts *o);

/* The two leading principal components of the S rows X [S][H] (centred in place):
 * coords [S][2], their variances var2[2] and the total variance (both / (S - 1)); each
 * component signed so that its entry of largest magnitude is positive. 0, or -1 when out
 * of memory or S < 2. Seeded start (stream 4 of `seed`). */
int sample_pca2(double *coords, double *var2, double *var_total, float *X, size_t S, size_t H, uint64_t seed);

/* Sections drawn from vx_stats (report_stats.c, spec/report.md §3). */
void report_stats_embed(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag);
void report_stats_depth(sbuf *b, const vx_stats *s, const char *tag);
void report_stats_directions(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag);

/* A figure: <figure class="plot" id=ID> with its title and caption; close with fig_end.
 * The caption is trusted text from this program (may hold markup). */
void fig_begin(sbuf *b, const char *id, const char *title, const char *caption);
void fig_end(sbuf *b);
/* A figure that cannot be drawn, saying why (class "na"). */
void fig_missing(sbuf *b, const char *id, const char *title, const char *why);

/* Token `id` of vx as "#id “text”" (escaped), for tables and hover text. */
void put_token(sbuf *b, const vx_index *vx, uint32_t id);

/* IEEE binary16 bits to float. */
float f16_to_f32(uint16_t h);

/* splitmix64 stream `stream` of `seed` (spec/compare.md §3), and a partial Fisher-Yates
 * of k over [0, n): ids[0..k) (ids holds n entries). */
typedef struct rng { uint64_t x; } rng;
void rng_init(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_below(rng *r, uint64_t n);
void sample_ids(uint32_t *ids, uint32_t n, size_t k, rng *r);

#endif
