/*
 * compare.c — `vindex compare`: the order of the steps, their threads and their memory
 * (spec/compare.md; the steps live in the cmp_*.c files listed in cmp.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cmp.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"

/* --------------------------------------------------------------------- timing */
/* VINDEX_COMPARE_TIMING=1 prints the wall time of each phase on stderr (benchmarking),
 * and the CPU time the process spent in it: cpu/wall near the thread count means both
 * cores were busy. */
void cmp_phase(const char *name) {
    static double last = -1, last_cpu;
    static int on = -1;
    if (on < 0) on = getenv("VINDEX_COMPARE_TIMING") != NULL;
    if (!on) return;
    double t = vx_wall_s(), u = vx_cpu_s();
    if (last >= 0 && name) fprintf(stderr, "compare: %-12s %8.3f s  cpu %6.3f s\n", name, t - last, u - last_cpu);
    last = t;
    last_cpu = u;
}

int cmp_fail(vx_err *err, int rc, const char *what) {
    if (rc && err && !err->code) vx_fail(err, rc, "%s: %s", what, vx_strerror(rc));
    return rc;
}

void vx_compare_opts_init(vx_compare_opts *o) {
    memset(o, 0, sizeof *o);
    o->seed = VX_CMP_DEFAULT_SEED;
    o->pca_sample = VX_CMP_DEFAULT_PCA_SAMPLE;
}

static void arrays_free(vx_cmp_arrays *x) {
    if (!x) return;
    free(x->test_id);
    free(x->test_cos);
    free(x->test_cos_centred);
    free(x->test_l2);
    free(x->baseline_cos);
    free(x->baseline_cos_centred);
    free(x->id_a);
    free(x->id_b);
    free(x->all_cos);
    free(x->all_cos_centred);
    free(x->rel_target);
    free(x->rel_aligned);
    free(x->vol_native);
    free(x->vol_aligned);
    free(x);
}

/* r->arrays for N shared tokens and nt test tokens, every value NaN until the step that
 * computes it fills it (spec §11). The caller frees it with the result. */
static int arrays_alloc(vx_compare_result *r, size_t N, size_t nt) {
    vx_cmp_arrays *x = calloc(1, sizeof *x);
    if (!(r->arrays = x)) return VX_ENOMEM;
    size_t m = nt < VX_CMP_RELATIONAL ? nt : VX_CMP_RELATIONAL, np = m * (m - 1) / 2, S = VX_CMP_SIMPLICES;
    x->n_test = nt;
    x->n_shared = N;
    x->relational_n = m;
    x->relational_pairs = np;
    x->n_simplices = S;
    x->test_id = malloc(sizeof(uint32_t) * (nt ? nt : 1));
    x->id_a = malloc(sizeof(uint32_t) * N);
    x->id_b = malloc(sizeof(uint32_t) * N);
    double **dv[] = { &x->test_cos, &x->test_cos_centred, &x->test_l2, &x->baseline_cos, &x->baseline_cos_centred };
    size_t nd = 0;
    for (size_t k = 0; k < sizeof dv / sizeof dv[0]; k++) nd += !!(*dv[k] = malloc(sizeof(double) * (nt ? nt : 1)));
    nd += !!(x->all_cos = malloc(sizeof(double) * N)) + !!(x->all_cos_centred = malloc(sizeof(double) * N));
    nd += !!(x->rel_target = malloc(sizeof(double) * (np ? np : 1))) + !!(x->rel_aligned = malloc(sizeof(double) * (np ? np : 1)));
    nd += !!(x->vol_native = malloc(sizeof(double) * S)) + !!(x->vol_aligned = malloc(sizeof(double) * S));
    if (nd != 11 || !x->test_id || !x->id_a || !x->id_b) return VX_ENOMEM;
    for (size_t k = 0; k < sizeof dv / sizeof dv[0]; k++)
        for (size_t i = 0; i < nt; i++) (*dv[k])[i] = NAN;
    for (size_t i = 0; i < N; i++) x->all_cos[i] = x->all_cos_centred[i] = NAN;
    for (size_t i = 0; i < np; i++) x->rel_target[i] = x->rel_aligned[i] = NAN;
    for (size_t i = 0; i < S; i++) x->vol_native[i] = x->vol_aligned[i] = NAN;
    for (size_t i = 0; i < 100; i++) x->digit_target[i] = x->digit_aligned[i] = NAN;
    return VX_OK;
}

