/*
 * cmd_embed.c: the embed job as a list of steps, and the checks before anything is written.
 * Collective.  The steps' pieces are in embed_plan.c, embed_journal.c, embed_queue.c and
 * embed_merge.c (embed_job.h).
 *
 *   0. before anything is written: the job's own rules (slice, stdin used once), then rank 0
 *      checks every file the job writes against every file it reads by device and inode
 *      (io/outfile.h: the store, STORE.partial, STORE.lock, STORE.journal, STORE.parts/,
 *      STORE.logs/, the reject file) and takes the lock on STORE.lock for the whole run;
 *   1. every rank loads the model; rank 0 fingerprints the input (size + sha256 of the bytes
 *      the shards read), stops at once when STORE is already a complete store of this job and
 *      input, refuses any other existing STORE unless `overwrite`, checks the journal, plans
 *      shards (byte ranges on record boundaries, or stream groups) and broadcasts the plan;
 *      a resume verifies every journalled part (size and checksum) before it trusts it;
 *   2. work: rank 0 hands out shards on demand (up to 16 ranks it works too, serving requests
 *      between its batches); a finished shard is a part file (checksummed, fsynced, renamed)
 *      and a journal line with its size and checksum;
 *   3. checks: the input still has its fingerprint, every part its checksum; rank 0 writes the
 *      reject file (only when something was rejected) and fails above max_reject_fraction;
 *   4. merge: every rank takes a contiguous range of records, reads their rows from the parts
 *      and writes them into STORE.partial collectively; it is marked complete last, renamed
 *      over STORE, then the parts and the journal are removed.
 * A crash at any point leaves the journal and the finished parts, and the previous STORE as it
 * was; rerunning the same job skips the verified parts.
 *
 * With direct writes (the default; embed_direct.c) a counting pass after step 1 places every
 * shard's rows, rank 0 creates STORE.partial before the work (or reopens it on a resume, the
 * journalled shards' rows verified), a finished shard is its rows pwritten into STORE.partial
 * and a journal line with their checksum, and step 4 only completes and renames the store.
 * Compressed stores and the streams regime keep the part files and the merge (two-pass).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "driver/node_model.h"
#include "driver/spare_cores.h"
#include "io/files.h"
#include "io/rank_log.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"

/* ---- small helpers shared by the embed job's files (embed_job.h) ------------------------ */

const char *elmo__embed_input_name(const struct elmo_job *j) {
    return strchr(j->input, '\n') ? "the inputs" : strcmp(j->input, "-") ? j->input : "stdin";
}

void elmo__embed_part_path(const struct embed_run *er, int64_t id, char *out, size_t n,
                           const char *ext) {
    snprintf(out, n, "%s/shard-%06" PRId64 ".%s", er->parts, id, ext);
}

/* ---- before anything is written (rank 0) ---------------------------------------------- */

/*
 * 1 when a and b are one file (same device and inode) or, for files that may not exist yet, one
 * name: the same base name in the same directory (compared by device and inode, so that
 * `./x`, `x` and `dir/../x` agree).
 */
