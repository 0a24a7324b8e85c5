/*
 * main.c — the `vindex` command: dispatch to subcommands, shared argument helpers.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_query.h"

static const struct { const char *name; int (*fn)(int, char **); const char *help; } cmds[] = {
    { "extract", cmd_extract, "build a vindex from a Hugging Face checkpoint" },
    { "merge", cmd_merge, "join the parts written by extract --layers into one vindex" },
    { "plan", cmd_plan, "what extract would do with a checkpoint, from its headers only" },
    { "info", cmd_info, "describe a vindex: model, shapes, files, provenance, spectra" },
    { "verify", cmd_verify, "check every byte and fact of a vindex, archive or cached repo" },
    { "score", cmd_score, "features whose directions align with a token" },
    { "nearest", cmd_nearest, "nearest tokens and features to a token, feature or vector" },
    { "describe", cmd_describe, "what one feature points to" },
    { "lens", cmd_lens, "the logits a feature, token or vector writes (final norm, unembedding)" },
    { "compare", cmd_compare, "Procrustes alignment of two vindexes' embedding spaces" },
    { "map", cmd_map, "carry a token, feature or vector into another model with a saved map" },
    { "stats", cmd_stats, "embedding geometry and the per-layer weight battery of one vindex" },
    { "pack", cmd_pack, "write a vindex as one reproducible NAME.vindex.tar.zst" },
    { "unpack", cmd_unpack, "check and unpack a .vindex.tar.zst into a directory" },
    { "report", cmd_report, "a self-contained HTML page of plots about one vindex or a pair" },
};

static void usage(FILE *f) {
    fprintf(f, "usage: vindex COMMAND [ARGS]   (vindex COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nexit status: 0 ok, 1 failure or mismatch, 2 usage error\n");
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vindex: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_exit_for(int code) { return code == VX_OK ? EXIT_OK : code == VX_EUSAGE ? EXIT_USAGE : EXIT_FAIL; }

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vindex %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry 'vindex %s --help'\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_layers(const char *s, vx_extract_opts *o) {
    char a[32], *dash;
    long lo, hi;
    snprintf(a, sizeof a, "%s", s);
    if ((dash = strchr(a, '-'))) *dash = 0;
    if (strlen(s) >= sizeof a || cli_int(a, 0, 4095, &lo) || cli_int(dash ? dash + 1 : a, 0, 4095, &hi) || hi < lo) return -1;
    o->part = 1;
    o->layer_first = (unsigned)lo;
    o->layer_last = (unsigned)hi;
    return 0;
}

void cli_json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void cli_print_token(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

int cli_corrupt_seen;

/* The raw form of token id, or "?" (the vindex's vocabulary could not give it). A damaged
 * entry of vocab.bin — which opening does not read — is reported once, and the command
 * then ends with status 1 after its output. */
static void token_raw(const vx_index *vx, uint32_t id, const char **s, size_t *n) {
    const char *text;
    size_t tl;
    vx_err err = { 0 };
    int rc = vx_token_str(s, n, &text, &tl, vx, id, &err);
    if (rc == VX_OK) return;
    if (rc == VX_ECORRUPT && !cli_corrupt_seen++) cli_error("%s", err.msg);
    *s = "?";
    *n = 1;
}

void cli_print_token_id(const vx_index *vx, uint32_t id) {
    const char *s;
    size_t n;
    token_raw(vx, id, &s, &n);
    fputc('\'', stdout);
    cli_print_token(stdout, s, n);
    fputc('\'', stdout);
}

cJSON *cli_token_json(const vx_index *vx, uint32_t id) {
    const char *s;
    size_t n;
    token_raw(vx, id, &s, &n);
    char *c = malloc(n + 1);
    if (!c) return cJSON_CreateNull();
    memcpy(c, s, n);
    c[n] = 0;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

cJSON *cli_tok_hits_json(const vx_index *vx, const vx_tok_hit *t, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "token", cli_token_json(vx, t[i].token_id));
        cJSON_AddNumberToObject(r, "token_id", t[i].token_id);
        cJSON_AddNumberToObject(r, "cosine", t[i].cosine);
        cJSON_AddItemToArray(a, r);
    }
    return a;
}

cJSON *cli_feat_hits_json(const vx_feat_hit *f, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "layer", f[i].layer);
        cJSON_AddNumberToObject(r, "feature", f[i].feature);
        cJSON_AddStringToObject(r, "kind", vx_kind_name(f[i].kind));
        cJSON_AddNumberToObject(r, "cosine", f[i].cosine);
        cJSON_AddItemToArray(a, r);
    }
    return a;
}

/* OpenBLAS reads its tuning from the environment when it loads, and the library loads it
 * only on the first BLAS call (format/lazylib.h), so setting the environment here, before
 * any command runs, is enough: no re-execution. Settings the user made are kept.
 * - OPENBLAS_CORETYPE: Debian's build chooses the AVX2 (Haswell) kernels on AVX-512 CPUs,
 *   1.6-3.4x slower for sgemm; SkylakeX is used when the CPU has AVX-512 F/BW/VL.
 * - OPENBLAS_THREAD_TIMEOUT: after each call OpenBLAS's idle threads spin (yielding) for
 *   2^28 cycles, taking CPU time from this program's own conversion threads between BLAS
 *   calls; 2^4 makes them sleep at once (compare: half the system time). */
static void tune_openblas(void) {
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
}

/* The library checks every size before mapping, so SIGBUS can only mean a file was
 * truncated in place by another process while this one was reading it. That is a
 * failure of the input, reported like one — not a crash. */
static void on_sigbus(int sig) {
    static const char msg[] = "vindex: a mapped file shrank while it was being read (SIGBUS): "
                              "the vindex was modified in place under this process\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more can be done */ }
    _exit(EXIT_FAIL);
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    if (argc < 2) { usage(stderr); return EXIT_USAGE; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return EXIT_OK; }
    if (!strcmp(argv[1], "--version")) { printf("vindex %s\n", VX_VERSION_STRING); return EXIT_OK; }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            tune_openblas();
            int st = cmds[i].fn(argc - 1, argv + 1);
            return st == EXIT_OK && cli_corrupt_seen ? EXIT_FAIL : st;
        }
    fprintf(stderr, "vindex: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
