/*
 * tar.c — the tar header codec and push parser (see tar.h). Rule numbers A-T* refer to
 * spec/archive.md.
 *
 * A header block (POSIX.1-1988 ustar; GNU tar's "ustar  " variant differs only in magic
 * and in not using the prefix field):
 *
 *   offset size field            offset size field
 *   0      100  name             257    6    magic "ustar\0" (GNU: "ustar ")
 *   100    8    mode (octal)     263    2    version "00" (GNU: " \0")
 *   108    8    uid              265    32   uname
 *   116    8    gid              297    32   gname
 *   124    12   size             329    8    devmajor
 *   136    12   mtime            337    8    devminor
 *   148    8    chksum           345    155  prefix (ustar only)
 *   156    1    typeflag         500    12   (padding)
 *   157    100  linkname
 *
 * Numbers are octal digits, optionally led by spaces and ended by a space or NUL; GNU tar
 * writes numbers too large for the field in base 256 (first byte 0x80, big-endian).
 */
#include "tar.h"

#include <stdlib.h>
#include <string.h>

enum { S_HDR, S_DATA, S_EXT, S_PAD, S_ZERO1, S_END };

/* A-T2: octal (or GNU base-256) into *v, refusing anything else in the field. */
static int parse_num(uint64_t *v, int *negative, const uint8_t *f, size_t len) {
    *v = 0;
    *negative = 0;
    if (f[0] == 0x80 || f[0] == 0xff) { /* base 256, two's complement */
        if (f[0] == 0xff) { *negative = 1; return 0; }
        uint64_t x = 0;
        for (size_t i = 1; i < len; i++) {
            if (x >> 55) return -1; /* the next shift would pass 2^63 */
            x = x << 8 | f[i];
        }
        if (x >> 63) return -1;
        *v = x;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ') i++;
    uint64_t x = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (x >> 60) return -1;
        x = x << 3 | (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != 0) return -1;
    *v = x;
    return 0;
}

/* Copy a NUL-padded field of at most len bytes. */
static size_t field_str(char *out, const uint8_t *f, size_t len) {
    size_t n = 0;
    while (n < len && f[n]) n++;
    memcpy(out, f, n);
    out[n] = 0;
    return n;
}

int vx_tar_header_parse(vx_tar_hdr *h, const uint8_t b[VX_TAR_BLOCK], uint64_t off, vx_err *err) {
    memset(h, 0, sizeof *h);
    h->offset = off;
    size_t z = 0;
    while (z < VX_TAR_BLOCK && b[z] == 0) z++;
    if (z == VX_TAR_BLOCK) return 1;
    /* A-T1: the checksum (sum of the block with the checksum field read as spaces;
     * historic writers summed signed chars, and both sums are accepted). */
    uint64_t want;
    int neg;
    if (parse_num(&want, &neg, b + 148, 8) || neg)
        return vx_fail(err, VX_ECORRUPT, "tar header at offset %llu: checksum field is not an octal number",
                       (unsigned long long)off);
    uint64_t us = 0;
    int64_t ss = 0;
    for (size_t i = 0; i < VX_TAR_BLOCK; i++) {
        uint8_t c = i >= 148 && i < 156 ? ' ' : b[i];
        us += c;
        ss += (int8_t)c;
    }
    if (want != us && (int64_t)want != ss)
        return vx_fail(err, VX_ECORRUPT, "tar header at offset %llu: checksum %llo, the block sums to %llo",
                       (unsigned long long)off, (unsigned long long)want, (unsigned long long)us);
    int posix = !memcmp(b + 257, "ustar\0" "00", 8), gnu = !memcmp(b + 257, "ustar  \0", 8);
    if (!posix && !gnu)
        return vx_fail(err, VX_EUNSUPPORTED, "tar header at offset %llu: magic is neither POSIX ustar nor GNU tar's",
                       (unsigned long long)off);
    static const struct { size_t at, len; const char *what; } nums[] = {
        { 100, 8, "mode" }, { 108, 8, "uid" }, { 116, 8, "gid" }, { 124, 12, "size" }, { 136, 12, "mtime" },
    };
    uint64_t v[5];
    for (int i = 0; i < 5; i++) {
        if (parse_num(&v[i], &neg, b + nums[i].at, nums[i].len) || (neg && i != 4))
            return vx_fail(err, VX_ECORRUPT, "tar header at offset %llu: %s field is not a valid number",
                           (unsigned long long)off, nums[i].what);
    }
    h->mode = v[0];
    h->uid = v[1];
    h->gid = v[2];
    h->size = v[3];
    h->mtime = neg ? -1 : (int64_t)v[4];
    char t = (char)b[156];
    switch (t) {
    case '0': case '\0': case '7': h->type = '0'; break;
    case '5': case 'x': case 'g': case 'L': h->type = t; break;
    case '1': case '2': case 'K':
        return vx_fail(err, VX_EUNSUPPORTED, "tar header at offset %llu: a link (type '%c'); a vindex archive holds regular files only",
                       (unsigned long long)off, t);
    case '3': case '4': case '6':
        return vx_fail(err, VX_EUNSUPPORTED, "tar header at offset %llu: a %s (type '%c'); a vindex archive holds regular files only",
                       (unsigned long long)off, t == '6' ? "FIFO" : "device", t);
    default:
        return vx_fail(err, VX_EUNSUPPORTED, "tar header at offset %llu: member type 0x%02x (sparse, volume or unknown) is not supported",
                       (unsigned long long)off, (unsigned char)t);
    }
    char name[101], prefix[156];
    size_t nl = field_str(name, b, 100), pl = posix ? field_str(prefix, b + 345, 155) : 0;
    if (pl) {
        memcpy(h->path, prefix, pl);
        h->path[pl] = '/';
        memcpy(h->path + pl + 1, name, nl + 1);
    } else memcpy(h->path, name, nl + 1);
    return VX_OK;
}

/* A pax record's decimal length or size value: digits only, bounded. */
static int parse_dec(uint64_t *v, const uint8_t *p, size_t n, uint64_t max) {
    if (!n || n > 19) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    if (x > max) return -1;
    *v = x;
    return 0;
}

int vx_tar_pax_apply(vx_tar_hdr *h, const uint8_t *buf, size_t len, int global, uint64_t off, vx_err *err) {
    size_t at = 0;
    while (at < len) {
        /* A-T4: "<len> <key>=<value>\n", len counting the whole record */
        const uint8_t *r = buf + at, *sp = memchr(r, ' ', len - at < 20 ? len - at : 20);
        uint64_t rl;
        if (!sp || parse_dec(&rl, r, (size_t)(sp - r), len - at) || rl < (uint64_t)(sp - r) + 4 || r[rl - 1] != '\n')
            return vx_fail(err, VX_ECORRUPT, "pax header at offset %llu: malformed record at byte %zu",
                           (unsigned long long)off, at);
        const uint8_t *key = sp + 1, *end = r + rl - 1, *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key)
            return vx_fail(err, VX_ECORRUPT, "pax header at offset %llu: record at byte %zu has no key=value",
                           (unsigned long long)off, at);
        size_t kl = (size_t)(eq - key), vl = (size_t)(end - eq - 1);
        const uint8_t *val = eq + 1;
        if ((kl == 4 && !memcmp(key, "path", 4)) || (kl == 4 && !memcmp(key, "size", 4))) {
            if (global)
                return vx_fail(err, VX_EUNSUPPORTED, "pax global header at offset %llu: a global %.4s is not supported",
                               (unsigned long long)off, (const char *)key);
            if (key[0] == 'p') {
                if (vl > VX_TAR_PATH_MAX || memchr(val, 0, vl))
                    return vx_fail(err, VX_ECORRUPT, "pax header at offset %llu: path longer than %u bytes or holding NUL",
                                   (unsigned long long)off, VX_TAR_PATH_MAX);
                memcpy(h->path, val, vl);
                h->path[vl] = 0;
            } else if (parse_dec(&h->size, val, vl, 1ull << 62))
                return vx_fail(err, VX_ECORRUPT, "pax header at offset %llu: size is not a decimal number below 2^62",
                               (unsigned long long)off);
        } else if (kl >= 11 && !memcmp(key, "GNU.sparse.", 11))
            return vx_fail(err, VX_EUNSUPPORTED, "pax header at offset %llu: a sparse member is not supported",
                           (unsigned long long)off);
        at += (size_t)rl;
    }
    return VX_OK;
}

