/*
 * tokenizer.c — reading tokenizer.json (the Hugging Face `tokenizers` serialisation)
 * and splitting text into token ids with the tokenizer's own rules.
 *
 * vx_tokenizer_parse turns the JSON into a dense id → raw-string table (model.vocab ∪
 * added_tokens), a string → lowest-id hash, the BPE merge ranks and the pieces of the
 * normalizer / pre-tokenizer chain the encoder needs. vocab.c serialises the table into
 * vocab.bin; vx_tokenize is used at extraction and query time to turn a word the user
 * typed into ids when it is not a single vocabulary entry.
 *
 * What the encoder implements (spec/vocab-bin.md §Tokenizing, hf-formats.md §5):
 *  - input is first split on added tokens (longest match wins), which map to their id;
 *  - ByteLevel + BPE (GPT-2, Llama-3, Qwen): the GPT-2 pre-tokenizer regex
 *      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *    with \p{L} = ASCII letters plus EVERY non-ASCII UTF-8 sequence, \p{N} = ASCII
 *    digits, \s = ASCII whitespace. So non-ASCII punctuation, digits and spaces count as
 *    letters; model-specific Split regexes (Llama-3's \p{N}{1,3}, case-insensitive
 *    contractions) are approximated by this one. Then the GPT-2 byte map and BPE merges.
 *  - SentencePiece style (Metaspace / Prepend+Replace normalizers): spaces become ▁ per
 *    the chain, then BPE merges with <0xNN> byte fallback (Llama-2) or Unigram Viterbi
 *    (T5, Gemma-style Unigram) with byte fallback, unk otherwise.
 *  - WordPiece: ASCII whitespace/punctuation split, optional ASCII lowercasing, greedy
 *    longest match with the continuing-subword prefix.
 * Unicode normalizers (NFC/NFKC/...) are treated as the identity on ASCII input and make
 * non-ASCII input VX_EUNSUPPORTED: we would rather refuse than guess.
 */
#include "vocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

enum { MODEL_BPE, MODEL_UNIGRAM, MODEL_WORDPIECE };
enum { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };
enum { NORM_PREPEND, NORM_REPLACE, NORM_LOWER, NORM_UNICODE };

#define NO_ID 0xFFFFFFFFu
#define ID_LIMIT 2147483648.0 /* ids must be < 2^31 */
#define UNK_PENALTY 10.0      /* Unigram: unknown char scores min_score - 10 (sentencepiece) */

typedef struct norm_op {
    int op;
    char *a, *b; /* PREPEND: a; REPLACE: a → b */
} norm_op;

typedef struct pair_ent {
    uint64_t key;     /* left id << 32 | right id; UINT64_MAX = empty */
    uint32_t rank;    /* position in model.merges */
    uint32_t merged;  /* id of left+right */
} pair_ent;

struct vx_tokenizer {
    vx_tok_style style;
    int model;
    uint32_t size;        /* 1 + largest id */
    size_t count;         /* ids that hold a token */
    char **tok;           /* [size] raw strings, NUL-terminated; NULL where no token */
    uint32_t *tok_len;    /* [size] bytes */
    double *score;        /* [size] Unigram scores, NAN outside model.vocab; NULL unless Unigram */
    uint32_t *slot;       /* [mask+1] raw string → lowest id, open addressing, NO_ID empty */
    uint32_t mask;
    pair_ent *pairs;      /* [pmask+1] BPE merges; NULL unless BPE */
    uint32_t pmask;
    uint32_t *added;      /* [n_added] ids of added_tokens, matched before the model */
    size_t n_added;
    int64_t unk_id;       /* -1: none */
    int byte_fallback, ignore_merges, fuse_unk;
    int bpe_affix;        /* continuing_subword_prefix / end_of_word_suffix set: unsupported */
    uint32_t max_len;     /* longest raw token in bytes */
    double min_score;     /* Unigram */
    int bl_prefix_space;  /* ByteLevel add_prefix_space */
    int ms;               /* a Metaspace pre-tokenizer is present */
    char ms_repl[8];
    int ms_prepend, ms_split;
    norm_op *norm;        /* [n_norm] normalizer chain in order */
    size_t n_norm;
    char norm_bad[48];    /* first normalizer we cannot apply; "" if none */
    char *wp_prefix;      /* WordPiece continuing_subword_prefix */
    uint32_t wp_max_chars;
    int wp_lower;
};

/* ------------------------------------------------------------------ small helpers */

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* Bytes in the UTF-8 sequence starting at s[0] (1 for a stray or truncated byte), so
 * that walking never leaves the buffer whatever the input. */
