/*
 * test_checkpoint.c — vx_ckpt_open on the four fixture checkpoints, on synthetic
 * checkpoints written here (Phi-3, Qwen3-MoE per-expert and fused, Gemma3 multimodal,
 * GPT-2 without prefix), on broken ones (each with its expected error code and message),
 * and through a fake Hugging Face cache. Rules: spec/checkpoint-input.md §C.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"

/* ------------------------------------------------------ a tiny safetensors writer */

typedef struct { char name[160]; char dtype[16]; int nd; uint64_t sh[3]; } ts;
static ts T[600];
static int nT;
static char dir[256];

static void add(const char *dt, int nd, uint64_t a, uint64_t b, uint64_t c, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void add(const char *dt, int nd, uint64_t a, uint64_t b, uint64_t c, const char *fmt, ...) {
    ts *t = &T[nT++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt);
    t->nd = nd;
    t->sh[0] = a, t->sh[1] = b, t->sh[2] = c;
}

static unsigned dt_bytes(const char *dt) {
    return !strcmp(dt, "F32") ? 4 : !strcmp(dt, "F16") || !strcmp(dt, "BF16") ? 2 : 1;
}

static void write_file(const char *name, const void *buf, size_t len) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(2); }
    fwrite(buf, 1, len, f);
    fclose(f);
}

