/*
 * test_svg.c — the report's text layer and plots (cli/html.c, cli/svg.c,
 * cli/report_util.c), compiled in: escaping of hostile token bytes (exact outputs and a
 * seeded property check over random byte strings), byte-identical output for identical
 * input, non-finite and non-positive values never reaching coordinates, mark counts,
 * thinning of long lines, the atomic file write, f16 conversion of all 65,536 values and
 * the seeded sampler.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/html.c"
#include "../cli/report_util.c"
#include "../cli/svg.c"
#include "check.h"
#include "common.h"

static char *esc(const char *s, size_t n) {
    sbuf b = { 0 };
    sb_esc(&b, s, n);
    sb_put(&b, "", 1);
    return b.p;
}

static void esc_is(const char *in, size_t n, const char *want) {
    char *got = esc(in, n);
    CHECK(got && !strcmp(got, want), "escape: got '%s' want '%s'", got ? got : "(null)", want);
    free(got);
}

/* Well-formed UTF-8 with no markup character, no quote and no control byte. */
static int inert(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = utf8_len(u + i, n - i, &cp);
        if (!l) return 0;
        if (cp < 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == '"' || cp == '\'') return 0;
        if (invisible_control(cp)) return 0;
        if (cp == '&') {
            static const char *ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };
            int ok = 0;
            for (int k = 0; k < 5; k++) ok |= !strncmp(s + i, ent[k], strlen(ent[k]));
            if (!ok) return 0;
        }
        i += l;
    }
    return 1;
}

static size_t count(const char *hay, size_t n, const char *needle) {
    size_t c = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) c += !memcmp(hay + i, needle, k);
    return c;
}

