/*
 * test_query.c — the query engine's C tests:
 *   1. every kernel version the CPU supports gives bit-identical sums (odd widths, zero
 *      rows, subnormals, extremes), and cvt_ss converts exactly;
 *   2. on a small synthetic vindex (tools/mkvindex): score and nearest are identical
 *      whichever kernel and thread count runs; the sgemm batch path agrees with the scan
 *      within 1e-5; a zero vector and a zero row give cosine 0, never NaN;
 *   3. a vindex with a missing, truncated, grown or mis-described file fails to open
 *      with a clear error naming the file — never SIGBUS or SIGSEGV.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "common.h"
#include "kern.h"
#include "vx_query.h"
#include "vxmeta.h"

static const char *kernels[] = { "scalar", "avx2", "avx512" };

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd32(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (uint32_t)rs; }

/* Random finite f16 bits: all exponents, including subnormals and the largest. */
static uint16_t rnd_f16(void) {
    uint16_t h = (uint16_t)rnd32();
    if (((h >> 10) & 31) == 31) h &= 0xfbff; /* no Inf/NaN */
    return h;
}

static void test_kernels(void) {
    static const size_t widths[] = { 1, 7, 16, 33, 100, 128, 4096 };
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        size_t H = widths[w], n = 9, Hp = vx_kern_pad(H);
        uint16_t *X = malloc(n * H * sizeof *X);
        float *q = calloc(Hp, sizeof *q), ref_d[9], ref_s[9], d[9], s[9], ss2[9];
        float *Y = malloc(n * H * sizeof *Y);
        for (size_t i = 0; i < n * H; i++) X[i] = (uint16_t)(rnd_f16() & 0xbfff); /* |x| < 2: no overflow in sums */
        memset(X + 3 * H, 0, H * sizeof *X); /* a zero row */
        for (size_t i = 0; i < H; i++) q[i] = vx_f16_to_f32((uint16_t)(rnd_f16() & 0xbfff));
        vx_dot_ss_scalar(ref_d, ref_s, X, n, H, q);
        CHECK(ref_d[3] == 0 && ref_s[3] == 0, "H=%zu: zero row sums %g %g", H, ref_d[3], ref_s[3]);
        for (int k = 0; k < 3; k++) {
            if (vx_kern_select(kernels[k])) { printf("kernel %s: not supported here, skipped\n", kernels[k]); continue; }
            const vx_kern *kn = vx_kern_active();
            kn->dot_ss(d, s, X, n, H, q);
            int same = 1;
            for (size_t r = 0; r < n; r++) same &= !memcmp(&d[r], &ref_d[r], 4) && !memcmp(&s[r], &ref_s[r], 4);
            CHECK(same, "H=%zu: %s dot_ss differs from scalar", H, kernels[k]);
            kn->cvt_ss(Y, ss2, X, n, H);
            int exact = 1;
            for (size_t i = 0; i < n * H; i++) exact &= Y[i] == vx_f16_to_f32(X[i]);
            CHECK(exact, "H=%zu: %s cvt_ss conversion not exact", H, kernels[k]);
            CHECK(!memcmp(ss2, ref_s, sizeof ss2), "H=%zu: %s cvt_ss row norms differ from dot_ss", H, kernels[k]);
        }
        free(X); free(q); free(Y);
    }
    /* Every f16 value converts identically on every path. */
    uint16_t *all = malloc(65536 * sizeof *all);
    float *y = malloc(65536 * sizeof *y), ss[4096];
    for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int k = 1; k < 3; k++) {
        if (vx_kern_select(kernels[k])) continue;
        vx_kern_active()->cvt_ss(y, ss, all, 4096, 16);
        int ok = 1;
        for (uint32_t i = 0; i < 65536; i++) {
            float r = vx_f16_to_f32((uint16_t)i);
            ok &= isnan(r) ? isnan(y[i]) : !memcmp(&r, &y[i], 4);
        }
        CHECK(ok, "%s: f16 conversion differs from the scalar conversion", kernels[k]);
    }
    free(all); free(y);
    vx_kern_select("auto");
}

