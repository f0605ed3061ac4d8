/*
 * test_wsd.c: the pieces of the word-sense picture: which tokens are occurrences (suffix
 * rules), the separation figures on synthetic clusters whose answers are worked out by hand,
 * the deterministic cap, the sense-labels file, the set's bookkeeping, and the SVG writer's
 * escaping and point count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check.h"
#include "io/svg.h"
#include "io/wsd_files.h"
#include "model/status.h"
#include "model/sense.h"

static void test_match(void) {
    bool f = true;
#define M(tok, forms) elmo_wsd_match("work", tok, strlen(tok), forms)
    CHECK(M("work", f));
    CHECK(M("Work", f));
    CHECK(M("WORK", false));
    CHECK(M("works", f));
    CHECK(M("working", f));
    CHECK(M("worked", f));
    CHECK(M("Working,", f));       /* punctuation around the token is ignored */
    CHECK(M("\"work\"", f));
    CHECK(M("<work>", f));
    CHECK(!M("works", false));     /* forms off: the word alone */
    CHECK(!M("workshop", f));
    CHECK(!M("rework", f));
    CHECK(!M("wor", f));
    CHECK(!M("workd", f));         /* -d only after a final e */
    CHECK(!M("", f));
    CHECK(!M("...", f));
#undef M
    /* A word ending in e: -s, -d, and the e dropped before -ing / -ed. */
    CHECK(elmo_wsd_match("like", "likes", 5, true));
    CHECK(elmo_wsd_match("like", "liked", 5, true));
    CHECK(elmo_wsd_match("like", "liking", 6, true));
    CHECK(!elmo_wsd_match("like", "likeing", 7, true));
    CHECK(!elmo_wsd_match("like", "lik", 3, true));
    /* -es */
    CHECK(elmo_wsd_match("box", "boxes", 5, true));
    CHECK(elmo_wsd_match("Bank", "banks", 5, true));
    /* the length is honoured (no NUL needed) */
    CHECK(elmo_wsd_match("work", "workxyz", 4, true));
}

/*
 * Two senses, two points each, plus an unlabelled point that must be left out:
 *   A: (10, 1, 0), (10, -1, 0)  centroid (10, 0, 0)
 *   B: (0, 1, 10), (0, -1, 10)  centroid (0, 0, 10)
 * centroid distance = sqrt(200) = 14.1421356; each point is 1 from its centroid, so the
 * spread is 1 and the ratio sqrt(200).  Cosine: A1.A2 = 99/101, A1.B1 = 1/101, so every
 * nearest neighbour has the same sense: accuracy 1.0.  Majority share 0.5.
 */
static void test_separation_two(void) {
    const float X[5 * 3] = {10, 1, 0, 0, 1, 10, 5, 5, 5, 10, -1, 0, 0, -1, 10};
    const int sense[5] = {0, 1, -1, 0, 1};
    struct elmo_separation s;
    CHECK_OK(elmo_sense_separation(X, 5, 3, 3, sense, 2, &s));
    CHECK_INT_EQ(s.n_points, 4);
    CHECK_INT_EQ(s.n_senses, 2);
    CHECK_NEAR(s.centroid_dist, sqrt(200.0), 1e-9);
    CHECK_NEAR(s.spread, 1.0, 1e-9);
    CHECK_NEAR(s.ratio, sqrt(200.0), 1e-9);
    CHECK_INT_EQ(s.nn_correct, 4);
    CHECK_NEAR(s.nn_accuracy, 1.0, 0);
    CHECK_NEAR(s.majority, 0.5, 0);
}

/*
 * Three senses with centroids (0, 0), (6, 0), (0, 8) shifted by (20, 20): pairwise distances
 * 6, 8, 10, mean 8; points at centroid +- (0.5, 0) (sense 0), +- (0, 0.5) (senses 1 and 2), so
 * the spread is 0.5 and the ratio 16.  The mean of pairs is unweighted by sense size: a third
 * point exactly at sense 0's centroid moves the spread to (6 * 0.5) / 7, not the distances.
 */