int vx_tar_header_write(uint8_t b[VX_TAR_BLOCK], const char *path, uint64_t size, char type, uint64_t mtime,
                        vx_err *err) {
    memset(b, 0, VX_TAR_BLOCK);
    size_t n = strlen(path);
    const char *name = path;
    size_t pl = 0;
    if (n > 100) { /* split at the first '/' that leaves a name of at most 100 bytes */
        const char *s = path;
        while ((s = strchr(s, '/')) && strlen(s + 1) > 100) s++;
        if (!s || s == path || (size_t)(s - path) > 155 || !s[1])
            return vx_fail(err, VX_EUSAGE, "%s: path does not fit a ustar header", path);
        pl = (size_t)(s - path);
        name = s + 1;
    }
    if (size > VX_TAR_USTAR_SIZE_MAX || mtime > VX_TAR_USTAR_SIZE_MAX)
        return vx_fail(err, VX_EUSAGE, "%s: size or time does not fit a ustar header", path);
    memcpy(b, name, strlen(name));
    memcpy(b + 345, path, pl);
    snprintf((char *)b + 100, 8, "%07o", type == '5' ? 0755u : 0644u);
    snprintf((char *)b + 108, 8, "%07o", 0u);
    snprintf((char *)b + 116, 8, "%07o", 0u);
    snprintf((char *)b + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)b + 136, 12, "%011llo", (unsigned long long)mtime);
    b[156] = (uint8_t)type;
    memcpy(b + 257, "ustar\0" "00", 8);
    snprintf((char *)b + 329, 8, "%07o", 0u);
    snprintf((char *)b + 337, 8, "%07o", 0u);
    memset(b + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < VX_TAR_BLOCK; i++) sum += b[i];
    snprintf((char *)b + 148, 8, "%06o", sum); /* six digits, NUL, and the space left in place */
    return VX_OK;
}

