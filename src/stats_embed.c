/*
 * stats_embed.c — the geometry of the embedding matrix (spec/stats.md §3): norms and
 * column moments, the pairwise-cosine distribution of a seeded sample, the covariance
 * eigenspectrum, pentachoron volumes against Gaussian points, the digit manifold, the
 * near-duplicate sample's nearest neighbours, and the token classes of vocab.bin.
 *
 * The whole matrix is read once (stats_cov.c: moments, covariance and nearest neighbours
 * in one pass); everything else touches only sampled rows and the token table. Rows are
 * the stored f16 values; embed_scale multiplies the numbers that carry units (norms,
 * moments, eigenvalues, volumes) at the end, as spec/stats.md §3 defines E.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "det4.h"
#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "rng.h"
#include "stats.h"

/* ------------------------------------------------------------------ helpers */

static void row_f32(float *out, const uint16_t *row, size_t H) {
    for (size_t h = 0; h < H; h++) out[h] = vx_f16_to_f32(row[h]);
}

/* Unit-length copy of a row (zero stays zero): ST-C1's cosine is then a dot product. */
static void row_unit(float *out, const uint16_t *row, size_t H) {
    row_f32(out, row, H);
    double s = 0;
    for (size_t h = 0; h < H; h++) s += (double)out[h] * out[h];
    if (!(s > 0)) { memset(out, 0, H * sizeof *out); return; }
    double inv = 1.0 / sqrt(s);
    for (size_t h = 0; h < H; h++) out[h] = (float)(out[h] * inv);
}

static double cos_rows(const uint16_t *a, const uint16_t *b, size_t H) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t h = 0; h < H; h++) {
        double x = vx_f16_to_f32(a[h]), y = vx_f16_to_f32(b[h]);
        ab += x * y; aa += x * x; bb += y * y;
    }
    if (!(aa > 0) || !(bb > 0)) return 0;
    double c = ab / (sqrt(aa) * sqrt(bb));
    return c > 1 ? 1 : c < -1 ? -1 : c;
}

/* Keep the k best (largest when `largest`, else smallest) values; ids scanned in
 * increasing order, so ties keep the lower id first. */
static void keep_extreme(vx_tok_val *t, size_t *n, size_t k, uint32_t id, double v, int largest) {
    size_t i = *n;
    if (i == k) {
        if (largest ? !(v > t[k - 1].value) : !(v < t[k - 1].value)) return;
        i = k - 1;
    } else (*n)++;
    while (i > 0 && (largest ? v > t[i - 1].value : v < t[i - 1].value)) { t[i] = t[i - 1]; i--; }
    t[i] = (vx_tok_val){ id, v };
}

/* ------------------------------------------------------------------ §3.2 */

