/*
 * test_vocab.c — tokenizer.json parsing, vx_tokenize, and vocab.bin build / parse /
 * lookup, on the fixture tokenizer (byte-level BPE, 4096 tokens) and on small synthetic
 * tokenizers written inline; then corrupt tokenizer.json and corrupt vocab.bin images,
 * each of which must be rejected with the expected code and never crash.
 * Run from the repository root (or pass the fixture tokenizer.json as argv[1]).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tokregex.h"
#include "vocab.h"

static void image_differential(const uint8_t *img, size_t len, const char *what, int iters);

static vx_tokenizer *parse_str(const char *json, int *rc, vx_err *err) {
    vx_tokenizer *t = NULL;
    *rc = vx_tokenizer_parse(&t, (const uint8_t *)json, strlen(json), "tokenizer.json", err);
    return t;
}

static int same(const char *a, size_t al, const char *b) { return al == strlen(b) && memcmp(a, b, al) == 0; }

/* Tokenize `s` and compare with the expected ids (computed by an independent Python
 * GPT-2 BPE over the same tokenizer.json). */
static void expect_ids(const vx_tokenizer *t, const char *s, const uint32_t *want, size_t nwant) {
    uint32_t *ids;
    size_t n;
    vx_err err = { 0 };
    int rc = vx_tokenize(&ids, &n, t, s, strlen(s), &err);
    int ok = rc == 0 && n == nwant && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    CHECK(ok, "tokenize '%s': rc %d (%s), %zu ids, want %zu", s, rc, err.msg, rc ? 0 : n, nwant);
    if (!ok && rc == 0) for (size_t i = 0; i < n; i++) fprintf(stderr, "  got %u\n", ids[i]);
    if (rc == 0) free(ids);
}

