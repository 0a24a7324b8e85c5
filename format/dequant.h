/*
 * dequant.h — reading a checkpoint tensor's elements as f32, whatever the checkpoint
 * stores: F32, F16, BF16, and the quantised weights current releases ship
 * (spec/checkpoint-input.md §Q):
 *   - FP8 (E4M3, E5M2) with block scales: DeepSeek-V3 / Qwen3 FP8, `quantization_config`
 *     `{"quant_method": "fp8", "weight_block_size": [br, bc]}`, scales in
 *     `<name>_scale_inv` [⌈rows/br⌉][⌈cols/bc⌉] (multiplied, despite the name);
 *   - FP8 with per-channel or per-tensor scales: compressed-tensors
 *     (`"quant_method": "compressed-tensors"`, `<name>_scale` [rows][1] or [1]);
 *   - MXFP4 (gpt-oss): `<name>_blocks` u8 [.., rows, cols/32, 16] (two E2M1 values per
 *     byte, low nibble first) and `<name>_scales` u8 [.., rows, cols/32] (E8M0 exponents).
 * Values are dequantised exactly as the writing library defines them (value × scale in
 * f32), a run at a time, so no tensor is ever held whole.
 */
#ifndef VX_FORMAT_DEQUANT_H
#define VX_FORMAT_DEQUANT_H

#include "common.h"
#include "safetensors.h"

typedef enum {
    VX_Q_NONE = 0,   /* F32, F16, BF16: read as stored */
    VX_Q_FP8_BLOCK,  /* FP8 × scale[batch][r / br][c / bc] */
    VX_Q_FP8_CHANNEL,/* FP8 × scale[batch][r] */
    VX_Q_FP8_TENSOR, /* FP8 × scale[0] */
    VX_Q_MXFP4       /* E2M1 × 2^(scale[batch][r][c / 32] − 127) */
} vx_qkind;

struct vx_tensor;

/* How a quantised tensor's elements become values. The tensor is seen as `batch`
 * matrices of [rows][cols] (leading dimensions folded into batch); for MXFP4 `cols` is the
 * dequantised width (32 per block). */
typedef struct vx_quant {
    vx_qkind kind;
    const struct vx_tensor *scale;  /* F32/F16/BF16 scales, or U8 E8M0 exponents (MXFP4) */
    uint64_t batch, rows, cols;
    uint32_t br, bc;                /* FP8_BLOCK block shape */
} vx_quant;

/* FP8 E4M3 ("fn": no infinities, S.1111.111 is NaN) and E5M2 (the high byte of an f16)
 * bit patterns to f32, exactly. */
float vx_fp8_e4m3_to_f32(uint8_t b);
static inline float vx_fp8_e5m2_to_f32(uint8_t b) { return vx_f16_to_f32((uint16_t)(b << 8)); }
/* E2M1 code (0..15) to its value: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives. */
float vx_fp4_e2m1_to_f32(uint8_t code);

/*
 * Check that `scale` fits `t` for `kind` (shape follows from t's shape and the block
 * sizes) and fill `q`. `what` names the rule for messages. Errors: VX_ECORRUPT naming
 * both tensors and the shapes, VX_EUNSUPPORTED for a scale dtype that is not F32/F16/BF16
 * (U8 for MXFP4).
 */
int vx_quant_init(vx_quant *q, vx_qkind kind, const struct vx_tensor *t, const struct vx_tensor *scale, uint32_t br,
                  uint32_t bc, vx_err *err);

#endif
