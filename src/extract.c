/*
 * extract.c — checkpoint → vindex. The pipeline (spec/vindex-format.md §E):
 *
 *   1. open the checkpoint (format/checkpoint.h): shards mapped, names mapped to roles;
 *   2. per layer (or per layer of a part's range, spec/parts.md), the top-F singular
 *      directions of the stacked gate matrix (its rows) and of the stacked down matrix
 *      (its columns): a single-precision Gram matrix built from chunks converted out of
 *      the map (on VDPBF16PS for BF16, MXFP4 and block-scaled FP8 weights: gram.h), every
 *      eigenvalue and a basis holding the top F eigenvectors (linalg.c: vx_seig_basis),
 *      then a float64 Rayleigh–Ritz pass over the same chunks (see layer_directions). Memory: one H×H
 *      f32 matrix (two while its spectrum is reduced), the H×(F+32) basis and one chunk —
 *      never a whole checkpoint tensor; mapped pages are released behind each pass;
 *   3. embeddings converted row by row to f16 (round to nearest even, clamped, counted);
 *   4. one pass over the unembedding in vocabulary tiles: tile × (final-norm ⊙ every
 *      direction of every layer) by sgemm, keeping the K largest and K smallest values
 *      per direction;
 *   5. vocab.bin, norms.bin, tokenizer.json, index.json, manifest.json, SHA256SUMS,
 *      all inside a temporary directory beside OUT, fsynced, then renamed into place.
 *
 * The weight battery (spec §9) rides along: while step 2 has a chunk of a gate or down
 * matrix converted it counts sparsity and each vector's squared norm, the eigensolver
 * yields the whole spectrum beside the vectors, one extra pass per
 * layer reads the up matrix for the same statistics, and step 4 accumulates the moments
 * of every projection from the tiles it already has.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "battery.h"
#include "checkpoint.h"
#include "gram.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "outdir.h"
#include "outfile.h"
#include "vindex.h"
#include "vocab.h"
#include "vxmeta.h"
#include "xcheck.h"

/* Slots of the output files (format/outfile.h). */
enum { OF_SPECTRA = VX_OF_SPECTRA, OF_NEURONS = VX_OF_NEURONS, OF_MOMENTS = VX_OF_MOMENTS, OF_UNEMBED = VX_OF_UNEMBED };

void vx_extract_opts_init(vx_extract_opts *o) {
    memset(o, 0, sizeof *o);
    o->features = 128;
    o->top_k = 16;
}

/* ------------------------------------------------------------------ helpers */

static int interrupted(const vx_extract_opts *o, vx_err *err) {
    return o->interrupt && *o->interrupt ? vx_fail(err, VX_EINTERRUPTED, "extraction interrupted; nothing was written at %s", o->out) : VX_OK;
}

static void progress(const vx_extract_opts *o, const char *phase, int layer, int L, uint64_t done, uint64_t total) {
    if (!o->progress) return;
    vx_progress p = { phase, layer, L, done, total };
    o->progress(o->ctx, &p);
}

/* Vectors c0..c0+nc of `s` as f32: rows layout X[nc][H] when the set's vectors are
 * stored rows, columns layout M[H][nc] when they are stored columns — whichever reads
 * the map sequentially. Rows [lo, hi) of that layout only. `stored`: the numbers before
 * their scales (vx_tensor_read_stored; never with interleaved columns, gram.h). */
static void load_rows(float *buf, const vx_vecset *s, uint64_t c0, size_t nc, size_t H, size_t lo, size_t hi, int stored) {
    void (*read)(float *, const vx_tensor *, uint64_t, size_t) = stored ? vx_tensor_read_stored : vx_tensor_read;
    if (!s->by_column)
        for (size_t i = lo; i < hi; i++) read(buf + i * H, s->t, s->offset + (c0 + i) * s->ld, H);
    else
        for (size_t j = lo; j < hi; j++) {
            if (s->step > 1) /* interleaved columns: every step-th element */
                for (size_t i = 0; i < nc; i++) buf[j * nc + i] = vx_tensor_get(s->t, s->offset + j * s->ld + (c0 + i) * s->step);
            else
                read(buf + j * nc, s->t, s->offset + j * s->ld + c0, nc);
        }
}

typedef struct load_job { float *buf; const vx_vecset *s; uint64_t c0; size_t nc, H, lo, hi; int stored; } load_job;

static void *load_job_run(void *arg) {
    load_job *j = arg;
    load_rows(j->buf, j->s, j->c0, j->nc, j->H, j->lo, j->hi, j->stored);
    return NULL;
}

/* The conversion is the serial part of each Gram update (BLAS waits for it; dequantising
 * FP8 experts is a few seconds per MoE layer), so a large chunk is split across the
 * BLAS thread count. Every element is converted the same way whatever the split. */
#define LOAD_SPLIT_MIN (256u << 10) /* elements per chunk before it is split */
static void load_chunk(float *buf, const vx_vecset *s, uint64_t c0, size_t nc, size_t H, int stored) {
    size_t rows = s->by_column ? H : nc;
    int T = vx_threads_cap(vx_blas_threads_get());
    if (T < 2 || nc * H < LOAD_SPLIT_MIN || rows < (size_t)T) {
        load_rows(buf, s, c0, nc, H, 0, rows, stored);
        return;
    }
    load_job jobs[VX_THREADS_MAX];
    for (int k = 0; k < T; k++)
        jobs[k] = (load_job){ buf, s, c0, nc, H, rows * (size_t)k / (size_t)T, rows * (size_t)(k + 1) / (size_t)T, stored };
    vx_run_parallel(load_job_run, jobs, sizeof jobs[0], T);
}

/* A chunk loaded as stored numbers, times its scales (vx_vecset_scales): each product is
 * the one vx_tensor_read forms, so the chunk is then what load_chunk(…, 0) gives. */
static void apply_scales(float *buf, const vx_vecset *s, size_t nc, size_t H, const float *sc, size_t slab) {
    size_t ng = H / VX_SCALE_GROUP;
    if (!s->by_column)
        for (size_t i = 0; i < nc; i++)
            for (size_t g = 0; g < ng; g++) {
                float v = sc[i / slab * ng + g], *x = buf + i * H + g * VX_SCALE_GROUP;
                for (size_t h = 0; h < VX_SCALE_GROUP; h++) x[h] *= v;
            }
    else
        for (size_t h = 0; h < H; h++)
            for (size_t i0 = 0; i0 < nc; i0 += slab) {
                float v = sc[i0 / slab * ng + h / VX_SCALE_GROUP], *x = buf + h * nc;
                for (size_t i = i0; i < nc && i < i0 + slab; i++) x[i] *= v;
            }
}

/* Deterministic sign (spec R-E3): the entry of largest magnitude, judged on the stored f16
 * values with the lowest index winning ties, is positive. Fills f16 and the f32 copy. */
static void fix_sign(uint16_t *h16, float *f32, const double *v, size_t H) {
    size_t best = 0;
    uint16_t bm = 0;
    for (size_t j = 0; j < H; j++) {
        h16[j] = vx_f32_to_f16((float)v[j]);
        uint16_t m = h16[j] & 0x7fff;
        if (m > bm) { bm = m; best = j; }
    }
    int flip = (h16[best] & 0x8000) != 0;
    for (size_t j = 0; j < H; j++) {
        if (flip) h16[j] ^= 0x8000;
        f32[j] = (flip ? -1.0f : 1.0f) * (float)v[j];
    }
}

