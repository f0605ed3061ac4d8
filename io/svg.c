/*
 * svg.c: scatter-plot figures as SVG (see svg.h).  Layout, in px: a header of 34 (title) or 54
 * (title + subtitle), then rows of panels; the legend, when there is one, is a column of 230 on
 * the right.  Inside a panel: its title, the plot area (a frame with light grid lines at the
 * ticks), tick labels, axis titles and the optional note.  Text widths are estimated at 0.6 em
 * per code point, which is enough to flip a label that would cross the right edge of the plot.
 */
#include "io/svg.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/utf8.h"
#include "model/status.h"

static const char *const palette[10] = {
    "#d62728", "#1f77b4", "#e6ab02", "#2ca02c", "#17becf",
    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
};

const char *elmo_svg_colour(int g) { return palette[(g < 0 ? -g : g) % 10]; }

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define LEGEND_W 230

/* Code points of s as elmo_svg_put_text would write them (for width estimates). */
static int text_chars(const char *s) {
    int n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        uint32_t cp;
        int len = elmo_utf8_decode(p, strnlen((const char *)p, 4), &cp);
        p += len ? len : 1;
        n++;
    }
    return n;
}

void elmo_svg_put_text(FILE *f, const char *s, int max_chars) {
    const unsigned char *p = (const unsigned char *)s;
    int written = 0;
    while (p && *p) {
        uint32_t cp = 0;
        int len = elmo_utf8_decode(p, strnlen((const char *)p, 4), &cp);
        if (max_chars >= 0 && written >= max_chars) {
            fputs("\xe2\x80\xa6", f);
            return;
        }
        if (len == 0) {
            fputs("\xef\xbf\xbd", f); /* invalid byte: U+FFFD */
            p++;
            written++;
            continue;
        }
        if (cp < 0x20 && cp != 0x09 && cp != 0x0a && cp != 0x0d) {
            p += len; /* XML 1.0 forbids the other C0 controls */
            continue;
        }
        switch (cp) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        case 0xfffe:
        case 0xffff: fputs("\xef\xbf\xbd", f); break;
        default: fwrite(p, 1, (size_t)len, f);
        }
        p += len;
        written++;
    }
}

/* ---- axes ------------------------------------------------------------------------------ */

struct axis {
    double lo, hi;    /* the data range shown */
    double step;      /* tick spacing */
    int decimals;     /* digits after the point in tick labels */
};

/* A 1-2-5 step giving about `want` intervals over [lo, hi], and the range padded by 6%. */
static void nice_axis(double lo, double hi, int want, struct axis *a) {
    if (!(hi > lo)) {
        double c = isfinite(lo) ? lo : 0.0, h = fabs(c) > 0 ? fabs(c) * 0.5 : 1.0;
        lo = c - h, hi = c + h;
    }
    double pad = (hi - lo) * 0.06;
    lo -= pad, hi += pad;
    double raw = (hi - lo) / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    a->lo = lo, a->hi = hi, a->step = step;
    int dec = (int)-floor(log10(step) + 1e-9);
    a->decimals = dec > 0 ? dec : 0;
}

/* ---- drawing --------------------------------------------------------------------------- */

static void put_attr_text(FILE *f, const char *s) { elmo_svg_put_text(f, s ? s : "", 200); }

/* A panel's plot area in px and its two axes: what every drawing step of a panel needs. */
struct plot {
    double ox, oy;                   /* the panel's top-left corner */
    double lp;                       /* label font size */
    double left, right, top, bottom; /* the plot area */
    struct axis ax, ay;
};

static double plot_x(const struct plot *p, double v) {
    return p->left + (v - p->ax.lo) / (p->ax.hi - p->ax.lo) * (p->right - p->left);
}

static double plot_y(const struct plot *p, double v) {
    return p->bottom - (v - p->ay.lo) / (p->ay.hi - p->ay.lo) * (p->bottom - p->top);
}

