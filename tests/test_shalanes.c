/*
 * test_shalanes.c — the SHA-256 lanes (src/shalanes.c) against OpenSSL's one stream:
 *   - the SHA-NI compression of 1, 2 and 3 lanes at once, on different data per lane
 *     (a lane mixed up with another, or a wrong round, changes the state);
 *   - vx_sha_drain on ranges of every padding class (lengths 0..130 around the 55/56 and
 *     64 byte edges, page-crossing and unaligned offsets, to the end of the file, whole
 *     files of a few MB) from 1, 2 and 3 threads, so lanes of unequal length run side by
 *     side and finish at different turns;
 *   - a whole empty file, and the errors: a missing file, ranges past the end, a FIFO
 *     (refused, not waited on) and a directory in a file's place;
 * and all of it again in a child with VINDEX_SHA=openssl, where the lanes are OpenSSL
 * streams (on a CPU without SHA-NI both runs take that path).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "check.h"
#include "common.h"
#include "kern.h"
#include "shalanes.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint8_t next_byte(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static void ref_hex(char out[65], const uint8_t *p, size_t n) {
    uint8_t md[32];
    unsigned int len = 32;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    vx_hex(out, md, 32);
}

static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

/* The compression alone: nb blocks of already padded messages, 1..3 lanes. */
static void test_blocks(void) {
    if (!vx_sha_ni()) return;
    enum { NB = 37 };
    static uint8_t msg[VX_SHA_LANES][(NB + 1) * 64];
    for (int n = 1; n <= VX_SHA_LANES; n++) {
        uint32_t st[VX_SHA_LANES][8], *h[VX_SHA_LANES];
        const uint8_t *p[VX_SHA_LANES];
        size_t len[VX_SHA_LANES];
        for (int s = 0; s < n; s++) {
            len[s] = (size_t)NB * 64 - 9 - (size_t)s * 5; /* padding fits the last block */
            memset(msg[s], 0, sizeof msg[s]);
            for (size_t i = 0; i < len[s]; i++) msg[s][i] = next_byte();
            msg[s][len[s]] = 0x80;
            uint64_t bits = (uint64_t)len[s] * 8;
            for (int i = 0; i < 8; i++) msg[s][NB * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
            memcpy(st[s], iv, sizeof iv);
            h[s] = st[s];
            p[s] = msg[s];
        }
        vx_sha256_ni_blocks(n, h, p, NB);
        for (int s = 0; s < n; s++) {
            uint8_t md[32];
            char got[65], want[65];
            for (int i = 0; i < 8; i++)
                for (int k = 0; k < 4; k++) md[4 * i + k] = (uint8_t)(st[s][i] >> (24 - 8 * k));
            vx_hex(got, md, 32);
            ref_hex(want, msg[s], len[s]);
            CHECK(!strcmp(got, want), "%d lanes, lane %d: %s, expected %s", n, s, got, want);
        }
    }
}

#define FILE_A_BYTES (3u << 20)
static uint8_t *file_a, *file_b;
static size_t file_b_bytes = 9999; /* not a multiple of the page or the block */

static void *drain(void *q) {
    vx_sha_drain(q);
    return NULL;
}

static void drain_on(vx_sha_queue *q, int threads) {
    pthread_t t[4];
    for (int i = 1; i < threads; i++) pthread_create(&t[i], NULL, drain, q);
    vx_sha_drain(q);
    for (int i = 1; i < threads; i++) pthread_join(t[i], NULL);
}

static void test_drain(int dfd, const char *path_tag) {
    enum { MAXR = 400 };
    static vx_sha_range r[MAXR];
    vx_sha_range *order[MAXR];
    const uint8_t *src[MAXR];
    size_t n = 0;
    /* every length 0..130 at offsets that are page aligned, odd, and crossing a page */
    const uint64_t offs[3] = { 4096, 4096 * 7 + 3, 4096 * 9 - 61 };
    for (size_t len = 0; len <= 130; len++) {
        vx_sha_range *x = &r[n];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "a.bin");
        x->off = offs[len % 3];
        x->len = len;
        src[n++] = file_a + x->off;
    }
    /* long ranges of unequal lengths, side by side in the lanes */
    const uint64_t longs[][2] = { { 0, FILE_A_BYTES }, { 1, FILE_A_BYTES - 1 }, { 100000, 1234567 },
                                  { 65536, 1 << 20 }, { 777, 2 * 1048576 + 13 } };
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        vx_sha_range *x = &r[n];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "a.bin");
        x->off = longs[i][0];
        x->len = longs[i][1];
        src[n++] = file_a + x->off;
    }
    /* to the end of the file: whole files, and a tail */
    const struct { const char *name; uint64_t off; } eof[] = { { "a.bin", 0 }, { "b.bin", 0 }, { "b.bin", 4097 }, { "empty.bin", 0 } };
    for (size_t i = 0; i < sizeof eof / sizeof eof[0]; i++) {
        vx_sha_range *x = &r[n];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", eof[i].name);
        x->off = eof[i].off;
        x->len = VX_TO_EOF;
        src[n++] = eof[i].name[0] == 'a' ? file_a : eof[i].name[0] == 'b' ? file_b + eof[i].off : file_a;
    }
    size_t nok = n;
    /* errors: a missing file, a range that ends past the file, one that starts past it */
    const struct { const char *name; uint64_t off, len; } bad[] = {
        { "missing.bin", 0, 10 }, { "b.bin", 9000, 1000 }, { "b.bin", 20000, 1 }, { "b.bin", 10000, VX_TO_EOF },
        { "fifo", 0, VX_TO_EOF }, { "subdir", 0, VX_TO_EOF } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vx_sha_range *x = &r[n++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", bad[i].name);
        x->off = bad[i].off;
        x->len = bad[i].len;
    }
    for (int threads = 1; threads <= 3; threads++) {
        for (size_t i = 0; i < n; i++) {
            r[i].hex[0] = 0;
            r[i].rc = -1;
            order[i] = &r[i];
        }
        vx_sha_queue q = { dfd, order, n, 0 };
        drain_on(&q, threads);
        for (size_t i = 0; i < nok; i++) {
            char want[65];
            size_t len = r[i].len != VX_TO_EOF ? (size_t)r[i].len
                       : !strcmp(r[i].name, "a.bin") ? FILE_A_BYTES
                       : !strcmp(r[i].name, "b.bin") ? file_b_bytes - (size_t)r[i].off : 0;
            ref_hex(want, src[i], len);
            CHECK(r[i].rc == VX_OK && !strcmp(r[i].hex, want), "%s, %d threads: %s bytes %llu+%zu: rc %d %s, expected %s",
                  path_tag, threads, r[i].name, (unsigned long long)r[i].off, len, r[i].rc, r[i].hex, want);
        }
        CHECK(r[nok].rc == VX_ENOTFOUND && strstr(r[nok].msg, "missing.bin: cannot open"), "%s: missing file: %d %s",
              path_tag, r[nok].rc, r[nok].msg);
        CHECK(r[nok + 1].rc == VX_EIO && strstr(r[nok + 1].msg, "b.bin: ends at byte 9999, expected at least 10000"),
              "%s: range past the end: %d %s", path_tag, r[nok + 1].rc, r[nok + 1].msg);
        CHECK(r[nok + 2].rc == VX_EIO && strstr(r[nok + 2].msg, "b.bin: ends at byte 9999"), "%s: range after the end: %d %s",
              path_tag, r[nok + 2].rc, r[nok + 2].msg);
        CHECK(r[nok + 3].rc == VX_EIO, "%s: to the end from past it: %d %s", path_tag, r[nok + 3].rc, r[nok + 3].msg);
        /* a FIFO in a file's place: refused, not waited on (the open would block without a writer) */
        CHECK(r[nok + 4].rc == VX_ECORRUPT && strstr(r[nok + 4].msg, "fifo: not a regular file"), "%s: a FIFO: %d %s", path_tag,
              r[nok + 4].rc, r[nok + 4].msg);
        CHECK(r[nok + 5].rc != VX_OK && strstr(r[nok + 5].msg, "subdir: "), "%s: a directory: %d %s", path_tag,
              r[nok + 5].rc, r[nok + 5].msg);
    }
}