void vx_compare_free(vx_compare_result *r) {
    if (!r) return;
    arrays_free(r->arrays);
    free(r->gate_sim);
    free(r->down_sim);
    free(r->matched);
    free(r);
}

/* vx_run_parallel with BLAS single-threaded per caller while T > 1 jobs run (two callers
 * sharing OpenBLAS's pool oversubscribe it), restored after. */
void cmp_run_blas_serial(void *(*fn)(void *), void *jobs, size_t job_size, int T) {
    int before = vx_blas_threads_get();
    if (T > 1) vx_blas_threads(1);
    vx_run_parallel(fn, jobs, job_size, T);
    if (T > 1) vx_blas_threads(before);
}

/* ------------------------------------------------------------- early work */
/* What does not depend on the PCA basis, done while the PCA eigensolver runs on the other
 * core (vx_seig_top_with): the baseline's random rotation and the target's layer bases.
 * One thread, single-threaded BLAS. */
typedef struct early {
    ctx *c;
    const vx_compare_opts *o;
    double *Q;                 /* [d][d] */
    float *QT[2];              /* the target's bases [L_T][F_T][d], gate and down, f32 (rows past
                                * a layer's rank zero) */
    size_t *kT[2];             /* their ranks [L_T] */
    int ran, rc;
    vx_err err;
} early;

static void *early_work(void *arg) {
    early *e = arg;
    e->ran = 1;
    ctx cj = *e->c;
    cj.err = &e->err;
    cj.nthr = 1;
    int rc = VX_OK;
    /* baseline rotation */
    if ((rc = cmp_random_orthogonal(e->Q, cj.d, e->o->seed))) { rc = cmp_fail(cj.err, rc, "random orthogonal baseline"); goto out; }
    /* the target's layer bases, as stored (no map) */
    for (int kind = 0; kind < 2 && !rc; kind++)
        rc = cmp_target_bases(&cj, (vx_kind)kind, e->QT[kind], e->kT[kind]);
    rc = cmp_fail(cj.err, rc, "the target's layer subspaces");
out:
    e->rc = rc;
    return NULL;
}

