/*
 * tokenizer.c — reading tokenizer.json (the Hugging Face `tokenizers` serialisation)
 * into a vx_tokenizer: the dense id → raw-string table that vocab.bin is built from, and
 * everything the encoder (tok_encode.c, tok_model.c) needs — the model with its
 * vocabulary, merges or scores, the added tokens with their flags, and the normalizer and
 * pre-tokenizer chains, each flattened into a list of steps.
 *
 * The rules for what is accepted are spec/tokenizer.md §1; the table's checks are
 * spec/vocab-bin.md §6. A component the encoder does not implement is recorded, with its
 * place in the file, and reported by every vx_tokenize call: extraction still gets its
 * table, and no text is ever split by rules other than the model's own.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "tok_internal.h"

#define ID_LIMIT 2147483648.0 /* ids must be < 2^31 */

/* GPT-2's pre-tokenizer regex (ByteLevel with use_regex, pre_tokenizers/byte_level.rs). */
static const char GPT2_RE[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* The Whitespace pre-tokenizer's regex (Rust regex crate, matches kept, gaps removed). */
static const char WS_RE[] = "\\w+|[^\\w\\s]+";

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t p = 1;
    while (p < n && p < 0x80000000u) p <<= 1;
    return p;
}

int tk_push(tk_ids *o, uint32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        uint32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return VX_ENOMEM;
        o->v = v; o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

uint32_t tk_model_id(const vx_tokenizer *t, const char *s, size_t n) {
    if (!t->mslot) return TOK_NO_ID;
    uint32_t h = (uint32_t)XXH3_64bits(s, n) & t->mmask;
    for (;;) {
        uint32_t id = t->mslot[h];
        if (id == TOK_NO_ID) return TOK_NO_ID;
        if (t->tok_len[id] == n && memcmp(t->tok[id], s, n) == 0) return id;
        h = (h + 1) & t->mmask;
    }
}

/* ------------------------------------------------------------------------ tries */

int tk_trie_init(tk_trie *tr) {
    memset(tr, 0, sizeof *tr);
    tr->cap = 64;
    tr->val = malloc(tr->cap * sizeof *tr->val);
    tr->emask = 63;
    tr->ekey = malloc(64 * sizeof *tr->ekey);
    tr->echild = malloc(64 * sizeof *tr->echild);
    if (!tr->val || !tr->ekey || !tr->echild) { tk_trie_free(tr); return VX_ENOMEM; }
    memset(tr->ekey, 0xFF, 64 * sizeof *tr->ekey);
    tr->nodes = 1;
    tr->val[0] = TOK_NO_ID;
    return 0;
}

void tk_trie_free(tk_trie *tr) {
    free(tr->val); free(tr->ekey); free(tr->echild);
    memset(tr, 0, sizeof *tr);
}

static uint32_t edge_slot(const tk_trie *tr, uint64_t key) {
    uint32_t h = (uint32_t)XXH3_64bits(&key, sizeof key) & tr->emask;
    while (tr->ekey[h] != UINT64_MAX && tr->ekey[h] != key) h = (h + 1) & tr->emask;
    return h;
}

uint32_t tk_trie_child(const tk_trie *tr, uint32_t node, uint8_t b) {
    if (!tr->ekey) return TOK_NO_ID;
    uint32_t h = edge_slot(tr, (uint64_t)node << 8 | b);
    return tr->ekey[h] == UINT64_MAX ? TOK_NO_ID : tr->echild[h];
}

static int trie_grow_edges(tk_trie *tr) {
    uint32_t ncap = (tr->emask + 1) * 2;
    uint64_t *k = malloc((size_t)ncap * sizeof *k);
    uint32_t *c = malloc((size_t)ncap * sizeof *c);
    if (!k || !c) { free(k); free(c); return VX_ENOMEM; }
    memset(k, 0xFF, (size_t)ncap * sizeof *k);
    tk_trie o = *tr;
    tr->ekey = k; tr->echild = c; tr->emask = ncap - 1;
    for (uint32_t i = 0; i <= o.emask; i++)
        if (o.ekey[i] != UINT64_MAX) {
            uint32_t h = edge_slot(tr, o.ekey[i]);
            tr->ekey[h] = o.ekey[i];
            tr->echild[h] = o.echild[i];
        }
    free(o.ekey); free(o.echild);
    return 0;
}

int tk_trie_add(tk_trie *tr, const char *s, size_t n, uint32_t value) {
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)node << 8 | (uint8_t)s[i];
        uint32_t h = edge_slot(tr, key);
        if (tr->ekey[h] != UINT64_MAX) { node = tr->echild[h]; continue; }
        if (tr->nodes == 0xFFFFFFF0u) return VX_ENOMEM;
        if (tr->nodes == tr->cap) {
            uint32_t *v = realloc(tr->val, (size_t)tr->cap * 2 * sizeof *v);
            if (!v) return VX_ENOMEM;
            tr->val = v; tr->cap *= 2;
        }
        if (2 * ((uint64_t)tr->nedges + 1) > tr->emask + 1) {
            if (trie_grow_edges(tr)) return VX_ENOMEM;
            h = edge_slot(tr, key);
        }
        tr->ekey[h] = key;
        tr->echild[h] = tr->nodes;
        tr->nedges++;
        tr->val[tr->nodes] = TOK_NO_ID;
        node = tr->nodes++;
    }
    tr->val[node] = value;
    if (n > tr->depth) tr->depth = (uint32_t)n;
    return 0;
}

