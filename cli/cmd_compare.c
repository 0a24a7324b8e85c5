/*
 * cmd_compare.c — `vindex compare A B [--anchors N|FILE] [--test N|FILE] [--seed S]
 * [--pca-sample N] [--layer-map MAP] [--threads N] [--json] [--knn K] [--knn-sample N|all]
 * [--no-map-free] [--save-map FILE]`: argument parsing and
 * printing around vx_compare (include/vx_compare.h, spec/compare.md).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_compare.h"

static const char *compare_help =
    "usage: vindex compare A B [--anchors N|FILE] [--test N|FILE] [--seed S]\n"
    "                          [--pca-sample N] [--layer-map MAP] [--threads N] [--json]\n"
    "                          [--knn K] [--knn-sample N|all] [--no-map-free]\n"
    "                          [--save-map FILE]\n"
    "\n"
    "Align the embedding spaces of two vindexes by orthogonal Procrustes on their shared\n"
    "tokens and report how well they agree (spec/compare.md). The wider model is the source\n"
    "(B on ties); if it is wider it is first PCA-projected to the target's width.\n"
    "Every measurement comes twice: first as published analyses define it (the aligned\n"
    "rows re-centred on the target's anchor mean, against its native rows), then centred\n"
    "(stricter: the shared mean direction no longer adds to every cosine; *_centred keys).\n"
    "\n"
    "  --anchors N|FILE  anchor tokens: a count drawn at random from the shared tokens\n"
    "                    (default 10000), or a file with one token of A per line, written\n"
    "                    as for score --batch: #ID, a raw string, or readable text such\n"
    "                    as \" Paris\". An argument of digits only is a count; write\n"
    "                    ./FILE for a file named with digits.\n"
    "  --test N|FILE     held-out test tokens, likewise (default 5000; with fewer than\n"
    "                    15000 shared tokens: a third of them, the rest are anchors)\n"
    "  --seed S          seed of every random choice (default 42)\n"
    "  --pca-sample N    fit the PCA on at most N shared tokens (default 50000)\n"
    "  --layer-map MAP   layer pairs to mark as matched, \"A:B,A:B,...\" (default: every\n"
    "                    layer of the shallower model with the deeper model's layer at the\n"
    "                    same relative depth)\n"
    "  --knn K           mutual k-NN: neighbours per token (default 10)\n"
    "  --knn-sample N|all  mutual k-NN: query tokens drawn at random (default 1000), or\n"
    "                    all of them; neighbours are always searched among every shared token\n"
    "  --no-map-free     skip the map-free similarity (CKA, SVCCA, Procrustes distances,\n"
    "                    mutual k-NN over every shared token)\n"
    "  --save-map FILE   write the fitted map (spec/map-format.md) for `vindex map`\n"
    "  -j, --threads N   BLAS threads (default: all)\n"
    "  --json            one JSON object on stdout\n"
    "  -h, --help        this text\n"
    "\nexit status: 0 ok, 1 failure (cannot open, disjoint or too few shared tokens,\n"
    "unknown token in a list), 2 usage error\n";

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* "0:0,1:2" → pairs; -1 on a syntax error. */
static int parse_layer_map(uint32_t (**out)[2], size_t *n, const char *s) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    uint32_t (*m)[2] = malloc(sizeof *m * cap);
    if (!m) return -1;
    size_t k = 0;
    const char *p = s;
    while (*p) {
        char *e;
        errno = 0;
        unsigned long x = strtoul(p, &e, 10);
        if (e == p || *e != ':' || errno || x > UINT32_MAX) { free(m); return -1; }
        p = e + 1;
        unsigned long y = strtoul(p, &e, 10);
        if (e == p || (*e && *e != ',') || errno || y > UINT32_MAX) { free(m); return -1; }
        m[k][0] = (uint32_t)x;
        m[k][1] = (uint32_t)y;
        k++;
        p = *e ? e + 1 : e;
    }
    if (!k) { free(m); return -1; }
    *out = m;
    *n = k;
    return 0;
}

