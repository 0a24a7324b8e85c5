/*
 * test_tokregex.c — the tokenizer's regex engine (format/tokregex.c): matching semantics
 * on small cases (priority, laziness, lookahead, case folding, anchors, empty matches),
 * every refused construct named in its error, and the work bound of tokregex.h on
 * pathological patterns and inputs — including whole tokenizations — where a
 * backtracking matcher takes exponential or quadratic time. Differential testing
 * against the reference is tests/t_tokenize.py's.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tokenizer.h"
#include "tokregex.h"

/* "s-e s-e ..." of the matches of pat in text. */
static void spans_of(char *out, size_t cap, const char *pat, const char *text, int *rc) {
    vx_regex *re = NULL;
    char why[160];
    out[0] = 0;
    *rc = vx_regex_compile(&re, pat, strlen(pat), VX_RE_ONIG, why, sizeof why);
    if (*rc) { snprintf(out, cap, "ERR %s", why); return; }
    vx_span *sp;
    size_t k, o = 0;
    *rc = vx_regex_find_all(re, text, strlen(text), &sp, &k, NULL);
    for (size_t i = 0; !*rc && i < k && o + 24 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, i ? " %zu-%zu" : "%zu-%zu", sp[i].start, sp[i].end);
    if (!*rc) free(sp);
    vx_regex_free(re);
}

static void expect(const char *pat, const char *text, const char *want) {
    char got[512];
    int rc;
    spans_of(got, sizeof got, pat, text, &rc);
    CHECK(rc == 0 && strcmp(got, want) == 0, "/%s/ on '%s': got '%s', want '%s'", pat, text, got, want);
}

static void semantics(void) {
    expect("a|ab", "ab", "0-1");                       /* leftmost-first, not longest */
    expect("ab|a", "ab", "0-2");
    expect("a*", "aab", "0-2 3-3");                     /* empty match after a match skipped, then at the end */
    expect("x*", "ab", "0-0 1-1 2-2");
    expect("a*?b", "aab", "0-3");
    expect("a+?", "aaa", "0-1 1-2 2-3");
    expect("\\s+(?!\\S)|\\s+", "a   b", "1-3 3-4");     /* GPT-2's whitespace: leave one for the word */
    expect("\\s+(?!\\S)|\\s+", "a   ", "1-4");
    expect("(?=\\d)\\d{2}", "a123", "1-3");
    expect("(?!a)\\w", "ab", "1-2");
    expect("\\p{N}{1,3}", "12345", "0-3 3-5");
    expect("a{,2}b", "aaab", "1-4");
    expect("a{2}", "aaaaa", "0-2 2-4");
    expect("x{", "x{", "0-2");                          /* not an interval: literal */
    expect("(?i:'s|'t)", "it'S 'T", "2-4 5-7");
    expect("(?i)k", "K\xE2\x84\xAA", "0-1 1-4");        /* Kelvin sign folds to k */
    expect("(?i)\xC5\xBF", "sS", "0-1 1-2");             /* ſ matches s and S */
    expect("a(?i)b|c", "aBaCc", "0-2 2-4");             /* (?i) covers the later alternative too; "c" alone is no match */
    expect("^a|b$", "ab\nab", "0-1 1-2 3-4 4-5");
    expect("\\Aa|b\\z", "ab\nab", "0-1 4-5");
    expect("\\bx", "x x_x", "0-1 2-3");
    expect("\\w", "\xC2\xB2", "0-2");                   /* ² is a word character as \w ... */
    expect("[\\w]", "\xC2\xB2", "");                     /* ... but not inside a class (Oniguruma) */
    expect("[^\\s\\p{L}\\p{N}]+", "a!?\xE2\x80\x94 b", "1-6");
    expect("[\\x{4e00}-\\x{9fff}]+", "\xE4\xBD\xA0\xE5\xA5\xBDx", "0-6");
    expect(".", "a\nb", "0-1 2-3");
    expect("\\u00e9|\\x41", "A\xC3\xA9", "0-1 1-3");
    expect("[-a]+|[a\\-z]", "-a-z", "0-3 3-4");
    expect("(?<n>a)b", "ab", "0-2");
    expect("\\h+", "fFgx09", "0-2 4-6");
    /* literal String patterns */
    vx_regex *re = NULL;
    vx_span *sp;
    size_t k;
    CHECK(vx_regex_literal(&re, "a.", 2) == 0, "literal compiles");
    if (re && vx_regex_find_all(re, "a.aXa.", 6, &sp, &k, NULL) == 0) {
        CHECK(k == 2 && sp[0].start == 0 && sp[1].start == 4, "literal 'a.' matches twice, not 'aX'");
        free(sp);
    }
    vx_regex_free(re);
}