static void test_separation_three(void) {
    float X[7 * 2] = {19.5f, 20, 20.5f, 20, 26, 19.5f, 26, 20.5f, 20, 27.5f, 20, 28.5f, 20, 20};
    int sense[7] = {0, 0, 1, 1, 2, 2, 0};
    struct elmo_separation s;
    CHECK_OK(elmo_sense_separation(X, 6, 2, 2, sense, 3, &s));
    CHECK_NEAR(s.centroid_dist, 8.0, 1e-6);
    CHECK_NEAR(s.spread, 0.5, 1e-6);
    CHECK_NEAR(s.ratio, 16.0, 1e-5);
    CHECK_OK(elmo_sense_separation(X, 7, 2, 2, sense, 3, &s));
    CHECK_NEAR(s.centroid_dist, 8.0, 1e-6);
    CHECK_NEAR(s.spread, 3.0 / 7.0, 1e-6);
    CHECK_NEAR(s.majority, 3.0 / 7.0, 1e-12);
}

/*
 * Identical vectors of different senses (what word_emb gives for `work` as a noun and as a
 * verb): (1,0) sense 0, (1,0) sense 1, (0,1) sense 1.  Point 0's nearest is point 1 (cos 1),
 * wrong; point 1's is point 0, wrong; point 2 ties at cos 0 and takes the earlier, point 0,
 * wrong: accuracy 0.  Zero spread gives an infinite ratio.
 */
static void test_separation_edge(void) {
    const float X[3 * 2] = {1, 0, 1, 0, 0, 1};
    const int sense[3] = {0, 1, 1};
    struct elmo_separation s;
    CHECK_OK(elmo_sense_separation(X, 3, 2, 2, sense, 2, &s));
    CHECK_INT_EQ(s.nn_correct, 0);
    CHECK_NEAR(s.nn_accuracy, 0.0, 0);
    const float Y[4 * 2] = {1, 1, 1, 1, 3, 3, 3, 3};
    const int t[4] = {0, 0, 1, 1};
    CHECK_OK(elmo_sense_separation(Y, 4, 2, 2, t, 2, &s));
    CHECK(isinf(s.ratio));
    CHECK_NEAR(s.spread, 0.0, 0);
    /* One sense only, or one point: no figures. */
    const int one[3] = {1, 1, -1};
    CHECK_INT_EQ(elmo_sense_separation(X, 3, 2, 2, one, 2, &s), ELMO_ERR_ARG);
    CHECK_INT_EQ(s.n_senses, 1);
    CHECK(isnan(s.ratio));
    const int none[3] = {-1, -1, -1};
    CHECK_INT_EQ(elmo_sense_separation(X, 3, 2, 2, none, 2, &s), ELMO_ERR_ARG);
    CHECK_INT_EQ(s.n_points, 0);
}

static void test_pick(void) {
    const int64_t want[4] = {0, 2, 5, 7};
    for (int j = 0; j < 4; j++) CHECK_INT_EQ(elmo_wsd_pick(j, 10, 4), want[j]);
    for (int j = 0; j < 5; j++) CHECK_INT_EQ(elmo_wsd_pick(j, 5, 5), j);
    CHECK_INT_EQ(elmo_wsd_pick(499, 10000000000LL, 500), 9980000000LL);
}

