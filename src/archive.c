/*
 * archive.c — the streaming checker of vindex archives (spec/archive.md A-M*, A-V*): what
 * `verify ARCHIVE` and `unpack` run over each member as the tar reader hands its bytes
 * out, once, in whatever order the archive has them.
 *
 * Memory does not grow with the vindex: per member a SHA-256 and an XXH3 state, one
 * direction row's running sums, one down_meta record; only the small members that must be
 * parsed whole (SHA256SUMS, index.json, manifest.json, tokenizer.json, vocab.bin) are held,
 * each within its cap (A-V4). Checks that need index.json are made as rows stream past
 * when index.json came first (as pack writes it); when it comes later they are made from
 * constant-size state kept per member (sizes, hashes, sums of squares, the largest token
 * id), and the direction files' per-row checks become one aggregate check (A-V6).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "archive.h"
#include "vocab.h"

const arc_member arc_members[M_COUNT] = {
    { "SHA256SUMS", 0, 1u << 20, 0 },       { "index.json", 0, VX_MAX_INDEX_JSON, 0 },
    { "manifest.json", 0, 16u << 20, 0 },   { "tokenizer.json", 0, 64u << 20, 0 },
    { "vocab.bin", 0, 64u << 20, 0 },       { "norms.bin", 0, 0, 'f' },
    { "down_meta.bin", 0, 0, 'd' },         { "gate_vectors.bin", 0, 0, 'r' },
    { "down_features.bin", 0, 0, 'r' },     { "embeddings.bin", 0, 0, 'h' },
    { "spectra.bin", 1, 0, 'p' },           { "neurons.bin", 1, 0, 'p' },
    { "moments.bin", 1, 0, 'f' },           { "unembed.bin", 1, 0, 'h' },
};

int arc_member_index(const char *name) {
    for (int i = 0; i < M_COUNT; i++)
        if (!strcmp(arc_members[i].name, name)) return i;
    return -1;
}

static float f16tab[65536];
static void f16tab_init(void) {
    for (uint32_t i = 0; i < 65536; i++) f16tab[i] = vx_f16_to_f32((uint16_t)i);
}

/* A problem with the archive's content: reported, counted, and in fail-fast mode the
 * error that stops the run. */
static int problem(arc_check *c, vx_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(arc_check *c, vx_err *err, const char *fmt, ...) {
    char b[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report) c->report(c->rctx, b);
    return c->fail_fast ? vx_fail(err, VX_EMISMATCH, "%s", b) : VX_OK;
}

int arc_check_init(arc_check *c, const char *what, void (*report)(void *, const char *), void *rctx, int fail_fast,
                   const uint8_t *known_index, size_t known_len, vx_err *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, f16tab_init);
    memset(c, 0, sizeof *c);
    c->what = what;
    c->report = report;
    c->rctx = rctx;
    c->fail_fast = fail_fast;
    c->cur = -1;
    c->sha = EVP_MD_CTX_new();
    c->xxh = XXH3_createState();
    if (!c->sha || !c->xxh) return vx_fail(err, VX_ENOMEM, "%s: out of memory", what);
    if (known_index) {
        int rc = vx_meta_parse(&c->meta, known_index, known_len, "index.json", err);
        if (rc) return rc;
        c->have_meta = 1;
        uint8_t md[32];
        vx_sha256(md, known_index, known_len);
        vx_hex(c->known_index_sha, md, 32);
    }
    return VX_OK;
}

void arc_check_free(arc_check *c) {
    EVP_MD_CTX_free(c->sha);
    XXH3_freeState(c->xxh);
    free(c->buf);
    free(c->rec);
    free(c->sums);
    free(c->index_copy);
    c->index_copy = NULL;
    vx_meta_free(&c->meta);
    c->sha = NULL;
    c->xxh = NULL;
    c->buf = c->rec = NULL;
    c->sums = NULL;
}

/* The size index.json implies for member m, 0 when it implies none (A-V3). */
static int expected_size(const arc_check *c, int m, uint64_t *size) {
    const vx_file_meta *f = vx_meta_file(&c->meta, arc_members[m].name);
    if (!f) return 0;
    *size = f->bytes;
    return 1;
}

