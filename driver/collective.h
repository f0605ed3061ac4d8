/*
 * collective.h: what every rank of MPI_COMM_WORLD does together: who this rank is, how ranks
 * agree on a failure and stop, the exit code a command ends with, and the checked MPI calls the
 * jobs share (broadcasts from rank 0, the gradient sum, the same-weights check).
 *
 * Failure rules (design.md, Failure): a failure that only some ranks see either goes through an
 * agreement (elmo_agree, elmo_agree_all) before the next collective step, or stops every rank at
 * once (elmo_die).  An MPI call that fails stops every rank (ELMO_MPI): the other ranks could
 * otherwise wait forever in the next collective.  The reason is printed once.
 *
 * Depends on MPI, model/status.h and io/rank_log.h only; nothing else in driver/.
 */
#ifndef ELMO_COLLECTIVE_H
#define ELMO_COLLECTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

/* Exit codes, documented in the README. */
enum elmo_exit {
    ELMO_EXIT_OK = 0,          /* success */
    ELMO_EXIT_FAIL = 1,        /* runtime failure: I/O, bad weights, MPI, ... */
    ELMO_EXIT_USAGE = 2,       /* bad flags or a malformed job file */
    ELMO_EXIT_INTERRUPTED = 3, /* stopped by a signal; rerun the same job to resume */
};

/* Maps a status code to an exit code. */
int elmo_exit_code(int status);

/*
 * Starts MPI (MPI_Init_thread, funneled), learns this rank and the size, and makes MPI calls
 * return their errors (ELMO_MPI checks them).  Returns 0, or -1 when MPI_Init failed (nothing
 * is printed).  elmo_mpi_end finalizes.  Before the start a process is rank 0 of 1.
 */
int elmo_mpi_start(int *argc, char ***argv);
void elmo_mpi_end(void);

int elmo_rank(void);
int elmo_size(void);

/*
 * Prints "elmo: error: MESSAGE" once (with the rank under mpirun), logs it and stops every
 * rank with MPI_Abort.  For errors that only some ranks see; errors that every rank sees the
 * same way are returned and printed by rank 0 instead.
 */
_Noreturn void elmo_die(int status);

/* Stops every rank with this exit code and no message (the caller printed it). */
_Noreturn void elmo_abort(int exit_code);

/*
 * For ranks whose job another rank stops with elmo_die or elmo_abort: waits for that abort,
 * which ends this process.  Should the wait return, this rank exits with exit_code.
 */
_Noreturn void elmo_await_abort(int exit_code);

/*
 * Collective: every rank passes its local status after a step that may fail on some ranks; all
 * learn whether any failed.  The lowest failing rank gets its own status back (its message is
 * the one elmo's exit prints), the others ELMO_ERR_REPORTED; 0 when no rank failed.
 */
int elmo_agree(int rc);

/*
 * Collective: as elmo_agree, but every rank gets the lowest failing rank's status, so all
 * exit alike; that rank calls say() (when not NULL) to print its message, once.
 */
int elmo_agree_all(int rc, void (*say)(void));

/*
 * Collective, at the end of a command: reports a failure once, writes how this rank ended to
 * its log and closes the log, and returns the exit code.  Ranks that agreed on a failure hold
 * ELMO_ERR_REPORTED except the one that failed first, which holds the cause; ranks that failed
 * alike on their own (a bad job file) all hold it.  So the lowest rank holding a cause prints
 * it, whichever rank that is; when none does, rank 0 says another rank failed.
 */
int elmo_finish(int rc);

/*
 * Collective, for commands that rank 0 runs alone: rank 0's exit code, on every rank.
 */
int elmo_rank0_exit(int exit_code);

/*
 * Collective: the stop signal (SIGINT/SIGTERM/SIGUSR1) that any rank has received, the largest
 * number when several; 0 when none.  Every rank gets the same answer, so all stop alike.
 */
int elmo_stop_agreed(void);

/*
 * The checked MPI call: ELMO_MPI(MPI_Bcast(...)); a failure stops every rank (elmo_die) with
 * "MPI_Bcast failed in FUNCTION (FILE:LINE): MPI's reason".
 */
#define ELMO_MPI(call) elmo__mpi_check((call), #call, __func__, __FILE__, __LINE__)
void elmo__mpi_check(int err, const char *call, const char *func, const char *file, int line);

/* Collective: rank 0's bytes of buf (any size; checked), on every rank. */
void elmo_bcast(void *buf, size_t bytes);

/* Collective: rank 0's value of v, on every rank. */
int elmo_bcast_int(int v);

/*
 * Collective: g (n floats) becomes the sum of every rank's g, element by element, in place.
 * One reduction of the whole block (the gradient of data-parallel training).
 */
void elmo_allreduce_sum(float *g, size_t n);

/*
 * Collective: whether every rank holds the same bytes in a (na floats) and b (nb floats; b
 * may be NULL), compared through a hash of them; *lo and *hi get the smallest and largest hash
 * over the ranks (equal when true).  Replicated training state must be bit-identical.
 */
bool elmo_same_weights(const float *a, size_t na, const float *b, size_t nb, uint64_t *lo,
                       uint64_t *hi);

#endif /* ELMO_COLLECTIVE_H */
