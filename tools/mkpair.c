/*
 * mkpair.c — two synthetic vindexes whose embedding spaces are related, for `vindex
 * compare`'s tests and benchmark.
 *
 *   mkpair OUT_A OUT_B [--vocab V] [--hidden-a HA] [--hidden-b HB] [--layers-a LA]
 *          [--layers-b LB] [--feats F] [--noise E] [--b-vocab same|perm|meta|disjoint|few:K]
 *          [--seed S] [--force]
 *
 * Each token t has a latent vector g_t (HA entries, ~N(0,1), from its own counter-based
 * stream) with a decaying spectrum s_k = 1/sqrt(1 + k/32). A's row is a block-random
 * rotation (32×32 blocks) of s ⊙ g_t, scaled by 0.05, plus a mean; B's row is another
 * block rotation of (s ⊙ g_t)[:HB] plus noise E·s_k·n, i.e. a "PCA-ish" projection of A
 * plus noise, so the alignment compare finds is real. Gate/down directions of B's layer j
 * are noisy copies (through the same maps) of A's layer at the same relative depth.
 *
 * --b-vocab: same (identical tokenizer → compare matches by id), perm (B holds A's word
 * tokens in reverse id order and 100 tokens of its own → matched by text), meta (B is a
 * SentencePiece-style Metaspace vocabulary: byte-fallback tokens, A's words with "▁",
 * reversed, and tokens of its own → matched by readable text across tokenizer families),
 * disjoint (no token in common), few:K (only A's first K tokens in common).
 * Default: V=4096, HA=128, HB=96, LA=4, LB=3, F=16, E=0.3, same, seed 1.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "common.h"
#include "outfile.h"
#include "tokjson.h"
#include "vocab.h"
#include "vxmeta.h"

#define BLK 32

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
typedef struct rng { uint64_t x; } rng;
static rng stream(uint64_t seed, uint64_t k) { return (rng){ mix64(seed * 0x9E3779B97F4A7C15ull + k) }; }
static uint64_t next(rng *r) { return mix64(r->x += 0x9E3779B97F4A7C15ull); }
/* Approximate N(0,1): Irwin–Hall sum of four 16-bit uniforms — cheap and plenty here. */
static float gauss(rng *r) {
    uint64_t v = next(r);
    double s = (double)(v & 0xffff) + (double)((v >> 16) & 0xffff) + (double)((v >> 32) & 0xffff) + (double)(v >> 48);
    return (float)((s / 65536.0 - 2.0) * 1.7320508075688772);
}

/* Block-diagonal random orthogonal map of width H: blocks of BLK (last one smaller),
 * each the Gram–Schmidt orthonormalisation of a Gaussian block. */
typedef struct blockrot { size_t H; float *Q; } blockrot; /* Q: [H/BLK blocks][BLK][BLK] */
static int blockrot_init(blockrot *b, size_t H, uint64_t seed) {
    size_t nb = (H + BLK - 1) / BLK;
    b->H = H;
    b->Q = calloc(nb * BLK * BLK, sizeof(float));
    if (!b->Q) return -1;
    rng r = stream(seed, 0xB10C);
    double q[BLK][BLK];
    for (size_t k = 0; k < nb; k++) {
        size_t n = H - k * BLK < BLK ? H - k * BLK : BLK;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) q[i][j] = gauss(&r);
            for (int pass = 0; pass < 2; pass++)
                for (size_t p = 0; p < i; p++) {
                    double d = 0;
                    for (size_t j = 0; j < n; j++) d += q[p][j] * q[i][j];
                    for (size_t j = 0; j < n; j++) q[i][j] -= d * q[p][j];
                }
            double s = 0;
            for (size_t j = 0; j < n; j++) s += q[i][j] * q[i][j];
            for (size_t j = 0; j < n; j++) q[i][j] /= sqrt(s);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) b->Q[k * BLK * BLK + i * BLK + j] = (float)q[i][j];
    }
    return 0;
}
static void blockrot_apply(const blockrot *b, float *out, const float *in) {
    for (size_t k = 0; k * BLK < b->H; k++) {
        size_t n = b->H - k * BLK < BLK ? b->H - k * BLK : BLK;
        const float *Q = b->Q + k * BLK * BLK;
        for (size_t i = 0; i < n; i++) {
            float s = 0;
            for (size_t j = 0; j < n; j++) s += Q[i * BLK + j] * in[k * BLK + j];
            out[k * BLK + i] = s;
        }
    }
}

