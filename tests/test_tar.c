/*
 * test_tar.c — the archive layer's pure parts: the tar header codec and push parser
 * (format/tar.c, spec/archive.md A-T*), the zstd streams (format/zst.c, A-Z*), and the
 * content digest from SHA256SUMS bytes (vx_content_digest_of, R-B6), each against
 * hand-made bytes with the exact outcome expected.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "check.h"
#include "tar.h"
#include "vxmeta.h"
#include "zst.h"

/* ---- a collecting sink ---- */
typedef struct got {
    int members, ends;
    char path[8][VX_TAR_PATH_MAX + 1];
    uint64_t size[8], bytes[8];
    char type[8];
    uint8_t data[1 << 16];
    size_t nd;
} got;

static int g_member(void *ctx, const vx_tar_hdr *h, vx_err *err) {
    got *g = ctx;
    (void)err;
    if (g->members < 8) {
        strcpy(g->path[g->members], h->path);
        g->size[g->members] = h->size;
        g->type[g->members] = h->type;
    }
    g->members++;
    return VX_OK;
}
static int g_data(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    got *g = ctx;
    (void)err;
    if (g->members <= 8) g->bytes[g->members - 1] += n;
    if (g->nd + n <= sizeof g->data) memcpy(g->data + g->nd, p, n);
    g->nd += n;
    return VX_OK;
}
static int g_end(void *ctx, vx_err *err) {
    (void)err;
    ((got *)ctx)->ends++;
    return VX_OK;
}

/* Feed `n` bytes in pieces of `step`, then finish. */
static int parse(got *g, const uint8_t *b, size_t n, size_t step, vx_err *e) {
    memset(g, 0, sizeof *g);
    memset(e, 0, sizeof *e);
    vx_tar_reader r;
    vx_tar_reader_init(&r);
    vx_tar_sink s = { g_member, g_data, g_end, g };
    int rc = VX_OK;
    for (size_t at = 0; at < n && rc == VX_OK; at += step) rc = vx_tar_feed(&r, b + at, n - at < step ? n - at : step, &s, e);
    if (rc == VX_OK) rc = vx_tar_finish(&r, e);
    vx_tar_reader_free(&r);
    return rc;
}

/* An archive builder over a fixed buffer. */
static uint8_t A[1 << 17];
static size_t An;
static void a_reset(void) { memset(A, 0, sizeof A); An = 0; }
static void a_hdr(const char *path, uint64_t size, char type) {
    vx_err e;
    CHECK(vx_tar_header_write(A + An, path, size, type, 0, &e) == VX_OK, "write %s: %s", path, e.msg);
    An += 512;
}
static void a_data(const void *p, size_t n) {
    memcpy(A + An, p, n);
    An += (n + 511) / 512 * 512;
}
static void a_end(void) { An += 1024; }
/* Recompute the checksum of the header at `at` after editing it. */
static void a_resum(size_t at) {
    memset(A + at + 148, ' ', 8);
    unsigned s = 0;
    for (int i = 0; i < 512; i++) s += A[at + i];
    snprintf((char *)A + at + 148, 8, "%06o", s);
}

static void expect_fail(const char *label, int want_rc, const char *want_msg) {
    got g;
    vx_err e;
    int steps[3] = { (int)An, 1, 511 };
    for (int k = 0; k < 3; k++) {
        int rc = parse(&g, A, An, steps[k] ? (size_t)steps[k] : 1, &e);
        CHECK(rc == want_rc && strstr(e.msg, want_msg), "%s (pieces of %d): rc %d, '%s'; expected %d with '%s'", label,
              steps[k], rc, e.msg, want_rc, want_msg);
    }
}