static size_t u8len(const unsigned char *s, size_t avail) {
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    if (n > avail) return 1;
    for (size_t i = 1; i < n; i++) if ((s[i] & 0xC0) != 0x80) return 1;
    return n;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t p = 1;
    while (p < n && p < 0x80000000u) p <<= 1;
    return p;
}

/* Raw string → lowest id, or NO_ID. */
static uint32_t lookup(const vx_tokenizer *t, const char *s, size_t n) {
    uint32_t h = (uint32_t)XXH3_64bits(s, n) & t->mask;
    for (;;) {
        uint32_t id = t->slot[h];
        if (id == NO_ID) return NO_ID;
        if (t->tok_len[id] == n && memcmp(t->tok[id], s, n) == 0) return id;
        h = (h + 1) & t->mask;
    }
}

static const pair_ent *pair_find(const vx_tokenizer *t, uint32_t a, uint32_t b) {
    uint64_t key = (uint64_t)a << 32 | b;
    uint32_t h = (uint32_t)XXH3_64bits(&key, sizeof key) & t->pmask;
    for (;;) {
        const pair_ent *p = &t->pairs[h];
        if (p->key == UINT64_MAX) return NULL;
        if (p->key == key) return p;
        h = (h + 1) & t->pmask;
    }
}

/* A growable id list. */
typedef struct idvec { uint32_t *v; size_t n, cap; } idvec;

static int push(idvec *o, uint32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        uint32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return VX_ENOMEM;
        o->v = v; o->cap = cap;
    }
    o->v[o->n++] = id;
    return 0;
}

/* --------------------------------------------------------------------- parsing */

/* One (token, id) pair collected from model.vocab or added_tokens. */
typedef struct ent { const char *s; uint32_t id; double score; int added; } ent;

/* Is `v` a JSON integer in 0..2^31-1? */
static int json_id(const cJSON *v, uint32_t *id) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < ID_LIMIT) || d != floor(d)) return 0;
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

static int str_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static const char *type_of(const cJSON *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Pattern {"String": s} of a Replace / Split; NULL for regexes and anything else. */
static const char *string_pattern(const cJSON *o) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* Call fn on every component of a (possibly Sequence) normalizer/pre-tokenizer/decoder. */
static int walk(const cJSON *o, int (*fn)(vx_tokenizer *, const cJSON *), vx_tokenizer *t) {
    if (!cJSON_IsObject(o)) return 0;
    static const char *const lists[] = { "normalizers", "pretokenizers", "decoders" };
    if (strcmp(type_of(o), "Sequence") == 0) {
        for (size_t i = 0; i < 3; i++) {
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, lists[i]), *c;
            cJSON_ArrayForEach(c, l) { int rc = walk(c, fn, t); if (rc) return rc; }
        }
        return 0;
    }
    return fn(t, o);
}

static int on_pretok(vx_tokenizer *t, const cJSON *o) {
    const char *ty = type_of(o);
    if (strcmp(ty, "ByteLevel") == 0) {
        t->style = VX_STYLE_BYTELEVEL;
        t->bl_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space"));
    } else if (strcmp(ty, "Metaspace") == 0) {
        if (t->style != VX_STYLE_BYTELEVEL) t->style = VX_STYLE_METASPACE;
        t->ms = 1;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "replacement");
        const char *rep = cJSON_IsString(r) ? r->valuestring : "\xE2\x96\x81";
        if (strlen(rep) >= sizeof t->ms_repl || !*rep) return VX_EUNSUPPORTED;
        strcpy(t->ms_repl, rep);
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "prepend_scheme");
        const cJSON *ap = cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space");
        t->ms_prepend = PREPEND_ALWAYS;
        if (cJSON_IsString(ps)) {
            if (strcmp(ps->valuestring, "first") == 0) t->ms_prepend = PREPEND_FIRST;
            else if (strcmp(ps->valuestring, "never") == 0) t->ms_prepend = PREPEND_NEVER;
        } else if (cJSON_IsFalse(ap)) {
            t->ms_prepend = PREPEND_NEVER;  /* legacy add_prefix_space: false */
        }
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "split");
        t->ms_split = !cJSON_IsFalse(sp);
    }
    return 0;
}

static int on_decoder(vx_tokenizer *t, const cJSON *o) {
    const char *ty = type_of(o);
    if (strcmp(ty, "ByteLevel") == 0) t->style = VX_STYLE_BYTELEVEL;
    else if (t->style != VX_STYLE_BYTELEVEL &&
             (strcmp(ty, "Metaspace") == 0 ||
              (strcmp(ty, "Replace") == 0 && string_pattern(o) && strcmp(string_pattern(o), "\xE2\x96\x81") == 0 &&
               str_is(o, "content", " "))))
        t->style = VX_STYLE_METASPACE;
    return 0;
}