static void hostile_label(sbuf *b, size_t i, void *ctx) {
    static const char *t[] = { "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "a&b", "\xE2\x80\xAE" "evil" };
    sb_printf(b, "#%zu ", i);
    sb_escs(b, t[i % 4]);
}

static void test_escape(void) {
    esc_is("<script>alert('x')</script>", 27, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    esc_is("a\"b&c", 5, "a&quot;b&amp;c");
    esc_is("\n\t\r\x01\x7f", 5, "\\n\\t\\r\\x01\\x7F");
    esc_is("a\0b", 3, "a\\x00b");
    esc_is("\xC3", 1, "\\xC3");                      /* lone lead byte */
    esc_is("\xC0\xAF", 2, "\\xC0\\xAF");             /* overlong '/' */
    esc_is("\xED\xA0\x80", 3, "\\xED\\xA0\\x80");    /* a surrogate */
    esc_is("\xF4\x90\x80\x80", 4, "\\xF4\\x90\\x80\\x80"); /* above U+10FFFF */
    esc_is("\xE2\x80\xAE" "abc", 6, "\\u202eabc");   /* right-to-left override */
    esc_is("\xC2\x85", 2, "\\u0085");                /* C1 next line */
    esc_is("\xE2\x80\xA8", 3, "\\u2028");
    esc_is("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x96\x81Paris", 23,
           "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x96\x81Paris");
    esc_is("\xE2\x82", 2, "\\xE2\\x82");             /* truncated sequence */
    /* random bytes, biased towards the dangerous ones, always come out inert */
    uint64_t x = 42;
    int bad = 0;
    for (int t = 0; t < 20000; t++) {
        char in[24];
        size_t n = (size_t)(t % 24);
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            static const char pick[] = "<>&\"'\n\0\x1b\xC3\xE2\x80\xAE\xED\xF4\x90";
            in[i] = (x >> 40) & 1 ? pick[(x >> 41) % (sizeof pick - 1)] : (char)(x >> 48);
        }
        char *o = esc(in, n);
        if (!o || !inert(o)) bad++;
        free(o);
    }
    CHECK(!bad, "%d random strings escaped to something not inert", bad);
}

static char *render_lines(const double *y, size_t n, int logy, size_t *len) {
    sbuf b = { 0 };
    svg_series s = { NULL, y, n, "series <1>", "var(--c0)", 0 };
    svg_plot p = { .id = "t", .title = "t", .x = { "x", 0, NAN, NAN, 1 }, .y = { "y", logy, NAN, NAN, 0 } };
    svg_lines(&b, &p, &s, 1, NULL);
    *len = b.n;
    sb_put(&b, "", 1);
    return b.p;
}

static void test_plots(void) {
    double y[6] = { 3, NAN, 1, 0, -2, INFINITY };
    size_t n1, n2;
    char *a = render_lines(y, 6, 1, &n1), *b = render_lines(y, 6, 1, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1), "the same lines give the same bytes");
    CHECK(a && !strstr(a, "nan") && !strstr(a, "inf") && !strstr(a, "NAN"), "no non-finite coordinate: %s", a ? a : "");
    CHECK(a && count(a, n1, "class=\"mk\"") == 1, "one line mark");
    CHECK(a && strstr(a, "series &lt;1&gt;"), "series name escaped");
    free(a);
    free(b);
    double none[3] = { NAN, 0, -1 };
    a = render_lines(none, 3, 1, &n1);
    CHECK(a && count(a, n1, "class=\"mk\"") == 0 && strstr(a, "no finite values"), "nothing drawable says so");
    free(a);
    /* thinning: 100,000 points draw at most four vertices per pixel column */
    size_t big = 100000;
    double *yy = malloc(sizeof *yy * big);
    for (size_t i = 0; i < big; i++) yy[i] = 1 + sin((double)i * 0.01) + (double)(i % 7);
    a = render_lines(yy, big, 0, &n1);
    size_t verts = a ? count(a, n1, "L") + count(a, n1, "M") : 0;
    CHECK(a && verts > 500 && verts <= 4 * 600, "long line thinned: %zu vertices", verts);
    free(a);
    free(yy);

    /* histogram: one rect per non-empty bin; values outside the range land in edge bins */
    double hv[7] = { 0.05, 0.15, 0.15, 0.95, NAN, -5, 5 };
    sbuf hb = { 0 };
    svg_hist h = { hv, 7, NULL, "var(--c0)" };
    svg_plot hp = { .id = "h", .title = "h", .x = { "v", 0, 0, 1, 0 }, .y = { "count", 0, NAN, NAN, 0 } };
    svg_histogram(&hb, &hp, &h, 1, 10, 0);
    sb_put(&hb, "", 1);
    CHECK(count(hb.p, hb.n, "class=\"mk\"") == 3, "3 non-empty bins, got %zu", count(hb.p, hb.n, "class=\"mk\""));
    CHECK(strstr(hb.p, "[0, 0.1): 2</title>") && strstr(hb.p, "[0.1, 0.2): 2</title>") && strstr(hb.p, "[0.9, 1): 2</title>"),
          "bin counts with out-of-range values clamped: %s", hb.p);
    sb_free(&hb);

    /* heatmap: a mark per finite cell, hostile labels escaped in titles */
    double m[6] = { 0, 0.5, NAN, 1, 0.25, 0.75 };
    sbuf mb = { 0 };
    svg_heat hm = { m, 2, 3, 0, 1, 0, "v", hostile_label, hostile_label, NULL };
    svg_plot mp = { .id = "m", .title = "m", .x = { "x", 0, NAN, NAN, 1 }, .y = { "y", 0, NAN, NAN, 1 } };
    svg_heatmap(&mb, &mp, &hm);
    sb_put(&mb, "", 1);
    CHECK(count(mb.p, mb.n, "class=\"mk\"") == 5, "5 finite cells");
    CHECK(!strstr(mb.p, "<script") && !strstr(mb.p, "<img") && strstr(mb.p, "&lt;script&gt;"), "labels escaped");
    sb_free(&mb);

    /* scatter: a mark and a title per drawable point */
    double sx[5] = { 0, 1, 2, 3, NAN }, sy[5] = { 1, 2, 3, 4, 5 };
    sbuf sb = { 0 };
    svg_scatter sc = { .x = sx, .y = sy, .n = 5, .label = hostile_label, .diagonal = 1 };
    svg_plot sp = { .id = "s", .title = "s", .x = { "x", 0, NAN, NAN, 0 }, .y = { "y", 0, NAN, NAN, 0 } };
    svg_scatterplot(&sb, &sp, &sc);
    sb_put(&sb, "", 1);
    CHECK(count(sb.p, sb.n, "<circle class=\"mk\"") == 4 && count(sb.p, sb.n, "<title>") == 4, "4 points with titles");
    CHECK(!strstr(sb.p, "<script") && !strstr(sb.p, "<img") && !strstr(sb.p, "\xE2\x80\xAE") && strstr(sb.p, "\\u202eevil"),
          "hover text inert");
    CHECK(strstr(sb.p, "class=\"ref\""), "diagonal drawn");
    sb_free(&sb);

    /* scatter with a line over it: the line widens the range, a NaN breaks it, it is in
     * the legend; the points are as without it */
    double lx[4] = { 0, 10, 20, 30 }, ly[4] = { 2, NAN, 3, 40 };
    svg_series ln = { lx, ly, 4, "binned mean", "var(--c1)", 0 };
    sbuf lb = { 0 };
    svg_scatter sl = { .x = sx, .y = sy, .n = 5, .lines = &ln, .nlines = 1 };
    svg_scatterplot(&lb, &sp, &sl);
    sb_put(&lb, "", 1);
    const char *path = strstr(lb.p, "<path class=\"mk\"");
    const char *d = path ? strstr(path, " d=\"") : NULL;
    int moves = 0, lines = 0;
    for (const char *q = d ? d + 4 : NULL; q && *q && *q != '"'; q++) {
        moves += *q == 'M';
        lines += *q == 'L';
    }
    CHECK(path && moves == 2 && lines == 1, "the line: two runs around the NaN (%d M, %d L)", moves, lines);
    CHECK(count(lb.p, lb.n, "<circle class=\"mk\"") == 4, "the points still drawn");
    CHECK(strstr(lb.p, ">binned mean</text>") != NULL, "the line in the legend");
    /* the x axis reaches 30: a tick labelled 30 (the points alone end at 3) */
    CHECK(strstr(lb.p, ">30</text>") != NULL, "the line's points are in the axis range");
    sb_free(&lb);
}