int vx_compare(vx_compare_result **out, const vx_index *a, const vx_index *b, const vx_compare_opts *o, vx_err *err) {
    *out = NULL;
    if (o->pca_sample < 1) return vx_fail(err, VX_EUSAGE, "--pca-sample must be at least 1");
    /* the shared tokens are matched over both whole vocabularies */
    int vrc = vx_vocab_check(a, err);
    if (vrc || (vrc = vx_vocab_check(b, err))) return vrc;
    vx_err e0 = { 0 };       /* every step reports here (err may be NULL); copied out at the end */
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = &e0;
    cmp_side_init(&c.A, a);
    cmp_side_init(&c.B, b);
    /* Every embedding row is read (the all-token pass), and every layer direction: map
     * the pages in one call each rather than one fault per page. */
    for (int k = 0; k < 2; k++) {
        const side *sd = k ? &c.B : &c.A;
        vx_prefault(sd->emb, sd->V * sd->H * sizeof(uint16_t));
        vx_prefault(vx_features(sd->vx, VX_GATE), sd->L * sd->F * sd->H * sizeof(uint16_t));
        vx_prefault(vx_features(sd->vx, VX_DOWN), sd->L * sd->F * sd->H * sizeof(uint16_t));
    }
    vx_compare_result *r = calloc(1, sizeof *r);
    uint32_t *anc = NULL, *tst = NULL, *both = NULL;
    size_t na = 0, nt = 0;
    float *Z = NULL, *Y = NULL;
    double *R = NULL, *muz = NULL, *muy = NULL, *mux = NULL, *csr = NULL, *csp = NULL;
    early ew;
    memset(&ew, 0, sizeof ew);
    int rc = VX_OK, blas_before = vx_blas_threads_get();
    const char *step = "compare"; /* names the step in a message no step wrote itself */
    c.lut = vx_big_alloc(sizeof(float) * 65536);
    if (!r || !c.lut) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory"); goto out; }
    for (uint32_t i = 0; i < 65536; i++) c.lut[i] = vx_f16_to_f32((uint16_t)i);
    vx_blas_threads(o->threads);
    c.nthr = o->threads > 0 ? vx_threads_cap(o->threads) : vx_kern_threads();
    cmp_phase(NULL);

    /* §2 shared tokens */
    step = "shared tokens";
    if (cmp_same_vocab(a, b)) {
        r->by_id = 1;
        c.N = c.A.V;
        c.sa = vx_big_alloc(sizeof(uint32_t) * c.N);
        c.sb = vx_big_alloc(sizeof(uint32_t) * c.N);
        if (!c.sa || !c.sb) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < c.N; i++) c.sa[i] = c.sb[i] = (uint32_t)i;
    } else if ((rc = cmp_match_text(&c))) goto out;
    r->shared = c.N;
    if (c.N == 0) { rc = vx_fail(c.err, VX_EMISMATCH, "the vocabularies of A and B are disjoint (no shared token)"); goto out; }
    if (c.N < VX_CMP_MIN_SHARED) {
        rc = vx_fail(c.err, VX_EMISMATCH, "too few shared tokens: %zu (at least %d are needed)", c.N, VX_CMP_MIN_SHARED);
        goto out;
    }
    /* §4 roles: the wider model is the source, B on ties */
    r->source_is_a = c.A.H > c.B.H;
    c.S = r->source_is_a ? &c.A : &c.B;
    c.T = r->source_is_a ? &c.B : &c.A;
    c.sid = r->source_is_a ? c.sa : c.sb;
    c.tid = r->source_is_a ? c.sb : c.sa;
    c.HS = c.S->H;
    c.d = c.T->H;
    r->dim_source = (uint32_t)c.HS;
    r->dim_target = (uint32_t)c.d;
    size_t HS = c.HS, d = c.d;

    /* §3 split */
    step = "anchor/test split";
    if ((rc = cmp_draw_sets(&c, o, &anc, &na, &tst, &nt))) goto out;
    r->n_anchors = na;
    r->n_test = nt;
    if (o->keep_arrays && arrays_alloc(r, c.N, nt)) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory for the per-token arrays"); goto out; }
    cmp_phase("shared+split");

    /* §4 PCA */
    step = "PCA";
    r->pca_variance_retained = 1.0;
#if defined(__x86_64__)
    c.avx2 = vx_cpu_avx2();
