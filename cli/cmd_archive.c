/*
 * cmd_archive.c — `vindex pack VX [-o OUT] [--level N] [--threads N] [--long[=W]] [--force]`
 * and `vindex unpack ARCHIVE [-o DIR] [--force]` (spec/archive.md).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "vx_archive.h"

static const char *pack_help =
    "usage: vindex pack VX [-o OUT] [--level N] [--threads N] [--long[=W]] [--force] [--json]\n"
    "\n"
    "Write the vindex VX as one file, NAME.vindex.tar.zst: a POSIX tar (members under\n"
    "NAME.vindex/, SHA256SUMS first, index.json next, the rest in a fixed order; mode,\n"
    "owner and time normalised) compressed with zstd. The same vindex, level and --long\n"
    "give the same bytes, whatever the thread count. Every file is checked against\n"
    "SHA256SUMS as it is packed. The archive is written to a temporary name and renamed.\n"
    "Read it with `tar --zstd -xf`, `vindex verify` or `vindex unpack`.\n"
    "\n"
    "  -o, --output OUT  archive path (default NAME.vindex.tar.zst in the current directory)\n"
    "  -l, --level N     zstd level 1..19 (default 3)\n"
    "  -j, --threads N   zstd worker threads (default: online CPUs)\n"
    "  --long[=W]        long-distance matching with a 2^W-byte window (default W 27);\n"
    "                    off by default: it did not pay on vindexes (see doc/benchmarks.md)\n"
    "                    and raises the memory every reader needs to 2^W bytes\n"
    "  --force           replace an existing OUT\n"
    "  --json            one JSON object on stdout\n"
    "  -h, --help        this text\n"
    "\nexit status: 0 ok, 1 failure, 2 usage error\n";

static const char *unpack_help =
    "usage: vindex unpack ARCHIVE [-o DIR] [--force] [--json]\n"
    "\n"
    "Check and unpack a vindex archive (a file, or - for stdin with -o). Everything verify\n"
    "checks is checked as the bytes arrive, and nothing is written that the checks have not\n"
    "bounded: no absolute paths, \"..\", links, devices, FIFOs, duplicate or unexpected\n"
    "members; each member's size is checked against the vindex's rules before its first\n"
    "byte, and the whole against the free space. Output goes to a temporary directory\n"
    "beside DIR, renamed into place only when everything holds: on failure nothing is left\n"
    "at DIR and an existing DIR is untouched.\n"
    "\n"
    "  -o, --output DIR  directory to create (default: the archive's name without .tar.zst)\n"
    "  --force           replace an existing DIR (atomically, after the checks)\n"
    "  -j, --threads N   2 (default) decompresses on its own thread; 1 does not\n"
    "  --json            one JSON object on stdout\n"
    "  -h, --help        this text\n"
    "\nexit status: 0 ok, 1 failure (the archive is damaged or hostile), 2 usage error\n";

int cmd_pack(int argc, char **argv) {
    static const struct option lo[] = { { "output", required_argument, 0, 'o' }, { "level", required_argument, 0, 'l' },
                                        { "threads", required_argument, 0, 'j' }, { "long", optional_argument, 0, 'L' },
                                        { "force", no_argument, 0, 'F' },         { "json", no_argument, 0, 'J' },
                                        { "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 } };
    vx_pack_opts o;
    memset(&o, 0, sizeof o);
    int c, json = 0;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:l:j:h", lo, NULL)) != -1) {
        if (c == 'o') o.out = optarg;
        else if (c == 'l') { if (cli_int(optarg, 1, 19, &v)) return cli_usage("pack", "--level %s: expected 1..19", optarg); o.level = (int)v; }
        else if (c == 'j') { if (cli_int(optarg, 1, VX_THREADS_MAX, &v)) return cli_usage("pack", "--threads %s: expected 1..%d", optarg, VX_THREADS_MAX); o.threads = (int)v; }
        else if (c == 'L') {
            if (!optarg) o.long_log = 27;
            else if (cli_int(optarg, 10, 27, &v)) return cli_usage("pack", "--long=%s: expected a window log 10..27", optarg);
            else o.long_log = (int)v;
        } else if (c == 'F') o.force = 1;
        else if (c == 'J') json = 1;
        else if (c == 'h') { fputs(pack_help, stdout); return EXIT_OK; }
        else return cli_usage("pack", "unknown option or missing value '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return cli_usage("pack", "expected exactly one vindex directory");
    o.src = argv[optind];
    vx_pack_result r;
    vx_err err = { 0 };
    int rc = vx_pack(&r, &o, &err);
    if (rc) { cli_error("pack: %s", err.msg); return cli_exit_for(rc); }
    double ratio = r.out_bytes ? (double)r.in_bytes / (double)r.out_bytes : 0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "archive", r.path);
        cJSON_AddStringToObject(j, "content_digest", r.digest);
        cJSON_AddNumberToObject(j, "members", r.members);
        cJSON_AddNumberToObject(j, "tar_bytes", (double)r.in_bytes);
        cJSON_AddNumberToObject(j, "compressed_bytes", (double)r.out_bytes);
        cJSON_AddNumberToObject(j, "ratio", ratio);
        char *s = cJSON_PrintUnformatted(j);
        puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s: %d members, %llu bytes -> %llu bytes (ratio %.3f)\n", r.path, r.members, (unsigned long long)r.in_bytes,
               (unsigned long long)r.out_bytes, ratio);
        printf("content digest: %s\n", r.digest);
    }
    return EXIT_OK;
}

int cmd_unpack(int argc, char **argv) {
    static const struct option lo[] = { { "output", required_argument, 0, 'o' }, { "force", no_argument, 0, 'F' },
                                        { "threads", required_argument, 0, 'j' }, { "json", no_argument, 0, 'J' },
                                        { "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 } };
    vx_unpack_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    int c, json = 0;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:j:h", lo, NULL)) != -1) {
        if (c == 'o') o.out = optarg;
        else if (c == 'F') o.force = 1;
        else if (c == 'j') { if (cli_int(optarg, 1, VX_THREADS_MAX, &v)) return cli_usage("unpack", "--threads %s: expected 1..%d", optarg, VX_THREADS_MAX); o.threads = (int)v; }
        else if (c == 'J') json = 1;
        else if (c == 'h') { fputs(unpack_help, stdout); return EXIT_OK; }
        else return cli_usage("unpack", "unknown option or missing value '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1) return cli_usage("unpack", "expected exactly one archive");
    o.archive = argv[optind];
    if (!strcmp(o.archive, "-") && !o.out) return cli_usage("unpack", "reading stdin: name the output directory with -o");
    vx_verify_result r;
    vx_err err = { 0 };
    int rc = vx_unpack(&r, &o, &err);
    if (rc) { cli_error("unpack: %s", err.msg); return cli_exit_for(rc); }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "archive", o.archive);
        cJSON_AddStringToObject(j, "directory", r.target);
        cJSON_AddStringToObject(j, "content_digest", r.digest);
        cJSON_AddNumberToObject(j, "members", r.members);
        cJSON_AddNumberToObject(j, "bytes", (double)r.bytes);
        char *s = cJSON_PrintUnformatted(j);
        puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s: verified and unpacked into %s (%d members, %llu bytes)\n", o.archive, r.target, r.members,
               (unsigned long long)r.bytes);
        printf("content digest: %s\n", r.digest);
    }
    return EXIT_OK;
}
