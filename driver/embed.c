/*
 * embed.c: the embed job, rank-0 orchestration and the collective merge.  Collective.
 *
 *   1. every rank loads the model; rank 0 plans shards (byte ranges on record boundaries, or
 *      one shard per stream), checks the journal next to the output and broadcasts the plan;
 *   2. work: rank 0 hands out shards on demand (it works too, serving requests between its
 *      batches); a finished shard is a part file (fsynced, renamed) and a journal line;
 *   3. merge: every rank takes a contiguous range of records, reads their rows from the parts
 *      and writes them into a fresh store collectively; the store is marked complete last,
 *      then the parts and the journal are removed.
 * A crash at any point leaves the journal and the finished parts; rerunning the same job skips
 * them.  A store is only ever marked complete at the very end.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "driver/commands.h"
#include "io/corpus.h"
#include "io/store.h"
#include "io/weights.h"
#include "model/gemm.h"
#include "model/status.h"
#include "worker/embed.h"
#include "worker/part.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102 };

#define MAX_SHARDS 1000000

struct plan {
    int64_t n;        /* shards */
    struct elmo_shard *sh;
    uint8_t *done;    /* (n) 1 when journalled with a valid part */
};

struct embed_run {
    struct elmo_job *job;
    struct elmo_model model;
    char input[ELMO_PATH_MAX + 32];  /* what the shards read (the spool for streams input) */
    char journal[ELMO_PATH_MAX + 16];
    char parts[ELMO_PATH_MAX + 16];
    char sha[80];
    char *options_text;
    char *fingerprint;
    struct plan plan;
    int rank, size;
    /* rank 0: queue and progress */
    int64_t next;                    /* next shard to consider */
    int active_workers;              /* workers not yet told "no more" or with shards running */
    int *pending;                    /* (size) per worker: shards assigned, not reported done */
    char *ended;                     /* (size) per worker: was answered "no more shards" */
    FILE *jf;                        /* journal, rank 0 */
    double t0, last_print;
    int64_t tok_done, sent_done, shards_done, shards_skipped;
    int tty;
    struct elmo_embed_ctx ctx;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *s = elmo_xmalloc(cap);
    size_t r;
    while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) s = elmo_xrealloc(s, cap *= 2);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(s);
        elmo_error(ELMO_ERR_IO, "%s: read failed", path);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

/* ---- the journal ---------------------------------------------------------------------- */

static char *make_fingerprint(const struct embed_run *er) {
    const struct elmo_job *j = er->job;
    struct stat st;
    char buf[8192];
    long long size = -1, mtime = -1;
    if (strcmp(j->input, "-") != 0 && stat(j->input, &st) == 0) {
        size = (long long)st.st_size;
        mtime = (long long)st.st_mtime;
    }
    char mix[256] = "";
    for (int k = 0; k < j->n_mix_weights; k++)
        snprintf(mix + strlen(mix), sizeof mix - strlen(mix), "%s%.9g", k ? "," : "",
                 (double)j->mix_weights[k]);
    snprintf(buf, sizeof buf,
             "job input %s\njob input_size %lld\njob input_mtime %lld\njob input_format %d\n"
             "job text_field %s\njob tokens_field %s\njob id_field %s\n"
             "job weights_sha256 %s\njob options_bytes %zu\njob outputs %u\njob streams %d\n"
             "job max_sentence_tokens %d\njob long_sentences %d\njob shard_tokens %d\n"
             "job mix_weights %s\njob gamma %.9g\njob layer_norm %d\njob slice %s\n",
             j->input, size, mtime, (int)j->input_format, j->text_field, j->tokens_field,
             j->id_field, er->sha, strlen(er->options_text), j->outputs, j->streams,
             j->max_sentence_tokens, (int)j->long_sentences, j->shard_tokens, mix,
             (double)j->gamma, (int)j->layer_norm, j->slice[0] ? j->slice : "all");
    return elmo_xstrdup(buf);
}

static void part_path(const struct embed_run *er, int64_t id, char *out, size_t n, const char *ext) {
    snprintf(out, n, "%s/shard-%06" PRId64 ".%s", er->parts, id, ext);
}

/* Estimates bytes per token from the head of a plain file. */
static double bytes_per_token(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 6.0;
    char *buf = elmo_xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    long tokens = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        int ws = buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r';
        if (!ws && !in) tokens++;
        in = !ws;
    }
    free(buf);
    return tokens > 0 ? (double)n / (double)tokens : 6.0;
}

static int plan_shards(struct embed_run *er) {
    const struct elmo_job *j = er->job;
    struct plan *p = &er->plan;
    if (j->streams > 0) {
        if (j->slice[0])
            return elmo_error(ELMO_ERR_ARG, "slice works in the stateless regime only (streams is "
                              "%d): a stream runs through the whole input", j->streams);
        int64_t G = ELMO_STREAM_GROUP;
        p->n = (j->streams + G - 1) / G;
        p->sh = elmo_xcalloc((size_t)p->n, sizeof *p->sh);
        for (int64_t g = 0; g < p->n; g++) {
            p->sh[g].id = g;
            p->sh[g].begin = 0;
            p->sh[g].end = -1;
            p->sh[g].first_line = 1;
            p->sh[g].stream = (int)(g * G);
            p->sh[g].n_streams = (int)(j->streams - g * G < G ? j->streams - g * G : G);
        }
        return 0;
    }
    struct stat st;
    if (stat(er->input, &st) != 0) return elmo_error(ELMO_ERR_IO, "%s: %s", er->input, strerror(errno));
    double bpt = bytes_per_token(er->input);
    double want = (double)st.st_size / (bpt * (double)j->shard_tokens);
    int64_t pieces = (int64_t)ceil(want);
    if (pieces < 1) pieces = 1;
    if (pieces > MAX_SHARDS) pieces = MAX_SHARDS;
    int64_t *bounds = elmo_xmalloc(sizeof(int64_t) * (size_t)(pieces + 1));
    int64_t *lines = elmo_xmalloc(sizeof(int64_t) * (size_t)(pieces + 1));
    struct elmo_corpus_opts co = er->ctx.copts;
    int n = elmo_corpus_split(er->input, &co, (int)pieces, bounds, lines);
    if (n < 0) {
        free(bounds);
        free(lines);
        return n;
    }
    p->n = n;
    p->sh = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *p->sh);
    for (int i = 0; i < n; i++) {
        p->sh[i].id = i;
        p->sh[i].begin = bounds[i];
        p->sh[i].end = bounds[i + 1];
        p->sh[i].first_line = lines[i];
        p->sh[i].stream = -1;
    }
    free(bounds);
    free(lines);
    if (j->slice[0]) {
        /* keep the K-th of N contiguous groups of the full plan, renumbered from 0 */
        int k = 0, parts = 0;
        char extra;
        if (sscanf(j->slice, "%d/%d%c", &k, &parts, &extra) != 2 || parts < 1 || k < 0 ||
            k >= parts)
            return elmo_error(ELMO_ERR_ARG, "slice '%s': expected K/N with 0 <= K < N",
                              j->slice);
        int64_t a = p->n * k / parts, b = p->n * (k + 1) / parts;
        for (int64_t i = a; i < b; i++) {
            p->sh[i - a] = p->sh[i];
            p->sh[i - a].id = i - a;
        }
        p->n = b - a;
    }
    return 0;
}

