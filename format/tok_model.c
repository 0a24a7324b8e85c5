/*
 * tok_model.c — the models: one pre-tokenized piece (already normalized and, for
 * byte-level tokenizers, in raw byte-level characters) to ids, as the reference's
 * models/{bpe,unigram,wordpiece,wordlevel} do (spec/tokenizer.md §4).
 *
 * BPE merges with a binary heap ordered by (rank, position), as bpe/word.rs merge_all,
 * so a piece of k characters costs O(k log k); Unigram runs the Viterbi pass of
 * unigram/model.rs encode_optimized over a byte trie of the pieces.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "tok_internal.h"

#define UNK_PENALTY 10.0 /* Unigram: an unknown character scores min_score - 10 (sentencepiece) */

static int nomem(vx_err *err) { return vx_fail(err, VX_ENOMEM, "tokenize: out of memory"); }

static const pair_ent *pair_find(const vx_tokenizer *t, uint32_t a, uint32_t b) {
    if (!t->pairs) return NULL;
    uint64_t key = (uint64_t)a << 32 | b;
    uint32_t h = (uint32_t)XXH3_64bits(&key, sizeof key) & t->pmask;
    for (;;) {
        const pair_ent *p = &t->pairs[h];
        if (p->key == UINT64_MAX) return NULL;
        if (p->key == key) return p;
        h = (h + 1) & t->pmask;
    }
}

/* ------------------------------------------------------------------------- BPE */

typedef struct sym { uint32_t id; long prev, next; size_t len; } sym;
typedef struct merge { uint32_t rank; size_t pos; uint32_t id; } merge;

/* heap order: lowest rank, then lowest position (bpe/word.rs `impl Ord for Merge`) */
static int merge_lt(const merge *a, const merge *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

typedef struct heap { merge *v; size_t n, cap; } heap;

static int heap_push(heap *h, merge m) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        merge *v = realloc(h->v, cap * sizeof *v);
        if (!v) return VX_ENOMEM;
        h->v = v; h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && merge_lt(&m, &h->v[(i - 1) / 2])) { h->v[i] = h->v[(i - 1) / 2]; i = (i - 1) / 2; }
    h->v[i] = m;
    return 0;
}

static merge heap_pop(heap *h) {
    merge top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && merge_lt(&h->v[c + 1], &h->v[c])) c++;
        if (!merge_lt(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct word { sym *s; size_t n, cap; } word;

static int word_add(word *w, uint32_t id, size_t len) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        sym *s = realloc(w->s, cap * sizeof *s);
        if (!s) return VX_ENOMEM;
        w->s = s; w->cap = cap;
    }
    w->s[w->n] = (sym){ id, (long)w->n - 1, -1, len };
    if (w->n) w->s[w->n - 1].next = (long)w->n;
    w->n++;
    return 0;
}

