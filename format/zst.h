/*
 * zst.h — zstd streams for archives (spec/archive.md): a compressing writer onto a file
 * descriptor (libzstd's own worker threads, ZSTD_c_nbWorkers), and a reader that
 * decompresses a file descriptor to its end and hands the output, in order, to a callback
 * — on a second thread when asked, so decompression overlaps whatever the callback does.
 * Every libzstd result is checked with ZSTD_isError; a frame's declared content size is
 * never trusted (the callback sees bytes, not promises).
 */
#ifndef VX_FORMAT_ZST_H
#define VX_FORMAT_ZST_H

#include "common.h"

/* Largest window a reader accepts: 2^27 bytes, libzstd's and the zstd tool's default
 * limit (A-Z2). A frame asking for more is refused before any memory is taken for it. */
#define VX_ZST_WINDOW_LOG_MAX 27

typedef struct vx_zst_writer {
    void *cctx;          /* ZSTD_CCtx */
    int fd;
    const char *what;    /* file named in messages */
    uint8_t *out;        /* compressed bytes not yet written */
    size_t out_cap;
    uint64_t in_bytes, out_bytes;
} vx_zst_writer;

/* level 1..19; threads >= 1 (libzstd workers; the output does not depend on the count);
 * long_log 0, or the window log of long-distance matching (e.g. 27); pledged = total
 * input bytes (recorded in the frame header; writing a different amount is an error).
 * Errors: VX_EUSAGE (a parameter libzstd refuses), VX_ENOMEM. */
int vx_zst_writer_open(vx_zst_writer *w, int fd, const char *what, int level, int threads, int long_log,
                       uint64_t pledged, vx_err *err);
int vx_zst_write(vx_zst_writer *w, const void *p, size_t n, vx_err *err);
/* End the frame and write everything out (no fsync: the caller's). */
int vx_zst_writer_finish(vx_zst_writer *w, vx_err *err);
void vx_zst_writer_free(vx_zst_writer *w);

/* Called with each piece of decompressed output, in order; a non-zero return stops. */
typedef int (*vx_zst_sink)(void *ctx, const uint8_t *p, size_t n, vx_err *err);

typedef struct vx_zst_stats {
    uint64_t in_bytes;   /* compressed bytes read */
    uint64_t out_bytes;  /* decompressed bytes handed to the sink */
    uint32_t frames;     /* zstd frames completed */
} vx_zst_stats;

/*
 * Read `fd` to its end, decompressing one or more concatenated zstd frames, and pass the
 * output to sink. `threads` >= 2 decompresses on a second thread into a small ring of
 * buffers (a few MiB in all) while the sink runs on this one. Errors: VX_ECORRUPT naming
 * the compressed byte offset (not zstd, a corrupt block, a failed frame checksum, a window
 * over 2^VX_ZST_WINDOW_LOG_MAX, input ending inside a frame, empty input), VX_EIO,
 * VX_ENOMEM, or the sink's.
 */
int vx_zst_read(int fd, const char *what, int threads, vx_zst_sink sink, void *ctx, vx_zst_stats *st, vx_err *err);

#endif
