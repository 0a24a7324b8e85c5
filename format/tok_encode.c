/*
 * tok_encode.c — text to ids, in the reference's order (tokenizer/mod.rs encode with
 * add_special_tokens=false, spec/tokenizer.md §2..§3):
 *
 *   1. added tokens with normalized=false are split out of the raw text;
 *   2. each remaining piece is normalized, then added tokens with normalized=true are
 *      split out of it (matched in their own normalized form);
 *   3. the pre-tokenizer steps split every piece that is not a token further;
 *   4. the model encodes each piece.
 *
 * Pieces carry their bytes (in one arena per stage), the token id when they are an added
 * token, and whether they begin at the start of the original text (Metaspace's
 * prepend_scheme "first" asks). Matching positions are reported by tokregex.c; splitting
 * follows NormalizedString::split's five behaviours exactly, empty pieces dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct piece { size_t off, len; uint32_t id; uint8_t orig0; } piece;
typedef struct plist { piece *p; size_t n, cap; char *buf; size_t blen, bcap; } plist;

typedef struct ctx { const vx_tokenizer *t; uint64_t steps; vx_err *err; } ctx;

static int nomem(ctx *c) { return vx_fail(c->err, VX_ENOMEM, "tokenize: out of memory"); }

static void pl_free(plist *L) { free(L->p); free(L->buf); memset(L, 0, sizeof *L); }

/* Append a piece whose bytes are s[0..n) (copied into L's arena). Empty text pieces are
 * dropped, as PreTokenizedString::split drops them. */
static int pl_add(plist *L, const char *s, size_t n, uint32_t id, int orig0) {
    if (n == 0 && id == TOK_NO_ID) return 0;
    if (L->blen + n > L->bcap) {
        size_t cap = L->bcap ? L->bcap : 256;
        while (cap < L->blen + n) {
            if (cap > SIZE_MAX / 2) return VX_ENOMEM;
            cap *= 2;
        }
        char *b = realloc(L->buf, cap);
        if (!b) return VX_ENOMEM;
        L->buf = b; L->bcap = cap;
    }
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 16;
        piece *p = realloc(L->p, cap * sizeof *p);
        if (!p) return VX_ENOMEM;
        L->p = p; L->cap = cap;
    }
    if (n) memcpy(L->buf + L->blen, s, n);
    L->p[L->n++] = (piece){ L->blen, n, id, (uint8_t)orig0 };
    L->blen += n;
    return 0;
}

/* ------------------------------------------------------------- growable string */

typedef struct sbuf { char *s; size_t n, cap; } sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) return VX_ENOMEM;
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p) return VX_ENOMEM;
        b->s = p; b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

static int sb_cp(sbuf *b, uint32_t cp) {
    char u[4];
    return sb_put(b, u, vx_utf8_put(u, cp));
}

/* -------------------------------------------------------------- normalizers */

