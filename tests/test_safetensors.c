/*
 * test_safetensors.c — vx_st_parse on a well-formed buffer, on the fixture files, and on
 * one crafted buffer per rule of spec/checkpoint-input.md §S, each of which must be
 * rejected with VX_ECORRUPT and a message naming what was wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"

/* A safetensors buffer: 8-byte length, `json`, then `data_len` bytes of 0xAB. */
static uint8_t *mk(size_t *len, const char *json, size_t data_len) {
    size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *b = malloc(*len);
    vx_put64(b, n);
    memcpy(b + 8, json, n);
    memset(b + 8 + n, 0xAB, data_len);
    return b;
}

/* Parse must fail with VX_ECORRUPT and a message containing `want`. */
static void reject(const char *what, const uint8_t *b, size_t len, const char *want) {
    vx_st_file f;
    vx_err e = {0};
    int rc = vx_st_parse(&f, b, len, "t.safetensors", &e);
    CHECK(rc == VX_ECORRUPT, "%s: expected VX_ECORRUPT, got %d (%s)", what, rc, e.msg);
    CHECK(rc != VX_OK || f.n == 0, "%s: file not emptied on error", what);
    CHECK(strstr(e.msg, want) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, want);
    CHECK(strstr(e.msg, "t.safetensors") != NULL, "%s: message '%s' lacks the file name", what, e.msg);
    if (rc == VX_OK) vx_st_free(&f);
}

static void reject_json(const char *what, const char *json, size_t data_len, const char *want) {
    size_t len;
    uint8_t *b = mk(&len, json, data_len);
    reject(what, b, len, want);
    free(b);
}

static void accept_json(const char *what, const char *json, size_t data_len, size_t want_n) {
    size_t len;
    uint8_t *b = mk(&len, json, data_len);
    vx_st_file f;
    vx_err e = {0};
    int rc = vx_st_parse(&f, b, len, "t.safetensors", &e);
    CHECK(rc == VX_OK, "%s: rejected: %s", what, e.msg);
    if (rc == VX_OK) CHECK(f.n == want_n, "%s: %zu tensors, expected %zu", what, f.n, want_n);
    vx_st_free(&f);
    free(b);
}

