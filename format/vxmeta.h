/*
 * vxmeta.h — the vindex's own metadata files: index.json (the root of truth for every
 * shape, size and offset), the down_meta.bin header, and SHA256SUMS. Each has a pure
 * parse(buf, len) that validates everything (spec/vindex-format.md) so callers — vx_open,
 * verify, the fuzzers — can trust the result.
 */
#ifndef VX_FORMAT_VXMETA_H
#define VX_FORMAT_VXMETA_H

#include "common.h"

#define VX_INDEX_VERSION 1
#define VX_MAX_LAYERS 4096u
#define VX_MAX_FEATS 65536u
#define VX_MAX_HIDDEN 1048576u
#define VX_MAX_VOCAB 16777216u
#define VX_MAX_TOPK 4096u
#define VX_MAX_INDEX_JSON (64u << 20)

/* Names of the files of a vindex, in SHA256SUMS order (sorted). */
extern const char *const vx_file_names[];   /* NULL-terminated; includes SHA256SUMS last */
#define VX_N_FILES 10

typedef struct vx_layer_meta {
    uint32_t layer;
    uint32_t num_features;       /* == num_feats */
    uint64_t offset, length;     /* bytes of this layer in gate_vectors.bin (and down_features.bin) */
    float *gate_sigma, *down_sigma;  /* [num_features], descending, >= 0 */
    uint32_t num_experts;        /* 0 for dense layers */
} vx_layer_meta;

typedef struct vx_norm_meta {
    char *name;                  /* e.g. "layers.3.input_layernorm", "norm" */
    int32_t layer;               /* -1 for the final norm */
    uint64_t offset;             /* bytes into norms.bin */
    uint64_t count;              /* f32 elements */
} vx_norm_meta;

typedef struct vx_file_meta {
    char name[32];
    uint64_t bytes;
    char dtype[8];               /* "f16", "f32", "u8", "json" */
    int ndim;
    uint64_t shape[4];
    char xxh3[17];               /* canonical hex, "" when not recorded */
} vx_file_meta;

typedef struct vx_meta {
    uint32_t version;
    uint32_t num_layers, num_feats, hidden_size, intermediate_size, vocab_size, down_top_k;
    char model[512];
    char model_type[64], architecture[96], source_dtype[32];
    float embed_scale, norm_offset;
    int tied_embeddings;
    uint64_t embed_clamped;      /* embedding values clamped to the f16 range */
    vx_layer_meta *layers;       /* [num_layers] */
    vx_norm_meta *norms;  size_t n_norms;
    uint64_t norms_bytes;        /* total bytes of norms.bin */
    vx_file_meta files[8];  size_t n_files;
} vx_meta;

/* Validate and load index.json bytes. Checks (spec R-I*): types and ranges of every
 * field, layers numbered 0..L-1 with offset = i*F*H*2 and length = F*H*2, sigma arrays of
 * F finite non-negative descending values, norms non-overlapping inside norms_bytes, the
 * file table's sizes equal to those implied by the shapes. Errors: VX_ECORRUPT, VX_ENOMEM. */
int vx_meta_parse(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
void vx_meta_free(vx_meta *m);
/* Serialise to a malloc'd NUL-terminated pretty JSON string; NULL on ENOMEM. */
char *vx_meta_write(const vx_meta *m);
/* Expected byte sizes implied by the metadata. */
uint64_t vx_meta_features_bytes(const vx_meta *m);   /* L*F*H*2 */
uint64_t vx_meta_embeddings_bytes(const vx_meta *m); /* V*H*2 */
uint64_t vx_meta_down_meta_bytes(const vx_meta *m);  /* header + L*2*F*16K */
const vx_file_meta *vx_meta_file(const vx_meta *m, const char *name);

/* down_meta.bin: 32-byte header then L*2*F records of 2K {u32 token_id, f32 value}:
 * K largest values (descending), then K smallest (ascending). Record index
 * ((layer*2 + kind)*F + feature). */
#define VX_DM_MAGIC "VXDMETA1"
#define VX_DM_VERSION 1u
#define VX_DM_HEADER 32u
void vx_dm_header_write(uint8_t out[VX_DM_HEADER], uint32_t L, uint32_t F, uint32_t K);
/* Check header fields against (L, F, K) and the total size. Errors: VX_ECORRUPT. */
int vx_dm_header_check(const uint8_t *buf, size_t len, uint32_t L, uint32_t F, uint32_t K,
                       const char *fname, vx_err *err);
/* One record (2K pairs at p) against R-D4: ids < V, values finite, order. 1 when it
 * holds. When max_id is not NULL it is raised to the largest id seen (checked or not), so
 * a reader that learns V later can check ids then. */
int vx_dm_record_ok(const uint8_t *p, uint32_t K, uint32_t V, uint32_t *max_id);
/* Deep check of every record: ids < V, values finite, order. Returns the count of bad
 * records (0 = fine) and reports the first in `err`. */
uint64_t vx_dm_records_check(const uint8_t *buf, size_t len, uint32_t L, uint32_t F, uint32_t K,
                             uint32_t V, const char *fname, vx_err *err);

/* SHA256SUMS: lines "<64 lowercase hex>  <name>\n" (also " *name" binary marker). */
typedef struct vx_sum { char name[64]; char hex[65]; } vx_sum;
/* Names must be plain file names (no '/', no leading '.'), unique. Errors: VX_ECORRUPT. */
int vx_sums_parse(vx_sum **out, size_t *n, const uint8_t *buf, size_t len, const char *fname, vx_err *err);

#endif