static void headers(void) {
    uint8_t b[512];
    vx_tar_hdr h;
    vx_err e = { 0 };
    CHECK(vx_tar_header_write(b, "x.vindex/index.json", 12345, '0', 0, &e) == VX_OK, "write");
    CHECK(vx_tar_header_parse(&h, b, 0, &e) == VX_OK && !strcmp(h.path, "x.vindex/index.json") && h.size == 12345 &&
              h.type == '0' && h.mode == 0644 && h.uid == 0 && h.mtime == 0,
          "round trip: %s %llu", h.path, (unsigned long long)h.size);
    CHECK(!memcmp(b + 257, "ustar\0" "00", 8), "POSIX magic");
    /* a long path splits into prefix and name */
    char lp[300];
    snprintf(lp, sizeof lp, "%0120d/%s", 0, "gate_vectors.bin");
    CHECK(vx_tar_header_write(b, lp, 1, '0', 0, &e) == VX_OK && vx_tar_header_parse(&h, b, 0, &e) == VX_OK &&
              !strcmp(h.path, lp), "prefix/name split: %s", h.path);
    char nolp[300];
    memset(nolp, 'a', 250);
    nolp[250] = 0;
    CHECK(vx_tar_header_write(b, nolp, 1, '0', 0, &e) == VX_EUSAGE, "an unsplittable path is refused");
    CHECK(vx_tar_header_write(b, "a", VX_TAR_USTAR_SIZE_MAX + 1, '0', 0, &e) == VX_EUSAGE, "8 GiB needs pax");
    /* checksum */
    vx_tar_header_write(b, "a", 1, '0', 0, &e);
    b[0] ^= 1;
    CHECK(vx_tar_header_parse(&h, b, 1536, &e) == VX_ECORRUPT && strstr(e.msg, "offset 1536: checksum"), "%s", e.msg);
    /* the signed sum of old writers */
    vx_tar_header_write(b, "\xe9t\xe9", 1, '0', 0, &e);
    memset(b + 148, ' ', 8);
    int ss = 0;
    for (int i = 0; i < 512; i++) ss += (int8_t)b[i];
    snprintf((char *)b + 148, 8, "%06o", (unsigned)ss);
    CHECK(vx_tar_header_parse(&h, b, 0, &e) == VX_OK, "signed checksum accepted: %s", e.msg);
    /* magic */
    vx_tar_header_write(b, "a", 1, '0', 0, &e);
    memcpy(b + 257, "ustaR", 5);
    a_reset();
    memcpy(A, b, 512);
    a_resum(0);
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_EUNSUPPORTED && strstr(e.msg, "magic"), "%s", e.msg);
    /* numbers: a non-octal digit, base-256, an overflowing base-256 */
    a_reset();
    a_hdr("a", 1, '0');
    A[124 + 5] = '8';
    a_resum(0);
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_ECORRUPT && strstr(e.msg, "size field"), "%s", e.msg);
    a_reset();
    a_hdr("a", 1, '0');
    memset(A + 124, 0, 12);
    A[124] = 0x80;
    A[124 + 7] = 1; /* 2^32 */
    a_resum(0);
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_OK && h.size == (1ull << 32), "base-256 size %llu", (unsigned long long)h.size);
    memset(A + 124, 0xff, 12);
    A[124] = 0x80;
    a_resum(0);
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_ECORRUPT, "base-256 beyond 2^63 refused");
    memset(A + 124, 0xff, 12);
    a_resum(0);
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_ECORRUPT, "a negative size refused");
    /* types */
    const char *types = "123467KSVMN";
    for (const char *t = types; *t; t++) {
        a_reset();
        a_hdr("x.vindex/a", 0, *t);
        a_end();
        const char *want = *t == '1' || *t == '2' || *t == 'K' ? "link" : *t == '3' || *t == '4' ? "device"
                         : *t == '6' ? "FIFO" : *t == '7' ? "" : "not supported";
        if (*t == '7') {
            got g;
            CHECK(parse(&g, A, An, An, &e) == VX_OK && g.type[0] == '0', "type 7 is a regular file");
        } else {
            char label[32];
            snprintf(label, sizeof label, "type %c", *t);
            expect_fail(label, VX_EUNSUPPORTED, want);
        }
    }
}

