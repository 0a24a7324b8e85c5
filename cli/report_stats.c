/*
 * report_stats.c — the report's sections drawn from `vindex stats`' numbers
 * (vx_stats_compute, spec/stats.md): the embedding covariance eigenspectrum and its
 * cumulative variance, the embedding numbers, the weight battery by depth, and the
 * strongest prediction / suppression directions. What a version-1 vindex lacks is said
 * in place of its plot, with stats' own sentence.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "vx_stats.h"

static char *idf(char *buf, size_t n, const char *tag, const char *name) {
    snprintf(buf, n, "%s-%s", tag, name);
    return buf;
}

/* stats' sentence for a missing file whose name starts with `file`, else `fallback`. */
static const char *lack(const vx_stats *s, const char *file, const char *fallback) {
    for (size_t i = 0; i < s->n_lacks; i++)
        if (!strncmp(s->lacks[i], file, strlen(file))) return s->lacks[i];
    return fallback;
}

static void eigen(sbuf *b, const vx_stats *s, const char *tag) {
    const vx_emb_stats *e = &s->emb;
    uint32_t H = e->hidden;
    char id[64], cap[700];
    double *cum = malloc(sizeof *cum * (H ? H : 1));
    if (!cum) { b->failed = 1; return; }
    double acc = 0;
    for (uint32_t k = 0; k < H; k++) {
        acc += e->eig[k];
        cum[k] = e->total_variance > 0 ? 100 * acc / e->total_variance : NAN;
    }
    snprintf(cap, sizeof cap,
             "Eigenvalues λ<sub>k</sub> of the covariance of all %u embedding rows, descending. λ<sub>1</sub> holds "
             "%.2f %% of the variance (pc1), the first three %.2f %%; participation ratio (Σλ)²/Σλ² = %.1f "
             "(%.3f of H = %u).",
             e->rows, 100 * e->pc1, 100 * e->pc1_3, e->participation_ratio, e->pr_over_h, H);
    fig_begin(b, idf(id, sizeof id, tag, "eig"), "Embedding covariance eigenspectrum", cap);
    svg_series ev = { NULL, e->eig, H, NULL, "var(--c0)", 0 };
    svg_plot p = { .id = id, .title = "embedding eigenspectrum", .x = { "rank k", 0, NAN, NAN, 1 },
                   .y = { "eigenvalue λₖ (squared embedding units, log scale)", 1, NAN, NAN, 0 } };
    svg_lines(b, &p, &ev, 1, NULL);
    fig_end(b);
    snprintf(cap, sizeof cap,
             "Share of the total variance in the first k principal directions. 80 %% needs k = %u, 90 %% k = %u, "
             "95 %% k = %u, 99 %% k = %u of %u.",
             e->dims[0], e->dims[1], e->dims[2], e->dims[3], H);
    fig_begin(b, idf(id, sizeof id, tag, "cumvar"), "Cumulative explained variance", cap);
    double mx[4], my[4];
    for (int i = 0; i < 4; i++) {
        mx[i] = e->dims[i];
        my[i] = e->dims[i] >= 1 && e->dims[i] <= H ? cum[e->dims[i] - 1] : NAN;
    }
    svg_series cs[2] = { { NULL, cum, H, "cumulative share", "var(--c0)", 0 },
                         { mx, my, 4, "80 / 90 / 95 / 99 % reached", "var(--c1)", 2 } };
    svg_plot q = { .id = id, .title = "cumulative explained variance", .x = { "principal directions k", 0, NAN, NAN, 1 },
                   .y = { "variance explained (%)", 0, 0, 100, 0 } };
    svg_lines(b, &q, cs, 2, NULL);
    fig_end(b);
    free(cum);
}

static void row(sbuf *b, const char *name, const char *fmt_value) {
    sb_printf(b, "<tr><th>%s</th><td class=\"n\">%s</td></tr>", name, fmt_value);
}

