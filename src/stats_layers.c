/*
 * stats_layers.c — the per-layer weight battery (spec/stats.md §4): spectrum numbers of
 * the gate and down matrices, sparsity, dead and weak neurons, gate coherence between
 * adjacent layers, and the strongest prediction and suppression directions.
 *
 * Everything here reads small things: the version-2 battery files through vindex.h's
 * accessors (spectra, weights, neurons, moments), index.json's top-F σ and the stored
 * top-F gate directions. A version-1 vindex has only the last two; what it lacks is
 * said (§5), never failed on.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "stats.h"

/* ------------------------------------------------------------------ §4.1 */

static void spec_numbers(vx_spec_stats *p, const vx_index *vx, vx_kind kind, uint32_t l, const vx_mat_stats *w) {
    size_t F = vx->meta.num_feats, H = vx->meta.hidden_size;
    const float *sg = vx_sigma(vx, kind, l);
    double s1 = sg[0], s = 0, q = 0;
    for (size_t f = 0; f < F; f++) { s += sg[f]; q += (double)sg[f] * sg[f]; }
    p->sigma1 = s1;
    p->stable_rank_topf = s1 > 0 ? q / (s1 * s1) : NAN;
    p->pr_topf = q > 0 ? s * s / q : NAN;
    p->condition_topf = sg[F - 1] > 0 ? s1 / sg[F - 1] : NAN;
    double topf_sq = q;
    p->stable_rank = p->participation_ratio = p->active_fraction = p->condition = p->topf_share = NAN;
    p->rank_90 = 0;
    p->condition_resolved = 0;
    p->full = 0;
    p->rank_bound = 0;
    const float *sp = vx_spectrum(vx, kind, l);
    if (!sp) return;
    p->full = 1;
    uint64_t r = H;
    if (w->present) {
        uint64_t other = kind == VX_GATE ? w->rows : w->cols;
        if (other < r) r = other;
    }
    p->rank_bound = (uint32_t)r;
    s1 = sp[0];
    s = q = 0;
    size_t active = 0;
    for (size_t i = 0; i < r; i++) {
        s += sp[i];
        q += (double)sp[i] * sp[i];
        active += sp[i] > 0.01 * s1;
    }
    if (!(s1 > 0)) return;
    p->stable_rank = q / (s1 * s1);
    p->participation_ratio = s * s / q;
    p->active_fraction = (double)active / (double)r;
    double cum = 0;
    for (size_t i = 0; i < r; i++) {
        cum += sp[i];
        if (cum / s >= 0.9) { p->rank_90 = (uint32_t)(i + 1); break; }
    }
    if (!p->rank_90) p->rank_90 = (uint32_t)r;
    double sr = sp[r - 1];
    p->condition = sr > 0 ? s1 / sr : NAN;
    p->condition_resolved = sr > s1 * sqrt((double)H * 0x1p-24);
    if (w->present && w->fro > 0) p->topf_share = topf_sq / (w->fro * w->fro);
}

/* ------------------------------------------------------------------ §4.3 */

static void neurons(vx_layer_stats *ls, const vx_index *vx, uint32_t l) {
    const float *nm[3];
    uint64_t cnt[3], n = 0;
    int k = 0;
    for (int m = 0; m < 3; m++) {
        nm[m] = vx_neuron_norms(vx, l, (vx_mat)m, &cnt[m]);
        ls->nm[m].present = nm[m] != NULL && cnt[m] > 0;
        if (!ls->nm[m].present) continue;
        if (k && cnt[m] != n) { ls->has_neurons = 0; return; } /* R-B2: one count per layer */
        n = cnt[m];
        k++;
    }
    if (!k || !n) return;
    ls->has_neurons = 1;
    ls->neurons = n;
    double *score = malloc(n * sizeof *score);
    if (!score) { ls->has_neurons = 0; return; }
    for (uint64_t i = 0; i < n; i++) score[i] = 1;
    for (int m = 0; m < 3; m++) {
        if (!ls->nm[m].present) continue;
        double s = 0;
        for (uint64_t i = 0; i < n; i++) { s += nm[m][i]; score[i] *= nm[m][i]; }
        double mean = s / (double)n;
        ls->nm[m].mean_norm = mean;
        ls->nm[m].dead = ls->nm[m].weak = 0;
        for (uint64_t i = 0; i < n; i++) {
            ls->nm[m].dead += nm[m][i] < 0.01 * mean;
            ls->nm[m].weak += nm[m][i] < 0.1 * mean;
        }
    }
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += score[i];
    double mean = s / (double)n;
    ls->dead = ls->weak = 0;
    for (uint64_t i = 0; i < n; i++) {
        ls->dead += score[i] < 0.01 * mean;
        ls->weak += score[i] < 0.1 * mean;
    }
    free(score);
}

