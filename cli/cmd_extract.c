/*
 * cmd_extract.c — `vindex extract SRC -o OUT [--features N] [--top-k K] [--unembed] [--force]
 * [--revision REV] [--layers A-B] [--threads N] [--quiet]`.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *help =
    "usage: vindex extract SRC -o OUT [options]\n"
    "\n"
    "Build a vindex from a Hugging Face checkpoint. SRC is a checkpoint directory\n"
    "(config.json, tokenizer.json, *.safetensors) or a Hub repo id such as Qwen/Qwen3-8B,\n"
    "resolved offline in the local Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub,\n"
    "~/.cache/huggingface/hub).\n"
    "\n"
    "options:\n"
    "  -o, --out DIR       output directory (required); written atomically\n"
    "  -f, --features N    SVD directions per layer and kind (default 128, capped at rank)\n"
    "  -k, --top-k K       vocabulary projections kept per sign (default 16)\n"
    "      --unembed       keep an untied model's unembedding (lm_head) as unembed.bin (f16)\n"
    "      --revision REV  Hub revision: a ref name (default main) or a snapshot commit\n"
    "      --force         replace an existing OUT (only by the final atomic rename)\n"
    "      --layers A-B    write a part: layers A..B only (or one layer: --layers A), to be\n"
    "                      joined with the other parts by `vindex merge` (spec/parts.md)\n"
    "  -j, --threads N     worker threads (default: all CPUs)\n"
    "  -q, --quiet         no progress display\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 ok, 1 failure (nothing is left at OUT), 2 usage error\n";

typedef struct ui {
    int tty;
    time_t start;
    char last_phase[16];
} ui;

static void on_progress(void *ctx, const vx_progress *p) {
    ui *u = ctx;
    if (!u->tty) return;
    double el = difftime(time(NULL), u->start);
    if (strcmp(u->last_phase, p->phase)) snprintf(u->last_phase, sizeof u->last_phase, "%s", p->phase);
    char eta[32] = "";
    if (p->total && p->done && p->done < p->total)
        snprintf(eta, sizeof eta, " ETA %.0fs", el / (double)p->done * (double)(p->total - p->done));
    if (p->layer >= 0)
        fprintf(stderr, "\r\033[K%-7s layer %d/%d  %.0fs%s", p->phase, p->layer + 1, p->num_layers, el, eta);
    else
        fprintf(stderr, "\r\033[K%-7s %llu/%llu  %.0fs%s", p->phase, (unsigned long long)p->done,
                (unsigned long long)p->total, el, eta);
    fflush(stderr);
}

static volatile int stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void on_warn(void *ctx, const char *msg) {
    ui *u = ctx;
    if (u->tty) fputs("\r\033[K", stderr);
    fprintf(stderr, "vindex: warning: %s\n", msg);
}

int cmd_extract(int argc, char **argv) {
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' }, { "features", required_argument, 0, 'f' },
        { "top-k", required_argument, 0, 'k' }, { "revision", required_argument, 0, 'r' },
        { "force", no_argument, 0, 'F' }, { "threads", required_argument, 0, 'j' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { "unembed", no_argument, 0, 'U' },
        { "layers", required_argument, 0, 'L' },
        { 0, 0, 0, 0 },
    };
    vx_extract_opts o;
    vx_extract_opts_init(&o);
    ui u = { isatty(2), time(NULL), "" };
    long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:k:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.out = optarg; break;
        case 'f': if (cli_int(optarg, 1, 65536, &v)) return cli_usage("extract", "--features %s: expected 1..65536", optarg); o.features = (int)v; break;
        case 'k': if (cli_int(optarg, 1, 4096, &v)) return cli_usage("extract", "--top-k %s: expected 1..4096", optarg); o.top_k = (int)v; break;
        case 'r': o.revision = optarg; break;
        case 'F': o.force = 1; break;
        case 'U': o.unembed = 1; break;
        case 'L':
            if (cli_layers(optarg, &o)) return cli_usage("extract", "--layers %s: expected A-B with 0 <= A <= B (or one layer A)", optarg);
            break;
        case 'j': if (cli_int(optarg, 1, 1024, &v)) return cli_usage("extract", "--threads %s: expected 1..1024", optarg); o.threads = (int)v; break;
        case 'q': u.tty = 0; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("extract", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_usage("extract", "expected exactly one SRC");
    if (!o.out) return cli_usage("extract", "-o OUT is required");
    o.src = argv[optind];
    o.progress = on_progress;
    o.warn = on_warn;
    o.ctx = &u;
    o.interrupt = &stop;
    /* Ctrl-C or SIGTERM: the library stops at the next layer or tile and removes its
     * temporary directory; OUT is untouched. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    vx_err err = { 0 };
    int rc = vx_extract(&o, &err);
    if (u.tty) fputs("\r\033[K", stderr);
    if (rc) {
        cli_error("extract: %s", err.msg);
        return cli_exit_for(rc);
    }
    if (u.tty) fprintf(stderr, "wrote %s in %.0fs\n", o.out, difftime(time(NULL), u.start));
    return EXIT_OK;
}