/*
 * Top-F directions of one layer and kind: writes [F][H] f16, keeps f32 copies in dirs.
 *
 * The directions are the top eigenvectors of the Gram matrix G = Σ v vᵀ over the
 * layer's vectors (AᵀA for a gate matrix A, D Dᵀ for a down matrix D). Two passes over
 * the mapped weights (spec R-E1):
 *   1. G in single precision (ssyrk; VDPBF16PS for BF16, MXFP4 and block-scaled FP8
 *      weights, gram.h), every eigenvalue (the battery's spectrum) and k = F + 32
 *      orthonormal vectors whose leading F are eigenvectors of G (vx_seig_basis): a
 *      subspace accurate to ~1e-6, at half the cost of double precision;
 *   2. Rayleigh–Ritz with the exact operator: orthonormalise the basis Q in double,
 *      B = A·Q chunk by chunk, C = BᵀB accumulated in double, eigenpairs of C (k×k).
 *      Ritz values are accurate to second order in the subspace error, so σ matches a
 *      float64 SVD far below the 1e-3 requirement; the 32 extra dimensions absorb the
 *      error of the directions near F.
 */
/* What the battery records about one matrix while its vectors pass by (R-B2, R-B3). */
typedef struct mat_pass {
    double *sq;                         /* [count] squared norm of each vector (neuron), stacked */
    uint64_t below[VX_N_SPARSITY];      /* entries below each sparsity threshold */
    const float *thr;                   /* vx_bat_thresholds */
} mat_pass;

/* Vectors at..at+nc of the stacked matrix, converted in buf as load_chunk left them. */
static void pass_chunk(mat_pass *mp, uint64_t at, const float *buf, const vx_vecset *s, size_t nc, size_t H) {
    vx_bat_count(mp->below, buf, nc * H, mp->thr);
    if (s->by_column) {
        memset(mp->sq + at, 0, sizeof(double) * nc);
        vx_bat_sq_cols(mp->sq + at, buf, H, nc);
    } else
        vx_bat_sq_rows(mp->sq + at, buf, nc, H);
}

/* The up matrix: statistics only, one pass through a caller's chunk buffer [H][VX_CHUNK_VECTORS]. */
static void up_pass(mat_pass *mp, float *buf, const vx_vecset *sets, int nsets, size_t H) {
    uint64_t at = 0;
    for (int s = 0; s < nsets; s++) {
        for (uint64_t c0 = 0; c0 < sets[s].count; c0 += VX_CHUNK_VECTORS) {
            size_t nc = (size_t)(sets[s].count - c0 < VX_CHUNK_VECTORS ? sets[s].count - c0 : VX_CHUNK_VECTORS);
            load_chunk(buf, &sets[s], c0, nc, H, 0);
            pass_chunk(mp, at, buf, &sets[s], nc, H);
            at += nc;
        }
        vx_tensor_release(sets[s].t);
    }
}

/* Whole-matrix statistics and the neuron norms (f32) from a finished pass. */
static void finish_pass(vx_weight_stats *w, float *norms, const mat_pass *mp, uint64_t count, uint64_t rows,
                        uint64_t cols) {
    double ss = 0;
    for (uint64_t i = 0; i < count; i++) {
        ss += mp->sq[i];
        norms[i] = (float)sqrt(mp->sq[i]);
    }
    w->rows = rows;
    w->cols = cols;
    w->fro = sqrt(ss);
    for (int t = 0; t < VX_N_SPARSITY; t++) w->sparsity[t] = (double)mp->below[t] / ((double)rows * (double)cols);
}

/* Pass 2 of layer_directions (the Rayleigh–Ritz projection): Q [H][k] = the basis
 * orthonormalised in double, C [k][k] = Σ over chunks of Bᵀ B with B = (vectors)·Q. */
typedef struct rr_job {
    const vx_vecset *sets; int nsets;
    size_t H, k, chunk;
    const double *Ek;             /* [k][H] the basis from the eigensolver */
    double *Qd, *Bd, *C;
    float *Qf, *B, *buf;
    int rc;
    const char *step;             /* what failed, with rc */
} rr_job;

static void rr_pass(void *arg) {
    rr_job *j = arg;
    size_t H = j->H, k = j->k;
    for (size_t h = 0; h < H; h++) /* Q[H][k]: the eigenvectors as columns */
        for (size_t i = 0; i < k; i++) j->Qd[h * k + i] = j->Ek[i * H + h];
    j->step = "orthonormalisation failed";
    if ((j->rc = vx_dorth_cols(j->Qd, H, k))) return;
    j->step = "projection: bad dimensions";
    for (size_t i = 0; i < H * k; i++) j->Qf[i] = (float)j->Qd[i];
    memset(j->C, 0, sizeof(double) * k * k);
    for (int s = 0; s < j->nsets && j->rc == VX_OK; s++)
        for (uint64_t c0 = 0; c0 < j->sets[s].count && j->rc == VX_OK; c0 += j->chunk) {
            const vx_vecset *vs = &j->sets[s];
            size_t nc = (size_t)(vs->count - c0 < j->chunk ? vs->count - c0 : j->chunk);
            load_chunk(j->buf, vs, c0, nc, H, 0);
            /* B[nc][k] = (vectors as rows) · Q */
            j->rc = vs->by_column ? vx_sgemm(1, 0, nc, k, H, j->buf, nc, j->Qf, k, j->B, k)
                                  : vx_sgemm(0, 0, nc, k, H, j->buf, H, j->Qf, k, j->B, k);
            for (size_t i = 0; i < nc * k; i++) j->Bd[i] = j->B[i];
            if (j->rc == VX_OK) j->rc = vx_gram_rows(j->C, k, j->Bd, nc);
        }
}

