/*
 * query.c — score and nearest: rank rows of the mapped f16 matrices (feature directions,
 * embeddings) by cosine with one or more query vectors (spec/queries.md §2-§4).
 *
 * Two ways to compute the same ranking:
 *   - scan (one query at a time): the rows are split across threads; each thread runs
 *     the dispatched kernel (kern.h) over chunks of rows straight from the map, turns
 *     (q·x, x·x) into cosines and keeps its own top-k heap; the heaps are merged. The
 *     scan is memory-bound, so it reads each byte once and never converts whole rows;
 *   - BLAS (several queries): rows are converted to f32 tiles (threads), multiplied by
 *     the query matrix with sgemm (linalg.h), and each query's heap is fed from the tile.
 *     Each byte is still read once, but every query now costs 2·n·H flops at sgemm speed.
 * Both use the same x·x (the kernel's canonical order), so only q·x differs between
 * them, by sgemm's summation order.
 *
 * Ties are broken by a key that orders rows: for features ((layer·2 + kind)·F + feature),
 * the record index of down_meta.bin; for tokens the id. The ranking is therefore a total
 * order, the same whatever the thread count.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kern.h"
#include "linalg.h"
#include "mem.h"
#include "vx_query.h"
#include "vxindex.h"

#define CHUNK_ROWS 64          /* rows per kernel call in a scan: dot/ss fit in L1 */
#define TILE_ELEMS (8u << 20)  /* f32 elements of one BLAS tile (32 MB: stays in L3) */
#define NO_KEY UINT64_MAX
#define READ_BYTES (512u << 10) /* read mode: bytes per pread, L2-sized */

/* ------------------------------------------------------------------ top-k heap */

typedef struct hit { float rank, cos; uint64_t key; } hit;
/* A min-heap of the k best hits seen: the root is the worst kept. */
typedef struct heap { hit *h; size_t n, k; } heap;

/* The ranking's total order: larger rank first, then smaller key. */
static inline int better(const hit *a, const hit *b) { return a->rank > b->rank || (a->rank == b->rank && a->key < b->key); }

