/*
 * battery.h — the arithmetic of the weight battery (spec/vindex-format.md §9) that the
 * extractor does while a chunk of an MLP matrix, or a tile of vocabulary projections, is
 * in hand: sparsity counts, per-neuron squared norms, and the four moments of every
 * direction's projection. Kernels take typed arrays and lengths; they never see a file.
 */
#ifndef VX_SRC_BATTERY_H
#define VX_SRC_BATTERY_H

#include <stddef.h>
#include <stdint.h>

#include "vxmeta.h"

/* The R-B3 thresholds as f32 comparands: for every float x, |x| < c[t] exactly when the
 * real number |x| is below the decimal threshold (c[t] is the least float >= it). */
void vx_bat_thresholds(float c[VX_N_SPARSITY]);

/* below[t] += the number of x[0..n) with |x| < c[t]. NaN counts nowhere. */
void vx_bat_count(uint64_t below[VX_N_SPARSITY], const float *x, size_t n, const float c[VX_N_SPARSITY]);

/* Squared Euclidean norms in double. Rows: sq[i] = Σ_j X[i][j]² for X [n][H].
 * Columns: sq[i] += Σ_j M[j][i]² for M [H][n] (call with sq zeroed). */
void vx_bat_sq_rows(double *sq, const float *X, size_t n, size_t H);
void vx_bat_sq_cols(double *sq, const float *M, size_t H, size_t n);

/*
 * Moments of the columns of a stream of row tiles S [rows][ncol] (R-B4): shifted power
 * sums Σ(x − c)^p, p = 1..4, in double, the shift c of each column the mean of its first
 * tile (so the sums do not cancel: |mean − c| is of the order of the spread), then the
 * central moments from them.
 */
typedef struct vx_mom_acc {
    size_t ncol;
    uint64_t n;          /* rows seen */
    double *c;           /* [ncol] shifts */
    double *s;           /* [4][ncol]: Σd, Σd², Σd³, Σd⁴ */
} vx_mom_acc;

/* Errors: VX_ENOMEM. */
int vx_mom_init(vx_mom_acc *m, size_t ncol);
void vx_mom_free(vx_mom_acc *m);
void vx_mom_add(vx_mom_acc *m, const float *S, size_t rows);
/* The same in pieces, for threads that share out a tile's columns: columns [c0, c1) of
 * the tile (every column once per tile, each column's arithmetic as vx_mom_add's), then
 * vx_mom_count once the whole tile is in. */
void vx_mom_add_cols(vx_mom_acc *m, const float *S, size_t rows, size_t c0, size_t c1);
void vx_mom_count(vx_mom_acc *m, size_t rows);
/* out [ncol][4] = {mean, population std, skewness, excess kurtosis}; skew and kurtosis 0
 * for a column whose second moment is 0. */
void vx_mom_finish(const vx_mom_acc *m, float *out);

#endif
