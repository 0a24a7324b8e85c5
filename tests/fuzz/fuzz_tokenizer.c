/*
 * fuzz_tokenizer.c — vx_tokenizer_parse (tokenizer.json) on arbitrary bytes, and then the
 * whole path a checkpoint's tokenizer takes: vx_vocab_build into a vocab.bin image, which
 * vx_vocab_parse must accept and which must hold the same raw string for every id, and
 * vx_tokenize of a few fixed strings and of the input's own last bytes (arbitrary,
 * possibly invalid UTF-8), whose ids must all name tokens.
 */
#include "unicode.h"
#include "vocab.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOK_MAX_ROWS (1u << 16) /* bigger tables are valid, but cost memory, not coverage */

static void tok_check_ids_(const vx_tokenizer *t, const char *s, size_t n) {
    uint32_t *ids = NULL;
    size_t k = 0;
    vx_err err = { 0 };
    int rc = vx_tokenize(&ids, &k, t, s, n, &err);
    if (rc) {
        /* EUSAGE: the text is not UTF-8; ECORRUPT/EUNSUPPORTED: a component the file holds */
        FUZZ_ASSERT(rc == VX_EUNSUPPORTED || rc == VX_ENOTFOUND || rc == VX_ENOMEM || rc == VX_ECORRUPT || rc == VX_EUSAGE,
                    "rc %d", rc);
        FUZZ_ASSERT(rc != VX_EUSAGE || vx_utf8_check((const unsigned char *)s, n) != n, "EUSAGE on valid UTF-8");
        FUZZ_ASSERT(ids == NULL && err.msg[0], "error without message or with a result");
        return;
    }
    FUZZ_ASSERT(ids != NULL, "no id array");
    for (size_t i = 0; i < k; i++) {
        size_t l;
        FUZZ_ASSERT(ids[i] < vx_tokenizer_size(t), "id %u >= size %u", ids[i], vx_tokenizer_size(t));
        FUZZ_ASSERT(vx_tokenizer_token(t, ids[i], &l) != NULL, "id %u names no token", ids[i]);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_tokenizer *t = NULL;
    vx_err err = { 0 };
    int rc = vx_tokenizer_parse(&t, data, size, "tokenizer.json", &err);
    fuzz_result("fuzz_tokenizer", rc, err.msg);
    if (rc) {
        FUZZ_ASSERT(rc == VX_ECORRUPT || rc == VX_EUNSUPPORTED || rc == VX_ENOMEM, "rc %d", rc);
        FUZZ_ASSERT(t == NULL && err.msg[0], "error without message or with a result");
        return 0;
    }
    uint32_t rows = vx_tokenizer_size(t);
    FUZZ_ASSERT(vx_tokenizer_style(t) <= VX_STYLE_METASPACE, "style");
    size_t l = 7;
    FUZZ_ASSERT(vx_tokenizer_token(t, rows, &l) == NULL && l == 0, "id size answers a token");
    if (rows <= TOK_MAX_ROWS) {
        uint8_t *img = NULL;
        size_t ilen = 0;
        rc = vx_vocab_build(&img, &ilen, t, rows + 3, &err); /* +3: padded embedding rows (V15) */
        FUZZ_ASSERT(rc == VX_OK || rc == VX_ENOMEM, "build: %s", err.msg);
        if (rc == VX_OK) {
            vx_vocab v;
            rc = vx_vocab_parse(&v, img, ilen, "vocab.bin (built)", &err);
            FUZZ_ASSERT(rc == VX_OK, "built vocab.bin rejected: %s", err.msg);
            FUZZ_ASSERT(v.n == rows + 3 && v.style == vx_tokenizer_style(t), "n %u style %d", v.n, v.style);
            for (uint32_t id = 0; id < v.n; id++) {
                const char *raw, *text;
                size_t rl, tl, ol = 0;
                vx_vocab_get(&v, id, &raw, &rl, &text, &tl);
                const char *orig = vx_tokenizer_token(t, id, &ol);
                FUZZ_ASSERT(orig ? ol == rl && memcmp(orig, raw, rl) == 0 : rl == 0, "id %u raw differs", id);
                fuzz_touch(text, tl);
                if (rl) {
                    int64_t got = vx_vocab_find(&v, raw, rl);
                    /* V14: a raw string held by several ids finds the lowest */
                    FUZZ_ASSERT(got >= 0 && got <= id, "find(raw of %u) -> %lld", id, (long long)got);
                }
            }
            free(img);
        }
    }
    static const char *const texts[] = { "Hello world", " Paris is the capital of France.", "",
                                         "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e 123", "  \t\n", "<|endoftext|>x" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) tok_check_ids_(t, texts[i], strlen(texts[i]));
    size_t tail = size < 48 ? size : 48;
    tok_check_ids_(t, (const char *)data + size - tail, tail);
    vx_tokenizer_free(t);
    return 0;
}
