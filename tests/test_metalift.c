/*
 * test_metalift.c — index.json's sigma arrays read outside cJSON (format/metalift.h) must
 * give exactly what cJSON alone gives: for every document below — well-formed, with
 * numbers in every JSON spelling, with the traps the scanner must see (escaped or repeated
 * keys, a byte order mark, control bytes as whitespace, trailing bytes, long numbers), every
 * truncation and thousands of random byte edits — vx_meta_parse is run with lifting and
 * without, and the return code, the error message and every sigma value must agree.
 * vx_json_number is compared with strtod bit for bit. And the point of it all: parsing a
 * Qwen3-8B-shaped index.json makes a few hundred cJSON allocations, not one per number.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "common.h"
#include "metalift.h"
#include "vxmeta.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ------------------------------------------------------------------ documents */

typedef struct buf { char *p; size_t n, cap; } buf;
static void put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* An index.json with L layers of F features (H = 2F, V = 64, K = 2); sig(l, kind) gives
 * the text inside each sigma array, layer_head/layer_tail go inside each layer object
 * before/after its members, root_head inside the root object first. */
typedef const char *(*sig_fn)(uint32_t l, int kind, uint32_t F, char *tmp, size_t cap);
static char *make_doc(size_t *len, uint32_t L, uint32_t F, sig_fn sig, const char *root_head, const char *layer_head,
                      const char *layer_tail) {
    buf b = { 0 };
    char t[512];
    uint32_t H = 2 * F, V = 64, K = 2;
    uint64_t per = (uint64_t)F * H * 2;
    puts_(&b, "{");
    puts_(&b, root_head ? root_head : "");
    snprintf(t, sizeof t,
             "\"version\": 1, \"model\": \"m\", \"model_type\": \"llama\", \"architecture\": \"A\", \"source_dtype\": "
             "\"bfloat16\", \"num_layers\": %u, \"num_feats\": %u, \"hidden_size\": %u, \"intermediate_size\": %u, "
             "\"vocab_size\": %u, \"down_top_k\": %u, \"dtype\": \"f16\", \"embed_scale\": 1, \"norm_offset\": 0, "
             "\"tied_embeddings\": false, \"layers\": [",
             L, F, H, 3 * H, V, K);
    puts_(&b, t);
    size_t cap = (size_t)F * 64 + 64;
    char *tmp = malloc(cap);
    for (uint32_t l = 0; l < L; l++) {
        snprintf(t, sizeof t, "%s{%s\"layer\": %u, \"num_features\": %u, \"offset\": %llu, \"length\": %llu", l ? ", " : "",
                 layer_head ? layer_head : "", l, F, (unsigned long long)(l * per), (unsigned long long)per);
        puts_(&b, t);
        for (int k = 0; k < 2; k++) {
            puts_(&b, k ? ", \"down_sigma\": [" : ", \"gate_sigma\": [");
            puts_(&b, sig(l, k, F, tmp, cap));
            puts_(&b, "]");
        }
        puts_(&b, layer_tail ? layer_tail : "");
        puts_(&b, "}");
    }
    free(tmp);
    uint64_t dm = 32 + (uint64_t)L * 2 * F * 16 * K;
    snprintf(t, sizeof t,
             "], \"norms_bytes\": 0, \"norms\": [], \"files\": {\"gate_vectors.bin\": {\"bytes\": %llu, \"dtype\": \"f16\"}, "
             "\"down_features.bin\": {\"bytes\": %llu, \"dtype\": \"f16\"}, \"down_meta.bin\": {\"bytes\": %llu, \"dtype\": "
             "\"u8\"}, \"embeddings.bin\": {\"bytes\": %llu, \"dtype\": \"f16\"}, \"norms.bin\": {\"bytes\": 0, \"dtype\": "
             "\"f32\"}, \"vocab.bin\": {\"bytes\": 100, \"dtype\": \"u8\"}, \"tokenizer.json\": {\"bytes\": 10, \"dtype\": "
             "\"json\"}}}",
             (unsigned long long)(L * per), (unsigned long long)(L * per), (unsigned long long)dm,
             (unsigned long long)V * H * 2);
    puts_(&b, t);
    *len = b.n;
    return b.p;
}

static const char *sig_plain(uint32_t l, int kind, uint32_t F, char *tmp, size_t cap) {
    size_t n = 0;
    for (uint32_t f = 0; f < F; f++)
        n += (size_t)snprintf(tmp + n, cap - n, "%s%.9g", f ? ", " : "", (double)(float)(100.0 / (1.0 + f + l + kind)));
    return tmp;
}

