/*
 * vxmeta.c — index.json, the down_meta.bin header and SHA256SUMS (see vxmeta.h).
 * Every number read from these files is range-checked before it is used in a size;
 * requirement numbers (R-I3, ...) refer to spec/vindex-format.md.
 */
#include "vxmeta.h"

#include "metalift.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Sorted by byte value, so SHA256SUMS is deterministic; SHA256SUMS itself last. */
const char *const vx_file_names[] = {
    "down_features.bin", "down_meta.bin", "embeddings.bin", "gate_vectors.bin", "index.json",
    "manifest.json", "norms.bin", "tokenizer.json", "vocab.bin", "SHA256SUMS", NULL,
};

const char *const vx_opt_file_names[] = { "moments.bin", "neurons.bin", "spectra.bin", "unembed.bin", NULL };

const double vx_sparsity_thresholds[VX_N_SPARSITY] = { 1e-6, 1e-4, 1e-3, 1e-2, 1e-1 };
const char *const vx_mat_names[VX_N_MATS] = { "gate", "up", "down" };

static int name_in(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

uint64_t vx_meta_spectra_bytes(const vx_meta *m) { return (uint64_t)m->num_layers * 2 * m->hidden_size * 4; }
uint64_t vx_meta_moments_bytes(const vx_meta *m) { return (uint64_t)m->num_layers * 2 * m->num_feats * 16; }

uint64_t vx_meta_features_bytes(const vx_meta *m) {
    return (uint64_t)m->num_layers * m->num_feats * m->hidden_size * 2;
}
uint64_t vx_meta_embeddings_bytes(const vx_meta *m) { return (uint64_t)m->vocab_size * m->hidden_size * 2; }
uint64_t vx_meta_down_meta_bytes(const vx_meta *m) {
    return VX_DM_HEADER + (uint64_t)m->num_layers * 2 * m->num_feats * 16 * m->down_top_k;
}

const vx_file_meta *vx_meta_file(const vx_meta *m, const char *name) {
    for (size_t i = 0; i < m->n_files; i++)
        if (!strcmp(m->files[i].name, name)) return &m->files[i];
    return NULL;
}

void vx_meta_free(vx_meta *m) {
    if (!m) return;
    if (m->layers)
        for (uint32_t i = 0; i < m->num_layers; i++) { free(m->layers[i].gate_sigma); free(m->layers[i].down_sigma); }
    free(m->layers);
    for (size_t i = 0; i < m->n_norms; i++) free(m->norms[i].name);
    free(m->norms);
    free(m->part.json);
    for (size_t i = 0; i < m->n_files; i++) free(m->files[i].chunks);
    memset(m, 0, sizeof *m);
}

/* ---- reading helpers: each returns 0 or records an error naming the key ---- */

static int get_u64(uint64_t *out, const cJSON *obj, const char *key, uint64_t lo, uint64_t hi,
                   const char *fname, vx_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return vx_fail(err, VX_ECORRUPT, "%s: \"%s\": missing or not a number", fname, key);
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || !vx_whole(d))
        return vx_fail(err, VX_ECORRUPT, "%s: \"%s\": %.17g is not an integer in [%llu, %llu]", fname, key, d,
                       (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint64_t)d;
    return VX_OK;
}

static int get_u32(uint32_t *out, const cJSON *obj, const char *key, uint32_t lo, uint32_t hi, const char *fname,
                   vx_err *err) {
    uint64_t v;
    int rc = get_u64(&v, obj, key, lo, hi, fname, err);
    if (rc == VX_OK) *out = (uint32_t)v;
    return rc;
}

static int get_f32(float *out, const cJSON *obj, const char *key, const char *fname, vx_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 1e30)
        return vx_fail(err, VX_ECORRUPT, "%s: \"%s\": missing or not a finite number", fname, key);
    *out = (float)v->valuedouble;
    return VX_OK;
}

static int get_str(char *out, size_t cap, const cJSON *obj, const char *key, const char *fname, vx_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return vx_fail(err, VX_ECORRUPT, "%s: \"%s\": missing, not a string, or longer than %zu bytes", fname, key,
                       cap - 1);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return VX_OK;
}

/* R-I7: singular values are finite, non-negative and descending. */
static int sigma_ok(const float *s, uint32_t i, double v) {
    return isfinite(v) && v >= 0 && v <= FLT_MAX && !(i > 0 && (float)v > s[i - 1]);
}

/* layers[li].<key>: F values, from cJSON's array or, when vx_meta_lift took the array out
 * of cJSON's copy (sp), from its numbers in the original bytes — the same checks either way. */
static int get_sigma(float **out, const cJSON *layer, const char *key, uint32_t li, uint32_t F, const vx_lift_span *sp,
                     const uint8_t *buf, const char *fname, vx_err *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(layer, key);
    if (!cJSON_IsArray(a) || (sp ? sp->count : (uint32_t)cJSON_GetArraySize(a)) != F)
        return vx_fail(err, VX_ECORRUPT, "%s: layers[%u].%s: expected an array of %u numbers", fname, li, key, F);
    float *s = malloc(sizeof(float) * (F ? F : 1));
    if (!s) return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
    uint32_t i = 0;
    if (sp) {
        const char *p = (const char *)buf + sp->off, *end = p + sp->len;
        for (; i < F; i++) {
            double v = 0;
            while (p < end && ((unsigned char)*p <= 32 || *p == ',')) p++;
            p += vx_json_number(p, end, &v); /* the scanner checked there are F of them */
            if (!sigma_ok(s, i, v)) break;
            s[i] = (float)v;
        }
    } else {
        const cJSON *e;
        cJSON_ArrayForEach(e, a) {
            if (!cJSON_IsNumber(e) || !sigma_ok(s, i, e->valuedouble)) break;
            s[i++] = (float)e->valuedouble;
        }
    }
    if (i < F) {
        free(s);
        return vx_fail(err, VX_ECORRUPT, "%s: layers[%u].%s[%u]: expected a finite value >= 0, <= the previous", fname,
                       li, key, i);
    }
    *out = s;
    return VX_OK;
}

