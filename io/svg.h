/*
 * svg.h: scatter plots written as standalone SVG 1.1 files (UTF-8, well-formed XML, no scripts,
 * no external resources), readable in any browser and by rsvg/Inkscape.
 *
 * A figure is a grid of panels with a title, an optional subtitle and a legend of colour groups.
 * A panel is one scatter: nice-number axes with tick labels, axis titles (e.g. "PC1 (9.7%)"),
 * and points.  Each point is one <g class="point"> holding a <title> (the tooltip browsers show
 * on hover), a <circle> in its group's colour and, when the point is labelled (see max_labels),
 * a <text> label whose highlighted word is a bold <tspan class="word">.  Every piece of text is
 * escaped for XML (& < > " '), control characters XML 1.0 forbids are dropped and invalid UTF-8
 * becomes U+FFFD, so any corpus text is safe.
 * Not collective.
 */
#ifndef ELMO_SVG_H
#define ELMO_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct elmo_svg_point {
    double x, y;          /* data coordinates */
    int group;            /* colour and legend entry, 0..n_groups-1 */
    const char *before;   /* label text before the highlighted word ("" or NULL: none) */
    const char *word;     /* the highlighted (bold) word, or NULL */
    const char *after;    /* label text after it ("" or NULL: none) */
    const char *tooltip;  /* <title> text, or NULL */
};

struct elmo_svg_panel {
    const char *title;            /* above the plot area */
    const char *xlabel, *ylabel;  /* axis titles */
    const struct elmo_svg_point *pts;
    int n;
    const char *note;             /* one line under the axis title, or NULL */
    int max_labels;               /* > 0: label at most this many points, those that find a
                                     free place (every point keeps circle and tooltip);
                                     0: label every point */
};

struct elmo_svg_figure {
    const char *title;            /* figure title (bold, top left) */
    const char *subtitle;         /* second line, or NULL */
    const char *const *groups;    /* legend names, n_groups of them (0: no legend) */
    int n_groups;
    const struct elmo_svg_panel *panels;
    int n_panels;
    int cols;                     /* panels per row (>= 1) */
    int panel_w, panel_h;         /* size of one panel in px (>= 200 x 160) */
    double label_px;              /* font size of the point labels */
};

/* The colour of group g (a fixed palette of 10, cycled): "#d62728", ... */
const char *elmo_svg_colour(int g);

/*
 * Writes s as XML character data to f: & < > " ' escaped, forbidden control characters
 * dropped, invalid UTF-8 bytes written as U+FFFD.  At most max_chars code points are written
 * (< 0: all); when cut, an ellipsis (U+2026) ends the text.
 */
void elmo_svg_put_text(FILE *f, const char *s, int max_chars);

/* Writes the figure to path (replaced).  Returns 0, ELMO_ERR_ARG or ELMO_ERR_IO ("PATH: cause"). */
int elmo_svg_write(const char *path, const struct elmo_svg_figure *fig);

#endif /* ELMO_SVG_H */
