/*
 * cmp_screen.c — the best and worst aligned tokens over every shared token
 * (spec/compare.md §6): one streaming pass maps each source row with the f32 matrix Rᵀ W,
 * or, on CPUs with AVX-512 BF16, first with a bf16 GEMM and a rigorous bound on each
 * cosine's error, so that only the tokens that can be among the best or worst go through
 * the exact f32 map.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"

/* --------------------------------------------------------------- best / worst */
typedef struct scored { double cos; uint32_t id; uint32_t idx; } scored;
static int by_best(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->cos != y->cos) return x->cos > y->cos ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}
static int by_worst(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->cos != y->cos) return x->cos < y->cos ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* c->Mf = (Wᵀ R)ᵀ = Rᵀ W [d][HS] in f32 (Rᵀ without PCA): one f32 GEMM of the f32 copies
 * (Wf, Rᵀ rounded), error ~1e-7 relative — as small as rounding a double product would
 * leave, at a fifth of the time. */
int cmp_build_map(ctx *c, const double *R) {
    size_t HS = c->HS, d = c->d;
    float *RT = vx_big_alloc(sizeof(float) * d * d);
    c->Mf = vx_big_alloc(sizeof(float) * d * HS);
    int rc = VX_OK;
    if (!RT || !c->Mf) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) RT[i * d + j] = (float)R[j * d + i];
    if (c->Wf) rc = vx_sgemm(0, 0, d, HS, d, RT, d, c->Wf, HS, c->Mf, HS);
    else memcpy(c->Mf, RT, sizeof(float) * d * d);
out:
    vx_big_free(RT);
    return rc;
}

/* Map every shared token: ẑ = (x - mu0) Mfᵀ - mu_z R, against ỹ = y - mu_y (centred) and
 * ẑ + mu_y against y (published). The anchors and test tokens (shared indices both[n]) are
 * already mapped, their cosines in f->csr and f->csp.
 * map_rows() maps a list of shared indices exactly: blocks of MAP_BLOCK rows, both sides
 * gathered on c->nthr threads, one f32 GEMM, cosines on c->nthr threads. */
#define MAP_BLOCK 4096
typedef struct cjob {
    const float *Z, *Y;       /* [nb][d] mapped source (before - cz), raw target */
    const double *cz, *muy;
    size_t d, r0, r1;
    scored *out, *outp;       /* [N] centred, published; indexed by shared index */
    const uint32_t *idx;      /* the block's shared indices */
    const uint32_t *sa;
} cjob;
static void *cos_worker(void *arg) {
    cjob *j = arg;
    size_t d = j->d;
    for (size_t i = j->r0; i < j->r1; i++) {
        double ab = 0, aa = 0, bb = 0, pb = 0, pa = 0, py = 0;
        for (size_t h = 0; h < d; h++) {
            double y = (double)j->Y[i * d + h], a = (double)j->Z[i * d + h] - j->cz[h], b = y - j->muy[h], ap = a + j->muy[h];
            ab += a * b; aa += a * a; bb += b * b;
            pb += ap * y; pa += ap * ap; py += y * y;
        }
        uint32_t k = j->idx[i];
        j->out[k] = (scored){ aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0, j->sa[k], k };
        j->outp[k] = (scored){ pa > 0 && py > 0 ? pb / sqrt(pa * py) : 0.0, j->sa[k], k };
    }
    return NULL;
}

