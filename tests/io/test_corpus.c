/*
 * test_corpus.c: the corpus readers.  Writes small files into a temporary directory and checks
 * text, conll and jsonl records (tokens, text, ids, line numbers, offsets, rejects), that gzip
 * copies read identically, and that reading every byte range of a split gives exactly the
 * records of a full read.
 */
#include "io/corpus.h"
#include "model/status.h"
#include "tests/check.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

/* One record, copied out of the reader. */
struct rec {
    int64_t line, offset;
    char *id, *text, *toks; /* toks: the tokens joined by '|' */
    int n_tok, reject;
    char reason[256];
};

struct recs {
    struct rec *r;
    int n, cap;
};

static void recs_free(struct recs *rs) {
    for (int i = 0; i < rs->n; i++) {
        free(rs->r[i].id);
        free(rs->r[i].text);
        free(rs->r[i].toks);
    }
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static char *path_in_tmp(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* Writes data gzip-compressed, as `members` concatenated gzip members. */
static void write_gz(const char *path, const char *data, size_t len, int members) {
    remove(path);
    size_t done = 0;
    for (int m = 0; m < members; m++) {
        size_t part = m + 1 == members ? len - done : len / members;
        gzFile gz = gzopen(path, "ab");
        if (!gz || (part && gzwrite(gz, data + done, (unsigned)part) != (int)part)) {
            fprintf(stderr, "%s: gzwrite failed\n", path);
            exit(2);
        }
        gzclose(gz);
        done += part;
    }
}

/* Reads every record of [begin, end) into rs (appending).  Returns the reader status. */
static int read_range(const char *path, const struct elmo_corpus_opts *opts, int64_t begin,
                      int64_t end, int64_t first_line, struct recs *rs) {
    struct elmo_corpus *c;
    int rc = elmo_corpus_open(&c, path, opts, begin, end, first_line);
    if (rc < 0) return rc;
    struct elmo_record r;
    int64_t index = 0;
    while ((rc = elmo_corpus_next(c, &r)) == 1) {
        CHECK_INT_EQ(r.index, index);
        index++;
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? 2 * rs->cap : 16;
            rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
        }
        struct rec *o = &rs->r[rs->n++];
        o->line = r.line;
        o->offset = r.offset;
        o->id = strdup(r.id);
        o->text = strdup(r.text);
        o->n_tok = r.n_tok;
        o->reject = r.reject;
        snprintf(o->reason, sizeof o->reason, "%s", r.reason);
        size_t len = 1;
        for (int i = 0; i < r.n_tok; i++) len += strlen(r.tok[i]) + 1;
        o->toks = malloc(len);
        o->toks[0] = '\0';
        char *p = o->toks;
        for (int i = 0; i < r.n_tok; i++) {
            size_t n = strlen(r.tok[i]);
            if (i) *p++ = '|';
            memcpy(p, r.tok[i], n);
            p += n;
            *p = '\0';
        }
    }
    CHECK_INT_EQ(elmo_corpus_next(c, &r), rc); /* stays at the end */
    elmo_corpus_close(c);
    return rc;
}

static int read_all(const char *path, const struct elmo_corpus_opts *opts, struct recs *rs) {
    return read_range(path, opts, 0, -1, 1, rs);
}

static bool same_rec(const struct rec *a, const struct rec *b) {
    return a->line == b->line && a->offset == b->offset && strcmp(a->id, b->id) == 0 &&
           strcmp(a->text, b->text) == 0 && strcmp(a->toks, b->toks) == 0 &&
           a->n_tok == b->n_tok && a->reject == b->reject && strcmp(a->reason, b->reason) == 0;
}

static void check_same(const struct recs *a, const struct recs *b, const char *what) {
    CHECK_INT_EQ(a->n, b->n);
    int bad = 0;
    for (int i = 0; i < a->n && i < b->n; i++) {
        if (!same_rec(&a->r[i], &b->r[i])) {
            if (bad++ < 3)
                fprintf(stderr, "%s: record %d differs: line %" PRId64 "/%" PRId64
                        " \"%s\" vs \"%s\"\n", what, i, a->r[i].line, b->r[i].line,
                        a->r[i].text, b->r[i].text);
        }
    }
    CHECK_INT_EQ(bad, 0);
}

/* Reads plain and gzip (two members) copies of data and checks they agree; returns the plain. */
static struct recs read_both(const char *name, const char *data, size_t len,
                             const struct elmo_corpus_opts *opts) {
    struct recs plain = {0}, gz = {0};
    char *p = path_in_tmp(name);
    write_file(p, data, len);
    CHECK(!elmo_corpus_is_stream(p));
    CHECK_INT_EQ(read_all(p, opts, &plain), 0);
    char gzname[256];
    snprintf(gzname, sizeof gzname, "%s.data", name); /* any name: detected by magic bytes */
    char *g = path_in_tmp(gzname);
    write_gz(g, data, len, len > 1 ? 2 : 1);
    CHECK(elmo_corpus_is_stream(g));
    CHECK_INT_EQ(read_all(g, opts, &gz), 0);
    check_same(&plain, &gz, name);
    recs_free(&gz);
    /* A compressed file cannot be read in ranges. */
    struct elmo_corpus *c = NULL;
    CHECK_INT_EQ(elmo_corpus_open(&c, g, opts, 0, 10, 1), ELMO_ERR_ARG);
    CHECK(c == NULL);
    return plain;
}

/* ============================== Unit helpers ============================== */

static void test_helpers(void) {
    CHECK(elmo_utf8_valid("", 0));
    const char *good = "abc \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    CHECK(elmo_utf8_valid(good, strlen(good)));
    CHECK(!elmo_utf8_valid("\xc0\xaf", 2));          /* overlong '/' */
    CHECK(!elmo_utf8_valid("\xe0\x80\xaf", 3));      /* overlong */
    CHECK(!elmo_utf8_valid("\xed\xa0\x80", 3));      /* surrogate U+D800 */
    CHECK(!elmo_utf8_valid("\xf4\x90\x80\x80", 4));  /* above U+10FFFF */
    CHECK(!elmo_utf8_valid("\xf0\x9f\x98", 3));      /* truncated */
    CHECK(!elmo_utf8_valid("\x80", 1));              /* stray continuation */
    CHECK(!elmo_utf8_valid("abcdefgh\xff", 9));      /* after the 8-byte fast path */
    CHECK(elmo_utf8_valid("\xf4\x8f\xbf\xbf", 4));   /* U+10FFFF */

    /* Python: "  a\u00a0b\u3000c\u2028d\x1fe f\u200bg\u0085 ".split() == [a,b,c,d,e,f\u200bg] */
    char s[] = "  a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\xa8" "d\x1f" "e f\xe2\x80\x8bg\xc2\x85 ";
    char *tok[8];
    CHECK_INT_EQ(elmo_split_whitespace(s, tok, 2), 6); /* too small: text untouched */
    CHECK_INT_EQ(elmo_split_whitespace(s, tok, 8), 6);
    CHECK_STR_EQ(tok[0], "a");
    CHECK_STR_EQ(tok[1], "b");
    CHECK_STR_EQ(tok[2], "c");
    CHECK_STR_EQ(tok[3], "d");
    CHECK_STR_EQ(tok[4], "e");
    CHECK_STR_EQ(tok[5], "f\xe2\x80\x8bg");
    char empty[] = " \t\r\n";
    CHECK_INT_EQ(elmo_split_whitespace(empty, tok, 8), 0);
}

/* ============================== text ============================== */

static void test_text(void) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_TEXT};
    const char data[] = "hello world\n"                                /* 1, offset 0 */
                        "\n"                                           /* 2, offset 12 */
                        "  spaced   out \t\r\n"                        /* 3, offset 13 */
                        "\xe3\x80\x80" "a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\xa8" "d\r\n"
                        "bad \xff here\n"                              /* 5 */
                        "nul\0here\n"                                  /* 6 */
                        "sur \xed\xa0\x80\n"                           /* 7 */
                        "   \n"                                        /* 8 */
                        "last line";                                   /* 9, no newline */
    struct recs rs = read_both("t.txt", data, sizeof data - 1, &opts);
    CHECK_INT_EQ(rs.n, 9);
    if (rs.n == 9) {
        CHECK_STR_EQ(rs.r[0].text, "hello world");
        CHECK_STR_EQ(rs.r[0].toks, "hello|world");
        CHECK_INT_EQ(rs.r[0].n_tok, 2);
        CHECK_INT_EQ(rs.r[0].line, 1);
        CHECK_INT_EQ(rs.r[0].offset, 0);
        CHECK_STR_EQ(rs.r[0].id, "");
        CHECK_INT_EQ(rs.r[1].n_tok, 0);
        CHECK_INT_EQ(rs.r[1].reject, 0);
        CHECK_STR_EQ(rs.r[1].text, "");
        CHECK_INT_EQ(rs.r[1].offset, 12);
        CHECK_STR_EQ(rs.r[2].text, "spaced   out");
        CHECK_STR_EQ(rs.r[2].toks, "spaced|out");
        CHECK_INT_EQ(rs.r[2].line, 3);
        CHECK_INT_EQ(rs.r[2].offset, 13);
        CHECK_STR_EQ(rs.r[3].toks, "a|b|c|d");
        CHECK_STR_EQ(rs.r[3].text, "a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\xa8" "d");
        CHECK_INT_EQ(rs.r[4].reject, 1);
        CHECK_INT_EQ(rs.r[4].line, 5);
        CHECK_STR_EQ(rs.r[4].reason, "invalid UTF-8 at byte 5 of the line");
        CHECK_INT_EQ(rs.r[4].n_tok, 0);
        CHECK_INT_EQ(rs.r[5].reject, 1);
        CHECK_INT_EQ(rs.r[5].line, 6);
        CHECK_STR_EQ(rs.r[5].reason, "NUL byte at byte 4 of the line");
        CHECK_INT_EQ(rs.r[6].reject, 1);
        CHECK_STR_EQ(rs.r[6].reason, "invalid UTF-8 at byte 5 of the line");
        CHECK_INT_EQ(rs.r[7].reject, 0);
        CHECK_INT_EQ(rs.r[7].n_tok, 0);
        CHECK_STR_EQ(rs.r[8].text, "last line");
        CHECK_INT_EQ(rs.r[8].line, 9);
    }
    int rejected = 0, empty = 0;
    for (int i = 0; i < rs.n; i++) {
        rejected += rs.r[i].reject;
        empty += !rs.r[i].reject && rs.r[i].n_tok == 0;
    }
    CHECK_INT_EQ(rejected, 3);
    CHECK_INT_EQ(empty, 2);
    recs_free(&rs);

    /* A UTF-8 byte order mark at the start is skipped; CRLF alone is an empty line. */
    const char bom[] = "\xef\xbb\xbfx y\r\n\r\n";
    rs = read_both("bom.txt", bom, sizeof bom - 1, &opts);
    CHECK_INT_EQ(rs.n, 2);
    if (rs.n == 2) {
        CHECK_STR_EQ(rs.r[0].toks, "x|y");
        CHECK_INT_EQ(rs.r[1].n_tok, 0);
        CHECK_INT_EQ(rs.r[1].offset, 8);
    }
    recs_free(&rs);

    /* An empty file has no records. */
    rs = read_both("empty.txt", "", 0, &opts);
    CHECK_INT_EQ(rs.n, 0);
    recs_free(&rs);
}

