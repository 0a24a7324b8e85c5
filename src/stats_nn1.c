/*
 * stats_nn1.c — the near-duplicate sample's nearest neighbours (spec/stats.md §3.7),
 * block by block inside the pass of stats_cov.c.
 *
 * nn1(t) is the largest *exact* cosine of sample row t with any other non-zero row u:
 *   cos(t, u) = fl32( dot(s_t, x_u) / √ss_u )  (the quotient in double),
 * where s_t is t's unit row (f32), x_u the stored row, dot the kernels' canonical f32 dot
 * product and ss_u the canonical Σx² (kern.h). Every row's cosine is deterministic, so the
 * maximum does not depend on how rows are found.
 *
 * Computing that dot for all sample × rows pairs would be slow; instead a cheaper GEMM
 * screens them: the f32 sgemm of the block (centred on the pass's shift) with the sample,
 * or, on CPUs with AVX-512 BF16, the bf16 GEMM of kern.h (~1.9× the f32 rate). Each
 * screened value z ≈ s_t·(x_u − shift) comes with a rigorous bound b on |z + s_t·shift −
 * dot(s_t, x_u)|, so u can be the argmax only when (z + s_t·shift + b)/√ss_u reaches the
 * best lower bound seen; only those pairs get the exact dot. The result is the same bits
 * with either screen (and with VINDEX_STATS_NN1=exact, which computes every pair).
 *
 * The bound, for a row y = fl(x − shift) (f32), its bf16 rounding ŷ, ŝ = bf16(s), e = s − ŝ:
 *   s·x − s·shift = ŝ·ŷ + e·y + ŝ·(y − ŷ) + s·(x − shift − y)
 *   |z − ŝ·ŷ| ≤ γ_b‖ŝ‖‖ŷ‖ (kern.h's accumulation bound; Cauchy–Schwarz on Σ|ŝ_k ŷ_k|)
 *   |e·y| ≤ ‖e‖‖y‖,  |ŝ·(y − ŷ)| ≤ ‖ŝ‖‖y − ŷ‖,  |x − shift − y| ≤ 2⁻²⁴|y| elementwise
 * and the canonical dot is within γ_c‖s‖‖x‖ of s·x (γ_c: ⌈H/16⌉ + 4 roundings). The f32
 * screen has |z − s·y| ≤ γ_H‖s‖‖y‖ whatever order the BLAS sums in, with ‖y‖ ≤ ‖x‖ +
 * ‖shift‖. Screened values are compared in f32 with an absolute slack of 1e-5·(‖y‖ + ‖x‖ +
 * ‖shift‖), far above the few roundings of the comparison itself.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "stats.h"

#define CHUNK 96 /* rows per screening step: a multiple of VX_BF16_MR */
_Static_assert(CHUNK % VX_BF16_MR == 0, "chunks are whole bf16 panels");

enum { NN1_EXACT, NN1_F32, NN1_BF16 };

typedef struct tstate {
    float *L, *best;   /* [D]: the best lower bound / exact cosine this thread has seen */
    float *Z;          /* [CHUNK][D] screened values (bf16) */
    uint32_t *Ap;      /* packed chunk (bf16) */
    double *e2, *n2;   /* [CHUNK] */
    float *dots;       /* [2][block] exact mode: dots, Σx² */
    size_t exact;      /* pairs given the exact dot */
} tstate;

struct vx_nn1 {
    int mode, T;
    size_t D, n, H, Hp;
    const vx_kern *kern;
    const uint32_t *sid;
    int32_t *who;      /* [n]: the sample index of a row, or -1 */
    float *Sp;         /* [D][Hp] sample rows, zero-padded (the canonical dot's query) */
    const float *S;    /* [D][H] */
    uint32_t *Bp;      /* packed bf16 sample */
    float *sdot, *A;   /* [D]: s·shift, ‖e‖ (bf16) */
    double gam, gam_c, shn, smax;
    float *Zb;         /* [block][D] f32 screen */
    tstate *ts;
};

