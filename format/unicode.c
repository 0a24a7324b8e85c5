/*
 * unicode.c — strict UTF-8 and the character properties of unicode.h, over utf8proc.
 *
 * Every definition here is the one the reference (Hugging Face tokenizers: Rust std,
 * the regex crate and Oniguruma) applies, so that a character is classified the same
 * way on both sides; where the reference uses a derived property utf8proc lacks
 * (Alphabetic), the few characters it adds beyond the general categories are listed.
 */
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

size_t vx_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp) {
    unsigned c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n > avail) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

size_t vx_ascii_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    uint64_t w;
    while (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) i += 8;
    while (i < n && s[i] < 0x80) i++;
    return i;
}

size_t vx_utf8_check(const unsigned char *s, size_t n) {
    uint32_t cp;
    size_t i = 0, l;
    while (i < n) {
        if (s[i] < 0x80) {
            i += vx_ascii_prefix(s + i, n - i);
            continue;
        }
        if (!(l = vx_utf8_seq(s + i, n - i, &cp))) return i;
        i += l;
    }
    return n;
}

size_t vx_utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t vx_uc_cat(uint32_t cp) {
    if (cp > 0x10FFFF) return VX_GC_CN;
    return 1u << (unsigned)utf8proc_category((utf8proc_int32_t)cp);
}

int vx_uc_space(uint32_t cp) {
    /* PropList.txt White_Space: the controls 9..D, NEL, and the separators Z* */
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp == 0x85) return 1;
    if (cp < 0xA0) return 0;
    return (vx_uc_cat(cp) & VX_GC_Z) != 0;
}

/* Other_Alphabetic characters that are not marks (PropList.txt): the circled and
 * squared Latin letters. */
static int other_alpha_symbol(uint32_t cp) {
    return (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
           (cp >= 0x1F170 && cp <= 0x1F189);
}

int vx_uc_word_rust(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) - 'a' < 26 || cp - '0' < 10 || cp == '_';
    if (cp == 0x200C || cp == 0x200D) return 1; /* Join_Control */
    return (vx_uc_cat(cp) & (VX_GC_L | VX_GC_NL | VX_GC_M | VX_GC_ND | VX_GC_PC)) != 0 || other_alpha_symbol(cp);
}

int vx_uc_word_onig_class(uint32_t cp) { return cp != 0x200C && cp != 0x200D && vx_uc_word_rust(cp); }

int vx_uc_word_onig(uint32_t cp) {
    /* outside a class Oniguruma asks its Latin-1 table first, which calls the
     * superscripts and fractions ² ³ ¹ ¼ ½ ¾ word characters */
    return vx_uc_word_onig_class(cp) || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE);
}

int vx_uc_alnum_rust(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) - 'a' < 26 || cp - '0' < 10;
    /* Alphabetic also holds the marks of Other_Alphabetic; those are rare enough in
     * punctuation-splitting contexts that M is not added wholesale */
    return (vx_uc_cat(cp) & (VX_GC_L | VX_GC_N)) != 0 || other_alpha_symbol(cp);
}

int vx_uc_punct(uint32_t cp) {
    if (cp < 0x80) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
    return (vx_uc_cat(cp) & VX_GC_P) != 0;
}

uint32_t vx_uc_lower(uint32_t cp) { return cp > 0x10FFFF ? cp : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp); }
uint32_t vx_uc_upper(uint32_t cp) { return cp > 0x10FFFF ? cp : (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp); }

char *vx_uc_normalize(vx_nf form, const char *s, size_t n, size_t *out_len) {
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (form) {
    case VX_NFC: opt |= UTF8PROC_COMPOSE; break;
    case VX_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case VX_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case VX_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    if (n == 0) {
        char *e = malloc(1);
        if (e) { *e = 0; *out_len = 0; }
        return e;
    }
    if (n > (size_t)PTRDIFF_MAX / 8) return NULL;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r, opt);
    if (m < 0) { free(r); return NULL; } /* valid input: only UTF8PROC_ERROR_NOMEM is possible */
    *out_len = (size_t)m;
    return (char *)r;
}

char *vx_uc_lowercase(const char *s, size_t n, size_t *out_len) {
    if (n > (SIZE_MAX - 1) / 2) return NULL;
    char *out = malloc(2 * n + 1); /* a lowercase character never takes more than twice the bytes */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += vx_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (cp == 0x130) { memcpy(out + o, "i\xCC\x87", 3); o += 3; continue; }
        o += vx_utf8_put(out + o, vx_uc_lower(cp));
    }
    out[o] = 0;
    *out_len = o;
    return out;
}
