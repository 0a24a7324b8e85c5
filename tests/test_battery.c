/*
 * test_battery.c — the version-2 accessors of vindex.h (spec/vindex-format.md §9) on
 * vindexes extracted here from the fixtures: every accessor returns exactly the bytes of
 * its file at the offsets index.json gives (read back independently), the documented NULL
 * / VX_ENOTFOUND for what a vindex lacks, and the same answers for a version-1 vindex as
 * for a vindex without the battery. The numbers themselves are checked against numpy in
 * tests/t_battery.py. Run from the repository root.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "battery.h"
#include "check.h"
#include "common.h"
#include "vxmeta.h"

static char tmp[] = "/tmp/vx-test-battery-XXXXXX";

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *p = vx_path(dir, name), *buf = NULL;
    vx_err e = { 0 };
    if (vx_read_file(&buf, len, p, 1u << 30, &e)) buf = NULL;
    free(p);
    return buf;
}

static int extract(const char *fixture, const char *out, int unembed) {
    vx_extract_opts o;
    vx_extract_opts_init(&o);
    char src[256];
    snprintf(src, sizeof src, "tests/fixtures/%s", fixture);
    o.src = src;
    o.out = out;
    o.features = 8;
    o.top_k = 4;
    o.unembed = unembed;
    vx_err e = { 0 };
    int rc = vx_extract(&o, &e);
    CHECK(rc == 0, "extract %s: %s", fixture, e.msg);
    return rc;
}

static void test_v2(const char *out, int gated, int kept) {
    vx_index *vx = NULL;
    vx_err e = { 0 };
    if (vx_open(&vx, out, &e)) { CHECK(0, "open %s: %s", out, e.msg); return; }
    const vx_info *in = vx_get_info(vx);
    uint32_t L = in->num_layers, F = in->num_feats, H = in->hidden_size, V = in->vocab_size;
    CHECK(vx_format_version(vx) == 2, "%s: version %u", out, vx_format_version(vx));
    size_t n;
    char *spec = slurp(out, "spectra.bin", &n), *mom = slurp(out, "moments.bin", &n), *neu = slurp(out, "neurons.bin", &n);
    char *ij = slurp(out, "index.json", &n);
    cJSON *idx = ij ? cJSON_Parse(ij) : NULL;
    CHECK(spec && mom && neu && idx, "%s: files", out);
    if (!spec || !mom || !neu || !idx) goto out;
    for (uint32_t l = 0; l < L; l++) {
        const cJSON *lay = cJSON_GetArrayItem(cJSON_GetObjectItem(idx, "layers"), (int)l);
        for (int k = 0; k < 2; k++) {
            const float *s = vx_spectrum(vx, (vx_kind)k, l), *sig = vx_sigma(vx, (vx_kind)k, l);
            CHECK(s && !memcmp(s, spec + ((size_t)l * 2 + (size_t)k) * H * 4, (size_t)H * 4), "layer %u kind %d spectrum bytes", l, k);
            CHECK(s && !memcmp(s, sig, (size_t)F * 4), "layer %u kind %d: spectrum[:F] != sigma", l, k);
        }
        const cJSON *nj = cJSON_GetObjectItem(lay, "neurons");
        uint64_t off = (uint64_t)cJSON_GetObjectItem(nj, "offset")->valuedouble, N = (uint64_t)cJSON_GetObjectItem(nj, "count")->valuedouble;
        const char *mats[3] = { "gate", "up", "down" };
        int row = 0;
        for (int w = 0; w < 3; w++) {
            vx_weight_stats ws;
            memset(&ws, 0, sizeof ws);
            int rc = vx_weight_stats_get(&ws, vx, l, (vx_mat)w, &e);
            uint64_t cnt = 99;
            const float *nn = vx_neuron_norms(vx, l, (vx_mat)w, &cnt);
            if (w == VX_MAT_UP && !gated) {
                CHECK(rc == VX_ENOTFOUND && nn == NULL && cnt == 0, "layer %u: a plain MLP has no up matrix (rc %d)", l, rc);
                continue;
            }
            const cJSON *wj = cJSON_GetObjectItem(cJSON_GetObjectItem(lay, "weights"), mats[w]);
            CHECK(rc == 0 && ws.rows == (uint64_t)cJSON_GetObjectItem(wj, "rows")->valuedouble &&
                  ws.cols == (uint64_t)cJSON_GetObjectItem(wj, "cols")->valuedouble &&
                  ws.fro == cJSON_GetObjectItem(wj, "fro")->valuedouble,
                  "layer %u %s: weight stats %d %llu %llu %.17g", l, mats[w], rc, (unsigned long long)ws.rows,
                  (unsigned long long)ws.cols, ws.fro);
            for (int t = 0; t < VX_N_SPARSITY; t++)
                CHECK(ws.sparsity[t] == cJSON_GetArrayItem(cJSON_GetObjectItem(wj, "sparsity"), t)->valuedouble,
                      "layer %u %s sparsity[%d]", l, mats[w], t);
            CHECK(nn && cnt == N && !memcmp(nn, neu + off + (uint64_t)row * N * 4, N * 4), "layer %u %s: neuron norms row %d", l,
                  mats[w], row);
            double ss = 0;
            for (uint64_t i = 0; nn && i < cnt; i++) ss += (double)nn[i] * nn[i];
            CHECK(fabs(sqrt(ss) - ws.fro) <= 1e-5 * ws.fro, "layer %u %s: norms vs fro %g %g", l, mats[w], sqrt(ss), ws.fro);
            row++;
        }
    }
    CHECK(vx_moments(vx) && !memcmp(vx_moments(vx), mom, (size_t)L * 2 * F * 16), "moments bytes");
    /* out of range */
    vx_weight_stats ws;
    uint64_t cnt = 7;
    CHECK(vx_spectrum(vx, VX_GATE, L) == NULL && vx_spectrum(vx, (vx_kind)2, 0) == NULL, "spectrum out of range");
    CHECK(vx_weight_stats_get(&ws, vx, L, VX_MAT_GATE, &e) == VX_ENOTFOUND && strstr(e.msg, "layer"), "weights out of range: %s", e.msg);
    CHECK(vx_weight_stats_get(&ws, vx, 0, (vx_mat)3, NULL) == VX_ENOTFOUND, "weights bad matrix");
    CHECK(vx_neuron_norms(vx, L, VX_MAT_DOWN, &cnt) == NULL && cnt == 0, "neurons out of range");
    /* the unembedding */
    const uint16_t *u = vx_unembedding(vx);
    if (kept) {
        char *ub = slurp(out, "unembed.bin", &n);
        CHECK(u && ub && n == (size_t)V * H * 2 && !memcmp(u, ub, n) && u != vx_embeddings(vx), "unembed.bin mapped");
        free(ub);
    } else if (in->tied_embeddings)
        CHECK(u == vx_embeddings(vx), "tied: the unembedding is the embeddings");
    else
        CHECK(u == NULL, "untied, not kept: NULL");
    /* the digest */
    char hex[65], *man = slurp(out, "manifest.json", &n);
    cJSON *mj = man ? cJSON_Parse(man) : NULL;
    const cJSON *dg = cJSON_GetObjectItem(mj, "content_digest");
    CHECK(vx_content_digest(hex, out, &e) == 0 && cJSON_IsString(dg) && !strcmp(hex, dg->valuestring), "digest %s", e.msg);
    cJSON_Delete(mj);
    free(man);