static int on_normalizer(vx_tokenizer *t, const cJSON *o) {
    const char *ty = type_of(o);
    norm_op op = { 0, NULL, NULL };
    if (strcmp(ty, "Prepend") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prepend");
        if (!cJSON_IsString(p)) return VX_ECORRUPT;
        if (strcmp(p->valuestring, "\xE2\x96\x81") == 0 && t->style != VX_STYLE_BYTELEVEL) t->style = VX_STYLE_METASPACE;
        op.op = NORM_PREPEND;
        if (!(op.a = strdup(p->valuestring))) return VX_ENOMEM;
    } else if (strcmp(ty, "Replace") == 0) {
        const char *pat = string_pattern(o);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "content");
        if (!pat || !*pat || !cJSON_IsString(c)) {
            if (!t->norm_bad[0]) snprintf(t->norm_bad, sizeof t->norm_bad, "Replace with a regex");
            return 0;
        }
        op.op = NORM_REPLACE;
        op.a = strdup(pat); op.b = strdup(c->valuestring);
        if (!op.a || !op.b) { free(op.a); free(op.b); return VX_ENOMEM; }
    } else if (strcmp(ty, "Lowercase") == 0) {
        op.op = NORM_LOWER; t->wp_lower = 1;
    } else if (strcmp(ty, "BertNormalizer") == 0) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "lowercase");
        op.op = cJSON_IsFalse(l) ? NORM_UNICODE : NORM_LOWER;
        if (op.op == NORM_LOWER) t->wp_lower = 1;
    } else if (!strcmp(ty, "NFC") || !strcmp(ty, "NFKC") || !strcmp(ty, "NFD") || !strcmp(ty, "NFKD") ||
               !strcmp(ty, "StripAccents")) {
        op.op = NORM_UNICODE;
    } else {
        if (!t->norm_bad[0]) snprintf(t->norm_bad, sizeof t->norm_bad, "%.40s", ty);
        return 0;
    }
    norm_op *n = realloc(t->norm, (t->n_norm + 1) * sizeof *n);
    if (!n) { free(op.a); free(op.b); return VX_ENOMEM; }
    t->norm = n;
    t->norm[t->n_norm++] = op;
    return 0;
}