/* One record "<len> key=value\n" into out; 0 when it does not fit. */
static size_t pax_record(uint8_t *out, size_t cap, const char *key, const char *val) {
    size_t body = 1 + strlen(key) + 1 + strlen(val) + 1, len = body + 1;
    for (size_t d = 1;; d++) { /* the length counts its own digits */
        size_t total = body + d, digits = 1;
        for (size_t t = total; t >= 10; t /= 10) digits++;
        if (digits == d) { len = total; break; }
    }
    if (len >= cap) return 0;
    snprintf((char *)out, cap, "%zu %s=%s\n", len, key, val);
    return len;
}

size_t vx_tar_pax_build(uint8_t *out, size_t cap, const char *path, int size_too, uint64_t size) {
    size_t n = 0, k;
    if (path) {
        if (!(k = pax_record(out, cap, "path", path))) return 0;
        n += k;
    }
    if (size_too) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)size);
        if (!(k = pax_record(out + n, cap - n, "size", v))) return 0;
        n += k;
    }
    return n;
}

/* ------------------------------------------------------------------ the reader */

void vx_tar_reader_init(vx_tar_reader *r) {
    memset(r, 0, sizeof *r);
    r->state = S_HDR;
}

void vx_tar_reader_free(vx_tar_reader *r) {
    if (!r) return;
    free(r->ext);
    r->ext = NULL;
}

static uint64_t padding(uint64_t size) { return (VX_TAR_BLOCK - size % VX_TAR_BLOCK) % VX_TAR_BLOCK; }

