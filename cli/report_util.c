/*
 * report_util.c — helpers shared by the report's sections (report.h): figure frames,
 * token labels, f16 conversion and the seeded token sampler.
 */
#include <string.h>

#include "report.h"

void fig_begin(sbuf *b, const char *id, const char *title, const char *caption) {
    sb_printf(b, "<figure class=\"plot\" id=\"%s\"><figcaption><h3>", id);
    sb_escs(b, title);
    sb_puts(b, "</h3>");
    if (caption) sb_printf(b, "<p>%s</p>", caption);
    sb_puts(b, "</figcaption>");
}

void fig_end(sbuf *b) { sb_puts(b, "</figure>\n"); }

void fig_missing(sbuf *b, const char *id, const char *title, const char *why) {
    sb_printf(b, "<figure class=\"plot na\" id=\"%s\"><figcaption><h3>", id);
    sb_escs(b, title);
    sb_puts(b, "</h3></figcaption><p class=\"why\">Not available: ");
    sb_escs(b, why);
    sb_puts(b, "</p></figure>\n");
}

void put_token(sbuf *b, const vx_index *vx, uint32_t id) {
    const char *raw, *text;
    size_t rl, tl;
    sb_printf(b, "#%u ", id);
    if (vx_token_str(&raw, &rl, &text, &tl, vx, id, NULL)) { sb_puts(b, "(no token)"); return; }
    sb_puts(b, "“");
    sb_esc(b, text, tl);
    sb_puts(b, "”");
}

float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1F, m = h & 0x3FF, bits;
    if (e == 0) {
        if (!m) bits = s;
        else { /* subnormal: normalise */
            e = 113;
            while (!(m & 0x400)) { m <<= 1; e--; }
            bits = s | (e << 23) | ((m & 0x3FF) << 13);
        }
    } else if (e == 31) bits = s | 0x7F800000u | (m << 13);
    else bits = s | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_init(rng *r, uint64_t seed, uint64_t stream) { r->x = mix64(seed + stream); }

static uint64_t rng_next(rng *r) {
    r->x += 0x9E3779B97F4A7C15ull;
    return mix64(r->x);
}

uint64_t rng_below(rng *r, uint64_t n) {
    uint64_t lim = (0 - n) % n, v;
    do v = rng_next(r);
    while (v < lim);
    return v % n;
}

void sample_ids(uint32_t *ids, uint32_t n, size_t k, rng *r) {
    for (uint32_t i = 0; i < n; i++) ids[i] = i;
    if (k > n) k = n;
    for (size_t i = 0; i < k; i++) {
        uint32_t j = (uint32_t)(i + rng_below(r, n - i)), t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
}

