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
    /* Several inputs read as one stream (their concatenation, see elmo_inputs_spool): when
     * n_files > 1, a record without an id gets "K:L", file K (1-based) line L of that file. */
    int n_files;
    const int64_t *file_first_line; /* (n_files) the stream's 1-based line where file k starts */
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
 * Opens path ("-" = stdin) for reading records.  A format of ELMO_INPUT_AUTO is detected as
 * elmo_input_detect_format does (from the name, else the first bytes).  For plain files, [begin, end) is a byte range
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

/* True when path is compressed (gzip, bzip2, zstd), stdin or not a regular file (cannot be
 * split in byte ranges). */
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

/* ============================== Inputs ============================== */

/*
 * The inputs of a job: `input` holds one path or several separated by newlines (a YAML list,
 * repeated --input flags); an item that names no existing file and holds a glob character
 * (* ? [) is a pattern, expanded in sorted order (no match is an error).  "-" (stdin) must be
 * the only input.  Paths are owned by the list.
 */
struct elmo_inputs {
    int n;
    char **path;
};

/* Expands spec into in.  Returns 0, or ELMO_ERR_ARG naming the item at fault. */
int elmo_inputs_expand(const char *spec, struct elmo_inputs *in);

/* Frees the list; accepts a zeroed one. */
void elmo_inputs_free(struct elmo_inputs *in);

/*
 * The format of an input without --input-format: jsonl when its name ends in .jsonl, .ndjson
 * or .json (before any .gz/.bz2/.zst/.zstd), else jsonl when its first non-space byte (after a
 * UTF-8 byte order mark; decompressed) is '{', else text.  CoNLL is never guessed.  Reads the
 * head of the file (not for "-": then *fmt is from the name only, or ELMO_INPUT_AUTO).
 * Returns 0 or ELMO_ERR_IO.
 */
int elmo_input_detect_format(const char *path, enum elmo_input_format *fmt);

/* The format the first bytes s[0..n) announce: ELMO_INPUT_JSONL or ELMO_INPUT_TEXT. */
enum elmo_input_format elmo_input_format_of_bytes(const char *s, size_t n);

/*
 * The format of several inputs: each detected; one format for all, or ELMO_ERR_ARG naming two
 * that differ.  fmt given (not ELMO_INPUT_AUTO) is returned as it is.
 */
int elmo_inputs_format(const struct elmo_inputs *in, enum elmo_input_format given,
                       enum elmo_input_format *fmt);

/*
 * Concatenates the inputs (each decompressed through io/gz.h, strictly) into the plain file
 * out: a file (but the last) whose last line has no newline gets one and (conll) a blank
 * line, so that no record spans two files; a UTF-8 byte order mark at the start of the second
 * and later files is dropped.  One input is copied as it is.  first_line: (in->n) out, the 1-based line of out where
 * each file starts.  Writes and fsyncs out; returns 0 or a negative status naming the file.
 */
int elmo_inputs_spool(const struct elmo_inputs *in, enum elmo_input_format fmt, const char *out,
                      int64_t *first_line);

/*
 * Where line `line` of the concatenation lies: *file (0-based index) and *local (1-based line
 * of that file), from first_line as elmo_inputs_spool fills it.
 */
void elmo_inputs_locate(const int64_t *first_line, int n, int64_t line, int *file,
                        int64_t *local);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool elmo_utf8_valid(const char *s, size_t len);

#endif /* ELMO_CORPUS_H */
