/*
 * plan.c — `vindex plan` (spec/plan.md): open the checkpoint as extract does (headers,
 * config, index: vx_ckpt_open maps the shards but touches no tensor data), parse the
 * tokenizer, and add up what extraction will read, write, compute and hold. The checks
 * extract makes before it reads any weight live in xcheck (shared), so a plan refuses
 * exactly when, and with the message with which, extract would.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "gram.h"
#include "kern.h"
#include "linalg.h"
#include "vocab.h"
#include "vx_plan.h"
#include "vxmeta.h"
#include "xcheck.h"

/* ----------------------------------------------------------- shared checks */

int vx_xcheck_opts(const vx_extract_opts *o, vx_err *err) {
    if (o->features < 1 || o->features > (int)VX_MAX_FEATS)
        return vx_fail(err, VX_EUSAGE, "--features %d: expected 1..%u", o->features, VX_MAX_FEATS);
    if (o->top_k < 1 || o->top_k > (int)VX_MAX_TOPK)
        return vx_fail(err, VX_EUSAGE, "--top-k %d: expected 1..%u", o->top_k, VX_MAX_TOPK);
    struct stat st;
    if (o->out && !o->force && lstat(o->out, &st) == 0)
        return vx_fail(err, VX_EEXIST, "%s: already exists (use --force to replace it)", o->out);
    return VX_OK;
}

int vx_xcheck_caps(size_t *F, size_t *K, int *capped_f, int *capped_k, const vx_model *m, const vx_extract_opts *o,
                   vx_err *err) {
    uint64_t bound = m->hidden_size;
    for (size_t l = 0; l < m->num_layers; l++) {
        uint64_t g = 0, d = 0;
        for (int s = 0; s < m->layers[l].n_gate; s++) g += m->layers[l].gate[s].count;
        for (int s = 0; s < m->layers[l].n_down; s++) d += m->layers[l].down[s].count;
        if (g < bound) bound = g;
        if (d < bound) bound = d;
    }
    if (bound == 0) return vx_fail(err, VX_ECORRUPT, "%s: a layer has no MLP vectors", o->src);
    *F = (size_t)o->features <= bound ? (size_t)o->features : (size_t)bound;
    *K = (size_t)o->top_k <= m->vocab_size ? (size_t)o->top_k : m->vocab_size;
    *capped_f = *F < (size_t)o->features;
    *capped_k = *K < (size_t)o->top_k;
    return VX_OK;
}

int vx_xcheck_layers(size_t *A, size_t *B, const vx_model *m, const vx_extract_opts *o, vx_err *err) {
    size_t L = m->num_layers;
    if (!L) return vx_fail(err, VX_ECORRUPT, "%s: the checkpoint has no layers", o->src); /* config allows 1.. */
    *A = 0;
    *B = L - 1;
    if (!o->part) return VX_OK;
    if (o->layer_first > o->layer_last || o->layer_last >= L)
        return vx_fail(err, VX_EUSAGE, "--layers %u-%u: %s has layers 0-%zu", o->layer_first, o->layer_last, o->src, L - 1);
    *A = o->layer_first;
    *B = o->layer_last;
    return VX_OK;
}

/* ------------------------------------------------------------------- plan */

/* sgemm speed here and now: the best of a few 1024³ products (~2.1 GFLOP each; 512³ ones
 * are too short for two threads to reach their rate and gave half of it). */
static double measure_sgemm(void) {
    size_t n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.2f; }
        for (int r = 0; r < 4; r++) {
            double t0 = vx_wall_s();
            if (vx_sgemm(0, 0, n, n, n, a, n, b, n, c, n) != VX_OK) break;
            double dt = vx_wall_s() - t0, g = 2.0 * (double)n * (double)n * (double)n / dt / 1e9;
            if (dt > 0 && g > best) best = g;
        }
    }
    free(a); free(b); free(c);
    return best;
}

static uint64_t tensor_bytes(const vx_tensor *t) {
    uint64_t b = t->bytes;
    if (t->q.scale) b += t->q.scale->bytes;
    return b;
}

/* Bytes of [p, p+len) resident in the page cache, by mincore (no page is touched). */
static uint64_t cached(const void *p, uint64_t len) {
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1), e = (uintptr_t)p + len;
    size_t npg = (size_t)((e - a + (uintptr_t)pg - 1) / (uintptr_t)pg);
    unsigned char *v = npg ? malloc(npg) : NULL;
    uint64_t n = 0;
    if (v && mincore((void *)a, npg * (size_t)pg, v) == 0)
        for (size_t i = 0; i < npg; i++) n += v[i] & 1;
    free(v);
    return n * (uint64_t)pg > len ? len : n * (uint64_t)pg;
}

