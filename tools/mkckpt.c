/*
 * mkckpt.c — synthetic Hugging Face checkpoints of real shape, and the extraction
 * benchmark harness that runs vx_extract on them (tools/bench-extract.sh drives both).
 *
 *   mkckpt --shape tiny|0.6b|8b|80b-moe OUTDIR [--seed N] [--shard-bytes N] [--tokenizer FILE] [--layers N]
 *          [--experts N] [--vocab N]
 *   mkckpt --bench SRC OUT [--rates SGEMM,DSYRK,MEMBW] [--threads N] [--features F]
 *   mkckpt --calib     (prints this machine's sgemm, dsyrk and memory-read rates)
 *
 * Checkpoint mode writes what `save_pretrained` would for a Qwen3ForCausalLM: config.json,
 * model.safetensors.index.json, BF16 shards cut the way huggingface_hub cuts them (tensors
 * in module order; a shard closes when the next tensor would push it past the limit, a
 * tensor larger than the limit gets a shard of its own; inside a file tensors are sorted
 * by name, header space-padded to a multiple of 8, as the safetensors writer does) and a
 * tokenizer.json copied from the tiny fixture (4096 ids; the embedding's extra rows get
 * empty strings). Every tensor has its real shape, attention included, so the source
 * hash and page-cache footprint are those of the real model; lm_head is untied so the
 * projection reads a second [V][H] matrix, as for Qwen3-8B.
 *
 * The 80b-moe shape is Qwen3-Next-80B-A3B instead (Qwen3NextForCausalLM, qwen3_next_tensors):
 * 512 routed experts and a shared expert per layer, FP8 E4M3 weights with 128 × 128
 * block scales (`_scale_inv`, quantization_config fp8) as in Qwen's FP8 release.
 *
 * Weights are structured so the SVD has real work to do: every MLP matrix [rows][cols] is
 *     W = A · Bᵀ + N,  A[i][j] = α s_j g/√rows,  B[k][j] = g/√cols,  s_j = 1/(1 + j/10)
 * with rank R = min(256, rows, cols) and Gaussian noise N whose largest singular value
 * (≈ σ_n(√rows + √cols)) sits at α·s_200, so the top ~200 directions stand out on a slowly
 * decaying spectrum and the tail is noise. α is chosen so entries have std ≈ 0.02, like a
 * trained model. Other matrices are N(0, 0.02²) noise, norms 1 + small noise.
 * Everything is streamed in chunks of ~8 MB (two worker threads generate the next chunk
 * while the main thread writes the current one); the output is a function of the seed
 * only, not of the thread count. Factors and noise are a 4-term sum of 16-bit uniforms
 * (cheap, bell-shaped, exact variance; Gaussian enough for random directions) drawn from
 * xoshiro256+ streams seeded per (tensor, row block).
 *
 * Bench mode calls vx_extract through the public API only, timestamps every phase change
 * reported by the progress callback, samples RSS (anonymous and file-backed) every 20 ms,
 * and prints per phase: wall and CPU time, logical bytes read and GB/s, nominal GFLOP and
 * GFLOP/s, peak RSS; given --rates (from `mkckpt --calib`, a separate process so its
 * buffers stay out of the peak RSS) it prints each phase's floor: max(bytes/bandwidth,
 * FLOPs/rate).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#undef I /* <complex.h>, pulled in by cblas.h */

#include "clock.h"
#include "vindex.h"

/* ------------------------------------------------------------------ PRNG */