/* ------------------------------------------------------------------ vindex */

static char tmpdir[256];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

typedef struct run { vx_feat_hit f[40]; size_t nf; vx_tok_hit t[40]; size_t nt; } run;

static void do_run(run *r, vx_index *vx, const vx_query *q) {
    vx_score_opts o;
    vx_score_opts_init(&o);
    o.top = 40;
    vx_err err = { 0 };
    CHECK(vx_score(r->f, &r->nf, vx, &q, 1, &o, &err) == 0, "score: %s", err.msg);
    CHECK(vx_nearest_tokens(r->t, &r->nt, vx, &q, 1, 40, &err) == 0, "nearest: %s", err.msg);
}

static int same_run(const run *a, const run *b) {
    return a->nf == b->nf && a->nt == b->nt && !memcmp(a->f, b->f, a->nf * sizeof a->f[0]) &&
           !memcmp(a->t, b->t, a->nt * sizeof a->t[0]);
}

static void test_paths(const char *dir) {
    vx_index *vx;
    vx_err err = { 0 };
    if (vx_open(&vx, dir, &err)) { CHECK(0, "open %s: %s", dir, err.msg); return; }
    const vx_info *in = vx_get_info(vx);
    vx_query *q;
    CHECK(vx_query_token(&q, vx, " Paris", 0, &err) == 0, "token: %s", err.msg);
    if (!q) { vx_close(vx); return; }
    run ref, r;
    setenv("VINDEX_THREADS", "1", 1);
    vx_kern_select("scalar");
    do_run(&ref, vx, q);
    CHECK(ref.nf == 40 && ref.nt == 40, "result counts %zu %zu", ref.nf, ref.nt);
    setenv("VINDEX_MT_MIN", "0", 1); /* split even tiny scans across threads */
    for (int k = 0; k < 3; k++)
        for (int th = 1; th <= 3; th++) {
            if (vx_kern_select(kernels[k])) continue;
            char t[8];
            snprintf(t, sizeof t, "%d", th);
            setenv("VINDEX_THREADS", t, 1);
            do_run(&r, vx, q);
            CHECK(same_run(&ref, &r), "kernel %s, %d threads: results differ from scalar, 1 thread", kernels[k], th);
        }
    /* A one-shot process reads its scans with pread (src/query.c, scan_mode) unless
     * VINDEX_SCAN says map (released as it goes) or, under VX_ADVISE_ONCE_MAPPED, the scan
     * is small (mapped and kept); mapped or read, released or kept, the results are the
     * same. */
    static const char *const scans[] = { "map", "read", NULL };
    static const vx_advice advs[] = { VX_ADVISE_KEEP, VX_ADVISE_ONCE, VX_ADVISE_ONCE_MAPPED };
    for (int sc = 0; sc < 3; sc++)
        for (int adv = 0; adv < 3; adv++)
            for (int th = 1; th <= 3; th += 2) {
                char t[8];
                snprintf(t, sizeof t, "%d", th);
                setenv("VINDEX_THREADS", t, 1);
                if (scans[sc]) setenv("VINDEX_SCAN", scans[sc], 1);
                else unsetenv("VINDEX_SCAN");
                vx_advise(vx, advs[adv]);
                do_run(&r, vx, q);
                CHECK(same_run(&ref, &r), "scan %s, advice %d, %d threads: results differ", scans[sc] ? scans[sc] : "default",
                      adv, th);
            }
    /* Every row exactly once, whoever takes which block: the whole ranking (every feature,
     * every token) equals the one-thread ranking for any thread count, mapped or read,
     * released or kept (threads take blocks from their own span and then from the back of
     * another's: src/query.c, scan_plan). */
    {
        size_t nfa = 2 * (size_t)in->num_layers * in->num_feats, nta = in->vocab_size, rf, rt, nf, nt;
        vx_feat_hit *f1 = calloc(nfa, sizeof *f1), *f2 = calloc(nfa, sizeof *f2);
        vx_tok_hit *t1 = calloc(nta, sizeof *t1), *t2 = calloc(nta, sizeof *t2);
        const vx_query *cq = q;
        vx_score_opts o;
        vx_score_opts_init(&o);
        o.top = nfa;
        setenv("VINDEX_THREADS", "1", 1);
        vx_advise(vx, VX_ADVISE_KEEP);
        CHECK(vx_score(f1, &rf, vx, &cq, 1, &o, &err) == 0 && rf == nfa, "score all: %s (%zu of %zu)", err.msg, rf, nfa);
        CHECK(vx_nearest_tokens(t1, &rt, vx, &cq, 1, nta, &err) == 0 && rt == nta - 1, "nearest all: %s (%zu)", err.msg, rt);
        for (int sc = 0; sc < 3; sc++)
            for (int th = 2; th <= 7; th++) {
                char t[8];
                snprintf(t, sizeof t, "%d", th);
                setenv("VINDEX_THREADS", t, 1);
                if (scans[sc]) setenv("VINDEX_SCAN", scans[sc], 1);
                else unsetenv("VINDEX_SCAN");
                vx_advise(vx, advs[th % 3]);
                int ok = vx_score(f2, &nf, vx, &cq, 1, &o, &err) == 0 && nf == rf && !memcmp(f1, f2, nf * sizeof *f1);
                CHECK(ok, "scan %s, %d threads: the whole feature ranking differs from one thread's", scans[sc] ? scans[sc] : "default", th);
                ok = vx_nearest_tokens(t2, &nt, vx, &cq, 1, nta, &err) == 0 && nt == rt && !memcmp(t1, t2, nt * sizeof *t1);
                CHECK(ok, "scan %s, %d threads: the whole token ranking differs from one thread's", scans[sc] ? scans[sc] : "default", th);
            }
        free(f1); free(f2); free(t1); free(t2);
    }
    unsetenv("VINDEX_SCAN");
    vx_advise(vx, VX_ADVISE_KEEP);
    /* The sgemm path: same ranking up to near-ties, cosines within 1e-5. */
    setenv("VINDEX_BLAS_MIN", "1", 1);
    do_run(&r, vx, q);
    unsetenv("VINDEX_BLAS_MIN");
    int ok = r.nf == ref.nf && r.nt == ref.nt;
    for (size_t i = 0; ok && i < r.nf; i++)
        ok = fabsf(r.f[i].cosine - ref.f[i].cosine) < 1e-5f &&
             ((r.f[i].layer == ref.f[i].layer && r.f[i].feature == ref.f[i].feature && r.f[i].kind == ref.f[i].kind) ||
              fabsf(fabsf(r.f[i].cosine) - fabsf(ref.f[i].cosine)) < 1e-5f);
    for (size_t i = 0; ok && i < r.nt; i++)
        ok = fabsf(r.t[i].cosine - ref.t[i].cosine) < 1e-5f && (r.t[i].token_id == ref.t[i].token_id || fabsf(r.t[i].cosine - ref.t[i].cosine) < 1e-5f);
    CHECK(ok, "BLAS batch path disagrees with the scan");
    /* A batch of 3 through BLAS equals each query alone through BLAS. */
    vx_query *q2, *q3;
    vx_query_token(&q2, vx, " London", 0, &err);
    vx_query_feature(&q3, vx, 1, 2, VX_DOWN, &err);
    const vx_query *qs[3] = { q, q2, q3 };
    vx_score_opts o;
    vx_score_opts_init(&o);
    o.top = 40;
    vx_feat_hit fb[120];
    size_t nb[3];
    CHECK(vx_score(fb, nb, vx, qs, 3, &o, &err) == 0, "batch score: %s", err.msg);
    ok = nb[0] == 40;
    for (size_t i = 0; ok && i < 40; i++) ok = fabsf(fb[i].cosine - ref.f[i].cosine) < 1e-5f;
    CHECK(ok, "batch of 3 disagrees with the single query");
    int self = 0;
    for (size_t i = 0; i < nb[2]; i++) self |= fb[80 + i].layer == 1 && fb[80 + i].feature == 2 && fb[80 + i].kind == VX_DOWN;
    CHECK(!self, "a feature query ranked itself");
    /* Zero norms: the zero query scores 0 everywhere; the zero last row scores 0. */
    float *zero = calloc(in->hidden_size, sizeof *zero);
    vx_query *qz;
    CHECK(vx_query_vector(&qz, vx, zero, in->hidden_size, &err) == 0, "zero vector: %s", err.msg);
    vx_tok_hit *all = calloc(in->vocab_size, sizeof *all);
    size_t n;
    const vx_query *one = qz;
    CHECK(vx_nearest_tokens(all, &n, vx, &one, 1, in->vocab_size, &err) == 0, "nearest zero: %s", err.msg);
    ok = n == in->vocab_size;
    for (size_t i = 0; ok && i < n; i++) ok = all[i].cosine == 0 && all[i].token_id == i;
    CHECK(ok, "zero query: cosines not all 0 in id order");
    one = q;
    CHECK(vx_nearest_tokens(all, &n, vx, &one, 1, in->vocab_size, &err) == 0, "nearest all: %s", err.msg);
    int found = 0, nan = 0;
    for (size_t i = 0; i < n; i++) {
        nan |= isnan(all[i].cosine);
        if (all[i].token_id == in->vocab_size - 1) found = all[i].cosine == 0;
    }
    CHECK(n == in->vocab_size - 1 && found && !nan, "zero row: expected cosine 0 (n %zu found %d nan %d)", n, found, nan);
    /* Token resolution errors. */
    uint32_t id;
    CHECK(vx_token_resolve(&id, vx, "#999999", &err) == VX_ENOTFOUND && strstr(err.msg, "out of range"), "id range: %s", err.msg);
    CHECK(vx_token_resolve(&id, vx, " Parisian", &err) == VX_ENOTFOUND && strstr(err.msg, "pieces"), "pieces: %s", err.msg);
    CHECK(vx_token_resolve(&id, vx, "#3", &err) == 0 && id == 3, "#3");
    float bad[3] = { 1, 2, 3 };
    vx_query *qbad = NULL;
    CHECK(vx_query_vector(&qbad, vx, bad, 3, &err) == VX_EUSAGE && !qbad, "short vector accepted");
    free(zero);
    free(all);
    vx_query_free(q); vx_query_free(q2); vx_query_free(q3); vx_query_free(qz);
    unsetenv("VINDEX_THREADS");
    unsetenv("VINDEX_MT_MIN");
    vx_kern_select("auto");
    vx_close(vx);
}