/* The plot area of panel pn at (ox, oy) and axes covering its finite points. */
static void plot_layout(const struct elmo_svg_figure *fig, const struct elmo_svg_panel *pn,
                        double ox, double oy, struct plot *p) {
    const double W = fig->panel_w, H = fig->panel_h;
    p->ox = ox, p->oy = oy;
    p->lp = fig->label_px > 0 ? fig->label_px : 12;
    p->left = ox + 64, p->right = ox + W - 18, p->top = oy + 34;
    p->bottom = oy + H - (pn->note ? 62 : 46);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < pn->n; i++) {
        const struct elmo_svg_point *q = &pn->pts[i];
        if (!isfinite(q->x) || !isfinite(q->y)) continue;
        if (q->x < xmin) xmin = q->x;
        if (q->x > xmax) xmax = q->x;
        if (q->y < ymin) ymin = q->y;
        if (q->y > ymax) ymax = q->y;
    }
    if (xmin > xmax) xmin = xmax = ymin = ymax = 0.0;
    nice_axis(xmin, xmax, 6, &p->ax);
    nice_axis(ymin, ymax, 5, &p->ay);
}

/* The panel title, the frame, ticks with grid lines and labels, axis titles and the note. */
static void draw_frame(FILE *f, const struct elmo_svg_panel *pn, const struct plot *p) {
    const double left = p->left, right = p->right, top = p->top, bottom = p->bottom;
    const struct axis ax = p->ax, ay = p->ay;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" font-weight=\"bold\">", left,
            p->oy + 22);
    put_attr_text(f, pn->title);
    fprintf(f, "</text>\n");
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fbfbfb\" "
               "stroke=\"#444\" stroke-width=\"1\"/>\n",
            left, top, right - left, bottom - top);
    /* Ticks, grid and tick labels. */
    for (double t = ceil(ax.lo / ax.step) * ax.step; t <= ax.hi + 1e-9 * ax.step; t += ax.step) {
        double x = plot_x(p, t), v = fabs(t) < 1e-9 * ax.step ? 0.0 : t;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e2e2\"/>\n",
                x, top, x, bottom);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x,
                bottom, x, bottom + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" "
                   "fill=\"#333\">%.*f</text>\n",
                x, bottom + 16, ax.decimals, v);
    }
    for (double t = ceil(ay.lo / ay.step) * ay.step; t <= ay.hi + 1e-9 * ay.step; t += ay.step) {
        double y = plot_y(p, t), v = fabs(t) < 1e-9 * ay.step ? 0.0 : t;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e2e2\"/>\n",
                left, y, right, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n",
                left - 4, y, left, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" "
                   "fill=\"#333\">%.*f</text>\n",
                left - 7, y + 4, ay.decimals, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\">",
            (left + right) / 2, bottom + 34);
    put_attr_text(f, pn->xlabel);
    fprintf(f, "</text>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 %.1f %.1f)\">",
            p->ox + 18, (top + bottom) / 2, p->ox + 18, (top + bottom) / 2);
    put_attr_text(f, pn->ylabel);
    fprintf(f, "</text>\n");
    if (pn->note) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#333\">", left,
                bottom + 54);
        put_attr_text(f, pn->note);
        fprintf(f, "</text>\n");
    }
}

/* Where each point's label goes: box is x0, x1, y0, y1; placed is 0 (no label), 1 (labelled)
 * or 2 (labelled, flipped to the left of the point). */
struct labels {
    double (*box)[4];
    double *tx, *ty;
    int *placed;
    int *order;     /* the points in trial order */
    int *ids;       /* the points labelled so far */
    int n_order, n_placed;
};

static void labels_alloc(struct labels *L, int n) {
    L->box = elmo_xcalloc((size_t)n + 1, sizeof *L->box);
    L->tx = elmo_xcalloc((size_t)n + 1, sizeof *L->tx);
    L->ty = elmo_xcalloc((size_t)n + 1, sizeof *L->ty);
    L->placed = elmo_xcalloc((size_t)n + 1, sizeof *L->placed);
    L->order = elmo_xcalloc((size_t)n + 1, sizeof *L->order);
    L->ids = elmo_xcalloc((size_t)n + 1, sizeof *L->ids);
    L->n_order = 0, L->n_placed = 0;
}

static void labels_free(struct labels *L) {
    free(L->tx);
    free(L->ty);
    free(L->placed);
    free(L->order);
    free(L->ids);
    free(L->box);
}