static const char *fixed_text;
static const char *sig_fixed(uint32_t l, int kind, uint32_t F, char *tmp, size_t cap) {
    (void)F; (void)tmp; (void)cap;
    return l == 1 && kind == 0 ? fixed_text : "4, 3, 2, 1";
}

/* ------------------------------------------------------------------ comparison */

static int lifted_spans(const char *d, size_t n) {
    vx_lifted l;
    vx_meta_lift(&l, (const uint8_t *)d, n);
    int k = 0;
    for (uint32_t i = 0; i < l.n_layers; i++) k += !!vx_lifted_span(&l, i, 0) + !!vx_lifted_span(&l, i, 1);
    vx_lifted_free(&l);
    return k;
}

/* Parse with and without lifting; 1 when both agree in code, message and values. */
static int agree(const char *d, size_t n, const char *what) {
    vx_meta a, b;
    vx_err ea = { 0 }, eb = { 0 };
    vx_meta_lift_enabled = 1;
    int ra = vx_meta_parse(&a, (const uint8_t *)d, n, "index.json", &ea);
    vx_meta_lift_enabled = 0;
    int rb = vx_meta_parse(&b, (const uint8_t *)d, n, "index.json", &eb);
    vx_meta_lift_enabled = 1;
    int ok = ra == rb && (ra ? !strcmp(ea.msg, eb.msg) : a.num_layers == b.num_layers && a.num_feats == b.num_feats);
    for (uint32_t l = 0; ok && !ra && l < a.num_layers; l++)
        ok = !memcmp(a.layers[l].gate_sigma, b.layers[l].gate_sigma, a.num_feats * sizeof(float)) &&
             !memcmp(a.layers[l].down_sigma, b.layers[l].down_sigma, a.num_feats * sizeof(float));
    if (!ok) fprintf(stderr, "  %s: lifted rc %d '%s', cJSON rc %d '%s'\n", what, ra, ea.msg, rb, eb.msg);
    if (!ra) vx_meta_free(&a);
    if (!rb) vx_meta_free(&b);
    return ok;
}

