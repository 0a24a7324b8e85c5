/*
 * common.c — implementation of the format layer's shared helpers (see common.h).
 * Everything that touches a file descriptor for reading lives here, so the rules
 * (fstat before mmap, read-only maps, size caps) are applied in one place.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>

const char *vx_strerror(int code) {
    switch (code) {
    case VX_OK: return "success";
    case VX_EIO: return "input/output error";
    case VX_ENOMEM: return "out of memory";
    case VX_EUSAGE: return "invalid argument";
    case VX_ECORRUPT: return "corrupt or malformed input";
    case VX_EUNSUPPORTED: return "unsupported input";
    case VX_ENOTFOUND: return "not found";
    case VX_EEXIST: return "output already exists";
    case VX_EMISMATCH: return "verification failed";
    case VX_EINTERRUPTED: return "interrupted";
    default: return "unknown error";
    }
}

int vx_fail(vx_err *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void vx_warnf(vx_warn_fn warn, void *ctx, const char *fmt, ...) {
    if (!warn) return;
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    warn(ctx, b);
}

int vx_mul3_ok(uint64_t a, uint64_t b, uint64_t c, uint64_t *r) {
    uint64_t t;
    return vx_mul_ok(a, b, &t) && vx_mul_ok(t, c, r);
}

int vx_mul4_ok(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t *r) {
    uint64_t t;
    return vx_mul3_ok(a, b, c, &t) && vx_mul_ok(t, d, r);
}

int vx_open_dir(int *fd, const char *dir, vx_err *err) {
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return vx_fail(err, errno == ENOENT ? VX_ENOTFOUND : VX_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    return VX_OK;
}

#define MAP_ALIGN ((size_t)2 << 20)
void *vx_mmap_2m(size_t len, int prot, int flags, int fd) {
    if (len < MAP_ALIGN || len > SIZE_MAX - MAP_ALIGN) return mmap(NULL, len, prot, flags, fd, 0);
    unsigned char *r = mmap(NULL, len + MAP_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return mmap(NULL, len, prot, flags, fd, 0);
    uintptr_t a = ((uintptr_t)r + MAP_ALIGN - 1) & ~(uintptr_t)(MAP_ALIGN - 1);
    void *p = mmap((void *)a, len, prot, flags | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        munmap(r, len + MAP_ALIGN);
        return mmap(NULL, len, prot, flags, fd, 0);
    }
    /* the reservation's slack before and after the mapping's pages */
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096, span = (len + page - 1) / page * page;
    size_t head = a - (uintptr_t)r, tail = MAP_ALIGN - head;
    if (head) munmap(r, head);
    if (tail) munmap((unsigned char *)a + span, tail);
    return p;
}

int vx_map_file(vx_map *m, const char *path, vx_err *err) { return vx_map_fileat(m, AT_FDCWD, path, path, err); }

int vx_open_file(int *fd, struct stat *st, int dirfd, const char *name, const char *shown, vx_err *err) {
    *fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0)
        return vx_fail(err, errno == ENOENT ? VX_ENOTFOUND : VX_EIO, "%s: cannot open: %s", shown, strerror(errno));
    int rc = VX_OK;
    if (fstat(*fd, st) != 0) rc = vx_fail(err, VX_EIO, "%s: fstat: %s", shown, strerror(errno));
    else if (!S_ISREG(st->st_mode)) rc = vx_fail(err, VX_ECORRUPT, "%s: not a regular file", shown);
    if (rc) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

