/*
 * vx_archive.h — vindex archives (`NAME.vindex.tar.zst`, spec/archive.md): pack a vindex
 * into one reproducible file, verify an archive in one streaming pass without writing
 * anything, unpack one safely, and check any of them — or a vindex in the local Hugging
 * Face cache — against an anchor obtained outside it (a content digest or a SHA256SUMS).
 * Conventions as vindex.h.
 */
#ifndef VX_ARCHIVE_H
#define VX_ARCHIVE_H

#include "vindex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vx_pack_opts {
    const char *src;     /* the vindex directory */
    const char *out;     /* the archive to write; NULL = "NAME.vindex.tar.zst" in the current directory */
    int level;           /* zstd level 1..19; 0 = 3 */
    int threads;         /* zstd workers; 0 = online CPUs (the bytes do not depend on it) */
    int long_log;        /* 0, or a window log 10..27 for long-distance matching (A-P5) */
    int force;           /* replace an existing `out` */
} vx_pack_opts;

typedef struct vx_pack_result {
    char path[4096];         /* the archive written */
    char digest[65];         /* the content digest (R-B6) */
    uint64_t in_bytes;       /* tar bytes */
    uint64_t out_bytes;      /* compressed bytes */
    int members;
} vx_pack_result;

/*
 * Write the archive of `o->src` (spec/archive.md A-P*): the member set checked first
 * (R-F1), every file's SHA-256 checked against SHA256SUMS while it is packed (an archive
 * that would not verify is never written), written to a temporary name beside the output,
 * fsynced and renamed. Errors: VX_EUSAGE, VX_EEXIST, VX_ENOTFOUND, VX_ECORRUPT,
 * VX_EMISMATCH (a file does not match SHA256SUMS), VX_EIO, VX_ENOMEM.
 */
int vx_pack(vx_pack_result *res, const vx_pack_opts *o, vx_err *err);

/* Anchors from outside the vindex (spec/archive.md A-V9). */
typedef struct vx_anchor {
    const char *digest;     /* expected content digest (64 hex digits), or NULL */
    const char *sums_path;  /* a SHA256SUMS obtained elsewhere, or NULL */
} vx_anchor;

/* What a verification established, for the caller to print. */
typedef struct vx_verify_result {
    char kind[16];           /* "directory", "archive" or "hf-cache" */
    char target[4096];       /* what was checked: the directory, archive ("-" for stdin) or snapshot */
    char digest[65];         /* content digest of what was checked ("" when it could not be formed) */
    int members;             /* files or archive members seen */
    uint64_t bytes;          /* their bytes */
    uint64_t compressed;     /* archive bytes read (archives) */
    int digest_anchor;       /* 0 not asked, 1 matched, -1 differed */
    int sums_anchor;         /* 0 not asked, 1 matched, -1 differed */
    int sums_listed;         /* entries of the outside SHA256SUMS */
    int blobs_checked;       /* hf-cache: blob names checked against content */
    int rows_in_aggregate;   /* archive: direction files came before index.json (A-V6) */
    int problems;
} vx_verify_result;

/*
 * Verify `target`: a vindex directory (vx_verify), an archive file or "-" for stdin
 * (streamed once, constant memory, nothing written: A-V*), or a Hub repo id "org/name"
 * whose snapshot (`revision`, default "main") is in the local Hugging Face cache (the
 * directory checks plus each file's blob name against its content: A-H*). Then the
 * anchors, if any. `report(ctx, line)` is called once per problem. Returns 0 when all
 * holds, VX_EMISMATCH when problems were reported, other codes when the check could not
 * run. `threads` as vx_verify (archives: >= 2 decompresses on its own thread).
 */
int vx_verify_target(vx_verify_result *res, const char *target, const char *revision, const vx_anchor *anchor,
                     int threads, void (*report)(void *ctx, const char *line), void *ctx, vx_err *err);

/* A directory's files that index.json gives per-chunk SHA-256 digests for (spec R-I10) are
 * checked chunk by chunk on every thread, and their SHA256SUMS line against the whole-file
 * digest index.json records. This flag also hashes every file whole, as `sha256sum -c`
 * does (one thread per file: slower on a vindex with one large file), so the writer's
 * consistency between the two is checked too. */
#define VX_VERIFY_WHOLE_FILES 1u
/* vx_verify_target with flags (VX_VERIFY_*). */
int vx_verify_target_ex(vx_verify_result *res, const char *target, const char *revision, const vx_anchor *anchor,
                        int threads, unsigned flags, void (*report)(void *ctx, const char *line), void *ctx, vx_err *err);

typedef struct vx_unpack_opts {
    const char *archive;    /* file, or "-" for stdin */
    const char *out;        /* directory to create; NULL = the archive's name without ".tar.zst" */
    int force;              /* replace an existing `out` (atomically, only after a full verification) */
    int threads;
} vx_unpack_opts;

/*
 * Unpack an archive (spec/archive.md A-U*): every rule of the streaming verify applied
 * before or while bytes are written, into a temporary directory beside `out`, which is
 * renamed into place only when everything held. On any failure nothing is left at `out`
 * and an existing `out` is untouched. `res` (may be NULL) receives what was verified.
 * Errors: VX_EUSAGE, VX_EEXIST, VX_ECORRUPT, VX_EUNSUPPORTED, VX_EMISMATCH, VX_EIO, VX_ENOMEM.
 */
int vx_unpack(vx_verify_result *res, const vx_unpack_opts *o, vx_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VX_ARCHIVE_H */