/* ------------------------------------------------------------------ damage */

static void expect_open_fails(const char *what, const char *needle) {
    vx_index *vx = NULL;
    vx_err err = { 0 };
    int rc = vx_open(&vx, tmpdir, &err);
    CHECK(rc != 0 && vx == NULL, "%s: opened anyway", what);
    CHECK(rc == 0 || (err.msg[0] && (!needle || strstr(err.msg, needle))), "%s: unclear error '%s' (want '%s')", what, err.msg,
          needle ? needle : "");
    if (rc) printf("  %-40s -> %s\n", what, err.msg);
    vx_close(vx);
}

static void fresh_copy(const char *src) {
    sh("rm -rf %s && cp -r %s %s", tmpdir, src, tmpdir);
}

static void edit_index(const char *key, const char *sub, double value) {
    char p[512];
    snprintf(p, sizeof p, "%s/index.json", tmpdir);
    FILE *f = fopen(p, "rb");
    char *buf = malloc(1 << 20);
    size_t n = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    cJSON *o = sub ? cJSON_GetObjectItem(cJSON_GetObjectItem(j, "files"), sub) : j;
    cJSON_SetNumberValue(cJSON_GetObjectItem(o, key), value);
    char *s = cJSON_Print(j);
    f = fopen(p, "wb");
    fputs(s, f);
    fclose(f);
    free(s);
    free(buf);
    cJSON_Delete(j);
}

