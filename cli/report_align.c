/*
 * report_align.c — the pair report's figures of the published cross-scale analysis
 * (spec/report.md §4.1), drawn from the values compare's statistics are computed from
 * (vx_compare_opts.keep_arrays, spec/compare.md §11): the per-token cosine histogram, the
 * relational scatter, the digit cosine matrices and their difference, the simplex-volume
 * scatter and the alignment against token id. Point sets larger than a figure needs are
 * thinned by seeded samples (streams of --seed), so each figure stays small.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "vx_compare.h"

enum { COS_BINS = 60, REL_POINTS = 2000, ID_POINTS = 5000, ID_BINS = 100, STREAM_REL = 6, STREAM_ID = 7 };

static int cmp_u32(const void *p, const void *q) {
    uint32_t a = *(const uint32_t *)p, c = *(const uint32_t *)q;
    return (a > c) - (a < c);
}

/* q[0..k) = every index of [0, n) when k ≥ n, else a seeded sample of k of them (stream
 * `stream` of `seed`, spec/report.md P12) in increasing order; q holds n entries. */
static void sorted_sample(uint32_t *q, size_t n, size_t k, uint64_t seed, uint64_t stream) {
    if (k < n) {
        rng g;
        rng_init(&g, seed, stream);
        sample_ids(q, (uint32_t)n, k, &g);
        qsort(q, k, sizeof q[0], cmp_u32);
    } else
        for (size_t i = 0; i < k; i++) q[i] = (uint32_t)i;
}

