/*
 * corpus.h: reading a corpus as records (sentences): one sentence per line (text), CoNLL
 * token-per-line blocks (conll), or JSON Lines with a text or tokens field and an id field
 * (jsonl); any of them gzip-compressed (detected by the magic bytes, not the name), or stdin.
 *
 * A record is one sentence.  Records that cannot be parsed (invalid UTF-8, bad JSON, a missing
 * field) are returned with reject != 0 and a reason, never dropped, so that counts reconcile:
 * read = written + rejected.  An empty line (text) or a record with no tokens is a record with
 * zero tokens, not an error.
 *
 * Plain (uncompressed, seekable) files can be read in byte ranges: elmo_corpus_split() cuts a
 * file at record boundaries, and a reader opened on [begin, end) returns exactly the records
 * that start in that range, with their global line numbers when the caller passes the line
 * number of `begin` (see elmo_corpus_open).  Not collective; not thread-safe per reader.
 */
#ifndef ELMO_CORPUS_H
#define ELMO_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/job.h"

struct elmo_corpus_opts {
    enum elmo_input_format format;
    const char *text_field;    /* jsonl: field holding text to split on whitespace ("text") */
    const char *tokens_field;  /* jsonl: field holding an array of token strings (NULL/"" = unused) */
    const char *id_field;      /* jsonl: field holding the id, string or integer ("id") */
};

struct elmo_record {
    int64_t index;        /* 0-based record number within the reader's range */
    int64_t line;         /* 1-based line number (global when the reader was given first_line) */
    int64_t offset;       /* byte offset of the record's first byte (uncompressed stream) */
    char *id;             /* text/conll: "" (the caller numbers records); jsonl: the id field */
    char *text;           /* the record's text as read, whitespace-stripped (text: the line;
                             conll: tokens joined by single spaces; jsonl: the text field) */
    int n_tok;            /* tokens */
    char **tok;           /* n_tok NUL-terminated UTF-8 tokens (views into the record's buffer) */
    int reject;           /* 0, or 1 when the record could not be parsed */
    char reason[256];     /* why it was rejected (without file and line) */
};
/*
 * Details of the readers (io/corpus.c): a jsonl record read from tokens_field has as text its
 * tokens joined by single spaces; a rejected record has n_tok = 0, id "" and as text the raw
 * line (conll: the first columns joined), which may be invalid UTF-8 and is cut at a NUL byte;
 * byte positions in reasons count from 1.  A blank jsonl line is rejected ("empty line").
 * A UTF-8 byte order mark at offset 0 is skipped.
 */

struct elmo_corpus;

/*
 * Opens path ("-" = stdin) for reading records.  For plain files, [begin, end) is a byte range
 * (end < 0 = to the end) that must start at a record boundary (0 or a value from
 * elmo_corpus_split), and first_line is the 1-based line number of `begin` (1 for 0).
 * Compressed input and stdin accept only begin = 0, end = -1.
 * Returns 0 and *out, or ELMO_ERR_IO ("PATH: cause") / ELMO_ERR_ARG.
 */
int elmo_corpus_open(struct elmo_corpus **out, const char *path,
                     const struct elmo_corpus_opts *opts, int64_t begin, int64_t end,
                     int64_t first_line);

/*
 * Reads the next record into *rec (valid until the next call).  Returns 1 for a record,
 * 0 at the end of the range, or a negative status for an I/O error (message names the file
 * and line).  Rejected records come back with rec->reject = 1 and return 1.
 */
int elmo_corpus_next(struct elmo_corpus *c, struct elmo_record *rec);

/* Closes the reader; accepts NULL. */
void elmo_corpus_close(struct elmo_corpus *c);

/* True when path is gzip-compressed or is stdin (cannot be split in byte ranges). */
bool elmo_corpus_is_stream(const char *path);

/*
 * Cuts a plain file into at most n_pieces byte ranges of about equal size, each starting at a
 * record boundary.  bounds: (n_pieces + 1) out; lines: (n_pieces + 1) out, the 1-based line
 * number at each bound.  Returns the number of ranges (may be fewer for small files; an empty
 * file gives one empty range), ELMO_ERR_ARG for a stream (elmo_corpus_is_stream), ELMO_ERR_IO.
 * Reads the whole file once.
 */
int elmo_corpus_split(const char *path, const struct elmo_corpus_opts *opts, int n_pieces,
                      int64_t *bounds, int64_t *lines);

/*
 * Splits text on whitespace as Python's str.split() does (runs of Unicode whitespace,
 * including U+00A0, U+2028, U+3000 and \x1c-\x1f), in place: writes NULs into text and token
 * pointers into tok (at most max_tok).  Returns the number of tokens (may exceed max_tok: then
 * call again with a bigger array).
 */
int elmo_split_whitespace(char *text, char **tok, int max_tok);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool elmo_utf8_valid(const char *s, size_t len);

#endif /* ELMO_CORPUS_H */
