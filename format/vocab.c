/*
 * vocab.c — vocab.bin: writing it from a parsed tokenizer, validating a mapped image,
 * and the lookups a query makes on it (string → id, id → raw and readable strings).
 *
 * The byte layout and the rules V1..V17 are in spec/vocab-bin.md; checks below cite
 * them. vx_vocab_open checks the header and the sections (V1..V9), which every open of
 * a vindex pays for; vx_vocab_find and vx_vocab_get check each bucket and entry they read
 * (V10..V12), so they cannot leave the map however the rest of it is damaged;
 * vx_vocab_parse checks every entry and bucket at once (verify, archives, whole-vocabulary
 * passes). All are pure functions of (buf, len).
 *
 *   offset size  field            (all little-endian)
 *   0      8     magic "VXVOCAB1"
 *   8      4     version = 1
 *   12     4     n               entries (= embedding rows)
 *   16     4     style           0 PLAIN, 1 BYTELEVEL, 2 METASPACE
 *   20     4     nbuckets        power of two >= 2n (>= 1)
 *   24     8+8   entries_off, entries_len   [n] x {u32 raw_off, raw_len, text_off, text_len}
 *   40     8+8   buckets_off, buckets_len   [nbuckets] x u32 id, 0xFFFFFFFF = empty
 *   56     8+8   strings_off, strings_len   string blob; entry offsets are relative to it
 *   72     8     reserved = 0
 *   80           entries, then buckets, then strings, then end of file
 */
#include "vocab.h"

#include "unicode.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define VOCAB_MAGIC "VXVOCAB1"
#define VOCAB_VERSION 1u
#define HDR_SIZE 80u
#define ENTRY_SIZE 16u
#define EMPTY 0xFFFFFFFFu

/* ------------------------------------------------------------------------ build */

typedef struct blob { uint8_t *p; size_t n, cap; } blob;

static int blob_put(blob *b, const void *s, size_t n, uint32_t *off) {
    if (b->n + n > 0xFFFFFFFFu) return VX_EUNSUPPORTED;  /* offsets are u32 */
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return VX_ENOMEM;
        b->p = p; b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    *off = (uint32_t)b->n;
    b->n += n;
    return 0;
}