/* --------------------------------------------------------------------- parsing */

/* One (token, id) pair collected from model.vocab or added_tokens. */
typedef struct ent { const char *s; uint32_t id; double score; int added; const cJSON *obj; } ent;

/* Is `v` a JSON integer in 0..2^31-1? */
static int json_id(const cJSON *v, uint32_t *id) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < ID_LIMIT) || !vx_whole(d)) return 0;
    *id = (uint32_t)d;
    return 1;
}

static int bad_id(vx_err *err, const char *fname, const char *place, const char *tok, const cJSON *v) {
    if (cJSON_IsNumber(v))
        return vx_fail(err, VX_ECORRUPT, "%s: %s: token '%.40s' has id %.17g, expected an integer 0..2^31-1",
                       fname, place, tok, v->valuedouble);
    return vx_fail(err, VX_ECORRUPT, "%s: %s: token '%.40s' has a non-numeric id, expected an integer 0..2^31-1",
                   fname, place, tok);
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int str_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static const char *type_of(const cJSON *o) {
    const cJSON *v = get(o, "type");
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* A boolean field: true/false, or `dflt` when absent or null. */
static int flag(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = get(o, key);
    return cJSON_IsTrue(v) ? 1 : cJSON_IsFalse(v) ? 0 : dflt;
}

/* Record the first reason vx_tokenize must refuse. Always returns 0: parsing goes on. */
static int refuse(vx_tokenizer *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(vx_tokenizer *t, int code, const char *fmt, ...) {
    if (t->unsupported_rc) return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->unsupported, sizeof t->unsupported, fmt, ap);
    va_end(ap);
    t->unsupported_rc = code;
    return 0;
}

/* Pattern {"String": s} or {"Regex": r} of a Split / Replace compiled; refuses (records)
 * what cannot be compiled. Returns VX_ENOMEM or 0 (*re NULL when refused). */
static int pattern(vx_tokenizer *t, const cJSON *o, const char *place, vx_regex **re) {
    *re = NULL;
    const cJSON *p = get(o, "pattern");
    const cJSON *s = get(p, "String"), *r = get(p, "Regex");
    char why[160];
    int rc;
    if (cJSON_IsString(s)) {
        if (!*s->valuestring) return refuse(t, VX_EUNSUPPORTED, "%s: an empty String pattern", place);
        rc = vx_regex_literal(re, s->valuestring, strlen(s->valuestring));
        return rc == VX_ENOMEM ? rc : 0;
    }
    if (!cJSON_IsString(r)) return refuse(t, VX_ECORRUPT, "%s: pattern is neither {\"String\": ...} nor {\"Regex\": ...}", place);
    rc = vx_regex_compile(re, r->valuestring, strlen(r->valuestring), VX_RE_ONIG, why, sizeof why);
    if (rc == VX_ENOMEM) return rc;
    if (rc) return refuse(t, rc, "%s: regex %s", place, why);
    return 0;
}

static int behavior_of(const cJSON *o, int dflt, int *out) {
    const cJSON *b = get(o, "behavior");
    static const char *const names[] = { "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous" };
    if (!b) { *out = dflt; return 1; }
    for (int i = 0; i < 5; i++)
        if (cJSON_IsString(b) && strcmp(b->valuestring, names[i]) == 0) { *out = i; return 1; }
    return 0;
}

/* One character (a JSON string of exactly one code point); 0 if it is not. */
static int one_char(const cJSON *v, uint32_t *cp) {
    if (!cJSON_IsString(v)) return 0;
    size_t n = strlen(v->valuestring);
    size_t l = n ? vx_utf8_seq((const unsigned char *)v->valuestring, n, cp) : 0;
    return l && l == n;
}

static int add_norm(vx_tokenizer *t, tk_norm nz) {
    tk_norm *n = realloc(t->norm, (t->n_norm + 1) * sizeof *n);
    if (!n) { vx_regex_free(nz.re); free(nz.str); return VX_ENOMEM; }
    t->norm = n;
    t->norm[t->n_norm++] = nz;
    return 0;
}

static int add_pre(vx_tokenizer *t, tk_pretok pt) {
    tk_pretok *p = realloc(t->pre, (t->n_pre + 1) * sizeof *p);
    if (!p) { vx_regex_free(pt.re); return VX_ENOMEM; }
    t->pre = p;
    t->pre[t->n_pre++] = pt;
    return 0;
}

static int on_normalizer(vx_tokenizer *t, const cJSON *o, const char *place) {
    const char *ty = type_of(o);
    tk_norm nz;
    memset(&nz, 0, sizeof nz);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *c;
        size_t i = 0;
        cJSON_ArrayForEach(c, get(o, "normalizers")) {
            char sub[120];
            snprintf(sub, sizeof sub, "%.80s.normalizers[%zu]", place, i++);
            int rc = on_normalizer(t, c, sub);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(ty, "NFC")) nz.kind = NZ_NFC;
    else if (!strcmp(ty, "NFD")) nz.kind = NZ_NFD;
    else if (!strcmp(ty, "NFKC")) nz.kind = NZ_NFKC;
    else if (!strcmp(ty, "NFKD")) nz.kind = NZ_NFKD;
    else if (!strcmp(ty, "Lowercase")) nz.kind = NZ_LOWER;
    else if (!strcmp(ty, "StripAccents")) nz.kind = NZ_STRIP_ACCENTS;
    else if (!strcmp(ty, "Nmt")) nz.kind = NZ_NMT;
    else if (!strcmp(ty, "ByteLevel")) { nz.kind = NZ_BYTELEVEL; t->style = VX_STYLE_BYTELEVEL; }
    else if (!strcmp(ty, "Strip")) {
        nz.kind = NZ_STRIP;
        nz.left = flag(o, "strip_left", 1);
        nz.right = flag(o, "strip_right", 1);
    } else if (!strcmp(ty, "Prepend")) {
        const cJSON *p = get(o, "prepend");
        if (!cJSON_IsString(p)) return refuse(t, VX_ECORRUPT, "%s: Prepend without a \"prepend\" string", place);
        if (strcmp(p->valuestring, "\xE2\x96\x81") == 0 && t->style != VX_STYLE_BYTELEVEL) t->style = VX_STYLE_METASPACE;
        nz.kind = NZ_PREPEND;
        nz.str_len = strlen(p->valuestring);
        if (!(nz.str = dup_str(p->valuestring, nz.str_len))) return VX_ENOMEM;
    } else if (!strcmp(ty, "Replace")) {
        const cJSON *c = get(o, "content");
        if (!cJSON_IsString(c)) return refuse(t, VX_ECORRUPT, "%s: Replace without a \"content\" string", place);
        nz.kind = NZ_REPLACE;
        char where[140];
        snprintf(where, sizeof where, "%.100s (Replace)", place);
        int rc = pattern(t, o, where, &nz.re);
        if (rc || !nz.re) return rc;
        nz.str_len = strlen(c->valuestring);
        if (!(nz.str = dup_str(c->valuestring, nz.str_len))) { vx_regex_free(nz.re); return VX_ENOMEM; }
    } else if (!strcmp(ty, "BertNormalizer")) {
        nz.kind = NZ_BERT;
        nz.clean = flag(o, "clean_text", 1);
        nz.chinese = flag(o, "handle_chinese_chars", 1);
        nz.lower = flag(o, "lowercase", 1);
        nz.strip_accents = flag(o, "strip_accents", nz.lower);
    } else {
        return refuse(t, VX_EUNSUPPORTED, "%s: normalizer %.40s is not implemented", place, *ty ? ty : "without a type");
    }
    return add_norm(t, nz);
}

static int on_pretok(vx_tokenizer *t, const cJSON *o, const char *place) {
    const char *ty = type_of(o);
    tk_pretok pt;
    memset(&pt, 0, sizeof pt);
    char why[160];
    int rc;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *c;
        size_t i = 0;
        cJSON_ArrayForEach(c, get(o, "pretokenizers")) {
            char sub[120];
            snprintf(sub, sizeof sub, "%.80s.pretokenizers[%zu]", place, i++);
            if ((rc = on_pretok(t, c, sub))) return rc;
        }
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        t->style = VX_STYLE_BYTELEVEL;
        pt.kind = PT_BYTELEVEL;
        pt.prefix_space = flag(o, "add_prefix_space", 1);
        pt.use_regex = flag(o, "use_regex", 1);
        if (pt.use_regex) {
            rc = vx_regex_compile(&pt.re, GPT2_RE, strlen(GPT2_RE), VX_RE_ONIG, why, sizeof why);
            if (rc) return rc;
        }
    } else if (!strcmp(ty, "Split")) {
        pt.kind = PT_SPLIT;
        pt.invert = flag(o, "invert", 0);
        if (!behavior_of(o, -1, &pt.behavior) || pt.behavior < 0)
            return refuse(t, VX_ECORRUPT, "%s: Split behavior is not one of Removed, Isolated, MergedWithPrevious, "
                                          "MergedWithNext, Contiguous", place);
        char where[140];
        snprintf(where, sizeof where, "%.100s (Split)", place);
        if ((rc = pattern(t, o, where, &pt.re)) || !pt.re) return rc;
    } else if (!strcmp(ty, "Metaspace")) {
        if (t->style != VX_STYLE_BYTELEVEL) t->style = VX_STYLE_METASPACE;
        pt.kind = PT_METASPACE;
        const cJSON *r = get(o, "replacement");
        pt.ch = 0x2581;
        if (r && !one_char(r, &pt.ch)) return refuse(t, VX_ECORRUPT, "%s: Metaspace replacement is not one character", place);
        pt.prepend = PREPEND_ALWAYS;
        const cJSON *ps = get(o, "prepend_scheme");
        if (cJSON_IsString(ps)) {
            if (!strcmp(ps->valuestring, "first")) pt.prepend = PREPEND_FIRST;
            else if (!strcmp(ps->valuestring, "never")) pt.prepend = PREPEND_NEVER;
            else if (strcmp(ps->valuestring, "always"))
                return refuse(t, VX_ECORRUPT, "%s: Metaspace prepend_scheme '%.20s'", place, ps->valuestring);
        }
        if (cJSON_IsFalse(get(o, "add_prefix_space"))) pt.prepend = PREPEND_NEVER; /* legacy form */
        pt.split = flag(o, "split", 1);
    } else if (!strcmp(ty, "Digits")) {
        pt.kind = PT_DIGITS;
        pt.behavior = flag(o, "individual_digits", 0) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS;
    } else if (!strcmp(ty, "Punctuation")) {
        pt.kind = PT_PUNCT;
        if (!behavior_of(o, SPLIT_ISOLATED, &pt.behavior))
            return refuse(t, VX_ECORRUPT, "%s: Punctuation behavior is not a known one", place);
    } else if (!strcmp(ty, "Whitespace")) {
        pt.kind = PT_WHITESPACE;
        if ((rc = vx_regex_compile(&pt.re, WS_RE, strlen(WS_RE), VX_RE_RUST, why, sizeof why))) return rc;
    } else if (!strcmp(ty, "WhitespaceSplit")) {
        pt.kind = PT_WSSPLIT;
    } else if (!strcmp(ty, "BertPreTokenizer")) {
        pt.kind = PT_WSSPLIT;
        if ((rc = add_pre(t, pt))) return rc;
        pt.kind = PT_PUNCT;
        pt.behavior = SPLIT_ISOLATED;
    } else if (!strcmp(ty, "CharDelimiterSplit")) {
        pt.kind = PT_DELIM;
        if (!one_char(get(o, "delimiter"), &pt.ch))
            return refuse(t, VX_ECORRUPT, "%s: CharDelimiterSplit delimiter is not one character", place);
    } else if (!strcmp(ty, "FixedLength")) {
        pt.kind = PT_FIXED;
        const cJSON *l = get(o, "length");
        pt.fixed = 5;
        if (l) {
            if (!cJSON_IsNumber(l) || !(l->valuedouble >= 1 && l->valuedouble <= 1e9))
                return refuse(t, VX_ECORRUPT, "%s: FixedLength length is not a positive integer", place);
            pt.fixed = (size_t)l->valuedouble;
        }
    } else {
        return refuse(t, VX_EUNSUPPORTED, "%s: pre-tokenizer %.40s is not implemented", place, *ty ? ty : "without a type");
    }
    return add_pre(t, pt);
}

/* Decoders only tell how a token reads (the style). */
static void on_decoder(vx_tokenizer *t, const cJSON *o) {
    const char *ty = type_of(o);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *c;
        cJSON_ArrayForEach(c, get(o, "decoders")) on_decoder(t, c);
        return;
    }
    const cJSON *pat = get(get(o, "pattern"), "String");
    if (strcmp(ty, "ByteLevel") == 0) t->style = VX_STYLE_BYTELEVEL;
    else if (t->style != VX_STYLE_BYTELEVEL &&
             (strcmp(ty, "Metaspace") == 0 ||
              (strcmp(ty, "Replace") == 0 && cJSON_IsString(pat) && strcmp(pat->valuestring, "\xE2\x96\x81") == 0 &&
               str_is(o, "content", " "))))
        t->style = VX_STYLE_METASPACE;
}