static int dir_entries(const char *d) {
    DIR *dp = opendir(d);
    int n = 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) n++;
    if (dp) closedir(dp);
    return n;
}

static void test_atomic(void) {
    char dir[] = "/tmp/vx-test-svg-XXXXXX", path[256], msg[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/r.html", dir);
    CHECK(!write_file_atomic(path, "one", 3, msg, sizeof msg), "write: %s", msg);
    CHECK(!write_file_atomic(path, "second", 6, msg, sizeof msg), "replace: %s", msg);
    char buf[16] = { 0 };
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(got == 6 && !memcmp(buf, "second", 6), "replaced whole");
    CHECK(dir_entries(dir) == 1, "no temporary file left (%d entries)", dir_entries(dir));
    struct stat st;
    mode_t um = umask(0);
    umask(um);
    CHECK(!stat(path, &st) && (st.st_mode & 0777) == (0666 & ~um), "mode %o under umask %o", st.st_mode & 0777, um);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/r.html", dir);
    CHECK(write_file_atomic(bad, "x", 1, msg, sizeof msg) && strstr(msg, bad) && strstr(msg, "No such file"),
          "missing directory fails naming the path: %s", msg);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    CHECK(write_file_atomic(sub, "x", 1, msg, sizeof msg) && strstr(msg, "rename"), "a directory is not replaced: %s", msg);
    CHECK(dir_entries(dir) == 2, "still no temporary file after failures (%d)", dir_entries(dir));
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

static void test_f16_rng(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = f16_to_f32((uint16_t)h), b = vx_f16_to_f32((uint16_t)h);
        if (memcmp(&a, &b, 4) && !(isnan(a) && isnan(b))) bad++;
    }
    CHECK(!bad, "%d f16 values convert differently from the library", bad);
    rng r;
    rng_init(&r, 42, 0);
    uint64_t x = 0;
    for (int i = 0; i < 3; i++) x ^= rng_below(&r, 1000003) << (i * 20);
    rng_init(&r, 42, 0);
    uint64_t y = 0;
    for (int i = 0; i < 3; i++) y ^= rng_below(&r, 1000003) << (i * 20);
    CHECK(x == y, "seeded stream repeats");
    uint32_t ids[100];
    rng_init(&r, 7, 3);
    sample_ids(ids, 100, 30, &r);
    int seen[100] = { 0 }, dup = 0;
    for (int i = 0; i < 100; i++) dup += seen[ids[i]]++ > 0;
    CHECK(!dup, "the sample is a permutation");
}

int main(void) {
    test_escape();
    test_plots();
    test_atomic();
    test_f16_rng();
    return CHECK_DONE();
}
