/*
 * svg.c — the report's plots as inline SVG (svg.h).
 *
 * One frame type maps data to the viewBox for every plot kind: a linear or log10 scale
 * per axis, "nice" ticks (1, 2, 5 x 10^k, or decades on a log axis), grid lines and axis
 * titles. Coordinates are printed with one decimal: the same numbers give the same
 * bytes. Lines of many points are thinned to the first, lowest, highest and last point of
 * each pixel column, which draws the same picture with a bounded number of vertices.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svg.h"

enum { DEF_W = 600, DEF_H = 340, LEFT = 72, RIGHT = 18, TOP = 30, BOTTOM = 48 };

typedef struct frame {
    double lo[2], hi[2];   /* data range of x (0) and y (1), in scale units (log10 for log) */
    int log[2], integer[2];
    double left, right, top, bottom; /* pixel box */
} frame;

static int usable(double v, int logscale) { return isfinite(v) && (!logscale || v > 0); }
static double scaled(double v, int logscale) { return logscale ? log10(v) : v; }

/* Map a data value to a pixel along axis a (0: x grows right, 1: y grows up). */
static double pix(const frame *f, int a, double v) {
    double t = (scaled(v, f->log[a]) - f->lo[a]) / (f->hi[a] - f->lo[a]);
    return a == 0 ? f->left + t * (f->right - f->left) : f->bottom - t * (f->bottom - f->top);
}

/* Settle one axis range from the data extremes (in data units) and the axis request. */
static void settle(frame *f, int a, const svg_axis *ax, double dmin, double dmax) {
    int lg = ax->log;
    double lo = isfinite(ax->lo) && usable(ax->lo, lg) ? ax->lo : dmin;
    double hi = isfinite(ax->hi) && usable(ax->hi, lg) ? ax->hi : dmax;
    if (!usable(lo, lg) || !usable(hi, lg) || lo > hi) lo = hi = lg ? 1 : 0;
    lo = scaled(lo, lg);
    hi = scaled(hi, lg);
    if (hi - lo < 1e-6 * (fabs(lo) + fabs(hi)) || hi == lo) { /* constant up to rounding */
        double d = lg ? 0.5 : (lo == 0 ? 1 : fabs(lo) * 0.1);
        int fixed_lo = isfinite(ax->lo) && usable(ax->lo, lg);
        lo -= fixed_lo ? 0 : d;
        hi += fixed_lo ? 2 * d : d;
    }
    /* a margin of 4 % on the sides taken from the data, so no mark sits on the frame */
    double pad = 0.04 * (hi - lo);
    if (!(isfinite(ax->lo) && usable(ax->lo, lg))) lo -= pad;
    if (!(isfinite(ax->hi) && usable(ax->hi, lg))) hi += pad;
    f->lo[a] = lo;
    f->hi[a] = hi;
    f->log[a] = lg;
    f->integer[a] = ax->integer;
}

static double nice_step(double range, int integer) {
    double raw = range / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
    if (integer && step < 1) step = 1;
    return step;
}

static void tick_text(sbuf *b, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-4)) { sb_printf(b, "%.3g", v); return; }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    sb_printf(b, "%.*f", dec, v);
}

