/*
 * embed_queue.c: the embed job's work (embed_job.h).  Rank 0 hands out shards on demand and,
 * up to RANK0_COMPUTES_MAX ranks, works too, serving requests between its products; a finished
 * shard is a part file and a journal line with its size and checksum.  Progress is printed by
 * rank 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "driver/spare_cores.h"
#include "io/rank_log.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102 };

/* ---- progress (rank 0) ---------------------------------------------------------------- */

static void fmt_time(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) snprintf(out, n, "?");
    else if (s < 60) snprintf(out, n, "%.0fs", s);
    else if (s < 3600) snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(out, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void progress(struct embed_run *er, int final) {
    if (!er->job->progress) return;
    double t = elmo_now();
    if (!final && t - er->last_print < (er->tty ? 0.25 : 5.0)) return;
    er->last_print = t;
    double el = t - er->t0, rate = el > 0 ? (double)er->tok_done / el : 0;
    int64_t todo = er->plan.n - er->shards_skipped;
    int64_t fin = er->shards_done;
    double frac = todo > 0 ? (double)fin / (double)todo : 1.0;
    char eta[32];
    fmt_time(frac > 0 ? el / frac - el : -1, eta, sizeof eta);
    if (er->tty) {
        int w = 24, filled = (int)(frac * w);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < filled ? '#' : '.';
        bar[w] = '\0';
        fprintf(stderr,
                "\rembed [%s] %" PRId64 "/%" PRId64 " shards  %" PRId64 " sentences  %" PRId64
                " tokens  %.0f tok/s  ETA %s   %s",
                bar, fin, todo, er->sent_done, er->tok_done, rate, eta, final ? "\n" : "");
    } else {
        fprintf(stderr,
                "embed: %" PRId64 "/%" PRId64 " shards, %" PRId64 " sentences, %" PRId64
                " tokens, %.0f tok/s, ETA %s\n",
                fin, todo, er->sent_done, er->tok_done, rate, eta);
    }
}

/* ---- the work queue ------------------------------------------------------------------- */

/*
 * Above this many ranks rank 0 only serves the queue: it hands out shards and journals them as
 * they are reported, answering each request at once, and computes none.  At or below it rank 0
 * also computes shards and answers between its products (the GEMM's poll; the workers also
 * ask one shard ahead), which is worth 1/size of the job's throughput; above it a rank more
 * that answers at once is worth more than 1/size of the work (tests/bench/README.md,
 * "Dispatch").
 */
#define RANK0_COMPUTES_MAX 16

/* The limit, which the environment's ELMO_RANK0_COMPUTES_MAX (a count of ranks) replaces for
 * measurements (tests/bench/dispatch.sh); read by rank 0 only. */
static int rank0_computes_max(void) {
    const char *e = getenv("ELMO_RANK0_COMPUTES_MAX");
    char *end;
    long v = e ? strtol(e, &end, 10) : -1;
    return e && *e && !*end && v >= 0 && v <= 1000000000 ? (int)v : RANK0_COMPUTES_MAX;
}

int elmo__embed_computing_ranks(int size) {
    return size == 1 || size <= rank0_computes_max() ? size : size - 1;
}

/* What the queue cost, per rank and job (reset by elmo__embed_work), for the rank log, the
 * summary and tests/bench/dispatch.sh. */
struct queue_stats {
    double busy;             /* s running shards */
    double wait;             /* worker: s blocked for a shard after finishing one */
    int64_t waits;           /* worker: shards it had to wait for */
    double rtt_sum, rtt_max; /* worker: request to assignment, over the waited requests */
    double serve;            /* rank 0: s handling messages (receive, journal, answer) */
    int64_t msgs, assigned;  /* rank 0: messages handled, shards handed out */
    int64_t wakes;           /* rank 0: serve calls that handled messages */
    double sync;             /* rank 0: s in the journal's fsync */
    int64_t syncs;           /* rank 0: the journal's fsyncs */
    double serve_cpu;        /* rank 0: CPU s handling messages */
};
static struct queue_stats qs;

void elmo__embed_busy_range(const struct embed_run *er, double t_work, double busy[2]) {
    /* a rank that computes no shard by design (rank 0 serving only) is left out */
    int computes = er->rank > 0 || elmo__embed_computing_ranks(er->size) == er->size;
    double f = t_work > 0 ? qs.busy / t_work : 0, mine[2] = {computes ? f : 2, computes ? -f : 1};
    double got[2] = {0, 0};
    ELMO_MPI(MPI_Reduce(mine, got, 2, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD));
    busy[0] = got[0];
    busy[1] = -got[1];
}

/* Rank 0: whether every shard has been handed out. */
static bool handed_out(struct embed_run *er) {
    while (er->next < er->plan.n && er->plan.done[er->next]) er->next++;
    return er->next >= er->plan.n;
}

/* Rank 0: the next shard to hand out (journalled ones skipped), or -1 when none is left. */
static int64_t next_shard(struct embed_run *er) { return handed_out(er) ? -1 : er->next++; }

/* This process's CPU seconds (rank 0's serving cost without the time it waited for a core). */
static double cpu_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Rank 0: the journal lines written so far go to the file at once (a rerun after a killed
 * rank sees them) and are fsynced at most every JOURNAL_SYNC_S seconds, and always when `now`
 * (the end of the work): a crash of the machine loses at most that much finished work to
 * redo, never a line of an unfinished shard, and rank 0 does not wait for the disk at every
 * message.
 */
#define JOURNAL_SYNC_S 1.0
static void sync_journal(struct embed_run *er, int now) {
    static double last;
    double t = elmo_now();
    int rc = 0;
    if (now || t - last >= JOURNAL_SYNC_S) {
        rc = elmo__embed_journal_sync(er);
        last = elmo_now();
        qs.sync += last - t;
        qs.syncs++;
    } else if (fflush(er->jf) != 0) {
        rc = elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    }
    if (rc < 0) elmo_die(rc);
}

/* Rank 0: sends worker r its next shard, or -1 when none is left (the worker then ends once
 * its pending shards are reported: retire_if_done). */
static void assign(struct embed_run *er, int r) {
    int64_t give = next_shard(er);
    ELMO_MPI(MPI_Send(&give, 1, MPI_INT64_T, r, TAG_ASSIGN, MPI_COMM_WORLD));
    if (give >= 0) {
        er->pending[r]++;
        qs.assigned++;
    } else {
        er->ended[r] = 1;
    }
}

/* Rank 0: worker r has ended (told "no more") and reported every shard it held. */
static void retire_if_done(struct embed_run *er, int r) {
    if (er->ended[r] == 1 && er->pending[r] == 0) {
        er->ended[r] = 2;
        er->active_workers--;
    }
}

/*
 * Rank 0: whether a worker still running a shard should wait for the next one until it is
 * idle: when fewer shards are left than ranks computing, a shard handed one ahead could sit
 * behind a running one while another rank has nothing to do.
 */
static bool hold_ahead(const struct embed_run *er) {
    return er->plan.n - er->next < elmo__embed_computing_ranks(er->size);
}

/* Rank 0, once every shard is handed out: the requests held back (hold_ahead) are answered
 * "no more" at once, so that those workers end (and lend their cores) as their shard ends
 * instead of waiting for this rank's batch. */
static void release_deferred(struct embed_run *er) {
    if (!handed_out(er)) return;
    for (int r = 1; r < er->size; r++)
        if (er->deferred[r]) {
            er->deferred[r] = 0;
            assign(er, r);
            retire_if_done(er, r);
        }
}

/* Rank 0: one worker message {done, tokens, sentences, want, bytes, checksum} (see serve);
 * returns 1 when it wrote a journal line (not yet synced). */
static int handle(struct embed_run *er, int src, const int64_t *msg) {
    if (msg[0] >= 0) {
        int rc = elmo__embed_journal_note(er, msg[0], msg[4], (uint64_t)msg[5]);
        if (rc < 0) elmo_die(rc);
        er->pending[src]--;
        er->tok_done += msg[1];
        er->sent_done += msg[2];
    }
    if (msg[3] && er->pending[src] > 0 && hold_ahead(er)) er->deferred[src] = 1;
    else if (msg[3] || (er->deferred[src] && er->pending[src] == 0)) {
        er->deferred[src] = 0;
        assign(er, src);
    }
    retire_if_done(er, src);
    release_deferred(er);
    return msg[0] >= 0;
}

/*
 * Rank 0: handles the workers' messages that have arrived (with block, waits for one first).
 * A message {done, tokens, sentences, want, bytes, checksum} reports shard `done` finished
 * (done >= 0: journalled with its part's size and checksum) and/or asks for the next shard
 * (want: answered at once with a shard id or -1 for "no more").  The journal lines of one call
 * share one fsync, after the answers.  A worker asks for its next shard before it runs the
 * current one, and rank 0 answers between its products, so a worker never waits for rank 0's
 * batch; it is finished when it was told "no more" and has reported all it got.
 */
static int64_t serve(struct embed_run *er, int block) {
    int64_t handled = 0, journalled = 0;
    double t = 0, c = 0;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (block && handled == 0) {
            ELMO_MPI(MPI_Probe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &st));
            flag = 1;
        } else {
            /* after a long batch without MPI calls, Open MPI's first probe only progresses the
               transport and may miss a message that has arrived; a few more probes see it */
            for (int tries = 0; tries < 4 && !flag; tries++)
                ELMO_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &flag, &st));
        }
        if (!flag) break;
        if (handled == 0) {
            t = elmo_now();
            c = cpu_now();
        }
        int64_t msg[6];
        ELMO_MPI(MPI_Recv(msg, 6, MPI_INT64_T, st.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD,
                          MPI_STATUS_IGNORE));
        journalled += handle(er, st.MPI_SOURCE, msg);
        handled++;
    }
    if (journalled) sync_journal(er, 0);
    if (handled) {
        qs.serve += elmo_now() - t;
        qs.serve_cpu += cpu_now() - c;
        qs.msgs += handled;
        qs.wakes++;
    }
    progress(er, 0);
    return handled;
}

