/*
 * arch.h — every architecture the extractor knows, as rows of one table (format/arch.c,
 * spec/checkpoint-input.md C4 and the family table there). A row names the tensors of
 * a family and says how its MLP is laid out; format/checkpoint.c reads checkpoints from
 * the row alone, so adding a family is adding a row (and a fixture).
 */
#ifndef VX_FORMAT_ARCH_H
#define VX_FORMAT_ARCH_H

#include <stdint.h>

typedef enum {
    VX_MLP_GATED,    /* {gate,up,down}_proj: gate/up [I,H], down [H,I] */
    VX_MLP_PHI3,     /* gate_up_proj [2I,H]: gate = first I rows, up = next I; down [H,I] */
    VX_MLP_CONV1D    /* GPT-2 Conv1D [in,out]: c_fc [H,I], c_proj [I,H]; no up */
} vx_mlp_kind;

typedef enum {
    VX_MOE_NONE,     /* dense */
    VX_MOE_QWEN,     /* sparse iff l ∉ mlp_only_layers and (l+1) % decoder_sparse_step == 0 */
    VX_MOE_DEEPSEEK, /* sparse iff l ≥ first_k_dense_replace and l % moe_layer_freq == 0 */
    VX_MOE_ALL       /* every layer sparse (Mixtral, gpt-oss) */
} vx_moe_rule;

typedef struct vx_arch {
    const char *arch;          /* config architectures[0] */
    const char *model_type;    /* config model_type (matched when architectures is absent) */
    const char *family;        /* the family's name in messages and `plan` */
    const char *const *prefixes; /* model prefixes; the first whose embedding exists is used */
    const char *embed;         /* under the prefix: "embed_tokens.weight" */
    const char *final_norm;    /* under the prefix: "norm.weight" */
    const char *layers;        /* under the prefix: "layers." */
    const char *const *norms;  /* per-layer norm weights (`<norm>.weight`), NULL-terminated */
    int gemma_norms;           /* RMSNorm x·(1+w) (norm_offset 1) */
    int scaled_embed;          /* embeddings × √H at run time (Gemma) */
    int gpt2;                  /* GPT-2 config keys, LayerNorm biases, tied lm_head */
    vx_mlp_kind mlp;
    /* mixture of experts */
    vx_moe_rule moe;
    const char *const *moe_blocks; /* sub-modules holding the experts, tried in order: "mlp.", "block_sparse_moe." */
    const char *egate, *eup, *edown;   /* per-expert names: "gate_proj" / "w1", ... */
    int interleaved;           /* fused experts interleave gate/up columns (gpt-oss), else halves */
    const char *shared;        /* shared-expert sub-module under the block, or NULL */
    const char *const *router; /* recognised, unused tensors under the block (router, shared gate) */
    int mtp_layers;            /* layers past num_hidden_layers hold a multi-token-prediction module */
} vx_arch;

/* The table, terminated by a row with arch == NULL. */
extern const vx_arch vx_arch_table[];

/* The row for `arch` (architectures[0]) or, when NULL, for `model_type`; NULL if none. */
const vx_arch *vx_arch_find(const char *arch, const char *model_type);

/* Config keys the libraries that write checkpoints have used for one quantity, in the
 * order they are tried (`num_experts` in Qwen, `num_local_experts` in Mixtral, gpt-oss
 * and transformers 5's Qwen3-MoE, `n_routed_experts` in DeepSeek). NULL-terminated. */
extern const char *const vx_cfg_experts[];
extern const char *const vx_cfg_moe_width[];
extern const char *const vx_cfg_shared_width[];
extern const char *const vx_cfg_norm_eps[];

#endif
