/*
 * embed_queue.c: the embed job's work (embed_job.h).  Rank 0 hands out shards on demand and
 * works too, serving requests between its batches; a finished shard is a part file and a
 * journal line with its size and checksum.  Progress is printed by rank 0.
 */
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "io/rank_log.h"
#include "model/clock.h"
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
        fprintf(stderr, "embed: %" PRId64 "/%" PRId64 " shards, %" PRId64 " sentences, %" PRId64
                " tokens, %.0f tok/s, ETA %s\n", fin, todo, er->sent_done, er->tok_done, rate, eta);
    }
}

/* ---- the work queue ------------------------------------------------------------------- */

static int64_t next_shard(struct embed_run *er) {
    while (er->next < er->plan.n && er->plan.done[er->next]) er->next++;
    if (er->next >= er->plan.n) return -1;
    return er->next++;
}

/*
 * Rank 0: handles the workers' messages (blocking waits for one when block is set).  A message
 * {done, tokens, sentences, want, bytes, checksum} reports shard `done` finished (done >= 0:
 * journalled now with its part's size and checksum)
 * and/or asks for the next shard (want: answered with a shard id or -1 for "no more").  A
 * worker asks for its next shard before it runs the current one, so it never waits for rank 0
 * to finish a batch; it is finished when it was told "no more" and has reported all it got.
 */
static void serve(struct embed_run *er, int block) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (block) {
            ELMO_MPI(MPI_Probe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &st));
            flag = 1;
        } else {
            /* after a long batch without MPI calls, Open MPI's first probe only progresses the
               transport and may miss a message that has arrived; a few more probes see it */
            for (int tries = 0; tries < 4 && !flag; tries++)
                ELMO_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &flag, &st));
        }
        if (!flag) return;
        int src = st.MPI_SOURCE;
        int64_t msg[6];
        ELMO_MPI(MPI_Recv(msg, 6, MPI_INT64_T, src, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        if (msg[0] >= 0) {
            int rc = elmo__embed_journal_done(er, msg[0], msg[4], (uint64_t)msg[5]);
            if (rc < 0) elmo_die(rc);
            er->pending[src]--;
            er->tok_done += msg[1];
            er->sent_done += msg[2];
        }
        if (msg[3]) {
            int64_t give = next_shard(er);
            ELMO_MPI(MPI_Send(&give, 1, MPI_INT64_T, src, TAG_ASSIGN, MPI_COMM_WORLD));
            if (give >= 0) er->pending[src]++;
            else er->ended[src] = 1;
        }
        if (er->ended[src] == 1 && er->pending[src] == 0) {
            er->ended[src] = 2;
            er->active_workers--;
        }
        progress(er, 0);
        if (block) return;
    }
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
    if (rc < 0) elmo_die(rc);  /* one rank's failure stops every rank */
    t = elmo_now() - t;
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

/* Rank 0: sends every worker its first shard, runs shards itself, then serves until the
 * workers are done. */
static void work_rank0(struct embed_run *er) {
    er->active_workers = er->size - 1;
    er->pending = elmo_xcalloc((size_t)er->size, sizeof *er->pending);
    er->ended = elmo_xcalloc((size_t)er->size, 1);
    /* every worker's first shard is sent unasked, so that no one waits for a batch here */
    for (int r = 1; r < er->size; r++) {
        int64_t first = next_shard(er);
        ELMO_MPI(MPI_Send(&first, 1, MPI_INT64_T, r, TAG_ASSIGN, MPI_COMM_WORLD));
        if (first >= 0) er->pending[r]++;
        else {
            er->ended[r] = 2;
            er->active_workers--;
        }
    }
    int64_t id;
    while ((id = next_shard(er)) >= 0) {
        run_shard(er, id);
        int rc = elmo__embed_journal_done(er, id, er->ctx.part_bytes, er->ctx.part_checksum);
        if (rc < 0) elmo_die(rc);
        progress(er, 0);
    }
    while (er->active_workers > 0) serve(er, 1);
    progress(er, 1);
    free(er->pending);
    free(er->ended);
    er->pending = NULL;
    er->ended = NULL;
}

/* A worker: runs the shards rank 0 hands it, always asking for one ahead. */
static void work_worker(struct embed_run *er) {
    /* the first shard comes unasked; then always one is asked for ahead of the one running */
    int64_t cur, next = -1;
    ELMO_MPI(MPI_Recv(&cur, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    while (cur >= 0) {
        MPI_Request req;
        tell_rank0(er, -1, 0, 0, 1);
        ELMO_MPI(MPI_Irecv(&next, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, &req));
        int64_t t = er->ctx.tokens_done, s = er->ctx.sentences_done;
        run_shard(er, cur);
        tell_rank0(er, cur, er->ctx.tokens_done - t, er->ctx.sentences_done - s, 0);
        ELMO_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
        cur = next;
    }
}

void elmo__embed_work(struct embed_run *er) {
    if (er->rank == 0) work_rank0(er);
    else work_worker(er);
}