out:
    cJSON_Delete(idx);
    free(ij);
    free(spec);
    free(mom);
    free(neu);
    vx_close(vx);
}

/* The version-1 index.json the same extraction would have written, and the §9 files gone. */
static void make_v1(const char *dir) {
    size_t n;
    char *ij = slurp(dir, "index.json", &n);
    cJSON *j = cJSON_Parse(ij);
    cJSON_ReplaceItemInObject(j, "version", cJSON_CreateNumber(1));
    cJSON_DeleteItemFromObject(j, "unembedding");
    cJSON_DeleteItemFromObject(j, "unembed_clamped");
    cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(j, "layers")) {
        cJSON_DeleteItemFromObject(l, "weights");
        cJSON_DeleteItemFromObject(l, "neurons");
    }
    const char *opt[] = { "spectra.bin", "neurons.bin", "moments.bin", "unembed.bin" };
    for (int i = 0; i < 4; i++) {
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(j, "files"), opt[i]);
        char *p = vx_path(dir, opt[i]);
        unlink(p);
        free(p);
    }
    char *s = cJSON_Print(j), *p = vx_path(dir, "index.json");
    FILE *f = fopen(p, "w");
    fputs(s, f);
    fclose(f);
    free(p);
    free(s);
    cJSON_Delete(j);
    free(ij);
}