static char *token_text(const vx_index *vx, uint32_t id, size_t *len) {
    const char *raw, *text;
    size_t rl, tl;
    if (vx_token_str(&raw, &rl, &text, &tl, vx, id, NULL)) { *len = 0; return strdup(""); }
    char *s = malloc(tl + 1);
    if (s) { memcpy(s, text, tl); s[tl] = 0; }
    *len = tl;
    return s;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void add_stats(cJSON *o, const vx_cmp_stats *st, const vx_index *a) {
    static const char *pk[9] = { "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99" };
    cJSON_AddNumberToObject(o, "mean", st->mean);
    cJSON_AddNumberToObject(o, "std", st->std);
    cJSON_AddNumberToObject(o, "median", st->median);
    cJSON_AddNumberToObject(o, "min", st->min);
    size_t l;
    char *t = token_text(a, st->min_id, &l);
    cJSON_AddStringToObject(o, "min_token", t ? t : "");
    free(t);
    cJSON_AddNumberToObject(o, "min_token_id", st->min_id);
    cJSON_AddNumberToObject(o, "max", st->max);
    t = token_text(a, st->max_id, &l);
    cJSON_AddStringToObject(o, "max_token", t ? t : "");
    free(t);
    cJSON_AddNumberToObject(o, "max_token_id", st->max_id);
    for (int i = 0; i < 9; i++) cJSON_AddNumberToObject(o, pk[i], st->pct[i]);
}

static cJSON *frac_obj(const double *f) {
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof key, "0.%d", k);
        cJSON_AddNumberToObject(o, key, f[k]);
    }
    return o;
}

static cJSON *tokens_arr(const vx_cmp_token *t, size_t n, const vx_index *a) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        size_t l;
        char *s = token_text(a, t[i].id_a, &l);
        cJSON_AddStringToObject(o, "token", s ? s : "");
        free(s);
        cJSON_AddNumberToObject(o, "token_id", t[i].id_a);
        cJSON_AddNumberToObject(o, "token_id_b", t[i].id_b);
        cJSON_AddNumberToObject(o, "cosine", t[i].cosine);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *matrix(const double *m, size_t rows, size_t cols) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < rows; i++) cJSON_AddItemToArray(arr, cJSON_CreateDoubleArray(m + i * cols, (int)cols));
    return arr;
}