/* One block's shared input for the workers. */
typedef struct bjob {
    vx_nn1 *q;
    const uint16_t *X;  /* block rows, f16 */
    const float *Y, *ss;
    size_t r0, m;
    atomic_size_t *next;
    int t;
} bjob;

static void recheck(vx_nn1 *q, tstate *s, const uint16_t *x, float ss, size_t d) {
    float dot, ssr;
    q->kern->dot_ss(&dot, &ssr, x, 1, q->H, q->Sp + d * q->Hp);
    float c = (float)((double)dot / sqrt((double)ss));
    s->exact++;
    if (c > s->best[d]) s->best[d] = c;
    if (c > s->L[d]) s->L[d] = c;
}

/* Rows [i0, i0 + mm) of the block, their screened values Z [mm][D] and per-row bound
 * terms: b(d) = A[d]·P + W, all in cosine units after × inv. */
static void screen_rows(vx_nn1 *q, tstate *s, const bjob *j, size_t i0, size_t mm, const float *Z,
                        const double *e2, const double *n2) {
    size_t D = q->D;
    float P[CHUNK], W[CHUNK], inv[CHUNK];
    for (size_t i = 0; i < mm; i++) {
        double ss = j->ss[i0 + i], nx = sqrt(ss) * (1 + 1e-3) + 1e-30, ny, w;
        inv[i] = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        if (q->mode == NN1_BF16) {
            double ey = sqrt(e2[i]) * (1 + 1e-3) + 1e-30, nyh = sqrt(n2[i]) * (1 + 1e-3);
            ny = nyh + ey;
            w = q->smax * (ey + q->gam * nyh) + (double)q->H * 0x1p-126;
        } else {
            ny = (nx + q->shn) * (1 + 1e-6);
            w = q->smax * q->gam * ny;
        }
        w += q->smax * (0x1p-23 * ny + q->gam_c * nx + 1e-12 * q->shn);
        P[i] = (float)ny;
        W[i] = (float)(w * (1 + 1e-5) + 1e-5 * (ny + nx + q->shn));
    }
    const float *sd = q->sdot, *A = q->A;
    float *L = s->L;
    /* lower bounds first: the chunk's best candidate sets the bar for the others */
    for (size_t i = 0; i < mm; i++) {
        if (!(inv[i] > 0)) continue;
        const float *z = Z + i * D;
        float p = P[i], w = W[i], v = inv[i];
        int32_t own = q->who[j->r0 + i0 + i];
        if (own >= 0) {
            for (size_t d = 0; d < D; d++) {
                float lo = (z[d] + sd[d] - (A[d] * p + w)) * v;
                if ((int32_t)d != own && lo > L[d]) L[d] = lo;
            }
        } else {
            for (size_t d = 0; d < D; d++) {
                float lo = (z[d] + sd[d] - (A[d] * p + w)) * v;
                L[d] = lo > L[d] ? lo : L[d];
            }
        }
    }
    for (size_t i = 0; i < mm; i++) {
        if (!(inv[i] > 0)) continue;
        const float *z = Z + i * D;
        const uint16_t *x = j->X + (i0 + i) * q->H;
        float p = P[i], w = W[i], v = inv[i];
        int32_t own = q->who[j->r0 + i0 + i];
        for (size_t d = 0; d < D; d++) {
            float hi = (z[d] + sd[d] + (A[d] * p + w)) * v;
            if (hi >= L[d] && (int32_t)d != own) recheck(q, s, x, j->ss[i0 + i], d);
        }
    }
}

