/*
 * cmd_query.c — `vindex score`, `vindex nearest`, `vindex describe`: parse arguments,
 * ask the library (include/vx_query.h) and print a table or JSON. What the numbers mean
 * is spec/queries.md; this file only arranges them.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_query.h"
#include "vx_stats.h"

static const char *score_help =
    "usage: vindex score VX TOKEN [options]\n"
    "       vindex score VX --batch FILE [options]\n"
    "\n"
    "Features whose directions align with a token: the cosine between the token's\n"
    "embedding and every selected feature direction, ranked by |cosine| (by cosine with\n"
    "--signed). Each row shows layer, feature, kind, cosine, sigma and the feature's top\n"
    "vocabulary projections (from the end matching the cosine's sign).\n"
    "\n"
    "TOKEN is a vocabulary string (ĠParis, ▁Paris), readable text (\" Paris\") or #ID.\n"
    "\n"
    "  -n, --top N        results per query (default 20)\n"
    "  -l, --layer L      only layer L\n"
    "      --layers A-B   only layers A..B (inclusive)\n"
    "  -k, --kind K       gate, down or both (default both)\n"
    "      --signed       rank by signed cosine, largest first\n"
    "  -p, --proj N       top vocabulary projections shown per feature (default 5)\n"
    "  -t, --text         read TOKEN as text: split it with the model's tokenizer and use\n"
    "                     the mean of the pieces' embeddings\n"
    "  -b, --batch FILE   one TOKEN per line, answered together (BLAS)\n"
    "      --json         JSON on stdout:\n"
    "                     {\"token\", \"token_id\", \"results\": [{\"layer\", \"feature\", \"kind\",\n"
    "                     \"cosine\", \"sigma\", \"top_tokens\"}]}; with --batch {\"queries\": [...]}\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok, 1 failure (unknown token, unreadable vindex), 2 usage error\n";

static const char *nearest_help =
    "usage: vindex nearest VX (--token T | --feature L:F[:gate|down] | --vector FILE | --batch FILE)\n"
    "                         [--tokens N] [--features N] [--text] [--metric cosine|causal] [--json]\n"
    "\n"
    "Nearest tokens by cosine over the embedding matrix (largest first; a token query\n"
    "skips its own token) and nearest features across all layers and both kinds (by\n"
    "|cosine|, since a direction's sign is a convention; a feature query skips itself).\n"
    "\n"
    "  -T, --token T      a token (ĠParis, \" Paris\", #ID); with --text, text\n"
    "  -f, --feature S    a feature direction, LAYER:FEATURE[:gate|down] (default gate)\n"
    "  -v, --vector FILE  exactly hidden_size little-endian f32 values\n"
    "  -b, --batch FILE   one token per line, answered together (BLAS)\n"
    "      --tokens N     tokens to list (default 10; 0 = none)\n"
    "      --features N   features to list (default 10; 0 = none)\n"
    "  -t, --text         read tokens as text (mean of the tokenizer's pieces)\n"
    "      --metric M     how tokens are ranked: cosine (default) or causal, the cosine in\n"
    "                     the whitened space of the unembedding's covariance (spec/stats.md\n"
    "                     §6; a token query then uses its unembedding row; computed per call,\n"
    "                     about as long as `stats` on a large model)\n"
    "      --json         {\"tokens\": [{\"token\", \"token_id\", \"cosine\"}],\n"
    "                      \"features\": [{\"layer\", \"feature\", \"kind\", \"cosine\"}]};\n"
    "                     with --batch {\"queries\": [{\"query\", \"tokens\", \"features\"}]}\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok, 1 failure, 2 usage error\n";

static const char *describe_help =
    "usage: vindex describe VX LAYER:FEATURE[:gate|down] [options]\n"
    "\n"
    "What one feature points to: its singular value, its top positive and negative\n"
    "vocabulary projections (down_meta.bin), the tokens nearest to it by cosine, and the\n"
    "most similar features (by |cosine|) in the neighbouring layers.\n"
    "\n"
    "  -n, --top N        projections per sign (default 10, at most the vindex's top_k)\n"
    "      --tokens N     nearest tokens (default 10)\n"
    "      --features N   similar features (default 10)\n"
    "      --json         {\"layer\", \"feature\", \"kind\", \"sigma\", \"top_positive\": [{\"token\",\n"
    "                     \"token_id\", \"value\"}], \"top_negative\": [...], \"nearest_tokens\":\n"
    "                     [{\"token\", \"token_id\", \"cosine\"}], \"similar_features\": [{\"layer\",\n"
    "                     \"feature\", \"kind\", \"cosine\"}]}\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok, 1 failure, 2 usage error\n";

/* ------------------------------------------------------------------ helpers */

