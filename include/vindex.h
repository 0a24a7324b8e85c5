/*
 * vindex.h — public API of libvindex: build, open, inspect and verify a vindex.
 *
 * A vindex is a directory of little-endian files (see spec/vindex-format.md) that
 * describes what a transformer's MLP weights encode: per layer the top-F singular
 * directions of the gate (input) and down (output) matrices, f16 token embeddings,
 * norm weights, per-direction vocabulary projections and a token table.
 *
 * Conventions (after LMDB and libgit2):
 *  - every fallible call returns int: 0 on success, a negative VX_E* code on failure;
 *  - every fallible call takes a `vx_err *` (may be NULL) that receives the code and a
 *    one-line message naming the file, the place and what was expected;
 *  - out-parameters come first; a `T **out` result is owned by the caller and released
 *    with the matching free/close; a returned `const T *` is borrowed and valid until
 *    the handle it came from is closed;
 *  - destructors accept NULL; no call exits or aborts on bad input or low memory.
 */
#ifndef VINDEX_H
#define VINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VX_VERSION_STRING "0.1.0"

/* The most worker threads any call uses: a larger `threads` option, VINDEX_THREADS and the
 * CPU count are clamped to it. */
#define VX_THREADS_MAX 64

/* Error codes. Pinned values: scripts and tests may rely on them. */
enum {
    VX_OK = 0,
    VX_EIO = -1,          /* a system call failed (open, read, write, mmap, rename) */
    VX_ENOMEM = -2,       /* allocation failed */
    VX_EUSAGE = -3,       /* invalid argument or option from the caller */
    VX_ECORRUPT = -4,     /* input bytes violate their format */
    VX_EUNSUPPORTED = -5, /* well-formed input this version cannot handle */
    VX_ENOTFOUND = -6,    /* a file, tensor, token or feature does not exist */
    VX_EEXIST = -7,       /* output exists and overwriting was not requested */
    VX_EMISMATCH = -8,    /* verification found a difference */
    VX_EINTERRUPTED = -9  /* the caller asked an operation to stop (vx_extract_opts.interrupt) */
};

typedef struct vx_err {
    int code;        /* last error code, VX_OK when none */
    char msg[1024];  /* "file: place: what was expected", NUL-terminated */
} vx_err;

/* Static description of an error code ("corrupt input", ...). Never NULL. */
const char *vx_strerror(int code);

/* ---------------------------------------------------------------- extraction */

typedef struct vx_progress {
    const char *phase;   /* "read", "svd", "project", "write", "hash" */
    int layer;           /* current layer, -1 when not per layer */
    int num_layers;
    uint64_t done;       /* units of work done in this phase */
    uint64_t total;      /* units of work in this phase */
} vx_progress;

typedef struct vx_extract_opts {
    const char *src;        /* checkpoint directory, or Hub repo id "org/name" */
    const char *revision;   /* Hub revision (ref name or commit); NULL = "main" */
    const char *out;        /* output directory */
    int features;           /* F: directions kept per layer and kind; default 128 */
    int top_k;              /* K: vocabulary projections kept per sign; default 16 */
    int force;              /* replace an existing OUT (only by the final rename) */
    int threads;            /* worker threads; 0 = VINDEX_THREADS when set, else the online CPUs */
    /* Called from the extracting thread; may be NULL. */
    void (*progress)(void *ctx, const vx_progress *p);
    /* Warnings ("--features capped at rank 96"); may be NULL. */
    void (*warn)(void *ctx, const char *msg);
    void *ctx;
    /* Checked between layers and tiles; when it becomes non-zero the extraction stops,
     * removes its temporary directory and returns VX_EINTERRUPTED. May be NULL. A signal
     * handler may set it. */
    volatile int *interrupt;
    /* Keep an untied model's unembedding (lm_head) as unembed.bin (spec §9 R-B5). */
    int unembed;
    /* Write a *part* (spec/parts.md) holding only layers layer_first..layer_last
     * (inclusive), to be joined by vx_merge; 0 = a whole vindex. */
    int part;
    unsigned layer_first, layer_last;
} vx_extract_opts;

