/*
 * pack.c — vx_pack: a vindex directory into `NAME.vindex.tar.zst` (spec/archive.md A-P*).
 * The bytes depend only on the vindex, the directory's name, the level, the long-distance
 * option and the libzstd version: members in a fixed order, normalised headers, one zstd
 * frame whose content size is declared up front, compressed by libzstd's workers (whose
 * output does not depend on how many there are).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "archive.h"
#include "kern.h"
#include "vxindex.h"

#define IO_CHUNK ((size_t)4 << 20)
#define RECORD 10240u /* ustar's record: the archive is padded to a whole one (A-P4) */

static uint64_t round512(uint64_t n) { return (n + VX_TAR_BLOCK - 1) / VX_TAR_BLOCK * VX_TAR_BLOCK; }

typedef struct plan {
    int m[M_COUNT];       /* member indices in order */
    int n;
    uint64_t size[M_COUNT];
    int pax[M_COUNT];     /* needs a pax record (size over ustar's, or a long path) */
} plan;

/* A-P2: the directory holds exactly a vindex's files, every one regular. */
static int make_plan(plan *p, int dfd, const char *src, const vx_meta *meta, const vx_sum *sums, size_t nsums,
                     vx_err *err) {
    memset(p, 0, sizeof *p);
    int present[M_COUNT] = { 0 };
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0) close(lfd);
        return vx_fail(err, VX_EIO, "%s: cannot list", src);
    }
    int rc = VX_OK;
    for (struct dirent *e; rc == VX_OK && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int m = arc_member_index(e->d_name);
        struct stat st;
        if (m < 0) rc = vx_fail(err, VX_ECORRUPT, "%s/%s: not a file of a vindex (R-F1); refusing to pack it", src, e->d_name);
        else if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: not a regular file", src, e->d_name);
        else if (arc_members[m].v2 && !vx_meta_file(meta, e->d_name))
            rc = vx_fail(err, VX_ECORRUPT, "%s/%s: present, but index.json's files table does not list it", src, e->d_name);
        else {
            present[m] = 1;
            p->size[m] = (uint64_t)st.st_size;
        }
    }
    closedir(d);
    if (rc) return rc;
    for (int m = 0; m < M_COUNT; m++) {
        int need = !arc_members[m].v2 || vx_meta_file(meta, arc_members[m].name);
        if (need && !present[m]) return vx_fail(err, VX_ECORRUPT, "%s/%s: missing", src, arc_members[m].name);
        if (!present[m]) continue;
        if (m != M_SUMS) {
            int listed = 0;
            for (size_t i = 0; i < nsums; i++) listed |= !strcmp(sums[i].name, arc_members[m].name);
            if (!listed) return vx_fail(err, VX_ECORRUPT, "%s/%s: not listed in SHA256SUMS", src, arc_members[m].name);
        }
        p->m[p->n++] = m;
    }
    for (size_t i = 0; i < nsums; i++) {
        int m = arc_member_index(sums[i].name);
        if (m < 0 || !present[m] || m == M_SUMS)
            return vx_fail(err, VX_ECORRUPT, "%s/SHA256SUMS: lists %s, which is not a file of this vindex", src, sums[i].name);
    }
    return VX_OK;
}

/* NAME of "…/NAME.vindex" or "…/NAME": the directory the members are under is NAME.vindex. */
static int archive_dir(char *out, size_t cap, const char *src) {
    char b[4096];
    snprintf(b, sizeof b, "%s", src);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') b[--n] = 0;
    const char *base = strrchr(b, '/') ? strrchr(b, '/') + 1 : b;
    size_t bl = strlen(base);
    if (bl > 7 && !strcmp(base + bl - 7, ".vindex")) bl -= 7;
    if (!bl || !strcmp(base, ".") || !strcmp(base, "..") || bl + 7 >= cap || bl > 140) return -1;
    for (size_t i = 0; i < bl; i++)
        if ((unsigned char)base[i] < 0x20 || base[i] == '\\' || base[i] == 0x7f) return -1;
    snprintf(out, cap, "%.*s.vindex", (int)bl, base);
    return 0;
}

