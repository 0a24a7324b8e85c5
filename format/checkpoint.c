/*
 * checkpoint.c — open a Hugging Face checkpoint for extraction (contract in
 * checkpoint.h, rules C1.. in spec/checkpoint-input.md).
 *
 * Steps, each of which stops with a message naming the file and what was expected:
 *   1. resolve SRC to a directory (a path, or a repo id through the offline HF cache);
 *   2. read config.json and pick the architecture family;
 *   3. map tokenizer.json (its parsing belongs to vocab.c);
 *   4. map every shard and parse it with vx_st_parse; with an index, check that the
 *      index and the shards agree tensor for tensor;
 *   5. map tensor names to roles (embedding, per-layer gate/down vector sets, norms),
 *      checking dtype and shape against the config, and refuse any MLP tensor that has
 *      no role, so a result is never silently partial.
 * Nothing is copied: vx_tensor.data points into the shard maps, and vx_vecset describes
 * rows or columns inside a tensor by offset and stride.
 */
#include "arch.h"
#include "checkpoint.h"
#include "hfcache.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#define CK_MAX_CONFIG (16u << 20) /* C2: config.json is small; anything larger is not one */
#define CK_MAX_INDEX (64u << 20)  /* C8: an index of a 100k-tensor model is ~10 MB */

typedef struct ck_shard {
    char *name;       /* file name inside dir */
    vx_map map;
    vx_st_file st;
} ck_shard;

struct vx_ckpt {
    char *dir, *repo, *rev;
    char *config;                /* config.json bytes, NUL-terminated */
    size_t config_len;
    vx_map tok;                  /* tokenizer.json */
    ck_shard *shards;
    size_t n_shards;
    vx_tensor *tensors;          /* every tensor of every shard */
    size_t n_tensors;
    uint8_t *recog;              /* [n_tensors] 1 when a role or a known name claimed it */
    uint32_t *ht;                /* open addressing, index+1, 0 = empty */
    size_t ht_mask;
    vx_source_file *files;
    size_t n_files;
    char **vnames;               /* names of the virtual (dequantised MXFP4) tensors, owned */
    size_t n_vnames;
    vx_model model;
};

/* ------------------------------------------------------------------ helpers */

/* A bounded comma-separated list for messages: "a, b, c and 12 more". */
typedef struct { char s[640]; size_t n, shown; } ck_list;

static void list_add(ck_list *l, const char *item) {
    size_t used = strlen(l->s), need = strlen(item) + 2;
    if (used + need + 1 < sizeof l->s - 24) {
        snprintf(l->s + used, sizeof l->s - used, "%s%s", l->n ? ", " : "", item);
        l->shown++;
    }
    l->n++;
}

static const char *list_more(const ck_list *l, char *buf, size_t cap) {
    if (l->n > l->shown) snprintf(buf, cap, " and %zu more", l->n - l->shown);
    else buf[0] = 0;
    return buf;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}


/* ------------------------------------------------------------ tensor table */

static size_t ht_slot(const vx_ckpt *c, const char *name) {
    size_t i = (size_t)XXH3_64bits(name, strlen(name)) & c->ht_mask;
    while (c->ht[i] && strcmp(c->tensors[c->ht[i] - 1].name, name)) i = (i + 1) & c->ht_mask;
    return i;
}

static vx_tensor *ck_find(const vx_ckpt *c, const char *name) {
    if (!c->ht) return NULL;
    size_t i = ht_slot(c, name);
    return c->ht[i] ? &c->tensors[c->ht[i] - 1] : NULL;
}

/*
 * C9: gather the tensors of every shard into one table. A name held by two shards is an
 * error (which copy would be meant?).
 */
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !memcmp(s + a - b, suf, b);
}

static int build_table(vx_ckpt *c, vx_err *err) {
    size_t n = 0;
    for (size_t s = 0; s < c->n_shards; s++) n += c->shards[s].st.n;
    size_t nblocks = 0; /* room for the dequantised views of MXFP4 `_blocks` tensors (attach_quant) */
    for (size_t s = 0; s < c->n_shards; s++)
        for (size_t i = 0; i < c->shards[s].st.n; i++) nblocks += ends_with(c->shards[s].st.tensors[i].name, "_blocks");
    n += nblocks;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    c->tensors = calloc(n ? n : 1, sizeof *c->tensors);
    c->recog = calloc(n ? n : 1, 1);
    c->ht = calloc(cap, sizeof *c->ht);
    if (!c->tensors || !c->recog || !c->ht) return vx_fail(err, VX_ENOMEM, "%s: out of memory for %zu tensors", c->dir, n);
    c->ht_mask = cap - 1;
    for (size_t s = 0; s < c->n_shards; s++)
        for (size_t i = 0; i < c->shards[s].st.n; i++) {
            const vx_st_tensor *st = &c->shards[s].st.tensors[i];
            size_t k = ht_slot(c, st->name);
            if (c->ht[k])
                return vx_fail(err, VX_ECORRUPT, "%s: tensor '%.200s' is in both %s and %s", c->dir, st->name,
                               c->tensors[c->ht[k] - 1].file, c->shards[s].name);
            vx_tensor *t = &c->tensors[c->n_tensors];
            t->name = st->name;
            t->file = c->shards[s].name;
            t->dtype = st->dtype;
            t->ndim = st->ndim;
            memcpy(t->shape, st->shape, sizeof t->shape);
            t->nelem = st->nelem;
            t->data = st->data;
            t->bytes = st->end - st->begin;
            c->ht[k] = (uint32_t)++c->n_tensors;
        }
    return VX_OK;
}

/* ------------------------------------------------------------- resolution */

/*
 * C1: SRC is a directory, or a repo id resolved offline in the HF cache:
 * <cache>/models--org--name/refs/<rev> holds the snapshot name, or <rev> names
 * snapshots/<rev> itself.
 */
static int resolve(vx_ckpt *c, const char *src, const char *revision, vx_err *err) {
    if (is_dir(src)) return (c->dir = strdup(src)) ? VX_OK : vx_fail(err, VX_ENOMEM, "out of memory");
    if (!vx_hf_is_repo_id(src))
        return vx_fail(err, VX_ENOTFOUND, "%s: no such checkpoint directory, and not a Hub repo id of the form org/name", src);
    char *repo_dir = NULL;
    int rc = vx_hf_resolve(&c->dir, &repo_dir, &c->rev, src, revision, err); /* format/hfcache.c */
    free(repo_dir);
    if (rc == VX_OK && !(c->repo = strdup(src))) rc = vx_fail(err, VX_ENOMEM, "out of memory");
    return rc;
}

/* ----------------------------------------------------------------- config */

/* The configuration of one checkpoint, after C2/C3 checks. */
typedef struct ck_cfg {
    const vx_arch *a;             /* C4: the architecture's row (format/arch.c) */
    uint32_t L, H, I, V;          /* V = 0 when config has no vocab_size */
    uint32_t E, I_moe, I_shared;  /* E = 0: not in the config, counted from the tensors (C11) */
    uint32_t step, first_dense, freq;
    uint8_t *mlp_only;            /* [L] */
    int tie;                      /* -1 absent, 0, 1 */
    /* Q1: quantization_config */
    enum { Q_NONE, Q_FP8, Q_CT, Q_MXFP4 } qm; /* quant_method fp8 / compressed-tensors / mxfp4 */
    uint32_t qbr, qbc;            /* FP8 block shape: weight_block_size / block_structure; 0 = not given */
} ck_cfg;