/* A-M1: a path made of plain components: not absolute, no "..", no empty component, no
 * backslash or control character; a leading "./" and a directory's trailing '/' are
 * dropped. The result is written over `p`. */
static int clean_path(char *p) {
    if (p[0] == '/') return 0;
    while (p[0] == '.' && p[1] == '/') memmove(p, p + 2, strlen(p + 2) + 1);
    size_t n = strlen(p);
    if (n && p[n - 1] == '/') p[--n] = 0;
    if (!strcmp(p, ".")) p[0] = 0, n = 0;
    const char *s = p;
    while (n) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!len || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return 0;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == '\\' || s[i] == 0x7f) return 0;
        if (!e) break;
        s = e + 1;
    }
    return 1;
}

static int on_member(void *ctx, const vx_tar_hdr *h, vx_err *err) {
    arc_check *c = ctx;
    char path[sizeof h->path];
    memcpy(path, h->path, sizeof path);
    if (!clean_path(path))
        return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (header at offset %llu): unsafe path (absolute, \"..\", "
                       "an empty component or a control character)", h->path, (unsigned long long)h->offset);
    if (h->type == '5') { /* A-M2: at most one directory, the one the members are in */
        if (c->have_dir && strcmp(c->dir, path))
            return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (offset %llu): a second directory; a vindex archive holds one",
                           h->path, (unsigned long long)h->offset);
        if (c->have_prefix && strcmp(c->prefix, path))
            return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (offset %llu): a directory other than the one the files are in (\"%s\")",
                           h->path, (unsigned long long)h->offset, c->prefix);
        snprintf(c->dir, sizeof c->dir, "%s", path);
        c->have_dir = 1;
        c->cur = -1;
        return VX_OK;
    }
    char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) *slash = 0;
    const char *dir = slash ? path : "";
    if (!c->have_prefix) {
        if (c->have_dir && strcmp(c->dir, dir))
            return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (offset %llu): not in the archive's directory \"%s\"",
                           h->path, (unsigned long long)h->offset, c->dir);
        snprintf(c->prefix, sizeof c->prefix, "%s", dir);
        c->have_prefix = 1;
    } else if (strcmp(c->prefix, dir))
        return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (offset %llu): in directory \"%s\", the members before it in \"%s\"",
                       h->path, (unsigned long long)h->offset, dir, c->prefix);
    int m = arc_member_index(base);
    if (m < 0) /* A-M3 */
        return vx_fail(err, VX_ECORRUPT, "member \"%.200s\" (offset %llu): not a file of a vindex", h->path,
                       (unsigned long long)h->offset);
    if (c->m[m].seen)
        return vx_fail(err, VX_ECORRUPT, "member %s (offset %llu): a second copy (the first at offset %llu)", base,
                       (unsigned long long)h->offset, (unsigned long long)c->m[m].hoff);
    const arc_member *am = &arc_members[m];
    uint64_t want;
    /* A-V3: a declared size is checked before any of its bytes are read */
    if (am->cap && h->size > am->cap)
        return vx_fail(err, VX_ECORRUPT, "member %s (offset %llu): declares %llu bytes, more than the %llu a vindex allows",
                       base, (unsigned long long)h->offset, (unsigned long long)h->size, (unsigned long long)am->cap);
    if (c->have_meta) {
        int listed = expected_size(c, m, &want);
        if (am->v2 && !listed)
            return vx_fail(err, VX_ECORRUPT, "member %s (offset %llu): index.json's files table does not list it", base,
                           (unsigned long long)h->offset);
        if (listed && h->size != want)
            return vx_fail(err, VX_ECORRUPT, "member %s (offset %llu): declares %llu bytes, index.json says %llu", base,
                           (unsigned long long)h->offset, (unsigned long long)h->size, (unsigned long long)want);
    } else if (!am->cap) {
        if (c->need_meta_first) {
            c->meta_late = 1;
            return vx_fail(err, VX_EUNSUPPORTED, "member %s (offset %llu) comes before index.json, which sizes it", base,
                           (unsigned long long)h->offset);
        }
        if (h->size > VX_ARC_MEMBER_MAX)
            return vx_fail(err, VX_ECORRUPT, "member %s (offset %llu): declares %llu bytes, more than the %llu accepted "
                           "before index.json", base, (unsigned long long)h->offset, (unsigned long long)h->size,
                           VX_ARC_MEMBER_MAX);
    }
    c->m[m].seen = 1;
    c->m[m].size = h->size;
    c->m[m].hoff = h->offset;
    c->nseen++;
    c->cur = m;
    c->cur_got = 0;
    c->ncarry = 0;
    EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL);
    XXH3_64bits_reset(c->xxh);
    if (am->cap) {
        free(c->buf);
        if (!(c->buf = malloc(h->size ? h->size : 1)))
            return vx_fail(err, VX_ENOMEM, "member %s: out of memory for %llu bytes", base, (unsigned long long)h->size);
    }
    c->row_i = 0;
    c->row = 0;
    c->ss = c->ss_total = 0;
    c->best = c->best_bits = 0;
    c->bad_rows = c->nonfinite = c->negative = 0;
    c->H = 0;
    c->rowF = c->have_meta ? c->meta.num_feats : 0;
    if (am->check == 'r' && c->have_meta) c->H = c->meta.hidden_size;
    else if (am->check == 'r' && c->dm_hdr_ok) {
        /* A-V6: down_meta.bin's header came first and gives L and F; H follows from the size
         * (checked against index.json when it arrives, with the header itself) */
        uint64_t L = vx_le32(c->dm_hdr + 12), F = vx_le32(c->dm_hdr + 16), lf2 = L * F * 2;
        if (L && F && L <= VX_MAX_LAYERS && F <= VX_MAX_FEATS && h->size % lf2 == 0 && h->size / lf2 >= F &&
            h->size / lf2 <= VX_MAX_HIDDEN) {
            c->H = (uint32_t)(h->size / lf2);
            c->rowF = (uint32_t)F;
        }
    }
    if (am->check == 'd') {
        c->rec_have = c->rec_bytes = 0;
        c->nrec = c->bad_rec = 0;
        c->max_id = 0;
        c->dm_hdr_ok = 0;
    }
    if (c->w && c->w->member) return c->w->member(c->w->ctx, m, h->size, err);
    return VX_OK;
}