static int same_path(const char *a, const char *b) {
    if (!a[0] || !b[0] || !strcmp(b, "-")) return 0;
    if (elmo_same_file(a, b)) return 1;
    char *da = elmo_xstrdup(a), *db = elmo_xstrdup(b), *ba = elmo_xstrdup(a), *bb = elmo_xstrdup(b);
    struct stat sa, sb;
    int same = !strcmp(basename(ba), basename(bb)) && stat(dirname(da), &sa) == 0 &&
               stat(dirname(db), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    free(da);
    free(db);
    free(ba);
    free(bb);
    return same;
}

/*
 * Every file the job writes, checked against every file it reads by device and inode (and the
 * files it writes against each other by name): the store, STORE.partial, STORE.lock, the
 * journal, the reject file and the file written aside for it must be regular files (or not
 * exist) and none of the input, options and weights; STORE.parts/ and STORE.logs/ must be
 * directories (or not exist).  inputs[0..n_in): the model files and every input.
 */
static int check_paths_against(struct embed_run *er, const char **inputs, int n_in) {
    ELMO_TRY(elmo_out_check(&er->out, inputs, n_in));
    ELMO_TRY(elmo_check_output_path("output", er->journal, inputs, n_in));
    const char *dirs[2] = {er->parts, er->logs};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (lstat(dirs[i], &st) == 0 && !S_ISDIR(st.st_mode))
            return elmo_error(ELMO_ERR_ARG,
                              "`output`: %s exists and is not a directory; the job keeps its %s "
                              "there: move it away",
                              dirs[i], i == 0 ? "finished shards" : "per-rank logs");
        for (int k = 0; k < n_in; k++)
            if (same_path(dirs[i], inputs[k]))
                return elmo_error(ELMO_ERR_ARG, "`output`: %s is the input %s", dirs[i], inputs[k]);
    }
    ELMO_TRY(elmo_check_output_path("reject_file", er->rej.path, inputs, n_in));
    ELMO_TRY(elmo_check_output_path("reject_file", er->rej.partial, inputs, n_in));
    const char *taken[] = {er->out.path, er->out.partial, er->out.lock, er->journal, er->parts,
                           er->logs};
    for (int i = 0; i < (int)(sizeof taken / sizeof taken[0]) + n_in; i++) {
        const char *t = i < 6 ? taken[i] : inputs[i - 6];
        if (same_path(er->rej.path, t) || same_path(er->rej.partial, t))
            return elmo_error(ELMO_ERR_ARG,
                              "`reject_file` %s would be written over %s, a file this job "
                              "reads or writes; choose another reject file",
                              er->rej.path, t);
    }
    return 0;
}

/* check_paths_against the model files and every input. */
static int check_paths(struct embed_run *er) {
    const struct elmo_job *j = er->job;
    const int n_in = er->in.n + 2;
    const char **inputs = elmo_xmalloc(sizeof *inputs * (size_t)n_in);
    inputs[0] = j->options;
    inputs[1] = j->weights;
    for (int i = 0; i < er->in.n; i++) inputs[2 + i] = er->in.path[i];
    int rc = check_paths_against(er, inputs, n_in);
    free(inputs);
    return rc;
}

/* ---- the steps ------------------------------------------------------------------------ */

static void run_init(struct embed_run *er, struct elmo_job *job) {
    memset(er, 0, sizeof *er);
    er->out.lock_fd = er->rej.lock_fd = -1;
    er->direct.fd = -1;
    er->job = job;
    er->rank = elmo_rank();
    er->size = elmo_size();
    er->t0 = elmo_now();
    er->tty = isatty(2);
    elmo_blas_set_threads(job->threads);
    snprintf(er->journal, sizeof er->journal, "%s.journal", job->output);
    snprintf(er->parts, sizeof er->parts, "%s.parts", job->output);
    snprintf(er->logs, sizeof er->logs, "%s.logs", job->output);
    snprintf(er->input, sizeof er->input, "%s", job->input);
}

/*
 * 0. The job's own rules, alike on every rank; then rank 0 checks every path it will write and
 *    takes the lock.  Nothing is written before this point.
 */
static int validate(struct embed_run *er) {
    struct elmo_job *job = er->job;
    int lrc = 0;
    if (!strcmp(job->source, "<stdin>") && !strcmp(job->input, "-"))
        return elmo_error(ELMO_ERR_ARG, "<stdin>: the job was read from stdin (`elmo run -`), so "
                                        "its `input: -` cannot read stdin as well; give the "
                                        "input as a file");
    ELMO_TRY(elmo__embed_parse_slice(job, &er->slice_k, &er->slice_n));
    ELMO_TRY(elmo_out_init(&er->out, "output", job->output));
    /* a job built in code (train-ner's feature stores) may leave the reject file to default */
    if (!job->reject_file[0] &&
        snprintf(job->reject_file, sizeof job->reject_file, "%s.rejects.tsv", job->output) >=
            (int)sizeof job->reject_file)
        return elmo_error(ELMO_ERR_ARG, "`output` is too long: %s", job->output);
    ELMO_TRY(elmo_out_init(&er->rej, "reject_file", job->reject_file));
    if (er->rank == 0) {
        /* the inputs: a list, globs expanded; several, compressed or stdin are spooled */
        lrc = elmo_inputs_expand(job->input, &er->in);
        if (lrc == 0) {
            er->stream = er->in.n > 1 || elmo_corpus_is_stream(er->in.path[0]);
            er->n_files = er->in.n > 1 ? er->in.n : 0;
            lrc = check_paths(er);
        }
        if (lrc == 0) lrc = elmo_out_lock(&er->out);
    }
    return elmo_agree(lrc);
}

