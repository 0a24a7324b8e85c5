/*
 * vxindex.h — the inside of a vx_index, shared by the files of src/ that answer queries
 * (open.c, query code, compare, verify). Not installed; cli/ never sees it.
 */
#ifndef VX_SRC_VXINDEX_H
#define VX_SRC_VXINDEX_H

#include <pthread.h>

#include "common.h"
#include "tokenizer.h"
#include "vindex.h"
#include "vocab.h"
#include "vxmeta.h"

/* What a vx_index builds on first use and keeps until vx_close, under `mu` (queries take
 * the index as const). The tokenizer (token.c): a batch of text queries parses
 * tokenizer.json once; a failed parse is remembered too (except for VX_ENOMEM) and
 * reported to every caller. index.json's NUL-terminated copy (vx_index_json). */
typedef struct vx_cache {
    pthread_mutex_t mu;
    int loaded;
    int rc;
    vx_err err;
    vx_tokenizer *tok;
    char *index_json;
} vx_cache;

/* Mapped files: the six every vindex has, then version 2's optional ones (spec §9),
 * mapped only when index.json lists them (an unmapped slot has data NULL, fd -1). */
enum { VXF_GATE, VXF_DOWN, VXF_EMB, VXF_DMETA, VXF_NORMS, VXF_VOCAB, VXF_REQUIRED,
       VXF_SPECTRA = VXF_REQUIRED, VXF_NEURONS, VXF_MOMENTS, VXF_UNEMBED, VXF_COUNT };

struct vx_index {
    char *dir;
    vx_meta meta;
    vx_info info;
    vx_map map[VXF_COUNT];      /* gate_vectors, down_features, embeddings, down_meta, norms, vocab,
                                 * spectra, neurons, moments, unembed */
    vx_vocab vocab;             /* view into map[VXF_VOCAB], its header checked */
    const uint16_t *gate;       /* [L][F][H] f16 */
    const uint16_t *down;       /* [L][F][H] f16 */
    const uint16_t *emb;        /* [V][H] f16 */
    const uint8_t *dmeta;       /* records after the header: [L][2][F] x 2K x {u32, f32} */
    const float *norms;         /* norms_bytes / 4 f32; NULL when empty */
    const float *spectra;       /* [L][2][H] f32, NULL without a battery */
    const float *neurons;       /* neurons_bytes / 4 f32, NULL without a battery */
    const float *moments;       /* [L][2][F][4] f32, NULL without a battery */
    const uint16_t *unemb;      /* [V][H] f16: unembed.bin, the embeddings when tied, or NULL */
    vx_advice advice;           /* VX_ADVISE_ONCE*: scans release pages behind them */
    char *manifest;             /* manifest.json, read through the same directory fd; may be NULL */
    size_t manifest_len;
    vx_map index_map;           /* index.json, parsed at open from this map */
    vx_cache *cache;            /* never NULL after vx_open */
};

/* vx_open for a directory already opened as `dfd` (every file is opened relative to it);
 * `dir` is used for messages and vx_info.path. */
int vx_open_at(vx_index **out, int dfd, const char *dir, vx_err *err);

/* Every entry and bucket of vocab.bin (V10..V12), for a pass over the whole vocabulary:
 * vx_open checks only its header, and single lookups the entries they read. */
int vx_vocab_check(const vx_index *vx, vx_err *err);

/* A one-shot process (VX_ADVISE_ONCE or ONCE_MAPPED): keep its resident set to its working set. */
static inline int vx_once(const vx_index *vx) { return vx->advice != VX_ADVISE_KEEP; }

/* File name of a VXF_* slot. */
extern const char *const vx_slot_names[VXF_COUNT];

#endif