/* An extended record is complete: fold it into the overrides for the next member. */
static int ext_done(vx_tar_reader *r, vx_err *err) {
    if (r->ext_type == 'L') { /* A-T4: GNU long name: the path, NUL-terminated or not */
        size_t n = 0;
        while (n < r->ext_len && r->ext[n]) n++;
        if (n > VX_TAR_PATH_MAX)
            return vx_fail(err, VX_ECORRUPT, "GNU long name at offset %llu: longer than %u bytes",
                           (unsigned long long)r->ext_off, VX_TAR_PATH_MAX);
        memcpy(r->next.path, r->ext, n);
        r->next.path[n] = 0;
        r->have_path = 1;
        return VX_OK;
    }
    vx_tar_hdr t = r->next;
    uint64_t size_before = t.size;
    char path_before[sizeof t.path];
    memcpy(path_before, t.path, sizeof path_before);
    t.size = UINT64_MAX; /* marks "no size record" */
    t.path[0] = 0;
    int rc = vx_tar_pax_apply(&t, r->ext, r->ext_len, r->ext_type == 'g', r->ext_off, err);
    if (rc) return rc;
    if (t.size != UINT64_MAX) { r->next.size = t.size; r->have_size = 1; }
    else r->next.size = size_before;
    if (t.path[0]) { memcpy(r->next.path, t.path, sizeof t.path); r->have_path = 1; }
    else memcpy(r->next.path, path_before, sizeof path_before);
    return VX_OK;
}

static int header_block(vx_tar_reader *r, const vx_tar_sink *s, vx_err *err) {
    uint64_t hoff = r->off - VX_TAR_BLOCK;
    vx_tar_hdr h;
    int rc = vx_tar_header_parse(&h, r->blk, hoff, err);
    if (rc == 1) { /* A-T5: two zero blocks end the archive */
        if (r->have_path || r->have_size)
            return vx_fail(err, VX_ECORRUPT, "tar: extended header before offset %llu is not followed by a member",
                           (unsigned long long)hoff);
        r->state = r->state == S_ZERO1 ? S_END : S_ZERO1;
        return VX_OK;
    }
    if (rc) return rc;
    if (r->state == S_ZERO1)
        return vx_fail(err, VX_ECORRUPT, "tar: a lone zero block at offset %llu, then a header",
                       (unsigned long long)(hoff - VX_TAR_BLOCK));
    if (h.type == 'x' || h.type == 'g' || h.type == 'L') {
        if (h.size > VX_TAR_EXT_MAX)
            return vx_fail(err, VX_ECORRUPT, "tar: extended header at offset %llu declares %llu bytes, more than %u",
                           (unsigned long long)hoff, (unsigned long long)h.size, VX_TAR_EXT_MAX);
        if (!r->ext && !(r->ext = malloc(VX_TAR_EXT_MAX))) return vx_fail(err, VX_ENOMEM, "tar: out of memory");
        r->ext_type = h.type;
        r->ext_off = hoff;
        r->ext_len = 0;
        r->remain = h.size;
        r->pad = padding(h.size);
        r->state = S_EXT;
        if (!r->remain) {
            if ((rc = ext_done(r, err))) return rc;
            r->state = r->pad ? S_PAD : S_HDR;
        }
        return VX_OK;
    }
    if (r->have_path) memcpy(h.path, r->next.path, sizeof h.path);
    if (r->have_size) h.size = r->next.size;
    r->have_path = r->have_size = 0;
    memset(&r->next, 0, sizeof r->next);
    if (h.type == '5' && h.size)
        return vx_fail(err, VX_EUNSUPPORTED, "tar: directory %s at offset %llu carries %llu data bytes", h.path,
                       (unsigned long long)hoff, (unsigned long long)h.size);
    r->cur = h;
    r->members++;
    if (s->member && (rc = s->member(s->ctx, &r->cur, err))) return rc;
    r->remain = h.size;
    r->pad = padding(h.size);
    r->state = S_DATA;
    if (!r->remain) {
        if (s->member_end && (rc = s->member_end(s->ctx, err))) return rc;
        r->state = r->pad ? S_PAD : S_HDR;
    }
    return VX_OK;
}