static void numbers(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag) {
    const vx_emb_stats *e = &s->emb;
    char id[64], v[256];
    fig_begin(b, idf(id, sizeof id, tag, "emb-numbers"), "Embedding numbers",
              "As <code>vindex stats</code> reports them (spec/stats.md §3); cosines without the notebooks' +1e-8.");
    sb_puts(b, "<div class=\"tables\" style=\"display:flex;gap:18px;flex-wrap:wrap\"><table>");
    snprintf(v, sizeof v, "%.4g ± %.3g", e->norm.mean, e->norm.std);
    row(b, "norm, mean ± std", v);
    sb_puts(b, "<tr><th>smallest norm</th><td class=\"n tok\">");
    put_token(b, vx, e->norm_min_id);
    sb_printf(b, " %.4g</td></tr><tr><th>largest norm</th><td class=\"n tok\">", e->norm.min);
    put_token(b, vx, e->norm_max_id);
    sb_printf(b, " %.4g</td></tr>", e->norm.max);
    snprintf(v, sizeof v, "%llu", (unsigned long long)e->zero_rows);
    row(b, "zero rows", v);
    snprintf(v, sizeof v, "%.4f ± %.4f (%zu rows)", e->pair_cos.mean, e->pair_cos.std, e->pair_sample);
    row(b, "pairwise cosine, mean ± std", v);
    snprintf(v, sizeof v, "%.4f / %.4f", e->pc1, e->pc1_3);
    row(b, "pc1 / pc1–3 share", v);
    snprintf(v, sizeof v, "%.2f (%.4f of H)", e->participation_ratio, e->pr_over_h);
    row(b, "participation ratio", v);
    sb_puts(b, "</table><table>");
    snprintf(v, sizeof v, "%.4f (Gaussian %.4f)", e->pent_cv, e->gauss_cv);
    row(b, "pentachoron volume CV", v);
    snprintf(v, sizeof v, "%.4g", e->pent_ratio);
    row(b, "volume / Gaussian volume", v);
    snprintf(v, sizeof v, "%.4f (%d digits)", e->digit_corr, e->n_digits);
    row(b, "digit corr(|i − j|, cos)", v);
    snprintf(v, sizeof v, "%.4f / %.4f (gap %.4f)", e->digit_adj, e->digit_nonadj, e->digit_gap);
    row(b, "digit cos adjacent / not", v);
    snprintf(v, sizeof v, "%.4f / %.4f (%zu rows)", e->frac_099, e->frac_0999, e->dup_sample);
    row(b, "nn1 ≥ 0.99 / ≥ 0.999", v);
    sb_puts(b, "</table><table><tr><th>token class</th><th class=\"n\">tokens</th></tr>");
    for (int c = 0; c < VX_TC_COUNT; c++)
        sb_printf(b, "<tr><td>%s</td><td class=\"n\">%llu</td></tr>", vx_token_class_name((vx_token_class)c),
                  (unsigned long long)e->classes[c]);
    sb_printf(b, "<tr><td>(leading space)</td><td class=\"n\">%llu</td></tr>", (unsigned long long)e->leading_space);
    sb_puts(b, "</table></div>");
    fig_end(b);
}

/* One number per layer for gate (0) and down (1), or several named matrices. */
typedef double (*layer_num)(const vx_layer_stats *l, int which);

