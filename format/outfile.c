/*
 * outfile.c — see outfile.h. Durable writes: O_EXCL create, full writes, fsync before
 * close; the directory itself is fsynced by the caller before the final rename.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>

int vx_out_open(vx_outfile *f, const char *dir, const char *name, vx_err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->name = name;
    f->path = vx_path(dir, name);
    f->sha = EVP_MD_CTX_new();
    f->xxh = XXH3_createState();
    if (!f->path || !f->sha || !f->xxh) {
        vx_out_close(f, NULL);
        return vx_fail(err, VX_ENOMEM, "%s: out of memory", name);
    }
    EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL);
    XXH3_64bits_reset(f->xxh);
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", f->path, strerror(errno));
        vx_out_close(f, NULL);
        return rc;
    }
    return VX_OK;
}

/* Finish the digest of the chunk that ends at f->bytes. */
static int chunk_done(vx_outfile *f, vx_err *err) {
    if (f->n_chunks + 2 > f->cap_chunks) { /* room for this one and close's last */
        uint32_t cap = f->cap_chunks ? 2 * f->cap_chunks : 64;
        void *p = realloc(f->chunks, cap * sizeof *f->chunks);
        if (!p) return vx_fail(err, VX_ENOMEM, "%s: out of memory", f->name);
        f->chunks = p;
        f->cap_chunks = cap;
    }
    unsigned int n = 32;
    if (!f->n_chunks) { /* chunk 0 is everything so far: finish a copy of the whole-file state */
        if (!(f->csha = EVP_MD_CTX_new()) || !EVP_MD_CTX_copy_ex(f->csha, f->sha))
            return vx_fail(err, VX_ENOMEM, "%s: out of memory", f->name);
    }
    EVP_DigestFinal_ex(f->csha, f->chunks[f->n_chunks++], &n);
    EVP_DigestInit_ex(f->csha, EVP_sha256(), NULL);
    return VX_OK;
}

/* Both digests, and the chunk digests (R-I10) split at multiples of VX_SHA_CHUNK. */
static int digest(vx_outfile *f, const unsigned char *p, size_t len, vx_err *err) {
    while (len) {
        /* more bytes follow a boundary: the chunk before it is complete (so a file of
         * exactly VX_SHA_CHUNK bytes, or fewer, has no chunk digests) */
        if (!f->whole_only && f->bytes && f->bytes % VX_SHA_CHUNK == 0 && f->n_chunks < f->bytes / VX_SHA_CHUNK) {
            int rc = chunk_done(f, err);
            if (rc) return rc;
        }
        uint64_t room = VX_SHA_CHUNK - f->bytes % VX_SHA_CHUNK;
        size_t n = room < len ? (size_t)room : len;
        EVP_DigestUpdate(f->sha, p, n);
        XXH3_64bits_update(f->xxh, p, n);
        if (f->n_chunks) EVP_DigestUpdate(f->csha, p, n);
        f->bytes += n;
        p += n;
        len -= n;
    }
    return VX_OK;
}

int vx_out_write(vx_outfile *f, const void *buf, size_t len, vx_err *err) {
    if (!len) return VX_OK;
    const unsigned char *p = buf;
    int rc = digest(f, p, len, err);
    if (rc) return rc;
    /* top up a started chunk; write it when full */
    if (f->held) {
        size_t n = VX_OUT_CHUNK - f->held < len ? VX_OUT_CHUNK - f->held : len;
        memcpy(f->buf + f->held, p, n);
        f->held += n;
        p += n;
        len -= n;
        if (f->held < VX_OUT_CHUNK) return VX_OK;
        f->held = 0;
        if ((rc = vx_write_all(f->fd, f->buf, VX_OUT_CHUNK, f->path, err))) return rc;
    }
    /* whole chunks straight from the caller's buffer, the rest held */
    size_t whole = len / VX_OUT_CHUNK * VX_OUT_CHUNK;
    if (whole && (rc = vx_write_all(f->fd, p, whole, f->path, err))) return rc;
    p += whole;
    len -= whole;
    if (len) {
        if (!f->buf && !(f->buf = malloc(VX_OUT_CHUNK))) return vx_fail(err, VX_ENOMEM, "%s: out of memory", f->path);
        memcpy(f->buf, p, len);
        f->held = len;
    }
    return VX_OK;
}