typedef struct seen { const vx_tensor **t; size_t n, cap; } seen;

static int add_read(vx_plan *p, seen *s, const vx_tensor *t) {
    if (!t) return VX_OK;
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] == t) return VX_OK;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        const vx_tensor **nt = realloc(s->t, nc * sizeof *nt);
        if (!nt) return VX_ENOMEM;
        s->t = nt;
        s->cap = nc;
    }
    s->t[s->n++] = t;
    uint64_t b = tensor_bytes(t);
    p->tensors_read++;
    p->bytes_read += b;
    p->bytes_cached += cached(t->data, t->bytes);
    const char *dt = t->q.kind == VX_Q_MXFP4 ? "MXFP4" : vx_dtype_name(t->dtype);
    size_t i = 0;
    while (i < p->n_dtypes && strcmp(p->dtypes[i].dtype, dt)) i++;
    if (i == p->n_dtypes && i < sizeof p->dtypes / sizeof *p->dtypes) snprintf(p->dtypes[p->n_dtypes++].dtype, 16, "%s", dt);
    if (i < p->n_dtypes) { p->dtypes[i].tensors++; p->dtypes[i].bytes += b; }
    return VX_OK;
}

static void add_file(vx_plan *p, const char *name, uint64_t bytes, int exact) {
    if (p->n_files >= sizeof p->files / sizeof *p->files) return;
    vx_plan_file *f = &p->files[p->n_files++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->bytes = bytes;
    f->exact = exact;
    p->out_bytes += bytes;
}

int vx_plan_make(vx_plan **out, const vx_extract_opts *o, double disk_gbps, vx_err *err) {
    *out = NULL;
    if (!o || !o->src || !*o->src) return vx_fail(err, VX_EUSAGE, "plan: a checkpoint is required");
    if (!(disk_gbps > 0)) return vx_fail(err, VX_EUSAGE, "plan: --disk-gbps must be positive");
    int rc = vx_xcheck_opts(o, err);
    if (rc) return rc;
    vx_ckpt *ck = NULL;
    vx_tokenizer *tok = NULL;
    uint8_t *vocab = NULL;
    seen s = { 0 };
    vx_plan *p = calloc(1, sizeof *p);
    if (!p) return vx_fail(err, VX_ENOMEM, "out of memory");
    if ((rc = vx_ckpt_open(&ck, o->src, o->revision, err))) goto fail;
    const vx_model *m = vx_ckpt_model(ck);
    size_t F, K, L = m->num_layers, H = m->hidden_size, V = m->vocab_size, A, B;
    int cf, cko;
    if ((rc = vx_xcheck_caps(&F, &K, &cf, &cko, m, o, err)) || (rc = vx_xcheck_layers(&A, &B, m, o, err))) goto fail;
    /* a part (--layers) computes layers A..B; the one starting at 0 also writes the
     * whole-model files (spec/parts.md P3) */
    size_t NL = B - A + 1;
    int whole = A == 0;
    if (cf) snprintf(p->warnings[p->n_warnings++], 256, "--features %d capped at the matrix rank bound %zu", o->features, F);
    if (cko) snprintf(p->warnings[p->n_warnings++], 256, "--top-k %d capped at the vocabulary size %zu", o->top_k, K);
    if (m->mtp_tensors && p->n_warnings < 4)
        snprintf(p->warnings[p->n_warnings++], 256, "ignored %llu tensors of the multi-token-prediction layers %u..%u",
                 (unsigned long long)m->mtp_tensors, m->num_layers, m->mtp_last - 1);
    /* extract parses the tokenizer and builds vocab.bin after the SVDs: a bad one is found here first */
    size_t toklen, vlen = 0;
    const uint8_t *tokbytes = vx_ckpt_tokenizer(ck, &toklen);
    if ((rc = vx_tokenizer_parse(&tok, tokbytes, toklen, "tokenizer.json", err)) ||
        (rc = vx_vocab_build(&vocab, &vlen, tok, (uint32_t)V, err)))
        goto fail;

    snprintf(p->source, sizeof p->source, "%s", vx_ckpt_dir(ck));
    snprintf(p->repo, sizeof p->repo, "%s", vx_ckpt_repo(ck) ? vx_ckpt_repo(ck) : "");
    snprintf(p->architecture, sizeof p->architecture, "%s", m->architecture);
    snprintf(p->model_type, sizeof p->model_type, "%s", m->model_type);
    snprintf(p->family, sizeof p->family, "%s", m->family ? m->family : "");
    snprintf(p->dtype, sizeof p->dtype, "%s", m->dtype);
    snprintf(p->quant, sizeof p->quant, "%s", m->quant ? m->quant : "");
    p->num_layers = (uint32_t)L;
    p->hidden_size = (uint32_t)H;
    p->intermediate_size = m->intermediate_size;
    p->vocab_size = (uint32_t)V;
    p->features = (uint32_t)F;
    p->top_k = (uint32_t)K;
    p->tied = m->tied;
    p->unembed = o->unembed && !m->tied;
    p->disk_gbps = disk_gbps;
    p->part = o->part != 0;
    p->layer_first = (uint32_t)A;
    p->layer_last = (uint32_t)B;
    if (!(p->experts = calloc(L ? L : 1, sizeof *p->experts))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto fail; }

    /* what is read, and the arithmetic (spec/plan.md: the FLOP model) */
    double Hd = (double)H, k = (double)(F + 32 < H ? F + 32 : H), flops = 0, fast = 0;
    int bgram = vx_bgram_words(H, 2) != 0;
    uint64_t neurons_bytes = 0;
    rc = add_read(p, &s, m->unembed);  /* every part projects onto the vocabulary */
    if (!rc) rc = add_read(p, &s, m->final_norm);
    if (!rc && whole) rc = add_read(p, &s, m->embed);
    if (!rc && whole) rc = add_read(p, &s, m->final_norm_bias);
    for (size_t l = 0; l < L; l++) {
        const vx_layer *ly = &m->layers[l];
        p->experts[l] = (uint32_t)ly->num_experts;
        if (ly->num_experts) p->sparse_layers++;
        if ((uint32_t)ly->num_experts > p->max_experts) p->max_experts = (uint32_t)ly->num_experts;
        for (int i = 0; i < ly->n_norms && !rc && whole; i++) rc = add_read(p, &s, ly->norms[i]); /* norms.bin */
    }
    for (size_t l = A; l <= B && !rc; l++) {
        const vx_layer *ly = &m->layers[l];
        uint64_t g = 0, d = 0;
        for (int i = 0; i < ly->n_gate && !rc; i++) { g += ly->gate[i].count; rc = add_read(p, &s, ly->gate[i].t); }
        for (int i = 0; i < ly->n_down && !rc; i++) { d += ly->down[i].count; rc = add_read(p, &s, ly->down[i].t); }
        for (int i = 0; i < ly->n_up && !rc; i++) rc = add_read(p, &s, ly->up[i].t);
        if (g > p->widest_layer) p->widest_layer = g;
        neurons_bytes += (uint64_t)(ly->n_up ? 3 : 2) * g * 4;
        /* per kind: the Gram (rows·H² multiply-adds), the tridiagonal reduction (4/3·H³),
         * the back-transformation of k vectors (2·H²·k) and the Rayleigh–Ritz pass (rows·H·k) */
        flops += 2.0 * ((double)g + (double)d) * Hd * Hd + 2 * (4.0 / 3.0 * Hd * Hd * Hd + 2 * Hd * Hd * k) +
                 2.0 * ((double)g + (double)d) * Hd * k;
        /* Grams on AVX-512 BF16 (gram.h): two products per lane per instruction */
        if (bgram && vx_gram_path(ly->gate, ly->n_gate, H, VX_CHUNK_VECTORS)) fast += 2.0 * (double)g * Hd * Hd;
        if (bgram && vx_gram_path(ly->down, ly->n_down, H, VX_CHUNK_VECTORS)) fast += 2.0 * (double)d * Hd * Hd;
    }
    if (rc) { rc = vx_fail(err, rc, "out of memory"); goto fail; }
    flops += 2.0 * (double)V * Hd * (double)(2 * NL * F); /* vocabulary projection */
    size_t nt;
    const vx_tensor *all = vx_ckpt_tensors(ck, &nt);
    for (size_t i = 0; i < nt; i++) {
        int r = 0;
        for (size_t j = 0; j < s.n && !r; j++) r = s.t[j] == &all[i] || (s.t[j]->q.scale == &all[i]);
        if (!r && all[i].dtype != VX_DT_F4) { p->tensors_ignored++; p->bytes_ignored += all[i].bytes; }
    }
    p->mtp_tensors = m->mtp_tensors;

    /* the files (R-F1, §9) */
    uint64_t norms = 0;
    for (size_t l = 0; l < L; l++) norms += (uint64_t)m->layers[l].n_norms * H * 4;
    norms += (m->final_norm ? H * 4 : 0) + (m->final_norm_bias ? H * 4 : 0);
    add_file(p, "gate_vectors.bin", (uint64_t)NL * F * H * 2, 1);
    add_file(p, "down_features.bin", (uint64_t)NL * F * H * 2, 1);
    if (whole) add_file(p, "embeddings.bin", (uint64_t)V * H * 2, 1);
    add_file(p, "down_meta.bin", VX_DM_HEADER + (uint64_t)NL * 2 * F * 16 * K, 1);
    if (whole) add_file(p, "norms.bin", norms, 1);
    if (whole) add_file(p, "vocab.bin", vlen, 1);
    if (whole) add_file(p, "tokenizer.json", toklen, 1);
    add_file(p, "spectra.bin", (uint64_t)NL * 2 * H * 4, 1);
    add_file(p, "neurons.bin", neurons_bytes, 1);
    add_file(p, "moments.bin", (uint64_t)NL * 2 * F * 16, 1);
    if (p->unembed && whole) add_file(p, "unembed.bin", (uint64_t)V * H * 2, 1);
    /* index.json: ~2·18 bytes per σ plus a fixed part (a part's also holds the provenance:
     * P2); manifest.json (a whole vindex only) and SHA256SUMS are small */
    size_t nfiles;
    vx_ckpt_files(ck, &nfiles);
    add_file(p, "index.json", 4096 + (uint64_t)NL * (2 * F * 18 + 600) + (p->part ? 200 * (uint64_t)nfiles : 0), 0);
    if (!p->part) add_file(p, "manifest.json", 1024 + 200 * (uint64_t)nfiles, 0);
    add_file(p, "SHA256SUMS", 81 * 13, 0);

    /* time and memory on this machine */
    p->flops = flops;
    p->sgemm_gflops = measure_sgemm();
    p->seconds_compute = p->sgemm_gflops > 0 ? (flops - fast / 2) / (p->sgemm_gflops * 1e9) : 0;
    p->seconds_read = (double)(p->bytes_read - p->bytes_cached) / (disk_gbps * 1e9);
    p->seconds = p->seconds_compute > p->seconds_read ? p->seconds_compute : p->seconds_read;
    uint64_t Hh = H, chunk = VX_CHUNK_VECTORS;
    /* per matrix being decomposed: the Gram, the reduction's copy and the one-stage path's
     * compact reflectors (H²/2; a bound for the two-stage path, which has none), three H×k
     * double blocks, two chunks and, when the Grams run on AVX-512 BF16, a chunk's bf16
     * pairs (gram.h); two matrices at once when BLAS has two threads (extract's layer_pair) */
    int T = o->threads > 0 ? o->threads : vx_kern_threads();
    uint64_t per_matrix = Hh * Hh * 4 * 5 / 2 + Hh * (uint64_t)k * 8 * 3 + chunk * Hh * 4 * 2 + (fast > 0 ? chunk * Hh * 2 : 0);
    p->peak_bytes = per_matrix * (T == 2 ? 2 : 1) + (uint64_t)NL * 2 * F * H * 4 /* the directions */ + VX_PROJ_TILE_BYTES /* vocabulary tile */ +
                    p->widest_layer * 3 * 4 + vlen + toklen + (64u << 20) /* code, maps' page tables, allocator */;
    if (o->out) { /* the output must fit where it goes */
        char *dir = strdup(o->out), *sl = dir ? strrchr(dir, '/') : NULL;
        struct statvfs vf;
        if (sl) *sl = 0;
        if (dir && statvfs(sl ? (*dir ? dir : "/") : ".", &vf) == 0) {
            uint64_t avail = (uint64_t)vf.f_bavail * vf.f_frsize;
            if (avail < p->out_bytes) {
                free(dir);
                rc = vx_fail(err, VX_EIO, "%s: %llu bytes free, the vindex needs about %llu", o->out,
                             (unsigned long long)avail, (unsigned long long)p->out_bytes);
                goto fail;
            }
        }
        free(dir);
    }
    free(s.t);
    free(vocab);
    vx_tokenizer_free(tok);
    vx_ckpt_close(ck);
    *out = p;
    return VX_OK;
fail:
    free(s.t);
    free(vocab);
    vx_tokenizer_free(tok);
    vx_ckpt_close(ck);
    vx_plan_free(p);
    return rc;
}

void vx_plan_free(vx_plan *p) {
    if (!p) return;
    free(p->experts);
    free(p);
}
