/*
 * toktext.c — the two forms of a vocabulary string (spec/vocab-bin.md V16, V17): the raw
 * form tokenizer.json stores (GPT-2 byte-level characters, SentencePiece ▁ and <0xNN>)
 * and the readable UTF-8 a person types and reads.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* bytes_char() of pre_tokenizers/byte_level.rs: printable bytes map to themselves, the
 * other 68 (0x00..0x20, 0x7F..0xA0, 0xAD) to U+0100.. in increasing byte order. Computed,
 * not tabulated at run time, so there is no shared state to initialise. */
static int byte_kept(unsigned b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

uint32_t tk_byte_cp(unsigned b) {
    if (byte_kept(b)) return b;
    return 0x100 + (b <= 0x20 ? b : b <= 0xA0 ? 33 + (b - 0x7F) : 67);
}

/* Code point → byte, or -1 if the code point is not in the map. */
static int cp_byte(uint32_t cp) {
    if (cp < 0x100) return byte_kept(cp) ? (int)cp : -1;
    if (cp >= 0x144) return -1;
    uint32_t i = cp - 0x100;
    return (int)(i <= 32 ? i : i <= 66 ? 0x7F + (i - 33) : 0xAD);
}

int vx_utf8_valid(const char *s, size_t n) { return vx_utf8_check((const unsigned char *)s, n) == n; }

/* Copy bytes to out, replacing every byte that is not part of a well-formed sequence by
 * the four characters \xNN, so the result is always valid UTF-8. Returns bytes written
 * (at most 4n). */
static size_t escape_utf8(char *out, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = vx_utf8_seq(s + i, n - i, &cp);
        if (l) { memcpy(out + o, s + i, l); o += l; i += l; continue; }
        out[o++] = '\\'; out[o++] = 'x'; out[o++] = hex[s[i] >> 4]; out[o++] = hex[s[i] & 15];
        i++;
    }
    return o;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The bytes a raw token stands for (V16 before escaping) into tmp (room for n). */
static size_t raw_bytes(unsigned char *tmp, vx_tok_style style, const char *raw, size_t n) {
    const unsigned char *s = (const unsigned char *)raw;
    size_t m = 0;
    uint32_t cp;
    int h1, h2;
    if (style == VX_STYLE_BYTELEVEL) {
        for (size_t i = 0; i < n;) {
            size_t l = vx_utf8_seq(s + i, n - i, &cp);
            if (l && cp_byte(cp) >= 0) { tmp[m++] = (unsigned char)cp_byte(cp); i += l; continue; }
            if (!l) l = 1;  /* chars outside the map (added tokens) pass through */
            memcpy(tmp + m, s + i, l); m += l; i += l;
        }
    } else if (style == VX_STYLE_METASPACE && n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' &&
               (h1 = hexval(s[3])) >= 0 && (h2 = hexval(s[4])) >= 0) {
        tmp[m++] = (unsigned char)(h1 << 4 | h2);  /* byte-fallback token */
    } else if (style == VX_STYLE_METASPACE) {
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) { tmp[m++] = ' '; i += 3; }
            else tmp[m++] = s[i++];
        }
    } else {
        memcpy(tmp, s, n); m = n;
    }
    return m;
}

size_t vx_tok_readable(char *out, unsigned char *tmp, vx_tok_style style, const char *raw, size_t n) {
    return escape_utf8(out, tmp, raw_bytes(tmp, style, raw, n));
}

int vx_tok_raw_is_text(vx_tok_style style, const char *raw, size_t n) {
    unsigned char *tmp = malloc(n ? n : 1);
    if (!tmp) return -1;
    size_t m = raw_bytes(tmp, style, raw, n);
    int ok = vx_utf8_check(tmp, m) == m;
    free(tmp);
    return ok;
}

char *vx_vocab_to_raw(vx_tok_style style, const char *text, size_t len, size_t *out_len) {
    uint64_t cap;
    if (!vx_mul_ok(len, 3, &cap) || !vx_add_ok(cap, 1, &cap) || cap > SIZE_MAX) return NULL;
    char *out = malloc((size_t)cap);
    if (!out) return NULL;
    size_t o = 0;
    if (style == VX_STYLE_BYTELEVEL) {
        for (size_t i = 0; i < len; i++) o += vx_utf8_put(out + o, tk_byte_cp((unsigned char)text[i]));
    } else if (style == VX_STYLE_METASPACE) {
        for (size_t i = 0; i < len; i++) {
            if (text[i] == ' ') { memcpy(out + o, "\xE2\x96\x81", 3); o += 3; }
            else out[o++] = text[i];
        }
    } else {
        memcpy(out, text, len); o = len;
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}
