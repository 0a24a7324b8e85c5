/*
 * zst.c — zstd streams for archives (see zst.h). The reader's second thread exists
 * because decompression is the slowest step of a streaming verify (one frame decodes on
 * one core) and hashing the output is the second slowest: on two cores they overlap.
 */
#include "zst.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

#define OUT_CAP ((size_t)1 << 20)
#define VX_STR_(x) #x
#define VX_STR(x) VX_STR_(x)

static int zerr(vx_err *err, const char *what, const char *step, size_t r) {
    return vx_fail(err, VX_EUSAGE, "%s: zstd %s: %s", what, step, ZSTD_getErrorName(r));
}

int vx_zst_writer_open(vx_zst_writer *w, int fd, const char *what, int level, int threads, int long_log,
                       uint64_t pledged, vx_err *err) {
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->what = what;
    ZSTD_CCtx *c = ZSTD_createCCtx();
    w->out = malloc(OUT_CAP);
    w->out_cap = OUT_CAP;
    w->cctx = c;
    if (!c || !w->out) { vx_zst_writer_free(w); return vx_fail(err, VX_ENOMEM, "%s: out of memory", what); }
    size_t r;
    if (ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, threads < 1 ? 1 : threads)) ||
        (long_log && (ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1)) ||
                      ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, long_log)))) ||
        ZSTD_isError(r = ZSTD_CCtx_setPledgedSrcSize(c, pledged))) {
        int rc = zerr(err, what, "parameters", r);
        vx_zst_writer_free(w);
        return rc;
    }
    return VX_OK;
}

static int drain(vx_zst_writer *w, ZSTD_outBuffer *o, vx_err *err) {
    if (!o->pos) return VX_OK;
    int rc = vx_write_all(w->fd, o->dst, o->pos, w->what, err);
    w->out_bytes += o->pos;
    o->pos = 0;
    return rc;
}

int vx_zst_write(vx_zst_writer *w, const void *p, size_t n, vx_err *err) {
    ZSTD_inBuffer in = { p, n, 0 };
    while (in.pos < in.size) {
        ZSTD_outBuffer o = { w->out, w->out_cap, 0 };
        size_t r = ZSTD_compressStream2(w->cctx, &o, &in, ZSTD_e_continue);
        if (ZSTD_isError(r)) return vx_fail(err, VX_EIO, "%s: zstd compress: %s", w->what, ZSTD_getErrorName(r));
        int rc = drain(w, &o, err);
        if (rc) return rc;
    }
    w->in_bytes += n;
    return VX_OK;
}

int vx_zst_writer_finish(vx_zst_writer *w, vx_err *err) {
    ZSTD_inBuffer in = { NULL, 0, 0 };
    for (;;) {
        ZSTD_outBuffer o = { w->out, w->out_cap, 0 };
        size_t r = ZSTD_compressStream2(w->cctx, &o, &in, ZSTD_e_end);
        if (ZSTD_isError(r)) return vx_fail(err, VX_EIO, "%s: zstd end of frame: %s", w->what, ZSTD_getErrorName(r));
        int rc = drain(w, &o, err);
        if (rc) return rc;
        if (r == 0) return VX_OK;
    }
}

void vx_zst_writer_free(vx_zst_writer *w) {
    if (!w) return;
    ZSTD_freeCCtx(w->cctx);
    free(w->out);
    w->cctx = NULL;
    w->out = NULL;
}

/* ---------------------------------------------------------------------- reader */

/* The decompressing side: reads fd, decodes into the caller's buffer. `left` is libzstd's
 * hint: 0 exactly when the last frame begun is complete. */
typedef struct dec {
    int fd;
    const char *what;
    ZSTD_DCtx *d;
    uint8_t *in;
    size_t in_cap;
    ZSTD_inBuffer ib;
    int eof;
    size_t left;
    vx_zst_stats st;
} dec;

static int dec_init(dec *z, int fd, const char *what, vx_err *err) {
    memset(z, 0, sizeof *z);
    z->fd = fd;
    z->what = what;
    z->in_cap = OUT_CAP;
    z->d = ZSTD_createDCtx();
    z->in = malloc(z->in_cap);
    z->ib.src = z->in;
    if (!z->d || !z->in) return vx_fail(err, VX_ENOMEM, "%s: out of memory", what);
    size_t r = ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax, VX_ZST_WINDOW_LOG_MAX);
    if (ZSTD_isError(r)) return zerr(err, what, "window limit", r);
    return VX_OK;
}

static void dec_free(dec *z) {
    ZSTD_freeDCtx(z->d);
    free(z->in);
}

/* Fill out[0..cap) as far as the input allows; *got bytes produced. Returns VX_OK with
 * *got == 0 only at a clean end of input. */