/* Reads an existing journal: the same fingerprint, its plan, and the finished shards. */
static int journal_resume(struct embed_run *er, int *resumed) {
    *resumed = 0;
    char *text = slurp(er->journal);
    if (!text) {
        elmo_error_clear();
        return 0;  /* no journal: a fresh start */
    }
    int rc = 0;
    size_t fl = strlen(er->fingerprint);
    if (strncmp(text, "elmo-journal 1\n", 15) != 0) {
        rc = elmo_error(ELMO_ERR_MISMATCH, "%s: not an elmo journal; move it away to start over",
                        er->journal);
        goto out;
    }
    if (strncmp(text + 15, er->fingerprint, fl) != 0) {
        /* name the first line that differs */
        const char *a = text + 15, *b = er->fingerprint;
        while (*a && *b && *a == *b) {
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a)) != 0) break;
            a = ea + 1;
            b = eb + 1;
        }
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        rc = elmo_error(ELMO_ERR_MISMATCH,
                        "%s belongs to a different job or model: it has '%.*s', this run has "
                        "'%.*s'; delete %s and %s/ to start over",
                        er->journal, ea ? (int)(ea - a) : 0, a, eb ? (int)(eb - b) : 0, b,
                        er->journal, er->parts);
        goto out;
    }
    /* plan lines and done lines */
    struct plan *p = &er->plan;
    char *line = text + 15 + fl;
    int64_t n = -1, seen = 0;
    while (*line) {
        char *end = strchr(line, '\n');
        if (!end) break;  /* a torn last line (crash while appending): ignored */
        *end = '\0';
        long long a, b, c, d, e, f;
        if (sscanf(line, "plan %lld", &a) == 1) {
            n = a;
            if (n < 0 || n > MAX_SHARDS) break;
            p->n = n;
            p->sh = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *p->sh);
            p->done = elmo_xcalloc((size_t)(n > 0 ? n : 1), 1);
        } else if (sscanf(line, "shard %lld %lld %lld %lld %lld %lld", &a, &b, &c, &d, &e, &f) == 6
                   && n >= 0 && a >= 0 && a < n) {
            p->sh[a] = (struct elmo_shard){a, b, c, d, (int)e, (int)f};
            seen++;
        } else if (sscanf(line, "done %lld %lld", &a, &b) == 2 && n >= 0 && a >= 0 && a < n) {
            char pp[ELMO_PATH_MAX + 64];
            struct stat st;
            part_path(er, a, pp, sizeof pp, "part");
            if (stat(pp, &st) == 0 && (long long)st.st_size == b) p->done[a] = 1;
        }
        line = end + 1;
    }
    if (n < 0 || seen != n) {
        rc = elmo_error(ELMO_ERR_MISMATCH, "%s: the journal's plan is damaged; delete it and %s/ "
                        "to start over", er->journal, er->parts);
        goto out;
    }
    *resumed = 1;
out:
    free(text);
    return rc;
}