static void unhex(uint8_t *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
        int lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* R-I10: a file's whole SHA-256 and its chunk digests, both optional. */
static int parse_sha256(vx_file_meta *fm, const cJSON *f, const char *fname, vx_err *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    if (x) {
        if (!cJSON_IsString(x) || !vx_is_hex(x->valuestring, 64))
            return vx_fail(err, VX_ECORRUPT, "%s: files.%s.sha256: expected 64 lowercase hex digits", fname, fm->name);
        strcpy(fm->sha256, x->valuestring);
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "sha256_chunks");
    if (!c) return VX_OK;
    if (!cJSON_IsObject(c) || !x)
        return vx_fail(err, VX_ECORRUPT, "%s: files.%s.sha256_chunks: expected an object, beside \"sha256\"", fname,
                       fm->name);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(c, "chunk_bytes");
    double db = cJSON_IsNumber(b) ? b->valuedouble : 0;
    uint64_t cb = db >= (double)VX_SHA_CHUNK_MIN && db <= (double)VX_SHA_CHUNK_MAX ? (uint64_t)db : 0;
    if (!cb || (double)cb != db || (cb & (cb - 1)))
        return vx_fail(err, VX_ECORRUPT, "%s: files.%s.sha256_chunks.chunk_bytes: expected a power of two in [2^20, 2^30]",
                       fname, fm->name);
    uint64_t n = (fm->bytes + cb - 1) / cb;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "digests");
    if (!cJSON_IsArray(d) || (uint64_t)cJSON_GetArraySize(d) != n || n < 2)
        return vx_fail(err, VX_ECORRUPT, "%s: files.%s.sha256_chunks.digests: expected an array of %llu digests "
                       "(bytes / chunk_bytes, rounded up, at least 2)", fname, fm->name, (unsigned long long)n);
    if (!(fm->chunks = malloc(n * sizeof *fm->chunks))) return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
    fm->chunk_bytes = cb;
    fm->n_chunks = (uint32_t)n;
    uint32_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, d) {
        if (!cJSON_IsString(e) || !vx_is_hex(e->valuestring, 64))
            return vx_fail(err, VX_ECORRUPT, "%s: files.%s.sha256_chunks.digests[%u]: expected 64 lowercase hex digits",
                           fname, fm->name, i);
        unhex(fm->chunks[i++], e->valuestring, 32);
    }
    return VX_OK;
}

static int parse_files(vx_meta *m, const cJSON *root, const char *fname, vx_err *err) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsObject(files)) return vx_fail(err, VX_ECORRUPT, "%s: \"files\": missing or not an object", fname);
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        if (m->n_files >= sizeof m->files / sizeof m->files[0])
            return vx_fail(err, VX_ECORRUPT, "%s: \"files\": more entries than the format defines", fname);
        vx_file_meta *fm = &m->files[m->n_files];
        memset(fm, 0, sizeof *fm);
        if (!f->string || strlen(f->string) >= sizeof fm->name || !cJSON_IsObject(f))
            return vx_fail(err, VX_ECORRUPT, "%s: \"files\": bad entry", fname);
        /* R-F1: version 1 knows the ten files of §1; version 2 adds §9's. */
        int known = name_in(vx_file_names, f->string) || (m->version >= 2 && name_in(vx_opt_file_names, f->string));
        if (!known || vx_meta_file(m, f->string))
            return vx_fail(err, VX_ECORRUPT, "%s: \"files\": unknown or repeated file \"%s\"", fname, f->string);
        strcpy(fm->name, f->string);
        int rc = get_u64(&fm->bytes, f, "bytes", 0, 1ull << 50, fname, err);
        if (rc) return rc;
        if ((rc = get_str(fm->dtype, sizeof fm->dtype, f, "dtype", fname, err))) return rc;
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(f, "shape");
        if (cJSON_IsArray(shape)) {
            if (cJSON_GetArraySize(shape) > 4)
                return vx_fail(err, VX_ECORRUPT, "%s: files.%s.shape: more than 4 dimensions", fname, fm->name);
            const cJSON *d;
            cJSON_ArrayForEach(d, shape) {
                if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e15 ||
                    !vx_whole(d->valuedouble))
                    return vx_fail(err, VX_ECORRUPT, "%s: files.%s.shape: bad dimension", fname, fm->name);
                fm->shape[fm->ndim++] = (uint64_t)d->valuedouble;
            }
        }
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(f, "xxh3");
        if (x) {
            if (!cJSON_IsString(x) || !vx_is_hex(x->valuestring, 16))
                return vx_fail(err, VX_ECORRUPT, "%s: files.%s.xxh3: expected 16 lowercase hex digits", fname, fm->name);
            strcpy(fm->xxh3, x->valuestring);
        }
        m->n_files++; /* from here vx_meta_free owns fm->chunks */
        if ((rc = parse_sha256(fm, f, fname, err))) return rc;
    }
    return VX_OK;
}

/* ------------------------------------------------------- version 2 (§9) */

static int check_file(const vx_meta *m, const char *name, uint64_t bytes, const char *fname, vx_err *err);

/* R-B5: where the unembedding is, consistent with tied_embeddings and the file table. */
static int parse_unembedding(vx_meta *m, const cJSON *root, const char *fname, vx_err *err) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "unembedding");
    int listed = vx_meta_file(m, "unembed.bin") != NULL;
    if (cJSON_IsNull(u)) m->unembedding = VX_UNEMB_NONE;
    else if (cJSON_IsString(u) && !strcmp(u->valuestring, "embeddings")) m->unembedding = VX_UNEMB_EMBEDDINGS;
    else if (cJSON_IsString(u) && !strcmp(u->valuestring, "unembed.bin")) m->unembedding = VX_UNEMB_FILE;
    else
        return vx_fail(err, VX_ECORRUPT, "%s: \"unembedding\": expected \"embeddings\", \"unembed.bin\" or null", fname);
    if ((m->unembedding == VX_UNEMB_EMBEDDINGS) != (m->tied_embeddings != 0))
        return vx_fail(err, VX_ECORRUPT, "%s: \"unembedding\" is %s but tied_embeddings is %s", fname,
                       m->unembedding == VX_UNEMB_EMBEDDINGS ? "\"embeddings\"" : "not \"embeddings\"",
                       m->tied_embeddings ? "true" : "false");
    if (m->is_part && !m->part.shared) { /* parts.md P3: the first part holds it */
        if (listed) return vx_fail(err, VX_ECORRUPT, "%s: \"files\" lists unembed.bin, which only the first part holds", fname);
        listed = m->unembedding == VX_UNEMB_FILE;
    } else if (listed != (m->unembedding == VX_UNEMB_FILE))
        return vx_fail(err, VX_ECORRUPT, "%s: \"files\" %s unembed.bin but \"unembedding\" says %s", fname,
                       listed ? "lists" : "does not list", listed ? "it is not kept" : "it is");
    if (listed && vx_meta_file(m, "unembed.bin") && vx_meta_file(m, "unembed.bin")->bytes != vx_meta_embeddings_bytes(m))
        return vx_fail(err, VX_ECORRUPT, "%s: files.unembed.bin.bytes = %llu, but vocab_size x hidden_size x 2 = %llu", fname,
                       (unsigned long long)vx_meta_file(m, "unembed.bin")->bytes,
                       (unsigned long long)vx_meta_embeddings_bytes(m));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "unembed_clamped");
    return c ? get_u64(&m->unembed_clamped, root, "unembed_clamped", 0, 1ull << 50, fname, err) : VX_OK;
}

