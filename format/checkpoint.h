/*
 * checkpoint.h — a Hugging Face checkpoint opened for extraction: config.json parsed,
 * every safetensors shard mapped and validated, tensor names mapped per architecture
 * to the roles the extractor needs. Nothing is read whole; tensors point into maps.
 *
 * Supported (spec/checkpoint-input.md, rules C1-C16): Llama, Mistral, Qwen2, Qwen3, Qwen3-MoE (per
 * expert `mlp.experts.N.*` and fused 3-D `mlp.experts.gate_up_proj`/`down_proj`,
 * optional shared expert), Gemma 2/3 (also multimodal with text_config and the
 * `model.language_model.` / `language_model.model.` prefixes), Phi-3 (fused
 * gate_up_proj, gate = first half of the rows, up = second half), GPT-2 (Conv1D c_fc/c_proj stored
 * [in,out], with or without `transformer.`). An unknown architecture, a dtype other than
 * F32/F16/BF16 in a tensor the extractor reads, or an MLP tensor that cannot be mapped
 * is an error that lists what was found.
 */
#ifndef VX_FORMAT_CHECKPOINT_H
#define VX_FORMAT_CHECKPOINT_H

#include "safetensors.h"

/* One tensor of the checkpoint; `data` points into a shard's map. */
typedef struct vx_tensor {
    const char *name;      /* full on-disk name */
    const char *file;      /* shard file name (no directory) */
    vx_dtype dtype;        /* always F32, F16 or BF16 for tensors in a vx_model */
    int ndim;
    uint64_t shape[VX_ST_MAX_DIMS];
    uint64_t nelem;
    const uint8_t *data;   /* nelem elements, little-endian, possibly unaligned */
} vx_tensor;

/*
 * A set of `count` vectors of length H (the hidden size) stored inside a tensor.
 * Element j of vector i is element  offset + i*ld + j     when by_column == 0 (rows),
 *                                   offset + j*ld + i     when by_column == 1 (columns),
 * counted in elements of `t`. Example: gate_proj [I,H] → {offset 0, count I, ld H, rows};
 * down_proj [H,I] → {0, I, I, columns}; GPT-2 c_fc [H,I] → {0, I, I, columns};
 * fused experts.down_proj [E,H,I], expert e → {e*H*I, I, I, columns}.
 */
typedef struct vx_vecset {
    const vx_tensor *t;
    uint64_t offset, count, ld;
    int by_column;
} vx_vecset;

typedef struct vx_layer {
    vx_vecset *gate;  int n_gate;   /* MLP input-side vectors: rows of the stacked gate matrix */
    vx_vecset *down;  int n_down;   /* MLP output-side vectors: columns of the stacked down matrix */
    vx_vecset *up;    int n_up;     /* rows of the stacked up matrix (gated MLPs; 0 sets for GPT-2),
                                     * in the same neuron order as gate */
    int is_moe;
    int num_experts;                /* 0 for dense layers */
    const vx_tensor **norms;  const char **norm_names;  int n_norms;  /* e.g. "input_layernorm" */
} vx_layer;

typedef struct vx_model {
    char model_type[64];       /* config model_type (text_config's when nested), e.g. "gemma3_text" */
    char architecture[96];     /* architectures[0], e.g. "Gemma3ForCausalLM" */
    char dtype[32];            /* config torch_dtype/dtype, "" when absent */
    uint32_t num_layers, hidden_size, intermediate_size, vocab_size; /* vocab_size = embedding rows */
    int tied;                  /* unembedding == embedding */
    float embed_scale;         /* sqrt(hidden) for Gemma, else 1 */
    float norm_offset;         /* 1 for Gemma (x*(1+w)), else 0 */
    const vx_tensor *embed;    /* [V][H] */
    const vx_tensor *unembed;  /* [V][H]: lm_head, or == embed when tied */
    const vx_tensor *final_norm;       /* [H] weight */
    const vx_tensor *final_norm_bias;  /* [H] or NULL (GPT-2 LayerNorm) */
    vx_layer *layers;          /* [num_layers] */
} vx_model;

typedef struct vx_source_file {
    const char *name;          /* relative to the checkpoint directory */
    uint64_t size;
} vx_source_file;

typedef struct vx_ckpt vx_ckpt;

/*
 * Open `src`: a directory holding config.json, tokenizer.json and model.safetensors or
 * model.safetensors.index.json + shards; or a Hub repo id "org/name" resolved offline in
 * $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, as
 * models--org--name/snapshots/<rev> with <rev> read from refs/<revision or "main">, or
 * `revision` naming a snapshot directory directly. Every shard named by the index must
 * exist and hold exactly the tensors the index says (shard names with '/' or ".." are
 * rejected); every shard is parsed with vx_st_parse. Errors: VX_ENOTFOUND, VX_ECORRUPT,
 * VX_EUNSUPPORTED, VX_EIO, VX_ENOMEM — messages name the file and what was expected.
 */
int vx_ckpt_open(vx_ckpt **out, const char *src, const char *revision, vx_err *err);
void vx_ckpt_close(vx_ckpt *c);

const vx_model *vx_ckpt_model(const vx_ckpt *c);   /* borrowed until close */
const char *vx_ckpt_dir(const vx_ckpt *c);          /* resolved directory */
const char *vx_ckpt_repo(const vx_ckpt *c);         /* repo id, or NULL for a plain directory */
const char *vx_ckpt_revision(const vx_ckpt *c);     /* resolved commit, or NULL */
/* Files that were read: config.json, tokenizer.json, index, shards. */
const vx_source_file *vx_ckpt_files(const vx_ckpt *c, size_t *n);
/* config.json bytes (for provenance hashing); tokenizer.json mapped bytes. */
const uint8_t *vx_ckpt_config(const vx_ckpt *c, size_t *len);
const uint8_t *vx_ckpt_tokenizer(const vx_ckpt *c, size_t *len);

/* Element i of a tensor as float (F32/F16/BF16), reading unaligned bytes safely. */
static inline float vx_tensor_get(const vx_tensor *t, uint64_t i) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VX_DT_F32: { union { uint32_t u; float f; } v = { vx_le32(p + 4 * i) }; return v.f; }
    case VX_DT_F16: return vx_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    default: return vx_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    }
}

#endif
