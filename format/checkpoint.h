/*
 * checkpoint.h — a Hugging Face checkpoint opened for extraction: config.json parsed,
 * every safetensors shard mapped and validated, tensor names mapped per architecture
 * to the roles the extractor needs. Nothing is read whole; tensors point into maps.
 *
 * Supported: the architectures of the table in format/arch.c (spec/checkpoint-input.md C4:
 * Llama, Mistral, Qwen2/3, OLMo 2, Gemma 1/2/3, Phi-3, GPT-2, and the mixtures of experts
 * Qwen2/3-MoE, Qwen3-Next, Mixtral, DeepSeek-V3, gpt-oss), in F32, F16, BF16, FP8 with
 * scales and MXFP4 (format/dequant.h, §Q). An unknown architecture, another dtype in a
 * tensor the extractor reads, or an MLP tensor that cannot be mapped is an error that
 * lists what was found.
 */
#ifndef VX_FORMAT_CHECKPOINT_H
#define VX_FORMAT_CHECKPOINT_H

#include "dequant.h"
#include "safetensors.h"

/* One tensor of the checkpoint; `data` points into a shard's map. */
typedef struct vx_tensor {
    const char *name;      /* full on-disk name */
    const char *file;      /* shard file name (no directory) */
    vx_dtype dtype;        /* F32, F16 or BF16; FP8 or (MXFP4 blocks) F4 when q.kind says how to scale */
    int ndim;
    uint64_t shape[VX_ST_MAX_DIMS]; /* logical shape (MXFP4: dequantised, last dim = blocks·32) */
    uint64_t nelem;
    const uint8_t *data;   /* nelem elements, little-endian, possibly unaligned */
    uint64_t bytes;        /* size of data */
    vx_quant q;            /* how stored values become values (kind VX_Q_NONE: as stored) */
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
    uint64_t step;         /* columns only: elements between vector i and i+1 (0 or 1: adjacent;
                            * 2: gpt-oss's interleaved gate/up columns) */
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
    double norm_eps;           /* the norms' epsilon from config (rms_norm_eps, ...); -1 when absent */
    const vx_tensor *embed;    /* [V][H] */
    const vx_tensor *unembed;  /* [V][H]: lm_head, or == embed when tied */
    const vx_tensor *final_norm;       /* [H] weight */
    const vx_tensor *final_norm_bias;  /* [H] or NULL (GPT-2 LayerNorm) */
    vx_layer *layers;          /* [num_layers] */
    const char *family;        /* the architecture table's family ("llama", "qwen-moe", ...) */
    const char *quant;         /* quantization_config quant_method ("fp8", ...), "" when none */
    uint64_t mtp_tensors;      /* tensors of multi-token-prediction layers, ignored (DeepSeek-V3) */
    uint32_t mtp_last;         /* one past the last such layer index */
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
/* Every tensor of every shard (and the dequantised views of MXFP4 blocks); borrowed. */
const vx_tensor *vx_ckpt_tensors(const vx_ckpt *c, size_t *n);
/* Files that were read: config.json, tokenizer.json, index, shards. */
const vx_source_file *vx_ckpt_files(const vx_ckpt *c, size_t *n);
/* config.json bytes (for provenance hashing); tokenizer.json mapped bytes. */
const uint8_t *vx_ckpt_config(const vx_ckpt *c, size_t *len);
const uint8_t *vx_ckpt_tokenizer(const vx_ckpt *c, size_t *len);

/* Elements at .. at+n-1 of `t` (flat index in its logical, row-major shape) as f32,
 * dequantised where `t->q` says so (format/dequant.c). Reads unaligned bytes safely. */
void vx_tensor_read(float *dst, const vx_tensor *t, uint64_t at, size_t n);
/* The same elements before their scales (FP8: the stored E4M3/E5M2 numbers, which
 * vx_tensor_read multiplies by a scale); as vx_tensor_read for unscaled tensors and MXFP4. */
void vx_tensor_read_stored(float *dst, const vx_tensor *t, uint64_t at, size_t n);
/* Element i of a tensor as float. */
float vx_tensor_get(const vx_tensor *t, uint64_t i);
/* Drop the tensor's pages, and its scales', from the resident set (they stay cached). */
void vx_tensor_release(const vx_tensor *t);
/* The same for elements at .. at+n-1 only (whole pages inside that range). */
void vx_tensor_release_range(const vx_tensor *t, uint64_t at, uint64_t n);

#endif