static void test_long_line(void) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_TEXT};
    size_t n_words = 200000, len = 0;
    char *data = malloc(n_words * 6 + 16);
    for (size_t i = 0; i < n_words; i++) len += sprintf(data + len, "w%04zu ", i % 10000);
    len += sprintf(data + len, "\nshort\n");
    struct recs rs = read_both("long.txt", data, len, &opts);
    CHECK_INT_EQ(rs.n, 2);
    if (rs.n == 2) {
        CHECK_INT_EQ(rs.r[0].n_tok, (int)n_words);
        CHECK_INT_EQ(strlen(rs.r[0].text), n_words * 6 - 1);
        CHECK_INT_EQ(strncmp(rs.r[0].toks, "w0000|w0001|", 12), 0);
        CHECK_STR_EQ(rs.r[1].text, "short");
        CHECK_INT_EQ(rs.r[1].line, 2);
        CHECK_INT_EQ(rs.r[1].offset, (int64_t)n_words * 6 + 1);
    }
    recs_free(&rs);
    free(data);
}

/* ============================== conll ============================== */

static void test_conll(void) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_CONLL};
    const char data[] = "-DOCSTART- -X- O O\n"     /* 1 */
                        "\n"                        /* 2 */
                        "EU\tB-ORG\n"               /* 3: sentence 1 */
                        "rejects O\r\n"             /* 4 */
                        "\n\n \n"                   /* 5-7 */
                        "German B-MISC\n"           /* 8: sentence 2 */
                        "call O\n"                  /* 9 */
                        "-DOCSTART- O\n"            /* 10: ends sentence 2 */
                        "bad\xc3 O\n"               /* 11: sentence 3, rejected on line 12 */
                        "x \xff\n"                  /* 12 */
                        "\n"                        /* 13 */
                        "Peter B-PER\n"             /* 14: sentence 4 */
                        "Blackburn I-PER";          /* 15, no newline */
    struct recs rs = read_both("t.conll", data, sizeof data - 1, &opts);
    CHECK_INT_EQ(rs.n, 4);
    if (rs.n == 4) {
        CHECK_STR_EQ(rs.r[0].text, "EU rejects");
        CHECK_STR_EQ(rs.r[0].toks, "EU|rejects");
        CHECK_INT_EQ(rs.r[0].line, 3);
        CHECK_INT_EQ(rs.r[0].offset, 20);
        CHECK_STR_EQ(rs.r[1].toks, "German|call");
        CHECK_INT_EQ(rs.r[1].line, 8);
        CHECK_INT_EQ(rs.r[2].reject, 1);
        CHECK_INT_EQ(rs.r[2].line, 11);
        CHECK_STR_EQ(rs.r[2].reason, "invalid UTF-8 at byte 4 of the line");
        CHECK_INT_EQ(rs.r[3].reject, 0);
        CHECK_STR_EQ(rs.r[3].text, "Peter Blackburn");
        CHECK_INT_EQ(rs.r[3].line, 14);
        CHECK_INT_EQ(rs.r[3].n_tok, 2);
    }
    recs_free(&rs);

    const char later[] = "ok O\nx \xff\n";
    rs = read_both("later.conll", later, sizeof later - 1, &opts);
    CHECK_INT_EQ(rs.n, 1);
    if (rs.n == 1) CHECK_STR_EQ(rs.r[0].reason, "invalid UTF-8 at byte 3 of line 2");
    recs_free(&rs);
}