static int layer_directions(vx_outfile *out, float *dirs, float *sigma, float *spectrum, mat_pass *mp,
                            const vx_vecset *sets, int nsets, size_t H, size_t F, const char *what, int layer,
                            vx_err *err) {
    size_t k = F + 32 < H ? F + 32 : H, chunk = VX_CHUNK_VECTORS;
    uint64_t total = 0;
    for (int s = 0; s < nsets; s++) total += sets[s].count;
    double *all = malloc(sizeof(double) * H);
    /* big buffers populated up front (mem.h): G alone is 64 MB at H = 4096, and ssyrk
     * faulting it in page by page cost as much as the product itself */
    float *G = vx_big_array(H * H, sizeof(float)), *buf = vx_big_array(H * chunk, sizeof(float));
    float *Qf = vx_big_array(H * k, sizeof(float)), *B = vx_big_array(chunk * k, sizeof(float));
    double *Qd = vx_big_array(H * k, sizeof(double)), *Bd = vx_big_array(chunk * k, sizeof(double));
    double *C = calloc(k * k, sizeof(double)), *vals = malloc(sizeof(double) * F);
    double *W = malloc(sizeof(double) * F * k), *V = vx_big_array(F * H, sizeof(double));
    double *ek = malloc(sizeof(double) * k), *Ek = vx_big_array(k * H, sizeof(double));
    uint16_t *h16 = vx_big_array(F * H, 2);
    /* a BF16 or MXFP4 checkpoint's values are bf16 numbers, and an FP8 one's before their
     * scales: their Gram sums by VDPBF16PS (gram.h) */
    int path = vx_gram_path(sets, nsets, H, chunk);
    size_t pw = path != VX_GRAM_BLAS ? vx_bgram_words(H, chunk) : 0;
    uint32_t *P = pw ? vx_big_array(pw, sizeof(uint32_t)) : NULL;
    float *sc = pw && path == VX_GRAM_SCALED ? malloc(sizeof(float) * (chunk / 2 + 1) * (H / VX_SCALE_GROUP)) : NULL;
    int rc = VX_OK;
    if (!all || !G || !buf || !Qf || !B || !Qd || !Bd || !C || !vals || !W || !V || !ek || !Ek || !h16 || (pw && !P) ||
        (pw && path == VX_GRAM_SCALED && !sc)) {
        rc = vx_fail(err, VX_ENOMEM, "layer %d %s: out of memory", layer, what);
        goto out;
    }
    uint64_t at = 0;
    for (int s = 0; s < nsets && rc == VX_OK; s++)
        for (uint64_t c0 = 0; c0 < sets[s].count && rc == VX_OK; c0 += chunk) {
            size_t nc = (size_t)(sets[s].count - c0 < chunk ? sets[s].count - c0 : chunk);
            size_t slab = 0;
            int scaled = sc && vx_vecset_scales(sc, &slab, &sets[s], c0, nc, H), T = vx_blas_threads_get();
            load_chunk(buf, &sets[s], c0, nc, H, scaled);
            /* the Gram only reads buf: a scaled chunk is packed as stored, then scaled for the battery */
            int done = scaled ? !vx_bgram_scaled(G, H, buf, nc, nc, sets[s].by_column, P, T, sc, slab)
                              : P && !sc && !vx_bgram(G, H, buf, nc, nc, sets[s].by_column, P, T);
            if (scaled) apply_scales(buf, &sets[s], nc, H, sc, slab);
            pass_chunk(mp, at, buf, &sets[s], nc, H);
            at += nc;
            if (done) continue;
            rc = sets[s].by_column ? vx_sgram_cols(G, H, buf, nc, nc) : vx_sgram_rows(G, H, buf, nc, 1);
        }
    if (rc) { rc = vx_fail(err, rc, "layer %d %s: Gram matrix: bad dimensions", layer, what); goto out; }
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++)
            if (!isfinite(G[i * H + j])) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: %s%s (layer %d %s): the weights hold NaN or Inf, or their squares overflow",
                             sets[0].t->file, sets[0].t->name, nsets > 1 ? " and the rest of the layer's experts" : "", layer, what);
                goto out;
            }
    /* pass 2 starts inside the eigensolver when it can (beside its serial band reduction),
     * and runs again here if the eigensolver's answer changed after it */
    rr_job rj = { sets, nsets, H, k, chunk, Ek, Qd, Bd, C, Qf, B, buf, VX_OK, "" };
    int early_final = 0;
    if ((rc = vx_seig_basis(ek, Ek, all, G, H, k, F, rr_pass, &rj, &early_final))) {
        rc = vx_fail(err, rc, "layer %d %s: eigensolver failed", layer, what);
        goto out;
    }
    if (!early_final) {
        rj.rc = VX_OK;
        rr_pass(&rj);
    }
    if (rj.rc) { rc = vx_fail(err, rj.rc, "layer %d %s: %s", layer, what, rj.step); goto out; }
    if ((rc = vx_eig_top(vals, W, C, k, F)) || (rc = vx_dgemm(0, 1, F, H, k, W, Qd, V))) {
        rc = vx_fail(err, rc, "layer %d %s: Rayleigh-Ritz step failed", layer, what);
        goto out;
    }
    for (size_t i = 0; i < F; i++) {
        sigma[i] = (float)sqrt(vals[i] > 0 ? vals[i] : 0);
        if (i && sigma[i] > sigma[i - 1]) sigma[i] = sigma[i - 1]; /* float rounding must not break R-I7 */
        fix_sign(h16 + i * H, dirs + i * H, V + i * H, H);
    }
    /* R-B1: σ = √λ of the f32 Gram, 0 beyond the rank bound, the leading F the refined
     * values, and non-increasing across the seam (rounding must not break R-I7). */
    for (size_t i = 0; i < H; i++) {
        float v = i < F ? sigma[i] : i < total ? (float)sqrt(all[i] > 0 ? all[i] : 0) : 0.0f;
        spectrum[i] = i && v > spectrum[i - 1] ? spectrum[i - 1] : v;
    }
    rc = vx_out_write(out, h16, 2 * F * H, err);
    for (int s = 0; s < nsets; s++) vx_tensor_release(sets[s].t);
out:
    vx_big_free(G); vx_big_free(buf); vx_big_free(P); free(sc); vx_big_free(Qf); vx_big_free(B); vx_big_free(Qd); vx_big_free(Bd);
    free(C); free(vals); free(W); vx_big_free(V); vx_big_free(h16);
    free(ek); vx_big_free(Ek); free(all);
    return rc;
}

/* One layer's gate and down: on two threads at once, each with single-threaded BLAS, when
 * BLAS has two. The eigensolver's band reduction is serial, so one matrix at a time leaves
 * a core idle while it runs; two at a time keep both busy (doc/benchmarks.md). With more
 * threads the two run one after the other, each with all of them: concurrent
 * multithreaded calls into one OpenBLAS pool are not something to rely on. */
typedef struct dir_job {
    vx_outfile *out; float *dirs, *sigma, *spectrum; mat_pass *mp;
    const vx_vecset *sets; int nsets; size_t H, F; const char *what; int layer;
    int rc; vx_err err;
} dir_job;

static void *dir_job_run(void *arg) {
    dir_job *j = arg;
    j->rc = layer_directions(j->out, j->dirs, j->sigma, j->spectrum, j->mp, j->sets, j->nsets, j->H, j->F, j->what,
                             j->layer, &j->err);
    return NULL;
}

static int layer_pair(dir_job jobs[2], vx_err *err) {
    int T = vx_blas_threads_get();
    if (T == 2) {
        vx_blas_threads(1);
        vx_run_parallel(dir_job_run, jobs, sizeof jobs[0], 2);
        vx_blas_threads(T);
    } else {
        dir_job_run(&jobs[0]);
        if (jobs[0].rc == VX_OK) dir_job_run(&jobs[1]);
    }
    for (int k = 0; k < 2; k++)
        if (jobs[k].rc) {
            if (err) *err = jobs[k].err;
            return jobs[k].rc;
        }
    return VX_OK;
}

/* -------------------------------------------------------- vocabulary projection */

typedef struct topk {
    size_t ncol, K;
    float *hi_v, *lo_v;       /* [ncol][K]: descending / ascending */
    uint32_t *hi_i, *lo_i;
} topk;

static void topk_insert(float *v, uint32_t *id, size_t K, float x, uint32_t t, int desc) {
    size_t p = K - 1; /* caller checked x beats v[K-1] */
    while (p > 0 && (desc ? x > v[p - 1] : x < v[p - 1])) { v[p] = v[p - 1]; id[p] = id[p - 1]; p--; }
    v[p] = x;
    id[p] = t;
}

