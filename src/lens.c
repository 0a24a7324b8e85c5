/*
 * lens.c — the logit lens (spec/queries.md §6): a vector through the final norm, then
 * through every row of the unembedding with the scan kernels (kern.h: f16 rows from the
 * map, f32 in the canonical order), keeping the largest and the smallest logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"
#include "vx_lens.h"
#include "vxindex.h"

#define LENS_CHUNK 256

typedef struct lens_job {
    const uint16_t *U; size_t V, H;
    const float *q;            /* [pad(H)] normalised query */
    const vx_kern *kern;
    size_t top, lo, hi;
    vx_lens_hit *pos, *neg;    /* [top] each, kept sorted */
    size_t npos, nneg;
} lens_job;

/* Insert into a sorted list of at most `top` (desc: largest first). Ties keep the lower id,
 * which arrives first (ids increase within a job; jobs merge in id order). */
static void keep(vx_lens_hit *l, size_t *n, size_t top, uint32_t id, float x, int desc) {
    if (*n == top && (desc ? !(x > l[top - 1].logit) : !(x < l[top - 1].logit))) return;
    size_t p = *n < top ? (*n)++ : top - 1;
    while (p > 0 && (desc ? x > l[p - 1].logit : x < l[p - 1].logit)) { l[p] = l[p - 1]; p--; }
    l[p] = (vx_lens_hit){ id, x };
}

static void *lens_worker(void *arg) {
    lens_job *j = arg;
    float dot[LENS_CHUNK], ss[LENS_CHUNK];
    for (size_t r0 = j->lo; r0 < j->hi; r0 += LENS_CHUNK) {
        size_t m = j->hi - r0 < LENS_CHUNK ? j->hi - r0 : LENS_CHUNK;
        j->kern->dot_ss(dot, ss, j->U + r0 * j->H, m, j->H, j->q);
        for (size_t i = 0; i < m; i++) {
            keep(j->pos, &j->npos, j->top, (uint32_t)(r0 + i), dot[i], 1);
            keep(j->neg, &j->nneg, j->top, (uint32_t)(r0 + i), dot[i], 0);
        }
    }
    return NULL;
}

static const float *norm_named(const vx_index *vx, const char *name, uint64_t H) {
    for (size_t i = 0; i < vx->meta.n_norms; i++)
        if (!strcmp(vx->meta.norms[i].name, name) && vx->meta.norms[i].count == H)
            return vx->norms + vx->meta.norms[i].offset / 4;
    return NULL;
}

int vx_lens(vx_lens_hit *pos, vx_lens_hit *neg, size_t *n, vx_lens_info *info, const vx_index *vx, const vx_query *q,
            size_t top, vx_err *err) {
    const vx_meta *m = &vx->meta;
    size_t H = m->hidden_size, V = m->vocab_size;
    *n = 0;
    if (!q || q->dim != H) return vx_fail(err, VX_EUSAGE, "lens: the vector has %u values, the model %zu", q ? q->dim : 0, H);
    if (top == 0) return vx_fail(err, VX_EUSAGE, "lens: --top must be at least 1");
    const uint16_t *U = vx_unembedding(vx);
    if (!U)
        return vx_fail(err, VX_EUNSUPPORTED, "%s: the model's unembedding is not the embedding matrix (untied) and this "
                       "vindex does not keep it: extract again with --unembed to use the lens", vx->dir);
    const float *w = norm_named(vx, "norm", H), *b = norm_named(vx, "norm.bias", H);
    if (!w) return vx_fail(err, VX_ENOTFOUND, "%s/norms.bin: no final norm \"norm\" of %zu values", vx->dir, H);
    vx_lens_info in = { b != NULL, m->norm_eps >= 0 ? m->norm_eps : 0.0, m->norm_eps >= 0, m->tied_embeddings,
                        m->embed_scale };

    /* the final norm, in double: RMSNorm x / √(mean x² + ε) ⊙ w, or LayerNorm
     * (x − μ) / √(var + ε) ⊙ w + b; a token's embedding enters scaled as the model reads it */
    double scale = q->token_id >= 0 || q->n_pieces ? m->embed_scale : 1.0, mu = 0, ms = 0;
    for (size_t h = 0; h < H; h++) mu += scale * q->vec[h];
    mu = in.layernorm ? mu / (double)H : 0.0;
    for (size_t h = 0; h < H; h++) {
        double x = scale * q->vec[h] - mu;
        ms += x * x;
    }
    double r = 1.0 / sqrt(ms / (double)H + in.norm_eps);
    size_t Hp = vx_kern_pad(H);
    float *qn = calloc(Hp, sizeof *qn);
    int T = V * H >= vx_kern_env("VINDEX_MT_MIN", (size_t)1 << 22) ? vx_kern_threads() : 1;
    lens_job *jobs = calloc((size_t)T, sizeof *jobs);
    vx_lens_hit *lists = malloc(sizeof *lists * 2 * top * (size_t)T);
    if (!qn || !jobs || !lists) {
        free(qn); free(jobs); free(lists);
        return vx_fail(err, VX_ENOMEM, "lens: out of memory");
    }
    if (!isfinite(r)) r = 0; /* a zero vector has no direction: every logit is the bias's */
    for (size_t h = 0; h < H; h++) qn[h] = (float)((scale * q->vec[h] - mu) * r * w[h] + (b ? b[h] : 0.0f));
    const vx_kern *kern = vx_kern_active();
    for (int t = 0; t < T; t++)
        jobs[t] = (lens_job){ U, V, H, qn, kern, top, V * (size_t)t / (size_t)T, V * (size_t)(t + 1) / (size_t)T,
                              lists + 2 * top * (size_t)t, lists + 2 * top * (size_t)t + top, 0, 0 };
    vx_run_parallel(lens_worker, jobs, sizeof *jobs, T);
    size_t np = 0, nn = 0;
    for (int t = 0; t < T; t++) { /* jobs hold increasing id ranges: merging in order keeps ties to the lower id */
        for (size_t i = 0; i < jobs[t].npos; i++) keep(pos, &np, top, jobs[t].pos[i].token_id, jobs[t].pos[i].logit, 1);
        for (size_t i = 0; i < jobs[t].nneg; i++) keep(neg, &nn, top, jobs[t].neg[i].token_id, jobs[t].neg[i].logit, 0);
    }
    *n = np;
    if (info) *info = in;
    free(qn); free(jobs); free(lists);
    return VX_OK;
}