static void test_damage(const char *src) {
    static const char *files[] = { "gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin",
                                   "norms.bin", "vocab.bin", "index.json" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char what[128];
        fresh_copy(src);
        sh("rm %s/%s", tmpdir, files[i]);
        snprintf(what, sizeof what, "missing %s", files[i]);
        expect_open_fails(what, files[i]);
        if (!strcmp(files[i], "index.json")) continue;
        fresh_copy(src);
        sh("truncate -s -1 %s/%s", tmpdir, files[i]);
        snprintf(what, sizeof what, "truncated %s", files[i]);
        expect_open_fails(what, files[i]);
        fresh_copy(src);
        sh("truncate -s 0 %s/%s", tmpdir, files[i]);
        snprintf(what, sizeof what, "emptied %s", files[i]);
        expect_open_fails(what, files[i]);
        fresh_copy(src);
        sh("printf x >> %s/%s", tmpdir, files[i]);
        snprintf(what, sizeof what, "grown %s", files[i]);
        expect_open_fails(what, files[i]);
    }
    struct { const char *key, *sub; double v; const char *needle; } edits[] = {
        { "hidden_size", NULL, 116, NULL },
        { "vocab_size", NULL, 499, NULL },
        { "num_layers", NULL, 2, NULL },
        { "num_feats", NULL, 4, NULL },
        { "down_top_k", NULL, 8, NULL },
        { "bytes", "embeddings.bin", 100002, "embeddings.bin" },
        { "bytes", "vocab.bin", 12, "vocab.bin" },
        { "norms_bytes", NULL, 4, NULL },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char what[128];
        fresh_copy(src);
        edit_index(edits[i].key, edits[i].sub, edits[i].v);
        snprintf(what, sizeof what, "index.json %s%s%s = %g", edits[i].sub ? edits[i].sub : "", edits[i].sub ? "." : "", edits[i].key,
                 edits[i].v);
        expect_open_fails(what, edits[i].needle);
    }
    /* Self-consistent index.json describing a bigger embedding than the file holds. */
    fresh_copy(src);
    edit_index("vocab_size", NULL, 600);
    edit_index("bytes", "embeddings.bin", 120000);
    {
        char p[512];
        snprintf(p, sizeof p, "%s/index.json", tmpdir);
        sh("sed -i 's/\\[500, 100\\]/[600, 100]/; s/\\[500,\\s*100\\]/[600, 100]/' %s", p);
    }
    expect_open_fails("index.json describes 600 embedding rows", "embeddings.bin");
    fresh_copy(src);
    sh("printf 'XXXXXXXX' | dd of=%s/down_meta.bin conv=notrunc status=none", tmpdir);
    expect_open_fails("down_meta.bin bad magic", "down_meta.bin");
    fresh_copy(src);
    sh("printf '{\"version\": 1, \"num_layers\": ' > %s/index.json", tmpdir);
    expect_open_fails("index.json cut short", "index.json");
    sh("rm -rf %s", tmpdir);
}