/* ------------------------------------------------------------------ tokenizer */
typedef enum { BV_SAME, BV_PERM, BV_DISJOINT, BV_FEW, BV_META } bvocab;

/* Token `i` of the base vocabulary: 256 GPT-2 byte symbols, then letter words, every
 * other one with a leading "Ġ" (space). `own` words (B's own tokens) are uppercase "QX…"
 * which no base word is. */
static size_t byte_sym(char *o, unsigned b) {
    unsigned cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        unsigned n = 0;
        for (unsigned c = 0; c < b; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { o[0] = (char)cp; o[1] = 0; return 1; }
    o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); o[2] = 0;
    return 2;
}
static void base_token(char *o, size_t i, int own) {
    if (i < 256 && !own) { byte_sym(o, (unsigned)i); return; }
    size_t k = own ? i : i - 256, n = 0;
    char w[32];
    do { w[n++] = (char)((own ? 'A' : 'a') + k % 26); k /= 26; } while (k);
    w[n] = 0;
    snprintf(o, 48, "%s%s%s", (i & 1) ? "\xC4\xA0" : "", own ? "QX" : "", w);
}

/* B's tokenizer for --b-vocab meta: a SentencePiece-style Unigram vocabulary with a
 * Metaspace pre-tokenizer (another tokenizer family than A's byte-level BPE): id 0 <unk>,
 * ids 1..256 the byte-fallback tokens <0x00>..<0xFF>, then A's words in reverse order with
 * "▁" where A has "Ġ", and 50 tokens of its own. Readable texts match A's (spec V16). */
static char *tokenizer_meta(size_t V, size_t *map) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", 0);
    cJSON *vocab = cJSON_AddArrayToObject(model, "vocab");
    size_t nwords = V - 50 - 257;
    char s[64];
    for (size_t id = 0; id < V; id++) {
        int own = id == 0 || id >= V - 50;
        if (id == 0) snprintf(s, sizeof s, "<unk>");
        else if (own) base_token(s, id, 1);
        else if (id <= 256) snprintf(s, sizeof s, "<0x%02X>", (unsigned)(id - 1));
        else {
            base_token(s, 256 + (nwords - 1 - (id - 257)), 0);
            if (!strncmp(s, "\xC4\xA0", 2)) { memmove(s + 3, s + 2, strlen(s + 2) + 1); memcpy(s, "\xE2\x96\x81", 3); }
        }
        map[id] = own ? V + id : id <= 256 ? id - 1 : 256 + (nwords - 1 - (id - 257));
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(s));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(-(double)id / 100.0));
        cJSON_AddItemToArray(vocab, p);
    }
    cJSON_AddBoolToObject(model, "byte_fallback", 1);
    tokjson_metaspace(root, "first", 0);
    char *j = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return j;
}

/* Tokenizer JSON for V ids; map[id] = the base index of the token (own tokens: >= V). */
static char *tokenizer(size_t V, bvocab mode, size_t few, int is_b, size_t *map) {
    if (is_b && mode == BV_META) return tokenizer_meta(V, map);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON_AddArrayToObject(model, "merges");
    char s[64];
    for (size_t id = 0; id < V; id++) {
        size_t base = id;
        int own = 0;
        if (is_b) {
            if (mode == BV_PERM) {
                if (id >= 256) base = 256 + (V - 1 - id);       /* reversed word order */
                if (id >= V - 100) { own = 1; base = V + id; } /* B's own tokens */
            } else if (mode == BV_DISJOINT || (mode == BV_FEW && id >= few)) {
                own = 1;
                base = V + id;
            }
        }
        map[id] = base;
        base_token(s, own ? id : base, own);
        cJSON_AddNumberToObject(vocab, s, (double)id);
    }
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    char *j = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return j;
}

/* ------------------------------------------------------------------- one side */
typedef struct spec {
    const char *out;
    size_t V, H, L, F, HA, LA;  /* HA, LA: A's width and depth (the latent's) */
    int is_b;
    bvocab mode;
    size_t few;
    float noise;
    uint64_t seed;
} spec;

static float sig(size_t k) { return (float)(1.0 / sqrt(1.0 + (double)k / 32.0)); }