static void well_formed(void) {
    /* Header order differs from offset order; padded with spaces; metadata of strings. */
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[16,28]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"scalar\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[28,30]},"
                       "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[30,30]},"
                       "\"q\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[30,32]}}    ";
    size_t len;
    uint8_t *b = mk(&len, json, 32);
    vx_st_file f;
    vx_err e = {0};
    int rc = vx_st_parse(&f, b, len, "t.safetensors", &e);
    CHECK(rc == VX_OK, "well-formed rejected: %s", e.msg);
    if (rc == VX_OK) {
        CHECK(f.n == 5, "n = %zu", f.n);
        CHECK(!strcmp(f.tensors[0].name, "b"), "header order kept: %s", f.tensors[0].name);
        const vx_st_tensor *t = vx_st_find(&f, "b");
        CHECK(t && t->dtype == VX_DT_F16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nelem == 6,
              "tensor b fields");
        CHECK(t && t->data == b + 8 + strlen(json) + 16, "tensor b data pointer");
        t = vx_st_find(&f, "scalar");
        CHECK(t && t->ndim == 0 && t->nelem == 1, "rank-0 tensor");
        t = vx_st_find(&f, "empty");
        CHECK(t && t->nelem == 0 && t->begin == t->end, "zero-size tensor");
        CHECK(vx_st_find(&f, "__metadata__") == NULL, "metadata is not a tensor");
        CHECK(vx_st_find(&f, "zz") == NULL, "find of absent name");
    }
    vx_st_free(&f);
    vx_st_free(&f); /* idempotent on a zeroed struct */
    free(b);
    CHECK(!strcmp(vx_dtype_name(VX_DT_BF16), "BF16") && vx_dtype_bits(VX_DT_F6_E2M3) == 6, "dtype table");
    accept_json("no tensors", "{}", 0, 0);
    accept_json("only metadata", "{\"__metadata__\":{}}", 0, 0);
    accept_json("two zero-size at one offset",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 4, 3);
    accept_json("unknown entry key ignored",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"extra\":1}}", 2, 1);
    accept_json("UTF-8 name", "{\"caf\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 1);
}

static void fixtures(void) {
    static const char *files[] = {
        "tests/fixtures/tiny-llama/model.safetensors", "tests/fixtures/tiny-gpt2/model.safetensors",
        "tests/fixtures/tiny-gemma3/model.safetensors", "tests/fixtures/tiny-qwen3/model-00002-of-00004.safetensors",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        vx_map m;
        vx_err e = {0};
        int rc = vx_map_file(&m, files[i], &e);
        CHECK(rc == VX_OK, "map %s: %s", files[i], e.msg);
        if (rc) continue;
        vx_st_file f;
        rc = vx_st_parse(&f, m.data, m.size, files[i], &e);
        CHECK(rc == VX_OK && f.n > 10, "parse %s: %s", files[i], e.msg);
        vx_st_free(&f);
        /* Every truncation of a real file is rejected, never read past. */
        for (size_t cut = 1; cut < 64 && rc == VX_OK; cut += 7) {
            rc = vx_st_parse(&f, m.data, m.size - cut, files[i], &e);
            CHECK(rc == VX_ECORRUPT, "%s truncated by %zu accepted", files[i], cut);
            if (rc == VX_OK) vx_st_free(&f);
            rc = VX_OK;
        }
        vx_unmap(&m);
    }
}

#define T1(dt, shape, off) "{\"w\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}}"

static void corrupt(void) {
    uint8_t small[7] = {0};
    reject("len < 8", small, sizeof small, "too short");
    reject("NULL buffer", NULL, 0, "too short");

    uint8_t hdr[16] = {0};
    vx_put64(hdr, 100);
    reject("header length past end", hdr, sizeof hdr, "runs past the end");
    vx_put64(hdr, 100000001ull);
    reject("header > 100 MB", hdr, sizeof hdr, "exceeds the 100000000-byte limit");
    vx_put64(hdr, UINT64_MAX - 3);
    reject("header length near 2^64", hdr, sizeof hdr, "exceeds");

    reject_json("header not JSON", "{\"w\":", 0, "not valid JSON");
    reject_json("JSON not an object (array)", "[1,2]", 0, "not a JSON object");
    reject_json("leading space", " {}", 0, "not a JSON object");
    reject_json("garbage after object", "{}x  ", 0, "after the JSON object");
    {
        size_t len;
        uint8_t *b = mk(&len, "{}  ", 0);
        b[8 + 3] = 0;
        reject("NUL after object", b, len, "after the JSON object");
        free(b);
    }
    reject_json("entry not an object", "{\"w\":3}", 0, "expected an object");
    reject_json("unknown dtype", T1("F17", "[1]", "[0,4]"), 4, "unknown dtype 'F17'");
    reject_json("lower-case dtype", T1("f32", "[1]", "[0,4]"), 4, "unknown dtype");
    reject_json("dtype not a string", "{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype");
    reject_json("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "shape");
    reject_json("duplicate key in entry",
                "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "appears twice");
    reject_json("offsets out of range", T1("F32", "[1]", "[0,4]"), 2, "out of range");
    reject_json("offsets end before begin", T1("F32", "[0]", "[4,0]"), 4, "end before begin");
    reject_json("offsets not a pair", T1("F32", "[1]", "[0,4,8]"), 4, "[begin, end]");
    reject_json("dtype x shape != bytes", T1("F16", "[128]", "[0,100]"), 100,
                "tensor 'w': data_offsets [0,100] hold 100 bytes, F16 shape [128] needs 256");
    reject_json("sub-byte dtype not whole bytes", T1("F4", "[3]", "[0,2]"), 2, "not a whole number of bytes");
    reject_json("shape product overflow", T1("U8", "[4294967296,4294967296]", "[0,1]"), 1, "overflows");
    reject_json("bit count overflow", T1("F64", "[4503599627370496,256]", "[0,1]"), 1, "overflows");
    reject_json("absurd dims (> 2^53)", T1("U8", "[1e20]", "[0,1]"), 1, "larger than 2^53");
    reject_json("too many dims", T1("U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]"), 1, "9 dimensions");
    reject_json("negative dims", T1("U8", "[-1]", "[0,1]"), 1, "shape[0] is negative");
    reject_json("float dims", T1("U8", "[1.5]", "[0,1]"), 1, "not an integer");
    reject_json("integral float literal", T1("U8", "[1.0]", "[0,1]"), 1, "integer literal");
    reject_json("exponent literal", T1("U8", "[1]", "[0,1e0]"), 1, "integer literal");
    reject_json("minus zero", T1("U8", "[1]", "[-0,1]"), 1, "integer literal");
    reject_json("leading zero", T1("U8", "[01]", "[0,1]"), 1, "integer literal");
    reject_json("string dim", T1("U8", "[\"1\"]", "[0,1]"), 1, "not a number");
    reject_json("negative offset", T1("U8", "[1]", "[-1,0]"), 1, "negative");

    /* S9: tiling. */
    reject_json("overlapping",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, "overlap tensor 'a'");
    reject_json("gap",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}", 10, "gap of 2 bytes");
    reject_json("gap at start", T1("U8", "[4]", "[2,6]"), 6, "gap of 2 bytes after the buffer start");
    reject_json("trailing bytes", T1("U8", "[4]", "[0,4]"), 5, "1 trailing bytes");
    reject_json("trailing bytes with no tensors", "{}", 3, "trailing bytes");
    accept_json("unsorted but tiling",
                "{\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[4,6]}}", 8, 3);

    /* S8: names. */
    reject_json("duplicate names",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "duplicate tensor name 'a'");
    reject_json("non-UTF-8 name", "{\"caf\xe9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "invalid UTF-8");
    reject_json("overlong UTF-8 name", "{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "invalid UTF-8");
    reject_json("surrogate UTF-8 name", "{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "invalid UTF-8");
    reject_json("truncated UTF-8 name", "{\"a\xe2\x82\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "invalid UTF-8");
    reject_json("\\u0000 in name", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "\\u0000");
    reject_json("control byte in name", "{\"a\tb\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "control byte");
    reject_json("duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate");
    reject_json("__metadata__ non-string", "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0,
                "'__metadata__' key 'n': value must be a string");
    reject_json("__metadata__ nested object", "{\"__metadata__\":{\"x\":{}}}", 0, "must be a string");
    reject_json("tensor named __metadata__", "{\"__metadata__\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                1, "must be a string");
    reject_json("__metadata__ not an object", "{\"__metadata__\":\"pt\"}", 0, "must be an object of strings");
}

/* Every single-byte corruption of a small valid file is either accepted or VX_ECORRUPT. */
static void flips(void) {
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}";
    size_t len;
    uint8_t *b = mk(&len, json, 11);
    int bad = 0;
    for (size_t i = 0; i < len; i++)
        for (int v = 0; v < 256; v += 17) {
            uint8_t *c = malloc(len);
            memcpy(c, b, len);
            c[i] = (uint8_t)v;
            vx_st_file f;
            vx_err e;
            int rc = vx_st_parse(&f, c, len, "flip", &e);
            if (rc != VX_OK && rc != VX_ECORRUPT) bad++;
            if (rc == VX_OK) vx_st_free(&f);
            free(c);
        }
    CHECK(bad == 0, "%d byte flips gave an error other than VX_ECORRUPT", bad);
    free(b);
}

int main(void) {
    well_formed();
    fixtures();
    corrupt();
    flips();
    return CHECK_DONE();
}