typedef struct rng { uint64_t s[4]; } rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream, uint64_t sub) {
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull) ^ (sub * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256+ (Blackman & Vigna). */
static inline uint64_t rng_next(rng *r) {
    uint64_t *s = r->s, res = s[0] + s[3], t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

/* Sum of four 16-bit uniforms, centred: mean 0, variance 4·(65536²−1)/12. Scale by
 * NOISE_UNIT to get unit variance. One PRNG call per sample. */
#define NOISE_UNIT 2.6429e-5f /* 1 / sqrt(4·(65536²−1)/12) */
static inline float rng_bell(rng *r) {
    uint64_t v = rng_next(r);
    int32_t s = (int32_t)(v & 0xffff) + (int32_t)(v >> 16 & 0xffff) + (int32_t)(v >> 32 & 0xffff) + (int32_t)(v >> 48);
    return (float)(s - 131070);
}

static inline uint16_t f32_to_bf16(float f) { /* round to nearest even; inputs are finite */
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------------ model shapes */

typedef struct shape {
    const char *name;
    uint32_t L, H, I, V, heads, kv_heads, head_dim, max_pos;
    /* Qwen3-Next (experts > 0): routed experts of width moe_I, one shared expert of width
     * shared_I, linear-attention (Gated DeltaNet) layers with a full-attention layer every
     * 4th; weights FP8 E4M3 with 128 × 128 block scales, as Qwen ships its FP8 release. */
    uint32_t experts, moe_I, shared_I;
} shape;

static const shape shapes[] = {
    { "tiny", 2, 128, 384, 4096, 4, 2, 32, 256, 0, 0, 0 },
    { "0.6b", 28, 1024, 3072, 151936, 16, 8, 128, 40960, 0, 0, 0 },
    { "8b", 36, 4096, 12288, 151936, 32, 8, 128, 40960, 0, 0, 0 },
    /* Qwen3-Next-80B-A3B (config.json of the Hugging Face release) */
    { "80b-moe", 48, 2048, 5120, 151936, 16, 2, 256, 262144, 512, 512, 512 },
};

/* Qwen3-Next's linear attention (config linear_*) and its FP8 block. */
#define LIN_KEY_HEADS 16
#define LIN_VALUE_HEADS 32
#define LIN_HEAD_DIM 128
#define LIN_CONV 4
#define FULL_ATTN_EVERY 4
#define QBLOCK 128

/* K_MOE: an expert matrix. All experts of one layer and kind (and the shared expert) share
 * the H-side factor of A·Bᵀ, so the stacked matrix the extractor decomposes has the same
 * slowly decaying top spectrum as a dense one instead of being nearly isotropic. */
enum { K_NOISE, K_LOWRANK, K_NORM, K_MOE, K_SCALE };
enum { DT_BF16, DT_F8, DT_F32 };

typedef struct tdesc {
    char name[96];
    uint64_t rows, cols;   /* cols == 0: 1-D tensor of `rows` elements */
    int mid1;              /* shape [rows, 1, cols] (conv1d weights) */
    int kind, dtype;
    uint32_t id;           /* stream index: seeds depend on it, not on file order */
    uint32_t group;        /* K_MOE: the (layer, kind) whose H-side factor it shares */
    int h_side_rows;       /* K_MOE: the H-side factor is A (rows = H: down_proj), else B */
    uint64_t bytes;
    int shard;
    uint64_t off;          /* data offset inside its shard */
    float *scales;         /* DT_F8: [⌈rows/128⌉][⌈cols/128⌉], filled while the tensor is written */
    size_t of;             /* K_SCALE: index of the weight whose scales it stores */
} tdesc;

typedef struct tlist { tdesc *t; size_t n, cap; } tlist;

static void add(tlist *l, int kind, uint64_t rows, uint64_t cols, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add(tlist *l, int kind, uint64_t rows, uint64_t cols, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->t = realloc(l->t, l->cap * sizeof *l->t);
        if (!l->t) { perror("mkckpt"); exit(1); }
    }
    tdesc *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->rows = rows;
    t->cols = cols;
    t->kind = kind;
    t->id = (uint32_t)l->n;
    t->bytes = 2 * rows * (cols ? cols : 1);
    l->n++;
}

/* Store the last added tensor as FP8 with its `_scale_inv` tensor right after it. */
static void fp8(tlist *l) {
    tdesc *w = &l->t[l->n - 1];
    char nm[128];
    snprintf(nm, sizeof nm, "%s_scale_inv", w->name);
    w->dtype = DT_F8;
    w->bytes = w->rows * w->cols;
    uint64_t sr = (w->rows + QBLOCK - 1) / QBLOCK, sc = (w->cols + QBLOCK - 1) / QBLOCK;
    size_t of = l->n - 1;
    add(l, K_SCALE, sr, sc, "%s", nm);
    tdesc *s = &l->t[l->n - 1];
    s->dtype = DT_F32;
    s->bytes = 4 * sr * sc;
    s->of = of;
}

static void moe(tlist *l, uint64_t rows, uint64_t cols, uint32_t group, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void moe(tlist *l, uint64_t rows, uint64_t cols, uint32_t group, const char *fmt, ...) {
    char nm[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nm, sizeof nm, fmt, ap);
    va_end(ap);
    add(l, K_MOE, rows, cols, "%s", nm);
    l->t[l->n - 1].group = group;
    l->t[l->n - 1].h_side_rows = group % 3 == 2;
    fp8(l);
}

/* Module order of Qwen3ForCausalLM.state_dict(): the order huggingface_hub shards in. */
static void qwen3_tensors(tlist *l, const shape *s) {
    add(l, K_NOISE, s->V, s->H, "model.embed_tokens.weight");
    for (uint32_t i = 0; i < s->L; i++) {
        add(l, K_NOISE, (uint64_t)s->heads * s->head_dim, s->H, "model.layers.%u.self_attn.q_proj.weight", i);
        add(l, K_NOISE, (uint64_t)s->kv_heads * s->head_dim, s->H, "model.layers.%u.self_attn.k_proj.weight", i);
        add(l, K_NOISE, (uint64_t)s->kv_heads * s->head_dim, s->H, "model.layers.%u.self_attn.v_proj.weight", i);
        add(l, K_NOISE, s->H, (uint64_t)s->heads * s->head_dim, "model.layers.%u.self_attn.o_proj.weight", i);
        add(l, K_NORM, s->head_dim, 0, "model.layers.%u.self_attn.q_norm.weight", i);
        add(l, K_NORM, s->head_dim, 0, "model.layers.%u.self_attn.k_norm.weight", i);
        add(l, K_LOWRANK, s->I, s->H, "model.layers.%u.mlp.gate_proj.weight", i);
        add(l, K_LOWRANK, s->I, s->H, "model.layers.%u.mlp.up_proj.weight", i);
        add(l, K_LOWRANK, s->H, s->I, "model.layers.%u.mlp.down_proj.weight", i);
        add(l, K_NORM, s->H, 0, "model.layers.%u.input_layernorm.weight", i);
        add(l, K_NORM, s->H, 0, "model.layers.%u.post_attention_layernorm.weight", i);
    }
    add(l, K_NORM, s->H, 0, "model.norm.weight");
    add(l, K_NOISE, s->V, s->H, "lm_head.weight");
}

/* Qwen3NextForCausalLM.state_dict() in module order. Attention is what the release holds
 * (the extractor ignores it, but hashing and the page cache see its bytes): Gated DeltaNet
 * layers (linear_attn.*) with a gated full-attention layer (q_proj twice as wide: query and
 * gate) every FULL_ATTN_EVERY-th. Quantised as the FP8 release: every linear layer but the
 * router, the shared-expert gate and lm_head. The multi-token-prediction module's fc and
 * norms are written (and must be ignored); its MoE layer is not. */
static void qwen3_next_tensors(tlist *l, const shape *s) {
    const uint64_t H = s->H, kd = LIN_KEY_HEADS * LIN_HEAD_DIM, vd = LIN_VALUE_HEADS * LIN_HEAD_DIM;
    add(l, K_NOISE, s->V, H, "model.embed_tokens.weight");
    for (uint32_t i = 0; i < s->L; i++) {
        const char *p = "model.layers.";
        if ((i + 1) % FULL_ATTN_EVERY) {
            add(l, K_NOISE, 2 * kd + vd, LIN_CONV, "%s%u.linear_attn.conv1d.weight", p, i);
            l->t[l->n - 1].mid1 = 1;
            add(l, K_NOISE, 2 * kd + 2 * vd, H, "%s%u.linear_attn.in_proj_qkvz.weight", p, i);
            fp8(l);
            add(l, K_NOISE, 2 * LIN_VALUE_HEADS, H, "%s%u.linear_attn.in_proj_ba.weight", p, i);
            fp8(l);
            add(l, K_NORM, LIN_VALUE_HEADS, 0, "%s%u.linear_attn.dt_bias", p, i);
            add(l, K_NORM, LIN_VALUE_HEADS, 0, "%s%u.linear_attn.A_log", p, i);
            add(l, K_NORM, LIN_HEAD_DIM, 0, "%s%u.linear_attn.norm.weight", p, i);
            add(l, K_NOISE, H, vd, "%s%u.linear_attn.out_proj.weight", p, i);
            fp8(l);
        } else {
            add(l, K_NOISE, 2ull * s->heads * s->head_dim, H, "%s%u.self_attn.q_proj.weight", p, i);
            fp8(l);
            add(l, K_NOISE, (uint64_t)s->kv_heads * s->head_dim, H, "%s%u.self_attn.k_proj.weight", p, i);
            fp8(l);
            add(l, K_NOISE, (uint64_t)s->kv_heads * s->head_dim, H, "%s%u.self_attn.v_proj.weight", p, i);
            fp8(l);
            add(l, K_NOISE, H, (uint64_t)s->heads * s->head_dim, "%s%u.self_attn.o_proj.weight", p, i);
            fp8(l);
            add(l, K_NORM, s->head_dim, 0, "%s%u.self_attn.q_norm.weight", p, i);
            add(l, K_NORM, s->head_dim, 0, "%s%u.self_attn.k_norm.weight", p, i);
        }
        add(l, K_NOISE, s->experts, H, "%s%u.mlp.gate.weight", p, i);
        for (uint32_t e = 0; e < s->experts; e++) {
            moe(l, s->moe_I, H, 3 * i + 0, "%s%u.mlp.experts.%u.gate_proj.weight", p, i, e);
            moe(l, s->moe_I, H, 3 * i + 1, "%s%u.mlp.experts.%u.up_proj.weight", p, i, e);
            moe(l, H, s->moe_I, 3 * i + 2, "%s%u.mlp.experts.%u.down_proj.weight", p, i, e);
        }
        moe(l, s->shared_I, H, 3 * i + 0, "%s%u.mlp.shared_expert.gate_proj.weight", p, i);
        moe(l, s->shared_I, H, 3 * i + 1, "%s%u.mlp.shared_expert.up_proj.weight", p, i);
        moe(l, H, s->shared_I, 3 * i + 2, "%s%u.mlp.shared_expert.down_proj.weight", p, i);
        add(l, K_NOISE, 1, H, "%s%u.mlp.shared_expert_gate.weight", p, i);
        add(l, K_NORM, H, 0, "%s%u.input_layernorm.weight", p, i);
        add(l, K_NORM, H, 0, "%s%u.post_attention_layernorm.weight", p, i);
    }
    add(l, K_NORM, H, 0, "model.norm.weight");
    add(l, K_NOISE, s->V, H, "lm_head.weight");
    add(l, K_NOISE, H, 2 * H, "mtp.fc.weight");
    fp8(l);
    add(l, K_NORM, H, 0, "mtp.norm.weight");
    add(l, K_NORM, H, 0, "mtp.pre_fc_norm_embedding.weight");
    add(l, K_NORM, H, 0, "mtp.pre_fc_norm_hidden.weight");
}

/* huggingface_hub split_state_dict_into_shards_factory: returns the shard count. */
static int cut_shards(tlist *l, uint64_t limit) {
    int n = 0, open = -1;
    uint64_t cur = 0;
    for (size_t i = 0; i < l->n; i++) {
        tdesc *t = &l->t[i];
        if (t->bytes > limit) { t->shard = n++; continue; } /* alone, open shard stays open */
        if (open < 0 || cur + t->bytes > limit) { open = n++; cur = 0; }
        t->shard = open;
        cur += t->bytes;
    }
    return n;
}

/* ------------------------------------------------------------- generation */

#define LOWRANK_MAX 256
#define NOISE_EDGE 200 /* the noise's top singular value sits at s_200 */
#define ENTRY_STD 0.02
#define BLOCK_ROWS 32  /* rows per PRNG stream and per sgemm */

static double spec(size_t j) { return 1.0 / (1.0 + (double)j / 10.0); }

typedef struct gen {
    const tdesc *t;
    uint64_t seed;
    size_t R;
    float *A, *B;         /* [rows][R] (α s_j folded in), [cols][R] */
    float noise;          /* per-entry noise std */
} gen;

/* The unit-variance H-side factors of K_MOE groups, [H][R], kept for the few groups whose
 * tensors are being written (a shard holds a layer's experts together). */
#define FACTOR_CACHE 6
static struct { uint32_t group; size_t n, R; float *raw; uint64_t used; } fcache[FACTOR_CACHE];
static uint64_t fcache_tick;

static const float *group_factor(uint64_t seed, uint32_t group, size_t n, size_t R) {
    int slot = 0;
    for (int i = 0; i < FACTOR_CACHE; i++) {
        if (fcache[i].raw && fcache[i].group == group && fcache[i].n == n && fcache[i].R == R) {
            fcache[i].used = ++fcache_tick;
            return fcache[i].raw;
        }
        if (fcache[i].used < fcache[slot].used) slot = i;
    }
    free(fcache[slot].raw);
    fcache[slot].raw = malloc(sizeof(float) * n * R);
    if (!fcache[slot].raw) return NULL;
    fcache[slot].group = group;
    fcache[slot].n = n;
    fcache[slot].R = R;
    fcache[slot].used = ++fcache_tick;
    rng r;
    rng_seed(&r, seed, 0x40000000u + (uint64_t)group, UINT64_MAX - 2);
    for (size_t i = 0; i < n * R; i++) fcache[slot].raw[i] = rng_bell(&r) * NOISE_UNIT;
    return fcache[slot].raw;
}

static void fcache_free(void) {
    for (int i = 0; i < FACTOR_CACHE; i++) { free(fcache[i].raw); fcache[i].raw = NULL; fcache[i].used = 0; }
}

static int gen_init(gen *g, const tdesc *t, uint64_t seed) {
    memset(g, 0, sizeof *g);
    g->t = t;
    g->seed = seed;
    if (t->kind == K_NORM) { g->noise = 0.05f; return 0; }
    if (t->kind == K_NOISE) { g->noise = (float)ENTRY_STD; return 0; }
    size_t rows = t->rows, cols = t->cols, R = rows < cols ? rows : cols;
    if (R > LOWRANK_MAX) R = LOWRANK_MAX;
    double s2 = 0, edge = spec(NOISE_EDGE) / (sqrt((double)rows) + sqrt((double)cols));
    for (size_t j = 0; j < R; j++) s2 += spec(j) * spec(j);
    double alpha = ENTRY_STD / sqrt(s2 / ((double)rows * (double)cols) + edge * edge);
    g->R = R;
    g->noise = (float)(alpha * edge);
    g->A = malloc(sizeof(float) * rows * R);
    g->B = malloc(sizeof(float) * cols * R);
    if (!g->A || !g->B) return -1;
    const float *shared = NULL;
    if (t->kind == K_MOE && !(shared = group_factor(seed, t->group, t->h_side_rows ? rows : cols, R))) return -1;
    rng r;
    double ia = alpha / sqrt((double)rows), ib = 1.0 / sqrt((double)cols);
    if (shared && t->h_side_rows)
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < R; j++) g->A[i * R + j] = (float)(shared[i * R + j] * ia * spec(j));
    else {
        rng_seed(&r, seed, t->id, UINT64_MAX);
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < R; j++) g->A[i * R + j] = (float)(rng_bell(&r) * NOISE_UNIT * ia * spec(j));
    }
    if (shared && !t->h_side_rows)
        for (size_t k = 0; k < cols * R; k++) g->B[k] = (float)(shared[k] * ib);
    else {
        rng_seed(&r, seed, t->id, UINT64_MAX - 1);
        for (size_t k = 0; k < cols; k++)
            for (size_t j = 0; j < R; j++) g->B[k * R + j] = (float)(rng_bell(&r) * NOISE_UNIT * ib);
    }
    return 0;
}

static void gen_free(gen *g) { free(g->A); free(g->B); }

/* Rows [r0, r0+n) of the tensor as f32 into f [n][cols]; n <= BLOCK_ROWS, r0 a multiple. */
static void gen_rows(const gen *g, float *f, uint64_t r0, size_t n) {
    const tdesc *t = g->t;
    size_t cols = t->cols ? t->cols : 1;
    if (!t->cols) { /* 1-D: treat as one row of `rows` elements */
        cols = t->rows;
        n = 1;
    }
    rng r;
    rng_seed(&r, g->seed, t->id, r0 / BLOCK_ROWS);
    const float sc = g->noise * NOISE_UNIT;
    if (t->kind == K_LOWRANK || t->kind == K_MOE) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)cols, (int)g->R, 1.0f, g->A + r0 * g->R,
                    (int)g->R, g->B, (int)g->R, 0.0f, f, (int)cols);
        for (size_t i = 0; i < n * cols; i++) f[i] += sc * rng_bell(&r);
    } else {
        const float base = t->kind == K_NORM ? 1.0f : 0.0f;
        for (size_t i = 0; i < n * cols; i++) f[i] = base + sc * rng_bell(&r);
    }
}

