/*
 * cmd_merge.c — `vindex merge PART... -o OUT [--force] [--threads N]`: join the parts
 * written by `vindex extract --layers A-B` into one vindex (spec/parts.md).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: vindex merge PART... -o OUT [options]\n"
    "\n"
    "Join parts written by `vindex extract SRC --layers A-B` into one vindex. The parts must\n"
    "come from one checkpoint, extracted with one set of options by one vindex build, and\n"
    "cover every layer exactly once (in any order on the command line). Every part file is\n"
    "checked against its SHA256SUMS; the result is byte-identical in every data file to a\n"
    "single `vindex extract` run with the same BLAS kernels and thread count, and is\n"
    "verified before it is renamed into place.\n"
    "\n"
    "options:\n"
    "  -o, --out DIR       output vindex (required); written atomically\n"
    "      --force         replace an existing OUT (only by the final atomic rename)\n"
    "  -j, --threads N     threads for verifying the result (default: all CPUs)\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 ok, 1 failure (parts that do not belong together, damaged parts;\n"
    "nothing is left at OUT), 2 usage error\n";

static void on_warn(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "vindex: warning: %s\n", msg);
}

int cmd_merge(int argc, char **argv) {
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' }, { "force", no_argument, 0, 'F' },
        { "threads", required_argument, 0, 'j' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    vx_merge_opts o;
    memset(&o, 0, sizeof o);
    long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        case 'F': o.force = 1; break;
        case 'j': if (cli_int(optarg, 1, 1024, &v)) return cli_usage("merge", "--threads %s: expected 1..1024", optarg); o.threads = (int)v; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("merge", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage("merge", "expected at least one PART");
    if (!o.out) return cli_usage("merge", "-o OUT is required");
    o.parts = (const char *const *)(argv + optind);
    o.n_parts = (size_t)(argc - optind);
    o.warn = on_warn;
    vx_err err = { 0 };
    int rc = vx_merge(&o, &err);
    if (rc) {
        cli_error("merge: %s", err.msg);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}