/* Stops this rank (and so the job, exit 3) when a stop signal arrived; the journal only ever
 * lists finished parts, so it is consistent whenever this runs. */
static void stop_if_signalled(const struct embed_run *er) {
    int sig = elmo_stop_signal();
    if (!sig) return;
    elmo_error(ELMO_ERR_INTERRUPTED,
               "interrupted by signal %d; the journal %s is consistent: rerun the same job to "
               "resume",
               sig, er->journal);
    elmo_die(ELMO_ERR_INTERRUPTED);
}

void elmo__embed_on_batch_rank0(void *arg, int64_t sentences, int64_t tokens) {
    struct embed_run *er = arg;
    er->tok_done += tokens;
    er->sent_done += sentences;
    stop_if_signalled(er);
    if (er->size > 1) serve(er, 0);
    progress(er, 0);
}

void elmo__embed_on_batch_worker(void *arg, int64_t sentences, int64_t tokens) {
    (void)sentences;
    (void)tokens;
    stop_if_signalled(arg);
}

static int run_shard(struct embed_run *er, int64_t id) {
    char pp[ELMO_PATH_MAX + 64], rp[ELMO_PATH_MAX + 64];
    elmo__embed_part_path(er, id, pp, sizeof pp, "part");
    elmo__embed_part_path(er, id, rp, sizeof rp, "rej");
    stop_if_signalled(er);
    int64_t tok = er->ctx.tokens_done, sent = er->ctx.sentences_done;
    double t = elmo_now();
    int rc = elmo_embed_shard(&er->ctx, er->input, &er->plan.sh[id], pp, rp);
    if (rc < 0) elmo_die(rc); /* one rank's failure stops every rank */
    t = elmo_now() - t;
    qs.busy += t;
    tok = er->ctx.tokens_done - tok;
    elmo_rank_log("shard %" PRId64 " done: %" PRId64 " non-empty sentences, %" PRId64
                  " tokens, %.2f s, %.0f tokens/s",
                  id, er->ctx.sentences_done - sent, tok, t, t > 0 ? (double)tok / t : 0.0);
    return 0;
}