/* FP8 E4M3 ("fn") nearest to x, ties to even, saturating at ±448. */
static uint8_t f32_to_e4m3(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80);
    u &= 0x7fffffffu;
    float a;
    memcpy(&a, &u, 4);
    if (!(a < 448.0f)) return sign | 0x7e;
    if (a < 0x1p-6f) return sign | (uint8_t)lrintf(a * 512.0f); /* subnormal m·2^-9; 8 is 2^-6, code 8 */
    u += 0x7ffffu + ((u >> 20) & 1u);
    uint32_t e = (u >> 23) - 120, m = (u >> 20) & 7; /* exponent bias 127 -> 7 */
    if (e > 15 || (e == 15 && m == 7)) return sign | 0x7e;
    return sign | (uint8_t)(e << 3 | m);
}

/* Rows [r0, r0+n) from f32 to the stored dtype. FP8: r0 is a multiple of QBLOCK and the
 * rows are one block row; each 128 × 128 block gets scale amax/448 (stored in scales, the
 * `_scale_inv` the reader multiplies by), as DeepSeek's and Qwen's FP8 converters do. */
static void encode(const tdesc *t, void *out, const float *f, uint64_t r0, size_t n, size_t cols) {
    if (t->dtype == DT_BF16) {
        uint16_t *o = out;
        for (size_t i = 0; i < n * cols; i++) o[i] = f32_to_bf16(f[i]);
        return;
    }
    uint8_t *o = out;
    size_t ncb = (cols + QBLOCK - 1) / QBLOCK, br = (size_t)(r0 / QBLOCK);
    for (size_t cb = 0; cb < ncb; cb++) {
        size_t c0 = cb * QBLOCK, c1 = c0 + QBLOCK < cols ? c0 + QBLOCK : cols;
        float amax = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(f[i * cols + c]));
        float s = amax > 0 ? (float)((double)amax / 448.0) : 1.0f, inv = 1.0f / s;
        t->scales[br * ncb + cb] = s;
        for (size_t i = 0; i < n; i++)
            for (size_t c = c0; c < c1; c++) o[i * cols + c] = f32_to_e4m3(f[i * cols + c] * inv);
    }
}

