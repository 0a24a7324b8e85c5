/*
 * unpack.c — vx_unpack (spec/archive.md A-U*): the streaming checker of `verify` runs over
 * the archive with a writer behind it, so no byte is written that the checker has not
 * already bounded: every member's declared size is checked (against its cap, or against
 * index.json) before its first byte, and the total against the free space once index.json
 * is known. An archive whose data members come before index.json (as GNU tar may order
 * them) is verified whole first, without writing, then read again with index.json known.
 * Output goes to a temporary directory that is renamed into place only when everything
 * held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "archive.h"
#include "outfile.h"
#include "vxindex.h"

typedef struct unp {
    const char *tmp;
    vx_outfile f;
    int open;
} unp;

static int w_member(void *ctx, int m, uint64_t size, vx_err *err) {
    unp *u = ctx;
    (void)size;
    int rc = vx_out_open(&u->f, u->tmp, arc_members[m].name, err);
    u->f.whole_only = 1; /* the member's chunk digests travel in its index.json */
    u->open = rc == VX_OK;
    return rc;
}

static int w_data(void *ctx, const uint8_t *p, size_t n, vx_err *err) {
    unp *u = ctx;
    return vx_out_write(&u->f, p, n, err);
}

static int w_end(void *ctx, vx_err *err) {
    unp *u = ctx;
    u->open = 0;
    return vx_out_close(&u->f, err);
}

/* A-U4: the whole vindex must fit before its big members are written. */
static int w_meta(void *ctx, const vx_meta *m, vx_err *err) {
    unp *u = ctx;
    uint64_t need = 0;
    for (size_t i = 0; i < m->n_files; i++)
        if (!vx_add_ok(need, m->files[i].bytes, &need)) need = UINT64_MAX;
    struct statvfs sv;
    if (statvfs(u->tmp, &sv) == 0) {
        uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (need > avail)
            return vx_fail(err, VX_EIO, "index.json: the vindex needs %llu bytes, %llu are free where it would be unpacked",
                           (unsigned long long)need, (unsigned long long)avail);
    }
    return VX_OK;
}

/* One pass over the archive from its start. With writer `w` NULL nothing is written. */
static int pass(arc_check *c, int fd, const char *what, const arc_writer *w, int need_meta_first, int keep_index,
                const uint8_t *known, size_t known_len, int threads, vx_verify_result *res, vx_err *err) {
    int rc = arc_check_init(c, what, NULL, NULL, 1, known, known_len, err);
    c->w = w;
    c->need_meta_first = need_meta_first;
    c->keep_index = keep_index;
    if (rc == VX_OK) rc = arc_stream(c, fd, threads, NULL, err);
    if (rc == VX_OK) {
        vx_verify_result r;
        memset(&r, 0, sizeof r);
        rc = arc_check_finish(c, res ? res : &r, NULL, err);
    }
    return rc;
}

static int split_path(char *parent, char *base, size_t cap, const char *out) {
    char c[4096];
    snprintf(c, sizeof c, "%s", out);
    size_t n = strlen(c);
    while (n > 1 && c[n - 1] == '/') c[--n] = 0;
    char *slash = strrchr(c, '/');
    if (!slash) { snprintf(parent, cap, "."); snprintf(base, cap, "%s", c); }
    else if (slash == c) { snprintf(parent, cap, "/"); snprintf(base, cap, "%s", slash + 1); }
    else { *slash = 0; snprintf(parent, cap, "%s", c); snprintf(base, cap, "%s", slash + 1); }
    return base[0] && strcmp(base, ".") && strcmp(base, "..") ? 0 : -1;
}

