/*
 * mem.h — large working buffers and mapped-input prefaulting (src-internal).
 *
 * On first touch every anonymous 4 KiB page costs a page fault, and on virtual machines a
 * fault is expensive (doc/benchmarks.md, the machine's limits). Buffers of a megabyte or more
 * therefore come from vx_big_alloc, which maps them populated — from 4 MiB on with
 * transparent huge pages requested (MADV_HUGEPAGE).
 */
#ifndef VX_MEM_H
#define VX_MEM_H

#include <stddef.h>

/* n bytes, zero-filled, 64-byte aligned; NULL on failure or n == 0 overflow. Release with
 * vx_big_free (never free()). Below 1 MiB this is calloc. */
void *vx_big_alloc(size_t n);
/* Element-count form: count·size bytes, NULL when the product overflows. */
void *vx_big_array(size_t count, size_t size);
void vx_big_free(void *p);

/* Best effort: map the pages of [p, p+n) of a file mapping now, in one call
 * (MADV_POPULATE_READ, Linux ≥ 5.14; a no-op elsewhere), for inputs that will be read
 * whole. */
void vx_prefault(const void *p, size_t n);

#endif
