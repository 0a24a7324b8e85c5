/*
 * report_one.c — the report's sections about one vindex (spec/report.md §2): the MLP
 * singular spectra and their numbers by depth, the embedding geometry, and the strongest
 * prediction / suppression directions. Data comes from the public accessors; a section
 * whose data the vindex does not hold says so in its place.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "vx_query.h"

/* ---------------------------------------------------------------- helpers */

static char *idf(char *buf, size_t n, const char *tag, const char *name) {
    snprintf(buf, n, "%s-%s", tag, name);
    return buf;
}

/* Row `id` of the embeddings as f32, times embed_scale. */
static void emb_row(float *out, const vx_index *vx, uint32_t id) {
    const vx_info *in = vx_get_info(vx);
    const uint16_t *r = vx_embeddings(vx) + (size_t)id * in->hidden_size;
    for (uint32_t k = 0; k < in->hidden_size; k++) out[k] = f16_to_f32(r[k]) * in->embed_scale;
}

/* Dot product in eight independent f32 lanes (vectorisable without reassociation flags),
 * summed in double. */
static double dot8(const float *a, const float *b, size_t n) {
    float acc[8] = { 0 };
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    double s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    for (; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void layer_label(sbuf *b, size_t i, void *ctx) { sb_printf(b, "%zu", i); }

/* ------------------------------------------------------------ sections */

static void overview(sbuf *b, const vx_index *vx, const vx_stats *st) {
    const vx_info *in = vx_get_info(vx);
    sb_puts(b, "<section><h2>Model</h2><dl class=\"kv\">");
    sb_puts(b, "<dt>model</dt><dd>");
    sb_escs(b, in->model);
    sb_puts(b, "</dd><dt>architecture</dt><dd>");
    sb_escs(b, in->architecture);
    sb_puts(b, " (");
    sb_escs(b, in->model_type);
    sb_puts(b, ", ");
    sb_escs(b, in->dtype);
    sb_puts(b, ")</dd>");
    sb_printf(b, "<dt>shape</dt><dd>%u layers × %u stored directions per layer and kind; hidden size %u; "
                 "intermediate size %u; vocabulary %u</dd>",
              in->num_layers, in->num_feats, in->hidden_size, in->intermediate_size, in->vocab_size);
    sb_printf(b, "<dt>embeddings</dt><dd>scale %g, %s</dd>", in->embed_scale,
              in->tied_embeddings ? "tied to the unembedding" : "untied");
    sb_printf(b, "<dt>format</dt><dd>version %u", st->format_version);
    char digest[65];
    if (st->format_version >= 2 && !vx_content_digest(digest, in->path, NULL))
        sb_printf(b, ", content digest <code>%s</code>", digest);
    sb_puts(b, "</dd>");
    if (st->n_lacks) {
        sb_puts(b, "<dt>lacks</dt><dd>");
        for (size_t i = 0; i < st->n_lacks; i++) {
            if (i) sb_puts(b, "; ");
            sb_escs(b, st->lacks[i]);
        }
        sb_puts(b, "</dd>");
    }
    sb_puts(b, "</dl></section>\n");
}

static void spectra(sbuf *b, const vx_index *vx, const char *tag, const vx_stats *st) {
    const vx_info *in = vx_get_info(vx);
    uint32_t L = in->num_layers, F = in->num_feats, H = in->hidden_size;
    int full = L && vx_spectrum(vx, VX_GATE, 0) && vx_spectrum(vx, VX_DOWN, 0);
    uint32_t N = full ? H : F; /* values per line */
    sb_puts(b, "<section><h2>MLP singular spectra and the weight battery by depth</h2><div class=\"grid2\">\n");
    static const char *kn[2] = { "gate", "down" };
    for (int k = 0; k < 2; k++) {
        char id[64], cap[512], lo[32], hi[32];
        svg_series *s = calloc(L, sizeof *s);
        double *y = malloc(sizeof *y * (size_t)L * N);
        char (*col)[8] = malloc(sizeof *col * L);
        if (!s || !y || !col) { b->failed = 1; free(s); free(y); free(col); return; }
        for (uint32_t l = 0; l < L; l++) {
            const float *sg = full ? vx_spectrum(vx, (vx_kind)k, l) : vx_sigma(vx, (vx_kind)k, l);
            for (uint32_t f = 0; f < N; f++) y[(size_t)l * N + f] = sg ? sg[f] : NAN;
            svg_ramp_color(col[l], L > 1 ? 0.9 * l / (L - 1) : 0);
            s[l] = (svg_series){ .y = y + (size_t)l * N, .n = N, .color = col[l] };
        }
        if (full)
            snprintf(cap, sizeof cap,
                     "The full singular spectrum σ<sub>1</sub> ≥ … of each layer's %s matrix (spectra.bin; values "
                     "beyond the rank bound are 0 and not drawn). One line per layer, coloured by depth.",
                     kn[k]);
        else
            snprintf(cap, sizeof cap,
                     "The %u largest singular values σ<sub>i</sub> of each layer's %s matrix, descending (the "
                     "directions the vindex stores; %s). One line per layer, coloured by depth.",
                     F, kn[k], "a format-version-1 vindex holds no full spectra");
        fig_begin(b, idf(id, sizeof id, tag, k ? "sigma-down" : "sigma-gate"),
                  k ? "Down singular values by layer" : "Gate singular values by layer", cap);
        svg_plot p = { .id = id, .title = k ? "down singular values" : "gate singular values",
                       .x = { "index i (descending order)", 0, NAN, NAN, 1 },
                       .y = { "singular value σᵢ (weight units, log scale)", 1, NAN, NAN, 0 } };
        snprintf(lo, sizeof lo, "layer 0");
        snprintf(hi, sizeof hi, "layer %u", L ? L - 1 : 0);
        svg_ramp r = { lo, hi };
        svg_lines(b, &p, s, L, &r);
        fig_end(b);
        free(s);
        free(y);
        free(col);
    }
    /* σ1 and the spread of the stored spectrum by depth */
    {
        char id[64];
        double *v = malloc(sizeof *v * (size_t)L * 4), *x = malloc(sizeof *x * L);
        if (!v || !x) { b->failed = 1; free(v); free(x); return; }
        for (uint32_t l = 0; l < L; l++) {
            x[l] = l;
            for (int k = 0; k < 2; k++) {
                const float *sg = vx_sigma(vx, (vx_kind)k, l);
                v[k * L + l] = sg ? sg[0] : NAN;
                v[(2 + k) * L + l] = sg && sg[F - 1] > 0 ? sg[0] / sg[F - 1] : NAN;
            }
        }
        svg_series s[2] = { { x, v, L, "gate σ₁", "var(--c0)", 1 }, { x, v + L, L, "down σ₁", "var(--c1)", 1 } };
        fig_begin(b, idf(id, sizeof id, tag, "sigma1-depth"), "Largest singular value by depth",
                  "σ<sub>1</sub> (the spectral norm ‖W‖<sub>2</sub>) of each layer's gate and down matrix.");
        svg_plot p = { .id = id, .title = "largest singular value by depth", .x = { "layer", 0, NAN, NAN, 1 },
                       .y = { "σ₁ (weight units)", 0, NAN, NAN, 0 } };
        svg_lines(b, &p, s, 2, NULL);
        fig_end(b);
        char cap[256];
        snprintf(cap, sizeof cap, "σ<sub>1</sub> / σ<sub>%u</sub>: how fast the stored part of the spectrum falls "
                                  "(the condition number of the top-%u block).", F, F);
        svg_series t[2] = { { x, v + 2 * L, L, "gate", "var(--c0)", 1 }, { x, v + 3 * L, L, "down", "var(--c1)", 1 } };
        fig_begin(b, idf(id, sizeof id, tag, "spread-depth"), "Spread of the stored spectrum by depth", cap);
        svg_plot q = { .id = id, .title = "spectrum spread by depth", .x = { "layer", 0, NAN, NAN, 1 },
                       .y = { "σ₁ / σ_F (ratio, log scale)", 1, NAN, NAN, 0 } };
        svg_lines(b, &q, t, 2, NULL);
        fig_end(b);
        free(v);
        free(x);
    }
    report_stats_depth(b, st, tag);
    sb_puts(b, "</div></section>\n");
}

/* Token classes coloured in the scatter, from the readable text. */
enum { TC_SPACE, TC_WORD, TC_DIGITS, TC_OTHER, TC_N };
static const char *const tc_name[TC_N] = { "starts with a space", "word piece", "digits", "other" };

static unsigned char token_class(const vx_index *vx, uint32_t id) {
    const char *raw, *t;
    size_t rl, n;
    if (vx_token_str(&raw, &rl, &t, &n, vx, id, NULL) || !n) return TC_OTHER;
    if (t[0] == ' ') return TC_SPACE;
    int digits = 1, letter = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        digits &= c >= '0' && c <= '9';
        letter |= (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        letter |= c >= 0xC0; /* a non-ASCII character: letters in most scripts */
    }
    return digits ? TC_DIGITS : letter ? TC_WORD : TC_OTHER;
}

typedef struct scatter_ctx { const vx_index *vx; const uint32_t *ids; const double *xy; } scatter_ctx;

static void scatter_label(sbuf *b, size_t i, void *ctx) {
    const scatter_ctx *c = ctx;
    put_token(b, c->vx, c->ids[i]);
    sb_printf(b, " (%.3g, %.3g)", c->xy[2 * i], c->xy[2 * i + 1]);
}

static void pca_scatter(sbuf *b, const vx_index *vx, const char *tag, const report_opts *o) {
    const vx_info *in = vx_get_info(vx);
    uint32_t V = in->vocab_size, H = in->hidden_size;
    size_t S = o->sample < V ? o->sample : V;
    char id[64], cap[700];
    idf(id, sizeof id, tag, "pca");
    if (S < 2) { fig_missing(b, id, "Token sample, first two principal components", "fewer than two tokens"); return; }
    uint32_t *ids = malloc(sizeof *ids * V);
    float *X = malloc(sizeof *X * S * H);
    double *xy = malloc(sizeof *xy * S * 2), *px = malloc(sizeof *px * S), *py = malloc(sizeof *py * S);
    unsigned char *g = malloc(S);
    double var2[2], tot;
    if (!ids || !X || !xy || !px || !py || !g) goto oom;
    rng r;
    rng_init(&r, o->seed, 5);
    sample_ids(ids, V, S, &r);
    for (size_t i = 0; i < S; i++) emb_row(X + i * H, vx, ids[i]);
    if (sample_pca2(xy, var2, &tot, X, S, H, o->seed)) goto oom;
    for (size_t i = 0; i < S; i++) {
        px[i] = xy[2 * i];
        py[i] = xy[2 * i + 1];
        g[i] = token_class(vx, ids[i]);
    }
    snprintf(cap, sizeof cap,
             "%zu tokens drawn with seed %llu, projected on the two leading principal components of their own "
             "centred embeddings (PC1 holds %.1f %% and PC2 %.1f %% of the sample's variance). Hover a point for "
             "its token.",
             S, (unsigned long long)o->seed, tot > 0 ? 100 * var2[0] / tot : 0, tot > 0 ? 100 * var2[1] / tot : 0);
    fig_begin(b, id, "Token sample, first two principal components", cap);
    scatter_ctx sc = { vx, ids, xy };
    svg_scatter s = { .x = px, .y = py, .n = S, .group = g, .group_name = tc_name, .ngroups = TC_N,
                      .label = scatter_label, .ctx = &sc, .radius = 2.2 };
    svg_plot p = { .id = id, .title = "PCA scatter of a token sample", .x = { "PC1 (embedding units)", 0, NAN, NAN, 0 },
                   .y = { "PC2 (embedding units)", 0, NAN, NAN, 0 }, .h = 460 };
    svg_scatterplot(b, &p, &s);
    fig_end(b);
    goto done;
oom:
    b->failed = 1;
done:
    free(ids);
    free(X);
    free(xy);
    free(px);
    free(py);
    free(g);
}

static void embeddings(sbuf *b, const vx_index *vx, const char *tag, const report_opts *o, const vx_stats *st) {
    const vx_info *in = vx_get_info(vx);
    uint32_t V = in->vocab_size, H = in->hidden_size;
    char id[64], cap[600];
    sb_puts(b, "<section><h2>Embeddings</h2><div class=\"grid2\">\n");
    report_stats_embed(b, st, vx, tag);
    /* norms of every row */
    double *norm = malloc(sizeof *norm * V);
    float *row = malloc(sizeof *row * H);
    if (!norm || !row) { b->failed = 1; free(norm); free(row); return; }
    size_t zero = 0;
    for (uint32_t t = 0; t < V; t++) {
        emb_row(row, vx, t);
        norm[t] = sqrt(dot8(row, row, H));
        zero += norm[t] < 1e-6;
    }
    snprintf(cap, sizeof cap,
             "Euclidean norm ‖e‖ of all %u embedding rows as the model uses them (stored values × %g); "
             "%zu rows are zero (‖e‖ &lt; 10<sup>−6</sup>).",
             V, in->embed_scale, zero);
    fig_begin(b, idf(id, sizeof id, tag, "norms"), "Embedding norms", cap);
    svg_hist h = { norm, V, NULL, "var(--c0)" };
    svg_plot p = { .id = id, .title = "embedding norm histogram", .x = { "‖e‖ (embedding units)", 0, NAN, NAN, 0 },
                   .y = { "tokens (count)", 0, NAN, NAN, 0 } };
    svg_histogram(b, &p, &h, 1, 60, 0);
    fig_end(b);
    free(norm);

    /* pairwise cosines of a seeded sample */
    size_t S = o->cos_sample < V ? o->cos_sample : V;
    uint32_t *ids = malloc(sizeof *ids * V);
    float *rows = malloc(sizeof *rows * S * H);
    size_t np = S * (S - 1) / 2;
    double *cs = malloc(sizeof *cs * (np ? np : 1));
    if (!ids || !rows || !cs) { b->failed = 1; free(ids); free(rows); free(cs); free(row); return; }
    /* the first S rows of stats' row sample (spec/stats.md §2: stream 0, a partial
     * Fisher-Yates of m >= S rows, whose first S entries do not depend on m) */
    rng r;
    rng_init(&r, o->seed, 0);
    sample_ids(ids, V, S, &r);
    for (size_t i = 0; i < S; i++) {
        float *e = rows + i * H;
        emb_row(e, vx, ids[i]);
        double nn = sqrt(dot8(e, e, H));
        for (uint32_t k = 0; k < H; k++) e[k] = nn > 0 ? (float)(e[k] / nn) : 0;
    }
    size_t q = 0;
    for (size_t i = 0; i < S; i++)
        for (size_t j = i + 1; j < S; j++) cs[q++] = dot8(rows + i * H, rows + j * H, H);
    snprintf(cap, sizeof cap,
             "cos(e<sub>i</sub>, e<sub>j</sub>) for all %zu pairs of the first %zu tokens of stats' sample (seed %llu). "
             "Over its %zu rows stats finds mean %.4f, median %.4f, 1st–99th percentile %.4f … %.4f.",
             np, S, (unsigned long long)o->seed, st->emb.pair_sample, st->emb.pair_cos.mean, st->emb.pair_cos.pct[3],
             st->emb.pair_cos.pct[0], st->emb.pair_cos.pct[6]);
    fig_begin(b, idf(id, sizeof id, tag, "pair-cos"), "Pairwise cosine similarity", cap);
    svg_hist hc = { cs, np, NULL, "var(--c2)" };
    svg_plot pc = { .id = id, .title = "pairwise cosine histogram", .x = { "cosine similarity (unitless)", 0, NAN, NAN, 0 },
                    .y = { "pairs (% of all pairs)", 0, NAN, NAN, 0 } };
    svg_histogram(b, &pc, &hc, 1, 80, 1);
    fig_end(b);
    free(cs);
    free(rows);
    free(ids);

    /* digits (spec/stats.md §3.6) */
    if (st->emb.n_digits < 2) fig_missing(b, idf(id, sizeof id, tag, "digits"), "Digit cosine similarity",
                                          "the vocabulary holds fewer than two of the tokens \"0\" … \"9\"");
    else {
        double m[100];
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 10; j++) m[i * 10 + j] = st->emb.digit_cos[i][j];
        snprintf(cap, sizeof cap,
                 "cos(e<sub>i</sub>, e<sub>j</sub>) between the embeddings of the tokens \"0\" … \"9\" (%d present). "
                 "A number line shows as a band along the diagonal: corr(|i − j|, cos) = %.3f, adjacent pairs "
                 "%.3f against %.3f for the others.",
                 st->emb.n_digits, st->emb.digit_corr, st->emb.digit_adj, st->emb.digit_nonadj);
        fig_begin(b, idf(id, sizeof id, tag, "digits"), "Digit cosine similarity", cap);
        svg_heat hm = { m, 10, 10, -1, 1, 1, "cosine similarity", layer_label, layer_label, NULL };
        svg_plot ph = { .id = id, .title = "digit cosine heatmap", .x = { "digit", 0, NAN, NAN, 1 },
                        .y = { "digit", 0, NAN, NAN, 1 } };
        svg_heatmap(b, &ph, &hm);
        fig_end(b);
    }
    free(row);
    pca_scatter(b, vx, tag, o);
    sb_puts(b, "</div></section>\n");
}

int report_one(sbuf *b, const vx_index *vx, const char *tag, const report_opts *o, char *msg, size_t msg_size) {
    vx_stats_opts so;
    vx_stats_opts_init(&so);
    so.seed = o->seed;
    vx_stats *st = NULL;
    vx_err err = { 0 };
    int rc = vx_stats_compute(&st, vx, &so, &err);
    if (rc) {
        snprintf(msg, msg_size, "stats: %s", err.msg);
        return rc;
    }
    overview(b, vx, st);
    spectra(b, vx, tag, st);
    embeddings(b, vx, tag, o, st);
    sb_puts(b, "<section><h2>Prediction and suppression directions</h2><div>");
    report_stats_directions(b, st, vx, tag);
    sb_puts(b, "</div></section>\n");
    vx_stats_free(st);
    return 0;
}