static int bpe_piece(const vx_tokenizer *t, tk_ids *o, const char *w, size_t n, vx_err *err) {
    if (n == 0) return 0;
    if (t->ignore_merges) {
        uint32_t id = tk_model_id(t, w, n);
        if (id != TOK_NO_ID) return tk_push(o, id) ? nomem(err) : 0;
    }
    size_t lp = t->sub_prefix ? strlen(t->sub_prefix) : 0, ls = t->eow_suffix ? strlen(t->eow_suffix) : 0;
    char *buf = malloc(lp + ls + 5);
    word wd = { NULL, 0, 0 };
    heap hp = { NULL, 0, 0 };
    int rc = 0, have_unk = 0;
    uint32_t unk_id = 0;
    size_t unk_len = 0;
    if (!buf) return nomem(err);
    /* characters (merge_word in bpe/model.rs) */
    for (size_t i = 0; i < n && !rc;) {
        uint32_t cp;
        size_t cl = vx_utf8_next((const unsigned char *)w + i, n - i, &cp), bl = 0;
        if (i > 0 && lp) { memcpy(buf, t->sub_prefix, lp); bl = lp; }
        memcpy(buf + bl, w + i, cl); bl += cl;
        if (i + cl == n && ls) { memcpy(buf + bl, t->eow_suffix, ls); bl += ls; }
        uint32_t id = tk_model_id(t, buf, bl);
        if (id != TOK_NO_ID) {
            if (have_unk) { rc = word_add(&wd, unk_id, unk_len); have_unk = 0; }
            if (!rc) rc = word_add(&wd, id, cl);
        } else {
            int done = 0;
            if (t->byte_fallback) { /* every byte as <0xNN>, or none of them */
                size_t k = 0;
                char code[8];
                for (; k < bl; k++) {
                    snprintf(code, sizeof code, "<0x%02X>", (unsigned char)buf[k]);
                    if (tk_model_id(t, code, 6) == TOK_NO_ID) break;
                }
                if (k == bl) {
                    for (k = 0; k < bl && !rc; k++) {
                        snprintf(code, sizeof code, "<0x%02X>", (unsigned char)buf[k]);
                        rc = word_add(&wd, tk_model_id(t, code, 6), 1);
                    }
                    done = 1;
                }
            }
            if (!done && t->unk_token) {
                if (t->unk_id < 0) {
                    rc = vx_fail(err, VX_ENOTFOUND, "tokenize: the unk token '%.40s' is not in model.vocab", t->unk_token);
                } else if (have_unk && t->fuse_unk) {
                    unk_len += cl;
                } else {
                    if (have_unk) rc = word_add(&wd, unk_id, unk_len);
                    unk_id = (uint32_t)t->unk_id; unk_len = cl; have_unk = 1;
                }
            }
            /* no unk token: the reference drops the character, and so do we */
        }
        i += cl;
    }
    if (!rc && have_unk) rc = word_add(&wd, unk_id, unk_len);
    /* merges (merge_all in bpe/word.rs) */
    for (size_t i = 0; i + 1 < wd.n && !rc; i++) {
        const pair_ent *p = pair_find(t, wd.s[i].id, wd.s[i + 1].id);
        if (p) rc = heap_push(&hp, (merge){ p->rank, i, p->merged });
    }
    while (hp.n && !rc) {
        merge top = heap_pop(&hp);
        sym *cur = &wd.s[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        size_t nx = (size_t)cur->next;
        const pair_ent *p = pair_find(t, cur->id, wd.s[nx].id);
        if (!p || p->merged != top.id) continue; /* an expired entry */
        cur->id = top.id;
        cur->len += wd.s[nx].len;
        cur->next = wd.s[nx].next;
        wd.s[nx].len = 0;
        if (cur->next >= 0) wd.s[cur->next].prev = (long)top.pos;
        if (cur->prev >= 0) {
            const pair_ent *q = pair_find(t, wd.s[cur->prev].id, cur->id);
            if (q) rc = heap_push(&hp, (merge){ q->rank, (size_t)cur->prev, q->merged });
        }
        cur = &wd.s[top.pos];
        if (!rc && cur->next >= 0) {
            const pair_ent *q = pair_find(t, cur->id, wd.s[cur->next].id);
            if (q) rc = heap_push(&hp, (merge){ q->rank, top.pos, q->merged });
        }
    }
    for (size_t i = 0; i < wd.n && !rc; i++)
        if (wd.s[i].len && tk_push(o, wd.s[i].id)) rc = VX_ENOMEM;
    free(buf); free(wd.s); free(hp.v);
    if (rc == VX_ENOMEM) return nomem(err);
    return rc;
}

/* --------------------------------------------------------------------- Unigram */

static int unigram_piece(const vx_tokenizer *t, tk_ids *o, const char *s, size_t n, vx_err *err) {
    if (n == 0) return 0;
    typedef struct best { double score; size_t from; uint32_t id; int set; } best;
    best *b = calloc(n + 1, sizeof *b);
    if (!b) return nomem(err);
    double unk_score = t->min_score - UNK_PENALTY;
    int rc = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = vx_utf8_next((const unsigned char *)s + i, n - i, &cp);
        double here = b[i].score;
        int single = 0;
        uint32_t node = 0;
        for (size_t j = i; j < n; j++) { /* common-prefix search, shortest first */
            node = tk_trie_child(&t->pieces, node, (uint8_t)s[j]);
            if (node == TOK_NO_ID) break;
            uint32_t id = t->pieces.val[node];
            if (id == TOK_NO_ID) continue;
            best *tg = &b[j + 1];
            double sc = t->score[id] + here;
            if (!tg->set || sc > tg->score) *tg = (best){ sc, i, id, 1 };
            if (j + 1 - i == cl) single = 1;
        }
        if (!single) {
            if (t->unk_id < 0) { free(b); return vx_fail(err, VX_ENOTFOUND, "tokenize: '%.*s' is not in the vocabulary and there is no unk_id", (int)cl, s + i); }
            best *tg = &b[i + cl];
            double sc = unk_score + here;
            if (!tg->set || sc > tg->score) *tg = (best){ sc, i, (uint32_t)t->unk_id, 1 };
        }
        i += cl;
    }
    /* backtrack; consecutive unk pieces fuse into one string, which is then looked up */
    size_t cnt = 0;
    for (size_t j = n; j > 0; j = b[j].from) cnt++;
    size_t *st = malloc((cnt + 1) * sizeof *st);
    uint32_t *ids = malloc((cnt + 1) * sizeof *ids);
    if (!st || !ids) { free(st); free(ids); free(b); return nomem(err); }
    size_t k = cnt;
    for (size_t j = n; j > 0; j = b[j].from) { k--; st[k] = b[j].from; ids[k] = b[j].id; }
    st[cnt] = n;
    for (size_t q = 0; q < cnt && !rc; q++) {
        size_t r = q;
        if (t->unk_id >= 0 && ids[q] == (uint32_t)t->unk_id)
            while (r + 1 < cnt && ids[r + 1] == (uint32_t)t->unk_id) r++;
        const char *ps = s + st[q];
        size_t pl = st[r + 1] - st[q];
        uint32_t id = tk_model_id(t, ps, pl);
        if (id == TOK_NO_ID && t->byte_fallback) {
            size_t start = o->n, m = 0;
            for (; m < pl && !rc; m++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", (unsigned char)ps[m]);
                uint32_t bid = tk_model_id(t, code, 6);
                if (bid == TOK_NO_ID) break;
                if (tk_push(o, bid)) rc = VX_ENOMEM;
            }
            if (m == pl) { q = r; continue; }
            o->n = start;
        }
        if (id == TOK_NO_ID) id = (uint32_t)t->unk_id;
        if (!rc && tk_push(o, id)) rc = VX_ENOMEM;
        q = r;
    }
    free(st); free(ids); free(b);
    return rc ? nomem(err) : 0;
}

