/*
 * fuzz_util.h: what the libFuzzer targets share: a private scratch file that holds the current
 * input (the readers take paths), a check that aborts with a message (libFuzzer reports it as a
 * crash and saves the input), and the corpus-reader property checks used by the text, conll,
 * jsonl and gzip targets.  Not thread-safe (libFuzzer runs one input at a time).
 */
#ifndef ELMO_FUZZ_UTIL_H
#define ELMO_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "io/corpus.h"

/* Aborts with file:line, the condition and a message when cond is false. */
#define FUZZ_ASSERT(cond, ...)                                               \
    do {                                                                     \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);      \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Replaces the content of the process's scratch file (made on first use in /dev/shm or
 * $TMPDIR; removed at exit, by a failed check and on a sanitizer report) with data[0..size)
 * and returns its path (owned by the helper).
 */
const char *fuzz_scratch_write(const void *data, size_t size);

/* One record as read, reduced to what must agree between a whole read and ranged reads. */
struct fuzz_rec {
    int64_t line, offset;
    int n_tok, reject;
    uint64_t hash; /* FNV-1a of the id, the text and the tokens */
};

struct fuzz_recs {
    struct fuzz_rec *r;
    size_t n, cap;
};

/*
 * Reads the records of path in [begin, end) (first_line: the line number of begin) and appends
 * them to out, checking each record's invariants on the way: indexes count from 0, lines and
 * offsets increase, a rejected record has a reason and no tokens, an accepted one has valid
 * UTF-8 text and tokens, its tokens are the whitespace split of its text (elmo_split_whitespace)
 * or, for a jsonl tokens field, its text is its tokens joined by spaces.  Returns the reader's
 * final status: 0, or the negative status of an open or read error.
 */
int fuzz_read_records(const char *path, const struct elmo_corpus_opts *opts, int64_t begin,
                      int64_t end, int64_t first_line, struct fuzz_recs *out);

void fuzz_recs_free(struct fuzz_recs *recs);

/* Aborts unless a and b hold the same records (what says which comparison it is). */
void fuzz_recs_same(const struct fuzz_recs *a, const struct fuzz_recs *b, const char *what);

/*
 * The common property of the plain-file readers: data is written to the scratch file and read
 * whole, then cut by elmo_corpus_split into 2..6 ranges (bounds must start at 0, increase and
 * end at the file size); reading the ranges one after the other must give exactly the records
 * of the whole read.  Returns the whole read's records in *whole when whole != NULL.
 */
void fuzz_check_corpus(const uint8_t *data, size_t size, const struct elmo_corpus_opts *opts,
                       struct fuzz_recs *whole);

#endif /* ELMO_FUZZ_UTIL_H */
