/*
 * safetensors.c — the validating parser for one safetensors file held in memory
 * (contract in safetensors.h, rules in spec/checkpoint-input.md §S).
 *
 * Layout (huggingface/safetensors README):
 *
 *   [0, 8)        N, u64 little-endian: header length
 *   [8, 8+N)      UTF-8 JSON object, may be right-padded with spaces
 *   [8+N, len)    data buffer; data_offsets are relative to its start
 *
 * The parser is pure: it sees bytes and a length, never a file, so tests and fuzzers
 * call it directly. Every size taken from the header goes through checked arithmetic
 * before it is used, and nothing in the data buffer is dereferenced here.
 * cJSON does the grammar; a small lexical pass (st_lex) adds what cJSON does not check:
 * valid UTF-8, no control bytes or \u0000 in strings, integer-only number literals.
 */
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const struct { const char *name; unsigned bits; } dtypes[VX_DT_COUNT] = {
    [VX_DT_F32] = {"F32", 32},       [VX_DT_F16] = {"F16", 16},
    [VX_DT_BF16] = {"BF16", 16},     [VX_DT_F64] = {"F64", 64},
    [VX_DT_I64] = {"I64", 64},       [VX_DT_I32] = {"I32", 32},
    [VX_DT_I16] = {"I16", 16},       [VX_DT_I8] = {"I8", 8},
    [VX_DT_U64] = {"U64", 64},       [VX_DT_U32] = {"U32", 32},
    [VX_DT_U16] = {"U16", 16},       [VX_DT_U8] = {"U8", 8},
    [VX_DT_BOOL] = {"BOOL", 8},      [VX_DT_F8_E4M3] = {"F8_E4M3", 8},
    [VX_DT_F8_E5M2] = {"F8_E5M2", 8}, [VX_DT_F8_E8M0] = {"F8_E8M0", 8},
    [VX_DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8}, [VX_DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [VX_DT_C64] = {"C64", 64},       [VX_DT_F4] = {"F4", 4},
    [VX_DT_F6_E2M3] = {"F6_E2M3", 6}, [VX_DT_F6_E3M2] = {"F6_E3M2", 6},
};

const char *vx_dtype_name(vx_dtype d) { return (unsigned)d < VX_DT_COUNT ? dtypes[d].name : "?"; }
unsigned vx_dtype_bits(vx_dtype d) { return (unsigned)d < VX_DT_COUNT ? dtypes[d].bits : 0; }

/* Largest integer a JSON number (an IEEE double in cJSON) holds exactly. */
#define ST_MAX_INT 9007199254740992.0 /* 2^53 */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t k;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) { k = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { k = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { k = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return k;
}

enum { LEX_OK, LEX_CTRL, LEX_NUL_ESCAPE, LEX_UTF8, LEX_NUMBER };

/*
 * S4/S7: lexical checks over header bytes that cJSON has already accepted as JSON.
 * Strings: valid UTF-8, no raw bytes < 0x20, no \u0000 (cJSON would cut the C string
 * there, hiding the rest of a name). Numbers: plain unsigned integer literals without
 * leading zeros (cJSON turns "4.0", "4e0" and "-0" into doubles indistinguishable from
 * integers). String errors are reported at once; a number error is kept in *num_off so
 * that the per-tensor checks, whose messages name the tensor, speak first.
 */