int vx_out_close(vx_outfile *f, vx_err *err) {
    int rc = VX_OK;
    if (f->fd >= 0 && f->held) rc = vx_write_all(f->fd, f->buf, f->held, f->path, err);
    f->held = 0;
    free(f->buf);
    f->buf = NULL;
    if (f->fd >= 0) {
        if (fsync(f->fd) != 0 && rc == VX_OK) rc = vx_fail(err, VX_EIO, "%s: fsync: %s", f->path, strerror(errno));
        if (close(f->fd) != 0 && rc == VX_OK) rc = vx_fail(err, VX_EIO, "%s: close: %s", f->path, strerror(errno));
        f->fd = -1;
    }
    if (f->sha) {
        uint8_t md[32];
        unsigned int n = 32;
        EVP_DigestFinal_ex(f->sha, md, &n);
        vx_hex(f->sha256, md, 32);
        EVP_MD_CTX_free(f->sha);
        f->sha = NULL;
    }
    if (f->csha) { /* the last chunk, never empty (chunk_done runs only when bytes follow) */
        unsigned int n = 32;
        EVP_DigestFinal_ex(f->csha, f->chunks[f->n_chunks++], &n);
        EVP_MD_CTX_free(f->csha);
        f->csha = NULL;
    }
    if (f->xxh) {
        XXH64_canonical_t c;
        XXH64_canonicalFromHash(&c, XXH3_64bits_digest(f->xxh));
        vx_hex(f->xxh3, c.digest, 8);
        XXH3_freeState(f->xxh);
        f->xxh = NULL;
    }
    free(f->path);
    f->path = NULL;
    return rc;
}

void vx_out_release(vx_outfile *f) {
    free(f->chunks);
    f->chunks = NULL;
    f->n_chunks = f->cap_chunks = 0;
}

int vx_out_file(vx_outfile *f, const char *dir, const char *name, const void *buf, size_t len, vx_err *err) {
    int rc = vx_out_open(f, dir, name, err);
    if (rc) return rc;
    rc = vx_out_write(f, buf, len, err);
    int rc2 = vx_out_close(f, err);
    return rc ? rc : rc2;
}

const char *const vx_data_files[7] = { "gate_vectors.bin", "down_features.bin", "embeddings.bin", "down_meta.bin",
                                       "norms.bin", "vocab.bin", "tokenizer.json" };

/* The digests of a written file into its file-table entry (R-I9, R-I10). */
static int copy_digests(vx_file_meta *fm, const vx_outfile *f, vx_err *err) {
    memcpy(fm->xxh3, f->xxh3, sizeof fm->xxh3);
    memcpy(fm->sha256, f->sha256, sizeof fm->sha256);
    fm->chunks = NULL;
    fm->n_chunks = 0;
    fm->chunk_bytes = 0;
    if (!f->n_chunks) return VX_OK;
    if (!(fm->chunks = malloc(f->n_chunks * sizeof *fm->chunks))) return vx_fail(err, VX_ENOMEM, "%s: out of memory", f->name);
    memcpy(fm->chunks, f->chunks, f->n_chunks * sizeof *fm->chunks);
    fm->n_chunks = f->n_chunks;
    fm->chunk_bytes = VX_SHA_CHUNK;
    return VX_OK;
}

