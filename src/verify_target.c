/*
 * verify_target.c — vx_verify_target: one entry point for the three things `verify`
 * accepts (a directory, an archive or stdin, a repo id in the Hugging Face cache), and the
 * anchors for each (spec/archive.md A-V*, A-H*).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "hfcache.h"
#include "kern.h"

typedef struct sink {
    void (*report)(void *, const char *);
    void *ctx;
    int count;
} sink;

static void problem(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(sink *s, const char *fmt, ...) {
    char b[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    s->count++;
    if (s->report) s->report(s->ctx, b);
}

static int verify_archive(vx_verify_result *res, int fd, const char *name, const vx_anchor *a, int threads, sink *s,
                          vx_err *err) {
    snprintf(res->kind, sizeof res->kind, "archive");
    snprintf(res->target, sizeof res->target, "%s", name);
    arc_check c;
    vx_zst_stats zs = { 0 };
    int rc = arc_check_init(&c, name, s->report, s->ctx, 0, NULL, 0, err);
    if (rc == VX_OK) rc = arc_stream(&c, fd, threads, &zs, err);
    if (rc == VX_OK) rc = arc_check_finish(&c, res, a, err);
    res->compressed = zs.in_bytes;
    res->problems = c.problems;
    arc_check_free(&c);
    if (rc == VX_OK && res->problems)
        rc = vx_fail(err, VX_EMISMATCH, "%d problem%s found", res->problems, res->problems == 1 ? "" : "s");
    return rc;
}

/* The directory's checks (vx_verify), then its digest and the anchors from its SHA256SUMS
 * (which vx_verify has just proved to match every file when it found no problem). The
 * SHA256SUMS entries are left in *sums for the caller (may be NULL). */
static int verify_dir(vx_verify_result *res, const char *dir, unsigned flags, const vx_anchor *a, int threads, sink *s,
                      vx_sum **sums_out, size_t *nsums_out, vx_err *err) {
    if (!res->kind[0]) snprintf(res->kind, sizeof res->kind, "directory");
    snprintf(res->target, sizeof res->target, "%s", dir);
    int problems = 0;
    vx_err e = { 0 };
    int rc = vx_verify_ex(dir, threads, flags, s->report, s->ctx, &problems, &e);
    if (rc && rc != VX_EMISMATCH) {
        if (err) *err = e;
        return rc;
    }
    s->count += problems;
    char *path = vx_path(dir, "SHA256SUMS"), *buf = NULL;
    size_t len = 0, n = 0;
    vx_sum *sums = NULL;
    if (!path) return vx_fail(err, VX_ENOMEM, "out of memory");
    if (vx_read_file(&buf, &len, path, 1u << 20, NULL) == VX_OK) vx_sums_parse(&sums, &n, (const uint8_t *)buf, len, path, NULL);
    free(buf);
    free(path);
    res->members = (int)n + 1;
    for (size_t i = 0; i <= n; i++) {
        struct stat st;
        char *p = vx_path(dir, i < n ? sums[i].name : "SHA256SUMS");
        if (p && stat(p, &st) == 0) res->bytes += (uint64_t)st.st_size;
        free(p);
    }
    if (sums) {
        int k = arc_anchor(res, sums, n, a, s->report, s->ctx, err);
        if (k < 0) { free(sums); return k; }
        s->count += k;
    } else if (a && (a->digest || a->sums_path)) problem(s, "SHA256SUMS: unreadable, so the anchor cannot be checked");
    if (sums_out) {
        *sums_out = sums;
        *nsums_out = n;
    } else free(sums);
    return VX_OK;
}

/* Git's name for a file that is not in LFS: SHA-1 of "blob <size>\0" and the bytes. */
static int git_blob_sha1(char out[41], const char *path, vx_err *err) {
    int fd;
    struct stat st;
    int rc = vx_open_file(&fd, &st, AT_FDCWD, path, path, err);
    if (rc) return rc;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t *b = malloc(1 << 20);
    if (!c || !b) rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", path);
    if (rc == VX_OK) {
        char h[40];
        int hl = snprintf(h, sizeof h, "blob %lld", (long long)st.st_size);
        EVP_DigestInit_ex(c, EVP_sha1(), NULL);
        EVP_DigestUpdate(c, h, (size_t)hl + 1); /* with its NUL */
        for (;;) {
            ssize_t r = read(fd, b, 1 << 20);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) { rc = vx_fail(err, VX_EIO, "%s: read: %s", path, strerror(errno)); break; }
            if (!r) break;
            EVP_DigestUpdate(c, b, (size_t)r);
        }
        uint8_t md[20];
        unsigned int mdn = 20;
        EVP_DigestFinal_ex(c, md, &mdn);
        vx_hex(out, md, 20);
    }
    EVP_MD_CTX_free(c);
    free(b);
    close(fd);
    return rc;
}