static void pax(void) {
    vx_tar_hdr h;
    vx_err e = { 0 };
    uint8_t rec[600];
    size_t n = vx_tar_pax_build(rec, sizeof rec, "dir/very-long-name", 1, 1ull << 40);
    memset(&h, 0, sizeof h);
    CHECK(n && vx_tar_pax_apply(&h, rec, n, 0, 0, &e) == VX_OK && !strcmp(h.path, "dir/very-long-name") &&
              h.size == (1ull << 40), "pax round trip: %s", e.msg);
    /* lengths that count themselves across a digit boundary (9 -> 10 digits of record) */
    for (int k = 1; k < 120; k++) {
        char p[200];
        memset(p, 'q', (size_t)k);
        p[k] = 0;
        n = vx_tar_pax_build(rec, sizeof rec, p, 0, 0);
        memset(&h, 0, sizeof h);
        if (!n || vx_tar_pax_apply(&h, rec, n, 0, 0, &e) != VX_OK || strcmp(h.path, p)) {
            CHECK(0, "pax record for a %d-byte path: %s", k, e.msg);
            break;
        }
    }
    const struct { const char *rec; int rc; const char *msg; } bad[] = {
        { "30 path=abc\n", VX_ECORRUPT, "malformed" },          /* length beyond the data */
        { "9 path=abc\n", VX_ECORRUPT, "malformed" },           /* length not ending at a newline */
        { "x path=abc\n", VX_ECORRUPT, "malformed" },
        { "12 pathabcd\n", VX_ECORRUPT, "key=value" },
        { "13 size=12a4\n", VX_ECORRUPT, "size" },
        { "29 size=99999999999999999999\n", VX_ECORRUPT, "size" },
        { "22 GNU.sparse.map=0,1\n", VX_EUNSUPPORTED, "sparse" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&h, 0, sizeof h);
        int rc = vx_tar_pax_apply(&h, (const uint8_t *)bad[i].rec, strlen(bad[i].rec), 0, 7, &e);
        CHECK(rc == bad[i].rc && strstr(e.msg, bad[i].msg), "pax '%s': rc %d '%s'", bad[i].rec, rc, e.msg);
    }
    CHECK(vx_tar_pax_apply(&h, (const uint8_t *)"12 path=abc\n", 12, 1, 0, &e) == VX_EUNSUPPORTED, "global path refused");
    CHECK(vx_tar_pax_apply(&h, (const uint8_t *)"20 mtime=1.5\n", 13, 0, 0, &e) == VX_ECORRUPT, "length mismatch");
    memset(&h, 0, sizeof h);
    CHECK(vx_tar_pax_apply(&h, (const uint8_t *)"13 mtime=1.5\n", 13, 0, 0, &e) == VX_OK && !h.path[0], "other keys ignored");
}

