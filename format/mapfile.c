/*
 * mapfile.c — the map file's bytes (spec/map-format.md §2–§3): vx_mapfile_parse checks a
 * buffer against rules M1–M7 before decoding anything from it (the fuzz target calls it
 * directly), vx_mapfile_encode lays a map out, vx_write_file_atomic puts it in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "mapfile.h"

static const uint8_t MAGIC[8] = { 0x89, 'V', 'X', 'M', 'A', 'P', '\r', '\n' };

void vx_mapfile_clear(vx_mapfile *m) {
    free(m->path[0]);
    free(m->path[1]);
    free(m->mu0);
    free(m->W);
    free(m->muz);
    free(m->muy);
    free(m->R);
    memset(m, 0, sizeof *m);
}

static uint64_t pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* The layout's offsets for the header's sizes (M4); 0 when a size overflows. */
typedef struct layout { uint64_t mu0, W, muz, muy, R, sum, size; } layout;
static int plan(layout *l, uint64_t hs, uint64_t d, uint64_t na, uint64_t nb) {
    uint64_t pca = hs > d, o = VX_MAPFILE_HEADER + na + nb, t;
    o = pad8(o);
    l->mu0 = o;
    if (pca) o += 8 * hs;
    l->W = o;
    if (pca) {
        if (!vx_mul3_ok(4, d, hs, &t) || !vx_add_ok(o, t, &o)) return 0;
        o = pad8(o);
    }
    l->muz = o;
    l->muy = o + 8 * d;
    l->R = o + 16 * d;
    if (!vx_mul3_ok(8, d, d, &t) || !vx_add_ok(l->R, t, &o)) return 0;
    l->sum = o;
    l->size = o + 8;
    return 1;
}

