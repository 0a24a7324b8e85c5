/*
 * html.c — the report's buffer, escaping and atomic file write (html.h).
 *
 * Token strings come from the model's tokenizer and are hostile input: they hold markup,
 * quotes, control bytes, bidi overrides and (in principle) broken UTF-8. Everything a
 * report prints from a vindex goes through sb_esc, which makes it inert text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "html.h"

static int grow(sbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (extra <= b->cap - b->n) return 0;
    if (extra > ((size_t)-1) / 2 - b->n) { b->failed = 1; return -1; }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->n < extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->failed = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(sbuf *b, const char *s, size_t n) {
    if (!n || grow(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) { b->failed = 1; return; }
    if ((size_t)k < sizeof tmp) { sb_put(b, tmp, (size_t)k); return; }
    if (grow(b, (size_t)k + 1)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void sb_free(sbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 table 3-7), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF, v;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
    } else return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* Code points that would reorder, hide or break the surrounding text. */
static int invisible_control(unsigned cp) {
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF;
}

void sb_esc(sbuf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        size_t len = utf8_len(u + i, n - i, &cp);
        if (!len) { sb_printf(b, "\\x%02X", u[i]); i++; continue; }
        switch (cp) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\r': sb_puts(b, "\\r"); break;
        default:
            if (cp < 0x20 || cp == 0x7F) sb_printf(b, "\\x%02X", cp);
            else if (invisible_control(cp)) sb_printf(b, "\\u%04x", cp);
            else sb_put(b, s + i, len);
        }
        i += len;
    }
}

void sb_escs(sbuf *b, const char *s) { sb_esc(b, s, strlen(s)); }

int write_file_atomic(const char *path, const char *data, size_t n, char *msg, size_t msg_size) {
    size_t pl = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    char *tmp = malloc(pl + 32), *dir = malloc(dl + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        snprintf(msg, msg_size, "%s: out of memory", path);
        return -1;
    }
    if (slash) { memcpy(dir, path, dl ? dl : 1); dir[dl ? dl : 1] = 0; }
    else strcpy(dir, ".");
    /* ".NAME.tmp.XXXXXX" beside the target, so the rename stays within one filesystem. */
    const char *base = slash ? slash + 1 : path;
    snprintf(tmp, pl + 32, "%.*s.%s.tmp.XXXXXX", (int)(base - path), path, base);
    const char *what = "create a temporary file";
    int fd = mkstemp(tmp), ok = 0;
    if (fd >= 0) {
        mode_t um = umask(0); /* mkstemp makes 0600; a report is an ordinary file */
        umask(um);
        fchmod(fd, 0666 & ~um);
        what = "write";
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, data + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
        if (off == n && (what = "fsync", fsync(fd) == 0)) ok = 1;
        if (close(fd) != 0 && ok) { ok = 0; what = "close"; }
        if (ok && (what = "rename", rename(tmp, path) != 0)) ok = 0;
        if (!ok) {
            int e = errno;
            unlink(tmp);
            errno = e;
        }
    }
    if (!ok) snprintf(msg, msg_size, "%s: cannot %s: %s", path, what, strerror(errno ? errno : EIO));
    else {
        /* The rename is durable once the directory is synced; failing that is not fatal. */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
    }
    free(tmp);
    free(dir);
    return ok ? 0 : -1;
}