static void reader(void) {
    got g;
    vx_err e;
    static uint8_t payload[5000];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 7 + 1);
    a_reset();
    a_hdr("x.vindex/", 0, '5');
    a_hdr("x.vindex/SHA256SUMS", 3, '0');
    a_data("abc", 3);
    a_hdr("x.vindex/index.json", 0, '0');
    a_hdr("x.vindex/vocab.bin", sizeof payload, '0');
    a_data(payload, sizeof payload);
    a_end();
    size_t good = An;
    size_t steps[] = { good, 1, 7, 512, 513, 4096 };
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        int rc = parse(&g, A, good, steps[k], &e);
        CHECK(rc == VX_OK && g.members == 4 && g.ends == 4 && g.type[0] == '5' && !strcmp(g.path[3], "x.vindex/vocab.bin") &&
                  g.bytes[1] == 3 && g.bytes[3] == sizeof payload && g.nd == 3 + sizeof payload &&
                  !memcmp(g.data + 3, payload, sizeof payload),
              "pieces of %zu: rc %d '%s', %d members", steps[k], rc, e.msg, g.members);
    }
    /* GNU tar's record padding and a little more zeros are fine; data after the end is not */
    CHECK(parse(&g, A, good + 8192, 4096, &e) == VX_OK, "zeros after the end");
    An = good + 100;
    A[good + 50] = 1;
    expect_fail("data after the end", VX_ECORRUPT, "after the end-of-archive marker, at offset");
    A[good + 50] = 0;
    /* trailing zeros are bounded (a stream of zeros is a bomb too) */
    static uint8_t big[2 << 20];
    memcpy(big, A, good);
    memset(big + good, 0, sizeof big - good);
    CHECK(parse(&g, big, sizeof big, 65536, &e) == VX_ECORRUPT && strstr(e.msg, "zeros after"), "endless zeros: %s", e.msg);
    /* truncation at every boundary class */
    const struct { size_t at; const char *msg; } cut[] = {
        { 0, "after a member" },                  /* nothing at all: no end marker */
        { 100, "inside a header block" },
        { 512, "after a member" },                /* after the directory */
        { 1024 + 2, "inside member x.vindex/SHA256SUMS" },
        { 1024 + 3, "inside a member's padding" },
        { 2048 + 512 + 100, "inside member x.vindex/vocab.bin" },
        { good - 1024, "after a member" },        /* the end marker missing */
        { good - 512, "one end-of-archive block of two" },
        { good - 1, "inside a header block" },
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        An = cut[i].at;
        char label[64];
        snprintf(label, sizeof label, "cut at %zu", cut[i].at);
        expect_fail(label, VX_ECORRUPT, cut[i].msg);
    }
    /* a lone zero block inside the archive */
    a_reset();
    a_hdr("a", 1, '0');
    a_data("z", 1);
    An += 512;
    a_hdr("b", 1, '0');
    a_data("z", 1);
    a_end();
    expect_fail("lone zero block", VX_ECORRUPT, "lone zero block at offset 1024");
    /* non-zero padding */
    a_reset();
    a_hdr("a", 1, '0');
    a_data("zz", 2);
    a_end();
    expect_fail("padding", VX_ECORRUPT, "non-zero padding after member a, at offset 513");
    /* a GNU long name, a pax path and size for the next member only */
    a_reset();
    char ln[700];
    memset(ln, 'L', 600);
    ln[600] = 0;
    a_hdr("././@LongLink", 601, 'L');
    a_data(ln, 601);
    a_hdr("short", 2, '0');
    a_data("hi", 2);
    uint8_t rec[512];
    size_t rl = vx_tar_pax_build(rec, sizeof rec, "p/q.bin", 1, 3);
    a_hdr("PaxHeaders/q", rl, 'x');
    a_data(rec, rl);
    a_hdr("q-ustar", 9, '0'); /* the pax size (3) wins over the header's */
    a_data("abc", 3);
    a_hdr("after", 1, '0');
    a_data("z", 1);
    a_end();
    CHECK(parse(&g, A, An, 100, &e) == VX_OK && g.members == 3 && !strcmp(g.path[0], ln) && !strcmp(g.path[1], "p/q.bin") &&
              g.size[1] == 3 && !strcmp(g.path[2], "after"),
          "long names: %s; %d members, %s %s", e.msg, g.members, g.path[1], g.path[2]);
    /* an extended header over 64 KiB, one with no member after it, a long name over the limit */
    a_reset();
    a_hdr("PaxHeaders/x", VX_TAR_EXT_MAX + 1, 'x');
    An += 1024;
    expect_fail("huge pax", VX_ECORRUPT, "more than 65536");
    a_reset();
    a_hdr("PaxHeaders/x", rl, 'x');
    a_data(rec, rl);
    a_end();
    expect_fail("pax then end", VX_ECORRUPT, "not followed by a member");
    a_reset();
    static char huge[2000];
    memset(huge, 'h', 1500);
    a_hdr("././@LongLink", 1500, 'L');
    a_data(huge, 1500);
    a_hdr("x", 0, '0');
    a_end();
    expect_fail("long name over 1024", VX_ECORRUPT, "longer than 1024");
    /* a directory with data */
    a_reset();
    a_hdr("d/", 0, '5');
    vx_tar_hdr h;
    memset(A + 124, 0, 12);
    snprintf((char *)A + 124, 12, "%011o", 5);
    a_resum(0);
    An += 512;
    a_end();
    CHECK(vx_tar_header_parse(&h, A, 0, &e) == VX_OK, "directory header parses");
    expect_fail("directory with data", VX_EUNSUPPORTED, "carries 5 data bytes");
}