/* R-B3: one matrix's {rows, cols, fro, sparsity} with the shape the neurons imply. */
static int parse_weight(vx_weight_stats *w, const cJSON *obj, const char *mat, uint32_t li, uint64_t rows,
                        uint64_t cols, const char *fname, vx_err *err) {
    char key[64];
    snprintf(key, sizeof key, "layers[%u].weights.%s", li, mat);
    if (!cJSON_IsObject(obj)) return vx_fail(err, VX_ECORRUPT, "%s: %s: missing or not an object", fname, key);
    int rc;
    if ((rc = get_u64(&w->rows, obj, "rows", 1, 1ull << 40, fname, err)) ||
        (rc = get_u64(&w->cols, obj, "cols", 1, 1ull << 40, fname, err)))
        return rc;
    if (w->rows != rows || w->cols != cols)
        return vx_fail(err, VX_ECORRUPT, "%s: %s: shape [%llu, %llu], the neuron count and hidden_size imply [%llu, %llu]",
                       fname, key, (unsigned long long)w->rows, (unsigned long long)w->cols, (unsigned long long)rows,
                       (unsigned long long)cols);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, "fro");
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < 0)
        return vx_fail(err, VX_ECORRUPT, "%s: %s.fro: expected a finite number >= 0", fname, key);
    w->fro = f->valuedouble;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(obj, "sparsity");
    if (!cJSON_IsArray(sp) || cJSON_GetArraySize(sp) != VX_N_SPARSITY)
        return vx_fail(err, VX_ECORRUPT, "%s: %s.sparsity: expected an array of %d numbers", fname, key, VX_N_SPARSITY);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sp) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1) ||
            (i > 0 && e->valuedouble < w->sparsity[i - 1]))
            return vx_fail(err, VX_ECORRUPT, "%s: %s.sparsity[%d]: expected a fraction in [0, 1], >= the previous", fname,
                           key, i);
        w->sparsity[i++] = e->valuedouble;
    }
    return VX_OK;
}

/* R-B2, R-B3: every layer's neurons block (tiling neurons.bin) and weights; the battery
 * files' sizes. All or nothing: a version-2 index without spectra.bin has no battery. */
static int parse_battery(vx_meta *m, const cJSON *layers, const char *fname, vx_err *err) {
    int nfiles = !!vx_meta_file(m, "spectra.bin") + !!vx_meta_file(m, "neurons.bin") + !!vx_meta_file(m, "moments.bin");
    if (nfiles != 0 && nfiles != 3)
        return vx_fail(err, VX_ECORRUPT, "%s: \"files\": spectra.bin, neurons.bin and moments.bin are listed together or "
                       "not at all", fname);
    m->has_battery = nfiles == 3;
    uint64_t next = 0;
    uint32_t i = 0;
    const cJSON *l;
    int rc;
    cJSON_ArrayForEach(l, layers) {
        vx_layer_meta *lm = &m->layers[i];
        const cJSON *nj = cJSON_GetObjectItemCaseSensitive(l, "neurons"), *wj = cJSON_GetObjectItemCaseSensitive(l, "weights");
        if (!m->has_battery) {
            if (nj || wj)
                return vx_fail(err, VX_ECORRUPT, "%s: layers[%u]: \"neurons\"/\"weights\" without spectra.bin, "
                               "neurons.bin and moments.bin in \"files\"", fname, i);
            i++;
            continue;
        }
        if (!cJSON_IsObject(nj) || !cJSON_IsObject(wj))
            return vx_fail(err, VX_ECORRUPT, "%s: layers[%u]: \"neurons\" and \"weights\" must be objects", fname, i);
        char where[48];
        snprintf(where, sizeof where, "layers[%u].neurons", i);
        if ((rc = get_u64(&lm->neurons_offset, nj, "offset", 0, 1ull << 50, fname, err)) ||
            (rc = get_u64(&lm->neurons_count, nj, "count", 1, 1ull << 32, fname, err)))
            return rc;
        const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(nj, "kinds");
        int nk = cJSON_IsArray(kinds) ? cJSON_GetArraySize(kinds) : 0;
        static const char *const gated[3] = { "gate", "up", "down" }, *const plain[2] = { "gate", "down" };
        const char *const *want = nk == 3 ? gated : plain;
        int ok = nk == 2 || nk == 3, k = 0;
        const cJSON *e;
        if (ok)
            cJSON_ArrayForEach(e, kinds) ok = ok && cJSON_IsString(e) && !strcmp(e->valuestring, want[k++]);
        if (!ok)
            return vx_fail(err, VX_ECORRUPT, "%s: %s.kinds: expected [\"gate\",\"up\",\"down\"] or [\"gate\",\"down\"]",
                           fname, where);
        lm->neurons_kinds = nk;
        uint64_t N = lm->neurons_count, H = m->hidden_size, bytes;
        /* R-E2: F is at most every layer's rank bound, so F <= N. */
        if (N < m->num_feats)
            return vx_fail(err, VX_ECORRUPT, "%s: %s.count = %llu, fewer than num_feats %u", fname, where,
                           (unsigned long long)N, m->num_feats);
        if (lm->neurons_offset != next || !vx_mul3_ok((uint64_t)nk, N, 4, &bytes) || !vx_add_ok(next, bytes, &next))
            return vx_fail(err, VX_ECORRUPT, "%s: %s: offset %llu, expected %llu (blocks tile neurons.bin in layer order)",
                           fname, where, (unsigned long long)lm->neurons_offset, (unsigned long long)next);
        lm->has_mat[VX_MAT_GATE] = lm->has_mat[VX_MAT_DOWN] = 1;
        lm->has_mat[VX_MAT_UP] = nk == 3;
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(wj, "up");
        if (!lm->has_mat[VX_MAT_UP] && up)
            return vx_fail(err, VX_ECORRUPT, "%s: layers[%u].weights.up: present, but neurons.kinds has no \"up\"", fname, i);
        if ((rc = parse_weight(&lm->weights[VX_MAT_GATE], cJSON_GetObjectItemCaseSensitive(wj, "gate"), "gate", i, N, H,
                               fname, err)) ||
            (lm->has_mat[VX_MAT_UP] && (rc = parse_weight(&lm->weights[VX_MAT_UP], up, "up", i, N, H, fname, err))) ||
            (rc = parse_weight(&lm->weights[VX_MAT_DOWN], cJSON_GetObjectItemCaseSensitive(wj, "down"), "down", i, H, N,
                               fname, err)))
            return rc;
        i++;
    }
    if (!m->has_battery) return VX_OK;
    m->neurons_bytes = next;
    if ((rc = check_file(m, "spectra.bin", vx_meta_spectra_bytes(m), fname, err)) ||
        (rc = check_file(m, "moments.bin", vx_meta_moments_bytes(m), fname, err)) ||
        (rc = check_file(m, "neurons.bin", m->neurons_bytes, fname, err)))
        return rc;
    return VX_OK;
}

