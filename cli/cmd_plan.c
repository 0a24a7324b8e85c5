/*
 * cmd_plan.c — `vindex plan CKPT`: what `extract` would do, from headers and configs only
 * (include/vx_plan.h, spec/plan.md), as a table or --json; exit 1 with extract's own
 * message when extract would refuse.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_plan.h"

static const char *plan_help =
    "usage: vindex plan SRC [options]\n"
    "\n"
    "What `vindex extract SRC` would do, in seconds and without reading any weight: the\n"
    "architecture row matched, layers and experts, the tensors read and ignored with their\n"
    "dtypes, the vindex's files and size, the time and peak memory to expect on this machine,\n"
    "and — exit 1 — the reason extraction would refuse, with extract's own message.\n"
    "SRC is a checkpoint directory or a Hub repo id in the local cache.\n"
    "\n"
    "  -o, --out OUT       also check that OUT is free (or --force) and its disk has room\n"
    "  -f, --features N    as extract (default 128)\n"
    "  -k, --top-k K       as extract (default 16)\n"
    "      --unembed       as extract: plan unembed.bin for an untied model\n"
    "      --force         as extract\n"
    "      --revision REV  as extract\n"
    "      --layers A-B    as extract: plan a part, layers A..B only (or one layer: --layers A)\n"
    "      --disk-gbps G   read speed assumed for checkpoint bytes not in the page cache\n"
    "                      (default 1.0)\n"
    "      --json          one JSON object\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 extract would proceed, 1 it would refuse (message on stderr), 2 usage.\n";

static void human(char *b, size_t n, double x) {
    const char *u[] = { "B", "KB", "MB", "GB", "TB" };
    int i = 0;
    while (x >= 1000 && i < 4) { x /= 1000; i++; }
    snprintf(b, n, i ? "%.2f %s" : "%.0f %s", x, u[i]);
}

int cmd_plan(int argc, char **argv) {
    enum { O_UNEMBED = 256, O_FORCE, O_REV, O_DISK, O_JSON, O_LAYERS };
    static const struct option lo[] = { { "out", required_argument, 0, 'o' },      { "features", required_argument, 0, 'f' },
                                        { "top-k", required_argument, 0, 'k' },    { "unembed", no_argument, 0, O_UNEMBED },
                                        { "force", no_argument, 0, O_FORCE },      { "revision", required_argument, 0, O_REV },
                                        { "disk-gbps", required_argument, 0, O_DISK }, { "json", no_argument, 0, O_JSON },
                                        { "layers", required_argument, 0, O_LAYERS },
                                        { "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 } };
    vx_extract_opts o;
    vx_extract_opts_init(&o);
    long v;
    double disk = 1.0;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:k:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        /* the ranges of extract's own options (cmd_extract.c), so plan and extract agree */
        case 'f': if (cli_int(optarg, 1, 65536, &v)) return cli_usage("plan", "--features %s: expected 1..65536", optarg); o.features = (int)v; break;
        case 'k': if (cli_int(optarg, 1, 4096, &v)) return cli_usage("plan", "--top-k %s: expected 1..4096", optarg); o.top_k = (int)v; break;
        case O_UNEMBED: o.unembed = 1; break;
        case O_FORCE: o.force = 1; break;
        case O_REV: o.revision = optarg; break;
        case O_LAYERS:
            if (cli_layers(optarg, &o)) return cli_usage("plan", "--layers %s: expected A-B with 0 <= A <= B (or one layer A)", optarg);
            break;
        case O_DISK: {
            char *e;
            disk = strtod(optarg, &e);
            if (*e || !(disk > 0 && disk < 1e6)) return cli_usage("plan", "--disk-gbps %s: expected a positive number", optarg);
            break;
        }
        case O_JSON: json = 1; break;
        case 'h': fputs(plan_help, stdout); return EXIT_OK;
        default: return cli_usage("plan", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("plan", "expected exactly one checkpoint");
    o.src = argv[optind];
    vx_plan *p = NULL;
    vx_err err = { 0 };
    int rc = vx_plan_make(&p, &o, disk, &err);
    if (rc) {
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "source", o.src);
            cJSON_AddBoolToObject(j, "ok", 0);
            cJSON_AddStringToObject(j, "refusal", err.msg);
            cJSON_AddStringToObject(j, "error", vx_strerror(rc));
            char *s = cJSON_PrintUnformatted(j);
            if (s) puts(s);
            free(s);
            cJSON_Delete(j);
        }
        cli_error("plan: %s", err.msg); /* extract's message, word for word */
        return cli_exit_for(rc);
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "source", p->source);
        if (*p->repo) cJSON_AddStringToObject(j, "repo", p->repo);
        else cJSON_AddNullToObject(j, "repo");
        cJSON_AddBoolToObject(j, "ok", 1);
        cJSON_AddNullToObject(j, "refusal");
        cJSON_AddStringToObject(j, "architecture", p->architecture);
        cJSON_AddStringToObject(j, "model_type", p->model_type);
        cJSON_AddStringToObject(j, "family", p->family);
        cJSON_AddStringToObject(j, "dtype", p->dtype);
        if (*p->quant) cJSON_AddStringToObject(j, "quantization", p->quant);
        else cJSON_AddNullToObject(j, "quantization");
        cJSON_AddNumberToObject(j, "num_layers", p->num_layers);
        cJSON_AddNumberToObject(j, "hidden_size", p->hidden_size);
        cJSON_AddNumberToObject(j, "intermediate_size", p->intermediate_size);
        cJSON_AddNumberToObject(j, "vocab_size", p->vocab_size);
        cJSON_AddNumberToObject(j, "num_feats", p->features);
        cJSON_AddNumberToObject(j, "down_top_k", p->top_k);
        cJSON_AddBoolToObject(j, "tied_embeddings", p->tied);
        cJSON_AddNumberToObject(j, "sparse_layers", p->sparse_layers);
        cJSON_AddNumberToObject(j, "max_experts", p->max_experts);
        if (p->part) {
            cJSON *pt = cJSON_AddObjectToObject(j, "part");
            cJSON_AddNumberToObject(pt, "first_layer", p->layer_first);
            cJSON_AddNumberToObject(pt, "last_layer", p->layer_last);
            cJSON_AddBoolToObject(pt, "whole_model_files", p->layer_first == 0);
        } else cJSON_AddNullToObject(j, "part");
        cJSON *ex = cJSON_AddArrayToObject(j, "experts");
        for (uint32_t l = 0; l < p->num_layers; l++) cJSON_AddItemToArray(ex, cJSON_CreateNumber(p->experts[l]));
        cJSON *t = cJSON_AddObjectToObject(j, "tensors");
        cJSON_AddNumberToObject(t, "read", (double)p->tensors_read);
        cJSON_AddNumberToObject(t, "read_bytes", (double)p->bytes_read);
        cJSON_AddNumberToObject(t, "cached_bytes", (double)p->bytes_cached);
        cJSON_AddNumberToObject(t, "ignored", (double)p->tensors_ignored);
        cJSON_AddNumberToObject(t, "ignored_bytes", (double)p->bytes_ignored);
        cJSON_AddNumberToObject(t, "mtp_ignored", (double)p->mtp_tensors);
        cJSON *dt = cJSON_AddObjectToObject(t, "dtypes");
        for (size_t i = 0; i < p->n_dtypes; i++) {
            cJSON *d = cJSON_AddObjectToObject(dt, p->dtypes[i].dtype);
            cJSON_AddNumberToObject(d, "tensors", (double)p->dtypes[i].tensors);
            cJSON_AddNumberToObject(d, "bytes", (double)p->dtypes[i].bytes);
        }
        cJSON *f = cJSON_AddObjectToObject(j, "files");
        for (size_t i = 0; i < p->n_files; i++) {
            cJSON *e = cJSON_AddObjectToObject(f, p->files[i].name);
            cJSON_AddNumberToObject(e, "bytes", (double)p->files[i].bytes);
            cJSON_AddBoolToObject(e, "exact", p->files[i].exact);
        }
        cJSON_AddNumberToObject(j, "vindex_bytes", (double)p->out_bytes);
        cJSON *es = cJSON_AddObjectToObject(j, "estimate");
        cJSON_AddNumberToObject(es, "flops", p->flops);
        cJSON_AddNumberToObject(es, "sgemm_gflops", p->sgemm_gflops);
        cJSON_AddNumberToObject(es, "disk_gbps", p->disk_gbps);
        cJSON_AddNumberToObject(es, "seconds_compute", p->seconds_compute);
        cJSON_AddNumberToObject(es, "seconds_read", p->seconds_read);
        cJSON_AddNumberToObject(es, "seconds", p->seconds);
        cJSON_AddNumberToObject(es, "peak_rss_bytes", (double)p->peak_bytes);
        cJSON *w = cJSON_AddArrayToObject(j, "warnings");
        for (int i = 0; i < p->n_warnings; i++) cJSON_AddItemToArray(w, cJSON_CreateString(p->warnings[i]));
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        char a[32], b[32], d[32];
        printf("checkpoint   %s%s%s\n", p->source, *p->repo ? "  repo " : "", p->repo);
        printf("architecture %s (model_type %s, family %s), dtype %s%s%s\n", p->architecture, p->model_type, p->family,
               *p->dtype ? p->dtype : "?", *p->quant ? ", quantised: " : "", p->quant);
        printf("shape        %u layers x hidden %u, intermediate %u, vocab %u; %s\n", p->num_layers, p->hidden_size,
               p->intermediate_size, p->vocab_size, p->tied ? "tied embeddings" : "untied unembedding");
        if (p->sparse_layers) printf("experts      %u sparse layers, up to %u experts; widest layer %llu neurons\n",
                                     p->sparse_layers, p->max_experts, (unsigned long long)p->widest_layer);
        human(a, sizeof a, (double)p->bytes_read);
        human(b, sizeof b, (double)p->bytes_cached);
        human(d, sizeof d, (double)p->bytes_ignored);
        printf("reads        %llu tensors, %s (%s in the page cache); ignores %llu tensors, %s\n",
               (unsigned long long)p->tensors_read, a, b, (unsigned long long)p->tensors_ignored, d);
        for (size_t i = 0; i < p->n_dtypes; i++) {
            human(a, sizeof a, (double)p->dtypes[i].bytes);
            printf("             %-8s %6llu tensors  %s\n", p->dtypes[i].dtype, (unsigned long long)p->dtypes[i].tensors, a);
        }
        human(a, sizeof a, (double)p->out_bytes);
        if (p->part)
            printf("part         layers %u-%u of %u (spec/parts.md)%s\n", p->layer_first, p->layer_last, p->num_layers,
                   p->layer_first == 0 ? "; with the whole-model files" : "");
        printf("writes       %u features x %u layers x 2 kinds, top-%u projections; %s %s\n", p->features,
               p->layer_last - p->layer_first + 1, p->top_k, p->part ? "part" : "vindex", a);
        for (size_t i = 0; i < p->n_files; i++) {
            human(a, sizeof a, (double)p->files[i].bytes);
            printf("             %-18s %12s%s\n", p->files[i].name, a, p->files[i].exact ? "" : " (about)");
        }
        human(a, sizeof a, (double)p->peak_bytes);
        printf("expect       %.0f s (compute %.1f s: %.3g TFLOP at %.0f GFLOP/s sgemm measured now; reading %.1f s at %.2g GB/s), "
               "peak memory about %s\n", p->seconds, p->seconds_compute, p->flops / 1e12, p->sgemm_gflops, p->seconds_read,
               p->disk_gbps, a);
        for (int i = 0; i < p->n_warnings; i++) printf("warning      %s\n", p->warnings[i]);
    }
    vx_plan_free(p);
    return EXIT_OK;
}
