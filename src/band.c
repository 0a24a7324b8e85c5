/*
 * band.c — band to tridiagonal (band.h): the baseline build of the chase and the choice
 * between it and the AVX-512 build (kern_band.c).
 */
#include "band.h"

#include <stdint.h>
#include <stdlib.h>

#include "kern.h"
#include "mem.h"
#include "vindex.h"

#define BAND_TRI_FN vx_band_tri_base
#include "band_steps.h"

size_t vx_band_work(size_t n, size_t kd) {
    if (kd > SIZE_MAX / 8 || n > SIZE_MAX / 4 / (2 * kd + 1)) return 0;
    return n * (2 * kd + 1) + 2 * kd + 1 + 4 * BL + 3 * (b_up(kd) + BL);
}

int vx_band_tri(float *d, float *e, const float *ab, size_t ldab, size_t n, size_t kd) {
    if (n == 0 || ldab <= kd) return VX_EUSAGE;
    if (kd > n - 1) kd = n - 1; /* a band wider than the matrix: the rest of ab is unused */
    if (kd == 0) {
        for (size_t i = 0; i < n; i++) d[i] = ab[i * ldab];
        for (size_t i = 0; i + 1 < n; i++) e[i] = 0;
        return VX_OK;
    }
    size_t words = vx_band_work(n, kd);
    float *W = words ? vx_big_array(words, sizeof(float)) : NULL;
    if (!W) return VX_ENOMEM;
#if defined(__x86_64__) || defined(__i386__)
    if (vx_cpu_avx512()) vx_band_tri_avx512(d, e, ab, ldab, n, kd, W);
    else
#endif
        vx_band_tri_base(d, e, ab, ldab, n, kd, W);
    vx_big_free(W);
    return VX_OK;
}