int vx_map_fileat(vx_map *m, int dirfd, const char *name, const char *path, vx_err *err) {
    m->data = NULL;
    m->size = 0;
    m->fd = -1;
    int fd;
    struct stat st;
    int rc = vx_open_file(&fd, &st, dirfd, name, path, err);
    if (rc) return rc;
    if (st.st_size > 0) {
        /* 2 MiB-aligned: file offsets and addresses then agree modulo 2 MiB, so page-cache
         * folios of 2 MiB (outfile.h) are mapped whole (one page-table and TLB entry) */
        void *p = vx_mmap_2m((size_t)st.st_size, PROT_READ, MAP_SHARED, fd);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return vx_fail(err, e == ENOMEM ? VX_ENOMEM : VX_EIO, "%s: mmap: %s", path, strerror(e));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    m->fd = fd; /* the mapping keeps the inode alive; the fd lets vx_map_changed re-check it */
    return VX_OK;
}

int vx_map_changed(const vx_map *m) {
    struct stat st;
    if (m->fd < 0) return 0;
    return fstat(m->fd, &st) != 0 || (uint64_t)st.st_size != (uint64_t)m->size;
}

void vx_unmap(vx_map *m) {
    if (!m) return;
    if (m->data) munmap((void *)(uintptr_t)m->data, m->size);
    if (m->fd > 0) close(m->fd);
    m->data = NULL;
    m->size = 0;
    m->fd = -1;
}

void vx_map_release(const void *p, size_t len) {
    uintptr_t page = 4096, a = (uintptr_t)p, b = a + len;
    a = (a + page - 1) & ~(page - 1); /* only whole pages inside the range */
    b &= ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

int vx_read_file(char **buf, size_t *len, const char *path, size_t max, vx_err *err) {
    return vx_read_fileat(buf, len, AT_FDCWD, path, path, max, err);
}

size_t vx_pread_full(int fd, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

int vx_read_fileat(char **buf, size_t *len, int dirfd, const char *name, const char *path, size_t max, vx_err *err) {
    *buf = NULL;
    if (len) *len = 0;
    int fd;
    struct stat st;
    int rc = vx_open_file(&fd, &st, dirfd, name, path, err);
    if (rc) return rc;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return vx_fail(err, VX_ECORRUPT, "%s: %lld bytes, larger than the %zu-byte limit for this file", path,
                       (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        close(fd);
        return vx_fail(err, VX_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = vx_pread_full(fd, b, n, 0);
    if (got < n) {
        free(b);
        close(fd);
        return vx_fail(err, VX_EIO, "%s: read failed at byte %zu", path, got);
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    if (len) *len = n;
    return VX_OK;
}

uint16_t vx_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = { f };
    uint32_t x = v.u;
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* Inf or NaN: keep NaN quiet with a payload bit */
        return sign | 0x7c00u | (ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0);
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to Inf */
        return sign | 0x7c00u;
    if (ax < 0x38800000u) { /* below 2^-14: f16 subnormal or zero */
        if (ax < 0x33000000u) return sign; /* < 2^-25 rounds to zero (2^-25 itself ties to even 0) */
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        int shift = (int)(126 - e); /* value = m * 2^(e-150); in units of 2^-24: m >> (126-e) */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t e = (ax >> 23) - 127 + 15, m = ax & 0x7fffffu;
    uint32_t h = (e << 10) | (m >> 13), rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* carry into exponent is correct */
    return sign | (uint16_t)h;
}

float vx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) u = sign;
        else { /* subnormal: normalise */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) { m <<= 1; e--; }
            u = sign | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) u = sign | 0x7f800000u | (m << 13);
    else u = sign | ((e + 127 - 15) << 23) | (m << 13);
    union { uint32_t u; float f; } v = { u };
    return v.f;
}

void vx_hex(char *out, const uint8_t *b, size_t n) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) { out[2 * i] = d[b[i] >> 4]; out[2 * i + 1] = d[b[i] & 15]; }
    out[2 * n] = 0;
}

void vx_sha256(uint8_t out[32], const void *data, size_t len) {
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

#define VX_IO_CHUNK (4u << 20)

/* Both digests stream a file the same way: one loop, a callback per block. */
typedef void (*block_fn)(void *state, const void *p, size_t n);
static void sha_update(void *st, const void *p, size_t n) { EVP_DigestUpdate(st, p, n); }
static void xxh_update(void *st, const void *p, size_t n) { XXH3_64bits_update(st, p, n); }

/* Open `name` relative to dirfd and feed all its bytes to fn(state, ...). *total: how many. */
static int stream_file(int dirfd, const char *name, block_fn fn, void *state, uint64_t *total, vx_err *err) {
    int fd;
    struct stat st;
    *total = 0;
    int rc = vx_open_file(&fd, &st, dirfd, name, name, err);
    if (rc) return rc;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    unsigned char *buf = malloc(VX_IO_CHUNK);
    rc = buf ? VX_OK : vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    uint64_t at = 0;
    while (rc == VX_OK) {
        ssize_t r = pread(fd, buf, VX_IO_CHUNK, (off_t)at);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = vx_fail(err, VX_EIO, "%s: read at byte %llu: %s", name, (unsigned long long)at, strerror(errno));
        if (r <= 0) break;
        fn(state, buf, (size_t)r);
        at += (uint64_t)r;
    }
    *total = at;
    free(buf);
    close(fd);
    return rc;
}

static int sha256_at(char out[65], uint64_t *size, int dirfd, const char *name, vx_err *err) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    uint64_t total;
    int rc = stream_file(dirfd, name, sha_update, c, &total, err);
    uint8_t md[32];
    unsigned int n = 32;
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    if (rc == VX_OK) {
        vx_hex(out, md, 32);
        if (size) *size = total;
    }
    return rc;
}

int vx_sha256_file(char out[65], uint64_t *size, const char *path, vx_err *err) {
    return sha256_at(out, size, AT_FDCWD, path, err);
}

int vx_xxh3_file(char out[17], const char *path, vx_err *err) { return vx_xxh3_fileat(out, AT_FDCWD, path, err); }

int vx_xxh3_fileat(char out[17], int dirfd, const char *name, vx_err *err) {
    XXH3_state_t *s = XXH3_createState();
    if (!s) return vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    XXH3_64bits_reset(s);
    uint64_t total;
    int rc = stream_file(dirfd, name, xxh_update, s, &total, err);
    XXH64_canonical_t can;
    XXH64_canonicalFromHash(&can, XXH3_64bits_digest(s));
    XXH3_freeState(s);
    if (rc == VX_OK) vx_hex(out, can.digest, 8);
    return rc;
}

char *vx_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int vx_write_all(int fd, const void *buf, size_t len, const char *what, vx_err *err) {
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return vx_fail(err, VX_EIO, "%s: write: %s", what, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return VX_OK;
}

int vx_write_small(const char *dir, const char *name, const void *buf, size_t len, vx_err *err) {
    char *path = vx_path(dir, name);
    if (!path) return vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    int rc = vx_write_all(fd, buf, len, path, err);
    if (rc == VX_OK && fsync(fd) != 0) rc = vx_fail(err, VX_EIO, "%s: fsync: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == VX_OK) rc = vx_fail(err, VX_EIO, "%s: close: %s", path, strerror(errno));
    free(path);
    return rc;
}

int vx_fsync_dir(const char *dir, vx_err *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return vx_fail(err, VX_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd) == 0 ? VX_OK : vx_fail(err, VX_EIO, "%s: fsync: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

int vx_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0) rc = -1;
    }
    closedir(d);
    if (rmdir(dir) != 0) rc = -1;
    return rc;
}

void vx_utc_now(char out[32]) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
