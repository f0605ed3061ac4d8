/*
 * gz.h: a strict reader of plain or gzip-compressed input (files or stdin).
 *
 * The gzip format is detected from the first two bytes (1f 8b).  Every member of a multi-member
 * file is read (as `cat a.gz b.gz` makes); unlike zlib's gzread, data after a member that is not
 * another gzip member (a damaged header, trailing garbage) and a stream cut short are errors that
 * name the file and the compressed byte offset, never a silent end of input.  Not collective.
 */
#ifndef ELMO_GZ_H
#define ELMO_GZ_H

#include <stddef.h>
#include <sys/types.h>

struct elmo_gz;

/*
 * Opens path ("-" reads a duplicate of standard input) and detects gzip.  Returns NULL with
 * ELMO_ERR_IO recorded (naming the file) on failure.
 */
struct elmo_gz *elmo_gz_open(const char *path);

/* Takes ownership of fd; name is used in messages. */
struct elmo_gz *elmo_gz_fdopen(int fd, const char *name);

/* Whether the input is gzip-compressed. */
int elmo_gz_compressed(const struct elmo_gz *g);

/* Reads up to n decompressed bytes: > 0 bytes read, 0 at the end, or a negative status. */
ssize_t elmo_gz_read(struct elmo_gz *g, void *buf, size_t n);

/*
 * The next line into *buf (grown as needed; the newline and a CR before it removed, NUL
 * terminated, *len its length).  Returns 1, 0 at the end, or a negative status.  A last line
 * without a newline counts.
 */
int elmo_gz_getline(struct elmo_gz *g, char **buf, size_t *cap, size_t *len);

/* Closes and frees; accepts NULL. */
void elmo_gz_close(struct elmo_gz *g);

#endif /* ELMO_GZ_H */
