/*
 * cmd_stats.c — `vindex stats VX [--layers A-B] [--sample N] [--dup-sample N]
 * [--pentachora N] [--seed S] [--json]`: argument parsing and the table around
 * vx_stats_compute (include/vx_stats.h, spec/stats.md). The JSON is stats_json.c's.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vx_stats.h"

static const char *stats_help =
    "usage: vindex stats VX [--layers A-B] [--sample N] [--dup-sample N] [--pentachora N]\n"
    "                       [--seed S] [--json]\n"
    "\n"
    "Measure one vindex (spec/stats.md): the geometry of its embedding matrix (norms,\n"
    "per-dimension moments, pairwise cosines, the covariance eigenspectrum, pentachoron\n"
    "volumes, the digit manifold, near-duplicate rows, token classes) and per layer the\n"
    "weight battery of its MLP (stable rank, participation ratio, sparsity, dead and weak\n"
    "neurons, gate coherence, prediction and suppression directions). A vindex written by\n"
    "format version 1 lacks the battery: stats says what is missing and gives the rest.\n"
    "\n"
    "  --layers A-B       layers of the battery (A-B inclusive, or one layer A; default all)\n"
    "  --sample N         rows of the pairwise-cosine sample (default 5000; 2..10000)\n"
    "  --dup-sample N     rows whose nearest neighbour is searched (default 1000; 1..100000)\n"
    "  --pentachora N     5-token subsets for the simplex volumes (default 1000; 0..1000000)\n"
    "  --seed S           seed of every random choice (default 42)\n"
    "  --json             one JSON object with every number (spec/stats.md §7)\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok (also when the battery is missing), 1 failure, 2 usage error\n";

static int parse_layers(const char *s, uint32_t *lo, uint32_t *hi) {
    char *e;
    unsigned long a = strtoul(s, &e, 10), b;
    if (e == s || *s == '-' || a > UINT32_MAX - 1) return -1;
    if (!*e) { *lo = *hi = (uint32_t)a; return 0; }
    if (*e != '-') return -1;
    const char *t = e + 1;
    b = strtoul(t, &e, 10);
    if (e == t || *e || *t == '-' || b > UINT32_MAX - 1 || a > b) return -1;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
    return 0;
}

static void tok(const vx_index *vx, uint32_t id) {
    const char *raw, *text;
    size_t rl, tl;
    if (vx_token_str(&raw, &rl, &text, &tl, vx, id, NULL)) { fputs("?", stdout); return; }
    fputc('\'', stdout);
    cli_print_token(stdout, raw, rl);
    fputc('\'', stdout);
}

static void dist_line(const char *name, const vx_dist *d) {
    printf("  %-22s mean %.6g  std %.6g  min %.6g  p5 %.6g  p50 %.6g  p95 %.6g  max %.6g\n", name, d->mean, d->std, d->min,
           d->pct[1], d->pct[3], d->pct[5], d->max);
}

static void print_table(const vx_stats *s, const vx_index *vx, const char *path) {
    const vx_emb_stats *e = &s->emb;
    printf("vindex stats %s (format version %u, seed %" PRIu64 ")\n", path, s->format_version, s->seed);
    for (size_t i = 0; i < s->n_lacks; i++) printf("  lacks: %s\n", s->lacks[i]);
    printf("\nembeddings: %u x %u, embed_scale %g\n", e->rows, e->hidden, e->embed_scale);
    dist_line("norm", &e->norm);
    printf("  %-22s %" PRIu64 "; largest ", "zero rows", e->zero_rows);
    tok(vx, e->norm_max_id);
    printf(" %.6g; smallest ", e->norm.max);
    tok(vx, e->norm_min_id);
    printf(" %.6g\n", e->norm.min);
    printf("  %-22s mean of means %.6g, mean of stds %.6g, largest |mean| %.6g (dim %u), largest std %.6g (dim %u)\n",
           "dimensions", e->mean_of_means, e->mean_of_stds, e->max_abs_mean, e->max_abs_mean_dim, e->max_std,
           e->max_std_dim);
    char name[64];
    snprintf(name, sizeof name, "pairwise cos (%zu)", e->pair_sample);
    dist_line(name, &e->pair_cos);
    printf("  %-22s total variance %.6g, pc1 %.4f, pc1-3 %.4f, PR %.2f (PR/H %.4f)\n", "covariance spectrum",
           e->total_variance, e->pc1, e->pc1_3, e->participation_ratio, e->pr_over_h);
    printf("  %-22s 80%% %u, 90%% %u, 95%% %u, 99%% %u\n", "dims for variance", e->dims[0], e->dims[1], e->dims[2], e->dims[3]);
    printf("  %-22s %zu of %zu valid, mean %.6g, CV %.4f; Gaussian mean %.6g, CV %.4f; ratio %.4f\n", "pentachoron volume",
           e->pent_valid, e->pent_subsets, e->pent_mean, e->pent_cv, e->gauss_mean, e->gauss_cv, e->pent_ratio);
    printf("  %-22s %d present; corr(|i-j|, cos) %.4f; adjacent %.4f, non-adjacent %.4f, gap %.4f\n", "digits 0-9",
           e->n_digits, e->digit_corr, e->digit_adj, e->digit_nonadj, e->digit_gap);
    snprintf(name, sizeof name, "nearest neighbour (%zu)", e->dup_sample);
    dist_line(name, &e->nn1);
    printf("  %-22s nn1 >= 0.99: %" PRIu64 " (%.4f), >= 0.999: %" PRIu64 " (%.4f)\n", "near duplicates", e->count_099,
           e->frac_099, e->count_0999, e->frac_0999);
    printf("  %-22s", "token classes");
    for (int k = 0; k < VX_TC_COUNT; k++) printf(" %s %" PRIu64, vx_token_class_name((vx_token_class)k), e->classes[k]);
    printf("; leading space %" PRIu64 "\n", e->leading_space);

    printf("\nlayers %u-%u (gate | down)%s\n", s->layer_lo, s->layer_hi,
           s->n_lacks ? "   * = partial: top-F numbers only" : "");
    printf("%5s %10s %8s %7s %6s %7s %9s %6s | %10s %8s %7s %6s %7s %9s %6s | %6s %6s %6s\n", "layer", "sigma1", "srank",
           "PR", "active", "rank90", "cond", "topF", "sigma1", "srank", "PR", "active", "rank90", "cond", "topF", "dead",
           "weak", "coher");
    for (size_t i = 0; i < s->n_layers; i++) {
        const vx_layer_stats *ls = &s->layers[i];
        printf("%4u%c", ls->layer, ls->partial ? '*' : ' ');
        for (int k = 0; k < 2; k++) {
            const vx_spec_stats *p = &ls->spec[k];
            if (p->full)
                printf(" %10.4g %8.2f %7.1f %6.3f %7u %9.4g%s %6.3f", p->sigma1, p->stable_rank, p->participation_ratio,
                       p->active_fraction, p->rank_90, p->condition, p->condition_resolved ? "" : "?", p->topf_share);
            else
                printf(" %10.4g %7.2f+ %7s %6s %7s %8.4g+ %6s", p->sigma1, p->stable_rank_topf, "-", "-", "-", p->condition_topf, "-");
            if (!k) printf(" |");
        }
        if (ls->has_neurons) printf(" | %6" PRIu64 " %6" PRIu64, ls->dead, ls->weak);
        else printf(" | %6s %6s", "-", "-");
        if (isfinite(ls->gate_coherence)) printf(" %6.3f\n", ls->gate_coherence);
        else printf(" %6s\n", "-");
    }
    printf("gate coherence (mean |cos| of each gate direction with its best match in the next layer): %.4f\n",
           s->gate_coherence_mean);
    if (s->has_moments) {
        for (int side = 0; side < 2; side++) {
            const vx_dir_stats *d = side ? s->suppression : s->prediction;
            size_t n = side ? s->n_suppression : s->n_prediction;
            printf("\n%s directions (down, by excess kurtosis, skew %s 0)\n", side ? "suppression" : "prediction",
                   side ? "<" : ">");
            for (size_t i = 0; i < n; i++) {
                printf("  %3u:%-5u kurtosis %9.3f skew %+7.3f  ", d[i].layer, d[i].feature, d[i].kurtosis, d[i].skew);
                for (size_t j = 0; j < d[i].n_tokens; j++) { if (j) fputc(' ', stdout); tok(vx, d[i].tokens[j]); }
                fputc('\n', stdout);
            }
        }
    }
}

int cmd_stats(int argc, char **argv) {
    enum { O_JSON = 256, O_SAMPLE, O_DUP, O_PENT, O_SEED, O_LAYERS };
    static const struct option lo[] = { { "layers", required_argument, 0, O_LAYERS }, { "sample", required_argument, 0, O_SAMPLE },
                                        { "dup-sample", required_argument, 0, O_DUP },   { "pentachora", required_argument, 0, O_PENT },
                                        { "seed", required_argument, 0, O_SEED },        { "json", no_argument, 0, O_JSON },
                                        { "help", no_argument, 0, 'h' },                 { 0, 0, 0, 0 } };
    vx_stats_opts o;
    vx_stats_opts_init(&o);
    int json = 0, c, layers = 0;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_LAYERS:
            if (parse_layers(optarg, &o.layer_lo, &o.layer_hi)) return cli_usage("stats", "--layers %s: expected A-B with A <= B, or A", optarg);
            layers = 1;
            break;
        case O_SAMPLE:
            if (cli_int(optarg, 2, 10000, &v)) return cli_usage("stats", "--sample %s: expected 2..10000", optarg);
            o.sample = (size_t)v;
            break;
        case O_DUP:
            if (cli_int(optarg, 1, 100000, &v)) return cli_usage("stats", "--dup-sample %s: expected 1..100000", optarg);
            o.dup_sample = (size_t)v;
            break;
        case O_PENT:
            if (cli_int(optarg, 0, 1000000, &v)) return cli_usage("stats", "--pentachora %s: expected 0..1000000", optarg);
            o.pentachora = (size_t)v;
            break;
        case O_SEED: {
            char *e;
            if (!*optarg || *optarg == '-') return cli_usage("stats", "--seed %s: expected a non-negative integer", optarg);
            unsigned long long sd = strtoull(optarg, &e, 10);
            if (*e) return cli_usage("stats", "--seed %s: expected a non-negative integer", optarg);
            o.seed = sd;
            break;
        }
        case O_JSON: json = 1; break;
        case 'h': fputs(stats_help, stdout); return EXIT_OK;
        default: return cli_usage("stats", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("stats", "expected exactly one vindex directory");
    const char *path = argv[optind];
    vx_err err = { 0 };
    vx_index *vx;
    int rc = vx_open(&vx, path, &err);
    if (rc) { cli_error("stats: %s", err.msg); return cli_exit_for(rc); }
    vx_advise(vx, VX_ADVISE_ONCE);
    if (layers && o.layer_hi >= vx_get_info(vx)->num_layers) {
        uint32_t L = vx_get_info(vx)->num_layers;
        vx_close(vx);
        return cli_usage("stats", "--layers: this vindex has layers 0-%u", L - 1);
    }
    vx_stats *s;
    rc = vx_stats_compute(&s, vx, &o, &err);
    if (rc) {
        cli_error("stats: %s", err.msg);
        vx_close(vx);
        return cli_exit_for(rc);
    }
    int st = EXIT_OK;
    if (json) {
        char *txt = cli_stats_json(s, vx, path);
        if (txt) puts(txt);
        else { cli_error("stats: out of memory for the JSON"); st = EXIT_FAIL; }
        free(txt);
    } else print_table(s, vx, path);
    if (fflush(stdout)) st = EXIT_FAIL;
    vx_stats_free(s);
    vx_close(vx);
    return st;
}