/* The trial order: with a cap, max_labels points evenly spread first, then the rest in order. */
static void labels_order(struct labels *L, const struct elmo_svg_panel *pn, bool capped) {
    const int n = pn->n;
    if (capped) {
        char *first = elmo_xcalloc((size_t)n + 1, 1);
        for (int j = 0; j < pn->max_labels; j++) {
            int i = (int)((long long)j * n / pn->max_labels);
            first[i] = 1;
            L->order[L->n_order++] = i;
        }
        for (int i = 0; i < n; i++)
            if (!first[i]) L->order[L->n_order++] = i;
        free(first);
    } else {
        for (int i = 0; i < n; i++) L->order[L->n_order++] = i;
    }
}

/* Tries to place point i's label; leaves it out when capped and no free place is found. */
static void place_label(struct labels *L, const struct elmo_svg_point *q, int i, bool capped,
                        const struct plot *p) {
    const double lp = p->lp;
    double x = plot_x(p, isfinite(q->x) ? q->x : 0.0), y = plot_y(p, isfinite(q->y) ? q->y : 0.0);
    const char *pre = q->before ? q->before : "", *post = q->after ? q->after : "";
    int chars = text_chars(pre) + text_chars(q->word) + text_chars(post);
    if (chars == 0) return; /* nothing to write: no label */
    double width = chars * 0.6 * lp;
    bool flip = x + 9 + width > p->right && x - 9 - width >= p->ox;
    double tx = flip ? x - 8 : x + 8, x0 = flip ? tx - width : tx, x1 = flip ? tx : tx + width;
    double ty = y + lp * 0.35;
    bool free_place = false;
    for (int t = 0; t < 25 && !free_place; t++) {
        double dy = ((t + 1) / 2) * lp * 1.25 * (t % 2 ? 1 : -1), cy = y + lp * 0.35 + dy;
        if (t > 0 && (cy - lp < p->top || cy + lp * 0.3 > p->bottom)) continue;
        bool clash = false;
        for (int j = 0; j < L->n_placed && !clash; j++) {
            const double *b = L->box[L->ids[j]];
            clash = x0 < b[1] && b[0] < x1 && cy - lp * 0.8 < b[3] && b[2] < cy + lp * 0.25;
        }
        if (!clash) ty = cy, free_place = true;
    }
    if (!free_place && capped) return;
    L->box[i][0] = x0, L->box[i][1] = x1, L->box[i][2] = ty - lp * 0.8;
    L->box[i][3] = ty + lp * 0.25;
    L->tx[i] = tx, L->ty[i] = ty;
    L->placed[i] = flip ? 2 : 1;
    L->ids[L->n_placed++] = i;
}

/* Point i: its tooltip, the leader line of a moved label, its circle and its label. */
static void draw_point(FILE *f, const struct elmo_svg_point *q, const struct labels *L, int i,
                       const struct plot *p) {
    const double lp = p->lp;
    double x = plot_x(p, isfinite(q->x) ? q->x : 0.0), y = plot_y(p, isfinite(q->y) ? q->y : 0.0);
    fprintf(f, "<g class=\"point\" data-group=\"%d\">", q->group);
    if (q->tooltip) {
        fprintf(f, "<title>");
        elmo_svg_put_text(f, q->tooltip, -1);
        fprintf(f, "</title>");
    }
    const double tx = L->tx[i], ty = L->ty[i];
    const bool flip = L->placed[i] == 2;
    if (L->placed[i] && fabs(ty - (y + lp * 0.35)) > 0.5)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                   "stroke-width=\"0.7\"/>",
                x, y, flip ? tx + 2 : tx - 2, ty - lp * 0.35);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\" stroke=\"#fff\" "
               "stroke-width=\"1.2\" fill-opacity=\"0.9\"/>",
            x, y, elmo_svg_colour(q->group));
    if (L->placed[i]) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" fill=\"#222\"%s>", tx, ty, lp,
                flip ? " text-anchor=\"end\"" : "");
        elmo_svg_put_text(f, q->before ? q->before : "", -1);
        if (q->word) {
            fprintf(f, "<tspan class=\"word\" font-weight=\"bold\" fill=\"%s\">",
                    elmo_svg_colour(q->group));
            elmo_svg_put_text(f, q->word, -1);
            fprintf(f, "</tspan>");
        }
        elmo_svg_put_text(f, q->after ? q->after : "", -1);
        fprintf(f, "</text>");
    }
    fprintf(f, "</g>\n");
}

