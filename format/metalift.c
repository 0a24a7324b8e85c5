/*
 * metalift.c — lift index.json's sigma arrays out before cJSON parses it (see metalift.h
 * for why, and for the conditions under which the result equals cJSON's alone).
 *
 * The scanner follows cJSON's reading of a document: bytes <= 0x20 between tokens are
 * whitespace, a UTF-8 byte order mark may open it, a string ends at the first quote not
 * preceded by a backslash escape, bytes after the root value are ignored. It recurses only
 * through containers and gives up (lifting nothing) at the first thing it is not sure of.
 */
#include "metalift.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

int vx_meta_lift_enabled = 1;

#define MAX_NUMBER 63  /* cJSON reads a number's first 63 characters only */
#define MAX_DEPTH 64   /* deeper documents go to cJSON whole */

/* ------------------------------------------------------------------ numbers */

static const double pow10_exact[23] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

static inline int digit(const char *p, const char *end) { return p < end && *p >= '0' && *p <= '9'; }

size_t vx_json_number(const char *p, const char *end, double *v) {
    const char *s = p;
    int neg = 0, exact = 1, nd = 0;
    long e10 = 0;
    uint64_t m = 0;
    if (s < end && *s == '-') { neg = 1; s++; }
    if (!digit(s, end)) return 0;
    /* RFC 8259: int = "0" / digit1-9 *DIGIT */
    if (!v) { /* the scanner: the length only */
        if (*s++ != '0')
            while (digit(s, end)) s++;
        if (s < end && *s == '.') {
            if (!digit(++s, end)) return 0;
            while (digit(s, end)) s++;
        }
        if (s < end && (*s == 'e' || *s == 'E')) {
            s++;
            if (s < end && (*s == '+' || *s == '-')) s++;
            if (!digit(s, end)) return 0;
            while (digit(s, end)) s++;
        }
        return (size_t)(s - p) > MAX_NUMBER ? 0 : (size_t)(s - p);
    }
    if (*s == '0') s++;
    else
        for (; digit(s, end); s++) {
            if (nd < 19) { m = m * 10 + (uint64_t)(*s - '0'); nd++; }
            else { exact = 0; e10++; }
        }
    if (s < end && *s == '.') {
        s++;
        if (!digit(s, end)) return 0;
        for (; digit(s, end); s++) {
            if (m == 0 && *s == '0') { e10--; continue; } /* leading zeros are not significant */
            if (nd < 19) { m = m * 10 + (uint64_t)(*s - '0'); nd++; e10--; }
            else exact = 0;
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0;
        if (s < end && (*s == '+' || *s == '-')) eneg = *s++ == '-';
        if (!digit(s, end)) return 0;
        long x = 0;
        for (; digit(s, end); s++)
            if (x < 100000) x = x * 10 + (*s - '0');
        e10 += eneg ? -x : x;
    }
    size_t n = (size_t)(s - p);
    if (n > MAX_NUMBER) return 0;
    double d;
    if (m == 0 && exact) d = 0;
    else if (exact && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        /* Clinger's fast path: both operands exact, so one IEEE operation rounds correctly,
         * which is what strtod returns. */
        d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
    } else {
        /* As cJSON does it: strtod with the locale's decimal point. */
        char b[MAX_NUMBER + 1];
        memcpy(b, p, n);
        b[n] = 0;
        char dp = localeconv()->decimal_point[0];
        for (size_t i = 0; i < n; i++)
            if (b[i] == '.') b[i] = dp;
        d = strtod(neg ? b + 1 : b, NULL);
    }
    *v = neg ? -d : d;
    return n;
}

/* ------------------------------------------------------------------ scanner */

typedef struct scan {
    const char *b, *p, *end;
    vx_lift_span *spans;
    uint32_t n_layers, cap;
} scan;

static inline void ws(scan *s) {
    while (s->p < s->end && (unsigned char)*s->p <= 32) s->p++;
}

static inline int eat(scan *s, char c) {
    ws(s);
    if (s->p < s->end && *s->p == c) { s->p++; return 1; }
    return 0;
}

/* A string at s->p (a quote). *plain: no escape and no control byte in it, so its bytes
 * are what cJSON's decoded C string compares as. */
static int string(scan *s, const char **start, size_t *len, int *plain) {
    if (s->p >= s->end || *s->p != '"') return 0;
    const char *q = ++s->p;
    int ok = 1;
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20) ok = 0;
        if (*s->p == '\\') {
            ok = 0;
            if (++s->p >= s->end) return 0;
        }
        s->p++;
    }
    if (s->p >= s->end) return 0;
    *start = q;
    *len = (size_t)(s->p - q);
    *plain = ok;
    s->p++;
    return 1;
}