static const char *json_kind(const cJSON *v) {
    return cJSON_IsString(v) ? "a string" : cJSON_IsBool(v) ? "a boolean" : cJSON_IsArray(v) ? "an array"
         : cJSON_IsObject(v) ? "an object" : cJSON_IsNull(v) ? "null" : "not a number";
}

/*
 * C3: a size in config: an integer in [lo, max]. *present = 0 when the key is absent or
 * null and `required` is 0. Garbage, negative, fractional and huge values are corrupt.
 */
static int cfg_u32(uint32_t *out, int *present, const cJSON *obj, const char *key, uint32_t lo, uint32_t max,
                   int required, vx_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (present) *present = 0;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return vx_fail(err, VX_ECORRUPT, "config.json: missing \"%s\" (expected an integer in [%u, %u])", key, lo, max);
        return VX_OK;
    }
    if (!cJSON_IsNumber(v))
        return vx_fail(err, VX_ECORRUPT, "config.json: \"%s\" is %s, expected an integer in [%u, %u]", key, json_kind(v), lo,
                       max);
    double d = v->valuedouble;
    if (!(d >= lo && d <= max) || !vx_whole(d))
        return vx_fail(err, VX_ECORRUPT, "config.json: \"%s\" is %.17g, expected an integer in [%u, %u]", key, d, lo, max);
    *out = (uint32_t)d;
    if (present) *present = 1;
    return VX_OK;
}

#define MAX_LAYERS 4096u
#define MAX_HIDDEN (1u << 20)
#define MAX_INTER (1u << 24)
#define MAX_VOCAB (1u << 30)
#define MAX_EXPERTS 65536u