/* Worker: one message to rank 0 (see serve). */
static void tell_rank0(const struct embed_run *er, int64_t done, int64_t tok, int64_t sent,
                       int want) {
    int64_t msg[6] = {done,
                      tok,
                      sent,
                      want,
                      done >= 0 ? er->ctx.part_bytes : 0,
                      done >= 0 ? (int64_t)er->ctx.part_checksum : 0};
    ELMO_MPI(MPI_Send(msg, 6, MPI_INT64_T, 0, TAG_REQ, MPI_COMM_WORLD));
}

/* Rank 0: every worker's first shard, sent unasked so that no one waits for a batch here. */
static void send_first_shards(struct embed_run *er) {
    for (int r = 1; r < er->size; r++) {
        assign(er, r);
        retire_if_done(er, r);
    }
}

/* Rank 0 in its own batches: the workers' messages, between products (elmo_blas_set_poll) at
 * most every SERVE_POLL_S, so that a worker never waits for the end of a batch here. */
#define SERVE_POLL_S 0.002
static void serve_in_batch(void *arg) {
    static double last;
    const double t = elmo_now();
    if (t - last < SERVE_POLL_S) return;
    last = t;
    serve(arg, 0);
}

/* Rank 0: sends every worker its first shard, runs shards itself (at most
 * RANK0_COMPUTES_MAX ranks) answering the workers between its products, then serves until
 * the workers are done. */
