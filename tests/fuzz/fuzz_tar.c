/*
 * fuzz_tar.c — the tar push parser (format/tar.c, spec/archive.md A-T*) on arbitrary bytes:
 * the whole input fed at once, and again in pieces whose sizes come from the input's
 * first byte. Invariants: every member's data adds up to its declared size and is
 * followed by exactly one member_end; the two feedings give the same result, the same
 * members and the same data (a streaming reader must not depend on how the stream was
 * cut); errors carry a message and one of the documented codes; accepted paths are
 * NUL-terminated within the limit.
 */
#include "tar.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_tar_run {
    int in_member;
    uint64_t got, want, members, bytes, sum;
} fuzz_tar_run;

static int ft_member(void *ctx, const vx_tar_hdr *h, vx_err *err) {
    fuzz_tar_run *r = ctx;
    (void)err;
    FUZZ_ASSERT(!r->in_member, "member inside a member");
    FUZZ_ASSERT(strnlen(h->path, sizeof h->path) <= VX_TAR_PATH_MAX, "path not terminated");
    FUZZ_ASSERT(h->type == '0' || h->type == '5', "type %c handed out", h->type);
    FUZZ_ASSERT(h->type == '0' || h->size == 0, "a directory with data");
    r->in_member = 1;
    r->got = 0;
    r->want = h->size;
    r->members++;
    for (const char *p = h->path; *p; p++) r->sum = r->sum * 31 + (unsigned char)*p;
    return VX_OK;
}

static int ft_data(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    fuzz_tar_run *r = ctx;
    (void)err;
    FUZZ_ASSERT(r->in_member && n > 0 && r->got + n <= r->want, "data beyond the member (%llu + %zu > %llu)",
                (unsigned long long)r->got, n, (unsigned long long)r->want);
    fuzz_touch(p, n);
    for (size_t i = 0; i < n; i++) r->sum = r->sum * 131 + p[i];
    r->got += n;
    r->bytes += n;
    return VX_OK;
}

static int ft_end(void *ctx, vx_err *err) {
    fuzz_tar_run *r = ctx;
    (void)err;
    FUZZ_ASSERT(r->in_member && r->got == r->want, "member ended after %llu of %llu bytes", (unsigned long long)r->got,
                (unsigned long long)r->want);
    r->in_member = 0;
    return VX_OK;
}

static int ft_run(fuzz_tar_run *r, const uint8_t *data, size_t size, size_t step, vx_err *err) {
    memset(r, 0, sizeof *r);
    vx_tar_reader t;
    vx_tar_reader_init(&t);
    vx_tar_sink s = { ft_member, ft_data, ft_end, r };
    int rc = VX_OK;
    for (size_t at = 0; at < size && rc == VX_OK; at += step)
        rc = vx_tar_feed(&t, data + at, size - at < step ? size - at : step, &s, err);
    if (rc == VX_OK) rc = vx_tar_finish(&t, err);
    vx_tar_reader_free(&t);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_tar_run a, b;
    vx_err ea = { 0 }, eb = { 0 };
    int ra = ft_run(&a, data, size, size ? size : 1, &ea);
    size_t step = size ? 1 + data[0] % 97 : 1;
    int rb = ft_run(&b, data, size, step, &eb);
    fuzz_result("fuzz_tar", ra, ea.msg);
    FUZZ_ASSERT(ra == rb, "whole: rc %d (%s); in pieces of %zu: rc %d (%s)", ra, ea.msg, step, rb, eb.msg);
    if (ra) {
        FUZZ_ASSERT(ra == VX_ECORRUPT || ra == VX_EUNSUPPORTED || ra == VX_ENOMEM, "rc %d", ra);
        FUZZ_ASSERT(ea.msg[0] && eb.msg[0], "no message");
        FUZZ_ASSERT(!strcmp(ea.msg, eb.msg), "messages differ: '%s' / '%s'", ea.msg, eb.msg);
    } else {
        FUZZ_ASSERT(!a.in_member, "accepted with a member open");
        FUZZ_ASSERT(size >= 2 * VX_TAR_BLOCK, "accepted %zu bytes, less than an end marker", size);
    }
    FUZZ_ASSERT(a.members == b.members && a.bytes == b.bytes && a.sum == b.sum, "the pieces changed what was read");
    /* a header block by itself: the parser and the writer agree on what they accept */
    if (size >= VX_TAR_BLOCK) {
        vx_tar_hdr h;
        vx_err e = { 0 };
        int r = vx_tar_header_parse(&h, data, 0, &e);
        if (r == VX_OK && h.type == '0' && h.size <= VX_TAR_USTAR_SIZE_MAX && strlen(h.path) <= 100 && h.path[0]) {
            uint8_t blk[VX_TAR_BLOCK];
            vx_tar_hdr g;
            FUZZ_ASSERT(vx_tar_header_write(blk, h.path, h.size, '0', 0, &e) == VX_OK, "rewrite: %s", e.msg);
            FUZZ_ASSERT(vx_tar_header_parse(&g, blk, 0, &e) == VX_OK && !strcmp(g.path, h.path) && g.size == h.size,
                        "a written header does not parse back");
        }
    }
    return 0;
}