/* ---- per-element checks; `n` whole elements at p (any alignment) ---- */

static void rows_f16(arc_check *c, const uint8_t *p, size_t n) {
    if (!c->H) { /* H unknown: sums only (A-V6) */
        double ss = 0;
        uint64_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            bad += (v & 0x7c00) == 0x7c00;
            float x = f16tab[v];
            ss += (double)x * x;
        }
        c->nonfinite += bad;
        c->ss_total += ss;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8), a = v & 0x7fff;
        c->nonfinite += (v & 0x7c00) == 0x7c00;
        float x = f16tab[v];
        c->ss += (double)x * x;
        if (a > c->best) { c->best = a; c->best_bits = v; } /* the first largest |v| (R-E3) */
        if (++c->row_i == c->H) {
            /* unit length within 1e-2 and a positive largest entry, as vx_verify */
            if ((c->best_bits & 0x8000) || !(fabs(sqrt(c->ss) - 1.0) < 1e-2)) {
                if (!c->bad_rows) c->first_bad = c->row;
                c->bad_rows++;
            }
            c->ss_total += c->ss;
            c->row++;
            c->row_i = 0;
            c->ss = 0;
            c->best = c->best_bits = 0;
        }
    }
}

static void finite_f16(arc_check *c, const uint8_t *p, size_t n) {
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += (p[2 * i + 1] & 0x7c) == 0x7c;
    c->nonfinite += bad;
}

static void finite_f32(arc_check *c, const uint8_t *p, size_t n, int nonneg) {
    uint64_t bad = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = vx_le32(p + 4 * i);
        bad += (u & 0x7f800000u) == 0x7f800000u;
        neg += (u >> 31) && (u & 0x7fffffffu);
    }
    c->nonfinite += bad;
    if (nonneg) c->negative += neg;
}