/* Collect model.vocab into `e` (appending). */
static int collect_vocab(ent **e, size_t *ne, size_t *cap, const cJSON *vocab, int model, const char *fname,
                         vx_err *err) {
    size_t idx = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, vocab) {
        ent x = { NULL, 0, NAN, 0, NULL };
        if (model == MODEL_UNIGRAM) {
            const cJSON *p = cJSON_GetArrayItem(c, 0), *s = cJSON_GetArrayItem(c, 1);
            if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != 2 || !cJSON_IsString(p))
                return vx_fail(err, VX_ECORRUPT, "%s: model.vocab[%zu]: expected [piece (string), score]", fname, idx);
            if (!cJSON_IsNumber(s) || !isfinite(s->valuedouble))
                return vx_fail(err, VX_ECORRUPT, "%s: model.vocab[%zu]: piece '%.40s' has a non-numeric score",
                               fname, idx, p->valuestring);
            if (idx >= (size_t)ID_LIMIT)
                return vx_fail(err, VX_ECORRUPT, "%s: model.vocab: more than 2^31 pieces", fname);
            x.s = p->valuestring; x.id = (uint32_t)idx; x.score = s->valuedouble;
        } else {
            if (!c->string) return vx_fail(err, VX_ECORRUPT, "%s: model.vocab: expected an object {token: id}", fname);
            if (!json_id(c, &x.id)) return bad_id(err, fname, "model.vocab", c->string, c);
            x.s = c->string;
        }
        if (*ne == *cap) {
            size_t nc = *cap ? *cap * 2 : 1024;
            ent *ee = realloc(*e, nc * sizeof *ee);
            if (!ee) return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
            *e = ee; *cap = nc;
        }
        (*e)[(*ne)++] = x;
        idx++;
    }
    return 0;
}

