/*
 * verify.c — vx_verify: prove a vindex is exactly what it says it is.
 *
 *  1. coverage: SHA256SUMS lists exactly the files present (every file but itself), and
 *     every file the format requires is present;
 *  2. content: every listed file's SHA-256 on worker threads, each hashing several ranges
 *     side by side (src/shalanes.h) — by the chunk digests
 *     index.json records (R-I10), so one large file is hashed on every core, with the
 *     file's SHA256SUMS line checked against the whole-file digest index.json records;
 *     files without them whole, largest first so the longest sequential hash starts at
 *     once — and every data file's XXH3 against index.json;
 *  3. structure: vx_open's checks (sizes against shapes, headers, tables), then every
 *     down_meta record, NaN/Inf counts in every f16/f32 array, the unit norm and sign
 *     convention of every direction, and that manifest.json and tokenizer.json parse.
 *     This runs on the calling thread beside the SHA-256 workers, and its scans of the
 *     mapped files compute their XXH3 in the same pass (one read of each file's bytes for
 *     both); files it did not map get their XXH3 from a separate read afterwards.
 *
 * Each problem is one line "FILE: what is wrong" passed to the caller's report callback.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "archive.h"
#include "kern.h"
#include "shalanes.h"
#include "vxindex.h"

typedef struct job {
    vx_sha_range r;  /* the file, the bytes hashed and the result (the XXH3 jobs use name, hex, rc, msg) */
    uint64_t size;   /* bytes this job reads: the file's, or the chunk's */
    int xxh;         /* 1: XXH3 against index.json, 0: SHA-256 */
    int64_t chunk;   /* -1: the whole file against SHA256SUMS; else chunk k of index.json's (R-I10) */
    char want[65];
} job;

static void *sha_worker(void *q) {
    vx_sha_drain(q);
    return NULL;
}

static int by_size_desc(const void *a, const void *b) {
    const job *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : strcmp(x->r.name, y->r.name);
}

typedef struct reporter {
    void (*report)(void *, const char *);
    void *ctx;
    int count;
} reporter;