/* Collect model.vocab into `e` (appending). */
static int collect_vocab(ent **e, size_t *ne, size_t *cap, const cJSON *vocab, int model,
                         const char *fname, vx_err *err) {
    size_t idx = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, vocab) {
        ent x = { NULL, 0, NAN, 0 };
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

static int build_merges(vx_tokenizer *t, const cJSON *merges, const char *fname, vx_err *err) {
    size_t n = (size_t)cJSON_GetArraySize(merges);
    t->pmask = pow2_at_least(2 * (uint64_t)n + 1) - 1;
    t->pairs = malloc(((size_t)t->pmask + 1) * sizeof *t->pairs);
    if (!t->pairs) return vx_fail(err, VX_ENOMEM, "%s: out of memory for %zu merges", fname, n);
    for (size_t i = 0; i <= t->pmask; i++) t->pairs[i].key = UINT64_MAX;
    size_t rank = 0, idx = 0;
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
        free(cat);
        if (!(cat = malloc(la + lb + 1))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
        memcpy(cat, a, la); memcpy(cat + la, b, lb);
        uint32_t ia = lookup(t, a, la), ib = lookup(t, b, lb), im = lookup(t, cat, la + lb);
        if (ia == NO_ID || ib == NO_ID || im == NO_ID) {
            /* the reference refuses such files too (MergeTokenOutOfVocabulary) */
            rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges[%zu]: '%.*s' + '%.*s': %s not in model.vocab", fname, idx,
                         (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b,
                         im != NO_ID ? "a part is" : "the merged token is");
            goto out;
        }
        uint64_t key = (uint64_t)ia << 32 | ib;
        uint32_t h = (uint32_t)XXH3_64bits(&key, sizeof key) & t->pmask;
        while (t->pairs[h].key != UINT64_MAX && t->pairs[h].key != key) h = (h + 1) & t->pmask;
        if (t->pairs[h].key == UINT64_MAX) /* a repeated merge keeps its first (lowest) rank */
            t->pairs[h] = (pair_ent){ key, (uint32_t)rank, im };
        rank++; idx++;
    }
out:
    free(cat);
    return rc;
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
    t->fuse_unk = 1;
    t->ms_split = 1;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(model)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: expected an object with a \"model\" object", fname);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(model, "type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring
                     : cJSON_IsArray(merges) ? "BPE" : cJSON_IsArray(vocab) ? "Unigram" : "?";
    if (strcmp(type, "BPE") == 0) t->model = MODEL_BPE;
    else if (strcmp(type, "Unigram") == 0) t->model = MODEL_UNIGRAM;
    else if (strcmp(type, "WordPiece") == 0) t->model = MODEL_WORDPIECE;
    else { rc = vx_fail(err, VX_EUNSUPPORTED, "%s: model.type: '%.40s' is not BPE, Unigram or WordPiece", fname, type); goto done; }

    if (t->model == MODEL_UNIGRAM ? !cJSON_IsArray(vocab) : !cJSON_IsObject(vocab)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: model.vocab: expected %s", fname,
                     t->model == MODEL_UNIGRAM ? "a list of [piece, score]" : "an object {token: id}");
        goto done;
    }
    if ((rc = collect_vocab(&e, &ne, &cap, vocab, t->model, fname, err))) goto done;
    size_t n_model = ne;

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), *a;
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: added_tokens: expected a list", fname);
        goto done;
    }
    size_t ai = 0;
    cJSON_ArrayForEach(a, added) {
        char place[48];
        snprintf(place, sizeof place, "added_tokens[%zu]", ai);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsString(c)) { rc = vx_fail(err, VX_ECORRUPT, "%s: %s: content is not a string", fname, place); goto done; }
        ent x = { c->valuestring, 0, NAN, 1 };
        if (!json_id(cJSON_GetObjectItemCaseSensitive(a, "id"), &x.id)) {
            rc = bad_id(err, fname, place, c->valuestring, cJSON_GetObjectItemCaseSensitive(a, "id"));
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
    t->added = malloc((ne - n_model + 1) * sizeof *t->added);
    if (t->model == MODEL_UNIGRAM) t->score = malloc((size ? size : 1) * sizeof *t->score);
    if (!t->tok || !t->tok_len || !t->added || (t->model == MODEL_UNIGRAM && !t->score)) {
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
            if (l > t->max_len) t->max_len = (uint32_t)l;
        }
        if (e[i].added) t->added[t->n_added++] = id;
        else if (t->score) {
            t->score[id] = e[i].score;
            if (e[i].score < t->min_score) t->min_score = e[i].score;
        }
    }

    /* string → lowest id: insert in id order and never overwrite */
    t->mask = pow2_at_least(2 * (uint64_t)t->count + 1) - 1;
    if (!(t->slot = malloc(((size_t)t->mask + 1) * sizeof *t->slot))) {
        rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
        goto done;
    }
    memset(t->slot, 0xFF, ((size_t)t->mask + 1) * sizeof *t->slot);
    for (uint32_t id = 0; id < t->size; id++) {
        if (!t->tok[id]) continue;
        uint32_t h = (uint32_t)XXH3_64bits(t->tok[id], t->tok_len[id]) & t->mask;
        for (;;) {
            uint32_t o = t->slot[h];
            if (o == NO_ID) { t->slot[h] = id; break; }
            if (t->tok_len[o] == t->tok_len[id] && memcmp(t->tok[o], t->tok[id], t->tok_len[id]) == 0) break;
            h = (h + 1) & t->mask;
        }
    }

    /* model options */
    t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, t->model == MODEL_UNIGRAM ? "unk_id" : "unk_token");
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
    } else if (cJSON_IsString(unk)) {
        uint32_t u = lookup(t, unk->valuestring, strlen(unk->valuestring));
        if (u != NO_ID) t->unk_id = u;
    }
    if (t->model == MODEL_BPE) {
        const cJSON *fu = cJSON_GetObjectItemCaseSensitive(model, "fuse_unk");
        t->fuse_unk = cJSON_IsTrue(fu);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
        t->bpe_affix = (cJSON_IsString(p) && *p->valuestring) || (cJSON_IsString(s) && *s->valuestring);
        if (merges && !cJSON_IsArray(merges)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: model.merges: expected a list", fname);
            goto done;
        }
        if ((rc = build_merges(t, merges, fname, err))) goto done;
    }
    if (t->model == MODEL_WORDPIECE) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        t->wp_prefix = strdup(cJSON_IsString(p) ? p->valuestring : "##");
        t->wp_max_chars = cJSON_IsNumber(m) && m->valuedouble >= 1 && m->valuedouble < 1e9 ? (uint32_t)m->valuedouble : 100;
        if (!t->wp_prefix) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto done; }
    }

    /* style: the decoder is the ground truth for how a token reads, the pre-tokenizer and
     * normalizer for how text becomes pieces; ByteLevel anywhere wins */
    t->style = VX_STYLE_PLAIN;
    strcpy(t->ms_repl, "\xE2\x96\x81");
    t->ms_prepend = PREPEND_ALWAYS;
    if ((rc = walk(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), on_normalizer, t)) ||
        (rc = walk(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), on_pretok, t)) ||
        (rc = walk(cJSON_GetObjectItemCaseSensitive(root, "decoder"), on_decoder, t))) {
        rc = rc == VX_ENOMEM ? vx_fail(err, rc, "%s: out of memory", fname)
                             : vx_fail(err, rc, "%s: normalizer/pre_tokenizer: malformed Prepend or Metaspace", fname);
        goto done;
    }

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
    for (size_t i = 0; i < t->n_norm; i++) { free(t->norm[i].a); free(t->norm[i].b); }
    free(t->norm);
    free(t->tok); free(t->tok_len); free(t->score); free(t->slot); free(t->pairs); free(t->added);
    free(t->wp_prefix);
    free(t);
}