/* R-I9: the sizes the file table records must be the sizes the shapes imply. */
static int check_file(const vx_meta *m, const char *name, uint64_t bytes, const char *fname, vx_err *err) {
    const vx_file_meta *f = vx_meta_file(m, name);
    if (!f) return vx_fail(err, VX_ECORRUPT, "%s: \"files\": no entry for %s", fname, name);
    if (f->bytes != bytes)
        return vx_fail(err, VX_ECORRUPT, "%s: files.%s.bytes = %llu, but the shapes imply %llu", fname, name,
                       (unsigned long long)f->bytes, (unsigned long long)bytes);
    return VX_OK;
}

/* spec/parts.md P2: the "part" object's layer range; the rest of it is kept as JSON for
 * merge (src/merge.c), which checks provenance and options. */
static int parse_part(vx_meta *m, const cJSON *root, const char *fname, vx_err *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "part");
    if (!cJSON_IsObject(p))
        return vx_fail(err, VX_ECORRUPT, "%s: no \"part\" object: not a part (a whole vindex is not merged again)", fname);
    int rc;
    if ((rc = get_u32(&m->part.first, p, "first_layer", 0, VX_MAX_LAYERS - 1, fname, err)) ||
        (rc = get_u32(&m->part.last, p, "last_layer", 0, VX_MAX_LAYERS - 1, fname, err)))
        return rc;
    if (m->part.first > m->part.last || m->part.last >= m->num_layers)
        return vx_fail(err, VX_ECORRUPT, "%s: part.first_layer %u, last_layer %u: expected first <= last < num_layers %u",
                       fname, m->part.first, m->part.last, m->num_layers);
    m->part.total = m->num_layers;
    m->part.shared = m->part.first == 0;
    m->num_layers = m->part.last - m->part.first + 1;
    if (!(m->part.json = cJSON_PrintUnformatted(p))) return vx_fail(err, VX_ENOMEM, "%s: out of memory", fname);
    m->is_part = 1;
    return VX_OK;
}

static int parse(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, int want_part, vx_err *err);

int vx_meta_parse(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    return parse(m, buf, len, fname, 0, err);
}

int vx_meta_parse_part(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    return parse(m, buf, len, fname, 1, err);
}