static void print_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
}

/* Lines of a batch file, without their line ends; empty lines skipped. */
static int read_lines(char ***lines, size_t *n, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { cli_error("cannot open %s", path); return -1; }
    char *line = NULL, **v = NULL;
    size_t cap = 0, cnt = 0, vcap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (cnt == vcap) {
            vcap = vcap ? 2 * vcap : 16;
            char **nv = realloc(v, vcap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        if (!(v[cnt] = strdup(line))) break;
        cnt++;
    }
    free(line);
    fclose(f);
    *lines = v;
    *n = cnt;
    if (!cnt) { cli_error("%s: no queries", path); return -1; }
    return 0;
}

static void free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* Describe where a query came from, for headings and JSON. */
static cJSON *query_json(const vx_index *vx, const vx_query *q, const char *arg) {
    cJSON *o = cJSON_CreateObject();
    if (q->token_id >= 0) {
        cJSON_AddItemToObject(o, "token", cli_token_json(vx, (uint32_t)q->token_id));
        cJSON_AddNumberToObject(o, "token_id", (double)q->token_id);
    } else {
        cJSON_AddStringToObject(o, "token", arg ? arg : "");
        cJSON_AddNullToObject(o, "token_id");
    }
    if (q->pieces) {
        cJSON *p = cJSON_AddArrayToObject(o, "pieces");
        for (size_t i = 0; i < q->n_pieces; i++) cJSON_AddItemToArray(p, cJSON_CreateNumber(q->pieces[i]));
    }
    return o;
}

static void print_query_heading(const vx_index *vx, const vx_query *q, const char *arg) {
    if (q->is_feature) printf("feature %u:%u:%s", q->layer, q->feature, vx_kind_name(q->kind));
    else if (q->token_id >= 0) { cli_print_token_id(vx, (uint32_t)q->token_id); printf(" (#%lld)", (long long)q->token_id); }
    else if (q->pieces) {
        printf("text '%s' = mean of", arg);
        for (size_t i = 0; i < q->n_pieces; i++) { fputc(' ', stdout); cli_print_token_id(vx, q->pieces[i]); }
    } else printf("vector %s", arg);
}

/* Open VX or report; returns the exit status on failure, 0 on success. A one-shot process
 * keeps its peak RSS to its working set (vx_advice): score's is the feature matrices it
 * scans, which it then reads from the maps. */
static int open_vx(vx_index **vx, const char *cmd, const char *dir, vx_advice advice) {
    vx_err err = { 0 };
    int rc = vx_open(vx, dir, &err);
    if (rc) { cli_error("%s: %s", cmd, err.msg); return cli_exit_for(rc); }
    vx_advise(*vx, advice);
    return 0;
}

/* Build queries from token arguments; on failure report and return the exit status. */
static int make_token_queries(vx_query **qs, const vx_index *vx, char **args, size_t n, unsigned flags, const char *cmd,
                              int batch) {
    for (size_t i = 0; i < n; i++) {
        vx_err err = { 0 };
        int rc = vx_query_token(&qs[i], vx, args[i], flags, &err);
        if (rc) {
            if (batch) cli_error("%s: line %zu: %s", cmd, i + 1, err.msg);
            else cli_error("%s: %s", cmd, err.msg);
            return cli_exit_for(rc);
        }
    }
    return 0;
}

static void free_queries(vx_query **qs, size_t n) {
    for (size_t i = 0; qs && i < n; i++) vx_query_free(qs[i]);
    free(qs);
}

/* ------------------------------------------------------------------ score */

/* The feature's projections at the end its cosine points to. */
static const vx_proj *proj_end(const vx_index *vx, const vx_feat_hit *h) {
    const vx_proj *pos, *neg;
    if (vx_feature_proj(&pos, &neg, vx, h->layer, h->feature, h->kind, NULL)) return NULL;
    return h->cosine < 0 ? neg : pos;
}

static float sigma_of(const vx_index *vx, uint32_t layer, uint32_t feat, vx_kind kind) {
    const float *s = vx_sigma(vx, kind, layer);
    return s ? s[feat] : NAN;
}

static void score_output(cJSON *arr, const vx_index *vx, const vx_query *q, const char *arg, const vx_feat_hit *hits,
                         size_t n, int nproj, int json, int signed_rank) {
    const vx_info *in = vx_get_info(vx);
    int np = nproj < (int)in->top_k ? nproj : (int)in->top_k;
    if (json) {
        cJSON *o = query_json(vx, q, arg);
        cJSON *res = cJSON_AddArrayToObject(o, "results");
        for (size_t i = 0; i < n; i++) {
            const vx_feat_hit *h = &hits[i];
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "layer", h->layer);
            cJSON_AddNumberToObject(r, "feature", h->feature);
            cJSON_AddStringToObject(r, "kind", vx_kind_name(h->kind));
            cJSON_AddNumberToObject(r, "cosine", h->cosine);
            cJSON_AddNumberToObject(r, "sigma", sigma_of(vx, h->layer, h->feature, h->kind));
            cJSON *tt = cJSON_AddArrayToObject(r, "top_tokens");
            const vx_proj *p = proj_end(vx, h);
            for (int j = 0; p && j < np; j++) cJSON_AddItemToArray(tt, cli_token_json(vx, p[j].token_id));
            cJSON_AddItemToArray(res, r);
        }
        cJSON_AddItemToArray(arr, o);
        return;
    }
    printf("score ");
    print_query_heading(vx, q, arg);
    printf(": top %zu features by %s\n", n, signed_rank ? "cosine" : "|cosine|");
    printf("%5s %5s %7s %4s %9s %10s  %s\n", "rank", "layer", "feature", "kind", "cosine", "sigma", "top tokens");
    for (size_t i = 0; i < n; i++) {
        const vx_feat_hit *h = &hits[i];
        printf("%5zu %5u %7u %4s %+9.5f %10.4g  ", i + 1, h->layer, h->feature, vx_kind_name(h->kind), h->cosine,
               sigma_of(vx, h->layer, h->feature, h->kind));
        const vx_proj *p = proj_end(vx, h);
        for (int j = 0; p && j < np; j++) { if (j) fputc(' ', stdout); cli_print_token_id(vx, p[j].token_id); }
        fputc('\n', stdout);
    }
}