static void base_and_spellings(void) {
    size_t n;
    char *d = make_doc(&n, 3, 4, sig_plain, NULL, NULL, NULL);
    vx_meta m;
    vx_err e = { 0 };
    int rc = vx_meta_parse(&m, (const uint8_t *)d, n, "index.json", &e);
    CHECK(rc == VX_OK, "base document: %s", e.msg);
    if (!rc) {
        CHECK(m.layers[2].down_sigma[3] == (float)(100.0 / 7.0), "sigma value %.9g", (double)m.layers[2].down_sigma[3]);
        vx_meta_free(&m);
    }
    CHECK(lifted_spans(d, n) == 6, "base document: %d of 6 arrays lifted", lifted_spans(d, n));
    CHECK(agree(d, n, "base"), "base document differs");
    free(d);

    /* layer 1's gate_sigma in many spellings, good and bad; `lift` says whether the scanner
     * must take it (1), must leave it (0) or leave the whole document (-1) */
    static const struct { const char *text; int lift; } cases[] = {
        { "4, 3, 2, 1", 1 },
        { "4.0,3e0,2E+0,1.00000000000000000000000001", 1 },
        { "40e-1, 0.3e1, 200000000000000000000000e-23, 1", 1 },
        { "1e308, 1e-300, 0.0000000000000000000000000000001, 0", 1 },
        { "3.4028234663852886e38, 3.4028235e38, 1, 0", 1 },   /* FLT_MAX, then just above it */
        { "1e999, 3, 2, 1", 1 },                              /* infinite */
        { "-0, -0.0, -0e5, 0", 1 },
        { "-1, -2, -3, -4", 1 },
        { "1, 2, 3, 4", 1 },                                  /* ascending */
        { "4, 3, 2", 1 },                                     /* too few */
        { "4, 3, 2, 1, 0", 1 },                               /* too many */
        { "9007199254740993, 9007199254740992, 2, 1", 1 },    /* 2^53 + 1: strtod rounds */
        { "0.1, 0.01, 0.001, 123456789012345678901234567890e-40", 1 },
        { " \t\n4 ,\r3 , 2,1\n", 1 },
        { "", 0 },                                            /* empty: nothing to lift */
        { "4, \"3\", 2, 1", 0 },
        { "4, null, 2, 1", 0 },
        { "4, [3], 2, 1", 0 },
        { "04, 3, 2, 1", -1 },                                /* cJSON reads 04; RFC 8259 does not */
        { "4., 3, 2, 1", -1 },
        { ".4, 0.3, 0.2, 0.1", -1 },
        { "+4, 3, 2, 1", -1 },
        { "4, 3, 2, 1,", -1 },
        { "4 3, 2, 1", -1 },
        { "0x4, 3, 2, 1", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixed_text = cases[i].text;
        d = make_doc(&n, 3, 4, sig_fixed, NULL, NULL, NULL);
        int k = lifted_spans(d, n), want = cases[i].lift < 0 ? 0 : 5 + cases[i].lift;
        CHECK(k == want, "[%s]: %d arrays lifted, expected %d", cases[i].text, k, want);
        CHECK(agree(d, n, cases[i].text), "[%s]: lifted and cJSON parses differ", cases[i].text);
        free(d);
    }
}

/* The traps: documents where a careless scanner would take the wrong array. */
static void traps(void) {
    static const struct { const char *root, *head, *tail, *why; int lift; } cases[] = {
        { NULL, "\"gate\\u005fsigma\": [], ", NULL, "escaped key first in a layer", 0 },
        { NULL, NULL, ", \"gate\\u005fsigma\": [9, 9, 9, 9]", "escaped key after", 0 },
        { NULL, NULL, ", \"gate_sigma\": [9, 9, 9, 9, 9]", "repeated key after (cJSON takes the first)", 6 },
        { NULL, "\"gate_sigma\": [1, 2, 3, 4], ", NULL, "repeated key first, bad values", 6 },
        { NULL, "\"gate_sigma\": \"x\", ", NULL, "repeated key first, not an array", 3 },
        { "\"l\\u0061yers\": [], ", NULL, NULL, "escaped root key", 0 },
        { "\"layers\": [], ", NULL, NULL, "repeated root key first", 0 },
        { "\"x\": {\"layers\": [{\"gate_sigma\": [1]}]}, ", NULL, NULL, "nested look-alike", 6 },
        { "\"s\": \"\\\"layers\\\": [{\\\"gate_sigma\\\": [1]}]\", ", NULL, NULL, "look-alike inside a string", 6 },
        { "\"k\x01\": 1, ", NULL, NULL, "control byte in a root key", 0 },
        { "\"deep\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], ",
          NULL, NULL, "nesting deeper than the scanner goes", 0 },
        { "\"n\": 1.5e3, \"t\": true, \"f\": false, \"z\": null, \"o\": {}, \"a\": [], ", NULL, NULL, "every kind of value", 6 },
        { "\"n\": 1.5e, ", NULL, NULL, "bad number elsewhere", 0 },
        { "\"layers\": [1, 2, [3], \"x\", null, {\"gate_sigma\": [5, 4, 3, 2]}], ", NULL, NULL, "first layers holds no objects but one", 1 },
        { "\"n\": nul, ", NULL, NULL, "bad literal", 0 },
    };
    fixed_text = "4, 3, 2, 1";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *d = make_doc(&n, 3, 4, sig_fixed, cases[i].root, cases[i].head, cases[i].tail);
        int k = lifted_spans(d, n);
        CHECK(k == cases[i].lift, "%s: %d arrays lifted, expected %d", cases[i].why, k, cases[i].lift);
        CHECK(agree(d, n, cases[i].why), "%s: lifted and cJSON parses differ", cases[i].why);
        free(d);
    }
    /* nesting deeper than the scanner goes (cJSON goes to 1000) */
    char deep[512];
    int k = snprintf(deep, sizeof deep, "\"deep\": ");
    for (int i = 0; i < 100; i++) deep[k++] = '[';
    deep[k++] = '1';
    for (int i = 0; i < 100; i++) deep[k++] = ']';
    snprintf(deep + k, sizeof deep - (size_t)k, ", ");
    size_t dn;
    char *dd = make_doc(&dn, 3, 4, sig_fixed, deep, NULL, NULL);
    CHECK(lifted_spans(dd, dn) == 0, "deep nesting: lifted");
    CHECK(agree(dd, dn, "deep nesting"), "deep nesting: lifted and cJSON parses differ");
    free(dd);
    /* a first "layers" of 200 elements, none an object */
    char many[1024];
    k = snprintf(many, sizeof many, "\"layers\": [");
    for (int i = 0; i < 200; i++) k += snprintf(many + k, sizeof many - (size_t)k, i ? ",%d" : "%d", i % 10);
    snprintf(many + k, sizeof many - (size_t)k, "], ");
    dd = make_doc(&dn, 3, 4, sig_fixed, many, NULL, NULL);
    CHECK(lifted_spans(dd, dn) == 0, "200 numbers as layers: lifted");
    CHECK(agree(dd, dn, "200 numbers as layers"), "200 numbers as layers: parses differ");
    free(dd);
    /* numbers of 63 characters are cJSON's longest: lifted; 64 and more are not */
    for (int len = 62; len <= 66; len++) {
        char num[80], text[128];
        memset(num, '0', sizeof num);
        num[0] = '4';
        num[1] = '.';
        num[len] = 0;
        snprintf(text, sizeof text, "%s, 3, 2, 1", num);
        fixed_text = text;
        dd = make_doc(&dn, 3, 4, sig_fixed, NULL, NULL, NULL);
        CHECK(lifted_spans(dd, dn) == (len <= 63 ? 6 : 0), "a %d-character number: %d lifted", len, lifted_spans(dd, dn));
        CHECK(agree(dd, dn, "long number"), "a %d-character number: lifted and cJSON parses differ", len);
        free(dd);
    }
    /* around the document: a byte order mark, control bytes as whitespace, trailing bytes */
    size_t n;
    fixed_text = "4, 3, 2, 1";
    char *d = make_doc(&n, 3, 4, sig_fixed, NULL, NULL, NULL);
    CHECK(lifted_spans(d, n) == 6, "plain document: lifted");
    const char *wraps[][2] = { { "\xEF\xBB\xBF", "" }, { "\x01\x02 ", " \x1f" }, { "", "} trailing [" }, { "\xEF\xBB", "" } };
    for (size_t w = 0; w < sizeof wraps / sizeof wraps[0]; w++) {
        buf b = { 0 };
        puts_(&b, wraps[w][0]);
        put(&b, d, n);
        puts_(&b, wraps[w][1]);
        CHECK(agree(b.p, b.n, "wrapped"), "wrap %zu: lifted and cJSON parses differ", w);
        free(b.p);
    }
    /* control bytes between every token of the sigma arrays */
    fixed_text = "\x01" "4\x02,\x1f" "3\x7f, 2, 1";
    free(d);
    d = make_doc(&n, 3, 4, sig_fixed, NULL, NULL, NULL);
    CHECK(agree(d, n, "DEL is not whitespace"), "control bytes: parses differ");
    free(d);
}