/* Fill `o` with defaults (features 128, top_k 16, everything else 0/NULL). */
void vx_extract_opts_init(vx_extract_opts *o);

/*
 * Build a vindex at o->out from the checkpoint o->src. The checkpoint is mapped, not
 * read whole. Output is written into a temporary directory beside o->out, fsynced and
 * renamed into place; on failure nothing is left at o->out and a previous vindex there
 * is untouched. An interrupted or killed run is not resumed: it leaves at most a
 * temporary directory, which the next run beside the same OUT removes (with a warning).
 * Errors: VX_EUSAGE, VX_EEXIST, VX_ENOTFOUND, VX_ECORRUPT, VX_EUNSUPPORTED, VX_EIO,
 * VX_ENOMEM, VX_EINTERRUPTED.
 */
int vx_extract(const vx_extract_opts *o, vx_err *err);

/* ---------------------------------------------------------------------- merge */

typedef struct vx_merge_opts {
    const char *const *parts;  /* part directories written by vx_extract with opts.part */
    size_t n_parts;
    const char *out;           /* the vindex to write */
    int force;                 /* replace an existing OUT (only by the final rename) */
    int threads;               /* threads for checking the result; 0 = all CPUs */
    void (*warn)(void *ctx, const char *msg); /* may be NULL */
    void *ctx;
} vx_merge_opts;

/*
 * Join parts into the vindex at o->out (spec/parts.md): every part's files checked
 * against its SHA256SUMS, the parts shown to come from one checkpoint (the same
 * config.json and source files) extracted with one set of options by one build, their
 * layer ranges shown to cover every layer exactly once; the result is byte-identical in
 * every data file (and so in its content digest) to a single extraction with the same
 * kernels, and is verified (vx_verify) before it is renamed into place. Parts from
 * different BLAS kernels or thread counts are merged with a warning (P6). Nothing is
 * left at o->out on failure. Errors: VX_EUSAGE, VX_EEXIST, VX_ENOTFOUND, VX_ECORRUPT
 * (a damaged or altered part), VX_EMISMATCH (parts that do not belong together: another
 * checkpoint, other options, overlapping or missing layers), VX_EIO, VX_ENOMEM.
 */
int vx_merge(const vx_merge_opts *o, vx_err *err);

/* ------------------------------------------------------------- open / inspect */

/* An open vindex: every file validated against index.json and mapped read-only. */
typedef struct vx_index vx_index;

typedef struct vx_info {
    uint32_t num_layers;    /* L */
    uint32_t num_feats;     /* F */
    uint32_t hidden_size;   /* H */
    uint32_t vocab_size;    /* V: rows of embeddings.bin */
    uint32_t intermediate_size;
    uint32_t top_k;         /* K of down_meta.bin */
    float embed_scale;      /* multiply embeddings by this at run time (Gemma: sqrt(H)) */
    float norm_offset;      /* already added to norms.bin values (Gemma: 1) */
    int tied_embeddings;
    uint64_t embed_clamped;     /* embedding values clamped to the f16 range at extraction */
    const char *model;          /* source repo id or path as given to extract */
    const char *model_type;     /* config.json model_type, e.g. "qwen3" */
    const char *architecture;   /* e.g. "Qwen3ForCausalLM" */
    const char *dtype;          /* source checkpoint dtype, e.g. "bfloat16" */
    const char *path;           /* directory the vindex was opened from */
} vx_info;

/*
 * Open the vindex in directory `dir`. Parses index.json, checks every file's size
 * against it before mapping (so a truncated file is an error, never SIGBUS), and
 * validates the headers of down_meta.bin and vocab.bin. Hashes are not checked here
 * (see vx_verify). Errors: VX_ENOTFOUND, VX_ECORRUPT, VX_EUNSUPPORTED, VX_EIO, VX_ENOMEM.
 */
int vx_open(vx_index **out, const char *dir, vx_err *err);