static void fixture_tests(const char *path) {
    char *json;
    size_t len;
    vx_err err = { 0 };
    int rc = vx_read_file(&json, &len, path, 64 << 20, &err);
    CHECK(rc == 0, "read %s: %s", path, err.msg);
    if (rc) return;
    vx_tokenizer *t = NULL;
    rc = vx_tokenizer_parse(&t, (const uint8_t *)json, len, "tokenizer.json", &err);
    CHECK(rc == 0, "parse fixture: %s", err.msg);
    if (rc) { free(json); return; }
    CHECK(vx_tokenizer_style(t) == VX_STYLE_BYTELEVEL, "fixture style %d", vx_tokenizer_style(t));
    CHECK(vx_tokenizer_size(t) == 4096, "fixture size %u", vx_tokenizer_size(t));

    /* build with padded embedding rows, parse, round-trip every id */
    uint32_t rows = 4096 + 64;
    uint8_t *img;
    size_t ilen;
    rc = vx_vocab_build(&img, &ilen, t, rows, &err);
    CHECK(rc == 0, "build: %s", err.msg);
    if (rc) { vx_tokenizer_free(t); free(json); return; }
    vx_vocab v;
    rc = vx_vocab_parse(&v, img, ilen, "vocab.bin", &err);
    CHECK(rc == 0, "parse built image: %s", err.msg);
    CHECK(v.n == rows && v.style == VX_STYLE_BYTELEVEL && v.nbuckets == 16384, "n %u style %d nbuckets %u",
          v.n, v.style, v.nbuckets);
    int bad_find = 0, bad_raw = 0;
    for (uint32_t id = 0; id < 4096; id++) {
        size_t tl, rl, xl;
        const char *tr = vx_tokenizer_token(t, id, &tl), *r, *x;
        vx_vocab_get(&v, id, &r, &rl, &x, &xl);
        if (!tr || rl != tl || memcmp(r, tr, rl) != 0) bad_raw++;
        if (vx_vocab_find(&v, r, rl) != (int64_t)id) bad_find++;
    }
    CHECK(bad_raw == 0, "%d ids whose raw string differs from tokenizer.json", bad_raw);
    CHECK(bad_find == 0, "%d ids that find(raw) does not return", bad_find);
    CHECK(vx_vocab_find(&v, "ĠParisXYZ", strlen("ĠParisXYZ")) == -1, "absent string found");
    CHECK(vx_vocab_find(&v, "", 0) == -1, "empty string found");

    /* " Paris" → ĠParis → 1091 → " Paris" */
    size_t rl;
    char *raw = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, " Paris", 6, &rl);
    CHECK(raw && same(raw, rl, "\xC4\xA0Paris"), "to_raw(' Paris') = '%s'", raw ? raw : "(null)");
    int64_t id = raw ? vx_vocab_find(&v, raw, rl) : -1;
    CHECK(id == 1091, "find(ĠParis) = %lld", (long long)id);
    free(raw);
    const char *r, *x;
    size_t xl;
    vx_vocab_get(&v, 1091, &r, &rl, &x, &xl);
    CHECK(same(x, xl, " Paris") && same(r, rl, "ĠParis"), "readable of 1091 = '%.*s'", (int)xl, x);
    raw = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, "\n", 1, &rl);
    CHECK(raw && same(raw, rl, "Ċ") && vx_vocab_find(&v, raw, rl) == 200, "'\\n' → Ċ → 200");
    free(raw);
    vx_vocab_get(&v, 200, &r, &rl, &x, &xl);
    CHECK(same(x, xl, "\n"), "readable of Ċ");
    raw = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, " caf\xC3\xA9", 6, &rl);
    CHECK(raw && same(raw, rl, "ĠcafÃ©"), "to_raw(' café') = '%s'", raw ? raw : "");
    free(raw);
    /* half of a multi-byte char: 'Ã' is byte 0xC3 alone; '¡' is 0xA1 */
    vx_vocab_get(&v, 129, &r, &rl, &x, &xl);
    CHECK(same(r, rl, "Ã") && same(x, xl, "\\xC3"), "readable of 'Ã' = '%.*s'", (int)xl, x);
    vx_vocab_get(&v, 96, &r, &rl, &x, &xl);
    CHECK(same(x, xl, "\\xA1"), "readable of '¡' = '%.*s'", (int)xl, x);
    vx_vocab_get(&v, 0, &r, &rl, &x, &xl);
    CHECK(same(x, xl, "<|endoftext|>"), "readable of added token");
    int empty = 1;
    for (uint32_t i = 4096; i < rows; i++) {
        vx_vocab_get(&v, i, &r, &rl, &x, &xl);
        if (rl || xl) empty = 0;
    }
    CHECK(empty, "rows beyond the tokenizer are empty");
    /* the byte map both ways: every byte is a token whose readable form is that byte */
    int bad_byte = 0;
    for (unsigned b = 0; b < 256; b++) {
        char in = (char)b, want[8];
        raw = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, &in, 1, &rl);
        id = raw ? vx_vocab_find(&v, raw, rl) : -1;
        free(raw);
        if (id < 0) { bad_byte++; continue; }
        vx_vocab_get(&v, (uint32_t)id, &r, &rl, &x, &xl);
        if (b < 0x80) { want[0] = (char)b; want[1] = 0; } else snprintf(want, sizeof want, "\\x%02X", b);
        if (xl != (b < 0x80 ? 1 : 4) || memcmp(x, want, xl) != 0) bad_byte++;
    }
    CHECK(bad_byte == 0, "%d bytes do not round-trip through the byte map", bad_byte);
    vx_vocab_get(&v, rows + 5, &r, &rl, &x, &xl);
    CHECK(rl == 0 && xl == 0, "get past n is empty");

    /* tokenize: multi-piece words, concatenated raws = byte-mapped input */
    static const char *const words[] = { " Parisianism", "unbelievable", " café", "Hello, world!" };
    for (size_t w = 0; w < 4; w++) {
        uint32_t *ids;
        size_t n;
        rc = vx_tokenize(&ids, &n, t, words[w], strlen(words[w]), &err);
        CHECK(rc == 0 && n > 1, "tokenize '%s': rc %d %s", words[w], rc, err.msg);
        if (rc) continue;
        char *want = vx_vocab_to_raw(VX_STYLE_BYTELEVEL, words[w], strlen(words[w]), &rl);
        char cat[256];
        size_t cl = 0;
        int in_vocab = 1;
        for (size_t i = 0; i < n; i++) {
            size_t pl;
            const char *p = vx_tokenizer_token(t, ids[i], &pl);
            if (!p || cl + pl > sizeof cat) { in_vocab = 0; break; }
            memcpy(cat + cl, p, pl); cl += pl;
            if (vx_vocab_find(&v, p, pl) != (int64_t)ids[i]) in_vocab = 0;
        }
        CHECK(in_vocab && want && cl == rl && memcmp(cat, want, rl) == 0, "pieces of '%s' do not spell the input", words[w]);
        free(want); free(ids);
    }
    /* exact ids from an independent Python implementation of GPT-2 BPE */
    expect_ids(t, " Parisianism", (const uint32_t[]){ 1091, 433, 3632 }, 3);
    expect_ids(t, "unbelievable", (const uint32_t[]){ 304, 67, 351, 2979, 87, 1147 }, 6);
    expect_ids(t, " Paris", (const uint32_t[]){ 1091 }, 1);
    expect_ids(t, " caf\xC3\xA9", (const uint32_t[]){ 261, 3617, 129, 104 }, 4);
    expect_ids(t, "Hello, world! It's 2024.\n\n  ok",
               (const uint32_t[]){ 41, 1916, 80, 13, 3637, 2, 3280, 1715, 540, 1516, 15, 200, 200, 222, 266, 76 }, 16);
    expect_ids(t, "a\tb  \n", (const uint32_t[]){ 66, 199, 67, 1919 }, 4);
    expect_ids(t, "<|endoftext|> Paris<|pad|>", (const uint32_t[]){ 0, 1091, 1 }, 3);
    expect_ids(t, "", NULL, 0);

    image_differential(img, ilen, "fixture image", 2000);
    free(img);
    vx_tokenizer_free(t);
    free(json);
}

