/*
 * outfile.h: the one output discipline of every job and tool.
 *
 * A run never deletes or damages a file it was not asked to write, whatever its flags:
 *
 *   1. elmo_out_init + elmo_out_check, before any work: the output's directory exists, an
 *      existing output is a regular file, and the output is none of the run's inputs (compared
 *      by device and inode, so `./c.txt`, `c.txt` and a symlink to it are one file).  The
 *      derived names (OUTPUT.partial, OUTPUT.lock) must not be inputs either.
 *   2. elmo_out_lock: flock on OUTPUT.lock for the whole run; a second run on the same output
 *      is refused with the holder's host and pid.
 *   3. The run writes o->partial (OUTPUT.partial, same directory) and elmo_out_commit renames it
 *      over OUTPUT once it is complete, so the previous OUTPUT survives every failure.
 *   4. elmo_out_abandon removes OUTPUT.partial only when this run created it.
 *
 * Not collective: the caller decides which rank does what (rank 0 holds the lock).
 */
#ifndef ELMO_OUTFILE_H
#define ELMO_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "io/job.h"

struct elmo_out {
    const char *key;                  /* the job key or flag that named the output ("output") */
    char path[ELMO_PATH_MAX];         /* the final output */
    char partial[ELMO_PATH_MAX];      /* OUTPUT.partial: written, then renamed over path */
    char lock[ELMO_PATH_MAX];         /* OUTPUT.lock */
    int lock_fd;                      /* -1 unless the lock is held */
    bool partial_created;             /* this run created partial (elmo_out_create_partial) */
};

/* Fills o for output `path` named by job key `key`.  ELMO_ERR_ARG when a name is too long. */
int elmo_out_init(struct elmo_out *o, const char *key, const char *path);

/*
 * 1 when a and b name the same existing file (same st_dev and st_ino), 0 when not or when
 * either does not exist.
 */
int elmo_same_file(const char *a, const char *b);

/*
 * Validates a path the run will write (key names it in messages): its directory exists and is
 * a directory; if the path exists it is a regular file; it is none of inputs[0..n-1] (NULL
 * entries, "" and "-" are skipped, as are inputs that do not exist).  Returns 0 or ELMO_ERR_ARG
 * with a message naming the key, the path and the cause.
 */
int elmo_check_output_path(const char *key, const char *path, const char *const *inputs, int n);

/* elmo_check_output_path for o->path, o->partial and o->lock. */
int elmo_out_check(const struct elmo_out *o, const char *const *inputs, int n);

/*
 * Takes the run's lock (flock LOCK_EX|LOCK_NB on o->lock, created if needed, with this host
 * and pid written into it).  Returns 0, or ELMO_ERR_STATE naming the holder when another run
 * holds it, or ELMO_ERR_IO.
 */
int elmo_out_lock(struct elmo_out *o);

/* Releases the lock and removes the lock file (while still holding it).  Idempotent. */
void elmo_out_unlock(struct elmo_out *o);

/*
 * Opens o->partial for writing from scratch (truncating a stale partial of an earlier run,
 * which the lock proves is dead) and marks it as created by this run.  Returns a stdio stream
 * or NULL with ELMO_ERR_IO recorded.
 */
FILE *elmo_out_create_partial(struct elmo_out *o);

/*
 * Marks o->partial as this run's, for writers that create it themselves (HDF5, a rank other
 * than the caller).
 */
void elmo_out_claim_partial(struct elmo_out *o);

/* fsyncs o->partial and renames it over o->path.  Returns 0 or ELMO_ERR_IO. */
int elmo_out_commit(struct elmo_out *o);

/* Removes o->partial if this run created it; never touches o->path. */
void elmo_out_abandon(struct elmo_out *o);

/*
 * Durable rename of a temporary file over `path` (fsync of the data, rename, fsync of the
 * directory).  Returns 0 or ELMO_ERR_IO naming both files.
 */
int elmo_commit_file(const char *tmp, const char *path);

/*
 * mkdir -p: creates path and its missing parents (mode 0777 less the umask).  Returns 0 when
 * path is then a directory, or ELMO_ERR_IO naming the component that could not be made, or
 * path when it exists as something else.
 */
int elmo_make_dirs(const char *path);
/* elmo_make_dirs with the mode of the directories it creates (less the umask). */
int elmo_make_dirs_mode(const char *path, unsigned mode);

#endif /* ELMO_OUTFILE_H */