/* Merge tile scores S[nv][ncol] for token ids v0.. into the running top-K lists. Ties
 * keep the lower id first (ids arrive in increasing order, insertion is strict). */
static void topk_update(topk *tk, const float *S, size_t nv, uint32_t v0, size_t c0, size_t c1) {
    size_t K = tk->K;
    for (size_t r = 0; r < nv; r++) {
        const float *row = S + r * tk->ncol;
        for (size_t c = c0; c < c1; c++) {
            float x = row[c];
            if (x > tk->hi_v[c * K + K - 1]) topk_insert(tk->hi_v + c * K, tk->hi_i + c * K, K, x, v0 + (uint32_t)r, 1);
            if (x < tk->lo_v[c * K + K - 1]) topk_insert(tk->lo_v + c * K, tk->lo_i + c * K, K, x, v0 + (uint32_t)r, 0);
        }
    }
}

/* A tile's serial work shared out between threads: first rows (the unembedding read,
 * converted and scaled by the final norm's weight), then, after the product, columns
 * (their top-K lists and moments). Each row and column is handled exactly as by one
 * thread, so the split changes no bit. */
typedef struct tile_job {
    const vx_tensor *U_t; const float *w; float *U; size_t H, v0, r0, r1; /* rows */
    topk *tk; vx_mom_acc *acc; const float *S; size_t nv, c0, c1;        /* columns */
} tile_job;

static void *tile_rows_run(void *arg) {
    tile_job *j = arg;
    size_t H = j->H;
    vx_tensor_read(j->U + j->r0 * H, j->U_t, (uint64_t)(j->v0 + j->r0) * H, (j->r1 - j->r0) * H);
    for (size_t r = j->r0; r < j->r1; r++)
        for (size_t h = 0; h < H; h++) j->U[r * H + h] *= j->w[h];
    return NULL;
}

static void *tile_cols_run(void *arg) {
    tile_job *j = arg;
    topk_update(j->tk, j->S, j->nv, (uint32_t)j->v0, j->c0, j->c1);
    vx_mom_add_cols(j->acc, j->S, j->nv, j->c0, j->c1); /* R-B4 */
    return NULL;
}

/* The projection of the directions of layers A..A+L-1. A part (A, L not the whole model)
 * multiplies exactly as a whole extraction does — the same vocabulary tiles and one
 * product over all num_layers·2·F columns, its own directions at their columns and zeros
 * elsewhere — because BLAS kernels may round a column differently depending on the
 * product's width and the column's place in it (Haswell's sgemm does), and parts must
 * merge into the bytes of a single extraction (spec/parts.md P6). */
static int project(vx_outfile *out, vx_outfile *mom_out, const vx_model *m, const float *dirs, size_t A, size_t L,
                   size_t F, size_t K, const vx_extract_opts *o, vx_err *err) {
    size_t H = m->hidden_size, V = m->vocab_size, ncol = L * 2 * F, nall = (size_t)m->num_layers * 2 * F;
    size_t tile = VX_PROJ_TILE_BYTES / (nall * 4);
    if (tile < 64) tile = 64;
    size_t rows = vx_kern_env("VINDEX_PROJ_TILE_ROWS", 0); /* tests: many tiles on a small model */
    if (rows) tile = rows;
    if (tile > V) tile = V;
    int part = ncol != nall;
    float *w = malloc(sizeof(float) * H), *padded = part ? vx_big_array(nall * H, sizeof(float)) : NULL;
    float *U = malloc(sizeof(float) * tile * H), *S = malloc(sizeof(float) * tile * ncol);
    float *Sall = part ? malloc(sizeof(float) * tile * nall) : S;
    topk tk = { ncol, K, malloc(sizeof(float) * ncol * K), malloc(sizeof(float) * ncol * K),
                malloc(sizeof(uint32_t) * ncol * K), malloc(sizeof(uint32_t) * ncol * K) };
    uint8_t *rec = malloc(16 * K);
    float *mom = malloc(sizeof(float) * 4 * ncol);
    vx_mom_acc acc;
    int rc = vx_mom_init(&acc, ncol);
    if (rc || !w || !U || !S || !Sall || (part && !padded) || !tk.hi_v || !tk.lo_v || !tk.hi_i || !tk.lo_i || !rec || !mom) {
        rc = vx_fail(err, VX_ENOMEM, "vocabulary projection: out of memory (%zu directions)", ncol);
        goto out;
    }
    /* projection = unembedding × (final-norm weight ⊙ direction) = (unembedding ⊙ weight)
     * × direction: the weight (the effective multiplier, Gemma's 1 + w) is folded into each
     * vocabulary tile, so no second copy of the directions is needed. */
    for (size_t h = 0; h < H; h++) w[h] = (m->final_norm ? vx_tensor_get(m->final_norm, h) : 1.0f) + m->norm_offset;
    if (part) {
        memcpy(padded + A * 2 * F * H, dirs, sizeof(float) * ncol * H);
        dirs = padded;
    }
    for (size_t i = 0; i < ncol * K; i++) {
        tk.hi_v[i] = -INFINITY; tk.lo_v[i] = INFINITY; tk.hi_i[i] = tk.lo_i[i] = 0;
    }
    int T = vx_threads_cap(vx_blas_threads_get());
    tile_job jobs[VX_THREADS_MAX];
    for (size_t v0 = 0; v0 < V; v0 += tile) {
        size_t nv = V - v0 < tile ? V - v0 : tile;
        for (int t = 0; t < T; t++) {
            size_t c0 = ncol * (size_t)t / (size_t)T / 2 * 2, c1 = t + 1 == T ? ncol : ncol * (size_t)(t + 1) / (size_t)T / 2 * 2;
            jobs[t] = (tile_job){ m->unembed, w, U, H, v0, nv * (size_t)t / (size_t)T, nv * (size_t)(t + 1) / (size_t)T,
                                  &tk, &acc, S, nv, c0, c1 };
        }
        vx_run_parallel(tile_rows_run, jobs, sizeof jobs[0], T);
        vx_tensor_release_range(m->unembed, (uint64_t)v0 * H, nv * H);
        if ((rc = vx_sgemm_nt(nv, nall, H, U, dirs, Sall))) { rc = vx_fail(err, rc, "vocabulary projection: sgemm"); goto out; }
        if (part)
            for (size_t r = 0; r < nv; r++) memcpy(S + r * ncol, Sall + r * nall + A * 2 * F, sizeof(float) * ncol);
        vx_run_parallel(tile_cols_run, jobs, sizeof jobs[0], T);
        vx_mom_count(&acc, nv);
        progress(o, "project", -1, (int)L, v0 + nv, V);
        if ((rc = interrupted(o, err))) goto out;
    }
    /* Records in ((layer*2 + kind)*F + feature) order; dirs are [layer][kind][F][H]. */
    uint8_t hdr[VX_DM_HEADER];
    vx_dm_header_write(hdr, (uint32_t)L, (uint32_t)F, (uint32_t)K);
    if ((rc = vx_out_write(out, hdr, sizeof hdr, err))) goto out;
    for (size_t c = 0; c < ncol; c++) {
        for (size_t j = 0; j < K; j++) {
            union { float f; uint32_t u; } a = { tk.hi_v[c * K + j] }, b = { tk.lo_v[c * K + j] };
            vx_put32(rec + 8 * j, tk.hi_i[c * K + j]);
            vx_put32(rec + 8 * j + 4, a.u);
            vx_put32(rec + 8 * (K + j), tk.lo_i[c * K + j]);
            vx_put32(rec + 8 * (K + j) + 4, b.u);
        }
        if ((rc = vx_out_write(out, rec, 16 * K, err))) goto out;
    }
    /* moments.bin: [L][2][F][4] f32, the same column order */
    vx_mom_finish(&acc, mom);
    rc = vx_out_write(mom_out, mom, sizeof(float) * 4 * ncol, err);
out:
    vx_mom_free(&acc);
    free(w); free(U); free(S); free(rec); free(mom);
    if (part) free(Sall);
    vx_big_free(padded);
    free(tk.hi_v); free(tk.lo_v); free(tk.hi_i); free(tk.lo_i);
    return rc;
}

