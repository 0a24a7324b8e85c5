/*
 * unicode.h — the Unicode the tokenizer needs: strict UTF-8, general categories, the
 * properties the Hugging Face tokenizers library tests (White_Space, Rust's `\w` and
 * alphanumerics, combining marks, punctuation), case mapping and the four normalization
 * forms. Categories, case and normalization come from utf8proc (Unicode 15 in Debian 12);
 * this file only adds the definitions the reference implementation uses on top of them.
 * Part of the token-text module (tokenizer.h); depends on libc and utf8proc only.
 */
#ifndef VX_FORMAT_UNICODE_H
#define VX_FORMAT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or
 * code points past U+10FFFF), 0 if ill-formed or truncated; *cp receives the code point. */
size_t vx_utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp);
/* Decode at s[0..avail) of text already known to be valid: never reads past avail. */
static inline size_t vx_utf8_next(const unsigned char *s, size_t avail, uint32_t *cp) {
    size_t l = vx_utf8_seq(s, avail, cp);
    if (!l) { *cp = s[0]; l = 1; }
    return l;
}
/* Length of the run of ASCII bytes (< 0x80) that s[0..n) starts with, read a word at a time. */
size_t vx_ascii_prefix(const unsigned char *s, size_t n);
/* Byte offset of the first ill-formed sequence in s[0..n), or n if all is well-formed. */
size_t vx_utf8_check(const unsigned char *s, size_t n);
/* Encode cp (< 0x110000) into out (room for 4); returns the byte count. */
size_t vx_utf8_put(char *out, uint32_t cp);

/* General category bit masks over utf8proc's numbering (1u << UTF8PROC_CATEGORY_xx). */
enum {
    VX_GC_LU = 1u << 1, VX_GC_LL = 1u << 2, VX_GC_LT = 1u << 3, VX_GC_LM = 1u << 4, VX_GC_LO = 1u << 5,
    VX_GC_MN = 1u << 6, VX_GC_MC = 1u << 7, VX_GC_ME = 1u << 8,
    VX_GC_ND = 1u << 9, VX_GC_NL = 1u << 10, VX_GC_NO = 1u << 11,
    VX_GC_PC = 1u << 12, VX_GC_PD = 1u << 13, VX_GC_PS = 1u << 14, VX_GC_PE = 1u << 15, VX_GC_PI = 1u << 16,
    VX_GC_PF = 1u << 17, VX_GC_PO = 1u << 18,
    VX_GC_SM = 1u << 19, VX_GC_SC = 1u << 20, VX_GC_SK = 1u << 21, VX_GC_SO = 1u << 22,
    VX_GC_ZS = 1u << 23, VX_GC_ZL = 1u << 24, VX_GC_ZP = 1u << 25,
    VX_GC_CN = 1u << 0, VX_GC_CC = 1u << 26, VX_GC_CF = 1u << 27, VX_GC_CS = 1u << 28, VX_GC_CO = 1u << 29,
    VX_GC_L = VX_GC_LU | VX_GC_LL | VX_GC_LT | VX_GC_LM | VX_GC_LO,
    VX_GC_M = VX_GC_MN | VX_GC_MC | VX_GC_ME,
    VX_GC_N = VX_GC_ND | VX_GC_NL | VX_GC_NO,
    VX_GC_P = VX_GC_PC | VX_GC_PD | VX_GC_PS | VX_GC_PE | VX_GC_PI | VX_GC_PF | VX_GC_PO,
    VX_GC_S = VX_GC_SM | VX_GC_SC | VX_GC_SK | VX_GC_SO,
    VX_GC_Z = VX_GC_ZS | VX_GC_ZL | VX_GC_ZP,
    VX_GC_C = VX_GC_CN | VX_GC_CC | VX_GC_CF | VX_GC_CS | VX_GC_CO,
};

/* 1u << category of cp (VX_GC_* bit). */
uint32_t vx_uc_cat(uint32_t cp);
/* Unicode White_Space (Rust char::is_whitespace, regex \s in both Rust and Oniguruma). */
int vx_uc_space(uint32_t cp);
/* Oniguruma's \w inside a bracket class: Alphabetic | Mark | Decimal_Number |
 * Connector_Punctuation (UTS #18 word without Join_Control). */
int vx_uc_word_onig_class(uint32_t cp);
/* Oniguruma's \w as an escape outside a class (and \b, \W): the class's set plus the
 * Latin-1 superscripts and fractions ² ³ ¹ ¼ ½ ¾. */
int vx_uc_word_onig(uint32_t cp);
/* Rust regex's \w: Alphabetic | Mark | Decimal_Number | Connector_Punctuation |
 * Join_Control, with Alphabetic = L | Nl | the Other_Alphabetic characters outside M. */
int vx_uc_word_rust(uint32_t cp);
/* Rust char::is_alphanumeric: Alphabetic | Numeric (N). */
int vx_uc_alnum_rust(uint32_t cp);
/* ASCII punctuation (Rust is_ascii_punctuation) or a P* category. */
int vx_uc_punct(uint32_t cp);

/* Simple case mappings (utf8proc). */
uint32_t vx_uc_lower(uint32_t cp);
uint32_t vx_uc_upper(uint32_t cp);

/* Normalization forms. */
typedef enum { VX_NFC, VX_NFD, VX_NFKC, VX_NFKD } vx_nf;
/* Normalize valid UTF-8 s[0..n) (NUL bytes allowed) into a malloc'd NUL-terminated
 * string; NULL on allocation failure. */
char *vx_uc_normalize(vx_nf form, const char *s, size_t n, size_t *out_len);
/* Rust str::to_lowercase char by char (char::to_lowercase, no final-sigma context): the
 * simple lowercase of every character, except U+0130 which becomes "i\u0307". Malloc'd. */
char *vx_uc_lowercase(const char *s, size_t n, size_t *out_len);

#endif