int vx_unpack(vx_verify_result *res, const vx_unpack_opts *o, vx_err *err) {
    if (res) memset(res, 0, sizeof *res);
    if (!o->archive) return vx_fail(err, VX_EUSAGE, "unpack: an archive is required");
    char out[4096];
    if (o->out) snprintf(out, sizeof out, "%s", o->out);
    else { /* A-U1: NAME.vindex.tar.zst unpacks to NAME.vindex */
        const char *b = strrchr(o->archive, '/') ? strrchr(o->archive, '/') + 1 : o->archive;
        size_t n = strlen(b);
        if (!strcmp(o->archive, "-") || n <= 8 || strcmp(b + n - 8, ".tar.zst"))
            return vx_fail(err, VX_EUSAGE, "unpack %s: name the output directory with -o (the archive's name does not end in .tar.zst)",
                           o->archive);
        snprintf(out, sizeof out, "%.*s", (int)(n - 8), b);
    }
    char parent[4096], base[4096], *tmp = NULL;
    if (split_path(parent, base, sizeof parent, out)) return vx_fail(err, VX_EUSAGE, "%s: not a usable output directory name", out);
    struct stat st;
    int exists = lstat(out, &st) == 0;
    if (exists && !o->force) return vx_fail(err, VX_EEXIST, "%s: already exists (use --force to replace it)", out);
    if (exists && !S_ISDIR(st.st_mode)) return vx_fail(err, VX_EEXIST, "%s: exists and is not a directory", out);
    int fd = strcmp(o->archive, "-") ? open(o->archive, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0) return vx_fail(err, errno == ENOENT ? VX_ENOTFOUND : VX_EIO, "%s: cannot open: %s", o->archive, strerror(errno));
    const char *what = strcmp(o->archive, "-") ? o->archive : "stdin";
    char prefix[4200];
    snprintf(prefix, sizeof prefix, ".%s.vxtmp.", base);
    arc_clean_stale(parent, prefix); /* A-U5: what a killed unpack left */
    if (asprintf(&tmp, "%s/%s%ld", parent, prefix, (long)getpid()) < 0) tmp = NULL;
    int rc = tmp ? VX_OK : vx_fail(err, VX_ENOMEM, "out of memory");
    if (rc == VX_OK && mkdir(tmp, 0755) != 0) {
        rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
    }
    unp u = { tmp, { 0 }, 0 };
    u.f.fd = -1;
    arc_writer w = { w_member, w_data, w_end, w_meta, &u };
    arc_check c;
    memset(&c, 0, sizeof c);
    if (rc == VX_OK) {
        rc = pass(&c, fd, what, &w, 1, 0, NULL, 0, o->threads, res, err);
        if (rc && c.meta_late) {
            /* A-U3: sized members before index.json. Nothing sized has been written; start
             * over: verify everything without writing, then write with index.json known. */
            struct stat fs;
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err ? err->msg : "index.json comes late");
            arc_check_free(&c);
            if (u.open) { vx_out_close(&u.f, NULL); u.open = 0; }
            vx_remove_tree(tmp);
            if (fstat(fd, &fs) != 0 || !S_ISREG(fs.st_mode) || lseek(fd, 0, SEEK_SET) != 0)
                rc = vx_fail(err, VX_EUNSUPPORTED, "%s; an archive in this order is unpacked from a file (read twice), "
                             "not from a pipe", why);
            else if (mkdir(tmp, 0755) != 0) rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", tmp, strerror(errno));
            else {
                arc_check first;
                rc = pass(&first, fd, what, NULL, 0, 1, NULL, 0, o->threads, NULL, err);
                if (rc == VX_OK && lseek(fd, 0, SEEK_SET) != 0) rc = vx_fail(err, VX_EIO, "%s: cannot seek", what);
                if (rc == VX_OK && !first.index_copy) rc = vx_fail(err, VX_ECORRUPT, "%s: no index.json", what);
                if (rc == VX_OK && (rc = w_meta(&u, &first.meta, err)) == VX_OK)
                    rc = pass(&c, fd, what, &w, 0, 0, first.index_copy, first.index_len, o->threads, res, err);
                arc_check_free(&first);
            }
        }
    }
    arc_check_free(&c);
    if (u.open) { vx_out_close(&u.f, NULL); u.open = 0; }
    if (fd != STDIN_FILENO) close(fd);
    /* A-U5: what was written opens as a vindex, then it is made durable and moved into place */
    if (rc == VX_OK) {
        vx_index *vx = NULL;
        rc = vx_open(&vx, tmp, err);
        vx_close(vx);
    }
    if (rc == VX_OK) rc = vx_fsync_dir(tmp, err);
    if (rc == VX_OK) {
        if (exists) {
            if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) != 0)
                rc = vx_fail(err, VX_EIO, "%s: cannot replace: %s", out, strerror(errno));
            /* tmp now holds the previous directory */
        } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) != 0) {
            rc = vx_fail(err, errno == EEXIST ? VX_EEXIST : VX_EIO, "%s: cannot rename into place: %s", out, strerror(errno));
        } else {
            free(tmp);
            tmp = NULL;
        }
        if (rc == VX_OK) rc = vx_fsync_dir(parent, err);
    }
    if (tmp) {
        vx_remove_tree(tmp);
        free(tmp);
    }
    if (rc == VX_OK && res) {
        snprintf(res->kind, sizeof res->kind, "archive");
        snprintf(res->target, sizeof res->target, "%s", out);
    }
    return rc;
}