static int map_rows(ctx *c, const uint32_t *rows, size_t nr, const double *cz, const double *muy, scored *sc, scored *sp) {
    size_t HS = c->HS, d = c->d, blk = nr < MAP_BLOCK ? nr : MAP_BLOCK;
    float *X = vx_big_array(blk * HS, sizeof(float)), *Z = vx_big_array(blk * d, sizeof(float));
    float *Y = vx_big_array(blk * d, sizeof(float));
    int rc = VX_OK;
    if (!X || !Z || !Y) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t b0 = 0; b0 < nr; b0 += MAP_BLOCK) {
        size_t nb = nr - b0 < MAP_BLOCK ? nr - b0 : MAP_BLOCK;
        cmp_gather(c, c->S, c->sid, rows + b0, 0, nb, c->mu0f, X, NULL);
        cmp_gather(c, c->T, c->tid, rows + b0, 0, nb, NULL, Y, NULL);
        if ((rc = vx_sgemm_map(nb, d, HS, X, c->Mf, Z))) goto out;
        cjob jobs[VX_THREADS_MAX];
        int T = c->nthr;
        for (int t = 0; t < T; t++)
            jobs[t] = (cjob){ Z, Y, cz, muy, d, nb * (size_t)t / (size_t)T, nb * (size_t)(t + 1) / (size_t)T, sc, sp, rows + b0, c->sa };
        vx_run_parallel(cos_worker, jobs, sizeof jobs[0], T);
    }
out:
    vx_big_free(X);
    vx_big_free(Z);
    vx_big_free(Y);
    return rc;
}

/* ------------------------------------------------------------------ screening */
/* The best and worst VX_CMP_TOP cosines over all shared tokens need exact cosines for only
 * a few tokens. With AVX-512 BF16, the rest are first mapped with the bf16 GEMM of kern.h
 * (faster than the f32 GEMM) together with a rigorous bound on each cosine's error; only
 * tokens whose bound interval can reach the top or bottom VX_CMP_TOP go through map_rows
 * (spec/compare.md §6). The bound, for one source row x̃ (f32, what map_rows multiplies) and
 * its bf16 rounding x̂, with Ŵ the bf16 rounding of Mf and E = Mf − Ŵ:
 *   ‖Mf x̃ − û‖ ≤ σ(Mf)·‖x̃ − x̂‖ + σ(E)·‖x̂‖ + γ·‖Ŵ‖_F·‖x̂‖ = ε
 * (û the bf16 GEMM's row; γ its accumulation bound, kern.h; ‖|Ŵ||x̂|‖ ≤ ‖Ŵ‖_F‖x̂‖). The
 * true v = Mf x̃ − cz is then within angle θ = asin(ε/‖v̂‖) of v̂, so its cosine with ỹ is
 * within θ·(sin φ̂ + θ) of v̂'s (φ̂ the angle of v̂ and ỹ; |d cos/dφ| = |sin φ|). How σ(E)
 * and σ(Mf) are bounded: screen_setup. */
#define SCREEN_CHUNK 192      /* rows per thread step: 16 panels; A 1.5 MB and Z 0.8 MB for HS = 4096, d = 1024,
                                 * so both stay in L2/L3 */
#define SCREEN_SLACK 1e-5     /* added to every half-width: the f32 path's own rounding */

typedef struct sjob {
    const ctx *c;
    const uint32_t *rows;     /* the shared indices to screen, [n] */
    size_t n;
    atomic_size_t *next;      /* the first row no thread has taken yet */
    const uint32_t *Bp;       /* packed Ŵ */
    double sig_m, sig_e, gam_w;  /* σ(Mf), σ(E), γ·‖Ŵ‖_F */
    const double *cz, *muy;   /* centred: (Z − cz) against (Y − muy) */
    const double *czp, *zero; /* published: (Z − czp) against Y, czp = cz − muy */
    float *Z, *Y;             /* [SCREEN_CHUNK][d] each */
    uint32_t *Ap;             /* packed chunk */
    double *e2, *n2;          /* [SCREEN_CHUNK] */
    scored *sc, *sp;          /* [N] screened cosines, centred and published */
    double *lo, *hi;          /* [N] bounds of the exact centred cosines */
    double *lop, *hip;        /* [N] and of the published ones */
} sjob;

/* The screened cosine of p = {Σ a·b, Σ a², Σ b²} and the interval [*lo, *hi] holding the
 * exact one, given ε (en) ≥ ‖a − a_exact‖ (the same ε serves both definitions: they differ
 * by a shift of a, computed exactly enough to be absorbed in the slack). */
