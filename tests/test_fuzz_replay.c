/*
 * test_fuzz_replay.c — runs the fuzz corpora in plain `make test` (gcc, no libFuzzer),
 * as zstd's regression driver does: every target of tests/fuzz/ is compiled into this
 * program under its own name, and every file of tests/fuzz/corpus/<target>/ is fed to
 * it. Each input runs in a forked child so one crash (or sanitizer report, or
 * FUZZ_ASSERT) is counted and named, and the rest still run. A pass is an input that
 * returned without crashing. Run from the repository root; argv[1] may name another
 * corpus root, argv[2] a single target.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>

#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_index_json_one
#include "fuzz/fuzz_index_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_vocab_bin_one
#include "fuzz/fuzz_vocab_bin.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_down_meta_one
#include "fuzz/fuzz_down_meta.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sums_one
#include "fuzz/fuzz_sums.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tokenizer_one
#include "fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_shard_index_one
#include "fuzz/fuzz_shard_index.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_mapfile_one
#include "fuzz/fuzz_mapfile.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tar_one
#include "fuzz/fuzz_tar.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tokregex_one
#include "fuzz/fuzz_tokregex.c"
#undef LLVMFuzzerTestOneInput

#include "check.h"

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    { "fuzz_safetensors", fuzz_safetensors_one }, { "fuzz_index_json", fuzz_index_json_one },
    { "fuzz_vocab_bin", fuzz_vocab_bin_one },     { "fuzz_down_meta", fuzz_down_meta_one },
    { "fuzz_sums", fuzz_sums_one },               { "fuzz_tokenizer", fuzz_tokenizer_one },
    { "fuzz_config", fuzz_config_one },           { "fuzz_shard_index", fuzz_shard_index_one },
    { "fuzz_mapfile", fuzz_mapfile_one },
    { "fuzz_tar", fuzz_tar_one },                 { "fuzz_tokregex", fuzz_tokregex_one },
};

/* Whole file into an exactly sized malloc'd buffer (no NUL: parsers get what libFuzzer
 * gives them, so an over-read is an ASan report here too). */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            uint8_t *t = realloc(b, cap *= 2);
            if (!t) { free(b); b = NULL; }
            else b = t;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) { free(b); return NULL; }
    uint8_t *exact = malloc(n ? n : 1);
    if (exact) memcpy(exact, b, n);
    free(b);
    *len = n;
    return exact;
}

/* The current target's file names. Global, so that LeakSanitizer in a forked child (which
 * inherits them) sees them as reachable rather than leaked by the input it ran. */
static char **names;
static size_t n_names;

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Run one input in a child; 1 when it returned normally. */
static int run_one(int (*fn)(const uint8_t *, size_t), const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        size_t len = 0;
        uint8_t *buf = slurp(path, &len);
        if (!buf) _exit(3);
        fn(buf, len);
        free(buf);
        exit(0); /* exit, not _exit: atexit cleanup and LeakSanitizer run */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 0;
    if (WIFSIGNALED(st)) fprintf(stderr, "%s: killed by signal %d\n", path, WTERMSIG(st));
    else if (WEXITSTATUS(st)) fprintf(stderr, "%s: exit status %d\n", path, WEXITSTATUS(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        if (argc > 2 && strcmp(argv[2], targets[t].name)) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, targets[t].name);
        DIR *d = opendir(dir);
        CHECK(d != NULL, "%s: no corpus directory", dir);
        if (!d) continue;
        size_t n = 0, cap = 0;
        names = NULL;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                char **g = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
                if (!g) break;
                names = g;
            }
            names[n++] = strdup(e->d_name);
            n_names = n;
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_names);
        CHECK(n > 0, "%s: empty corpus", dir);
        int ok = 0;
        for (size_t i = 0; i < n; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            int pass = run_one(targets[t].fn, path);
            ok += pass;
            CHECK(pass, "%s: %s crashed", targets[t].name, names[i]);
            free(names[i]);
        }
        free(names);
        names = NULL;
        n_names = 0;
        fprintf(stderr, "%-18s %zu inputs, %d clean\n", targets[t].name, n, ok);
    }
    return CHECK_DONE();
}
