/*
 * fuzz_tokregex.c — the tokenizer's regex engine on arbitrary patterns and texts. The
 * input is a pattern, a NUL byte, then the text (cut at its first ill-formed UTF-8 byte,
 * as vx_tokenize only ever hands it valid UTF-8). A pattern either compiles or is
 * refused with a reason; a compiled one must report sorted, non-overlapping matches on
 * character boundaries within the text, within the work bound of tokregex.h
 * (3·m·(n+2) states), and its literal twin must find exactly the pattern's own bytes.
 */
#include "common.h"
#include "tokregex.h"
#include "unicode.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int boundary(const char *s, size_t n, size_t i) { return i == n || ((unsigned char)s[i] & 0xC0) != 0x80; }

static void check_spans(const vx_regex *re, const char *text, size_t n) {
    vx_span *sp = NULL;
    size_t k = 0;
    uint64_t steps = 0;
    int rc = vx_regex_find_all(re, text, n, &sp, &k, &steps);
    FUZZ_ASSERT(rc == 0 || rc == VX_ENOMEM, "find_all rc %d", rc);
    if (rc) return;
    uint64_t m = vx_regex_size(re);
    FUZZ_ASSERT(steps <= 3 * m * (n + 2), "%llu steps > 3*%llu*(%zu+2)", (unsigned long long)steps,
                (unsigned long long)m, n);
    size_t prev = 0;
    for (size_t i = 0; i < k; i++) {
        FUZZ_ASSERT(sp[i].start >= prev && sp[i].start <= sp[i].end && sp[i].end <= n, "span %zu: %zu-%zu after %zu", i,
                    sp[i].start, sp[i].end, prev);
        FUZZ_ASSERT(boundary(text, n, sp[i].start) && boundary(text, n, sp[i].end), "span %zu splits a character", i);
        prev = sp[i].end;
    }
    free(sp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const char *pat = (const char *)data;
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t tlen = nul ? size - plen - 1 : 0;
    tlen = vx_utf8_check((const unsigned char *)text, tlen);
    for (int fl = 0; fl < 2; fl++) {
        vx_regex *re = NULL;
        char why[160] = "";
        int rc = vx_regex_compile(&re, pat, plen, fl ? VX_RE_RUST : VX_RE_ONIG, why, sizeof why);
        if (rc) {
            FUZZ_ASSERT(rc == VX_EUNSUPPORTED || rc == VX_ECORRUPT || rc == VX_ENOMEM, "compile rc %d", rc);
            FUZZ_ASSERT(!re && (rc == VX_ENOMEM || why[0]), "refusal without a reason");
            continue;
        }
        FUZZ_ASSERT(re != NULL, "compiled without a program");
        check_spans(re, text, tlen);
        vx_regex_free(re);
    }
    /* the pattern's bytes as a literal (when valid UTF-8): every match is exactly them */
    if (plen && vx_utf8_check((const unsigned char *)pat, plen) == plen) {
        vx_regex *lit = NULL;
        if (vx_regex_literal(&lit, pat, plen) == 0) {
            vx_span *sp = NULL;
            size_t k = 0;
            if (vx_regex_find_all(lit, text, tlen, &sp, &k, NULL) == 0) {
                for (size_t i = 0; i < k; i++)
                    FUZZ_ASSERT(sp[i].end - sp[i].start == plen && memcmp(text + sp[i].start, pat, plen) == 0,
                                "literal match %zu is not the pattern", i);
                free(sp);
            }
            vx_regex_free(lit);
        }
    }
    return 0;
}
