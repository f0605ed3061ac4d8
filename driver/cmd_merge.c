/*
 * cmd_merge.c: `elmo merge --output OUT.h5 IN0.h5 IN1.h5 ...` joins the complete stateless
 * stores of the slices of one input, in slice order, into one store.  Its use is the Slurm
 * array variant: task k of N runs `elmo embed --slice k/N` and writes the store of its slice;
 * merging the N slice stores in order gives a store identical to the one a single run over the
 * whole input writes.  io/store_merge.h has the rules the inputs must meet and the store work;
 * this file runs the steps in order, agrees on each across the ranks and prints.  Anything the
 * inputs fail is refused, naming the offending file, before the output is touched.
 *
 * The output follows io/outfile.h: OUT must be a regular file or absent and none of the inputs
 * (by device and inode), rank 0 holds OUT.lock, the store is written as OUT.partial and renamed
 * over OUT only once it is marked complete (elmo_store_finish, at the very end).  A failure or a
 * stop request (SIGINT, SIGTERM, SIGUSR1, polled between chunks; exit 3) removes OUT.partial and
 * leaves an earlier OUT as it was.
 *
 * Collective over MPI_COMM_WORLD: it runs as a singleton or under mpirun/srun.
 */
#include <errno.h>
#include <libgen.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/outfile.h"
#include "io/store.h"
#include "io/store_merge.h"
#include "model/clock.h"
#include "model/status.h"

/* Prints the current error as one line (HDF5's reasons may hold line breaks). */
static void print_error(void) {
    fputs("elmo merge: error: ", stderr);
    for (const char *m = elmo_errmsg(); *m; m++)
        if (*m != '\n' || m[1]) fputc(*m == '\n' ? ' ' : *m, stderr);
    fputc('\n', stderr);
}

/* Collective: all ranks agree on a local result; the lowest failing rank prints its message
 * and every rank returns its status (0 when all succeeded). */
static int agree(int rc) { return elmo_agree_all(rc, print_error); }

/* ---- stopping ---------------------------------------------------------------------------- */

/*
 * A stop request (SIGINT, SIGTERM, SIGUSR1) on any rank stops every rank between two chunks:
 * ELMO_ERR_INTERRUPTED everywhere, so that the output is abandoned alike.  Collective.
 */
static int poll_stop(void) {
    int any = elmo_stop_agreed();
    if (!any) return 0;
    return elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d while writing", any);
}

/* ---- the command ------------------------------------------------------------------------- */

/*
 * After a failed write: what MPI-IO's message may not say.  Prints the file size limit or the
 * free space of OUT's file system when either is smaller than the inputs together (about the
 * size of the merged store).
 */
static void explain_write_failure(const struct elmo_merge *m, const char *out,
                                  const char *partial) {
    uint64_t need = 0;
    struct stat sb;
    for (int k = 0; k < m->n_in; k++)
        if (stat(m->in[k].path, &sb) == 0) need += (uint64_t)sb.st_size;
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        (uint64_t)lim.rlim_cur < need)
        fprintf(stderr,
                "elmo merge: %s: File too large: the file size limit (ulimit -f) is %llu bytes, "
                "the inputs hold %llu\n",
                partial, (unsigned long long)lim.rlim_cur, (unsigned long long)need);
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", out);
    struct statvfs fs;
    if (statvfs(dirname(dir), &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < need)
        fprintf(stderr,
                "elmo merge: %s: No space left on device: its file system has %llu bytes free, "
                "the inputs hold %llu\n",
                partial, (unsigned long long)fs.f_bavail * fs.f_frsize, (unsigned long long)need);
}

/* Parses the flags into opts (--output) and the input paths; returns -1 to go on, else an exit
   code. */
