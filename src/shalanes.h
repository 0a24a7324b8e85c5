/*
 * shalanes.h — SHA-256 of many byte ranges of files, several at once on each thread.
 *
 * One SHA-256 stream is a chain: every 64-byte block waits for the one before, and the
 * SHA-NI round instruction's latency leaves the core idle between rounds. Hashing
 * VX_SHA_LANES independent ranges side by side on one core fills those gaps (the rates
 * of one stream and of 2-4 lanes: doc/benchmarks.md, "Where verify's time goes"). verify
 * hands it its whole-file and chunk (R-I10) jobs; each thread that calls vx_sha_drain
 * takes jobs from the shared queue until it is empty.
 *
 * The lanes use SHA-NI (src/kern_sha.c) when the CPU has it; otherwise (or with
 * VINDEX_SHA=openssl) each lane is an OpenSSL stream, fed the same blocks. Both give the
 * same digests (tests/test_shalanes.c runs both and compares them with OpenSSL on ranges
 * of every padding class).
 */
#ifndef VX_SRC_SHALANES_H
#define VX_SRC_SHALANES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx_sha_range {
    char name[64];     /* a file under the queue's directory */
    uint64_t off, len; /* len VX_TO_EOF: to the file's end; otherwise a file that ends before is an error */
    char hex[65];      /* out: the digest */
    int rc;            /* out: VX_OK, or the error (msg says what) */
    char msg[1024];
} vx_sha_range;

typedef struct vx_sha_queue {
    int dfd;
    vx_sha_range *const *r;
    size_t n;
    atomic_size_t next;
} vx_sha_queue;

/* Hash ranges from q until none is left (call it from every thread that should help). */
void vx_sha_drain(vx_sha_queue *q);

/* 1 when the lanes run on SHA-NI: the CPU has it and VINDEX_SHA is not "openssl". */
int vx_sha_ni(void);

#endif
