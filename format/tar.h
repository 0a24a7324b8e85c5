/*
 * tar.h — POSIX tar (ustar, pax extended headers; GNU tar's own dialect read too) as pure
 * functions over bytes: one header block parsed or written, and a push parser that is fed
 * an archive in arbitrary pieces and calls back per member. No I/O, no allocation beyond
 * the reader's bounded extended-header buffer, every number from the bytes parsed with
 * checked arithmetic — the fuzz target (tests/fuzz/fuzz_tar.c) drives it directly.
 *
 * What a tar may hold is decided here only as far as tar goes (spec/archive.md A-T*):
 * regular files, directories, pax 'x'/'g' and GNU 'L' long-name records; links, devices,
 * FIFOs, sparse and multi-volume members are refused with the offset of their header.
 * Which members a vindex archive may hold is the caller's (src/archive.c).
 */
#ifndef VX_FORMAT_TAR_H
#define VX_FORMAT_TAR_H

#include "common.h"

#define VX_TAR_BLOCK 512u
#define VX_TAR_PATH_MAX 1024u        /* longest member path accepted (pax path, GNU 'L') */
#define VX_TAR_EXT_MAX (64u << 10)   /* largest pax / GNU long-name record accepted */
#define VX_TAR_TRAIL_MAX (1u << 20)  /* zero bytes accepted after the end-of-archive marker */
#define VX_TAR_USTAR_SIZE_MAX 077777777777ull /* 8 GiB - 1: larger sizes go in a pax record */

/* One member as its header(s) describe it. */
typedef struct vx_tar_hdr {
    char path[VX_TAR_PATH_MAX + 1]; /* full path: pax path, GNU long name, or prefix/name */
    uint64_t size;                  /* data bytes that follow (pax size overrides the field) */
    uint64_t mode, uid, gid;
    int64_t mtime;
    char type;                      /* '0' regular ('\0' is reported as '0'), '5' directory */
    uint64_t offset;                /* archive offset of the member's (first) header block */
} vx_tar_hdr;

/* Parse one 512-byte header block at archive offset `off` (for messages). Returns VX_OK,
 * 1 when the block is all zeros (an end-of-archive block), or VX_ECORRUPT / VX_EUNSUPPORTED
 * naming the offset and the field (checksum, magic, a number, the type). Link targets are
 * not kept: any type but regular, directory, pax and GNU long name is refused here. */
int vx_tar_header_parse(vx_tar_hdr *h, const uint8_t blk[VX_TAR_BLOCK], uint64_t off, vx_err *err);

/* Apply the records of a pax extended header ("%d key=value\n"...) to h: `path` and
 * `size` replace the header's; GNU.sparse.* is refused; other keys are ignored. `global`
 * for a 'g' header, where path and size are refused. Errors: VX_ECORRUPT, VX_EUNSUPPORTED. */
int vx_tar_pax_apply(vx_tar_hdr *h, const uint8_t *buf, size_t len, int global, uint64_t off, vx_err *err);

/* A normalised ustar header (spec/archive.md A-P3): mode 0644, uid/gid 0, empty user and
 * group names, mtime `mtime`, type `type`. A path longer than 100 bytes is split at a '/'
 * into prefix and name. Errors: VX_EUSAGE when the path does not fit ustar (the caller
 * writes a pax record first) or size > VX_TAR_USTAR_SIZE_MAX. */
int vx_tar_header_write(uint8_t blk[VX_TAR_BLOCK], const char *path, uint64_t size, char type, uint64_t mtime,
                        vx_err *err);
/* The data of a pax extended header with `path` (when not NULL) and `size` (when
 * size_too) records, into out (cap bytes); returns its length or 0 when it does not fit. */
size_t vx_tar_pax_build(uint8_t *out, size_t cap, const char *path, int size_too, uint64_t size);

/* ---- the push parser ---- */

typedef struct vx_tar_sink {
    /* A member begins (regular file or directory); its data follows through `data`. */
    int (*member)(void *ctx, const vx_tar_hdr *h, vx_err *err);
    /* The next n bytes of the current member's data (pieces of any size, in order). */
    int (*data)(void *ctx, const uint8_t *p, size_t n, vx_err *err);
    /* The current member's data is complete. */
    int (*member_end)(void *ctx, vx_err *err);
    void *ctx;
} vx_tar_sink;

typedef struct vx_tar_reader {
    uint64_t off;          /* archive bytes consumed */
    int state;             /* internal */
    uint8_t blk[VX_TAR_BLOCK];
    size_t have;           /* bytes of blk filled */
    uint64_t remain;       /* data bytes left in the current member or extended record */
    uint64_t pad;          /* padding bytes left after it */
    vx_tar_hdr cur;        /* the member being read */
    vx_tar_hdr next;       /* overrides gathered from pax 'x' / GNU 'L' records for the next member */
    int have_path, have_size;
    char ext_type;         /* 'x', 'g' or 'L' while an extended record is being gathered */
    uint64_t ext_off;
    uint8_t *ext;          /* [VX_TAR_EXT_MAX], allocated on first use */
    size_t ext_len;
    uint64_t trailing;     /* zero bytes seen after the end-of-archive marker */
    uint64_t members;
} vx_tar_reader;

void vx_tar_reader_init(vx_tar_reader *r);
void vx_tar_reader_free(vx_tar_reader *r);
/* Feed the next n archive bytes. Calls the sink as members appear; a sink error stops the
 * parse and is returned. Errors: VX_ECORRUPT / VX_EUNSUPPORTED (naming the archive offset),
 * VX_ENOMEM, or the sink's. After an error the reader must not be fed again. */
int vx_tar_feed(vx_tar_reader *r, const uint8_t *p, size_t n, const vx_tar_sink *s, vx_err *err);
/* The input has ended: VX_OK only when the end-of-archive marker was seen (and nothing
 * but zeros after it); otherwise VX_ECORRUPT naming where the archive was cut short. */
int vx_tar_finish(const vx_tar_reader *r, vx_err *err);

#endif