static int parse_args(int argc, char **argv, struct elmo_job *opts, const char ***ins, int *n_in) {
    char **pos = elmo_xcalloc((size_t)argc + 1, sizeof *pos);
    *ins = (const char **)pos;
    *n_in = 0;
    int code = elmo_tool_flags(ELMO_TOOL_MERGE, argc, argv, opts, pos, n_in);
    if (code) return code;
    if (!opts->output[0] || *n_in == 0) {
        if (elmo_rank() == 0) {
            if (!opts->output[0]) fprintf(stderr, "elmo merge: --output is required\n");
            else fprintf(stderr, "elmo merge: no input stores\n");
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_MERGE), stderr);
        }
        return ELMO_EXIT_USAGE;
    }
    return -1;
}

/*
 * Rank 0's step of the output discipline (io/outfile.h), agreed by every rank: OUT, OUT.partial
 * and OUT.lock are regular files or absent and none of them is an input (by device and inode),
 * then the lock is taken and a partial left by a dead earlier run is removed, so that whatever
 * is at OUT.partial from here on is this run's.  Collective.
 */
static int prepare_output(struct elmo_out *o, const char *const *ins, int n_in, bool *locked) {
    int rc = 0;
    if (elmo_rank() == 0) {
        rc = elmo_out_check(o, ins, n_in);
        if (rc == 0) rc = elmo_out_lock(o);
        if (rc == 0) *locked = true;
        if (rc == 0 && unlink(o->partial) != 0 && errno != ENOENT)
            rc = elmo_error(ELMO_ERR_IO,
                            "%s: cannot remove the partial output of an earlier run: %s",
                            o->partial, strerror(errno));
        if (rc == 0) elmo_out_claim_partial(o);
    }
    return agree(rc);
}

/* Prints what each input holds (rank 0). */
static void print_inputs(const struct elmo_merge *m) {
    for (int k = 0; k < m->n_in; k++) {
        const struct elmo_merge_in *in = &m->in[k];
        if (in->cnt[ELMO_CNT_SENT] > 0)
            fprintf(stderr,
                    "elmo merge: %s: slice %lld, %lld sentences (lines %lld..%lld), %lld "
                    "tokens\n",
                    in->path, (long long)in->slice_k, (long long)in->cnt[ELMO_CNT_SENT],
                    (long long)in->first_line, (long long)in->last_line,
                    (long long)in->cnt[ELMO_CNT_TOK]);
        else
            fprintf(stderr, "elmo merge: %s: slice %lld, empty (no sentences)\n", in->path,
                    (long long)in->slice_k);
    }
    fflush(stderr);
}

/*
 * Step 1: every input, validated: every rank opens every input (read-only) and the checks give
 * the same verdict everywhere; then the totals, and rank 0 says what it found.  Collective.
 */
static int open_inputs(struct elmo_merge *m, struct elmo_out *o, const char *out,
                       const char *const *paths) {
    int lrc = elmo_out_init(o, "--output", out);
    for (int k = 0; k < m->n_in && lrc == 0; k++) {
        m->in[k].path = paths[k];
        lrc = elmo_merge_open_input(&m->in[k]);
        if (lrc == 0) lrc = elmo_merge_check_match(&m->in[0], &m->in[k]);
    }
    if (lrc == 0) lrc = elmo_merge_check_slices(m->in, m->n_in);
    ELMO_TRY(agree(lrc));
    for (int k = 0; k < m->n_in; k++)
        for (int c = 0; c < ELMO_CNT_N; c++) m->total[c] += m->in[k].cnt[c];
    if (m->rank == 0) print_inputs(m);
    return 0;
}

/* A step that writes the output, agreed; a failure marks the output broken. */
static int agreed_write(struct elmo_merge *m, int rc) {
    rc = agree(rc);
    if (rc < 0) m->out_broken = true;
    return rc;
}

/*
 * Step 2: the output, created as OUT.partial (*created from here on), filled, marked complete
 * and renamed over OUT.  Collective.
 */