/* A SentencePiece-style Unigram tokenizer. Scores are chosen so the best segmentation
 * of " Parisian" is ▁Paris + i + an (-1 -4.5 -1 = -6.5), not the greedy longest
 * ▁Parisi + an (-8 -1 = -9) nor ▁Paris + ian (-1 -6 = -7). */
static const char UNIGRAM[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true},"
    "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true},"
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":["
    "[\"<unk>\",0],[\"\xE2\x96\x81Paris\",-1.0],[\"\xE2\x96\x81Par\",-2],[\"is\",-2.5],[\"\xE2\x96\x81\",-3],"
    "[\"P\",-4],[\"a\",-4],[\"r\",-4],[\"i\",-4.5],[\"s\",-4],[\"\xE2\x96\x81Parisi\",-8],[\"an\",-1],[\"ian\",-6],"
    "[\"<0xC3>\",0],[\"<0xA9>\",0],[\"<0x41>\",0],[\"\xE2\x96\x81the\",-1.5]]}}\n";

static void unigram_tests(void) {
    int rc;
    vx_err err = { 0 };
    vx_tokenizer *t = parse_str(UNIGRAM, &rc, &err);
    CHECK(rc == 0, "parse unigram: %s", err.msg);
    if (rc) return;
    CHECK(vx_tokenizer_style(t) == VX_STYLE_METASPACE, "unigram style %d", vx_tokenizer_style(t));
    CHECK(vx_tokenizer_size(t) == 17, "unigram size %u", vx_tokenizer_size(t));
    size_t rl;
    char *raw = vx_vocab_to_raw(VX_STYLE_METASPACE, " Paris", 6, &rl);
    CHECK(raw && same(raw, rl, "\xE2\x96\x81Paris"), "to_raw metaspace");
    uint8_t *img;
    size_t ilen;
    vx_vocab v;
    rc = vx_vocab_build(&img, &ilen, t, 20, &err);
    CHECK(rc == 0 && vx_vocab_parse(&v, img, ilen, "vocab.bin", &err) == 0, "build/parse unigram: %s", err.msg);
    if (rc) { free(raw); vx_tokenizer_free(t); return; }
    CHECK(raw && vx_vocab_find(&v, raw, rl) == 1, "find ▁Paris");
    free(raw);
    const char *r, *x;
    size_t xl;
    vx_vocab_get(&v, 1, &r, &rl, &x, &xl);
    CHECK(same(x, xl, " Paris"), "readable ▁Paris = '%.*s'", (int)xl, x);
    vx_vocab_get(&v, 13, &r, &rl, &x, &xl);
    CHECK(same(x, xl, "\\xC3"), "readable <0xC3> = '%.*s'", (int)xl, x);
    vx_vocab_get(&v, 15, &r, &rl, &x, &xl);
    CHECK(same(x, xl, "A"), "readable <0x41> = '%.*s'", (int)xl, x);
    vx_vocab_get(&v, 4, &r, &rl, &x, &xl);
    CHECK(same(x, xl, " "), "readable ▁");

    expect_ids(t, " Paris", (const uint32_t[]){ 1 }, 1);
    expect_ids(t, "Paris", (const uint32_t[]){ 1 }, 1);   /* prepend_scheme always */
    expect_ids(t, " Parisian", (const uint32_t[]){ 1, 8, 11 }, 3);
    expect_ids(t, " Paris the", (const uint32_t[]){ 1, 16 }, 2);
    expect_ids(t, " \xC3\xA9", (const uint32_t[]){ 4, 13, 14 }, 3);     /* byte fallback */
    expect_ids(t, " \xE2\x82\xAC", (const uint32_t[]){ 4, 0 }, 2);     /* € has no byte tokens → unk */
    expect_ids(t, "<unk> Paris", (const uint32_t[]){ 0, 1 }, 2);        /* added token first */
    free(img);
    vx_tokenizer_free(t);

    /* no unk and no byte fallback: VX_ENOTFOUND naming the piece. "▁" alone is no piece,
     * so even "a" fails, as it does in the reference (MissingUnkId) */
    t = parse_str("{\"pre_tokenizer\":{\"type\":\"Metaspace\"},\"model\":{\"type\":\"Unigram\",\"unk_id\":null,"
                  "\"vocab\":[[\"\xE2\x96\x81" "a\",-1],[\"\xE2\x96\x81\",-2],[\"a\",-3]]}}", &rc, &err);
    CHECK(rc == 0, "parse unk-less unigram: %s", err.msg);
    if (t) {
        uint32_t *ids;
        size_t n;
        rc = vx_tokenize(&ids, &n, t, "az", 2, &err);
        CHECK(rc == VX_ENOTFOUND && strstr(err.msg, "'z'"), "unencodable: rc %d '%s'", rc, err.msg);
        expect_ids(t, "a", (const uint32_t[]){ 0 }, 1);
        vx_tokenizer_free(t);
    }
}