static int is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Nmt (normalizers/unicode.rs do_nmt): drop some controls, map some spaces to ' '. */
static int nmt_drop(uint32_t c) { return (c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F; }
static int nmt_space(uint32_t c) {
    return c == 9 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 || (c >= 0x200B && c <= 0x200F) || c == 0x2028 ||
           c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
}

/* One normalizer step: s[0..n) → *out (malloc'd). */
static int norm_step(ctx *c, const tk_norm *nz, const char *s, size_t n, char **out, size_t *on) {
    sbuf b = { NULL, 0, 0 };
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;
    int rc = 0;
    switch (nz->kind) {
    case NZ_NFC: case NZ_NFD: case NZ_NFKC: case NZ_NFKD: {
        static const vx_nf f[] = { VX_NFC, VX_NFD, VX_NFKC, VX_NFKD };
        *out = vx_uc_normalize(f[nz->kind - NZ_NFC], s, n, on);
        return *out ? 0 : VX_ENOMEM;
    }
    case NZ_LOWER:
        *out = vx_uc_lowercase(s, n, on);
        return *out ? 0 : VX_ENOMEM;
    case NZ_STRIP: {
        size_t a = 0, e = n, l;
        while (nz->left && a < e && (l = vx_utf8_next(u + a, e - a, &cp)) && vx_uc_space(cp)) a += l;
        while (nz->right && e > a) {
            size_t p = e - 1;
            while (p > a && (u[p] & 0xC0) == 0x80) p--;
            vx_utf8_next(u + p, e - p, &cp);
            if (!vx_uc_space(cp)) break;
            e = p;
        }
        rc = sb_put(&b, s + a, e - a);
        break;
    }
    case NZ_STRIP_ACCENTS:
        for (size_t i = 0, l; i < n && !rc; i += l) {
            l = vx_utf8_next(u + i, n - i, &cp);
            if (!(vx_uc_cat(cp) & VX_GC_M)) rc = sb_put(&b, s + i, l);
        }
        break;
    case NZ_NMT:
        for (size_t i = 0, l; i < n && !rc; i += l) {
            l = vx_utf8_next(u + i, n - i, &cp);
            if (nmt_drop(cp)) continue;
            rc = nmt_space(cp) ? sb_put(&b, " ", 1) : sb_put(&b, s + i, l);
        }
        break;
    case NZ_BYTELEVEL:
        for (size_t i = 0; i < n && !rc; i++) rc = sb_cp(&b, tk_byte_cp(u[i]));
        break;
    case NZ_PREPEND:
        if (n) rc = sb_put(&b, nz->str, nz->str_len);
        if (!rc) rc = sb_put(&b, s, n);
        break;
    case NZ_REPLACE: {
        vx_span *sp = NULL;
        size_t k = 0, prev = 0;
        uint64_t st = 0;
        if ((rc = vx_regex_find_all(nz->re, s, n, &sp, &k, &st))) break;
        c->steps += st;
        for (size_t i = 0; i < k && !rc; i++) {
            rc = sb_put(&b, s + prev, sp[i].start - prev);
            if (!rc) rc = sb_put(&b, nz->str, nz->str_len);
            prev = sp[i].end;
        }
        if (!rc) rc = sb_put(&b, s + prev, n - prev);
        free(sp);
        break;
    }
    case NZ_BERT: {
        char *cur = NULL;
        size_t cn = 0;
        if (nz->clean) {
            for (size_t i = 0, l; i < n && !rc; i += l) {
                l = vx_utf8_next(u + i, n - i, &cp);
                int ws = cp == '\t' || cp == '\n' || cp == '\r' || vx_uc_space(cp);
                int ctl = !(cp == '\t' || cp == '\n' || cp == '\r') && (vx_uc_cat(cp) & VX_GC_C);
                if (cp == 0 || cp == 0xFFFD || ctl) continue;
                rc = ws ? sb_put(&b, " ", 1) : sb_put(&b, s + i, l);
            }
        } else {
            rc = sb_put(&b, s, n);
        }
        if (!rc && nz->chinese) {
            sbuf b2 = { NULL, 0, 0 };
            for (size_t i = 0, l; i < b.n && !rc; i += l) {
                l = vx_utf8_next((unsigned char *)b.s + i, b.n - i, &cp);
                if (is_chinese(cp)) { rc = sb_put(&b2, " ", 1); if (!rc) rc = sb_put(&b2, b.s + i, l); if (!rc) rc = sb_put(&b2, " ", 1); }
                else rc = sb_put(&b2, b.s + i, l);
            }
            free(b.s);
            b = b2;
        }
        if (!rc && nz->strip_accents) {
            cur = vx_uc_normalize(VX_NFD, b.s ? b.s : "", b.n, &cn);
            if (!cur) { rc = VX_ENOMEM; break; }
            sbuf b2 = { NULL, 0, 0 };
            for (size_t i = 0, l; i < cn && !rc; i += l) {
                l = vx_utf8_next((unsigned char *)cur + i, cn - i, &cp);
                if (!(vx_uc_cat(cp) & VX_GC_MN)) rc = sb_put(&b2, cur + i, l);
            }
            free(cur);
            free(b.s);
            b = b2;
        }
        if (!rc && nz->lower) {
            cur = vx_uc_lowercase(b.s ? b.s : "", b.n, &cn);
            if (!cur) { rc = VX_ENOMEM; break; }
            free(b.s);
            b = (sbuf){ cur, cn, cn + 1 };
        }
        break;
    }
    }
    if (rc) { free(b.s); return rc; }
    if (!b.s && sb_put(&b, "", 0)) return VX_ENOMEM;
    *out = b.s;
    *on = b.n;
    return 0;
}

static int normalize_ctx(ctx *c, char **out, size_t *on, const char *s, size_t n) {
    const vx_tokenizer *t = c->t;
    char *cur = malloc(n + 1);
    if (!cur) return VX_ENOMEM;
    memcpy(cur, s, n);
    cur[n] = 0;
    size_t cn = n;
    for (size_t k = 0; k < t->n_norm; k++) {
        char *nx;
        size_t nn;
        int rc = norm_step(c, &t->norm[k], cur, cn, &nx, &nn);
        free(cur);
        if (rc) return rc;
        cur = nx; cn = nn;
    }
    *out = cur;
    *on = cn;
    return 0;
}

int tk_normalize(const vx_tokenizer *t, char **out, size_t *out_len, const char *s, size_t n, vx_err *err);
int tk_normalize(const vx_tokenizer *t, char **out, size_t *out_len, const char *s, size_t n, vx_err *err) {
    ctx c = { t, 0, err };
    int rc = normalize_ctx(&c, out, out_len, s, n);
    return rc ? nomem(&c) : 0;
}

/* ------------------------------------------------------------ added tokens */

static uint32_t char_before(const char *s, size_t pos) {
    size_t b = pos - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    uint32_t cp;
    vx_utf8_next((const unsigned char *)s + b, pos - b, &cp);
    return cp;
}

/* find_matches of added_vocabulary.rs over one piece, with the trie `tr`. */
static int split_added(ctx *c, plist *out, const tk_trie *tr, const char *s, size_t n, int orig0) {
    const vx_tokenizer *t = c->t;
    size_t start_offset = 0, i = 0;
    int rc = 0;
    while (i < n && !rc) {
        /* leftmost-longest: the first position where a token starts, its longest token */
        size_t start = 0, stop = 0;
        uint32_t slot = TOK_NO_ID;
        for (size_t p = i; p < n && slot == TOK_NO_ID; p++) {
            uint32_t node = 0;
            for (size_t q = p; q < n; q++) {
                node = tk_trie_child(tr, node, (uint8_t)s[q]);
                if (node == TOK_NO_ID) break;
                if (tr->val[node] != TOK_NO_ID) { slot = tr->val[node]; start = p; stop = q + 1; }
            }
        }
        if (slot == TOK_NO_ID) break;
        i = stop;
        const tk_added *ad = &t->added[slot];
        uint32_t cp;
        if (ad->single_word) {
            int start_space = start == 0 || !vx_uc_word_rust(char_before(s, start));
            int stop_space = stop == n || (vx_utf8_next((const unsigned char *)s + stop, n - stop, &cp), !vx_uc_word_rust(cp));
            if (!start_space || !stop_space) continue;
        }
        if (ad->lstrip) {
            size_t ns = start;
            while (ns > 0 && vx_uc_space(char_before(s, ns))) {
                ns--;
                while (ns > 0 && ((unsigned char)s[ns] & 0xC0) == 0x80) ns--;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (ad->rstrip) {
            size_t l;
            while (stop < n && (l = vx_utf8_next((const unsigned char *)s + stop, n - stop, &cp)) && vx_uc_space(cp)) stop += l;
        }
        if (start_offset < start) rc = pl_add(out, s + start_offset, start - start_offset, TOK_NO_ID, orig0 && start_offset == 0);
        if (!rc) rc = pl_add(out, s + start, stop - start, ad->id, 0);
        start_offset = stop;
    }
    if (!rc && start_offset < n) rc = pl_add(out, s + start_offset, n - start_offset, TOK_NO_ID, orig0 && start_offset == 0);
    return rc;
}

/* ------------------------------------------------------------- splitting */

typedef struct ev { size_t a, b; int m; } ev; /* (offsets, is_match) of Pattern::find_matches */
typedef struct evs { ev *v; size_t n, cap; } evs;

static int ev_add(evs *E, size_t a, size_t b, int m) {
    if (E->n == E->cap) {
        size_t cap = E->cap ? E->cap * 2 : 16;
        ev *v = realloc(E->v, cap * sizeof *v);
        if (!v) return VX_ENOMEM;
        E->v = v; E->cap = cap;
    }
    E->v[E->n++] = (ev){ a, b, m };
    return 0;
}

/* Pattern for a character predicate (pattern.rs `impl Pattern for F`). */
typedef int (*char_pred)(uint32_t cp, uint32_t arg);
static int pred_numeric(uint32_t cp, uint32_t arg) { (void)arg; return (vx_uc_cat(cp) & VX_GC_N) != 0; }
static int pred_punct(uint32_t cp, uint32_t arg) { (void)arg; return vx_uc_punct(cp); }
static int pred_space(uint32_t cp, uint32_t arg) { (void)arg; return vx_uc_space(cp); }
static int pred_eq(uint32_t cp, uint32_t arg) { return cp == arg; }

static int find_pred(evs *E, const char *s, size_t n, char_pred f, uint32_t arg) {
    if (n == 0) return ev_add(E, 0, 0, 0);
    size_t last = 0;
    for (size_t i = 0, l; i < n; i += l) {
        uint32_t cp;
        l = vx_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!f(cp, arg)) continue;
        if (last < i && ev_add(E, last, i, 0)) return VX_ENOMEM;
        if (ev_add(E, i, i + l, 1)) return VX_ENOMEM;
        last = i + l;
    }
    if (n > last) return ev_add(E, last, n, 0);
    return 0;
}

/* Pattern for a regex (pattern.rs / utils/onig.rs `find_matches`). */
static int find_re(ctx *c, evs *E, const vx_regex *re, const char *s, size_t n) {
    if (n == 0) return ev_add(E, 0, 0, 0);
    vx_span *sp = NULL;
    size_t k = 0, prev = 0;
    uint64_t st = 0;
    int rc = vx_regex_find_all(re, s, n, &sp, &k, &st);
    c->steps += st;
    for (size_t i = 0; i < k && !rc; i++) {
        if (prev != sp[i].start) rc = ev_add(E, prev, sp[i].start, 0);
        if (!rc) rc = ev_add(E, sp[i].start, sp[i].end, 1);
        prev = sp[i].end;
    }
    if (!rc && prev != n) rc = ev_add(E, prev, n, 0);
    free(sp);
    return rc;
}

/* NormalizedString::split: apply `behavior` to the events, append the kept slices. */
static int apply_split(plist *out, const char *s, evs *E, int behavior, int invert, int orig0) {
    if (invert)
        for (size_t i = 0; i < E->n; i++) E->v[i].m = !E->v[i].m;
    ev *v = E->v;
    size_t k = 0; /* the folded list is written in place: it never grows */
    int prev = 0;
    switch (behavior) {
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < E->n; i++) v[i].m = 0;
        k = E->n;
        break;
    case SPLIT_REMOVED:
        k = E->n;
        break;
    case SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < E->n; i++) {
            int m = v[i].m;
            if (m == prev && k) v[k - 1].b = v[i].b;
            else v[k++] = (ev){ v[i].a, v[i].b, 0 };
            prev = m;
        }
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < E->n; i++) {
            int m = v[i].m;
            if (m && !prev && k) v[k - 1].b = v[i].b;
            else v[k++] = (ev){ v[i].a, v[i].b, 0 };
            prev = m;
        }
        break;
    case SPLIT_MERGED_NEXT: {
        /* folded from the right, then reversed */
        size_t w = E->n;
        for (size_t i = E->n; i-- > 0;) {
            int m = v[i].m;
            if (m && !prev && w < E->n) v[w].a = v[i].a;
            else v[--w] = (ev){ v[i].a, v[i].b, 0 };
            prev = m;
        }
        memmove(v, v + w, (E->n - w) * sizeof *v);
        k = E->n - w;
        break;
    }
    }
    for (size_t i = 0; i < k; i++) {
        if (v[i].m) continue;
        if (pl_add(out, s + v[i].a, v[i].b - v[i].a, TOK_NO_ID, orig0 && v[i].a == 0)) return VX_ENOMEM;
    }
    return 0;
}

