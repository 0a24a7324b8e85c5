/*
 * cmd_info.c — `vindex info VX [--json]` (verify is in cmd_verify.c).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const char *info_help =
    "usage: vindex info VX [--json]\n"
    "\n"
    "Describe a vindex: model, shapes, format version, content digest, whether it holds the\n"
    "weight battery and the unembedding, files and sizes, provenance (manifest.json) and a\n"
    "per-layer summary of the singular-value spectra (sigma_1, sigma_F, sigma_1/sigma_F).\n"
    "\n"
    "  --json      one JSON object on stdout\n"
    "  -h, --help  this text\n"
    "\nexit status: 0 ok, 1 the vindex cannot be opened, 2 usage error\n";

static const char *const files[] = { "gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin", "norms.bin",
                                     "vocab.bin", "tokenizer.json", "index.json", "manifest.json", "SHA256SUMS",
                                     /* format version 2, listed when present: */
                                     "spectra.bin", "neurons.bin", "moments.bin", "unembed.bin" };
#define N_ALWAYS 10

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int cmd_info(int argc, char **argv) {
    static const struct option lo[] = { { "json", no_argument, 0, 'J' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'J') json = 1;
        else if (c == 'h') { fputs(info_help, stdout); return EXIT_OK; }
        else return cli_usage("info", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return cli_usage("info", "expected exactly one vindex directory");
    const char *dir = argv[optind];
    vx_index *vx;
    vx_err err = { 0 };
    int rc = vx_open(&vx, dir, &err);
    if (rc) { cli_error("info: %s", err.msg); return cli_exit_for(rc); }
    const vx_info *in = vx_get_info(vx);
    size_t mlen;
    const char *mtext = vx_manifest(vx, &mlen);
    cJSON *man = mtext ? cJSON_ParseWithLength(mtext, mlen) : NULL;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(man, "source");

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", dir);
    cJSON_AddStringToObject(o, "model", in->model);
    cJSON_AddStringToObject(o, "architecture", in->architecture);
    cJSON_AddStringToObject(o, "model_type", in->model_type);
    cJSON_AddStringToObject(o, "source_dtype", in->dtype);
    cJSON_AddNumberToObject(o, "num_layers", in->num_layers);
    cJSON_AddNumberToObject(o, "num_feats", in->num_feats);
    cJSON_AddNumberToObject(o, "hidden_size", in->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", in->intermediate_size);
    cJSON_AddNumberToObject(o, "vocab_size", in->vocab_size);
    cJSON_AddNumberToObject(o, "down_top_k", in->top_k);
    cJSON_AddNumberToObject(o, "embed_scale", in->embed_scale);
    cJSON_AddNumberToObject(o, "norm_offset", in->norm_offset);
    cJSON_AddBoolToObject(o, "tied_embeddings", in->tied_embeddings);
    cJSON_AddNumberToObject(o, "embeddings_clamped", (double)in->embed_clamped);
    /* Format version 2 (spec §9): what this vindex holds beyond version 1. */
    cJSON_AddNumberToObject(o, "format_version", vx_format_version(vx));
    /* R-B6: as manifest.json records it (verify checks it against the files); computed from
     * SHA256SUMS when not recorded (version 1) — that loads libcrypto, so only then. */
    char digest[65];
    vx_err derr = { 0 };
    const char *rec = jstr(man, "content_digest");
    int recorded = rec && strlen(rec) == 64 && strspn(rec, "0123456789abcdef") == 64;
    if (recorded) memcpy(digest, rec, 65);
    int have_digest = recorded || vx_content_digest(digest, dir, &derr) == VX_OK;
    if (have_digest) cJSON_AddStringToObject(o, "content_digest", digest);
    else cJSON_AddNullToObject(o, "content_digest");
    int battery = vx_spectrum(vx, VX_GATE, 0) != NULL;
    cJSON_AddBoolToObject(o, "battery", battery);
    const uint16_t *ue = vx_unembedding(vx);
    const char *unemb = !ue ? NULL : ue == vx_embeddings(vx) ? "embeddings" : "unembed.bin";
    if (unemb) cJSON_AddStringToObject(o, "unembedding", unemb);
    else cJSON_AddNullToObject(o, "unembedding");
    cJSON *fo = cJSON_AddObjectToObject(o, "files");
    unsigned long long total = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        double sz = stat(p, &st) == 0 ? (double)st.st_size : -1;
        if (sz < 0 && i >= N_ALWAYS) continue;
        if (sz > 0) total += (unsigned long long)sz;
        cJSON_AddNumberToObject(fo, files[i], sz);
    }
    cJSON_AddNumberToObject(o, "total_bytes", (double)total);
    if (man) {
        cJSON *prov = cJSON_AddObjectToObject(o, "provenance");
        const char *keys[] = { "created_utc", "tool_version", "config_sha256" };
        for (int i = 0; i < 3; i++)
            if (jstr(man, keys[i])) cJSON_AddStringToObject(prov, keys[i], jstr(man, keys[i]));
        const char *skeys[] = { "path", "repo", "revision" };
        for (int i = 0; i < 3; i++)
            if (jstr(src, skeys[i])) cJSON_AddStringToObject(prov, skeys[i], jstr(src, skeys[i]));
    }
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    uint32_t F = in->num_feats;
    for (uint32_t l = 0; l < in->num_layers; l++) {
        cJSON *lo2 = cJSON_CreateObject();
        cJSON_AddNumberToObject(lo2, "layer", l);
        const char *kn[2] = { "gate", "down" };
        for (int k = 0; k < 2; k++) {
            const float *s = vx_sigma(vx, (vx_kind)k, l);
            double sum = 0;
            for (uint32_t i = 0; i < F; i++) sum += s[i];
            cJSON *so = cJSON_AddObjectToObject(lo2, kn[k]);
            cJSON_AddNumberToObject(so, "sigma_first", s[0]);
            cJSON_AddNumberToObject(so, "sigma_last", s[F - 1]);
            cJSON_AddNumberToObject(so, "sigma_sum", sum);
        }
        cJSON_AddItemToArray(layers, lo2);
    }
    if (json) {
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
    } else {
        printf("vindex     %s\n", dir);
        printf("model      %s (%s, %s, %s)\n", in->model, in->architecture, in->model_type, in->dtype);
        printf("shape      %u layers x %u features x %u hidden; vocab %u; intermediate %u\n", in->num_layers, F,
               in->hidden_size, in->vocab_size, in->intermediate_size);
        printf("embedding  scale %g, norm offset %g, tied %s, %llu values clamped to f16\n", in->embed_scale,
               in->norm_offset, in->tied_embeddings ? "yes" : "no", (unsigned long long)in->embed_clamped);
        printf("down_meta  top %u tokens per sign\n", in->top_k);
        printf("format     version %u; weight battery %s; unembedding %s\n", vx_format_version(vx),
               battery ? "stored (spectra, neurons, moments)" : "absent",
               unemb ? unemb : in->tied_embeddings ? "?" : "not kept (untied)");
        printf("digest     %s\n", have_digest ? digest : "unavailable (SHA256SUMS unreadable)");
        if (man)
            printf("source     %s%s%s%s\nextracted  %s by vindex %s\n", jstr(src, "repo") ? jstr(src, "repo") : jstr(src, "path") ? jstr(src, "path") : "?",
                   jstr(src, "revision") ? " @ " : "", jstr(src, "revision") ? jstr(src, "revision") : "", "",
                   jstr(man, "created_utc") ? jstr(man, "created_utc") : "?",
                   jstr(man, "tool_version") ? jstr(man, "tool_version") : "?");
        printf("files      (%llu bytes)\n", total);
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
            if (cJSON_GetObjectItem(fo, files[i]))
                printf("  %-18s %14.0f\n", files[i], cJSON_GetObjectItem(fo, files[i])->valuedouble);
        printf("spectrum   layer  gate sigma_1  sigma_%u  ratio   down sigma_1  sigma_%u  ratio\n", F, F);
        for (uint32_t l = 0; l < in->num_layers; l++) {
            const float *g = vx_sigma(vx, VX_GATE, l), *d = vx_sigma(vx, VX_DOWN, l);
            printf("           %5u  %12.4g %9.4g %6.1f   %12.4g %9.4g %6.1f\n", l, g[0], g[F - 1],
                   g[F - 1] > 0 ? g[0] / g[F - 1] : 0.0, d[0], d[F - 1], d[F - 1] > 0 ? d[0] / d[F - 1] : 0.0);
        }
    }
    cJSON_Delete(o);
    cJSON_Delete(man);
    vx_close(vx);
    return EXIT_OK;
}
