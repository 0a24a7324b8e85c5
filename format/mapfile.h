/*
 * mapfile.h — the bytes of a map file (spec/map-format.md): a pure parser that checks
 * rules M1–M7 and decodes the arrays, and an encoder. What the numbers mean, and rule M8,
 * belong to src/cmp_map.c.
 */
#ifndef VX_FORMAT_MAPFILE_H
#define VX_FORMAT_MAPFILE_H

#include "common.h"

#define VX_MAPFILE_HEADER 256
#define VX_MAPFILE_MAX_DIM 65536
#define VX_MAPFILE_MAX_PATH 4096

/* A decoded map. Arrays are owned (vx_mapfile_clear frees them). */
typedef struct vx_mapfile {
    uint32_t source;           /* 0: A is the source, 1: B */
    uint32_t hs, d;            /* source and target widths */
    char digest[2][65];        /* content digests of A and B, NUL-terminated */
    char *path[2];             /* directories of A and B, NUL-terminated */
    double *mu0;               /* [hs] PCA mean (NULL without PCA: hs == d) */
    float *W;                  /* [d][hs] PCA basis (NULL without PCA) */
    double *muz, *muy;         /* [d] anchor means */
    double *R;                 /* [d][d] rotation, row-major */
} vx_mapfile;

/* Check buf[len] (rules M1–M7) and decode it into *m. `name` is used in messages.
 * Errors: VX_ECORRUPT, VX_EUNSUPPORTED (another version), VX_ENOMEM. On error *m is
 * cleared. */
int vx_mapfile_parse(vx_mapfile *m, const uint8_t *buf, size_t len, const char *name, vx_err *err);
/* The bytes of m: *buf malloc'd (caller frees), *len its size. Errors: VX_EUSAGE (sizes
 * or paths outside M3), VX_ENOMEM. */
int vx_mapfile_encode(uint8_t **buf, size_t *len, const vx_mapfile *m, vx_err *err);
/* Free m's arrays and zero it. Accepts a zeroed struct. */
void vx_mapfile_clear(vx_mapfile *m);

/* Write buf[len] to `path` atomically: a temporary file beside it, fsync, rename, fsync
 * of the directory. Errors: VX_EIO. */
int vx_write_file_atomic(const char *path, const void *buf, size_t len, vx_err *err);

#endif
