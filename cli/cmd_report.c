/*
 * cmd_report.c — `vindex report VX [VX_B] -o FILE`: one self-contained HTML page of plots
 * about one vindex, or comparing two (spec/report.md). The page holds everything it
 * shows — inline CSS and inline SVG, no script, no external file — and forbids any load
 * by its own Content-Security-Policy, so it opens offline in any browser. It is written
 * whole to a temporary file and renamed into place.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static const char *report_help =
    "usage: vindex report VX [VX_B] -o FILE [--seed S] [--sample N] [--threads N]\n"
    "\n"
    "Write one self-contained HTML page (inline SVG plots, no network, opens offline) about\n"
    "the vindex VX: its MLP singular spectra and their numbers by depth, the embedding\n"
    "geometry (norms, pairwise cosines, digits, a 2-D PCA of a token sample with the token\n"
    "on hover) and the strongest prediction and suppression directions. With VX_B it shows\n"
    "instead what `vindex compare VX VX_B` computes, drawn as the published analysis draws\n"
    "it, and the layer x layer similarity of both models' gate and down subspaces.\n"
    "Where a vindex lacks what a plot needs (a format-version-1 vindex has no weight\n"
    "battery), the page says so in the plot's place. See spec/report.md.\n"
    "\n"
    "  -o, --output FILE  the HTML file to write (replaced atomically)\n"
    "  --seed S           seed of every token sample (default 42)\n"
    "  --sample N         tokens in the PCA scatter (default 1500, at most 20000)\n"
    "  -j, --threads N    BLAS threads for the comparison (default: all)\n"
    "  -h, --help         this text\n"
    "\nexit status: 0 ok, 1 failure (cannot open a vindex, cannot write FILE), 2 usage error\n";

static const char page_css[] =
    ":root{color-scheme:light dark;--bg:#ffffff;--fg:#1c1c22;--muted:#5c5c68;--grid:#e2e2e8;--panel:#f5f5f8;"
    "--c0:#1f6fb4;--c1:#d0342c;--c2:#2a9a3a;--c3:#8a55c0;--c4:#e07b00;--c5:#119aa8}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#131418;--fg:#e4e4ea;--muted:#a2a2ae;--grid:#34353d;"
    "--panel:#1c1d23;--c0:#5eaaf0;--c1:#ff6e66;--c2:#62d07f;--c3:#c09cff;--c4:#ffad4d;--c5:#46d3e2}}\n"
    "body{margin:0 auto;max-width:1500px;padding:12px 24px 40px;background:var(--bg);color:var(--fg);"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}\n"
    "h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--grid)}"
    "p.lead{color:var(--muted);margin:0 0 8px}\n"
    "nav a{color:var(--c0);margin-right:14px}\n"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr));gap:14px}\n"
    "figure.plot{margin:0;padding:10px 12px;background:var(--panel);border-radius:6px;min-width:0}\n"
    "figure.plot h3{margin:0 0 2px;font-size:15px}figcaption p{margin:0 0 6px;color:var(--muted);font-size:12.5px}\n"
    "figure.na p.why{color:var(--muted);font-style:italic;margin:6px 0}\n"
    "svg.plot{display:block;width:100%;height:auto;font:12px system-ui,sans-serif}\n"
    "svg.plot text{fill:var(--fg)}svg.plot .tk{fill:var(--muted)}svg.plot .grid{stroke:var(--grid)}"
    "svg.plot .ax{fill:none;stroke:var(--muted)}svg.plot .ref{stroke:var(--muted);stroke-dasharray:4 3}"
    "svg.plot .cv{font-size:10px}svg.plot circle.mk{fill-opacity:.65}\n"
    ".tables{overflow-x:auto}table{border-collapse:collapse;font-size:12.5px;margin:4px 0}"
    "th,td{padding:2px 8px;text-align:left;border-bottom:1px solid var(--grid);vertical-align:top}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".tok{white-space:pre;font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px}\n"
    "dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;margin:0}dl.kv dt{color:var(--muted)}"
    "dl.kv dd{margin:0}\n";

static void page_head(sbuf *b, const char *title) {
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
               /* nothing may load: the page is complete as written */
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
               "<title>");
    sb_escs(b, title);
    sb_printf(b, "</title><style>%s</style></head>\n<body>\n", page_css);
}