static const char *cfg_str(const cJSON *a, const cJSON *b, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    if (!cJSON_IsString(v) && b) v = cJSON_GetObjectItemCaseSensitive(b, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* C11: whether layer l is a mixture of experts. With E unknown (0) until the tensors are
 * counted, the layer rule alone decides. */
static int sparse_layer(const ck_cfg *k, uint32_t l) {
    switch (k->a->moe) {
    case VX_MOE_QWEN: return !k->mlp_only[l] && (l + 1) % k->step == 0;
    case VX_MOE_DEEPSEEK: return l >= k->first_dense && l % k->freq == 0;
    case VX_MOE_ALL: return 1;
    default: return 0;
    }
}

/* Q1: a block shape [rows, cols] of positive integers. */
static int block_pair(uint32_t *br, uint32_t *bc, const cJSON *v, const char *key, vx_err *err) {
    if (!v || cJSON_IsNull(v)) return VX_OK;
    const cJSON *a = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 ? v->child : NULL;
    if (!a || !cJSON_IsNumber(a) || !cJSON_IsNumber(a->next) || a->valuedouble < 1 || a->valuedouble > 65536 ||
        a->next->valuedouble < 1 || a->next->valuedouble > 65536 || !vx_whole(a->valuedouble) ||
        !vx_whole(a->next->valuedouble))
        return vx_fail(err, VX_ECORRUPT, "config.json: quantization_config \"%s\": expected [rows, cols] of integers in [1, 65536]",
                       key);
    *br = (uint32_t)a->valuedouble;
    *bc = (uint32_t)a->next->valuedouble;
    return VX_OK;
}

/* Q1: quantization_config (top level, else the text config): the method, and for FP8 the
 * block shape. The tensors themselves (which scale tensor each weight has, and its shape)
 * settle the rest (Q2). */
static int read_quant(ck_cfg *k, const cJSON *top, const cJSON *cfg, vx_err *err) {
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(top, "quantization_config");
    if (!cJSON_IsObject(qc)) qc = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    if (!qc || cJSON_IsNull(qc)) return VX_OK;
    if (!cJSON_IsObject(qc)) return vx_fail(err, VX_ECORRUPT, "config.json: \"quantization_config\" is %s, expected an object",
                                            json_kind(qc));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    const char *method = cJSON_IsString(m) ? m->valuestring : "";
    if (!strcmp(method, "fp8")) {
        k->qm = Q_FP8;
        return block_pair(&k->qbr, &k->qbc, cJSON_GetObjectItemCaseSensitive(qc, "weight_block_size"), "weight_block_size", err);
    }
    if (!strcmp(method, "compressed-tensors")) {
        k->qm = Q_CT;
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
        for (const cJSON *g = cJSON_IsObject(groups) ? groups->child : NULL; g; g = g->next) {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, "weights");
            const cJSON *bits = cJSON_GetObjectItemCaseSensitive(w, "num_bits"), *ty = cJSON_GetObjectItemCaseSensitive(w, "type");
            if (cJSON_IsNumber(bits) && (bits->valuedouble != 8 || !cJSON_IsString(ty) || strcmp(ty->valuestring, "float")))
                return vx_fail(err, VX_EUNSUPPORTED, "config.json: compressed-tensors group '%.64s' stores %g-bit %.16s weights; "
                               "only 8-bit float (FP8) weights are supported", g->string ? g->string : "?", bits->valuedouble,
                               cJSON_IsString(ty) ? ty->valuestring : "?");
            int rc = block_pair(&k->qbr, &k->qbc, cJSON_GetObjectItemCaseSensitive(w, "block_structure"), "block_structure", err);
            if (rc) return rc;
        }
        return VX_OK;
    }
    if (!strcmp(method, "mxfp4")) { k->qm = Q_MXFP4; return VX_OK; }
    return vx_fail(err, VX_EUNSUPPORTED, "config.json: quantization_config quant_method '%.64s' is not supported; supported: "
                   "fp8 (block scales), compressed-tensors (FP8 per-tensor, per-channel or block), mxfp4", method);
}

static int read_config(vx_ckpt *c, ck_cfg *k, vx_err *err) {
    char *p = vx_path(c->dir, "config.json");
    if (!p) return vx_fail(err, VX_ENOMEM, "out of memory");
    int rc = vx_read_file(&c->config, &c->config_len, p, CK_MAX_CONFIG, err);
    free(p);
    if (rc) return rc;
    const char *end = NULL;
    cJSON *top = cJSON_ParseWithLengthOpts(c->config, c->config_len, &end, 0);
    if (!top) return vx_fail(err, VX_ECORRUPT, "%s/config.json: not valid JSON", c->dir);
    for (const char *q = end; q < c->config + c->config_len && rc == VX_OK; q++)
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t')
            rc = vx_fail(err, VX_ECORRUPT, "%s/config.json: bytes after the JSON value", c->dir);
    if (rc == VX_OK && !cJSON_IsObject(top)) rc = vx_fail(err, VX_ECORRUPT, "%s/config.json: not a JSON object", c->dir);
    if (rc) goto out;

    /* C3: multimodal configs keep the text model's sizes under text_config. */
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(top, "text_config");
    const cJSON *cfg = cJSON_IsObject(tc) ? tc : top;
    vx_model *m = &c->model;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(top, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const char *arch = cJSON_IsString(a0) ? a0->valuestring : NULL;
    const char *mt = cfg_str(cfg, top, "model_type");
    snprintf(m->architecture, sizeof m->architecture, "%s", arch ? arch : "");
    snprintf(m->model_type, sizeof m->model_type, "%s", mt ? mt : "");
    const char *dt = cfg_str(top, cfg, "torch_dtype");
    if (!dt) dt = cfg_str(top, cfg, "dtype");
    snprintf(m->dtype, sizeof m->dtype, "%s", dt ? dt : "");

    /* C4: dispatch on the architecture when named, else on model_type. */
    if (!(k->a = vx_arch_find(arch, mt))) {
        ck_list l = {{0}, 0, 0};
        for (const vx_arch *r = vx_arch_table; r->arch; r++) list_add(&l, r->arch);
        rc = vx_fail(err, VX_EUNSUPPORTED, "%s/config.json: architecture '%.96s' (model_type '%.64s') is not supported; supported: %s",
                     c->dir, arch ? arch : "(none)", mt ? mt : "(none)", l.s);
        goto out;
    }
    const vx_arch *A = k->a;

    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(top, "tie_word_embeddings");
    if (!cJSON_IsBool(tie) && cfg != top) tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    k->tie = cJSON_IsBool(tie) ? cJSON_IsTrue(tie) : -1;
    if ((rc = read_quant(k, top, cfg, err))) goto out;

    int have;
    int moe = A->moe != VX_MOE_NONE;
    if (A->gpt2) {
        if ((rc = cfg_u32(&k->H, NULL, cfg, "n_embd", 1, MAX_HIDDEN, 1, err)) ||
            (rc = cfg_u32(&k->L, NULL, cfg, "n_layer", 1, MAX_LAYERS, 1, err)) ||
            (rc = cfg_u32(&k->I, &have, cfg, "n_inner", 1, MAX_INTER, 0, err)) ||
            (rc = cfg_u32(&k->V, NULL, cfg, "vocab_size", 1, MAX_VOCAB, 0, err)))
            goto out;
        if (!have) k->I = 4 * k->H; /* C13: n_inner null means 4·n_embd */
        k->tie = 1;                 /* C13: GPT-2's lm_head is always wte */
    } else {
        if ((rc = cfg_u32(&k->H, NULL, cfg, "hidden_size", 1, MAX_HIDDEN, 1, err)) ||
            (rc = cfg_u32(&k->L, NULL, cfg, "num_hidden_layers", 1, MAX_LAYERS, 1, err)) ||
            (rc = cfg_u32(&k->I, &have, cfg, "intermediate_size", 1, MAX_INTER, !moe, err)) ||
            (rc = cfg_u32(&k->V, NULL, cfg, "vocab_size", 1, MAX_VOCAB, 0, err)))
            goto out;
    }
    k->mlp_only = calloc(k->L, 1);
    if (!k->mlp_only) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (moe) {
        /* C11: MoE layout keys, under every name the writing libraries have used. */
        int hm = 0, hs = 0;
        k->step = k->freq = 1;
        for (int i = 0; vx_cfg_experts[i] && !k->E; i++)
            if ((rc = cfg_u32(&k->E, NULL, cfg, vx_cfg_experts[i], 0, MAX_EXPERTS, 0, err))) goto out;
        for (int i = 0; vx_cfg_moe_width[i] && !hm; i++)
            if ((rc = cfg_u32(&k->I_moe, &hm, cfg, vx_cfg_moe_width[i], 1, MAX_INTER, 0, err))) goto out;
        for (int i = 0; vx_cfg_shared_width[i] && !hs; i++)
            if ((rc = cfg_u32(&k->I_shared, &hs, cfg, vx_cfg_shared_width[i], 1, MAX_INTER, 0, err))) goto out;
        if (!hm && A->moe == VX_MOE_ALL) { k->I_moe = k->I; hm = have; } /* Mixtral, gpt-oss: intermediate_size is per expert */
        if (!hm) { rc = vx_fail(err, VX_ECORRUPT, "config.json: missing \"moe_intermediate_size\" (the width of one expert)"); goto out; }
        if (A->moe == VX_MOE_DEEPSEEK) {
            uint32_t ns = 0;
            if ((rc = cfg_u32(&ns, NULL, cfg, "n_shared_experts", 0, MAX_EXPERTS, 0, err)) ||
                (rc = cfg_u32(&k->first_dense, NULL, cfg, "first_k_dense_replace", 0, MAX_LAYERS, 0, err)) ||
                (rc = cfg_u32(&k->freq, NULL, cfg, "moe_layer_freq", 1, MAX_LAYERS, 0, err)))
                goto out;
            if (!hs && ns) {
                uint64_t w = (uint64_t)ns * k->I_moe;
                if (w > MAX_INTER) { rc = vx_fail(err, VX_ECORRUPT, "config.json: n_shared_experts × moe_intermediate_size is too large"); goto out; }
                k->I_shared = (uint32_t)w;
            }
        }
        if (A->moe == VX_MOE_QWEN) {
            if ((rc = cfg_u32(&k->step, NULL, cfg, "decoder_sparse_step", 1, MAX_LAYERS, 0, err))) goto out;
            const cJSON *mo = cJSON_GetObjectItemCaseSensitive(cfg, "mlp_only_layers");
            if (mo && !cJSON_IsNull(mo) && !cJSON_IsArray(mo)) {
                rc = vx_fail(err, VX_ECORRUPT, "config.json: \"mlp_only_layers\" is %s, expected an array of layer indices",
                             json_kind(mo));
                goto out;
            }
            for (const cJSON *v = mo ? mo->child : NULL; v; v = v->next) {
                if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= k->L || !vx_whole(v->valuedouble)) {
                    rc = vx_fail(err, VX_ECORRUPT, "config.json: \"mlp_only_layers\" holds %s, expected layer indices in [0, %u)",
                                 cJSON_IsNumber(v) ? "an out-of-range value" : json_kind(v), k->L);
                    goto out;
                }
                k->mlp_only[(size_t)v->valuedouble] = 1;
            }
        }
        int dense = 0;
        for (uint32_t l = 0; l < k->L; l++) dense |= !sparse_layer(k, l);
        if (dense && !have) {
            rc = vx_fail(err, VX_ECORRUPT, "config.json: missing \"intermediate_size\" (dense layers need it)");
            goto out;
        }
    }
    m->num_layers = k->L;
    m->hidden_size = k->H;
    /* C11: for an MoE model, the width of one expert; dense layers keep intermediate_size. */
    m->intermediate_size = moe ? k->I_moe : k->I;
    m->embed_scale = A->scaled_embed ? sqrtf((float)k->H) : 1.0f; /* C12 */
    m->family = A->family;
    m->quant = k->qm == Q_FP8 ? "fp8" : k->qm == Q_CT ? "compressed-tensors" : k->qm == Q_MXFP4 ? "mxfp4" : "";
    m->norm_eps = -1; /* C18: the norms' epsilon, for `lens` */
    for (int i = 0; vx_cfg_norm_eps[i] && m->norm_eps < 0; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(cfg, vx_cfg_norm_eps[i]);
        if (cJSON_IsNumber(e) && e->valuedouble >= 0 && e->valuedouble < 1) m->norm_eps = e->valuedouble;
    }
    m->norm_offset = A->gemma_norms ? 1.0f : 0.0f;
out:
    cJSON_Delete(top);
    return rc;
}

/* ----------------------------------------------------------------- shards */

/* C8: a shard name from the index is a plain file name inside the checkpoint. */
static int safe_shard_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..") && s[0] != '.';
}

static int file_in(const vx_ckpt *c, const char *name) {
    char *p = vx_path(c->dir, name);
    int r = p && exists(p);
    free(p);
    return r;
}