static void test_labels(void) {
    char path[] = "/tmp/test_wsd_labelsXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("noun\n\n  verb \r\nnoun", f);
    fclose(f);
    char **labels = NULL;
    int64_t n = 0;
    CHECK_OK(elmo_wsd_read_labels(path, &labels, &n));
    CHECK_INT_EQ(n, 4);
    if (n == 4) {
        CHECK_STR_EQ(labels[0], "noun");
        CHECK(labels[1] == NULL);
        CHECK_STR_EQ(labels[2], "verb");
        CHECK_STR_EQ(labels[3], "noun");
    }
    elmo_wsd_free_labels(labels, n);
    f = fopen(path, "w");
    fputs("a\n\xff\n", f);
    fclose(f);
    CHECK_INT_EQ(elmo_wsd_read_labels(path, &labels, &n), ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), ":2: the label is not valid UTF-8") != NULL);
    unlink(path);
    CHECK_OK(elmo_wsd_read_labels("/dev/null", &labels, &n)); /* empty: 0 labels, not "none" */
    CHECK_INT_EQ(n, 0);
    CHECK(labels != NULL);
    elmo_wsd_free_labels(labels, n);
    CHECK_INT_EQ(elmo_wsd_read_labels("/nonexistent/senses.txt", &labels, &n), ELMO_ERR_IO);
}

static void test_set(void) {
    struct elmo_wsd_set s;
    memset(&s, 0, sizeof s);
    const char *t1[] = {"I", "work", "here"}, *t2[] = {"works", "and", "work"};
    int o1[] = {1}, o2[] = {0, 2};
    CHECK_OK(elmo_wsd_set_add(&s, "I work here", 3, 3, t1, 1, o1, "verb"));
    CHECK_OK(elmo_wsd_set_add(&s, "works and work", 7, 3, t2, 2, o2, NULL));
    CHECK_OK(elmo_wsd_set_alloc(&s, 0x9u, 4)); /* word_emb and elmo */
    CHECK_INT_EQ(s.n_sent, 2);
    CHECK_INT_EQ(s.n_rows, 6);
    CHECK_INT_EQ(s.n_occ, 3);
    CHECK_INT_EQ(s.occ_row[0], 1);
    CHECK_INT_EQ(s.occ_row[1], 3);
    CHECK_INT_EQ(s.occ_row[2], 5);
    CHECK_INT_EQ(s.occ_sent[2], 1);
    CHECK_INT_EQ(s.occ_sense[0], 0);
    CHECK_INT_EQ(s.occ_sense[1], -1);
    CHECK_INT_EQ(s.n_senses, 1);
    CHECK_INT_EQ(s.sent_row[2], 6);
    CHECK_INT_EQ(s.sent_src[1], 7);
    CHECK_INT_EQ(s.dim[0], 4);
    CHECK_INT_EQ(s.dim[3], 8);
    CHECK(s.X[1] == NULL && s.X[3] != NULL);
    CHECK_STR_EQ(s.tok[4], "and");
    elmo_wsd_set_free(&s);
    elmo_wsd_set_free(&s);
}

