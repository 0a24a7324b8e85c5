/*
 * archive.h — inside the archive code of src/: the member table (spec/archive.md A-M*),
 * the streaming checker that both `verify ARCHIVE` and `unpack` run over the members as
 * the tar reader hands them out, and the anchors. Not installed; cli/ never sees it.
 */
#ifndef VX_SRC_ARCHIVE_H
#define VX_SRC_ARCHIVE_H

#include <openssl/evp.h>
#include <xxhash.h>

#include "common.h"
#include "tar.h"
#include "vx_archive.h"
#include "vxmeta.h"
#include "zst.h"

/* The members a vindex archive may hold, in the order pack writes them (A-P1). */
enum { M_SUMS, M_INDEX, M_MANIFEST, M_TOKENIZER, M_VOCAB, M_NORMS, M_DMETA, M_GATE, M_DOWN, M_EMB,
       M_SPECTRA, M_NEURONS, M_MOMENTS, M_UNEMBED, M_COUNT };

typedef struct arc_member {
    const char *name;
    int v2;          /* a §9 file: a member only when index.json's files table lists it */
    uint64_t cap;    /* > 0: held in memory to be parsed, at most this many bytes (A-V4) */
    char check;      /* 'r' direction rows, 'h' f16 finite, 'f' f32 finite, 'p' f32 finite >= 0,
                      * 'd' down_meta records, 0 parsed whole (cap > 0) */
} arc_member;
extern const arc_member arc_members[M_COUNT];
/* Index in arc_members of a plain file name, -1 when it is not a vindex file. */
int arc_member_index(const char *name);

/* Largest member accepted before index.json has said how large it must be (A-V3). */
#define VX_ARC_MEMBER_MAX (1ull << 40)

/* Hooks through which unpack writes what the checker has accepted. */
typedef struct arc_writer {
    int (*member)(void *ctx, int m, uint64_t size, vx_err *err);
    int (*data)(void *ctx, const uint8_t *p, size_t n, vx_err *err);
    int (*end)(void *ctx, vx_err *err);
    /* index.json has been read and checked: the sizes of every other member are known. */
    int (*meta)(void *ctx, const vx_meta *m, vx_err *err);
    void *ctx;
} arc_writer;

typedef struct arc_check {
    const char *what;                   /* the archive, as named in messages */
    void (*report)(void *ctx, const char *line);
    void *rctx;
    int problems;
    int fail_fast;                      /* the first problem is an error (unpack) */
    int need_meta_first;                /* a sized member before index.json is an error (A-U3) */
    int meta_late;                      /* set when that happened */
    int keep_index;                     /* keep index.json's bytes in index_copy (unpack's first pass) */
    uint8_t *index_copy;
    size_t index_len;
    const arc_writer *w;

    struct {
        int seen;
        uint64_t size, hoff;
        char sha[65];
        char xxh[17];
        int sha_done, xxh_done;         /* compared with SHA256SUMS / index.json already */
    } m[M_COUNT];
    int nseen;
    char prefix[VX_TAR_PATH_MAX + 1];   /* directory every member is under (A-M2) */
    int have_prefix;
    char dir[VX_TAR_PATH_MAX + 1];      /* the one directory member, if any */
    int have_dir;

    vx_meta meta;
    int have_meta;
    char known_index_sha[65];           /* index.json read in an earlier pass (unpack), "" if none */
    vx_sum *sums;
    size_t nsums;
    int have_sums;

    /* the member being read */
    int cur;
    uint64_t cur_got;
    EVP_MD_CTX *sha;
    XXH3_state_t *xxh;
    uint8_t *buf;                       /* whole member (cap > 0) */
    uint8_t carry[4];
    size_t ncarry;
    /* rows ('r') */
    uint32_t H;                         /* row length; 0 = not known yet: aggregate only */
    uint32_t rowF;                      /* features per layer, to name a row */
    uint32_t row_i;
    uint64_t row;
    double ss, ss_total;
    uint16_t best, best_bits;
    uint64_t bad_rows, first_bad, nonfinite, negative;
    double agg_ss[M_COUNT];             /* rows summed while H was unknown */
    int agg[M_COUNT];
    /* down_meta ('d') */
    uint8_t dm_hdr[32];
    uint8_t *rec;
    uint32_t rec_bytes, rec_have, K, max_id;
    uint64_t nrec, bad_rec, first_bad_rec;
    int dm_hdr_ok;
    uint32_t vocab_n;                   /* vocab.bin's count, 0 when not parsed */
    char manifest_digest[65];           /* manifest.json's content_digest */
    int manifest_has_digest;            /* 1 a 64-character string, -1 something else, 0 none */
} arc_check;

/* Set up a checker. `known_index` (may be NULL): index.json bytes from an earlier pass
 * over the same archive; sizes are then checked from the first member on, and the
 * archive's own index.json must be byte-identical. Errors: VX_ENOMEM, VX_ECORRUPT. */
int arc_check_init(arc_check *c, const char *what, void (*report)(void *, const char *), void *rctx, int fail_fast,
                   const uint8_t *known_index, size_t known_len, vx_err *err);
void arc_check_free(arc_check *c);
/* The sink to hand to vx_tar_feed. */
vx_tar_sink arc_check_sink(arc_check *c);
/* The stream has ended cleanly: the checks that needed every member, then the anchors. */
int arc_check_finish(arc_check *c, vx_verify_result *res, const vx_anchor *a, vx_err *err);

/* Decompress `fd` and run the tar reader and checker `c` over it (one pass). */
int arc_stream(arc_check *c, int fd, int threads, vx_zst_stats *st, vx_err *err);

/* Content digest of `have` (every file but SHA256SUMS) into res->digest, then the anchors
 * of `a` (may be NULL) against `have`, each difference reported as a problem. Returns the
 * number of problems; VX_EUSAGE / VX_ENOTFOUND / VX_ECORRUPT (as a negative code) when an
 * anchor itself is unusable. */
int arc_anchor(vx_verify_result *res, const vx_sum *have, size_t n, const vx_anchor *a,
               void (*report)(void *, const char *), void *rctx, vx_err *err);

/* Remove what killed runs left in `parent`: entries named `prefix` + the pid of a process
 * that is gone (a temporary archive file or directory). Returns how many were removed. */
int arc_clean_stale(const char *parent, const char *prefix);

/* vx_verify with flags: VX_VERIFY_WHOLE_FILES, and VX_VERIFY_LINKS_OK for symbolic links
 * (the Hugging Face cache's snapshots). */
#define VX_VERIFY_LINKS_OK 0x100u
int vx_verify_ex(const char *dir, int threads, unsigned flags, void (*report)(void *ctx, const char *line), void *ctx,
                 int *problems, vx_err *err);

#endif