static int norms_and_dims(vx_emb_stats *e, const float *ss, const double *mean, const double *var, double scale) {
    size_t V = e->rows, H = e->hidden;
    float *nv = malloc(V * sizeof *nv);
    e->dim_mean = malloc(H * sizeof(double));
    e->dim_std = malloc(H * sizeof(double));
    if (!nv || !e->dim_mean || !e->dim_std) { free(nv); return VX_ENOMEM; }
    size_t nl = 0, ns = 0;
    double as = fabs(scale);
    e->zero_rows = 0;
    for (size_t t = 0; t < V; t++) {
        double v = sqrt((double)ss[t]) * as;
        nv[t] = (float)v;
        if (v < 1e-6) e->zero_rows++;
        keep_extreme(e->largest, &nl, VX_STATS_NEXTREME, (uint32_t)t, v, 1);
        keep_extreme(e->smallest, &ns, VX_STATS_NEXTREME, (uint32_t)t, v, 0);
    }
    e->n_extreme = nl;
    e->norm_max_id = e->largest[0].token_id;
    e->norm_min_id = e->smallest[0].token_id;
    vx_dist_of_floats(&e->norm, nv, V);
    e->norm.min = e->smallest[0].value; /* the exact extremes, not their f32 copies */
    e->norm.max = e->largest[0].value;
    free(nv);
    double sm = 0, sd = 0;
    e->max_abs_mean = -1;
    e->max_std = -1;
    for (size_t h = 0; h < H; h++) {
        e->dim_mean[h] = mean[h] * scale;
        e->dim_std[h] = sqrt(var[h]) * as;
        sm += e->dim_mean[h];
        sd += e->dim_std[h];
        if (fabs(e->dim_mean[h]) > e->max_abs_mean) { e->max_abs_mean = fabs(e->dim_mean[h]); e->max_abs_mean_dim = (uint32_t)h; }
        if (e->dim_std[h] > e->max_std) { e->max_std = e->dim_std[h]; e->max_std_dim = (uint32_t)h; }
    }
    e->mean_of_means = sm / (double)H;
    e->mean_of_stds = sd / (double)H;
    double q = 0;
    for (size_t h = 0; h < H; h++) q += (e->dim_mean[h] - e->mean_of_means) * (e->dim_mean[h] - e->mean_of_means);
    e->std_of_means = sqrt(q / (double)H);
    return VX_OK;
}

/* ------------------------------------------------------------------ §3.3 */

static int pairwise(vx_emb_stats *e, const uint16_t *emb, const uint32_t *ids, size_t n, vx_err *err) {
    size_t H = e->hidden, np = n * (n - 1) / 2, blk = 256;
    e->pair_sample = n;
    float *P = vx_big_array(n * H, sizeof(float)), *Cb = vx_big_array(blk * n, sizeof(float));
    float *vals = vx_big_array(np ? np : 1, sizeof(float));
    int rc = VX_OK;
    if (!P || !Cb || !vals) { rc = vx_fail(err, VX_ENOMEM, "stats: out of memory for %zu pairwise cosines", np); goto out; }
    for (size_t i = 0; i < n; i++) row_unit(P + i * H, emb + (size_t)ids[i] * H, H);
    size_t k = 0;
    for (size_t i0 = 0; i0 + 1 < n; i0 += blk) {
        size_t m = n - i0 < blk ? n - i0 : blk;
        /* only the pairs above the diagonal: the block against itself and what follows */
        size_t w = n - i0;
        if ((rc = vx_sgemm_nt(m, w, H, P + i0 * H, P + i0 * H, Cb))) { rc = vx_fail(err, rc, "stats: sgemm refused"); goto out; }
        for (size_t a = 0; a < m; a++)
            for (size_t b = a + 1; b < w; b++) {
                float c = Cb[a * w + b];
                vals[k++] = c > 1 ? 1.0f : c < -1 ? -1.0f : c;
            }
    }
    vx_dist_of_floats(&e->pair_cos, vals, k);
out:
    vx_big_free(P);
    vx_big_free(Cb);
    vx_big_free(vals);
    return rc;
}

/* ------------------------------------------------------------------ §3.4 */