static void refused(void) {
    static const struct { const char *pat; int code; const char *needle; } cases[] = {
        { "(?<=a)b", VX_EUNSUPPORTED, "lookbehind" },
        { "(?<!a)b", VX_EUNSUPPORTED, "lookbehind" },
        { "(?>ab)", VX_EUNSUPPORTED, "atomic group" },
        { "a*+", VX_EUNSUPPORTED, "possessive" },
        { "a++", VX_EUNSUPPORTED, "possessive" },
        { "(a)\\1", VX_EUNSUPPORTED, "backreference" },
        { "\\p{Han}", VX_EUNSUPPORTED, "\\p{Han}" },
        { "\\p{Alpha}", VX_EUNSUPPORTED, "general category" },
        { "[[:alpha:]]", VX_EUNSUPPORTED, "POSIX bracket" },
        { "[a[b]]", VX_EUNSUPPORTED, "nested character class" },
        { "[a-z&&[^x]]", VX_EUNSUPPORTED, "intersection" },
        { "(?m).", VX_EUNSUPPORTED, "(?m)" },
        { "(?x)a b", VX_EUNSUPPORTED, "(?x)" },
        { "\\k<n>", VX_EUNSUPPORTED, "\\k" },
        { "\\G", VX_EUNSUPPORTED, "\\G" },
        { "a{2000}", VX_EUNSUPPORTED, "repeat count" },
        { "\\xFF", VX_EUNSUPPORTED, "raw byte" },
        { "(?#c)", VX_EUNSUPPORTED, "comment" },
        { "^*", VX_EUNSUPPORTED, "assertion" },
        { "(a{1000}){1000}", VX_EUNSUPPORTED, "instructions" },
        { "(ab", VX_ECORRUPT, "missing )" },
        { "ab)", VX_ECORRUPT, "unmatched )" },
        { "*a", VX_ECORRUPT, "repeat operator" },
        { "[ab", VX_ECORRUPT, "closing ]" },
        { "[z-a]", VX_ECORRUPT, "empty range" },
        { "a{3,2}", VX_ECORRUPT, "bad interval" },
        { "\\", VX_ECORRUPT, "backslash" },
        { "\\p{L", VX_ECORRUPT, "closing }" },
        { "\xC3", VX_ECORRUPT, "UTF-8" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vx_regex *re = NULL;
        char why[160] = "";
        int rc = vx_regex_compile(&re, cases[i].pat, strlen(cases[i].pat), VX_RE_ONIG, why, sizeof why);
        CHECK(rc == cases[i].code && !re && strstr(why, cases[i].needle), "/%s/: rc %d '%s', want %d naming '%s'",
              cases[i].pat, rc, why, cases[i].code, cases[i].needle);
        vx_regex_free(re);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* text = prefix, then `unit` repeated n times, then suffix */
static char *repeat(const char *unit, size_t n, const char *suffix, size_t *len) {
    size_t ul = strlen(unit), sl = strlen(suffix);
    char *s = malloc(ul * n + sl + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * n, suffix, sl + 1);
    *len = ul * n + sl;
    return s;
}

/* The bound of tokregex.h, and linear growth: steps(2n) <= 2.2 steps(n). */
static void bound(void) {
    static const struct { const char *pat, *unit, *suffix; } cases[] = {
        { "(a*)*b", "a", "" },                /* exponential for a naive backtracker */
        { "(a|a)*b", "a", "" },
        { "(a|aa)*c", "a", "b" },
        { "(?:a+)+$", "a", "!" },
        { "(x+x+)+y", "x", "" },
        { "a*a*a*a*a*b", "a", "" },           /* polynomial for a naive backtracker */
        { "\\s+(?!\\S)|\\s+", " ", "x" },      /* GPT-2's tail on a long run of spaces */
        { "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", " \t", "x" },
        { "(?=(a*)*b)a", "a", "" },           /* the same inside a lookahead */
        { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          " !", "" },
        { "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
          "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", "A", "" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        vx_regex *re = NULL;
        char why[160];
        if (vx_regex_compile(&re, cases[c].pat, strlen(cases[c].pat), VX_RE_ONIG, why, sizeof why)) {
            CHECK(0, "/%s/ compiles: %s", cases[c].pat, why);
            continue;
        }
        uint64_t m = vx_regex_size(re), prev = 0;
        for (size_t n = 5000; n <= 40000; n *= 2) {
            size_t len;
            char *s = repeat(cases[c].unit, n, cases[c].suffix, &len);
            vx_span *sp = NULL;
            size_t k;
            uint64_t steps = 0;
            double t0 = now();
            int rc = vx_regex_find_all(re, s, len, &sp, &k, &steps);
            double dt = now() - t0;
            CHECK(rc == 0, "/%s/ on %zu bytes: rc %d", cases[c].pat, len, rc);
            CHECK(steps <= 3 * m * (len + 2), "/%s/ on %zu bytes: %llu steps > 3·m·(n+2) = %llu", cases[c].pat, len,
                  (unsigned long long)steps, (unsigned long long)(3 * m * (len + 2)));
            CHECK(prev == 0 || steps <= prev * 22 / 10 + 100, "/%s/: %llu steps at %zu bytes after %llu at half: not linear",
                  cases[c].pat, (unsigned long long)steps, len, (unsigned long long)prev);
            CHECK(dt < 5.0, "/%s/ on %zu bytes took %.2f s", cases[c].pat, len, dt);
            prev = steps;
            free(sp);
            free(s);
        }
        vx_regex_free(re);
    }
}

/* A whole tokenization of a pathological text: Llama 3's Split regex over 200,000
 * characters of whitespace runs and punctuation, within the bound per regex pass. */
static void tokenize_bound(void) {
    static const char json[] =
        "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*"
        "|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xC4\xA0\":0,\"!\":1,\"x\":2,\"\xC4\xA0\xC4\xA0\":3},"
        "\"merges\":[[\"\xC4\xA0\",\"\xC4\xA0\"]]}}";
    vx_tokenizer *t = NULL;
    vx_err err = { 0 };
    int rc = vx_tokenizer_parse(&t, (const uint8_t *)json, strlen(json), "tokenizer.json", &err);
    CHECK(rc == 0 && !vx_tokenizer_unsupported(t), "parse: %s %s", err.msg, t ? vx_tokenizer_unsupported(t) : "");
    if (rc) return;
    const char *units[] = { " ", " !", "x", "! " };
    for (size_t u = 0; u < 4; u++) {
        size_t len;
        char *s = repeat(units[u], 200000 / strlen(units[u]), "x", &len);
        uint32_t *ids = NULL;
        size_t n = 0;
        uint64_t steps = 0;
        double t0 = now();
        rc = vx_tokenize_steps(&ids, &n, t, s, len, &steps, &err);
        double dt = now() - t0;
        CHECK(rc == 0 && n > 0, "tokenize %zu bytes of '%s': rc %d %s", len, units[u], rc, err.msg);
        /* one regex pass over the text; the program has < 200 instructions */
        CHECK(steps <= 3 * 200 * (uint64_t)(len + 2), "tokenize '%s': %llu regex steps", units[u], (unsigned long long)steps);
        CHECK(dt < 10.0, "tokenize %zu bytes of '%s' took %.2f s", len, units[u], dt);
        free(ids);
        free(s);
    }
    vx_tokenizer_free(t);
}

int main(void) {
    semantics();
    refused();
    bound();
    tokenize_bound();
    return CHECK_DONE();
}