int vx_vocab_build(uint8_t **buf, size_t *len, const vx_tokenizer *t, uint32_t vocab_rows, vx_err *err) {
    *buf = NULL; *len = 0;
    uint32_t n = vocab_rows;
    if (n > (1u << 30))
        return vx_fail(err, VX_EUNSUPPORTED, "vocab.bin: %u rows is more than 2^30", n);
    uint32_t nb = 1;
    while (nb < 2 * (uint64_t)n) nb <<= 1;  /* V7 */
    uint32_t *ent = calloc((size_t)n * 4 + 1, sizeof *ent);  /* [n][raw_off, raw_len, text_off, text_len] */
    char *text = NULL;
    unsigned char *tmp = NULL;
    size_t scratch = 0;
    blob b = { NULL, 0, 0 };
    int rc = 0;
    if (!ent) return vx_fail(err, VX_ENOMEM, "vocab.bin: out of memory");
    vx_tok_style style = vx_tokenizer_style(t);
    for (uint32_t id = 0; id < n; id++) {
        size_t rl;
        const char *raw = vx_tokenizer_token(t, id, &rl);
        if (!raw) continue;  /* V15: rows beyond the tokenizer hold empty strings */
        if (!text || rl > scratch) {
            free(text); free(tmp);
            scratch = rl * 2 + 16;
            text = malloc(scratch * 4 + 1); tmp = malloc(scratch + 1);
            if (!text || !tmp) { rc = VX_ENOMEM; break; }
        }
        size_t tl = vx_tok_readable(text, tmp, style, raw, rl);
        if ((rc = blob_put(&b, raw, rl, &ent[4 * id]))) break;
        ent[4 * id + 1] = (uint32_t)rl;
        if (tl == rl && memcmp(text, raw, rl) == 0) ent[4 * id + 2] = ent[4 * id];  /* share identical strings */
        else if ((rc = blob_put(&b, text, tl, &ent[4 * id + 2]))) break;
        ent[4 * id + 3] = (uint32_t)tl;
    }
    free(text); free(tmp);
    uint64_t eoff = HDR_SIZE, elen = (uint64_t)n * ENTRY_SIZE, boff = eoff + elen, blen = (uint64_t)nb * 4,
             soff = boff + blen, total = soff + b.n;
    uint8_t *out = NULL;
    if (!rc && (total > SIZE_MAX || !(out = calloc(1, (size_t)total)))) rc = VX_ENOMEM;
    if (rc) {
        free(ent); free(b.p);
        return rc == VX_ENOMEM ? vx_fail(err, rc, "vocab.bin: out of memory")
                               : vx_fail(err, rc, "vocab.bin: strings exceed 4 GiB");
    }
    memcpy(out, VOCAB_MAGIC, 8);
    vx_put32(out + 8, VOCAB_VERSION);
    vx_put32(out + 12, n);
    vx_put32(out + 16, (uint32_t)style);
    vx_put32(out + 20, nb);
    vx_put64(out + 24, eoff); vx_put64(out + 32, elen);
    vx_put64(out + 40, boff); vx_put64(out + 48, blen);
    vx_put64(out + 56, soff); vx_put64(out + 64, b.n);
    for (uint64_t i = 0; i < (uint64_t)n * 4; i++) vx_put32(out + eoff + 4 * i, ent[i]);
    memset(out + boff, 0xFF, (size_t)blen);
    if (b.n) memcpy(out + soff, b.p, b.n);
    /* V14: insert in id order and never displace, so a raw string held by several ids
     * finds the lowest one */
    const uint8_t *strs = out + soff;
    for (uint32_t id = 0; id < n; id++) {
        uint32_t ro = ent[4 * id], rl = ent[4 * id + 1];
        if (!rl) continue;
        uint32_t h = (uint32_t)XXH3_64bits(strs + ro, rl) & (nb - 1);
        for (;;) {
            uint8_t *slot = out + boff + 4 * (uint64_t)h;
            uint32_t o = vx_le32(slot);
            if (o == EMPTY) { vx_put32(slot, id); break; }
            if (ent[4 * o + 1] == rl && memcmp(strs + ent[4 * o], strs + ro, rl) == 0) break;
            h = (h + 1) & (nb - 1);
        }
    }
    free(ent); free(b.p);
    *buf = out;
    *len = (size_t)total;
    return 0;
}

/* ------------------------------------------------------------------------ parse */

static inline int continuation(uint8_t c) { return (c & 0xC0) == 0x80; }

/* V10 and V11 for all n entries: 1 when every string range lies in the blob and every
 * readable string is valid UTF-8. When the whole blob is valid UTF-8, a range of it is
 * valid exactly when it starts and ends on a character boundary (a byte that is not a
 * continuation byte, or the end), so one pass over the blob replaces n validations; an
 * ASCII blob has boundaries everywhere. *empty_raw counts the entries without a raw string. */
static int entries_ok(const uint8_t *E, uint32_t n, const uint8_t *S, uint64_t slen, uint32_t *empty_raw) {
    uint32_t id = 0, er = 0;
    uint64_t bad = 0;
#if defined(__SSE2__)
    /* x86 is little-endian: an entry is {raw_off, raw_len, text_off, text_len} as loaded.
     * The 64-bit lanes hold off + len (< 2^33); slen - (off + len) is negative when past. */
    const __m128i lo = _mm_set_epi32(0, -1, 0, -1), lim = _mm_set1_epi64x((long long)(slen < (1ull << 40) ? slen : 1ull << 40));
    __m128i neg = _mm_setzero_si128(), zero = _mm_setzero_si128(), nz = _mm_setzero_si128();
    for (; id < n; id++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(E + (uint64_t)id * ENTRY_SIZE));
        __m128i end = _mm_add_epi64(_mm_and_si128(x, lo), _mm_srli_epi64(x, 32));
        neg = _mm_or_si128(neg, _mm_sub_epi64(lim, end));
        nz = _mm_sub_epi32(nz, _mm_cmpeq_epi32(x, zero)); /* lane 1 counts empty raw strings */
    }
    bad = (uint64_t)(_mm_movemask_pd(_mm_castsi128_pd(neg)) != 0);
    er = (uint32_t)_mm_cvtsi128_si32(_mm_shuffle_epi32(nz, 1));
