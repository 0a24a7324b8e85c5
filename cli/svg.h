/*
 * svg.h — the report's plots, drawn as inline SVG: lines (linear or log axes),
 * histograms, heatmaps and scatter plots with a hover label per point.
 *
 * Every plot is an <svg class="plot"> with a viewBox (it scales to its container), axes
 * with tick labels and an axis title naming the quantity and its unit. Colours come from
 * the page's CSS variables (--fg, --muted, --grid, --bg, --c0..--c5), so the same SVG
 * reads on a light and a dark page; data marks carry class "mk" (the browser test counts
 * them). Non-finite values, and values <= 0 on a log axis, are not drawn. Output depends
 * only on the arguments: the same numbers give the same bytes.
 */
#ifndef VX_CLI_SVG_H
#define VX_CLI_SVG_H
#include <stddef.h>

#include "html.h"

typedef struct svg_axis {
    const char *label;     /* quantity and unit, e.g. "singular value σ (log scale)" */
    int log;               /* log10 scale */
    double lo, hi;         /* range; NAN = from the data */
    int integer;           /* ticks on integers only (indices, layers) */
} svg_axis;

typedef struct svg_plot {
    const char *id;        /* unique in the page, [a-z0-9-]: prefixes ids inside the SVG */
    const char *title;     /* aria-label */
    svg_axis x, y;
    int w, h;              /* viewBox size; 0 = 600 x 340 */
} svg_plot;

/* Writes one escaped label into b; used for ticks and hover text. */
typedef void (*svg_label_fn)(sbuf *b, size_t i, void *ctx);

typedef struct svg_series {
    const double *x;       /* NULL: x = 1, 2, ..., n */
    const double *y;
    size_t n;
    const char *name;      /* legend text, NULL = not in the legend */
    const char *color;     /* CSS colour, e.g. "var(--c0)" or "#3b528b" */
    int dots;              /* 1: a dot at each point too; 2: dots only, no line */
} svg_series;

/* Colour ramp shown instead of a legend when there are many series (one per layer). */
typedef struct svg_ramp {
    const char *lo, *hi;   /* text at the ends, e.g. "layer 0", "layer 35" */
} svg_ramp;

void svg_lines(sbuf *b, const svg_plot *p, const svg_series *s, size_t ns, const svg_ramp *ramp);

typedef struct svg_hist {
    const double *v;       /* values */
    size_t n;
    const char *name;      /* legend text (NULL = none) */
    const char *color;
} svg_hist;

/* Histograms of `nh` value sets over the same `bins` bins (range: p->x.lo/hi or the data).
 * With `share` the y axis is the percentage of each set per bin, else the count. */
void svg_histogram(sbuf *b, const svg_plot *p, const svg_hist *h, size_t nh, size_t bins, int share);

typedef struct svg_heat {
    const double *m;       /* [rows][cols], row 0 drawn at the top */
    size_t rows, cols;
    double vmin, vmax;     /* colour range */
    int diverging;         /* blue - white - red centred on 0, else the sequential ramp */
    const char *value_label;  /* colour bar title, with unit */
    svg_label_fn row_name, col_name; /* tick labels; NULL = the index */
    void *ctx;
} svg_heat;

void svg_heatmap(sbuf *b, const svg_plot *p, const svg_heat *h);

typedef struct svg_scatter {
    const double *x, *y;
    size_t n;
    const unsigned char *group; /* colour index per point (< ngroups), NULL = one colour */
    const char *const *group_name; size_t ngroups;
    svg_label_fn label;    /* hover text of point i (an SVG <title>), NULL = none */
    void *ctx;
    int diagonal;          /* draw the line y = x */
    double radius;         /* 0 = 2.5 */
    /* Lines drawn over the points (e.g. a binned mean), in the axis ranges and the legend;
     * a non-finite value breaks the line. Their `dots` is ignored. */
    const svg_series *lines; size_t nlines;
} svg_scatter;

void svg_scatterplot(sbuf *b, const svg_plot *p, const svg_scatter *s);

/* Colour of t in [0, 1] on the sequential ramp (viridis), as "#rrggbb". */
void svg_ramp_color(char out[8], double t);

#endif