/* Grid lines and labelled ticks of axis a. */
static void draw_ticks(sbuf *b, const frame *f, int a) {
    double vals[64];
    int n = 0;
    double lo = f->lo[a], hi = f->hi[a];
    if (f->log[a]) {
        /* decades when three or more fit; else 1-2-5, then every digit, per decade; else, on
         * under half a decade, evenly spaced values -- whichever first gives three ticks
         * spread over at least half of the axis */
        int k0 = (int)floor(lo + 1e-9), k1 = (int)floor(hi + 1e-9);
        static const int sets[3][9] = { { 1 }, { 1, 2, 5 }, { 1, 2, 3, 4, 5, 6, 7, 8, 9 } };
        static const int sizes[3] = { 1, 3, 9 };
        int every = 1 + (k1 - k0) / 8;
        for (int t = 0; t < 3; t++) {
            n = 0;
            for (int k = k0; k <= k1 && n < 60; k += t ? 1 : every)
                for (int m = 0; m < sizes[t]; m++) {
                    double v = sets[t][m] * pow(10, k);
                    if (log10(v) >= lo - 1e-9 && log10(v) <= hi + 1e-9) vals[n++] = v;
                }
            if (n >= 3 && log10(vals[n - 1]) - log10(vals[0]) >= 0.5 * (hi - lo)) break;
        }
        if (n < 3 || log10(vals[n - 1]) - log10(vals[0]) < 0.5 * (hi - lo)) {
            double va = pow(10, lo), vz = pow(10, hi), st = nice_step(vz - va, 0);
            n = 0;
            for (double v = ceil(va / st - 1e-9) * st; v <= vz + st * 1e-9 && n < 64; v += st)
                if (v > 0) vals[n++] = v;
        }
    } else {
        double step = nice_step(hi - lo, f->integer[a]);
        for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && n < 64; v += step) vals[n++] = v;
    }
    double step = f->log[a] ? 0 : nice_step(hi - lo, f->integer[a]);
    for (int i = 0; i < n; i++) {
        double p = pix(f, a, vals[i]);
        if (a == 0) {
            sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p, f->top, p, f->bottom);
            sb_printf(b, "<text class=\"tk\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p, f->bottom + 15);
        } else {
            sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f->left, p, f->right, p);
            sb_printf(b, "<text class=\"tk\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", f->left - 5, p + 4);
        }
        if (f->log[a]) {
            int k = (int)floor(log10(vals[i]) + 1e-9);
            double m = vals[i] / pow(10, k);
            if (k >= -3 && k <= 4) sb_printf(b, "%g", vals[i]);
            else if (fabs(m - 1) < 1e-9) sb_printf(b, "10<tspan dy=\"-5\" font-size=\"9\">%d</tspan>", k);
            else sb_printf(b, "%g×10<tspan dy=\"-5\" font-size=\"9\">%d</tspan>", m, k);
        } else tick_text(b, vals[i], step);
        sb_puts(b, "</text>");
    }
}

static void open_svg(sbuf *b, const svg_plot *p, int w, int h) {
    sb_printf(b, "<svg class=\"plot\" id=\"%s-svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", p->id, w, h);
    sb_escs(b, p->title ? p->title : p->id);
    sb_puts(b, "\">");
}

/* Grid, ticks, frame and axis titles; then a clipped group for the marks (closed by
 * close_frame). */
static void open_frame(sbuf *b, const svg_plot *p, const frame *f) {
    draw_ticks(b, f, 0);
    draw_ticks(b, f, 1);
    sb_printf(b, "<rect class=\"ax\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", f->left, f->top,
              f->right - f->left, f->bottom - f->top);
    sb_printf(b, "<text class=\"at\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f->left + f->right) / 2,
              f->bottom + 36);
    sb_escs(b, p->x.label ? p->x.label : "");
    sb_printf(b, "</text><text class=\"at\" transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">",
              (f->top + f->bottom) / 2);
    sb_escs(b, p->y.label ? p->y.label : "");
    sb_puts(b, "</text>");
    sb_printf(b, "<clipPath id=\"%s-clip\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>",
              p->id, f->left, f->top, f->right - f->left, f->bottom - f->top);
    sb_printf(b, "<g clip-path=\"url(#%s-clip)\">", p->id);
}

static void no_data(sbuf *b, const frame *f) {
    sb_printf(b, "<text class=\"at\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no finite values to draw</text>",
              (f->left + f->right) / 2, (f->top + f->bottom) / 2);
}

static void frame_box(frame *f, int w, int h, int right_extra) {
    f->left = LEFT;
    f->right = w - RIGHT - right_extra;
    f->top = TOP;
    f->bottom = h - BOTTOM;
}

/* Approximate width in px of UTF-8 text at 12px. */
static double text_w(const char *s) {
    double n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n * 6.6;
}

/* Legend entries laid out right to left in the top margin. */
static void legend(sbuf *b, const frame *f, const char *const *names, const char *const *colors, size_t n) {
    double x = f->right;
    for (size_t i = n; i-- > 0;) {
        if (!names[i]) continue;
        double tw = text_w(names[i]);
        x -= tw;
        sb_printf(b, "<text class=\"lg\" x=\"%.1f\" y=\"%.1f\">", x, f->top - 10);
        sb_escs(b, names[i]);
        sb_puts(b, "</text>");
        x -= 22;
        sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"4\" style=\"fill:%s\"/>", x, f->top - 16,
                  colors[i]);
        x -= 14;
    }
}

