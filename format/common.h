/*
 * common.h — the format layer's shared helpers: error reporting, checked size
 * arithmetic, read-only file mapping, half-precision conversion, hashing, and the
 * durable-write primitives. Depends on libc, OpenSSL libcrypto and libxxhash only.
 */
#ifndef VX_FORMAT_COMMON_H
#define VX_FORMAT_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

#include "vindex.h"

/*
 * Record an error in `e` (may be NULL) and return `code`. Every failure of the library
 * goes through here, so one breakpoint catches them all.
 */
int vx_fail(vx_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A warning to the caller's callback (the warn/ctx pair of the options structs); nothing
 * when warn is NULL. */
typedef void (*vx_warn_fn)(void *ctx, const char *msg);
void vx_warnf(vx_warn_fn warn, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checked arithmetic on sizes taken from files: return 0 on overflow, 1 when ok. */
static inline int vx_mul_ok(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline int vx_add_ok(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }
/* 1 when d is a whole number (finite, no fraction): what d == floor(d) says, without
 * libm, which a query process does not load (format/lazylib.h). Every double of
 * magnitude 2^52 or more is whole. */
static inline int vx_whole(double d) {
    if (d != d || d - d != 0) return 0; /* NaN, infinities */
    if (d >= 0x1p52 || d <= -0x1p52) return 1;
    return d == (double)(int64_t)d;
}
/* a*b*c and a*b*c*d, 0 on overflow. */
int vx_mul3_ok(uint64_t a, uint64_t b, uint64_t c, uint64_t *r);
int vx_mul4_ok(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t *r);

/* Little-endian loads/stores that never assume alignment. */
static inline uint32_t vx_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t vx_le64(const uint8_t *p) { return (uint64_t)vx_le32(p) | (uint64_t)vx_le32(p + 4) << 32; }
static inline void vx_put32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline void vx_put64(uint8_t *p, uint64_t v) { vx_put32(p, (uint32_t)v); vx_put32(p + 4, (uint32_t)(v >> 32)); }

/* A read-only mapping of a whole file. `data` is NULL for an empty file. */
typedef struct vx_map {
    const uint8_t *data;
    size_t size;
    int fd;          /* kept open so the file can be re-checked (vx_map_changed); -1 when closed */
} vx_map;

/* open + fstat + mmap(PROT_READ) in one place. Errors: VX_ENOTFOUND, VX_EIO. */
int vx_map_file(vx_map *m, const char *path, vx_err *err);
/* The same for `name` relative to the directory fd `dirfd` (AT_FDCWD for a path); `shown`
 * names the file in messages. Reading every file of a vindex through one directory fd
 * means one open sees one directory, even while another process atomically exchanges
 * the directory at that path (spec R-O5). */
int vx_map_fileat(vx_map *m, int dirfd, const char *name, const char *shown, vx_err *err);
/* Open a directory for the *at calls. Errors: VX_ENOTFOUND, VX_EIO. */
int vx_open_dir(int *fd, const char *dir, vx_err *err);
/* Open `name` under dirfd for reading if it is a regular file (*st filled). O_NONBLOCK,
 * so a FIFO put in a file's place is refused instead of blocking the open until a writer
 * comes. `shown` names it in errors: VX_ENOTFOUND, VX_EIO, VX_ECORRUPT (not a regular file). */
int vx_open_file(int *fd, struct stat *st, int dirfd, const char *name, const char *shown, vx_err *err);
void vx_unmap(vx_map *m); /* accepts a zeroed map */
/* 1 if the mapped file's size is no longer the mapped size (truncated or grown in place
 * under the map: touching pages past a new end would raise SIGBUS), 0 if unchanged. */
int vx_map_changed(const vx_map *m);

/* Drop the pages of [p, p+len) inside a read-only file mapping from this process's
 * resident set (the page cache keeps them; touching them again re-reads). Used behind
 * streaming passes so peak RSS stays bounded by the working set, not the file size. */
void vx_map_release(const void *p, size_t len);
/* mmap(NULL, len, prot, flags, fd, 0) placed at a 2 MiB-aligned address (a reservation of
 * len + 2 MiB, trimmed), so that 2 MiB page-cache folios or transparent huge pages can be
 * mapped whole. MAP_FAILED on failure, as mmap; falls back to a plain mmap when the
 * reservation cannot be made. flags must not include MAP_FIXED. */
void *vx_mmap_2m(size_t len, int prot, int flags, int fd);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer, refusing files
 * larger than `max` bytes. *len excludes the NUL. Errors: VX_ENOTFOUND, VX_EIO,
 * VX_ECORRUPT (too large), VX_ENOMEM. */
int vx_read_file(char **buf, size_t *len, const char *path, size_t max, vx_err *err);
int vx_read_fileat(char **buf, size_t *len, int dirfd, const char *name, const char *shown, size_t max, vx_err *err);
/* Read n bytes at `off` into buf, retrying short reads and EINTR: the bytes read, which is
 * less than n only when the file ends early or a read fails. */
size_t vx_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* IEEE binary16 / bfloat16 conversions. f32→f16 rounds to nearest even; values beyond
 * the f16 range become ±Inf (callers that clamp do so first). NaN stays NaN. */
uint16_t vx_f32_to_f16(float f);
float vx_f16_to_f32(uint16_t h);
static inline float vx_bf16_to_f32(uint16_t b) {
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}
#define VX_F16_MAX 65504.0f

/* Lowercase hex of `n` bytes into `out` (2n+1 bytes). */
void vx_hex(char *out, const uint8_t *bytes, size_t n);

/* SHA-256 of a buffer (OpenSSL). */
void vx_sha256(uint8_t out[32], const void *data, size_t len);
/* SHA-256 of a file, streamed with pread; hex into out[65]. Errors: VX_ENOTFOUND, VX_EIO. */
int vx_sha256_file(char out[65], uint64_t *size, const char *path, vx_err *err);
/* XXH3-64 of a file in canonical (big-endian) hex, out[17]. */
int vx_xxh3_file(char out[17], const char *path, vx_err *err);
/* The same, relative to a directory fd (verify's SHA-256 goes through src/shalanes.h). */
int vx_xxh3_fileat(char out[17], int dirfd, const char *name, vx_err *err);
/* A range's length meaning "to the file's end" (shalanes.h). */
#define VX_TO_EOF UINT64_MAX

/* s is exactly n lowercase hex digits (how digests are written: SHA256SUMS, index.json). */
static inline int vx_is_hex(const char *s, size_t n) { return strlen(s) == n && strspn(s, "0123456789abcdef") == n; }

/* path join into a malloc'd string; NULL on ENOMEM. */
char *vx_path(const char *dir, const char *name);
/* The current time as ISO 8601 UTC, "2026-01-02T03:04:05Z" (manifest.json's created_utc). */
void vx_utc_now(char out[32]);

/* Write all of `len` bytes; returns 0 or VX_EIO with errno-based message naming `what`. */
int vx_write_all(int fd, const void *buf, size_t len, const char *what, vx_err *err);
/* Write a small file `name` in `dir` (O_EXCL), fsync it. */
int vx_write_small(const char *dir, const char *name, const void *buf, size_t len, vx_err *err);
/* fsync a directory. */
int vx_fsync_dir(const char *dir, vx_err *err);
/* rm -r of a directory that holds only regular files (our temporary outputs). */
int vx_remove_tree(const char *dir);

#endif