static void truncations_and_edits(void) {
    size_t n;
    fixed_text = "4, 3.5e0, 2, 1";
    char *d = make_doc(&n, 3, 4, sig_fixed, NULL, NULL, NULL);
    int bad = 0;
    for (size_t l = 0; l <= n; l++) bad += !agree(d, l, "truncated");
    CHECK(bad == 0, "%d of %zu truncations parse differently", bad, n + 1);
    static const char edits[] = "\"\\,[]{}: 0919-+eE.x\x00\x01";
    char *c = malloc(n);
    bad = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(c, d, n);
        int k = 1 + (int)(next() % 3);
        for (int j = 0; j < k; j++) c[next() % n] = edits[next() % (sizeof edits - 1)];
        bad += !agree(c, n, "edited");
    }
    CHECK(bad == 0, "%d of 4000 edited documents parse differently", bad);
    free(c);
    free(d);
}

/* ------------------------------------------------------------------ numbers */

static int same_bits(double a, double b) { return !memcmp(&a, &b, sizeof a); }

static void numbers(void) {
    char s[128];
    int bad = 0, total = 0;
    for (int it = 0; it < 200000; it++) {
        uint64_t r = next();
        double x;
        switch (it % 5) {
        case 0: memcpy(&x, &r, sizeof x); if (!isfinite(x)) continue; snprintf(s, sizeof s, "%.17g", x); break;
        case 1: snprintf(s, sizeof s, "%.9g", (double)(float)((double)(r >> 11) / 9007199254740992.0 * 1000)); break;
        case 2: snprintf(s, sizeof s, "%.*e", (int)(r % 25), (double)(r >> 11) * pow(10, (int)(r % 80) - 40)); break;
        case 3: { /* random digit strings: up to 30 digits, a point, an exponent */
            int nd = 1 + (int)(r % 30), pt = (int)((r >> 8) % (unsigned)(nd + 1)), k = 0;
            if (r >> 63) s[k++] = '-';
            for (int i = 0; i < nd; i++) {
                if (i == pt && i) s[k++] = '.';
                s[k++] = (char)('0' + (i == 0 && nd > 1 ? 1 + next() % 9 : next() % 10));
            }
            if ((r >> 40) & 1) k += snprintf(s + k, sizeof s - (size_t)k, "e%d", (int)((r >> 20) % 700) - 350);
            s[k] = 0;
            break;
        }
        default: snprintf(s, sizeof s, "%llu", (unsigned long long)(r >> (r % 64))); break;
        }
        double v = 0;
        size_t len = vx_json_number(s, s + strlen(s), &v);
        if (vx_json_number(s, s + strlen(s), NULL) != len) bad++; /* the scanner's length-only form */
        char *end;
        double w = strtod(s, &end);
        total++;
        if (len != strlen(s) || !same_bits(v, w)) {
            if (bad++ < 5) fprintf(stderr, "  '%s': length %zu, %.17g, strtod %.17g\n", s, len, v, w);
        }
    }
    CHECK(bad == 0, "%d of %d numbers differ from strtod", bad, total);
    static const struct { const char *s; size_t len; } shapes[] = {
        { "-", 0 }, { "+1", 0 }, { ".5", 0 }, { "1.", 0 }, { "1e", 0 }, { "1e+", 0 }, { "--1", 0 },
        { "inf", 0 }, { "nan", 0 }, { "01", 1 }, { "0x10", 1 }, { "1.5.3", 3 }, { "-0", 2 }, { "2e-3,", 4 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double v;
        size_t len = vx_json_number(shapes[i].s, shapes[i].s + strlen(shapes[i].s), &v),
               len0 = vx_json_number(shapes[i].s, shapes[i].s + strlen(shapes[i].s), NULL);
        CHECK(len == shapes[i].len && len0 == len, "'%s': length %zu (%zu without a value), expected %zu", shapes[i].s,
              len, len0, shapes[i].len);
    }
    double v = 1;
    static const char m0[] = "-0", twelve[] = "12";
    CHECK(vx_json_number(m0, m0 + 2, &v) == 2 && v == 0 && signbit(v), "-0 keeps its sign");
    /* the end bound is respected: "12" cut after one byte is 1 */
    CHECK(vx_json_number(twelve, twelve + 1, &v) == 1 && v == 1, "end bound");
}

/* ------------------------------------------------------------------ the point */

static size_t allocs;
static void *count_malloc(size_t n) { allocs++; return malloc(n); }

static void allocations(void) {
    size_t n;
    char *d = make_doc(&n, 36, 128, sig_plain, NULL, NULL, NULL);
    cJSON_Hooks h = { count_malloc, free };
    cJSON_InitHooks(&h);
    vx_meta m;
    vx_err e = { 0 };
    allocs = 0;
    int rc = vx_meta_parse(&m, (const uint8_t *)d, n, "index.json", &e);
    size_t lifted = allocs;
    if (!rc) vx_meta_free(&m);
    vx_meta_lift_enabled = 0;
    allocs = 0;
    int rc2 = vx_meta_parse(&m, (const uint8_t *)d, n, "index.json", &e);
    size_t whole = allocs;
    if (!rc2) vx_meta_free(&m);
    vx_meta_lift_enabled = 1;
    cJSON_InitHooks(NULL);
    CHECK(rc == VX_OK && rc2 == VX_OK, "36 x 128 document: %s", e.msg);
    CHECK(whole > 2 * 36 * 128, "cJSON alone allocates per number: %zu", whole);
    CHECK(lifted < 1000, "with the sigma arrays lifted: %zu cJSON allocations (cJSON alone: %zu)", lifted, whole);
    free(d);
}

/* vx_whole (format/common.h), the whole-number check of index.json's and the checkpoint's
 * integers, against d == floor(d) on edges and on random bit patterns. */
static void whole_numbers(void) {
    static const double edge[] = { 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 0x1p52, 0x1p52 - 0.5, -0x1p52 + 0.5, 0x1p53, 0x1p63,
                                   -0x1p63, 0x1p64, 1e300, -1e300, 5e-324, -5e-324, 4294967295.0, 4294967295.5,
                                   9007199254740993.0, 0x1.fffffffffffffp1023, HUGE_VAL, -HUGE_VAL, NAN };
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        double d = edge[i];
        int want = isfinite(d) && d == floor(d);
        CHECK(vx_whole(d) == want, "vx_whole(%a) = %d, floor says %d", d, vx_whole(d), want);
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        uint64_t b = i & 1 ? x : (x & 0x800fffffffffffffu) | (uint64_t)(1000 + (x >> 52) % 100) << 52; /* near 2^52 too */
        memcpy(&d, &b, sizeof d);
        bad += vx_whole(d) != (isfinite(d) && d == floor(d));
    }
    CHECK(bad == 0, "vx_whole disagrees with floor on %d of 200000 random doubles", bad);
}

int main(void) {
    whole_numbers();
    numbers();
    base_and_spellings();
    traps();
    truncations_and_edits();
    allocations();
    return CHECK_DONE();
}