/* Latent of base token t at width max(HA, H), scaled by the spectrum; B adds noise. */
static void latent(float *v, const spec *p, size_t base) {
    size_t W = p->HA > p->H ? p->HA : p->H;
    rng r = stream(p->seed, base);
    for (size_t k = 0; k < W; k++) v[k] = k < p->HA ? sig(k) * gauss(&r) : 0.0f;
    if (p->is_b) {
        rng q = stream(p->seed ^ 0xB0B0B0B0ull, base);
        for (size_t k = 0; k < p->H; k++) v[k] += p->noise * sig(k) * gauss(&q);
    }
}

static int write_side(const spec *p, vx_err *err) {
    size_t V = p->V, H = p->H, L = p->L, F = p->F, W = p->HA > H ? p->HA : H;
    blockrot rot;
    size_t *map = malloc(sizeof(size_t) * V);
    float *lat = malloc(sizeof(float) * W), *row = malloc(sizeof(float) * H), *mu = malloc(sizeof(float) * H);
    uint16_t *buf = malloc(sizeof(uint16_t) * H * 256);
    if (!map || !lat || !row || !mu || !buf || blockrot_init(&rot, H, p->seed * 31 + (uint64_t)p->is_b + 7))
        return vx_fail(err, VX_ENOMEM, "out of memory");
    if (mkdir(p->out, 0755) != 0) return vx_fail(err, VX_EIO, "%s: %s", p->out, strerror(errno));
    rng mr = stream(p->seed, 0x3EA3 + (uint64_t)p->is_b);
    for (size_t h = 0; h < H; h++) mu[h] = 0.01f * gauss(&mr);
    char *tokjson = tokenizer(V, p->mode, p->few, p->is_b, map);

    vx_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.version = 1; /* no weight battery or content digest: a version-1 vindex (spec §9) */
    meta.num_layers = (uint32_t)L; meta.num_feats = (uint32_t)F; meta.hidden_size = (uint32_t)H;
    meta.vocab_size = (uint32_t)V; meta.down_top_k = 4; meta.intermediate_size = (uint32_t)(3 * H);
    snprintf(meta.model, sizeof meta.model, "synthetic/mkpair-%s-%zux%zu", p->is_b ? "b" : "a", H, V);
    snprintf(meta.model_type, sizeof meta.model_type, "qwen3");
    snprintf(meta.architecture, sizeof meta.architecture, "Qwen3ForCausalLM");
    snprintf(meta.source_dtype, sizeof meta.source_dtype, "bfloat16");
    meta.embed_scale = 1.0f;
    meta.layers = calloc(L, sizeof *meta.layers);
    meta.norms = calloc(1, sizeof *meta.norms);
    if (!meta.layers || !meta.norms || !tokjson) return vx_fail(err, VX_ENOMEM, "out of memory");

    vx_outfile of[VX_N_FILES];
    memset(of, 0, sizeof of);
    int rc = VX_OK;
    /* Directions: B's layer l copies A's layer at the same relative depth, with noise. */
    for (int kind = 0; kind < 2 && !rc; kind++) {
        if ((rc = vx_out_open(&of[kind], p->out, vx_data_files[kind], err))) break;
        for (size_t l = 0; l < L && !rc; l++) {
            size_t la = !p->is_b ? l : (L == 1 ? 0 : (2 * l * (p->LA - 1) + (L - 1)) / (2 * (L - 1)));
            for (size_t f = 0; f < F && !rc; f++) {
                rng r = stream(p->seed, 1000000000ull + ((uint64_t)kind * 4096 + la) * 65536 + f);
                for (size_t k = 0; k < W; k++) lat[k] = k < p->HA ? sig(k) * gauss(&r) : 0.0f;
                if (p->is_b) {
                    rng q = stream(p->seed ^ 0xD1D1ull, ((uint64_t)kind * 4096 + l) * 65536 + f);
                    for (size_t k = 0; k < H; k++) lat[k] += 0.3f * sig(k) * gauss(&q);
                }
                blockrot_apply(&rot, row, lat);
                double s = 0;
                for (size_t h = 0; h < H; h++) s += (double)row[h] * row[h];
                size_t big = 0;
                for (size_t h = 0; h < H; h++) {
                    buf[h] = vx_f32_to_f16((float)(row[h] / sqrt(s)));
                    if ((buf[h] & 0x7fff) > (buf[big] & 0x7fff)) big = h;
                }
                if (buf[big] & 0x8000)
                    for (size_t h = 0; h < H; h++) buf[h] ^= 0x8000;
                rc = vx_out_write(&of[kind], buf, H * 2, err);
            }
        }
        if (!rc) rc = vx_out_close(&of[kind], err);
    }
    for (size_t l = 0; l < L && !rc; l++) {
        vx_layer_meta *lm = &meta.layers[l];
        lm->layer = (uint32_t)l; lm->num_features = (uint32_t)F;
        lm->offset = (uint64_t)l * F * H * 2; lm->length = (uint64_t)F * H * 2;
        lm->gate_sigma = malloc(F * sizeof(float));
        lm->down_sigma = malloc(F * sizeof(float));
        if (!lm->gate_sigma || !lm->down_sigma) return vx_fail(err, VX_ENOMEM, "out of memory");
        for (size_t f = 0; f < F; f++) lm->gate_sigma[f] = lm->down_sigma[f] = 10.0f / (1.0f + (float)f);
    }
    /* Embeddings, 256 rows at a time. */
    if (!rc) rc = vx_out_open(&of[2], p->out, vx_data_files[2], err);
    for (size_t r0 = 0; r0 < V && !rc; r0 += 256) {
        size_t m = V - r0 < 256 ? V - r0 : 256;
        for (size_t i = 0; i < m; i++) {
            latent(lat, p, map[r0 + i]);
            blockrot_apply(&rot, row, lat);
            for (size_t h = 0; h < H; h++) buf[i * H + h] = vx_f32_to_f16(0.05f * row[h] + mu[h]);
        }
        rc = vx_out_write(&of[2], buf, m * H * 2, err);
    }
    if (!rc) rc = vx_out_close(&of[2], err);
    /* down_meta: K=4 descending then ascending records. */
    if (!rc && !(rc = vx_out_open(&of[3], p->out, vx_data_files[3], err))) {
        uint8_t hdr[VX_DM_HEADER], rec[64];
        vx_dm_header_write(hdr, (uint32_t)L, (uint32_t)F, 4);
        rc = vx_out_write(&of[3], hdr, sizeof hdr, err);
        rng r = stream(p->seed, 0xD0);
        for (size_t i = 0; i < L * 2 * F && !rc; i++) {
            for (uint32_t k = 0; k < 4; k++) {
                union { float f; uint32_t u; } a = { 2.0f - 0.1f * (float)k }, b = { -2.0f + 0.1f * (float)k };
                vx_put32(rec + 8 * k, (uint32_t)(next(&r) % V)); vx_put32(rec + 8 * k + 4, a.u);
                vx_put32(rec + 8 * (4 + k), (uint32_t)(next(&r) % V)); vx_put32(rec + 8 * (4 + k) + 4, b.u);
            }
            rc = vx_out_write(&of[3], rec, sizeof rec, err);
        }
        if (!rc) rc = vx_out_close(&of[3], err);
    }
    /* norms: one final norm of ones. */
    if (!rc && !(rc = vx_out_open(&of[4], p->out, vx_data_files[4], err))) {
        for (size_t h = 0; h < H; h++) row[h] = 1.0f;
        meta.norms[0].name = strdup("norm");
        meta.norms[0].layer = -1;
        meta.norms[0].offset = 0;
        meta.norms[0].count = H;
        meta.n_norms = 1;
        meta.norms_bytes = H * 4;
        rc = vx_out_write(&of[4], row, H * 4, err);
        if (!rc) rc = vx_out_close(&of[4], err);
    }
    vx_tokenizer *tok = NULL;
    uint8_t *vocab = NULL;
    size_t vlen = 0;
    if (!rc) rc = vx_tokenizer_parse(&tok, (const uint8_t *)tokjson, strlen(tokjson), "tokenizer.json", err);
    if (!rc) rc = vx_vocab_build(&vocab, &vlen, tok, (uint32_t)V, err);
    if (!rc) rc = vx_out_file(&of[5], p->out, vx_data_files[5], vocab, vlen, err);
    if (!rc) rc = vx_out_file(&of[6], p->out, vx_data_files[6], tokjson, strlen(tokjson), err);
    vx_tokenizer_free(tok);
    free(vocab);
    if (!rc) rc = vx_meta_set_files(&meta, of, err);
    for (int i = 0; i < VX_N_FILES; i++) vx_out_release(&of[i]);
    if (!rc) {
        char *json = vx_meta_write(&meta);
        rc = json ? vx_out_file(&of[7], p->out, "index.json", json, strlen(json), err) : vx_fail(err, VX_ENOMEM, "out of memory");
        free(json);
    }
    const char *man = "{\"tool\": \"mkpair\", \"format_version\": 1, \"source\": {\"path\": \"synthetic\"}}\n";
    if (!rc) rc = vx_out_file(&of[8], p->out, "manifest.json", man, strlen(man), err);
    if (!rc) rc = vx_sums_write(&of[9], p->out, of, 9, err);
    vx_meta_free(&meta);
    free(tokjson);
    free(map);
    free(lat);
    free(row);
    free(mu);
    free(buf);
    free(rot.Q);
    return rc;
}

