/*
 * gz.h: a strict reader of plain or compressed input (files or stdin): gzip, bzip2 or zstd.
 *
 * The codec is detected from the first bytes, never from the name: gzip 1f 8b, bzip2 "BZh"
 * and a block-size digit, zstd 28 b5 2f fd; anything else passes through unchanged.  Every
 * member of a multi-member file is read (as `cat a.gz b.gz`, `cat a.bz2 b.bz2` or
 * `cat a.zst b.zst` make; zstd skippable frames are skipped).  Unlike zlib's gzread, data after
 * a member that is not another member of the same codec (a damaged header, trailing garbage),
 * a damaged member and a stream cut short are errors that name the file and the compressed
 * byte offset, never a silent end of input.  Not collective.
 */
#ifndef ELMO_GZ_H
#define ELMO_GZ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct elmo_gz;

/*
 * Opens path ("-" reads a duplicate of standard input) and detects the codec.  Returns NULL
 * with ELMO_ERR_IO recorded (naming the file) on failure.
 */
struct elmo_gz *elmo_gz_open(const char *path);

/* Takes ownership of fd (closed on failure too); name is used in messages. */
struct elmo_gz *elmo_gz_fdopen(int fd, const char *name);

/* Whether the input is compressed (any codec). */
int elmo_gz_compressed(const struct elmo_gz *g);

/* The detected codec: "plain", "gzip", "bzip2" or "zstd". */
const char *elmo_gz_codec(const struct elmo_gz *g);

/*
 * The codec that the first n bytes b of a file announce ("gzip", "bzip2", "zstd"), or NULL
 * for plain data.  Needs up to 4 bytes; fewer can only be plain (or gzip with 2).
 */
const char *elmo_gz_magic_codec(const void *b, size_t n);

/* Reads up to n decompressed bytes: > 0 bytes read, 0 at the end, or a negative status. */
ssize_t elmo_gz_read(struct elmo_gz *g, void *buf, size_t n);

/*
 * Looks ahead without consuming: decompresses the next bytes (at least one unless the input
 * is empty) and points *p at them, *n their count (0 at the end).  The following reads and
 * getlines return those bytes first.  Returns 0 or a negative status.
 */
int elmo_gz_peek(struct elmo_gz *g, const char **p, size_t *n);

/*
 * The next line into *buf (grown as needed; the newline and a CR before it removed, NUL
 * terminated, *len its length).  Returns 1, 0 at the end, or a negative status.  A last line
 * without a newline counts.
 */
int elmo_gz_getline(struct elmo_gz *g, char **buf, size_t *cap, size_t *len);

/* Closes and frees; accepts NULL. */
void elmo_gz_close(struct elmo_gz *g);

#endif /* ELMO_GZ_H */