vx_tok_style vx_tokenizer_style(const vx_tokenizer *t) { return t->style; }
uint32_t vx_tokenizer_size(const vx_tokenizer *t) { return t->size; }

const char *vx_tokenizer_token(const vx_tokenizer *t, uint32_t id, size_t *len) {
    if (id >= t->size || !t->tok[id]) { if (len) *len = 0; return NULL; }
    if (len) *len = t->tok_len[id];
    return t->tok[id];
}

/* ------------------------------------------------------------------- encoding */

/* Not encodable: name the piece, printably. */
static int not_found(vx_err *err, const char *what, const char *s, size_t n) {
    return vx_fail(err, VX_ENOTFOUND, "tokenize: %s '%.*s' is not in the vocabulary and there is no unk token",
                   what, (int)(n > 60 ? 60 : n), s);
}

/* <0xNN> byte-fallback tokens for s[0..n), all or nothing. Returns 1 when pushed. */
static int byte_tokens(const vx_tokenizer *t, idvec *o, const unsigned char *s, size_t n, int *rc) {
    size_t start = o->n;
    for (size_t i = 0; i < n; i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", s[i]);
        uint32_t id = lookup(t, b, 6);
        if (id == NO_ID) { o->n = start; return 0; }
        if ((*rc = push(o, id))) return 0;
    }
    return 1;
}

/* A piece the model has no token for: byte fallback, else unk, else VX_ENOTFOUND. */
static int unknown(const vx_tokenizer *t, idvec *o, const char *s, size_t n, vx_err *err) {
    int rc = 0;
    if (t->byte_fallback && byte_tokens(t, o, (const unsigned char *)s, n, &rc)) return 0;
    if (rc) return vx_fail(err, rc, "tokenize: out of memory");
    if (t->unk_id < 0) return not_found(err, "piece", s, n);
    if (t->fuse_unk && o->n && o->v[o->n - 1] == (uint32_t)t->unk_id) return 0;
    return push(o, (uint32_t)t->unk_id) ? vx_fail(err, VX_ENOMEM, "tokenize: out of memory") : 0;
}

/* BPE over one pre-token (already in raw form): characters, then merges lowest rank
 * first, leftmost among equals (bpe/word.rs merge_all). */
static int bpe_word(const vx_tokenizer *t, idvec *o, const char *w, size_t n, vx_err *err) {
    if (t->bpe_affix)
        return vx_fail(err, VX_EUNSUPPORTED, "tokenize: BPE with continuing_subword_prefix/end_of_word_suffix");
    uint32_t whole = lookup(t, w, n);
    if (t->ignore_merges && whole != NO_ID)
        return push(o, whole) ? vx_fail(err, VX_ENOMEM, "tokenize: out of memory") : 0;
    size_t start = o->n;
    for (size_t i = 0; i < n;) {
        size_t cl = u8len((const unsigned char *)w + i, n - i);
        uint32_t id = lookup(t, w + i, cl);
        int rc = id != NO_ID ? (push(o, id) ? vx_fail(err, VX_ENOMEM, "tokenize: out of memory") : 0)
                             : unknown(t, o, w + i, cl, err);
        if (rc) return rc;
        i += cl;
    }
    uint32_t *s = o->v + start;
    size_t k = o->n - start;
    while (k > 1) {
        size_t best = 0;
        const pair_ent *bp = NULL;
        for (size_t i = 0; i + 1 < k; i++) {
            const pair_ent *p = pair_find(t, s[i], s[i + 1]);
            if (p && (!bp || p->rank < bp->rank)) { bp = p; best = i; }
        }
        if (!bp) break;
        s[best] = bp->merged;
        memmove(s + best + 1, s + best + 2, (k - best - 2) * sizeof *s);
        k--;
    }
    o->n = start + k;
    return 0;
}

