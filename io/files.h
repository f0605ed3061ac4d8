/*
 * files.h: whole files read into memory (`mkdir -p` is elmo_make_dirs in io/outfile.h).
 *
 * The one copy of this chore for every command: options.json texts, journals, job files and
 * tagger data files.  Not collective: the caller decides which rank reads.
 */
#ifndef ELMO_FILES_H
#define ELMO_FILES_H

#include <stdio.h>
#include <sys/types.h>

/*
 * Reads all of path into *text (owned, NUL-terminated; *len its length in bytes when len is
 * not NULL).  The file may be plain or compressed (io/gz.h detects the codec; "-" reads
 * standard input).  Returns 0 or a negative status naming the file ("PATH: reason" when it
 * cannot be opened); *text is NULL on failure.
 */
int elmo_read_file(const char *path, char **text, size_t *len);

/* The same as an owned string, or NULL with the reason recorded (for small text files). */
char *elmo_read_text(const char *path);

/*
 * Reads the rest of an open stream f into *text (owned, NUL-terminated, *len its length).
 * name is used in messages.  max > 0: a stream longer than max bytes is refused with
 * ELMO_ERR_RANGE.  Returns 0 or a negative status; *text is NULL on failure.  f stays open.
 */
int elmo_read_stream(FILE *f, const char *name, size_t max, char **text, size_t *len);

#endif /* ELMO_FILES_H */