/* ------------------------------------------------------------------ §4.4 */

/* Layer l's F gate directions as double rows, each scaled to unit length (zero stays). */
static void unit_rows(double *A, const vx_index *vx, uint32_t l) {
    size_t F = vx->meta.num_feats, H = vx->meta.hidden_size;
    const uint16_t *G = vx_features(vx, VX_GATE) + (size_t)l * F * H;
    for (size_t f = 0; f < F; f++) {
        double s = 0;
        for (size_t h = 0; h < H; h++) { A[f * H + h] = vx_f16_to_f32(G[f * H + h]); s += A[f * H + h] * A[f * H + h]; }
        double inv = s > 0 ? 1 / sqrt(s) : 0;
        for (size_t h = 0; h < H; h++) A[f * H + h] *= inv;
    }
}

static int coherence(double *coh, double *sub, const vx_index *vx, uint32_t l, double *A, double *B, double *M) {
    size_t F = vx->meta.num_feats, H = vx->meta.hidden_size;
    *coh = *sub = NAN;
    unit_rows(A, vx, l);
    unit_rows(B, vx, l + 1);
    int rc = vx_dgemm(0, 1, F, F, H, A, B, M);
    if (rc) return rc;
    double s = 0;
    for (size_t f = 0; f < F; f++) {
        double best = 0;
        for (size_t g = 0; g < F; g++) best = fmax(best, fabs(M[f * F + g]));
        s += best > 1 ? 1 : best;
    }
    *coh = s / (double)F;
    /* principal angles: orthonormal bases, then ‖Q_a Q_bᵀ‖²_F / F */
    double *ld = malloc(F * sizeof *ld), *Gs = malloc(F * F * sizeof *Gs);
    if (!ld || !Gs) { free(ld); free(Gs); return VX_ENOMEM; }
    if (vx_dorth_rows_chol(A, F, H, 2, ld, Gs) == VX_OK && vx_dorth_rows_chol(B, F, H, 2, ld, Gs) == VX_OK &&
        vx_dgemm(0, 1, F, F, H, A, B, M) == VX_OK) {
        double q = 0;
        for (size_t i = 0; i < F * F; i++) q += M[i] * M[i];
        *sub = q / (double)F;
    }
    free(ld);
    free(Gs);
    return VX_OK;
}

/* ------------------------------------------------------------------ §4.5 */

/* Insert candidate d into the list t (n of at most VX_STATS_NDIR) ordered by kurtosis,
 * descending; candidates arrive in record order, so ties keep the lower record first. */
static void keep_dir(vx_dir_stats *t, size_t *n, const vx_dir_stats *d) {
    size_t i = *n;
    if (i == VX_STATS_NDIR) {
        if (!(d->kurtosis > t[i - 1].kurtosis)) return;
        i--;
    } else (*n)++;
    while (i > 0 && d->kurtosis > t[i - 1].kurtosis) { t[i] = t[i - 1]; i--; }
    t[i] = *d;
}

static void directions(vx_stats *s, const vx_index *vx, uint32_t lo, uint32_t hi) {
    const float *mo = vx_moments(vx);
    size_t F = vx->meta.num_feats, K = vx->meta.down_top_k;
    s->has_moments = mo != NULL;
    s->n_prediction = s->n_suppression = 0;
    if (!mo) return;
    for (uint32_t l = lo; l <= hi; l++)
        for (size_t f = 0; f < F; f++) {
            const float *r = mo + (((size_t)l * 2 + VX_DOWN) * F + f) * 4;
            if (!(r[2] != 0) || !isfinite(r[3])) continue;
            vx_dir_stats d = { l, (uint32_t)f, VX_DOWN, r[0], r[1], r[2], r[3], { 0 }, 0 };
            if (r[2] > 0) keep_dir(s->prediction, &s->n_prediction, &d);
            else keep_dir(s->suppression, &s->n_suppression, &d);
        }
    for (int side = 0; side < 2; side++) {
        vx_dir_stats *t = side ? s->suppression : s->prediction;
        size_t n = side ? s->n_suppression : s->n_prediction;
        for (size_t i = 0; i < n; i++) {
            const vx_proj *pos, *neg;
            if (vx_feature_proj(&pos, &neg, vx, t[i].layer, t[i].feature, t[i].kind, NULL)) continue;
            const vx_proj *p = side ? neg : pos;
            size_t m = K < VX_STATS_NDIRTOK ? K : VX_STATS_NDIRTOK;
            for (size_t j = 0; j < m; j++) t[i].tokens[j] = p[j].token_id;
            t[i].n_tokens = m;
        }
    }
}