static void print_json(const vx_compare_result *r, const vx_index *a, const char *pa, const char *pb, uint64_t seed) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "a", pa);
    cJSON_AddStringToObject(o, "b", pb);
    cJSON_AddNumberToObject(o, "shared_tokens", (double)r->shared);
    cJSON_AddStringToObject(o, "match", r->by_id ? "id" : "text");
    cJSON_AddNumberToObject(o, "anchors", (double)r->n_anchors);
    cJSON_AddNumberToObject(o, "test", (double)r->n_test);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddStringToObject(o, "source", r->source_is_a ? "A" : "B");
    cJSON_AddStringToObject(o, "target", r->source_is_a ? "B" : "A");
    cJSON_AddNumberToObject(o, "dim_source", r->dim_source);
    cJSON_AddNumberToObject(o, "dim_target", r->dim_target);
    cJSON_AddNumberToObject(o, "pca_dim", r->pca_dim);
    cJSON_AddNumberToObject(o, "pca_fit_tokens", (double)r->pca_fit_tokens);
    cJSON_AddNumberToObject(o, "pca_variance_retained", r->pca_variance_retained);
    cJSON_AddNumberToObject(o, "procrustes_scale", r->procrustes_scale);
    /* published definitions (spec/compare.md §6.2) */
    add_stats(cJSON_AddObjectToObject(o, "cosine"), &r->cosine, a);
    cJSON *l2 = cJSON_AddObjectToObject(o, "l2");
    cJSON_AddNumberToObject(l2, "mean", r->l2_mean);
    cJSON_AddNumberToObject(l2, "std", r->l2_std);
    cJSON_AddNumberToObject(l2, "median", r->l2_median);
    cJSON_AddItemToObject(o, "frac_above", frac_obj(r->frac_above_all));
    cJSON_AddItemToObject(o, "frac_above_heldout", frac_obj(r->cosine.frac_above));
    cJSON_AddNumberToObject(o, "relational_tokens", (double)r->relational_n);
    cJSON_AddItemToObject(o, "relational_correlation", num_or_null(r->relational_correlation));
    cJSON_AddItemToObject(o, "relational_mean_abs_diff", num_or_null(r->relational_mean_abs_diff));
    cJSON_AddNumberToObject(o, "digits", (double)r->digits_n);
    cJSON_AddItemToObject(o, "digit_correlation", num_or_null(r->digit_correlation));
    cJSON_AddItemToObject(o, "digit_mean_abs_diff", num_or_null(r->digit_mean_abs_diff));
    cJSON *dc = cJSON_AddArrayToObject(o, "digit_cosines");
    for (size_t i = 0; i < r->digits_n; i++) {
        cJSON *e = cJSON_CreateObject();
        size_t l;
        char *s = token_text(a, r->digit_id[i], &l);
        cJSON_AddStringToObject(e, "token", s ? s : "");
        free(s);
        cJSON_AddNumberToObject(e, "token_id", r->digit_id[i]);
        cJSON_AddNumberToObject(e, "cosine", r->digit_cosine[i]);
        cJSON_AddItemToArray(dc, e);
    }
    cJSON_AddItemToObject(o, "best", tokens_arr(r->best, r->n_best, a));
    cJSON_AddItemToObject(o, "worst", tokens_arr(r->worst, r->n_best, a));
    cJSON_AddItemToObject(o, "residual_eigenvalues", cJSON_CreateDoubleArray(r->residual_eig, (int)r->n_residual));
    const vx_cmp_simplices *sx = &r->simplices;
    cJSON *px = cJSON_AddObjectToObject(o, "pentachoron");
    cJSON_AddNumberToObject(px, "simplices", (double)sx->n);
    cJSON_AddNumberToObject(px, "valid", (double)sx->valid);
    cJSON_AddItemToObject(px, "native_mean", num_or_null(sx->native_mean));
    cJSON_AddItemToObject(px, "native_cv", num_or_null(sx->native_cv));
    cJSON_AddItemToObject(px, "aligned_mean", num_or_null(sx->aligned_mean));
    cJSON_AddItemToObject(px, "aligned_cv", num_or_null(sx->aligned_cv));
    cJSON_AddItemToObject(px, "volume_ratio", num_or_null(sx->volume_ratio));
    cJSON_AddItemToObject(px, "correlation", num_or_null(sx->correlation));
    cJSON *bl = cJSON_AddObjectToObject(o, "baseline");
    add_stats(bl, &r->baseline, a);
    cJSON_AddItemToObject(bl, "frac_above", frac_obj(r->baseline.frac_above));
    cJSON_AddNumberToObject(bl, "l2_mean", r->baseline_l2_mean);
    /* centred (stricter) definitions */
    add_stats(cJSON_AddObjectToObject(o, "cosine_centred"), &r->cosine_centred, a);
    cJSON_AddItemToObject(o, "frac_above_centred", frac_obj(r->cosine_centred.frac_above));
    cJSON_AddItemToObject(o, "relational_correlation_centred", num_or_null(r->relational_correlation_centred));
    cJSON_AddItemToObject(o, "relational_mean_abs_diff_centred", num_or_null(r->relational_mean_abs_diff_centred));
    cJSON_AddItemToObject(o, "digit_correlation_centred", num_or_null(r->digit_correlation_centred));
    cJSON_AddItemToObject(o, "digit_mean_abs_diff_centred", num_or_null(r->digit_mean_abs_diff_centred));
    cJSON_AddItemToObject(o, "best_centred", tokens_arr(r->best_centred, r->n_best, a));
    cJSON_AddItemToObject(o, "worst_centred", tokens_arr(r->worst_centred, r->n_best, a));
    cJSON_AddItemToObject(o, "residual_eigenvalues_centred",
                          cJSON_CreateDoubleArray(r->residual_eig_centred, (int)r->n_residual_centred));
    cJSON *bc = cJSON_AddObjectToObject(o, "baseline_centred");
    add_stats(bc, &r->baseline_centred, a);
    cJSON_AddItemToObject(bc, "frac_above", frac_obj(r->baseline_centred.frac_above));
    cJSON_AddNumberToObject(bc, "l2_mean", r->baseline_l2_mean);
    cJSON *ly = cJSON_AddObjectToObject(o, "layers");
    cJSON_AddNumberToObject(ly, "layers_a", r->layers_a);
    cJSON_AddNumberToObject(ly, "layers_b", r->layers_b);
    cJSON_AddItemToObject(ly, "gate", matrix(r->gate_sim, r->layers_a, r->layers_b));
    cJSON_AddItemToObject(ly, "down", matrix(r->down_sim, r->layers_a, r->layers_b));
    cJSON *mt = cJSON_AddArrayToObject(ly, "matched");
    for (size_t i = 0; i < r->n_matched; i++) {
        cJSON *m = cJSON_CreateObject();
        uint32_t la = r->matched[i][0], lb = r->matched[i][1];
        cJSON_AddNumberToObject(m, "a", la);
        cJSON_AddNumberToObject(m, "b", lb);
        cJSON_AddNumberToObject(m, "gate", r->gate_sim[(size_t)la * r->layers_b + lb]);
        cJSON_AddNumberToObject(m, "down", r->down_sim[(size_t)la * r->layers_b + lb]);
        cJSON_AddItemToArray(mt, m);
    }
    const vx_cmp_mapfree *mf = &r->mapfree;
    if (mf->tokens) { /* spec/compare.md §10 */
        cJSON *m = cJSON_AddObjectToObject(o, "map_free");
        cJSON_AddNumberToObject(m, "tokens", (double)mf->tokens);
        cJSON_AddItemToObject(m, "cka_linear", num_or_null(mf->cka_linear));
        cJSON_AddItemToObject(m, "cka_debiased", num_or_null(mf->cka_debiased));
        cJSON_AddItemToObject(m, "svcca", num_or_null(mf->svcca));
        cJSON_AddNumberToObject(m, "svcca_dims_a", mf->svcca_dims_a);
        cJSON_AddNumberToObject(m, "svcca_dims_b", mf->svcca_dims_b);
        cJSON_AddItemToObject(m, "procrustes_distance", num_or_null(mf->procrustes_distance));
        cJSON_AddItemToObject(m, "procrustes_angular", num_or_null(mf->procrustes_angular));
        cJSON_AddNumberToObject(m, "mutual_knn", mf->mutual_knn);
        cJSON_AddNumberToObject(m, "knn_k", mf->knn_k);
        cJSON_AddNumberToObject(m, "knn_queries", (double)mf->knn_queries);
    }
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static void print_tok(const vx_index *a, uint32_t id) {
    size_t l;
    char *t = token_text(a, id, &l);
    putchar('\'');
    if (t) cli_print_token(stdout, t, l);
    putchar('\'');
    free(t);
}