static int parse(vx_meta *m, const uint8_t *buf, size_t len, const char *fname, int want_part, vx_err *err) {
    memset(m, 0, sizeof *m);
    if (len > VX_MAX_INDEX_JSON) return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, larger than the limit", fname, len);
    if (!len) return vx_fail(err, VX_ECORRUPT, "%s: empty, expected a JSON object", fname); /* a map of it is NULL */
    /* The sigma arrays are read from buf directly (metalift.h); cJSON parses the rest. */
    vx_lifted lift;
    vx_meta_lift(&lift, buf, len);
    cJSON *root = lift.json ? cJSON_ParseWithLengthOpts(lift.json, lift.len, NULL, 0)
                            : cJSON_ParseWithLengthOpts((const char *)buf, len, NULL, 0);
    if (!root) {
        vx_lifted_free(&lift);
        return vx_fail(err, VX_ECORRUPT, "%s: not valid JSON", fname);
    }
    int rc = VX_OK;
    if (!cJSON_IsObject(root)) { rc = vx_fail(err, VX_ECORRUPT, "%s: top level is not an object", fname); goto out; }
    /* R-I1: a version this reader knows. */
    if ((rc = get_u32(&m->version, root, "version", 0, 0xffffffffu, fname, err))) goto out;
    if (m->version < 1 || m->version > VX_INDEX_VERSION) {
        rc = vx_fail(err, VX_EUNSUPPORTED, "%s: \"version\" %u, this reader knows 1 to %u", fname, m->version,
                     VX_INDEX_VERSION);
        goto out;
    }
    /* R-B7: a part of a vindex (a layer range) is not a vindex. */
    if (!want_part && cJSON_GetObjectItemCaseSensitive(root, "part")) {
        rc = vx_fail(err, VX_EUNSUPPORTED, "%s: \"part\": this index.json describes a part of a vindex (a layer range), "
                     "not a vindex: merge it first", fname);
        goto out;
    }
    /* R-I2: dimensions within the format's limits, so every product below fits in 64 bits. */
    if ((rc = get_u32(&m->num_layers, root, "num_layers", 1, VX_MAX_LAYERS, fname, err)) ||
        (rc = get_u32(&m->num_feats, root, "num_feats", 1, VX_MAX_FEATS, fname, err)) ||
        (rc = get_u32(&m->hidden_size, root, "hidden_size", 1, VX_MAX_HIDDEN, fname, err)) ||
        (rc = get_u32(&m->intermediate_size, root, "intermediate_size", 1, 0x7fffffffu, fname, err)) ||
        (rc = get_u32(&m->vocab_size, root, "vocab_size", 1, VX_MAX_VOCAB, fname, err)) ||
        (rc = get_u32(&m->down_top_k, root, "down_top_k", 1, VX_MAX_TOPK, fname, err)))
        goto out;
    if (want_part && (m->version < 2 || (rc = parse_part(m, root, fname, err)))) {
        if (!rc) rc = vx_fail(err, VX_ECORRUPT, "%s: a part is version 2 or later", fname);
        goto out;
    }
    /* The whole model's layer count: num_layers itself, or a part's total. */
    uint32_t all_layers = m->is_part ? m->part.total : m->num_layers, base = m->is_part ? m->part.first : 0;
    if (m->num_feats > m->hidden_size) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: num_feats %u exceeds hidden_size %u", fname, m->num_feats, m->hidden_size);
        goto out;
    }
    if (m->down_top_k > m->vocab_size) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: down_top_k %u exceeds vocab_size %u", fname, m->down_top_k, m->vocab_size);
        goto out;
    }
    if ((rc = get_str(m->model, sizeof m->model, root, "model", fname, err)) ||
        (rc = get_str(m->model_type, sizeof m->model_type, root, "model_type", fname, err)) ||
        (rc = get_str(m->architecture, sizeof m->architecture, root, "architecture", fname, err)) ||
        (rc = get_str(m->source_dtype, sizeof m->source_dtype, root, "source_dtype", fname, err)) ||
        (rc = get_f32(&m->embed_scale, root, "embed_scale", fname, err)) ||
        (rc = get_f32(&m->norm_offset, root, "norm_offset", fname, err)))
        goto out;
    m->norm_eps = -1; /* R-B8: optional */
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "norm_eps");
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble >= 0 && eps->valuedouble < 1)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: \"norm_eps\": expected a number in [0, 1) or null", fname);
            goto out;
        }
        m->norm_eps = eps->valuedouble;
    }
    char dtype[8];
    if ((rc = get_str(dtype, sizeof dtype, root, "dtype", fname, err))) goto out;
    if (strcmp(dtype, "f16")) {
        rc = vx_fail(err, VX_EUNSUPPORTED, "%s: \"dtype\" \"%s\", expected \"f16\"", fname, dtype);
        goto out;
    }
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(root, "tied_embeddings");
    if (!cJSON_IsBool(tied)) { rc = vx_fail(err, VX_ECORRUPT, "%s: \"tied_embeddings\": expected true or false", fname); goto out; }
    m->tied_embeddings = cJSON_IsTrue(tied);
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(root, "embeddings_clamped");
    if (cl && (rc = get_u64(&m->embed_clamped, root, "embeddings_clamped", 0, 1ull << 50, fname, err))) goto out;

    /* R-I4..R-I6: the per-layer table. */
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsArray(layers) || (uint32_t)cJSON_GetArraySize(layers) != m->num_layers) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: \"layers\": expected an array of num_layers = %u entries", fname,
                     m->num_layers);
        goto out;
    }
    m->layers = calloc(m->num_layers, sizeof *m->layers);
    if (!m->layers) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
    uint64_t per_layer = (uint64_t)m->num_feats * m->hidden_size * 2;
    uint32_t i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) {
        vx_layer_meta *lm = &m->layers[i];
        if (!cJSON_IsObject(l)) { rc = vx_fail(err, VX_ECORRUPT, "%s: layers[%u]: not an object", fname, i); goto out; }
        if ((rc = get_u32(&lm->layer, l, "layer", 0, 0xffffffffu, fname, err)) ||
            (rc = get_u32(&lm->num_features, l, "num_features", 0, 0xffffffffu, fname, err)) ||
            (rc = get_u64(&lm->offset, l, "offset", 0, 1ull << 52, fname, err)) ||
            (rc = get_u64(&lm->length, l, "length", 0, 1ull << 52, fname, err)))
            goto out;
        if (lm->layer != base + i || lm->num_features != m->num_feats || lm->offset != i * per_layer ||
            lm->length != per_layer) {
            rc = vx_fail(err, VX_ECORRUPT,
                         "%s: layers[%u]: expected layer %u, num_features %u, offset %llu, length %llu; found %u, %u, "
                         "%llu, %llu",
                         fname, i, base + i, m->num_feats, (unsigned long long)(i * per_layer), (unsigned long long)per_layer,
                         lm->layer, lm->num_features, (unsigned long long)lm->offset, (unsigned long long)lm->length);
            goto out;
        }
        const cJSON *ne = cJSON_GetObjectItemCaseSensitive(l, "num_experts");
        if (ne && (rc = get_u32(&lm->num_experts, l, "num_experts", 0, 1u << 20, fname, err))) goto out;
        if ((rc = get_sigma(&lm->gate_sigma, l, "gate_sigma", i, m->num_feats, vx_lifted_span(&lift, i, 0), buf, fname,
                            err)) ||
            (rc = get_sigma(&lm->down_sigma, l, "down_sigma", i, m->num_feats, vx_lifted_span(&lift, i, 1), buf, fname,
                            err)))
            goto out;
        i++;
    }

    /* R-I8: norms tile norms.bin in order, each a whole number of f32 inside it. */
    if ((rc = get_u64(&m->norms_bytes, root, "norms_bytes", 0, 1ull << 40, fname, err))) goto out;
    const cJSON *norms = cJSON_GetObjectItemCaseSensitive(root, "norms");
    if (!cJSON_IsArray(norms) || cJSON_GetArraySize(norms) > 64 * (int)all_layers + 64) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: \"norms\": expected an array of at most %u entries", fname,
                     64 * all_layers + 64);
        goto out;
    }
    m->norms = calloc((size_t)cJSON_GetArraySize(norms) + 1, sizeof *m->norms);
    if (!m->norms) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
    uint64_t next = 0;
    const cJSON *n;
    cJSON_ArrayForEach(n, norms) {
        vx_norm_meta *nm = &m->norms[m->n_norms];
        char name[128];
        uint64_t layer;
        if (!cJSON_IsObject(n) || (rc = get_str(name, sizeof name, n, "name", fname, err)) ||
            (rc = get_u64(&nm->offset, n, "offset", 0, 1ull << 40, fname, err)) ||
            (rc = get_u64(&nm->count, n, "count", 1, VX_MAX_HIDDEN, fname, err))) {
            if (!rc) rc = vx_fail(err, VX_ECORRUPT, "%s: norms[%zu]: not an object", fname, m->n_norms);
            goto out;
        }
        const cJSON *lj = cJSON_GetObjectItemCaseSensitive(n, "layer");
        if (cJSON_IsNull(lj)) nm->layer = -1;
        else if ((rc = get_u64(&layer, n, "layer", 0, all_layers - 1, fname, err))) goto out;
        else nm->layer = (int32_t)layer;
        if (nm->offset != next || nm->count * 4 > m->norms_bytes - next) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: norms[%zu] \"%s\": offset %llu count %llu does not follow at %llu inside %llu bytes",
                         fname, m->n_norms, name, (unsigned long long)nm->offset, (unsigned long long)nm->count,
                         (unsigned long long)next, (unsigned long long)m->norms_bytes);
            goto out;
        }
        next = nm->offset + nm->count * 4;
        if (!(nm->name = strdup(name))) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); goto out; }
        m->n_norms++;
    }
    if (next != m->norms_bytes) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: norms cover %llu bytes, norms_bytes says %llu", fname,
                     (unsigned long long)next, (unsigned long long)m->norms_bytes);
        goto out;
    }

    if ((rc = parse_files(m, root, fname, err))) goto out;
    if ((rc = check_file(m, "gate_vectors.bin", vx_meta_features_bytes(m), fname, err)) ||
        (rc = check_file(m, "down_features.bin", vx_meta_features_bytes(m), fname, err)) ||
        (rc = check_file(m, "down_meta.bin", vx_meta_down_meta_bytes(m), fname, err)))
        goto out;
    if (m->is_part && !m->part.shared) { /* parts.md P3: the whole-model files are the first part's */
        static const char *const whole[] = { "embeddings.bin", "norms.bin", "vocab.bin", "tokenizer.json", "unembed.bin", NULL };
        for (int w = 0; whole[w]; w++)
            if (vx_meta_file(m, whole[w])) {
                rc = vx_fail(err, VX_ECORRUPT, "%s: \"files\" lists %s, which only the part starting at layer 0 holds",
                             fname, whole[w]);
                goto out;
            }
        if (m->n_norms) { rc = vx_fail(err, VX_ECORRUPT, "%s: \"norms\": only the part starting at layer 0 holds norms", fname); goto out; }
    } else {
        if ((rc = check_file(m, "embeddings.bin", vx_meta_embeddings_bytes(m), fname, err)) ||
            (rc = check_file(m, "norms.bin", m->norms_bytes, fname, err)))
            goto out;
        if (!vx_meta_file(m, "vocab.bin") || !vx_meta_file(m, "tokenizer.json")) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: \"files\": vocab.bin and tokenizer.json must be listed", fname);
            goto out;
        }
    }
    if (m->version >= 2 && ((rc = parse_unembedding(m, root, fname, err)) || (rc = parse_battery(m, layers, fname, err))))
        goto out;
    if (m->is_part && !m->has_battery) { rc = vx_fail(err, VX_ECORRUPT, "%s: a part holds the weight battery (spectra.bin, neurons.bin, moments.bin)", fname); goto out; }