static int64_t process_wchar(void);

/* 1. The rank's log, model and context on every rank. */
static int load(struct embed_run *er) {
    const struct elmo_job *job = er->job;
    int lrc = elmo_rank_log_open(job->output, er->rank, er->size);
    elmo_rank_log("embed %s -> %s, model %s + %s, %d rank%s x %d thread%s", job->input, job->output,
                  job->options, job->weights, er->size, er->size > 1 ? "s" : "", job->threads,
                  job->threads > 1 ? "s" : "");
    ELMO_TRY(elmo_agree(lrc));
    const int64_t w0 = process_wchar();
    ELMO_TRY(elmo_node_model_load(job->options, job->weights, &er->model)); /* one per node */
    const int64_t w1 = process_wchar();
    er->wchar_model = w0 >= 0 && w1 >= 0 ? w1 - w0 : 0;
    double t = elmo_now();
    ELMO_TRY(elmo_agree(elmo_embed_ctx_init(&er->ctx, job, &er->model)));
    elmo_rank_log("forward workspace ready in %.2f s", elmo_now() - t);
    er->ctx.on_batch = er->rank == 0 ? elmo__embed_on_batch_rank0 : elmo__embed_on_batch_worker;
    er->ctx.cb_arg = er;
    return 0;
}

/* A resume trusts a journalled part only after checking its size and checksum. */
static int verify_journalled(struct embed_run *er) {
    uint8_t *bad = elmo_xcalloc((size_t)(er->plan.n > 0 ? er->plan.n : 1), 1);
    int first = 0;
    int lrc = elmo__embed_verify_parts(er, er->plan.done, bad, 1, &first);
    if (lrc == 0 && er->rank == 0) {
        for (int64_t i = 0; i < er->plan.n; i++) {
            if (bad[i]) er->plan.done[i] = 0;
            er->shards_skipped += er->plan.done[i];
        }
        fprintf(stderr,
                "embed: resuming from %s: %" PRId64 " of %" PRId64 " shards already done\n",
                er->journal, er->shards_skipped, er->plan.n);
        elmo_rank_log("resuming from %s: %" PRId64 " of %" PRId64 " shards already done",
                      er->journal, er->shards_skipped, er->plan.n);
    }
    free(bad);
    return lrc;
}

/* 4. The input is what it was at the start, every part what its writer wrote. */
static int check_input_and_parts(struct embed_run *er) {
    int lrc = 0;
    if (er->rank == 0 && !er->stream) {
        char fp[FP_MAX];
        lrc = elmo__embed_fingerprint_file(er->in.path[0], fp, sizeof fp);
        if (lrc == 0 && strcmp(fp, er->input_fp) != 0) {
            if (er->jf) fclose(er->jf);
            er->jf = NULL;
            elmo__embed_remove_staging(er, 1, 0);
            lrc = elmo_error(ELMO_ERR_STATE,
                             "%s changed while the job ran (at the start %s, now %s): the "
                             "shards read from it cannot be trusted and were discarded; rerun "
                             "when the input no longer changes",
                             er->in.path[0], er->input_fp, fp);
        }
    }
    ELMO_TRY(elmo_agree(lrc));
    if (er->direct_on) return 0; /* each shard's rows were checked as they were journalled */
    elmo_bcast(er->plan.bytes, sizeof *er->plan.bytes * (size_t)er->plan.n);
    elmo_bcast(er->plan.sum, sizeof *er->plan.sum * (size_t)er->plan.n);
    size_t n = (size_t)(er->plan.n > 0 ? er->plan.n : 1);
    uint8_t *all = elmo_xmalloc(n), *bad = elmo_xcalloc(n, 1);
    memset(all, 1, n);
    int first = 0;
    lrc = elmo__embed_verify_parts(er, all, bad, 0, &first);
    free(all);
    free(bad);
    if (lrc == 0) lrc = first;
    return elmo_agree(lrc);
}

