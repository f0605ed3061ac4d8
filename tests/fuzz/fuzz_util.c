/*
 * fuzz_util.c: the scratch file, the failing check and the corpus-reader properties shared by
 * the fuzz targets (see fuzz_util.h).
 */
#include "tests/fuzz/fuzz_util.h"

#include <errno.h>
#include <inttypes.h>
#include <sanitizer/common_interface_defs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/utf8.h"
#include "model/status.h"

static void scratch_remove(void);

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: fuzz check failed: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    scratch_remove();
    abort();
}

/* ============================== Scratch file ============================== */

static char scratch_path[512];
static int scratch_fd = -1;

/* Removes the scratch file: at exit, before a failed check aborts, and on a sanitizer report. */
static void scratch_remove(void) {
    if (scratch_fd >= 0) unlink(scratch_path);
}

/*
 * A named file, not /proc/self/fd/N of an unlinked one: HDF5 resolves the real path of the
 * file it opens, and fails on a deleted one.
 */
const char *fuzz_scratch_write(const void *data, size_t size) {
    if (scratch_fd < 0) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(scratch_path, sizeof scratch_path, "%s/elmo-fuzz-XXXXXX", dir ? dir : "/tmp");
        scratch_fd = mkstemp(scratch_path);
        FUZZ_ASSERT(scratch_fd >= 0, "cannot create %s: %s", scratch_path, strerror(errno));
        atexit(scratch_remove);
        __sanitizer_set_death_callback(scratch_remove);
    }
    FUZZ_ASSERT(ftruncate(scratch_fd, 0) == 0, "%s: %s", scratch_path, strerror(errno));
    const char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(scratch_fd, p + done, size - done, (off_t)done);
        FUZZ_ASSERT(n > 0, "%s: %s", scratch_path, strerror(errno));
        done += (size_t)n;
    }
    return scratch_path;
}

/* ============================== Records ============================== */

static uint64_t fnv(uint64_t h, const void *s, size_t n) {
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

static void push(struct fuzz_recs *out, const struct fuzz_rec *r) {
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 64;
        out->r = elmo_xrealloc(out->r, out->cap * sizeof *out->r);
    }
    out->r[out->n++] = *r;
}

static bool has_space(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *e = p + strlen(s);
    for (; p < e; p++)
        if (elmo__ws_len(p, e)) return true;
    return false;
}

/* The invariants of one accepted record (see fuzz_read_records). */
static void check_accepted(const struct elmo_record *rec, bool tokens_field) {
    size_t tlen = strlen(rec->text);
    FUZZ_ASSERT(elmo_utf8_valid(rec->text, tlen), "line %" PRId64 ": text is not UTF-8",
                rec->line);
    FUZZ_ASSERT(rec->reason[0] == '\0', "line %" PRId64 ": accepted with a reason '%s'",
                rec->line, rec->reason);
    FUZZ_ASSERT(rec->n_tok >= 0, "line %" PRId64 ": %d tokens", rec->line, rec->n_tok);
    for (int i = 0; i < rec->n_tok; i++)
        FUZZ_ASSERT(elmo_utf8_valid(rec->tok[i], strlen(rec->tok[i])),
                    "line %" PRId64 ": token %d is not UTF-8", rec->line, i);
    if (tokens_field) {
        /* text = the tokens joined by single spaces */
        size_t pos = 0;
        for (int i = 0; i < rec->n_tok; i++) {
            size_t n = strlen(rec->tok[i]);
            if (i) {
                FUZZ_ASSERT(pos < tlen && rec->text[pos] == ' ', "line %" PRId64
                            ": text is not the tokens joined", rec->line);
                pos++;
            }
            FUZZ_ASSERT(pos + n <= tlen && memcmp(rec->text + pos, rec->tok[i], n) == 0,
                        "line %" PRId64 ": text is not the tokens joined (token %d)", rec->line, i);
            pos += n;
        }
        FUZZ_ASSERT(pos == tlen, "line %" PRId64 ": text is longer than its tokens", rec->line);
        return;
    }
    /* tokens = elmo_split_whitespace(text): a second, independent tokenizer */
    char *copy = elmo_xstrdup(rec->text);
    char **tok = elmo_xmalloc(((size_t)rec->n_tok + 1) * sizeof *tok);
    int n = elmo_split_whitespace(copy, tok, rec->n_tok + 1);
    FUZZ_ASSERT(n == rec->n_tok, "line %" PRId64 ": %d tokens, the text splits into %d",
                rec->line, rec->n_tok, n);
    for (int i = 0; i < n; i++) {
        FUZZ_ASSERT(rec->tok[i][0] != '\0', "line %" PRId64 ": token %d is empty", rec->line, i);
        FUZZ_ASSERT(!has_space(rec->tok[i]), "line %" PRId64 ": token %d holds whitespace",
                    rec->line, i);
        FUZZ_ASSERT(strcmp(tok[i], rec->tok[i]) == 0,
                    "line %" PRId64 ": token %d is '%s', the text splits into '%s'", rec->line, i,
                    rec->tok[i], tok[i]);
    }
    /* the text is stripped */
    if (tlen)
        FUZZ_ASSERT(!elmo__ws_len((const unsigned char *)rec->text,
                                  (const unsigned char *)rec->text + tlen),
                    "line %" PRId64 ": text starts with whitespace", rec->line);
    free(tok);
    free(copy);
}