static int write_report(const char *out, const char **paths, int n, const report_opts *o) {
    vx_index *vx[2] = { NULL, NULL };
    vx_err err = { 0 };
    for (int i = 0; i < n; i++)
        if (vx_open(&vx[i], paths[i], &err)) {
            cli_error("%s", err.msg);
            vx_close(vx[0]);
            return cli_exit_for(err.code);
        }
    sbuf b = { 0 };
    char msg[1100] = "";
    const vx_info *ia = vx_get_info(vx[0]);
    sbuf title = { 0 };
    sb_puts(&title, "vindex report: ");
    sb_puts(&title, ia->model);
    if (n == 2) { sb_puts(&title, " vs "); sb_puts(&title, vx_get_info(vx[1])->model); }
    sb_put(&title, "", 1);
    page_head(&b, title.failed ? "vindex report" : title.p);
    sb_puts(&b, "<header><h1>");
    if (n == 2) {
        sb_escs(&b, ia->model);
        sb_puts(&b, " <span class=\"vs\">vs</span> ");
        sb_escs(&b, vx_get_info(vx[1])->model);
    } else sb_escs(&b, ia->model);
    sb_printf(&b, "</h1><p class=\"lead\">vindex %s report of ", VX_VERSION_STRING);
    for (int i = 0; i < n; i++) {
        if (i) sb_puts(&b, " and ");
        sb_puts(&b, "<code>");
        sb_escs(&b, paths[i]);
        sb_puts(&b, "</code>");
    }
    sb_printf(&b, "; samples seeded with %llu. Hover a point or a cell for its value.</p></header>\n",
              (unsigned long long)o->seed);
    int rc = n == 1 ? report_one(&b, vx[0], "a", o, msg, sizeof msg) : report_pair(&b, vx[0], vx[1], o, msg, sizeof msg);
    sb_puts(&b, "</body></html>\n");
    int status = EXIT_OK;
    if (rc) {
        cli_error("%s", msg);
        status = rc == VX_EUSAGE ? EXIT_USAGE : EXIT_FAIL;
    } else if (b.failed) {
        cli_error("%s: out of memory while building the page", out);
        status = EXIT_FAIL;
    } else if (write_file_atomic(out, b.p, b.n, msg, sizeof msg)) {
        cli_error("%s", msg);
        status = EXIT_FAIL;
    }
    sb_free(&b);
    sb_free(&title);
    vx_close(vx[0]);
    vx_close(vx[1]);
    return status;
}

int cmd_report(int argc, char **argv) {
    static const struct option lo[] = { { "output", required_argument, 0, 'o' }, { "seed", required_argument, 0, 's' },
                                        { "sample", required_argument, 0, 'n' }, { "threads", required_argument, 0, 'j' },
                                        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 } };
    report_opts o = { .seed = 42, .sample = 1500, .cos_sample = 1000, .threads = 0 };
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:j:h", lo, NULL)) != -1) {
        long v;
        switch (c) {
        case 'o': out = optarg; break;
        case 's': {
            char *e;
            errno = 0;
            unsigned long long s = strtoull(optarg, &e, 10);
            if (!*optarg || *e || errno || *optarg == '-') return cli_usage("report", "--seed %s: expected a non-negative integer", optarg);
            o.seed = s;
            break;
        }
        case 'n':
            if (cli_int(optarg, 2, 20000, &v)) return cli_usage("report", "--sample %s: expected 2..20000", optarg);
            o.sample = (size_t)v;
            break;
        case 'j':
            if (cli_int(optarg, 1, 256, &v)) return cli_usage("report", "--threads %s: expected 1..256", optarg);
            o.threads = (int)v;
            break;
        case 'h': fputs(report_help, stdout); return EXIT_OK;
        default: return cli_usage("report", "unknown option or missing argument '%s'", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2) return cli_usage("report", "expected one or two vindex directories");
    if (!out) return cli_usage("report", "missing -o FILE (the HTML file to write)");
    if (!*out) return cli_usage("report", "-o: empty file name");
    const char *paths[2] = { argv[optind], n == 2 ? argv[optind + 1] : NULL };
    return write_report(out, paths, n, &o);
}