static int key_is(const char *k, size_t n, const char *want) { return n == strlen(want) && !memcmp(k, want, n); }

/* A member's key and the ':' after it, for the objects the scanner lifts from: 0 unless the
 * key is plain (an escaped key could name the same member as a plain one). */
static int plain_key(scan *s, const char **k, size_t *kl) {
    int plain;
    ws(s);
    return string(s, k, kl, &plain) && plain && eat(s, ':');
}

static int value(scan *s, int depth);

static int container(scan *s, int depth, char close) {
    s->p++; /* the opener */
    if (eat(s, close)) return 1;
    for (;;) {
        if (close == '}') {
            const char *k;
            size_t kl;
            int plain;
            ws(s);
            if (!string(s, &k, &kl, &plain) || !eat(s, ':')) return 0;
        }
        if (!value(s, depth + 1)) return 0;
        if (eat(s, ',')) continue;
        return eat(s, close);
    }
}

static int value(scan *s, int depth) {
    ws(s);
    if (s->p >= s->end || depth > MAX_DEPTH) return 0;
    char c = *s->p;
    if (c == '{') return container(s, depth, '}');
    if (c == '[') return container(s, depth, ']');
    if (c == '"') {
        const char *k;
        size_t kl;
        int plain;
        return string(s, &k, &kl, &plain);
    }
    static const char *const lit[3] = { "null", "true", "false" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lit[i]);
        if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, lit[i], n)) { s->p += n; return 1; }
    }
    size_t n = vx_json_number(s->p, s->end, NULL);
    s->p += n;
    return n > 0;
}

/* s->p at the '[' of layers[i].<kind>: lift it when it is a non-empty array of numbers,
 * else read it as any value. */
static int sigma_array(scan *s, uint32_t i, int kind, int depth) {
    const char *open = s->p;
    s->p++;
    uint32_t count = 0;
    for (;;) {
        ws(s);
        size_t n = vx_json_number(s->p, s->end, NULL);
        if (!n) break;
        s->p += n;
        count++;
        if (eat(s, ',')) continue;
        if (!eat(s, ']')) break;
        vx_lift_span *sp = &s->spans[2 * (size_t)i + kind];
        sp->off = (size_t)(open + 1 - s->b);
        sp->len = (size_t)(s->p - 1 - (open + 1));
        sp->count = count;
        return 1;
    }
    s->p = open;
    return value(s, depth);
}

/* Room for layer i's two spans (zeroed: not lifted). */
static int room(scan *s, uint32_t i) {
    if (i < s->cap) return 1;
    uint32_t cap = s->cap ? 2 * s->cap : 64;
    vx_lift_span *t = cap > (1u << 24) ? NULL : realloc(s->spans, sizeof *t * 2 * cap);
    if (!t) return 0; /* then cJSON reads the whole document */
    memset(t + 2 * (size_t)s->cap, 0, sizeof *t * 2 * (cap - s->cap));
    s->spans = t;
    s->cap = cap;
    return 1;
}

