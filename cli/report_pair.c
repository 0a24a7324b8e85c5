/*
 * report_pair.c — the report's sections comparing two vindexes (spec/report.md §3):
 * what vx_compare computes (spec/compare.md), drawn as the published cross-scale analysis
 * draws it, and the layer x layer similarity of the two models' gate and down subspaces.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "vx_compare.h"

typedef struct pair_ctx { const vx_index *a, *b; } pair_ctx;

static void a_layer(sbuf *b, size_t i, void *ctx) { sb_printf(b, "A%zu", i); }
static void b_layer(sbuf *b, size_t i, void *ctx) { sb_printf(b, "B%zu", i); }

static void num_row(sbuf *b, const char *name, double v) {
    sb_puts(b, "<tr><th>");
    sb_puts(b, name);
    sb_puts(b, "</th><td class=\"n\">");
    if (isfinite(v)) sb_printf(b, "%.4f", v);
    else sb_puts(b, "—");
    sb_puts(b, "</td></tr>");
}

static void summary(sbuf *b, const vx_compare_result *r, const vx_index *a, const vx_index *vb) {
    const vx_info *ia = vx_get_info(a), *ib = vx_get_info(vb);
    sb_puts(b, "<section><h2>Alignment summary</h2><div class=\"grid2\"><figure class=\"plot\" id=\"p-summary\">"
               "<figcaption><h3>The comparison</h3><p>Orthogonal Procrustes fitted on anchor tokens and measured "
               "on held-out tokens (spec/compare.md). The baseline replaces the fitted rotation by a random "
               "orthogonal one.</p></figcaption><div class=\"tables\"><table>");
    sb_printf(b, "<tr><th>A</th><td>");
    sb_escs(b, ia->model);
    sb_printf(b, " (H = %u, %u layers)</td></tr><tr><th>B</th><td>", ia->hidden_size, ia->num_layers);
    sb_escs(b, ib->model);
    sb_printf(b, " (H = %u, %u layers)</td></tr>", ib->hidden_size, ib->num_layers);
    sb_printf(b, "<tr><th>shared tokens</th><td class=\"n\">%zu (matched by %s)</td></tr>", r->shared,
              r->by_id ? "id" : "readable text");
    sb_printf(b, "<tr><th>anchors / held-out</th><td class=\"n\">%zu / %zu</td></tr>", r->n_anchors, r->n_test);
    sb_printf(b, "<tr><th>source → target</th><td class=\"n\">%s (%u) → %s (%u)</td></tr>", r->source_is_a ? "A" : "B",
              r->dim_source, r->source_is_a ? "B" : "A", r->dim_target);
    if (r->pca_dim)
        sb_printf(b, "<tr><th>PCA of the source</th><td class=\"n\">%u dims, %.4f of the variance, fitted on %zu tokens</td></tr>",
                  r->pca_dim, r->pca_variance_retained, r->pca_fit_tokens);
    sb_printf(b, "<tr><th>Procrustes scale Σσ</th><td class=\"n\">%.6g</td></tr>", r->procrustes_scale);
    sb_puts(b, "</table><table><tr><th>held-out cosine</th><th class=\"n\">Procrustes</th><th class=\"n\">random rotation</th></tr>");
    const char *names[4] = { "mean", "std", "median", "min" };
    double va[4] = { r->cosine.mean, r->cosine.std, r->cosine.median, r->cosine.min };
    double vb4[4] = { r->baseline.mean, r->baseline.std, r->baseline.median, r->baseline.min };
    for (int i = 0; i < 4; i++)
        sb_printf(b, "<tr><th>%s</th><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td></tr>", names[i], va[i], vb4[i]);
    sb_printf(b, "<tr><th>L2 distance, mean</th><td class=\"n\">%.4g</td><td class=\"n\">%.4g</td></tr>", r->l2_mean,
              r->baseline_l2_mean);
    sb_puts(b, "</table><table>");
    char nm[96];
    snprintf(nm, sizeof nm, "relational correlation (%zu tokens)", r->relational_n);
    num_row(b, nm, r->relational_correlation);
    num_row(b, "relational mean |Δcos|", r->relational_mean_abs_diff);
    snprintf(nm, sizeof nm, "digit correlation (%zu digits)", r->digits_n);
    num_row(b, nm, r->digit_correlation);
    num_row(b, "digit mean |Δcos|", r->digit_mean_abs_diff);
    sb_puts(b, "</table></div></figure>\n");
}

static void distributions(sbuf *b, const vx_compare_result *r) {
    /* percentiles of the held-out cosines, Procrustes against the random rotation */
    static const double pk[9] = { 1, 5, 10, 25, 50, 75, 90, 95, 99 };
    double x[11], fa[10], fb[10];
    fig_begin(b, "p-quantiles", "Held-out cosine by percentile",
              "Percentiles 1 … 99 of the per-token cosine between each held-out token's target row and its mapped "
              "source row, for the fitted rotation and for a random one.");
    svg_series s[2] = { { pk, r->cosine.pct, 9, "Procrustes", "var(--c0)", 1 },
                        { pk, r->baseline.pct, 9, "random rotation", "var(--c1)", 1 } };
    svg_plot p = { .id = "p-quantiles", .title = "held-out cosine percentiles", .x = { "percentile (%)", 0, 0, 100, 0 },
                   .y = { "cosine similarity (unitless)", 0, NAN, NAN, 0 } };
    svg_lines(b, &p, s, 2, NULL);
    fig_end(b);
    for (int k = 0; k < 10; k++) {
        x[k] = k / 10.0;
        fa[k] = 100 * r->cosine.frac_above[k];
        fb[k] = 100 * r->baseline.frac_above[k];
    }
    fig_begin(b, "p-frac-above", "Alignment distribution",
              "Share of held-out tokens whose cosine with their mapped row exceeds t, for t = 0, 0.1, …, 0.9.");
    svg_series t[2] = { { x, fa, 10, "Procrustes", "var(--c0)", 1 }, { x, fb, 10, "random rotation", "var(--c1)", 1 } };
    svg_plot q = { .id = "p-frac-above", .title = "fraction of tokens above a cosine threshold",
                   .x = { "cosine threshold t", 0, 0, 0.9, 0 }, .y = { "tokens with cosine > t (%)", 0, 0, 100, 0 } };
    svg_lines(b, &q, t, 2, NULL);
    fig_end(b);
    if (r->n_residual) {
        fig_begin(b, "p-residual", "Residual spectrum",
                  "The largest eigenvalues (at most 200) of the published residual second-moment matrix "
                  "r<sup>T</sup>r / n over the held-out tokens, r = y − A (target row minus aligned source row, "
                  "not centred): how much of the disagreement lies in a few directions.");
        svg_series e = { NULL, r->residual_eig, r->n_residual, NULL, "var(--c3)", 1 };
        svg_plot pe = { .id = "p-residual", .title = "residual eigenvalues", .x = { "eigenvalue rank", 0, NAN, NAN, 1 },
                        .y = { "eigenvalue (squared embedding units, log scale)", 1, NAN, NAN, 0 } };
        svg_lines(b, &pe, &e, 1, NULL);
        fig_end(b);
    } else fig_missing(b, "p-residual", "Residual spectrum", "no residual eigenvalues were computed");
    sb_puts(b, "</div></section>\n");
}