static double bound(const double p[3], double en, double *lo, double *hi) {
    double ab = p[0], aa = p[1], bb = p[2];
    double cs = 0, half = INFINITY;
    if (bb == 0) half = 0;    /* the exact cosine is 0 too (cos_worker) */
    else if (aa > 0) {
        double na = sqrt(aa);
        cs = ab / sqrt(aa * bb);
        if (en < na && isfinite(cs)) {
            double th = asin(en / na), sn = sqrt(fmax(0.0, 1 - cs * cs));
            half = th * (sn + th) + SCREEN_SLACK;
        }
    }
    *lo = half < INFINITY ? cs - half : -INFINITY;
    *hi = half < INFINITY ? cs + half : INFINITY;
    return cs;
}

static void *screen_worker(void *arg) {
    sjob *j = arg;
    const ctx *c = j->c;
    size_t HS = c->HS, d = c->d;
    /* Chunks are taken, not dealt: CPUs of a virtual machine need not run at the same
     * speed, and halves dealt in advance end apart. */
    for (;;) {
        size_t c0 = atomic_fetch_add(j->next, SCREEN_CHUNK);
        if (c0 >= j->n) break;
        size_t m = j->n - c0 < SCREEN_CHUNK ? j->n - c0 : SCREEN_CHUNK;
        const uint32_t *rows = j->rows + c0;
        const uint16_t *src[SCREEN_CHUNK];
        for (size_t i = 0; i < m; i++) src[i] = c->S->emb + (size_t)c->sid[rows[i]] * HS;
        vx_bf16_pack_a_f16(j->Ap, src, m, HS, c->S->scale, c->mu0f, j->e2, j->n2);
        vx_bf16_gemm_avx512(j->Z, d, j->Ap, j->Bp, m, d, HS);
        for (size_t i = 0; i < m; i++) cmp_cvt_row(c, c->T, j->Y + i * d, c->tid[rows[i]], c->zero);
        for (size_t i = 0; i < m; i++) {
            double p[3], q[3];
            double en = (1 + 1e-4) * (j->sig_m * sqrt(j->e2[i]) + (j->sig_e + j->gam_w) * sqrt(j->n2[i])) + 1e-30;
            vx_bf16_cos_parts(j->Z + i * d, j->Y + i * d, j->cz, j->muy, d, p);
            vx_bf16_cos_parts(j->Z + i * d, j->Y + i * d, j->czp, j->zero, d, q);
            uint32_t k = rows[i];
            j->sc[k] = (scored){ bound(p, en, &j->lo[k], &j->hi[k]), c->sa[k], k };
            j->sp[k] = (scored){ bound(q, en, &j->lop[k], &j->hip[k]), c->sa[k], k };
        }
    }
    return NULL;
}

/* σ(Mf), σ(E) and ‖Ŵ‖_F; Bp = packed Ŵ. Both Grams in f32 (SYRK) with their rounding
 * bounded: each entry of fl(M Mᵀ) is within γ_HS·‖m_i‖‖m_j‖ of the exact one (any summation
 * order), so σ(Mf)² ≤ max_i Σ_j (|Ĝ_ij| + γ_HS‖m_i‖‖m_j‖) (Gershgorin; Mf Mfᵀ is the
 * identity to rounding) and σ(E)² ≤ λ_max(Ĝ_E) + γ_HS‖E‖²_F (‖Ĝ − G‖₂ ≤ ‖Ĝ − G‖_F), λ_max
 * from LAPACK in double. */