#endif
    if (!(c.mu0 = vx_big_array(HS, sizeof(double))) || !(c.mu0f = vx_big_array(HS, sizeof(float))) || !(c.zero = vx_big_array(HS, sizeof(float)))) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory"); goto out; }
    /* the early work runs beside the PCA eigensolver, or here without PCA */
    ew.c = &c;
    ew.o = o;
    ew.Q = vx_big_array(d * d, sizeof(double));
    for (int k = 0; k < 2; k++) {
        ew.QT[k] = vx_big_array(c.T->L * c.T->F * d, sizeof(float));
        ew.kT[k] = vx_big_array(c.T->L ? c.T->L : 1, sizeof(size_t));
    }
    if (!ew.Q || !ew.QT[0] || !ew.QT[1] || !ew.kT[0] || !ew.kT[1]) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory"); goto out; }
    if (HS > d && (rc = cmp_fit_pca(&c, o, r, early_work, &ew))) goto out;
    if (!ew.ran) early_work(&ew);
    if (ew.rc) { rc = ew.rc; e0 = ew.err; goto out; }
    cmp_phase("pca");

    /* §5 gather anchors then test, project, centre on anchor means */
    step = "projection";
    size_t n = na + nt;
    both = vx_big_alloc(sizeof(uint32_t) * n);
    Z = vx_big_array(n * d, sizeof(float));
    Y = vx_big_array(n * d, sizeof(float));
    muz = vx_big_array(d, sizeof(double));
    muy = vx_big_array(d, sizeof(double));
    mux = vx_big_array(HS, sizeof(double));
    R = vx_big_alloc(sizeof(double) * d * d);
    csr = vx_big_alloc(sizeof(double) * n);
    csp = vx_big_alloc(sizeof(double) * n);
    if (!both || !Z || !Y || !muz || !muy || !mux || !R || !csr || !csp) { rc = vx_fail(c.err, VX_ENOMEM, "out of memory for %zu tokens", n); goto out; }
    memcpy(both, anc, sizeof(uint32_t) * na);
    memcpy(both + na, tst, sizeof(uint32_t) * nt);
    if ((rc = cmp_project_rows(&c, Z, Y, both, n, mux, na))) goto out;
    cmp_phase("proj");

    /* §5 Procrustes: M = Z̃ₐᵀ Ỹₐ = U Σ Vᵀ, R = U Vᵀ */
    step = "Procrustes";
    if ((rc = cmp_procrustes(&c, Z, Y, na, muz, muy, R, &r->procrustes_scale))) goto out;
    cmp_phase("procrustes");
    cmp_fit fit = { anc, tst, both, na, nt, Z, Y, muz, muy, mux, R, r->procrustes_scale, ew.Q, csr, csp };

    /* §6 metrics on the anchor/test rows: five independent jobs on two threads */
    step = "metrics";
    if ((rc = cmp_metrics(&c, &fit, r, o->seed))) goto out;
    cmp_phase("metrics");
    if (o->save_map && (rc = cmp_save_map(&c, o, &fit))) goto out;

    /* Measurements of the fitted map beyond spec §6 plug in here: `fit` holds the shared
     * anchor/test indices, their projected source and target rows (Z, Y: still in memory
     * until the next statement), the anchor means and R; c holds the PCA mean and basis
     * (c.mu0, c.Wf) and, through cmp_gather(c.S / c.T, c.sid / c.tid, ...), every shared
     * token's rows. Whatever needs every shared token should stream them like
     * cmp_map_all rather than hold them. */

    /* The anchor/test rows are done with: their pages go to the buffers below while still
     * backed. For the same reason the layers come before the long all-token pass. */
    vx_big_free(Z);
    vx_big_free(Y);
    Z = Y = NULL;
    fit.Z = fit.Y = NULL;
    step = "map";
    if ((rc = cmp_build_map(&c, R))) goto out;

    /* §7 layers */
    step = "layer subspaces";
    if ((rc = cmp_layer_sims(&c, r, ew.QT, ew.kT)) || (rc = cmp_match_layers(r, o, c.err))) goto out;
    cmp_phase("layers");

    /* §6 every shared token: best / worst */
    step = "all-token pass";
    if ((rc = cmp_map_all(&c, r, &fit))) goto out;
    cmp_phase("all tokens");

    /* §10 map-free similarity: the rows as they are, every shared token */
    if (!o->no_mapfree) {
        if ((rc = cmp_similarity(&c, o, r))) goto out; /* its phases: "sim: ..." */
    }

out:
    vx_blas_threads(blas_before);
    vx_big_free(c.lut);
    vx_big_free(c.sa);
    vx_big_free(c.sb);
    vx_big_free(c.Wf);
    vx_big_free(c.Mf);
    vx_big_free(c.mu0);
    vx_big_free(c.mu0f);
    vx_big_free(c.zero);
    vx_big_free(anc);
    vx_big_free(tst);
    vx_big_free(both);
    vx_big_free(Z);
    vx_big_free(Y);
    vx_big_free(R);
    vx_big_free(muz);
    vx_big_free(muy);
    vx_big_free(mux);
    vx_big_free(ew.Q);
    for (int k = 0; k < 2; k++) {
        vx_big_free(ew.QT[k]);
        vx_big_free(ew.kT[k]);
    }
    vx_big_free(csr);
    vx_big_free(csp);
    if (rc) {
        cmp_fail(c.err, rc, step);
        if (err) *err = e0;
        vx_compare_free(r);
        return rc;
    }
    *out = r;
    return VX_OK;
}