/* A file that shrinks under an open vindex: a read-mode scan reports it (the mapped scan
 * would raise SIGBUS, which the CLI turns into an error message). */
static void test_shrink(const char *src) {
    static const char *const files[] = { "embeddings.bin", "gate_vectors.bin", "down_features.bin" };
    for (int i = 0; i < 3; i++) {
        fresh_copy(src);
        vx_index *vx;
        vx_err err = { 0 };
        if (vx_open(&vx, tmpdir, &err)) { CHECK(0, "open copy: %s", err.msg); return; }
        vx_advise(vx, VX_ADVISE_ONCE);
        setenv("VINDEX_SCAN", "read", 1);
        vx_query *q;
        CHECK(vx_query_token(&q, vx, " Paris", 0, &err) == 0, "token: %s", err.msg);
        sh("truncate -s 1000 %s/%s", tmpdir, files[i]);
        run r;
        vx_score_opts o;
        vx_score_opts_init(&o);
        int rc = i == 0 ? vx_nearest_tokens(r.t, &r.nt, vx, (const vx_query *const *)&q, 1, 10, &err)
                        : vx_score(r.f, &r.nf, vx, (const vx_query *const *)&q, 1, &o, &err);
        CHECK(rc == VX_EIO && strstr(err.msg, files[i]) && strstr(err.msg, "ended early"), "%s shrunk under a read scan: rc %d '%s'",
              files[i], rc, err.msg);
        unsetenv("VINDEX_SCAN");
        vx_query_free(q);
        /* a one-shot process reads the query's row too (src/token.c, embedding_row) */
        if (i == 0) {
            rc = vx_query_token(&q, vx, " Paris", 0, &err);
            CHECK(rc == VX_EIO && !q && strstr(err.msg, "embeddings.bin") && strstr(err.msg, "ended early"),
                  "token row of a shrunk embeddings.bin: rc %d '%s'", rc, err.msg);
            rc = vx_query_token(&q, vx, "Paris London", VX_TOKEN_TEXT, &err);
            CHECK(rc == VX_EIO && !q, "text rows of a shrunk embeddings.bin: rc %d '%s'", rc, err.msg);
        }
        vx_close(vx);
    }
}

