/* mem.c — see mem.h. */
#include "mem.h"

#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HDR 64                      /* keeps the payload 64-byte aligned */
#define BIG ((size_t)1 << 20)
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

/* The header holds the mapping length, or 0 for a calloc'd block. */
void *vx_big_alloc(size_t n) {
    if (n > SIZE_MAX - HDR - 4096) return NULL;
    size_t total = n + HDR;
    unsigned char *p;
    if (n < BIG) {
        if (!(p = aligned_alloc(HDR, (total + HDR - 1) / HDR * HDR))) return NULL;
        memset(p, 0, total);
        *(size_t *)(void *)p = 0;
        return p + HDR;
    }
    void *m;
    if (n >= HUGE_MIN) {
        /* transparent huge pages where the system allows them on request ("madvise" mode):
         * fewer TLB misses in the GEMM packing and the row copies, then populated in one
         * call. The mapping starts on a 2 MiB boundary and spans whole huge pages: an
         * unaligned one keeps up to 4 MiB in 4 KiB pages at its ends, each paying a
         * first-touch fault even when populated (a huge page pays once). */
        if (total > SIZE_MAX - 2 * HUGE_PAGE) return NULL;
        total = (total + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        m = vx_mmap_2m(total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
        if (m == MAP_FAILED) return NULL;
        (void)madvise(m, total, MADV_HUGEPAGE);
        if (madvise(m, total, MADV_POPULATE_WRITE) != 0) memset(m, 0, total); /* before Linux 5.14 */
    } else {
        m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED) return NULL;
    }
    p = m;
    *(size_t *)(void *)p = total;
    return p + HDR;
}

void *vx_big_array(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    return vx_big_alloc(count * size);
}

void vx_big_free(void *q) {
    if (!q) return;
    unsigned char *p = (unsigned char *)q - HDR;
    size_t total = *(size_t *)(void *)p;
    if (total) munmap(p, total);
    else free(p);
}

void vx_prefault(const void *p, size_t n) {
    if (!p || !n) return;
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1), e = (uintptr_t)p + n;
    (void)madvise((void *)a, e - a, MADV_POPULATE_READ);
}