#else
    for (; id < n; id++) {
        const uint8_t *e = E + (uint64_t)id * ENTRY_SIZE;
        bad |= ((uint64_t)vx_le32(e) + vx_le32(e + 4) > slen) | ((uint64_t)vx_le32(e + 8) + vx_le32(e + 12) > slen);
        er += vx_le32(e + 4) == 0;
    }
#endif
    *empty_raw = er;
    if (bad) return 0;
    /* the ASCII prefix is valid UTF-8 with a boundary at every byte: validate after it */
    size_t a = vx_ascii_prefix(S, (size_t)slen);
    if (a == slen) return 1;
    if (!vx_utf8_valid((const char *)S + a, (size_t)slen - a)) return 0;
    for (id = 0; id < n; id++) {
        const uint8_t *e = E + (uint64_t)id * ENTRY_SIZE;
        uint64_t o = vx_le32(e + 8), l = vx_le32(e + 12);
        if (l) bad |= continuation(S[o]) | (o + l < slen && continuation(S[o + l]));
    }
    return !bad;
}

/* V12 for all nb buckets: 1 when every occupied bucket holds an id < n whose raw string is
 * not empty, and at most n are occupied. The raw strings are looked up only when some
 * entry has none (empty_raw). */
static int buckets_ok(const uint8_t *B, uint32_t nb, const uint8_t *E, uint32_t n, uint32_t empty_raw) {
    uint64_t used = 0;
    uint32_t h = 0, bad = 0;
#if defined(__SSE2__)
    const __m128i empty = _mm_set1_epi32(-1), bias = _mm_set1_epi32(INT32_MIN),
                  lim = _mm_set1_epi32((int)(n ^ 0x80000000u));
    __m128i out = _mm_setzero_si128(), unused_n = _mm_setzero_si128();
    for (; h + 4 <= nb; h += 4) {
        __m128i id = _mm_loadu_si128((const __m128i *)(const void *)(B + 4 * (uint64_t)h));
        __m128i unused = _mm_cmpeq_epi32(id, empty), in = _mm_cmplt_epi32(_mm_xor_si128(id, bias), lim);
        out = _mm_or_si128(out, _mm_andnot_si128(_mm_or_si128(unused, in), empty)); /* used, id >= n */
        unused_n = _mm_sub_epi32(unused_n, unused);
        if (empty_raw)
            for (unsigned occ = ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(unused)) & 15u; occ; occ &= occ - 1) {
                uint32_t v = vx_le32(B + 4 * ((uint64_t)h + (uint32_t)__builtin_ctz(occ)));
                bad |= v < n && vx_le32(E + (uint64_t)v * ENTRY_SIZE + 4) == 0;
            }
    }
    bad |= (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(out));
    uint32_t lanes[4];
    _mm_storeu_si128((__m128i *)(void *)lanes, unused_n);
    used = (uint64_t)h - lanes[0] - lanes[1] - lanes[2] - lanes[3];
#endif
    for (; h < nb; h++) {
        uint32_t id = vx_le32(B + 4 * (uint64_t)h);
        if (id == EMPTY) continue;
        used++;
        bad |= id >= n || vx_le32(E + (uint64_t)id * ENTRY_SIZE + 4) == 0;
    }
    return !bad && used <= n;
}

#define CORRUPT(...) vx_fail(err, VX_ECORRUPT, __VA_ARGS__)