/* The merge ranks: (left id, right id) → (rank, merged id). A pair listed twice keeps its
 * last rank, as the reference's map (collected in order) does. */
static int build_merges(vx_tokenizer *t, const cJSON *merges, const char *fname, vx_err *err) {
    size_t n = (size_t)cJSON_GetArraySize(merges);
    t->pmask = pow2_at_least(2 * (uint64_t)n + 1) - 1;
    t->pairs = malloc(((size_t)t->pmask + 1) * sizeof *t->pairs);
    if (!t->pairs) return vx_fail(err, VX_ENOMEM, "%s: out of memory for %zu merges", fname, n);
    for (size_t i = 0; i <= t->pmask; i++) t->pairs[i].key = UINT64_MAX;
    size_t rank = 0, idx = 0, plen = t->sub_prefix ? strlen(t->sub_prefix) : 0;
    const cJSON *m;
    char *cat = NULL;
    int rc = 0;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(m)) {
            /* legacy "a b"; "#version" lines are comments (bpe/model.rs) */
            if (strncmp(m->valuestring, "#version", 8) == 0) { idx++; continue; }
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp) { rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges[%zu]: '%.40s' is not \"left right\"", fname, idx, m->valuestring); goto out; }
            a = m->valuestring; la = (size_t)(sp - a); b = sp + 1; lb = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            a = cJSON_GetArrayItem(m, 0)->valuestring; la = strlen(a);
            b = cJSON_GetArrayItem(m, 1)->valuestring; lb = strlen(b);
        } else {
            rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", fname, idx);
            goto out;
        }
        /* the merged token drops the right part's continuing_subword_prefix (bpe/model.rs) */
        size_t skip = plen && lb >= plen && memcmp(b, t->sub_prefix, plen) == 0 ? plen : 0;
        free(cat);
        if (!(cat = malloc(la + lb + 1))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
        memcpy(cat, a, la); memcpy(cat + la, b + skip, lb - skip);
        uint32_t ia = tk_model_id(t, a, la), ib = tk_model_id(t, b, lb), im = tk_model_id(t, cat, la + lb - skip);
        if (ia == TOK_NO_ID || ib == TOK_NO_ID || im == TOK_NO_ID) {
            /* the reference refuses such files too (MergeTokenOutOfVocabulary) */
            rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges[%zu]: '%.*s' + '%.*s': %s not in model.vocab", fname, idx,
                         (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b,
                         im != TOK_NO_ID ? "a part is" : "the merged token is");
            goto out;
        }
        uint64_t key = (uint64_t)ia << 32 | ib;
        uint32_t h = (uint32_t)XXH3_64bits(&key, sizeof key) & t->pmask;
        while (t->pairs[h].key != UINT64_MAX && t->pairs[h].key != key) h = (h + 1) & t->pmask;
        t->pairs[h] = (pair_ent){ key, (uint32_t)rank, im };
        rank++; idx++;
    }