out:
    cJSON_Delete(root);
    vx_lifted_free(&lift);
    if (rc) vx_meta_free(m);
    return rc;
}

static cJSON *shape_json(const uint64_t *s, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s[i]));
    return a;
}

static cJSON *sigma_json(const float *s, uint32_t n) {
    cJSON *a = cJSON_CreateArray();
    /* %.9g round-trips a float exactly. */
    for (uint32_t i = 0; i < n; i++) {
        char b[32];
        snprintf(b, sizeof b, "%.9g", (double)s[i]);
        cJSON_AddItemToArray(a, cJSON_CreateRaw(b));
    }
    return a;
}

char *vx_meta_write(const vx_meta *m) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddNumberToObject(r, "version", m->version);
    cJSON_AddStringToObject(r, "format", "vindex");
    cJSON_AddStringToObject(r, "model", m->model);
    cJSON_AddStringToObject(r, "family", m->model_type);
    cJSON_AddStringToObject(r, "model_type", m->model_type);
    cJSON_AddStringToObject(r, "architecture", m->architecture);
    cJSON_AddNumberToObject(r, "num_layers", m->is_part ? m->part.total : m->num_layers);
    cJSON_AddNumberToObject(r, "num_feats", m->num_feats);
    cJSON_AddNumberToObject(r, "hidden_size", m->hidden_size);
    cJSON_AddNumberToObject(r, "intermediate_size", m->intermediate_size);
    cJSON_AddNumberToObject(r, "vocab_size", m->vocab_size);
    cJSON_AddStringToObject(r, "dtype", "f16");
    cJSON_AddStringToObject(r, "source_dtype", m->source_dtype);
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)m->embed_scale);
    cJSON_AddRawToObject(r, "embed_scale", b);
    snprintf(b, sizeof b, "%.9g", (double)m->norm_offset);
    cJSON_AddRawToObject(r, "norm_offset", b);
    if (m->version >= 2) { /* R-B8 */
        if (m->norm_eps >= 0) {
            snprintf(b, sizeof b, "%.17g", m->norm_eps);
            cJSON_AddRawToObject(r, "norm_eps", b);
        } else cJSON_AddNullToObject(r, "norm_eps");
    }
    cJSON_AddBoolToObject(r, "tied_embeddings", m->tied_embeddings);
    cJSON_AddNumberToObject(r, "down_top_k", m->down_top_k);
    cJSON_AddNumberToObject(r, "embeddings_clamped", (double)m->embed_clamped);
    cJSON_AddStringToObject(r, "extract_level", "browse");
    if (m->version >= 2) { /* R-B5 */
        if (m->unembedding == VX_UNEMB_FILE) {
            cJSON_AddStringToObject(r, "unembedding", "unembed.bin");
            cJSON_AddNumberToObject(r, "unembed_clamped", (double)m->unembed_clamped);
        } else if (m->unembedding == VX_UNEMB_EMBEDDINGS || (m->unembedding == VX_UNEMB_V1 && m->tied_embeddings))
            cJSON_AddStringToObject(r, "unembedding", "embeddings");
        else
            cJSON_AddNullToObject(r, "unembedding");
    }
    cJSON *layers = cJSON_AddArrayToObject(r, "layers");
    for (uint32_t i = 0; i < m->num_layers; i++) {
        const vx_layer_meta *l = &m->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", l->layer);
        cJSON_AddNumberToObject(o, "num_features", l->num_features);
        cJSON_AddNumberToObject(o, "offset", (double)l->offset);
        cJSON_AddNumberToObject(o, "length", (double)l->length);
        if (l->num_experts) cJSON_AddNumberToObject(o, "num_experts", l->num_experts);
        cJSON_AddItemToObject(o, "gate_sigma", sigma_json(l->gate_sigma, l->num_features));
        cJSON_AddItemToObject(o, "down_sigma", sigma_json(l->down_sigma, l->num_features));
        if (m->version >= 2 && m->has_battery) {
            cJSON *w = cJSON_AddObjectToObject(o, "weights");
            for (int k = 0; k < VX_N_MATS; k++) {
                if (!l->has_mat[k]) continue;
                const vx_weight_stats *ws = &l->weights[k];
                cJSON *x = cJSON_AddObjectToObject(w, vx_mat_names[k]);
                cJSON_AddNumberToObject(x, "rows", (double)ws->rows);
                cJSON_AddNumberToObject(x, "cols", (double)ws->cols);
                char num[40];
                snprintf(num, sizeof num, "%.17g", ws->fro); /* round-trips a double */
                cJSON_AddRawToObject(x, "fro", num);
                cJSON *sp = cJSON_AddArrayToObject(x, "sparsity");
                for (int t = 0; t < VX_N_SPARSITY; t++) {
                    snprintf(num, sizeof num, "%.17g", ws->sparsity[t]);
                    cJSON_AddItemToArray(sp, cJSON_CreateRaw(num));
                }
            }
            cJSON *n = cJSON_AddObjectToObject(o, "neurons");
            cJSON_AddNumberToObject(n, "offset", (double)l->neurons_offset);
            cJSON_AddNumberToObject(n, "count", (double)l->neurons_count);
            cJSON *kinds = cJSON_AddArrayToObject(n, "kinds");
            for (int k = 0; k < VX_N_MATS; k++)
                if (l->has_mat[k]) cJSON_AddItemToArray(kinds, cJSON_CreateString(vx_mat_names[k]));
        }
        cJSON_AddItemToArray(layers, o);
    }
    cJSON_AddNumberToObject(r, "norms_bytes", (double)m->norms_bytes);
    cJSON *norms = cJSON_AddArrayToObject(r, "norms");
    for (size_t i = 0; i < m->n_norms; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->norms[i].name);
        if (m->norms[i].layer < 0) cJSON_AddNullToObject(o, "layer");
        else cJSON_AddNumberToObject(o, "layer", m->norms[i].layer);
        cJSON_AddNumberToObject(o, "offset", (double)m->norms[i].offset);
        cJSON_AddNumberToObject(o, "count", (double)m->norms[i].count);
        cJSON_AddStringToObject(o, "dtype", "f32");
        cJSON_AddItemToArray(norms, o);
    }
    cJSON *files = cJSON_AddObjectToObject(r, "files");
    for (size_t i = 0; i < m->n_files; i++) {
        const vx_file_meta *f = &m->files[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "bytes", (double)f->bytes);
        cJSON_AddStringToObject(o, "dtype", f->dtype);
        cJSON_AddItemToObject(o, "shape", shape_json(f->shape, f->ndim));
        if (f->xxh3[0]) cJSON_AddStringToObject(o, "xxh3", f->xxh3);
        if (f->sha256[0]) cJSON_AddStringToObject(o, "sha256", f->sha256);
        if (f->n_chunks) { /* R-I10 */
            cJSON *c = cJSON_AddObjectToObject(o, "sha256_chunks"), *d = cJSON_CreateArray();
            cJSON_AddNumberToObject(c, "chunk_bytes", (double)f->chunk_bytes);
            for (uint32_t k = 0; k < f->n_chunks; k++) {
                char hex[65];
                vx_hex(hex, f->chunks[k], 32);
                cJSON_AddItemToArray(d, cJSON_CreateString(hex));
            }
            cJSON_AddItemToObject(c, "digests", d);
        }
        cJSON_AddItemToObject(files, f->name, o);
    }
    if (m->is_part) { /* spec/parts.md P2 */
        cJSON *p = m->part.json ? cJSON_Parse(m->part.json) : NULL;
        if (!p) { cJSON_Delete(r); return NULL; }
        cJSON_AddItemToObject(r, "part", p);
    }
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

