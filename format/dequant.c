/*
 * dequant.c — checkpoint tensor elements as f32 (see dequant.h). The extractor reads
 * weights a row (or a column chunk) at a time through vx_tensor_read; for quantised
 * tensors each run is split where its scale changes, so a run costs one table-free decode
 * and one multiply per element.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "checkpoint.h"

float vx_fp8_e4m3_to_f32(uint8_t b) {
    uint32_t s = (uint32_t)(b & 0x80) << 24, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return NAN;
    union { uint32_t u; float f; } v;
    if (e == 0) { /* subnormal: m · 2^-9 */
        v.f = (float)m * 0x1p-9f;
        v.u |= s;
        return v.f;
    }
    v.u = s | (e - 7 + 127) << 23 | m << 20;
    return v.f;
}

float vx_fp4_e2m1_to_f32(uint8_t code) {
    static const float mag[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
    return code & 8 ? -mag[code & 7] : mag[code & 7];
}

static float plain(const vx_tensor *t, uint64_t i) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VX_DT_F32: { union { uint32_t u; float f; } v = { vx_le32(p + 4 * i) }; return v.f; }
    case VX_DT_F16: return vx_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case VX_DT_BF16: return vx_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case VX_DT_F8_E4M3: return vx_fp8_e4m3_to_f32(p[i]);
    case VX_DT_F8_E5M2: return vx_fp8_e5m2_to_f32(p[i]);
    default: return NAN; /* the checkpoint reader admits no other dtype (C6) */
    }
}

/* FP8 bytes decode through a 256-entry table: the decoder's branches (subnormal, NaN)
 * mispredict on real weights, and an MoE layer is billions of elements, each read three
 * to five times. */
static float e4m3_lut[256], e5m2_lut[256];
static pthread_once_t fp8_once = PTHREAD_ONCE_INIT;

static void fp8_lut_init(void) {
    for (int b = 0; b < 256; b++) {
        e4m3_lut[b] = vx_fp8_e4m3_to_f32((uint8_t)b);
        e5m2_lut[b] = vx_fp8_e5m2_to_f32((uint8_t)b);
    }
}

/* n elements of an F32/F16/BF16/FP8 tensor from `at`, unscaled. */
static void run_plain(float *dst, const vx_tensor *t, uint64_t at, size_t n) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VX_DT_F32: memcpy(dst, p + 4 * at, 4 * n); break; /* little-endian hosts only (checked at build) */
    case VX_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = vx_f16_to_f32((uint16_t)(p[2 * (at + i)] | p[2 * (at + i) + 1] << 8));
        break;
    case VX_DT_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = vx_bf16_to_f32((uint16_t)(p[2 * (at + i)] | p[2 * (at + i) + 1] << 8));
        break;
    case VX_DT_F8_E4M3:
    case VX_DT_F8_E5M2: {
        pthread_once(&fp8_once, fp8_lut_init);
        const float *lut = t->dtype == VX_DT_F8_E4M3 ? e4m3_lut : e5m2_lut;
        for (size_t i = 0; i < n; i++) dst[i] = lut[p[at + i]];
        break;
    }
    default:
        for (size_t i = 0; i < n; i++) dst[i] = plain(t, at + i);
        break;
    }
}
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vindex assumes a little-endian host"
#endif

/* MXFP4: element c of row r (rows counted over the whole tensor) of a [rows][cols] view
 * whose blocks are 16 bytes = 32 values, low nibble first. */
static void run_mxfp4(float *dst, const vx_tensor *t, uint64_t r, uint64_t c, size_t n) {
    const vx_quant *q = &t->q;
    uint64_t nblk = q->cols / 32;
    const uint8_t *blk = t->data + r * nblk * 16, *sc = q->scale->data + r * nblk;
    for (size_t i = 0; i < n;) {
        uint64_t b = (c + i) / 32, k = (c + i) % 32;
        float s = ldexpf(1.0f, (int)sc[b] - 127);
        for (; k < 32 && i < n; k++, i++) {
            uint8_t byte = blk[b * 16 + k / 2];
            dst[i] = vx_fp4_e2m1_to_f32(k & 1 ? byte >> 4 : byte & 15) * s;
        }
    }
}