int vx_tar_feed(vx_tar_reader *r, const uint8_t *p, size_t n, const vx_tar_sink *s, vx_err *err) {
    int rc;
    while (n) {
        size_t k;
        switch (r->state) {
        case S_HDR:
        case S_ZERO1:
            k = VX_TAR_BLOCK - r->have < n ? VX_TAR_BLOCK - r->have : n;
            memcpy(r->blk + r->have, p, k);
            r->have += k;
            p += k;
            n -= k;
            r->off += k;
            if (r->have < VX_TAR_BLOCK) return VX_OK;
            r->have = 0;
            if ((rc = header_block(r, s, err))) return rc;
            break;
        case S_DATA:
            k = r->remain < n ? (size_t)r->remain : n;
            if (s->data && (rc = s->data(s->ctx, p, k, err))) return rc;
            p += k;
            n -= k;
            r->off += k;
            r->remain -= k;
            if (!r->remain) {
                if (s->member_end && (rc = s->member_end(s->ctx, err))) return rc;
                r->state = r->pad ? S_PAD : S_HDR;
            }
            break;
        case S_EXT:
            k = r->remain < n ? (size_t)r->remain : n;
            memcpy(r->ext + r->ext_len, p, k);
            r->ext_len += k;
            p += k;
            n -= k;
            r->off += k;
            r->remain -= k;
            if (!r->remain) {
                if ((rc = ext_done(r, err))) return rc;
                r->state = r->pad ? S_PAD : S_HDR;
            }
            break;
        case S_PAD:
            k = r->pad < n ? (size_t)r->pad : n;
            for (size_t i = 0; i < k; i++)
                if (p[i]) /* A-T3 */
                    return vx_fail(err, VX_ECORRUPT, "tar: non-zero padding after member %s, at offset %llu", r->cur.path,
                                   (unsigned long long)(r->off + i));
            p += k;
            n -= k;
            r->off += k;
            r->pad -= k;
            if (!r->pad) r->state = S_HDR;
            break;
        default: /* S_END, A-T5: only zeros may follow, and not without bound */
            for (size_t i = 0; i < n; i++)
                if (p[i])
                    return vx_fail(err, VX_ECORRUPT, "tar: data after the end-of-archive marker, at offset %llu",
                                   (unsigned long long)(r->off + i));
            r->off += n;
            r->trailing += n;
            if (r->trailing > VX_TAR_TRAIL_MAX)
                return vx_fail(err, VX_ECORRUPT, "tar: more than %u bytes of zeros after the end-of-archive marker",
                               VX_TAR_TRAIL_MAX);
            return VX_OK;
        }
    }
    return VX_OK;
}

int vx_tar_finish(const vx_tar_reader *r, vx_err *err) {
    switch (r->state) {
    case S_END: return VX_OK;
    case S_DATA:
        return vx_fail(err, VX_ECORRUPT, "tar: truncated inside member %s at offset %llu: %llu of its %llu bytes missing",
                       r->cur.path, (unsigned long long)r->off, (unsigned long long)r->remain,
                       (unsigned long long)r->cur.size);
    case S_ZERO1:
        if (!r->have)
            return vx_fail(err, VX_ECORRUPT, "tar: truncated at offset %llu: one end-of-archive block of two",
                           (unsigned long long)r->off);
        /* fall through */
    default:
        return vx_fail(err, VX_ECORRUPT, "tar: truncated at offset %llu (%s); the end-of-archive marker is missing",
                       (unsigned long long)r->off,
                       r->state == S_EXT ? "inside an extended header"
                       : r->state == S_PAD ? "inside a member's padding"
                       : r->have ? "inside a header block" : "after a member");
    }
}
