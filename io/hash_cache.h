/*
 * hash_cache.h: the sha256 of a model file, computed once and then remembered by the file's
 * identity, so that a job's start-up does not read a large weight file only to hash it.
 *
 * The cache is a directory: $ELMO_CACHE_DIR when set (empty or "off" disables the cache), else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/elmo.  It holds one small text file per hashed path,
 * "sha256-<sha256 of the absolute path>.txt", of one line:
 *
 *     sha256=<64 hex> dev=<st_dev> ino=<st_ino> size=<bytes> mtime=<s>.<ns> ctime=<s>.<ns>
 *     path=<absolute path>
 *
 * (one line: the path follows ctime after one space) *
 * written aside and renamed.  A line is trusted only when it has exactly this form and every
 * identity field equals the file's current one (a rewrite, a touch, a copy over it, a move of
 * another file into its place all change mtime, ctime or the inode); anything else is ignored
 * and the hash computed again.  A missing, unreadable or unwritable cache directory is not an
 * error: the hash is then computed each time.
 */
#ifndef ELMO_HASH_CACHE_H
#define ELMO_HASH_CACHE_H

#include <stddef.h>

/*
 * The sha256 of path as lowercase hex (what elmo_file_sha256 gives), from the cache when it
 * holds a line for the file's current identity, else computed and then recorded (when the
 * file did not change while it was read).  Returns 0, or ELMO_ERR_IO naming the file (the
 * file itself cannot be read; cache troubles are silent).  Not collective.
 */
int elmo_file_sha256_cached(const char *path, char hex[65]);

/*
 * The cache directory in use (see above) into dir (cap bytes); 0 when there is one, -1 when
 * the cache is off or the directory cannot be named.
 */
int elmo_hash_cache_dir(char *dir, size_t cap);

/*
 * A cache entry of the regular file path: its identity line into ident (icap bytes:
 * "dev=.. ino=.. size=.. mtime=<s>.<ns> ctime=<s>.<ns> path=<absolute path>") and the entry's
 * file, DIR/<prefix><sha256 of the absolute path><suffix>, into file (fcap bytes).  Two
 * identity lines of one path are equal only when the file was not rewritten, touched or
 * replaced in between.  Returns 0, or -1 when the cache is off or either cannot be had.
 */
int elmo_cache_entry(const char *path, const char *prefix, const char *suffix, char *file,
                     size_t fcap, char *ident, size_t icap);

#endif /* ELMO_HASH_CACHE_H */
