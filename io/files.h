/*
 * files.h: whole files read into memory (`mkdir -p` is elmo_make_dirs in io/outfile.h).
 *
 * The one copy of this chore for every command: options.json texts, journals, job files and
 * tagger data files.  Not collective: the caller decides which rank reads.
 */
#ifndef ELMO_FILES_H
#define ELMO_FILES_H

#include <stdint.h>
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

/* The start of a 64-bit FNV-1a checksum. */
#define ELMO_FNV64_OFFSET 0xcbf29ce484222325ull

/*
 * Folds n bytes into the FNV-1a state h: whole little-endian 64-bit words, then the tail of
 * fewer than 8 bytes byte by byte.  The one checksum of part files, direct-write shards and
 * packed-weight images (io/pack_cache.h).
 */
uint64_t elmo_fnv64_fold(uint64_t h, const void *buf, size_t n);

#endif /* ELMO_FILES_H */