static int spectrum(vx_emb_stats *e, double *C, double scale, vx_err *err) {
    size_t H = e->hidden;
    double s2 = scale * scale;
    /* scaled and narrowed to f32 in place, in the first half of C's bytes: float k is
     * written after double k is read and ends before double k + 1 begins (4k + 4 ≤ 8k + 8);
     * memcpy, so that no pointer of one type reads the other's bytes */
    unsigned char *bytes = (unsigned char *)C;
    for (size_t i = 0; i < H; i++)
        for (size_t j = i; j < H; j++) {
            double v;
            memcpy(&v, bytes + 8 * (i * H + j), 8);
            float f = (float)(v * s2);
            memcpy(bytes + 4 * (i * H + j), &f, 4);
        }
    float *Cf = (float *)(void *)C;
    e->eig = malloc(H * sizeof(double));
    if (!e->eig) return vx_fail(err, VX_ENOMEM, "stats: out of memory");
    int rc = vx_seig_values(e->eig, Cf, H);
    if (rc) return vx_fail(err, rc, "stats: the covariance eigensolver failed (%zu x %zu)", H, H);
    double tot = 0, sq = 0;
    for (size_t h = 0; h < H; h++) {
        if (!(e->eig[h] > 0)) e->eig[h] = 0;
        tot += e->dim_std[h] * e->dim_std[h]; /* trace from the double column sums */
        sq += e->eig[h] * e->eig[h];
    }
    e->total_variance = tot;
    static const double fr[4] = { 0.80, 0.90, 0.95, 0.99 };
    if (!(tot > 0)) {
        e->pc1 = e->pc1_3 = e->participation_ratio = e->pr_over_h = NAN;
        for (int k = 0; k < 4; k++) e->dims[k] = 0;
        return VX_OK;
    }
    e->pc1 = e->eig[0] / tot;
    e->pc1_3 = (e->eig[0] + (H > 1 ? e->eig[1] : 0) + (H > 2 ? e->eig[2] : 0)) / tot;
    e->participation_ratio = tot * tot / sq;
    e->pr_over_h = e->participation_ratio / (double)H;
    double cum = 0;
    int k = 0;
    for (size_t h = 0; h < H && k < 4; h++) {
        cum += e->eig[h];
        while (k < 4 && cum / tot >= fr[k]) e->dims[k++] = (uint32_t)(h + 1);
    }
    while (k < 4) e->dims[k++] = (uint32_t)H; /* rounding kept the sum just short */
    return VX_OK;
}

typedef struct spec_job { vx_emb_stats *e; double *C; double scale; vx_err err; int rc; } spec_job;
static void *spec_run(void *arg) {
    spec_job *j = arg;
    j->rc = spectrum(j->e, j->C, j->scale, &j->err);
    return NULL;
}

/* ------------------------------------------------------------------ §3.5 */

/* Volume of the simplex x[5][H] (double), or -1 when degenerate (§3.5's test). */
static double simplex_volume(const double *x, size_t H) {
    double Gm[4][4], n2[4];
    for (int a = 0; a < 4; a++)
        for (int b = a; b < 4; b++) {
            double s = 0;
            const double *xa = x + (size_t)(a + 1) * H, *xb = x + (size_t)(b + 1) * H;
            for (size_t h = 0; h < H; h++) s += (xa[h] - x[h]) * (xb[h] - x[h]);
            Gm[a][b] = Gm[b][a] = s;
        }
    double bound = 1;
    for (int a = 0; a < 4; a++) { n2[a] = Gm[a][a]; bound *= n2[a]; }
    double det = vx_det4(Gm);
    if (!(det > 1e-9 * bound) || !isfinite(det)) return -1;
    return sqrt(det) / 24.0;
}

/* A sequence of standard normals: compare.md §6's Box–Muller pairs, one value at a time. */
typedef struct gauss_seq { uint64_t x; int have; double next; } gauss_seq;
static double gauss_draw(gauss_seq *g) {
    if (g->have) { g->have = 0; return g->next; }
    double v[2];
    vx_sm_gauss(v, 2, &g->x);
    g->have = 1;
    g->next = v[1];
    return v[0];
}

static void cv_of(const double *v, size_t n, double *mean, double *cv) {
    *mean = *cv = NAN;
    if (!n) return;
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++) q += (v[i] - m) * (v[i] - m);
    *mean = m;
    if (n >= 2 && m > 0) *cv = sqrt(q / (double)n) / m;
}