int vx_vocab_open(vx_vocab *v, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    memset(v, 0, sizeof *v);
    if (!fname) fname = "vocab.bin";
    /* V1 */
    if (len < HDR_SIZE) return CORRUPT("%s: %zu bytes, shorter than the %u-byte header (V1)", fname, len, HDR_SIZE);
    /* V2, V3 */
    if (memcmp(buf, VOCAB_MAGIC, 8) != 0) return CORRUPT("%s: offset 0: bad magic, expected \"" VOCAB_MAGIC "\" (V2)", fname);
    if (vx_le32(buf + 8) != VOCAB_VERSION)
        return vx_fail(err, VX_EUNSUPPORTED, "%s: offset 8: version %u, expected %u (V3)", fname, vx_le32(buf + 8), VOCAB_VERSION);
    uint32_t n = vx_le32(buf + 12), style = vx_le32(buf + 16), nb = vx_le32(buf + 20);
    uint64_t off[3], sz[3];
    for (int i = 0; i < 3; i++) { off[i] = vx_le64(buf + 24 + 16 * i); sz[i] = vx_le64(buf + 32 + 16 * i); }
    /* V4 */
    if (style > VX_STYLE_METASPACE) return CORRUPT("%s: offset 16: style %u, expected 0, 1 or 2 (V4)", fname, style);
    /* V5 */
    if (vx_le64(buf + 72) != 0) return CORRUPT("%s: offset 72: reserved field is not zero (V5)", fname);
    /* V6 */
    uint64_t want;
    if (!vx_mul_ok(n, ENTRY_SIZE, &want) || sz[0] != want)
        return CORRUPT("%s: offset 32: entries_len %llu, expected n*16 = %llu (V6)", fname, (unsigned long long)sz[0],
                       (unsigned long long)want);
    if (!vx_mul_ok(nb, 4, &want) || sz[1] != want)
        return CORRUPT("%s: offset 48: buckets_len %llu, expected nbuckets*4 = %llu (V6)", fname,
                       (unsigned long long)sz[1], (unsigned long long)want);
    /* V7 */
    if (nb == 0 || (nb & (nb - 1)) || nb < 2 * (uint64_t)n)
        return CORRUPT("%s: offset 20: nbuckets %u, expected a power of two >= 2n = %llu (V7)", fname, nb,
                       (unsigned long long)2 * n);
    /* V8: inside the buffer, after the header */
    static const char *const name[3] = { "entries", "buckets", "strings" };
    uint64_t end[3];
    for (int i = 0; i < 3; i++)
        if (off[i] < HDR_SIZE || !vx_add_ok(off[i], sz[i], &end[i]) || end[i] > len)
            return CORRUPT("%s: offset %d: %s section [%llu, +%llu) is not inside the %zu-byte file after the header (V8)",
                           fname, 24 + 16 * i, name[i], (unsigned long long)off[i], (unsigned long long)sz[i], len);
    /* V9: no overlap, then the exact canonical order with no gaps or trailing bytes */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (sz[i] && sz[j] && off[i] < end[j] && off[j] < end[i])
                return CORRUPT("%s: sections %s and %s overlap (V9)", fname, name[i], name[j]);
    if (off[0] != HDR_SIZE || off[1] != end[0] || off[2] != end[1] || end[2] != len)
        return CORRUPT("%s: sections are not header, entries, buckets, strings back to back ending at byte %zu (V9)",
                       fname, len);
    v->base = buf; v->size = len;
    v->n = n;
    v->style = (vx_tok_style)style;
    v->nbuckets = nb;
    v->entries = buf + off[0]; v->buckets = buf + off[1];
    v->strings = buf + off[2]; v->strings_len = sz[2];
    return 0;
}

/* V10 for one string of entry e (k = 0 raw, 1 readable): the rule a lookup applies to the
 * entry it reads and check_all to every entry. */
static inline int in_blob(const vx_vocab *v, const uint8_t *e, int k) {
    return (uint64_t)vx_le32(e + 8 * k) + vx_le32(e + 8 * k + 4) <= v->strings_len;
}