static int st_lex(const uint8_t *h, size_t n, size_t *off, size_t *num_off) {
    *num_off = SIZE_MAX;
    size_t i = 0;
    while (i < n) {
        uint8_t c = h[i];
        if (c == '"') {
            i++;
            while (i < n && h[i] != '"') {
                if (h[i] == '\\') {
                    if (i + 5 < n && h[i + 1] == 'u' && !memcmp(h + i + 2, "0000", 4)) { *off = i; return LEX_NUL_ESCAPE; }
                    i += 2; /* the escaped byte is ASCII; \uXXXX's hex digits pass below */
                    continue;
                }
                if (h[i] < 0x20) { *off = i; return LEX_CTRL; }
                size_t k = utf8_len(h + i, n - i);
                if (!k) { *off = i; return LEX_UTF8; }
                i += k;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t s = i;
            int bad = c == '-' || (c == '0' && i + 1 < n && h[i + 1] >= '0' && h[i + 1] <= '9');
            while (i < n && (h[i] == '-' || h[i] == '+' || h[i] == '.' || h[i] == 'e' || h[i] == 'E' ||
                             (h[i] >= '0' && h[i] <= '9'))) {
                if (h[i] < '0' || h[i] > '9') bad = 1;
                i++;
            }
            if (bad && *num_off == SIZE_MAX) *num_off = s;
        } else {
            i++;
        }
    }
    return LEX_OK;
}

/* S6: a shape entry or offset: a JSON number that is an integer in [0, 2^53]. */
static int st_uint(const cJSON *v, uint64_t *out, const char **why) {
    if (!cJSON_IsNumber(v)) { *why = "is not a number"; return 0; }
    double d = v->valuedouble;
    if (!(d == d)) { *why = "is not a number"; return 0; }
    if (d < 0) { *why = "is negative"; return 0; }
    if (d > ST_MAX_INT) { *why = "is larger than 2^53"; return 0; }
    if (!vx_whole(d)) { *why = "is not an integer"; return 0; }
    *out = (uint64_t)d;
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct { uint64_t begin, end; size_t i; } st_span;

static int cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

void vx_st_free(vx_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->n = 0;
}

const vx_st_tensor *vx_st_find(const vx_st_file *f, const char *name) {
    for (size_t i = 0; f && i < f->n; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* S8: "__metadata__" is an object whose values are all strings. */
static int st_metadata(const cJSON *m, const char *fname, vx_err *err) {
    if (!cJSON_IsObject(m))
        return vx_fail(err, VX_ECORRUPT,
                       "%s: header: '__metadata__' must be an object of strings (a tensor may not be named '__metadata__')",
                       fname);
    for (const cJSON *v = m->child; v; v = v->next)
        if (!cJSON_IsString(v))
            return vx_fail(err, VX_ECORRUPT, "%s: header: '__metadata__' key '%.200s': value must be a string", fname,
                           v->string ? v->string : "");
    return VX_OK;
}

/* S5-S7 for one entry: dtype, shape, offsets, and byte count = dtype bits × elements / 8. */
static int st_tensor(vx_st_tensor *t, const cJSON *e, uint64_t data_len, const char *fname, vx_err *err) {
    const char *nm = t->name;
    if (!cJSON_IsObject(e))
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': expected an object {dtype, shape, data_offsets}",
                       fname, nm);
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *k = e->child; k; k = k->next) {
        const cJSON **slot = !strcmp(k->string, "dtype") ? &dt : !strcmp(k->string, "shape") ? &sh
                           : !strcmp(k->string, "data_offsets") ? &off : NULL;
        if (!slot) continue; /* unknown keys are ignored, as the reference reader does */
        if (*slot)
            return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': key '%s' appears twice", fname, nm, k->string);
        *slot = k;
    }
    /* S5: a known dtype string; the set is closed. */
    if (!cJSON_IsString(dt))
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': missing string 'dtype'", fname, nm);
    int d = -1;
    for (int i = 0; i < VX_DT_COUNT; i++)
        if (!strcmp(dt->valuestring, dtypes[i].name)) d = i;
    if (d < 0)
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': unknown dtype '%.40s'", fname, nm, dt->valuestring);
    t->dtype = (vx_dtype)d;

    /* S6: shape of at most 8 integers in [0, 2^53]; element count with checked products. */
    if (!cJSON_IsArray(sh))
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': missing array 'shape'", fname, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > VX_ST_MAX_DIMS)
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': shape has %d dimensions, at most %d allowed",
                       fname, nm, nd, VX_ST_MAX_DIMS);
    t->ndim = nd;
    t->nelem = 1;
    int i = 0;
    for (const cJSON *v = sh->child; v; v = v->next, i++) {
        const char *why;
        if (!st_uint(v, &t->shape[i], &why))
            return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': shape[%d] %s (expected a non-negative integer)",
                           fname, nm, i, why);
        if (!vx_mul_ok(t->nelem, t->shape[i], &t->nelem))
            return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': shape element count overflows 64 bits", fname, nm);
    }
    uint64_t nbits;
    if (!vx_mul_ok(t->nelem, dtypes[d].bits, &nbits))
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': size in bits overflows 64 bits", fname, nm);
    if (nbits % 8)
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': %llu elements of %s are not a whole number of bytes",
                       fname, nm, (unsigned long long)t->nelem, dtypes[d].name);

    /* S7: data_offsets [begin, end] inside the buffer, holding exactly the bytes needed. */
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': 'data_offsets' must be an array [begin, end]", fname,
                       nm);
    const char *why;
    if (!st_uint(off->child, &t->begin, &why) || !st_uint(off->child->next, &t->end, &why))
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': a data_offsets entry %s (expected a non-negative integer)",
                       fname, nm, why);
    if (t->end < t->begin)
        return vx_fail(err, VX_ECORRUPT, "%s: header: tensor '%.200s': data_offsets [%llu,%llu]: end before begin", fname, nm,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_len)
        return vx_fail(err, VX_ECORRUPT,
                       "%s: header: tensor '%.200s': data_offsets [%llu,%llu] out of range: the data buffer holds %llu bytes",
                       fname, nm, (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_len);
    if (t->end - t->begin != nbits / 8) {
        char shp[200];
        size_t p = 0;
        shp[0] = 0;
        for (int j = 0; j < nd && p < sizeof shp - 24; j++)
            p += (size_t)snprintf(shp + p, sizeof shp - p, "%s%llu", j ? "," : "", (unsigned long long)t->shape[j]);
        return vx_fail(err, VX_ECORRUPT, "%s: tensor '%.200s': data_offsets [%llu,%llu] hold %llu bytes, %s shape [%s] needs %llu",
                       fname, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), dtypes[d].name, shp, (unsigned long long)(nbits / 8));
    }
    return VX_OK;
}