/* One pre-tokenizer step on one piece. */
static int pretok_piece(ctx *c, const tk_pretok *pt, plist *out, const char *s, size_t n, int orig0) {
    evs E = { NULL, 0, 0 };
    sbuf b = { NULL, 0, 0 };
    int rc = 0;
    switch (pt->kind) {
    case PT_BYTELEVEL: {
        if (pt->prefix_space && !(n && s[0] == ' ')) rc = sb_put(&b, " ", 1);
        if (!rc) rc = sb_put(&b, s, n);
        if (rc) break;
        plist tmp = { 0 };
        if (pt->use_regex) {
            rc = find_re(c, &E, pt->re, b.s, b.n);
            if (!rc) rc = apply_split(&tmp, b.s, &E, SPLIT_ISOLATED, 0, orig0);
        } else {
            rc = pl_add(&tmp, b.s, b.n, TOK_NO_ID, orig0);
        }
        /* every byte of every piece becomes its byte-level character */
        for (size_t i = 0; i < tmp.n && !rc; i++) {
            sbuf m = { NULL, 0, 0 };
            const unsigned char *u = (const unsigned char *)tmp.buf + tmp.p[i].off;
            for (size_t j = 0; j < tmp.p[i].len && !rc; j++) rc = sb_cp(&m, tk_byte_cp(u[j]));
            if (!rc) rc = pl_add(out, m.s, m.n, TOK_NO_ID, tmp.p[i].orig0);
            free(m.s);
        }
        pl_free(&tmp);
        break;
    }
    case PT_SPLIT:
        rc = find_re(c, &E, pt->re, s, n);
        if (!rc) rc = apply_split(out, s, &E, pt->behavior, pt->invert, orig0);
        break;
    case PT_METASPACE: {
        char rep[4];
        size_t rl = vx_utf8_put(rep, pt->ch);
        for (size_t i = 0; i < n && !rc; i++) rc = s[i] == ' ' ? sb_put(&b, rep, rl) : sb_put(&b, s + i, 1);
        if (!rc && !b.s) rc = sb_put(&b, "", 0);
        if (rc) break;
        int starts = b.n >= rl && memcmp(b.s, rep, rl) == 0;
        if (!starts && b.n && (pt->prepend == PREPEND_ALWAYS || (pt->prepend == PREPEND_FIRST && orig0))) {
            sbuf b2 = { NULL, 0, 0 };
            rc = sb_put(&b2, rep, rl);
            if (!rc) rc = sb_put(&b2, b.s, b.n);
            free(b.s);
            b = b2;
            if (rc) break;
        }
        if (pt->split) {
            rc = find_pred(&E, b.s, b.n, pred_eq, pt->ch);
            if (!rc) rc = apply_split(out, b.s, &E, SPLIT_MERGED_NEXT, 0, orig0);
        } else {
            rc = pl_add(out, b.s, b.n, TOK_NO_ID, orig0);
        }
        break;
    }
    case PT_DIGITS:
        rc = find_pred(&E, s, n, pred_numeric, 0);
        if (!rc) rc = apply_split(out, s, &E, pt->behavior, 0, orig0);
        break;
    case PT_PUNCT:
        rc = find_pred(&E, s, n, pred_punct, 0);
        if (!rc) rc = apply_split(out, s, &E, pt->behavior, 0, orig0);
        break;
    case PT_WHITESPACE:
        rc = find_re(c, &E, pt->re, s, n);
        if (!rc) rc = apply_split(out, s, &E, SPLIT_REMOVED, 1, orig0);
        break;
    case PT_WSSPLIT:
        rc = find_pred(&E, s, n, pred_space, 0);
        if (!rc) rc = apply_split(out, s, &E, SPLIT_REMOVED, 0, orig0);
        break;
    case PT_DELIM:
        rc = find_pred(&E, s, n, pred_eq, pt->ch);
        if (!rc) rc = apply_split(out, s, &E, SPLIT_REMOVED, 0, orig0);
        break;
    case PT_FIXED: {
        size_t a = 0, chars = 0;
        for (size_t i = 0; i < n && !rc;) {
            uint32_t cp;
            i += vx_utf8_next((const unsigned char *)s + i, n - i, &cp);
            if (++chars == pt->fixed || i == n) {
                rc = pl_add(out, s + a, i - a, TOK_NO_ID, orig0 && a == 0);
                a = i;
                chars = 0;
            }
        }
        break;
    }
    }
    free(E.v);
    free(b.s);
    return rc;
}

