/*
 * outfile.h — a file being written into a vindex's temporary directory. Bytes are hashed
 * (SHA-256 and XXH3-64) as they are written so nothing is read back; close fsyncs.
 * Writes reach the file in whole multiples of VX_OUT_CHUNK bytes at offsets that are
 * multiples of it (the last one shorter): on Linux ≥ 6.16 ext4 (and xfs) then keep the
 * new file in the page cache as 2 MiB folios, which a 2 MiB-aligned mapping
 * (vx_map_file) maps with one page-table entry each instead of 512 — on the project's
 * virtual machine every 4 KiB page first read through a fresh mapping costs ~1.3 µs.
 */
#ifndef VX_FORMAT_OUTFILE_H
#define VX_FORMAT_OUTFILE_H
#include "common.h"
#include "vxmeta.h"

#define VX_OUT_CHUNK ((size_t)2 << 20)
/* R-I10: a file longer than this gets per-chunk SHA-256 digests of this size in
 * index.json, so `verify` can hash one file on every core. 16 MiB keeps the list short
 * (75 digests for a Qwen3-8B embedding) and the last core's wait under ~10 ms. */
#define VX_SHA_CHUNK ((uint64_t)16 << 20)

typedef struct vx_outfile {
    int fd;
    char *path;
    const char *name;
    uint64_t bytes;
    unsigned char *buf; /* [VX_OUT_CHUNK], the bytes not written yet; NULL until needed */
    size_t held;        /* how many */
    void *sha;        /* EVP_MD_CTX */
    void *xxh;        /* XXH3_state_t */
    char sha256[65];  /* set by close */
    char xxh3[17];    /* set by close */
    /* R-I10 chunk digests, once the file passes VX_SHA_CHUNK bytes (n_chunks is 0 before):
     * chunk 0's digest is the whole-file state copied at the boundary, later chunks have
     * their own state. Kept after close, until vx_out_release. */
    int whole_only;        /* set after open: no chunk digests (unpack copies index.json's) */
    void *csha;            /* EVP_MD_CTX of the current chunk (from chunk 1 on) */
    uint8_t (*chunks)[32];
    uint32_t n_chunks, cap_chunks;
} vx_outfile;

/* Create `dir/name` exclusively. Errors: VX_EIO, VX_ENOMEM. */
int vx_out_open(vx_outfile *f, const char *dir, const char *name, vx_err *err);
int vx_out_write(vx_outfile *f, const void *buf, size_t len, vx_err *err);
/* Write what is held, fsync, close, finish the digests. Safe to call on a failed or closed
 * file. */
int vx_out_close(vx_outfile *f, vx_err *err);
/* Free what close keeps (the chunk digests); after vx_meta_set_files/add_file have copied
 * them. Safe on a zeroed, failed or released file. */
void vx_out_release(vx_outfile *f);
/* Write a whole small file in one call; digests in f after return. */
int vx_out_file(vx_outfile *f, const char *dir, const char *name, const void *buf, size_t len, vx_err *err);

/* ---- finishing a vindex (shared by the extractor and the synthetic-vindex tools) ---- */

/* Slots of a writer's vx_outfile array: 0..6 the vx_data_files, then these (VX_N_FILES). */
enum { VX_OF_INDEX = 7, VX_OF_MANIFEST, VX_OF_SUMS, VX_OF_SPECTRA, VX_OF_NEURONS, VX_OF_MOMENTS, VX_OF_UNEMBED };

/* The seven data files of a vindex, in the order vx_meta_set_files expects them. */
extern const char *const vx_data_files[7];
/* Fill m->files from the seven written files of[0..6] (named as vx_data_files): sizes,
 * shapes implied by m's dimensions, dtypes, XXH3 (spec R-I9), SHA-256 and chunk digests
 * (R-I10, copied). m->files must hold no chunk digests of its own (they would leak).
 * Errors: VX_ENOMEM. */
int vx_meta_set_files(vx_meta *m, const vx_outfile of[7], vx_err *err);
/* Write SHA256SUMS into `dir` from the written files of[0..n) (every file but itself, in
 * byte order of the names, `sha256sum -c` format, spec R-S1; entries with a NULL name are
 * skipped); digests left in *sums. */
int vx_sums_write(vx_outfile *sums, const char *dir, const vx_outfile *of, size_t n, vx_err *err);
/* Append version 2's files (spec §9) written in of[VX_OF_SPECTRA], of[VX_OF_NEURONS],
 * of[VX_OF_MOMENTS] and, when `unembed`, of[VX_OF_UNEMBED] to m->files: sizes and digests
 * from the files, shapes from m's dimensions (m->num_layers: a part's own). Errors:
 * VX_ENOMEM. */
int vx_meta_add_battery_files(vx_meta *m, const vx_outfile of[VX_N_FILES], int unembed, vx_err *err);
/* The content digest (R-B6) of the written files of[0..n) (entries with a NULL name are
 * skipped; manifest.json and SHA256SUMS are left out by the definition). */
int vx_digest_of_files(char hex[65], const vx_outfile *of, size_t n, vx_err *err);
#endif