/* S9: sorted by offsets, the tensors tile [0, data_len) exactly. */
static int st_tiling(const vx_st_file *f, uint64_t data_len, const char *fname, vx_err *err) {
    st_span *s = malloc((f->n ? f->n : 1) * sizeof *s);
    if (!s) return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
    for (size_t i = 0; i < f->n; i++) s[i] = (st_span){f->tensors[i].begin, f->tensors[i].end, i};
    qsort(s, f->n, sizeof *s, cmp_span);
    uint64_t pos = 0;
    const char *prev = NULL;
    int rc = VX_OK;
    for (size_t i = 0; i < f->n && rc == VX_OK; i++) {
        const vx_st_tensor *t = &f->tensors[s[i].i];
        if (t->begin < pos)
            rc = vx_fail(err, VX_ECORRUPT, "%s: tensor '%.200s': data_offsets [%llu,%llu] overlap tensor '%.200s' (ends at %llu)",
                         fname, t->name, (unsigned long long)t->begin, (unsigned long long)t->end, prev,
                         (unsigned long long)pos);
        else if (t->begin > pos)
            rc = vx_fail(err, VX_ECORRUPT, "%s: tensor '%.200s': data_offsets [%llu,%llu] leave a gap of %llu bytes after %s%.200s%s",
                         fname, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->begin - pos), prev ? "tensor '" : "", prev ? prev : "the buffer start",
                         prev ? "'" : "");
        pos = t->end;
        prev = t->name;
    }
    if (rc == VX_OK && pos != data_len)
        rc = vx_fail(err, VX_ECORRUPT, "%s: %llu trailing bytes after the last tensor (data buffer %llu bytes, tensors end at %llu)",
                     fname, (unsigned long long)(data_len - pos), (unsigned long long)data_len, (unsigned long long)pos);
    free(s);
    return rc;
}