/* ----------------------------------------------------------------- embeddings */

/* Rows of the matrix, read (dequantised), clamped and converted to f16 into h. */
typedef struct f16_job { const vx_tensor *t; float *f; uint16_t *h; uint64_t at; size_t n; uint64_t clamped; } f16_job;

static void *f16_job_run(void *arg) {
    f16_job *j = arg;
    vx_tensor_read(j->f, j->t, j->at, j->n);
    vx_tensor_release_range(j->t, j->at, j->n);
    for (size_t i = 0; i < j->n; i++) {
        float x = j->f[i];
        /* R-E5 (and R-B5): beyond the f16 range → clamped to ±65504 and counted. */
        if (x > VX_F16_MAX) { x = VX_F16_MAX; j->clamped++; }
        else if (x < -VX_F16_MAX) { x = -VX_F16_MAX; j->clamped++; }
        j->h[i] = vx_f32_to_f16(x);
    }
    return NULL;
}

/* A [V][H] matrix of the checkpoint (the embedding, or an untied unembedding) as f16.
 * Two stages in step: a thread converts chunk c + 1 while this one hashes and writes
 * chunk c (vx_out_write: SHA-256, XXH3 and the write take twice the conversion's time). */
static int write_f16_matrix(vx_outfile *out, const vx_tensor *t, size_t V, size_t H, uint64_t *clamped, vx_err *err) {
    size_t rows = 1024;
    float *f = vx_big_array(rows * H, sizeof(float));
    uint16_t *h[2] = { vx_big_array(rows * H, sizeof(uint16_t)), vx_big_array(rows * H, sizeof(uint16_t)) };
    int rc = VX_OK;
    if (!f || !h[0] || !h[1]) { rc = vx_fail(err, VX_ENOMEM, "embeddings: out of memory"); goto out; }
    size_t nchunks = (V + rows - 1) / rows;
    f16_job job = { t, f, h[0], 0, (V < rows ? V : rows) * H, 0 };
    f16_job_run(&job);
    for (size_t c = 0; c < nchunks && rc == VX_OK; c++) {
        size_t n = job.n;
        uint16_t *done = job.h;
        pthread_t th;
        int started = 0;
        if (c + 1 < nchunks) {
            size_t r0 = (c + 1) * rows;
            job = (f16_job){ t, f, h[(c + 1) % 2], (uint64_t)r0 * H, (V - r0 < rows ? V - r0 : rows) * H, job.clamped };
            started = vx_thread_start(&th, f16_job_run, &job) == 0;
            if (!started) f16_job_run(&job);
        }
        rc = vx_out_write(out, done, 2 * n, err);
        if (started) pthread_join(th, NULL);
    }
    *clamped += job.clamped;
out:
    vx_big_free(f);
    vx_big_free(h[0]);
    vx_big_free(h[1]);
    return rc;
}

/* ---------------------------------------------------------------------- norms */

static int add_norm(vx_meta *meta, vx_outfile *out, const vx_tensor *t, const char *name, int layer, float offset,
                    size_t H, vx_err *err) {
    if (t->nelem != H)
        return vx_fail(err, VX_ECORRUPT, "%s: tensor %s has %llu elements, expected hidden_size %zu", t->file, t->name,
                       (unsigned long long)t->nelem, H);
    float *v = malloc(sizeof(float) * H);
    if (!v) return vx_fail(err, VX_ENOMEM, "norms: out of memory");
    for (size_t i = 0; i < H; i++) v[i] = vx_tensor_get(t, i) + offset;
    vx_norm_meta *n = &meta->norms[meta->n_norms];
    n->name = strdup(name);
    n->layer = layer;
    n->offset = out->bytes;
    n->count = H;
    int rc = n->name ? vx_out_write(out, v, sizeof(float) * H, err) : vx_fail(err, VX_ENOMEM, "norms: out of memory");
    free(v);
    if (rc == VX_OK) meta->n_norms++;
    else { free(n->name); n->name = NULL; }
    return rc;
}

static int write_norms(vx_meta *meta, vx_outfile *out, const vx_model *m, vx_err *err) {
    size_t total = 2;
    for (uint32_t l = 0; l < m->num_layers; l++) total += (size_t)m->layers[l].n_norms;
    meta->norms = calloc(total, sizeof *meta->norms);
    if (!meta->norms) return vx_fail(err, VX_ENOMEM, "norms: out of memory");
    char name[160];
    int rc = VX_OK;
    for (uint32_t l = 0; l < m->num_layers && rc == VX_OK; l++)
        for (int i = 0; i < m->layers[l].n_norms && rc == VX_OK; i++) {
            const char *nn = m->layers[l].norm_names[i];
            int is_bias = strstr(nn, "bias") != NULL; /* the offset applies to weights only */
            snprintf(name, sizeof name, "layers.%u.%s", l, nn);
            rc = add_norm(meta, out, m->layers[l].norms[i], name, (int)l, is_bias ? 0.0f : m->norm_offset,
                          m->hidden_size, err);
        }
    if (rc == VX_OK && m->final_norm) rc = add_norm(meta, out, m->final_norm, "norm", -1, m->norm_offset, m->hidden_size, err);
    if (rc == VX_OK && m->final_norm_bias) rc = add_norm(meta, out, m->final_norm_bias, "norm.bias", -1, 0.0f, m->hidden_size, err);
    meta->norms_bytes = out->bytes;
    return rc;
}

/* ----------------------------------------------------------- source hashing */

typedef struct hash_job {
    const char *dir;
    const vx_source_file *files;
    size_t n;
    const unsigned char *want;  /* [n]: hash file i (a part hashes its share, parts.md P4); NULL = all */
    char (*hex)[65];
    int rc;
    vx_err err;
} hash_job;

/* Runs beside the math: the checkpoint's files are hashed for manifest.json while the
 * SVDs run, so provenance costs no extra wall time on two cores. */
static void *hash_sources(void *arg) {
    hash_job *j = arg;
    for (size_t i = 0; i < j->n && j->rc == VX_OK; i++) {
        if (j->want && !j->want[i]) continue;
        char *p = vx_path(j->dir, j->files[i].name);
        if (!p) { j->rc = vx_fail(&j->err, VX_ENOMEM, "out of memory"); break; }
        j->rc = vx_sha256_file(j->hex[i], NULL, p, &j->err);
        free(p);
    }
    return NULL;
}

/* The provenance both a vindex's manifest.json and a part's "part" object record (spec §5,
 * parts.md P2): source, source_files (a part's unhashed files with a null sha256),
 * config_sha256 and the options. */
