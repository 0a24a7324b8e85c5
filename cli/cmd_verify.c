/*
 * cmd_verify.c — `vindex verify VX|ARCHIVE|-|ORG/NAME [--digest HEX] [--sums FILE]
 * [--revision REV] [--whole-files] [--json] [--threads N]`: every check the target allows, then what it
 * was checked against, said in words.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_archive.h"

static const char *verify_help =
    "usage: vindex verify VX|ARCHIVE|-|ORG/NAME [--digest HEX] [--sums FILE] [--revision REV]\n"
    "                     [--whole-files] [--json] [--threads N]\n"
    "\n"
    "Check a vindex completely. VX is a directory: the SHA-256 of every file against its\n"
    "SHA256SUMS, that SHA256SUMS covers exactly the files present, the XXH3 of every file\n"
    "against index.json, and every structural fact (sizes against shapes, headers, tables,\n"
    "down_meta records, NaN/Inf counts, unit-length directions with the sign convention,\n"
    "the weight battery's spectra, neuron norms and moments against index.json, and the\n"
    "content digest manifest.json records).\n"
    "ARCHIVE is a .vindex.tar.zst (or - for stdin): the same checks, streamed in one pass\n"
    "without writing anything, plus the archive's own rules (member set, paths, types).\n"
    "ORG/NAME is a vindex in the local Hugging Face cache: the directory checks on its\n"
    "snapshot, plus every blob's name against its content.\n"
    "A file whose index.json entry lists chunk digests (spec R-I10: every file over 16 MiB\n"
    "that this version writes) is hashed chunk by chunk on every core, and its SHA256SUMS\n"
    "line compared with the whole-file SHA-256 index.json records; --whole-files also\n"
    "hashes it whole, as sha256sum -c does.\n"
    "SHA256SUMS travels with the vindex, so alone it proves only that the files agree with\n"
    "each other. An anchor obtained elsewhere proves they are the ones published:\n"
    "\n"
    "  --digest HEX    the expected content digest (vindex info, pack and verify print it)\n"
    "  --sums FILE     a SHA256SUMS obtained elsewhere: every file must match it\n"
    "  --revision REV  Hugging Face cache: a ref or snapshot (default main)\n"
    "  --whole-files   also recompute every file's whole SHA-256 (directories; slower)\n"
    "  --json          {\"ok\": bool, \"problems\": [...], ...} on stdout\n"
    "  -j, --threads   hashing threads (default: the cores online, or VINDEX_THREADS)\n"
    "  -h, --help      this text\n"
    "\nPrints one line per problem, naming the file (and for archives the offset).\n"
    "exit status: 0 all holds, 1 problems found, 2 usage error\n";

typedef struct vctx { int json; cJSON *arr; } vctx;

static void on_problem(void *ctx, const char *line) {
    vctx *v = ctx;
    if (v->json) cJSON_AddItemToArray(v->arr, cJSON_CreateString(line));
    else printf("%s\n", line);
}

/* What the files were checked against, in words (A-V9). */
static void against(char *b, size_t cap, const vx_verify_result *r, const vx_anchor *a) {
    const char *own = !strcmp(r->kind, "archive") ? "the archive's SHA256SUMS" : "the vindex's own SHA256SUMS";
    int n = snprintf(b, cap, "SHA-256 of every file against %s (it travels with the files)", own);
    if (a->sums_path)
        n += snprintf(b + n, cap - (size_t)n, "; against %s (%d entries): %s", a->sums_path, r->sums_listed,
                      r->sums_anchor > 0 ? "match" : "MISMATCH");
    if (a->digest)
        n += snprintf(b + n, cap - (size_t)n, "; content digest against --digest: %s", r->digest_anchor > 0 ? "match" : "MISMATCH");
    if (!a->sums_path && !a->digest) snprintf(b + n, cap - (size_t)n, "; no outside anchor (--digest or --sums)");
}

