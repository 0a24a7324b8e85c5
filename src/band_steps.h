/*
 * band_steps.h — the bulge chase of band.h, included by band.c (any x86-64) and
 * kern_band.c (AVX-512) with BAND_TRI_FN naming the function each defines. Both builds use
 * -O3 -ffp-contract=off (Makefile), so they compute the same bits.
 *
 * The working band W is the band of half-bandwidth 2·kd (the chase's bulges reach that far)
 * stored so that every block of it is an ordinary column-major matrix: B[i][j] (0 ≤ i − j ≤
 * 2·kd) at W[i + j·2kd], the layout LAPACK's sb2st works in. Each step reads and writes
 * whole 16-lane vectors from a block's first row: the vectors of coefficients (v, w) are
 * zero past the block, so the rows a vector covers beyond it are written back unchanged
 * (they are finite: the caller's matrix is), and their products are dropped from w and y.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

typedef float bvec __attribute__((vector_size(64)));
typedef int bmask __attribute__((vector_size(64)));
#define BL 16

static inline bvec b_ld(const float *p) { bvec r; memcpy(&r, p, sizeof r); return r; }
static inline void b_st(float *p, bvec x) { memcpy(p, &x, sizeof x); }
static inline bvec b_set(float x) { return (bvec){ x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x }; }
#ifdef __clang__
#define B_SWAP(a, ...) __builtin_shufflevector(a, a, __VA_ARGS__)
#else
#define B_SWAP(a, ...) __builtin_shuffle(a, (bmask){ __VA_ARGS__ })
#endif
/* Σ of the 16 lanes, pairwise: for w = 8, 4, 2, 1 lane j += lane j + w. */
static inline float b_sum(bvec a) {
    a += B_SWAP(a, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    a += B_SWAP(a, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    a += B_SWAP(a, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    a += B_SWAP(a, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    return a[0];
}
static inline size_t b_up(size_t n) { return (n + BL - 1) / BL * BL; }

/* The reflector H = I − τ v vᵀ (v[0] = 1) with H x = β e1 for x [n]: x[0] ← β, x[1..] ← v[1..];
 * returns τ (0: H = I, x unchanged). The norm in double: no scaling loop as in slarfg. */
static float b_house(float *x, size_t n) {
    if (n < 2) return 0;
    double ss = 0;
    for (size_t i = 1; i < n; i++) ss += (double)x[i] * (double)x[i];
    if (ss == 0) return 0;
    double a = x[0], beta = -copysign(sqrt(a * a + ss), a), s = 1 / (a - beta);
    for (size_t i = 1; i < n; i++) x[i] = (float)((double)x[i] * s);
    x[0] = (float)beta;
    return (float)((beta - a) / beta);
}

/* D ← H D H for the symmetric D [n][n] (lower triangle, column-major, ld): w = τ D v,
 * w += −½ τ (wᵀv) v, D −= v wᵀ + w vᵀ. v and w hold b_up(n) + BL floats, v zero past n. */
static void b_two_sided(float *D, size_t ld, size_t n, const float *v, float tau, float *w) {
    size_t nz = b_up(n) + BL;
    memset(w, 0, sizeof(float) * nz);
    for (size_t j = 0; j < n; j++) {
        float *c = D + j * ld;
        bvec vj = b_set(v[j]), acc = b_set(0);
        for (size_t k = j; k < j + b_up(n - j); k += BL) {
            bvec ck = b_ld(c + k);
            acc += ck * b_ld(v + k);
            b_st(w + k, b_ld(w + k) + ck * vj);
        }
        w[j] += b_sum(acc) - c[j] * v[j]; /* rows below the diagonal only: D[j][j] v[j] is in already */
    }
    memset(w + n, 0, sizeof(float) * (nz - n));
    bvec t = b_set(tau), dot = b_set(0);
    for (size_t k = 0; k < nz; k += BL) {
        bvec wk = b_ld(w + k) * t;
        b_st(w + k, wk);
        dot += wk * b_ld(v + k);
    }
    bvec al = b_set(-0.5f * tau * b_sum(dot));
    for (size_t k = 0; k < nz; k += BL) b_st(w + k, b_ld(w + k) + al * b_ld(v + k));
    for (size_t j = 0; j < n; j++) {
        float *c = D + j * ld;
        bvec vj = b_set(v[j]), wj = b_set(w[j]);
        for (size_t k = j; k < j + b_up(n - j); k += BL) b_st(c + k, b_ld(c + k) - (b_ld(v + k) * wj + b_ld(w + k) * vj));
    }
}

/* X [m][n] (column-major, ld) ← X H, H = I − τ v vᵀ with v [n]; y holds b_up(m) floats. */
static void b_right(float *X, size_t ld, size_t m, size_t n, const float *v, float tau, float *y) {
    size_t mp = b_up(m);
    memset(y, 0, sizeof(float) * mp);
    for (size_t j = 0; j < n; j++) {
        const float *c = X + j * ld;
        bvec vj = b_set(v[j]);
        for (size_t i = 0; i < mp; i += BL) b_st(y + i, b_ld(y + i) + b_ld(c + i) * vj);
    }
    memset(y + m, 0, sizeof(float) * (mp - m));
    for (size_t j = 0; j < n; j++) {
        float *c = X + j * ld;
        bvec t = b_set(tau * v[j]);
        for (size_t i = 0; i < mp; i += BL) b_st(c + i, b_ld(c + i) - b_ld(y + i) * t);
    }
}

/* X [m][n] (column-major, ld) ← H X with v [m], zero to b_up(m). */
static void b_left(float *X, size_t ld, size_t m, size_t n, const float *v, float tau) {
    size_t mp = b_up(m);
    for (size_t j = 0; j < n; j++) {
        float *c = X + j * ld;
        bvec a = b_set(0);
        for (size_t i = 0; i < mp; i += BL) a += b_ld(v + i) * b_ld(c + i);
        bvec dj = b_set(b_sum(a) * tau);
        for (size_t i = 0; i < mp; i += BL) b_st(c + i, b_ld(c + i) - b_ld(v + i) * dj);
    }
}

/*
 * Sweep s annihilates column s below its subdiagonal with one reflector, applied to the
 * diagonal block it acts on from both sides; applied from the right to the block below,
 * it fills that block (the bulge), whose first column the next reflector annihilates, and
 * so on down the band (LAPACK's sb2st task types 1, 3 and 2, in one sweep's order; its
 * wavefront order runs the same operations on the same data).
 */
void BAND_TRI_FN(float *d, float *e, const float *ab, size_t ldab, size_t n, size_t kd, float *W) {
    size_t LD = 2 * kd, vl = b_up(kd) + BL;
    float *A = W, *v = W + n * (LD + 1) + LD + 1 + 4 * BL, *v2 = v + vl, *w = v2 + vl;
    memset(A, 0, sizeof(float) * (n * (LD + 1) + LD + 1 + 4 * BL));
#define AT(i, j) A[(i) + (j) * LD]
    for (size_t j = 0; j < n; j++)
        for (size_t i = j; i <= j + kd && i < n; i++) AT(i, j) = ab[(i - j) + j * ldab];
    for (size_t s = 0; s + 2 < n; s++) {
        size_t st = s + 1, ed = s + kd < n - 1 ? s + kd : n - 1;
        float *x = &AT(st, s), tau = b_house(x, ed - st + 1);
        if (tau == 0) continue; /* column s is reduced already; nothing moves */
        memset(v, 0, sizeof(float) * vl);
        v[0] = 1;
        for (size_t i = 1; i <= ed - st; i++) {
            v[i] = x[i];
            x[i] = 0;
        }
        b_two_sided(&AT(st, st), LD, ed - st + 1, v, tau, w);
        while (ed + 1 < n) {
            size_t j1 = ed + 1, j2 = ed + kd < n - 1 ? ed + kd : n - 1, m = j2 - j1 + 1, ln = ed - st + 1;
            float *X = &AT(j1, st);
            b_right(X, LD, m, ln, v, tau, w);
            float t2 = b_house(X, m);
            if (t2 == 0) break; /* the bulge's first column is reduced: the sweep ends */
            memset(v2, 0, sizeof(float) * vl);
            v2[0] = 1;
            for (size_t i = 1; i < m; i++) {
                v2[i] = X[i];
                X[i] = 0;
            }
            b_left(X + LD, LD, m, ln - 1, v2, t2);
            float *sw = v;
            v = v2;
            v2 = sw;
            tau = t2;
            st = j1;
            ed = j2;
            b_two_sided(&AT(st, st), LD, m, v, tau, w);
        }
    }
    for (size_t i = 0; i < n; i++) d[i] = AT(i, i);
    for (size_t i = 0; i + 1 < n; i++) e[i] = AT(i + 1, i);
#undef AT
}