static void problem(reporter *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(reporter *r, const char *fmt, ...) {
    char b[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    r->count++;
    if (r->report) r->report(r->ctx, b);
}

/* NaN/Inf (exponent all ones) among n f16 values, eight lanes at a time (SSE2, the
 * baseline): a lane's compare gives -1 for those, summed into 16-bit lane counters that are
 * emptied before one can overflow. */
typedef uint16_t vx_u16x8 __attribute__((vector_size(16)));
typedef int16_t vx_i16x8 __attribute__((vector_size(16)));
static uint64_t count_nonfinite_f16(const uint16_t *p, uint64_t n) {
    uint64_t c = 0, i = 0;
    while (i + 8 <= n) {
        vx_i16x8 lanes = { 0 };
        for (int k = 0; k < 32767 && i + 8 <= n; k++, i += 8) {
            vx_u16x8 w;
            memcpy(&w, p + i, 16);
            lanes -= (vx_i16x8)((w & 0x7c00) == 0x7c00);
        }
        for (int k = 0; k < 8; k++) c += (uint16_t)lanes[k];
    }
    for (; i < n; i++) c += (p[i] & 0x7c00) == 0x7c00;
    return c;
}

/* XXH3 of a mapped file as canonical hex, in 1 MiB steps; an f16 array's NaN/Inf values
 * are counted on each step while it is in cache (*nonfinite; pass NULL for other files). */
#define XXH_STEP (1u << 20)
static void xxh3_scan(char out[17], const uint8_t *p, size_t n, uint64_t *nonfinite_f16) {
    XXH3_state_t *st = XXH3_createState();
    uint64_t c = 0;
    if (st) XXH3_64bits_reset(st);
    for (size_t o = 0; o < n; o += XXH_STEP) {
        size_t m = n - o < XXH_STEP ? n - o : XXH_STEP;
        if (st) XXH3_64bits_update(st, p + o, m);
        if (nonfinite_f16) c += count_nonfinite_f16((const uint16_t *)(const void *)(p + o), m / 2);
    }
    XXH64_canonical_t can;
    XXH64_canonicalFromHash(&can, st ? XXH3_64bits_digest(st) : 0);
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", can.digest[i]);
    if (!st) out[0] = 0; /* no state: left to the separate pass */
    XXH3_freeState(st);
    if (nonfinite_f16) *nonfinite_f16 = c;
}

/* x² of every f16 x, so the unit-length check loads one value instead of converting */
static float f16_sq[1u << 16];
static pthread_once_t f16_sq_once = PTHREAD_ONCE_INIT;
static void f16_sq_init(void) {
    for (uint32_t h = 0; h < 1u << 16; h++) { float x = vx_f16_to_f32((uint16_t)h); f16_sq[h] = x * x; }
}

/* R-E3 and unit length, on the stored f16 values. Returns the number of bad directions. */
static uint64_t check_directions(const uint16_t *p, uint64_t ndir, uint32_t H, uint64_t *first) {
    uint64_t bad = 0;
    const float *sq = f16_sq;
    pthread_once(&f16_sq_once, f16_sq_init);
    for (uint64_t d = 0; d < ndir; d++) {
        const uint16_t *v = p + d * H;
        uint16_t best = 0;
        uint32_t at = 0, j = 0;
        vx_i16x8 mx = { 0 }; /* the largest magnitude, eight lanes at a time (as int16 all are >= 0) */
        for (; j + 8 <= H; j += 8) {
            vx_i16x8 w;
            memcpy(&w, v + j, 16);
            w &= 0x7fff;
            vx_i16x8 gt = mx > w;
            mx = (mx & gt) | (w & ~gt);
        }
        for (int k = 0; k < 8; k++) best = (uint16_t)mx[k] > best ? (uint16_t)mx[k] : best;
        for (; j < H; j++) best = (v[j] & 0x7fff) > best ? v[j] & 0x7fff : best;
        while ((v[at] & 0x7fff) != best) at++; /* its first place (R-E3: lowest index on ties) */
        double s4[4] = { 0 }; /* four partial sums, so the adds do not wait on each other */
        for (j = 0; j + 4 <= H; j += 4)
            for (int k = 0; k < 4; k++) s4[k] += sq[v[j + k]];
        for (; j < H; j++) s4[0] += sq[v[j]];
        double ss = (s4[0] + s4[1]) + (s4[2] + s4[3]);
        /* f16 rounding moves the norm by at most ~H * 2^-11 relative in the worst case;
         * 1e-2 catches any real damage. */
        if ((v[at] & 0x8000) || !(fabs(sqrt(ss) - 1.0) < 1e-2)) {
            if (!bad) *first = d;
            bad++;
        }
    }
    return bad;
}

/* Version 2 (§9): the battery files' values and their consistency with index.json. */
static void battery(reporter *r, const vx_index *vx) {
    const vx_meta *m = &vx->meta;
    uint64_t L = m->num_layers, H = m->hidden_size, F = m->num_feats, bad = 0, first = 0;
    const char *kn[2] = { "gate", "down" };
    /* R-B1: finite, >= 0, non-increasing, 0 beyond the rank bound, the leading F equal to
     * index.json's sigma; Σσ² is ‖W‖²_F (an f32 Gram's tail is good to far better than 1 %) */
    for (uint64_t l = 0; l < L; l++)
        for (int k = 0; k < 2; k++) {
            const float *s = vx->spectra + (l * 2 + (uint64_t)k) * H, *sig = k ? m->layers[l].down_sigma : m->layers[l].gate_sigma;
            uint64_t rank = m->layers[l].neurons_count < H ? m->layers[l].neurons_count : H;
            double ss = 0, fro = m->layers[l].weights[k ? VX_MAT_DOWN : VX_MAT_GATE].fro;
            int ok = 1;
            for (uint64_t i = 0; i < H && ok; i++) {
                ok = isfinite(s[i]) && s[i] >= 0 && (i == 0 || s[i] <= s[i - 1]) && (i < rank || s[i] == 0) &&
                     (i >= F || s[i] == sig[i]);
                ss += (double)s[i] * s[i];
            }
            if (ok && !(fabs(ss - fro * fro) <= 1e-2 * fro * fro + 1e-30)) ok = 0;
            if (!ok && bad++ == 0) first = l * 2 + (uint64_t)k;
        }
    if (bad)
        problem(r, "spectra.bin: %llu spectra not finite, negative, ascending, non-zero beyond the rank bound, unlike "
                "index.json's sigma or ||W||_F (first: layer %llu %s)", (unsigned long long)bad,
                (unsigned long long)(first / 2), kn[first % 2]);
    /* R-B2: finite and >= 0; the squares of a row sum to that matrix's ‖W‖²_F */
    bad = 0;
    for (uint64_t l = 0; l < L; l++) {
        const vx_layer_meta *lm = &m->layers[l];
        for (int w = 0; w < VX_N_MATS; w++) {
            uint64_t n = 0;
            const float *v = vx_neuron_norms(vx, (uint32_t)l, (vx_mat)w, &n);
            if (!v) continue;
            double ss = 0, fro = lm->weights[w].fro;
            int ok = 1;
            for (uint64_t i = 0; i < n; i++) {
                ok &= isfinite(v[i]) && v[i] >= 0;
                ss += (double)v[i] * v[i];
            }
            if (!ok || !(fabs(ss - fro * fro) <= 1e-4 * fro * fro + 1e-30)) {
                if (bad++ == 0) first = l * VX_N_MATS + (uint64_t)w;
            }
        }
    }
    if (bad)
        problem(r, "neurons.bin: %llu rows not finite, negative, or unlike index.json's Frobenius norm (first: layer %llu %s)",
                (unsigned long long)bad, (unsigned long long)(first / VX_N_MATS), vx_mat_names[first % VX_N_MATS]);
    /* R-B4: finite, std >= 0 */
    bad = 0;
    for (uint64_t i = 0; i < L * 2 * F; i++) {
        const float *q = vx->moments + 4 * i;
        if (!(isfinite(q[0]) && isfinite(q[1]) && isfinite(q[2]) && isfinite(q[3]) && q[1] >= 0) && bad++ == 0) first = i;
    }
    if (bad)
        problem(r, "moments.bin: %llu records not finite or with a negative std (first: layer %llu %s feature %llu)",
                (unsigned long long)bad, (unsigned long long)(first / F / 2), kn[first / F % 2],
                (unsigned long long)(first % F));
}

/* The XXH3 of every file vx_open mapped, in the structural scan: covered[slot] = 1 when it
 * was checked against index.json here; scanned[slot] = 1 when nonfinite[slot] holds the
 * f16 array's NaN/Inf count from the same pass. */
static void mapped_hashes(reporter *r, const vx_index *vx, uint8_t covered[VXF_COUNT], uint8_t scanned[VXF_COUNT],
                          uint64_t nonfinite[VXF_COUNT]) {
    for (int i = 0; i < VXF_COUNT; i++) {
        const vx_map *mp = &vx->map[i];
        if (!mp->data) continue; /* an optional file the vindex does not have, or an empty one */
        int f16 = i == VXF_GATE || i == VXF_DOWN || i == VXF_EMB || i == VXF_UNEMBED;
        char got[17];
        xxh3_scan(got, mp->data, mp->size, f16 ? &nonfinite[i] : NULL);
        scanned[i] = (uint8_t)f16;
        const vx_file_meta *fm = vx_meta_file(&vx->meta, vx_slot_names[i]);
        if (!fm || !fm->xxh3[0] || !got[0]) continue;
        covered[i] = 1;
        if (strcmp(fm->xxh3, got))
            problem(r, "%s: XXH3 (index.json) mismatch: expected %s, computed %s", vx_slot_names[i], fm->xxh3, got);
    }
}

static void structure(reporter *r, int dfd, const char *dir, const char *digest, uint8_t covered[VXF_COUNT]) {
    uint8_t scanned[VXF_COUNT] = { 0 };
    vx_index *vx = NULL;
    vx_err e = { 0 };
    if (vx_open_at(&vx, dfd, dir, &e) != VX_OK) {
        /* The message already starts with the file's path. */
        problem(r, "%s", e.msg);
        return;
    }
    const vx_meta *m = &vx->meta;
    uint64_t nf = (uint64_t)m->num_layers * m->num_feats, first = 0, c, nonfinite[VXF_COUNT];
    mapped_hashes(r, vx, covered, scanned, nonfinite);
    const char *kinds[2] = { "gate_vectors.bin", "down_features.bin" };
    for (int k = 0; k < 2; k++) {
        const uint16_t *p = k ? vx->down : vx->gate;
        if ((c = scanned[k ? VXF_DOWN : VXF_GATE] ? nonfinite[k ? VXF_DOWN : VXF_GATE] : count_nonfinite_f16(p, nf * m->hidden_size)))
            problem(r, "%s: %llu NaN/Inf values", kinds[k], (unsigned long long)c);
        else if ((c = check_directions(p, nf, m->hidden_size, &first)))
            problem(r, "%s: %llu directions not unit length or with a negative largest entry (first: layer %llu feature %llu)",
                    kinds[k], (unsigned long long)c, (unsigned long long)(first / m->num_feats),
                    (unsigned long long)(first % m->num_feats));
    }
    if ((c = scanned[VXF_EMB] ? nonfinite[VXF_EMB] : count_nonfinite_f16(vx->emb, (uint64_t)m->vocab_size * m->hidden_size)))
        problem(r, "embeddings.bin: %llu NaN/Inf values", (unsigned long long)c);
    if (m->unembedding == VX_UNEMB_FILE &&
        (c = scanned[VXF_UNEMBED] ? nonfinite[VXF_UNEMBED] : count_nonfinite_f16(vx->unemb, (uint64_t)m->vocab_size * m->hidden_size)))
        problem(r, "unembed.bin: %llu NaN/Inf values", (unsigned long long)c);
    if (m->has_battery) battery(r, vx);
    /* R-F1: a §9 file is present exactly when index.json lists it (listed ones were mapped above) */
    struct stat st;
    for (int i = 0; vx_opt_file_names[i]; i++)
        if (!vx_meta_file(m, vx_opt_file_names[i]) && fstatat(dfd, vx_opt_file_names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
            problem(r, "%s: present, but index.json does not list it (format version %u)", vx_opt_file_names[i], m->version);
    uint32_t version = m->version;
    c = 0;
    for (uint64_t i = 0; i < m->norms_bytes / 4; i++) c += !isfinite(vx->norms[i]);
    if (c) problem(r, "norms.bin: %llu NaN/Inf values", (unsigned long long)c);
    if (vx_vocab_check(vx, &e)) problem(r, "%s", e.msg);
    e.msg[0] = 0;
    if ((c = vx_dm_records_check(vx->map[VXF_DMETA].data, vx->map[VXF_DMETA].size, m->num_layers, m->num_feats,
                                 m->down_top_k, m->vocab_size, "down_meta.bin", &e)))
        problem(r, "%s (%llu bad records)", e.msg, (unsigned long long)c);
    vx_close(vx);

    const char *json_files[2] = { "manifest.json", "tokenizer.json" };
    for (int i = 0; i < 2; i++) {
        char *buf = NULL;
        size_t len = 0;
        if (vx_read_fileat(&buf, &len, dfd, json_files[i], json_files[i], 1u << 30, &e) == VX_OK) {
            cJSON *j = cJSON_ParseWithLengthOpts(buf, len, NULL, 0);
            if (!cJSON_IsObject(j)) problem(r, "%s: not a valid JSON object", json_files[i]);
            else if (i == 0) { /* R-B6: the digest manifest.json records is the files' */
                const cJSON *dg = cJSON_GetObjectItemCaseSensitive(j, "content_digest");
                if (dg && (!cJSON_IsString(dg) || !digest || strcmp(dg->valuestring, digest)))
                    problem(r, "manifest.json: content_digest %s, but SHA256SUMS gives %s",
                            cJSON_IsString(dg) ? dg->valuestring : "(not a string)", digest ? digest : "nothing");
                else if (!dg && version >= 2)
                    problem(r, "manifest.json: no content_digest (format version %u records it)", version);
            } else if (i == 1) {
                vx_tokenizer *t = NULL;
                if (vx_tokenizer_parse(&t, (const uint8_t *)buf, len, "tokenizer.json", &e) != VX_OK) problem(r, "%s", e.msg);
                vx_tokenizer_free(t);
            }
            cJSON_Delete(j);
        } else problem(r, "%s", e.msg); /* it names the file */
        free(buf);
    }
}

int vx_verify(const char *dir, int threads, void (*report)(void *ctx, const char *line), void *ctx, int *problems,
              vx_err *err) {
    return vx_verify_ex(dir, threads, 0, report, ctx, problems, err);
}

/* The SHA-256 jobs of one SHA256SUMS entry: the whole file, or (R-I10) its chunks when
 * index.json gives their digests and the file has the size index.json records — bytes
 * past that size would not be covered by the chunks, so another size is hashed whole (and
 * the size mismatch reported by the structural checks). */
static size_t sha_jobs(job *out, const vx_sum *sum, uint64_t size, const vx_file_meta *fm, unsigned flags, reporter *r) {
    if (fm && fm->sha256[0] && strcmp(fm->sha256, sum->hex)) {
        problem(r, "%s: SHA256SUMS gives %s, index.json records %s", sum->name, sum->hex, fm->sha256);
        fm = NULL; /* hashed whole, so the report says which of the two the bytes match */
    }
    int chunked = fm && fm->n_chunks && size == fm->bytes;
    size_t n = 0;
    if (!chunked || (flags & VX_VERIFY_WHOLE_FILES)) { /* --whole-files checks the chunk digests too */
        snprintf(out->r.name, sizeof out->r.name, "%s", sum->name);
        memcpy(out->want, sum->hex, 65);
        out->r.len = VX_TO_EOF;
        out->size = size;
        out->chunk = -1;
        n = 1;
    }
    if (!chunked) return n;
    for (uint32_t k = 0; k < fm->n_chunks; k++) {
        job *j = &out[n + k];
        snprintf(j->r.name, sizeof j->r.name, "%s", sum->name);
        vx_hex(j->want, fm->chunks[k], 32);
        j->chunk = k;
        j->r.off = (uint64_t)k * fm->chunk_bytes;
        j->r.len = j->size = k + 1 < fm->n_chunks ? fm->chunk_bytes : size - j->r.off;
    }
    return n + fm->n_chunks;
}

/* One line per file for its chunk jobs jobs[0..n) (consecutive, in chunk order). */
static void chunk_results(reporter *r, const job *jobs, size_t n) {
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].r.rc || strcmp(jobs[i].want, jobs[i].r.hex)) { bad++; if (first == n) first = i; }
    if (!bad) return;
    const job *j = &jobs[first];
    if (j->r.rc) problem(r, "%s: cannot hash: %s", j->r.name, j->r.msg);
    else
        problem(r, "%s: SHA-256 mismatch in %zu of %zu chunks (index.json's sha256_chunks); first: bytes %llu..%llu, "
                "expected %s, computed %s", j->r.name, bad, n, (unsigned long long)j->r.off,
                (unsigned long long)(j->r.off + j->size - 1), j->want, j->r.hex);
}

static int by_name_chunk(const void *a, const void *b) {
    const job *x = a, *y = b;
    int c = strcmp(x->r.name, y->r.name);
    return c ? c : x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

int vx_verify_ex(const char *dir, int threads, unsigned flags, void (*report)(void *ctx, const char *line), void *ctx,
                 int *problems, vx_err *err) {
    /* VX_VERIFY_LINKS_OK: the files may be symbolic links (a Hugging Face cache snapshot,
     * whose links src/verify_target.c checks itself); otherwise each must be a regular file. */
    const int nofollow = (flags & VX_VERIFY_LINKS_OK) ? 0 : AT_SYMLINK_NOFOLLOW;
    reporter r = { report, ctx, 0 };
    if (problems) *problems = 0;
    struct stat st;
    int dfd;
    if (vx_open_dir(&dfd, dir, err) != VX_OK) return vx_fail(err, VX_ENOTFOUND, "%s: not a readable directory", dir);
    /* R-O5: everything below reads through dfd, so one run checks one directory even if
     * the path is atomically exchanged meanwhile. */
    char *sbuf = NULL;
    size_t slen = 0, nsum = 0;
    vx_sum *sums = NULL;
    vx_err e = { 0 };
    int rc = vx_read_fileat(&sbuf, &slen, dfd, "SHA256SUMS", "SHA256SUMS", 1u << 20, &e);
    if (rc == VX_OK) rc = vx_sums_parse(&sums, &nsum, (const uint8_t *)sbuf, slen, "SHA256SUMS", &e);
    free(sbuf);
    if (rc) problem(&r, "%s", e.msg[0] ? e.msg : "SHA256SUMS: unreadable");

    /* 1. Coverage, both ways. */
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0) close(lfd);
        free(sums);
        close(dfd);
        return vx_fail(err, VX_EIO, "%s: cannot list", dir);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "SHA256SUMS")) continue;
        int listed = 0;
        for (size_t i = 0; i < nsum; i++) listed |= !strcmp(sums[i].name, de->d_name);
        if (!listed && !rc) problem(&r, "%s: present but not listed in SHA256SUMS", de->d_name);
    }
    closedir(d);
    for (int i = 0; vx_file_names[i]; i++) {
        if (fstatat(dfd, vx_file_names[i], &st, nofollow) != 0) problem(&r, "%s: missing", vx_file_names[i]);
        else if (!S_ISREG(st.st_mode)) problem(&r, "%s: not a regular file", vx_file_names[i]);
    }
    /* index.json's file table (XXH3, and the SHA-256 chunk digests of R-I10), when it parses */
    char *ibuf = NULL;
    size_t ilen = 0;
    vx_meta meta;
    memset(&meta, 0, sizeof meta);
    int have_meta = vx_read_fileat(&ibuf, &ilen, dfd, "index.json", "index.json", VX_MAX_INDEX_JSON, &e) == VX_OK &&
                    vx_meta_parse(&meta, (const uint8_t *)ibuf, ilen, "index.json", &e) == VX_OK;
    free(ibuf);
    size_t cap = 2 * nsum + meta.n_files; /* a whole-file job and chunk jobs per file, at most */
    for (size_t i = 0; have_meta && i < meta.n_files; i++) cap += meta.files[i].n_chunks;
    job *jobs = calloc(cap + 1, sizeof *jobs);
    size_t nj = 0;
    if (!jobs) { vx_meta_free(&meta); free(sums); close(dfd); return vx_fail(err, VX_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < nsum; i++) {
        int found = fstatat(dfd, sums[i].name, &st, nofollow) == 0;
        if (found && S_ISREG(st.st_mode))
            nj += sha_jobs(&jobs[nj], &sums[i], (uint64_t)st.st_size, have_meta ? vx_meta_file(&meta, sums[i].name) : NULL,
                           flags, &r);
        else if (!found) {
            int required = 0;
            for (int k = 0; vx_file_names[k]; k++) required |= !strcmp(vx_file_names[k], sums[i].name);
            if (!required) problem(&r, "%s: listed in SHA256SUMS but missing", sums[i].name);
        }
    }
    size_t nsha = nj;
    for (size_t i = 0; have_meta && i < meta.n_files; i++) {
        if (meta.files[i].xxh3[0] && fstatat(dfd, meta.files[i].name, &st, nofollow) == 0 && S_ISREG(st.st_mode)) {
            job *j = &jobs[nj++];
            snprintf(j->r.name, sizeof j->r.name, "%s", meta.files[i].name);
            memcpy(j->want, meta.files[i].xxh3, 17);
            j->xxh = 1;
            j->chunk = -1;
            j->size = (uint64_t)st.st_size;
        }
    }
    vx_meta_free(&meta);

    /* 2. SHA-256 on worker threads, largest first: a file hashed whole (a long sequential
     * step) starts at once, and the chunks of large files spread over every lane. This
     * thread does the structural checks (3), whose scans compute the XXH3 of the files
     * they map, then the XXH3 the scans did not cover, then joins the SHA-256 queue. */
    qsort(jobs, nsha, sizeof *jobs, by_size_desc);
    vx_sha_range **order = malloc((nsha + 1) * sizeof *order);
    if (!order) { free(jobs); free(sums); close(dfd); return vx_fail(err, VX_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < nsha; i++) order[i] = &jobs[i].r;
    vx_sha_queue pl = { dfd, order, nsha, 0 };
    int nt = threads > 0 ? vx_threads_cap(threads) : vx_kern_threads();
    pthread_t tid[VX_THREADS_MAX];
    int started = 0;
    for (int i = 0; i < nt - 1; i++)
        if (vx_thread_start(&tid[started], sha_worker, &pl) == 0) started++;
    char digest[65];
    int have_digest = sums && vx_content_digest_of(digest, sums, nsum, NULL) == VX_OK;
    uint8_t covered[VXF_COUNT] = { 0 };
    structure(&r, dfd, dir, have_digest ? digest : NULL, covered);
    size_t nx = nsha;
    for (size_t i = nsha; i < nj; i++) { /* keep the XXH3 jobs the scans did not cover */
        int done = 0;
        for (int k = 0; k < VXF_COUNT && !done; k++) done = covered[k] && !strcmp(jobs[i].r.name, vx_slot_names[k]);
        if (!done) jobs[nx++] = jobs[i];
    }
    for (size_t i = nsha; i < nx; i++) {
        vx_err xe = { 0 };
        if ((jobs[i].r.rc = vx_xxh3_fileat(jobs[i].r.hex, dfd, jobs[i].r.name, &xe)))
            snprintf(jobs[i].r.msg, sizeof jobs[i].r.msg, "%s", xe.msg);
    }
    vx_sha_drain(&pl);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    free(order);
    nj = nx;
    qsort(jobs, nsha, sizeof *jobs, by_name_chunk); /* a file's chunks together, for one line per file */
    for (size_t i = 0; i < nj; i++) {
        job *j = &jobs[i];
        if (!j->xxh && j->chunk >= 0) {
            size_t n = 1;
            while (i + n < nsha && jobs[i + n].chunk > 0 && !strcmp(jobs[i + n].r.name, j->r.name)) n++;
            chunk_results(&r, j, n);
            i += n - 1;
        } else if (j->r.rc) problem(&r, "%s: cannot hash: %s", j->r.name, j->r.msg);
        else if (strcmp(j->want, j->r.hex))
            problem(&r, "%s: %s mismatch: expected %s, computed %s", j->r.name, j->xxh ? "XXH3 (index.json)" : "SHA-256",
                    j->want, j->r.hex);
    }
    free(jobs);
    free(sums);
    close(dfd);
    if (problems) *problems = r.count;
    return r.count ? vx_fail(err, VX_EMISMATCH, "%d problem%s found", r.count, r.count == 1 ? "" : "s") : VX_OK;
}
