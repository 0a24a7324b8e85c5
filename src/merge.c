/*
 * merge.c — parts → vindex (spec/parts.md). A part is what `extract --layers A-B` writes:
 * the per-layer files of layers A..B, the whole-model files when A = 0, and an index.json
 * whose "part" object names the checkpoint, the options and the build. Merging:
 *
 *   1. load every part: index.json parsed as a part (format/vxmeta.c), SHA256SUMS listing
 *      exactly its files, index.json's own SHA-256 (P5);
 *   2. show that the parts belong together: one build, one checkpoint (config.json and
 *      every source file a part hashed), one set of options, one model description (P6);
 *   3. show that their layer ranges cover 0..L-1 exactly once (P7);
 *   4. write the vindex: per-layer files concatenated in layer order (down_meta.bin under
 *      one new header, neurons.bin blocks re-based), whole-model files copied, index.json,
 *      manifest.json and SHA256SUMS written exactly as vx_extract writes them — every
 *      data file is checked against its part's SHA256SUMS while it is copied;
 *   5. verify the result (vx_verify) and rename it into place (R-E9).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "outdir.h"
#include "outfile.h"
#include "vindex.h"
#include "vxmeta.h"

#define COPY_CHUNK ((size_t)4 << 20)

typedef struct part {
    const char *dir;
    vx_meta meta;
    cJSON *p;              /* the "part" object */
    vx_sum *sums;
    size_t nsums;
} part;

static const char *sum_of(const part *pt, const char *name) {
    for (size_t i = 0; i < pt->nsums; i++)
        if (!strcmp(pt->sums[i].name, name)) return pt->sums[i].hex;
    return NULL;
}