/* down_meta.bin: the header (checked alone, and against index.json when known), then one
 * record at a time. */
static int dm_bytes(arc_check *c, const uint8_t *p, size_t n, vx_err *err) {
    while (n) {
        if (c->cur_got < VX_DM_HEADER) {
            size_t k = VX_DM_HEADER - c->cur_got < n ? (size_t)(VX_DM_HEADER - c->cur_got) : n;
            memcpy(c->dm_hdr + c->cur_got, p, k);
            c->cur_got += k;
            p += k;
            n -= k;
            if (c->cur_got < VX_DM_HEADER) return VX_OK;
            uint32_t K = vx_le32(c->dm_hdr + 20), rb = vx_le32(c->dm_hdr + 28);
            uint64_t body = c->m[M_DMETA].size - VX_DM_HEADER;
            if (memcmp(c->dm_hdr, VX_DM_MAGIC, 8) || vx_le32(c->dm_hdr + 8) != VX_DM_VERSION ||
                vx_le32(c->dm_hdr + 24) != 2 || K < 1 || K > VX_MAX_TOPK || rb != 16 * K || body % rb)
                return problem(c, err, "down_meta.bin: header (R-D1..R-D3): bad magic, version, kinds or record size, "
                               "or %llu record bytes are not whole records", (unsigned long long)body);
            if (c->have_meta) {
                vx_err e = { 0 };
                const vx_meta *m = &c->meta;
                if (vx_dm_header_check(c->dm_hdr, c->m[M_DMETA].size, m->num_layers, m->num_feats, m->down_top_k,
                                       "down_meta.bin", &e))
                    return problem(c, err, "%s", e.msg);
            }
            c->K = K;
            c->rec_bytes = rb;
            c->dm_hdr_ok = 1;
            if (!c->rec && !(c->rec = malloc(16u * VX_MAX_TOPK))) return vx_fail(err, VX_ENOMEM, "out of memory");
            continue;
        }
        if (!c->dm_hdr_ok) return VX_OK;
        size_t k = c->rec_bytes - c->rec_have < n ? c->rec_bytes - c->rec_have : n;
        memcpy(c->rec + c->rec_have, p, k);
        c->rec_have += (uint32_t)k;
        c->cur_got += k;
        p += k;
        n -= k;
        if (c->rec_have == c->rec_bytes) {
            uint32_t V = c->have_meta ? c->meta.vocab_size : UINT32_MAX;
            if (!vx_dm_record_ok(c->rec, c->K, V, &c->max_id)) {
                if (!c->bad_rec) c->first_bad_rec = c->nrec;
                c->bad_rec++;
            }
            c->nrec++;
            c->rec_have = 0;
        }
    }
    return VX_OK;
}

/* Whole elements of `es` bytes to fn, carrying a split element across pieces. */
static void elems(arc_check *c, const uint8_t *p, size_t n, size_t es,
                  void (*fn)(arc_check *, const uint8_t *, size_t, int), int arg) {
    if (c->ncarry) {
        size_t k = es - c->ncarry < n ? es - c->ncarry : n;
        memcpy(c->carry + c->ncarry, p, k);
        c->ncarry += k;
        p += k;
        n -= k;
        if (c->ncarry < es) return;
        fn(c, c->carry, 1, arg);
        c->ncarry = 0;
    }
    size_t whole = n / es;
    if (whole) fn(c, p, whole, arg);
    memcpy(c->carry, p + whole * es, n - whole * es);
    c->ncarry = n - whole * es;
}
static void do_rows(arc_check *c, const uint8_t *p, size_t n, int a) { (void)a; rows_f16(c, p, n); }
static void do_f16(arc_check *c, const uint8_t *p, size_t n, int a) { (void)a; finite_f16(c, p, n); }
static void do_f32(arc_check *c, const uint8_t *p, size_t n, int nonneg) { finite_f32(c, p, n, nonneg); }