/* ---- zstd ---- */
typedef struct zsink { uint8_t *buf; size_t n, cap; } zsink;
static int zs_put(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    zsink *s = ctx;
    (void)err;
    if (s->n + n <= s->cap) memcpy(s->buf + s->n, p, n);
    s->n += n;
    return VX_OK;
}

static int zread_bytes(const uint8_t *c, size_t n, int threads, zsink *s, vx_err *e) {
    char path[] = "/tmp/vx-test-zst-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -100;
    unlink(path);
    if (write(fd, c, n) != (ssize_t)n) { close(fd); return -100; }
    lseek(fd, 0, SEEK_SET);
    s->n = 0;
    memset(e, 0, sizeof *e);
    int rc = vx_zst_read(fd, "t.zst", threads, zs_put, s, NULL, e);
    close(fd);
    return rc;
}

static void zstd_streams(void) {
    size_t n = 3 << 20;
    uint8_t *src = malloc(n), *out = malloc(n + 1000);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)((i * 2654435761u) >> 13) & (i % 3 ? 0xff : 0x0f);
    char path[] = "/tmp/vx-test-zst-XXXXXX";
    int fd = mkstemp(path);
    vx_zst_writer w;
    vx_err e = { 0 };
    CHECK(vx_zst_writer_open(&w, fd, path, 3, 2, 0, n, &e) == VX_OK, "writer: %s", e.msg);
    for (size_t at = 0; at < n; at += 100000) vx_zst_write(&w, src + at, n - at < 100000 ? n - at : 100000, &e);
    CHECK(vx_zst_writer_finish(&w, &e) == VX_OK && w.in_bytes == n, "finish: %s", e.msg);
    vx_zst_writer_free(&w);
    off_t clen = lseek(fd, 0, SEEK_END);
    uint8_t *c = malloc((size_t)clen);
    CHECK(pread(fd, c, (size_t)clen, 0) == clen, "read back");
    close(fd);
    unlink(path);
    CHECK(ZSTD_getFrameContentSize(c, (size_t)clen) == n, "content size declared");
    zsink s = { out, 0, n + 1000 };
    for (int t = 1; t <= 2; t++) {
        int rc = zread_bytes(c, (size_t)clen, t, &s, &e);
        CHECK(rc == VX_OK && s.n == n && !memcmp(out, src, n), "round trip, %d thread(s): %s", t, e.msg);
        /* truncated at the frame header, in a block, before the checksum */
        size_t cuts[] = { 3, (size_t)clen / 2, (size_t)clen - 2 };
        for (int k = 0; k < 3; k++) {
            rc = zread_bytes(c, cuts[k], t, &s, &e);
            CHECK(rc == VX_ECORRUPT && (strstr(e.msg, "truncated") || strstr(e.msg, "zstd:")), "cut at %zu: rc %d '%s'",
                  cuts[k], rc, e.msg);
        }
        rc = zread_bytes(c, 0, t, &s, &e);
        CHECK(rc == VX_ECORRUPT && strstr(e.msg, "empty input"), "empty: %s", e.msg);
        /* a flipped byte in a block and in the checksum */
        size_t flips[] = { (size_t)clen / 3, (size_t)clen - 1 };
        for (int k = 0; k < 2; k++) {
            c[flips[k]] ^= 0x20;
            rc = zread_bytes(c, (size_t)clen, t, &s, &e);
            c[flips[k]] ^= 0x20;
            CHECK(rc == VX_ECORRUPT && strstr(e.msg, "compressed byte"), "flip at %zu: rc %d '%s'", flips[k], rc, e.msg);
        }
        /* garbage after a frame */
        uint8_t *g = malloc((size_t)clen + 8);
        memcpy(g, c, (size_t)clen);
        memcpy(g + clen, "garbage!", 8);
        rc = zread_bytes(g, (size_t)clen + 8, t, &s, &e);
        CHECK(rc == VX_ECORRUPT, "garbage after the frame: rc %d '%s'", rc, e.msg);
        /* two frames are one stream */
        memcpy(g, c, (size_t)clen);
        free(g);
    }
    /* a window over 2^27 is refused (A-Z2) */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 28);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1);
    size_t cap = ZSTD_compressBound(n);
    uint8_t *c2 = malloc(cap);
    ZSTD_inBuffer in = { src, n, 0 };
    ZSTD_outBuffer o = { c2, cap, 0 };
    size_t r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_continue); /* size unknown: the window is declared */
    if (!ZSTD_isError(r)) r = ZSTD_compressStream2(cc, &o, &in, ZSTD_e_end);
    CHECK(!ZSTD_isError(r) && r == 0, "window 2^28 frame made");
    ZSTD_freeCCtx(cc);
    int rc = zread_bytes(c2, o.pos, 2, &s, &e);
    CHECK(rc == VX_ECORRUPT && strstr(e.msg, "indow"), "window 2^28: rc %d '%s'", rc, e.msg);
    free(c2);
    free(c);
    free(src);
    free(out);
}

