/*
 * anchor.c — the checks against an anchor from outside the vindex (spec/archive.md A-V9):
 * a SHA256SUMS that travels inside a vindex proves nothing against someone who rewrote
 * both a file and SHA256SUMS; a content digest or a SHA256SUMS obtained elsewhere does.
 * The same code serves directories, archives and the Hugging Face cache: each hands over
 * the (name, SHA-256) pairs it has established for every file but SHA256SUMS.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"

static void say(void (*report)(void *, const char *), void *rctx, int *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(void (*report)(void *, const char *), void *rctx, int *count, const char *fmt, ...) {
    char b[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    (*count)++;
    if (report) report(rctx, b);
}

int arc_anchor(vx_verify_result *res, const vx_sum *have, size_t n, const vx_anchor *a,
               void (*report)(void *, const char *), void *rctx, vx_err *err) {
    int rc = vx_content_digest_of(res->digest, have, n, err), count = 0;
    if (rc) return rc;
    if (!a) return 0;
    if (a->digest) {
        if (strlen(a->digest) != 64 || strspn(a->digest, "0123456789abcdefABCDEF") != 64)
            return vx_fail(err, VX_EUSAGE, "--digest %.80s: expected 64 hexadecimal digits", a->digest);
        char want[65];
        for (int i = 0; i < 65; i++) want[i] = (char)(a->digest[i] >= 'A' && a->digest[i] <= 'F' ? a->digest[i] + 32 : a->digest[i]);
        res->digest_anchor = strcmp(want, res->digest) ? -1 : 1;
        if (res->digest_anchor < 0)
            say(report, rctx, &count, "content digest: computed %s, the anchor (--digest) is %s", res->digest, want);
    }
    if (a->sums_path) {
        char *buf = NULL;
        size_t len = 0;
        vx_sum *s = NULL;
        size_t ns = 0;
        if ((rc = vx_read_file(&buf, &len, a->sums_path, 1u << 20, err))) return rc;
        rc = vx_sums_parse(&s, &ns, (const uint8_t *)buf, len, a->sums_path, err);
        free(buf);
        if (rc) return rc;
        int before = count;
        for (size_t i = 0; i < ns; i++) {
            const vx_sum *h = NULL;
            for (size_t j = 0; j < n && !h; j++)
                if (!strcmp(have[j].name, s[i].name)) h = &have[j];
            if (!strcmp(s[i].name, "SHA256SUMS")) continue;
            if (!h) say(report, rctx, &count, "%s: listed in %s (the anchor), not in the vindex", s[i].name, a->sums_path);
            else if (strcmp(h->hex, s[i].hex))
                say(report, rctx, &count, "%s: SHA-256 %s, the anchor %s says %s", s[i].name, h->hex, a->sums_path, s[i].hex);
        }
        for (size_t j = 0; j < n; j++) {
            int listed = 0;
            for (size_t i = 0; i < ns; i++) listed |= !strcmp(have[j].name, s[i].name);
            if (!listed) say(report, rctx, &count, "%s: in the vindex, not listed in %s (the anchor)", have[j].name, a->sums_path);
        }
        res->sums_listed = (int)ns;
        res->sums_anchor = count > before ? -1 : 1;
        free(s);
    }
    return count;
}