static int put_header(vx_zst_writer *z, const char *path, uint64_t size, int pax, vx_err *err) {
    uint8_t blk[VX_TAR_BLOCK];
    int rc;
    if (pax) { /* A-P3: a pax 'x' record carries what ustar cannot */
        uint8_t rec[VX_TAR_BLOCK];
        size_t rl = vx_tar_pax_build(rec, sizeof rec, path, size > VX_TAR_USTAR_SIZE_MAX, size);
        char pname[64];
        snprintf(pname, sizeof pname, "PaxHeaders/%.40s", strrchr(path, '/') + 1);
        if (!rl) return vx_fail(err, VX_EUSAGE, "%s: pax record does not fit", path);
        memset(rec + rl, 0, sizeof rec - rl);
        if ((rc = vx_tar_header_write(blk, pname, rl, 'x', 0, err)) || (rc = vx_zst_write(z, blk, sizeof blk, err)) ||
            (rc = vx_zst_write(z, rec, sizeof rec, err)))
            return rc;
    }
    vx_err e;
    if (vx_tar_header_write(blk, path, size > VX_TAR_USTAR_SIZE_MAX ? 0 : size, '0', 0, &e) != VX_OK) {
        if (!pax) return vx_fail(err, VX_EUSAGE, "%s: %s", path, e.msg);
        /* the pax record holds the path; the ustar name is only a fallback for old readers */
        if ((rc = vx_tar_header_write(blk, strrchr(path, '/') + 1, size > VX_TAR_USTAR_SIZE_MAX ? 0 : size, '0', 0, err)))
            return rc;
    }
    return vx_zst_write(z, blk, sizeof blk, err);
}

/* Stream one file into the archive, hashing it; it must match SHA256SUMS (A-P6). */
static int put_file(vx_zst_writer *z, int dfd, const char *src, const char *name, uint64_t size, const char *want,
                    uint8_t *buf, vx_err *err) {
    int fd;
    struct stat st;
    char shown[4200];
    snprintf(shown, sizeof shown, "%s/%s", src, name);
    int orc = vx_open_file(&fd, &st, dfd, name, shown, err);
    if (orc) return orc;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int rc = c ? VX_OK : vx_fail(err, VX_ENOMEM, "out of memory");
    if (c) EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    uint64_t got = 0;
    while (rc == VX_OK) {
        ssize_t r = read(fd, buf, IO_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = vx_fail(err, VX_EIO, "%s/%s: read: %s", src, name, strerror(errno)); break; }
        if (!r) break;
        if ((uint64_t)r > size - got) { rc = vx_fail(err, VX_EIO, "%s/%s: grew while it was being packed", src, name); break; }
        EVP_DigestUpdate(c, buf, (size_t)r);
        rc = vx_zst_write(z, buf, (size_t)r, err);
        got += (uint64_t)r;
    }
    if (rc == VX_OK && got != size) rc = vx_fail(err, VX_EIO, "%s/%s: shrank while it was being packed", src, name);
    if (rc == VX_OK) {
        uint8_t md[32];
        unsigned int mdn = 32;
        char hex[65];
        EVP_DigestFinal_ex(c, md, &mdn);
        vx_hex(hex, md, 32);
        if (want && strcmp(hex, want))
            rc = vx_fail(err, VX_EMISMATCH, "%s/%s: SHA-256 %s, SHA256SUMS says %s; not packing a vindex that would not verify",
                         src, name, hex, want);
    }
    EVP_MD_CTX_free(c);
    close(fd);
    if (rc == VX_OK && size % VX_TAR_BLOCK) {
        static const uint8_t zero[VX_TAR_BLOCK];
        rc = vx_zst_write(z, zero, VX_TAR_BLOCK - size % VX_TAR_BLOCK, err);
    }
    return rc;
}