static double n_stable(const vx_layer_stats *l, int k) { return l->spec[k].full ? l->spec[k].stable_rank : NAN; }
static double n_pr(const vx_layer_stats *l, int k) { return l->spec[k].full ? l->spec[k].participation_ratio : NAN; }
static double n_active(const vx_layer_stats *l, int k) { return l->spec[k].full ? 100 * l->spec[k].active_fraction : NAN; }
static double n_rank90(const vx_layer_stats *l, int k) { return l->spec[k].full ? l->spec[k].rank_90 : NAN; }
static double n_cond(const vx_layer_stats *l, int k) { return l->spec[k].full ? l->spec[k].condition : NAN; }
static double n_topf(const vx_layer_stats *l, int k) { return l->spec[k].full ? 100 * l->spec[k].topf_share : NAN; }
static double n_sparse(const vx_layer_stats *l, int m) { return l->has_weights && l->w[m].present ? 100 * l->w[m].sparsity[2] : NAN; }
static double n_dead(const vx_layer_stats *l, int k) {
    if (!l->has_neurons || !l->neurons) return NAN;
    return 100.0 * (double)(k ? l->weak : l->dead) / (double)l->neurons;
}
static double n_coh(const vx_layer_stats *l, int k) { return k ? l->gate_subspace_sim : l->gate_coherence; }

typedef struct depth_plot {
    const char *id, *title, *caption, *ylabel;
    layer_num fn;
    int nseries, logy;
    const char *names[3];
    const char *needs;  /* file of §9 whose absence leaves it empty */
} depth_plot;

static void depth(sbuf *b, const vx_stats *s, const char *tag) {
    static const depth_plot plots[] = {
        { "stable-rank", "Stable rank by depth", "Σσ²/σ₁² of each layer's full gate and down spectrum.",
          "stable rank (dimensions)", n_stable, 2, 0, { "gate", "down" }, "spectra.bin" },
        { "pr-depth", "Participation ratio of σ by depth", "(Σσ)²/Σσ² of each layer's full singular spectrum.",
          "participation ratio (dimensions)", n_pr, 2, 0, { "gate", "down" }, "spectra.bin" },
        { "active-depth", "Active fraction by depth", "Share of singular values above 1 % of σ₁, of the rank bound.",
          "active singular values (%)", n_active, 2, 0, { "gate", "down" }, "spectra.bin" },
        { "rank90-depth", "rank₉₀ by depth", "The first k whose singular values hold 90 % of Σσ.",
          "rank₉₀ (dimensions)", n_rank90, 2, 0, { "gate", "down" }, "spectra.bin" },
        { "cond-depth", "Condition number by depth", "σ₁/σ_r over the rank bound r (log scale).",
          "condition σ₁/σ_r (ratio, log scale)", n_cond, 2, 1, { "gate", "down" }, "spectra.bin" },
        { "topf-depth", "Share of ‖W‖²_F in the stored directions",
          "Σ<sub>f&lt;F</sub> σ<sub>f</sub>² / ‖W‖<sub>F</sub>² by layer: how much of the matrix the stored directions carry.",
          "top-F share of ‖W‖²_F (%)", n_topf, 2, 0, { "gate", "down" }, "spectra.bin" },
        { "sparsity-depth", "Near-zero weights by depth", "Share of entries with |w| < 10⁻³ in each MLP matrix.",
          "entries with |w| < 1e-3 (%)", n_sparse, 3, 0, { "gate", "up", "down" }, "weight statistics" },
        { "neurons-depth", "Dead and weak neurons by depth",
          "Neurons whose score Π‖w_i‖ over gate, up and down is below 1 % (dead) or 10 % (weak) of the layer mean.",
          "neurons (% of the layer)", n_dead, 2, 0, { "dead", "weak" }, "neurons.bin" },
        { "coherence-depth", "Gate coherence between adjacent layers",
          "Layer l to l+1: mean over l's top gate directions of the best |cos| in l+1 (spec/stats.md §4.4), and "
          "the mean squared cosine of the principal angles between the two top-F gate subspaces.",
          "similarity (unitless)", n_coh, 2, 0, { "gate coherence", "subspace similarity" }, NULL },
    };
    static const char *const colors[3] = { "var(--c0)", "var(--c1)", "var(--c2)" };
    size_t L = s->n_layers;
    double *x = malloc(sizeof *x * (L ? L : 1)), *y = malloc(sizeof *y * 3 * (L ? L : 1));
    if (!x || !y) { b->failed = 1; free(x); free(y); return; }
    for (size_t i = 0; i < L; i++) x[i] = s->layers[i].layer;
    for (size_t p = 0; p < sizeof plots / sizeof plots[0]; p++) {
        const depth_plot *d = &plots[p];
        char id[64];
        idf(id, sizeof id, tag, d->id);
        size_t finite = 0;
        svg_series sr[3];
        int ns = 0;
        for (int k = 0; k < d->nseries; k++) {
            for (size_t i = 0; i < L; i++) {
                y[k * L + i] = d->fn(&s->layers[i], k);
                finite += isfinite(y[k * L + i]) && (!d->logy || y[k * L + i] > 0);
            }
            sr[ns++] = (svg_series){ x, y + k * L, L, d->names[k], colors[k], 1 };
        }
        if (!finite) {
            fig_missing(b, id, d->title,
                        d->needs ? lack(s, d->needs, "the vindex holds no weight battery (format version 1)")
                                 : "fewer than two layers");
            continue;
        }
        fig_begin(b, id, d->title, d->caption);
        /* shares and counts start at 0 */
        double ylo = d->fn == n_sparse || d->fn == n_dead || d->fn == n_topf || d->fn == n_active ? 0 : NAN;
        svg_plot pl = { .id = id, .title = d->title, .x = { "layer", 0, NAN, NAN, 1 }, .y = { d->ylabel, d->logy, ylo, NAN, 0 } };
        svg_lines(b, &pl, sr, (size_t)ns, NULL);
        fig_end(b);
    }
    free(x);
    free(y);
}