static int on_data(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    arc_check *c = ctx;
    if (c->cur < 0) return VX_OK;
    EVP_DigestUpdate(c->sha, p, n);
    XXH3_64bits_update(c->xxh, p, n);
    const arc_member *am = &arc_members[c->cur];
    int rc = VX_OK;
    switch (am->check) {
    case 'r': elems(c, p, n, 2, do_rows, 0); break;
    case 'h': elems(c, p, n, 2, do_f16, 0); break;
    case 'f': elems(c, p, n, 4, do_f32, 0); break;
    case 'p': elems(c, p, n, 4, do_f32, 1); break;
    case 'd': rc = dm_bytes(c, p, n, err); break;
    default: memcpy(c->buf + c->cur_got, p, n);
    }
    if (am->check != 'd') c->cur_got += n;
    if (rc) return rc;
    if (c->w && c->w->data) return c->w->data(c->w->ctx, p, n, err);
    return VX_OK;
}

/* A-V7, A-V8 for member m as soon as both its hashes and the reference are known: a
 * mismatch stops unpack at the member, not at the end of the archive. */
static int check_hashes(arc_check *c, int m, vx_err *err) {
    int rc = VX_OK;
    if (!c->m[m].seen || m == c->cur || m == M_SUMS) return VX_OK;
    if (c->have_sums && !c->m[m].sha_done) {
        c->m[m].sha_done = 1;
        const vx_sum *e = NULL;
        for (size_t i = 0; i < c->nsums && !e; i++)
            if (!strcmp(c->sums[i].name, arc_members[m].name)) e = &c->sums[i];
        if (!e) rc = problem(c, err, "%s: a member, but not listed in SHA256SUMS", arc_members[m].name);
        else if (strcmp(e->hex, c->m[m].sha))
            rc = problem(c, err, "%s: SHA-256 mismatch: expected %s, computed %s", arc_members[m].name, e->hex, c->m[m].sha);
    }
    const vx_file_meta *f = c->have_meta ? vx_meta_file(&c->meta, arc_members[m].name) : NULL;
    if (rc == VX_OK && f && !c->m[m].xxh_done) {
        c->m[m].xxh_done = 1;
        if (f->xxh3[0] && strcmp(f->xxh3, c->m[m].xxh))
            rc = problem(c, err, "%s: XXH3 (index.json) mismatch: expected %s, computed %s", arc_members[m].name, f->xxh3,
                         c->m[m].xxh);
        else if (f->sha256[0] && strcmp(f->sha256, c->m[m].sha)) /* A-V7, R-I10 */
            rc = problem(c, err, "%s: SHA-256 (index.json) mismatch: expected %s, computed %s", arc_members[m].name,
                         f->sha256, c->m[m].sha);
    }
    return rc;
}

static int check_all_hashes(arc_check *c, vx_err *err) {
    int rc = VX_OK;
    for (int m = 0; m < M_COUNT && rc == VX_OK; m++) rc = check_hashes(c, m, err);
    return rc;
}

/* index.json is complete and valid: what was read before it is checked against it now
 * (A-V3, A-V5), what comes after it as it arrives. */
static int meta_arrived(arc_check *c, vx_err *err) {
    int rc = VX_OK;
    for (int m = 0; m < M_COUNT && rc == VX_OK; m++) {
        uint64_t want;
        if (!c->m[m].seen || m == c->cur) continue;
        int listed = expected_size(c, m, &want);
        if (arc_members[m].v2 && !listed)
            rc = problem(c, err, "%s: a member, but index.json's files table does not list it", arc_members[m].name);
        else if (listed && c->m[m].size != want)
            rc = problem(c, err, "%s: %llu bytes, index.json says %llu", arc_members[m].name,
                         (unsigned long long)c->m[m].size, (unsigned long long)want);
    }
    if (rc == VX_OK) rc = check_all_hashes(c, err);
    if (rc == VX_OK && c->w && c->w->meta) rc = c->w->meta(c->w->ctx, &c->meta, err);
    return rc;
}