/* Resident KB of the mapping that contains p (/proc/self/smaps), or -1. */
static long mapped_rss_kb(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0;
    long kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1) break;
    }
    if (f) fclose(f);
    return kb;
}

/* Bytes this process has read with read(2)/pread(2) (/proc/self/io), or -1. */
static long long read_bytes(void) {
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "rchar: %lld", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

/* index.json is parsed from a map of it (src/open.c), not read into memory, and
 * vx_index_json hands out a NUL-terminated copy of exactly the file's bytes, made once;
 * a file over the size limit, or an empty one, is refused before it is parsed. */
static void test_index_json(const char *src) {
    char path[400];
    snprintf(path, sizeof path, "%s/index.json", src);
    FILE *f = fopen(path, "rb");
    static char want[1 << 20];
    size_t wn = f ? fread(want, 1, sizeof want, f) : 0;
    if (f) fclose(f);
    CHECK(wn > 0 && wn < sizeof want, "read %s", path);
    vx_index *vx;
    vx_err err = { 0 };
    long long r0 = read_bytes();
    if (vx_open(&vx, src, &err)) { CHECK(0, "open: %s", err.msg); return; }
    long long rd = read_bytes() - r0;
    CHECK(r0 >= 0 && rd < (long long)wn, "vx_open read %lld bytes with read(2), index.json is %zu: it should be mapped", rd, wn);
    size_t n = 0, n2 = 0;
    const char *s = vx_index_json(vx, &n), *s2 = vx_index_json(vx, &n2);
    CHECK(s && n == wn && !memcmp(s, want, wn) && s[n] == 0, "vx_index_json: %zu bytes, expected the file's %zu, NUL-terminated", n, wn);
    CHECK(s2 == s && n2 == n, "vx_index_json copies once");
    vx_close(vx);
    fresh_copy(src);
    snprintf(path, sizeof path, "%s/index.json", tmpdir);
    sh("truncate -s %u %s", VX_MAX_INDEX_JSON + 1u, path);
    int rc = vx_open(&vx, tmpdir, &err);
    CHECK(rc == VX_ECORRUPT && strstr(err.msg, "index.json") && strstr(err.msg, "limit"), "index.json over the limit: rc %d '%s'", rc, err.msg);
    if (!rc) vx_close(vx);
    /* An empty file maps to no memory at all: refused by name before anything reads it. */
    sh("truncate -s 0 %s", path);
    rc = vx_open(&vx, tmpdir, &err);
    CHECK(rc == VX_ECORRUPT && strstr(err.msg, "index.json") && strstr(err.msg, "empty"), "empty index.json: rc %d '%s'", rc, err.msg);
    if (!rc) vx_close(vx);
}

/* How a score reads and what it leaves resident (vx_advice): under VX_ADVISE_ONCE its
 * scan reads gate and down with pread and maps none of their pages; under ONCE_MAPPED it
 * reads them through the maps (a vindex this small has no whole 2 MiB block to judge the
 * folios by) and drops those mappings after; under KEEP the pages every query read stay,
 * vocab.bin's included. */
static void test_resident(const char *src) {
    vx_index *vx;
    vx_err err = { 0 };
    if (vx_open(&vx, src, &err)) { CHECK(0, "open: %s", err.msg); return; }
    const void *gate, *vocab;
    size_t gn, vn;
    CHECK(vx_file_map(&gate, &gn, vx, "gate_vectors.bin", &err) == 0 && vx_file_map(&vocab, &vn, vx, "vocab.bin", &err) == 0,
          "file maps: %s", err.msg);
    vx_query *q;
    CHECK(vx_query_token(&q, vx, " Paris", 0, &err) == 0, "token: %s", err.msg);
    static const vx_advice advs[] = { VX_ADVISE_ONCE, VX_ADVISE_ONCE_MAPPED, VX_ADVISE_KEEP };
    for (int a = 0; a < 3; a++) {
        vx_advise(vx, advs[a]);
        run r;
        vx_score_opts o;
        vx_score_opts_init(&o);
        long long r0 = read_bytes();
        CHECK(vx_score(r.f, &r.nf, vx, (const vx_query *const *)&q, 1, &o, &err) == 0, "score: %s", err.msg);
        long long rd = read_bytes() - r0;
        long g = mapped_rss_kb(gate), v = mapped_rss_kb(vocab);
        CHECK(r0 >= 0, "/proc/self/io: no rchar");
        if (a == 0) CHECK(g == 0 && rd >= 2 * (long long)gn, "advice once: gate_vectors.bin %ld KB resident, %lld bytes read, expected 0 and >= %zu", g, rd, 2 * gn);
        else if (a == 1) CHECK(g == 0 && rd < (long long)gn, "advice once-mapped: gate_vectors.bin %ld KB resident, %lld bytes read, expected 0 and < %zu", g, rd, gn);
        else CHECK(g > 0 && v > 0, "advice keep: gate_vectors.bin %ld KB, vocab.bin %ld KB resident, expected both > 0", g, v);
    }
    vx_query_free(q);
    vx_close(vx);
}

int main(void) {
    test_kernels();
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char src[300];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vx_test_query_%d", (int)getpid());
    snprintf(src, sizeof src, "%s.src", tmpdir);
    sh("rm -rf %s", src);
    if (sh("%s/tools/mkvindex %s --layers 3 --feats 8 --hidden 100 --vocab 500 --topk 4 2>/dev/null", build, src) != 0) {
        CHECK(0, "%s/tools/mkvindex failed (run make tools)", build);
        return CHECK_DONE();
    }
    test_paths(src);
    /* gate and down of 2 MiB each, embeddings of 4.7 MiB: whole 2 MiB blocks, so the mapped
     * one-shot scan first judges how the page cache maps them (src/query.c, keep_if_huge) */
    char big[320];
    snprintf(big, sizeof big, "%s.big", tmpdir);
    sh("rm -rf %s", big);
    if (sh("%s/tools/mkvindex %s --layers 2 --feats 128 --hidden 4096 --vocab 600 --topk 4 2>/dev/null", build, big) != 0)
        CHECK(0, "%s/tools/mkvindex (2 MiB blocks) failed", build);
    else test_paths(big);
    sh("rm -rf %s", big);
    test_damage(src);
    test_shrink(src);
    test_resident(src);
    test_index_json(src);
    sh("rm -rf %s", src);
    return CHECK_DONE();
}