static size_t esize(const tdesc *t) { return t->dtype == DT_F8 ? 1 : t->dtype == DT_F32 ? 4 : 2; }

typedef struct worker {
    const gen *g;
    uint8_t *out;         /* chunk output, [rows][cols] in the stored dtype */
    float *scratch;       /* [QBLOCK][cols] */
    uint64_t r0, rows;    /* chunk rows */
    int part, nparts;     /* units part, part+nparts, ... */
} worker;

static void *work(void *arg) {
    worker *w = arg;
    const tdesc *t = w->g->t;
    size_t cols = t->cols ? t->cols : t->rows, es = esize(t);
    uint64_t unit = t->dtype == DT_F8 ? QBLOCK : BLOCK_ROWS;
    for (uint64_t b = (uint64_t)w->part * unit; b < w->rows; b += (uint64_t)w->nparts * unit) {
        size_t n = w->rows - b < unit ? (size_t)(w->rows - b) : (size_t)unit;
        for (size_t k = 0; k < n; k += BLOCK_ROWS)
            gen_rows(w->g, w->scratch + k * cols, w->r0 + b + k, n - k < BLOCK_ROWS ? n - k : BLOCK_ROWS);
        encode(t, w->out + b * cols * es, w->scratch, w->r0 + b, n, cols);
    }
    return NULL;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

#define NWORK 2
#define CHUNK_BYTES (8u << 20)

/* Stream one tensor to fd: two workers fill chunk k+1 while this thread writes chunk k.
 * A `_scale_inv` tensor is written from the scales its weight left (the weight comes
 * first: its name sorts first, and shards are cut in module order). */
static int gen_tensor(int fd, tdesc *t, tdesc *all, uint64_t seed, uint8_t *buf[2], float *scratch[NWORK]) {
    if (t->kind == K_SCALE) {
        tdesc *w = &all[t->of];
        if (!w->scales) { fprintf(stderr, "mkckpt: %s written before its weight\n", t->name); return -1; }
        int rc = write_all(fd, w->scales, t->bytes);
        free(w->scales);
        w->scales = NULL;
        return rc;
    }
    if (t->dtype == DT_F8) {
        free(t->scales);
        t->scales = malloc(sizeof(float) * ((t->rows + QBLOCK - 1) / QBLOCK) * ((t->cols + QBLOCK - 1) / QBLOCK));
        if (!t->scales) return -1;
    }
    gen g;
    if (gen_init(&g, t, seed)) { gen_free(&g); return -1; }
    uint64_t rows = t->cols ? t->rows : 1, cols = t->cols ? t->cols : t->rows, es = esize(t);
    uint64_t unit = t->dtype == DT_F8 ? QBLOCK : BLOCK_ROWS;
    uint64_t per = CHUNK_BYTES / (es * cols) / unit * unit;
    if (per < unit) per = unit;
    int rc = 0, cur = 0;
    uint64_t pend_bytes = 0;
    for (uint64_t r0 = 0; r0 < rows || pend_bytes; r0 += per) {
        uint64_t n = r0 < rows ? (rows - r0 < per ? rows - r0 : per) : 0;
        pthread_t th[NWORK];
        worker w[NWORK];
        int started = 0;
        for (int k = 0; k < NWORK && n; k++) {
            w[k] = (worker){ &g, buf[cur], scratch[k], r0, n, k, NWORK };
            if (pthread_create(&th[k], NULL, work, &w[k]) == 0) started |= 1 << k;
            else work(&w[k]);
        }
        if (pend_bytes && rc == 0 && write_all(fd, buf[cur ^ 1], pend_bytes)) rc = -1;
        for (int k = 0; k < NWORK; k++)
            if (started & 1 << k) pthread_join(th[k], NULL);
        pend_bytes = n * cols * es;
        cur ^= 1;
        if (!n) break;
    }
    gen_free(&g);
    return rc;
}

/* ------------------------------------------------------------------ files */

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const tdesc *const *)a)->name, (*(const tdesc *const *)b)->name);
}

static char *shard_name(int i, int n) {
    char *s;
    if (asprintf(&s, "model-%05d-of-%05d.safetensors", i + 1, n) < 0) return NULL;
    return s;
}

static int write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "mkckpt: %s: %s\n", path, strerror(errno)); return -1; }
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad) fprintf(stderr, "mkckpt: %s: write failed\n", path);
    return bad ? -1 : 0;
}