static int write_all(int dfd, const char *name, const uint8_t *p, size_t n) {
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    ssize_t w = write(fd, p, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

int main(void) {
    char dir[] = "/tmp/vx-test-shalanes-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    file_a = malloc(FILE_A_BYTES);
    file_b = malloc(file_b_bytes);
    if (dfd < 0 || !file_a || !file_b) return 1;
    for (size_t i = 0; i < FILE_A_BYTES; i++) file_a[i] = next_byte();
    for (size_t i = 0; i < file_b_bytes; i++) file_b[i] = next_byte();
    if (write_all(dfd, "a.bin", file_a, FILE_A_BYTES) || write_all(dfd, "b.bin", file_b, file_b_bytes) ||
        write_all(dfd, "empty.bin", file_a, 0) || mkfifoat(dfd, "fifo", 0600) || mkdirat(dfd, "subdir", 0700))
        return 1;

    /* The OpenSSL path in a child: vx_sha_ni() chooses once per process. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        setenv("VINDEX_SHA", "openssl", 1);
        CHECK(vx_sha_ni() == 0, "VINDEX_SHA=openssl turns SHA-NI off");
        test_drain(dfd, "openssl lanes");
        fflush(stderr);
        _exit(check_fail_ > 255 ? 255 : check_fail_);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the OpenSSL-lane child: %d failures",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("SHA-NI: %s\n", vx_sha_ni() ? "yes" : "no (both runs took the OpenSSL lanes)");
    test_blocks();
    test_drain(dfd, vx_sha_ni() ? "SHA-NI lanes" : "openssl lanes");

    unlinkat(dfd, "a.bin", 0);
    unlinkat(dfd, "b.bin", 0);
    unlinkat(dfd, "empty.bin", 0);
    unlinkat(dfd, "fifo", 0);
    unlinkat(dfd, "subdir", AT_REMOVEDIR);
    close(dfd);
    rmdir(dir);
    free(file_a);
    free(file_b);
    return CHECK_DONE();
}