/* ------------------------------------------------------------- down_meta.bin */

void vx_dm_header_write(uint8_t out[VX_DM_HEADER], uint32_t L, uint32_t F, uint32_t K) {
    memset(out, 0, VX_DM_HEADER);
    memcpy(out, VX_DM_MAGIC, 8);
    vx_put32(out + 8, VX_DM_VERSION);
    vx_put32(out + 12, L);
    vx_put32(out + 16, F);
    vx_put32(out + 20, K);
    vx_put32(out + 24, 2);       /* kinds: gate, down */
    vx_put32(out + 28, 16 * K);  /* record bytes */
}

int vx_dm_header_check(const uint8_t *buf, size_t len, uint32_t L, uint32_t F, uint32_t K, const char *fname,
                       vx_err *err) {
    /* R-D1..R-D3. Sizes in 64 bits with checked products: callers pass values from
     * index.json, but this function must be safe for any (L, F, K). */
    uint64_t need;
    if (!vx_mul4_ok(L, 2, F, 16ull * K, &need) || !vx_add_ok(need, VX_DM_HEADER, &need))
        return vx_fail(err, VX_ECORRUPT, "%s: %u layers x %u features x top-%u overflows a file size", fname, L, F, K);
    if (len < VX_DM_HEADER) return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, shorter than the 32-byte header", fname, len);
    if (memcmp(buf, VX_DM_MAGIC, 8)) return vx_fail(err, VX_ECORRUPT, "%s: offset 0: bad magic, expected \"VXDMETA1\"", fname);
    if (vx_le32(buf + 8) != VX_DM_VERSION)
        return vx_fail(err, VX_EUNSUPPORTED, "%s: offset 8: version %u, expected %u", fname, vx_le32(buf + 8), VX_DM_VERSION);
    const uint64_t want[5] = { L, F, K, 2, 16ull * K };
    const char *what[5] = { "num_layers", "num_feats", "top_k", "kinds", "record_bytes" };
    for (int i = 0; i < 5; i++)
        if (vx_le32(buf + 12 + 4 * i) != want[i])
            return vx_fail(err, VX_ECORRUPT, "%s: offset %d: %s = %u, index.json implies %llu", fname, 12 + 4 * i, what[i],
                           vx_le32(buf + 12 + 4 * i), (unsigned long long)want[i]);
    if (len != need)
        return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, expected %llu", fname, len, (unsigned long long)need);
    return VX_OK;
}