out:
    free(cat);
    return rc;
}

/* Normalize an added token's content with the tokenizer's normalizer (tok_encode.c). */
int tk_normalize(const vx_tokenizer *t, char **out, size_t *out_len, const char *s, size_t n, vx_err *err);

static int build_added(vx_tokenizer *t, const ent *e, size_t ne, size_t n_model, const char *fname, vx_err *err) {
    size_t na = ne - n_model;
    uint32_t next_id = t->model_size;
    t->added = calloc(na ? na : 1, sizeof *t->added);
    const char **astr = calloc(na ? na : 1, sizeof *astr); /* [n_added] contents, for duplicates */
    size_t *alen = calloc(na ? na : 1, sizeof *alen);
    if (!t->added || !astr || !alen || tk_trie_init(&t->added_raw) || tk_trie_init(&t->added_norm)) {
        free(astr); free(alen);
        return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
    }
    for (size_t i = n_model; i < ne; i++) {
        const cJSON *a = e[i].obj;
        const char *content = e[i].s;
        size_t cl = strlen(content);
        if (!cl) continue; /* the reference ignores empty added tokens */
        tk_added ad;
        memset(&ad, 0, sizeof ad);
        ad.special = (uint8_t)flag(a, "special", 0);
        ad.single_word = (uint8_t)flag(a, "single_word", 0);
        ad.lstrip = (uint8_t)flag(a, "lstrip", 0);
        ad.rstrip = (uint8_t)flag(a, "rstrip", 0);
        ad.normalized = (uint8_t)flag(a, "normalized", !ad.special);
        /* The reference encodes an added token to the id it assigns when it loads the
         * file (AddedVocabulary::add_tokens): an earlier added token's with the same
         * content, else model.vocab's, else the next id from the model's size on —
         * whatever the file says; it only warns when they differ. The table (and so
         * vocab.bin) follows the file: when the assigned id holds another string there,
         * the ids could not be read back, and the file is refused. */
        uint32_t id = TOK_NO_ID;
        for (size_t k = 0; k < t->n_added && id == TOK_NO_ID; k++)
            if (alen[k] == cl && memcmp(astr[k], content, cl) == 0) id = t->added[k].id;
        if (id == TOK_NO_ID) id = tk_model_id(t, content, cl);
        if (id == TOK_NO_ID) id = next_id++;
        if (id >= t->size || !t->tok[id] || t->tok_len[id] != cl || memcmp(t->tok[id], content, cl) != 0)
            refuse(t, VX_ECORRUPT, "added_tokens[%zu] '%.40s': id %u in the file, but the reference assigns it id %u",
                   i - n_model, content, e[i].id, id);
        ad.id = id;
        size_t slot = t->n_added++;
        astr[slot] = content;
        alen[slot] = cl;
        t->added[slot] = ad;
        int rc = 0;
        if (!ad.normalized) {
            rc = tk_trie_add(&t->added_raw, content, cl, (uint32_t)slot);
        } else if (!t->unsupported_rc) {
            char *nc = NULL;
            size_t nl = 0;
            vx_err e2 = { 0 };
            rc = tk_normalize(t, &nc, &nl, content, cl, &e2);
            if (rc == 0 && nl) rc = tk_trie_add(&t->added_norm, nc, nl, (uint32_t)slot);
            else if (rc && rc != VX_ENOMEM) rc = refuse(t, rc, "added token '%.40s': %s", content, e2.msg);
            free(nc);
        }
        if (rc) { free(astr); free(alen); return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); }
    }
    free(astr); free(alen);
    return 0;
}

