/*
 * cmp_procrustes.c — the orthogonal map of `vindex compare` (spec/compare.md §5): the
 * anchor means of the projected source and of the target, the cross-covariance of the
 * centred anchors M = Z̃ₐᵀ Ỹₐ (double, a block of rows at a time), and R = U Vᵀ, M's
 * orthogonal polar factor, with Σσ — scipy.linalg.orthogonal_procrustes's answer.
 */
#include <string.h>

#include "cmp.h"
#include "linalg.h"
#include "mem.h"

int cmp_procrustes(ctx *c, const float *Z, const float *Y, size_t na, double *muz, double *muy, double *R,
                   double *scale) {
    size_t d = c->d, blk = na < CMP_EVAL_BLOCK ? na : CMP_EVAL_BLOCK;
    for (size_t h = 0; h < d; h++) muz[h] = muy[h] = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t h = 0; h < d; h++) { muz[h] += Z[i * d + h]; muy[h] += Y[i * d + h]; }
    for (size_t h = 0; h < d; h++) { muz[h] /= (double)na; muy[h] /= (double)na; }

    double *M = vx_big_alloc(sizeof(double) * d * d), *U = vx_big_alloc(sizeof(double) * d * d);
    double *VT = vx_big_alloc(sizeof(double) * d * d), *s = vx_big_alloc(sizeof(double) * d);
    double *Zb = vx_big_array(blk * d, sizeof(double)), *Yb = vx_big_array(blk * d, sizeof(double));
    int rc = VX_OK;
    if (!M || !U || !VT || !s || !Zb || !Yb) { rc = vx_fail(c->err, VX_ENOMEM, "out of memory for the rotation"); goto out; }
    /* M = Z̃ₐᵀ Ỹₐ, the anchors centred a block at a time */
    for (size_t b0 = 0; b0 < na && !rc; b0 += blk) {
        size_t nb = na - b0 < blk ? na - b0 : blk;
        cmp_centre_rows(Zb, Z + b0 * d, muz, nb, d);
        cmp_centre_rows(Yb, Y + b0 * d, muy, nb, d);
        rc = b0 ? vx_dgemm_acc(1, 0, d, d, nb, Zb, Yb, M) : vx_dgemm(1, 0, d, d, nb, Zb, Yb, M);
    }
    if (rc) { rc = vx_fail(c->err, rc, "cross-covariance of the anchors failed"); goto out; }
    cmp_phase("cross-cov");
    /* R = U Vᵀ is M's orthogonal polar factor: from MᵀM's eigendecomposition when M is well
     * conditioned (checked), else from the SVD — the same R and Σσ either way */
    if ((rc = vx_dpolar(R, scale, M, d)) == VX_EUNSUPPORTED) {
        *scale = 0;
        if ((rc = vx_dsvd(U, s, VT, M, d, d))) { rc = vx_fail(c->err, rc, "SVD of the cross-covariance failed (non-finite embeddings?)"); goto out; }
        if ((rc = vx_dgemm(0, 0, d, d, d, U, VT, R))) { rc = vx_fail(c->err, rc, "Procrustes rotation failed"); goto out; }
        for (size_t i = 0; i < d; i++) *scale += s[i];
    } else if (rc) {
        rc = vx_fail(c->err, rc, "Procrustes rotation failed");
    }
out:
    vx_big_free(M);
    vx_big_free(U);
    vx_big_free(VT);
    vx_big_free(s);
    vx_big_free(Zb);
    vx_big_free(Yb);
    return rc;
}