static int num(const char *s, unsigned long lo, unsigned long hi, size_t *out) {
    char *e;
    errno = 0;
    unsigned long v = strtoul(s, &e, 10);
    if (!*s || *e || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    spec a = { 0 }, b = { 0 };
    size_t V = 4096, HA = 128, HB = 96, LA = 4, LB = 3, F = 16, seed = 1, few = 0;
    float noise = 0.3f;
    bvocab mode = BV_SAME;
    int force = 0;
    const char *outs[2] = { NULL, NULL };
    int no = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t *dst = !strcmp(o, "--vocab") ? &V : !strcmp(o, "--hidden-a") ? &HA : !strcmp(o, "--hidden-b") ? &HB
                    : !strcmp(o, "--layers-a") ? &LA : !strcmp(o, "--layers-b") ? &LB : !strcmp(o, "--feats") ? &F
                    : !strcmp(o, "--seed") ? &seed : NULL;
        if (dst) {
            if (!v || num(v, 1, 1u << 24, dst)) { fprintf(stderr, "mkpair: %s: bad value\n", o); return 2; }
            i++;
        } else if (!strcmp(o, "--noise") && v) { noise = strtof(v, NULL); i++; }
        else if (!strcmp(o, "--b-vocab") && v) {
            if (!strcmp(v, "same")) mode = BV_SAME;
            else if (!strcmp(v, "perm")) mode = BV_PERM;
            else if (!strcmp(v, "meta")) mode = BV_META;
            else if (!strcmp(v, "disjoint")) mode = BV_DISJOINT;
            else if (!strncmp(v, "few:", 4) && !num(v + 4, 0, 1u << 24, &few)) mode = BV_FEW;
            else { fprintf(stderr, "mkpair: --b-vocab %s: expected same|perm|meta|disjoint|few:K\n", v); return 2; }
            i++;
        } else if (!strcmp(o, "--force")) force = 1;
        else if (o[0] != '-' && no < 2) outs[no++] = o;
        else { fprintf(stderr, "usage: mkpair OUT_A OUT_B [options] (see tools/mkpair.c)\n"); return 2; }
    }
    if (no != 2 || F > HA || F > HB || V < 512) { fprintf(stderr, "usage: mkpair OUT_A OUT_B [options]; F <= widths, V >= 512\n"); return 2; }
    for (int k = 0; k < 2; k++) {
        struct stat st;
        if (lstat(outs[k], &st) == 0) {
            if (!force) { fprintf(stderr, "mkpair: %s exists (use --force)\n", outs[k]); return 1; }
            vx_remove_tree(outs[k]);
        }
    }
    a = (spec){ outs[0], V, HA, LA, F, HA, LA, 0, mode, few, noise, seed };
    b = (spec){ outs[1], V, HB, LB, F, HA, LA, 1, mode, few, noise, seed };
    double t0 = vx_wall_s();
    vx_err err = { 0 };
    if (write_side(&a, &err) || write_side(&b, &err)) { fprintf(stderr, "mkpair: %s\n", err.msg); return 1; }
    fprintf(stderr, "mkpair: wrote %s (H=%zu, L=%zu) and %s (H=%zu, L=%zu), V=%zu, in %.1f s\n", outs[0], HA, LA, outs[1],
            HB, LB, V, vx_wall_s() - t0);
    return 0;
}