/* Reads a whole file into an owned string. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_svg(void) {
    char path[] = "/tmp/test_wsd_svgXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    /* put_text: escapes, dropped controls, U+FFFD, the cut with an ellipsis. */
    FILE *f = fopen(path, "w");
    elmo_svg_put_text(f, "a&b<c>\"d'\x01\t\xff\xc3\xa9", -1);
    fputc('|', f);
    elmo_svg_put_text(f, "abcdef", 3);
    fputc('|', f);
    elmo_svg_put_text(f, "abc", 3);
    fclose(f);
    char *got = slurp(path);
    CHECK_STR_EQ(got, "a&amp;b&lt;c&gt;&quot;d&apos;\t\xef\xbf\xbd\xc3\xa9|abc\xe2\x80\xa6|abc");
    free(got);

    const char *groups[] = {"noun & <verb>", "verb"};
    struct elmo_svg_point pts[3] = {
        {0.5, 1.0, 0, "Tom & ", "work", " <b>", "tip \"1\""},
        {-1.0, 2.0, 1, "", "Works", "", NULL},
        {3.0, -2.0, 1, NULL, "work", NULL, "x\x02y"},
    };
    struct elmo_svg_panel pn = {"elmo: PCA", "PC1 (50.0%)", "PC2 (20.0%)", pts, 3, "note & more",
                                0};
    struct elmo_svg_figure fig = {"\u201cwork\u201d & co", "sub <title>", groups, 2, &pn, 1, 1,
                                  600, 400, 12};
    CHECK_OK(elmo_svg_write(path, &fig));
    got = slurp(path);
    CHECK(got != NULL);
    if (got) {
        CHECK(strncmp(got, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
        CHECK_INT_EQ(count(got, "<g class=\"point\""), 3);
        CHECK_INT_EQ(count(got, "<tspan class=\"word\""), 3);
        CHECK_INT_EQ(count(got, "<circle"), 3 + 2); /* points + legend swatches */
        CHECK(strstr(got, "Tom &amp; <tspan") != NULL);
        CHECK(strstr(got, "&lt;b&gt;") != NULL);
        CHECK(strstr(got, "noun &amp; &lt;verb&gt;") != NULL);
        CHECK(strstr(got, "PC1 (50.0%)") != NULL);
        CHECK(strchr(got, '\x02') == NULL);
        CHECK(strstr(got, "</svg>\n") != NULL);
        /* Every element opened is closed: as many <g as </g>, <text as </text>. */
        CHECK_INT_EQ(count(got, "<g "), count(got, "</g>"));
        CHECK_INT_EQ(count(got, "<text "), count(got, "</text>"));
    }
    free(got);
    unlink(path);
    CHECK_INT_EQ(elmo_svg_write("/nonexistent/dir/x.svg", &fig), ELMO_ERR_IO);
}

/*
 * Many points in a small panel: with max_labels, at most that many get a label (only where one
 * finds a free place), and every point keeps its circle and tooltip; without it, all do.
 */
static void test_svg_many(void) {
    char path[] = "/tmp/test_wsd_svg_manyXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    enum { N = 200 };
    static struct elmo_svg_point pts[N];
    for (int i = 0; i < N; i++)
        pts[i] = (struct elmo_svg_point){(i % 7) * 0.1 + i * 1e-3, (i % 11) * 0.1, i % 2,
                                         "a fairly long label before ", "work", " and after",
                                         "tip"};
    const char *groups[] = {"noun", "verb"};
    struct elmo_svg_panel pn = {"many", "PC1", "PC2", pts, N, NULL, 30};
    struct elmo_svg_figure fig = {"many", NULL, groups, 2, &pn, 1, 1, 400, 300, 12};
    CHECK_OK(elmo_svg_write(path, &fig));
    char *got = slurp(path);
    CHECK(got != NULL);
    if (got) {
        int labels = count(got, "<tspan class=\"word\"");
        CHECK_INT_EQ(count(got, "<g class=\"point\""), N);
        CHECK_INT_EQ(count(got, "<title>tip</title>"), N);
        CHECK_INT_EQ(count(got, "<circle"), N + 2);
        CHECK(labels >= 1 && labels <= 30);
        CHECK_INT_EQ(count(got, "<text "), count(got, "</text>"));
    }
    free(got);
    pn.n = 12; /* no more points than the cap: every point labelled */
    CHECK_OK(elmo_svg_write(path, &fig));
    got = slurp(path);
    if (got) CHECK_INT_EQ(count(got, "<tspan class=\"word\""), 12);
    free(got);
    pn.n = N, pn.max_labels = 0; /* no cap: every point labelled, as before */
    CHECK_OK(elmo_svg_write(path, &fig));
    got = slurp(path);
    if (got) CHECK_INT_EQ(count(got, "<tspan class=\"word\""), N);
    free(got);
    unlink(path);
}

int main(void) {
    test_match();
    test_separation_two();
    test_separation_three();
    test_separation_edge();
    test_pick();
    test_labels();
    test_set();
    test_svg();
    test_svg_many();
    return CHECK_REPORT();
}