/* The content digest from SHA256SUMS bytes, as every reader of an archive forms it. */
static int sums_digest(char hex[65], const char *text, vx_err *e) {
    vx_sum *s = NULL;
    size_t n = 0;
    int rc = vx_sums_parse(&s, &n, (const uint8_t *)text, strlen(text), "S", e);
    if (rc == VX_OK) rc = vx_content_digest_of(hex, s, n, e);
    free(s);
    return rc;
}

static void digests(void) {
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *h3 = "3333333333333333333333333333333333333333333333333333333333333333";
    char sorted[1024], shuffled[1024], lines[1024];
    snprintf(sorted, sizeof sorted, "%s  b.bin\n%s  index.json\n%s  manifest.json\n", h1, h2, h3);
    snprintf(shuffled, sizeof shuffled, "%s *manifest.json\n%s  index.json\n%s  b.bin\n", h3, h2, h1);
    snprintf(lines, sizeof lines, "%s  b.bin\n%s  index.json\n", h1, h2);
    uint8_t md[32];
    char want[65], a[65], b[65];
    vx_sha256(md, lines, strlen(lines));
    vx_hex(want, md, 32);
    vx_err e = { 0 };
    CHECK(sums_digest(a, sorted, &e) == VX_OK && !strcmp(a, want),
          "digest = SHA-256 of the lines but manifest.json's: %s vs %s", a, want);
    CHECK(sums_digest(b, shuffled, &e) == VX_OK && !strcmp(a, b),
          "order and binary markers do not change it");
    sorted[0] = '4';
    CHECK(sums_digest(b, sorted, &e) == VX_OK && strcmp(a, b), "a hash changes it");
    CHECK(sums_digest(b, "junk\n", &e) == VX_ECORRUPT, "junk refused");
}

int main(void) {
    headers();
    pax();
    reader();
    zstd_streams();
    digests();
    return CHECK_DONE();
}