int vx_tokenizer_parse(vx_tokenizer **out, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    *out = NULL;
    if (!fname) fname = "tokenizer.json";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
    if (!root) {
        size_t at = end && end >= (const char *)buf ? (size_t)(end - (const char *)buf) : 0;
        return vx_fail(err, VX_ECORRUPT, "%s: invalid or truncated JSON near byte %zu of %zu", fname, at, len);
    }
    for (const char *p = end; p && p < (const char *)buf + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return vx_fail(err, VX_ECORRUPT, "%s: byte %zu: data after the JSON value", fname,
                           (size_t)(p - (const char *)buf));
        }
    int rc = 0;
    ent *e = NULL;
    size_t ne = 0, cap = 0;
    vx_tokenizer *t = calloc(1, sizeof *t);
    if (!t) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
    t->unk_id = -1;

    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(model)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: expected an object with a \"model\" object", fname);
        goto done;
    }
    const cJSON *vocab = get(model, "vocab");
    const cJSON *merges = get(model, "merges");
    const cJSON *mt = get(model, "type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring
                     : cJSON_IsArray(merges) ? "BPE" : cJSON_IsArray(vocab) ? "Unigram" : "?";
    if (strcmp(type, "BPE") == 0) t->model = MODEL_BPE;
    else if (strcmp(type, "Unigram") == 0) t->model = MODEL_UNIGRAM;
    else if (strcmp(type, "WordPiece") == 0) t->model = MODEL_WORDPIECE;
    else if (strcmp(type, "WordLevel") == 0) t->model = MODEL_WORDLEVEL;
    else {
        rc = vx_fail(err, VX_EUNSUPPORTED, "%s: model.type: '%.40s' is not BPE, Unigram, WordPiece or WordLevel", fname, type);
        goto done;
    }

    if (t->model == MODEL_UNIGRAM ? !cJSON_IsArray(vocab) : !cJSON_IsObject(vocab)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: model.vocab: expected %s", fname,
                     t->model == MODEL_UNIGRAM ? "a list of [piece, score]" : "an object {token: id}");
        goto done;
    }
    if ((rc = collect_vocab(&e, &ne, &cap, vocab, t->model, fname, err))) goto done;
    size_t n_model = ne;

    const cJSON *added = get(root, "added_tokens"), *a;
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: added_tokens: expected a list", fname);
        goto done;
    }
    size_t ai = 0;
    cJSON_ArrayForEach(a, added) {
        char place[48];
        snprintf(place, sizeof place, "added_tokens[%zu]", ai);
        const cJSON *c = get(a, "content");
        if (!cJSON_IsString(c)) { rc = vx_fail(err, VX_ECORRUPT, "%s: %s: content is not a string", fname, place); goto done; }
        ent x = { c->valuestring, 0, NAN, 1, a };
        if (!json_id(get(a, "id"), &x.id)) {
            rc = bad_id(err, fname, place, c->valuestring, get(a, "id"));
            goto done;
        }
        if (ne == cap) {
            ent *ee = realloc(e, (cap = cap ? cap * 2 : 16) * sizeof *ee);
            if (!ee) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
            e = ee;
        }
        e[ne++] = x;
        ai++;
    }

    uint64_t size = 0;
    for (size_t i = 0; i < ne; i++) if (e[i].id + (uint64_t)1 > size) size = e[i].id + (uint64_t)1;
    /* Dense tables are indexed by id, so a handful of tokens with an id near 2^31 would
     * make us allocate gigabytes: real tokenizers number their tokens densely. */
    if (size > 4 * (uint64_t)ne + 65536) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: ids are too sparse: largest id %llu for %zu tokens", fname,
                     (unsigned long long)(size - 1), ne);
        goto done;
    }
    t->size = (uint32_t)size;
    t->tok = calloc(size ? size : 1, sizeof *t->tok);
    t->tok_len = calloc(size ? size : 1, sizeof *t->tok_len);
    t->in_model = calloc(size ? size : 1, 1);
    if (t->model == MODEL_UNIGRAM) t->score = malloc((size ? size : 1) * sizeof *t->score);
    if (!t->tok || !t->tok_len || !t->in_model || (t->model == MODEL_UNIGRAM && !t->score)) {
        rc = vx_fail(err, VX_ENOMEM, "%s: out of memory for %llu ids", fname, (unsigned long long)size);
        goto done;
    }
    if (t->score) for (uint64_t i = 0; i < size; i++) t->score[i] = NAN;
    t->min_score = INFINITY;
    for (size_t i = 0; i < ne; i++) {
        uint32_t id = e[i].id;
        size_t l = strlen(e[i].s);
        if (l > 0xFFFFFFFFu) { rc = vx_fail(err, VX_ECORRUPT, "%s: token %u is too long", fname, id); goto done; }
        if (t->tok[id]) {
            if (strcmp(t->tok[id], e[i].s) != 0) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: %s: id %u is given to two different tokens, '%.40s' and '%.40s'",
                             fname, e[i].added ? "added_tokens" : "model.vocab", id, t->tok[id], e[i].s);
                goto done;
            }
        } else {
            if (!(t->tok[id] = dup_str(e[i].s, l))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
            t->tok_len[id] = (uint32_t)l;
            t->count++;
        }
        if (!e[i].added) {
            t->in_model[id] = 1;
            if (t->score) {
                t->score[id] = e[i].score;
                if (e[i].score < t->min_score) t->min_score = e[i].score;
            }
        }
    }

    /* model.vocab: string → id, the last of duplicates winning as in the reference's map */
    t->mmask = pow2_at_least(2 * (uint64_t)n_model + 1) - 1;
    if (!(t->mslot = malloc(((size_t)t->mmask + 1) * sizeof *t->mslot))) {
        rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
        goto done;
    }
    memset(t->mslot, 0xFF, ((size_t)t->mmask + 1) * sizeof *t->mslot);
    for (size_t i = 0; i < n_model; i++) {
        uint32_t id = e[i].id;
        uint32_t h = (uint32_t)XXH3_64bits(t->tok[id], t->tok_len[id]) & t->mmask;
        for (;;) {
            uint32_t o = t->mslot[h];
            if (o == TOK_NO_ID || (t->tok_len[o] == t->tok_len[id] && memcmp(t->tok[o], t->tok[id], t->tok_len[id]) == 0)) {
                t->model_size += o == TOK_NO_ID;
                t->mslot[h] = id;
                break;
            }
            h = (h + 1) & t->mmask;
        }
    }

    /* model options */
    t->byte_fallback = flag(model, "byte_fallback", 0);
    t->ignore_merges = flag(model, "ignore_merges", 0);
    const cJSON *unk = get(model, t->model == MODEL_UNIGRAM ? "unk_id" : "unk_token");
    if (t->model == MODEL_UNIGRAM) {
        uint32_t u;
        if (unk && !cJSON_IsNull(unk)) {
            if (!json_id(unk, &u) || u >= n_model) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: model.unk_id: expected an index into model.vocab (0..%zu)", fname,
                             n_model ? n_model - 1 : 0);
                goto done;
            }
            t->unk_id = u;
        }
    } else {
        const char *u = cJSON_IsString(unk) ? unk->valuestring : t->model == MODEL_WORDPIECE ? "[UNK]" : NULL;
        if (t->model == MODEL_WORDLEVEL && !u) u = "<unk>";
        if (u) {
            if (!(t->unk_token = strdup(u))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
            uint32_t id = tk_model_id(t, u, strlen(u));
            if (id != TOK_NO_ID) t->unk_id = id;
        }
    }
    if (t->model == MODEL_BPE || t->model == MODEL_WORDPIECE) {
        const cJSON *p = get(model, "continuing_subword_prefix");
        const char *pre = cJSON_IsString(p) ? p->valuestring : t->model == MODEL_WORDPIECE ? "##" : NULL;
        if (pre && (*pre || t->model == MODEL_WORDPIECE) && !(t->sub_prefix = strdup(pre))) {
            rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
            goto done;
        }
    }
    if (t->model == MODEL_BPE) {
        t->fuse_unk = flag(model, "fuse_unk", 0);
        const cJSON *s = get(model, "end_of_word_suffix");
        if (cJSON_IsString(s) && *s->valuestring && !(t->eow_suffix = strdup(s->valuestring))) {
            rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
            goto done;
        }
        const cJSON *d = get(model, "dropout");
        if (cJSON_IsNumber(d) && d->valuedouble != 0)
            refuse(t, VX_EUNSUPPORTED, "model.dropout %g: BPE dropout samples a different split each time", d->valuedouble);
        if (merges && !cJSON_IsArray(merges)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges: expected a list", fname);
            goto done;
        }
        if ((rc = build_merges(t, merges, fname, err))) goto done;
    }
    if (t->model == MODEL_WORDPIECE) {
        const cJSON *m = get(model, "max_input_chars_per_word");
        t->wp_max_chars = cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble < 1e9 ? (uint32_t)m->valuedouble : 100;
    }
    if (t->model == MODEL_UNIGRAM) {
        t->fuse_unk = 1;
        if (tk_trie_init(&t->pieces)) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
        for (size_t i = 0; i < n_model; i++)
            if (tk_trie_add(&t->pieces, t->tok[e[i].id], t->tok_len[e[i].id], e[i].id)) {
                rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
                goto done;
            }
    }

    /* the chains; style: the decoder is the ground truth for how a token reads, the
     * pre-tokenizer and normalizer for how text becomes pieces; ByteLevel anywhere wins */
    t->style = VX_STYLE_PLAIN;
    const cJSON *nz = get(root, "normalizer"), *pt = get(root, "pre_tokenizer");
    if ((cJSON_IsObject(nz) && (rc = on_normalizer(t, nz, "normalizer"))) ||
        (cJSON_IsObject(pt) && (rc = on_pretok(t, pt, "pre_tokenizer")))) {
        rc = vx_fail(err, rc, "%s: %s", fname, rc == VX_ENOMEM ? "out of memory" : "internal pattern failed to compile");
        goto done;
    }
    if (nz && !cJSON_IsNull(nz) && !cJSON_IsObject(nz)) refuse(t, VX_ECORRUPT, "normalizer: expected an object or null");
    if (pt && !cJSON_IsNull(pt) && !cJSON_IsObject(pt)) refuse(t, VX_ECORRUPT, "pre_tokenizer: expected an object or null");
    on_decoder(t, get(root, "decoder"));
    /* cJSON ends a string at U+0000, so a token holding "\u0000" would be read short */
    for (size_t i = 0; i + 6 <= len; i++) {
        if (memcmp(buf + i, "\\u0000", 6) != 0) continue;
        size_t bs = 0;
        while (bs < i && buf[i - 1 - bs] == '\\') bs++;
        if (bs % 2 == 0) {
            refuse(t, VX_EUNSUPPORTED, "byte %zu: a string holds U+0000 (\\u0000), which the JSON reader cannot keep", i);
            break;
        }
    }
    if ((rc = build_added(t, e, ne, n_model, fname, err))) goto done;

done:
    free(e);
    cJSON_Delete(root);
    if (rc) { vx_tokenizer_free(t); return rc; }
    *out = t;
    return 0;
}