int fuzz_read_records(const char *path, const struct elmo_corpus_opts *opts, int64_t begin,
                      int64_t end, int64_t first_line, struct fuzz_recs *out) {
    struct elmo_corpus *c;
    int rc = elmo_corpus_open(&c, path, opts, begin, end, first_line);
    if (rc < 0) return rc;
    bool tokens_field =
        opts->format == ELMO_INPUT_JSONL && opts->tokens_field && opts->tokens_field[0];
    struct elmo_record rec;
    int64_t index = 0, prev_line = first_line - 1, prev_off = begin - 1;
    while ((rc = elmo_corpus_next(c, &rec)) == 1) {
        FUZZ_ASSERT(rec.index == index, "record index %" PRId64 ", expected %" PRId64, rec.index,
                    index);
        FUZZ_ASSERT(rec.line > prev_line, "line %" PRId64 " after line %" PRId64, rec.line,
                    prev_line);
        FUZZ_ASSERT(rec.offset > prev_off, "offset %" PRId64 " after offset %" PRId64, rec.offset,
                    prev_off);
        FUZZ_ASSERT(end < 0 || rec.offset < end, "offset %" PRId64 " past the range end %" PRId64,
                    rec.offset, end);
        FUZZ_ASSERT(rec.reject == 0 || rec.reject == 1, "reject = %d", rec.reject);
        if (rec.reject) {
            FUZZ_ASSERT(rec.reason[0] != '\0', "line %" PRId64 ": rejected without a reason",
                        rec.line);
            FUZZ_ASSERT(rec.n_tok == 0, "line %" PRId64 ": rejected with %d tokens", rec.line,
                        rec.n_tok);
            FUZZ_ASSERT(rec.id[0] == '\0', "line %" PRId64 ": rejected with an id", rec.line);
        } else {
            check_accepted(&rec, tokens_field);
        }
        struct fuzz_rec r = {.line = rec.line, .offset = rec.offset, .n_tok = rec.n_tok,
                             .reject = rec.reject, .hash = UINT64_C(0xcbf29ce484222325)};
        r.hash = fnv(r.hash, rec.id, strlen(rec.id) + 1);
        r.hash = fnv(r.hash, rec.text, strlen(rec.text) + 1);
        r.hash = fnv(r.hash, rec.reason, strlen(rec.reason) + 1);
        for (int i = 0; i < rec.n_tok; i++) r.hash = fnv(r.hash, rec.tok[i], strlen(rec.tok[i]) + 1);
        push(out, &r);
        index++;
        prev_line = rec.line;
        prev_off = rec.offset;
    }
    /* the end is sticky: another call returns the same */
    if (rc == 0) FUZZ_ASSERT(elmo_corpus_next(c, &rec) == 0, "a record after the end");
    elmo_corpus_close(c);
    return rc;
}

void fuzz_recs_free(struct fuzz_recs *recs) {
    free(recs->r);
    memset(recs, 0, sizeof *recs);
}

void fuzz_recs_same(const struct fuzz_recs *a, const struct fuzz_recs *b, const char *what) {
    FUZZ_ASSERT(a->n == b->n, "%s: %zu records vs %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct fuzz_rec *x = &a->r[i], *y = &b->r[i];
        FUZZ_ASSERT(x->line == y->line && x->offset == y->offset && x->n_tok == y->n_tok &&
                        x->reject == y->reject && x->hash == y->hash,
                    "%s: record %zu differs: line %" PRId64 "/%" PRId64 ", offset %" PRId64
                    "/%" PRId64 ", %d/%d tokens, reject %d/%d",
                    what, i, x->line, y->line, x->offset, y->offset, x->n_tok, y->n_tok,
                    x->reject, y->reject);
    }
}

void fuzz_check_corpus(const uint8_t *data, size_t size, const struct elmo_corpus_opts *opts,
                       struct fuzz_recs *whole_out) {
    const char *path = fuzz_scratch_write(data, size);
    struct fuzz_recs whole = {0};
    int rc = fuzz_read_records(path, opts, 0, -1, 1, &whole);
    bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip) {
        FUZZ_ASSERT(rc == 0, "a plain file failed: %s", elmo_errmsg());
        int n = 2 + (int)(size % 5);
        int64_t bounds[8], lines[8];
        int nb = elmo_corpus_split(path, opts, n, bounds, lines);
        FUZZ_ASSERT(nb >= 1 && nb <= n, "split into %d gave %d: %s", n, nb, elmo_errmsg());
        FUZZ_ASSERT(bounds[0] == 0 && lines[0] == 1, "first bound %" PRId64 ", line %" PRId64,
                    bounds[0], lines[0]);
        FUZZ_ASSERT(bounds[nb] == (int64_t)size, "last bound %" PRId64 ", size %zu", bounds[nb],
                    size);
        struct fuzz_recs pieces = {0};
        for (int k = 0; k < nb; k++) {
            FUZZ_ASSERT(k == 0 || (bounds[k] > bounds[k - 1] && lines[k] > lines[k - 1]),
                        "bound %d: %" PRId64 " (line %" PRId64 ") after %" PRId64, k, bounds[k],
                        lines[k], bounds[k - 1]);
            rc = fuzz_read_records(path, opts, bounds[k], bounds[k + 1], lines[k], &pieces);
            FUZZ_ASSERT(rc == 0, "range %d failed: %s", k, elmo_errmsg());
        }
        fuzz_recs_same(&whole, &pieces, "whole read vs ranges");
        fuzz_recs_free(&pieces);
    }
    if (whole_out) *whole_out = whole;
    else fuzz_recs_free(&whole);
}