static int copy_file(const char *src, const char *dir, const char *name) {
    FILE *f = fopen(src, "rb");
    if (!f) { fprintf(stderr, "mkckpt: tokenizer %s: %s (use --tokenizer FILE)\n", src, strerror(errno)); return -1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    int rc = b && fread(b, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
    fclose(f);
    if (rc == 0) { b[n] = 0; rc = write_text(dir, name, b); }
    free(b);
    return rc;
}

static char *config_json(const shape *s) {
    char *c;
    if (s->experts) {
        if (asprintf(&c,
                     "{\n  \"architectures\": [\"Qwen3NextForCausalLM\"],\n  \"attention_bias\": false,\n"
                     "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": 151643,\n  \"decoder_sparse_step\": 1,\n"
                     "  \"eos_token_id\": 151645,\n  \"full_attention_interval\": %u,\n  \"head_dim\": %u,\n"
                     "  \"hidden_act\": \"silu\",\n  \"hidden_size\": %u,\n  \"initializer_range\": 0.02,\n"
                     "  \"intermediate_size\": %u,\n  \"linear_conv_kernel_dim\": %u,\n  \"linear_key_head_dim\": %u,\n"
                     "  \"linear_num_key_heads\": %u,\n  \"linear_num_value_heads\": %u,\n  \"linear_value_head_dim\": %u,\n"
                     "  \"max_position_embeddings\": %u,\n  \"mlp_only_layers\": [],\n  \"model_type\": \"qwen3_next\",\n"
                     "  \"moe_intermediate_size\": %u,\n  \"norm_topk_prob\": true,\n  \"num_attention_heads\": %u,\n"
                     "  \"num_experts\": %u,\n  \"num_experts_per_tok\": 10,\n  \"num_hidden_layers\": %u,\n"
                     "  \"num_key_value_heads\": %u,\n  \"output_router_logits\": false,\n  \"partial_rotary_factor\": 0.25,\n"
                     "  \"quantization_config\": {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\", \"quant_method\": \"fp8\", "
                     "\"weight_block_size\": [%u, %u]},\n"
                     "  \"rms_norm_eps\": 1e-06,\n  \"rope_scaling\": null,\n  \"rope_theta\": 10000000,\n"
                     "  \"router_aux_loss_coef\": 0.001,\n  \"shared_expert_intermediate_size\": %u,\n"
                     "  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"bfloat16\",\n  \"transformers_version\": \"4.57.0\",\n"
                     "  \"use_cache\": true,\n  \"use_sliding_window\": false,\n  \"vocab_size\": %u,\n"
                     "  \"_synthetic\": \"tools/mkckpt --shape %s\"\n}\n",
                     FULL_ATTN_EVERY, s->head_dim, s->H, s->I, LIN_CONV, LIN_HEAD_DIM, LIN_KEY_HEADS, LIN_VALUE_HEADS,
                     LIN_HEAD_DIM, s->max_pos, s->moe_I, s->heads, s->experts, s->L, s->kv_heads, QBLOCK, QBLOCK,
                     s->shared_I, s->V, s->name) < 0)
            return NULL;
        return c;
    }
    if (asprintf(&c,
                 "{\n  \"architectures\": [\"Qwen3ForCausalLM\"],\n  \"attention_bias\": false,\n"
                 "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": 151643,\n  \"eos_token_id\": 151645,\n"
                 "  \"head_dim\": %u,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %u,\n"
                 "  \"initializer_range\": 0.02,\n  \"intermediate_size\": %u,\n  \"max_position_embeddings\": %u,\n"
                 "  \"max_window_layers\": %u,\n  \"model_type\": \"qwen3\",\n  \"num_attention_heads\": %u,\n"
                 "  \"num_hidden_layers\": %u,\n  \"num_key_value_heads\": %u,\n  \"rms_norm_eps\": 1e-06,\n"
                 "  \"rope_scaling\": null,\n  \"rope_theta\": 1000000,\n  \"sliding_window\": null,\n"
                 "  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"bfloat16\",\n"
                 "  \"transformers_version\": \"4.51.0\",\n  \"use_cache\": true,\n  \"use_sliding_window\": false,\n"
                 "  \"vocab_size\": %u,\n  \"_synthetic\": \"tools/mkckpt --shape %s\"\n}\n",
                 s->head_dim, s->H, s->I, s->max_pos, s->L, s->heads, s->L, s->kv_heads, s->V, s->name) < 0)
        return NULL;
    return c;
}

static int write_shard(const char *dir, tlist *l, int shard, int nshards, uint64_t seed, uint8_t *buf[2],
                       float *scratch[NWORK]) {
    tdesc **in = malloc(l->n * sizeof *in);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->t[i].shard == shard) in[n++] = &l->t[i];
    qsort(in, n, sizeof *in, cmp_name); /* the safetensors writer: same dtype, so by name */
    cJSON *h = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(md, "format", "pt");
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, in[i]->name);
        cJSON_AddStringToObject(e, "dtype", in[i]->dtype == DT_F8 ? "F8_E4M3" : in[i]->dtype == DT_F32 ? "F32" : "BF16");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape"), *dof = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)in[i]->rows));
        if (in[i]->mid1) cJSON_AddItemToArray(sh, cJSON_CreateNumber(1));
        if (in[i]->cols) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)in[i]->cols));
        cJSON_AddItemToArray(dof, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(dof, cJSON_CreateNumber((double)(off + in[i]->bytes)));
        in[i]->off = off;
        off += in[i]->bytes;
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t jl = strlen(js), pad = (8 - jl % 8) % 8;
    uint8_t *hdr = malloc(8 + jl + pad);
    uint64_t N = jl + pad;
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(N >> (8 * i));
    memcpy(hdr + 8, js, jl);
    memset(hdr + 8 + jl, ' ', pad);
    free(js);
    char *nm = shard_name(shard, nshards), path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, nm);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = 0;
    if (fd < 0) { fprintf(stderr, "mkckpt: %s: %s\n", path, strerror(errno)); rc = -1; }
    if (!rc && write_all(fd, hdr, 8 + N)) rc = -1;
    for (size_t i = 0; i < n && !rc; i++)
        if (gen_tensor(fd, in[i], l->t, seed, buf, scratch)) rc = -1;
    if (fd >= 0 && close(fd) != 0) rc = -1;
    if (rc) fprintf(stderr, "mkckpt: %s: write failed: %s\n", path, strerror(errno));
    else fprintf(stderr, "mkckpt: wrote %s (%zu tensors, %.2f GB)\n", nm, n, (double)(8 + N + off) / 1e9);
    free(nm);
    free(hdr);
    free(in);
    return rc;
}

/* mkdir -p */
static int mkdirs(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1; *c; c++)
        if (*c == '/') {
            *c = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
            *c = '/';
        }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void shape_tensors(tlist *l, const shape *s) {
    if (s->experts) qwen3_next_tensors(l, s);
    else qwen3_tensors(l, s);
}

static uint64_t shape_bytes(const shape *s) {
    tlist l = { 0 };
    shape_tensors(&l, s);
    uint64_t total = 0;
    for (size_t i = 0; i < l.n; i++) total += l.t[i].bytes;
    free(l.t);
    return total;
}

