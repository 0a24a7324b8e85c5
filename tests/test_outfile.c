/*
 * test_outfile.c — the vindex writer's chunking (format/outfile.c) and the 2 MiB-aligned
 * read mapping (vx_map_file):
 *   - bytes written in pieces of awkward sizes (1 byte, 4095, 2 MiB + 1, …) come back whole,
 *     with the SHA-256 / XXH3 of the bytes and the size counted, and the SHA-256 of every
 *     16 MiB chunk of a file longer than one (spec R-I10) — pieces that end on, straddle
 *     and exceed a chunk boundary;
 *   - every write(2) the writer makes starts at a multiple of VX_OUT_CHUNK and, but for the
 *     file's last one, is a multiple of it long (checked by interposing write(2));
 *   - mappings of files of 2 MiB and more start on a 2 MiB boundary;
 *   - where this kernel keeps such a file as 2 MiB page-cache folios (a control file
 *     written with plain 2 MiB writes tells), the writer's file is mapped with huge
 *     page-table entries too (FilePmdMapped in /proc/self/smaps); otherwise skipped.
 * Writes into a fresh directory under $TMPDIR (default /tmp).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "check.h"
#include "common.h"
#include "outfile.h"

/* write(2) interposed: the sizes and offsets of the writes to one watched descriptor. */
static int watch_fd = -1;
static size_t n_writes, bad_writes;
static off_t last_off;
static size_t last_len;
ssize_t write(int fd, const void *buf, size_t len) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd == watch_fd) {
        off_t off = lseek(fd, 0, SEEK_CUR);
        /* the previous write must have been whole chunks: only the last may be short */
        if (n_writes && last_len % VX_OUT_CHUNK) bad_writes++;
        if (off % (off_t)VX_OUT_CHUNK) bad_writes++;
        n_writes++;
        last_off = off;
        last_len = len;
    }
    return real(fd, buf, len);
}

static void sha_hex(char out[65], const unsigned char *p, size_t n) {
    unsigned char md[32];
    unsigned int len = 32;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

static char *dir;

/* Write `total` pseudo-random bytes through the writer in pieces cycling over `sizes`. */
static void test_pieces(const char *name, size_t total, const size_t *sizes, size_t nsizes) {
    unsigned char *data = malloc(total);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ total;
    for (size_t i = 0; i < total; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        data[i] = (unsigned char)(x >> 56);
    }
    vx_outfile f;
    vx_err err = { 0 };
    int rc = vx_out_open(&f, dir, name, &err);
    CHECK(rc == 0, "%s: open: %s", name, err.msg);
    watch_fd = f.fd;
    n_writes = bad_writes = 0;
    last_len = 0;
    for (size_t off = 0, k = 0; off < total && rc == 0; k++) {
        size_t n = sizes[k % nsizes] < total - off ? sizes[k % nsizes] : total - off;
        rc = vx_out_write(&f, data + off, n, &err);
        off += n;
    }
    CHECK(rc == 0, "%s: writes: %s", name, err.msg);
    rc = vx_out_close(&f, &err);
    watch_fd = -1;
    CHECK(rc == 0, "%s: close: %s", name, err.msg);
    CHECK(f.bytes == total, "%s: %llu bytes counted, %zu written", name, (unsigned long long)f.bytes, total);
    CHECK(bad_writes == 0 && n_writes >= 1 && (uint64_t)last_off + last_len == total,
          "%s: %zu write(2) calls, %zu of them not whole chunks at chunk offsets", name, n_writes, bad_writes);
    char want[65];
    sha_hex(want, data, total);
    CHECK(!strcmp(want, f.sha256), "%s: SHA-256 of the bytes", name);
    /* R-I10: a digest per VX_SHA_CHUNK slice exactly when the file is longer than one */
    size_t nchunks = total > VX_SHA_CHUNK ? (size_t)((total + VX_SHA_CHUNK - 1) / VX_SHA_CHUNK) : 0;
    CHECK(f.n_chunks == nchunks, "%s: %u chunk digests, expected %zu", name, f.n_chunks, nchunks);
    for (size_t k = 0; k < nchunks && f.n_chunks == nchunks; k++) {
        size_t at = k * VX_SHA_CHUNK, n = total - at < VX_SHA_CHUNK ? total - at : VX_SHA_CHUNK;
        char got[65];
        sha_hex(want, data + at, n);
        vx_hex(got, f.chunks[k], 32);
        CHECK(!strcmp(want, got), "%s: chunk %zu's SHA-256", name, k);
    }
    vx_out_release(&f);
    CHECK(!f.chunks && !f.n_chunks, "%s: released", name);
    char *path = vx_path(dir, name);
    vx_map m;
    rc = vx_map_file(&m, path, &err);
    CHECK(rc == 0 && m.size == total && !memcmp(m.data, data, total), "%s: the file holds the bytes", name);
    if (rc == 0 && total >= VX_OUT_CHUNK)
        CHECK((uintptr_t)m.data % VX_OUT_CHUNK == 0, "%s: mapped at a 2 MiB boundary (%p)", name, (const void *)m.data);
    vx_unmap(&m);
    free(path);
    free(data);
}

/* FilePmdMapped (kB) of the mapping that starts at p, -1 if unknown. */
static long pmd_mapped_kb(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512], want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)(uintptr_t)p);
    long kb = -1;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' ')) in = !strncmp(line, want, strlen(want));
        else if (in && !strncmp(line, "FilePmdMapped:", 14)) { kb = strtol(line + 14, NULL, 10); break; }
    }
    fclose(f);
    return kb;
}