int vx_meta_set_files(vx_meta *m, const vx_outfile of[7], vx_err *err) {
    const uint64_t L = m->num_layers, F = m->num_feats, H = m->hidden_size, V = m->vocab_size;
    const struct { const char *dt; int nd; uint64_t s[3]; } shapes[7] = {
        { "f16", 3, { L, F, H } }, { "f16", 3, { L, F, H } }, { "f16", 2, { V, H } },
        { "u8", 1, { of[3].bytes } }, { "f32", 1, { of[4].bytes / 4 } }, { "u8", 1, { of[5].bytes } },
        { "json", 1, { of[6].bytes } },
    };
    m->n_files = 0;
    for (int i = 0; i < 7; i++) {
        vx_file_meta *f = &m->files[m->n_files++];
        snprintf(f->name, sizeof f->name, "%s", vx_data_files[i]);
        f->bytes = of[i].bytes;
        snprintf(f->dtype, sizeof f->dtype, "%s", shapes[i].dt);
        f->ndim = shapes[i].nd;
        memcpy(f->shape, shapes[i].s, sizeof shapes[i].s);
        int rc = copy_digests(f, &of[i], err);
        if (rc) return rc;
    }
    return VX_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const vx_outfile *const *)a)->name, (*(const vx_outfile *const *)b)->name);
}

int vx_sums_write(vx_outfile *sums, const char *dir, const vx_outfile *of, size_t n, vx_err *err) {
    char text[VX_N_FILES * 100];
    const vx_outfile *p[VX_N_FILES];
    size_t len = 0, k = 0;
    for (size_t j = 0; j < n && k < VX_N_FILES; j++)
        if (of[j].name && &of[j] != sums) p[k++] = &of[j];
    qsort(p, k, sizeof *p, by_name); /* R-S1: byte order of the names */
    for (size_t j = 0; j < k; j++) len += (size_t)snprintf(text + len, sizeof text - len, "%s  %s\n", p[j]->sha256, p[j]->name);
    return vx_out_file(sums, dir, "SHA256SUMS", text, len, err);
}

static int add_file(vx_meta *m, const vx_outfile *f, const char *dtype, int ndim, const uint64_t *shape, vx_err *err) {
    if (m->n_files >= VX_MAX_META_FILES || ndim > 4) return VX_OK;
    vx_file_meta *fm = &m->files[m->n_files++];
    memset(fm, 0, sizeof *fm);
    snprintf(fm->name, sizeof fm->name, "%s", f->name);
    fm->bytes = f->bytes;
    snprintf(fm->dtype, sizeof fm->dtype, "%s", dtype);
    fm->ndim = ndim;
    for (int i = 0; i < ndim; i++) fm->shape[i] = shape[i];
    return copy_digests(fm, f, err);
}

int vx_meta_add_battery_files(vx_meta *m, const vx_outfile of[VX_N_FILES], int unembed, vx_err *err) {
    const uint64_t L = m->num_layers, F = m->num_feats, H = m->hidden_size, V = m->vocab_size;
    const uint64_t sh_spec[3] = { L, 2, H }, sh_mom[4] = { L, 2, F, 4 }, sh_neur[1] = { m->neurons_bytes / 4 },
                   sh_unemb[2] = { V, H };
    int rc;
    if ((rc = add_file(m, &of[VX_OF_SPECTRA], "f32", 3, sh_spec, err)) ||
        (rc = add_file(m, &of[VX_OF_NEURONS], "f32", 1, sh_neur, err)) ||
        (rc = add_file(m, &of[VX_OF_MOMENTS], "f32", 4, sh_mom, err)))
        return rc;
    return unembed ? add_file(m, &of[VX_OF_UNEMBED], "f16", 2, sh_unemb, err) : VX_OK;
}

int vx_digest_of_files(char hex[65], const vx_outfile *of, size_t n, vx_err *err) {
    vx_sum s[VX_N_FILES];
    size_t k = 0;
    for (size_t j = 0; j < n && k < VX_N_FILES; j++)
        if (of[j].name) {
            snprintf(s[k].name, sizeof s[k].name, "%s", of[j].name);
            memcpy(s[k].hex, of[j].sha256, 65);
            k++;
        }
    return vx_content_digest_of(hex, s, k, err);
}