/* V10..V12 for every entry and bucket of a vocabulary vx_vocab_open accepted. */
static int check_all(const vx_vocab *v, const char *fname, vx_err *err) {
    uint32_t n = v->n, nb = v->nbuckets;
    const uint8_t *E = v->entries, *B = v->buckets, *S = v->strings;
    /* First by branch-free passes that only say whether all of them hold, then, when one
     * does not, by the loops below them, which find the first failure and name it. */
    uint32_t empty_raw = 0;
    if (!entries_ok(E, n, S, v->strings_len, &empty_raw) || !buckets_ok(B, nb, E, n, empty_raw)) {
        /* V10, V11 */
        for (uint32_t id = 0; id < n; id++) {
            const uint8_t *e = E + (uint64_t)id * ENTRY_SIZE;
            for (int k = 0; k < 2; k++)
                if (!in_blob(v, e, k))
                    return CORRUPT("%s: offset %llu: entry %u %s string [%u, +%u) is past the %llu-byte string blob (V10)",
                                   fname, (unsigned long long)(e + 8 * k - v->base), id, k ? "text" : "raw",
                                   vx_le32(e + 8 * k), vx_le32(e + 8 * k + 4), (unsigned long long)v->strings_len);
            if (!vx_utf8_valid((const char *)S + vx_le32(e + 8), vx_le32(e + 12)))
                return CORRUPT("%s: entry %u: readable string is not valid UTF-8 (V11)", fname, id);
        }
        /* V12: every occupied bucket names an id < n with a non-empty raw string, and at
         * most n buckets are occupied, so probing always meets an empty bucket */
        uint64_t used = 0;
        for (uint32_t h = 0; h < nb; h++) {
            uint32_t id = vx_le32(B + 4 * (uint64_t)h);
            if (id == EMPTY) continue;
            if (id >= n || vx_le32(E + (uint64_t)id * ENTRY_SIZE + 4) == 0)
                return CORRUPT("%s: offset %llu: bucket %u holds id %u, expected < %u with a non-empty raw string or 0xFFFFFFFF (V12)",
                               fname, (unsigned long long)(B + 4 * (uint64_t)h - v->base), h, id, n);
            if (++used > n) return CORRUPT("%s: more than n = %u buckets are occupied (V12)", fname, n);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- lookups */

int vx_vocab_parse(vx_vocab *v, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    int rc = vx_vocab_open(v, buf, len, fname, err);
    if (!rc && (rc = check_all(v, fname ? fname : "vocab.bin", err))) memset(v, 0, sizeof *v);
    return rc;
}

int64_t vx_vocab_find(const vx_vocab *v, const char *raw, size_t len) {
    if (!v->nbuckets || len == 0) return -1;
    uint32_t mask = v->nbuckets - 1, h = (uint32_t)XXH3_64bits(raw, len) & mask;
    /* V13: XXH3-64 (seed 0) of the raw bytes, low bits, linear probing; V12 and V10 for
     * each bucket and entry the probe meets (the probe loop is bounded by nbuckets) */
    for (uint32_t probe = 0; probe < v->nbuckets; probe++, h = (h + 1) & mask) {
        uint32_t id = vx_le32(v->buckets + 4 * (uint64_t)h);
        if (id == EMPTY) return -1;
        if (id >= v->n) return VX_VOCAB_CORRUPT;
        const uint8_t *e = v->entries + (uint64_t)id * ENTRY_SIZE;
        if (vx_le32(e + 4) == 0 || !in_blob(v, e, 0)) return VX_VOCAB_CORRUPT;
        if (vx_le32(e + 4) == len && memcmp(v->strings + vx_le32(e), raw, len) == 0) return id;
    }
    return -1;
}

int vx_vocab_get(const vx_vocab *v, uint32_t id, const char **raw, size_t *raw_len, const char **text,
                 size_t *text_len) {
    static const char none[1] = "";
    const uint8_t *e = id < v->n ? v->entries + (uint64_t)id * ENTRY_SIZE : NULL;
    /* V10, V11 for this entry: the strings are read only when they lie in the blob */
    int ok = e && in_blob(v, e, 0) && in_blob(v, e, 1) &&
             vx_utf8_valid((const char *)v->strings + vx_le32(e + 8), vx_le32(e + 12));
    if (raw) *raw = ok ? (const char *)v->strings + vx_le32(e) : none;
    if (raw_len) *raw_len = ok ? vx_le32(e + 4) : 0;
    if (text) *text = ok ? (const char *)v->strings + vx_le32(e + 8) : none;
    if (text_len) *text_len = ok ? vx_le32(e + 12) : 0;
    return ok || id >= v->n ? 0 : -1;
}
