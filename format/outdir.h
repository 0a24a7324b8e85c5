/*
 * outdir.h — a vindex (or a part) written into a temporary directory beside OUT and
 * renamed into place at the end (spec/vindex-format.md R-E9): at every instant OUT is
 * absent, the previous complete directory, or the new complete one. Shared by extract
 * and merge.
 */
#ifndef VX_FORMAT_OUTDIR_H
#define VX_FORMAT_OUTDIR_H
#include "common.h"

typedef struct vx_outdir {
    char *out;       /* OUT as given */
    char *parent;    /* its directory */
    char *tmp;       /* parent/.BASE.vxtmp.PID while writing; NULL once renamed */
    int exists;      /* OUT existed at begin (replaced with force) */
    int was_dir;
} vx_outdir;

/* A callback for warnings (the caller's vx_*_opts.warn); may be NULL. */

/* Refuse an existing OUT unless `force` (VX_EEXIST), remove temporary directories beside
 * OUT whose process is gone (each reported through warn), create d->tmp. Errors:
 * VX_EEXIST, VX_EIO, VX_ENOMEM. On error nothing is left and vx_outdir_end is still safe. */
int vx_outdir_begin(vx_outdir *d, const char *out, int force, vx_warn_fn warn, void *ctx, vx_err *err);
/* fsync d->tmp, rename it to OUT (an atomic exchange with a previous OUT, which is then
 * removed), fsync the parent. Errors: VX_EEXIST (OUT appeared meanwhile), VX_EIO. */
int vx_outdir_commit(vx_outdir *d, vx_warn_fn warn, void *ctx, vx_err *err);
/* Remove d->tmp if it is still there; free. Accepts a zeroed or committed d. */
void vx_outdir_end(vx_outdir *d);
#endif
