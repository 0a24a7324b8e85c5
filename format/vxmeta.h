/*
 * vxmeta.h — the vindex's own metadata files: index.json (the root of truth for every
 * shape, size and offset), the down_meta.bin header, and SHA256SUMS. Each has a pure
 * parse(buf, len) that validates everything (spec/vindex-format.md) so callers — vx_open,
 * verify, the fuzzers — can trust the result.
 */
#ifndef VX_FORMAT_VXMETA_H
#define VX_FORMAT_VXMETA_H

#include "common.h"

#define VX_INDEX_VERSION 2      /* what writers write; readers accept 1 and 2 (R-I1) */
#define VX_MAX_LAYERS 4096u
#define VX_MAX_FEATS 65536u
#define VX_MAX_HIDDEN 1048576u
#define VX_MAX_VOCAB 16777216u
#define VX_MAX_TOPK 4096u
#define VX_MAX_INDEX_JSON (64u << 20)
/* R-I10: chunk sizes a reader accepts for per-chunk SHA-256 digests (powers of two). */
#define VX_SHA_CHUNK_MIN ((uint64_t)1 << 20)
#define VX_SHA_CHUNK_MAX ((uint64_t)1 << 30)

/* Names of the files every vindex holds (R-F1), sorted. */
extern const char *const vx_file_names[];   /* NULL-terminated; includes SHA256SUMS last */
/* The files a version-2 vindex may add (§9), sorted; present exactly when index.json's
 * "files" lists them. */
extern const char *const vx_opt_file_names[]; /* NULL-terminated */
#define VX_N_FILES 14                         /* both lists */
/* The most "files" entries a reader accepts (the writer lists 7, plus up to 4 of §9). */
#define VX_MAX_META_FILES 12

/* Weight battery constants (spec §9). */
#define VX_N_SPARSITY 5
extern const double vx_sparsity_thresholds[VX_N_SPARSITY]; /* 1e-6, 1e-4, 1e-3, 1e-2, 1e-1 */
#define VX_N_MATS 3                          /* gate, up, down: vx_mat order */
extern const char *const vx_mat_names[VX_N_MATS];

/* Where the unembedding is (R-B5). */
enum { VX_UNEMB_V1 = 0,      /* version 1: tied_embeddings decides */
       VX_UNEMB_EMBEDDINGS,  /* tied: the embedding matrix */
       VX_UNEMB_FILE,        /* unembed.bin */
       VX_UNEMB_NONE };      /* untied, not kept */

typedef struct vx_layer_meta {
    uint32_t layer;
    uint32_t num_features;       /* == num_feats */
    uint64_t offset, length;     /* bytes of this layer in gate_vectors.bin (and down_features.bin) */
    float *gate_sigma, *down_sigma;  /* [num_features], descending, >= 0 */
    uint32_t num_experts;        /* 0 for dense layers */
    /* Version 2 battery (R-B2, R-B3), meaningful when vx_meta.has_battery: */
    vx_weight_stats weights[VX_N_MATS]; /* by vx_mat; has_mat says which exist */
    int has_mat[VX_N_MATS];      /* gate and down always; up for gated MLPs */
    uint64_t neurons_offset;     /* bytes into neurons.bin */
    uint64_t neurons_count;      /* N_l: neurons (stacked width) */
    int neurons_kinds;           /* rows in neurons.bin: 3 (gate, up, down) or 2 (gate, down) */
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
    char sha256[65];             /* R-I10: the whole file's SHA-256, "" when not recorded */
    uint64_t chunk_bytes;        /* R-I10: 0 when index.json gives no chunk digests */
    uint32_t n_chunks;           /* ceil(bytes / chunk_bytes) */
    uint8_t (*chunks)[32];       /* [n_chunks] SHA-256 of each chunk, owned by the vx_meta */
} vx_file_meta;

/* A part of a vindex (spec/parts.md): the layers first..last of a `total`-layer model, with
 * its provenance and options in the "part" object of index.json. */
typedef struct vx_part_info {
    uint32_t first, last;        /* inclusive layer range */
    uint32_t total;              /* num_layers of the whole model */
    int shared;                  /* holds the whole-model files (P3): first == 0 */
    char *json;                  /* the "part" object, unformatted JSON, owned */
} vx_part_info;