/* Legacy "a b" merges, style detection of other files, WordPiece, duplicates. */
static void small_tests(void) {
    int rc;
    vx_err err = { 0 };
    vx_tokenizer *t = parse_str(
        "{\"added_tokens\":[{\"id\":5,\"content\":\"\xC4\xA0\"}],\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":"
        "[{\"type\":\"Split\",\"pattern\":{\"Regex\":\" ?\\\\p{L}+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}]},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\xC4\xA0\":3,\"\xC4\xA0" "ab\":4},"
        "\"merges\":[\"#version: 0.2\",\"a b\",\"\xC4\xA0 ab\"]}}", &rc, &err);
    CHECK(rc == 0, "legacy merges: %s", err.msg);
    if (t) {
        CHECK(vx_tokenizer_style(t) == VX_STYLE_BYTELEVEL, "Sequence[Split, ByteLevel] is BYTELEVEL");
        CHECK(vx_tokenizer_size(t) == 6, "size with added id beyond vocab");
        expect_ids(t, "ab ab", (const uint32_t[]){ 2, 4 }, 2);
        uint8_t *img;
        size_t ilen;
        vx_vocab v;
        if (vx_vocab_build(&img, &ilen, t, 6, &err) == 0) {
            CHECK(vx_vocab_parse(&v, img, ilen, NULL, &err) == 0, "parse: %s", err.msg);
            CHECK(vx_vocab_find(&v, "\xC4\xA0", 2) == 3, "duplicate raw maps to the lowest id");
            const char *r, *x;
            size_t rl, xl;
            vx_vocab_get(&v, 5, &r, &rl, &x, &xl);
            CHECK(same(r, rl, "\xC4\xA0") && same(x, xl, " "), "id 5 keeps its string");
            vx_vocab_get(&v, 3, &r, &rl, &x, &xl);
            CHECK(same(x, xl, " "), "Ġ reads as a space");
            free(img);
        }
        vx_tokenizer_free(t);
    }
    /* Gemma/Llama-2 legacy: Prepend+Replace normalizer, BPE with byte fallback */
    t = parse_str("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xE2\x96\x81\"},"
                  "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}]},"
                  "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,"
                  "\"\xE2\x96\x81\":1,\"x\":2,\"y\":3,\"\xE2\x96\x81x\":4,\"<0x7A>\":5},\"merges\":[[\"\xE2\x96\x81\",\"x\"]]}}",
                  &rc, &err);
    CHECK(rc == 0 && vx_tokenizer_style(t) == VX_STYLE_METASPACE, "Prepend(▁) normalizer → METASPACE: %s", err.msg);
    if (t) {
        expect_ids(t, "x y", (const uint32_t[]){ 4, 1, 3 }, 3);
        expect_ids(t, "xz", (const uint32_t[]){ 4, 5 }, 2);
        expect_ids(t, "xq", (const uint32_t[]){ 4, 0 }, 2);
        vx_tokenizer_free(t);
    }
    /* WordPiece */
    t = parse_str("{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                  "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
                  "\"vocab\":{\"[UNK]\":0,\"un\":1,\"##believ\":2,\"##able\":3,\"!\":4,\"paris\":5}}}", &rc, &err);
    CHECK(rc == 0 && vx_tokenizer_style(t) == VX_STYLE_PLAIN, "WordPiece PLAIN: %s", err.msg);
    if (t) {
        expect_ids(t, "Unbelievable! Paris xyz", (const uint32_t[]){ 1, 2, 3, 4, 5, 0 }, 6);
        vx_tokenizer_free(t);
    }
}