int cmd_verify(int argc, char **argv) {
    static const struct option lo[] = { { "json", no_argument, 0, 'J' },        { "threads", required_argument, 0, 'j' },
                                        { "digest", required_argument, 0, 'D' }, { "sums", required_argument, 0, 'S' },
                                        { "revision", required_argument, 0, 'R' }, { "help", no_argument, 0, 'h' },
                                        { "whole-files", no_argument, 0, 'W' },
                                        { 0, 0, 0, 0 } };
    int c;
    long threads = 0; /* 0: vx_kern_threads() */
    unsigned flags = 0;
    vctx v = { 0, NULL };
    vx_anchor a = { NULL, NULL };
    const char *revision = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "j:h", lo, NULL)) != -1) {
        if (c == 'J') v.json = 1;
        else if (c == 'W') flags |= VX_VERIFY_WHOLE_FILES;
        else if (c == 'j') { if (cli_int(optarg, 1, VX_THREADS_MAX, &threads)) return cli_usage("verify", "--threads %s: expected 1..%d", optarg, VX_THREADS_MAX); }
        else if (c == 'D') {
            if (strlen(optarg) != 64 || strspn(optarg, "0123456789abcdefABCDEF") != 64)
                return cli_usage("verify", "--digest %s: expected 64 hexadecimal digits", optarg);
            a.digest = optarg;
        } else if (c == 'S') a.sums_path = optarg;
        else if (c == 'R') revision = optarg;
        else if (c == 'h') { fputs(verify_help, stdout); return EXIT_OK; }
        else return cli_usage("verify", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return cli_usage("verify", "expected exactly one vindex, archive, '-' or repo id");
    const char *target = argv[optind];
    v.arr = cJSON_CreateArray();
    vx_verify_result r;
    vx_err err = { 0 };
    int rc = vx_verify_target_ex(&r, target, revision, &a, (int)threads, flags, on_problem, &v, &err);
    if (rc && rc != VX_EMISMATCH) {
        /* the check could not run to its end: a broken stream is a failed verification */
        if (v.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "path", target);
            cJSON_AddBoolToObject(o, "ok", 0);
            cJSON_AddItemToArray(v.arr, cJSON_CreateString(err.msg));
            cJSON_AddItemToObject(o, "problems", v.arr);
            char *s = cJSON_PrintUnformatted(o);
            puts(s);
            free(s);
            cJSON_Delete(o);
        } else cJSON_Delete(v.arr);
        cli_error("verify: %s", err.msg);
        return cli_exit_for(rc);
    }
    char what[1200];
    against(what, sizeof what, &r, &a);
    if (v.json) {
        /* {"path", "ok", ["content_digest"], "problems"} as for a directory since format
         * version 2 (the Python binding's VerifyResult matches it byte for byte); what an
         * archive, the cache or an anchor adds follows */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", target);
        cJSON_AddBoolToObject(o, "ok", r.problems == 0);
        if (r.digest[0] && !r.problems) cJSON_AddStringToObject(o, "content_digest", r.digest);
        cJSON_AddItemToObject(o, "problems", v.arr);
        if (!strcmp(r.kind, "directory") && !a.digest && !a.sums_path) {
            char *s = cJSON_PrintUnformatted(o);
            puts(s);
            free(s);
            cJSON_Delete(o);
            return r.problems ? EXIT_FAIL : EXIT_OK;
        }
        cJSON_AddStringToObject(o, "kind", r.kind);
        cJSON_AddStringToObject(o, "checked", r.target);
        cJSON_AddNumberToObject(o, "members", r.members);
        cJSON_AddNumberToObject(o, "bytes", (double)r.bytes);
        if (!strcmp(r.kind, "archive")) cJSON_AddNumberToObject(o, "compressed_bytes", (double)r.compressed);
        if (!strcmp(r.kind, "hf-cache")) cJSON_AddNumberToObject(o, "blobs_checked", r.blobs_checked);
        cJSON *an = cJSON_AddObjectToObject(o, "anchors");
        if (a.digest) cJSON_AddBoolToObject(an, "digest", r.digest_anchor > 0);
        if (a.sums_path) cJSON_AddBoolToObject(an, "sums", r.sums_anchor > 0);
        cJSON_AddBoolToObject(o, "rows_in_aggregate", r.rows_in_aggregate);
        cJSON_AddStringToObject(o, "checked_against", what);
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(v.arr);
        if (!r.problems) printf("%s: OK\n", target);
        printf("  checked:        %s %s: %d %s, %llu bytes\n", r.kind, r.target, r.members,
               !strcmp(r.kind, "archive") ? "members" : "files", (unsigned long long)r.bytes);
        printf("  against:        %s\n", what);
        if (!strcmp(r.kind, "hf-cache")) printf("  cache blobs:    %d blob names checked against content\n", r.blobs_checked);
        if (r.rows_in_aggregate)
            printf("  note:           a direction file came before index.json: its rows were checked in aggregate "
                   "(unit length summed; the sign convention not checked)\n");
        if (r.digest[0]) printf("  content digest: %s\n", r.digest);
        if (r.problems) fprintf(stderr, "vindex: verify: %d problem%s found\n", r.problems, r.problems == 1 ? "" : "s");
    }
    return r.problems ? EXIT_FAIL : EXIT_OK;
}