static int pentachora(vx_emb_stats *e, const uint16_t *emb, size_t P, uint64_t seed, double scale) {
    size_t V = e->rows, H = e->hidden;
    e->pent_subsets = P;
    e->pent_mean = e->pent_cv = e->gauss_mean = e->gauss_cv = e->pent_ratio = NAN;
    e->pent_valid = e->gauss_valid = 0;
    if (V < 5 || P == 0) return VX_OK;
    double *x = malloc(5 * H * sizeof *x), *vol = malloc(P * sizeof *vol), *gvol = malloc(P * sizeof *gvol);
    if (!x || !vol || !gvol) { free(x); free(vol); free(gvol); return VX_ENOMEM; }
    uint64_t st = vx_sm_stream(seed, 1);
    gauss_seq g = { vx_sm_stream(seed, 2), 0, 0 };
    size_t nv = 0, ng = 0;
    for (size_t s = 0; s < P; s++) {
        uint32_t id[5];
        for (int k = 0; k < 5;) {
            uint32_t t = (uint32_t)vx_sm_below(&st, V);
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= id[j] == t;
            if (!dup) id[k++] = t;
        }
        for (int k = 0; k < 5; k++)
            for (size_t h = 0; h < H; h++) x[(size_t)k * H + h] = (double)vx_f16_to_f32(emb[(size_t)id[k] * H + h]) * scale;
        double v = simplex_volume(x, H);
        if (v >= 0) vol[nv++] = v;
        for (size_t i = 0; i < 5 * H; i++) x[i] = e->dim_std[i % H] * gauss_draw(&g);
        v = simplex_volume(x, H);
        if (v >= 0) gvol[ng++] = v;
    }
    e->pent_valid = nv;
    e->gauss_valid = ng;
    cv_of(vol, nv, &e->pent_mean, &e->pent_cv);
    cv_of(gvol, ng, &e->gauss_mean, &e->gauss_cv);
    if (nv && ng && e->gauss_mean > 0) e->pent_ratio = e->pent_mean / e->gauss_mean;
    free(x); free(vol); free(gvol);
    return VX_OK;
}

/* ------------------------------------------------------------------ §3.6, §3.8 */

static int in_bytemap(uint32_t cp) {
    return (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF) ||
           (cp >= 0x100 && cp <= 0x143);
}

/* Next code point of UTF-8 s[*i..n); invalid bytes read as themselves (raw strings are not
 * validated, V11). */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
    unsigned char c = s[*i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (*i + (size_t)len > n) len = 1;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < len; k++) {
        if ((s[*i + (size_t)k] & 0xC0) != 0x80) { *i += 1; return c; }
        cp = (cp << 6) | (s[*i + (size_t)k] & 0x3F);
    }
    *i += (size_t)len;
    return cp;
}