static int layer_object(scan *s, uint32_t i, int depth) {
    int seen[2] = { 0, 0 };
    s->p++;
    if (eat(s, '}')) return 1;
    for (;;) {
        const char *k;
        size_t kl;
        if (!plain_key(s, &k, &kl)) return 0;
        int kind = key_is(k, kl, "gate_sigma") ? 0 : key_is(k, kl, "down_sigma") ? 1 : -1;
        ws(s);
        if (kind >= 0 && !seen[kind] && s->p < s->end && *s->p == '[') {
            seen[kind] = 1;
            if (!sigma_array(s, i, kind, depth + 1)) return 0;
        } else {
            if (kind >= 0) seen[kind] = 1;
            if (!value(s, depth + 1)) return 0;
        }
        if (eat(s, ',')) continue;
        return eat(s, '}');
    }
}

static int layers_array(scan *s, int depth) {
    s->p++;
    if (eat(s, ']')) return 1;
    for (uint32_t i = 0;; i++) {
        ws(s);
        if (!room(s, i)) return 0;
        int ok = s->p < s->end && *s->p == '{' ? layer_object(s, i, depth + 1) : value(s, depth + 1);
        if (!ok) return 0;
        s->n_layers = i + 1;
        if (eat(s, ',')) continue;
        return eat(s, ']');
    }
}

static int root(scan *s) {
    if (s->end - s->p >= 3 && !memcmp(s->p, "\xEF\xBB\xBF", 3)) s->p += 3;
    ws(s);
    if (s->p >= s->end || *s->p != '{') return 0;
    s->p++;
    if (eat(s, '}')) return 1;
    int seen = 0;
    for (;;) {
        const char *k;
        size_t kl;
        if (!plain_key(s, &k, &kl)) return 0;
        ws(s);
        if (!seen && key_is(k, kl, "layers")) {
            seen = 1;
            if (s->p < s->end && *s->p == '[' ? !layers_array(s, 1) : !value(s, 1)) return 0;
        } else if (!value(s, 1))
            return 0;
        if (eat(s, ',')) continue;
        return eat(s, '}');
    }
}

void vx_meta_lift(vx_lifted *out, const uint8_t *buf, size_t len) {
    memset(out, 0, sizeof *out);
    if (!vx_meta_lift_enabled || !len) return; /* buf may be NULL then (an empty file's map) */
    scan s = { (const char *)buf, (const char *)buf, (const char *)buf + len, NULL, 0, 0 };
    size_t lifted = 0;
    if (root(&s))
        for (size_t i = 0; i < 2 * (size_t)s.n_layers; i++) lifted += s.spans[i].len;
    char *o = lifted ? malloc(len - lifted + 1) : NULL;
    if (!o) { free(s.spans); return; }
    /* Spans are in document order: layer by layer, and within a layer either kind first. */
    size_t at = 0, n = 0;
    for (uint32_t i = 0; i < s.n_layers; i++) {
        const vx_lift_span *g = &s.spans[2 * (size_t)i], *d = g + 1;
        const vx_lift_span *order[2] = { g, d };
        if (d->count && g->count && d->off < g->off) { order[0] = d; order[1] = g; }
        for (int k = 0; k < 2; k++) {
            if (!order[k]->count) continue;
            memcpy(o + n, buf + at, order[k]->off - at);
            n += order[k]->off - at;
            at = order[k]->off + order[k]->len;
        }
    }
    memcpy(o + n, buf + at, len - at);
    n += len - at;
    o[n] = 0;
    out->json = o;
    out->len = n;
    out->spans = s.spans;
    out->n_layers = s.n_layers;
}

void vx_lifted_free(vx_lifted *l) {
    if (!l) return;
    free(l->json);
    free(l->spans);
    memset(l, 0, sizeof *l);
}

const vx_lift_span *vx_lifted_span(const vx_lifted *l, uint32_t layer, int kind) {
    if (!l->json || layer >= l->n_layers || kind < 0 || kind > 1) return NULL;
    const vx_lift_span *sp = &l->spans[2 * (size_t)layer + kind];
    return sp->count ? sp : NULL;
}
