/*
 * arch.c — the architecture table (see arch.h). Names come from transformers' modelling
 * files and the checkpoints written by their save_pretrained, across versions 4 and 5.
 */
#include <string.h>

#include "arch.h"

static const char *const P_MODEL[] = { "model.", NULL };
static const char *const P_GEMMA[] = { "model.", "model.language_model.", "language_model.model.", NULL };
static const char *const P_GPT2[] = { "transformer.", "", NULL };

static const char *const N_LLAMA[] = { "input_layernorm", "post_attention_layernorm", NULL };
static const char *const N_GEMMA[] = { "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                                       "post_feedforward_layernorm", NULL };
static const char *const N_OLMO2[] = { "post_attention_layernorm", "post_feedforward_layernorm", NULL };
static const char *const N_GPT2[] = { "ln_1", "ln_2", NULL };

static const char *const B_MLP[] = { "mlp.", NULL };
static const char *const B_MIXTRAL[] = { "block_sparse_moe.", "mlp.", NULL }; /* v4 on disk; v5 in memory */

static const char *const R_QWEN[] = { "gate.weight", "shared_expert_gate.weight", NULL };
static const char *const R_MIXTRAL[] = { "gate.weight", NULL };
static const char *const R_DEEPSEEK[] = { "gate.weight", "gate.e_score_correction_bias", NULL };
static const char *const R_GPTOSS[] = { "router.weight", "router.bias", "experts.gate_up_proj_bias",
                                        "experts.down_proj_bias", NULL };

const char *const vx_cfg_experts[] = { "num_experts", "num_local_experts", "n_routed_experts", NULL };
const char *const vx_cfg_moe_width[] = { "moe_intermediate_size", NULL };
const char *const vx_cfg_shared_width[] = { "shared_expert_intermediate_size", NULL };
const char *const vx_cfg_norm_eps[] = { "rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps", "norm_eps", NULL };

#define DENSE(a, mt, fam, pfx, norms, gn, se, mlp) \
    { a, mt, fam, pfx, "embed_tokens.weight", "norm.weight", "layers.", norms, gn, se, 0, mlp, VX_MOE_NONE, NULL, NULL, NULL, NULL, 0, NULL, NULL, 0 }
#define SPARSE(a, mt, fam, rule, blocks, g, u, d, il, shared, router, mtp, norms, gn) \
    { a, mt, fam, P_MODEL, "embed_tokens.weight", "norm.weight", "layers.", norms, gn, 0, 0, VX_MLP_GATED, rule, blocks, g, u, d, il, shared, router, mtp }

const vx_arch vx_arch_table[] = {
    DENSE("LlamaForCausalLM", "llama", "llama", P_MODEL, N_LLAMA, 0, 0, VX_MLP_GATED),
    DENSE("MistralForCausalLM", "mistral", "llama", P_MODEL, N_LLAMA, 0, 0, VX_MLP_GATED),
    DENSE("Qwen2ForCausalLM", "qwen2", "llama", P_MODEL, N_LLAMA, 0, 0, VX_MLP_GATED),
    DENSE("Qwen3ForCausalLM", "qwen3", "llama", P_MODEL, N_LLAMA, 0, 0, VX_MLP_GATED),
    DENSE("Olmo2ForCausalLM", "olmo2", "olmo2", P_MODEL, N_OLMO2, 0, 0, VX_MLP_GATED),
    DENSE("GemmaForCausalLM", "gemma", "gemma", P_GEMMA, N_LLAMA, 1, 1, VX_MLP_GATED),
    DENSE("Gemma2ForCausalLM", "gemma2", "gemma", P_GEMMA, N_GEMMA, 1, 1, VX_MLP_GATED),
    DENSE("Gemma3ForCausalLM", "gemma3_text", "gemma", P_GEMMA, N_GEMMA, 1, 1, VX_MLP_GATED),
    DENSE("Gemma3ForConditionalGeneration", "gemma3", "gemma", P_GEMMA, N_GEMMA, 1, 1, VX_MLP_GATED),
    DENSE("Phi3ForCausalLM", "phi3", "phi3", P_MODEL, N_LLAMA, 0, 0, VX_MLP_PHI3),
    { "GPT2LMHeadModel", "gpt2", "gpt2", P_GPT2, "wte.weight", "ln_f.weight", "h.", N_GPT2, 0, 0, 1, VX_MLP_CONV1D,
      VX_MOE_NONE, NULL, NULL, NULL, NULL, 0, NULL, NULL, 0 },
    SPARSE("Qwen3MoeForCausalLM", "qwen3_moe", "qwen-moe", VX_MOE_QWEN, B_MLP, "gate_proj", "up_proj", "down_proj", 0,
           "shared_expert.", R_QWEN, 0, N_LLAMA, 0),
    SPARSE("Qwen2MoeForCausalLM", "qwen2_moe", "qwen-moe", VX_MOE_QWEN, B_MLP, "gate_proj", "up_proj", "down_proj", 0,
           "shared_expert.", R_QWEN, 0, N_LLAMA, 0),
    SPARSE("Qwen3NextForCausalLM", "qwen3_next", "qwen-moe", VX_MOE_QWEN, B_MLP, "gate_proj", "up_proj", "down_proj", 0,
           "shared_expert.", R_QWEN, 0, N_LLAMA, 1),
    SPARSE("MixtralForCausalLM", "mixtral", "mixtral", VX_MOE_ALL, B_MIXTRAL, "w1", "w3", "w2", 0, NULL, R_MIXTRAL, 0,
           N_LLAMA, 0),
    SPARSE("DeepseekV3ForCausalLM", "deepseek_v3", "deepseek", VX_MOE_DEEPSEEK, B_MLP, "gate_proj", "up_proj", "down_proj",
           0, "shared_experts.", R_DEEPSEEK, 1, N_LLAMA, 0),
    SPARSE("GptOssForCausalLM", "gpt_oss", "gpt-oss", VX_MOE_ALL, B_MLP, "gate_proj", "up_proj", "down_proj", 1, NULL,
           R_GPTOSS, 0, N_LLAMA, 0),
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, VX_MLP_GATED, VX_MOE_NONE, NULL, NULL, NULL, NULL, 0, NULL, NULL, 0 },
};

const vx_arch *vx_arch_find(const char *arch, const char *model_type) {
    for (const vx_arch *a = vx_arch_table; a->arch; a++)
        if (arch ? !strcmp(arch, a->arch) : (model_type && !strcmp(model_type, a->model_type))) return a;
    return NULL;
}