static int is_cjk(uint32_t cp) {
    return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x2FFFF) || (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xAC00 && cp <= 0xD7AF);
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
static int is_hexu(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

/* Optional one leading space, then ≥ 1 bytes all satisfying `ok`. */
static int space_then(const unsigned char *t, size_t n, int (*ok)(unsigned char)) {
    size_t i = n && t[0] == ' ' ? 1 : 0;
    if (i >= n) return 0;
    for (; i < n; i++)
        if (!ok(t[i])) return 0;
    return 1;
}
static int ok_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int ok_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int ok_punct(unsigned char c) { return c > 0x20 && c < 0x7F && !ok_digit(c) && !ok_alpha(c); }

static vx_token_class classify(const unsigned char *raw, size_t rl, const unsigned char *t, size_t tl, vx_tok_style style) {
    if (!rl) return VX_TC_EMPTY;
    if (style == VX_STYLE_METASPACE && rl == 6 && raw[0] == '<' && raw[1] == '0' && raw[2] == 'x' && is_hexu(raw[3]) &&
        is_hexu(raw[4]) && raw[5] == '>')
        return VX_TC_BYTE;
    if (style == VX_STYLE_BYTELEVEL) {
        size_t i = 0;
        uint32_t cp = utf8_next(raw, rl, &i);
        if (i == rl && in_bytemap(cp)) return VX_TC_BYTE;
    }
    if (rl >= 3 && raw[0] == '<' && raw[rl - 1] == '>') return VX_TC_SPECIAL;
    if (rl >= 3 && raw[0] == '[' && raw[rl - 1] == ']') {
        int ok = 1;
        for (size_t i = 1; i + 1 < rl; i++)
            ok &= (raw[i] >= 'A' && raw[i] <= 'Z') || ok_digit(raw[i]) || raw[i] == '_' || raw[i] == '|';
        if (ok) return VX_TC_SPECIAL;
    }
    int ws = tl > 0, ascii = 1;
    for (size_t i = 0; i < tl; i++) { ws &= is_ws(t[i]); ascii &= t[i] < 0x80; }
    if (ws) return VX_TC_WHITESPACE;
    if (space_then(t, tl, ok_digit)) return VX_TC_DIGITS;
    if (space_then(t, tl, ok_punct)) return VX_TC_PUNCT;
    if (space_then(t, tl, ok_alpha)) return VX_TC_ASCII_WORD;
    for (size_t i = 0; i + 3 < tl; i++)
        if (t[i] == '\\' && t[i + 1] == 'x' && is_hexu(t[i + 2]) && is_hexu(t[i + 3])) return VX_TC_PARTIAL_UTF8;
    if (ascii) return VX_TC_ASCII_OTHER;
    for (size_t i = 0; i < tl;)
        if (is_cjk(utf8_next(t, tl, &i))) return VX_TC_CJK;
    return VX_TC_OTHER_UNICODE;
}

static void tokens(vx_emb_stats *e, const vx_index *vx) {
    size_t V = e->rows;
    memset(e->classes, 0, sizeof e->classes);
    e->leading_space = 0;
    for (int d = 0; d < 10; d++) e->digit_present[d] = 0;
    for (size_t id = 0; id < V; id++) {
        const char *raw, *text;
        size_t rl, tl;
        vx_vocab_get(&vx->vocab, (uint32_t)id, &raw, &rl, &text, &tl);
        e->classes[classify((const unsigned char *)raw, rl, (const unsigned char *)text, tl, vx->vocab.style)]++;
        if (rl && tl && text[0] == ' ') e->leading_space++;
        if (rl && tl == 1 && text[0] >= '0' && text[0] <= '9' && !e->digit_present[text[0] - '0']) {
            e->digit_present[text[0] - '0'] = 1;
            e->digit_id[text[0] - '0'] = (uint32_t)id;
        }
    }
}

static void digits(vx_emb_stats *e, const uint16_t *emb) {
    size_t H = e->hidden;
    e->n_digits = 0;
    for (int i = 0; i < 10; i++) e->n_digits += e->digit_present[i];
    double sa = 0, sn = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    size_t na = 0, nn = 0, np = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            if (!e->digit_present[i] || !e->digit_present[j]) { e->digit_cos[i][j] = NAN; continue; }
            double c = cos_rows(emb + (size_t)e->digit_id[i] * H, emb + (size_t)e->digit_id[j] * H, H);
            e->digit_cos[i][j] = c;
            if (j <= i) continue;
            double dd = j - i;
            if (dd == 1) { sa += c; na++; } else { sn += c; nn++; }
            sx += dd; sy += c; sxx += dd * dd; syy += c * c; sxy += dd * c; np++;
        }
    e->digit_adj = na ? sa / (double)na : NAN;
    e->digit_nonadj = nn ? sn / (double)nn : NAN;
    e->digit_gap = na && nn ? e->digit_adj - e->digit_nonadj : NAN;
    e->digit_corr = NAN;
    if (e->n_digits >= 3) {
        double n = (double)np, cx = sxx - sx * sx / n, cy = syy - sy * sy / n, cxy = sxy - sx * sy / n;
        if (cx > 0 && cy > 1e-300) e->digit_corr = cxy / sqrt(cx * cy);
    }
}

/* ------------------------------------------------------------------ driver */