static void add_provenance(cJSON *r, const vx_extract_opts *o, const vx_ckpt *ck, const hash_job *hj, size_t F,
                           size_t K) {
    cJSON *src = cJSON_AddObjectToObject(r, "source");
    char *abs = realpath(vx_ckpt_dir(ck), NULL);
    cJSON_AddStringToObject(src, "path", abs ? abs : vx_ckpt_dir(ck));
    free(abs);
    if (vx_ckpt_repo(ck)) cJSON_AddStringToObject(src, "repo", vx_ckpt_repo(ck));
    else cJSON_AddNullToObject(src, "repo");
    if (vx_ckpt_revision(ck)) cJSON_AddStringToObject(src, "revision", vx_ckpt_revision(ck));
    else cJSON_AddNullToObject(src, "revision");
    cJSON *files = cJSON_AddArrayToObject(r, "source_files");
    for (size_t i = 0; i < hj->n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", hj->files[i].name);
        cJSON_AddNumberToObject(f, "bytes", (double)hj->files[i].size);
        if (hj->want && !hj->want[i]) cJSON_AddNullToObject(f, "sha256");
        else cJSON_AddStringToObject(f, "sha256", hj->hex[i]);
        cJSON_AddItemToArray(files, f);
        if (!strcmp(hj->files[i].name, "config.json")) cJSON_AddStringToObject(r, "config_sha256", hj->hex[i]);
    }
    cJSON *opt = cJSON_AddObjectToObject(r, "options");
    cJSON_AddNumberToObject(opt, "features_requested", o->features);
    cJSON_AddNumberToObject(opt, "features", (double)F);
    cJSON_AddNumberToObject(opt, "top_k_requested", o->top_k);
    cJSON_AddNumberToObject(opt, "top_k", (double)K);
    if (o->revision) cJSON_AddStringToObject(opt, "revision", o->revision);
    cJSON_AddBoolToObject(opt, "unembed", o->unembed != 0);
}

static char *manifest_json(const vx_extract_opts *o, const vx_ckpt *ck, const hash_job *hj, size_t F, size_t K,
                           const vx_meta *meta, const char *digest) {
    cJSON *r = vx_manifest_begin();
    add_provenance(r, o, ck, hj, F, K);
    return vx_manifest_end(r, meta, digest);
}

/* A part's "part" object (spec/parts.md P2): its layers, the build, BLAS and Gram kernel
 * that computed them (merge compares them: P6), and the provenance. */
static char *part_json(const vx_extract_opts *o, const vx_ckpt *ck, const hash_job *hj, size_t F, size_t K) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "first_layer", o->layer_first);
    cJSON_AddNumberToObject(r, "last_layer", o->layer_last);
    cJSON_AddStringToObject(r, "tool_version", VX_VERSION_STRING);
    char kern[96];
    snprintf(kern, sizeof kern, "%s%s", vx_blas_core(), vx_bgram_cpu() ? "+bf16-gram" : "");
    cJSON_AddStringToObject(r, "blas", kern);
    cJSON_AddNumberToObject(r, "blas_threads", vx_blas_threads_get());
    char ts[32];
    vx_utc_now(ts);
    cJSON_AddStringToObject(r, "created_utc", ts);
    add_provenance(r, o, ck, hj, F, K);
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

/* Which source files a part hashes (spec/parts.md P4): every file that is not a shard
 * (config, index, tokenizer: each part's evidence of the checkpoint), the shards holding
 * tensors of its layers, and — for the part starting at layer 0 — the shards holding the
 * whole-model tensors and those no layer reads (attention-only, multi-token prediction).
 * Every file is then hashed by at least one part, and each only where it is read anyway. */
enum { OWN_MINE = 1, OWN_OTHER = 2, OWN_SHARED = 4 };
static void mark_tensor(unsigned char *own, const vx_source_file *f, size_t n, const vx_tensor *t, int bit) {
    for (int pass = 0; pass < 2 && t; pass++, t = t->q.kind != VX_Q_NONE ? t->q.scale : NULL)
        for (size_t i = 0; i < n; i++)
            if (t && t->file && !strcmp(f[i].name, t->file)) own[i] |= (unsigned char)bit;
}

static void part_share(unsigned char *want, const vx_model *m, const vx_source_file *f, size_t n, size_t A, size_t B) {
    unsigned char *own = want; /* computed in place, then turned into the decision */
    memset(own, 0, n);
    for (size_t l = 0; l < m->num_layers; l++) {
        const vx_layer *ly = &m->layers[l];
        int bit = l >= A && l <= B ? OWN_MINE : OWN_OTHER;
        for (int s = 0; s < ly->n_gate; s++) mark_tensor(own, f, n, ly->gate[s].t, bit);
        for (int s = 0; s < ly->n_up; s++) mark_tensor(own, f, n, ly->up[s].t, bit);
        for (int s = 0; s < ly->n_down; s++) mark_tensor(own, f, n, ly->down[s].t, bit);
        for (int s = 0; s < ly->n_norms; s++) mark_tensor(own, f, n, ly->norms[s], bit);
    }
    const vx_tensor *whole[] = { m->embed, m->unembed, m->final_norm, m->final_norm_bias };
    for (size_t w = 0; w < sizeof whole / sizeof whole[0]; w++) mark_tensor(own, f, n, whole[w], OWN_SHARED);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(f[i].name);
        int shard = len > 12 && !strcmp(f[i].name + len - 12, ".safetensors");
        want[i] = !shard || (own[i] & OWN_MINE) || (A == 0 && ((own[i] & OWN_SHARED) || own[i] == 0));
    }
}

/* Drop the file-table entries of files this run did not write (a part after the first:
 * parts.md P3). */
static void drop_unwritten(vx_meta *meta, const vx_outfile *of) {
    size_t k = 0;
    for (size_t i = 0; i < meta->n_files; i++)
        if (i >= 7 || of[i].name) meta->files[k++] = meta->files[i];
    meta->n_files = k;
}

/* ------------------------------------------------------------------- extract */