static void token_table(sbuf *b, const char *title, const vx_cmp_token *t, size_t n, const vx_index *a) {
    sb_printf(b, "<table><tr><th>%s</th><th class=\"n\">cosine</th></tr>", title);
    for (size_t i = 0; i < n; i++) {
        sb_puts(b, "<tr><td class=\"tok\">");
        put_token(b, a, t[i].id_a);
        sb_printf(b, "</td><td class=\"n\">%.4f</td></tr>", t[i].cosine);
    }
    sb_puts(b, "</table>");
}

static void tokens(sbuf *b, const vx_compare_result *r, const vx_index *a) {
    sb_puts(b, "<section><h2>Best and worst aligned tokens</h2><div>");
    fig_begin(b, "p-best-worst", "Best and worst aligned tokens",
              "Over every shared token: the highest and lowest cosine between the target row and the mapped source "
              "row (tokens named by A's id and text).");
    sb_puts(b, "<div class=\"tables\" style=\"display:flex;gap:18px;flex-wrap:wrap\">");
    token_table(b, "best", r->best, r->n_best, a);
    token_table(b, "worst", r->worst, r->n_best, a);
    sb_puts(b, "</div>");
    fig_end(b);
    sb_puts(b, "</div></section>\n");
}

static void layers(sbuf *b, const vx_compare_result *r) {
    sb_puts(b, "<section><h2>MLP subspaces, layer by layer</h2><div class=\"grid2\">");
    for (int k = 0; k < 2; k++) {
        const char *id = k ? "p-layers-down" : "p-layers-gate";
        char cap[400];
        snprintf(cap, sizeof cap,
                 "Mean squared cosine of the principal angles between the spans of the stored %s directions of "
                 "layer a of A and layer b of B, both in the target's space (1: same subspace; a random pair "
                 "of subspaces sits near the ratio of their dimension to the width).",
                 k ? "down" : "gate");
        fig_begin(b, id, k ? "Down subspace similarity" : "Gate subspace similarity", cap);
        svg_heat h = { k ? r->down_sim : r->gate_sim, r->layers_a, r->layers_b, 0, 1, 0, "similarity (0 … 1)",
                       a_layer, b_layer, NULL };
        svg_plot p = { .id = id, .title = k ? "down subspace similarity" : "gate subspace similarity",
                       .x = { "layer of B", 0, NAN, NAN, 1 }, .y = { "layer of A", 0, NAN, NAN, 1 } };
        svg_heatmap(b, &p, &h);
        fig_end(b);
    }
    sb_puts(b, "</div></section>\n");
}

int report_pair(sbuf *b, const vx_index *a, const vx_index *vb, const report_opts *o, char *msg, size_t msg_size) {
    vx_compare_opts co;
    vx_compare_opts_init(&co);
    co.seed = o->seed;
    co.threads = o->threads;
    co.keep_arrays = 1; /* the published figures are drawn from the per-token values */
    vx_compare_result *r = NULL;
    vx_err err = { 0 };
    int rc = vx_compare(&r, a, vb, &co, &err);
    if (rc) {
        snprintf(msg, msg_size, "compare: %s", err.msg);
        return rc;
    }
    summary(b, r, a, vb);
    distributions(b, r);
    if (r->arrays) report_align(b, r, a, o);
    tokens(b, r, a);
    layers(b, r);
    vx_compare_free(r);
    return 0;
}