/* n with thousands separators ("499,500"), for captions; returns out. */
static const char *grouped(char out[32], size_t n) {
    char t[32];
    int len = snprintf(t, sizeof t, "%zu", n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = t[i];
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------ held-out histogram */
static void cos_histogram(sbuf *b, const vx_compare_result *r, const vx_cmp_arrays *x) {
    char cap[700], g1[32];
    snprintf(cap, sizeof cap,
             "cos(y, A) of each of the %s held-out tokens: the target model's native row y against the aligned "
             "source row A = (P − m<sub>l</sub>)R + m<sub>s</sub> (the published definition), in %d equal bins over "
             "[min, max]. Mean %.4f, median %.4f; with a random rotation in place of R the mean is %.4f.",
             grouped(g1, x->n_test), COS_BINS, r->cosine.mean, r->cosine.median, r->baseline.mean);
    fig_begin(b, "p-cos-hist", "Per-token cosine, held-out tokens", cap);
    svg_hist h = { x->test_cos, x->n_test, NULL, "var(--c0)" };
    svg_plot p = { .id = "p-cos-hist", .title = "histogram of held-out per-token cosines",
                   .x = { "cosine similarity cos(y, A) (unitless)", 0, NAN, NAN, 0 },
                   .y = { "held-out tokens (%)", 0, NAN, NAN, 0 }, .h = 420 };
    svg_histogram(b, &p, &h, 1, COS_BINS, 1);
    fig_end(b);
}

/* ------------------------------------------------------------ relational scatter */
typedef struct pts_ctx {
    const vx_index *a;
    const vx_cmp_arrays *x;
    const uint32_t *i, *j;   /* relational: test positions of each pair; alignment: shared index */
    const double *px, *py;
} pts_ctx;

static void pair_label(sbuf *b, size_t k, void *ctx) {
    const pts_ctx *c = ctx;
    put_token(b, c->a, c->x->test_id[c->i[k]]);
    sb_puts(b, " · ");
    put_token(b, c->a, c->x->test_id[c->j[k]]);
    sb_printf(b, ": target %.4f, aligned %.4f", c->px[k], c->py[k]);
}

static void relational(sbuf *b, const vx_compare_result *r, const vx_cmp_arrays *x, const vx_index *a,
                       const report_opts *o) {
    size_t P = x->relational_pairs, m = x->relational_n, K = P < REL_POINTS ? P : REL_POINTS;
    if (K < 1) {
        fig_missing(b, "p-relational", "Relational structure", "fewer than two held-out tokens");
        return;
    }
    uint32_t *q = malloc(sizeof(uint32_t) * P), *pi = malloc(sizeof(uint32_t) * K), *pj = malloc(sizeof(uint32_t) * K);
    double *px = malloc(sizeof(double) * K), *py = malloc(sizeof(double) * K);
    size_t *start = malloc(sizeof(size_t) * (m + 1));
    if (!q || !pi || !pj || !px || !py || !start) {
        b->failed = 1;
        goto out;
    }
    /* every pair, or a seeded sample of REL_POINTS of them; drawn in pair order */
    sorted_sample(q, P, K, o->seed, STREAM_REL);
    /* pair index -> (i, j): row i holds the pairs (i, i+1) … (i, m−1) */
    start[0] = 0;
    for (size_t i = 0; i < m; i++) start[i + 1] = start[i] + (m - 1 - i);
    size_t i = 0;
    for (size_t k = 0; k < K; k++) {
        while (start[i + 1] <= q[k]) i++;
        pi[k] = (uint32_t)i;
        pj[k] = (uint32_t)(i + 1 + (q[k] - start[i]));
        px[k] = x->rel_target[q[k]];
        py[k] = x->rel_aligned[q[k]];
    }
    char cap[800], g1[32], g2[32], g3[32];
    snprintf(cap, sizeof cap,
             "Each point a pair of held-out tokens: the cosine of their native target rows (x) against the cosine "
             "of their aligned source rows (y), rows L2-normalised and not centred (the published definition). "
             "%s %s of the %s pairs among the first %s held-out tokens. Pearson r = %.4f and mean |Δcos| = %.4f "
             "over all of them; dashed: y = x.",
             K < P ? "A seeded sample of" : "All", grouped(g1, K), grouped(g2, P), grouped(g3, m),
             r->relational_correlation, r->relational_mean_abs_diff);
    fig_begin(b, "p-relational", "Relational structure", cap);
    pts_ctx c = { a, x, pi, pj, px, py };
    svg_scatter s = { .x = px, .y = py, .n = K, .label = pair_label, .ctx = &c, .diagonal = 1, .radius = 1.6 };
    svg_plot p = { .id = "p-relational", .title = "relational scatter",
                   .x = { "pair cosine, native target rows (unitless)", 0, NAN, NAN, 0 },
                   .y = { "pair cosine, aligned source rows (unitless)", 0, NAN, NAN, 0 } };
    svg_scatterplot(b, &p, &s);
    fig_end(b);
out:
    free(q);
    free(pi);
    free(pj);
    free(px);
    free(py);
    free(start);
}

/* ------------------------------------------------------------ digits */
typedef struct digit_ctx { const vx_index *a; const uint32_t *id; } digit_ctx;

static void digit_label(sbuf *b, size_t i, void *ctx) {
    const digit_ctx *c = ctx;
    const char *raw, *t;
    size_t rl, n;
    if (vx_token_str(&raw, &rl, &t, &n, c->a, c->id[i], NULL)) sb_printf(b, "#%u", c->id[i]);
    else sb_esc(b, t, n);
}

static void digits(sbuf *b, const vx_compare_result *r, const vx_cmp_arrays *x, const vx_index *a) {
    static const char *const ids[3] = { "p-digits-target", "p-digits-aligned", "p-digits-diff" };
    static const char *const titles[3] = { "Digit cosines, target", "Digit cosines, aligned source",
                                           "Digit cosines, aligned − target" };
    size_t n = x->digits_n;
    if (n < 2) {
        for (int k = 0; k < 3; k++)
            fig_missing(b, ids[k], titles[k], "fewer than two of the tokens \"0\" … \"9\" are shared");
        return;
    }
    double m[3][100], dmax = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            m[0][i * n + j] = x->digit_target[i * 10 + j];
            m[1][i * n + j] = x->digit_aligned[i * 10 + j];
            m[2][i * n + j] = m[1][i * n + j] - m[0][i * n + j];
            if (fabs(m[2][i * n + j]) > dmax) dmax = fabs(m[2][i * n + j]);
        }
    if (!(dmax > 0)) dmax = 1;
    digit_ctx dc = { a, r->digit_id };
    for (int k = 0; k < 3; k++) {
        char cap[600];
        if (k < 2)
            snprintf(cap, sizeof cap,
                     "cos between the %s rows of the %zu shared digit tokens \"0\" … \"9\", rows L2-normalised and "
                     "not centred (the published definition).",
                     k ? "aligned source" : "native target", n);
        else
            snprintf(cap, sizeof cap,
                     "The aligned source's digit cosine minus the target's, pair by pair (red: the map makes the pair "
                     "more alike than the target has it). Over the %zu pairs i &lt; j: Pearson r = %.4f, mean "
                     "|Δcos| = %.4f.",
                     n * (n - 1) / 2, r->digit_correlation, r->digit_mean_abs_diff);
        fig_begin(b, ids[k], titles[k], cap);
        svg_heat h = { m[k], n, n, k < 2 ? -1 : -dmax, k < 2 ? 1 : dmax, 1,
                       k < 2 ? "cosine similarity" : "Δ cosine (aligned − target)", digit_label, digit_label, &dc };
        svg_plot p = { .id = ids[k], .title = titles[k], .x = { "digit", 0, NAN, NAN, 1 },
                       .y = { "digit", 0, NAN, NAN, 1 } };
        svg_heatmap(b, &p, &h);
        fig_end(b);
    }
}

/* ------------------------------------------------------------ simplices */
typedef struct vol_ctx { const vx_cmp_arrays *x; } vol_ctx;

static void vol_label(sbuf *b, size_t k, void *ctx) {
    const vol_ctx *c = ctx;
    sb_printf(b, "simplex %zu: native %.6g, aligned %.6g", k, c->x->vol_native[k], c->x->vol_aligned[k]);
}

static void simplex_scatter(sbuf *b, const vx_compare_result *r, const vx_cmp_arrays *x) {
    const vx_cmp_simplices *s = &r->simplices;
    if (s->valid < 1) {
        fig_missing(b, "p-simplices", "Pentachoron volumes", "no simplex is valid in both spaces");
        return;
    }
    char cap[800], g1[32], g2[32];
    snprintf(cap, sizeof cap,
             "Cayley–Menger volume of each of %s seeded 5-token simplices (pentachora) in the target's native rows "
             "(x) and in the aligned source rows (y), %s valid in both and drawn. Volume ratio (aligned mean / "
             "native mean) %.4f, per-simplex Pearson r = %.4f (on the volumes), CV native %.4f, aligned %.4f. Log "
             "axes; dashed: y = x.",
             grouped(g1, s->n), grouped(g2, s->valid), s->volume_ratio, s->correlation, s->native_cv, s->aligned_cv);
    fig_begin(b, "p-simplices", "Pentachoron volumes", cap);
    vol_ctx c = { x };
    svg_scatter sc = { .x = x->vol_native, .y = x->vol_aligned, .n = x->n_simplices, .label = vol_label, .ctx = &c,
                       .diagonal = 1, .radius = 2 };
    svg_plot p = { .id = "p-simplices", .title = "simplex volume scatter",
                   .x = { "volume in the native target rows (embedding units⁴, log scale)", 1, NAN, NAN, 0 },
                   .y = { "volume in the aligned rows (embedding units⁴, log scale)", 1, NAN, NAN, 0 } };
    svg_scatterplot(b, &p, &sc);
    fig_end(b);
}

/* ------------------------------------------------------------ alignment by token id */
static void id_label(sbuf *b, size_t k, void *ctx) {
    const pts_ctx *c = ctx;
    put_token(b, c->a, c->x->id_a[c->i[k]]);
    sb_printf(b, ": %.4f", c->py[k]);
}

static void alignment_by_id(sbuf *b, const vx_cmp_arrays *x, const vx_index *a, const report_opts *o) {
    size_t N = x->n_shared, K = N < ID_POINTS ? N : ID_POINTS;
    uint32_t *q = malloc(sizeof(uint32_t) * (N ? N : 1));
    double *px = malloc(sizeof(double) * (K ? K : 1)), *py = malloc(sizeof(double) * (K ? K : 1));
    double bx[ID_BINS], by[ID_BINS], bs[ID_BINS], bn[ID_BINS];
    if (!q || !px || !py) {
        b->failed = 1;
        goto out;
    }
    sorted_sample(q, N, K, o->seed, STREAM_ID);
    for (size_t k = 0; k < K; k++) {
        px[k] = x->id_a[q[k]];
        py[k] = x->all_cos[q[k]];
    }
    /* the mean over every shared token (not only the drawn ones) in ID_BINS equal id ranges */
    double lo = N ? x->id_a[0] : 0, hi = N ? x->id_a[N - 1] + 1.0 : 1, w = (hi - lo) / ID_BINS;
    memset(bs, 0, sizeof bs);
    memset(bn, 0, sizeof bn);
    for (size_t i = 0; i < N; i++) {
        int k = (int)((x->id_a[i] - lo) / w);
        if (k >= ID_BINS) k = ID_BINS - 1;
        if (isfinite(x->all_cos[i])) { bs[k] += x->all_cos[i]; bn[k]++; }
    }
    for (int k = 0; k < ID_BINS; k++) {
        bx[k] = lo + w * (k + 0.5);
        by[k] = bn[k] ? bs[k] / bn[k] : NAN;
    }
    char cap[800], g1[32], g2[32];
    snprintf(cap, sizeof cap,
             "cos(y, A) of every shared token (anchors and held-out tokens included; published definition) against "
             "its id in A. Points: %s %s of the %s shared tokens; line: the mean over all of them in %d equal "
             "id ranges.",
             K < N ? "a seeded sample of" : "all", grouped(g1, K), grouped(g2, N), ID_BINS);
    fig_begin(b, "p-align-id", "Alignment by token id", cap);
    pts_ctx c = { a, x, q, NULL, px, py };
    svg_series line = { bx, by, ID_BINS, "mean per id range", "var(--c1)", 0 };
    svg_scatter s = { .x = px, .y = py, .n = K, .label = id_label, .ctx = &c, .radius = 1.3, .lines = &line, .nlines = 1 };
    svg_plot p = { .id = "p-align-id", .title = "alignment against token id", .x = { "token id in A", 0, NAN, NAN, 1 },
                   .y = { "cosine similarity cos(y, A) (unitless)", 0, NAN, NAN, 0 } };
    svg_scatterplot(b, &p, &s);
    fig_end(b);
out:
    free(q);
    free(px);
    free(py);
}

void report_align(sbuf *b, const vx_compare_result *r, const vx_index *a, const report_opts *o) {
    const vx_cmp_arrays *x = r->arrays;
    sb_puts(b, "<section><h2>The published figures</h2><div class=\"grid2\">");
    cos_histogram(b, r, x);
    relational(b, r, x, a, o);
    simplex_scatter(b, r, x);
    alignment_by_id(b, x, a, o);
    digits(b, r, x, a);
    sb_puts(b, "</div></section>\n");
}