static int add_shard(vx_ckpt *c, const char *name, size_t *idx, vx_err *err) {
    for (size_t i = 0; i < c->n_shards; i++)
        if (!strcmp(c->shards[i].name, name)) { *idx = i; return VX_OK; }
    ck_shard *n = realloc(c->shards, (c->n_shards + 1) * sizeof *n);
    if (!n) return vx_fail(err, VX_ENOMEM, "out of memory");
    c->shards = n;
    memset(&n[c->n_shards], 0, sizeof *n);
    if (!(n[c->n_shards].name = strdup(name))) return vx_fail(err, VX_ENOMEM, "out of memory");
    *idx = c->n_shards++;
    return VX_OK;
}

static int load_shard(vx_ckpt *c, ck_shard *s, vx_err *err) {
    char *p = vx_path(c->dir, s->name);
    if (!p) return vx_fail(err, VX_ENOMEM, "out of memory");
    int rc = vx_map_file(&s->map, p, err);
    if (rc == VX_ENOTFOUND)
        rc = vx_fail(err, VX_ENOTFOUND, "%s: shard %s is missing (%s)", c->dir, s->name, p);
    free(p);
    if (rc) return rc;
    return vx_st_parse(&s->st, s->map.data, s->map.size, s->name, err); /* C7 */
}

static int cmp_shard(const void *a, const void *b) {
    return strcmp(((const ck_shard *)a)->name, ((const ck_shard *)b)->name);
}

/*
 * C8: with model.safetensors.index.json, weight_map is the authority: every shard it
 * names exists, and each shard holds exactly the tensors it lists for that shard.
 */
static int load_index(vx_ckpt *c, const char *ipath, uint64_t *isize, vx_err *err) {
    char *buf;
    size_t len;
    int rc = vx_read_file(&buf, &len, ipath, CK_MAX_INDEX, err);
    if (rc) return rc;
    *isize = len;
    const char *IX = "model.safetensors.index.json";
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, NULL, 0);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    uint8_t *seen = NULL;
    if (!root || !cJSON_IsObject(root)) { rc = vx_fail(err, VX_ECORRUPT, "%s/%s: not a JSON object", c->dir, IX); goto out; }
    if (!cJSON_IsObject(wm)) { rc = vx_fail(err, VX_ECORRUPT, "%s/%s: missing object \"weight_map\"", c->dir, IX); goto out; }
    size_t idx;
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: weight_map['%.200s'] is %s, expected a shard file name", c->dir, IX,
                         e->string, json_kind(e));
            goto out;
        }
        if (!safe_shard_name(e->valuestring)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: weight_map['%.200s'] names shard '%.200s'; expected a file name in the "
                         "checkpoint directory (no '/', '\\' or '..')", c->dir, IX, e->string, e->valuestring);
            goto out;
        }
        if ((rc = add_shard(c, e->valuestring, &idx, err))) goto out;
    }
    if (!c->n_shards) { rc = vx_fail(err, VX_ECORRUPT, "%s/%s: weight_map is empty", c->dir, IX); goto out; }
    qsort(c->shards, c->n_shards, sizeof *c->shards, cmp_shard);
    for (size_t i = 0; i < c->n_shards; i++) /* C8: every named shard must exist before any is parsed */
        if (!file_in(c, c->shards[i].name)) {
            rc = vx_fail(err, VX_ENOTFOUND, "%s/%s: names shard %s, which is not in %s", c->dir, IX, c->shards[i].name, c->dir);
            goto out;
        }
    for (size_t i = 0; i < c->n_shards; i++)
        if ((rc = load_shard(c, &c->shards[i], err))) goto out;
    if ((rc = build_table(c, err))) goto out;
    seen = calloc(c->n_tensors ? c->n_tensors : 1, 1);
    if (!seen) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    for (const cJSON *e = wm->child; e; e = e->next) {
        const vx_tensor *t = ck_find(c, e->string);
        if (!t) {
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: lists tensor '%.200s' in %s, but no shard holds it", c->dir, IX, e->string,
                         e->valuestring);
            goto out;
        }
        if (strcmp(t->file, e->valuestring)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: lists tensor '%.200s' in %s, but it is in %s", c->dir, IX, e->string,
                         e->valuestring, t->file);
            goto out;
        }
        if (seen[t - c->tensors]++) {
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: lists tensor '%.200s' twice", c->dir, IX, e->string);
            goto out;
        }
    }
    for (size_t i = 0; i < c->n_tensors; i++)
        if (!seen[i]) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: shard %s holds tensor '%.200s', which %s does not list", c->dir,
                         c->tensors[i].file, c->tensors[i].name, IX);
            goto out;
        }
out:
    free(seen);
    cJSON_Delete(root);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ roles */

/* State while names are mapped to roles: missing names are collected so one message
 * lists them all; the first dtype/shape error is kept and reported after them. */
typedef struct ck_map {
    vx_ckpt *c;
    const ck_cfg *k;
    const char *pfx;     /* model prefix: "model.", "transformer.", "" ... */
    char lp[96];         /* layer prefix: pfx + "layers." or pfx + "h." */
    ck_list missing;
    int rc;
    vx_err first;
} ck_map;

/* Look a name up and mark it as claimed; a required absent name joins the missing list. */
static const vx_tensor *get(ck_map *m, int required, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const vx_tensor *get(ck_map *m, int required, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    vx_tensor *t = ck_find(m->c, name);
    if (t) {
        m->c->recog[t - m->c->tensors] = 1;
        /* Q4: a weight's quantisation companions belong to its role */
        static const char *const sfx[] = { "_scale_inv", "_scale", "_blocks", "_scales" };
        char cn[600];
        for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
            snprintf(cn, sizeof cn, "%s%s", name, sfx[i]);
            const vx_tensor *x = ck_find(m->c, cn);
            if (x) m->c->recog[x - m->c->tensors] = 1;
        }
        size_t nl = strlen(name);
        if (nl > 7 && !strcmp(name + nl - 7, ".weight")) { /* compressed-tensors' static activation scale */
            snprintf(cn, sizeof cn, "%.*s.input_scale", (int)(nl - 7), name);
            const vx_tensor *x = ck_find(m->c, cn);
            if (x) m->c->recog[x - m->c->tensors] = 1;
        }
    } else if (required) list_add(&m->missing, name);
    return t;
}

static int is_fp8(vx_dtype d) {
    return d == VX_DT_F8_E4M3 || d == VX_DT_F8_E5M2 || d == VX_DT_F8_E8M0 || d == VX_DT_F8_E4M3FNUZ || d == VX_DT_F8_E5M2FNUZ;
}

/* C6: a tensor the extractor reads is F32, F16 or BF16, or quantised with its scales (Q2, Q3). */
static int readable(ck_map *m, const vx_tensor *t) {
    if (!t) return 0;
    if (t->dtype == VX_DT_F32 || t->dtype == VX_DT_F16 || t->dtype == VX_DT_BF16 || t->q.kind != VX_Q_NONE) return 1;
    if (!m->rc) {
        const char *why = t->dtype == VX_DT_F8_E4M3 || t->dtype == VX_DT_F8_E5M2
                              ? " (an FP8 weight needs its scales: no '_scale_inv' or '_scale' tensor beside it)"
                          : is_fp8(t->dtype) ? " (this FP8 variant is not supported)" : "";
        m->rc = vx_fail(&m->first, VX_EUNSUPPORTED, "%s: tensor '%.200s' has dtype %s; the extractor reads F32, F16, BF16, "
                        "FP8 with scales and MXFP4%s", t->file, t->name, vx_dtype_name(t->dtype), why);
    }
    return 0;
}