/* A member held whole (cap > 0) is complete: parse it. */
static int parse_whole(arc_check *c, int m, vx_err *err) {
    const uint8_t *b = c->buf;
    size_t n = (size_t)c->m[m].size;
    vx_err e = { 0 };
    int rc = VX_OK;
    switch (m) {
    case M_SUMS:
        if (vx_sums_parse(&c->sums, &c->nsums, b, n, "SHA256SUMS", &e)) return problem(c, err, "%s", e.msg);
        c->have_sums = 1;
        return check_all_hashes(c, err);
    case M_INDEX:
        if (c->have_meta) { /* read in an earlier pass: must be the same bytes */
            if (strcmp(c->known_index_sha, c->m[m].sha))
                return vx_fail(err, VX_EMISMATCH, "index.json: differs from the copy read in the first pass over the archive");
            return VX_OK;
        }
        if ((rc = vx_meta_parse(&c->meta, b, n, "index.json", &e))) {
            vx_meta_free(&c->meta);
            return problem(c, err, "%s", e.msg);
        }
        c->have_meta = 1;
        if (c->keep_index) {
            free(c->index_copy);
            c->index_copy = c->buf;
            c->index_len = n;
            c->buf = NULL;
        }
        return meta_arrived(c, err);
    case M_MANIFEST:
    case M_TOKENIZER: {
        cJSON *j = cJSON_ParseWithLengthOpts((const char *)b, n, NULL, 0);
        int ok = cJSON_IsObject(j);
        if (ok && m == M_MANIFEST) { /* R-B6: kept to be compared with the members' digest */
            const cJSON *dg = cJSON_GetObjectItemCaseSensitive(j, "content_digest");
            c->manifest_has_digest = !dg ? 0 : cJSON_IsString(dg) && strlen(dg->valuestring) == 64 ? 1 : -1;
            if (c->manifest_has_digest > 0) memcpy(c->manifest_digest, dg->valuestring, 65);
        }
        cJSON_Delete(j);
        if (!ok) return problem(c, err, "%s: not a valid JSON object", arc_members[m].name);
        if (m == M_TOKENIZER) {
            vx_tokenizer *t = NULL;
            if (vx_tokenizer_parse(&t, b, n, "tokenizer.json", &e)) rc = problem(c, err, "%s", e.msg);
            vx_tokenizer_free(t);
        }
        return rc;
    }
    case M_VOCAB: {
        vx_vocab v;
        if (vx_vocab_parse(&v, b, n, "vocab.bin", &e)) return problem(c, err, "%s", e.msg);
        c->vocab_n = v.n;
        return VX_OK;
    }
    }
    return VX_OK;
}

/* The checks of a direction, f16, f32 or down_meta member at its end. */
static int finish_streamed(arc_check *c, int m, vx_err *err) {
    const char *name = arc_members[m].name;
    int rc = VX_OK;
    if (c->ncarry)
        rc = problem(c, err, "%s: %llu bytes, not a whole number of %s values", name, (unsigned long long)c->m[m].size,
                     arc_members[m].check == 'f' || arc_members[m].check == 'p' ? "f32" : "f16");
    if (rc == VX_OK && c->nonfinite)
        rc = problem(c, err, "%s: %llu NaN/Inf values", name, (unsigned long long)c->nonfinite);
    if (rc == VX_OK && c->negative)
        rc = problem(c, err, "%s: %llu negative values (R-B1, R-B2)", name, (unsigned long long)c->negative);
    if (arc_members[m].check == 'r' && rc == VX_OK && !c->nonfinite) {
        if (!c->H) {
            c->agg[m] = 1;
            c->agg_ss[m] = c->ss_total;
        } else if (c->row_i)
            rc = problem(c, err, "%s: ends inside a row of %u values", name, c->H);
        else if (c->bad_rows)
            rc = problem(c, err, "%s: %llu directions not unit length or with a negative largest entry (first: layer %llu "
                         "feature %llu, at byte %llu)", name, (unsigned long long)c->bad_rows,
                         (unsigned long long)(c->first_bad / c->rowF), (unsigned long long)(c->first_bad % c->rowF),
                         (unsigned long long)(c->first_bad * c->H * 2));
    }
    if (arc_members[m].check == 'd' && rc == VX_OK && c->dm_hdr_ok) {
        if (c->bad_rec) {
            uint64_t F = c->have_meta ? c->meta.num_feats : vx_le32(c->dm_hdr + 16), r = c->first_bad_rec;
            rc = problem(c, err, "down_meta.bin: %llu bad records (first: record %llu, layer %llu, %s, feature %llu, at "
                         "byte %llu): token id >= vocab size, non-finite value, or misordered",
                         (unsigned long long)c->bad_rec, (unsigned long long)r, F ? (unsigned long long)(r / F / 2) : 0ull,
                         F && (r / F) % 2 ? "down" : "gate", F ? (unsigned long long)(r % F) : 0ull,
                         (unsigned long long)(VX_DM_HEADER + r * c->rec_bytes));
        }
    }
    return rc;
}