int vx_st_parse(vx_st_file *f, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    f->tensors = NULL;
    f->n = 0;
    if (!fname) fname = "safetensors";
    /* S1: room for the length prefix. */
    if (len < 8 || !buf)
        return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, too short for the 8-byte header length", fname, len);
    /* S2, S3: header length capped, and the header inside the file (checked add). */
    uint64_t n = vx_le64(buf), hend;
    if (n > VX_ST_MAX_HEADER)
        return vx_fail(err, VX_ECORRUPT, "%s: header length %llu exceeds the %llu-byte limit", fname, (unsigned long long)n,
                       VX_ST_MAX_HEADER);
    if (!vx_add_ok(8, n, &hend) || hend > len)
        return vx_fail(err, VX_ECORRUPT, "%s: header length %llu runs past the end of the %zu-byte file", fname,
                       (unsigned long long)n, len);
    const uint8_t *h = buf + 8;
    uint64_t data_len = len - hend;
    /* S4: a JSON object, starting with '{' (no BOM, no leading space). */
    if (n == 0 || h[0] != '{')
        return vx_fail(err, VX_ECORRUPT, "%s: header is not a JSON object (expected '{' at byte 8)", fname);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= (const char *)h && end <= (const char *)h + n ? (size_t)(end - (const char *)h) : 0;
        return vx_fail(err, VX_ECORRUPT, "%s: header is not valid JSON (error near header byte %zu)", fname, at);
    }
    int rc = VX_OK;
    const char **names = NULL;
    size_t pe = (size_t)(end - (const char *)h), off = 0, num_off;
    if (!cJSON_IsObject(root)) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: header is not a JSON object", fname);
        goto out;
    }
    /* S4: only JSON whitespace (writers pad with spaces) may follow the object. */
    for (size_t i = pe; i < n; i++)
        if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r') {
            rc = vx_fail(err, VX_ECORRUPT, "%s: header byte %zu: 0x%02x after the JSON object (only space padding allowed)",
                         fname, i, h[i]);
            goto out;
        }
    switch (st_lex(h, pe, &off, &num_off)) {
    case LEX_CTRL: rc = vx_fail(err, VX_ECORRUPT, "%s: header byte %zu: control byte inside a string", fname, off); goto out;
    case LEX_NUL_ESCAPE: rc = vx_fail(err, VX_ECORRUPT, "%s: header byte %zu: \\u0000 inside a string", fname, off); goto out;
    case LEX_UTF8:
        rc = vx_fail(err, VX_ECORRUPT, "%s: header byte %zu: invalid UTF-8 in a string (tensor names must be UTF-8)", fname, off);
        goto out;
    default: break;
    }

    /* S8: names unique. cJSON keeps duplicate keys as separate items, so sort and compare. */
    size_t nkeys = (size_t)cJSON_GetArraySize(root), nt = 0;
    names = malloc((nkeys ? nkeys : 1) * sizeof *names);
    f->tensors = calloc(nkeys ? nkeys : 1, sizeof *f->tensors);
    if (!names || !f->tensors) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
    size_t k = 0;
    for (const cJSON *e = root->child; e; e = e->next) names[k++] = e->string;
    qsort(names, nkeys, sizeof *names, cmp_str);
    for (size_t i = 1; i < nkeys; i++)
        if (!strcmp(names[i - 1], names[i])) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: header: duplicate tensor name '%.200s'", fname, names[i]);
            goto out;
        }

    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if ((rc = st_metadata(e, fname, err))) goto out;
            continue;
        }
        vx_st_tensor *t = &f->tensors[nt];
        if (!(t->name = strdup(e->string))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
        f->n = ++nt;
        if ((rc = st_tensor(t, e, data_len, fname, err))) goto out;
    }
    if (num_off != SIZE_MAX) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: header byte %zu: number is not a plain non-negative integer literal "
                     "(shapes and data_offsets are integers)", fname, num_off);
        goto out;
    }
    if ((rc = st_tiling(f, data_len, fname, err))) goto out;
    for (size_t i = 0; i < f->n; i++) f->tensors[i].data = buf + hend + f->tensors[i].begin;
out:
    free(names);
    cJSON_Delete(root);
    if (rc) vx_st_free(f);
    return rc;
}
