/*
 * outdir.c — see outdir.h.
 */
#include "outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove temporary directories left by runs that were killed (their pid is gone). */
static void clean_stale(const char *parent, const char *prefix, vx_warn_fn warn, void *ctx) {
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, pl)) continue;
        long pid = strtol(e->d_name + pl, NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char *p = vx_path(parent, e->d_name);
            if (p && vx_remove_tree(p) == 0) vx_warnf(warn, ctx, "removed %s left by an interrupted extraction", p);
            else if (p) vx_warnf(warn, ctx, "could not remove %s left by an interrupted extraction", p);
            free(p);
        }
    }
    closedir(d);
}

int vx_outdir_begin(vx_outdir *d, const char *out, int force, vx_warn_fn warn, void *ctx, vx_err *err) {
    memset(d, 0, sizeof *d);
    struct stat st;
    d->exists = lstat(out, &st) == 0;
    d->was_dir = d->exists && S_ISDIR(st.st_mode);
    if (d->exists && !force) return vx_fail(err, VX_EEXIST, "%s: already exists (use --force to replace it)", out);
    char *c = strdup(out), *base = NULL;
    if (!(d->out = strdup(out)) || !c) { free(c); return vx_fail(err, VX_ENOMEM, "out of memory"); }
    size_t n = strlen(c);
    while (n > 1 && c[n - 1] == '/') c[--n] = 0;
    char *slash = strrchr(c, '/');
    if (!slash) { d->parent = strdup("."); base = c; }
    else if (slash == c) { d->parent = strdup("/"); base = slash + 1; }
    else { *slash = 0; d->parent = strdup(c); base = slash + 1; }
    char prefix[300];
    snprintf(prefix, sizeof prefix, ".%s.vxtmp.", base);
    free(c);
    if (!d->parent) return vx_fail(err, VX_ENOMEM, "out of memory");
    clean_stale(d->parent, prefix, warn, ctx);
    if (asprintf(&d->tmp, "%s/%s%ld", d->parent, prefix, (long)getpid()) < 0) {
        d->tmp = NULL;
        return vx_fail(err, VX_ENOMEM, "out of memory");
    }
    if (mkdir(d->tmp, 0755) != 0) {
        int rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", d->tmp, strerror(errno));
        free(d->tmp);
        d->tmp = NULL;
        return rc;
    }
    return VX_OK;
}

int vx_outdir_commit(vx_outdir *d, vx_warn_fn warn, void *ctx, vx_err *err) {
    int rc;
    if ((rc = vx_fsync_dir(d->tmp, err))) return rc;
    /* R-E9: the only moment OUT changes. Exchange when replacing, so OUT always holds a
     * complete directory; the old one ends up at the temporary name and is removed. */
    if (d->exists) {
        if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->out, RENAME_EXCHANGE) != 0)
            return vx_fail(err, VX_EIO, "%s: cannot replace: %s", d->out, strerror(errno));
        if (d->was_dir ? vx_remove_tree(d->tmp) != 0 : unlink(d->tmp) != 0)
            vx_warnf(warn, ctx, "the previous %s was replaced but could not be removed from %s", d->out, d->tmp);
    } else if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->out, RENAME_NOREPLACE) != 0)
        return vx_fail(err, errno == EEXIST ? VX_EEXIST : VX_EIO, "%s: cannot rename into place: %s", d->out,
                       strerror(errno));
    free(d->tmp);
    d->tmp = NULL;
    return vx_fsync_dir(d->parent, err);
}

void vx_outdir_end(vx_outdir *d) {
    if (d->tmp) vx_remove_tree(d->tmp);
    free(d->tmp);
    free(d->parent);
    free(d->out);
    memset(d, 0, sizeof *d);
}