static void fmt_shape(char *b, size_t cap, int nd, const uint64_t *d) {
    size_t p = 0;
    b[0] = 0;
    for (int i = 0; i < nd && p + 24 < cap; i++) p += (size_t)snprintf(b + p, cap - p, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
}

/* C10: shapes follow from config sizes; `expect` says which ("intermediate_size × hidden_size"). */
static int shape_is(ck_map *m, const vx_tensor *t, const char *expect, int nd, uint64_t d0, uint64_t d1, uint64_t d2) {
    if (!t) return 0;
    uint64_t want[3] = {d0, d1, d2};
    int ok = t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == want[i];
    if (!ok && !m->rc) {
        char w[96], f[200];
        fmt_shape(w, sizeof w, nd, want);
        fmt_shape(f, sizeof f, t->ndim, t->shape);
        m->rc = vx_fail(&m->first, VX_ECORRUPT, "%s: config/tensor shape mismatch: tensor '%.200s' expected [%s] (%s), found [%s]",
                        t->file, t->name, w, expect, f);
    }
    return ok;
}

static void push(vx_layer *ly, int down, vx_vecset v) {
    if (down) ly->down[ly->n_down++] = v;
    else ly->gate[ly->n_gate++] = v;
}

/* The up matrix's rows, read only for the weight battery (spec/vindex-format.md §9). */
static void push_up(vx_layer *ly, vx_vecset v) { ly->up[ly->n_up++] = v; }

/*
 * C10: a gated MLP at `base` ("model.layers.3.mlp.", "...mlp.experts.5.") of width I with
 * the projections named `gn`, `un`, `dn` ("gate_proj" … or Mixtral's "w1", "w3", "w2"):
 * gate [I,H] gives I row vectors, down [H,I] gives I column vectors; up [I,H] gives I row
 * vectors too (read for the weight battery only).
 */
static void gated(ck_map *m, vx_layer *ly, const char *base, uint64_t I, const char *iname, const char *gn,
                  const char *un, const char *dn) {
    uint64_t H = m->k->H;
    char e1[96], e2[96];
    snprintf(e1, sizeof e1, "%s × hidden_size", iname);
    snprintf(e2, sizeof e2, "hidden_size × %s", iname);
    const vx_tensor *g = get(m, 1, "%s%s.weight", base, gn), *u = get(m, 1, "%s%s.weight", base, un),
                    *d = get(m, 1, "%s%s.weight", base, dn);
    get(m, 0, "%s%s.bias", base, gn);
    get(m, 0, "%s%s.bias", base, un);
    get(m, 0, "%s%s.bias", base, dn);
    int okg = readable(m, g) && shape_is(m, g, e1, 2, I, H, 0);
    int oku = readable(m, u) && shape_is(m, u, e1, 2, I, H, 0);
    int okd = readable(m, d) && shape_is(m, d, e2, 2, H, I, 0);
    if (okg && okd && oku) {
        push(ly, 0, (vx_vecset){g, 0, I, H, 0, 0});
        push(ly, 1, (vx_vecset){d, 0, I, I, 1, 0});
        push_up(ly, (vx_vecset){u, 0, I, H, 0, 0});
    }
}

/* C11: the number of experts, from the config or else from the tensors: the largest N + 1
 * of `<base>experts.N.` names, or dim 0 of a fused 3-D tensor. */
static uint64_t count_experts(ck_map *m, const char *base) {
    if (m->k->E) return m->k->E;
    char b[300];
    snprintf(b, sizeof b, "%sexperts.", base);
    size_t bl = strlen(b);
    uint64_t n = 0;
    for (size_t i = 0; i < m->c->n_tensors; i++) {
        const char *nm = m->c->tensors[i].name;
        if (strncmp(nm, b, bl)) continue;
        const char *p = nm + bl;
        uint64_t e = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && e < MAX_EXPERTS) e = e * 10 + (uint64_t)(*p++ - '0'), digits++;
        if (digits && *p == '.' && e + 1 > n) n = e + 1;
        else if (!digits && m->c->tensors[i].ndim == 3 && m->c->tensors[i].shape[0] > n) n = m->c->tensors[i].shape[0];
    }
    return n > MAX_EXPERTS ? MAX_EXPERTS : n;
}

/*
 * C11: one sparse layer at `base` (".../mlp." or ".../block_sparse_moe."): E experts, per
 * expert (`experts.N.<gate|up|down>`) or fused — halves: gate_up_proj [E, 2I, H] (gate =
 * first I rows) and down_proj [E, H, I]; interleaved (gpt-oss): gate_up_proj [E, H, 2I]
 * (gate = even columns) and down_proj [E, I, H], or MXFP4 blocks dequantised to
 * [E, 2I, H] (gate = even rows) and [E, H, I] — plus an optional shared expert.
 */
static void moe(ck_map *m, vx_layer *ly, const char *base) {
    const ck_cfg *k = m->k;
    const vx_arch *A = k->a;
    uint64_t E = count_experts(m, base), I = k->I_moe, H = k->H;
    char b[256];
    ly->is_moe = 1;
    ly->num_experts = (int)E;
    for (int i = 0; A->router && A->router[i]; i++) get(m, 0, "%s%s", base, A->router[i]); /* recognised, unused */
    snprintf(b, sizeof b, "%sgate.weight", base);
    const vx_tensor *r = ck_find(m->c, b);
    if (r && E) shape_is(m, r, "num_experts × hidden_size", 2, E, H, 0);
    const vx_tensor *gu = get(m, 0, "%sexperts.gate_up_proj", base), *dp = get(m, 0, "%sexperts.down_proj", base);
    if (!gu) gu = get(m, 0, "%sexperts.gate_up_proj.weight", base);
    if (!dp) dp = get(m, 0, "%sexperts.down_proj.weight", base);
    if (gu || dp) {
        if (!gu) { snprintf(b, sizeof b, "%sexperts.gate_up_proj", base); list_add(&m->missing, b); }
        if (!dp) { snprintf(b, sizeof b, "%sexperts.down_proj", base); list_add(&m->missing, b); }
        /* gpt-oss in BF16 keeps transformers' parameter layout; its MXFP4 blocks are stored
         * output-major, like the other families' fused experts. */
        int param_layout = A->interleaved && gu && gu->q.kind != VX_Q_MXFP4;
        int ok;
        if (param_layout) {
            ok = readable(m, gu) && shape_is(m, gu, "num_experts × hidden_size × 2·expert width", 3, E, H, 2 * I);
            ok = readable(m, dp) && shape_is(m, dp, "num_experts × expert width × hidden_size", 3, E, I, H) && ok;
        } else {
            ok = readable(m, gu) && shape_is(m, gu, "num_experts × 2·expert width × hidden_size", 3, E, 2 * I, H);
            ok = readable(m, dp) && shape_is(m, dp, "num_experts × hidden_size × expert width", 3, E, H, I) && ok;
        }
        for (uint64_t e = 0; ok && e < E; e++) {
            uint64_t o = e * 2 * I * H;
            if (param_layout) { /* gate = column 2i, up = column 2i+1 of [H, 2I]; down rows of [I, H] */
                push(ly, 0, (vx_vecset){gu, o, I, 2 * I, 1, 2});
                push_up(ly, (vx_vecset){gu, o + 1, I, 2 * I, 1, 2});
                push(ly, 1, (vx_vecset){dp, e * I * H, I, H, 0, 0});
            } else if (A->interleaved) { /* gate = row 2i, up = row 2i+1 of [2I, H] */
                push(ly, 0, (vx_vecset){gu, o, I, 2 * H, 0, 0});
                push_up(ly, (vx_vecset){gu, o + H, I, 2 * H, 0, 0});
                push(ly, 1, (vx_vecset){dp, e * H * I, I, I, 1, 0});
            } else { /* gate = first I rows, up = next I */
                push(ly, 0, (vx_vecset){gu, o, I, H, 0, 0});
                push_up(ly, (vx_vecset){gu, o + I * H, I, H, 0, 0});
                push(ly, 1, (vx_vecset){dp, e * H * I, I, I, 1, 0});
            }
        }
    } else {
        for (uint64_t e = 0; e < E; e++) {
            snprintf(b, sizeof b, "%sexperts.%llu.", base, (unsigned long long)e);
            gated(m, ly, b, I, "moe_intermediate_size", A->egate, A->eup, A->edown);
        }
    }
    if (!A->shared) return;
    snprintf(b, sizeof b, "%s%s", base, A->shared);
    char probe[320];
    snprintf(probe, sizeof probe, "%sgate_proj.weight", b);
    const vx_tensor *sg = ck_find(m->c, probe);
    snprintf(probe, sizeof probe, "%sdown_proj.weight", b);
    if (sg || ck_find(m->c, probe) || k->I_shared) {
        uint64_t Is = k->I_shared ? k->I_shared : sg && sg->ndim == 2 ? sg->shape[0] : I;
        gated(m, ly, b, Is, k->I_shared ? "shared expert width (config)" : "shared expert width", "gate_proj", "up_proj",
              "down_proj");
    }
}