/* ============================== jsonl ============================== */

static void test_jsonl(void) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_JSONL, .text_field = "text",
                                    .id_field = "id"};
    const char data[] =
        "{\"id\": 17, \"text\": \" hello  world \"}\n"                 /* 1 */
        "{\"id\": \"abc\", \"text\": \"smile \\ud83d\\ude00!\"}\r\n"   /* 2 */
        "{\"text\": \"no id\"}\n"                                      /* 3 */
        "{\"id\": 4, \"text\": \"broken\"\n"                           /* 4 */
        "{\"id\": 5}\n"                                                /* 5 */
        "[1, 2]\n"                                                     /* 6 */
        "{\"id\": 1.5, \"text\": \"x\"}\n"                             /* 7 */
        "{\"id\": 8, \"text\": 7}\n"                                   /* 8 */
        "{\"id\": 9, \"text\": \"\"}\n"                                /* 9 */
        "\n"                                                           /* 10 */
        "{\"id\": 11, \"text\": \"caf\xc3\xa9\\u00a0ok\"}";            /* 11 */
    struct recs rs = read_both("t.jsonl", data, sizeof data - 1, &opts);
    CHECK_INT_EQ(rs.n, 11);
    if (rs.n == 11) {
        CHECK_STR_EQ(rs.r[0].id, "17");
        CHECK_STR_EQ(rs.r[0].text, "hello  world");
        CHECK_STR_EQ(rs.r[0].toks, "hello|world");
        CHECK_STR_EQ(rs.r[1].id, "abc");
        CHECK_STR_EQ(rs.r[1].toks, "smile|\xf0\x9f\x98\x80!");
        CHECK_INT_EQ(rs.r[1].reject, 0);
        CHECK_STR_EQ(rs.r[2].id, "");
        CHECK_INT_EQ(rs.r[2].reject, 0);
        CHECK_INT_EQ(rs.r[2].n_tok, 2);
        CHECK_INT_EQ(rs.r[3].reject, 1);
        CHECK_INT_EQ(rs.r[3].line, 4);
        CHECK_INT_EQ(strncmp(rs.r[3].reason, "invalid JSON: ", 14), 0);
        CHECK(strstr(rs.r[3].reason, " at column ") != NULL);
        CHECK_STR_EQ(rs.r[3].text, "{\"id\": 4, \"text\": \"broken\"");
        CHECK_STR_EQ(rs.r[3].id, "");
        CHECK_STR_EQ(rs.r[4].reason, "missing field \"text\"");
        CHECK_STR_EQ(rs.r[5].reason, "not a JSON object");
        CHECK_STR_EQ(rs.r[6].reason, "field \"id\" is not a string or an integer");
        CHECK_STR_EQ(rs.r[7].reason, "field \"text\" is not a string");
        CHECK_INT_EQ(rs.r[8].reject, 0);
        CHECK_INT_EQ(rs.r[8].n_tok, 0);
        CHECK_INT_EQ(rs.r[9].reject, 1);
        CHECK_INT_EQ(rs.r[9].line, 10);
        CHECK_STR_EQ(rs.r[10].toks, "caf\xc3\xa9|ok");
        CHECK_STR_EQ(rs.r[10].id, "11");
    }
    int ok = 0, rejected = 0;
    for (int i = 0; i < rs.n; i++) rs.r[i].reject ? rejected++ : ok++;
    CHECK_INT_EQ(ok, 5);
    CHECK_INT_EQ(rejected, 6);
    recs_free(&rs);

    /* A tokens field (an array of strings), and dotted paths. */
    struct elmo_corpus_opts topts = {.format = ELMO_INPUT_JSONL, .text_field = "text",
                                     .tokens_field = "toks", .id_field = "meta.id"};
    const char tdata[] = "{\"meta\": {\"id\": \"t1\"}, \"toks\": [\"New York\", \"is\", \"big\"]}\n"
                         "{\"meta\": {\"id\": 2}, \"toks\": []}\n"
                         "{\"toks\": [\"a\", 3]}\n"
                         "{\"toks\": \"a b\"}\n"
                         "{\"text\": \"a b\"}\n";
    rs = read_both("tok.jsonl", tdata, sizeof tdata - 1, &topts);
    CHECK_INT_EQ(rs.n, 5);
    if (rs.n == 5) {
        CHECK_STR_EQ(rs.r[0].id, "t1");
        CHECK_INT_EQ(rs.r[0].n_tok, 3);
        CHECK_STR_EQ(rs.r[0].toks, "New York|is|big");
        CHECK_STR_EQ(rs.r[0].text, "New York is big");
        CHECK_STR_EQ(rs.r[1].id, "2");
        CHECK_INT_EQ(rs.r[1].n_tok, 0);
        CHECK_INT_EQ(rs.r[1].reject, 0);
        CHECK_STR_EQ(rs.r[2].reason, "field \"toks\": element 1 is not a string");
        CHECK_STR_EQ(rs.r[3].reason, "field \"toks\" is not an array");
        CHECK_STR_EQ(rs.r[4].reason, "missing field \"toks\"");
    }
    recs_free(&rs);

    struct elmo_corpus_opts nopts = {.format = ELMO_INPUT_JSONL, .text_field = "data.text",
                                     .id_field = "id"};
    const char ndata[] = "{\"id\": 1, \"data\": {\"text\": \"nested words\"}}\n"
                         "{\"id\": 2, \"data.text\": \"literal key\"}\n"
                         "{\"id\": 3, \"data\": \"flat\"}\n";
    rs = read_both("nested.jsonl", ndata, sizeof ndata - 1, &nopts);
    CHECK_INT_EQ(rs.n, 3);
    if (rs.n == 3) {
        CHECK_STR_EQ(rs.r[0].toks, "nested|words");
        CHECK_STR_EQ(rs.r[1].toks, "literal|key");
        CHECK_STR_EQ(rs.r[2].reason, "missing field \"data.text\"");
    }
    recs_free(&rs);
}

