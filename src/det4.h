/*
 * det4.h — the determinant of a 4×4 matrix, for the volume of a 4-simplex (pentachoron)
 * from the Gram matrix of its edges: compare's simplices (spec/compare.md §6.2) and the
 * embedding statistics' (spec/stats.md §3.5) share it. Header-only; src-internal.
 */
#ifndef VX_SRC_DET4_H
#define VX_SRC_DET4_H

#include <math.h>

/* det(A) by Gaussian elimination with partial pivoting; A is destroyed. Not Cholesky,
 * which would stop at the degenerate (rank-deficient) simplices the callers classify. */
static inline double vx_det4(double A[4][4]) {
    double d = 1;
    for (int c = 0; c < 4; c++) {
        int p = c;
        for (int r = c + 1; r < 4; r++)
            if (fabs(A[r][c]) > fabs(A[p][c])) p = r;
        if (A[p][c] == 0) return 0;
        if (p != c) {
            for (int k = 0; k < 4; k++) { double t = A[c][k]; A[c][k] = A[p][k]; A[p][k] = t; }
            d = -d;
        }
        d *= A[c][c];
        for (int r = c + 1; r < 4; r++) {
            double f = A[r][c] / A[c][c];
            for (int k = c; k < 4; k++) A[r][k] -= f * A[c][k];
        }
    }
    return d;
}

#endif