int vx_extract(const vx_extract_opts *o, vx_err *err) {
    if (!o || !o->src || !o->out || !*o->src || !*o->out) return vx_fail(err, VX_EUSAGE, "extract: SRC and OUT are required");
    int rc = vx_xcheck_opts(o, err); /* the checks `plan` makes too (src/xcheck.h) */
    if (rc) return rc;
    vx_outdir od;
    if ((rc = vx_outdir_begin(&od, o->out, o->force, o->warn, o->ctx, err))) { vx_outdir_end(&od); return rc; }
    const char *tmp = od.tmp;
    /* Restored at the end: in a long-running process (python/vindex) the next compare's
     * BLAS paths, and so its numbers, would otherwise depend on this call's count. */
    int blas_before = vx_blas_threads_get();
    vx_blas_threads(o->threads > 0 ? o->threads : vx_kern_threads()); /* --threads, else VINDEX_THREADS or the cores */

    vx_ckpt *ck = NULL;
    vx_meta meta;
    memset(&meta, 0, sizeof meta);
    float *dirs = NULL, *spec = NULL, *nb = NULL, *upbuf = NULL;
    double *sq = NULL;
    vx_tokenizer *tok = NULL;
    uint8_t *vocab = NULL;
    char *json = NULL, *manifest = NULL;
    unsigned char *want = NULL;
    hash_job hj;
    memset(&hj, 0, sizeof hj);
    pthread_t hasher;
    int hashing = 0;
    vx_outfile of[VX_N_FILES];
    memset(of, 0, sizeof of);
    for (int i = 0; i < VX_N_FILES; i++) of[i].fd = -1;

    if ((rc = vx_ckpt_open(&ck, o->src, o->revision, err))) goto fail;

    const vx_model *m = vx_ckpt_model(ck);
    if (m->mtp_tensors)
        vx_warnf(o->warn, o->ctx, "ignored %llu tensors of the multi-token-prediction layers %u..%u (not part of the model's forward pass)",
              (unsigned long long)m->mtp_tensors, m->num_layers, m->mtp_last - 1);
    size_t L = m->num_layers, H = m->hidden_size, V = m->vocab_size;
    /* R-E2: F capped at the smallest rank bound over all layers and both kinds, K at V. */
    size_t F, K;
    int capped_f, capped_k;
    if ((rc = vx_xcheck_caps(&F, &K, &capped_f, &capped_k, m, o, err))) goto fail;
    if (capped_f) vx_warnf(o->warn, o->ctx, "--features %d capped at the matrix rank bound %zu", o->features, F);
    if (capped_k) vx_warnf(o->warn, o->ctx, "--top-k %d capped at the vocabulary size %zu", o->top_k, K);
    /* The layers this run extracts: all, or a part's range (spec/parts.md). The part that
     * starts at layer 0 also writes the whole-model files (P3). */
    size_t A, B;
    if ((rc = vx_xcheck_layers(&A, &B, m, o, err))) goto fail;
    size_t NL = B - A + 1;
    int whole_files = A == 0;

    size_t nsrc;
    hj.dir = vx_ckpt_dir(ck);
    hj.files = vx_ckpt_files(ck, &nsrc);
    hj.n = nsrc;
    hj.hex = calloc(nsrc ? nsrc : 1, sizeof *hj.hex);
    if (!hj.hex) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }
    if (o->part) {
        if (!(want = calloc(nsrc ? nsrc : 1, 1))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }
        part_share(want, m, hj.files, nsrc, A, B);
        hj.want = want;
    }
    if (vx_thread_start(&hasher, hash_sources, &hj) == 0) hashing = 1;
    else hash_sources(&hj);

    meta.version = VX_INDEX_VERSION;
    meta.num_layers = (uint32_t)NL;
    meta.num_feats = (uint32_t)F;
    meta.hidden_size = (uint32_t)H;
    meta.intermediate_size = m->intermediate_size;
    meta.vocab_size = (uint32_t)V;
    meta.down_top_k = (uint32_t)K;
    snprintf(meta.model, sizeof meta.model, "%s", vx_ckpt_repo(ck) ? vx_ckpt_repo(ck) : o->src);
    snprintf(meta.model_type, sizeof meta.model_type, "%s", m->model_type);
    snprintf(meta.architecture, sizeof meta.architecture, "%s", m->architecture);
    snprintf(meta.source_dtype, sizeof meta.source_dtype, "%s", m->dtype);
    meta.embed_scale = m->embed_scale;
    meta.norm_offset = m->norm_offset;
    meta.norm_eps = m->norm_eps;
    meta.tied_embeddings = m->tied;
    meta.layers = calloc(NL, sizeof *meta.layers);
    dirs = malloc(sizeof(float) * NL * 2 * F * H); /* [NL][kind][F][H] for the projection */
    if (!meta.layers || !dirs) { rc = vx_fail(err, VX_ENOMEM, "out of memory for %zu directions", NL * 2 * F); goto fail; }

    /* The weight battery (spec §9): buffers for the widest layer's neurons. */
    uint64_t Nmax = 0;
    int any_up = 0;
    for (size_t l = 0; l < L; l++) {
        uint64_t g = 0, d = 0, u = 0;
        const vx_layer *ly = &m->layers[l];
        for (int s = 0; s < ly->n_gate; s++) g += ly->gate[s].count;
        for (int s = 0; s < ly->n_down; s++) d += ly->down[s].count;
        for (int s = 0; s < ly->n_up; s++) u += ly->up[s].count;
        if (g != d || (ly->n_up && u != g)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: layer %zu: %llu gate rows, %llu up rows, %llu down columns; expected one "
                         "neuron count", o->src, l, (unsigned long long)g, (unsigned long long)u, (unsigned long long)d);
            goto fail;
        }
        if (g > Nmax) Nmax = g;
        any_up |= ly->n_up > 0;
    }
    float thr[VX_N_SPARSITY];
    vx_bat_thresholds(thr);
    spec = malloc(sizeof(float) * 2 * H);
    sq = vx_big_array(3 * Nmax, sizeof(double));
    nb = vx_big_array(3 * Nmax, sizeof(float));
    if (any_up) upbuf = vx_big_array(H * VX_CHUNK_VECTORS, sizeof(float));
    if (!spec || !sq || !nb || (any_up && !upbuf)) { rc = vx_fail(err, VX_ENOMEM, "out of memory for the weight battery"); goto fail; }
    meta.has_battery = 1;
    meta.unembedding = m->tied ? VX_UNEMB_EMBEDDINGS : o->unembed ? VX_UNEMB_FILE : VX_UNEMB_NONE;
    if (o->unembed && m->tied) vx_warnf(o->warn, o->ctx, "--unembed: the model is tied; its unembedding is the embedding matrix");

    vx_outfile *gate = &of[0], *down = &of[1], *spectra = &of[OF_SPECTRA], *neurons = &of[OF_NEURONS];
    if ((rc = vx_out_open(gate, tmp, vx_data_files[0], err)) || (rc = vx_out_open(down, tmp, vx_data_files[1], err)) ||
        (rc = vx_out_open(spectra, tmp, "spectra.bin", err)) || (rc = vx_out_open(neurons, tmp, "neurons.bin", err)))
        goto fail;
    for (size_t l = A; l <= B; l++) {
        size_t i = l - A;
        vx_layer_meta *lm = &meta.layers[i];
        lm->layer = (uint32_t)l;
        lm->num_features = (uint32_t)F;
        lm->offset = i * F * H * 2;
        lm->length = F * H * 2;
        lm->num_experts = (uint32_t)m->layers[l].num_experts;
        lm->gate_sigma = malloc(sizeof(float) * F);
        lm->down_sigma = malloc(sizeof(float) * F);
        if (!lm->gate_sigma || !lm->down_sigma) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }
        progress(o, "svd", (int)l, (int)L, i, NL);
        if ((rc = interrupted(o, err))) goto fail;
        const vx_layer *ly = &m->layers[l];
        uint64_t N = 0;
        for (int s = 0; s < ly->n_gate; s++) N += ly->gate[s].count;
        int nk = ly->n_up ? 3 : 2;
        mat_pass pg = { sq, { 0 }, thr }, pu = { sq + N, { 0 }, thr }, pd = { sq + 2 * N, { 0 }, thr };
        if (ly->n_up) up_pass(&pu, upbuf, ly->up, ly->n_up, H);
        dir_job pair[2] = {
            { gate, dirs + (i * 2 + 0) * F * H, lm->gate_sigma, spec, &pg, ly->gate, ly->n_gate, H, F, "gate", (int)l, VX_OK, { 0 } },
            { down, dirs + (i * 2 + 1) * F * H, lm->down_sigma, spec + H, &pd, ly->down, ly->n_down, H, F, "down", (int)l, VX_OK, { 0 } },
        };
        if ((rc = layer_pair(pair, err))) goto fail;
        /* R-B2, R-B3: neurons.bin block [kinds][N] f32, weights in index.json */
        finish_pass(&lm->weights[VX_MAT_GATE], nb, &pg, N, N, H);
        if (ly->n_up) finish_pass(&lm->weights[VX_MAT_UP], nb + N, &pu, N, N, H);
        finish_pass(&lm->weights[VX_MAT_DOWN], nb + (size_t)(nk - 1) * N, &pd, N, H, N);
        lm->has_mat[VX_MAT_GATE] = lm->has_mat[VX_MAT_DOWN] = 1;
        lm->has_mat[VX_MAT_UP] = ly->n_up > 0;
        lm->neurons_offset = neurons->bytes;
        lm->neurons_count = N;
        lm->neurons_kinds = nk;
        if ((rc = vx_out_write(neurons, nb, sizeof(float) * (size_t)nk * N, err)) ||
            (rc = vx_out_write(spectra, spec, sizeof(float) * 2 * H, err)))
            goto fail;
    }
    progress(o, "svd", -1, (int)L, NL, NL);
    if ((rc = vx_out_close(gate, err)) || (rc = vx_out_close(down, err)) || (rc = vx_out_close(spectra, err)) ||
        (rc = vx_out_close(neurons, err)))
        goto fail;
    meta.neurons_bytes = neurons->bytes;

    progress(o, "write", -1, (int)L, 0, V);
    if (whole_files && ((rc = vx_out_open(&of[2], tmp, vx_data_files[2], err)) ||
        (rc = write_f16_matrix(&of[2], m->embed, V, H, &meta.embed_clamped, err)) || (rc = vx_out_close(&of[2], err))))
        goto fail;
    if (meta.embed_clamped) vx_warnf(o->warn, o->ctx, "%llu embedding values beyond the f16 range were clamped to +-65504",
                                  (unsigned long long)meta.embed_clamped);
    if (whole_files && meta.unembedding == VX_UNEMB_FILE) { /* R-B5 */
        if ((rc = vx_out_open(&of[OF_UNEMBED], tmp, "unembed.bin", err)) ||
            (rc = write_f16_matrix(&of[OF_UNEMBED], m->unembed, V, H, &meta.unembed_clamped, err)) ||
            (rc = vx_out_close(&of[OF_UNEMBED], err)))
            goto fail;
        if (meta.unembed_clamped) vx_warnf(o->warn, o->ctx, "%llu unembedding values beyond the f16 range were clamped to +-65504",
                                        (unsigned long long)meta.unembed_clamped);
    }

    if ((rc = vx_out_open(&of[3], tmp, vx_data_files[3], err)) ||
        (rc = vx_out_open(&of[OF_MOMENTS], tmp, "moments.bin", err)) ||
        (rc = project(&of[3], &of[OF_MOMENTS], m, dirs, A, NL, F, K, o, err)) || (rc = vx_out_close(&of[3], err)) ||
        (rc = vx_out_close(&of[OF_MOMENTS], err)))
        goto fail;

    if (whole_files) {
        if ((rc = vx_out_open(&of[4], tmp, vx_data_files[4], err)) || (rc = write_norms(&meta, &of[4], m, err)) ||
            (rc = vx_out_close(&of[4], err)))
            goto fail;
        size_t toklen, vlen;
        const uint8_t *tokbytes = vx_ckpt_tokenizer(ck, &toklen);
        if ((rc = vx_tokenizer_parse(&tok, tokbytes, toklen, "tokenizer.json", err)) ||
            (rc = vx_vocab_build(&vocab, &vlen, tok, (uint32_t)V, err)) ||
            (rc = vx_out_file(&of[5], tmp, vx_data_files[5], vocab, vlen, err)) ||
            (rc = vx_out_file(&of[6], tmp, vx_data_files[6], tokbytes, toklen, err)))
            goto fail;
        if (vx_tokenizer_size(tok) > V)
            vx_warnf(o->warn, o->ctx, "tokenizer.json has %u ids but the embedding has %zu rows; ids beyond are not in the vindex",
                  vx_tokenizer_size(tok), V);
    }

    /* index.json: the file table records size, shape, dtype and xxh3 of each file. */
    if ((rc = vx_meta_set_files(&meta, of, err)) ||
        (rc = vx_meta_add_battery_files(&meta, of, whole_files && meta.unembedding == VX_UNEMB_FILE, err)))
        goto fail;
    drop_unwritten(&meta, of);
    if (o->part) { /* parts.md P2: the provenance goes into index.json's "part"; no manifest */
        progress(o, "hash", -1, (int)L, 0, 1);
        if (hashing) { pthread_join(hasher, NULL); hashing = 0; }
        if (hj.rc) { rc = vx_fail(err, hj.rc, "hashing the checkpoint: %s", hj.err.msg); goto fail; }
        meta.is_part = 1;
        meta.part = (vx_part_info){ (uint32_t)A, (uint32_t)B, (uint32_t)L, whole_files, part_json(o, ck, &hj, F, K) };
        if (!meta.part.json) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }
    }
    if (!(json = vx_meta_write(&meta))) { rc = vx_fail(err, VX_ENOMEM, "index.json: out of memory"); goto fail; }
    if ((rc = vx_out_file(&of[7], tmp, "index.json", json, strlen(json), err))) goto fail;
    if (!o->part) {
        char digest[65];
        if ((rc = vx_digest_of_files(digest, of, VX_N_FILES, err))) goto fail; /* every file but the next two */
        progress(o, "hash", -1, (int)L, 0, 1);
        if (hashing) { pthread_join(hasher, NULL); hashing = 0; }
        if (hj.rc) { rc = vx_fail(err, hj.rc, "hashing the checkpoint: %s", hj.err.msg); goto fail; }
        if (!(manifest = manifest_json(o, ck, &hj, F, K, &meta, digest))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }
        if ((rc = vx_out_file(&of[8], tmp, "manifest.json", manifest, strlen(manifest), err))) goto fail;
    }

    if ((rc = vx_sums_write(&of[9], tmp, of, VX_N_FILES, err))) goto fail;
    if ((rc = interrupted(o, err))) goto fail; /* last chance: after this OUT changes */
    if ((rc = vx_outdir_commit(&od, o->warn, o->ctx, err))) goto fail;
    goto done;

fail:
    for (int i = 0; i < VX_N_FILES; i++) vx_out_close(&of[i], NULL);
done:
    for (int i = 0; i < VX_N_FILES; i++) vx_out_release(&of[i]);
    vx_outdir_end(&od);
    if (hashing) pthread_join(hasher, NULL);
    vx_blas_threads(blas_before);
    free(hj.hex);
    free(want);
    vx_meta_free(&meta);
    free(dirs);
    free(spec);
    vx_big_free(sq);
    vx_big_free(nb);
    vx_big_free(upbuf);
    vx_tokenizer_free(tok);
    free(vocab);
    free(json);
    free(manifest);
    vx_ckpt_close(ck);
    return rc;
}