int vx_dm_record_ok(const uint8_t *p, uint32_t K, uint32_t V, uint32_t *max_id) {
    float prev = 0;
    for (uint32_t j = 0; j < 2 * K; j++) {
        union { uint32_t u; float f; } v = { vx_le32(p + 8 * j + 4) };
        uint32_t id = vx_le32(p + 8 * j);
        if (max_id && id > *max_id) *max_id = id;
        /* R-D4: ids in range, finite values, K largest descending then K smallest ascending. */
        if (id >= V || !isfinite(v.f)) return 0;
        if (j != 0 && j != K && (j < K ? v.f > prev : v.f < prev)) return 0;
        prev = v.f;
    }
    return 1;
}

uint64_t vx_dm_records_check(const uint8_t *buf, size_t len, uint32_t L, uint32_t F, uint32_t K, uint32_t V,
                             const char *fname, vx_err *err) {
    uint64_t nrec = (uint64_t)L * 2 * F, bad = 0;
    if (vx_dm_header_check(buf, len, L, F, K, fname, err)) return nrec ? nrec : 1;
    for (uint64_t r = 0; r < nrec; r++) {
        int ok = vx_dm_record_ok(buf + VX_DM_HEADER + r * 16 * K, K, V, NULL);
        if (!ok && bad++ == 0) {
            uint64_t f = r % F, lk = r / F;
            vx_fail(err, VX_ECORRUPT, "%s: record %llu (layer %llu, %s, feature %llu) at offset %llu: token id >= %u, "
                    "non-finite value, or misordered", fname, (unsigned long long)r, (unsigned long long)(lk / 2),
                    lk % 2 ? "down" : "gate", (unsigned long long)f,
                    (unsigned long long)(VX_DM_HEADER + r * 16 * K), V);
        }
    }
    return bad;
}

/* ---------------------------------------------------------------- SHA256SUMS */

static int by_name(const void *a, const void *b) {
    return strcmp((*(const vx_sum *const *)a)->name, (*(const vx_sum *const *)b)->name);
}

int vx_content_digest_of(char hex[65], const vx_sum *sums, size_t n, vx_err *err) {
    const vx_sum **p = malloc(sizeof *p * (n ? n : 1));
    char *text = malloc(n * (64 + 2 + sizeof sums->name + 1) + 1);
    if (!p || !text) {
        free(p);
        free(text);
        return vx_fail(err, VX_ENOMEM, "content digest: out of memory");
    }
    size_t k = 0, len = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sums[i].name, "manifest.json") && strcmp(sums[i].name, "SHA256SUMS")) p[k++] = &sums[i];
    qsort(p, k, sizeof *p, by_name); /* strcmp: byte order */
    for (size_t i = 0; i < k; i++) len += (size_t)sprintf(text + len, "%s  %s\n", p[i]->hex, p[i]->name);
    uint8_t d[32];
    vx_sha256(d, text, len);
    vx_hex(hex, d, 32);
    free(p);
    free(text);
    return VX_OK;
}

int vx_sums_parse(vx_sum **out, size_t *n, const uint8_t *buf, size_t len, const char *fname, vx_err *err) {
    *out = NULL;
    *n = 0;
    size_t cap = 0, lineno = 0, cnt = 0;
    vx_sum *s = NULL;
    const uint8_t *p = buf, *end = buf + len;
    int rc = VX_OK;
    if (len > (1u << 20)) return vx_fail(err, VX_ECORRUPT, "%s: %zu bytes, larger than the limit", fname, len);
    while (p < end && rc == VX_OK) {
        lineno++;
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) { rc = vx_fail(err, VX_ECORRUPT, "%s: line %zu: no terminating newline", fname, lineno); break; }
        size_t ll = (size_t)(nl - p);
        /* R-S1: 64 lowercase hex, two characters (space + space or '*'), a plain name. */
        if (ll < 67 || strspn((const char *)p, "0123456789abcdef") < 64 || p[64] != ' ' || (p[65] != ' ' && p[65] != '*')) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: line %zu: expected \"<64 hex>  <name>\"", fname, lineno);
            break;
        }
        size_t nlen = ll - 66;
        const char *name = (const char *)p + 66;
        if (nlen >= sizeof s->name || memchr(name, '/', nlen) || memchr(name, 0, nlen) || name[0] == '.') {
            rc = vx_fail(err, VX_ECORRUPT, "%s: line %zu: file name must be a plain name under 64 bytes", fname, lineno);
            break;
        }
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            vx_sum *t = realloc(s, cap * sizeof *s);
            if (!t) { rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", fname); break; }
            s = t;
        }
        memcpy(s[cnt].hex, p, 64);
        s[cnt].hex[64] = 0;
        memcpy(s[cnt].name, name, nlen);
        s[cnt].name[nlen] = 0;
        for (size_t i = 0; i < cnt && rc == VX_OK; i++)
            if (!strcmp(s[i].name, s[cnt].name))
                rc = vx_fail(err, VX_ECORRUPT, "%s: line %zu: %.*s listed twice", fname, lineno, (int)nlen, name);
        cnt++;
        p = nl + 1;
    }
    if (rc) { free(s); return rc; }
    *out = s;
    *n = cnt;
    return VX_OK;
}

cJSON *vx_manifest_begin(void) {
    cJSON *r = cJSON_CreateObject();
    char ts[32];
    vx_utc_now(ts);
    cJSON_AddStringToObject(r, "tool", "vindex");
    cJSON_AddStringToObject(r, "tool_version", VX_VERSION_STRING);
    cJSON_AddNumberToObject(r, "format_version", VX_INDEX_VERSION);
    cJSON_AddStringToObject(r, "created_utc", ts);
    return r;
}

char *vx_manifest_end(cJSON *r, const vx_meta *m, const char *digest) {
    cJSON *cl = cJSON_AddObjectToObject(r, "clamped");
    cJSON_AddNumberToObject(cl, "embeddings", (double)m->embed_clamped);
    if (m->unembedding == VX_UNEMB_FILE) cJSON_AddNumberToObject(cl, "unembed", (double)m->unembed_clamped);
    cJSON_AddStringToObject(r, "content_digest", digest); /* R-B6 */
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}
