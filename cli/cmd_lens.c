/*
 * cmd_lens.c — `vindex lens`: what a feature, a token or a vector writes — the logits of
 * the model's own head (final norm, then unembedding) — from include/vx_lens.h. The
 * numbers are defined in spec/queries.md §6; this file parses and prints.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_lens.h"

static const char *lens_help =
    "usage: vindex lens VX (--feature L:F[:kind] | --token T | --vector FILE) [options]\n"
    "\n"
    "The logit lens: the logits the model's head gives a direction of its residual stream,\n"
    "U · norm(v), through the final norm as norms.bin stores it and the unembedding\n"
    "(unembed.bin, or the embeddings when the model ties them). Prints the tokens with\n"
    "the largest and the smallest logits. An untied model needs a vindex extracted with\n"
    "--unembed.\n"
    "\n"
    "  -f, --feature L:F[:kind]  a stored direction (kind gate or down; default gate)\n"
    "  -T, --token T             a token's embedding (ĠParis, \" Paris\", #ID), as the model\n"
    "                            reads it (× embed_scale)\n"
    "  -t, --text                with --token: the mean embedding of the text's pieces\n"
    "  -v, --vector FILE         H little-endian f32 values (e.g. from vindex map --out)\n"
    "  -n, --top N               tokens per end (default 20)\n"
    "      --json                one JSON object\n"
    "  -h, --help                this help\n"
    "\n"
    "Exit status: 0 ok, 1 failure (bad vindex, no unembedding), 2 usage.\n";

static cJSON *hits_json(const vx_index *vx, const vx_lens_hit *h, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "token", cli_token_json(vx, h[i].token_id));
        cJSON_AddNumberToObject(o, "token_id", h[i].token_id);
        cJSON_AddNumberToObject(o, "logit", h[i].logit);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void print_hits(const vx_index *vx, const char *title, const vx_lens_hit *h, size_t n) {
    printf("%s\n", title);
    for (size_t i = 0; i < n; i++) {
        printf("  %3zu  %+10.4f  #%-7u ", i + 1, (double)h[i].logit, h[i].token_id);
        cli_print_token_id(vx, h[i].token_id);
        fputc('\n', stdout);
    }
}

int cmd_lens(int argc, char **argv) {
    enum { O_JSON = 256 };
    static const struct option lo[] = { { "feature", required_argument, 0, 'f' }, { "token", required_argument, 0, 'T' },
                                        { "vector", required_argument, 0, 'v' },  { "top", required_argument, 0, 'n' },
                                        { "text", no_argument, 0, 't' },          { "json", no_argument, 0, O_JSON },
                                        { "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 } };
    const char *feat = NULL, *tok = NULL, *vec = NULL;
    long top = 20;
    int json = 0, c, nsrc = 0;
    unsigned flags = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f:T:v:n:th", lo, NULL)) != -1) {
        switch (c) {
        case 'f': feat = optarg; nsrc++; break;
        case 'T': tok = optarg; nsrc++; break;
        case 'v': vec = optarg; nsrc++; break;
        case 'n': if (cli_int(optarg, 1, 1000000, &top)) return cli_usage("lens", "--top %s: expected 1..1000000", optarg); break;
        case 't': flags |= VX_TOKEN_TEXT; break;
        case O_JSON: json = 1; break;
        case 'h': fputs(lens_help, stdout); return EXIT_OK;
        default: return cli_usage("lens", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("lens", "expected exactly one vindex directory");
    if (nsrc != 1) return cli_usage("lens", "give exactly one of --feature, --token, --vector");
    if (flags && !tok) return cli_usage("lens", "--text goes with --token");
    vx_index *vx = NULL;
    vx_err err = { 0 };
    int rc = vx_open(&vx, argv[optind], &err);
    if (rc) { cli_error("lens: %s", err.msg); return cli_exit_for(rc); }
    vx_query *q = NULL;
    if (feat) {
        uint32_t l, f;
        vx_kind k;
        rc = vx_feature_parse(&l, &f, &k, vx, feat, &err);
        if (!rc) rc = vx_query_feature(&q, vx, l, f, k, &err);
    } else if (tok) rc = vx_query_token(&q, vx, tok, flags, &err);
    else rc = vx_query_vector_file(&q, vx, vec, &err);
    size_t n = 0, k = (size_t)top;
    vx_lens_hit *pos = calloc(k, sizeof *pos), *neg = calloc(k, sizeof *neg);
    vx_lens_info info;
    if (!rc && (!pos || !neg)) rc = VX_ENOMEM, snprintf(err.msg, sizeof err.msg, "out of memory");
    if (!rc) rc = vx_lens(pos, neg, &n, &info, vx, q, k, &err);
    int st = EXIT_OK;
    if (rc) { cli_error("lens: %s", err.msg); st = cli_exit_for(rc); }
    else if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "source", feat ? "feature" : tok ? (flags ? "text" : "token") : "vector");
        cJSON_AddStringToObject(o, "query", feat ? feat : tok ? tok : vec);
        if (q->token_id >= 0) cJSON_AddNumberToObject(o, "token_id", (double)q->token_id);
        cJSON_AddStringToObject(o, "norm", info.layernorm ? "layernorm" : "rmsnorm");
        if (info.eps_recorded) cJSON_AddNumberToObject(o, "norm_eps", info.norm_eps);
        else cJSON_AddNullToObject(o, "norm_eps");
        cJSON_AddStringToObject(o, "unembedding", info.tied ? "embeddings" : "unembed.bin");
        cJSON_AddItemToObject(o, "top", hits_json(vx, pos, n));
        cJSON_AddItemToObject(o, "bottom", hits_json(vx, neg, n));
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("lens of %s %s through the final %s (eps %s%g) and the %s\n", feat ? "feature" : tok ? "token" : "vector",
               feat ? feat : tok ? tok : vec, info.layernorm ? "LayerNorm" : "RMSNorm", info.eps_recorded ? "" : "not recorded, ",
               info.norm_eps, info.tied ? "embeddings (tied)" : "unembedding");
        print_hits(vx, "largest logits:", pos, n);
        print_hits(vx, "smallest logits:", neg, n);
    }
    free(pos);
    free(neg);
    vx_query_free(q);
    vx_close(vx);
    return st;
}