static int make_checkpoint(const shape *s, const shape *full, const char *dir, uint64_t seed, uint64_t limit,
                           const char *tokenizer) {
    tlist l = { 0 };
    shape_tensors(&l, s);
    int nsh = cut_shards(&l, limit);
    if (mkdirs(dir)) { fprintf(stderr, "mkckpt: %s: %s\n", dir, strerror(errno)); return -1; }
    uint64_t maxcols = 0, total = 0;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t c = l.t[i].cols ? l.t[i].cols : l.t[i].rows;
        if (c > maxcols) maxcols = c;
        total += l.t[i].bytes;
    }
    /* gen_tensor's chunk: at most CHUNK_BYTES, or one unit (≤ QBLOCK rows) of the widest tensor */
    size_t cap = CHUNK_BYTES + 2 * QBLOCK * maxcols;
    uint8_t *buf[2] = { malloc(cap), malloc(cap) };
    float *scratch[NWORK];
    for (int k = 0; k < NWORK; k++) scratch[k] = malloc(sizeof(float) * QBLOCK * maxcols);
    int rc = buf[0] && buf[1] && scratch[0] && scratch[1] ? 0 : -1;
    openblas_set_num_threads(1); /* parallelism comes from the two generation workers */
    double t0 = vx_wall_s();
    for (int i = 0; i < nsh && !rc; i++) rc = write_shard(dir, &l, i, nsh, seed, buf, scratch);
    /* model.safetensors.index.json: weight_map sorted by name, as json.dumps(sort_keys=True). */
    cJSON *ix = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(ix, "metadata"), *wm = cJSON_AddObjectToObject(ix, "weight_map");
    uint64_t params = 0;
    for (size_t i = 0; i < l.n; i++) params += l.t[i].rows * (l.t[i].cols ? l.t[i].cols : 1);
    cJSON_AddNumberToObject(md, "total_parameters", (double)params);
    cJSON_AddNumberToObject(md, "total_size", (double)total);
    const tdesc **sorted = malloc(l.n * sizeof *sorted);
    for (size_t i = 0; i < l.n; i++) sorted[i] = &l.t[i];
    qsort(sorted, l.n, sizeof *sorted, cmp_name);
    for (size_t i = 0; i < l.n; i++) {
        char *nm = shard_name(sorted[i]->shard, nsh);
        cJSON_AddStringToObject(wm, sorted[i]->name, nm);
        free(nm);
    }
    char *js = cJSON_Print(ix), *cfg = config_json(s);
    cJSON_Delete(ix);
    if (!rc) rc = write_text(dir, "model.safetensors.index.json", js);
    if (!rc) rc = write_text(dir, "config.json", cfg);
    if (!rc) rc = copy_file(tokenizer, dir, "tokenizer.json");
    if (!rc)
        fprintf(stderr, "mkckpt: %s shape: %zu tensors, %.2f GB in %d shard(s), %.1f s (%.2f GB/s); the whole shape "
                "(%u layers, %u experts): %.2f GB\n", s->name, l.n, (double)total / 1e9, nsh, vx_wall_s() - t0,
                (double)total / 1e9 / (vx_wall_s() - t0), full->L, full->experts, (double)shape_bytes(full) / 1e9);
    free(js);
    free(cfg);
    free(sorted);
    free(buf[0]);
    free(buf[1]);
    for (int k = 0; k < NWORK; k++) free(scratch[k]);
    for (size_t i = 0; i < l.n; i++) free(l.t[i].scales);
    free(l.t);
    fcache_free();
    return rc;
}

/* ================================================================== bench */

/* RSS from /proc/self/status, bytes. */
typedef struct rss { uint64_t rss, anon, file; } rss;

static rss rss_now(void) {
    rss r = { 0, 0, 0 };
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return r;
    char line[256];
    unsigned long long v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %llu kB", &v) == 1) r.rss = v * 1024;
        else if (sscanf(line, "RssAnon: %llu kB", &v) == 1) r.anon = v * 1024;
        else if (sscanf(line, "RssFile: %llu kB", &v) == 1) r.file = v * 1024;
    }
    fclose(f);
    return r;
}

#define MAX_PHASES 16

typedef struct phase {
    char name[32];
    double t0, t1, c0, c1;
    rss peak;             /* per-component maxima while the phase ran */
    int layers;           /* per-layer callbacks seen */
    double layer_min, layer_max, layer_last;
} phase;

typedef struct bench {
    phase ph[MAX_PHASES];
    _Atomic int n;        /* phases begun; ph[n-1] is current */
    _Atomic int stop;
    pthread_mutex_t mu;
} bench;

static void peak_update(phase *p, rss r) {
    if (r.rss > p->peak.rss) p->peak.rss = r.rss;
    if (r.anon > p->peak.anon) p->peak.anon = r.anon;
    if (r.file > p->peak.file) p->peak.file = r.file;
}

static void begin_phase(bench *b, const char *name) {
    double t = vx_wall_s(), c = vx_cpu_s();
    pthread_mutex_lock(&b->mu);
    int n = b->n;
    if (n > 0) { b->ph[n - 1].t1 = t; b->ph[n - 1].c1 = c; peak_update(&b->ph[n - 1], rss_now()); }
    if (n < MAX_PHASES) {
        phase *p = &b->ph[n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->t0 = t;
        p->c0 = c;
        p->layer_last = t;
        p->layer_min = 1e30;
        b->n = n + 1;
    }
    pthread_mutex_unlock(&b->mu);
    fprintf(stderr, "bench: phase %s\n", name);
}

static void on_progress(void *ctx, const vx_progress *p) {
    bench *b = ctx;
    int n = b->n;
    if (n == 0 || strcmp(b->ph[n - 1].name, p->phase)) begin_phase(b, p->phase);
    n = b->n;
    phase *ph = &b->ph[n - 1];
    /* Per-layer phases: the interval between consecutive callbacks is one layer. */
    if (p->layer >= 0 || ph->layers > 0) {
        double t = vx_wall_s();
        if (ph->layers > 0) {
            double d = t - ph->layer_last;
            if (d < ph->layer_min) ph->layer_min = d;
            if (d > ph->layer_max) ph->layer_max = d;
        }
        ph->layer_last = t;
        if (p->layer >= 0) ph->layers++;
    }
}

static void on_warn(void *ctx, const char *msg) { fprintf(stderr, "bench: warning: %s\n", msg); }

static void *sampler(void *arg) {
    bench *b = arg;
    while (!b->stop) {
        rss r = rss_now();
        pthread_mutex_lock(&b->mu);
        if (b->n > 0) peak_update(&b->ph[b->n - 1], r);
        pthread_mutex_unlock(&b->mu);
        usleep(20000);
    }
    return NULL;
}

/* ---------------------------------------------------------- calibration */

typedef struct calib { double sgemm, dsyrk, membw; } calib;

static double fill_and_time_sgemm(size_t n) {
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (size_t i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t = vx_wall_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n, 0.0f, c, (int)n);
        t = vx_wall_s() - t;
        if (t < best) best = t;
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * n / best / 1e9;
}

static double time_dsyrk(size_t H, size_t k) {
    double *x = malloc(sizeof(double) * H * k), *g = calloc(H * H, sizeof(double));
    for (size_t i = 0; i < H * k; i++) x[i] = (double)(i % 11) * 0.01;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t = vx_wall_s();
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)H, (int)k, 1.0, x, (int)H, 1.0, g, (int)H);
        t = vx_wall_s() - t;
        if (t < best) best = t;
    }
    free(x); free(g);
    return (double)k * H * (H + 1) / best / 1e9;
}