static void json_rejects(void) {
    static const struct { const char *json; int code; const char *needle; } cases[] = {
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", VX_ECORRUPT, "id 0" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"abc\":-3},\"merges\":[]}}", VX_ECORRUPT, "'abc' has id -3" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1.5},\"merges\":[]}}", VX_ECORRUPT, "model.vocab" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":3000000000},\"merges\":[]}}", VX_ECORRUPT, "2^31" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"0\"},\"merges\":[]}}", VX_ECORRUPT, "non-numeric" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":2000000000},\"merges\":[]}}", VX_ECORRUPT, "sparse" },
        { "{\"added_tokens\":[{\"id\":0,\"content\":5}],\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}",
          VX_ECORRUPT, "added_tokens[0]" },
        { "{\"added_tokens\":[{\"id\":0,\"content\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
          VX_ECORRUPT, "two different tokens" },
        { "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[5,-1.0]]}}", VX_ECORRUPT, "model.vocab[0]" },
        { "{\"model\":{\"type\":\"Unigram\",\"unk_id\":7,\"vocab\":[[\"a\",-1.0]]}}", VX_ECORRUPT, "unk_id" },
        { "{\"model\":{\"type\":\"Foo\",\"vocab\":{}}}", VX_EUNSUPPORTED, "Foo" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", VX_ECORRUPT, "model.merges[0]" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}", VX_ECORRUPT, "model.merges[0]" },
        { "[1,2]", VX_ECORRUPT, "model" },
        { "", VX_ECORRUPT, "JSON" },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}} {}", VX_ECORRUPT, "after the JSON" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc;
        vx_err err = { 0 };
        vx_tokenizer *t = parse_str(cases[i].json, &rc, &err);
        CHECK(rc == cases[i].code && !t && strstr(err.msg, cases[i].needle) && strstr(err.msg, "tokenizer.json"),
              "reject case %zu: rc %d msg '%s'", i, rc, err.msg);
        vx_tokenizer_free(t);
    }
    /* every truncation before the closing brace is invalid JSON; exact-size heap copies
     * so ASan sees any read past the end */
    size_t full = strlen(UNIGRAM), last = full;
    while (last && UNIGRAM[last - 1] != '}') last--;
    int bad = 0;
    for (size_t l = 0; l < last; l++) {
        uint8_t *p = malloc(l ? l : 1);
        memcpy(p, UNIGRAM, l);
        vx_tokenizer *t = NULL;
        vx_err err = { 0 };
        int rc = vx_tokenizer_parse(&t, p, l, "tokenizer.json", &err);
        if (rc != VX_ECORRUPT || t) bad++;
        vx_tokenizer_free(t);
        free(p);
    }
    CHECK(bad == 0, "%d truncations of tokenizer.json accepted", bad);
}

/* Parse a copy of exactly `len` bytes; return the code. */
static int parse_copy(const uint8_t *img, size_t len, vx_err *err) {
    uint8_t *p = malloc(len ? len : 1);
    memcpy(p, img, len);
    vx_vocab v;
    int rc = vx_vocab_parse(&v, p, len, "vocab.bin", err);
    if (rc == 0) {  /* exercise every lookup on whatever was accepted */
        for (uint32_t id = 0; id < v.n; id++) {
            const char *r, *x;
            size_t rl, xl;
            vx_vocab_get(&v, id, &r, &rl, &x, &xl);
            (void)vx_vocab_find(&v, r, rl);
        }
        (void)vx_vocab_find(&v, "zz", 2);
    }
    free(p);
    return rc;
}

/* V10..V12 the plain way, for image_differential: 1 when every entry and bucket holds. */
static int entries_buckets_ref(const uint8_t *img) {
    uint32_t n = vx_le32(img + 12), nb = vx_le32(img + 20);
    const uint8_t *E = img + vx_le64(img + 24), *B = img + vx_le64(img + 40), *S = img + vx_le64(img + 56);
    uint64_t slen = vx_le64(img + 64), used = 0;
    for (uint32_t id = 0; id < n; id++) {
        const uint8_t *e = E + 16 * (uint64_t)id;
        if ((uint64_t)vx_le32(e) + vx_le32(e + 4) > slen || (uint64_t)vx_le32(e + 8) + vx_le32(e + 12) > slen) return 0;
        if (!vx_utf8_valid((const char *)S + vx_le32(e + 8), vx_le32(e + 12))) return 0;
    }
    for (uint32_t h = 0; h < nb; h++) {
        uint32_t id = vx_le32(B + 4 * (uint64_t)h);
        if (id == 0xFFFFFFFFu) continue;
        if (id >= n || vx_le32(E + 16 * (uint64_t)id + 4) == 0 || ++used > n) return 0;
    }
    return 1;
}