static void write_text(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void write_text(const char *name, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write_file(name, buf, (size_t)n);
}

/* Write T[0..nT) as `name`; F32 elements hold their own index, others are zero. */
static void flush(const char *name) {
    char hdr[65536];
    size_t h = 0, off = 0;
    h += (size_t)snprintf(hdr + h, sizeof hdr - h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < nT; i++) {
        uint64_t n = 1;
        h += (size_t)snprintf(hdr + h, sizeof hdr - h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", T[i].name, T[i].dtype);
        for (int d = 0; d < T[i].nd; d++) {
            n *= T[i].sh[d];
            h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s%llu", d ? "," : "", (unsigned long long)T[i].sh[d]);
        }
        size_t bytes = n * dt_bytes(T[i].dtype);
        h += (size_t)snprintf(hdr + h, sizeof hdr - h, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    hdr[h++] = '}';
    while (h % 8) hdr[h++] = ' ';
    uint8_t *buf = calloc(1, 8 + h + off + 1);
    vx_put64(buf, h);
    memcpy(buf + 8, hdr, h);
    size_t p = 8 + h;
    for (int i = 0; i < nT; i++) {
        uint64_t n = 1;
        for (int d = 0; d < T[i].nd; d++) n *= T[i].sh[d];
        if (!strcmp(T[i].dtype, "F32"))
            for (uint64_t e = 0; e < n; e++) {
                union { float f; uint32_t u; } v = {(float)e};
                vx_put32(buf + p + 4 * e, v.u);
            }
        p += n * dt_bytes(T[i].dtype);
    }
    write_file(name, buf, p);
    free(buf);
    nT = 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void fresh(void) {
    if (dir[0]) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(dir, sizeof dir, "/tmp/vx-ckpt-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
    write_text("tokenizer.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}");
    nT = 0;
}

/* Llama-family tensors: embed, norms, gated MLP (F32), optional lm_head. */
static void llama_tensors(const char *pfx, int L, int H, int I, int V, int nnorm, const char *gate_dt) {
    static const char *norms[] = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                                  "post_feedforward_layernorm"};
    add("F32", 2, V, H, 0, "%sembed_tokens.weight", pfx);
    add("F32", 1, H, 0, 0, "%snorm.weight", pfx);
    for (int l = 0; l < L; l++) {
        for (int n = 0; n < nnorm; n++) add("F32", 1, H, 0, 0, "%slayers.%d.%s.weight", pfx, l, norms[n]);
        add(gate_dt, 2, I, H, 0, "%slayers.%d.mlp.gate_proj.weight", pfx, l);
        add("F32", 2, I, H, 0, "%slayers.%d.mlp.up_proj.weight", pfx, l);
        add("F32", 2, H, I, 0, "%slayers.%d.mlp.down_proj.weight", pfx, l);
        add("F32", 2, H, H, 0, "%slayers.%d.self_attn.q_proj.weight", pfx, l);
    }
}

#define LLAMA_CFG(arch, mt, L, H, I, V, extra)                                                                      \
    write_text("config.json",                                                                                     \
               "{\"architectures\":[\"%s\"],\"model_type\":\"%s\",\"num_hidden_layers\":%d,\"hidden_size\":%d,"  \
               "\"intermediate_size\":%d,\"vocab_size\":%d%s}",                                                  \
               arch, mt, L, H, I, V, extra)

static vx_ckpt *open_ok(const char *what, const char *src, const char *rev) {
    vx_ckpt *c = NULL;
    vx_err e = {0};
    int rc = vx_ckpt_open(&c, src, rev, &e);
    CHECK(rc == VX_OK && c, "%s: open failed (%d): %s", what, rc, e.msg);
    return rc == VX_OK ? c : NULL;
}

static void open_fail(const char *what, const char *src, const char *rev, int code, const char *want, const char *want2) {
    vx_ckpt *c = (vx_ckpt *)1;
    vx_err e = {0};
    int rc = vx_ckpt_open(&c, src, rev, &e);
    if (getenv("VX_TEST_VERBOSE")) printf("%-28s %d %s\n", what, rc, e.msg);
    CHECK(rc == code, "%s: expected %d, got %d (%s)", what, code, rc, e.msg);
    CHECK(c == NULL, "%s: *out not NULL on failure", what);
    CHECK(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, want);
    if (want2) CHECK(strstr(e.msg, want2) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, want2);
    if (rc == VX_OK) vx_ckpt_close(c);
}

static int vs_is(const vx_vecset *v, uint64_t off, uint64_t count, uint64_t ld, int col) {
    return v->offset == off && v->count == count && v->ld == ld && v->by_column == col;
}

/* Element j of vector i of a vecset, by the header's indexing rule. */
static float vs_get(const vx_vecset *v, uint64_t i, uint64_t j) {
    return vx_tensor_get(v->t, v->offset + (v->by_column ? j * v->ld + i : i * v->ld + j));
}

/* ------------------------------------------------------------------ fixtures */

static void fixtures(void) {
    vx_ckpt *c = open_ok("tiny-llama", "tests/fixtures/tiny-llama", NULL);
    if (c) {
        const vx_model *m = vx_ckpt_model(c);
        CHECK(!strcmp(m->model_type, "llama") && !strcmp(m->architecture, "LlamaForCausalLM"), "llama names");
        CHECK(!strcmp(m->dtype, "bfloat16"), "llama dtype '%s'", m->dtype);
        CHECK(m->num_layers == 4 && m->hidden_size == 128 && m->intermediate_size == 352 && m->vocab_size == 4096,
              "llama sizes %u %u %u %u", m->num_layers, m->hidden_size, m->intermediate_size, m->vocab_size);
        CHECK(!m->tied && m->unembed != m->embed && !strcmp(m->unembed->name, "lm_head.weight"), "llama untied");
        CHECK(m->norm_offset == 0 && m->embed_scale == 1, "llama norm_offset/embed_scale");
        CHECK(m->embed->dtype == VX_DT_BF16 && m->final_norm && !m->final_norm_bias, "llama embed/final norm");
        const vx_layer *ly = &m->layers[3];
        CHECK(ly->n_gate == 1 && ly->n_down == 1 && !ly->is_moe && ly->num_experts == 0, "llama vecset counts");
        CHECK(vs_is(&ly->gate[0], 0, 352, 128, 0) && vs_is(&ly->down[0], 0, 352, 352, 1), "llama vecsets");
        CHECK(!strcmp(ly->gate[0].t->name, "model.layers.3.mlp.gate_proj.weight"), "llama gate tensor");
        CHECK(ly->n_norms == 2 && !strcmp(ly->norm_names[0], "input_layernorm") &&
              !strcmp(ly->norm_names[1], "post_attention_layernorm") && ly->norms[1]->shape[0] == 128, "llama norms");
        size_t n;
        const vx_source_file *f = vx_ckpt_files(c, &n);
        struct stat st;
        stat("tests/fixtures/tiny-llama/model.safetensors", &st);
        CHECK(n == 3 && !strcmp(f[0].name, "config.json") && !strcmp(f[1].name, "tokenizer.json") &&
              !strcmp(f[2].name, "model.safetensors") && f[2].size == (uint64_t)st.st_size, "llama files");
        size_t len;
        const uint8_t *cfg = vx_ckpt_config(c, &len);
        CHECK(cfg && len == f[0].size && cfg[0] == '{', "config bytes");
        const uint8_t *tok = vx_ckpt_tokenizer(c, &len);
        CHECK(tok && len == f[1].size && tok[0] == '{', "tokenizer bytes");
        CHECK(vx_ckpt_repo(c) == NULL && vx_ckpt_revision(c) == NULL && !strcmp(vx_ckpt_dir(c), "tests/fixtures/tiny-llama"),
              "plain directory provenance");
        vx_ckpt_close(c);
    }
    c = open_ok("tiny-qwen3", "tests/fixtures/tiny-qwen3", NULL);
    if (c) {
        const vx_model *m = vx_ckpt_model(c);
        CHECK(!strcmp(m->model_type, "qwen3") && !strcmp(m->architecture, "Qwen3ForCausalLM"), "qwen3 names");
        CHECK(m->num_layers == 3 && m->hidden_size == 96 && m->intermediate_size == 256 && m->vocab_size == 4096, "qwen3 sizes");
        CHECK(m->tied && m->unembed == m->embed && m->embed->dtype == VX_DT_F16, "qwen3 tied");
        CHECK(!strcmp(m->embed->file, "model-00001-of-00004.safetensors"), "qwen3 embed shard %s", m->embed->file);
        CHECK(vs_is(&m->layers[2].gate[0], 0, 256, 96, 0) && vs_is(&m->layers[2].down[0], 0, 256, 256, 1), "qwen3 vecsets");
        size_t n;
        const vx_source_file *f = vx_ckpt_files(c, &n);
        CHECK(n == 7 && !strcmp(f[2].name, "model.safetensors.index.json") &&
              !strcmp(f[3].name, "model-00001-of-00004.safetensors") && !strcmp(f[6].name, "model-00004-of-00004.safetensors"),
              "qwen3 files (%zu)", n);
        vx_ckpt_close(c);
    }
    c = open_ok("tiny-gpt2", "tests/fixtures/tiny-gpt2", NULL);
    if (c) {
        const vx_model *m = vx_ckpt_model(c);
        CHECK(!strcmp(m->model_type, "gpt2") && !strcmp(m->architecture, "GPT2LMHeadModel"), "gpt2 names");
        CHECK(m->num_layers == 4 && m->hidden_size == 128 && m->intermediate_size == 512 && m->vocab_size == 4096, "gpt2 sizes");
        CHECK(m->tied && m->unembed == m->embed && !strcmp(m->embed->name, "transformer.wte.weight"), "gpt2 tied");
        CHECK(m->final_norm_bias && !strcmp(m->final_norm_bias->name, "transformer.ln_f.bias"), "gpt2 final bias");
        const vx_layer *ly = &m->layers[1];
        CHECK(ly->n_gate == 1 && vs_is(&ly->gate[0], 0, 512, 512, 1), "gpt2 gate by column");
        CHECK(ly->n_down == 1 && vs_is(&ly->down[0], 0, 512, 128, 0), "gpt2 down by row");
        CHECK(ly->n_norms == 4 && !strcmp(ly->norm_names[0], "ln_1") && !strcmp(ly->norm_names[3], "ln_2.bias"), "gpt2 norms");
        CHECK(vs_get(&ly->gate[0], 5, 7) == vx_tensor_get(ly->gate[0].t, 7 * 512 + 5), "gpt2 column indexing");
        vx_ckpt_close(c);
    }
    c = open_ok("tiny-gemma3", "tests/fixtures/tiny-gemma3", NULL);
    if (c) {
        const vx_model *m = vx_ckpt_model(c);
        CHECK(!strcmp(m->model_type, "gemma3_text") && !strcmp(m->architecture, "Gemma3ForCausalLM"), "gemma3 names");
        CHECK(m->num_layers == 4 && m->hidden_size == 128 && m->intermediate_size == 384 && m->vocab_size == 4096, "gemma3 sizes");
        CHECK(m->tied && m->norm_offset == 1 && fabsf(m->embed_scale - sqrtf(128)) < 1e-5f, "gemma3 tie/offset/scale");
        CHECK(m->layers[0].n_norms == 4 && !strcmp(m->layers[0].norm_names[3], "post_feedforward_layernorm"), "gemma3 4 norms");
        CHECK(vs_is(&m->layers[0].gate[0], 0, 384, 128, 0), "gemma3 gate");
        vx_ckpt_close(c);
    }
}

/* ------------------------------------------------------- synthetic architectures */

enum { H = 8, I = 4, V = 16, E = 3 };

static void phi3(void) {
    fresh();
    write_text("config.json", "{\"architectures\":[\"Phi3ForCausalLM\"],\"model_type\":\"phi3\",\"num_hidden_layers\":2,"
                              "\"hidden_size\":8,\"intermediate_size\":4,\"vocab_size\":16,\"tie_word_embeddings\":false}");
    add("F32", 2, V, H, 0, "model.embed_tokens.weight");
    add("F32", 2, V, H, 0, "lm_head.weight");
    add("F32", 1, H, 0, 0, "model.norm.weight");
    for (int l = 0; l < 2; l++) {
        add("F32", 1, H, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        add("F32", 1, H, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        add("F32", 2, 2 * I, H, 0, "model.layers.%d.mlp.gate_up_proj.weight", l);
        add("F32", 2, H, I, 0, "model.layers.%d.mlp.down_proj.weight", l);
        add("F32", 2, 3 * H, H, 0, "model.layers.%d.self_attn.qkv_proj.weight", l);
    }
    flush("model.safetensors");
    vx_ckpt *c = open_ok("phi3", dir, NULL);
    if (!c) return;
    const vx_model *m = vx_ckpt_model(c);
    const vx_layer *ly = &m->layers[1];
    CHECK(!m->tied && ly->n_gate == 1 && vs_is(&ly->gate[0], 0, I, H, 0), "phi3 gate = first I rows");
    CHECK(!strcmp(ly->gate[0].t->name, "model.layers.1.mlp.gate_up_proj.weight"), "phi3 gate tensor");
    CHECK(vs_get(&ly->gate[0], I - 1, H - 1) == (float)(I * H - 1), "phi3 last gate element is in the first half");
    CHECK(vs_get(&ly->down[0], 2, 5) == (float)(5 * I + 2), "phi3 down column");
    vx_ckpt_close(c);
}

/* Qwen3-MoE: layer 0 dense (mlp_only_layers), layers 1-2 MoE. */
static void qwen3_moe(int fused, int shared) {
    fresh();
    write_text("config.json", "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\",\"num_hidden_layers\":3,"
                              "\"hidden_size\":8,\"intermediate_size\":6,\"moe_intermediate_size\":4,\"num_experts\":3,"
                              "\"num_experts_per_tok\":2,\"decoder_sparse_step\":1,\"mlp_only_layers\":[0],\"vocab_size\":16,"
                              "\"tie_word_embeddings\":true}");
    add("F32", 2, V, H, 0, "model.embed_tokens.weight");
    add("F32", 1, H, 0, 0, "model.norm.weight");
    for (int l = 0; l < 3; l++) {
        add("F32", 1, H, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        add("F32", 1, H, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        if (l == 0) {
            add("F32", 2, 6, H, 0, "model.layers.0.mlp.gate_proj.weight");
            add("F32", 2, 6, H, 0, "model.layers.0.mlp.up_proj.weight");
            add("F32", 2, H, 6, 0, "model.layers.0.mlp.down_proj.weight");
            continue;
        }
        add("F32", 2, E, H, 0, "model.layers.%d.mlp.gate.weight", l);
        if (fused) {
            add("F32", 3, E, 2 * I, H, "model.layers.%d.mlp.experts.gate_up_proj", l);
            add("F32", 3, E, H, I, "model.layers.%d.mlp.experts.down_proj", l);
        } else {
            for (int e = 0; e < E; e++) {
                add("F32", 2, I, H, 0, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
                add("F32", 2, I, H, 0, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
                add("F32", 2, H, I, 0, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
            }
        }
        if (shared) {
            add("F32", 2, 5, H, 0, "model.layers.%d.mlp.shared_expert.gate_proj.weight", l);
            add("F32", 2, 5, H, 0, "model.layers.%d.mlp.shared_expert.up_proj.weight", l);
            add("F32", 2, H, 5, 0, "model.layers.%d.mlp.shared_expert.down_proj.weight", l);
            add("F32", 2, 1, H, 0, "model.layers.%d.mlp.shared_expert_gate.weight", l);
        }
    }
    flush("model.safetensors");
    const char *what = fused ? "qwen3-moe fused" : "qwen3-moe per-expert";
    vx_ckpt *c = open_ok(what, dir, NULL);
    if (!c) return;
    const vx_model *m = vx_ckpt_model(c);
    const vx_layer *d = &m->layers[0], *ly = &m->layers[2];
    CHECK(!d->is_moe && d->n_gate == 1 && vs_is(&d->gate[0], 0, 6, H, 0) && vs_is(&d->down[0], 0, 6, 6, 1), "%s: dense layer 0",
          what);
    CHECK(ly->is_moe && ly->num_experts == E && ly->n_gate == E + shared && ly->n_down == E + shared, "%s: counts %d %d", what,
          ly->n_gate, ly->n_down);
    if (fused) {
        CHECK(vs_is(&ly->gate[1], 1 * 2 * I * H, I, H, 0) && vs_is(&ly->down[2], 2 * H * I, I, I, 1), "%s: offsets", what);
        CHECK(vs_get(&ly->gate[1], 3, 7) == (float)(2 * I * H + 3 * H + 7), "%s: expert 1 gate row 3", what);
        CHECK(vs_get(&ly->down[2], 3, 7) == (float)(2 * H * I + 7 * I + 3), "%s: expert 2 down column 3", what);
    } else {
        CHECK(!strcmp(ly->gate[2].t->name, "model.layers.2.mlp.experts.2.gate_proj.weight") && vs_is(&ly->gate[2], 0, I, H, 0),
              "%s: expert 2 gate", what);
        CHECK(vs_is(&ly->down[1], 0, I, I, 1), "%s: expert 1 down", what);
    }
    if (shared)
        CHECK(!strcmp(ly->gate[E].t->name, "model.layers.2.mlp.shared_expert.gate_proj.weight") &&
              vs_is(&ly->gate[E], 0, 5, H, 0) && vs_is(&ly->down[E], 0, 5, 5, 1), "%s: shared expert appended", what);
    vx_ckpt_close(c);
}

static void gemma3_mm(const char *pfx, const char *lm_head) {
    fresh();
    write_text("config.json", "{\"architectures\":[\"Gemma3ForConditionalGeneration\"],\"model_type\":\"gemma3\","
                              "\"text_config\":{\"model_type\":\"gemma3_text\",\"num_hidden_layers\":2,\"hidden_size\":8,"
                              "\"intermediate_size\":4,\"vocab_size\":16},\"vision_config\":{\"hidden_size\":12},"
                              "\"torch_dtype\":\"bfloat16\"}");
    llama_tensors(pfx, 2, H, I, V, 4, "F32");
    add("F32", 2, 12, 12, 0, "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight");
    add("F32", 2, 12, 12, 0, "multi_modal_projector.mm_input_projection_weight");
    if (lm_head) add("F32", 2, V, H, 0, "%s", lm_head);
    flush("model.safetensors");
    vx_ckpt *c = open_ok(pfx, dir, NULL);
    if (!c) return;
    const vx_model *m = vx_ckpt_model(c);
    CHECK(!strcmp(m->model_type, "gemma3_text") && !strcmp(m->architecture, "Gemma3ForConditionalGeneration"),
          "gemma3 mm names %s", m->model_type);
    CHECK(m->num_layers == 2 && m->hidden_size == H && m->vocab_size == V && !strcmp(m->dtype, "bfloat16"), "gemma3 mm sizes");
    CHECK(m->tied == !lm_head && m->norm_offset == 1 && fabsf(m->embed_scale - sqrtf(8)) < 1e-6f, "gemma3 mm tied/scale");
    if (lm_head) CHECK(m->unembed && !strcmp(m->unembed->name, lm_head), "gemma3 mm lm_head %s", lm_head);
    CHECK(!strncmp(m->embed->name, pfx, strlen(pfx)) && m->layers[1].n_norms == 4, "gemma3 mm prefix %s", pfx);
    vx_ckpt_close(c);
}

static void gpt2_noprefix(void) {
    fresh();
    write_text("config.json", "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_layer\":2,\"n_embd\":8,"
                              "\"n_inner\":null,\"vocab_size\":16}");
    add("F32", 2, V, H, 0, "wte.weight");
    add("F32", 2, 32, H, 0, "wpe.weight");
    add("F32", 1, H, 0, 0, "ln_f.weight");
    add("F32", 1, H, 0, 0, "ln_f.bias");
    for (int l = 0; l < 2; l++) {
        add("F32", 1, H, 0, 0, "h.%d.ln_1.weight", l);
        add("F32", 1, H, 0, 0, "h.%d.ln_1.bias", l);
        add("F32", 1, H, 0, 0, "h.%d.ln_2.weight", l);
        add("F32", 1, H, 0, 0, "h.%d.ln_2.bias", l);
        add("F32", 2, H, 4 * H, 0, "h.%d.mlp.c_fc.weight", l);
        add("F32", 1, 4 * H, 0, 0, "h.%d.mlp.c_fc.bias", l);
        add("F32", 2, 4 * H, H, 0, "h.%d.mlp.c_proj.weight", l);
        add("F32", 1, H, 0, 0, "h.%d.mlp.c_proj.bias", l);
        add("U8", 3, 1, 1, 32, "h.%d.attn.bias", l);
        add("F32", 0, 0, 0, 0, "h.%d.attn.masked_bias", l);
    }
    flush("model.safetensors");
    vx_ckpt *c = open_ok("gpt2 no prefix", dir, NULL);
    if (!c) return;
    const vx_model *m = vx_ckpt_model(c);
    const vx_layer *ly = &m->layers[1];
    CHECK(m->intermediate_size == 4 * H && !strcmp(m->embed->name, "wte.weight") && m->tied, "gpt2 n_inner null → 4·n_embd");
    CHECK(vs_is(&ly->gate[0], 0, 4 * H, 4 * H, 1) && vs_is(&ly->down[0], 0, 4 * H, H, 0), "gpt2 vecsets");
    CHECK(vs_get(&ly->gate[0], 3, 2) == (float)(2 * 4 * H + 3), "gpt2 c_fc column 3");
    CHECK(m->final_norm_bias && !strcmp(m->final_norm_bias->name, "ln_f.bias"), "gpt2 ln_f.bias");
    vx_ckpt_close(c);
}

/* ------------------------------------------------------------- broken inputs */

static void llama_ok_files(int L) {
    LLAMA_CFG("LlamaForCausalLM", "llama", L, H, I, V, ",\"tie_word_embeddings\":true");
    llama_tensors("model.", L, H, I, V, 2, "F32");
}

static void broken(void) {
    fresh();
    write_text("config.json", "{\"architectures\":[\"FooForCausalLM\"],\"model_type\":\"foo\"}");
    open_fail("unknown architecture", dir, NULL, VX_EUNSUPPORTED, "FooForCausalLM", "LlamaForCausalLM");

    fresh();
    llama_ok_files(2);
    add("F32", 2, I, H, 0, "model.layers.1.mlp.extra_proj.weight");
    flush("model.safetensors");
    open_fail("unmapped MLP tensor", dir, NULL, VX_EUNSUPPORTED, "model.layers.1.mlp.extra_proj.weight", "no known role");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, H, I, V, "");
    llama_tensors("model.", 1, H, I, V, 2, "F8_E4M3");
    flush("model.safetensors");
    open_fail("FP8 MLP tensor without scales", dir, NULL, VX_EUNSUPPORTED, "model.layers.0.mlp.gate_proj.weight", "needs its scales");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, H, 5, V, "");
    llama_tensors("model.", 1, H, I, V, 2, "F32");
    flush("model.safetensors");
    open_fail("shape mismatch", dir, NULL, VX_ECORRUPT, "config/tensor shape mismatch", "expected [5, 8] (intermediate_size");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, H, I, 20, "");
    llama_tensors("model.", 1, H, I, V, 2, "F32");
    flush("model.safetensors");
    open_fail("vocab mismatch", dir, NULL, VX_ECORRUPT, "model.embed_tokens.weight' expected [20, 8]", "found [16, 8]");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, H, I, V, ",\"tie_word_embeddings\":false");
    llama_tensors("model.", 1, H, I, V, 2, "F32");
    flush("model.safetensors");
    open_fail("untied without lm_head", dir, NULL, VX_ENOTFOUND, "lm_head.weight", NULL);

    fresh();
    llama_ok_files(2);
    T[nT - 2] = T[nT - 1]; /* drop layers.1.mlp.down_proj */
    nT--;
    flush("model.safetensors");
    open_fail("missing tensor", dir, NULL, VX_ENOTFOUND, "missing tensors", "model.layers.1.mlp.down_proj.weight");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, H, I, V, "");
    llama_tensors("model.", 2, H, I, V, 2, "F32");
    flush("model.safetensors");
    open_fail("more layers than config", dir, NULL, VX_ECORRUPT, "\"num_hidden_layers\" is 1", "layer 1");

    fresh();
    LLAMA_CFG("LlamaForCausalLM", "llama", 3, H, I, V, "");
    llama_tensors("model.", 2, H, I, V, 2, "F32");
    flush("model.safetensors");
    open_fail("fewer layers than config", dir, NULL, VX_ENOTFOUND, "model.layers.2.", NULL);

    /* config.json */
    fresh();
    write_text("config.json", "{\"architectures\": [\"LlamaForCausalLM\"], garbage");
    open_fail("garbage config", dir, NULL, VX_ECORRUPT, "config.json", "not valid JSON");
    write_text("config.json", "[1,2]");
    open_fail("config not object", dir, NULL, VX_ECORRUPT, "not a JSON object", NULL);
    LLAMA_CFG("LlamaForCausalLM", "llama", 1, -8, I, V, "");
    open_fail("negative size", dir, NULL, VX_ECORRUPT, "\"hidden_size\" is -8", NULL);
    LLAMA_CFG("LlamaForCausalLM", "llama", 1000000000, H, I, V, "");
    open_fail("huge size", dir, NULL, VX_ECORRUPT, "\"num_hidden_layers\" is 1000000000", NULL);
    write_text("config.json", "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":1,\"hidden_size\":8,"
                              "\"vocab_size\":16}");
    open_fail("missing size", dir, NULL, VX_ECORRUPT, "missing \"intermediate_size\"", NULL);
    write_text("config.json", "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":1,\"hidden_size\":\"8\","
                              "\"intermediate_size\":4}");
    open_fail("string size", dir, NULL, VX_ECORRUPT, "\"hidden_size\" is a string", NULL);
    write_text("config.json", "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":1.5,\"hidden_size\":8,"
                              "\"intermediate_size\":4}");
    open_fail("fractional size", dir, NULL, VX_ECORRUPT, "\"num_hidden_layers\" is 1.5", NULL);
    write_text("config.json", "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"num_hidden_layers\":2,\"hidden_size\":8,"
                              "\"intermediate_size\":4,\"num_experts\":2,\"moe_intermediate_size\":4,\"decoder_sparse_step\":0}");
    open_fail("zero decoder_sparse_step", dir, NULL, VX_ECORRUPT, "decoder_sparse_step", NULL);
    {
        char cp[300];
        snprintf(cp, sizeof cp, "%s/config.json", dir);
        CHECK(truncate(cp, 17 << 20) == 0, "truncate config"); /* sparse: nothing is written */
        open_fail("config.json over 16 MB", dir, NULL, VX_ECORRUPT, "config.json", "limit");
    }
    unlink(strcat(strcpy((char[300]){0}, dir), "/config.json"));
    open_fail("no config.json", dir, NULL, VX_ENOTFOUND, "config.json", NULL);

    fresh();
    llama_ok_files(1);
    flush("model.safetensors");
    unlink(strcat(strcpy((char[300]){0}, dir), "/tokenizer.json"));
    open_fail("no tokenizer.json", dir, NULL, VX_ENOTFOUND, "tokenizer.json", NULL);

    fresh();
    llama_ok_files(1);
    open_fail("no weights", dir, NULL, VX_ENOTFOUND, "no model.safetensors", NULL);

    /* Sharded index. */
    fresh();
    llama_ok_files(1);
    nT = 0;
    add("F32", 1, H, 0, 0, "model.norm.weight");
    flush("model-00001-of-00002.safetensors");
    write_text("model.safetensors.index.json", "{\"metadata\":{},\"weight_map\":{\"model.norm.weight\":"
                                               "\"model-00001-of-00002.safetensors\",\"x\":\"model-00002-of-00002.safetensors\"}}");
    open_fail("index names missing shard", dir, NULL, VX_ENOTFOUND, "model-00002-of-00002.safetensors", NULL);
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"../model-00001-of-00002.safetensors\"}}");
    open_fail("shard name with ..", dir, NULL, VX_ECORRUPT, "../model-00001-of-00002.safetensors", "no '/'");
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"sub/a.safetensors\"}}");
    open_fail("shard name with /", dir, NULL, VX_ECORRUPT, "sub/a.safetensors", NULL);
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
                                               "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}");
    open_fail("index lists a tensor twice", dir, NULL, VX_ECORRUPT, "twice", NULL);
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
                                               "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\"}}");
    open_fail("index tensor absent from shard", dir, NULL, VX_ECORRUPT, "model.embed_tokens.weight", "no shard holds it");
    write_text("model.safetensors.index.json", "{\"weight_map\":[]}");
    open_fail("weight_map not an object", dir, NULL, VX_ECORRUPT, "weight_map", NULL);
    add("F32", 1, H, 0, 0, "model.norm.weight");
    flush("model-00002-of-00002.safetensors");
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
                                               "\"y\":\"model-00002-of-00002.safetensors\"}}");
    open_fail("tensor in two shards", dir, NULL, VX_ECORRUPT, "in both", "model.norm.weight");
    add("F32", 1, H, 0, 0, "extra");
    flush("model-00002-of-00002.safetensors");
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"model-00002-of-00002.safetensors\","
                                               "\"extra\":\"model-00001-of-00002.safetensors\"}}");
    open_fail("index names the wrong shard", dir, NULL, VX_ECORRUPT, "but it is in model-00001-of-00002.safetensors", NULL);
    write_text("model-00001-of-00002.safetensors", "corrupt");
    write_text("model.safetensors.index.json", "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}");
    open_fail("corrupt shard", dir, NULL, VX_ECORRUPT, "model-00001-of-00002.safetensors", NULL);

    open_fail("no such directory", "/nonexistent/vx/dir", NULL, VX_ENOTFOUND, "/nonexistent/vx/dir", NULL);
}

/* --------------------------------------------------------------- the HF cache */

static void hf_cache(void) {
    fresh();
    char p[600], q[600], cwd[400];
    if (!getcwd(cwd, sizeof cwd)) return;
    snprintf(p, sizeof p, "%s/hub/models--org--tiny/snapshots/0123abcd", dir);
    char mk[1400];
    snprintf(mk, sizeof mk, "mkdir -p %s %s/hub/models--org--tiny/refs/heads", p, dir);
    CHECK(system(mk) == 0, "mkdir");
    static const char *files[] = {"config.json", "tokenizer.json", "model.safetensors"};
    for (int i = 0; i < 3; i++) { /* relative-to-blob symlinks in real caches; absolute ones will do here */
        snprintf(q, sizeof q, "%s/tests/fixtures/tiny-llama/%s", cwd, files[i]);
        snprintf(mk, sizeof mk, "%s/%s", p, files[i]);
        CHECK(symlink(q, mk) == 0, "symlink %s", mk);
    }
    snprintf(mk, sizeof mk, "%s/hub/models--org--tiny/refs/main", dir);
    FILE *f = fopen(mk, "w");
    fputs("0123abcd\n", f);
    fclose(f);
    snprintf(mk, sizeof mk, "%s/hub/models--org--tiny/refs/heads/gone", dir);
    f = fopen(mk, "w");
    fputs("ffffffff", f);
    fclose(f);
    snprintf(q, sizeof q, "%s/hub", dir);
    setenv("HF_HUB_CACHE", q, 1);

    vx_ckpt *c = open_ok("cache by repo id", "org/tiny", NULL);
    if (c) {
        CHECK(!strcmp(vx_ckpt_repo(c), "org/tiny") && !strcmp(vx_ckpt_revision(c), "0123abcd"), "cache provenance");
        CHECK(!strcmp(vx_ckpt_dir(c), p), "cache dir %s", vx_ckpt_dir(c));
        CHECK(vx_ckpt_model(c)->num_layers == 4, "cache model");
        size_t n;
        const vx_source_file *fs = vx_ckpt_files(c, &n);
        struct stat st;
        stat("tests/fixtures/tiny-llama/model.safetensors", &st);
        CHECK(n == 3 && fs[2].size == (uint64_t)st.st_size, "symlinked shard size");
        vx_ckpt_close(c);
    }
    c = open_ok("cache by snapshot name", "org/tiny", "0123abcd");
    if (c) {
        CHECK(!strcmp(vx_ckpt_revision(c), "0123abcd"), "snapshot revision");
        vx_ckpt_close(c);
    }
    c = open_ok("cache by explicit ref", "org/tiny", "main");
    if (c) vx_ckpt_close(c);
    open_fail("unknown revision", "org/tiny", "v9", VX_ENOTFOUND, "refs/v9", "snapshots/v9");
    open_fail("ref to absent snapshot", "org/tiny", "heads/gone", VX_ENOTFOUND, "ffffffff", NULL);
    open_fail("unknown repo", "org/other", NULL, VX_ENOTFOUND, "models--org--other", "HF_HUB_CACHE");
    open_fail("unsafe revision", "org/tiny", "../../x", VX_EUSAGE, "revision", NULL);
    unsetenv("HF_HUB_CACHE");
    setenv("HF_HOME", dir, 1);
    c = open_ok("cache via $HF_HOME/hub", "org/tiny", NULL);
    if (c) vx_ckpt_close(c);
    unsetenv("HF_HOME");
}

/* FP8 bytes through vx_tensor_read (the table path) against the formats' definitions:
 * E4M3fn s·2^(e−7)·(1 + m/8), subnormal s·2^−6·m/8, S.1111.111 NaN, no infinities;
 * E5M2 s·2^(e−15)·(1 + m/4), subnormal s·2^−14·m/4, e = 31 infinity (m = 0) or NaN. */
static double fp8_ref(uint8_t b, int e5m2) {
    int s = b >> 7, mb = e5m2 ? 2 : 3, e = (b & 0x7f) >> mb, m = b & ((1 << mb) - 1), bias = e5m2 ? 15 : 7;
    double v;
    if (e5m2 && e == 31) v = m ? NAN : INFINITY;
    else if (!e5m2 && e == 15 && m == 7) v = NAN;
    else if (e == 0) v = ldexp((double)m / (1 << mb), 1 - bias);
    else v = ldexp(1.0 + (double)m / (1 << mb), e - bias);
    return s ? -v : v;
}

static void fp8_decode(void) {
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (uint8_t)i;
    for (int k = 0; k < 2; k++) {
        vx_tensor t;
        memset(&t, 0, sizeof t);
        t.name = k ? "e5m2" : "e4m3";
        t.dtype = k ? VX_DT_F8_E5M2 : VX_DT_F8_E4M3;
        t.ndim = 1;
        t.shape[0] = t.nelem = t.bytes = 256;
        t.data = bytes;
        float got[256];
        vx_tensor_read(got, &t, 0, 256);
        int bad = 0;
        for (int i = 0; i < 256; i++) {
            double want = fp8_ref((uint8_t)i, k);
            if (isnan(want) ? !isnan(got[i]) : (double)got[i] != want || !signbit(got[i]) != !signbit(want)) bad++;
        }
        CHECK(bad == 0, "%s: %d of 256 bytes decode wrongly", t.name, bad);
        vx_tensor_read(got, &t, 3, 250); /* a run that starts inside the data */
        CHECK((double)got[0] == fp8_ref(3, k) && (double)got[249] == fp8_ref(252, k), "%s: offset run", t.name);
        /* runs of every start and length class (16 at a time, then one by one): the same
         * bits as the scalar decoder, NaN's included */
        int same = 1;
        for (size_t off = 0; off < 20; off++)
            for (size_t n = 0; off + n <= 256; n += n < 40 ? 1 : 37) {
                vx_tensor_read(got, &t, off, n);
                for (size_t i = 0; i < n; i++) {
                    float want = k ? vx_fp8_e5m2_to_f32(bytes[off + i]) : vx_fp8_e4m3_to_f32(bytes[off + i]);
                    if (memcmp(&got[i], &want, sizeof want)) same = 0;
                }
            }
        CHECK(same, "%s: runs of every start and length decode to the scalar decoder's bits", t.name);
    }
}

int main(void) {
    fp8_decode();
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HOME");
    fixtures();
    phi3();
    qwen3_moe(0, 0);
    qwen3_moe(0, 1);
    qwen3_moe(1, 1);
    gemma3_mm("language_model.model.", "language_model.lm_head.weight");
    gemma3_mm("model.language_model.", NULL);
    gemma3_mm("model.", "lm_head.weight");
    gpt2_noprefix();
    broken();
    hf_cache();
    if (dir[0]) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_DONE();
}