/* ============================== Errors ============================== */

static void test_errors(void) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_TEXT};
    struct elmo_corpus *c = NULL;
    char *missing = path_in_tmp("does-not-exist.txt");
    CHECK_INT_EQ(elmo_corpus_open(&c, missing, &opts, 0, -1, 1), ELMO_ERR_IO);
    char want[600];
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    CHECK_STR_EQ(elmo_errmsg(), want);
    CHECK(c == NULL);
    int64_t b[3], l[3];
    CHECK_INT_EQ(elmo_corpus_split(missing, &opts, 2, b, l), ELMO_ERR_IO);
    CHECK_INT_EQ(elmo_corpus_open(&c, tmpdir, &opts, 0, -1, 1), ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "Is a directory") != NULL);
    CHECK(elmo_corpus_is_stream("-"));
    elmo_corpus_close(NULL);

    /* A truncated gzip file is a read error naming the file and a line. */
    size_t len = 0;
    char *data = malloc(400000);
    for (int i = 0; i < 20000; i++) len += sprintf(data + len, "line %d %x\n", i, i * 7919);
    char *g = path_in_tmp("trunc.gz");
    write_gz(g, data, len, 1);
    FILE *f = fopen(g, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(g, size / 2) == 0);
    struct recs rs = {0};
    CHECK_INT_EQ(read_all(g, &opts, &rs), ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "trunc.gz:") != NULL);
    CHECK(rs.n > 0 && rs.n < 20000);
    recs_free(&rs);
    free(data);
}