/* GPT-2 pre-tokenizer classes; see the file comment for the approximation. */
enum { C_LETTER, C_DIGIT, C_SPACE, C_OTHER };

static int cls(const unsigned char *s, size_t avail, size_t *cl) {
    unsigned c = s[0];
    *cl = 1;
    if (c >= 0x80) { *cl = u8len(s, avail); return C_LETTER; }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return C_LETTER;
    if (c >= '0' && c <= '9') return C_DIGIT;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return C_SPACE;
    return C_OTHER;
}

/* End of the pre-token that starts at s[i]; always > i. */
static size_t gpt2_next(const unsigned char *s, size_t len, size_t i) {
    size_t cl;
    if (s[i] == '\'' && i + 1 < len) {       /* 's|'t|'re|'ve|'m|'ll|'d */
        unsigned c = s[i + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 2;
        if (i + 2 < len && ((c == 'r' && s[i + 2] == 'e') || (c == 'v' && s[i + 2] == 'e') ||
                            (c == 'l' && s[i + 2] == 'l')))
            return i + 3;
    }
    size_t j = i + (s[i] == ' ');            /*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ */
    if (j < len) {
        int c = cls(s + j, len - j, &cl);
        if (c != C_SPACE) {
            while (j < len && cls(s + j, len - j, &cl) == c) j += cl;
            return j;
        }
    }
    size_t k = i;                            /* \s+(?!\S) | \s+ */
    while (k < len && cls(s + k, len - k, &cl) == C_SPACE) k++;
    if (k == len) return k;
    return k - i > 1 ? k - 1 : i + 1;
}

static int encode_bytelevel(const vx_tokenizer *t, idvec *o, const char *text, size_t len, vx_err *err) {
    char *pre = NULL;
    if (t->bl_prefix_space && (len == 0 || text[0] != ' ')) {
        if (!(pre = malloc(len + 1))) return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
        pre[0] = ' ';
        memcpy(pre + 1, text, len);
        text = pre; len++;
    }
    const unsigned char *s = (const unsigned char *)text;
    int rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        size_t e = gpt2_next(s, len, i), rl;
        char *raw = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, text + i, e - i, &rl);
        rc = raw ? bpe_word(t, o, raw, rl, err) : vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
        free(raw);
        i = e;
    }
    free(pre);
    return rc;
}

/* Unigram Viterbi over one piece: best[j] = max over pieces s[i..j) of best[i] + score.
 * A character no piece covers costs min_score - 10 and becomes unk (fused), then byte
 * fallback (unigram/model.rs). */
static int unigram_word(const vx_tokenizer *t, idvec *o, const char *s, size_t n, vx_err *err) {
    double *best = malloc((n + 1) * sizeof *best);
    size_t *from = malloc((n + 1) * sizeof *from);
    uint32_t *tokid = malloc((n + 1) * sizeof *tokid);
    int rc = 0;
    if (!best || !from || !tokid) { rc = vx_fail(err, VX_ENOMEM, "tokenize: out of memory"); goto out; }
    for (size_t i = 0; i <= n; i++) best[i] = -INFINITY;
    best[0] = 0;
    double unk_score = t->min_score - UNK_PENALTY;
    for (size_t i = 0; i < n;) {
        size_t cl = u8len((const unsigned char *)s + i, n - i);
        if (best[i] != -INFINITY) {
            int single = 0;
            for (size_t j = i + 1; j <= n && j - i <= t->max_len; j++) {
                if (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) continue;  /* not a char boundary */
                uint32_t id = lookup(t, s + i, j - i);
                if (id == NO_ID || isnan(t->score[id])) continue;
                if (j - i == cl) single = 1;
                double sc = best[i] + t->score[id];
                if (sc > best[j]) { best[j] = sc; from[j] = i; tokid[j] = id; }
            }
            if (!single && best[i] + unk_score > best[i + cl]) {
                best[i + cl] = best[i] + unk_score; from[i + cl] = i; tokid[i + cl] = NO_ID;
            }
        }
        i += cl;
    }
    /* backtrack into (start, id) pairs, written right to left into from[]/tokid[] reuse */
    size_t cnt = 0;
    for (size_t j = n; j > 0; j = from[j]) cnt++;
    size_t *starts = malloc((cnt + 1) * sizeof *starts);
    uint32_t *ids = malloc((cnt + 1) * sizeof *ids);
    if (!starts || !ids) { free(starts); free(ids); rc = vx_fail(err, VX_ENOMEM, "tokenize: out of memory"); goto out; }
    size_t k = cnt;
    for (size_t j = n; j > 0; j = from[j]) { k--; starts[k] = from[j]; ids[k] = tokid[j]; }
    starts[cnt] = n;
    for (size_t q = 0; q < cnt && !rc; q++) {
        if (ids[q] != NO_ID) { if (push(o, ids[q])) rc = vx_fail(err, VX_ENOMEM, "tokenize: out of memory"); continue; }
        size_t r = q;   /* fuse a run of unknown characters */
        while (r + 1 < cnt && ids[r + 1] == NO_ID) r++;
        rc = unknown(t, o, s + starts[q], starts[r + 1] - starts[q], err);
        q = r;
    }
    free(starts); free(ids);
out:
    free(best); free(from); free(tokid);
    return rc;
}