/* "A-B" into lo, hi. */
static int parse_range(const char *s, uint32_t *lo, uint32_t *hi) {
    const char *d = strchr(s, '-');
    if (!d) return -1;
    char a[32];
    long x, y;
    if ((size_t)(d - s) >= sizeof a) return -1;
    memcpy(a, s, (size_t)(d - s));
    a[d - s] = 0;
    if (cli_int(a, 0, UINT32_MAX - 1, &x) || cli_int(d + 1, 0, UINT32_MAX - 1, &y) || x > y) return -1;
    *lo = (uint32_t)x;
    *hi = (uint32_t)y;
    return 0;
}

/* Print the per-query JSON results and free them: {"queries": [...]} for --batch, the
 * single object otherwise; nothing (just free) for text output. */
static void finish_json(cJSON *arr, int json, int batch) {
    if (json && batch) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "queries", arr);
        print_json(o);
        cJSON_Delete(o);
        return;
    }
    if (json) print_json(cJSON_GetArrayItem(arr, 0));
    cJSON_Delete(arr);
}

int cmd_score(int argc, char **argv) {
    enum { O_LAYERS = 256, O_SIGNED, O_JSON };
    static const struct option lo[] = { { "top", required_argument, 0, 'n' },   { "layer", required_argument, 0, 'l' },
                                        { "layers", required_argument, 0, O_LAYERS }, { "kind", required_argument, 0, 'k' },
                                        { "signed", no_argument, 0, O_SIGNED },     { "proj", required_argument, 0, 'p' },
                                        { "text", no_argument, 0, 't' },            { "batch", required_argument, 0, 'b' },
                                        { "json", no_argument, 0, O_JSON },         { "help", no_argument, 0, 'h' },
                                        { 0, 0, 0, 0 } };
    vx_score_opts so;
    vx_score_opts_init(&so);
    int json = 0, c, have_layer = 0;
    unsigned flags = 0;
    long v, nproj = 5;
    const char *batch = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:l:k:p:tb:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_int(optarg, 1, 1000000, &v)) return cli_usage("score", "--top %s: expected 1..1000000", optarg);
            so.top = (size_t)v;
            break;
        case 'l':
            if (have_layer++) return cli_usage("score", "give --layer or --layers once");
            if (cli_int(optarg, 0, UINT32_MAX - 1, &v)) return cli_usage("score", "--layer %s: expected a layer number", optarg);
            so.layer_lo = so.layer_hi = (uint32_t)v;
            break;
        case O_LAYERS:
            if (have_layer++) return cli_usage("score", "give --layer or --layers once");
            if (parse_range(optarg, &so.layer_lo, &so.layer_hi)) return cli_usage("score", "--layers %s: expected A-B with A <= B", optarg);
            break;
        case 'k':
            if (!strcmp(optarg, "gate")) so.kinds = VX_KINDS_GATE;
            else if (!strcmp(optarg, "down")) so.kinds = VX_KINDS_DOWN;
            else if (!strcmp(optarg, "both")) so.kinds = VX_KINDS_BOTH;
            else return cli_usage("score", "--kind %s: expected gate, down or both", optarg);
            break;
        case O_SIGNED: so.signed_rank = 1; break;
        case 'p':
            if (cli_int(optarg, 0, 4096, &nproj)) return cli_usage("score", "--proj %s: expected 0..4096", optarg);
            break;
        case 't': flags |= VX_TOKEN_TEXT; break;
        case 'b': batch = optarg; break;
        case O_JSON: json = 1; break;
        case 'h': fputs(score_help, stdout); return EXIT_OK;
        default: return cli_usage("score", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    int npos = argc - optind;
    if (batch ? npos != 1 : npos != 2)
        return cli_usage("score", batch ? "with --batch, expected only the vindex directory" : "expected VX and TOKEN");
    vx_index *vx;
    int st = open_vx(&vx, "score", argv[optind], VX_ADVISE_ONCE_MAPPED);
    if (st) return st;
    const vx_info *in = vx_get_info(vx);
    if (have_layer && so.layer_hi >= in->num_layers) {
        vx_close(vx);
        return cli_usage("score", "layer %u: this vindex has layers 0-%u", so.layer_hi, in->num_layers - 1);
    }
    char **args = NULL;
    size_t nq = 1;
    if (batch) {
        if (read_lines(&args, &nq, batch)) { vx_close(vx); return EXIT_FAIL; }
    } else if (!(args = malloc(sizeof *args)) || !(args[0] = strdup(argv[optind + 1]))) {
        free(args);
        vx_close(vx);
        cli_error("score: out of memory");
        return EXIT_FAIL;
    }
    vx_query **qs = calloc(nq, sizeof *qs);
    vx_feat_hit *hits = calloc(nq * so.top, sizeof *hits);
    size_t *nh = calloc(nq, sizeof *nh);
    if (!qs || !hits || !nh) { cli_error("score: out of memory"); st = EXIT_FAIL; }
    if (!st) st = make_token_queries(qs, vx, args, nq, flags, "score", batch != NULL);
    if (!st) {
        vx_err err = { 0 };
        int rc = vx_score(hits, nh, vx, (const vx_query *const *)qs, nq, &so, &err);
        if (rc) { cli_error("score: %s", err.msg); st = cli_exit_for(rc); }
    }
    if (!st) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < nq; i++) {
            if (i && !json) fputc('\n', stdout);
            score_output(arr, vx, qs[i], args[i], hits + i * so.top, nh[i], (int)nproj, json, so.signed_rank);
        }
        finish_json(arr, json, batch != NULL);
    }
    free_queries(qs, nq);
    free(hits);
    free(nh);
    free_lines(args, nq);
    vx_close(vx);
    return st;
}