/* Rank 0: the reject file, then the reject threshold (all rejected, or above the fraction). */
static int check_rejects(struct embed_run *er, const struct totals *tt) {
    const struct elmo_job *job = er->job;
    ELMO_TRY(elmo__embed_write_rejects(er, tt->reject));
    double share = tt->rec > 0 ? (double)tt->reject / (double)tt->rec : 0.0;
    if (tt->rec > 0 && tt->reject == tt->rec)
        return elmo_error(ELMO_ERR_RANGE,
                          "every record of %s was rejected (%" PRId64 " of %" PRId64
                          "; see %s): no store is written",
                          elmo__embed_input_name(job), tt->reject, tt->rec, er->rej.path);
    if (share > (double)job->max_reject_fraction)
        return elmo_error(ELMO_ERR_RANGE,
                          "%" PRId64 " of %" PRId64 " records of %s were rejected (%.1f%%), "
                          "more than max_reject_fraction %g (see %s): no store is written; "
                          "the finished shards are kept, so a rerun with a higher "
                          "--max-reject-fraction only merges",
                          tt->reject, tt->rec, elmo__embed_input_name(job), 100.0 * share,
                          (double)job->max_reject_fraction, er->rej.path);
    return 0;
}

/*
 * 5. Totals, rejects, the reject threshold: every rank gets the parts' headers and the model's
 *    identity for the store.  On failure mg is freed.
 */
static int reconcile(struct embed_run *er, struct merge *mg, struct totals *tt, struct span *tot) {
    if (er->rank == 0 && er->options_text == NULL) er->options_text = elmo_xstrdup("");
    if (er->rank != 0) {
        er->options_text = elmo_read_text(er->job->options);
        if (!er->options_text) er->options_text = elmo_xstrdup("");
    }
    elmo_bcast(er->sha, sizeof er->sha);
    memset(mg, 0, sizeof *mg);
    mg->er = er;
    int lrc = er->direct_on ? elmo__embed_direct_totals(er, tt)
                            : elmo__embed_merge_headers(er, mg, tt, tot);
    if (lrc == 0 && er->rank == 0) lrc = check_rejects(er, tt);
    int rc = elmo_agree(lrc);
    if (rc < 0) elmo__embed_merge_free(mg);
    return rc;
}

/*
 * 6. Merge into STORE.partial (with direct writes: complete it), then rank 0 renames it over
 *    STORE.  mg is freed.
 */
static int merge(struct embed_run *er, struct merge *mg, const struct span *tot,
                 double *t_merge) {
    double t = elmo_now();
    int lrc = er->direct_on ? elmo__embed_direct_finish(er) : elmo__embed_merge_write(er, mg, tot);
    elmo__embed_merge_free(mg);
    ELMO_TRY(lrc);
    *t_merge = elmo_now() - t;
    if (er->rank == 0 && !er->direct_on) lrc = elmo_out_commit(&er->out);
    return elmo_agree(lrc);
}

static int64_t peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (int64_t)ru.ru_maxrss;
}

/* Rank 0: bytes the ranks wrote (sum) against the store's size, and which path wrote it. */
static void print_write_amplification(const struct embed_run *er, int64_t written) {
    struct stat st;
    if (written < 0 || stat(er->job->output, &st) != 0 || st.st_size <= 0) return;
    char how[96];
    if (er->direct_on) snprintf(how, sizeof how, "direct writes; counting pass %.1f s", er->t_count);
    else snprintf(how, sizeof how, "two-pass: part files and a merge, for %s", er->two_pass);
    fprintf(stderr,
            "embed: wrote %" PRId64 " bytes for %lld stored: %.2f bytes written per stored byte"
            " (%s)\n",
            written, (long long)st.st_size, (double)written / (double)st.st_size, how);
}

/* Rank 0: the summary on stderr.  rss: min and max over ranks (KiB); tsum: summed over ranks;
 * dup: the sentences and tokens copied from an equal one, summed over ranks; busy: the
 * computing ranks' least and most busy share of the work phase; wrote: the bytes all ranks
 * wrote (-1: unknown). */