static void print_frac(const char *label, const double *f) {
    printf("           %s:", label);
    for (int k = 0; k < 10; k++) printf(" %.3f", f[k]);
    putchar('\n');
}

static void print_tokens(const char *head, const vx_cmp_token *t, size_t n, const vx_index *a) {
    printf("%-10s", head);
    for (size_t i = 0; i < n; i++) {
        printf("%s", i % 4 == 0 && i ? "\n           " : " ");
        print_tok(a, t[i].id_a);
        printf(" %.3f", t[i].cosine);
    }
    putchar('\n');
}

static void print_eigs(const char *label, const double *v, size_t n) {
    size_t m = n < VX_CMP_TOP ? n : VX_CMP_TOP;
    printf("residual   %s:", label);
    for (size_t i = 0; i < m; i++) printf(" %.4g", v[i]);
    if (m < n) printf("  (%zu of %zu; --json has all)", m, n);
    putchar('\n');
}

static void print_corr(const char *head, double r, double mad, const char *what) {
    if (isfinite(r)) printf("%-10s r %.4f  mean |diff| %.4f  (%s)\n", head, r, mad, what);
    else printf("%-10s not enough tokens for a correlation (%s)\n", head, what);
}

static void print_stats(const char *name, const vx_cmp_stats *st, const vx_index *a, const char *above) {
    printf("%-10s mean %.4f  std %.4f  median %.4f  min %.4f ", name, st->mean, st->std, st->median, st->min);
    print_tok(a, st->min_id);
    printf(" #%u  max %.4f ", st->min_id, st->max);
    print_tok(a, st->max_id);
    printf(" #%u\n           p1 %.3f p5 %.3f p10 %.3f p25 %.3f p50 %.3f p75 %.3f p90 %.3f p95 %.3f p99 %.3f\n",
           st->max_id, st->pct[0], st->pct[1], st->pct[2], st->pct[3], st->pct[4], st->pct[5], st->pct[6], st->pct[7],
           st->pct[8]);
    print_frac(above, st->frac_above);
}

