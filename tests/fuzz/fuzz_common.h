/*
 * fuzz_common.h — shared by the libFuzzer targets in tests/fuzz/ and by the replay
 * driver tests/test_fuzz_replay.c, which includes every target in one translation unit
 * (so everything here is static and guarded).
 *
 * FUZZ_ASSERT states an invariant a parser promises about what it accepted (tensors
 * inside the buffer, a built vocab.bin that parses back, ...). A violated invariant is a
 * finding exactly like a crash: it aborts, which libFuzzer records and the replay driver
 * counts as a failure.
 */
#ifndef VX_FUZZ_COMMON_H
#define VX_FUZZ_COMMON_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_ASSERT(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "FUZZ_ASSERT %s:%d: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)

#define FUZZ_UNUSED __attribute__((unused)) /* helpers a given target may not call */

/* Keep a byte observable so reads of borrowed memory are not optimised away (ASan sees
 * every one of them). */
static volatile unsigned fuzz_sink_;
static inline void fuzz_touch(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    fuzz_sink_ += s;
}

/* With VX_FUZZ_VERBOSE set, say what the parser answered (to see which seeds are
 * accepted: `VX_FUZZ_VERBOSE=1 build/tests/test_fuzz_replay`). */
FUZZ_UNUSED static void fuzz_result(const char *target, int rc, const char *msg) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("VX_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "%s: rc %d%s%s\n", target, rc, rc ? ": " : "", rc ? msg : "");
}

/* ---------------------------------------------------------------------------------
 * Checkpoint directories for the targets whose parser is reached only through
 * vx_ckpt_open (config.json, model.safetensors.index.json): a private directory holding
 * symlinks to the tiny-qwen3 fixture (sharded), into which the target writes the fuzz
 * input under the file name it fuzzes. The fixture is found through $VX_FIXTURES, else
 * tests/fixtures relative to the working directory (make runs from the repository
 * root), else relative to this source file. */

static char fuzz_dir_[PATH_MAX];
static char fuzz_fix_[PATH_MAX];

FUZZ_UNUSED static void fuzz_rm_dir_(void) {
    if (!fuzz_dir_[0]) return;
    static const char *const names[] = { "config.json", "tokenizer.json", "model.safetensors.index.json",
                                         "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                         "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                                         "generation_config.json", "tokenizer_config.json", NULL };
    char p[PATH_MAX + 64];
    for (int i = 0; names[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_, names[i]);
        unlink(p);
    }
    rmdir(fuzz_dir_);
    fuzz_dir_[0] = 0;
}

FUZZ_UNUSED static int fuzz_try_fixture_(const char *d) {
    char probe[PATH_MAX + 32];
    size_t n = strlen(d);
    if (n >= PATH_MAX) return 0;
    memcpy(probe, d, n);
    memcpy(probe + n, "/config.json", sizeof "/config.json");
    return access(probe, R_OK) == 0 && realpath(d, fuzz_fix_) != NULL;
}

FUZZ_UNUSED static const char *fuzz_fixture_(void) {
    if (fuzz_fix_[0]) return fuzz_fix_;
    const char *env = getenv("VX_FIXTURES");
    char cand[3][PATH_MAX];
    snprintf(cand[0], sizeof cand[0], "%s/tiny-qwen3", env ? env : "/nonexistent");
    snprintf(cand[1], sizeof cand[1], "tests/fixtures/tiny-qwen3");
    /* __FILE__ is tests/fuzz/fuzz_common.h as the compiler found it */
    snprintf(cand[2], sizeof cand[2], "%s", __FILE__);
    char *slash = strrchr(cand[2], '/');
    if (slash) snprintf(slash, sizeof cand[2] - (size_t)(slash - cand[2]), "/../fixtures/tiny-qwen3");
    else snprintf(cand[2], sizeof cand[2], "../fixtures/tiny-qwen3");
    for (int i = 0; i < 3; i++)
        if (fuzz_try_fixture_(cand[i])) return fuzz_fix_;
    fprintf(stderr, "fuzz: cannot find tests/fixtures/tiny-qwen3 (run from the repository root or set VX_FIXTURES)\n");
    abort();
}

/* The private checkpoint directory, created on first use and removed at exit. Every
 * fixture file is linked in; `fuzzed` names the file the caller will overwrite. */
FUZZ_UNUSED static const char *fuzz_ckpt_dir(void) {
    if (fuzz_dir_[0]) return fuzz_dir_;
    const char *fix = fuzz_fixture_();
    snprintf(fuzz_dir_, sizeof fuzz_dir_, "/tmp/vx-fuzz-ckpt-XXXXXX");
    if (!mkdtemp(fuzz_dir_)) { perror("fuzz: mkdtemp"); abort(); }
    atexit(fuzz_rm_dir_);
    static const char *const names[] = { "config.json", "tokenizer.json", "model.safetensors.index.json",
                                         "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                         "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", NULL };
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    for (int i = 0; names[i]; i++) {
        snprintf(from, sizeof from, "%s/%s", fix, names[i]);
        snprintf(to, sizeof to, "%s/%s", fuzz_dir_, names[i]);
        if (symlink(from, to)) { perror("fuzz: symlink"); abort(); }
    }
    return fuzz_dir_;
}

/* Replace `name` in the private directory with `data` (a regular file, not the link). */
FUZZ_UNUSED static void fuzz_put_file(const char *name, const uint8_t *data, size_t len) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", fuzz_ckpt_dir(), name);
    unlink(p);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) { perror("fuzz: write"); abort(); }
}

/* Put back the fixture's own copy of `name` (a link), so each target fuzzes one file. */
FUZZ_UNUSED static void fuzz_restore_file(const char *name) {
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/%s", fuzz_fixture_(), name);
    snprintf(to, sizeof to, "%s/%s", fuzz_ckpt_dir(), name);
    unlink(to);
    if (symlink(from, to)) { perror("fuzz: symlink"); abort(); }
}

#endif
