/*
 * kern_band.c — the AVX-512 build of the bulge chase (band.h, band_steps.h): the same
 * source as band.c's, whose 16-lane vectors become one register each here.
 */
#include "band.h"

#define BAND_TRI_FN vx_band_tri_avx512
#include "band_steps.h"