/* Replace every occurrence of `a` in (s, n) with `b`; malloc'd result. */
static char *replace_all(const char *s, size_t n, const char *a, const char *b, size_t *out_len) {
    size_t la = strlen(a), lb = strlen(b), cnt = 0;
    for (size_t i = 0; la && i + la <= n;) { if (memcmp(s + i, a, la) == 0) { cnt++; i += la; } else i++; }
    size_t m = n - cnt * la + cnt * lb;
    char *r = malloc(m + 1), *p = r;
    if (!r) return NULL;
    for (size_t i = 0; i < n;) {
        if (la && i + la <= n && memcmp(s + i, a, la) == 0) { memcpy(p, b, lb); p += lb; i += la; }
        else *p++ = s[i++];
    }
    *p = 0;
    *out_len = m;
    return r;
}

/* Apply the normalizer chain. */
static int normalize(const vx_tokenizer *t, char **out, size_t *out_len, const char *text, size_t len, vx_err *err) {
    if (t->norm_bad[0]) return vx_fail(err, VX_EUNSUPPORTED, "tokenize: normalizer %s is not implemented", t->norm_bad);
    char *s = dup_str(text, len);
    if (!s) return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
    size_t n = len;
    for (size_t k = 0; k < t->n_norm; k++) {
        const norm_op *op = &t->norm[k];
        char *r = NULL;
        size_t rn = 0;
        if (op->op == NORM_PREPEND) {
            if (n == 0) continue;  /* Prepend leaves an empty string alone */
            size_t la = strlen(op->a);
            if ((r = malloc(la + n + 1))) { memcpy(r, op->a, la); memcpy(r + la, s, n + 1); rn = la + n; }
        } else if (op->op == NORM_REPLACE) {
            r = replace_all(s, n, op->a, op->b, &rn);
        } else {
            for (size_t i = 0; i < n; i++) {
                if ((unsigned char)s[i] >= 0x80) {
                    free(s);
                    return vx_fail(err, VX_EUNSUPPORTED, "tokenize: Unicode normalizers are only applied to ASCII input");
                }
                if (op->op == NORM_LOWER && s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] + 32);
            }
            continue;
        }
        free(s);
        if (!r) return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
        s = r; n = rn;
    }
    *out = s; *out_len = n;
    return 0;
}

static int encode_metaspace(const vx_tokenizer *t, idvec *o, const char *text, size_t len, int first, vx_err *err) {
    char *s, *r = NULL;
    size_t n, rn;
    int rc = normalize(t, &s, &n, text, len, err);
    if (rc) return rc;
    if (t->ms) {
        if (!(r = replace_all(s, n, " ", t->ms_repl, &rn))) goto nomem;
        free(s); s = r; n = rn;
        size_t lr = strlen(t->ms_repl);
        int pre = t->ms_prepend == PREPEND_ALWAYS || (t->ms_prepend == PREPEND_FIRST && first);
        if (pre && n && !(n >= lr && memcmp(s, t->ms_repl, lr) == 0)) {
            if (!(r = malloc(n + lr + 1))) goto nomem;
            memcpy(r, t->ms_repl, lr); memcpy(r + lr, s, n + 1);
            free(s); s = r; n += lr;
        }
    }
    /* split=true: each word starts at a ▁ (MergedWithNext) */
    size_t lr = strlen(t->ms_repl);
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i + 1;
        if (t->ms && t->ms_split)
            while (j < n && !(j + lr <= n && memcmp(s + j, t->ms_repl, lr) == 0)) j++;
        else
            j = n;
        rc = t->model == MODEL_UNIGRAM ? unigram_word(t, o, s + i, j - i, err) : bpe_word(t, o, s + i, j - i, err);
        i = j;
    }
    free(s);
    return rc;