static void print_summary(const struct embed_run *er, const struct totals *tt, double t_merge,
                          const int64_t rss[2], const double tsum[3], const int64_t dup[2],
                          const double busy[2], int64_t wrote) {
    double wall = elmo_now() - er->t0;
    /* direct writes: the rows go into the store during the work; the last step closes it */
    const char *rows = er->direct_on ? "writing rows" : "writing parts";
    const char *last = er->direct_on ? "closing the store" : "the merge";
    int64_t written = tt->rec - tt->reject;
    fprintf(stderr,
            "embed: done in %.1f s (%s %.1f s): %" PRId64 " records read = %" PRId64
            " written + %" PRId64 " rejected%s%s\n"
            "embed: %" PRId64 " sentences (%" PRId64 " empty, %" PRId64 " split, %" PRId64
            " truncated by %" PRId64 " tokens), %" PRId64 " tokens, %.0f tokens/s over the job"
            " on %d rank%s\n"
            "embed: token cache hit rate %.1f%% (%" PRId64 " of %" PRId64 " lookups); peak"
            " RSS per rank %.0f-%.0f MiB\n",
            wall, er->direct_on ? "closing" : "merge", t_merge, tt->rec, written, tt->reject, tt->reject ? ", see " : "",
            tt->reject ? er->rej.path : "", tt->ent, tt->empty, tt->split, tt->truncated, tt->cut,
            tt->tok, wall > 0 ? (double)tt->tok / wall : 0.0, er->size, er->size > 1 ? "s" : "",
            tt->lookups ? 100.0 * (double)tt->hits / (double)tt->lookups : 0.0, tt->hits,
            tt->lookups, (double)rss[0] / 1024.0, (double)rss[1] / 1024.0);
    if (er->job->dedup && er->job->streams == 0)
        fprintf(stderr,
                "embed: %" PRId64 " duplicate sentences reused (%.1f%% of the sentences, %" PRId64
                " tokens), computed once per rank\n",
                dup[0], tt->ent ? 100.0 * (double)dup[0] / (double)tt->ent : 0.0, dup[1]);
    if (tt->nonfinite)
        fprintf(stderr,
                "embed: warning: %" PRId64 " non-finite values were stored as they "
                "are (keep_nonfinite)\n",
                tt->nonfinite);
    double io = tsum[0] + tsum[1], all = tsum[2] > 0 ? tsum[2] : 1;
    fprintf(stderr,
            "embed: work %.1f s per rank: reading input %.1f%%, %s %.1f%%, forward"
            " and queue %.1f%%; then %s %.1f s\n",
            tsum[2] / er->size, 100 * tsum[0] / all, rows, 100 * tsum[1] / all,
            100 * (tsum[2] - io) / all, last, t_merge);
    fprintf(stderr, "embed: ranks computing shards busy %.0f-%.0f%% of the work phase%s\n",
            100 * busy[0], 100 * busy[1],
            elmo__embed_computing_ranks(er->size) < er->size ? " (rank 0 only hands them out)"
                                                            : "");
    print_write_amplification(er, wrote);
    fprintf(stderr, "embed: wrote %s (complete)\n", er->job->output);
    elmo_rank_log("wrote %s (complete): %" PRId64 " records = %" PRId64 " written + %" PRId64
                  " rejected, %" PRId64 " tokens, %.1f s",
                  er->job->output, tt->rec, written, tt->reject, tt->tok, wall);
}

/* Bytes this process has written (write calls of any kind: /proc/self/io wchar), or -1. */
static int64_t process_wchar(void) {
    FILE *f = fopen("/proc/self/io", "r");
    long long v = -1;
    char line[128];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %lld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}