static void *block_worker(void *arg) {
    bjob *j = arg;
    vx_nn1 *q = j->q;
    tstate *s = &q->ts[j->t];
    size_t D = q->D, H = q->H;
    if (q->mode == NN1_EXACT) { /* every pair: samples [d0, d1) against all rows */
        size_t d0 = D * (size_t)j->t / (size_t)q->T, d1 = D * (size_t)(j->t + 1) / (size_t)q->T;
        for (size_t d = d0; d < d1; d++) {
            q->kern->dot_ss(s->dots, s->dots + j->m, j->X, j->m, H, q->Sp + d * q->Hp);
            for (size_t i = 0; i < j->m; i++) {
                float ss = j->ss[i];
                if (!(ss > 0) || q->who[j->r0 + i] == (int32_t)d) continue;
                float c = (float)((double)s->dots[i] / sqrt((double)ss));
                s->exact++;
                if (c > s->best[d]) s->best[d] = c;
            }
        }
        return NULL;
    }
    for (;;) {
        size_t i0 = atomic_fetch_add(j->next, CHUNK);
        if (i0 >= j->m) break;
        size_t mm = j->m - i0 < CHUNK ? j->m - i0 : CHUNK;
        if (q->mode == NN1_BF16) {
            vx_bf16_pack_a_avx512(s->Ap, j->Y + i0 * H, H, mm, H, s->e2, s->n2);
            vx_bf16_gemm_avx512(s->Z, D, s->Ap, q->Bp, mm, D, H);
            screen_rows(q, s, j, i0, mm, s->Z, s->e2, s->n2);
        } else {
            screen_rows(q, s, j, i0, mm, q->Zb + i0 * D, NULL, NULL);
        }
    }
    return NULL;
}

static int nn1_mode(void) {
    const char *e = getenv("VINDEX_STATS_NN1");
    if (e && !strcmp(e, "exact")) return NN1_EXACT;
    if (e && !strcmp(e, "f32")) return NN1_F32;
    return vx_cpu_bf16() ? NN1_BF16 : NN1_F32;
}

void vx_nn1_free(vx_nn1 *q) {
    if (!q) return;
    if (q->ts)
        for (int t = 0; t < q->T; t++) {
            tstate *s = &q->ts[t];
            free(s->L); free(s->best); free(s->e2); free(s->n2);
            vx_big_free(s->Z); vx_big_free(s->Ap); vx_big_free(s->dots);
        }
    free(q->ts); free(q->who); free(q->sdot); free(q->A);
    vx_big_free(q->Sp); vx_big_free(q->Bp); vx_big_free(q->Zb);
    free(q);
}