static const char *pstr(const part *pt, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pt->p, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* P5: index.json parsed as a part, SHA256SUMS listing exactly index.json and the files
 * index.json lists, index.json's own hash. The data files are hashed when copied. */
static int load_part(part *pt, const char *dir, vx_err *err) {
    memset(pt, 0, sizeof *pt);
    pt->dir = dir;
    char *path = vx_path(dir, "index.json"), *buf = NULL, *sbuf = NULL, where[600];
    size_t len, slen;
    int rc;
    if (!path) return vx_fail(err, VX_ENOMEM, "out of memory");
    snprintf(where, sizeof where, "%s/index.json", dir);
    rc = vx_read_file(&buf, &len, path, VX_MAX_INDEX_JSON, err);
    free(path);
    if (rc) return rc;
    if ((rc = vx_meta_parse_part(&pt->meta, (const uint8_t *)buf, len, where, err))) goto out;
    if (!(pt->p = cJSON_Parse(pt->meta.part.json))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if (!(path = vx_path(dir, "SHA256SUMS"))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    snprintf(where, sizeof where, "%s/SHA256SUMS", dir);
    rc = vx_read_file(&sbuf, &slen, path, 1u << 20, err);
    free(path);
    if (rc || (rc = vx_sums_parse(&pt->sums, &pt->nsums, (const uint8_t *)sbuf, slen, where, err))) goto out;
    for (size_t i = 0; i < pt->nsums; i++)
        if (strcmp(pt->sums[i].name, "index.json") && !vx_meta_file(&pt->meta, pt->sums[i].name)) {
            rc = vx_fail(err, VX_ECORRUPT, "%s: lists %s, which index.json does not", where, pt->sums[i].name);
            goto out;
        }
    for (size_t i = 0; i <= pt->meta.n_files; i++) {
        const char *name = i < pt->meta.n_files ? pt->meta.files[i].name : "index.json";
        if (!sum_of(pt, name)) { rc = vx_fail(err, VX_ECORRUPT, "%s: does not list %s", where, name); goto out; }
    }
    uint8_t h[32];
    char hex[65];
    vx_sha256(h, buf, len);
    vx_hex(hex, h, 32);
    if (strcmp(hex, sum_of(pt, "index.json")))
        rc = vx_fail(err, VX_ECORRUPT, "%s/index.json: SHA-256 differs from its SHA256SUMS: the part was altered after "
                     "it was written", dir);
out:
    free(buf);
    free(sbuf);
    return rc;
}

static void free_part(part *pt) {
    vx_meta_free(&pt->meta);
    cJSON_Delete(pt->p);
    free(pt->sums);
}

/* P6: the parts come from one build, one checkpoint, one set of options. */
static int same_origin(const vx_merge_opts *o, const part *a, const part *b, vx_err *err) {
    const char *ta = pstr(a, "tool_version"), *tb = pstr(b, "tool_version");
    if (!ta || !tb || strcmp(ta, tb))
        return vx_fail(err, VX_EMISMATCH, "%s was written by vindex %s, %s by vindex %s: extract every part with one build",
                       a->dir, ta ? ta : "(unknown)", b->dir, tb ? tb : "(unknown)");
    const char *ca = pstr(a, "config_sha256"), *cb = pstr(b, "config_sha256");
    if (!ca || !cb || strcmp(ca, cb))
        return vx_fail(err, VX_EMISMATCH, "%s and %s come from different checkpoints: config.json SHA-256 %.12s… vs %.12s…",
                       a->dir, b->dir, ca ? ca : "(none)", cb ? cb : "(none)");
    const cJSON *fa = cJSON_GetObjectItemCaseSensitive(a->p, "source_files"),
                *fb = cJSON_GetObjectItemCaseSensitive(b->p, "source_files");
    if (!cJSON_IsArray(fa) || !cJSON_IsArray(fb) || cJSON_GetArraySize(fa) != cJSON_GetArraySize(fb))
        return vx_fail(err, VX_EMISMATCH, "%s and %s come from different checkpoints: different source file lists", a->dir,
                       b->dir);
    for (int i = 0; i < cJSON_GetArraySize(fa); i++) {
        const cJSON *x = cJSON_GetArrayItem(fa, i), *y = cJSON_GetArrayItem(fb, i);
        const cJSON *nx = cJSON_GetObjectItemCaseSensitive(x, "name"), *ny = cJSON_GetObjectItemCaseSensitive(y, "name");
        const cJSON *bx = cJSON_GetObjectItemCaseSensitive(x, "bytes"), *by = cJSON_GetObjectItemCaseSensitive(y, "bytes");
        const cJSON *sx = cJSON_GetObjectItemCaseSensitive(x, "sha256"), *sy = cJSON_GetObjectItemCaseSensitive(y, "sha256");
        if (!cJSON_IsString(nx) || !cJSON_IsString(ny) || strcmp(nx->valuestring, ny->valuestring) ||
            !cJSON_IsNumber(bx) || !cJSON_IsNumber(by) || bx->valuedouble != by->valuedouble)
            return vx_fail(err, VX_EMISMATCH, "%s and %s come from different checkpoints: source file %d is %s in one, %s in "
                           "the other (or differs in size)", a->dir, b->dir, i, cJSON_IsString(nx) ? nx->valuestring : "?",
                           cJSON_IsString(ny) ? ny->valuestring : "?");
        if (cJSON_IsString(sx) && cJSON_IsString(sy) && strcmp(sx->valuestring, sy->valuestring))
            return vx_fail(err, VX_EMISMATCH, "%s and %s come from different checkpoints: %s has SHA-256 %.12s… in one, "
                           "%.12s… in the other", a->dir, b->dir, nx->valuestring, sx->valuestring, sy->valuestring);
    }
    const cJSON *oa = cJSON_GetObjectItemCaseSensitive(a->p, "options"), *ob = cJSON_GetObjectItemCaseSensitive(b->p, "options");
    if (!cJSON_IsObject(oa) || !cJSON_IsObject(ob) || !cJSON_Compare(oa, ob, 1)) {
        char *sa = cJSON_PrintUnformatted(oa), *sb = cJSON_PrintUnformatted(ob);
        int rc = vx_fail(err, VX_EMISMATCH, "%s and %s were extracted with different options: %s vs %s", a->dir, b->dir,
                         sa ? sa : "?", sb ? sb : "?");
        free(sa);
        free(sb);
        return rc;
    }
    const vx_meta *x = &a->meta, *y = &b->meta;
    const char *what = strcmp(x->model, y->model) ? "model" : strcmp(x->model_type, y->model_type) ? "model_type"
                     : strcmp(x->architecture, y->architecture) ? "architecture"
                     : strcmp(x->source_dtype, y->source_dtype) ? "source_dtype"
                     : x->part.total != y->part.total ? "num_layers" : x->num_feats != y->num_feats ? "num_feats"
                     : x->hidden_size != y->hidden_size ? "hidden_size"
                     : x->intermediate_size != y->intermediate_size ? "intermediate_size"
                     : x->vocab_size != y->vocab_size ? "vocab_size" : x->down_top_k != y->down_top_k ? "down_top_k"
                     : x->embed_scale != y->embed_scale ? "embed_scale" : x->norm_offset != y->norm_offset ? "norm_offset"
                     : x->norm_eps != y->norm_eps ? "norm_eps"
                     : x->tied_embeddings != y->tied_embeddings ? "tied_embeddings"
                     : x->unembedding != y->unembedding ? "unembedding" : NULL;
    if (what)
        return vx_fail(err, VX_EMISMATCH, "%s and %s describe different vindexes: their index.json \"%s\" differ%s", a->dir,
                       b->dir, what, !strcmp(what, "model") ? " (extract every part with the same SRC argument)" : "");
    const char *ka = pstr(a, "blas"), *kb = pstr(b, "blas");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(a->p, "blas_threads"),
                *jb = cJSON_GetObjectItemCaseSensitive(b->p, "blas_threads");
    if (!ka || !kb || strcmp(ka, kb) || !cJSON_IsNumber(ja) || !cJSON_IsNumber(jb) || ja->valuedouble != jb->valuedouble)
        vx_warnf(o->warn, o->ctx, "%s and %s ran with different BLAS kernels or thread counts (%s/%g vs %s/%g): the merged vindex is valid, "
              "but its low-order bits may differ from a single extraction's (spec/parts.md P6)", a->dir, b->dir,
              ka ? ka : "?", cJSON_IsNumber(ja) ? ja->valuedouble : 0.0, kb ? kb : "?",
              cJSON_IsNumber(jb) ? jb->valuedouble : 0.0);
    return VX_OK;
}

/* Copy `name` of a part into `out` from byte `skip` on, after checking its size against
 * index.json and its SHA-256 against the part's SHA256SUMS (P5). */
static int copy_from(vx_outfile *out, const part *pt, const char *name, uint64_t skip, uint8_t *buf, vx_err *err) {
    const vx_file_meta *fm = vx_meta_file(&pt->meta, name);
    char *path = vx_path(pt->dir, name), hex[65];
    uint64_t size = 0;
    int rc, fd = -1;
    if (!path) return vx_fail(err, VX_ENOMEM, "out of memory");
    if ((rc = vx_sha256_file(hex, &size, path, err))) goto out;
    if (!fm || size != fm->bytes) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: %llu bytes, its index.json says %llu", path, (unsigned long long)size,
                     (unsigned long long)(fm ? fm->bytes : 0));
        goto out;
    }
    if (strcmp(hex, sum_of(pt, name))) {
        rc = vx_fail(err, VX_ECORRUPT, "%s: SHA-256 differs from the part's SHA256SUMS: the part was altered or damaged "
                     "after it was written", path);
        goto out;
    }
    struct stat st;
    if ((rc = vx_open_file(&fd, &st, AT_FDCWD, path, path, err))) goto out;
    for (uint64_t at = skip; at < size;) {
        size_t n = size - at < COPY_CHUNK ? (size_t)(size - at) : COPY_CHUNK;
        errno = 0;
        size_t got = vx_pread_full(fd, buf, n, at); /* short reads and EINTR retried */
        if (got < n) {
            rc = vx_fail(err, VX_EIO, "%s: read at %llu: %s", path, (unsigned long long)(at + got),
                         errno ? strerror(errno) : "file shrank");
            goto out;
        }
        if ((rc = vx_out_write(out, buf, got, err))) goto out;
        at += got;
    }
    /* a file that changed between the hash and the copy would be caught by verify below */
out:
    if (fd >= 0) close(fd);
    free(path);
    return rc;
}

/* manifest.json as vx_extract writes it (spec §5), the provenance from the parts. */
static char *manifest_json(const part *first, const part *ps, size_t n, const vx_meta *mm, const char *digest, int *rc,
                           vx_err *err) {
    cJSON *r = vx_manifest_begin();
    cJSON_AddItemToObject(r, "source", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first->p, "source"), 1));
    cJSON *files = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first->p, "source_files"), 1);
    cJSON_AddItemToObject(r, "source_files", files);
    /* P4: each file's SHA-256 from whichever part hashed it (same_origin showed they agree) */
    for (int i = 0; i < cJSON_GetArraySize(files); i++) {
        cJSON *f = cJSON_GetArrayItem(files, i);
        const char *hex = NULL;
        for (size_t k = 0; k < n && !hex; k++) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ps[k].p, "source_files"), i), "sha256");
            if (cJSON_IsString(s)) hex = s->valuestring;
        }
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
        if (!hex || !cJSON_IsString(nm) || !cJSON_IsObject(f)) {
            *rc = vx_fail(err, VX_EMISMATCH, "no part hashed the source file %s: parts missing",
                          cJSON_IsString(nm) ? nm->valuestring : "?");
            cJSON_Delete(r);
            return NULL;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(f, "sha256", cJSON_CreateString(hex));
    }
    const char *cfg = pstr(first, "config_sha256");
    if (cfg) cJSON_AddStringToObject(r, "config_sha256", cfg);
    cJSON_AddItemToObject(r, "options", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(first->p, "options"), 1));
    char *s = vx_manifest_end(r, mm, digest);
    if (!s) *rc = vx_fail(err, VX_ENOMEM, "out of memory");
    return s;
}