/* vx_vocab_parse checks entries and buckets by a fast pass first (format/vocab.c); on
 * random edits of entries, buckets and strings it must accept exactly what the plain
 * per-entry rules accept — texts cut inside a UTF-8 character, ids out of range or with
 * no raw string, too many occupied buckets, and images whose bucket count is not a
 * multiple of four. */
static void image_differential(const uint8_t *img, size_t len, const char *what, int iters) {
    uint8_t *c = malloc(len);
    uint32_t n = vx_le32(img + 12), nb = vx_le32(img + 20);
    uint64_t eoff = vx_le64(img + 24), boff = vx_le64(img + 40), soff = vx_le64(img + 56), slen = vx_le64(img + 64);
    uint64_t r = 0x9E3779B97F4A7C15ull;
    int differ = 0, accepted = 0, open_bad = 0, get_bad = 0, finds = 0, corrupt_finds = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(c, img, len);
        for (int j = 0, k = 1 + it % 3; j < k; j++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            uint32_t id = n ? (uint32_t)(r % n) : 0, h = (uint32_t)((r >> 20) % nb), d = (uint32_t)(r >> 40) % 5;
            switch ((r >> 50) % 6) {
            case 0: if (n) vx_put32(c + eoff + 16 * (uint64_t)id + 8, vx_le32(c + eoff + 16 * (uint64_t)id + 8) + d - 2); break;
            case 1: if (n) vx_put32(c + eoff + 16 * (uint64_t)id + 12, vx_le32(c + eoff + 16 * (uint64_t)id + 12) + d - 2); break;
            case 2: if (n) vx_put32(c + eoff + 16 * (uint64_t)id + 4, 0); break;
            case 3: vx_put32(c + boff + 4 * (uint64_t)h, d == 0 ? n : d == 1 ? 0xFFFFFFFFu : (uint32_t)(r % (n + 2))); break;
            case 4: if (slen) c[soff + (r >> 8) % slen] = (uint8_t)(0x80 + d * 16); break;
            default: if (n) vx_put32(c + eoff + 16 * (uint64_t)id + 8, (uint32_t)(slen - d)); break;
            }
        }
        vx_vocab v;
        vx_err err = { 0 };
        int rc = vx_vocab_parse(&v, c, len, "vocab.bin", &err), want = entries_buckets_ref(c);
        accepted += rc == 0;
        if ((rc == 0) != want && differ++ < 3) fprintf(stderr, "  %s edit %d: parse rc %d '%s', plain rules %s\n", what, it, rc, err.msg, want ? "accept" : "reject");
        /* What opening checks (the header) accepts every such image; each lookup then judges
         * the entry it reads by the plain rules and never hands out a string outside the image. */
        if (vx_vocab_open(&v, c, len, "vocab.bin", &err)) { if (open_bad++ < 3) fprintf(stderr, "  %s edit %d: open: %s\n", what, it, err.msg); continue; }
        const uint8_t *E = c + eoff, *S = c + soff;
        for (uint32_t id = 0; id < n; id++) {
            const uint8_t *e = E + 16 * (uint64_t)id;
            int ok = (uint64_t)vx_le32(e) + vx_le32(e + 4) <= slen && (uint64_t)vx_le32(e + 8) + vx_le32(e + 12) <= slen &&
                     vx_utf8_valid((const char *)S + vx_le32(e + 8), vx_le32(e + 12));
            const char *r0, *t0;
            size_t rl, tl;
            int g = vx_vocab_get(&v, id, &r0, &rl, &t0, &tl);
            int inside = (const uint8_t *)r0 >= S && (const uint8_t *)r0 + rl <= S + slen && (const uint8_t *)t0 >= S &&
                         (const uint8_t *)t0 + tl <= S + slen;
            if ((g == 0) != ok || (g == 0 && !inside) || (g && (rl || tl))) {
                if (get_bad++ < 3) fprintf(stderr, "  %s edit %d: entry %u: get %d, plain rules %s\n", what, it, id, g, ok ? "accept" : "reject");
            } else if (g == 0 && rl) {
                int64_t f = vx_vocab_find(&v, r0, rl);
                finds += f >= 0;
                corrupt_finds += f == VX_VOCAB_CORRUPT;
                if (f < VX_VOCAB_CORRUPT || f >= (int64_t)n) get_bad++;
            }
        }
    }
    CHECK(differ == 0, "%s: %d of %d edited images judged unlike the plain rules", what, differ, iters);
    CHECK(open_bad == 0 && get_bad == 0, "%s: %d edited images refused at open, %d lookups unlike the plain rules", what,
          open_bad, get_bad);
    CHECK(finds > 0, "%s: no lookup of an edited image found its string (%d met a damaged bucket or entry)", what, corrupt_finds);
    CHECK(accepted > 0 && accepted < iters, "%s: %d of %d edited images accepted (both kinds must occur)", what, accepted, iters);
    free(c);
}