int vx_stats_embeddings(vx_stats *s, const vx_index *vx, const vx_stats_opts *o, const vx_stats_side *side, vx_err *err) {
    vx_emb_stats *e = &s->emb;
    size_t V = vx->meta.vocab_size, H = vx->meta.hidden_size;
    double scale = vx->info.embed_scale;
    const uint16_t *emb = vx->emb;
    e->rows = (uint32_t)V;
    e->hidden = (uint32_t)H;
    e->embed_scale = scale;
    size_t np = o->sample < V ? o->sample : V, nd = o->dup_sample < V ? o->dup_sample : V, m = np > nd ? np : nd;
    uint32_t *perm = malloc(V * sizeof *perm);
    float *S = vx_big_array(nd * H, sizeof(float)), *ss = malloc(V * sizeof(float)), *nn1 = malloc(nd * sizeof(float));
    double *mean = malloc(H * sizeof(double)), *var = malloc(H * sizeof(double));
    double *C = vx_big_array(H * H, sizeof(double));
    int rc = VX_OK;
    if (!perm || !S || !ss || !nn1 || !mean || !var || !C) { rc = vx_fail(err, VX_ENOMEM, "stats: out of memory (H = %zu, V = %zu)", H, V); goto out; }
    /* §2: one draw of the larger sample; both samples are prefixes of it. */
    for (size_t i = 0; i < V; i++) perm[i] = (uint32_t)i;
    uint64_t x = vx_sm_stream(o->seed, 0);
    vx_sm_shuffle_prefix(perm, V, m, &x);
    for (size_t d = 0; d < nd; d++) row_unit(S + d * H, emb + (size_t)perm[d] * H, H);
    vx_covpass cp = { emb, V, H, vx_once(vx), S, perm, nd, mean, var, C, ss, nn1 };
    if ((rc = vx_cov_run(&cp, err))) goto out;
    vx_stats_phase("pass");
    if ((rc = norms_and_dims(e, ss, mean, var, scale))) { rc = vx_fail(err, rc, "stats: out of memory"); goto out; }
    /* §3.7 */
    e->dup_sample = nd;
    e->count_099 = e->count_0999 = 0;
    for (size_t d = 0; d < nd; d++) {
        e->count_099 += nn1[d] >= 0.99f;
        e->count_0999 += nn1[d] >= 0.999f;
    }
    e->frac_099 = (double)e->count_099 / (double)nd;
    e->frac_0999 = (double)e->count_0999 / (double)nd;
    vx_dist_of_floats(&e->nn1, nn1, nd);
    {   /* The eigensolver runs beside the sampled statistics, which touch other fields of e
         * (dim_std, set above, only read), and so does the caller's side job (the per-layer
         * statistics, which touch none of e): the three together keep both cores busy
         * where each alone leaves one idle part of the time. */
        spec_job sj = { e, C, scale, { 0, { 0 } }, 0 };
        pthread_t th, ts;
        int started = vx_thread_start(&th, spec_run, &sj) == 0;
        if (!started) spec_run(&sj);
        int side_started = side && vx_thread_start(&ts, side->fn, side->arg) == 0;
        if (side && !side_started) side->fn(side->arg);
        rc = pairwise(e, emb, perm, np, err);
        vx_stats_phase("pairwise");
        if (!rc && (rc = pentachora(e, emb, o->pentachora, o->seed, scale))) rc = vx_fail(err, rc, "stats: out of memory");
        if (!rc) {
            tokens(e, vx);
            digits(e, emb);
        }
        vx_stats_phase("rest");
        if (started) pthread_join(th, NULL);
        vx_stats_phase("eigenvalues");
        if (side_started) pthread_join(ts, NULL);
        if (side) vx_stats_phase("layers");
        if (!rc && sj.rc) {
            rc = sj.rc;
            if (err) *err = sj.err;
        }
    }
out:
    free(perm);
    vx_big_free(S);
    free(ss); free(nn1); free(mean); free(var);
    vx_big_free(C);
    return rc;
}
