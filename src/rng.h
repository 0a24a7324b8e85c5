/*
 * rng.h — the project's random streams: splitmix64 exactly as spec/compare.md §3 defines
 * it (mix64, stream k of seed s, unbiased below(n), partial Fisher–Yates, Box–Muller), so
 * that every sample a command draws can be redrawn in any language from the spec alone
 * (the numpy references do). Header-only; src-internal.
 */
#ifndef VX_SRC_RNG_H
#define VX_SRC_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define VX_SM_GAMMA 0x9E3779B97F4A7C15ull

static inline uint64_t vx_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* The next output of a stream whose state is *x. */
static inline uint64_t vx_sm_next(uint64_t *x) { return vx_mix64(*x += VX_SM_GAMMA); }
/* The initial state of stream k of seed s. */
static inline uint64_t vx_sm_stream(uint64_t seed, uint64_t k) { return vx_mix64(seed + k); }
/* Uniform in [0, n), n ≥ 1, unbiased: outputs below 2^64 mod n are drawn again. */
static inline uint64_t vx_sm_below(uint64_t *x, uint64_t n) {
    uint64_t t = (0 - n) % n, r;
    do r = vx_sm_next(x); while (r < t);
    return r % n;
}
/* Partial Fisher–Yates: the first k entries of p[n] become a uniform sample, in order. */
static inline void vx_sm_shuffle_prefix(uint32_t *p, size_t n, size_t k, uint64_t *x) {
    for (size_t i = 0; i < k && i < n; i++) {
        size_t j = i + (size_t)vx_sm_below(x, n - i);
        uint32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}
/* n standard normal values, Box–Muller pairs (the second value of the last pair dropped
 * when n is odd). */
static inline void vx_sm_gauss(double *out, size_t n, uint64_t *x) {
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = (double)((vx_sm_next(x) >> 11) + 1) * 0x1p-53, u2 = (double)(vx_sm_next(x) >> 11) * 0x1p-53;
        double rr = sqrt(-2.0 * log(u1));
        out[i] = rr * cos(two_pi * u2);
        if (i + 1 < n) out[i + 1] = rr * sin(two_pi * u2);
    }
}

#endif
