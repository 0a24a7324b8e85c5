/*
 * cmp_similarity.h — compare's map-free similarity measures (spec/compare.md §10): linear
 * and debiased CKA, SVCCA, the Procrustes and angular Procrustes distances, and mutual
 * k-nearest neighbours, on the shared tokens' rows of both models as they are (no PCA, no
 * fitted map). Internal to src/; the result type is public (include/vx_compare.h).
 */
#ifndef VX_SRC_CMP_SIMILARITY_H
#define VX_SRC_CMP_SIMILARITY_H

#include <stddef.h>
#include <stdint.h>

#include "vx_compare.h"

/* One model's rows of the shared tokens: row of shared token i = emb[ids[i]][0..H). */
typedef struct vx_sim_side {
    const uint16_t *emb;  /* [V][H] f16, read from the map */
    size_t H;
    float scale;          /* embed_scale (every measure here is invariant to it) */
    const uint32_t *ids;  /* [N] */
} vx_sim_side;

/*
 * Fill *out (every field) for the N shared tokens of sides a and b. knn_k ≥ 1 and
 * < N; knn_sample = queries of the mutual k-NN (≥ N: every token); seed picks the sample
 * (stream 3); nthr threads for the conversions and scans (BLAS as configured).
 * Errors: VX_EUSAGE (k out of range, N < 4), VX_ENOMEM, VX_ECORRUPT (non-finite rows made
 * LAPACK fail). No partial result is meaningful on error.
 */
int vx_cmp_similarity(vx_cmp_mapfree *out, const vx_sim_side *a, const vx_sim_side *b, size_t N, size_t knn_k,
                   size_t knn_sample, uint64_t seed, int nthr, vx_err *err);

#endif