static long map_pmd_kb(const char *path) {
    vx_map m;
    vx_err err = { 0 };
    if (vx_map_file(&m, path, &err)) return -1;
    /* map every page now (MADV_POPULATE_READ, Linux ≥ 5.14), as the engine's prefault does */
    if (madvise((void *)(uintptr_t)m.data, m.size, 22) != 0)
        for (size_t o = 0; o < m.size; o += 4096) (void)((const volatile uint8_t *)m.data)[o];
    long kb = pmd_mapped_kb(m.data);
    vx_unmap(&m);
    return kb;
}

static void test_huge_mapping(void) {
    const size_t total = 8 * VX_OUT_CHUNK;
    unsigned char *data = calloc(1, total);
    for (size_t i = 0; i < total; i += 4096) data[i] = (unsigned char)(i >> 12);
    /* control: plain whole-chunk writes */
    char *cpath = vx_path(dir, "control.bin");
    int fd = open(cpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    vx_err err = { 0 };
    CHECK(fd >= 0 && vx_write_all(fd, data, total, cpath, &err) == 0 && fsync(fd) == 0, "control file written");
    if (fd >= 0) close(fd);
    long control = map_pmd_kb(cpath);
    /* the writer, fed one 8 KiB "row" at a time (as the extractor writes embeddings) */
    vx_outfile f;
    int rc = vx_out_open(&f, dir, "rows.bin", &err);
    for (size_t off = 0; off < total && !rc; off += 8192) rc = vx_out_write(&f, data + off, 8192, &err);
    rc |= vx_out_close(&f, &err);
    CHECK(rc == 0, "rows.bin written: %s", err.msg);
    char *path = vx_path(dir, "rows.bin");
    if (control < (long)(total / 2048)) {
        printf("skip: this kernel/filesystem does not map a 2 MiB-written file with huge entries (%ld kB)\n", control);
    } else {
        long kb = map_pmd_kb(path);
        CHECK(kb >= (long)(total / 2048), "written row by row, mapped with huge entries: %ld of %zu kB", kb, total / 1024);
    }
    unlink(cpath);
    free(cpath);
    free(path);
    free(data);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vx-outfile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    dir = mkdtemp(tmpl);
    CHECK(dir != NULL, "temporary directory: %s", strerror(errno));
    if (!dir) return CHECK_DONE();
    const size_t odd[] = { 1, 4095, 8192, VX_OUT_CHUNK + 1, 3, VX_OUT_CHUNK, 65536, 7 };
    const size_t big[] = { 5 * VX_OUT_CHUNK + 17 };
    const size_t exact[] = { VX_OUT_CHUNK };
    test_pieces("odd.bin", 9 * VX_OUT_CHUNK + 12345, odd, sizeof odd / sizeof odd[0]);
    test_pieces("big.bin", 11 * VX_OUT_CHUNK, big, 1);
    test_pieces("exact.bin", 3 * VX_OUT_CHUNK, exact, 1);
    test_pieces("small.bin", 100, odd, sizeof odd / sizeof odd[0]);
    /* chunk digests (R-I10): one chunk exactly, two exactly, a partial third; pieces that end
     * on a chunk boundary, straddle one, and are larger than one */
    const size_t edge[] = { VX_SHA_CHUNK - 1, 1, 7, VX_SHA_CHUNK - 7, 2 * VX_SHA_CHUNK + 3 };
    test_pieces("one-chunk.bin", VX_SHA_CHUNK, edge, sizeof edge / sizeof edge[0]);
    test_pieces("two-chunks.bin", 2 * VX_SHA_CHUNK, edge, sizeof edge / sizeof edge[0]);
    test_pieces("chunks-edge.bin", 5 * VX_SHA_CHUNK + 5, edge, sizeof edge / sizeof edge[0]);
    test_pieces("chunks-whole.bin", 2 * VX_SHA_CHUNK + 1, (const size_t[]){ 2 * VX_SHA_CHUNK + 1 }, 1);
    test_huge_mapping();
    /* clean up */
    const char *names[] = { "odd.bin", "big.bin", "exact.bin", "small.bin", "rows.bin", "one-chunk.bin", "two-chunks.bin",
                            "chunks-edge.bin", "chunks-whole.bin" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = vx_path(dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    return CHECK_DONE();
}