void svg_ramp_color(char out[8], double t) {
    /* viridis at eleven evenly spaced points, linearly interpolated */
    static const unsigned char v[11][3] = {
        { 68, 1, 84 },    { 72, 36, 117 },  { 65, 68, 135 },  { 53, 95, 141 },  { 42, 120, 142 }, { 33, 145, 140 },
        { 34, 168, 132 }, { 68, 191, 112 }, { 122, 209, 81 }, { 189, 223, 38 }, { 253, 231, 37 },
    };
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double s = t * 10;
    int i = (int)s;
    if (i > 9) i = 9;
    double u = s - i;
    int c[3];
    for (int k = 0; k < 3; k++) c[k] = (int)lround(v[i][k] + u * (v[i + 1][k] - v[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* Blue (-1) - white (0) - red (+1). */
static void diverging_color(char out[8], double t) {
    if (!(t >= -1)) t = -1;
    if (t > 1) t = 1;
    static const double neg[3] = { 33, 102, 172 }, pos[3] = { 178, 24, 43 };
    const double *e = t < 0 ? neg : pos;
    double u = fabs(t);
    int c[3];
    for (int k = 0; k < 3; k++) c[k] = (int)lround(247 + u * (e[k] - 247));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static void ramp_legend(sbuf *b, const svg_plot *p, const frame *f, const svg_ramp *r) {
    sb_printf(b, "<linearGradient id=\"%s-ramp\">", p->id);
    for (int i = 0; i <= 10; i++) {
        char c[8];
        svg_ramp_color(c, 0.1 * i * 0.9);
        sb_printf(b, "<stop offset=\"%d%%\" stop-color=\"%s\"/>", i * 10, c);
    }
    sb_puts(b, "</linearGradient>");
    double x = f->right - text_w(r->hi);
    sb_printf(b, "<text class=\"lg\" x=\"%.1f\" y=\"%.1f\">", x, f->top - 10);
    sb_escs(b, r->hi);
    sb_puts(b, "</text>");
    x -= 86;
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"80\" height=\"8\" fill=\"url(#%s-ramp)\"/>", x, f->top - 18,
              p->id);
    x -= 6 + text_w(r->lo);
    sb_printf(b, "<text class=\"lg\" x=\"%.1f\" y=\"%.1f\">", x, f->top - 10);
    sb_escs(b, r->lo);
    sb_puts(b, "</text>");
}

static double sx(const svg_series *s, size_t i) { return s->x ? s->x[i] : (double)(i + 1); }

void svg_lines(sbuf *b, const svg_plot *p, const svg_series *s, size_t ns, const svg_ramp *ramp) {
    int w = p->w ? p->w : DEF_W, h = p->h ? p->h : DEF_H;
    double mn[2] = { INFINITY, INFINITY }, mx[2] = { -INFINITY, -INFINITY };
    size_t drawable = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double v[2] = { sx(&s[k], i), s[k].y[i] };
            if (!usable(v[0], p->x.log) || !usable(v[1], p->y.log)) continue;
            drawable++;
            for (int a = 0; a < 2; a++) {
                if (v[a] < mn[a]) mn[a] = v[a];
                if (v[a] > mx[a]) mx[a] = v[a];
            }
        }
    frame f;
    frame_box(&f, w, h, 0);
    settle(&f, 0, &p->x, mn[0], mx[0]);
    settle(&f, 1, &p->y, mn[1], mx[1]);
    open_svg(b, p, w, h);
    open_frame(b, p, &f);
    if (!drawable) no_data(b, &f);
    int cols = (int)(f.right - f.left);
    for (size_t k = 0; k < ns; k++) {
        const svg_series *q = &s[k];
        sbuf d = { 0 };
        /* Thin to first/min/max/last per pixel column; a gap (unusable value) breaks the line. */
        int col = -1, pen = 0;
        double first = 0, last = 0, lo = 0, hi = 0, xc = 0;
        size_t pts = 0;
#define FLUSH()                                                                                          \
    do {                                                                                                 \
        if (col >= 0) {                                                                                  \
            double ys[4] = { first, lo, hi, last };                                                      \
            int m = first == last && lo == hi ? 1 : 4;                                                   \
            for (int j = 0; j < m; j++) {                                                                \
                sb_printf(&d, "%c%.1f %.1f", pen ? 'L' : 'M', xc, ys[j]);                                 \
                pen = 1;                                                                                 \
            }                                                                                            \
        }                                                                                                \
    } while (0)
        for (size_t i = 0; i < q->n; i++) {
            double xv = sx(q, i), yv = q->y[i];
            if (!usable(xv, p->x.log) || !usable(yv, p->y.log)) {
                FLUSH();
                col = -1;
                pen = 0;
                continue;
            }
            double px = pix(&f, 0, xv), py = pix(&f, 1, yv);
            int c = q->n > (size_t)cols * 2 ? (int)floor(px) : (int)i;
            if (c != col) {
                FLUSH();
                col = c;
                first = lo = hi = py;
                xc = px;
            }
            if (py < lo) lo = py;
            if (py > hi) hi = py;
            last = py;
            pts++;
        }
        FLUSH();
#undef FLUSH
        if (pts && !d.failed) {
            if (q->dots != 2) {
                sb_printf(b, "<path class=\"mk\" d=\"%.*s\" style=\"fill:none;stroke:%s;stroke-width:1.5\">", (int)d.n,
                          d.p, q->color);
                if (q->name) { sb_puts(b, "<title>"); sb_escs(b, q->name); sb_puts(b, "</title>"); }
                sb_puts(b, "</path>");
            }
            if (q->dots)
                for (size_t i = 0; i < q->n; i++)
                    if (usable(sx(q, i), p->x.log) && usable(q->y[i], p->y.log))
                        sb_printf(b, "<circle%s cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" style=\"fill:%s\"/>",
                                  q->dots == 2 ? " class=\"mk\"" : "", pix(&f, 0, sx(q, i)), pix(&f, 1, q->y[i]),
                                  q->dots == 2 ? "4" : "2.5", q->color);
        }
        if (d.failed) b->failed = 1;
        sb_free(&d);
    }
    sb_puts(b, "</g>");
    if (ramp) ramp_legend(b, p, &f, ramp);
    else {
        const char *names[8], *colors[8];
        size_t m = 0;
        for (size_t k = 0; k < ns && m < 8; k++)
            if (s[k].name) { names[m] = s[k].name; colors[m++] = s[k].color; }
        legend(b, &f, names, colors, m);
    }
    sb_puts(b, "</svg>");
}

void svg_histogram(sbuf *b, const svg_plot *p, const svg_hist *h, size_t nh, size_t bins, int share) {
    int w = p->w ? p->w : DEF_W, hh = p->h ? p->h : DEF_H;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t k = 0; k < nh; k++)
        for (size_t i = 0; i < h[k].n; i++)
            if (isfinite(h[k].v[i])) {
                if (h[k].v[i] < mn) mn = h[k].v[i];
                if (h[k].v[i] > mx) mx = h[k].v[i];
            }
    double lo = isfinite(p->x.lo) ? p->x.lo : mn, hi = isfinite(p->x.hi) ? p->x.hi : mx;
    if (!(lo < hi)) { lo = isfinite(lo) ? lo - 0.5 : 0; hi = lo + 1; }
    if (bins < 1) bins = 1;
    if (bins > 400) bins = 400;
    double cnt[8][400];
    double top = 0;
    if (nh > 8) nh = 8;
    size_t finite_total = 0;
    for (size_t k = 0; k < nh; k++) {
        size_t tot = 0;
        memset(cnt[k], 0, sizeof cnt[k]);
        for (size_t i = 0; i < h[k].n; i++) {
            double v = h[k].v[i];
            if (!isfinite(v)) continue;
            long j = (long)floor((v - lo) / (hi - lo) * (double)bins);
            if (j < 0) j = 0; /* values outside a requested range fall in the edge bins */
            if (j >= (long)bins) j = (long)bins - 1;
            cnt[k][j]++;
            tot++;
        }
        finite_total += tot;
        for (size_t j = 0; j < bins; j++) {
            if (share && tot) cnt[k][j] *= 100.0 / (double)tot;
            if (cnt[k][j] > top) top = cnt[k][j];
        }
    }
    frame f;
    frame_box(&f, w, hh, 0);
    settle(&f, 0, &p->x, lo, hi);
    f.lo[0] = lo;
    f.hi[0] = hi;
    svg_axis ya = p->y;
    ya.lo = 0;
    settle(&f, 1, &ya, 0, top > 0 ? top * 1.05 : 1);
    open_svg(b, p, w, hh);
    open_frame(b, p, &f);
    if (!finite_total) no_data(b, &f);
    double bw = (hi - lo) / (double)bins;
    for (size_t k = 0; k < nh; k++) {
        if (nh == 1) { /* one set: a bar per bin, each with its range and count on hover */
            for (size_t j = 0; j < bins; j++) {
                if (!cnt[k][j]) continue;
                double x0 = pix(&f, 0, lo + bw * (double)j), x1 = pix(&f, 0, lo + bw * (double)(j + 1));
                double y1 = pix(&f, 1, cnt[k][j]);
                sb_printf(b, "<rect class=\"mk\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" style=\"fill:%s\">",
                          x0, y1, x1 - x0, f.bottom - y1, h[k].color);
                sb_printf(b, "<title>[%.4g, %.4g): %.4g%s</title></rect>", lo + bw * (double)j,
                          lo + bw * (double)(j + 1), cnt[k][j], share ? " %" : "");
            }
            continue;
        }
        /* several sets: translucent step areas, outlined */
        sb_printf(b, "<path class=\"mk\" style=\"fill:%s;fill-opacity:0.22;stroke:%s;stroke-width:1.5\" d=\"M%.1f %.1f",
                  h[k].color, h[k].color, f.left, f.bottom);
        for (size_t j = 0; j < bins; j++) {
            double y = pix(&f, 1, cnt[k][j]);
            sb_printf(b, "L%.1f %.1fL%.1f %.1f", pix(&f, 0, lo + bw * (double)j), y, pix(&f, 0, lo + bw * (double)(j + 1)),
                      y);
        }
        sb_printf(b, "L%.1f %.1fZ\">", f.right, f.bottom);
        if (h[k].name) { sb_puts(b, "<title>"); sb_escs(b, h[k].name); sb_puts(b, "</title>"); }
        sb_puts(b, "</path>");
    }
    sb_puts(b, "</g>");
    const char *names[8], *colors[8];
    for (size_t k = 0; k < nh; k++) { names[k] = h[k].name; colors[k] = h[k].color; }
    legend(b, &f, names, colors, nh);
    sb_puts(b, "</svg>");
}

static void index_label(sbuf *b, size_t i, void *ctx) { sb_printf(b, "%zu", i); }

void svg_heatmap(sbuf *b, const svg_plot *p, const svg_heat *h) {
    int w = p->w ? p->w : DEF_W, hh = p->h ? p->h : 420;
    frame f;
    frame_box(&f, w, hh, 76);
    f.top = 12;
    /* square cells when they fit */
    double cw = (f.right - f.left) / (double)(h->cols ? h->cols : 1), ch = (f.bottom - f.top) / (double)(h->rows ? h->rows : 1);
    double c = cw < ch ? cw : ch;
    f.right = f.left + c * (double)h->cols;
    f.bottom = f.top + c * (double)h->rows;
    open_svg(b, p, w, hh);
    svg_label_fn rn = h->row_name ? h->row_name : index_label, cn = h->col_name ? h->col_name : index_label;
    double span = h->vmax > h->vmin ? h->vmax - h->vmin : 1;
    size_t shown = 0;
    for (size_t r = 0; r < h->rows; r++)
        for (size_t k = 0; k < h->cols; k++) {
            double v = h->m[r * h->cols + k];
            char col[8];
            if (!isfinite(v)) continue;
            if (h->diverging) diverging_color(col, v / (fabs(h->vmax) > fabs(h->vmin) ? fabs(h->vmax) : fabs(h->vmin)));
            else svg_ramp_color(col, (v - h->vmin) / span);
            sb_printf(b, "<rect class=\"mk\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                      f.left + c * (double)k, f.top + c * (double)r, c + 0.05, c + 0.05, col);
            rn(b, r, h->ctx);
            sb_puts(b, " × ");
            cn(b, k, h->ctx);
            sb_printf(b, ": %.4f</title></rect>", v);
            shown++;
            if (c >= 34) {
                double lum = h->diverging ? 1 - fabs(v) / (fabs(h->vmax) > fabs(h->vmin) ? fabs(h->vmax) : fabs(h->vmin))
                                          : (v - h->vmin) / span;
                sb_printf(b, "<text class=\"cv\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" style=\"fill:%s\">%.2f</text>",
                          f.left + c * ((double)k + 0.5), f.top + c * ((double)r + 0.5) + 4,
                          lum > 0.55 ? "#000" : "#fff", v);
            }
        }
    if (!shown) no_data(b, &f);
    sb_printf(b, "<rect class=\"ax\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", f.left, f.top,
              f.right - f.left, f.bottom - f.top);
    /* tick labels: at most ~16 per axis */
    size_t rs = h->rows > 16 ? (h->rows + 15) / 16 : 1, cs = h->cols > 16 ? (h->cols + 15) / 16 : 1;
    for (size_t r = 0; r < h->rows; r += rs) {
        sb_printf(b, "<text class=\"tk\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", f.left - 5,
                  f.top + c * ((double)r + 0.5) + 4);
        rn(b, r, h->ctx);
        sb_puts(b, "</text>");
    }
    for (size_t k = 0; k < h->cols; k += cs) {
        sb_printf(b, "<text class=\"tk\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", f.left + c * ((double)k + 0.5),
                  f.bottom + 15);
        cn(b, k, h->ctx);
        sb_puts(b, "</text>");
    }
    sb_printf(b, "<text class=\"at\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f.left + f.right) / 2, f.bottom + 36);
    sb_escs(b, p->x.label ? p->x.label : "");
    sb_printf(b, "</text><text class=\"at\" transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">",
              (f.top + f.bottom) / 2);
    sb_escs(b, p->y.label ? p->y.label : "");
    sb_puts(b, "</text>");
    /* colour bar */
    double bx = f.right + 18, by0 = f.top, by1 = f.bottom;
    sb_printf(b, "<linearGradient id=\"%s-bar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", p->id);
    for (int i = 0; i <= 10; i++) {
        char col[8];
        double v = h->vmin + span * i / 10.0;
        if (h->diverging) diverging_color(col, v / (fabs(h->vmax) > fabs(h->vmin) ? fabs(h->vmax) : fabs(h->vmin)));
        else svg_ramp_color(col, i / 10.0);
        sb_printf(b, "<stop offset=\"%d%%\" stop-color=\"%s\"/>", i * 10, col);
    }
    sb_puts(b, "</linearGradient>");
    sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"url(#%s-bar)\"/>", bx, by0, by1 - by0,
              p->id);
    frame bf = f;
    bf.top = by0;
    bf.bottom = by1;
    bf.lo[1] = h->vmin;
    bf.hi[1] = h->vmax > h->vmin ? h->vmax : h->vmin + 1;
    bf.log[1] = 0;
    bf.integer[1] = 0;
    double step = nice_step(bf.hi[1] - bf.lo[1], 0);
    for (double v = ceil(bf.lo[1] / step - 1e-9) * step; v <= bf.hi[1] + step * 1e-9; v += step) {
        sb_printf(b, "<text class=\"tk\" x=\"%.1f\" y=\"%.1f\">", bx + 16, pix(&bf, 1, v) + 4);
        tick_text(b, v, step);
        sb_puts(b, "</text>");
    }
    sb_printf(b, "<text class=\"at\" transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">",
              bx + 62, (by0 + by1) / 2);
    sb_escs(b, h->value_label ? h->value_label : "");
    sb_puts(b, "</text></svg>");
}

void svg_scatterplot(sbuf *b, const svg_plot *p, const svg_scatter *s) {
    int w = p->w ? p->w : DEF_W, h = p->h ? p->h : 420;
    double mn[2] = { INFINITY, INFINITY }, mx[2] = { -INFINITY, -INFINITY };
    size_t drawable = 0;
    for (size_t k = 0; k <= s->nlines; k++) { /* the points, then the lines over them */
        const svg_series *q = k ? &s->lines[k - 1] : NULL;
        size_t n = q ? q->n : s->n;
        for (size_t i = 0; i < n; i++) {
            double v[2] = { q ? sx(q, i) : s->x[i], q ? q->y[i] : s->y[i] };
            if (!usable(v[0], p->x.log) || !usable(v[1], p->y.log)) continue;
            drawable += !q;
            for (int a = 0; a < 2; a++) {
                if (v[a] < mn[a]) mn[a] = v[a];
                if (v[a] > mx[a]) mx[a] = v[a];
            }
        }
    }
    frame f;
    frame_box(&f, w, h, 0);
    if (s->diagonal && drawable && !p->x.log && !p->y.log && !isfinite(p->x.lo) && !isfinite(p->y.lo)) {
        /* same range on both axes so y = x is the diagonal of the frame */
        double lo = mn[0] < mn[1] ? mn[0] : mn[1], hi = mx[0] > mx[1] ? mx[0] : mx[1];
        mn[0] = mn[1] = lo;
        mx[0] = mx[1] = hi;
    }
    settle(&f, 0, &p->x, mn[0], mx[0]);
    settle(&f, 1, &p->y, mn[1], mx[1]);
    open_svg(b, p, w, h);
    open_frame(b, p, &f);
    if (!drawable) no_data(b, &f);
    if (s->diagonal) {
        double lo = f.lo[0] > f.lo[1] ? f.lo[0] : f.lo[1], hi = f.hi[0] < f.hi[1] ? f.hi[0] : f.hi[1];
        if (p->x.log == p->y.log && lo < hi) {
            double a = f.log[0] ? pow(10, lo) : lo, z = f.log[0] ? pow(10, hi) : hi;
            sb_printf(b, "<line class=\"ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", pix(&f, 0, a),
                      pix(&f, 1, a), pix(&f, 0, z), pix(&f, 1, z));
        }
    }
    double r = s->radius > 0 ? s->radius : 2.5;
    for (size_t i = 0; i < s->n; i++) {
        if (!usable(s->x[i], p->x.log) || !usable(s->y[i], p->y.log)) continue;
        unsigned g = s->group ? s->group[i] % 6 : 0;
        sb_printf(b, "<circle class=\"mk\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" style=\"fill:var(--c%u)\">",
                  pix(&f, 0, s->x[i]), pix(&f, 1, s->y[i]), r, g);
        if (s->label) {
            sb_puts(b, "<title>");
            s->label(b, i, s->ctx);
            sb_puts(b, "</title>");
        }
        sb_puts(b, "</circle>");
    }
    for (size_t k = 0; k < s->nlines; k++) {
        const svg_series *q = &s->lines[k];
        int pen = 0;
        sb_printf(b, "<path class=\"mk\" style=\"fill:none;stroke:%s;stroke-width:2\" d=\"", q->color);
        for (size_t i = 0; i < q->n; i++) {
            if (!usable(sx(q, i), p->x.log) || !usable(q->y[i], p->y.log)) { pen = 0; continue; }
            sb_printf(b, "%c%.1f %.1f", pen ? 'L' : 'M', pix(&f, 0, sx(q, i)), pix(&f, 1, q->y[i]));
            pen = 1;
        }
        sb_puts(b, "\">");
        if (q->name) { sb_puts(b, "<title>"); sb_escs(b, q->name); sb_puts(b, "</title>"); }
        sb_puts(b, "</path>");
    }
    sb_puts(b, "</g>");
    const char *names[14], *colors[14];
    size_t m = 0;
    static const char *const cv[6] = { "var(--c0)", "var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)" };
    for (size_t k = 0; s->group_name && k < s->ngroups && k < 6; k++) { names[m] = s->group_name[k]; colors[m++] = cv[k]; }
    for (size_t k = 0; k < s->nlines && k < 8; k++)
        if (s->lines[k].name) { names[m] = s->lines[k].name; colors[m++] = s->lines[k].color; }
    if (m) legend(b, &f, names, colors, m);
    sb_puts(b, "</svg>");
}