/* ============================== Splitting ============================== */

static uint64_t rng_state = 12345;
static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng_state >> 33) % n);
}

/* Appends a random sentence of 0..11 words. */
static size_t random_words(char *p, const char *sep) {
    static const char *words[] = {"the", "cat", "caf\xc3\xa9", "\xf0\x9f\x98\x80", "NASA",
                                  "r\xc3\xa9sum\xc3\xa9", "x", "long-ish-token", "@user"};
    size_t n = 0;
    int k = (int)rnd(12);
    for (int i = 0; i < k; i++)
        n += sprintf(p + n, "%s%s", i ? sep : "", words[rnd(9)]);
    return n;
}

static void check_split(const char *name, const char *data, size_t len,
                        const struct elmo_corpus_opts *opts, int expect_records) {
    char *p = path_in_tmp(name);
    write_file(p, data, len);
    struct recs full = {0};
    CHECK_INT_EQ(read_all(p, opts, &full), 0);
    if (expect_records >= 0) CHECK_INT_EQ(full.n, expect_records);
    for (int n = 1; n <= 7; n++) {
        int64_t bounds[8], lines[8];
        int got = elmo_corpus_split(p, opts, n, bounds, lines);
        CHECK(got >= 1 && got <= n);
        if (got < 1) {
            fprintf(stderr, "split: %s\n", elmo_errmsg());
            continue;
        }
        CHECK_INT_EQ(bounds[0], 0);
        CHECK_INT_EQ(lines[0], 1);
        CHECK_INT_EQ(bounds[got], (int64_t)len);
        struct recs parts = {0};
        for (int i = 0; i < got; i++) {
            CHECK(bounds[i] < bounds[i + 1]);
            /* Each bound is the start of a record of the full read, with its line. */
            int at = -1;
            for (int j = 0; j < full.n; j++)
                if (full.r[j].offset == bounds[i]) at = j;
            CHECK(at >= 0);
            if (at >= 0) CHECK_INT_EQ(lines[i], full.r[at].line);
            int64_t end = i + 1 == got ? -1 : bounds[i + 1];
            int before = parts.n;
            CHECK_INT_EQ(read_range(p, opts, bounds[i], end, lines[i], &parts), 0);
            CHECK(parts.n > before);
        }
        char what[64];
        snprintf(what, sizeof what, "%s split %d", name, n);
        check_same(&full, &parts, what);
        recs_free(&parts);
    }
    recs_free(&full);
}

