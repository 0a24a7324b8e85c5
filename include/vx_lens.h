/*
 * vx_lens.h — the logit lens: what a direction in the residual stream *writes* — the
 * logits the model's own head gives it, through its final norm and its unembedding
 * (spec/queries.md §6). Conventions are vindex.h's.
 */
#ifndef VX_LENS_H
#define VX_LENS_H

#include <stddef.h>
#include <stdint.h>

#include "vindex.h"
#include "vx_query.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vx_lens_hit {
    uint32_t token_id;
    float logit;
} vx_lens_hit;

/* How a lens was computed (for the output's header). */
typedef struct vx_lens_info {
    int layernorm;          /* 1: LayerNorm (final norm has a bias, GPT-2); 0: RMSNorm */
    double norm_eps;        /* the epsilon used (index.json norm_eps; 0 when not recorded) */
    int eps_recorded;       /* 0 when the vindex does not record it (version 1) */
    int tied;               /* 1: the unembedding is the embedding matrix */
    float embed_scale;      /* applied to a token query's embedding (Gemma: √H) */
} vx_lens_info;

/*
 * logits = U · norm(v) for the query's vector v, U the unembedding [V][H] (unembed.bin, or
 * the embeddings when tied), norm the model's final norm as norms.bin stores it
 * (spec/queries.md §6). A token query's embedding is first multiplied by embed_scale.
 * pos receives the `top` largest logits (descending), neg the `top` smallest (ascending),
 * ties to the lower id; *n = min(top, V). `info` may be NULL.
 * Errors: VX_EUNSUPPORTED (an untied model extracted without --unembed: nothing to project
 * through; the message says how to get it), VX_ENOTFOUND (no final norm in norms.bin),
 * VX_EUSAGE (top 0, dimension mismatch), VX_ENOMEM.
 */
int vx_lens(vx_lens_hit *pos, vx_lens_hit *neg, size_t *n, vx_lens_info *info, const vx_index *vx, const vx_query *q,
            size_t top, vx_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VX_LENS_H */