typedef struct rd { const uint64_t *p; size_t n; uint64_t sum; } rd;

static void *read_part(void *arg) {
    rd *r = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= r->n; i += 4) { s0 += r->p[i]; s1 += r->p[i + 1]; s2 += r->p[i + 2]; s3 += r->p[i + 3]; }
    r->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Read bandwidth of both cores over a buffer far larger than L3 (one half each). */
static double time_membw(size_t bytes) {
    size_t n = bytes / 8;
    uint64_t *p = malloc(bytes);
    for (size_t i = 0; i < n; i++) p[i] = i;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        rd a = { p, n / 2, 0 }, b = { p + n / 2, n - n / 2, 0 };
        pthread_t th;
        double t = vx_wall_s();
        int two = pthread_create(&th, NULL, read_part, &b) == 0;
        read_part(&a);
        if (two) pthread_join(th, NULL);
        else read_part(&b);
        t = vx_wall_s() - t;
        if (t < best) best = t;
        if (a.sum + b.sum == 42) fprintf(stderr, "!"); /* keep the sums alive */
    }
    free(p);
    return (double)bytes / best / 1e9;
}

/* Run in its own process (`mkckpt --calib`): its buffers must not count in the
 * extraction's peak RSS. */
static int calib_main(void) {
    double sg = fill_and_time_sgemm(2048), dk = time_dsyrk(2048, 4096), bw = time_membw((size_t)2 << 30);
    printf("CALIB sgemm_gflops=%.1f dsyrk_gflops=%.1f membw_gbs=%.2f  (sgemm 2048^3; dsyrk n=2048 k=4096; "
           "read of 2 GiB by 2 threads; OPENBLAS_CORETYPE=%s)\n",
           sg, dk, bw, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
    return 0;
}

/* ---------------------------------------------------------------- bench */

/* I: neurons per layer (MoE: experts × moe width + shared width); wbytes: bytes per stored
 * MLP weight (1 for FP8, whose scales are negligible). */
typedef struct cfg { uint64_t L, H, I, V, E, wbytes; uint64_t src_bytes; int nshards; } cfg;

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    cJSON *j = NULL;
    if (b && fread(b, 1, (size_t)n, f) == (size_t)n) j = cJSON_ParseWithLength(b, (size_t)n);
    free(b);
    fclose(f);
    return j;
}

static uint64_t jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
}

static int read_cfg(cfg *c, const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", dir);
    cJSON *j = read_json(p);
    if (!j) { fprintf(stderr, "bench: %s: cannot read\n", p); return -1; }
    c->L = jnum(j, "num_hidden_layers");
    c->H = jnum(j, "hidden_size");
    c->I = jnum(j, "intermediate_size");
    c->V = jnum(j, "vocab_size");
    c->E = jnum(j, "num_experts");
    if (c->E) c->I = c->E * jnum(j, "moe_intermediate_size") + jnum(j, "shared_expert_intermediate_size");
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "quantization_config"), "quant_method");
    c->wbytes = cJSON_IsString(qm) && !strcmp(qm->valuestring, "fp8") ? 1 : 2;
    cJSON_Delete(j);
    /* source bytes: every file the extractor hashes (config, index, tokenizer, shards) */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    j = read_json(p);
    c->src_bytes = 0;
    c->nshards = 0;
    const char *names[3] = { "config.json", "model.safetensors.index.json", "tokenizer.json" };
    struct stat st;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (stat(p, &st) == 0) c->src_bytes += (uint64_t)st.st_size;
    }
    const cJSON *wm = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL, *e;
    char seen[64][64];
    cJSON_ArrayForEach(e, wm) {
        if (!cJSON_IsString(e)) continue;
        int dup = 0;
        for (int i = 0; i < c->nshards; i++) dup |= !strcmp(seen[i], e->valuestring);
        if (dup || c->nshards >= 64) continue;
        snprintf(seen[c->nshards++], sizeof seen[0], "%s", e->valuestring);
        snprintf(p, sizeof p, "%s/%s", dir, e->valuestring);
        if (stat(p, &st) == 0) c->src_bytes += (uint64_t)st.st_size;
    }
    cJSON_Delete(j);
    return c->L && c->H && c->I && c->V ? 0 : -1;
}

/* Logical bytes each phase reads and nominal FLOPs of the algorithm in src/extract.c:
 * per matrix a single-precision Gram (ssyrk, rows·H·(H+1)), ssyevr for the top k = F+32
 * eigenvectors (≈ 4/3·H³ tridiagonal reduction + 2·H²·k back-transformation), then the
 * float64 Rayleigh–Ritz pass (B = A·Q: 2·rows·H·k; C = BᵀB: rows·k·(k+1)); the
 * projection by sgemm. Gate and down are read twice (the Gram pass and the Ritz pass),
 * up once (the weight battery's statistics). */
static void phase_work(const char *name, const cfg *c, uint64_t F, double *bytes, double *flop, const char **what) {
    double L = (double)c->L, H = (double)c->H, I = (double)c->I, V = (double)c->V;
    *bytes = 0; *flop = 0; *what = "";
    if (!strcmp(name, "svd") || !strcmp(name, "read")) {
        double k = (double)F + 32 < H ? (double)F + 32 : H;
        *bytes = L * 5 * (I * H) * (double)c->wbytes;                  /* gate, down twice; up once */
        *flop = L * 2 * (I * H * (H + 1) + 4.0 / 3 * H * H * H + 2 * H * H * k + 2 * I * H * k + I * k * (k + 1));
        *what = c->wbytes == 1 ? "up+2x(gate+down) fp8; f32 Gram, its spectrum and top-F basis, f64 Rayleigh-Ritz"
                               : "up+2x(gate+down) bf16; f32 Gram, its spectrum and top-F basis, f64 Rayleigh-Ritz";
    } else if (!strcmp(name, "write")) {
        *bytes = V * H * 2;
        *what = "embed bf16 -> f16";
    } else if (!strcmp(name, "project")) {
        *bytes = V * H * 2;
        *flop = 2 * V * H * (2.0 * (double)F * L);
        *what = "lm_head bf16; sgemm V x H x 2FL";
    } else if (!strcmp(name, "hash")) {
        *bytes = (double)c->src_bytes;
        *what = "sha256 of all source files: a thread from the start; GB/s over the whole run";
    }
}