static void layer(ck_map *m, vx_layer *ly, uint32_t l) {
    static const char *const gpt2_b[] = {"ln_1.bias", "ln_2.bias"};
    const ck_cfg *k = m->k;
    const vx_arch *A = k->a;
    uint64_t H = k->H;
    int moe_layer = sparse_layer(k, l); /* C11 */
    /* the sub-module holding this layer's experts: the first of the row's candidates with a tensor */
    char base[200];
    snprintf(base, sizeof base, "%s%u.mlp.", m->lp, l);
    for (int i = 0; moe_layer && A->moe_blocks[i]; i++) {
        char b[200];
        snprintf(b, sizeof b, "%s%u.%s", m->lp, l, A->moe_blocks[i]);
        size_t bl = strlen(b);
        int found = 0;
        for (size_t t = 0; t < m->c->n_tensors && !found; t++) found = !strncmp(m->c->tensors[t].name, b, bl);
        if (found) { snprintf(base, sizeof base, "%s", b); break; }
    }
    uint64_t E = moe_layer ? count_experts(m, base) : 0;
    if (moe_layer && E == 0) moe_layer = 0; /* num_experts 0: a dense model in an MoE family */
    size_t cap = moe_layer ? E + 1 : 1;
    ly->gate = calloc(cap, sizeof *ly->gate);
    ly->down = calloc(cap, sizeof *ly->down);
    ly->up = calloc(cap, sizeof *ly->up);
    ly->norms = calloc(6, sizeof *ly->norms);
    ly->norm_names = calloc(6, sizeof *ly->norm_names);
    if (!ly->gate || !ly->down || !ly->up || !ly->norms || !ly->norm_names) {
        if (!m->rc) m->rc = vx_fail(&m->first, VX_ENOMEM, "out of memory for layer %u", l);
        return;
    }
    for (int i = 0; A->norms[i] && ly->n_norms < 4; i++) {
        const vx_tensor *t = get(m, 1, "%s%u.%s.weight", m->lp, l, A->norms[i]);
        if (readable(m, t) && shape_is(m, t, "hidden_size", 1, H, 0, 0)) {
            ly->norms[ly->n_norms] = t;
            ly->norm_names[ly->n_norms++] = A->norms[i];
        }
    }
    for (int i = 0; A->gpt2 && i < 2; i++) { /* C13: LayerNorm biases as extra norms */
        const vx_tensor *t = get(m, 0, "%s%u.%s", m->lp, l, gpt2_b[i]);
        if (t && readable(m, t) && shape_is(m, t, "n_embd", 1, H, 0, 0)) {
            ly->norms[ly->n_norms] = t;
            ly->norm_names[ly->n_norms++] = gpt2_b[i];
        }
    }
    uint64_t I = k->I;
    if (moe_layer) {
        moe(m, ly, base);
    } else if (A->mlp == VX_MLP_PHI3) { /* C14: gate_up_proj [2I, H], gate = first I rows */
        const vx_tensor *gu = get(m, 1, "%sgate_up_proj.weight", base), *d = get(m, 1, "%sdown_proj.weight", base);
        get(m, 0, "%sgate_up_proj.bias", base);
        get(m, 0, "%sdown_proj.bias", base);
        int ok = readable(m, gu) && shape_is(m, gu, "2·intermediate_size × hidden_size", 2, 2 * I, H, 0);
        ok = readable(m, d) && shape_is(m, d, "hidden_size × intermediate_size", 2, H, I, 0) && ok;
        if (ok) {
            push(ly, 0, (vx_vecset){gu, 0, I, H, 0, 0});
            push(ly, 1, (vx_vecset){d, 0, I, I, 1, 0});
            push_up(ly, (vx_vecset){gu, I * H, I, H, 0, 0});
        }
    } else if (A->mlp == VX_MLP_CONV1D) { /* C13: Conv1D [in, out]: c_fc [H, I] columns, c_proj [I, H] rows */
        const vx_tensor *fc = get(m, 1, "%sc_fc.weight", base), *pj = get(m, 1, "%sc_proj.weight", base);
        get(m, 0, "%sc_fc.bias", base);
        get(m, 0, "%sc_proj.bias", base);
        int ok = readable(m, fc) && shape_is(m, fc, "n_embd × n_inner (Conv1D [in, out])", 2, H, I, 0);
        ok = readable(m, pj) && shape_is(m, pj, "n_inner × n_embd (Conv1D [in, out])", 2, I, H, 0) && ok;
        if (ok) {
            push(ly, 0, (vx_vecset){fc, 0, I, I, 1, 0});
            push(ly, 1, (vx_vecset){pj, 0, I, H, 0, 0});
        }
    } else {
        gated(m, ly, base, I, "intermediate_size", "gate_proj", "up_proj", "down_proj");
    }
}

/* C15: sub-module names under a layer that hold MLP weights. */
static int is_mlp(const char *rest) {
    static const char *const p[] = {"mlp.", "block_sparse_moe.", "feed_forward.", "moe.", "ffn.", "experts.", "shared_expert."};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        if (!strncmp(rest, p[i], strlen(p[i]))) return 1;
    return 0;
}