/* 7. Summary (collective: the ranks' peak memory and times), clean-up of the staging. */
static void summary(struct embed_run *er, const struct totals *tt, double t_work,
                    double t_merge) {
    int64_t rss = peak_rss_kb(), rss_max = 0, rss_min = 0;
    ELMO_MPI(MPI_Reduce(&rss, &rss_max, 1, MPI_INT64_T, MPI_MAX, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&rss, &rss_min, 1, MPI_INT64_T, MPI_MIN, 0, MPI_COMM_WORLD));
    /* where the time went, summed over ranks: reading, writing parts, the rest of the work */
    double tm[3] = {er->ctx.t_read, er->ctx.t_write, t_work}, tsum[3] = {0, 0, 0};
    ELMO_MPI(MPI_Reduce(tm, tsum, 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    int64_t dup[2] = {er->ctx.dup_sentences, er->ctx.dup_tokens}, dsum[2] = {0, 0};
    ELMO_MPI(MPI_Reduce(dup, dsum, 2, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
    double busy[2];
    elmo__embed_busy_range(er, t_work, busy);
    /* the store's bytes: not those of a packed cache written while loading the model */
    int64_t wrote = process_wchar(), wrote_all = 0, wrote_min = 0;
    if (wrote >= 0) wrote -= er->wchar_model;
    ELMO_MPI(MPI_Reduce(&wrote, &wrote_all, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&wrote, &wrote_min, 1, MPI_INT64_T, MPI_MIN, 0, MPI_COMM_WORLD));
    if (er->rank == 0) {
        if (er->jf) fclose(er->jf);
        er->jf = NULL;
        elmo__embed_remove_staging(er, 1, 0);
        print_summary(er, tt, t_merge, (int64_t[2]){rss_min, rss_max}, tsum, dsum, busy,
                      wrote_min < 0 ? -1 : wrote_all);
    }
    elmo_rank_log("done: %" PRId64 " tokens on this rank (reading %.1f s, part writes %.1f s, "
                  "work %.1f s, merge %.1f s); %" PRId64 " duplicate sentences (%" PRId64
                  " tokens) reused, %" PRId64 " kept sentences evicted",
                  er->ctx.tokens_done, er->ctx.t_read, er->ctx.t_write, t_work, t_merge,
                  er->ctx.dup_sentences, er->ctx.dup_tokens, er->ctx.dedup.evicted);
    const struct elmo_fwd_times *ft = &er->ctx.fwd.ws.times;
    elmo_rank_log("forward: char CNN %.2f s, highway %.2f s, projection %.2f s, LSTM input "
                  "GEMM %.2f s, LSTM recurrence %.2f s, LSTM other %.2f s; %.1f GFLOP run",
                  ft->cnn, ft->highway, ft->proj, ft->lstm_in, ft->recur, ft->other,
                  ft->flops / 1e9);
}

static void run_free(struct embed_run *er, int rc) {
    if (er->jf) fclose(er->jf);
    if (er->rank == 0) {
        if (rc < 0) elmo_out_abandon(&er->out);
        elmo_out_unlock(&er->out);
    }
    elmo__embed_direct_free(er);
    elmo_embed_ctx_free(&er->ctx);
    elmo_model_free(&er->model);
    free(er->plan.sh);
    free(er->plan.done);
    free(er->plan.bytes);
    free(er->plan.sum);
    free(er->options_text);
    free(er->job_fp);
    free(er->first_line);
    elmo_inputs_free(&er->in);
}

/* ---- the job -------------------------------------------------------------------------- */

int elmo_embed_run(struct elmo_job *job) {
    struct embed_run er;
    struct merge mg;
    struct totals tt;
    struct span tot;
    int rc = 0, already = 0, resumed = 0;
    double t_work = 0, t_merge = 0;
    run_init(&er, job);
    ELMO_CALL(validate(&er));                                 /* 0. rules, paths, lock */
    ELMO_CALL(load(&er));                                     /* 1. log, model, context */
    ELMO_CALL(elmo__embed_share_plan(&er, &already, &resumed)); /* 2. identity, journal, plan */
    if (already) {
        if (er.rank == 0)
            fprintf(stderr,
                    "embed: %s is already complete (this job over this input); nothing "
                    "to do (--overwrite redoes it)\n",
                    job->output);
        elmo_rank_log("%s is already complete; nothing to do", job->output);
        goto cleanup;
    }
    elmo__embed_direct_choose(&er);                           /* direct writes or two-pass */
    if (er.direct_on) ELMO_CALL(elmo__embed_direct_prepare(&er, &resumed));
    if (resumed) ELMO_CALL(verify_journalled(&er));
    elmo_spare_start(job->threads);
    t_work = elmo_now();                               /* 3. work */
    elmo__embed_work(&er);
    t_work = elmo_now() - t_work;
    elmo_spare_offer(); /* ranks that finish first lend their cores to the others */
    if (elmo_spare_taken() > 0)
        elmo_rank_log("took %d core%s of ranks that had finished", elmo_spare_taken(),
                      elmo_spare_taken() > 1 ? "s" : "");
    elmo_spare_barrier(MPI_COMM_WORLD);
    elmo_spare_stop();
    ELMO_CALL(check_input_and_parts(&er));                    /* 4. checks */
    ELMO_CALL(reconcile(&er, &mg, &tt, &tot));                /* 5. totals, rejects */
    ELMO_CALL(merge(&er, &mg, &tot, &t_merge));               /* 6. merge, commit */
    summary(&er, &tt, t_work, t_merge);                       /* 7. summary, clean-up */
cleanup:
    run_free(&er, rc);
    return rc;
}
