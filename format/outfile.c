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

int vx_out_write(vx_outfile *f, const void *buf, size_t len, vx_err *err) {
    if (!len) return VX_OK;
    EVP_DigestUpdate(f->sha, buf, len);
    XXH3_64bits_update(f->xxh, buf, len);
    f->bytes += len;
    return vx_write_all(f->fd, buf, len, f->path, err);
}

int vx_out_close(vx_outfile *f, vx_err *err) {
    int rc = VX_OK;
    if (f->fd >= 0) {
        if (fsync(f->fd) != 0) rc = vx_fail(err, VX_EIO, "%s: fsync: %s", f->path, strerror(errno));
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

int vx_out_file(vx_outfile *f, const char *dir, const char *name, const void *buf, size_t len, vx_err *err) {
    int rc = vx_out_open(f, dir, name, err);
    if (rc) return rc;
    rc = vx_out_write(f, buf, len, err);
    int rc2 = vx_out_close(f, err);
    return rc ? rc : rc2;
}