/* A-H2: every snapshot entry is a link to blobs/<name> and <name> is its content's hash. */
static int check_blobs(vx_verify_result *res, const char *snap, const char *repo, const vx_sum *sums, size_t n, sink *s,
                       vx_err *err) {
    char *bdir = vx_path(repo, "blobs"), breal[PATH_MAX];
    if (!bdir) return vx_fail(err, VX_ENOMEM, "out of memory");
    if (!realpath(bdir, breal)) {
        problem(s, "%s: the cache has no blobs directory", bdir);
        free(bdir);
        return VX_OK;
    }
    free(bdir);
    size_t bl = strlen(breal);
    DIR *d = opendir(snap);
    if (!d) return vx_fail(err, VX_EIO, "%s: cannot list: %s", snap, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = vx_path(snap, e->d_name), real[PATH_MAX];
        struct stat st;
        if (!p) { closedir(d); return vx_fail(err, VX_ENOMEM, "out of memory"); }
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode)) {
            problem(s, "%s: not a link into the cache's blobs/, so its blob name cannot be checked", e->d_name);
        } else if (!realpath(p, real) || strncmp(real, breal, bl) || real[bl] != '/' || strchr(real + bl + 1, '/')) {
            problem(s, "%s: a link that does not lead to a file in %s", e->d_name, breal);
        } else {
            const char *blob = real + bl + 1;
            char got[65] = "";
            vx_err ee = { 0 };
            if (vx_is_hex(blob, 64)) { /* an LFS file: named by its SHA-256 */
                for (size_t i = 0; i < n; i++)
                    if (!strcmp(sums[i].name, e->d_name)) memcpy(got, sums[i].hex, 65);
                if (!got[0] && vx_sha256_file(got, NULL, p, &ee)) problem(s, "%s: %s", e->d_name, ee.msg);
            } else if (vx_is_hex(blob, 40)) { /* a git file: named by its blob SHA-1 */
                if (git_blob_sha1(got, p, &ee)) problem(s, "%s: %s", e->d_name, ee.msg);
            } else problem(s, "%s: blob %s is named by neither a SHA-256 nor a git SHA-1", e->d_name, blob);
            if (got[0]) {
                res->blobs_checked++;
                if (strcmp(got, blob))
                    problem(s, "%s: blob name %s, but the content hashes to %s", e->d_name, blob, got);
            }
        }
        free(p);
    }
    closedir(d);
    return VX_OK;
}

static int verify_hf(vx_verify_result *res, const char *id, const char *revision, const vx_anchor *a, int threads, unsigned flags,
                     sink *s, vx_err *err) {
    char *snap, *repo, *commit;
    int rc = vx_hf_resolve(&snap, &repo, &commit, id, revision, err);
    if (rc) return rc;
    snprintf(res->kind, sizeof res->kind, "hf-cache");
    vx_sum *sums = NULL;
    size_t n = 0;
    rc = verify_dir(res, snap, flags | VX_VERIFY_LINKS_OK, a, threads, s, &sums, &n, err);
    if (rc == VX_OK) rc = check_blobs(res, snap, repo, sums, n, s, err);
    free(sums);
    free(snap);
    free(repo);
    free(commit);
    return rc;
}

int vx_verify_target(vx_verify_result *res, const char *target, const char *revision, const vx_anchor *anchor,
                     int threads, void (*report)(void *ctx, const char *line), void *ctx, vx_err *err) {
    return vx_verify_target_ex(res, target, revision, anchor, threads, 0, report, ctx, err);
}

int vx_verify_target_ex(vx_verify_result *res, const char *target, const char *revision, const vx_anchor *anchor,
                        int threads, unsigned flags, void (*report)(void *ctx, const char *line), void *ctx, vx_err *err) {
    flags &= VX_VERIFY_WHOLE_FILES;
    if (threads <= 0) threads = vx_kern_threads();
    memset(res, 0, sizeof *res);
    sink s = { report, ctx, 0 };
    struct stat st;
    int rc;
    if (!strcmp(target, "-")) return verify_archive(res, STDIN_FILENO, "-", anchor, threads, &s, err);
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) rc = verify_dir(res, target, flags, anchor, threads, &s, NULL, NULL, err);
    else if (stat(target, &st) == 0) {
        int fd = open(target, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return vx_fail(err, VX_EIO, "%s: cannot open: %s", target, strerror(errno));
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        rc = verify_archive(res, fd, target, anchor, threads, &s, err);
        close(fd);
        return rc;
    } else if (vx_hf_is_repo_id(target)) rc = verify_hf(res, target, revision, anchor, threads, flags, &s, err);
    else
        return vx_fail(err, VX_ENOTFOUND, "%s: no such directory or archive, and not a repo id (org/name) for the "
                       "Hugging Face cache", target);
    if (rc) return rc;
    res->problems = s.count;
    return s.count ? vx_fail(err, VX_EMISMATCH, "%d problem%s found", s.count, s.count == 1 ? "" : "s") : VX_OK;
}
