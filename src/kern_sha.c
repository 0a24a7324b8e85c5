/*
 * kern_sha.c — the SHA-256 compression on SHA-NI, up to VX_SHA_LANES streams at once
 * (compiled with -msha -msse4.1 -mssse3; called only when vx_cpu_sha() says the CPU has
 * them). Why several streams: src/shalanes.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "kern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* NS streams, each round group of one stream followed by the same group of the next, so
 * the round instructions of independent streams fill each other's latency. The state is
 * kept as SHA-NI wants it (ABEF, CDGH); W[g % 4] holds the message words of group g. */
static inline __attribute__((always_inline)) void ni_blocks(const int NS, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i S0[VX_SHA_LANES], S1[VX_SHA_LANES], W[VX_SHA_LANES][4], A[VX_SHA_LANES], C[VX_SHA_LANES];
    for (int s = 0; s < NS; s++) {
        __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&h[s][0]), 0xB1); /* CDAB */
        S1[s] = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&h[s][4]), 0x1B);     /* EFGH */
        S0[s] = _mm_alignr_epi8(t, S1[s], 8);                                                          /* ABEF */
        S1[s] = _mm_blend_epi16(S1[s], t, 0xF0);                                                       /* CDGH */
    }
    for (size_t b = 0; b < nblocks; b++) {
        for (int s = 0; s < NS; s++) { A[s] = S0[s]; C[s] = S1[s]; }
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
#pragma GCC unroll 3
            for (int s = 0; s < NS; s++) {
                if (g < 4)
                    W[s][g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p[s] + 64 * b + 16 * g)), bswap);
                __m128i m = _mm_add_epi32(W[s][g % 4], _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * g]));
                S1[s] = _mm_sha256rnds2_epu32(S1[s], S0[s], m);
                if (g >= 3 && g <= 14) { /* the words of group g + 1 */
                    __m128i t = _mm_alignr_epi8(W[s][g % 4], W[s][(g + 3) % 4], 4);
                    W[s][(g + 1) % 4] = _mm_sha256msg2_epu32(_mm_add_epi32(W[s][(g + 1) % 4], t), W[s][g % 4]);
                }
                S0[s] = _mm_sha256rnds2_epu32(S0[s], S1[s], _mm_shuffle_epi32(m, 0x0E));
                if (g >= 1 && g <= 12) W[s][(g + 3) % 4] = _mm_sha256msg1_epu32(W[s][(g + 3) % 4], W[s][g % 4]);
            }
        }
        for (int s = 0; s < NS; s++) { S0[s] = _mm_add_epi32(S0[s], A[s]); S1[s] = _mm_add_epi32(S1[s], C[s]); }
    }
    for (int s = 0; s < NS; s++) {
        __m128i t = _mm_shuffle_epi32(S0[s], 0x1B);  /* FEBA */
        __m128i u = _mm_shuffle_epi32(S1[s], 0xB1);  /* DCHG */
        _mm_storeu_si128((__m128i *)(void *)&h[s][0], _mm_blend_epi16(t, u, 0xF0)); /* DCBA */
        _mm_storeu_si128((__m128i *)(void *)&h[s][4], _mm_alignr_epi8(u, t, 8));    /* HGFE */
    }
}

static void ni1(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(1, h, p, nb);
}
static void ni2(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(2, h, p, nb);
}
static void ni3(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(3, h, p, nb);
}

void vx_sha256_ni_blocks(int n, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
    if (n == 1) ni1(h, p, nblocks);
    else if (n == 2) ni2(h, p, nblocks);
    else if (n == 3) ni3(h, p, nblocks);
}

#else
void vx_sha256_ni_blocks(int n, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
    (void)n, (void)h, (void)p, (void)nblocks;
}
#endif