static int map_model(vx_ckpt *c, const ck_cfg *k, vx_err *err) {
    const vx_arch *A = k->a;
    vx_model *md = &c->model;
    ck_map m;
    memset(&m, 0, sizeof m);
    m.c = c;
    m.k = k;
    const char *const *pp = A->prefixes;
    const char *emb = A->embed;
    /* C5: the prefix is the first candidate whose embedding exists. */
    m.pfx = pp[0];
    for (int i = 0; pp[i]; i++) {
        char n[128];
        snprintf(n, sizeof n, "%s%s", pp[i], emb);
        if (ck_find(c, n)) { m.pfx = pp[i]; break; }
    }
    snprintf(m.lp, sizeof m.lp, "%s%s", m.pfx, A->layers);
    uint64_t H = k->H;

    md->embed = get(&m, 1, "%s%s", m.pfx, emb);
    if (readable(&m, md->embed)) {
        uint64_t rows = md->embed->ndim == 2 ? md->embed->shape[0] : 0;
        if (shape_is(&m, md->embed, k->V ? "vocab_size × hidden_size" : "rows × hidden_size", 2, k->V ? k->V : rows, H, 0)) {
            if (rows > MAX_VOCAB || rows == 0) {
                if (!m.rc) m.rc = vx_fail(&m.first, VX_ECORRUPT, "%s: tensor '%s' has %llu rows, expected 1..%u", md->embed->file,
                                          md->embed->name, (unsigned long long)rows, MAX_VOCAB);
            } else md->vocab_size = (uint32_t)rows;
        }
    }
    /* C12: the unembedding is lm_head unless tied (config says so, or no lm_head at all). */
    const vx_tensor *lm = get(&m, 0, "lm_head.weight");
    if (!lm && !strcmp(m.pfx, "language_model.model.")) lm = get(&m, 0, "language_model.lm_head.weight"); /* C5 */
    if (k->tie == 1 || (k->tie == -1 && !lm)) {
        md->tied = 1;
        md->unembed = md->embed;
    } else if (!lm) {
        list_add(&m.missing, "lm_head.weight (tie_word_embeddings is false)");
    } else {
        md->unembed = lm;
        if (readable(&m, lm) && md->embed)
            shape_is(&m, lm, "same as the embedding", md->embed->ndim, md->embed->shape[0], md->embed->shape[1], 0);
    }
    md->final_norm = get(&m, 1, "%s%s", m.pfx, A->final_norm);
    if (readable(&m, md->final_norm)) shape_is(&m, md->final_norm, "hidden_size", 1, H, 0, 0);
    if (A->gpt2) {
        md->final_norm_bias = get(&m, 0, "%sln_f.bias", m.pfx);
        if (md->final_norm_bias && readable(&m, md->final_norm_bias)) shape_is(&m, md->final_norm_bias, "n_embd", 1, H, 0, 0);
    }
    if (!(md->layers = calloc(k->L, sizeof *md->layers))) return vx_fail(err, VX_ENOMEM, "out of memory");
    for (uint32_t l = 0; l < k->L; l++) layer(&m, &md->layers[l], l);

    /* C15, C16: every tensor under a layer has a layer index < L, and every MLP tensor a role. */
    ck_list un;
    memset(&un, 0, sizeof un);
    const vx_tensor *beyond = NULL;
    unsigned long long bl = 0;
    size_t lpn = strlen(m.lp);
    for (size_t i = 0; i < c->n_tensors; i++) {
        const char *nm = c->tensors[i].name;
        if (strncmp(nm, m.lp, lpn) || nm[lpn] < '0' || nm[lpn] > '9') continue;
        const char *p = nm + lpn;
        unsigned long long idx = 0;
        while (*p >= '0' && *p <= '9' && idx < 1000000000ull) idx = idx * 10 + (unsigned)(*p++ - '0');
        if (*p != '.') continue;
        if (idx >= k->L) {
            if (A->mtp_layers) { /* C17: the multi-token-prediction layers past the model's: ignored, counted */
                md->mtp_tensors++;
                if (idx + 1 > md->mtp_last) md->mtp_last = (uint32_t)idx + 1;
                c->recog[i] = 1;
            } else if (!beyond) beyond = &c->tensors[i], bl = idx;
            continue;
        }
        if (is_mlp(p + 1) && !c->recog[i]) list_add(&un, nm);
    }
    char more[48];
    const char *cfgL = A->gpt2 ? "n_layer" : "num_hidden_layers";
    if (m.missing.n)
        return vx_fail(err, VX_ENOTFOUND, "%s: missing tensors for %s (prefix '%s'): %s%s", c->dir, md->architecture, m.pfx,
                       m.missing.s, list_more(&m.missing, more, sizeof more));
    if (m.rc) return vx_fail(err, m.rc, "%s", m.first.msg);
    if (beyond)
        return vx_fail(err, VX_ECORRUPT, "%s: config/tensor layer mismatch: config.json \"%s\" is %u, but tensor '%.200s' in %s "
                       "belongs to layer %llu", c->dir, cfgL, k->L, beyond->name, beyond->file, bl);
    if (un.n)
        return vx_fail(err, VX_EUNSUPPORTED, "%s: MLP tensors with no known role for %s (refusing a partial result): %s%s",
                       c->dir, md->architecture, un.s, list_more(&un, more, sizeof more));
    return VX_OK;
}

/* ------------------------------------------------------------ quantisation */

static int is_fp8(vx_dtype d);

/* Q3: `X_blocks` (U8 [.., rows, G, 16]) with `X_scales` (U8 [.., rows, G]) is the MXFP4
 * tensor X of logical shape [.., rows, 32·G], added to the table under the name X unless
 * the checkpoint also holds a plain X (then the plain one is read). */
static int add_mxfp4(vx_ckpt *c, const vx_tensor *blk, vx_err *err) {
    size_t nl = strlen(blk->name) - strlen("_blocks");
    char *name = malloc(nl + 8), **vn = realloc(c->vnames, (c->n_vnames + 1) * sizeof *vn);
    if (vn) c->vnames = vn;
    if (!name || !vn) { free(name); return vx_fail(err, VX_ENOMEM, "out of memory"); }
    memcpy(name, blk->name, nl);
    strcpy(name + nl, "_scales");
    const vx_tensor *sc = ck_find(c, name);
    name[nl] = 0;
    if (!sc || ck_find(c, name)) { free(name); return VX_OK; } /* not MXFP4, or a plain tensor wins */
    c->vnames[c->n_vnames++] = name;
    if (blk->dtype != VX_DT_U8 || blk->ndim < 3 || blk->shape[blk->ndim - 1] != 16)
        return vx_fail(err, VX_ECORRUPT, "%s: MXFP4 blocks '%.200s': expected U8 [.., rows, blocks, 16], found %s with %d dims",
                       blk->file, blk->name, vx_dtype_name(blk->dtype), blk->ndim);
    vx_tensor *t = &c->tensors[c->n_tensors];
    *t = *blk;
    t->name = name;
    t->dtype = VX_DT_F4;
    t->ndim = blk->ndim - 1;
    t->shape[t->ndim - 1] = blk->shape[blk->ndim - 2] * 32; /* blocks·16 bytes·2 values */
    t->shape[t->ndim] = 0;
    t->nelem = blk->nelem * 2;
    int rc = vx_quant_init(&t->q, VX_Q_MXFP4, t, sc, 1, 32, err);
    if (rc) return rc;
    for (int i = 0; i + 1 < t->ndim; i++)
        if (sc->ndim != t->ndim || sc->shape[i] != t->shape[i])
            return vx_fail(err, VX_ECORRUPT, "%s: MXFP4 scales '%.200s' do not match the shape of '%.200s'", sc->file, sc->name,
                           blk->name);
    c->ht[ht_slot(c, name)] = (uint32_t)++c->n_tensors;
    return VX_OK;
}