static void print_table(const char *name, const double *m, const vx_compare_result *r) {
    printf("%s subspaces (mean squared cosine of principal angles; rows A layers, columns B layers; * matched)\n", name);
    printf("      ");
    for (uint32_t b = 0; b < r->layers_b; b++) printf(" %6u", b);
    putchar('\n');
    for (uint32_t a = 0; a < r->layers_a; a++) {
        printf("  %3u ", a);
        for (uint32_t b = 0; b < r->layers_b; b++) {
            int star = 0;
            for (size_t i = 0; i < r->n_matched; i++) star |= r->matched[i][0] == a && r->matched[i][1] == b;
            printf(" %5.3f%c", m[(size_t)a * r->layers_b + b], star ? '*' : ' ');
        }
        putchar('\n');
    }
}

static void print_text(const vx_compare_result *r, const vx_index *a, const char *pa, const char *pb, uint64_t seed) {
    printf("compare    A %s\n           B %s\n", pa, pb);
    printf("shared     %zu tokens (%s)\n", r->shared, r->by_id ? "same vocabulary, matched by id" : "matched by readable text");
    printf("split      %zu anchors, %zu held-out test tokens (seed %llu)\n", r->n_anchors, r->n_test, (unsigned long long)seed);
    printf("source     %s (%u) -> target %s (%u)\n", r->source_is_a ? "A" : "B", r->dim_source, r->source_is_a ? "B" : "A",
           r->dim_target);
    if (r->pca_dim)
        printf("pca        %u dims fitted on %zu tokens, variance retained %.4f\n", r->pca_dim, r->pca_fit_tokens,
               r->pca_variance_retained);
    printf("procrustes scale %.6g\n", r->procrustes_scale);
    char what[64];

    printf("\npublished definitions: aligned source A = (P - m_l) R + m_s against the target's native rows\n");
    print_stats("cosine", &r->cosine, a, "held-out above 0.0..0.9");
    print_stats("baseline", &r->baseline, a, "held-out above 0.0..0.9");
    printf("l2         mean %.4f  std %.4f  median %.4f   (baseline mean %.4f; the same under both definitions)\n",
           r->l2_mean, r->l2_std, r->l2_median, r->baseline_l2_mean);
    printf("all tokens above 0.0..0.9:");
    for (int k = 0; k < 10; k++) printf(" %.3f", r->frac_above_all[k]);
    putchar('\n');
    snprintf(what, sizeof what, "%zu test tokens", r->relational_n);
    print_corr("relational", r->relational_correlation, r->relational_mean_abs_diff, what);
    snprintf(what, sizeof what, "%zu digits", r->digits_n);
    print_corr("digits", r->digit_correlation, r->digit_mean_abs_diff, what);
    if (r->digits_n) {
        printf("          ");
        for (size_t i = 0; i < r->digits_n; i++) {
            putchar(' ');
            print_tok(a, r->digit_id[i]);
            printf(" %.3f", r->digit_cosine[i]);
        }
        putchar('\n');
    }
    const vx_cmp_simplices *sx = &r->simplices;
    printf("pentachora %zu simplices, %zu valid: native mean %.4g cv %.4f, aligned mean %.4g cv %.4f, ratio %.4f, r %.4f\n",
           sx->n, sx->valid, sx->native_mean, sx->native_cv, sx->aligned_mean, sx->aligned_cv, sx->volume_ratio,
           sx->correlation);
    print_tokens("best", r->best, r->n_best, a);
    print_tokens("worst", r->worst, r->n_best, a);
    print_eigs("top eigenvalues of r'r/n", r->residual_eig, r->n_residual);

    printf("\ncentred definitions (stricter): (P - m_l) R against the target's rows minus m_s\n");
    print_stats("cosine", &r->cosine_centred, a, "held-out above 0.0..0.9");
    print_stats("baseline", &r->baseline_centred, a, "held-out above 0.0..0.9");
    snprintf(what, sizeof what, "%zu test tokens, each model's own space", r->relational_n);
    print_corr("relational", r->relational_correlation_centred, r->relational_mean_abs_diff_centred, what);
    snprintf(what, sizeof what, "%zu digits, each model's own space", r->digits_n);
    print_corr("digits", r->digit_correlation_centred, r->digit_mean_abs_diff_centred, what);
    print_tokens("best", r->best_centred, r->n_best, a);
    print_tokens("worst", r->worst_centred, r->n_best, a);
    print_eigs("top eigenvalues of the covariance", r->residual_eig_centred, r->n_residual_centred);
    putchar('\n');
    print_table("gate", r->gate_sim, r);
    print_table("down", r->down_sim, r);
    const vx_cmp_mapfree *mf = &r->mapfree;
    if (mf->tokens) {
        printf("map-free similarity (no map; A's and B's rows as they are, %zu shared tokens)\n", mf->tokens);
        printf("  CKA        linear %.4f  debiased %.4f\n", mf->cka_linear, mf->cka_debiased);
        printf("  SVCCA      %.4f  (%u and %u directions: 99%% of the variance)\n", mf->svcca, mf->svcca_dims_a,
               mf->svcca_dims_b);
        printf("  Procrustes distance %.4f  angular %.4f rad\n", mf->procrustes_distance, mf->procrustes_angular);
        printf("  mutual k-NN %.4f  (k %u, %zu query tokens)\n", mf->mutual_knn, mf->knn_k, mf->knn_queries);
    }
}