static int write_output(struct elmo_merge *m, struct elmo_out *o, const char *out, double t0,
                        bool *created) {
    /* elmo_merge_create agrees on the layout and fails on every rank alike */
    *created = true;
    int rc = elmo_merge_create(m, o->partial, MPI_COMM_WORLD);
    if (rc < 0) {
        if (m->rank == 0) print_error();
        m->out_broken = true;
        return rc;
    }
    /* the merged store is the whole input's: its fingerprint, and no slice numbers */
    ELMO_TRY(agreed_write(
        m, elmo_store_put_attr_string(m->out, "input_fingerprint", m->in[0].fingerprint)));
    const struct elmo_merge_hooks hooks = {agree, poll_stop};
    ELMO_TRY(elmo_merge_copy(m, &hooks));
    ELMO_TRY(agree(poll_stop()));
    rc = elmo_store_finish(m->out); /* complete = 1 in OUT.partial, closed */
    m->out = NULL;
    ELMO_TRY(agreed_write(m, rc));
    ELMO_TRY(agree(m->rank == 0 ? elmo_out_commit(o) : 0));
    if (m->rank == 0)
        fprintf(stderr,
                "elmo merge: wrote %s: %lld sentences, %lld tokens from %d slices on %d "
                "rank%s in %.2f s (complete)\n",
                out, (long long)m->total[ELMO_CNT_SENT], (long long)m->total[ELMO_CNT_TOK],
                m->n_in, m->size, m->size == 1 ? "" : "s", elmo_now() - t0);
    return 0;
}

/*
 * After a failure: no half-written output.  Once every rank is done with it, the partial goes
 * and an earlier OUT stays as it was.  A healthy output is closed collectively first, like the
 * failure that led here; one whose write failed is not: its ranks would hang in the collective
 * close, and HDF5 1.10 crashes at shutdown on a file whose close failed (elmo_cmd_merge then
 * ends the run with MPI_Abort).
 */
static void abandon_output(struct elmo_merge *m, struct elmo_out *o, const char *out) {
    if (!m->out_broken) ELMO_MPI(MPI_Barrier(MPI_COMM_WORLD));
    if (m->rank != 0 || !o->partial_created) return;
    elmo_out_abandon(o);
    struct stat sb;
    if (stat(out, &sb) == 0)
        fprintf(stderr, "elmo merge: removed the unfinished %s; %s is unchanged\n", o->partial,
                out);
    else
        fprintf(stderr, "elmo merge: removed the unfinished %s; %s was not written\n",
                o->partial, out);
}

int elmo_cmd_merge(int argc, char **argv) {
    const char **paths = NULL;
    int n_in = 0;
    struct elmo_job opts;
    int code = parse_args(argc, argv, &opts, &paths, &n_in);
    if (code >= 0) {
        free(paths);
        return code;
    }
    const char *out = opts.output;
    int rc = 0;
    double t0 = elmo_now();
    struct elmo_merge m = {.rank = elmo_rank(), .size = elmo_size(), .n_in = n_in};
    struct elmo_out o;
    bool locked = false, created = false;
    memset(&o, 0, sizeof o);
    o.lock_fd = -1;
    m.in = elmo_xcalloc((size_t)n_in, sizeof *m.in);

    ELMO_CALL(open_inputs(&m, &o, out, paths));
    /* the output: checked against the inputs, locked, written aside as OUT.partial */
    ELMO_CALL(prepare_output(&o, paths, n_in, &locked));
    ELMO_CALL(write_output(&m, &o, out, t0, &created));
cleanup:
    if (m.out && !m.out_broken) elmo_store_close(m.out);
    if (rc < 0 && created) abandon_output(&m, &o, out);
    if (m.out_broken && m.rank == 0) explain_write_failure(&m, out, o.partial);
    if (locked) elmo_out_unlock(&o);
    if (m.out_broken) {
        /* the partial is gone and the error printed: stop every rank without HDF5's shutdown */
        fflush(stderr);
        if (m.rank == 0) elmo_abort(elmo_exit_code(rc));
        elmo_await_abort(elmo_exit_code(rc)); /* the other ranks wait for rank 0's abort */
    }
    elmo_merge_free(&m);
    free(paths);
    return elmo_exit_code(rc);
}