static void test_without_battery(const char *dir, int untied) {
    vx_index *vx = NULL;
    vx_err e = { 0 };
    if (vx_open(&vx, dir, &e)) { CHECK(0, "open %s: %s", dir, e.msg); return; }
    vx_weight_stats ws;
    uint64_t cnt = 5;
    CHECK(vx_format_version(vx) == 1, "version 1");
    CHECK(vx_spectrum(vx, VX_GATE, 0) == NULL && vx_spectrum(vx, VX_DOWN, 0) == NULL, "no spectra");
    CHECK(vx_weight_stats_get(&ws, vx, 0, VX_MAT_GATE, &e) == VX_ENOTFOUND && strstr(e.msg, "battery"), "no weights: %s", e.msg);
    CHECK(vx_neuron_norms(vx, 0, VX_MAT_GATE, &cnt) == NULL && cnt == 0, "no neurons");
    CHECK(vx_moments(vx) == NULL, "no moments");
    CHECK(vx_unembedding(vx) == (untied ? NULL : vx_embeddings(vx)), "version 1: tied_embeddings decides the unembedding");
    vx_close(vx);
}

static void test_parse_refusals(const char *dir) {
    size_t n;
    char *ij = slurp(dir, "index.json", &n);
    cJSON *j = cJSON_Parse(ij);
    vx_meta m;
    vx_err e = { 0 };
    cJSON_AddItemToObject(j, "part", cJSON_CreateObject());
    char *s = cJSON_Print(j);
    int rc = vx_meta_parse(&m, (const uint8_t *)s, strlen(s), "index.json", &e);
    CHECK(rc == VX_EUNSUPPORTED && strstr(e.msg, "part") && strstr(e.msg, "merge"), "a part is refused: %d %s", rc, e.msg);
    free(s);
    cJSON_DeleteItemFromObject(j, "part");
    cJSON_ReplaceItemInObject(j, "version", cJSON_CreateNumber(3));
    s = cJSON_Print(j);
    rc = vx_meta_parse(&m, (const uint8_t *)s, strlen(s), "index.json", &e);
    CHECK(rc == VX_EUNSUPPORTED && strstr(e.msg, "version"), "version 3 is refused: %d %s", rc, e.msg);
    free(s);
    cJSON_Delete(j);
    free(ij);
    char hex[65];
    CHECK(vx_content_digest(hex, "/nonexistent-vindex", &e) == VX_ENOTFOUND, "digest of a missing vindex: %s", e.msg);
}

/* Moments accumulated with a tile's columns shared out (vx_mom_add_cols, as extract's
 * threads do, split at even and odd columns) are bit-identical to vx_mom_add's. */
static void test_moments_split(void) {
    size_t nc = 37, rows = 53;
    float *S = malloc(sizeof(float) * nc * rows), a[4 * 37], b[4 * 37];
    uint64_t st = 12345;
    vx_mom_acc m1, m2;
    CHECK(S && !vx_mom_init(&m1, nc) && !vx_mom_init(&m2, nc), "moments: init");
    for (int tile = 0; tile < 3; tile++) {
        for (size_t i = 0; i < nc * rows; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            S[i] = (float)((double)(st >> 11) * 0x1.0p-53 * 4 - 1) * (float)(1 + tile);
        }
        vx_mom_add(&m1, S, rows - (size_t)tile);
        size_t cuts[] = { 0, 7, 8, 20, 37 };
        for (int c = 0; c + 1 < 5; c++) vx_mom_add_cols(&m2, S, rows - (size_t)tile, cuts[c], cuts[c + 1]);
        vx_mom_count(&m2, rows - (size_t)tile);
    }
    vx_mom_finish(&m1, a);
    vx_mom_finish(&m2, b);
    CHECK(!memcmp(a, b, sizeof a), "moments: split columns differ from one pass");
    vx_mom_free(&m1);
    vx_mom_free(&m2);
    free(S);
}

int main(void) {
    test_moments_split();
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    char a[300], b[300], c[300], d[300];
    snprintf(a, sizeof a, "%s/llama", tmp);
    snprintf(b, sizeof b, "%s/llama-unembed", tmp);
    snprintf(c, sizeof c, "%s/gpt2", tmp);
    snprintf(d, sizeof d, "%s/qwen3", tmp);
    if (!extract("tiny-llama", a, 0)) test_v2(a, 1, 0);
    if (!extract("tiny-llama", b, 1)) test_v2(b, 1, 1);
    if (!extract("tiny-gpt2", c, 0)) test_v2(c, 0, 0);
    if (!extract("tiny-qwen3", d, 1)) test_v2(d, 1, 0); /* tied: --unembed keeps nothing */
    test_parse_refusals(a);
    make_v1(b);
    test_without_battery(b, 1);
    make_v1(c);
    test_without_battery(c, 0);
    vx_remove_tree(a);
    vx_remove_tree(b);
    vx_remove_tree(c);
    vx_remove_tree(d);
    rmdir(tmp);
    return CHECK_DONE();
}