static void image_rejects(void) {
    int rc;
    vx_err err = { 0 };
    vx_tokenizer *t = parse_str(UNIGRAM, &rc, &err);
    if (!t) { CHECK(0, "unigram parse"); return; }
    uint8_t *img;
    size_t len;
    rc = vx_vocab_build(&img, &len, t, 18, &err);
    vx_tokenizer_free(t);
    CHECK(rc == 0, "build small image: %s", err.msg);
    if (rc) return;
    CHECK(parse_copy(img, len, &err) == 0, "small image parses: %s", err.msg);
    int bad = 0;
    for (size_t l = 0; l < len; l++) if (parse_copy(img, l, &err) != VX_ECORRUPT) bad++;
    CHECK(bad == 0, "%d of %zu truncations accepted", bad, len);
    uint8_t *c = malloc(len + 1);
    memcpy(c, img, len); c[len] = 0;
    CHECK(parse_copy(c, len + 1, &err) == VX_ECORRUPT, "trailing byte accepted");
#define MUTATE(what, code)                                                            \
    do {                                                                              \
        memcpy(c, img, len);                                                          \
        what;                                                                         \
        int r_ = parse_copy(c, len, &err);                                            \
        CHECK(r_ == (code), "%s: rc %d '%s'", #what, r_, err.msg);                    \
    } while (0)
    uint32_t n = vx_le32(img + 12), nb = vx_le32(img + 20);
    uint64_t eoff = vx_le64(img + 24), boff = vx_le64(img + 40), soff = vx_le64(img + 56), slen = vx_le64(img + 64);
    uint32_t occupied = 0;
    for (uint32_t h = 0; h < nb; h++) if (vx_le32(img + boff + 4 * h) != 0xFFFFFFFFu) { occupied = h; break; }
    MUTATE(c[0] = 'X', VX_ECORRUPT);                                        /* bad magic */
    MUTATE(vx_put32(c + 8, 2), VX_EUNSUPPORTED);                            /* version */
    MUTATE(vx_put32(c + 16, 3), VX_ECORRUPT);                               /* style */
    MUTATE(c[72] = 1, VX_ECORRUPT);                                         /* reserved */
    MUTATE(vx_put32(c + 12, n + 1), VX_ECORRUPT);                           /* n vs entries_len */
    MUTATE(vx_put32(c + 12, 0xFFFFFFFFu), VX_ECORRUPT);
    MUTATE((vx_put32(c + 20, nb - 1), vx_put64(c + 48, 4 * (uint64_t)(nb - 1))), VX_ECORRUPT); /* not 2^k */
    MUTATE((vx_put32(c + 20, nb / 4), vx_put64(c + 48, (uint64_t)nb)), VX_ECORRUPT);           /* < 2n */
    MUTATE(vx_put32(c + boff + 4 * occupied, n), VX_ECORRUPT);              /* bucket id out of range */
    MUTATE(vx_put32(c + boff + 4 * occupied, 0x7FFFFFFF), VX_ECORRUPT);
    MUTATE(for (uint32_t h = 0; h < nb; h++) vx_put32(c + boff + 4 * h, 1), VX_ECORRUPT);      /* all full */
    MUTATE(vx_put32(c + boff + 4 * occupied, 18 - 1), VX_ECORRUPT);         /* id with empty raw */
    MUTATE(vx_put32(c + eoff, (uint32_t)slen), VX_ECORRUPT);                /* raw string past end */
    MUTATE(vx_put32(c + eoff + 16 + 12, 0xFFFFFFF0u), VX_ECORRUPT);         /* text length huge */
    MUTATE(vx_put32(c + eoff + 16 + 8, 0xFFFFFFF0u), VX_ECORRUPT);          /* text offset wraps in u32 */
    MUTATE(vx_put64(c + 40, eoff), VX_ECORRUPT);                            /* buckets overlap entries */
    MUTATE(vx_put64(c + 56, boff + 4), VX_ECORRUPT);                        /* strings overlap buckets */
    MUTATE(vx_put64(c + 56, UINT64_MAX - 2), VX_ECORRUPT);                  /* offset + len wraps */
    MUTATE(vx_put64(c + 64, slen + 1), VX_ECORRUPT);                        /* strings past end */
    MUTATE(vx_put64(c + 24, 0), VX_ECORRUPT);                               /* entries over the header */
    MUTATE(c[soff + vx_le32(img + eoff + 16 + 8)] = 0xFF, VX_ECORRUPT);     /* readable not UTF-8 */
    /* flip every byte: whatever is accepted must still be safe to query */
    int crashed = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(c, img, len);
        c[i] ^= 0xA5;
        rc = parse_copy(c, len, &err);
        if (rc != 0 && rc != VX_ECORRUPT && rc != VX_EUNSUPPORTED) crashed++;
    }
    CHECK(crashed == 0, "byte flips gave unexpected codes");
    image_differential(img, len, "small image", 3000);
    free(c);
    free(img);
    /* one and two entries: one and four buckets, under the fast pass's four lanes */
    for (uint32_t rows = 0; rows <= 2; rows++) {
        vx_tokenizer *t1 = parse_str(UNIGRAM, &rc, &err);
        if (!t1 || vx_vocab_build(&img, &len, t1, rows, &err)) { CHECK(0, "build %u rows", rows); vx_tokenizer_free(t1); continue; }
        vx_tokenizer_free(t1);
        CHECK(parse_copy(img, len, &err) == 0, "%u-row image parses: %s", rows, err.msg);
        if (rows) image_differential(img, len, rows == 1 ? "one-row image" : "two-row image", 400);
        free(img);
    }
}

