/*
 * cmd_map.c — `vindex map FILE (--token T | --feature L:F[:kind] | --vector FILE) ...`:
 * carry a token's embedding, a stored feature direction or a vector from one model's
 * space into the other's with a map saved by `compare --save-map` (spec/map-format.md),
 * and answer what `nearest` answers there. Library: vx_map_* (include/vx_compare.h).
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_compare.h"
#include "vx_query.h"

static const char *map_help =
    "usage: vindex map FILE (--token T | --feature L:F[:gate|down] | --vector VFILE)\n"
    "                       [--to A|B] [--direction] [--top N] [--a DIR] [--b DIR]\n"
    "                       [--out OUT] [--json]\n"
    "\n"
    "Carry a vector from one model's embedding space into the other's with the map that\n"
    "`vindex compare A B --save-map FILE` fitted, and list the other model's nearest tokens\n"
    "(by cosine) and features (by |cosine|), as `nearest` does (spec/map-format.md).\n"
    "\n"
    "  -T, --token T      a token of the model mapped from (ĠParis, \" Paris\", #ID): its\n"
    "                     embedding as the model uses it, carried as a point\n"
    "  -f, --feature S    a stored feature direction LAYER:FEATURE[:gate|down], carried\n"
    "                     as a direction (no means)\n"
    "  -v, --vector VFILE hidden_size little-endian f32 values of the model mapped from:\n"
    "                     a point (a row × embed_scale), or with --direction a direction\n"
    "      --to A|B       the model to map into (default B, i.e. from A)\n"
    "      --top N        tokens and features to list (default 10; 0 = none)\n"
    "      --a DIR, --b DIR  the vindexes, when not at the paths the map recorded; their\n"
    "                     content digests must match the map's\n"
    "  -o, --out OUT      also write the mapped vector as raw f32 (for nearest --vector)\n"
    "      --json         {\"from\", \"to\", \"point\", \"query\", \"tokens\": [{token, token_id,\n"
    "                     cosine}], \"features\": [{layer, feature, kind, cosine}]}\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok, 1 failure (unreadable or corrupt map, vindexes that are not the\n"
    "map's, unknown token), 2 usage error\n";

int cmd_map(int argc, char **argv) {
    enum { O_TO = 256, O_TOP, O_A, O_B, O_JSON, O_DIR };
    static const struct option lo[] = { { "token", required_argument, 0, 'T' }, { "feature", required_argument, 0, 'f' },
                                        { "vector", required_argument, 0, 'v' }, { "to", required_argument, 0, O_TO },
                                        { "top", required_argument, 0, O_TOP },   { "a", required_argument, 0, O_A },
                                        { "b", required_argument, 0, O_B },       { "out", required_argument, 0, 'o' },
                                        { "json", no_argument, 0, O_JSON },       { "direction", no_argument, 0, O_DIR },
                                        { "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 } };
    const char *tok = NULL, *feat = NULL, *vec = NULL, *dirs[2] = { NULL, NULL }, *outp = NULL;
    long top = 10;
    int json = 0, c, nsrc = 0, to = 1, direction = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "T:f:v:o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'T': tok = optarg; nsrc++; break;
        case 'f': feat = optarg; nsrc++; break;
        case 'v': vec = optarg; nsrc++; break;
        case O_TO:
            if (strcmp(optarg, "A") && strcmp(optarg, "B")) return cli_usage("map", "--to %s: expected A or B", optarg);
            to = optarg[0] == 'B';
            break;
        case O_TOP: if (cli_int(optarg, 0, 1000000, &top)) return cli_usage("map", "--top %s: expected 0..1000000", optarg); break;
        case O_A: dirs[0] = optarg; break;
        case O_B: dirs[1] = optarg; break;
        case 'o': outp = optarg; break;
        case O_JSON: json = 1; break;
        case O_DIR: direction = 1; break;
        case 'h': fputs(map_help, stdout); return EXIT_OK;
        default: return cli_usage("map", "unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return cli_usage("map", "expected exactly one map file");
    if (nsrc != 1) return cli_usage("map", "give exactly one of --token, --feature, --vector");
    if (direction && !vec) return cli_usage("map", "--direction applies to --vector only (a feature is a direction, a token a point)");
    int from = 1 - to, st = EXIT_OK, rc;
    vx_err err = { 0 };
    vx_saved_map *m = NULL;
    vx_index *vx[2] = { NULL, NULL };
    vx_query *q = NULL, *qt = NULL;
    float *out = NULL, *in = NULL;
    vx_tok_hit *th = NULL;
    vx_feat_hit *fh = NULL;
    size_t nt = 0, nf = 0;
    uint32_t layer = 0, fidx = 0;
    vx_kind kind = VX_GATE;
    if ((rc = vx_map_open(&m, argv[optind], &err))) goto fail;
    const vx_map_info *mi = vx_map_get_info(m);
    for (int k = 0; k < 2; k++) { /* M9: the vindexes the map was fitted on */
        const char *dir = dirs[k] ? dirs[k] : k ? mi->path_b : mi->path_a;
        if ((rc = vx_open(&vx[k], dir, &err)) || (rc = vx_map_check(m, k, vx[k], &err))) goto fail;
    }
    const vx_info *fi = vx_get_info(vx[from]), *ti = vx_get_info(vx[to]);
    int point = !feat && !direction;
    if (tok) rc = vx_query_token(&q, vx[from], tok, 0, &err);
    else if (feat) {
        rc = vx_feature_parse(&layer, &fidx, &kind, vx[from], feat, &err);
        if (!rc) rc = vx_query_feature(&q, vx[from], layer, fidx, kind, &err);
    } else rc = vx_query_vector_file(&q, vx[from], vec, &err);
    if (rc) goto fail;
    size_t hf = fi->hidden_size, ht = ti->hidden_size;
    in = malloc(sizeof(float) * hf);
    out = malloc(sizeof(float) * ht);
    if (!in || !out) { cli_error("map: out of memory"); st = EXIT_FAIL; goto done; }
    /* a token's stored row becomes the row as the model uses it (the map was fitted on those) */
    float sc = tok && fi->embed_scale > 0 ? fi->embed_scale : 1.0f;
    for (size_t h = 0; h < hf; h++) in[h] = q->vec[h] * sc;
    if ((rc = vx_map_apply(out, ht, m, to, point, in, hf, &err))) goto fail;
    if (outp && (rc = vx_map_write_vector(outp, out, ht, &err))) goto fail;
    size_t k = top ? (size_t)top : 1;
    th = calloc(k, sizeof *th);
    fh = calloc(k, sizeof *fh);
    if (!th || !fh) { cli_error("map: out of memory"); st = EXIT_FAIL; goto done; }
    if ((rc = vx_query_vector(&qt, vx[to], out, ht, &err))) goto fail;
    if (top && (rc = vx_nearest_tokens(th, &nt, vx[to], (const vx_query *const *)&qt, 1, k, &err))) goto fail;
    if (top) {
        vx_score_opts so;
        vx_score_opts_init(&so);
        so.top = k;
        if ((rc = vx_score(fh, &nf, vx[to], (const vx_query *const *)&qt, 1, &so, &err))) goto fail;
    }
    const char *names = "AB";
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "from", (char[]){ names[from], 0 });
        cJSON_AddStringToObject(o, "to", (char[]){ names[to], 0 });
        cJSON_AddBoolToObject(o, "point", point);
        cJSON *qo = cJSON_AddObjectToObject(o, "query");
        if (tok) {
            cJSON_AddStringToObject(qo, "type", "token");
            cJSON_AddItemToObject(qo, "token", cli_token_json(vx[from], (uint32_t)q->token_id));
            cJSON_AddNumberToObject(qo, "token_id", (double)q->token_id);
        } else if (feat) {
            cJSON_AddStringToObject(qo, "type", "feature");
            cJSON_AddNumberToObject(qo, "layer", layer);
            cJSON_AddNumberToObject(qo, "feature", fidx);
            cJSON_AddStringToObject(qo, "kind", vx_kind_name(kind));
        } else {
            cJSON_AddStringToObject(qo, "type", "vector");
            cJSON_AddStringToObject(qo, "file", vec);
        }
        cJSON_AddItemToObject(o, "tokens", cli_tok_hits_json(vx[to], th, nt));
        cJSON_AddItemToObject(o, "features", cli_feat_hits_json(fh, nf));
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("map %c -> %c: ", names[from], names[to]);
        if (tok) {
            printf("token ");
            cli_print_token_id(vx[from], (uint32_t)q->token_id);
            printf(" #%lld (a point)\n", (long long)q->token_id);
        } else if (feat) printf("feature %u:%u:%s (a direction)\n", layer, fidx, vx_kind_name(kind));
        else printf("vector %s (%s)\n", vec, point ? "a point" : "a direction");
        if (top) {
            printf("tokens of %c (by cosine):\n", names[to]);
            for (size_t i = 0; i < nt; i++) {
                printf("%5zu %+9.5f %8u  ", i + 1, th[i].cosine, th[i].token_id);
                cli_print_token_id(vx[to], th[i].token_id);
                putchar('\n');
            }
            printf("features of %c (by |cosine|):\n", names[to]);
            for (size_t i = 0; i < nf; i++)
                printf("%5zu %+9.5f  %u:%u:%s\n", i + 1, fh[i].cosine, fh[i].layer, fh[i].feature, vx_kind_name(fh[i].kind));
        }
    }
    goto done;
fail:
    cli_error("map: %s", err.msg);
    st = cli_exit_for(rc);
done:
    free(th);
    free(fh);
    free(in);
    free(out);
    vx_query_free(q);
    vx_query_free(qt);
    vx_close(vx[0]);
    vx_close(vx[1]);
    vx_map_free(m);
    return st;
}