void vx_tensor_read(float *dst, const vx_tensor *t, uint64_t at, size_t n) {
    const vx_quant *q = &t->q;
    if (q->kind == VX_Q_NONE) { run_plain(dst, t, at, n); return; }
    while (n > 0) {
        /* the run up to the end of the current row */
        uint64_t row = at / q->cols, c = at % q->cols; /* row over all batches */
        size_t m = (size_t)(q->cols - c < n ? q->cols - c : n);
        if (q->kind == VX_Q_MXFP4) {
            run_mxfp4(dst, t, row, c, m);
        } else {
            run_plain(dst, t, at, m);
            uint64_t b = row / q->rows, r = row % q->rows;
            if (q->kind == VX_Q_FP8_TENSOR || q->kind == VX_Q_FP8_CHANNEL) {
                float s = vx_tensor_get(q->scale, q->kind == VX_Q_FP8_TENSOR ? 0 : b * q->rows + r);
                for (size_t i = 0; i < m; i++) dst[i] *= s;
            } else {
                uint64_t sr = (q->rows + q->br - 1) / q->br, sc = (q->cols + q->bc - 1) / q->bc;
                uint64_t base = (b * sr + r / q->br) * sc;
                for (size_t i = 0; i < m;) {
                    uint64_t cb = (c + i) / q->bc, end = (cb + 1) * q->bc - c;
                    float s = vx_tensor_get(q->scale, base + cb);
                    for (; i < m && i < end; i++) dst[i] *= s;
                }
            }
        }
        dst += m;
        at += m;
        n -= m;
    }
}

void vx_tensor_read_stored(float *dst, const vx_tensor *t, uint64_t at, size_t n) {
    if (t->q.kind == VX_Q_MXFP4) vx_tensor_read(dst, t, at, n);
    else run_plain(dst, t, at, n);
}

float vx_tensor_get(const vx_tensor *t, uint64_t i) {
    if (t->q.kind == VX_Q_NONE) return plain(t, i);
    float v;
    vx_tensor_read(&v, t, i, 1);
    return v;
}

void vx_tensor_release(const vx_tensor *t) {
    vx_map_release(t->data, t->bytes);
    if (t->q.scale) vx_map_release(t->q.scale->data, t->q.scale->bytes);
}

void vx_tensor_release_range(const vx_tensor *t, uint64_t at, uint64_t n) {
    uint64_t bits = vx_dtype_bits(t->dtype);
    vx_map_release(t->data + at * bits / 8, n * bits / 8);
}

static int scale_dtype_ok(const vx_tensor *s, vx_qkind kind) {
    if (kind == VX_Q_MXFP4) return s->dtype == VX_DT_U8 || s->dtype == VX_DT_F8_E8M0;
    return s->dtype == VX_DT_F32 || s->dtype == VX_DT_F16 || s->dtype == VX_DT_BF16;
}

int vx_quant_init(vx_quant *q, vx_qkind kind, const vx_tensor *t, const vx_tensor *scale, uint32_t br, uint32_t bc,
                  vx_err *err) {
    memset(q, 0, sizeof *q);
    if (t->ndim < 1 || !scale)
        return vx_fail(err, VX_ECORRUPT, "%s: tensor '%.200s': a quantised weight needs a scale tensor and a shape", t->file,
                       t->name);
    if (!scale_dtype_ok(scale, kind))
        return vx_fail(err, VX_EUNSUPPORTED, "%s: scale tensor '%.200s' has dtype %s, expected %s", scale->file, scale->name,
                       vx_dtype_name(scale->dtype), kind == VX_Q_MXFP4 ? "U8 (E8M0 exponents)" : "F32, F16 or BF16");
    uint64_t cols = t->shape[t->ndim - 1], rows = t->ndim >= 2 ? t->shape[t->ndim - 2] : 1, batch = 1;
    for (int i = 0; i + 2 < t->ndim; i++) batch *= t->shape[i]; /* nelem was checked, so no overflow */
    uint64_t want = 0;
    switch (kind) {
    case VX_Q_FP8_BLOCK:
        if (br == 0 || bc == 0) return vx_fail(err, VX_ECORRUPT, "weight_block_size: block sizes must be positive");
        want = batch * ((rows + br - 1) / br) * ((cols + bc - 1) / bc);
        break;
    case VX_Q_FP8_CHANNEL: want = batch * rows; break;
    case VX_Q_FP8_TENSOR: want = 1; break;
    case VX_Q_MXFP4:
        if (cols % 32) return vx_fail(err, VX_ECORRUPT, "%s: MXFP4 tensor '%.200s': width %llu is not a multiple of 32",
                                      t->file, t->name, (unsigned long long)cols);
        want = batch * rows * (cols / 32);
        break;
    default: return vx_fail(err, VX_EUSAGE, "vx_quant_init: kind %d", (int)kind);
    }
    if (scale->nelem != want)
        return vx_fail(err, VX_ECORRUPT, "%s: scale tensor '%.200s' has %llu elements; tensor '%.200s' [%llu × %llu × %llu] "
                       "needs %llu", scale->file, scale->name, (unsigned long long)scale->nelem, t->name,
                       (unsigned long long)batch, (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)want);
    *q = (vx_quant){ kind, scale, batch, rows, cols, br, bc };
    return VX_OK;
}