/* Driver for tests/t_tokenize.py: `test_vocab --tokenize tokenizer.json` reads one
 * hex-encoded UTF-8 string per line on stdin and prints its ids (space-separated), or
 * "ERR <code>", one line each. */
static int tokenize_driver(const char *path) {
    char *json, line[65536];
    size_t len;
    vx_err err = { 0 };
    vx_tokenizer *t = NULL;
    if (vx_read_file(&json, &len, path, 64 << 20, &err) ||
        vx_tokenizer_parse(&t, (const uint8_t *)json, len, path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    free(json);
    while (fgets(line, sizeof line, stdin)) {
        char text[32768];
        size_t n = 0;
        for (size_t i = 0; line[i] && line[i + 1] && line[i] != '\n' && n < sizeof text; i += 2) {
            unsigned b;
            if (sscanf(line + i, "%2x", &b) != 1) break;
            text[n++] = (char)b;
        }
        uint32_t *ids;
        size_t k;
        int rc = vx_tokenize(&ids, &k, t, text, n, &err);
        if (rc) { printf("ERR %d\n", rc); continue; }
        for (size_t i = 0; i < k; i++) printf(i ? " %u" : "%u", ids[i]);
        printf("\n");
        free(ids);
    }
    vx_tokenizer_free(t);
    return 0;
}

/* Driver for the regex part of tests/t_tokenize.py: `test_vocab --regex HEXPATTERN` reads
 * hex-encoded lines and prints the byte spans "start-end" of vx_regex_find_all, or
 * "ERR <code> <why>" once if the pattern does not compile. */
static int regex_driver(const char *hexpat) {
    char pat[4096], line[65536], why[200];
    size_t pn = 0;
    for (size_t i = 0; hexpat[i] && hexpat[i + 1] && pn < sizeof pat; i += 2) {
        unsigned b;
        if (sscanf(hexpat + i, "%2x", &b) != 1) break;
        pat[pn++] = (char)b;
    }
    vx_regex *re = NULL;
    int rc = vx_regex_compile(&re, pat, pn, VX_RE_ONIG, why, sizeof why);
    if (rc) { printf("ERR %d %s\n", rc, why); return 0; }
    while (fgets(line, sizeof line, stdin)) {
        char text[32768];
        size_t n = 0;
        for (size_t i = 0; line[i] && line[i + 1] && line[i] != '\n' && n < sizeof text; i += 2) {
            unsigned b;
            if (sscanf(line + i, "%2x", &b) != 1) break;
            text[n++] = (char)b;
        }
        vx_span *sp;
        size_t k;
        if (vx_regex_find_all(re, text, n, &sp, &k, NULL)) { printf("ERR nomem\n"); continue; }
        for (size_t i = 0; i < k; i++) printf(i ? " %zu-%zu" : "%zu-%zu", sp[i].start, sp[i].end);
        printf("\n");
        free(sp);
    }
    vx_regex_free(re);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--tokenize") == 0) return tokenize_driver(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--regex") == 0) return regex_driver(argv[2]);
    fixture_tests(argc > 1 ? argv[1] : "tests/fixtures/tiny-llama/tokenizer.json");
    unigram_tests();
    small_tests();
    json_rejects();
    image_rejects();
    return CHECK_DONE();
}