/* ------------------------------------------------------------------ driver */

int vx_stats_layers(vx_stats *s, const vx_index *vx, const vx_stats_opts *o, vx_err *err) {
    uint32_t L = vx->meta.num_layers, lo = o->layer_lo, hi = o->layer_hi;
    size_t F = vx->meta.num_feats, H = vx->meta.hidden_size, n = (size_t)(hi - lo + 1);
    s->n_layers = n;
    s->layers = calloc(n, sizeof *s->layers);
    double *A = malloc(F * H * sizeof *A), *B = malloc(F * H * sizeof *B), *M = malloc(F * F * sizeof *M);
    int rc = VX_OK;
    if (!s->layers || !A || !B || !M) { rc = vx_fail(err, VX_ENOMEM, "stats: out of memory for %zu layers", n); goto out; }
    int spectra = vx_spectrum(vx, VX_GATE, 0) != NULL, weights = 0, neur = 0;
    double csum = 0;
    size_t cn = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = lo + (uint32_t)i;
        vx_layer_stats *ls = &s->layers[i];
        ls->layer = l;
        for (int m = 0; m < 3; m++) {
            vx_weight_stats ws;
            vx_mat_stats *w = &ls->w[m];
            w->present = vx_weight_stats_get(&ws, vx, l, (vx_mat)m, NULL) == VX_OK;
            if (!w->present) continue;
            ls->has_weights = 1;
            w->rows = ws.rows;
            w->cols = ws.cols;
            w->fro = ws.fro;
            memcpy(w->sparsity, ws.sparsity, sizeof w->sparsity);
        }
        weights |= ls->has_weights;
        spec_numbers(&ls->spec[VX_GATE], vx, VX_GATE, l, &ls->w[VX_MAT_GATE]);
        spec_numbers(&ls->spec[VX_DOWN], vx, VX_DOWN, l, &ls->w[VX_MAT_DOWN]);
        neurons(ls, vx, l);
        neur |= ls->has_neurons;
        ls->partial = !ls->spec[VX_GATE].full || !ls->spec[VX_DOWN].full || !ls->has_weights || !ls->has_neurons;
        ls->gate_coherence = ls->gate_subspace_sim = NAN;
        if (l + 1 < L) {
            if ((rc = coherence(&ls->gate_coherence, &ls->gate_subspace_sim, vx, l, A, B, M))) {
                rc = vx_fail(err, rc, "stats: layer %u: gate coherence failed", l);
                goto out;
            }
            csum += ls->gate_coherence;
            cn++;
        }
    }
    s->gate_coherence_mean = cn ? csum / (double)cn : NAN;
    directions(s, vx, lo, hi);
    s->n_lacks = 0;
    if (!spectra)
        s->lacks[s->n_lacks++] = "spectra.bin (full singular spectra): stable rank, participation ratio, active fraction, "
                                 "rank_90, condition and top-F share are missing; only the top-F numbers are given";
    if (!weights)
        s->lacks[s->n_lacks++] = "weight statistics (index.json layers[].weights): Frobenius norms and sparsity are missing";
    if (!neur) s->lacks[s->n_lacks++] = "neurons.bin (per-neuron norms): dead and weak neuron counts are missing";
    if (!s->has_moments)
        s->lacks[s->n_lacks++] = "moments.bin (vocabulary-projection moments): prediction and suppression directions are missing";
    if (s->n_lacks && s->format_version < 2)
        s->lacks[s->n_lacks++] = "this vindex was extracted by format version 1: extract it again for the weight battery";
out:
    free(A); free(B); free(M);
    return rc;
}