static void test_split(void) {
    size_t cap = 4 << 20, len;
    char *data = malloc(cap);

    /* text: 2000 lines, some empty, some CRLF, some invalid. */
    len = 0;
    for (int i = 0; i < 2000; i++) {
        len += random_words(data + len, rnd(5) ? " " : " \xc2\xa0 ");
        if (rnd(50) == 0) len += sprintf(data + len, " \xff");
        len += sprintf(data + len, rnd(10) ? "\n" : "\r\n");
    }
    struct elmo_corpus_opts text = {.format = ELMO_INPUT_TEXT};
    check_split("split.txt", data, len, &text, 2000);

    /* conll: -DOCSTART-, runs of blank lines, no trailing blank line. */
    len = 0;
    int sentences = 0, lines = 0;
    while (lines < 2000) {
        if (rnd(40) == 0) {
            len += sprintf(data + len, "-DOCSTART- -X- O O\n");
            lines++;
        }
        int k = 1 + (int)rnd(9);
        for (int i = 0; i < k; i++) {
            len += sprintf(data + len, "tok%d%s\tNN\tO\n", (int)rnd(100), rnd(3) ? "" : "\xc3\xa9");
            lines++;
        }
        sentences++;
        int blanks = (int)rnd(4) == 0 ? 2 + (int)rnd(2) : 1;
        for (int i = 0; i < blanks && lines < 2000; i++) {
            len += sprintf(data + len, rnd(8) ? "\n" : " \r\n");
            lines++;
        }
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        len--; /* no trailing blank line, nor a final newline */
    struct elmo_corpus_opts conll = {.format = ELMO_INPUT_CONLL};
    check_split("split.conll", data, len, &conll, sentences);

    /* jsonl: ids, escapes, a few rejects. */
    len = 0;
    for (int i = 0; i < 2000; i++) {
        if (rnd(100) == 0) {
            len += sprintf(data + len, "{\"id\": %d, \"text\": oops}\n", i);
            continue;
        }
        len += sprintf(data + len, "{\"id\": %d, \"text\": \"", i);
        len += random_words(data + len, rnd(4) ? " " : "\\u3000");
        len += sprintf(data + len, " \\ud83d\\ude00\"}\n");
    }
    struct elmo_corpus_opts jsonl = {.format = ELMO_INPUT_JSONL, .text_field = "text",
                                     .id_field = "id"};
    check_split("split.jsonl", data, len, &jsonl, 2000);

    /* Small files give fewer pieces; an empty file one empty range. */
    int64_t b[8], l[8];
    write_file(path_in_tmp("two.txt"), "a\nb\n", 4);
    CHECK_INT_EQ(elmo_corpus_split(path_in_tmp("two.txt"), &text, 7, b, l), 2);
    CHECK_INT_EQ(b[1], 2);
    CHECK_INT_EQ(l[1], 2);
    CHECK_INT_EQ(b[2], 4);
    CHECK_INT_EQ(l[2], 3);
    write_file(path_in_tmp("zero.txt"), "", 0);
    CHECK_INT_EQ(elmo_corpus_split(path_in_tmp("zero.txt"), &text, 3, b, l), 1);
    CHECK_INT_EQ(b[1], 0);
    write_gz(path_in_tmp("two.gz"), "a\nb\n", 4, 1);
    CHECK_INT_EQ(elmo_corpus_split(path_in_tmp("two.gz"), &text, 2, b, l), ELMO_ERR_ARG);
    free(data);
}

static void cleanup_dir(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/elmo-corpus-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_helpers();
    test_text();
    test_long_line();
    test_conll();
    test_jsonl();
    test_errors();
    test_split();
    cleanup_dir();
    return CHECK_REPORT();
}
