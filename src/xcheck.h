/*
 * xcheck.h — the checks and sizes `extract` and `plan` share, so that a plan states what
 * an extraction then does (spec/plan.md): the options' ranges, and F and K as capped by
 * the checkpoint (R-E2).
 */
#ifndef VX_SRC_XCHECK_H
#define VX_SRC_XCHECK_H

#include "checkpoint.h"
#include "vindex.h"

/* --features and --top-k in range; OUT absent unless --force (when o->out is set).
 * Errors: VX_EUSAGE, VX_EEXIST. */
int vx_xcheck_opts(const vx_extract_opts *o, vx_err *err);

/* R-E2: F = --features capped at the smallest rank bound over every layer and kind,
 * K = --top-k capped at V; *capped_f / *capped_k say whether they were. Errors:
 * VX_ECORRUPT when a layer has no MLP vectors. */
int vx_xcheck_caps(size_t *F, size_t *K, int *capped_f, int *capped_k, const vx_model *m, const vx_extract_opts *o,
                   vx_err *err);

/* The layers A..B an extraction computes: all, or a part's (o->part: spec/parts.md), the
 * range checked against the checkpoint's layers. Errors: VX_EUSAGE (a range past the last
 * layer), VX_ECORRUPT (a model without layers). */
int vx_xcheck_layers(size_t *A, size_t *B, const vx_model *m, const vx_extract_opts *o, vx_err *err);

/* The vocabulary projection's score tile: as many vocabulary rows as fill this many bytes of
 * f32 scores over the model's 2·L·F directions: taller tiles run the product faster
 * (doc/benchmarks.md, the extraction's change table). */
#define VX_PROJ_TILE_BYTES (48u << 20)
/* Vectors converted to f32 per Gram update (one chunk buffer of H floats each). */
#define VX_CHUNK_VECTORS 1024

#endif