/* ------------------------------------------------------------------ nearest */

static void print_tok_hits(const vx_index *vx, const char *title, const vx_tok_hit *t, size_t n) {
    printf("%s\n", title);
    for (size_t i = 0; i < n; i++) {
        printf("%5zu %+9.5f %8u  ", i + 1, t[i].cosine, t[i].token_id);
        cli_print_token_id(vx, t[i].token_id);
        fputc('\n', stdout);
    }
}

static void print_feat_hits(const vx_index *vx, const char *title, const vx_feat_hit *f, size_t n) {
    printf("%s\n", title);
    for (size_t i = 0; i < n; i++)
        printf("%5zu %+9.5f  %u:%u:%s  sigma %.4g\n", i + 1, f[i].cosine, f[i].layer, f[i].feature, vx_kind_name(f[i].kind),
               sigma_of(vx, f[i].layer, f[i].feature, f[i].kind));
}

int cmd_nearest(int argc, char **argv) {
    enum { O_TOKENS = 256, O_FEATURES, O_JSON, O_METRIC };
    static const struct option lo[] = { { "token", required_argument, 0, 'T' },   { "feature", required_argument, 0, 'f' },
                                        { "metric", required_argument, 0, O_METRIC },
                                        { "vector", required_argument, 0, 'v' },  { "batch", required_argument, 0, 'b' },
                                        { "tokens", required_argument, 0, O_TOKENS }, { "features", required_argument, 0, O_FEATURES },
                                        { "text", no_argument, 0, 't' },          { "json", no_argument, 0, O_JSON },
                                        { "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 } };
    const char *tok = NULL, *feat = NULL, *vec = NULL, *batch = NULL;
    long ntok = 10, nfeat = 10;
    int json = 0, c, nsrc = 0, causal = 0;
    unsigned flags = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "T:f:v:b:th", lo, NULL)) != -1) {
        switch (c) {
        case O_METRIC:
            if (!strcmp(optarg, "causal")) causal = 1;
            else if (!strcmp(optarg, "cosine")) causal = 0;
            else return cli_usage("nearest", "--metric %s: expected cosine or causal", optarg);
            break;
        case 'T': tok = optarg; nsrc++; break;
        case 'f': feat = optarg; nsrc++; break;
        case 'v': vec = optarg; nsrc++; break;
        case 'b': batch = optarg; nsrc++; break;
        case O_TOKENS: if (cli_int(optarg, 0, 1000000, &ntok)) return cli_usage("nearest", "--tokens %s: expected 0..1000000", optarg); break;
        case O_FEATURES: if (cli_int(optarg, 0, 1000000, &nfeat)) return cli_usage("nearest", "--features %s: expected 0..1000000", optarg); break;
        case 't': flags |= VX_TOKEN_TEXT; break;
        case O_JSON: json = 1; break;
        case 'h': fputs(nearest_help, stdout); return EXIT_OK;
        default: return cli_usage("nearest", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("nearest", "expected exactly one vindex directory");
    if (nsrc != 1) return cli_usage("nearest", "give exactly one of --token, --feature, --vector, --batch");
    vx_index *vx;
    int st = open_vx(&vx, "nearest", argv[optind], VX_ADVISE_ONCE);
    if (st) return st;
    char **args = NULL;
    size_t nq = 1;
    vx_query **qs = NULL;
    if (batch) {
        if (read_lines(&args, &nq, batch)) { vx_close(vx); return EXIT_FAIL; }
    } else if ((args = calloc(1, sizeof *args))) args[0] = strdup(tok ? tok : feat ? feat : vec);
    if (!args || !args[0] || !(qs = calloc(nq, sizeof *qs))) { cli_error("nearest: out of memory"); st = EXIT_FAIL; }
    if (!st) {
        if (batch || tok) st = make_token_queries(qs, vx, args, nq, flags, "nearest", batch != NULL);
        else {
            vx_err err = { 0 };
            int rc;
            if (feat) {
                uint32_t l, f;
                vx_kind k;
                rc = vx_feature_parse(&l, &f, &k, vx, feat, &err);
                if (!rc) rc = vx_query_feature(&qs[0], vx, l, f, k, &err);
            } else rc = vx_query_vector_file(&qs[0], vx, vec, &err);
            if (rc) { cli_error("nearest: %s", err.msg); st = cli_exit_for(rc); }
        }
    }
    size_t kt = ntok ? (size_t)ntok : 1, kf = nfeat ? (size_t)nfeat : 1;
    vx_tok_hit *th = calloc(nq * kt, sizeof *th);
    vx_feat_hit *fh = calloc(nq * kf, sizeof *fh);
    size_t *nt = calloc(nq, sizeof *nt), *nf = calloc(nq, sizeof *nf);
    if (!st && (!th || !fh || !nt || !nf)) { cli_error("nearest: out of memory"); st = EXIT_FAIL; }
    if (!st) {
        vx_err err = { 0 };
        int rc = VX_OK;
        if (ntok && causal) {
            vx_causal *cz = NULL;
            rc = vx_causal_open(&cz, vx, &err);
            if (!rc) rc = vx_causal_nearest(th, nt, cz, (const vx_query *const *)qs, nq, kt, &err);
            vx_causal_free(cz);
        } else if (ntok) rc = vx_nearest_tokens(th, nt, vx, (const vx_query *const *)qs, nq, kt, &err);
        if (!rc && nfeat) {
            vx_score_opts so;
            vx_score_opts_init(&so);
            so.top = kf;
            rc = vx_score(fh, nf, vx, (const vx_query *const *)qs, nq, &so, &err);
        }
        if (rc) { cli_error("nearest: %s", err.msg); st = cli_exit_for(rc); }
    }
    if (!st) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < nq; i++) {
            if (json) {
                cJSON *o = cJSON_CreateObject();
                if (batch) cJSON_AddStringToObject(o, "query", args[i]);
                if (causal) cJSON_AddStringToObject(o, "metric", "causal");
                cJSON_AddItemToObject(o, "tokens", cli_tok_hits_json(vx, th + i * kt, nt[i]));
                cJSON_AddItemToObject(o, "features", cli_feat_hits_json(fh + i * kf, nf[i]));
                cJSON_AddItemToArray(arr, o);
                continue;
            }
            if (i) fputc('\n', stdout);
            printf("nearest to ");
            print_query_heading(vx, qs[i], args[i]);
            fputc('\n', stdout);
            if (ntok) print_tok_hits(vx, causal ? "tokens (by causal cosine):" : "tokens (by cosine):", th + i * kt, nt[i]);
            if (nfeat) print_feat_hits(vx, "features (by |cosine|):", fh + i * kf, nf[i]);
        }
        finish_json(arr, json, batch != NULL);
    }
    free(th); free(fh); free(nt); free(nf);
    free_queries(qs, nq);
    if (args) free_lines(args, nq);
    vx_close(vx);
    return st;
}