static void draw_panel(FILE *f, const struct elmo_svg_figure *fig, const struct elmo_svg_panel *pn,
                       double ox, double oy) {
    struct plot p;
    plot_layout(fig, pn, ox, oy, &p);
    fprintf(f, "<g class=\"panel\">\n");
    draw_frame(f, pn, &p);

    /*
     * Labels are placed greedily: beside the point (left of it when the text would cross the
     * right edge), else moved up or down by whole lines until the label box overlaps no label
     * placed before; a moved label gets a thin leader line.  With max_labels set and more
     * points than that, at most max_labels points get a label: they are tried evenly spread
     * over the points first (then the rest in order), and a label that finds no free place is
     * left out, so the labels stay readable; every point keeps its circle and its tooltip.
     * Without a cap every point is labelled, at its first place when no free one is found.
     */
    const bool capped = pn->max_labels > 0 && pn->n > pn->max_labels;
    struct labels L;
    labels_alloc(&L, pn->n);
    labels_order(&L, pn, capped);
    for (int r = 0; r < L.n_order && !(capped && L.n_placed >= pn->max_labels); r++)
        place_label(&L, &pn->pts[L.order[r]], L.order[r], capped, &p);
    for (int i = 0; i < pn->n; i++) draw_point(f, &pn->pts[i], &L, i, &p);
    labels_free(&L);
    fprintf(f, "</g>\n");
}

int elmo_svg_write(const char *path, const struct elmo_svg_figure *fig) {
    ELMO_CHECK(fig->cols >= 1 && fig->panel_w >= 200 && fig->panel_h >= 160 &&
                   fig->n_panels >= 1 && fig->n_groups >= 0,
               ELMO_ERR_ARG, "%s: bad figure layout", path);
    FILE *f = fopen(path, "w");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const int rows = (fig->n_panels + fig->cols - 1) / fig->cols;
    const int cols = fig->n_panels < fig->cols ? fig->n_panels : fig->cols;
    const double head = fig->subtitle ? 58 : 38;
    const double width = cols * fig->panel_w + (fig->n_groups > 0 ? LEGEND_W : 0) + 10;
    double height = head + rows * fig->panel_h + 8;
    if (fig->n_groups > 0 && height < head + 60 + fig->n_groups * 20.0)
        height = head + 60 + fig->n_groups * 20.0;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\">\n",
            width, height, width, height, FONT);
    fprintf(f, "<title>");
    elmo_svg_put_text(f, fig->title ? fig->title : "", -1);
    fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(f, "<text x=\"14\" y=\"26\" font-size=\"18\" font-weight=\"bold\">");
    elmo_svg_put_text(f, fig->title ? fig->title : "", -1);
    fprintf(f, "</text>\n");
    if (fig->subtitle) {
        fprintf(f, "<text x=\"14\" y=\"46\" font-size=\"13\" fill=\"#444\">");
        elmo_svg_put_text(f, fig->subtitle, -1);
        fprintf(f, "</text>\n");
    }
    for (int i = 0; i < fig->n_panels; i++)
        draw_panel(f, fig, &fig->panels[i], (i % fig->cols) * fig->panel_w,
                   head + (double)(i / fig->cols) * fig->panel_h);
    if (fig->n_groups > 0) {
        double lx = cols * fig->panel_w + 8, ly = head + 34;
        fprintf(f, "<g class=\"legend\">\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" "
                   "font-weight=\"bold\">Legend</text>\n",
                lx, ly - 8);
        for (int g = 0; g < fig->n_groups; g++) {
            double y = ly + 10 + g * 20;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\"/>", lx + 6, y,
                    elmo_svg_colour(g));
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", lx + 16, y + 4);
            elmo_svg_put_text(f, fig->groups[g], 30);
            fprintf(f, "</text>\n");
        }
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