static int on_member_end(void *ctx, vx_err *err) {
    arc_check *c = ctx;
    int m = c->cur;
    if (m < 0) return VX_OK;
    uint8_t md[32];
    unsigned int mdn = 32;
    EVP_DigestFinal_ex(c->sha, md, &mdn);
    vx_hex(c->m[m].sha, md, 32);
    XXH64_canonical_t can;
    XXH64_canonicalFromHash(&can, XXH3_64bits_digest(c->xxh));
    vx_hex(c->m[m].xxh, can.digest, 8);
    int rc = arc_members[m].cap ? parse_whole(c, m, err) : finish_streamed(c, m, err);
    if (arc_members[m].cap) {
        free(c->buf);
        c->buf = NULL;
    }
    c->cur = -1;
    if (rc == VX_OK) rc = check_hashes(c, m, err);
    if (rc) return rc;
    if (c->w && c->w->end) return c->w->end(c->w->ctx, err);
    return VX_OK;
}

vx_tar_sink arc_check_sink(arc_check *c) {
    vx_tar_sink s = { on_member, on_data, on_member_end, c };
    return s;
}

int arc_check_finish(arc_check *c, vx_verify_result *res, const vx_anchor *a, vx_err *err) {
    int rc = VX_OK;
#define P(...) do { if ((rc = problem(c, err, __VA_ARGS__))) return rc; } while (0)
    /* A-M4: the ten files of R-F1 are all there */
    for (int m = 0; m < M_COUNT; m++)
        if (!arc_members[m].v2 && !c->m[m].seen) P("%s: missing from the archive", arc_members[m].name);
    if (c->have_dir && c->have_prefix && strcmp(c->dir, c->prefix))
        P("directory member \"%s\": the files are in \"%s\"", c->dir, c->prefix);
    if (c->have_meta) {
        const vx_meta *mm = &c->meta;
        /* §9 files index.json lists must be members */
        for (size_t i = 0; i < mm->n_files; i++) {
            int m = arc_member_index(mm->files[i].name);
            if (m >= 0 && !c->m[m].seen && c->m[M_INDEX].seen) P("%s: listed in index.json, missing from the archive", mm->files[i].name);
        }
        /* A-V6: what streamed past before H was known */
        uint64_t rows = (uint64_t)mm->num_layers * mm->num_feats;
        for (int m = M_GATE; m <= M_DOWN; m++)
            if (c->agg[m] && !(c->agg_ss[m] > 0.9801 * (double)rows && c->agg_ss[m] < 1.0201 * (double)rows))
                P("%s: the squared norms of its %llu directions sum to %.6g, not within 2%% of %llu (checked in "
                  "aggregate: the member came before index.json)", arc_members[m].name, (unsigned long long)rows,
                  c->agg_ss[m], (unsigned long long)rows);
        vx_err e = { 0 };
        if (c->m[M_DMETA].seen && c->dm_hdr_ok &&
            vx_dm_header_check(c->dm_hdr, c->m[M_DMETA].size, mm->num_layers, mm->num_feats, mm->down_top_k,
                               "down_meta.bin", &e))
            P("%s", e.msg);
        if (c->m[M_DMETA].seen && c->dm_hdr_ok && c->max_id >= mm->vocab_size)
            P("down_meta.bin: token id %u >= vocab_size %u", c->max_id, mm->vocab_size);
        if (c->m[M_VOCAB].seen && c->vocab_n && c->vocab_n != mm->vocab_size)
            P("vocab.bin: %u entries, index.json vocab_size is %u", c->vocab_n, mm->vocab_size);
    }
    for (int m = M_GATE; m <= M_DOWN; m++) res->rows_in_aggregate |= c->agg[m] && c->have_meta;
    /* A-V8: SHA256SUMS lists exactly the other members, with their hashes */
    vx_sum have[M_COUNT];
    size_t nh = 0;
    for (int m = 0; m < M_COUNT; m++)
        if (c->m[m].seen && m != M_SUMS) {
            snprintf(have[nh].name, sizeof have[nh].name, "%s", arc_members[m].name);
            memcpy(have[nh].hex, c->m[m].sha, 65);
            nh++;
        }
    if ((rc = check_all_hashes(c, err))) return rc; /* A-V7, A-V8: whatever was not compared yet */
    for (size_t i = 0; c->have_sums && i < c->nsums; i++) {
        int m = arc_member_index(c->sums[i].name);
        if (m < 0 || !c->m[m].seen || m == M_SUMS) P("SHA256SUMS: lists %s, which is not a member", c->sums[i].name);
    }
    res->members = c->nseen + c->have_dir;
    for (int m = 0; m < M_COUNT; m++) res->bytes += c->m[m].seen ? c->m[m].size : 0;
    char digest[65];
    if ((rc = vx_content_digest_of(digest, have, nh, err))) return rc;
    if (c->m[M_MANIFEST].seen && c->manifest_has_digest > 0 && strcmp(c->manifest_digest, digest))
        P("manifest.json: content_digest %s, but the members hash to %s", c->manifest_digest, digest);
    else if (c->m[M_MANIFEST].seen && c->manifest_has_digest < 0)
        P("manifest.json: content_digest is not a string of 64 hex digits");
    else if (c->m[M_MANIFEST].seen && !c->manifest_has_digest && c->have_meta && c->meta.version >= 2)
        P("manifest.json: no content_digest (format version %u records it)", c->meta.version);
    int n = arc_anchor(res, have, nh, a, c->report, c->rctx, err);
    if (n < 0) return n;
    c->problems += n;
    if (n && c->fail_fast) return vx_fail(err, VX_EMISMATCH, "the archive does not match the anchor");
#undef P
    return VX_OK;
}