static int screen_setup(ctx *c, uint32_t *Bp, double *sig_m, double *sig_e, double *wf) {
    size_t HS = c->HS, d = c->d;
    float *E = vx_big_array(d * HS, sizeof(float)), *Gf = vx_big_array(d * d, sizeof(float));
    double *G = vx_big_array(d * d, sizeof(double)), *rn = vx_big_array(d, sizeof(double));
    int rc = VX_OK;
    if (!E || !Gf || !G || !rn) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    vx_bf16_pack_bt(Bp, c->Mf, d, HS);
    double f = 0, rsum = 0, ef = 0;
    for (size_t n = 0; n < d; n++) {
        double r2 = 0;
        for (size_t k = 0; k < HS; k++) {
            float m = c->Mf[n * HS + k], w = vx_bf16_float(vx_bf16_bits(m));
            E[n * HS + k] = m - w; /* exact: w is m with its low 16 bits rounded off */
            f += (double)w * w;
            r2 += (double)m * m;
            ef += (double)(m - w) * (m - w);
        }
        rn[n] = sqrt(r2);
        rsum += rn[n];
    }
    *wf = sqrt(f);
    double gam = HS * 0x1p-24 / (1 - HS * 0x1p-24), gm = 0;
    if ((rc = vx_sgram_cols(Gf, d, c->Mf, HS, HS))) goto out;
    for (size_t i = 0; i < d; i++) {
        double row = 0;
        for (size_t j = 0; j < d; j++) row += fabs((double)(i <= j ? Gf[i * d + j] : Gf[j * d + i]));
        row += gam * rn[i] * rsum;
        if (!(row <= gm)) gm = row;
    }
    *sig_m = sqrt(gm) * (1 + 1e-12);
    memset(Gf, 0, sizeof(float) * d * d);
    if ((rc = vx_sgram_cols(Gf, d, E, HS, HS))) goto out;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) G[i * d + j] = Gf[i * d + j];
    double lam = 0;
    if ((rc = vx_eig_top(&lam, NULL, G, d, 1))) goto out;
    *sig_e = sqrt(fmax(lam, 0.0) * (1 + 1e-9) + gam * ef * (1 + 1e-12) + 1e-300);
out:
    vx_big_free(E);
    vx_big_free(Gf);
    vx_big_free(G);
    vx_big_free(rn);
    return rc;
}

/* The k-th largest (sign +1) or smallest (sign −1) of v[n], k ≤ n, k ≤ VX_CMP_TOP. */
static double kth(const double *v, size_t n, size_t k, int sign) {
    double top[VX_CMP_TOP];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = sign * v[i];
        if (m == k && !(x > top[m - 1])) continue;
        size_t p = m < k ? m++ : k - 1;
        while (p > 0 && top[p - 1] < x) { top[p] = top[p - 1]; p--; }
        top[p] = x;
    }
    return sign * top[k - 1];
}

/* 1 when the screened pass is used: the CPU has AVX-512 BF16, VINDEX_COMPARE_SCREEN is not
 * "0", and there are enough tokens for it to matter. */
static int screen_on(size_t nr) {
    const char *e = getenv("VINDEX_COMPARE_SCREEN");
    if (e && !strcmp(e, "0")) return 0;
    return vx_cpu_bf16() && nr >= 2 * VX_CMP_TOP;
}

/* 1 when the interval [lo, hi] holds a threshold k/10 of frac_above: which side of it the
 * exact cosine lies on is then not known. */
static int straddles(double lo, double hi) {
    for (int k = 0; k < 10; k++) {
        double th = (double)k / 10.0;
        if (lo <= th && th < hi) return 1;
    }
    return 0;
}

/* Best / worst VX_CMP_TOP of sc[N] (sorted in place) into best[], worst[]. */
static void rank(scored *sc, size_t N, size_t k, const uint32_t *sb, vx_cmp_token *best, vx_cmp_token *worst) {
    qsort(sc, N, sizeof(scored), by_best);
    for (size_t i = 0; i < k; i++) best[i] = (vx_cmp_token){ sc[i].id, sb[sc[i].idx], sc[i].cos };
    qsort(sc, N, sizeof(scored), by_worst);
    for (size_t i = 0; i < k; i++) worst[i] = (vx_cmp_token){ sc[i].id, sb[sc[i].idx], sc[i].cos };
}

