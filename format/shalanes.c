/*
 * shalanes.c — SHA-256 lanes (see shalanes.h): the SHA-NI compression of up to three
 * streams at once, and the per-thread loop that keeps its lanes fed from mapped ranges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common.h"
#include "shalanes.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define VX_HAVE_SHA_NI 1

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

#define SHA_NI __attribute__((target("sha,sse4.1,ssse3"), always_inline)) static inline

/* NS streams, each round group of one stream followed by the same group of the next, so
 * the round instructions of independent streams fill each other's latency. The state is
 * kept as SHA-NI wants it (ABEF, CDGH); W[g % 4] holds the message words of group g. */
SHA_NI void ni_blocks(const int NS, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
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

__attribute__((target("sha,sse4.1,ssse3"))) static void ni1(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(1, h, p, nb);
}
__attribute__((target("sha,sse4.1,ssse3"))) static void ni2(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(2, h, p, nb);
}
__attribute__((target("sha,sse4.1,ssse3"))) static void ni3(uint32_t *const h[], const uint8_t *const p[], size_t nb) {
    ni_blocks(3, h, p, nb);
}

void vx_sha256_ni_blocks(int n, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
    if (n == 1) ni1(h, p, nblocks);
    else if (n == 2) ni2(h, p, nblocks);
    else if (n == 3) ni3(h, p, nblocks);
}

static int cpu_sha_ni(void) {
    unsigned a, b, c = 0, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#else
void vx_sha256_ni_blocks(int n, uint32_t *const h[], const uint8_t *const p[], size_t nblocks) {
    (void)n, (void)h, (void)p, (void)nblocks;
}
static int cpu_sha_ni(void) { return 0; }
#endif

int vx_sha_ni(void) {
    static int ni = -1; /* chosen once; a race between first calls is harmless (same answer) */
    int v = __atomic_load_n(&ni, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *env = getenv("VINDEX_SHA");
        v = env && !strcmp(env, "openssl") ? 0 : cpu_sha_ni();
        __atomic_store_n(&ni, v, __ATOMIC_RELAXED);
    }
    return v;
}

typedef struct lane {
    vx_sha_range *r; /* NULL: free */
    int fd;
    uint8_t *map;     /* the range, mapped (from the page boundary before it) */
    size_t maplen;
    const uint8_t *data;
    size_t have, pos; /* the range's bytes; of them hashed */
    uint32_t h[8];    /* SHA-NI state */
    EVP_MD_CTX *ctx;  /* or OpenSSL's */
} lane;

static const uint32_t sha_iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

static void lane_end(lane *l, int rc, const vx_err *e) {
    if (l->map) munmap(l->map, l->maplen);
    if (l->fd >= 0) close(l->fd);
    l->map = NULL;
    l->fd = -1;
    l->r->rc = rc;
    if (rc) snprintf(l->r->msg, sizeof l->r->msg, "%s", e->msg);
    l->r = NULL;
}

/* Take the next range and map it; 0 when the queue is empty. A range that cannot be
 * opened, is past the file's end or cannot be mapped is recorded as failed and the next
 * one taken. The bytes are read from the page cache where they are, not copied: a copy
 * through a buffer cost a tenth of the hashing rate (doc/benchmarks.md, "verify"). Like
 * every map of a vindex, a file truncated meanwhile raises SIGBUS (spec/robustness.md). */
static int lane_start(lane *l, vx_sha_queue *q, int ni) {
    for (;;) {
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->n) return 0;
        vx_sha_range *r = q->r[i];
        vx_err e = { 0 };
        struct stat st;
        l->r = r;
        l->fd = openat(q->dfd, r->name, O_RDONLY | O_CLOEXEC);
        if (l->fd < 0 || fstat(l->fd, &st) != 0) {
            vx_fail(&e, errno == ENOENT ? VX_ENOTFOUND : VX_EIO, "%s: cannot open: %s", r->name, strerror(errno));
            lane_end(l, e.code, &e);
            continue;
        }
        uint64_t size = (uint64_t)st.st_size, end = r->len == VX_TO_EOF ? size : r->off + r->len;
        if (r->off > size || end > size || end < r->off) {
            vx_fail(&e, VX_EIO, "%s: ends at byte %llu, expected at least %llu", r->name, (unsigned long long)size,
                    (unsigned long long)(end > r->off ? end : r->off));
            lane_end(l, e.code, &e);
            continue;
        }
        uint64_t page = r->off & ~(uint64_t)4095;
        l->maplen = (size_t)(end - page);
        l->have = (size_t)(end - r->off);
        l->pos = 0;
        l->data = NULL;
        if (l->have) {
            void *m = mmap(NULL, l->maplen, PROT_READ, MAP_SHARED, l->fd, (off_t)page);
            if (m == MAP_FAILED) {
                vx_fail(&e, VX_EIO, "%s: cannot map bytes %llu..%llu: %s", r->name, (unsigned long long)r->off,
                        (unsigned long long)end, strerror(errno));
                lane_end(l, e.code, &e);
                continue;
            }
            l->map = m;
            l->data = l->map + (r->off - page);
            posix_fadvise(l->fd, (off_t)r->off, (off_t)l->have, POSIX_FADV_WILLNEED); /* from disk: read ahead */
        }
        memcpy(l->h, sha_iv, sizeof l->h);
        if (!ni) EVP_DigestInit_ex(l->ctx, EVP_sha256(), NULL);
        return 1;
    }
}

/* The last (< 64) bytes, the padding and the length (FIPS 180-4 §5.1.1), and the digest. */
static void lane_finish(lane *l, int ni) {
    size_t n = l->have - l->pos;
    const uint8_t *tail = n ? l->data + l->pos : (const uint8_t *)"";
    uint8_t md[32];
    if (ni) {
        uint8_t last[128] = { 0 };
        uint64_t bits = (uint64_t)l->have * 8;
        memcpy(last, tail, n);
        last[n] = 0x80;
        size_t nb = n + 9 <= 64 ? 1 : 2;
        for (int i = 0; i < 8; i++) last[nb * 64 - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
        uint32_t *h[1] = { l->h };
        const uint8_t *p[1] = { last };
        vx_sha256_ni_blocks(1, h, p, nb);
        for (int i = 0; i < 8; i++)
            for (int k = 0; k < 4; k++) md[4 * i + k] = (uint8_t)(l->h[i] >> (24 - 8 * k));
    } else {
        unsigned int sz = 32;
        EVP_DigestUpdate(l->ctx, tail, n);
        EVP_DigestFinal_ex(l->ctx, md, &sz);
    }
    vx_hex(l->r->hex, md, 32);
    lane_end(l, VX_OK, NULL);
}

void vx_sha_drain(vx_sha_queue *q) {
    int ni = vx_sha_ni(), nl = 0;
    lane ln[VX_SHA_LANES];
    memset(ln, 0, sizeof ln);
    for (; nl < VX_SHA_LANES; nl++) {
        ln[nl].fd = -1;
        if (!ni && !(ln[nl].ctx = EVP_MD_CTX_new())) break;
    }
    if (nl == 0) { /* not even one OpenSSL context: fail the rest of the queue rather than skip it */
        for (size_t i; (i = atomic_fetch_add(&q->next, 1)) < q->n;) {
            q->r[i]->rc = VX_ENOMEM;
            snprintf(q->r[i]->msg, sizeof q->r[i]->msg, "%s: out of memory", q->r[i]->name);
        }
        return;
    }
    /* Each turn hashes as many blocks as the shortest remaining range has, in every busy
     * lane at once; a lane whose range has less than a block left finishes it and takes
     * the next. */
    for (int more = 1;;) {
        uint32_t *h[VX_SHA_LANES];
        const uint8_t *p[VX_SHA_LANES];
        lane *use[VX_SHA_LANES];
        size_t nb = SIZE_MAX;
        int n = 0;
        for (int i = 0; i < nl; i++) {
            lane *l = &ln[i];
            while (more && !l->r) more = lane_start(l, q, ni);
            if (l->r && l->have - l->pos < 64) lane_finish(l, ni);
            if (!l->r) continue;
            size_t b = (l->have - l->pos) / 64;
            nb = b < nb ? b : nb;
            h[n] = l->h;
            p[n] = l->data + l->pos;
            use[n++] = l;
        }
        if (!n && !more) break;
        if (!n) continue; /* lanes just finished: take their next ranges */
        if (ni) vx_sha256_ni_blocks(n, h, p, nb);
        else
            for (int i = 0; i < n; i++) EVP_DigestUpdate(use[i]->ctx, p[i], nb * 64);
        for (int i = 0; i < n; i++) use[i]->pos += nb * 64;
    }
    for (int i = 0; i < nl; i++)
        if (ln[i].ctx) EVP_MD_CTX_free(ln[i].ctx); /* none on SHA-NI, which never loads libcrypto */
}