/*
 * Q2: every FP8 tensor with a scale tensor beside it gets its dequantisation: `X_scale_inv`
 * (quant_method fp8) is a block scale of the configured block shape; `X_scale`
 * (compressed-tensors) is per-tensor (1 element), per-channel (one per row) or a block
 * scale (block_structure), decided by its size. An FP8 tensor without one is refused
 * when the extractor reads it (readable()).
 */
static int attach_quant(vx_ckpt *c, const ck_cfg *k, vx_err *err) {
    char name[600];
    size_t n = c->n_tensors; /* virtual tensors are appended past n */
    for (size_t i = 0; i < n; i++) {
        vx_tensor *t = &c->tensors[i];
        int rc = VX_OK;
        if (ends_with(t->name, "_blocks")) rc = add_mxfp4(c, t, err);
        else if (t->dtype == VX_DT_F8_E4M3 || t->dtype == VX_DT_F8_E5M2) {
            snprintf(name, sizeof name, "%s_scale_inv", t->name);
            const vx_tensor *sc = ck_find(c, name);
            if (sc) {
                uint32_t br = k->qbr, bc = k->qbc;
                if (!br) { /* no weight_block_size: DeepSeek's 128 × 128, if the scale's shape agrees */
                    br = bc = 128;
                }
                rc = vx_quant_init(&t->q, VX_Q_FP8_BLOCK, t, sc, br, bc, err);
            } else {
                snprintf(name, sizeof name, "%s_scale", t->name);
                if ((sc = ck_find(c, name))) {
                    uint64_t rows = t->ndim >= 2 ? t->nelem / t->shape[t->ndim - 1] : 1;
                    vx_qkind kind = sc->nelem == 1 ? VX_Q_FP8_TENSOR : sc->nelem == rows ? VX_Q_FP8_CHANNEL : VX_Q_FP8_BLOCK;
                    rc = vx_quant_init(&t->q, kind, t, sc, k->qbr ? k->qbr : 128, k->qbc ? k->qbc : 128, err);
                }
            }
        }
        if (rc) return rc;
    }
    return VX_OK;
}

/* ------------------------------------------------------------------- open */

int vx_ckpt_open(vx_ckpt **out, const char *src, const char *revision, vx_err *err) {
    if (!out || !src || !*src) return vx_fail(err, VX_EUSAGE, "vx_ckpt_open: no checkpoint given");
    *out = NULL;
    vx_ckpt *c = calloc(1, sizeof *c);
    if (!c) return vx_fail(err, VX_ENOMEM, "out of memory");
    ck_cfg k;
    memset(&k, 0, sizeof k);
    char *p = NULL;
    uint64_t isize = 0;
    int rc = resolve(c, src, revision, err);
    if (rc == VX_OK) rc = read_config(c, &k, err);
    if (rc == VX_OK) { /* C2: tokenizer.json is required; vocab.c parses it */
        if (!(p = vx_path(c->dir, "tokenizer.json"))) rc = vx_fail(err, VX_ENOMEM, "out of memory");
        else if ((rc = vx_map_file(&c->tok, p, err)) == VX_ENOTFOUND)
            rc = vx_fail(err, VX_ENOTFOUND, "%s: tokenizer.json is missing (required for the token table)", c->dir);
        free(p);
        p = NULL;
    }
    int indexed = 0;
    if (rc == VX_OK) {
        if (!(p = vx_path(c->dir, "model.safetensors.index.json"))) rc = vx_fail(err, VX_ENOMEM, "out of memory");
        else if (exists(p)) {
            indexed = 1;
            rc = load_index(c, p, &isize, err);
        } else if (!file_in(c, "model.safetensors")) {
            rc = vx_fail(err, VX_ENOTFOUND, "%s: no model.safetensors or model.safetensors.index.json%s", c->dir,
                         file_in(c, "pytorch_model.bin") || file_in(c, "pytorch_model.bin.index.json")
                             ? " (pytorch_model.bin is not supported: convert the checkpoint to safetensors)" : "");
        } else {
            size_t i;
            if ((rc = add_shard(c, "model.safetensors", &i, err)) == VX_OK && (rc = load_shard(c, &c->shards[i], err)) == VX_OK)
                rc = build_table(c, err);
        }
        free(p);
    }
    if (rc == VX_OK) rc = attach_quant(c, &k, err);
    if (rc == VX_OK) rc = map_model(c, &k, err);
    if (rc == VX_OK) { /* provenance: the files read, with their sizes */
        c->files = calloc(3 + c->n_shards, sizeof *c->files);
        if (!c->files) rc = vx_fail(err, VX_ENOMEM, "out of memory");
        else {
            c->files[c->n_files++] = (vx_source_file){"config.json", c->config_len};
            c->files[c->n_files++] = (vx_source_file){"tokenizer.json", c->tok.size};
            if (indexed) c->files[c->n_files++] = (vx_source_file){"model.safetensors.index.json", isize};
            for (size_t i = 0; i < c->n_shards; i++)
                c->files[c->n_files++] = (vx_source_file){c->shards[i].name, c->shards[i].map.size};
        }
    }
    free(k.mlp_only);
    if (rc) {
        vx_ckpt_close(c);
        return rc;
    }
    *out = c;
    return VX_OK;
}

void vx_ckpt_close(vx_ckpt *c) {
    if (!c) return;
    if (c->model.layers)
        for (uint32_t l = 0; l < c->model.num_layers; l++) {
            vx_layer *ly = &c->model.layers[l];
            free(ly->gate);
            free(ly->down);
            free(ly->up);
            free(ly->norms);
            free(ly->norm_names);
        }
    free(c->model.layers);
    for (size_t i = 0; i < c->n_shards; i++) {
        vx_st_free(&c->shards[i].st);
        vx_unmap(&c->shards[i].map);
        free(c->shards[i].name);
    }
    free(c->shards);
    vx_unmap(&c->tok);
    for (size_t i = 0; i < c->n_vnames; i++) free(c->vnames[i]);
    free(c->vnames);
    free(c->tensors);
    free(c->recog);
    free(c->ht);
    free(c->files);
    free(c->config);
    free(c->dir);
    free(c->repo);
    free(c->rev);
    free(c);
}

const vx_model *vx_ckpt_model(const vx_ckpt *c) { return &c->model; }
const vx_tensor *vx_ckpt_tensors(const vx_ckpt *c, size_t *n) {
    *n = c->n_tensors;
    return c->tensors;
}
const char *vx_ckpt_dir(const vx_ckpt *c) { return c->dir; }
const char *vx_ckpt_repo(const vx_ckpt *c) { return c->repo; }
const char *vx_ckpt_revision(const vx_ckpt *c) { return c->rev; }

const vx_source_file *vx_ckpt_files(const vx_ckpt *c, size_t *n) {
    *n = c->n_files;
    return c->files;
}

const uint8_t *vx_ckpt_config(const vx_ckpt *c, size_t *len) {
    *len = c->config_len;
    return (const uint8_t *)c->config;
}

const uint8_t *vx_ckpt_tokenizer(const vx_ckpt *c, size_t *len) {
    *len = c->tok.size;
    return c->tok.data;
}
