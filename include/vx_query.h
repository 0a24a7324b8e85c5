/*
 * vx_query.h — questions about the weights of an open vindex, answered from the maps:
 * which features align with a token (score), which tokens and features lie nearest to a
 * token, a feature or any vector (nearest), and the pieces `describe` is built from.
 * What each query computes, exactly, is spec/queries.md.
 *
 * Conventions are vindex.h's: int results (0 or a negative VX_E* code), `vx_err *` last
 * (may be NULL), out-parameters first. Result arrays are supplied by the caller and hold
 * plain values (ids, layers, cosines) — nothing in them points into the vindex. A
 * vx_query is owned by the caller and released with vx_query_free; it does not borrow
 * from the vx_index, which may be closed before it.
 *
 * All calls are safe to make from several threads on one vx_index (it is read-only).
 * Large scans use the CPU's cores (VINDEX_THREADS overrides the count) and the best
 * kernel the CPU supports (VINDEX_KERNEL=scalar|avx2|avx512 forces one); results are
 * identical whichever kernel runs.
 */
#ifndef VX_QUERY_H
#define VX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A query direction in the model's hidden space, and where it came from. */
typedef struct vx_query {
    uint32_t dim;          /* H */
    float *vec;            /* [H] f32: an embedding row (unscaled), a mean, a feature or a vector */
    int64_t token_id;      /* the single token this is the embedding of; -1 otherwise */
    uint32_t *pieces;      /* [n_pieces] tokens whose embeddings were averaged (text), else NULL */
    size_t n_pieces;
    int is_feature;        /* 1 when made by vx_query_feature: */
    uint32_t layer, feature;
    vx_kind kind;
} vx_query;

/* Flags of vx_query_token. */
enum {
    VX_TOKEN_TEXT = 1      /* read the argument as text: split it with the model's tokenizer
                            * and use the mean of the pieces' embeddings */
};

/*
 * Resolve a token argument to one token id (spec/queries.md §1), in this order:
 * "#123" is an id; else the argument as readable text converted to the vocabulary's raw
 * form (" Paris", "½"); else as a raw vocabulary string ("ĠParis", "▁Paris") when that
 * token spells whole characters (a byte-level token for part of a character is reached
 * by #id only).
 * Errors: VX_ENOTFOUND — id out of range, or a word the vocabulary does not hold as one
 * token; the message then lists the pieces the model's tokenizer splits it into (read
 * from the vindex's tokenizer.json) and suggests --text. VX_EUSAGE for an empty argument.
 */
int vx_token_resolve(uint32_t *id, const vx_index *vx, const char *arg, vx_err *err);

/*
 * *out = the embedding of the token `arg` resolves to, or with VX_TOKEN_TEXT the mean of
 * the embeddings of the pieces the tokenizer splits `arg` into. Owned by the caller.
 * Errors: those of vx_token_resolve; VX_ENOTFOUND / VX_EUNSUPPORTED / VX_ECORRUPT from
 * the tokenizer (text that cannot be encoded, a missing or bad tokenizer.json); VX_ENOMEM.
 */
int vx_query_token(vx_query **out, const vx_index *vx, const char *arg, unsigned flags, vx_err *err);

/* *out = feature (layer, feat, kind)'s direction converted to f32. Owned by the caller.
 * Errors: VX_ENOTFOUND (out of range), VX_ENOMEM. */
int vx_query_feature(vx_query **out, const vx_index *vx, uint32_t layer, uint32_t feat, vx_kind kind,
                     vx_err *err);

/* *out = a copy of v [n]. Errors: VX_EUSAGE when n != H or a value is not finite. */
int vx_query_vector(vx_query **out, const vx_index *vx, const float *v, size_t n, vx_err *err);

/* *out = the vector in file `path`: exactly H little-endian f32 values, nothing else.
 * Errors: VX_ENOTFOUND, VX_EIO, VX_EUSAGE (wrong size, non-finite values), VX_ENOMEM. */
int vx_query_vector_file(vx_query **out, const vx_index *vx, const char *path, vx_err *err);

/* Release a query. Accepts NULL. */
void vx_query_free(vx_query *q);

/* Parse "L:F", "L:F:gate" or "L:F:down" (kind defaults to gate) and check the range.
 * Errors: VX_EUSAGE (malformed), VX_ENOTFOUND (layer or feature out of range). */
int vx_feature_parse(uint32_t *layer, uint32_t *feat, vx_kind *kind, const vx_index *vx, const char *spec,
                     vx_err *err);

/* One feature of a ranking. */
typedef struct vx_feat_hit {
    uint32_t layer, feature;
    vx_kind kind;
    float cosine;          /* signed, in [-1, 1]; 0 when either vector has norm 0 */
} vx_feat_hit;

/* One token of a ranking. */
typedef struct vx_tok_hit {
    uint32_t token_id;
    float cosine;
} vx_tok_hit;

/* Kind selection bits. */
enum { VX_KINDS_GATE = 1, VX_KINDS_DOWN = 2, VX_KINDS_BOTH = 3 };

typedef struct vx_score_opts {
    size_t top;            /* results per query (default 20) */
    uint32_t layer_lo;     /* first layer (default 0) */
    uint32_t layer_hi;     /* last layer, inclusive (default UINT32_MAX = the last) */
    unsigned kinds;        /* VX_KINDS_* (default both) */
    int signed_rank;       /* 0: rank by |cosine| (default); 1: by cosine, largest first */
} vx_score_opts;

/* Fill `o` with the defaults above. */
void vx_score_opts_init(vx_score_opts *o);

/*
 * Rank the selected features by their cosine with each of the nq queries
 * (spec/queries.md §3). out is [nq][o->top], caller-allocated; n_out[i] receives the
 * number of hits of query i (min(top, candidates)). A feature query never ranks itself.
 * Several queries are answered together: from a few on, features are converted to f32
 * in tiles and multiplied by BLAS sgemm (cosines then agree with the one-query scan to
 * ~1e-6, see spec/queries.md §2). Errors: VX_EUSAGE (bad options, top 0, layer range
 * empty or out of range, dimension mismatch), VX_ENOMEM.
 */
int vx_score(vx_feat_hit *out, size_t *n_out, const vx_index *vx, const vx_query *const *qs, size_t nq,
             const vx_score_opts *o, vx_err *err);

/*
 * The k tokens whose embeddings have the largest cosine with each query, largest first
 * (spec/queries.md §4); a single-token query never ranks its own token. out is [nq][k],
 * caller-allocated; n_out[i] as for vx_score. Scans the embedding matrix from the map
 * (both cores), or by tiles and sgemm for several queries. Errors: VX_EUSAGE, VX_ENOMEM.
 */
int vx_nearest_tokens(vx_tok_hit *out, size_t *n_out, const vx_index *vx, const vx_query *const *qs, size_t nq,
                      size_t k, vx_err *err);

/* Name of a kind: "gate" or "down". */
const char *vx_kind_name(vx_kind kind);

#ifdef __cplusplus
}
#endif
#endif /* VX_QUERY_H */