/* Unmap and free. Accepts NULL. Every pointer borrowed from `vx` becomes invalid. */
void vx_close(vx_index *vx);

/* Borrowed; valid until vx_close. */
const vx_info *vx_get_info(const vx_index *vx);

/* manifest.json (provenance) as read at open, NUL-terminated, *len bytes; NULL when the
 * vindex has none (vx_verify reports that). Borrowed; valid until vx_close. */
const char *vx_manifest(const vx_index *vx, size_t *len);

/* index.json as opened by vx_open, NUL-terminated, *len bytes; NULL (and *len 0) when out
 * of memory. Opened through the same directory descriptor as the other files (R-O5), so
 * it describes the mapped files even while the vindex at that path is being replaced (by
 * rename: a file changed in place under an open vindex is changed under its maps too).
 * Copied from the map on the first call. Borrowed; valid until vx_close. */
const char *vx_index_json(const vx_index *vx, size_t *len);

/*
 * The read-only mapping of file `name` of the vindex ("norms.bin", "down_meta.bin", ...;
 * every file vx_open maps): *data and *size bytes, headers included. For bindings that
 * expose the arrays in place (python/vindex); shapes and dtypes are index.json's "files".
 * *data may be NULL when *size is 0. Borrowed; valid until vx_close.
 * Errors: VX_ENOTFOUND when `name` is not a file this vindex maps.
 */
int vx_file_map(const void **data, size_t *size, const vx_index *vx, const char *name, vx_err *err);

/* Access patterns for vx_advise. */
typedef enum {
    VX_ADVISE_KEEP = 0, /* default: pages a query reads stay mapped for the next query */
    VX_ADVISE_ONCE = 1, /* this process answers a few queries and exits: full scans read
                         * their rows through small per-thread buffers instead of the maps
                         * (VINDEX_SCAN=map: from the maps, dropping the pages they have
                         * read from the resident set as they go), so peak RSS stays small
                         * and a file that shrinks under the scan is an error (VX_EIO) */
    VX_ADVISE_ONCE_MAPPED = 2 /* as ONCE, but the process's work is a scan the resident set
                         * may hold: a scan of at most 128 MiB reads the maps (no copy)
                         * when the page cache holds its rows in 2 MiB folios, and
                         * drops the mappings of what it read after it */
} vx_advice;
/* Set the access pattern of `vx`. Call before queries, not concurrently with them. */
void vx_advise(vx_index *vx, vx_advice advice);

/*
 * Re-check that no mapped file changed size since vx_open. A vindex is replaced by
 * rename (old maps stay valid), but a file truncated in place under a live map would
 * raise SIGBUS on the next touch of a page past its new end; long-running callers check
 * here between queries. Errors: VX_ECORRUPT naming the file and both sizes.
 */
int vx_revalidate(const vx_index *vx, vx_err *err);

/* Kinds of feature direction. */
typedef enum { VX_GATE = 0, VX_DOWN = 1 } vx_kind;

/* Borrowed views into the map, valid until vx_close. Values are IEEE binary16 bits. */
const uint16_t *vx_features(const vx_index *vx, vx_kind kind); /* [L][F][H] f16 */
const uint16_t *vx_embeddings(const vx_index *vx);             /* [V][H] f16 */
/* Singular values of layer `layer`, descending: [F] f32. NULL if out of range. */
const float *vx_sigma(const vx_index *vx, vx_kind kind, uint32_t layer);

/* One vocabulary projection entry of down_meta.bin. */
typedef struct vx_proj { uint32_t token_id; float value; } vx_proj;
/*
 * Top-K most positive (`pos`) and most negative (`neg`) projections of feature
 * (layer, feat, kind); each array holds vx_get_info()->top_k entries, sorted by
 * decreasing |value|. Borrowed from the map. Errors: VX_ENOTFOUND (out of range).
 */
int vx_feature_proj(const vx_proj **pos, const vx_proj **neg, const vx_index *vx,
                    uint32_t layer, uint32_t feat, vx_kind kind, vx_err *err);