int cmp_map_all(ctx *c, vx_compare_result *r, const cmp_fit *f) {
    const double *R = f->R, *muz = f->muz, *muy = f->muy;
    const uint32_t *both = f->both;
    size_t n = f->na + f->nt;
    size_t N = c->N, HS = c->HS, d = c->d, k = N < VX_CMP_TOP ? N : VX_CMP_TOP;
    int T = vx_threads_cap(c->nthr);
    double *cz = vx_big_array(d, sizeof(double)), *czp = vx_big_array(d, sizeof(double)), *zero = vx_big_array(d, sizeof(double));
    scored *sc = vx_big_array(N, sizeof(scored)), *sp = vx_big_array(N, sizeof(scored));
    uint8_t *done = vx_big_array(N, 1);
    uint32_t *rest = vx_big_array(N, sizeof(uint32_t));
    double *lo = NULL, *hi = NULL, *lop = NULL, *hip = NULL;
    uint32_t *Bp = NULL;
    sjob jobs[VX_THREADS_MAX];
    memset(jobs, 0, sizeof jobs);
    int rc = VX_OK;
    if (!cz || !czp || !zero || !sc || !sp || !done || !rest) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
    for (size_t j = 0; j < d; j++)
        for (size_t i = 0; i < d; i++) cz[j] += muz[i] * R[i * d + j];
    for (size_t j = 0; j < d; j++) czp[j] = cz[j] - muy[j];
    for (size_t i = 0; i < n; i++) {
        sc[both[i]] = (scored){ f->csr[i], c->sa[both[i]], both[i] };
        sp[both[i]] = (scored){ f->csp[i], c->sa[both[i]], both[i] };
        done[both[i]] = 1;
    }
    size_t nr = 0;
    for (size_t i = 0; i < N; i++)
        if (!done[i]) rest[nr++] = (uint32_t)i;
    if (!screen_on(nr)) {
        if ((rc = map_rows(c, rest, nr, cz, muy, sc, sp))) goto out;
    } else {
        double sig_m = 0, sig_e = 0, wf = 0;
        lo = vx_big_array(N, sizeof(double));
        hi = vx_big_array(N, sizeof(double));
        lop = vx_big_array(N, sizeof(double));
        hip = vx_big_array(N, sizeof(double));
        Bp = vx_big_array(vx_bf16_b_words(d, HS), sizeof(uint32_t));
        if (!lo || !hi || !lop || !hip || !Bp) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory"); goto out; }
        if ((rc = screen_setup(c, Bp, &sig_m, &sig_e, &wf))) goto out;
        cmp_phase("all: bounds");
        size_t nacc = VX_BF16_KC + (HS + VX_BF16_KC - 1) / VX_BF16_KC;
        double gam = nacc * 0x1p-24 / (1 - nacc * 0x1p-24);
        atomic_size_t next = 0;
        for (int t = 0; t < T; t++) {
            jobs[t] = (sjob){ c, rest, nr, &next, Bp, sig_m, sig_e, gam * wf, cz, muy, czp, zero,
                              vx_big_array(SCREEN_CHUNK * d, sizeof(float)),
                              vx_big_array(SCREEN_CHUNK * d, sizeof(float)),
                              vx_big_array(vx_bf16_a_words(SCREEN_CHUNK, HS), sizeof(uint32_t)),
                              vx_big_array(SCREEN_CHUNK, sizeof(double)), vx_big_array(SCREEN_CHUNK, sizeof(double)),
                              sc, sp, lo, hi, lop, hip };
            if (!jobs[t].Z || !jobs[t].Y || !jobs[t].Ap || !jobs[t].e2 || !jobs[t].n2) {
                rc = vx_fail(c->err, VX_ENOMEM, "out of memory");
                goto out;
            }
        }
        vx_run_parallel(screen_worker, jobs, sizeof jobs[0], T);
        cmp_phase("all: bf16");
        for (size_t i = 0; i < n; i++) {
            lo[both[i]] = hi[both[i]] = f->csr[i];
            lop[both[i]] = hip[both[i]] = f->csp[i];
        }
        double L = kth(lo, N, k, 1), U = kth(hi, N, k, -1), Lp = kth(lop, N, k, 1), Up = kth(hip, N, k, -1);
        double hw = 0;
        size_t nf = 0, nc = 0;
        for (size_t i = 0; i < nr; i++)
            if (isfinite(hi[rest[i]] - lo[rest[i]])) { hw += (hi[rest[i]] - lo[rest[i]]) / 2; nf++; }
        /* exactly mapped: whatever can be among either definition's best or worst, and every
         * token whose published interval holds a frac_above threshold */
        for (size_t i = 0; i < nr; i++) {
            uint32_t t = rest[i];
            if (!(hi[t] < L) || !(lo[t] > U) || !(hip[t] < Lp) || !(lop[t] > Up) || straddles(lop[t], hip[t])) rest[nc++] = t;
        }
        if (getenv("VINDEX_COMPARE_TIMING")) {
            fprintf(stderr, "compare: screened %zu tokens (sigma(E) %.3g, sigma(Mf) %.6f, mean half-width %.2e over %zu "
                    "bounded), %zu mapped exactly\n", nr, sig_e, sig_m, nf ? hw / (double)nf : 0.0, nf, nc);
        }
        if ((rc = map_rows(c, rest, nc, cz, muy, sc, sp))) goto out;
        if (r->arrays) {
            /* The arrays want every cosine exact: map the tokens the screening settled too,
             * after the pass above, so that the reported numbers are the same bytes as
             * without arrays (an f32 GEMM row can move in its last bits with the rows
             * beside it). Their exact cosines stay on the side of every threshold and of L
             * and U that their bounds put them on, so nothing ranked changes. */
            memset(done, 0, N);
            for (size_t i = 0; i < n; i++) done[both[i]] = 1;
            for (size_t i = 0; i < nc; i++) done[rest[i]] = 1;
            size_t nx = 0;
            for (size_t i = 0; i < N; i++)
                if (!done[i]) rest[nx++] = (uint32_t)i;
            if ((rc = map_rows(c, rest, nx, cz, muy, sc, sp))) goto out;
            cmp_phase("all: arrays");
        }
    }
    for (int t = 0; t < 10; t++) {
        size_t cnt = 0;
        for (size_t i = 0; i < N; i++) cnt += sp[i].cos > (double)t / 10.0;
        r->frac_above_all[t] = (double)cnt / (double)N;
    }
    if (r->arrays) { /* before rank() sorts them */
        vx_cmp_arrays *x = r->arrays;
        memcpy(x->id_a, c->sa, sizeof(uint32_t) * N);
        memcpy(x->id_b, c->sb, sizeof(uint32_t) * N);
        for (size_t i = 0; i < N; i++) {
            x->all_cos[i] = sp[i].cos;
            x->all_cos_centred[i] = sc[i].cos;
        }
    }
    rank(sc, N, k, c->sb, r->best_centred, r->worst_centred);
    rank(sp, N, k, c->sb, r->best, r->worst);
    r->n_best = k;
out:
    for (int t = 0; t < T; t++) {
        vx_big_free(jobs[t].Z);
        vx_big_free(jobs[t].Y);
        vx_big_free(jobs[t].Ap);
        vx_big_free(jobs[t].e2);
        vx_big_free(jobs[t].n2);
    }
    vx_big_free(cz);
    vx_big_free(czp);
    vx_big_free(zero);
    vx_big_free(sc);
    vx_big_free(sp);
    vx_big_free(done);
    vx_big_free(rest);
    vx_big_free(lo);
    vx_big_free(hi);
    vx_big_free(lop);
    vx_big_free(hip);
    vx_big_free(Bp);
    return rc;
}