static double get_f64(const uint8_t *p) {
    uint64_t u = vx_le64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
static float get_f32(const uint8_t *p) {
    uint32_t u = vx_le32(p);
    float v;
    memcpy(&v, &u, 4);
    return v;
}
static void put_f64(uint8_t *p, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    vx_put64(p, u);
}
static void put_f32(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    vx_put32(p, u);
}

/* n f64 at buf + off into a new array; M7: every value finite */
static int take_f64(double **out, const uint8_t *buf, uint64_t off, size_t n, const char *name, const char *what, vx_err *err) {
    double *v = malloc(sizeof(double) * (n ? n : 1));
    if (!v) return vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) {
        v[i] = get_f64(buf + off + 8 * i);
        if (!isfinite(v[i])) {
            free(v);
            return vx_fail(err, VX_ECORRUPT, "%s: %s[%zu] at offset %llu is not finite (M7)", name, what, i,
                           (unsigned long long)(off + 8 * i));
        }
    }
    *out = v;
    return VX_OK;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int vx_mapfile_parse(vx_mapfile *m, const uint8_t *buf, size_t len, const char *name, vx_err *err) {
    memset(m, 0, sizeof *m);
    /* M1 */
    if (len < VX_MAPFILE_HEADER + 8)
        return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes: a map file holds at least %d (M1)", name, len, VX_MAPFILE_HEADER + 8);
    if (memcmp(buf, MAGIC, 8)) return vx_fail(err, VX_ECORRUPT, "%s: not a vindex map file (bad magic at offset 0, M1)", name);
    uint32_t ver = vx_le32(buf + 8);
    if (ver != 1) return vx_fail(err, VX_EUNSUPPORTED, "%s: map file version %u: this build reads version 1 (M1)", name, ver);
    if (vx_le32(buf + 12) != VX_MAPFILE_HEADER)
        return vx_fail(err, VX_ECORRUPT, "%s: header size %u at offset 12: expected %d (M1)", name, vx_le32(buf + 12), VX_MAPFILE_HEADER);
    /* M2 */
    XXH64_canonical_t want;
    memcpy(&want, buf + len - 8, 8);
    if (XXH64_hashFromCanonical(&want) != XXH3_64bits(buf, len - 8))
        return vx_fail(err, VX_ECORRUPT, "%s: checksum at offset %zu does not match the file's bytes (M2)", name, len - 8);
    /* M3 */
    uint32_t src = vx_le32(buf + 16), hs = vx_le32(buf + 20), d = vx_le32(buf + 24), np[2] = { vx_le32(buf + 28), vx_le32(buf + 32) };
    if (src > 1) return vx_fail(err, VX_ECORRUPT, "%s: source %u at offset 16: expected 0 (A) or 1 (B) (M3)", name, src);
    if (d < 1 || d > hs || hs > VX_MAPFILE_MAX_DIM)
        return vx_fail(err, VX_ECORRUPT, "%s: widths %u (source) and %u (target): expected 1 <= target <= source <= %d (M3)", name, hs, d,
                       VX_MAPFILE_MAX_DIM);
    for (int k = 0; k < 2; k++)
        if (np[k] < 1 || np[k] > VX_MAPFILE_MAX_PATH)
            return vx_fail(err, VX_ECORRUPT, "%s: path length %u at offset %d: expected 1..%d (M3)", name, np[k], 28 + 4 * k, VX_MAPFILE_MAX_PATH);
    if (vx_le32(buf + 36) || !all_zero(buf + 176, 80)) return vx_fail(err, VX_ECORRUPT, "%s: reserved header bytes are not zero (M3)", name);
    /* M4 */
    layout l;
    uint64_t stated = vx_le64(buf + 40);
    if (!plan(&l, hs, d, np[0], np[1]) || l.size != len || stated != len)
        return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, header says %llu, widths %u/%u and paths imply %llu (M4)", name, len,
                       (unsigned long long)stated, hs, d, (unsigned long long)l.size);
    /* M5 */
    for (int k = 0; k < 2; k++) {
        const uint8_t *h = buf + 48 + 64 * k;
        for (int i = 0; i < 64; i++)
            if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) {
                vx_mapfile_clear(m);
                return vx_fail(err, VX_ECORRUPT, "%s: %c's content digest at offset %d: expected 64 lowercase hex digits (M5)", name,
                               'A' + k, 48 + 64 * k);
            }
        memcpy(m->digest[k], h, 64);
        m->digest[k][64] = 0;
    }
    /* M6 */
    uint64_t o = VX_MAPFILE_HEADER;
    for (int k = 0; k < 2; k++) {
        if (memchr(buf + o, 0, np[k])) {
            vx_mapfile_clear(m);
            return vx_fail(err, VX_ECORRUPT, "%s: %c's path holds a NUL byte (M6)", name, 'A' + k);
        }
        if (!(m->path[k] = malloc(np[k] + 1))) { vx_mapfile_clear(m); return vx_fail(err, VX_ENOMEM, "%s: out of memory", name); }
        memcpy(m->path[k], buf + o, np[k]);
        m->path[k][np[k]] = 0;
        o += np[k];
    }
    int pca = hs > d;
    uint64_t wend = l.W + (pca ? 4ull * d * hs : 0);
    if (!all_zero(buf + o, l.mu0 - o) || !all_zero(buf + wend, l.muz - wend)) {
        vx_mapfile_clear(m);
        return vx_fail(err, VX_ECORRUPT, "%s: padding bytes are not zero (M6)", name);
    }
    m->source = src;
    m->hs = hs;
    m->d = d;
    /* M7 while decoding */
    int rc = VX_OK;
    if (pca) {
        if ((rc = take_f64(&m->mu0, buf, l.mu0, hs, name, "mu0", err))) goto fail;
        size_t n = (size_t)d * hs;
        if (!(m->W = malloc(sizeof(float) * n))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", name); goto fail; }
        for (size_t i = 0; i < n; i++) {
            m->W[i] = get_f32(buf + l.W + 4 * i);
            if (!isfinite(m->W[i])) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: W[%zu] at offset %llu is not finite (M7)", name, i, (unsigned long long)(l.W + 4 * i));
                goto fail;
            }
        }
    }
    if ((rc = take_f64(&m->muz, buf, l.muz, d, name, "muz", err)) || (rc = take_f64(&m->muy, buf, l.muy, d, name, "muy", err)) ||
        (rc = take_f64(&m->R, buf, l.R, (size_t)d * d, name, "R", err)))
        goto fail;
    return VX_OK;
fail:
    vx_mapfile_clear(m);
    return rc;
}