static int journal_start(struct embed_run *er) {
    er->jf = fopen(er->journal, "w");
    if (!er->jf) return elmo_error(ELMO_ERR_IO, "%s: %s", er->journal, strerror(errno));
    fprintf(er->jf, "elmo-journal 1\n%splan %" PRId64 "\n", er->fingerprint, er->plan.n);
    for (int64_t i = 0; i < er->plan.n; i++) {
        const struct elmo_shard *s = &er->plan.sh[i];
        fprintf(er->jf, "shard %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %d %d\n", s->id,
                s->begin, s->end, s->first_line, s->stream, s->n_streams);
    }
    if (fflush(er->jf) != 0 || fsync(fileno(er->jf)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    return 0;
}

static int journal_done(struct embed_run *er, int64_t id) {
    char pp[ELMO_PATH_MAX + 64];
    struct stat st;
    part_path(er, id, pp, sizeof pp, "part");
    if (stat(pp, &st) != 0) return elmo_error(ELMO_ERR_IO, "%s: %s", pp, strerror(errno));
    if (fprintf(er->jf, "done %" PRId64 " %lld\n", id, (long long)st.st_size) < 0 ||
        fflush(er->jf) != 0 || fsync(fileno(er->jf)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    er->plan.done[id] = 1;
    er->shards_done++;
    return 0;
}

/* ---- progress (rank 0) ---------------------------------------------------------------- */

static void fmt_time(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) snprintf(out, n, "?");
    else if (s < 60) snprintf(out, n, "%.0fs", s);
    else if (s < 3600) snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(out, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void progress(struct embed_run *er, int final) {
    if (!er->job->progress) return;
    double t = now();
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
        fprintf(stderr, "\rembed [%s] %" PRId64 "/%" PRId64 " shards  %" PRId64 " sentences  %" PRId64
                " tokens  %.0f tok/s  ETA %s   %s", bar, fin, todo, er->sent_done, er->tok_done,
                rate, eta, final ? "\n" : "");
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
 * {done, tokens, sentences, want} reports shard `done` finished (done >= 0: journalled now)
 * and/or asks for the next shard (want: answered with a shard id or -1 for "no more").  A
 * worker asks for its next shard before it runs the current one, so it never waits for rank 0
 * to finish a batch; it is finished when it was told "no more" and has reported all it got.
 */
static void serve(struct embed_run *er, int block) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (block) {
            if (MPI_Probe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &st) != MPI_SUCCESS) {
                elmo_error(ELMO_ERR_MPI, "MPI_Probe failed");
                elmo_die(ELMO_ERR_MPI);
            }
            flag = 1;
        } else {
            /* after a long batch without MPI calls, Open MPI's first probe only progresses the
               transport and may miss a message that has arrived; a few more probes see it */
            for (int tries = 0; tries < 4 && !flag; tries++)
                if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &flag, &st) !=
                    MPI_SUCCESS) {
                    elmo_error(ELMO_ERR_MPI, "MPI_Iprobe failed");
                    elmo_die(ELMO_ERR_MPI);
                }
        }
        if (!flag) return;
        int src = st.MPI_SOURCE;
        int64_t msg[4];
        if (MPI_Recv(msg, 4, MPI_INT64_T, src, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            elmo_error(ELMO_ERR_MPI, "MPI_Recv failed");
            elmo_die(ELMO_ERR_MPI);
        }
        if (msg[0] >= 0) {
            int rc = journal_done(er, msg[0]);
            if (rc < 0) elmo_die(rc);
            er->pending[src]--;
            er->tok_done += msg[1];
            er->sent_done += msg[2];
        }
        if (msg[3]) {
            int64_t give = next_shard(er);
            if (MPI_Send(&give, 1, MPI_INT64_T, src, TAG_ASSIGN, MPI_COMM_WORLD) != MPI_SUCCESS) {
                elmo_error(ELMO_ERR_MPI, "MPI_Send failed");
                elmo_die(ELMO_ERR_MPI);
            }
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

static void on_batch_rank0(void *arg, int64_t sentences, int64_t tokens) {
    struct embed_run *er = arg;
    er->tok_done += tokens;
    er->sent_done += sentences;
    if (interrupted) {
        elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d; the journal %s is consistent: "
                   "rerun the same job to resume", (int)interrupted, er->journal);
        elmo_die(ELMO_ERR_INTERRUPTED);
    }
    if (er->size > 1) serve(er, 0);
    progress(er, 0);
}

static void on_batch_worker(void *arg, int64_t sentences, int64_t tokens) {
    struct embed_run *er = arg;
    if (interrupted) {
        elmo_error(ELMO_ERR_INTERRUPTED,
                   "interrupted by signal %d; the journal %s is consistent: "
                   "rerun the same job to resume",
                   (int)interrupted, er->journal);
        elmo_die(ELMO_ERR_INTERRUPTED);
    }
}

static int run_shard(struct embed_run *er, int64_t id) {
    char pp[ELMO_PATH_MAX + 64], rp[ELMO_PATH_MAX + 64];
    part_path(er, id, pp, sizeof pp, "part");
    part_path(er, id, rp, sizeof rp, "rej");
    int64_t tok = er->ctx.tokens_done, sent = er->ctx.sentences_done;
    double t = now();
    int rc = elmo_embed_shard(&er->ctx, er->input, &er->plan.sh[id], pp, rp);
    if (rc < 0) elmo_die(rc);  /* one rank's failure stops every rank */
    t = now() - t;
    tok = er->ctx.tokens_done - tok;
    elmo_rank_log("shard %" PRId64 " done: %" PRId64 " non-empty sentences, %" PRId64
                  " tokens, %.2f s, %.0f tokens/s",
                  id, er->ctx.sentences_done - sent, tok, t, t > 0 ? (double)tok / t : 0.0);
    return 0;
}

/* Worker: one message to rank 0 (see serve). */
static void tell_rank0(const struct embed_run *er, int64_t done, int64_t tok, int64_t sent,
                       int want) {
    int64_t msg[4] = {done, tok, sent, want};
    if (MPI_Send(msg, 4, MPI_INT64_T, 0, TAG_REQ, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "rank %d: MPI_Send to rank 0 failed", er->rank);
        elmo_die(ELMO_ERR_MPI);
    }
}

static void work(struct embed_run *er) {
    if (er->rank == 0) {
        er->active_workers = er->size - 1;
        er->pending = elmo_xcalloc((size_t)er->size, sizeof *er->pending);
        er->ended = elmo_xcalloc((size_t)er->size, 1);
        /* every worker's first shard is sent unasked, so that no one waits for a batch here */
        for (int r = 1; r < er->size; r++) {
            int64_t first = next_shard(er);
            if (MPI_Send(&first, 1, MPI_INT64_T, r, TAG_ASSIGN, MPI_COMM_WORLD) != MPI_SUCCESS) {
                elmo_error(ELMO_ERR_MPI, "MPI_Send of a first shard failed");
                elmo_die(ELMO_ERR_MPI);
            }
            if (first >= 0) er->pending[r]++;
            else {
                er->ended[r] = 2;
                er->active_workers--;
            }
        }
        int64_t id;
        while ((id = next_shard(er)) >= 0) {
            run_shard(er, id);
            int rc = journal_done(er, id);
            if (rc < 0) elmo_die(rc);
            progress(er, 0);
        }
        while (er->active_workers > 0) serve(er, 1);
        progress(er, 1);
        free(er->pending);
        free(er->ended);
        er->pending = NULL;
        er->ended = NULL;
    } else {
        /* the first shard comes unasked; then always one is asked for ahead of the one running */
        int64_t cur, next = -1;
        if (MPI_Recv(&cur, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            elmo_error(ELMO_ERR_MPI, "rank %d: MPI_Recv from rank 0 failed", er->rank);
            elmo_die(ELMO_ERR_MPI);
        }
        while (cur >= 0) {
            MPI_Request req;
            tell_rank0(er, -1, 0, 0, 1);
            if (MPI_Irecv(&next, 1, MPI_INT64_T, 0, TAG_ASSIGN, MPI_COMM_WORLD, &req) !=
                MPI_SUCCESS) {
                elmo_error(ELMO_ERR_MPI, "rank %d: MPI_Irecv from rank 0 failed", er->rank);
                elmo_die(ELMO_ERR_MPI);
            }
            int64_t t = er->ctx.tokens_done, s = er->ctx.sentences_done;
            run_shard(er, cur);
            tell_rank0(er, cur, er->ctx.tokens_done - t, er->ctx.sentences_done - s, 0);
            if (MPI_Wait(&req, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                elmo_error(ELMO_ERR_MPI, "rank %d: MPI_Wait for rank 0 failed", er->rank);
                elmo_die(ELMO_ERR_MPI);
            }
            cur = next;
        }
    }
}

/*
 * Collective: every rank learns whether any rank got SIGINT/SIGTERM/SIGUSR1; if so, rank 0
 * stops the job (exit 3).  The store is not complete, the parts and the journal stay, and a
 * rerun merges again.  Used between merge rounds, where a signal would otherwise wait.
 */
static void merge_check_interrupt(const struct embed_run *er) {
    int mine = interrupted, any = 0;
    if (MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "MPI_Allreduce failed in the merge");
        elmo_die(ELMO_ERR_MPI);
    }
    if (any && er->rank == 0) {
        elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d during the merge; the journal "
                   "%s is consistent: rerun the same job to resume", any, er->journal);
        elmo_die(ELMO_ERR_INTERRUPTED);
    }
    if (any) MPI_Barrier(MPI_COMM_WORLD);  /* rank 0's MPI_Abort ends this rank */
}

/* ---- the merge ------------------------------------------------------------------------ */

struct merge {
    struct embed_run *er;
    struct elmo_part_header *hdr;  /* (n) every part's header */
    int64_t *rec0;                 /* (n + 1) stateless: first global record of each part */
    int64_t n_rec;
    struct elmo_part *open;        /* (n) lazily opened parts */
};

static int part_of(struct merge *mg, int64_t g, int64_t *local) {
    const struct plan *p = &mg->er->plan;
    if (mg->er->job->streams > 0) {
        /* record g is in stream s = g % S, group s / G; groups keep their records in order */
        int64_t S = mg->er->job->streams, G = ELMO_STREAM_GROUP, s = g % S, gi = s / G;
        int64_t size = S - gi * G < G ? S - gi * G : G;
        *local = (g / S) * size + (s - gi * G);
        return (int)gi;
    }
    int64_t lo = 0, hi = p->n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (mg->rec0[mid] <= g) lo = mid;
        else hi = mid - 1;
    }
    *local = g - mg->rec0[lo];
    return (int)lo;
}

static int get_part(struct merge *mg, int i, struct elmo_part **out) {
    if (mg->open[i].fd <= 0) {
        char pp[ELMO_PATH_MAX + 64];
        part_path(mg->er, i, pp, sizeof pp, "part");
        ELMO_TRY(elmo_part_open(&mg->open[i], pp));
    }
    *out = &mg->open[i];
    return 0;
}

/* Totals of records [a, b): entries, tokens, bytes. */
struct span { int64_t ent, tok, id, text, tokb; };

static int span_of(struct merge *mg, int64_t a, int64_t b, struct span *s) {
    memset(s, 0, sizeof *s);
    for (int64_t g = a; g < b; g++) {
        int64_t r;
        int i = part_of(mg, g, &r);
        struct elmo_part *p;
        ELMO_TRY(get_part(mg, i, &p));
        for (int64_t e = p->rec_ent[r]; e < p->rec_ent[r + 1]; e++) {
            s->ent++;
            s->tok += p->ent_tok[e + 1] - p->ent_tok[e];
            s->id += p->ent_id[e + 1] - p->ent_id[e];
            s->text += p->ent_text[e + 1] - p->ent_text[e];
            s->tokb += p->tok_text[p->ent_tok[e + 1]] - p->tok_text[p->ent_tok[e]];
        }
        if (mg->er->job->streams == 0 && r + 1 == p->h.n_rec) elmo_part_close(p);
    }
    return 0;
}

#define CHUNK_TOKENS 4096
#define CHUNK_RECORDS 4096

struct chunk {
    int64_t n_ent, n_tok;
    int64_t *s_off, *s_line, *s_id, *s_text, *t_off;   /* global offsets */
    uint8_t *id, *text, *tokb;
    int64_t n_id, n_text, n_tokb;
    float *rows[8];
    int64_t cap_ent, cap_tok, cap_id, cap_text, cap_tokb;
};

static void grow(void **p, int64_t *cap, int64_t need, size_t el) {
    if (need <= *cap) return;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    *p = elmo_xrealloc(*p, (size_t)c * el);
    *cap = c;
}

static int write_chunk(struct merge *mg, struct elmo_store *st, const struct chunk *c,
                       const struct span *at) {
    const struct elmo_job *j = mg->er->job;
    ELMO_TRY(elmo_store_write_i64(st, "sentences/offset", at->ent, c->n_ent, c->s_off));
    ELMO_TRY(elmo_store_write_i64(st, "sentences/line", at->ent, c->n_ent, c->s_line));
    ELMO_TRY(elmo_store_write_i64(st, "sentences/id_offset", at->ent, c->n_ent, c->s_id));
    ELMO_TRY(elmo_store_write_i64(st, "sentences/text_offset", at->ent, c->n_ent, c->s_text));
    ELMO_TRY(elmo_store_write_u8(st, "sentences/id_blob", at->id, c->n_id, c->id));
    ELMO_TRY(elmo_store_write_u8(st, "sentences/text_blob", at->text, c->n_text, c->text));
    ELMO_TRY(elmo_store_write_i64(st, "tokens/text_offset", at->tok, c->n_tok, c->t_off));
    ELMO_TRY(elmo_store_write_u8(st, "tokens/text_blob", at->tokb, c->n_tokb, c->tokb));
    for (unsigned k = 0; k < 8; k++) {
        if (!(j->outputs & (1u << k))) continue;
        char name[64];
        snprintf(name, sizeof name, "embeddings/%s", elmo_output_names[k]);
        int is_def = (1u << k) == ELMO_OUT_DEFAULT;
        ELMO_TRY(elmo_store_write_f32(st, name, is_def ? at->ent : at->tok,
                                      is_def ? c->n_ent : c->n_tok, c->rows[k]));
    }
    return 0;
}

static int merge_run(struct merge *mg, struct elmo_store *st, int64_t ra, int64_t rb,
                     const struct span *start, const struct span *tot) {
    struct embed_run *er = mg->er;
    const int P = er->model.opt.P;
    struct chunk c;
    memset(&c, 0, sizeof c);
    int64_t caps[8] = {0};
    int rc = 0;
    /* rounds: every rank makes the same number of collective calls */
    int64_t my_rounds = 0;
    {
        int64_t tok = 0, recs = 0;
        for (int64_t g = ra; g < rb; g++) {
            int64_t r;
            int i = part_of(mg, g, &r);
            struct elmo_part *p;
            ELMO_CALL(get_part(mg, i, &p));
            int64_t t = p->ent_tok[p->rec_ent[r + 1]] - p->ent_tok[p->rec_ent[r]];
            if (recs > 0 && (tok + t > CHUNK_TOKENS || recs >= CHUNK_RECORDS)) {
                my_rounds++;
                tok = 0;
                recs = 0;
            }
            tok += t;
            recs++;
            if (er->job->streams == 0 && r + 1 == p->h.n_rec) elmo_part_close(p);
        }
        if (recs > 0) my_rounds++;
    }
    int64_t rounds = 0;
    if (MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Allreduce failed in the merge");
    struct span at = *start;
    int64_t g = ra;
    for (int64_t round = 0; round < rounds; round++) {
        merge_check_interrupt(er);
        c.n_ent = c.n_tok = c.n_id = c.n_text = c.n_tokb = 0;
        int64_t tok = 0, recs = 0;
        while (g < rb) {
            int64_t r;
            int i = part_of(mg, g, &r);
            struct elmo_part *p;
            ELMO_CALL(get_part(mg, i, &p));
            int64_t e0 = p->rec_ent[r], e1 = p->rec_ent[r + 1];
            int64_t t = p->ent_tok[e1] - p->ent_tok[e0];
            if (recs > 0 && (tok + t > CHUNK_TOKENS || recs >= CHUNK_RECORDS)) break;
            for (int64_t e = e0; e < e1; e++) {
                int64_t nt = p->ent_tok[e + 1] - p->ent_tok[e];
                grow((void **)&c.s_off, &c.cap_ent, c.n_ent + 1, 8);
                int64_t ce = c.cap_ent;
                c.cap_ent = 0;
                grow((void **)&c.s_line, &c.cap_ent, ce, 8);
                c.cap_ent = 0;
                grow((void **)&c.s_id, &c.cap_ent, ce, 8);
                c.cap_ent = 0;
                grow((void **)&c.s_text, &c.cap_ent, ce, 8);
                c.s_off[c.n_ent] = at.tok + c.n_tok;
                c.s_line[c.n_ent] = p->ent_line[e];
                c.s_id[c.n_ent] = at.id + c.n_id;
                c.s_text[c.n_ent] = at.text + c.n_text;
                int64_t il = p->ent_id[e + 1] - p->ent_id[e];
                grow((void **)&c.id, &c.cap_id, c.n_id + il, 1);
                memcpy(c.id + c.n_id, p->id_blob + p->ent_id[e], (size_t)il);
                c.n_id += il;
                int64_t tl = p->ent_text[e + 1] - p->ent_text[e];
                grow((void **)&c.text, &c.cap_text, c.n_text + tl, 1);
                memcpy(c.text + c.n_text, p->text_blob + p->ent_text[e], (size_t)tl);
                c.n_text += tl;
                int64_t t0 = p->ent_tok[e];
                grow((void **)&c.t_off, &c.cap_tok, c.n_tok + nt, 8);
                for (int64_t x = 0; x < nt; x++)
                    c.t_off[c.n_tok + x] = at.tokb + c.n_tokb + (p->tok_text[t0 + x] - p->tok_text[t0]);
                int64_t bl = p->tok_text[t0 + nt] - p->tok_text[t0];
                grow((void **)&c.tokb, &c.cap_tokb, c.n_tokb + bl, 1);
                memcpy(c.tokb + c.n_tokb, p->tok_blob + p->tok_text[t0], (size_t)bl);
                c.n_tokb += bl;
                for (unsigned k = 0; k < 8; k++) {
                    if (!(er->job->outputs & (1u << k))) continue;
                    int64_t w = elmo_part_width(k, P);
                    int is_def = (1u << k) == ELMO_OUT_DEFAULT;
                    int64_t have = is_def ? c.n_ent : c.n_tok, add = is_def ? 1 : nt;
                    grow((void **)&c.rows[k], &caps[k], (have + add) * w, sizeof(float));
                    ELMO_CALL(elmo_part_read_rows(p, k, is_def ? e : t0, add,
                                                  c.rows[k] + have * w));
                }
                c.n_ent++;
                c.n_tok += nt;
            }
            tok += t;
            recs++;
            g++;
            if (er->job->streams == 0 && r + 1 == p->h.n_rec) elmo_part_close(p);
        }
        ELMO_CALL(write_chunk(mg, st, &c, &at));
        at.ent += c.n_ent;
        at.tok += c.n_tok;
        at.id += c.n_id;
        at.text += c.n_text;
        at.tokb += c.n_tokb;
    }
    /* the closing element of each offsets array, by rank 0 */
    {
        int me = er->rank == 0;
        int64_t v;
        v = tot->tok;
        ELMO_CALL(elmo_store_write_i64(st, "sentences/offset", tot->ent, me, &v));
        v = tot->id;
        ELMO_CALL(elmo_store_write_i64(st, "sentences/id_offset", tot->ent, me, &v));
        v = tot->text;
        ELMO_CALL(elmo_store_write_i64(st, "sentences/text_offset", tot->ent, me, &v));
        v = tot->tokb;
        ELMO_CALL(elmo_store_write_i64(st, "tokens/text_offset", tot->tok, me, &v));
    }
cleanup:
    free(c.s_off); free(c.s_line); free(c.s_id); free(c.s_text); free(c.t_off);
    free(c.id); free(c.text); free(c.tokb);
    for (int k = 0; k < 8; k++) free(c.rows[k]);
    return rc;
}

/* Counts over all parts, for the summary and the reconciliation. */
struct totals { int64_t rec, ent, tok, reject, empty, split, truncated, cut, hits, lookups; };

static int merge(struct embed_run *er, struct totals *tt) {
    struct merge mg;
    struct elmo_store *st = NULL;
    int rc = 0;
    memset(&mg, 0, sizeof mg);
    mg.er = er;
    int64_t n = er->plan.n;
    mg.hdr = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *mg.hdr);
    mg.open = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *mg.open);
    mg.rec0 = elmo_xcalloc((size_t)n + 1, sizeof *mg.rec0);
    /* rank 0 reads the headers, everyone gets them */
    int lrc = 0;
    if (er->rank == 0) {
        for (int64_t i = 0; i < n && lrc == 0; i++) {
            lrc = get_part(&mg, (int)i, &(struct elmo_part *){0});
            if (lrc == 0) {
                mg.hdr[i] = mg.open[i].h;
                elmo_part_close(&mg.open[i]);
            }
        }
    }
    ELMO_CALL(elmo_agree(lrc));
    if (MPI_Bcast(mg.hdr, (int)(n * (int64_t)sizeof *mg.hdr), MPI_BYTE, 0, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast of part headers failed");
    memset(tt, 0, sizeof *tt);
    struct span tot;
    memset(&tot, 0, sizeof tot);
    for (int64_t i = 0; i < n; i++) {
        const struct elmo_part_header *h = &mg.hdr[i];
        mg.rec0[i + 1] = mg.rec0[i] + h->n_rec;
        tt->rec += h->n_rec;
        tt->ent += h->n_ent;
        tt->tok += h->n_tok;
        tt->reject += h->n_reject;
        tt->empty += h->n_empty;
        tt->split += h->n_split;
        tt->truncated += h->n_truncated;
        tt->cut += h->n_cut_tokens;
        tt->hits += h->cache_hits;
        tt->lookups += h->cache_lookups;
        tot.ent += h->n_ent;
        tot.tok += h->n_tok;
        tot.id += h->id_bytes;
        tot.text += h->text_bytes;
        tot.tokb += h->tok_bytes;
    }
    mg.n_rec = tt->rec;
    /* this rank's records and where they start */
    int64_t ra = mg.n_rec * er->rank / er->size, rb = mg.n_rec * (er->rank + 1) / er->size;
    struct span mine, start;
    lrc = span_of(&mg, ra, rb, &mine);
    ELMO_CALL(elmo_agree(lrc));
    memset(&start, 0, sizeof start);
    if (MPI_Exscan(&mine, &start, 5, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Exscan failed in the merge");
    if (er->rank == 0) memset(&start, 0, sizeof start);

    struct elmo_store_layout lay = {
        .n_sent = tot.ent, .n_tok = tot.tok, .id_bytes = tot.id, .sent_text_bytes = tot.text,
        .tok_text_bytes = tot.tokb, .outputs = er->job->outputs, .P = er->model.opt.P,
        .precision = er->job->precision, .compress = er->job->compress};
    char regime[32];
    if (er->job->streams > 0) snprintf(regime, sizeof regime, "streams=%d", er->job->streams);
    else snprintf(regime, sizeof regime, "stateless");
    char *yaml = elmo_job_to_yaml(er->job);
    struct elmo_store_attrs attrs = {
        .options_json = er->options_text, .weights_sha256 = er->sha, .regime = regime,
        .job_yaml = yaml ? yaml : "", .elmo_weights = er->job->mix_weights,
        .n_elmo_weights = er->job->n_mix_weights, .elmo_gamma = er->job->gamma,
        .elmo_layer_norm = er->job->layer_norm};
    merge_check_interrupt(er);
    rc = elmo_store_create(&st, er->job->output, MPI_COMM_WORLD, &lay, &attrs);
    free(yaml);
    ELMO_CALL(elmo_agree(rc));
    lrc = merge_run(&mg, st, ra, rb, &start, &tot);
    /* After a failed collective write (EFBIG, ENOSPC) the ranks hang in a collective H5Fclose:
       stop them all instead, as run_shard does; the parts and the journal stay for a rerun. */
    if (lrc < 0) elmo_die(lrc);
    ELMO_CALL(elmo_agree(lrc));
    rc = elmo_store_finish(st);
    st = NULL;
    if (rc < 0) elmo_die(rc);
    ELMO_CALL(elmo_agree(rc));
cleanup:
    if (st) elmo_store_close(st);
    for (int64_t i = 0; i < n; i++) elmo_part_close(&mg.open[i]);
    free(mg.hdr);
    free(mg.open);
    free(mg.rec0);
    return rc;
}

/* ---- rejects, summary, clean-up (rank 0) ---------------------------------------------- */

static int cmp_line(const void *a, const void *b) {
    long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);
    return x < y ? -1 : x > y;
}

static int write_rejects(struct embed_run *er, const char *path, int64_t expect) {
    char **lines = NULL;
    int64_t n = 0, cap = 0;
    int rc = 0;
    for (int64_t i = 0; i < er->plan.n; i++) {
        char rp[ELMO_PATH_MAX + 64];
        part_path(er, i, rp, sizeof rp, "rej");
        char *t = slurp(rp);
        if (!t) return elmo_error_prefix(ELMO_ERR_IO, "collecting rejects: ");
        for (char *s = t, *e; *s; s = e + 1) {
            e = strchr(s, '\n');
            if (!e) break;
            *e = '\0';
            if (n == cap) lines = elmo_xrealloc(lines, sizeof *lines * (size_t)(cap = cap ? 2 * cap : 64));
            lines[n++] = elmo_xstrdup(s);
        }
        free(t);
    }
    if (n != expect)
        rc = elmo_error(ELMO_ERR_STATE, "reject files hold %lld lines, the parts count %lld",
                        (long long)n, (long long)expect);
    if (n > 0) qsort(lines, (size_t)n, sizeof *lines, cmp_line);
    if (rc == 0 && n > 0) {
        FILE *f = fopen(path, "w");
        if (!f) rc = elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
        else {
            fprintf(f, "# input\tline\treason\n");
            for (int64_t i = 0; i < n; i++) fprintf(f, "%s\t%s\n", er->job->input, lines[i]);
            if (fclose(f) != 0) rc = elmo_error(ELMO_ERR_IO, "%s: write failed", path);
        }
    } else if (rc == 0) {
        unlink(path);
    }
    for (int64_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return rc;
}

static void remove_staging(struct embed_run *er) {
    for (int64_t i = 0; i < er->plan.n; i++) {
        char pp[ELMO_PATH_MAX + 64];
        part_path(er, i, pp, sizeof pp, "part");
        unlink(pp);
        part_path(er, i, pp, sizeof pp, "rej");
        unlink(pp);
    }
    char sp[ELMO_PATH_MAX + 64];
    snprintf(sp, sizeof sp, "%s/input.spool", er->parts);
    unlink(sp);
    snprintf(sp, sizeof sp, "%s/input.spool.tmp", er->parts);
    unlink(sp);
    rmdir(er->parts);
    unlink(er->journal);
}

/* Copies a stream (gzip or stdin) into a plain spool file so that it can be sharded. */
static int spool_input(struct embed_run *er) {
    snprintf(er->input, sizeof er->input, "%s/input.spool", er->parts);
    struct stat st;
    if (strcmp(er->job->input, "-") != 0 && stat(er->input, &st) == 0) return 0; /* resumed */
    char tmp[ELMO_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp", er->input);
    int rc = 0;
    gzFile in = strcmp(er->job->input, "-") == 0 ? gzdopen(dup(0), "rb")
                                                 : gzopen(er->job->input, "rb");
    FILE *out = fopen(tmp, "wb");
    char *buf = elmo_xmalloc(1 << 20);
    if (!in) ELMO_FAIL(ELMO_ERR_IO, "%s: cannot open: %s", er->job->input, strerror(errno));
    if (!out) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    for (;;) {
        int n = gzread(in, buf, 1 << 20);
        if (n < 0) {
            int errnum = 0;
            const char *msg = gzerror(in, &errnum);
            ELMO_FAIL(ELMO_ERR_IO, "%s: read failed: %s", er->job->input, msg);
        }
        if (n == 0) {
            int errnum = Z_OK;  /* a truncated gzip stream ends with Z_BUF_ERROR, not n < 0 */
            const char *msg = gzerror(in, &errnum);
            if (errnum != Z_OK)
                ELMO_FAIL(ELMO_ERR_IO, "%s: read failed: %s", er->job->input,
                          errnum == Z_BUF_ERROR ? "unexpected end of file (truncated?)" : msg);
            break;
        }
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
            ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(out) != 0) {
        out = NULL;
        ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    out = NULL;
    if (rename(tmp, er->input) != 0)
        ELMO_FAIL(ELMO_ERR_IO, "%s: rename failed: %s", er->input, strerror(errno));
cleanup:
    if (in) gzclose(in);
    if (out) fclose(out);
    if (rc < 0) unlink(tmp);
    free(buf);
    return rc;
}

/* ---- the job -------------------------------------------------------------------------- */

static int64_t peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (int64_t)ru.ru_maxrss;
}

int elmo_embed_run(struct elmo_job *job) {
    struct embed_run er;
    int rc = 0, lrc = 0;
    memset(&er, 0, sizeof er);
    er.job = job;
    er.rank = elmo_rank();
    er.size = elmo_size();
    er.t0 = now();
    er.tty = isatty(2);
    signal(SIGXFSZ, SIG_IGN);  /* a file size limit gives EFBIG, reported, not a kill */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    elmo_blas_set_threads(job->threads);
    snprintf(er.journal, sizeof er.journal, "%s.journal", job->output);
    snprintf(er.parts, sizeof er.parts, "%s.parts", job->output);
    snprintf(er.input, sizeof er.input, "%s", job->input);

    /* 1. the rank's log, model and context on every rank */
    lrc = elmo_rank_log_open(job->output);
    elmo_rank_log("embed %s -> %s, model %s + %s, %d rank%s x %d thread%s", job->input, job->output,
                  job->options, job->weights, er.size, er.size > 1 ? "s" : "", job->threads,
                  job->threads > 1 ? "s" : "");
    if (lrc == 0) lrc = elmo_model_load(job->options, job->weights, &er.model);
    if (lrc == 0) lrc = elmo_embed_ctx_init(&er.ctx, job, &er.model);
    ELMO_CALL(elmo_agree(lrc));
    er.ctx.on_batch = er.rank == 0 ? on_batch_rank0 : on_batch_worker;
    er.ctx.cb_arg = &er;

    /* 2. rank 0: identity, plan, journal */
    int64_t hdr[2] = {0, 0};
    if (er.rank == 0) {
        int resumed = 0;
        int made_parts = 0;
        struct stat st;
        /* (the directories of output and reject_file were checked with the job) */
        if (lrc == 0) {
            er.options_text = slurp(job->options);
            if (!er.options_text) lrc = ELMO_ERR_IO;
        }
        if (lrc == 0) lrc = elmo_file_sha256(job->weights, er.sha);
        if (lrc == 0 && strcmp(job->input, "-") != 0 && access(job->input, R_OK) != 0)
            lrc = elmo_error(ELMO_ERR_IO, "%s: %s", job->input, strerror(errno));
        if (lrc == 0 && strcmp(job->input, "-") != 0 && stat(job->input, &st) == 0 &&
            S_ISDIR(st.st_mode)) /* before anything is staged */
            lrc = elmo_error(ELMO_ERR_IO, "%s: %s", job->input, strerror(EISDIR));
        if (lrc == 0) {
            er.fingerprint = make_fingerprint(&er);
            lrc = journal_resume(&er, &resumed);
        }
        if (lrc == 0 && !resumed) {
            remove_staging(&er);
            if (mkdir(er.parts, 0755) != 0 && errno != EEXIST)
                lrc = elmo_error(ELMO_ERR_IO, "%s: %s", er.parts, strerror(errno));
            made_parts = lrc == 0;
        }
        if (lrc == 0 && elmo_corpus_is_stream(job->input)) lrc = spool_input(&er);
        if (lrc == 0 && !resumed) {
            lrc = plan_shards(&er);
            if (lrc == 0) {
                er.plan.done = elmo_xcalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1), 1);
                lrc = journal_start(&er);
            }
        } else if (lrc == 0) {
            er.jf = fopen(er.journal, "a");
            if (!er.jf) lrc = elmo_error(ELMO_ERR_IO, "%s: %s", er.journal, strerror(errno));
            for (int64_t i = 0; i < er.plan.n; i++) er.shards_skipped += er.plan.done[i];
            if (lrc == 0) {
                fprintf(stderr, "embed: resuming from %s: %" PRId64 " of %" PRId64
                        " shards already done\n", er.journal, er.shards_skipped, er.plan.n);
                elmo_rank_log("resuming from %s: %" PRId64 " of %" PRId64 " shards already done",
                              er.journal, er.shards_skipped, er.plan.n);
            }
        }
        /* an old store must not look complete while this run is in flight */
        if (lrc == 0) unlink(job->output);
        /* a fresh run that fails before its first shard leaves nothing staged behind */
        if (lrc < 0 && made_parts) {
            if (er.jf) fclose(er.jf);
            er.jf = NULL;
            remove_staging(&er);
        }
        hdr[0] = er.plan.n;
        hdr[1] = (int64_t)strlen(er.input);
    }
    ELMO_CALL(elmo_agree(lrc));
    if (MPI_Bcast(hdr, 2, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Bcast(er.input, sizeof er.input, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast of the plan failed");
    if (er.rank != 0) {
        er.plan.n = hdr[0];
        er.plan.sh = elmo_xcalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1), sizeof *er.plan.sh);
        er.plan.done = elmo_xcalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1), 1);
    }
    if (MPI_Bcast(er.plan.sh, (int)(er.plan.n * (int64_t)sizeof *er.plan.sh), MPI_BYTE, 0,
                  MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast of the plan failed");

    /* 3. work */
    double t_work = now();
    work(&er);
    t_work = now() - t_work;
    if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) ELMO_FAIL(ELMO_ERR_MPI, "MPI_Barrier failed");
    if (MPI_Bcast(&er.plan.n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast failed");

    /* 4. merge */
    if (er.rank == 0 && er.options_text == NULL) er.options_text = elmo_xstrdup("");
    if (er.rank != 0) {
        er.options_text = slurp(job->options);
        if (!er.options_text) er.options_text = elmo_xstrdup("");
    }
    if (MPI_Bcast(er.sha, sizeof er.sha, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast failed");
    double t_merge = now();
    struct totals tt;
    ELMO_CALL(merge(&er, &tt));
    t_merge = now() - t_merge;

    /* 5. rejects, summary, clean-up */
    int64_t rss = peak_rss_kb(), rss_max = 0, rss_min = 0;
    MPI_Reduce(&rss, &rss_max, 1, MPI_INT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&rss, &rss_min, 1, MPI_INT64_T, MPI_MIN, 0, MPI_COMM_WORLD);
    /* where the time went, summed over ranks: reading, writing parts, the rest of the work */
    double tm[3] = {er.ctx.t_read, er.ctx.t_write, t_work}, tsum[3] = {0, 0, 0};
    MPI_Reduce(tm, tsum, 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (er.rank == 0) {
        char rej[ELMO_PATH_MAX + 32];
        if (job->reject_file[0]) snprintf(rej, sizeof rej, "%s", job->reject_file);
        else snprintf(rej, sizeof rej, "%s.rejects.tsv", job->output);
        lrc = write_rejects(&er, rej, tt.reject);
        if (lrc == 0) {
            if (er.jf) fclose(er.jf);
            er.jf = NULL;
            remove_staging(&er);
        }
        double wall = now() - er.t0;
        int64_t written = tt.rec - tt.reject;
        fprintf(stderr,
                "embed: done in %.1f s (merge %.1f s): %" PRId64 " records read = %" PRId64
                " written + %" PRId64 " rejected%s%s\n"
                "embed: %" PRId64 " sentences (%" PRId64 " empty, %" PRId64 " split, %" PRId64
                " truncated by %" PRId64 " tokens), %" PRId64 " tokens, %.0f tokens/s over the job"
                " on %d rank%s\n"
                "embed: token cache hit rate %.1f%% (%" PRId64 " of %" PRId64 " lookups); peak"
                " RSS per rank %.0f-%.0f MiB\n",
                wall, t_merge, tt.rec, written, tt.reject, tt.reject ? ", see " : "",
                tt.reject ? rej : "", tt.ent, tt.empty, tt.split, tt.truncated, tt.cut, tt.tok,
                wall > 0 ? (double)tt.tok / wall : 0.0, er.size, er.size > 1 ? "s" : "",
                tt.lookups ? 100.0 * (double)tt.hits / (double)tt.lookups : 0.0, tt.hits,
                tt.lookups, (double)rss_min / 1024.0, (double)rss_max / 1024.0);
        double io = tsum[0] + tsum[1], all = tsum[2] > 0 ? tsum[2] : 1;
        fprintf(stderr,
                "embed: work %.1f s per rank: reading input %.1f%%, writing parts %.1f%%, forward"
                " and queue %.1f%%; then the merge %.1f s\n",
                tsum[2] / er.size, 100 * tsum[0] / all, 100 * tsum[1] / all,
                100 * (tsum[2] - io) / all, t_merge);
        fprintf(stderr, "embed: wrote %s (complete)\n", job->output);
        elmo_rank_log("wrote %s (complete): %" PRId64 " records = %" PRId64 " written + %" PRId64
                      " rejected, %" PRId64 " tokens, %.1f s",
                      job->output, tt.rec, written, tt.reject, tt.tok, wall);
    }
    ELMO_CALL(elmo_agree(lrc));
    elmo_rank_log("done: %" PRId64 " tokens on this rank (reading %.1f s, part writes %.1f s, "
                  "work %.1f s, merge %.1f s)",
                  er.ctx.tokens_done, er.ctx.t_read, er.ctx.t_write, t_work, t_merge);
cleanup:
    if (er.jf) fclose(er.jf);
    elmo_embed_ctx_free(&er.ctx);
    elmo_model_free(&er.model);
    free(er.plan.sh);
    free(er.plan.done);
    free(er.options_text);
    free(er.fingerprint);
    return rc;
}