void vx_tokenizer_free(vx_tokenizer *t) {
    if (!t) return;
    if (t->tok) for (uint32_t i = 0; i < t->size; i++) free(t->tok[i]);
    for (size_t i = 0; i < t->n_norm; i++) { vx_regex_free(t->norm[i].re); free(t->norm[i].str); }
    for (size_t i = 0; i < t->n_pre; i++) vx_regex_free(t->pre[i].re);
    free(t->norm); free(t->pre);
    free(t->tok); free(t->tok_len); free(t->in_model); free(t->score); free(t->mslot); free(t->pairs);
    free(t->added);
    tk_trie_free(&t->added_raw); tk_trie_free(&t->added_norm); tk_trie_free(&t->pieces);
    free(t->unk_token); free(t->sub_prefix); free(t->eow_suffix);
    free(t);
}

vx_tok_style vx_tokenizer_style(const vx_tokenizer *t) { return t->style; }
uint32_t vx_tokenizer_size(const vx_tokenizer *t) { return t->size; }
const char *vx_tokenizer_unsupported(const vx_tokenizer *t) { return t->unsupported_rc ? t->unsupported : NULL; }

const char *vx_tokenizer_token(const vx_tokenizer *t, uint32_t id, size_t *len) {
    if (id >= t->size || !t->tok[id]) { if (len) *len = 0; return NULL; }
    if (len) *len = t->tok_len[id];
    return t->tok[id];
}