/* --------------------------------------------------------------- the stream */

typedef struct feed_ctx {
    vx_tar_reader r;
    vx_tar_sink s;
    const char *what;
} feed_ctx;

static int feed(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    feed_ctx *f = ctx;
    int rc = vx_tar_feed(&f->r, p, n, &f->s, err);
    if (rc && err) { /* name the archive in front of the tar layer's message */
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%.100s: %.900s", f->what, err->msg);
        memcpy(err->msg, m, sizeof m);
    }
    return rc;
}

int arc_stream(arc_check *c, int fd, int threads, vx_zst_stats *st, vx_err *err) {
    feed_ctx f;
    vx_tar_reader_init(&f.r);
    f.s = arc_check_sink(c);
    f.what = c->what;
    int rc = vx_zst_read(fd, c->what, threads, feed, &f, st, err);
    if (rc == VX_OK && (rc = vx_tar_finish(&f.r, err))) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%.100s: %.900s", c->what, err->msg);
        memcpy(err->msg, m, sizeof m);
    }
    vx_tar_reader_free(&f.r);
    return rc;
}

/* ------------------------------------------------------------ stale outputs */

int arc_clean_stale(const char *parent, const char *prefix) {
    DIR *d = opendir(parent);
    if (!d) return 0;
    int removed = 0;
    size_t pl = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, pl)) continue;
        char *end;
        long pid = strtol(e->d_name + pl, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *p = vx_path(parent, e->d_name);
        struct stat st;
        if (p && lstat(p, &st) == 0) removed += (S_ISDIR(st.st_mode) ? vx_remove_tree(p) : unlink(p)) == 0;
        free(p);
    }
    closedir(d);
    return removed;
}
