/*
 * cmp_tokens.c — which tokens `vindex compare` compares (spec/compare.md §2, §3): the shared
 * tokens of two vocabularies (by id when the vocabularies are the same, else by readable
 * text), the seeded anchor/test split (rng.h's streams), and the token lists given
 * with --anchors / --test.
 */
#include <stdlib.h>
#include <string.h>

#include "cmp.h"
#include "mem.h"
#include "vx_query.h"

/* --------------------------------------------------------------- shared tokens */
int cmp_same_vocab(const vx_index *a, const vx_index *b) {
    const vx_vocab *va = &a->vocab, *vb = &b->vocab;
    if (va->n != vb->n) return 0;
    for (uint32_t i = 0; i < va->n; i++) {
        const char *ra, *rb, *t;
        size_t la, lb, tl;
        vx_vocab_get(va, i, &ra, &la, &t, &tl);
        vx_vocab_get(vb, i, &rb, &lb, &t, &tl);
        if (la != lb || memcmp(ra, rb, la)) return 0;
    }
    return 1;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* Readable-text intersection: each text of B maps to B's lowest id with it; A's ids are
 * walked in order and the first A id of each text is kept (spec §2). Empty texts never match. */
int cmp_match_text(ctx *c) {
    const vx_vocab *va = &c->A.vx->vocab, *vb = &c->B.vx->vocab;
    size_t nb = 1;
    while (nb < 2 * (size_t)vb->n + 2) nb <<= 1;
    uint32_t *tb = vx_big_alloc(sizeof(uint32_t) * nb);   /* B ids */
    size_t na = 1;
    while (na < 2 * (size_t)va->n + 2) na <<= 1;
    uint32_t *ta = vx_big_alloc(sizeof(uint32_t) * na);   /* A ids already taken, by text */
    c->sa = vx_big_alloc(sizeof(uint32_t) * (va->n ? va->n : 1));
    c->sb = vx_big_alloc(sizeof(uint32_t) * (va->n ? va->n : 1));
    if (!tb || !ta || !c->sa || !c->sb) { vx_big_free(tb); vx_big_free(ta); return vx_fail(c->err, VX_ENOMEM, "out of memory"); }
    memset(tb, 0xff, sizeof(uint32_t) * nb);
    memset(ta, 0xff, sizeof(uint32_t) * na);
    for (uint32_t i = 0; i < vb->n; i++) {
        const char *r, *t;
        size_t rl, tl;
        vx_vocab_get(vb, i, &r, &rl, &t, &tl);
        if (!tl) continue;
        for (size_t k = fnv1a(t, tl) & (nb - 1);; k = (k + 1) & (nb - 1)) {
            if (tb[k] == UINT32_MAX) { tb[k] = i; break; }
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(vb, tb[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) break; /* keep the lower id */
        }
    }
    size_t n = 0;
    for (uint32_t i = 0; i < va->n; i++) {
        const char *r, *t;
        size_t rl, tl;
        vx_vocab_get(va, i, &r, &rl, &t, &tl);
        if (!tl) continue;
        int dup = 0;
        for (size_t k = fnv1a(t, tl) & (na - 1);; k = (k + 1) & (na - 1)) {
            if (ta[k] == UINT32_MAX) { ta[k] = i; break; }
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(va, ta[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) { dup = 1; break; }
        }
        if (dup) continue;
        for (size_t k = fnv1a(t, tl) & (nb - 1); tb[k] != UINT32_MAX; k = (k + 1) & (nb - 1)) {
            const char *r2, *t2;
            size_t rl2, tl2;
            vx_vocab_get(vb, tb[k], &r2, &rl2, &t2, &tl2);
            if (tl2 == tl && !memcmp(t, t2, tl)) { c->sa[n] = i; c->sb[n] = tb[k]; n++; break; }
        }
    }
    vx_big_free(tb);
    vx_big_free(ta);
    c->N = n;
    return VX_OK;
}

/* ----------------------------------------------------------------- the split */
int cmp_draw_sets(ctx *c, const vx_compare_opts *o, uint32_t **anc, size_t *na, uint32_t **tst, size_t *nt) {
    vx_err *err = c->err;
    size_t VA = c->A.V, N = c->N;
    int32_t *pos = vx_big_alloc(sizeof(int32_t) * VA);
    uint8_t *used = vx_big_array(N, 1);
    uint32_t *pool = vx_big_alloc(sizeof(uint32_t) * N);
    int rc = VX_OK;
    *anc = *tst = NULL;
    if (!pos || !used || !pool) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    memset(pos, 0xff, sizeof(int32_t) * VA);
    for (size_t i = 0; i < N; i++) pos[c->sa[i]] = (int32_t)i;
    const uint32_t *lists[2] = { o->anchor_ids, o->test_ids };
    size_t lens[2] = { o->n_anchor_ids, o->n_test_ids };
    uint32_t **outs[2] = { anc, tst };
    size_t *outn[2] = { na, nt };
    const char *names[2] = { "anchor", "test" };
    for (int k = 0; k < 2; k++) {
        if (!lists[k]) continue;
        if (!(*outs[k] = vx_big_alloc(sizeof(uint32_t) * (lens[k] ? lens[k] : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < lens[k]; i++) {
            uint32_t id = lists[k][i];
            if (id >= VA) { rc = vx_fail(err, VX_ENOTFOUND, "%s token #%u: out of range (A has %zu tokens)", names[k], id, VA); goto out; }
            if (pos[id] < 0) { rc = vx_fail(err, VX_ENOTFOUND, "%s token #%u is not shared with B", names[k], id); goto out; }
            (*outs[k])[i] = (uint32_t)pos[id];
            used[pos[id]] = 1;
        }
        *outn[k] = lens[k];
    }
    size_t P = 0;
    for (size_t i = 0; i < N; i++)
        if (!used[i]) pool[P++] = (uint32_t)i;
    int draw_a = !o->anchor_ids, draw_t = !o->test_ids;
    size_t a = draw_a ? o->anchors : 0, t = draw_t ? o->test : 0;
    if (draw_a && draw_t && !a && !t) {
        if (P >= VX_CMP_DEFAULT_ANCHORS + VX_CMP_DEFAULT_TEST) { a = VX_CMP_DEFAULT_ANCHORS; t = VX_CMP_DEFAULT_TEST; }
        else { t = P / 3; a = P - t; }
    } else {
        if (draw_a && !a) a = P > t ? (P - t < VX_CMP_DEFAULT_ANCHORS ? P - t : VX_CMP_DEFAULT_ANCHORS) : 0;
        if (draw_t && !t) t = P > a ? (P - a < VX_CMP_DEFAULT_TEST ? P - a : VX_CMP_DEFAULT_TEST) : 0;
    }
    if (a + t > P) {
        rc = vx_fail(err, VX_EUSAGE, "%zu anchors + %zu test tokens requested, only %zu shared tokens available", a, t, P);
        goto out;
    }
    uint64_t x = vx_sm_stream(o->seed, 0);
    vx_sm_shuffle_prefix(pool, P, a + t, &x);
    if (draw_a) {
        if (!(*anc = vx_big_alloc(sizeof(uint32_t) * (a ? a : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        memcpy(*anc, pool, sizeof(uint32_t) * a);
        *na = a;
    }
    if (draw_t) {
        if (!(*tst = vx_big_alloc(sizeof(uint32_t) * (t ? t : 1)))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
        memcpy(*tst, pool + a, sizeof(uint32_t) * t);
        *nt = t;
    }
    if (*na < VX_CMP_MIN_SPLIT || *nt < VX_CMP_MIN_SPLIT)
        rc = vx_fail(err, VX_EUSAGE, "%zu anchors and %zu test tokens; each needs at least %d", *na, *nt, VX_CMP_MIN_SPLIT);
out:
    if (rc) { vx_big_free(*anc); vx_big_free(*tst); *anc = *tst = NULL; }
    vx_big_free(pos);
    vx_big_free(used);
    vx_big_free(pool);
    return rc;
}

/* ---------------------------------------------------------------- token lists */
/* One token per line in the grammar of every token argument (vx_token_resolve,
 * spec/queries.md Q-T1): "#ID", a raw vocabulary string, or readable text such as " Paris".
 * A line is what lies between "\n"s, less one trailing "\r"; empty lines are skipped. */
int vx_compare_read_tokens(uint32_t **ids, size_t *n, const vx_index *vx, const char *path, vx_err *err) {
    *ids = NULL;
    *n = 0;
    char *buf = NULL;
    size_t len = 0;
    int rc = vx_read_file(&buf, &len, path, (size_t)1 << 30, err);
    if (rc) return rc;
    size_t cap = 16, cnt = 0, line = 0;
    uint32_t *v = malloc(sizeof(uint32_t) * cap);
    if (!v) { free(buf); return vx_fail(err, VX_ENOMEM, "%s: out of memory", path); }
    for (size_t p = 0; p < len;) {
        size_t e = p;
        while (e < len && buf[e] != '\n') e++;
        size_t l = e - p;
        line++;
        if (l && buf[p + l - 1] == '\r') l--;
        if (l) {
            if (memchr(buf + p, 0, l)) { rc = vx_fail(err, VX_EUSAGE, "%s:%zu: a NUL byte in the line (name such a token by #ID)", path, line); break; }
            char *arg = malloc(l + 1);
            if (!arg) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", path); break; }
            memcpy(arg, buf + p, l);
            arg[l] = 0;
            uint32_t id;
            vx_err e1 = { 0 };
            rc = vx_token_resolve(&id, vx, arg, &e1);
            free(arg);
            if (rc) {
                char *hint = strstr(e1.msg, "; pass --text"); /* not an option of compare */
                if (hint) *hint = 0;
                vx_fail(err, rc, "%s:%zu: %s", path, line, e1.msg);
                break;
            }
            if (cnt == cap) {
                uint32_t *nv = realloc(v, sizeof(uint32_t) * (cap *= 2));
                if (!nv) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", path); break; }
                v = nv;
            }
            v[cnt++] = id;
        }
        p = e + 1;
    }
    free(buf);
    if (rc) { free(v); return rc; }
    *ids = v;
    *n = cnt;
    return VX_OK;
}