/* ------------------------------------------------------------------ encode */

int vx_tokenize_steps(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, uint64_t *steps,
                      vx_err *err) {
    *ids = NULL; *n = 0;
    if (steps) *steps = 0;
    ctx c = { t, 0, err };
    size_t bad = vx_utf8_check((const unsigned char *)text, len);
    if (bad != len) return vx_fail(err, VX_EUSAGE, "tokenize: the text is not valid UTF-8 (byte %zu)", bad);
    if (t->unsupported_rc) return vx_fail(err, t->unsupported_rc, "tokenize: %s", t->unsupported);
    plist A = { 0 }, B = { 0 };
    tk_ids o = { NULL, 0, 0 };
    int rc = 0;
    /* 1. added tokens that are not normalized, on the raw text */
    rc = split_added(&c, &A, &t->added_raw, text, len, 1);
    /* 2. normalize, then the normalized added tokens */
    for (size_t i = 0; i < A.n && !rc; i++) {
        const piece *p = &A.p[i];
        if (p->id != TOK_NO_ID) { rc = pl_add(&B, NULL, 0, p->id, 0); continue; }
        char *nz;
        size_t nn;
        if ((rc = normalize_ctx(&c, &nz, &nn, A.buf + p->off, p->len))) break;
        rc = split_added(&c, &B, &t->added_norm, nz, nn, p->orig0);
        free(nz);
    }
    pl_free(&A);
    /* 3. pre-tokenizer steps */
    for (size_t k = 0; k < t->n_pre && !rc; k++) {
        plist C = { 0 };
        for (size_t i = 0; i < B.n && !rc; i++) {
            const piece *p = &B.p[i];
            if (p->id != TOK_NO_ID) rc = pl_add(&C, NULL, 0, p->id, 0);
            else rc = pretok_piece(&c, &t->pre[k], &C, B.buf + p->off, p->len, p->orig0);
        }
        pl_free(&B);
        B = C;
    }
    /* 4. the model */
    for (size_t i = 0; i < B.n && !rc; i++) {
        const piece *p = &B.p[i];
        if (p->id != TOK_NO_ID) { if (tk_push(&o, p->id)) rc = VX_ENOMEM; }
        else if ((rc = tk_model_encode(t, &o, B.buf + p->off, p->len, err)) != 0) break;
    }
    pl_free(&B);
    if (steps) *steps = c.steps;
    if (rc == VX_ENOMEM) rc = nomem(&c);
    if (rc) { free(o.v); return rc; }
    *ids = o.v ? o.v : malloc(sizeof(uint32_t));
    if (!*ids) return nomem(&c);
    *n = o.n;
    return 0;
}

int vx_tokenize(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, vx_err *err) {
    return vx_tokenize_steps(ids, n, t, text, len, NULL, err);
}