int vx_mapfile_encode(uint8_t **out, size_t *len, const vx_mapfile *m, vx_err *err) {
    *out = NULL;
    *len = 0;
    size_t np[2];
    for (int k = 0; k < 2; k++) np[k] = m->path[k] ? strlen(m->path[k]) : 0;
    layout l;
    int pca = m->hs > m->d;
    if (m->source > 1 || m->d < 1 || m->d > m->hs || m->hs > VX_MAPFILE_MAX_DIM || np[0] < 1 || np[1] < 1 ||
        np[0] > VX_MAPFILE_MAX_PATH || np[1] > VX_MAPFILE_MAX_PATH || !plan(&l, m->hs, m->d, np[0], np[1]) ||
        (pca && (!m->mu0 || !m->W)) || !m->muz || !m->muy || !m->R || strlen(m->digest[0]) != 64 || strlen(m->digest[1]) != 64)
        return vx_fail(err, VX_EUSAGE, "map file: widths %u/%u, path lengths %zu/%zu or digests outside spec/map-format.md M3-M5",
                       m->hs, m->d, np[0], np[1]);
    if (l.size > SIZE_MAX) return vx_fail(err, VX_ENOMEM, "map file: too large");
    uint8_t *b = calloc(1, (size_t)l.size);
    if (!b) return vx_fail(err, VX_ENOMEM, "map file: out of memory");
    memcpy(b, MAGIC, 8);
    vx_put32(b + 8, 1);
    vx_put32(b + 12, VX_MAPFILE_HEADER);
    vx_put32(b + 16, m->source);
    vx_put32(b + 20, m->hs);
    vx_put32(b + 24, m->d);
    vx_put32(b + 28, (uint32_t)np[0]);
    vx_put32(b + 32, (uint32_t)np[1]);
    vx_put64(b + 40, l.size);
    memcpy(b + 48, m->digest[0], 64);
    memcpy(b + 112, m->digest[1], 64);
    memcpy(b + VX_MAPFILE_HEADER, m->path[0], np[0]);
    memcpy(b + VX_MAPFILE_HEADER + np[0], m->path[1], np[1]);
    size_t d = m->d, hs = m->hs;
    if (pca) {
        for (size_t i = 0; i < hs; i++) put_f64(b + l.mu0 + 8 * i, m->mu0[i]);
        for (size_t i = 0; i < d * hs; i++) put_f32(b + l.W + 4 * i, m->W[i]);
    }
    for (size_t i = 0; i < d; i++) {
        put_f64(b + l.muz + 8 * i, m->muz[i]);
        put_f64(b + l.muy + 8 * i, m->muy[i]);
    }
    for (size_t i = 0; i < d * d; i++) put_f64(b + l.R + 8 * i, m->R[i]);
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, XXH3_64bits(b, (size_t)l.sum));
    memcpy(b + l.sum, &c, 8);
    *out = b;
    *len = (size_t)l.size;
    return VX_OK;
}

int vx_write_file_atomic(const char *path, const void *buf, size_t len, vx_err *err) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 32), *dir = malloc(n + 2);
    if (!tmp || !dir) { free(tmp); free(dir); return vx_fail(err, VX_ENOMEM, "%s: out of memory", path); }
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    const char *slash = strrchr(path, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == path) strcpy(dir, "/");
    else { memcpy(dir, path, (size_t)(slash - path)); dir[slash - path] = 0; }
    int rc = VX_OK, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) { rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", tmp, strerror(errno)); goto out; }
    if ((rc = vx_write_all(fd, buf, len, tmp, err))) { close(fd); unlink(tmp); goto out; }
    if (fsync(fd) != 0) { rc = vx_fail(err, VX_EIO, "%s: fsync: %s", tmp, strerror(errno)); close(fd); unlink(tmp); goto out; }
    if (close(fd) != 0) { rc = vx_fail(err, VX_EIO, "%s: close: %s", tmp, strerror(errno)); unlink(tmp); goto out; }
    if (rename(tmp, path) != 0) { rc = vx_fail(err, VX_EIO, "%s: cannot rename into place: %s", path, strerror(errno)); unlink(tmp); goto out; }
    rc = vx_fsync_dir(dir, err);
out:
    free(tmp);
    free(dir);
    return rc;
}