int vx_pack(vx_pack_result *res, const vx_pack_opts *o, vx_err *err) {
    memset(res, 0, sizeof *res);
    int level = o->level ? o->level : 3, threads = o->threads;
    if (!o->src || !*o->src) return vx_fail(err, VX_EUSAGE, "pack: a vindex directory is required");
    if (level < 1 || level > 19) return vx_fail(err, VX_EUSAGE, "--level %d: expected 1..19", level);
    if (o->long_log && (o->long_log < 10 || o->long_log > VX_ZST_WINDOW_LOG_MAX))
        return vx_fail(err, VX_EUSAGE, "--long %d: expected a window log of 10..%d", o->long_log, VX_ZST_WINDOW_LOG_MAX);
    if (threads <= 0) threads = vx_threads_cap(sysconf(_SC_NPROCESSORS_ONLN));
    char dirname[200];
    if (archive_dir(dirname, sizeof dirname, o->src))
        return vx_fail(err, VX_EUSAGE, "%s: cannot name an archive after this directory", o->src);
    if (o->out) snprintf(res->path, sizeof res->path, "%s", o->out);
    else snprintf(res->path, sizeof res->path, "%s.tar.zst", dirname);
    struct stat st;
    if (lstat(res->path, &st) == 0 && !o->force)
        return vx_fail(err, VX_EEXIST, "%s: already exists (use --force to replace it)", res->path);

    int dfd, rc, fd = -1;
    if ((rc = vx_open_dir(&dfd, o->src, err))) return rc;
    char *sbuf = NULL, *ibuf = NULL, *tmp = NULL;
    size_t slen = 0, ilen = 0, nsums = 0;
    vx_sum *sums = NULL;
    vx_meta meta;
    memset(&meta, 0, sizeof meta);
    vx_index *vx = NULL;
    uint8_t *buf = NULL;
    vx_zst_writer z;
    memset(&z, 0, sizeof z);
    plan p;
    /* A-P2: the vindex must open (sizes against index.json, headers, vocab.bin) */
    if ((rc = vx_open_at(&vx, dfd, o->src, err))) goto out;
    vx_close(vx);
    if ((rc = vx_read_fileat(&sbuf, &slen, dfd, "SHA256SUMS", "SHA256SUMS", 1u << 20, err)) ||
        (rc = vx_sums_parse(&sums, &nsums, (const uint8_t *)sbuf, slen, "SHA256SUMS", err)) ||
        (rc = vx_read_fileat(&ibuf, &ilen, dfd, "index.json", "index.json", VX_MAX_INDEX_JSON, err)) ||
        (rc = vx_meta_parse(&meta, (const uint8_t *)ibuf, ilen, "index.json", err)) ||
        (rc = make_plan(&p, dfd, o->src, &meta, sums, nsums, err)))
        goto out;
    for (size_t i = 0; i < nsums; i++) { /* A-P6: index.json's digest of a file is SHA256SUMS's (R-I10) */
        const vx_file_meta *fm = vx_meta_file(&meta, sums[i].name);
        if (fm && fm->sha256[0] && strcmp(fm->sha256, sums[i].hex)) {
            rc = vx_fail(err, VX_EMISMATCH, "%s/index.json: records SHA-256 %s for %s, SHA256SUMS says %s; not packing a "
                         "vindex that would not verify", o->src, fm->sha256, sums[i].name, sums[i].hex);
            goto out;
        }
    }

    /* the exact tar size, declared in the frame header */
    uint64_t total = 0;
    for (int i = 0; i < p.n; i++) {
        int m = p.m[i];
        char path[400];
        snprintf(path, sizeof path, "%s/%s", dirname, arc_members[m].name);
        uint8_t blk[VX_TAR_BLOCK];
        p.pax[m] = p.size[m] > VX_TAR_USTAR_SIZE_MAX || vx_tar_header_write(blk, path, 0, '0', 0, NULL) != VX_OK;
        total += (p.pax[m] ? 2 * VX_TAR_BLOCK : 0) + VX_TAR_BLOCK + round512(p.size[m]);
    }
    total += 2 * VX_TAR_BLOCK;
    uint64_t padded = (total + RECORD - 1) / RECORD * RECORD;

    {
        char parent[4096], prefix[4200];
        const char *sl = strrchr(res->path, '/');
        snprintf(parent, sizeof parent, "%.*s", sl ? (int)(sl - res->path) + (sl == res->path) : 1, sl ? res->path : ".");
        snprintf(prefix, sizeof prefix, ".%s.vxtmp.", sl ? sl + 1 : res->path);
        arc_clean_stale(parent, prefix); /* A-P6: what a killed pack left */
    }
    if (asprintf(&tmp, "%.*s.%s.vxtmp.%ld",
                 strrchr(res->path, '/') ? (int)(strrchr(res->path, '/') - res->path + 1) : 0, res->path,
                 strrchr(res->path, '/') ? strrchr(res->path, '/') + 1 : res->path, (long)getpid()) < 0) {
        tmp = NULL;
        rc = vx_fail(err, VX_ENOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) { rc = vx_fail(err, VX_EIO, "%s: cannot create: %s", tmp, strerror(errno)); free(tmp); tmp = NULL; goto out; }
    if (!(buf = malloc(IO_CHUNK))) { rc = vx_fail(err, VX_ENOMEM, "out of memory"); goto out; }
    if ((rc = vx_zst_writer_open(&z, fd, tmp, level, threads, o->long_log, padded, err))) goto out;
    for (int i = 0; i < p.n && rc == VX_OK; i++) {
        int m = p.m[i];
        const char *want = NULL;
        for (size_t k = 0; k < nsums; k++)
            if (!strcmp(sums[k].name, arc_members[m].name)) want = sums[k].hex;
        char path[400];
        snprintf(path, sizeof path, "%s/%s", dirname, arc_members[m].name);
        if ((rc = put_header(&z, path, p.size[m], p.pax[m], err))) break;
        rc = put_file(&z, dfd, o->src, arc_members[m].name, p.size[m], want, buf, err);
    }
    if (rc == VX_OK) { /* A-P4: two zero blocks, then zeros to a whole record */
        memset(buf, 0, RECORD);
        uint64_t left = padded - total + 2 * VX_TAR_BLOCK;
        while (rc == VX_OK && left) {
            size_t k = left < RECORD ? (size_t)left : RECORD;
            rc = vx_zst_write(&z, buf, k, err);
            left -= k;
        }
    }
    if (rc == VX_OK) rc = vx_zst_writer_finish(&z, err);
    if (rc == VX_OK && fsync(fd) != 0) rc = vx_fail(err, VX_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == VX_OK) rc = vx_fail(err, VX_EIO, "%s: close: %s", tmp, strerror(errno));
    fd = -1;
    if (rc) goto out;
    if (o->force ? rename(tmp, res->path) != 0 : renameat2(AT_FDCWD, tmp, AT_FDCWD, res->path, RENAME_NOREPLACE) != 0) {
        rc = vx_fail(err, errno == EEXIST ? VX_EEXIST : VX_EIO, "%s: cannot rename into place: %s", res->path, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    {
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", res->path);
        char *sl = strrchr(parent, '/');
        if (sl) *(sl == parent ? sl + 1 : sl) = 0;
        rc = vx_fsync_dir(sl ? parent : ".", err);
    }
    res->in_bytes = z.in_bytes;
    res->out_bytes = z.out_bytes;
    res->members = p.n;
    if (rc == VX_OK) rc = vx_content_digest_of(res->digest, sums, nsums, err);
out:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    vx_zst_writer_free(&z);
    free(buf);
    free(sbuf);
    free(ibuf);
    free(sums);
    vx_meta_free(&meta);
    close(dfd);
    return rc;
}