static int dec_fill(dec *z, uint8_t *out, size_t cap, size_t *got, vx_err *err) {
    ZSTD_outBuffer o = { out, cap, 0 };
    size_t r = 0;
    while (o.pos < o.size) {
        if (z->ib.pos == z->ib.size && !z->eof) {
            ssize_t rd = read(z->fd, z->in, z->in_cap);
            if (rd < 0 && errno == EINTR) continue;
            if (rd < 0) return vx_fail(err, VX_EIO, "%s: read: %s", z->what, strerror(errno));
            if (rd == 0) z->eof = 1;
            z->ib.size = (size_t)rd;
            z->ib.pos = 0;
        }
        if (z->ib.pos == z->ib.size && z->eof) {
            if (!z->st.in_bytes)
                return vx_fail(err, VX_ECORRUPT, "%s: empty input, expected a zstd frame", z->what);
            /* A-Z1: the input may only end between frames, and flushing must be done */
            if (z->left) {
                size_t before = o.pos;
                r = ZSTD_decompressStream(z->d, &o, &z->ib);
                if (ZSTD_isError(r)) goto zfail;
                z->st.out_bytes += o.pos - before;
                z->left = r;
                if (o.pos > before) continue;
                if (z->left)
                    return vx_fail(err, VX_ECORRUPT, "%s: truncated: the input ends inside a zstd frame at compressed byte %llu",
                                   z->what, (unsigned long long)z->st.in_bytes);
            }
            break;
        }
        size_t before_in = z->ib.pos, before = o.pos;
        r = ZSTD_decompressStream(z->d, &o, &z->ib);
        if (ZSTD_isError(r)) goto zfail;
        z->st.in_bytes += z->ib.pos - before_in;
        z->st.out_bytes += o.pos - before;
        if (r == 0 && (z->ib.pos != before_in || o.pos != before)) z->st.frames++;
        z->left = r;
        continue;
    zfail:
        return vx_fail(err, VX_ECORRUPT, "%s: zstd: %s at compressed byte %llu (decompressed byte %llu)", z->what,
                       ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
                           ? "the frame's window is larger than 2^" VX_STR(VX_ZST_WINDOW_LOG_MAX) " bytes"
                           : ZSTD_getErrorName(r),
                       (unsigned long long)(z->st.in_bytes + z->ib.pos), (unsigned long long)z->st.out_bytes);
    }
    *got = o.pos;
    return VX_OK;
}

/* The two-thread ring: the decoder fills slots, the caller's thread drains them. */
#define NSLOT 4
typedef struct ring {
    dec z;
    uint8_t *buf[NSLOT];
    size_t len[NSLOT];
    int full[NSLOT];
    int done, stop, rc;
    vx_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} ring;

static void *decoder(void *arg) {
    ring *g = arg;
    for (size_t i = 0;; i = (i + 1) % NSLOT) {
        pthread_mutex_lock(&g->mu);
        while (g->full[i] && !g->stop) pthread_cond_wait(&g->cv, &g->mu);
        int stop = g->stop;
        pthread_mutex_unlock(&g->mu);
        if (stop) return NULL;
        size_t got = 0;
        vx_err e = { 0 };
        int rc = dec_fill(&g->z, g->buf[i], OUT_CAP, &got, &e);
        pthread_mutex_lock(&g->mu);
        if (rc) { g->rc = rc; g->err = e; g->done = 1; }
        else if (!got) g->done = 1;
        else { g->len[i] = got; g->full[i] = 1; }
        int fin = g->done;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        if (fin) return NULL;
    }
}

int vx_zst_read(int fd, const char *what, int threads, vx_zst_sink sink, void *ctx, vx_zst_stats *st, vx_err *err) {
    int rc = VX_OK;
    if (threads < 2) {
        dec z;
        uint8_t *out = malloc(OUT_CAP);
        rc = out ? dec_init(&z, fd, what, err) : vx_fail(err, VX_ENOMEM, "%s: out of memory", what);
        for (size_t got = 1; rc == VX_OK && got;) {
            rc = dec_fill(&z, out, OUT_CAP, &got, err);
            if (rc == VX_OK && got) rc = sink(ctx, out, got, err);
        }
        if (out) {
            if (st) *st = z.st;
            dec_free(&z);
        }
        free(out);
        return rc;
    }
    ring *g = calloc(1, sizeof *g);
    if (!g) return vx_fail(err, VX_ENOMEM, "%s: out of memory", what);
    rc = dec_init(&g->z, fd, what, err);
    for (int i = 0; i < NSLOT && rc == VX_OK; i++)
        if (!(g->buf[i] = malloc(OUT_CAP))) rc = vx_fail(err, VX_ENOMEM, "%s: out of memory", what);
    pthread_t t;
    int started = 0;
    if (rc == VX_OK) {
        pthread_mutex_init(&g->mu, NULL);
        pthread_cond_init(&g->cv, NULL);
        if (pthread_create(&t, NULL, decoder, g) != 0) rc = vx_fail(err, VX_ENOMEM, "%s: cannot start a thread", what);
        else started = 1;
    }
    for (size_t i = 0; started && rc == VX_OK; i = (i + 1) % NSLOT) {
        pthread_mutex_lock(&g->mu);
        while (!g->full[i] && !g->done) pthread_cond_wait(&g->cv, &g->mu);
        int have = g->full[i];
        if (!have && g->rc) { rc = g->rc; if (err) *err = g->err; }
        pthread_mutex_unlock(&g->mu);
        if (!have) break;
        rc = sink(ctx, g->buf[i], g->len[i], err);
        pthread_mutex_lock(&g->mu);
        g->full[i] = 0;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    if (started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(t, NULL);
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
    }
    if (st) *st = g->z.st;
    dec_free(&g->z);
    for (int i = 0; i < NSLOT; i++) free(g->buf[i]);
    free(g);
    return rc;
}