static void heap_push(heap *hp, hit x) {
    hit *h = hp->h;
    if (hp->n < hp->k) {
        size_t i = hp->n++;
        while (i > 0 && better(&h[(i - 1) / 2], &x)) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
        h[i] = x;
        return;
    }
    if (!hp->k || !better(&x, &h[0])) return;
    size_t i = 0, n = hp->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&h[c], &h[c + 1])) c++;  /* the worse child */
        if (!better(&x, &h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static int hit_cmp(const void *a, const void *b) {
    const hit *x = a, *y = b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

/* Sort the kept hits best first. */
static void heap_sort(heap *hp) { qsort(hp->h, hp->n, sizeof *hp->h, hit_cmp); }

/* ------------------------------------------------------------------ rows */

/* A contiguous block of rows of one f16 matrix, with the keys of its rows:
 * key(i) = base + (i / group)·step + i % group. */
typedef struct rowset {
    const uint16_t *X;   /* [n][H] f16 */
    size_t n;
    uint64_t base, group, step;
    int release;         /* drop scanned pages from the resident set (SCAN_MAP_RELEASE) */
    int fd;              /* >= 0: read the rows with pread from this file, X's bytes at foff, */
    uint64_t foff;       /*   instead of touching the map (see scan_mode) */
    const char *dir, *name; /*   and name it in errors */
} rowset;

static inline uint64_t row_key(const rowset *s, size_t i) { return s->base + (uint64_t)(i / s->group) * s->step + i % s->group; }

/* cos = q·x / (|q|·|x|) from the kernel's sums; 0 for a zero or non-finite norm, never NaN. */
static inline float cosine(float dot, float ss, double qn) {
    if (!(ss > 0) || !(qn > 0)) return 0.0f;
    double c = (double)dot / (sqrt((double)ss) * qn);
    if (!(c == c) || isinf(c)) return 0.0f;
    return c > 1 ? 1.0f : c < -1 ? -1.0f : (float)c;
}

static inline void offer(heap *hp, float dot, float ss, double qn, uint64_t key, int signed_rank, uint64_t exclude) {
    if (key == exclude) return;
    hit x;
    x.cos = cosine(dot, ss, qn);
    x.rank = signed_rank ? x.cos : fabsf(x.cos);
    x.key = key;
    heap_push(hp, x);
}

static int threads_for(size_t elems) {
    if (elems < vx_kern_env("VINDEX_MT_MIN", (size_t)1 << 22)) return 1;
    return vx_kern_threads();
}

/* ------------------------------------------------------------------ scan path */

/* The rows of all sets, numbered as one sequence of blocks, are dealt to the threads as
 * contiguous spans; a thread takes blocks from the front of its own span and, when that is
 * empty, from the back of another's. So a thread that starts late (waking an idle vCPU can
 * take milliseconds) or meets slower pages ends up with fewer blocks instead of finishing
 * last, and what each thread scans stays contiguous: in map mode it releases its pages in
 * long runs (RELEASE_BYTES), because every release is a TLB shootdown on the other cores.
 * A block is 2 MiB of rows when rows divide it, so releases drop whole huge-page mappings.
 * The total order of the ranking makes the result independent of who took which block. */
#define BLOCK_BYTES (2u << 20)
#define RELEASE_BYTES (16u << 20)
#define SPAN_NONE UINT64_MAX
typedef struct scan_plan {
    const rowset *sets; int nsets;
    size_t block_rows;
    int T;
    uint64_t *span;          /* [T] blocks [front, back) a thread has left: front | back << 32 (atomic) */
} scan_plan;

typedef struct scan_job {
    scan_plan *plan; size_t H; int t;
    const float *q;          /* [pad(H)], zero padded */
    double qn;
    int signed_rank; uint64_t exclude;
    const vx_kern *kern;
    heap hp;
    uint16_t *buf; size_t buf_rows; /* read mode: this thread's rows, [buf_rows][H] f16 */
    const rowset *bad; uint64_t at; /* read mode: the set of a failed read, and where */
} scan_job;

/* Rows [r0, r0+m) of a read-mode set into buf: 0, or -1 when the file ends early or the
 * read fails (j->at says where). */
static int read_rows(scan_job *j, const rowset *rs, size_t r0, size_t m) {
    size_t want = m * j->H * sizeof *rs->X;
    uint64_t off = rs->foff + (uint64_t)r0 * j->H * sizeof *rs->X;
    size_t got = vx_pread_full(rs->fd, j->buf, want, off);
    if (got < want) { j->at = off + got; return -1; }
    return 0;
}

/* Rows [lo, hi) of one set into the thread's heap. */
static void scan_block(scan_job *j, const rowset *rs, size_t lo, size_t hi) {
    float dot[CHUNK_ROWS], ss[CHUNK_ROWS];
    size_t step = rs->fd >= 0 && j->buf_rows < CHUNK_ROWS ? j->buf_rows : CHUNK_ROWS;
    for (size_t r0 = lo; r0 < hi; r0 += step) {
        size_t m = hi - r0 < step ? hi - r0 : step;
        const uint16_t *X = rs->X + r0 * j->H;
        if (rs->fd >= 0) {
            if (read_rows(j, rs, r0, m)) { j->bad = rs; return; }
            X = j->buf;
        }
        j->kern->dot_ss(dot, ss, X, m, j->H, j->q);
        for (size_t i = 0; i < m; i++) offer(&j->hp, dot[i], ss[i], j->qn, row_key(rs, r0 + i), j->signed_rank, j->exclude);
    }
}

/* One block from the front (own span) or the back (another's) of span *sp, or SPAN_NONE. */
static uint64_t span_take(uint64_t *sp, int back) {
    uint64_t v = __atomic_load_n(sp, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t f = v & 0xffffffffu, b = v >> 32;
        if (f >= b) return SPAN_NONE;
        uint64_t nv = back ? (b - 1) << 32 | f : b << 32 | (f + 1);
        if (__atomic_compare_exchange_n(sp, &v, nv, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return back ? b - 1 : f;
    }
}

/* Blocks of `block_rows` rows in sets[0..nsets), the last of each set partial. */
static size_t count_blocks(const rowset *sets, int nsets, size_t block_rows) {
    size_t nb = 0;
    for (int s = 0; s < nsets; s++) nb += (sets[s].n + block_rows - 1) / block_rows;
    return nb;
}

static uint64_t next_block(scan_plan *pl, int t) {
    uint64_t b = span_take(&pl->span[t], 0);
    for (int k = 1; b == SPAN_NONE && k < pl->T; k++) b = span_take(&pl->span[(t + k) % pl->T], 1);
    return b;
}

static void *scan_worker(void *arg) {
    scan_job *j = arg;
    scan_plan *pl = j->plan;
    /* SCAN_MAP_RELEASE: the run of rows [plo, phi) of set ps scanned and not yet released */
    int ps = -1;
    size_t plo = 0, phi = 0;
    for (;;) {
        uint64_t b = j->bad ? SPAN_NONE : next_block(pl, j->t);
        int s = 0;
        for (; b != SPAN_NONE && s < pl->nsets; s++) {
            size_t nb = count_blocks(&pl->sets[s], 1, pl->block_rows);
            if (b < nb) break;
            b -= nb;
        }
        const rowset *rs = b == SPAN_NONE ? NULL : &pl->sets[s];
        size_t lo = 0, hi = 0;
        if (rs) {
            lo = b * pl->block_rows;
            hi = rs->n - lo < pl->block_rows ? rs->n : lo + pl->block_rows;
            scan_block(j, rs, lo, hi);
            if (!rs->release || rs->fd >= 0) continue;
            if (s == ps && (lo == phi || hi == plo)) {
                plo = lo < plo ? lo : plo;
                phi = hi > phi ? hi : phi;
                if ((phi - plo) * j->H * sizeof(uint16_t) < RELEASE_BYTES) continue;
                lo = hi = 0;  /* the run is long enough: release it whole */
            }
        }
        if (ps >= 0 && phi > plo) vx_map_release(pl->sets[ps].X + plo * j->H, (phi - plo) * j->H * sizeof(uint16_t));
        if (!rs) break;
        ps = hi > lo ? s : -1;
        plo = lo;
        phi = hi;
    }
    return NULL;
}

/* One query over the row sets into `out` (k entries allocated by the caller, n kept). */
static int scan_one(heap *out, const rowset *sets, int nsets, size_t H, const float *qv, double qn, int signed_rank,
                    uint64_t exclude, vx_err *err) {
    size_t Hp = vx_kern_pad(H), rows = 0;
    int reads = 0;
    for (int s = 0; s < nsets; s++) { rows += sets[s].n; reads |= sets[s].fd >= 0; }
    int T = threads_for(rows * H);
    float *q = calloc(Hp, sizeof *q);
    scan_job *jobs = calloc((size_t)T, sizeof *jobs);
    hit *store = calloc((size_t)T * (out->k ? out->k : 1), sizeof *store);
    uint64_t *span = calloc((size_t)T, sizeof *span);
    /* Read mode: a buffer of CHUNK_ROWS rows per thread (fewer when rows are long), at
     * least 1 MiB so vx_big_alloc hands it over populated; it stays in L2 between reads. */
    size_t buf_rows = reads ? (READ_BYTES / (H * 2) ? READ_BYTES / (H * 2) : 1) : 0;
    if (buf_rows > CHUNK_ROWS) buf_rows = CHUNK_ROWS;
    int ok = q && jobs && store && span;
    for (int t = 0; ok && reads && t < T; t++)
        ok = (jobs[t].buf = vx_big_array(buf_rows * H > (1u << 19) ? buf_rows * H : 1u << 19, sizeof(uint16_t))) != NULL;
    if (!ok) {
        for (int t = 0; jobs && t < T; t++) vx_big_free(jobs[t].buf);
        free(q); free(jobs); free(store); free(span);
        return vx_fail(err, VX_ENOMEM, "query: out of memory");
    }
    memcpy(q, qv, H * sizeof *q);
    const vx_kern *kern = vx_kern_active();
    /* blocks of BLOCK_BYTES (at least one row), some 8 per thread when the rows are few */
    size_t row_bytes = H * sizeof(uint16_t), block_rows = BLOCK_BYTES / row_bytes ? BLOCK_BYTES / row_bytes : 1;
    while (block_rows > 1 && rows / block_rows < 8 * (size_t)T) block_rows /= 2;
    if (count_blocks(sets, nsets, block_rows) > UINT32_MAX / 2) /* spans count blocks in 32 bits */
        block_rows = rows / (UINT32_MAX / 2) + 1;
    size_t nblocks = count_blocks(sets, nsets, block_rows);
    scan_plan plan = { sets, nsets, block_rows, T, span };
    for (int t = 0; t < T; t++) {
        uint16_t *buf = jobs[t].buf;
        span[t] = (uint64_t)(nblocks * (size_t)(t + 1) / (size_t)T) << 32 | (uint64_t)(nblocks * (size_t)t / (size_t)T);
        jobs[t] = (scan_job){ &plan, H, t, q, qn, signed_rank, exclude, kern,
                              { store + (size_t)t * out->k, 0, out->k }, buf, buf_rows, NULL, 0 };
    }
    vx_run_parallel(scan_worker, jobs, sizeof *jobs, T);
    int rc = VX_OK;
    for (int t = 0; t < T; t++) {
        if (jobs[t].bad && rc == VX_OK)
            rc = vx_fail(err, VX_EIO, "%s/%s: read failed or ended early at byte %llu (changed under an open vindex?)",
                         jobs[t].bad->dir, jobs[t].bad->name, (unsigned long long)jobs[t].at);
        for (size_t i = 0; i < jobs[t].hp.n; i++) heap_push(out, jobs[t].hp.h[i]);
        vx_big_free(jobs[t].buf);
    }
    free(q); free(jobs); free(store); free(span);
    return rc;
}

/* ------------------------------------------------------------------ BLAS path */

typedef struct cvt_job { const vx_kern *kern; const uint16_t *X; float *Y, *ss; size_t n, H; int t, T; } cvt_job;

static void *cvt_worker(void *arg) {
    cvt_job *j = arg;
    size_t lo = j->n * (size_t)j->t / (size_t)j->T, hi = j->n * (size_t)(j->t + 1) / (size_t)j->T;
    if (hi > lo) j->kern->cvt_ss(j->Y + lo * j->H, j->ss + lo, j->X + lo * j->H, hi - lo, j->H);
    return NULL;
}

/* All nq queries (Q [nq][H]) over the row sets, heaps[i] for query i. */
static int scan_blas(heap *heaps, const rowset *sets, int nsets, size_t H, const float *Q, const double *qn, size_t nq,
                     int signed_rank, const uint64_t *exclude, vx_err *err) {
    size_t tile = TILE_ELEMS / H;
    if (tile < 64) tile = 64;
    if (tile > 4096) tile = 4096;
    float *Y = malloc(tile * H * sizeof *Y), *ss = malloc(tile * sizeof *ss), *C = malloc(nq * tile * sizeof *C);
    if (!Y || !ss || !C) { free(Y); free(ss); free(C); return vx_fail(err, VX_ENOMEM, "query: out of memory for a %zu-row tile", tile); }
    const vx_kern *kern = vx_kern_active();
    int rc = VX_OK;
    for (int s = 0; s < nsets && rc == VX_OK; s++) {
        const rowset *rs = &sets[s];
        for (size_t r0 = 0; r0 < rs->n; r0 += tile) {
            size_t m = rs->n - r0 < tile ? rs->n - r0 : tile;
            int T = threads_for(m * H);
            cvt_job jobs[64];
            for (int t = 0; t < T; t++) jobs[t] = (cvt_job){ kern, rs->X + r0 * H, Y, ss, m, H, t, T };
            vx_run_parallel(cvt_worker, jobs, sizeof jobs[0], T);
            if ((rc = vx_sgemm_nt(nq, m, H, Q, Y, C)) != VX_OK) {
                rc = vx_fail(err, rc, "query: sgemm refused %zu x %zu x %zu", nq, m, H);
                break;
            }
            for (size_t q = 0; q < nq; q++)
                for (size_t i = 0; i < m; i++)
                    offer(&heaps[q], C[q * m + i], ss[i], qn[q], row_key(rs, r0 + i), signed_rank, exclude[q]);
        }
    }
    free(Y); free(ss); free(C);
    return rc;
}

/* ------------------------------------------------------------------ driver */

static double norm_of(const float *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

/* Rank the row sets for every query: heaps[i] (k each) receive query i's top k, sorted. */
static int rank_rows(heap *heaps, const rowset *sets, int nsets, size_t H, const vx_query *const *qs, size_t nq,
                     int signed_rank, const uint64_t *exclude, vx_err *err) {
    for (size_t i = 0; i < nq; i++)
        if (!qs[i] || qs[i]->dim != H || !qs[i]->vec)
            return vx_fail(err, VX_EUSAGE, "query %zu: dimension %u, this vindex has hidden size %zu", i,
                           qs[i] ? qs[i]->dim : 0, H);
    int rc = VX_OK;
    if (nq >= vx_kern_env("VINDEX_BLAS_MIN", 3)) {
        float *Q = malloc(nq * H * sizeof *Q);
        double *qn = malloc(nq * sizeof *qn);
        if (!Q || !qn) rc = vx_fail(err, VX_ENOMEM, "query: out of memory");
        else {
            for (size_t i = 0; i < nq; i++) {
                memcpy(Q + i * H, qs[i]->vec, H * sizeof *Q);
                qn[i] = norm_of(qs[i]->vec, H);
            }
            rc = scan_blas(heaps, sets, nsets, H, Q, qn, nq, signed_rank, exclude, err);
        }
        free(Q);
        free(qn);
    } else {
        for (size_t i = 0; i < nq && rc == VX_OK; i++)
            rc = scan_one(&heaps[i], sets, nsets, H, qs[i]->vec, norm_of(qs[i]->vec, H), signed_rank, exclude[i], err);
    }
    for (size_t i = 0; i < nq && rc == VX_OK; i++) heap_sort(&heaps[i]);
    return rc;
}

/* Heaps over one caller-sized block of hits. */
static int make_heaps(heap **heaps, hit **store, size_t nq, size_t k, vx_err *err) {
    *heaps = calloc(nq ? nq : 1, sizeof **heaps);
    *store = calloc(nq * k + 1, sizeof **store);
    if (!*heaps || !*store) { free(*heaps); free(*store); return vx_fail(err, VX_ENOMEM, "query: out of memory"); }
    for (size_t i = 0; i < nq; i++) (*heaps)[i] = (heap){ *store + i * k, 0, k };
    return VX_OK;
}

/* Read mode. A one-shot scan (VX_ADVISE_ONCE) of a large matrix reads its rows with pread
 * into a buffer per thread that stays in L2, instead of touching the map: a mapped scan
 * pays a page fault per page-cache folio — some 300k for 1.2 GB held in 4 KiB folios, as a
 * file read back after a reboot is — and, to keep its resident set bounded, madvise
 * releases whose TLB shootdowns stall the other thread. Reading costs one copy per byte,
 * whatever the folios, and the resident set is the buffers. Under VX_ADVISE_ONCE_MAPPED a
 * scan of at most MAP_KEEP_BYTES (score over an 8B-class vindex's gate and down: 72 MiB)
 * reads the maps and keeps them: the copy, or the releases, would cost about as much
 * again as the scan itself — when the page cache holds the rows in 2 MiB folios, which a
 * mapping maps one PMD at a time, as it does a file the extractor wrote. A file read back
 * after a reboot sits in smaller folios, mapped with 4 KiB entries, and a scan through
 * those misses the TLB on every page (under a hypervisor, a two-level walk) and is slower
 * than pread's copy (doc/benchmarks.md, "Query processes"). So the scan first checks how
 * the page cache maps its rows (keep_if_huge) and keeps the maps only for whole 2 MiB
 * blocks. The files it read are released after it, while only the calling thread runs (no
 * TLB shootdown): dropping their mappings costs the same there as at vx_close, and the
 * output that follows maps vocab.bin and down_meta.bin beside 72 MiB less.
 * VINDEX_SCAN=map or read overrides the choice (the tests run all three); the result is
 * the same either way. */
#define MAP_KEEP_BYTES ((uint64_t)128 << 20)
#define HUGE_BYTES ((size_t)2 << 20)
enum { SCAN_MAP, SCAN_MAP_RELEASE, SCAN_MAP_KEEP, SCAN_READ };
static int scan_mode(const vx_index *vx, uint64_t bytes) {
    const char *e = getenv("VINDEX_SCAN");
    if (e && !strcmp(e, "map")) return vx_once(vx) ? SCAN_MAP_RELEASE : SCAN_MAP;
    if (e && !strcmp(e, "read")) return SCAN_READ;
    if (!vx_once(vx)) return SCAN_MAP;
    return vx->advice == VX_ADVISE_ONCE_MAPPED && bytes <= MAP_KEEP_BYTES ? SCAN_MAP_KEEP : SCAN_READ;
}

/* Resident pages of this process (/proc/self/statm), or -1. */
static long resident_pages(void) {
    char b[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return -1;
    b[n] = 0;
    long size, res;
    return sscanf(b, "%ld %ld", &size, &res) == 2 ? res : -1;
}

/* For SCAN_MAP_KEEP: SCAN_MAP_KEEP when the page cache maps the n row ranges one 2 MiB PMD
 * at a time, else SCAN_READ. Judged on the first whole block of each range: its mapping
 * dropped, one page of it mapped again, the resident set must grow by at least 3/4 of a
 * block per range (a small folio maps 16 pages around the fault). Then every range is
 * mapped in one call rather than a fault per block: under a hypervisor each fault is a
 * trap of tens of microseconds, and one MADV_POPULATE_READ maps 72 MiB of PMDs in the
 * time of a few (doc/benchmarks.md, "Query processes"). */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
static int keep_if_huge(const uint16_t *const *X, const size_t *bytes, int n) { /* n <= 2 */
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t first[2];
    int sampled = 0;
    for (int i = 0; i < n && i < 2; i++) {
        uintptr_t a = ((uintptr_t)X[i] + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
        if (a + HUGE_BYTES <= (uintptr_t)X[i] + bytes[i]) madvise((void *)(first[sampled++] = a), HUGE_BYTES, MADV_DONTNEED);
    }
    long before = sampled ? resident_pages() : 0;
    for (int i = 0; i < sampled; i++)
        if (madvise((void *)first[i], (size_t)(page > 0 ? page : 4096), MADV_POPULATE_READ) != 0)
            (void)*(volatile const uint8_t *)first[i]; /* before Linux 5.14 */
    long after = sampled ? resident_pages() : 0;
    if (sampled && !(before >= 0 && after >= 0 && page > 0 &&
                     (size_t)(after - before) * (size_t)page >= (size_t)sampled * (HUGE_BYTES / 4 * 3))) {
        for (int i = 0; i < sampled; i++) madvise((void *)first[i], HUGE_BYTES, MADV_DONTNEED);
        return SCAN_READ;
    }
    for (int i = 0; i < n; i++) vx_prefault(X[i], bytes[i]);
    return SCAN_MAP_KEEP;
}

/* After a SCAN_MAP_KEEP scan: the mappings of the files it read dropped (whole maps, so no
 * 2 MiB mapping is split at the ends of a range of layers). */
static void release_files(const vx_index *vx, const int *slots, int n) {
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        const vx_map *m = &vx->map[slots[i]];
        if (m->size && page > 0) madvise((void *)(uintptr_t)m->data, (m->size + (size_t)page - 1) / (size_t)page * (size_t)page, MADV_DONTNEED);
    }
}

void vx_score_opts_init(vx_score_opts *o) {
    memset(o, 0, sizeof *o);
    o->top = 20;
    o->layer_hi = UINT32_MAX;
    o->kinds = VX_KINDS_BOTH;
}

const char *vx_kind_name(vx_kind kind) { return kind == VX_DOWN ? "down" : "gate"; }

int vx_score(vx_feat_hit *out, size_t *n_out, const vx_index *vx, const vx_query *const *qs, size_t nq,
             const vx_score_opts *o, vx_err *err) {
    const vx_meta *m = &vx->meta;
    uint32_t L = m->num_layers, F = m->num_feats, lo = o->layer_lo, hi = o->layer_hi == UINT32_MAX ? L - 1 : o->layer_hi;
    size_t H = m->hidden_size;
    if (!o->top) return vx_fail(err, VX_EUSAGE, "score: top must be at least 1");
    if (!o->kinds || o->kinds > VX_KINDS_BOTH) return vx_fail(err, VX_EUSAGE, "score: no kind of feature selected");
    if (lo > hi || hi >= L) return vx_fail(err, VX_EUSAGE, "score: layers %u-%u: this vindex has layers 0-%u", lo, hi, L - 1);
    rowset sets[2];
    int nsets = 0, kinds = (o->kinds & 1u) + (o->kinds >> 1 & 1u);
    size_t set_bytes = (size_t)(hi - lo + 1) * F * H * sizeof(uint16_t);
    int mode = scan_mode(vx, (uint64_t)kinds * set_bytes);
    if (mode == SCAN_MAP_KEEP) {
        const uint16_t *X[2];
        size_t nb[2] = { set_bytes, set_bytes };
        int n = 0;
        for (int k = 0; k < 2; k++)
            if (o->kinds & (1u << k)) X[n++] = (k == VX_DOWN ? vx->down : vx->gate) + (size_t)lo * F * H;
        mode = keep_if_huge(X, nb, n);
    }
    for (int k = 0; k < 2; k++) {
        if (!(o->kinds & (1u << k))) continue;
        int slot = k == VX_DOWN ? VXF_DOWN : VXF_GATE;
        const uint16_t *X = k == VX_DOWN ? vx->down : vx->gate;
        sets[nsets++] = (rowset){ X + (size_t)lo * F * H, (size_t)(hi - lo + 1) * F, ((uint64_t)lo * 2 + (uint64_t)k) * F, F,
                                  2 * (uint64_t)F, mode == SCAN_MAP_RELEASE, mode == SCAN_READ ? vx->map[slot].fd : -1,
                                  (uint64_t)lo * F * H * 2, vx->dir, vx_slot_names[slot] };
    }
    uint64_t *exclude = calloc(nq + 1, sizeof *exclude);
    heap *heaps;
    hit *store;
    if (!exclude) return vx_fail(err, VX_ENOMEM, "score: out of memory");
    int rc = make_heaps(&heaps, &store, nq, o->top, err);
    if (rc) { free(exclude); return rc; }
    for (size_t i = 0; i < nq; i++)
        exclude[i] = qs[i] && qs[i]->is_feature ? ((uint64_t)qs[i]->layer * 2 + qs[i]->kind) * F + qs[i]->feature : NO_KEY;
    rc = rank_rows(heaps, sets, nsets, H, qs, nq, o->signed_rank, exclude, err);
    if (mode == SCAN_MAP_KEEP) {
        int slots[2], ns = 0;
        for (int k = 0; k < 2; k++)
            if (o->kinds & (1u << k)) slots[ns++] = k == VX_DOWN ? VXF_DOWN : VXF_GATE;
        release_files(vx, slots, ns);
    }
    for (size_t i = 0; i < nq && rc == VX_OK; i++) {
        n_out[i] = heaps[i].n;
        for (size_t j = 0; j < heaps[i].n; j++) {
            uint64_t key = heaps[i].h[j].key;
            vx_feat_hit *f = &out[i * o->top + j];
            f->layer = (uint32_t)(key / (2 * (uint64_t)F));
            f->kind = (vx_kind)((key / F) % 2);
            f->feature = (uint32_t)(key % F);
            f->cosine = heaps[i].h[j].cos;
        }
    }
    free(exclude);
    free(heaps);
    free(store);
    return rc;
}

int vx_nearest_tokens(vx_tok_hit *out, size_t *n_out, const vx_index *vx, const vx_query *const *qs, size_t nq,
                      size_t k, vx_err *err) {
    const vx_meta *m = &vx->meta;
    size_t H = m->hidden_size, V = m->vocab_size;
    if (!k) return vx_fail(err, VX_EUSAGE, "nearest: the number of tokens must be at least 1");
    /* The whole matrix is read front to back: ask for read-ahead (R-O3: advice only). */
    int mode = scan_mode(vx, (uint64_t)V * H * sizeof(uint16_t)), fd = vx->map[VXF_EMB].fd;
    if (mode == SCAN_MAP_KEEP) {
        size_t nb = V * H * sizeof(uint16_t);
        mode = keep_if_huge(&vx->emb, &nb, 1);
    }
    int rd = mode == SCAN_READ;
    void *base = (void *)(uintptr_t)vx->map[VXF_EMB].data;
    if (rd) posix_fadvise(fd, 0, (off_t)vx->map[VXF_EMB].size, POSIX_FADV_WILLNEED);
    else {
        madvise(base, vx->map[VXF_EMB].size, MADV_SEQUENTIAL);
        madvise(base, vx->map[VXF_EMB].size, MADV_WILLNEED);
    }
    rowset set = { vx->emb, V, 0, V, 0, mode == SCAN_MAP_RELEASE, rd ? fd : -1, 0, vx->dir, vx_slot_names[VXF_EMB] };
    uint64_t *exclude = calloc(nq + 1, sizeof *exclude);
    heap *heaps;
    hit *store;
    if (!exclude) return vx_fail(err, VX_ENOMEM, "nearest: out of memory");
    int rc = make_heaps(&heaps, &store, nq, k, err);
    if (rc) { free(exclude); return rc; }
    for (size_t i = 0; i < nq; i++)
        exclude[i] = qs[i] && qs[i]->token_id >= 0 ? (uint64_t)qs[i]->token_id : NO_KEY;
    rc = rank_rows(heaps, &set, 1, H, qs, nq, 1, exclude, err);
    if (mode == SCAN_MAP_KEEP) release_files(vx, (const int[]){ VXF_EMB }, 1);
    for (size_t i = 0; i < nq && rc == VX_OK; i++) {
        n_out[i] = heaps[i].n;
        for (size_t j = 0; j < heaps[i].n; j++) {
            out[i * k + j].token_id = (uint32_t)heaps[i].h[j].key;
            out[i * k + j].cosine = heaps[i].h[j].cos;
        }
    }
    free(exclude);
    free(heaps);
    free(store);
    return rc;
}