static int bench_main(int argc, char **argv) {
    const char *src = NULL, *out = NULL;
    int do_calib = 0, threads = 0, features = 128;
    calib cal = { 0, 0, 0 };
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rates") && i + 1 < argc) {
            do_calib = sscanf(argv[++i], "%lf,%lf,%lf", &cal.sgemm, &cal.dsyrk, &cal.membw) == 3;
            if (!do_calib) { fprintf(stderr, "bench: --rates SGEMM,DSYRK,MEMBW (GFLOP/s, GFLOP/s, GB/s)\n"); return 2; }
        }
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--features") && i + 1 < argc) features = atoi(argv[++i]);
        else if (!src) src = argv[i];
        else if (!out) out = argv[i];
        else { fprintf(stderr, "bench: unexpected %s\n", argv[i]); return 2; }
    }
    if (!src || !out) { fprintf(stderr, "usage: mkckpt --bench SRC OUT [--rates SGEMM,DSYRK,MEMBW] [--threads N] [--features F]\n"); return 2; }
    cfg c;
    if (read_cfg(&c, src)) return 1;

    bench b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mu, NULL);
    pthread_t smp;
    int sampling = pthread_create(&smp, NULL, sampler, &b) == 0;

    vx_extract_opts o;
    vx_extract_opts_init(&o);
    o.src = src;
    o.out = out;
    o.force = 1;
    o.threads = threads;
    o.features = features;
    o.progress = on_progress;
    o.warn = on_warn;
    o.ctx = &b;
    vx_err err = { 0, "" };
    double t0 = vx_wall_s(), c0 = vx_cpu_s();
    begin_phase(&b, "open");
    int rc = vx_extract(&o, &err);
    begin_phase(&b, "(end)");
    double wall = vx_wall_s() - t0, cpu = vx_cpu_s() - c0;
    b.stop = 1;
    if (sampling) pthread_join(smp, NULL);
    if (rc) { fprintf(stderr, "bench: extract failed: %s (%s)\n", err.msg, vx_strerror(rc)); return 1; }

    uint64_t F = (uint64_t)features;
    char ip[4096];
    snprintf(ip, sizeof ip, "%s/index.json", out);
    cJSON *ix = read_json(ip);
    if (ix && jnum(ix, "num_feats")) F = jnum(ix, "num_feats");
    cJSON_Delete(ix);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("MODEL L=%llu H=%llu I=%llu E=%llu wbytes=%llu V=%llu F=%llu source=%.2fGB shards=%d threads=%s OPENBLAS_CORETYPE=%s\n",
           (unsigned long long)c.L, (unsigned long long)c.H, (unsigned long long)c.I, (unsigned long long)c.E,
           (unsigned long long)c.wbytes, (unsigned long long)c.V,
           (unsigned long long)F, c.src_bytes / 1e9, c.nshards, threads ? "set" : "all",
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
    printf("%-8s %8s %7s %6s %8s %7s %8s %8s %9s %9s %9s %9s  %s\n", "phase", "wall_s", "cpu_s", "cores", "read_GB",
           "GB/s", "GFLOP", "GFLOP/s", "floor_s", "peakRSS", "anon", "file", "work");
    for (int i = 0; i + 1 < b.n; i++) {
        phase *p = &b.ph[i];
        double w = p->t1 - p->t0, cp = p->c1 - p->c0, by, fl;
        const char *what;
        phase_work(p->name, &c, F, &by, &fl, &what);
        /* the source hash runs in a thread from the start: its rate is over the whole run */
        double span = !strcmp(p->name, "hash") ? wall : w;
        double floor_s = 0;
        if (do_calib) {
            double fb = cal.membw > 0 ? by / 1e9 / cal.membw : 0; /* both cores streaming */
            double rate = cal.sgemm; /* the Gram products and the projection are single precision */
            double ff = rate > 0 ? fl / 1e9 / rate : 0;
            if (!strcmp(p->name, "hash")) fb = by / 1e9 / 1.1; /* SHA-256 ~1.1 GB/s/core (peers.md §4.5) */
            floor_s = fb > ff ? fb : ff;
        }
        printf("%-8s %8.2f %7.2f %6.2f %8.3f %7.3f %8.1f %8.1f %9.2f %8.2fG %8.2fG %8.2fG  %s\n", p->name, w, cp,
               w > 0 ? cp / w : 0, by / 1e9, span > 0 ? by / 1e9 / span : 0, fl / 1e9, w > 0 ? fl / 1e9 / w : 0, floor_s,
               p->peak.rss / 1e9, p->peak.anon / 1e9, p->peak.file / 1e9, what);
        if (p->layers > 1 && p->layer_max > 0)
            printf("%-8s per layer: %d callbacks, %.2f s min, %.2f s max, %.2f s mean\n", "", p->layers, p->layer_min,
                   p->layer_max, w / (double)c.L);
    }
    printf("RESULT wall_s=%.2f cpu_s=%.2f maxrss_gb=%.3f (getrusage ru_maxrss, includes mapped file pages)\n", wall, cpu,
           ru.ru_maxrss * 1024.0 / 1e9);
    return 0;
}

/* ----------------------------------------------------------------- main */

/* OpenBLAS reads OPENBLAS_CORETYPE when it loads: on AVX-512 hosts re-exec once with the
 * SkylakeX kernels (1.6–1.9× faster sgemm here, peers.md §4.3), as the vindex CLI does. */
static void blas_reexec(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("VINDEX_NO_REEXEC")) return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl")) return;
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    setenv("VINDEX_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
}

static void usage(FILE *f) {
    fprintf(f, "usage: mkckpt --shape tiny|0.6b|8b|80b-moe OUTDIR [--seed N] [--shard-bytes N] [--tokenizer FILE]\n"
               "              [--layers N] [--experts N] [--vocab N]\n"
               "       (--layers: the shape with only N layers, for per-layer measurements; --experts, --vocab:\n"
               "       fewer routed experts (80b-moe) or embedding rows, for small versions of a shape)\n"
               "       mkckpt --bench SRC OUT [--rates SGEMM,DSYRK,MEMBW] [--threads N] [--features F]\n"
               "       mkckpt --calib\n");
}

int main(int argc, char **argv) {
    blas_reexec(argv);
    if (argc >= 2 && !strcmp(argv[1], "--bench")) return bench_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "--calib")) return calib_main();
    const char *shp = NULL, *dir = NULL, *tok = "tests/fixtures/tiny-qwen3/tokenizer.json";
    uint64_t seed = 1, limit = 5000000000ull;
    long layers = 0, experts = -1, vocab = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc) shp = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--experts") && i + 1 < argc) experts = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--shard-bytes") && i + 1 < argc) limit = (uint64_t)strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else { usage(stderr); return 2; }
    }
    const shape *s = NULL;
    for (size_t i = 0; shp && i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(shapes[i].name, shp)) s = &shapes[i];
    if (!s || !dir || limit == 0 || layers < 0 || layers > 4096 || vocab < 0 || vocab > 1 << 22 ||
        (experts != -1 && (!s->experts || experts < 1 || experts > 4096))) {
        usage(stderr);
        return 2;
    }
    shape sl = *s;
    if (layers) sl.L = (uint32_t)layers;
    if (experts > 0) sl.experts = (uint32_t)experts;
    if (vocab) sl.V = (uint32_t)vocab;
    return make_checkpoint(&sl, s, dir, seed, limit, tok) ? 1 : 0;
}