typedef struct vx_meta {
    uint32_t version;
    uint32_t num_layers, num_feats, hidden_size, intermediate_size, vocab_size, down_top_k;
    char model[512];
    char model_type[64], architecture[96], source_dtype[32];
    float embed_scale, norm_offset;
    double norm_eps;             /* version 2: the final norm's epsilon; -1 when not recorded */
    int tied_embeddings;
    uint64_t embed_clamped;      /* embedding values clamped to the f16 range */
    vx_layer_meta *layers;       /* [num_layers] */
    vx_norm_meta *norms;  size_t n_norms;
    uint64_t norms_bytes;        /* total bytes of norms.bin */
    vx_file_meta files[VX_MAX_META_FILES];  size_t n_files;
    /* Version 2 (§9): */
    int has_battery;             /* spectra.bin, neurons.bin, moments.bin and per-layer weights/neurons */
    uint64_t neurons_bytes;      /* size of neurons.bin (sum of the layers' blocks) */
    int unembedding;             /* VX_UNEMB_* */
    uint64_t unembed_clamped;    /* unembed.bin values clamped to the f16 range */
    /* A part (spec/parts.md) when is_part: num_layers and layers[] are then the part's own
     * (layers[i].layer = part.first + i, offsets relative to the part's files), and the
     * written "num_layers" is part.total. */
    int is_part;
    vx_part_info part;
} vx_meta;

/* Validate and load index.json bytes. Checks (spec R-I*): types and ranges of every
 * field, layers numbered 0..L-1 with offset = i*F*H*2 and length = F*H*2, sigma arrays of
 * F finite non-negative descending values, norms non-overlapping inside norms_bytes, the
 * file table's sizes equal to those implied by the shapes. Errors: VX_ECORRUPT, VX_ENOMEM. */
int vx_meta_parse(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
/* The same for the index.json of a part (spec/parts.md P2): only a part is accepted, and
 * m->is_part, m->part are set. Errors: as vx_meta_parse. */
int vx_meta_parse_part(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, vx_err *err);
void vx_meta_free(vx_meta *m);
/* Serialise to a malloc'd NUL-terminated pretty JSON string; NULL on ENOMEM. */
char *vx_meta_write(const vx_meta *m);
/* Expected byte sizes implied by the metadata. */
uint64_t vx_meta_features_bytes(const vx_meta *m);   /* L*F*H*2 */
uint64_t vx_meta_embeddings_bytes(const vx_meta *m); /* V*H*2 */
uint64_t vx_meta_down_meta_bytes(const vx_meta *m);  /* header + L*2*F*16K */
uint64_t vx_meta_spectra_bytes(const vx_meta *m);    /* L*2*H*4 */
uint64_t vx_meta_moments_bytes(const vx_meta *m);    /* L*2*F*16 */
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

/* manifest.json (spec §5), as extract and merge both write it: vx_manifest_begin makes the
 * object with the fields that come first (tool, tool_version, format_version,
 * created_utc); vx_manifest_end adds the ones that come last (clamped, content_digest),
 * prints it and deletes the object. NULL when out of memory. */
struct cJSON;
struct cJSON *vx_manifest_begin(void);
char *vx_manifest_end(struct cJSON *r, const vx_meta *m, const char *digest);

/* SHA256SUMS: lines "<64 lowercase hex>  <name>\n" (also " *name" binary marker). */
typedef struct vx_sum { char name[64]; char hex[65]; } vx_sum;

/* Names must be plain file names (no '/', no leading '.'), unique. Errors: VX_ECORRUPT. */
int vx_sums_parse(vx_sum **out, size_t *n, const uint8_t *buf, size_t len, const char *fname, vx_err *err);

/* The content digest (R-B6) of the files sums[0..n): SHA-256 of the lines
 * "<hex>  <name>\n" of every entry but manifest.json and SHA256SUMS, in byte order of the
 * names (sums need not be sorted), as 64 lowercase hex digits. Errors: VX_ENOMEM. */
int vx_content_digest_of(char hex[65], const vx_sum *sums, size_t n, vx_err *err);

#endif