int cmd_compare(int argc, char **argv) {
    static const struct option lo[] = { { "anchors", required_argument, 0, 'a' }, { "test", required_argument, 0, 't' },
                                        { "seed", required_argument, 0, 's' },    { "pca-sample", required_argument, 0, 'p' },
                                        { "layer-map", required_argument, 0, 'm' }, { "threads", required_argument, 0, 'j' },
                                        { "json", no_argument, 0, 'J' },          { "help", no_argument, 0, 'h' },
                                        { "knn", required_argument, 0, 'k' },     { "knn-sample", required_argument, 0, 'K' },
                                        { "no-map-free", no_argument, 0, 'F' },   { "save-map", required_argument, 0, 'S' },
                                        { 0, 0, 0, 0 } };
    const char *anchors = NULL, *test = NULL;
    int json = 0, c;
    vx_compare_opts o;
    vx_compare_opts_init(&o);
    uint32_t (*lmap)[2] = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "j:h", lo, NULL)) != -1) {
        long v;
        switch (c) {
        case 'a': anchors = optarg; break;
        case 't': test = optarg; break;
        case 's': {
            char *e;
            errno = 0;
            unsigned long long s = strtoull(optarg, &e, 10);
            if (!*optarg || *e || errno || *optarg == '-') { free(lmap); return cli_usage("compare", "--seed %s: expected a non-negative integer", optarg); }
            o.seed = s;
            break;
        }
        case 'p':
            if (cli_int(optarg, 1, 100000000, &v)) { free(lmap); return cli_usage("compare", "--pca-sample %s: expected 1..100000000", optarg); }
            o.pca_sample = (size_t)v;
            break;
        case 'm':
            free(lmap);
            lmap = NULL;
            if (parse_layer_map(&lmap, &o.n_layer_map, optarg)) return cli_usage("compare", "--layer-map %s: expected A:B[,A:B...]", optarg);
            o.layer_map = (const uint32_t (*)[2])lmap;
            break;
        case 'j':
            if (cli_int(optarg, 1, 256, &v)) { free(lmap); return cli_usage("compare", "--threads %s: expected 1..256", optarg); }
            o.threads = (int)v;
            break;
        case 'J': json = 1; break;
        case 'k':
            if (cli_int(optarg, 1, 10000, &v)) { free(lmap); return cli_usage("compare", "--knn %s: expected 1..10000", optarg); }
            o.knn = (size_t)v;
            break;
        case 'K':
            if (!strcmp(optarg, "all")) o.knn_sample = VX_CMP_KNN_ALL;
            else if (cli_int(optarg, 1, 100000000, &v)) { free(lmap); return cli_usage("compare", "--knn-sample %s: expected 1..100000000 or all", optarg); }
            else o.knn_sample = (size_t)v;
            break;
        case 'F': o.no_mapfree = 1; break;
        case 'S': o.save_map = optarg; break;
        case 'h': free(lmap); fputs(compare_help, stdout); return EXIT_OK;
        default: free(lmap); return cli_usage("compare", "unknown option or missing argument '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 2) { free(lmap); return cli_usage("compare", "expected two vindex directories"); }
    long v;
    if (anchors && all_digits(anchors)) {
        if (cli_int(anchors, VX_CMP_MIN_SPLIT, 100000000, &v)) { free(lmap); return cli_usage("compare", "--anchors %s: expected at least %d", anchors, VX_CMP_MIN_SPLIT); }
        o.anchors = (size_t)v;
        anchors = NULL;
    }
    if (test && all_digits(test)) {
        if (cli_int(test, VX_CMP_MIN_SPLIT, 100000000, &v)) { free(lmap); return cli_usage("compare", "--test %s: expected at least %d", test, VX_CMP_MIN_SPLIT); }
        o.test = (size_t)v;
        test = NULL;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];
    vx_index *a = NULL, *b = NULL;
    vx_compare_result *r = NULL;
    uint32_t *aid = NULL, *tid = NULL;
    vx_err err = { 0 };
    int rc = vx_open(&a, pa, &err);
    if (!rc) rc = vx_open(&b, pb, &err);
    if (!rc && anchors && !(rc = vx_compare_read_tokens(&aid, &o.n_anchor_ids, a, anchors, &err))) o.anchor_ids = aid;
    if (!rc && test && !(rc = vx_compare_read_tokens(&tid, &o.n_test_ids, a, test, &err))) o.test_ids = tid;
    if (!rc) rc = vx_compare(&r, a, b, &o, &err);
    if (rc) {
        cli_error("compare: %s", err.msg);
        /* A bad option value discovered by the library (sizes, tokens) is still a usage
         * error; a mismatch of the inputs is a failure. */
        rc = cli_exit_for(rc);
    } else {
        if (json) print_json(r, a, pa, pb, o.seed);
        else print_text(r, a, pa, pb, o.seed);
        rc = EXIT_OK;
    }
    vx_compare_free(r);
    free(aid);
    free(tid);
    free(lmap);
    vx_close(a);
    vx_close(b);
    return rc;
}