static void dir_table(sbuf *b, const char *title, const vx_dir_stats *d, size_t n, const vx_index *vx) {
    sb_printf(b, "<table><tr><th>%s</th><th class=\"n\">skew</th><th class=\"n\">excess kurtosis</th>"
                 "<th>top tokens</th></tr>", title);
    for (size_t i = 0; i < n; i++) {
        sb_printf(b, "<tr><td>%u:%u:%s</td><td class=\"n\">%.3f</td><td class=\"n\">%.2f</td><td class=\"tok\">",
                  d[i].layer, d[i].feature, d[i].kind == VX_GATE ? "gate" : "down", d[i].skew, d[i].kurtosis);
        for (size_t t = 0; t < d[i].n_tokens; t++) {
            if (t) sb_puts(b, "  ");
            put_token(b, vx, d[i].tokens[t]);
        }
        sb_puts(b, "</td></tr>");
    }
    sb_puts(b, "</table>");
}

static void directions(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag) {
    char id[64];
    idf(id, sizeof id, tag, "directions");
    if (!s->has_moments || (!s->n_prediction && !s->n_suppression)) {
        fig_missing(b, id, "Strongest prediction and suppression directions",
                    s->has_moments ? "no down direction has a skewed projection"
                                   : lack(s, "moments.bin", "the vindex holds no moments.bin (format version 1)"));
        return;
    }
    fig_begin(b, id, "Strongest prediction and suppression directions",
              "Stored down directions whose projection through the unembedding is heavy-tailed (largest excess "
              "kurtosis) with a positive skew (prediction) or a negative one (suppression), and the tokens at the "
              "heavy end (spec/stats.md §4.5). Direction as layer:feature:kind.");
    sb_puts(b, "<div class=\"tables\">");
    dir_table(b, "prediction", s->prediction, s->n_prediction, vx);
    dir_table(b, "suppression", s->suppression, s->n_suppression, vx);
    sb_puts(b, "</div>");
    fig_end(b);
}

void report_stats_embed(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag) {
    eigen(b, s, tag);
    numbers(b, s, vx, tag);
}

void report_stats_depth(sbuf *b, const vx_stats *s, const char *tag) { depth(b, s, tag); }

void report_stats_directions(sbuf *b, const vx_stats *s, const vx_index *vx, const char *tag) {
    directions(b, s, vx, tag);
}