/* Token strings. `raw` is the vocabulary form (ĠParis), `text` the readable UTF-8
 * form (" Paris"). Borrowed from the map, NOT NUL-terminated; lengths in bytes.
 * Errors: VX_ENOTFOUND when id >= vocab_size; VX_ECORRUPT when the id's entry in
 * vocab.bin is damaged (vx_open checks that file's header; each lookup its entry). */
int vx_token_str(const char **raw, size_t *raw_len, const char **text, size_t *text_len,
                 const vx_index *vx, uint32_t id, vx_err *err);

/* ------------------------------------------- version 2: battery, unembedding, digest */

/* Format version of an open vindex (index.json "version": 1 or 2). */
uint32_t vx_format_version(const vx_index *vx);

/* Full singular spectrum of layer `layer`'s gate or down matrix (spectra.bin, spec §9
 * R-B1): [H] f32, descending. Borrowed from the map; NULL when the vindex has no
 * spectra.bin (format version 1) or `layer` is out of range. */
const float *vx_spectrum(const vx_index *vx, vx_kind kind, uint32_t layer);

/* The three MLP matrices of the battery (spec §9 R-B2, R-B3). */
typedef enum { VX_MAT_GATE = 0, VX_MAT_UP = 1, VX_MAT_DOWN = 2 } vx_mat;

/* Whole-matrix statistics of one MLP matrix (index.json layers[l].weights). */
typedef struct vx_weight_stats {
    uint64_t rows, cols;     /* shape in spec §3's orientation (MoE: experts stacked) */
    double fro;              /* Frobenius norm */
    double sparsity[5];      /* fraction of entries with |w| < 1e-6, 1e-4, 1e-3, 1e-2, 1e-1 */
} vx_weight_stats;
/* Errors: VX_ENOTFOUND when the vindex has no battery, the layer is out of range, or the
 * MLP has no such matrix (a plain MLP has no up matrix). */
int vx_weight_stats_get(vx_weight_stats *out, const vx_index *vx, uint32_t layer, vx_mat which, vx_err *err);

/* Per-neuron norms of one matrix of layer `layer` (neurons.bin, R-B2): `*count` f32
 * values, borrowed from the map. NULL (and *count = 0) when absent as above. */
const float *vx_neuron_norms(const vx_index *vx, uint32_t layer, vx_mat which, uint64_t *count);

/* Vocabulary-projection moments (moments.bin, R-B4): [L][2][F][4] f32 as
 * {mean, std, skew, excess kurtosis}, borrowed; NULL when the vindex has none. */
const float *vx_moments(const vx_index *vx);

/* The unembedding [V][H] f16 (R-B5): unembed.bin when kept, the embeddings when tied,
 * NULL when the model is untied and the unembedding was not kept. Borrowed. */
const uint16_t *vx_unembedding(const vx_index *vx);

/* Content digest of the vindex in `dir` (R-B6) from its SHA256SUMS, as 64 lowercase hex
 * digits and a NUL. Reads SHA256SUMS only (hashes are verify's to check). Errors:
 * VX_ENOTFOUND, VX_ECORRUPT, VX_EIO. */
int vx_content_digest(char hex[65], const char *dir, vx_err *err);

/* -------------------------------------------------------------------- verify */

/*
 * Check a vindex completely: every file's SHA-256 against SHA256SUMS on `threads` threads
 * (<= 0: the cores online, or VINDEX_THREADS; large files by the chunk digests index.json
 * records, spec R-I10), SHA256SUMS covering exactly the files present, and all structure
 * (sizes vs shapes, headers, tables, xxh3 in index.json, NaN/Inf counts). `report(ctx, line)` is called
 * once per problem with "FILE: problem". Returns 0 when all holds, VX_EMISMATCH when
 * problems were reported (count in *problems), other codes when the check could not run.
 */
int vx_verify(const char *dir, int threads, void (*report)(void *ctx, const char *line),
              void *ctx, int *problems, vx_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VINDEX_H */