vx_nn1 *vx_nn1_new(const float *S, const uint32_t *sid, size_t D, size_t n, size_t H, size_t B, const float *shift,
                   int T) {
    vx_nn1 *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->mode = nn1_mode();
    q->T = T;
    q->D = D; q->n = n; q->H = H; q->Hp = vx_kern_pad(H);
    q->kern = vx_kern_active();
    q->sid = sid;
    q->S = S;
    q->who = malloc(n * sizeof *q->who);
    q->Sp = vx_big_array(D * q->Hp, sizeof(float));
    q->sdot = malloc(D * sizeof(float));
    q->A = calloc(D, sizeof(float));
    q->ts = calloc((size_t)T, sizeof *q->ts);
    if (!q->who || !q->Sp || !q->sdot || !q->A || !q->ts) goto fail;
    memset(q->who, 0xff, n * sizeof *q->who);
    for (size_t d = 0; d < D; d++) q->who[sid[d]] = (int32_t)d;
    double shn = 0, smax = 0;
    for (size_t c = 0; c < H; c++) shn += (double)shift[c] * shift[c];
    q->shn = sqrt(shn);
    for (size_t d = 0; d < D; d++) {
        const float *s = S + d * H;
        double sd = 0, s2 = 0, e2 = 0;
        for (size_t c = 0; c < H; c++) {
            sd += (double)s[c] * shift[c];
            s2 += (double)s[c] * s[c];
            double e = (double)s[c] - vx_bf16_float(vx_bf16_bits(s[c]));
            e2 += e * e;
        }
        memcpy(q->Sp + d * q->Hp, s, H * sizeof(float));
        q->sdot[d] = (float)sd;
        /* ‖ŝ‖ ≤ ‖s‖ + ‖e‖: one factor covers both norms of the bound */
        double sh = sqrt(s2) + sqrt(e2);
        if (sh > smax) smax = sh;
        q->A[d] = (float)(sqrt(e2) * (1 + 1e-6));
    }
    q->smax = smax * (1 + 1e-9);
    size_t nc = (H + VX_LANES - 1) / VX_LANES + 4;
    q->gam_c = (double)nc * 0x1p-24 / (1 - (double)nc * 0x1p-24);
    if (q->mode == NN1_BF16) {
        size_t nacc = VX_BF16_KC + (H + VX_BF16_KC - 1) / VX_BF16_KC;
        q->gam = (double)nacc * 0x1p-24 / (1 - (double)nacc * 0x1p-24);
        if (!(q->Bp = vx_big_array(vx_bf16_b_words(D, H), sizeof(uint32_t)))) goto fail;
        vx_bf16_pack_bt(q->Bp, S, D, H);
    } else {
        q->gam = (double)H * 0x1p-24 / (1 - (double)H * 0x1p-24);
        memset(q->A, 0, D * sizeof(float));
        if (q->mode == NN1_F32 && !(q->Zb = vx_big_array(B * D, sizeof(float)))) goto fail;
    }
    for (int t = 0; t < T; t++) {
        tstate *s = &q->ts[t];
        s->L = malloc(D * sizeof(float));
        s->best = malloc(D * sizeof(float));
        if (!s->L || !s->best) goto fail;
        for (size_t d = 0; d < D; d++) s->L[d] = s->best[d] = -INFINITY;
        if (q->mode == NN1_BF16) {
            s->Z = vx_big_array(CHUNK * D, sizeof(float));
            s->Ap = vx_big_array(vx_bf16_a_words(CHUNK, H), sizeof(uint32_t));
            s->e2 = malloc(CHUNK * sizeof(double));
            s->n2 = malloc(CHUNK * sizeof(double));
            if (!s->Z || !s->Ap || !s->e2 || !s->n2) goto fail;
        }
        if (q->mode == NN1_EXACT && !(s->dots = vx_big_array(2 * B, sizeof(float)))) goto fail;
    }
    return q;
fail:
    vx_nn1_free(q);
    return NULL;
}

int vx_nn1_block(vx_nn1 *q, const uint16_t *X, const float *Y, const float *ss, size_t r0, size_t m) {
    int T = q->T;
    if (q->mode == NN1_F32) {
        int rc = vx_sgemm_nt(m, q->D, q->H, Y, q->S, q->Zb);
        if (rc) return rc;
    }
    atomic_size_t next = 0;
    bjob jobs[64];
    for (int t = 0; t < T; t++) jobs[t] = (bjob){ q, X, Y, ss, r0, m, &next, t };
    vx_run_parallel(block_worker, jobs, sizeof jobs[0], T);
    return VX_OK;
}

/* nn1[d]: the best exact cosine over the threads, -INFINITY when no other non-zero row. */
void vx_nn1_result(const vx_nn1 *q, float *nn1) {
    if (getenv("VINDEX_STATS_TIMING")) {
        size_t ex = 0;
        for (int t = 0; t < q->T; t++) ex += q->ts[t].exact;
        static const char *const names[] = { "exact", "f32", "bf16" };
        fprintf(stderr, "stats: nn1 %s screen: %zu of %zu x %zu pairs computed exactly\n", names[q->mode], ex, q->D, q->n);
    }
    for (size_t d = 0; d < q->D; d++) {
        float b = -INFINITY;
        for (int t = 0; t < q->T; t++) b = q->ts[t].best[d] > b ? q->ts[t].best[d] : b;
        nn1[d] = b;
    }
}