typedef struct problems { char first[1024]; int n; } problems;
static void on_problem(void *ctx, const char *line) {
    problems *p = ctx;
    if (!p->n++) snprintf(p->first, sizeof p->first, "%s", line);
}

/* "layer 5" or "layers 5-8" */
static const char *layers_text(char *b, size_t cap, uint32_t lo, uint32_t hi) {
    if (lo == hi) snprintf(b, cap, "layer %u", lo);
    else snprintf(b, cap, "layers %u-%u", lo, hi);
    return b;
}

static int by_first(const void *a, const void *b) {
    const part *x = a, *y = b;
    return x->meta.part.first < y->meta.part.first ? -1 : x->meta.part.first > y->meta.part.first;
}

int vx_merge(const vx_merge_opts *o, vx_err *err) {
    if (!o || !o->out || !*o->out || !o->parts || !o->n_parts)
        return vx_fail(err, VX_EUSAGE, "merge: at least one PART and -o OUT are required");
    part *ps = calloc(o->n_parts, sizeof *ps);
    uint8_t *buf = malloc(COPY_CHUNK);
    char *json = NULL, *manifest = NULL;
    vx_meta mm;
    memset(&mm, 0, sizeof mm);
    vx_outdir od;
    memset(&od, 0, sizeof od);
    vx_outfile of[VX_N_FILES];
    memset(of, 0, sizeof of);
    for (int i = 0; i < VX_N_FILES; i++) of[i].fd = -1;
    size_t loaded = 0;
    int rc = VX_OK;
    if (!ps || !buf) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto done; }
    for (; loaded < o->n_parts; loaded++)
        if ((rc = load_part(&ps[loaded], o->parts[loaded], err))) { loaded++; goto done; }
    for (size_t i = 1; i < o->n_parts; i++)
        if ((rc = same_origin(o, &ps[0], &ps[i], err))) goto done;

    /* P7: the ranges, in layer order, tile 0..L-1 */
    qsort(ps, o->n_parts, sizeof *ps, by_first);
    uint32_t L = ps[0].meta.part.total, next = 0;
    for (size_t i = 0; i < o->n_parts; i++) {
        const vx_part_info *p = &ps[i].meta.part;
        char t[64];
        if (p->first > next) {
            rc = vx_fail(err, VX_EMISMATCH, "no part holds %s (the model has layers 0-%u)",
                         layers_text(t, sizeof t, next, p->first - 1), L - 1);
            goto done;
        }
        if (p->first < next) {
            rc = vx_fail(err, VX_EMISMATCH, "%s (layers %u-%u) and %s (layers %u-%u) both hold layer %u: give each layer "
                         "once", ps[i - 1].dir, ps[i - 1].meta.part.first, ps[i - 1].meta.part.last, ps[i].dir, p->first,
                         p->last, p->first);
            goto done;
        }
        next = p->last + 1;
    }
    if (next != L) {
        char t[64];
        rc = vx_fail(err, VX_EMISMATCH, "no part holds %s (the model has layers 0-%u)", layers_text(t, sizeof t, next, L - 1),
                     L - 1);
        goto done;
    }

    /* the merged index.json: the first part's description, every part's layers */
    const part *first = &ps[0];
    const vx_meta *fm = &first->meta;
    mm = *fm;
    mm.layers = calloc(L, sizeof *mm.layers);
    mm.norms = fm->norms;          /* moved below, once nothing can fail in between */
    mm.is_part = 0;
    memset(&mm.part, 0, sizeof mm.part);
    mm.n_files = 0; /* the first part's table (and its chunk digests) stays the part's; ours is set below */
    mm.num_layers = L;
    if (!mm.layers) { mm.norms = NULL; mm.n_norms = 0; rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto done; }
    ps[0].meta.norms = NULL;
    ps[0].meta.n_norms = 0;
    uint64_t noff = 0;
    for (size_t i = 0; i < o->n_parts; i++) {
        vx_meta *pm = &ps[i].meta;
        for (uint32_t k = 0; k < pm->num_layers; k++) {
            vx_layer_meta *dst = &mm.layers[pm->part.first + k];
            *dst = pm->layers[k];
            pm->layers[k].gate_sigma = pm->layers[k].down_sigma = NULL; /* moved */
            dst->offset = (uint64_t)dst->layer * mm.num_feats * mm.hidden_size * 2;
            dst->neurons_offset = noff + pm->layers[k].neurons_offset;
        }
        noff += pm->neurons_bytes;
    }
    mm.neurons_bytes = noff;

    if ((rc = vx_outdir_begin(&od, o->out, o->force, o->warn, o->ctx, err))) goto done;
    const char *tmp = od.tmp;
    static const char *const per_layer[] = { "gate_vectors.bin", "down_features.bin", "spectra.bin", "neurons.bin",
                                             "moments.bin" };
    static const int slot[] = { 0, 1, VX_OF_SPECTRA, VX_OF_NEURONS, VX_OF_MOMENTS };
    for (int f = 0; f < 5; f++) {
        if ((rc = vx_out_open(&of[slot[f]], tmp, per_layer[f], err))) goto done;
        for (size_t i = 0; i < o->n_parts && rc == VX_OK; i++) rc = copy_from(&of[slot[f]], &ps[i], per_layer[f], 0, buf, err);
        if (rc || (rc = vx_out_close(&of[slot[f]], err))) goto done;
    }
    /* down_meta.bin: one header for all L layers, then each part's records (P2) */
    uint8_t hdr[VX_DM_HEADER];
    if ((rc = vx_out_open(&of[3], tmp, "down_meta.bin", err))) goto done;
    for (size_t i = 0; i < o->n_parts; i++) {
        char *path = vx_path(ps[i].dir, "down_meta.bin");
        int fd = -1;
        struct stat st;
        vx_err oe = { 0 };
        int ok = path && vx_open_file(&fd, &st, AT_FDCWD, path, path, &oe) == VX_OK;
        size_t got = ok ? vx_pread_full(fd, hdr, sizeof hdr, 0) : 0;
        if (fd >= 0) close(fd);
        rc = !path ? vx_fail(err, VX_ENOMEM, "out of memory")
           : !ok || got != sizeof hdr ? vx_fail(err, VX_ECORRUPT, "%s: cannot read its header", path)
           : vx_dm_header_check(hdr, (size_t)st.st_size, ps[i].meta.num_layers, mm.num_feats, mm.down_top_k, path, err);
        free(path);
        if (rc) goto done;
    }
    vx_dm_header_write(hdr, L, mm.num_feats, mm.down_top_k);
    if ((rc = vx_out_write(&of[3], hdr, sizeof hdr, err))) goto done;
    for (size_t i = 0; i < o->n_parts; i++)
        if ((rc = copy_from(&of[3], &ps[i], "down_meta.bin", VX_DM_HEADER, buf, err))) goto done;
    if ((rc = vx_out_close(&of[3], err))) goto done;
    /* the whole-model files, from the part that starts at layer 0 (P3) */
    static const char *const whole[] = { "embeddings.bin", "norms.bin", "vocab.bin", "tokenizer.json", "unembed.bin" };
    static const int wslot[] = { 2, 4, 5, 6, VX_OF_UNEMBED };
    for (int f = 0; f < 5; f++) {
        if (wslot[f] == VX_OF_UNEMBED && mm.unembedding != VX_UNEMB_FILE) continue;
        if ((rc = vx_out_open(&of[wslot[f]], tmp, whole[f], err)) || (rc = copy_from(&of[wslot[f]], first, whole[f], 0, buf, err)) ||
            (rc = vx_out_close(&of[wslot[f]], err)))
            goto done;
    }

    /* index.json, the digest, manifest.json and SHA256SUMS, as vx_extract writes them */
    if ((rc = vx_meta_set_files(&mm, of, err)) ||
        (rc = vx_meta_add_battery_files(&mm, of, mm.unembedding == VX_UNEMB_FILE, err)))
        goto done;
    if (!(json = vx_meta_write(&mm))) { rc = vx_fail(err, VX_ENOMEM, "index.json: out of memory"); goto done; }
    if ((rc = vx_out_file(&of[VX_OF_INDEX], tmp, "index.json", json, strlen(json), err))) goto done;
    char digest[65];
    if ((rc = vx_digest_of_files(digest, of, VX_N_FILES, err))) goto done;
    if (!(manifest = manifest_json(first, ps, o->n_parts, &mm, digest, &rc, err))) goto done;
    if ((rc = vx_out_file(&of[VX_OF_MANIFEST], tmp, "manifest.json", manifest, strlen(manifest), err)) ||
        (rc = vx_sums_write(&of[VX_OF_SUMS], tmp, of, VX_N_FILES, err)))
        goto done;

    /* the result must be a vindex verify accepts before it takes OUT's name */
    problems pr = { "", 0 };
    vx_err ve = { 0 };
    int vr = vx_verify(tmp, o->threads, on_problem, &pr, &pr.n, &ve);
    if (vr == VX_EMISMATCH || pr.n) {
        rc = vx_fail(err, VX_ECORRUPT, "the merged vindex does not verify (%d problem%s; first: %s)", pr.n, pr.n == 1 ? "" : "s",
                     pr.first);
        goto done;
    }
    if (vr) { rc = vx_fail(err, vr, "checking the merged vindex: %s", ve.msg); goto done; }
    rc = vx_outdir_commit(&od, o->warn, o->ctx, err);

done:
    for (int i = 0; i < VX_N_FILES; i++) { vx_out_close(&of[i], NULL); vx_out_release(&of[i]); }
    vx_outdir_end(&od);
    vx_meta_free(&mm);
    for (size_t i = 0; i < loaded; i++) free_part(&ps[i]);
    free(ps);
    free(buf);
    free(json);
    free(manifest);
    return rc;
}
