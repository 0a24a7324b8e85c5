/*
 * shalanes.c — SHA-256 lanes (see shalanes.h): the per-thread loop that keeps up to
 * VX_SHA_LANES ranges fed from their maps, on SHA-NI (src/kern_sha.c) or OpenSSL.
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
#include "kern.h"
#include "shalanes.h"

int vx_sha_ni(void) {
    static int ni = -1; /* chosen once; a race between first calls is harmless (same answer) */
    int v = __atomic_load_n(&ni, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *env = getenv("VINDEX_SHA");
        v = env && !strcmp(env, "openssl") ? 0 : vx_cpu_sha();
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
        if (vx_open_file(&l->fd, &st, q->dfd, r->name, r->name, &e)) {
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
        uint64_t page = r->off - r->off % (uint64_t)sysconf(_SC_PAGESIZE);
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
