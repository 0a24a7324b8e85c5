/*
 * libm_lazy.c — the libm functions libvindex and the command call, loaded on first use
 * (see lazylib.h): mapping libm cost every process 0.36–0.66 ms, and a query calls none
 * of them (sqrt's call is only the errno path of a negative argument; whole-number checks
 * use vx_whole). A function missing here fails the link with "undefined reference".
 */
#include <math.h>

#include "lazylib.h"

VX_TRAMPOLINE(VX_LIB_M, double, acos, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, double, asin, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, double, floor, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, float, fmaf, (float x, float y, float z), (x, y, z))
VX_TRAMPOLINE(VX_LIB_M, double, fmax, (double x, double y), (x, y))
VX_TRAMPOLINE(VX_LIB_M, float, ldexpf, (float x, int e), (x, e))
VX_TRAMPOLINE(VX_LIB_M, double, log, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, double, log10, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, long, lround, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, float, nextafterf, (float x, float y), (x, y))
VX_TRAMPOLINE(VX_LIB_M, double, pow, (double x, double y), (x, y))
VX_TRAMPOLINE_VOID(VX_LIB_M, sincos, (double x, double *s, double *c), (x, s, c))
VX_TRAMPOLINE(VX_LIB_M, double, sqrt, (double x), (x))
VX_TRAMPOLINE(VX_LIB_M, float, sqrtf, (float x), (x))