nomem:
    free(s);
    return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
}

static int is_punct(unsigned c) { return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126); }

/* WordPiece: greedy longest match, continuation pieces carry the prefix; a word that
 * cannot be covered becomes one unk (wordpiece/mod.rs). */
static int wordpiece_word(const vx_tokenizer *t, idvec *o, const char *w, size_t n, vx_err *err) {
    size_t lp = strlen(t->wp_prefix), start = o->n, chars = 0;
    for (size_t i = 0; i < n; i += u8len((const unsigned char *)w + i, n - i)) chars++;
    char *buf = malloc(lp + n + 1);
    if (!buf) return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
    memcpy(buf, t->wp_prefix, lp);
    int ok = chars <= t->wp_max_chars;
    for (size_t i = 0; i < n && ok;) {
        size_t j = n;
        uint32_t id = NO_ID;
        for (; j > i; j--) {
            if (j < n && ((unsigned char)w[j] & 0xC0) == 0x80) continue;
            if (i == 0) id = lookup(t, w, j);
            else { memcpy(buf + lp, w + i, j - i); id = lookup(t, buf, lp + j - i); }
            if (id != NO_ID) break;
        }
        if (id == NO_ID) { ok = 0; break; }
        if (push(o, id)) { free(buf); return vx_fail(err, VX_ENOMEM, "tokenize: out of memory"); }
        i = j;
    }
    free(buf);
    if (ok) return 0;
    o->n = start;
    if (t->unk_id < 0) return not_found(err, "word", w, n);
    return push(o, (uint32_t)t->unk_id) ? vx_fail(err, VX_ENOMEM, "tokenize: out of memory") : 0;
}

static int encode_wordpiece(const vx_tokenizer *t, idvec *o, const char *text, size_t len, vx_err *err) {
    char *s;
    size_t n;
    int rc = normalize(t, &s, &n, text, len, err);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc;) {
        unsigned c = (unsigned char)s[i];
        if (c == ' ' || (c >= '\t' && c <= '\r')) { i++; continue; }
        size_t j = i + 1;
        if (!is_punct(c))
            while (j < n && !is_punct((unsigned char)s[j]) && s[j] != ' ' && !(s[j] >= '\t' && s[j] <= '\r')) j++;
        rc = wordpiece_word(t, o, s + i, j - i, err);
        i = j;
    }
    free(s);
    return rc;
}

static int encode_segment(const vx_tokenizer *t, idvec *o, const char *s, size_t n, int first, vx_err *err) {
    if (t->model == MODEL_WORDPIECE) return encode_wordpiece(t, o, s, n, err);
    if (t->style == VX_STYLE_BYTELEVEL && t->model == MODEL_BPE) return encode_bytelevel(t, o, s, n, err);
    if (t->style == VX_STYLE_METASPACE) return encode_metaspace(t, o, s, n, first, err);
    return vx_fail(err, VX_EUNSUPPORTED, "tokenize: %s model without a ByteLevel or Metaspace convention",
                   t->model == MODEL_BPE ? "BPE" : "Unigram");
}

int vx_tokenize(uint32_t **ids, size_t *n, const vx_tokenizer *t, const char *text, size_t len, vx_err *err) {
    *ids = NULL; *n = 0;
    idvec o = { NULL, 0, 0 };
    int rc = 0, first = 1;
    size_t seg = 0;
    for (size_t i = 0; i <= len && !rc;) {
        /* longest added token starting at i */
        uint32_t best = NO_ID, bl = 0;
        for (size_t k = 0; i < len && k < t->n_added; k++) {
            uint32_t id = t->added[k], l = t->tok_len[id];
            if (l > bl && l <= len - i && memcmp(text + i, t->tok[id], l) == 0) { best = id; bl = l; }
        }
        if (best == NO_ID && i < len) { i++; continue; }
        if (i > seg) { rc = encode_segment(t, &o, text + seg, i - seg, first, err); first = 0; }
        if (!rc && best != NO_ID) {
            if (push(&o, best)) rc = vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
            first = 0;
        }
        if (i == len) break;
        i += bl; seg = i;
    }
    if (rc) { free(o.v); return rc; }
    *ids = o.v ? o.v : malloc(sizeof(uint32_t));
    if (!*ids) return vx_fail(err, VX_ENOMEM, "tokenize: out of memory");
    *n = o.n;
    return 0;
}