/* ------------------------------------------------------------------- WordPiece */

static int unk_or_fail(const vx_tokenizer *t, tk_ids *o, const char *s, size_t n, vx_err *err) {
    if (t->unk_id < 0)
        return vx_fail(err, VX_ENOTFOUND, "tokenize: '%.*s' is not in the vocabulary and the unk token '%.40s' is not either",
                       (int)(n > 60 ? 60 : n), s, t->unk_token ? t->unk_token : "");
    return tk_push(o, (uint32_t)t->unk_id) ? nomem(err) : 0;
}

static int wordpiece_piece(const vx_tokenizer *t, tk_ids *o, const char *w, size_t n, vx_err *err) {
    size_t lp = strlen(t->sub_prefix), start = o->n, chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    if (chars > t->wp_max_chars) return unk_or_fail(t, o, w, n, err);
    char *buf = malloc(lp + n + 1);
    if (!buf) return nomem(err);
    memcpy(buf, t->sub_prefix, lp);
    int ok = 1;
    for (size_t i = 0; i < n && ok;) {
        size_t j = n;
        uint32_t id = TOK_NO_ID;
        for (; j > i; j--) {
            if (j < n && ((unsigned char)w[j] & 0xC0) == 0x80) continue;
            if (i == 0) id = tk_model_id(t, w, j);
            else { memcpy(buf + lp, w + i, j - i); id = tk_model_id(t, buf, lp + j - i); }
            if (id != TOK_NO_ID) break;
        }
        if (id == TOK_NO_ID) { ok = 0; break; }
        if (tk_push(o, id)) { free(buf); return nomem(err); }
        i = j;
    }
    free(buf);
    if (ok) return 0;
    o->n = start;
    return unk_or_fail(t, o, w, n, err);
}

int tk_model_encode(const vx_tokenizer *t, tk_ids *o, const char *s, size_t n, vx_err *err) {
    switch (t->model) {
    case MODEL_BPE: return bpe_piece(t, o, s, n, err);
    case MODEL_UNIGRAM: return unigram_piece(t, o, s, n, err);
    case MODEL_WORDPIECE: return wordpiece_piece(t, o, s, n, err);
    default: {
        uint32_t id = tk_model_id(t, s, n);
        if (id != TOK_NO_ID) return tk_push(o, id) ? nomem(err) : 0;
        return unk_or_fail(t, o, s, n, err);
    }
    }
}