/* ------------------------------------------------------------------ describe */

static int feat_better(const vx_feat_hit *a, const vx_feat_hit *b, uint32_t F) {
    float x = fabsf(a->cosine), y = fabsf(b->cosine);
    if (x != y) return x > y;
    uint64_t ka = ((uint64_t)a->layer * 2 + a->kind) * F + a->feature, kb = ((uint64_t)b->layer * 2 + b->kind) * F + b->feature;
    return ka < kb;
}

int cmd_describe(int argc, char **argv) {
    enum { O_TOKENS = 256, O_FEATURES, O_JSON };
    static const struct option lo[] = { { "top", required_argument, 0, 'n' }, { "tokens", required_argument, 0, O_TOKENS },
                                        { "features", required_argument, 0, O_FEATURES }, { "json", no_argument, 0, O_JSON },
                                        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    long ntop = 10, ntok = 10, nfeat = 10;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': if (cli_int(optarg, 0, 4096, &ntop)) return cli_usage("describe", "--top %s: expected 0..4096", optarg); break;
        case O_TOKENS: if (cli_int(optarg, 1, 1000000, &ntok)) return cli_usage("describe", "--tokens %s: expected 1..1000000", optarg); break;
        case O_FEATURES: if (cli_int(optarg, 1, 1000000, &nfeat)) return cli_usage("describe", "--features %s: expected 1..1000000", optarg); break;
        case O_JSON: json = 1; break;
        case 'h': fputs(describe_help, stdout); return EXIT_OK;
        default: return cli_usage("describe", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) return cli_usage("describe", "expected VX and LAYER:FEATURE[:gate|down]");
    vx_index *vx;
    int st = open_vx(&vx, "describe", argv[optind], VX_ADVISE_ONCE);
    if (st) return st;
    const vx_info *in = vx_get_info(vx);
    vx_err err = { 0 };
    uint32_t L, F;
    vx_kind K;
    vx_query *q = NULL;
    const vx_proj *pos = NULL, *neg = NULL;
    int rc = vx_feature_parse(&L, &F, &K, vx, argv[optind + 1], &err);
    if (!rc) rc = vx_query_feature(&q, vx, L, F, K, &err);
    if (!rc) rc = vx_feature_proj(&pos, &neg, vx, L, F, K, &err);
    vx_tok_hit *th = calloc((size_t)ntok, sizeof *th);
    vx_feat_hit *fh = calloc(2 * (size_t)nfeat, sizeof *fh);
    size_t nt = 0, nf = 0;
    if (!rc && (!th || !fh)) rc = VX_ENOMEM;
    if (!rc) rc = vx_nearest_tokens(th, &nt, vx, (const vx_query *const *)&q, 1, (size_t)ntok, &err);
    /* Neighbouring layers, each ranked on its own, merged by the same order. */
    for (int d = -1; d <= 1 && !rc; d += 2) {
        if ((d < 0 && L == 0) || (d > 0 && L + 1 >= in->num_layers)) continue;
        vx_score_opts so;
        vx_score_opts_init(&so);
        so.top = (size_t)nfeat;
        so.layer_lo = so.layer_hi = L + (uint32_t)d;
        size_t n = 0;
        rc = vx_score(fh + nf, &n, vx, (const vx_query *const *)&q, 1, &so, &err);
        nf += n;
    }
    if (rc) {
        if (rc == VX_ENOMEM && !err.msg[0]) snprintf(err.msg, sizeof err.msg, "out of memory");
        cli_error("describe: %s", err.msg);
        st = cli_exit_for(rc);
    } else {
        for (size_t i = 1; i < nf; i++) /* insertion sort: at most 2·nfeat entries */
            for (size_t j = i; j > 0 && feat_better(&fh[j], &fh[j - 1], in->num_feats); j--) {
                vx_feat_hit t = fh[j]; fh[j] = fh[j - 1]; fh[j - 1] = t;
            }
        if (nf > (size_t)nfeat) nf = (size_t)nfeat;
        size_t np = (size_t)ntop < in->top_k ? (size_t)ntop : in->top_k;
        float sigma = sigma_of(vx, L, F, K);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "layer", L);
            cJSON_AddNumberToObject(o, "feature", F);
            cJSON_AddStringToObject(o, "kind", vx_kind_name(K));
            cJSON_AddNumberToObject(o, "sigma", sigma);
            const vx_proj *ends[2] = { pos, neg };
            const char *names[2] = { "top_positive", "top_negative" };
            for (int e = 0; e < 2; e++) {
                cJSON *a = cJSON_AddArrayToObject(o, names[e]);
                for (size_t i = 0; i < np; i++) {
                    cJSON *r = cJSON_CreateObject();
                    cJSON_AddItemToObject(r, "token", cli_token_json(vx, ends[e][i].token_id));
                    cJSON_AddNumberToObject(r, "token_id", ends[e][i].token_id);
                    cJSON_AddNumberToObject(r, "value", ends[e][i].value);
                    cJSON_AddItemToArray(a, r);
                }
            }
            cJSON_AddItemToObject(o, "nearest_tokens", cli_tok_hits_json(vx, th, nt));
            cJSON_AddItemToObject(o, "similar_features", cli_feat_hits_json(fh, nf));
            print_json(o);
            cJSON_Delete(o);
        } else {
            printf("feature %u:%u:%s  sigma %.6g\n", L, F, vx_kind_name(K), sigma);
            const vx_proj *ends[2] = { pos, neg };
            const char *names[2] = { "top positive projections:", "top negative projections:" };
            for (int e = 0; e < 2; e++) {
                printf("%s\n", names[e]);
                for (size_t i = 0; i < np; i++) {
                    printf("%5zu %+12.5g %8u  ", i + 1, ends[e][i].value, ends[e][i].token_id);
                    cli_print_token_id(vx, ends[e][i].token_id);
                    fputc('\n', stdout);
                }
            }
            print_tok_hits(vx, "nearest tokens (by cosine):", th, nt);
            print_feat_hits(vx, "similar features in the neighbouring layers (by |cosine|):", fh, nf);
        }
    }
    free(th);
    free(fh);
    vx_query_free(q);
    vx_close(vx);
    return st;
}
