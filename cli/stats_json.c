/*
 * stats_json.c — the JSON form of a vx_stats result (spec/stats.md §7), the one
 * machine-readable contract of `vindex stats --json` and of anything else in cli/ that
 * shows statistics (the HTML report embeds exactly this text). Built from the public
 * result struct; undefined numbers are null.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_stats.h"

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }
static void add(cJSON *o, const char *k, double v) { cJSON_AddItemToObject(o, k, num(v)); }

static cJSON *tok_str(const vx_index *vx, uint32_t id) {
    const char *raw, *text;
    size_t rl, tl;
    if (vx_token_str(&raw, &rl, &text, &tl, vx, id, NULL)) return cJSON_CreateString("");
    char *c = malloc(rl + 1);
    if (!c) return cJSON_CreateNull();
    memcpy(c, raw, rl);
    c[rl] = 0;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

static void add_pcts(cJSON *o, const vx_dist *d) {
    static const char *const k[VX_STATS_NPCT] = { "p1", "p5", "p25", "p50", "p75", "p95", "p99" };
    for (int i = 0; i < VX_STATS_NPCT; i++) add(o, k[i], d->pct[i]);
}

static void add_dist(cJSON *o, const vx_dist *d) {
    add(o, "mean", d->mean);
    add(o, "std", d->std);
    add(o, "min", d->min);
    add(o, "max", d->max);
    add_pcts(o, d);
}

static cJSON *darray(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, num(v[i]));
    return a;
}

static cJSON *extremes(const vx_index *vx, const vx_tok_val *t, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "token", tok_str(vx, t[i].token_id));
        cJSON_AddNumberToObject(o, "token_id", t[i].token_id);
        add(o, "norm", t[i].value);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *embeddings(const vx_emb_stats *e, const vx_index *vx) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", e->rows);
    cJSON_AddNumberToObject(o, "hidden", e->hidden);
    add(o, "embed_scale", e->embed_scale);

    cJSON *n = cJSON_AddObjectToObject(o, "norms");
    add_dist(n, &e->norm);
    cJSON_AddNumberToObject(n, "zero_rows", (double)e->zero_rows);
    cJSON_AddItemToObject(n, "min_token", tok_str(vx, e->norm_min_id));
    cJSON_AddNumberToObject(n, "min_token_id", e->norm_min_id);
    cJSON_AddItemToObject(n, "max_token", tok_str(vx, e->norm_max_id));
    cJSON_AddNumberToObject(n, "max_token_id", e->norm_max_id);
    cJSON_AddItemToObject(n, "largest", extremes(vx, e->largest, e->n_extreme));
    cJSON_AddItemToObject(n, "smallest", extremes(vx, e->smallest, e->n_extreme));

    cJSON *d = cJSON_AddObjectToObject(o, "dims");
    add(d, "mean_of_means", e->mean_of_means);
    add(d, "mean_of_stds", e->mean_of_stds);
    add(d, "std_of_means", e->std_of_means);
    add(d, "max_abs_mean", e->max_abs_mean);
    cJSON_AddNumberToObject(d, "max_abs_mean_dim", e->max_abs_mean_dim);
    add(d, "max_std", e->max_std);
    cJSON_AddNumberToObject(d, "max_std_dim", e->max_std_dim);
    cJSON_AddItemToObject(d, "mean", darray(e->dim_mean, e->hidden));
    cJSON_AddItemToObject(d, "std", darray(e->dim_std, e->hidden));

    cJSON *p = cJSON_AddObjectToObject(o, "pairwise_cosine");
    cJSON_AddNumberToObject(p, "sample", (double)e->pair_sample);
    cJSON_AddNumberToObject(p, "pairs", (double)e->pair_cos.n);
    add_dist(p, &e->pair_cos);

    cJSON *s = cJSON_AddObjectToObject(o, "spectrum");
    add(s, "total_variance", e->total_variance);
    add(s, "pc1", e->pc1);
    add(s, "pc1_3", e->pc1_3);
    add(s, "participation_ratio", e->participation_ratio);
    add(s, "pr_over_h", e->pr_over_h);
    static const char *const dk[4] = { "dims_80", "dims_90", "dims_95", "dims_99" };
    for (int k = 0; k < 4; k++) cJSON_AddNumberToObject(s, dk[k], e->dims[k]);
    cJSON_AddItemToObject(s, "eigenvalues", darray(e->eig, e->hidden));

    cJSON *q = cJSON_AddObjectToObject(o, "pentachora");
    cJSON_AddNumberToObject(q, "subsets", (double)e->pent_subsets);
    cJSON_AddNumberToObject(q, "valid", (double)e->pent_valid);
    add(q, "mean_volume", e->pent_mean);
    add(q, "cv", e->pent_cv);
    cJSON_AddNumberToObject(q, "gaussian_valid", (double)e->gauss_valid);
    add(q, "gaussian_mean_volume", e->gauss_mean);
    add(q, "gaussian_cv", e->gauss_cv);
    add(q, "ratio_to_gaussian", e->pent_ratio);

    cJSON *g = cJSON_AddObjectToObject(o, "digits");
    cJSON_AddNumberToObject(g, "present", e->n_digits);
    cJSON *toks = cJSON_AddArrayToObject(g, "tokens");
    for (int i = 0; i < 10; i++) {
        if (!e->digit_present[i]) continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "digit", i);
        cJSON_AddItemToObject(t, "token", tok_str(vx, e->digit_id[i]));
        cJSON_AddNumberToObject(t, "token_id", e->digit_id[i]);
        cJSON_AddItemToArray(toks, t);
    }
    cJSON *m = cJSON_AddArrayToObject(g, "cosine");
    for (int i = 0; i < 10; i++) cJSON_AddItemToArray(m, darray(e->digit_cos[i], 10));
    add(g, "distance_correlation", e->digit_corr);
    add(g, "adjacent_mean", e->digit_adj);
    add(g, "nonadjacent_mean", e->digit_nonadj);
    add(g, "gap", e->digit_gap);

    cJSON *u = cJSON_AddObjectToObject(o, "near_duplicates");
    cJSON_AddNumberToObject(u, "sample", (double)e->dup_sample);
    add_dist(u, &e->nn1);
    cJSON_AddNumberToObject(u, "count_099", (double)e->count_099);
    add(u, "frac_099", e->frac_099);
    cJSON_AddNumberToObject(u, "count_0999", (double)e->count_0999);
    add(u, "frac_0999", e->frac_0999);

    cJSON *c = cJSON_AddObjectToObject(o, "token_classes");
    for (int k = 0; k < VX_TC_COUNT; k++) cJSON_AddNumberToObject(c, vx_token_class_name((vx_token_class)k), (double)e->classes[k]);
    cJSON_AddNumberToObject(c, "leading_space", (double)e->leading_space);
    return o;
}

static cJSON *spec_obj(const vx_spec_stats *p) {
    cJSON *o = cJSON_CreateObject();
    add(o, "sigma1", p->sigma1);
    add(o, "stable_rank_topf", p->stable_rank_topf);
    add(o, "pr_topf", p->pr_topf);
    add(o, "condition_topf", p->condition_topf);
    if (p->full) {
        cJSON_AddNumberToObject(o, "rank_bound", p->rank_bound);
        cJSON_AddNumberToObject(o, "rank_90", p->rank_90);
        cJSON_AddBoolToObject(o, "condition_resolved", p->condition_resolved);
    } else {
        cJSON_AddNullToObject(o, "rank_bound");
        cJSON_AddNullToObject(o, "rank_90");
        cJSON_AddNullToObject(o, "condition_resolved");
    }
    add(o, "stable_rank", p->stable_rank);
    add(o, "participation_ratio", p->participation_ratio);
    add(o, "active_fraction", p->active_fraction);
    add(o, "condition", p->condition);
    add(o, "topf_share", p->topf_share);
    return o;
}

static const char *const mat_names[3] = { "gate", "up", "down" };

static cJSON *layer_obj(const vx_layer_stats *ls) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", ls->layer);
    cJSON_AddBoolToObject(o, "partial", ls->partial);
    cJSON_AddItemToObject(o, "gate", spec_obj(&ls->spec[VX_GATE]));
    cJSON_AddItemToObject(o, "down", spec_obj(&ls->spec[VX_DOWN]));
    if (ls->has_weights) {
        cJSON *w = cJSON_AddObjectToObject(o, "weights");
        for (int m = 0; m < 3; m++) {
            if (!ls->w[m].present) { cJSON_AddNullToObject(w, mat_names[m]); continue; }
            cJSON *x = cJSON_AddObjectToObject(w, mat_names[m]);
            cJSON_AddNumberToObject(x, "rows", (double)ls->w[m].rows);
            cJSON_AddNumberToObject(x, "cols", (double)ls->w[m].cols);
            add(x, "fro", ls->w[m].fro);
            cJSON_AddItemToObject(x, "sparsity", darray(ls->w[m].sparsity, 5));
        }
    } else cJSON_AddNullToObject(o, "weights");
    if (ls->has_neurons) {
        cJSON *n = cJSON_AddObjectToObject(o, "neurons");
        cJSON_AddNumberToObject(n, "count", (double)ls->neurons);
        cJSON_AddNumberToObject(n, "dead", (double)ls->dead);
        cJSON_AddNumberToObject(n, "weak", (double)ls->weak);
        cJSON *pm = cJSON_AddObjectToObject(n, "per_matrix");
        for (int m = 0; m < 3; m++) {
            if (!ls->nm[m].present) { cJSON_AddNullToObject(pm, mat_names[m]); continue; }
            cJSON *x = cJSON_AddObjectToObject(pm, mat_names[m]);
            add(x, "mean_norm", ls->nm[m].mean_norm);
            cJSON_AddNumberToObject(x, "dead", (double)ls->nm[m].dead);
            cJSON_AddNumberToObject(x, "weak", (double)ls->nm[m].weak);
        }
    } else cJSON_AddNullToObject(o, "neurons");
    add(o, "gate_coherence", ls->gate_coherence);
    add(o, "gate_subspace_similarity", ls->gate_subspace_sim);
    return o;
}

static cJSON *dirs(const vx_index *vx, const vx_dir_stats *d, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", d[i].layer);
        cJSON_AddNumberToObject(o, "feature", d[i].feature);
        cJSON_AddStringToObject(o, "kind", d[i].kind == VX_DOWN ? "down" : "gate");
        add(o, "mean", d[i].mean);
        add(o, "std", d[i].std);
        add(o, "skew", d[i].skew);
        add(o, "kurtosis", d[i].kurtosis);
        cJSON *t = cJSON_AddArrayToObject(o, "top_tokens");
        for (size_t j = 0; j < d[i].n_tokens; j++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddItemToObject(x, "token", tok_str(vx, d[i].tokens[j]));
            cJSON_AddNumberToObject(x, "token_id", d[i].tokens[j]);
            cJSON_AddItemToArray(t, x);
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

char *cli_stats_json(const vx_stats *s, const vx_index *vx, const char *path) {
    const vx_info *in = vx_get_info(vx);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "vindex", path);
    cJSON_AddStringToObject(o, "model", in->model ? in->model : "");
    cJSON_AddNumberToObject(o, "format_version", s->format_version);
    cJSON_AddNumberToObject(o, "seed", (double)s->seed);
    cJSON_AddNumberToObject(o, "sample", (double)s->sample);
    cJSON_AddNumberToObject(o, "dup_sample", (double)s->dup_sample);
    cJSON_AddNumberToObject(o, "pentachora", (double)s->pentachora);
    cJSON *lk = cJSON_AddArrayToObject(o, "lacks");
    for (size_t i = 0; i < s->n_lacks; i++) cJSON_AddItemToArray(lk, cJSON_CreateString(s->lacks[i]));
    cJSON_AddItemToObject(o, "embeddings", embeddings(&s->emb, vx));
    cJSON *la = cJSON_AddArrayToObject(o, "layers");
    for (size_t i = 0; i < s->n_layers; i++) cJSON_AddItemToArray(la, layer_obj(&s->layers[i]));
    add(o, "gate_coherence_mean", s->gate_coherence_mean);
    if (s->has_moments) {
        cJSON *d = cJSON_AddObjectToObject(o, "directions");
        cJSON_AddItemToObject(d, "prediction", dirs(vx, s->prediction, s->n_prediction));
        cJSON_AddItemToObject(d, "suppression", dirs(vx, s->suppression, s->n_suppression));
    } else cJSON_AddNullToObject(o, "directions");
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}