static void work_rank0(struct embed_run *er) {
    er->active_workers = er->size - 1;
    er->pending = elmo_xcalloc((size_t)er->size, sizeof *er->pending);
    er->ended = elmo_xcalloc((size_t)er->size, 1);
    er->deferred = elmo_xcalloc((size_t)er->size, 1);
    double t_start = elmo_now();
    send_first_shards(er);
    int64_t id;
    if (er->size > 1) elmo_blas_set_poll(serve_in_batch, er);
    while (elmo__embed_computing_ranks(er->size) == er->size && (id = next_shard(er)) >= 0) {
        release_deferred(er);
        run_shard(er, id);
        int rc = elmo__embed_journal_note(er, id, er->ctx.part_bytes, er->ctx.part_checksum);
        if (rc < 0) elmo_die(rc);
        sync_journal(er, 0);
        progress(er, 0);
    }
    elmo_blas_set_poll(NULL, NULL);
    /* once no shard is left to hand out, this rank's cores go to the ranks still computing
       and it serves their last reports without spinning */
    while (er->active_workers > 0) {
        const bool left = !handed_out(er);
        if (!left) elmo_spare_offer();
        const int64_t handled = serve(er, left);
        stop_if_signalled(er);
        if (!left && !handled && er->active_workers > 0) elmo_spare_nap();
    }
    sync_journal(er, 1);
    progress(er, 1);
    double t_work = elmo_now() - t_start;
    double per = qs.msgs ? 1e6 / (double)qs.msgs : 0.0;
    elmo_rank_log("queue: %" PRId64 " messages in %" PRId64 " rounds, %" PRId64 " shards handed "
                  "out in %.3f s (%.0f/s); serving took %.3f s, %.1f us a message (%.1f us of "
                  "CPU); %" PRId64 " journal fsyncs took %.3f s",
                  qs.msgs, qs.wakes, qs.assigned, t_work,
                  t_work > 0 ? (double)qs.assigned / t_work : 0.0, qs.serve, qs.serve * per,
                  qs.serve_cpu * per, qs.syncs, qs.sync);
    free(er->pending);
    free(er->ended);
    free(er->deferred);
    er->pending = NULL;
    er->ended = NULL;
    er->deferred = NULL;
}

/* Worker: completes the request for the next shard (sent at t_req), counting any wait. */
static void wait_for_shard(MPI_Request *req, double t_req) {
    int got = 0;
    ELMO_MPI(MPI_Test(req, &got, MPI_STATUS_IGNORE));
    if (got) return;
    double t_wait = elmo_now(); /* the answer is not here yet: this rank idles until it is */
    ELMO_MPI(MPI_Wait(req, MPI_STATUS_IGNORE));
    double now = elmo_now(), rtt = now - t_req;
    qs.wait += now - t_wait;
    qs.waits++;
    qs.rtt_sum += rtt;
    if (rtt > qs.rtt_max) qs.rtt_max = rtt;
}

/*
 * A worker: runs the shards rank 0 hands it, holding the next one while it runs one.  The
 * first shard comes unasked and the worker asks for a second at once; from then on one
 * message per shard, sent when it finishes, reports it done and asks for the one after the
 * next (rank 0 answers it while the next runs).  When the answer is not there as a shard
 * ends (rank 0 is in a product, or holds the request back near the end of the plan until this
 * worker idles: hold_ahead), the worker reports the shard at once and asks again once
 * answered.
 */
static void work_worker(struct embed_run *er) {
    int64_t cur, next = -1, n = 0;
    MPI_Request req = MPI_REQUEST_NULL;
    double t_req = elmo_now();
    ELMO_MPI(MPI_Recv(&cur, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    if (cur >= 0) {
        t_req = elmo_now();
        tell_rank0(er, -1, 0, 0, 1);
        ELMO_MPI(MPI_Irecv(&next, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, &req));
    }
    while (cur >= 0) {
        int64_t t = er->ctx.tokens_done, s = er->ctx.sentences_done;
        run_shard(er, cur);
        n++;
        int got = 0; /* the next shard's answer is here: else the shard is reported at once */
        ELMO_MPI(MPI_Test(&req, &got, MPI_STATUS_IGNORE));
        if (!got) /* rank 0 may be waiting for this rank to idle */
            tell_rank0(er, cur, er->ctx.tokens_done - t, er->ctx.sentences_done - s, 0);
        wait_for_shard(&req, t_req);
        /* done (unless reported), and (unless told "no more") the request for the shard after
           next */
        t_req = elmo_now();
        if (got)
            tell_rank0(er, cur, er->ctx.tokens_done - t, er->ctx.sentences_done - s, next >= 0);
        else if (next >= 0) tell_rank0(er, -1, 0, 0, 1);
        cur = next;
        if (cur >= 0)
            ELMO_MPI(MPI_Irecv(&next, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, &req));
    }
    elmo_spare_offer();
    elmo_rank_log("queue: %" PRId64 " shards, waited for %" PRId64 " of them %.3f s in all; "
                  "request to answer %.1f us on average, %.1f us at most, when waited",
                  n, qs.waits, qs.wait, qs.waits ? 1e6 * qs.rtt_sum / (double)qs.waits : 0.0,
                  1e6 * qs.rtt_max);
}

void elmo__embed_work(struct embed_run *er) {
    memset(&qs, 0, sizeof qs); /* a process may run several jobs (train-ner's feature stores) */
    if (er->rank == 0) work_rank0(er);
    else work_worker(er);
}
