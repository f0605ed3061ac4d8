/*
 * embed_job.h: what the files of the embed job share (driver/ internal).  The job runs as a
 * list of steps (cmd_embed.c); its pieces live beside it:
 *
 *   embed_plan.c     rank 0's preparation: the input's format and spool, the existing store,
 *                    the shards (byte ranges on record boundaries, or stream groups), --slice;
 *   embed_journal.c  the job's identity and the input's fingerprint, the journal (resume state,
 *                    done shards with their parts' sizes and checksums), part verification,
 *                    the staging area's removal;
 *   embed_queue.c    rank 0's dispatch of shards to ranks, the workers' loop, progress;
 *   embed_direct.c   direct writes: the counting pass, STORE.partial created (or reopened
 *                    and checked) before the work so that ranks write their rows straight into
 *                    it, and its completion;
 *   embed_merge.c    the reject file and the collective merge of the parts into STORE.partial
 *                    (the two-pass path: compressed stores, the streams regime).
 *
 * Functions named elmo__embed_* are collective only where their comment says so.
 */
#ifndef ELMO_DRIVER_EMBED_JOB_H
#define ELMO_DRIVER_EMBED_JOB_H

#include <stdint.h>
#include <stdio.h>

#include "io/corpus.h"
#include "io/job.h"
#include "io/outfile.h"
#include "io/store.h"
#include "io/weights.h"
#include "worker/part.h"
#include "worker/shard.h"

#define MAX_SHARDS 1000000

/* Fingerprints: "size=N,sha256=HEX" of the bytes the shards read. */
#define FP_MAX 128

struct plan {
    int64_t n;        /* shards */
    struct elmo_shard *sh;
    uint8_t *done;    /* (n) 1 when journalled with a valid part */
    int64_t *bytes;   /* (n) the journalled size of each done part */
    uint64_t *sum;    /* (n) the journalled checksum of each done part (worker/part.h) */
};

struct embed_run {
    struct elmo_job *job;
    struct elmo_model model;
    char input[ELMO_PATH_MAX + 32];  /* what the shards read (the spool for streams input) */
    char journal[ELMO_PATH_MAX + 16];
    char parts[ELMO_PATH_MAX + 16];
    char logs[ELMO_PATH_MAX + 16];
    char spool_tmp[ELMO_PATH_MAX + 48]; /* a stream input's spool before it is adopted */
    char sha[80];
    char *options_text;
    char *job_fp;          /* the job's identity (journal header, store attribute) */
    char input_fp[FP_MAX]; /* the input's fingerprint (journal, store attribute) */
    struct elmo_inputs in; /* rank 0: the input files, globs expanded, in order */
    int stream;            /* rank 0: the shards read a spool (compressed, stdin, several) */
    int64_t *first_line;   /* (in.n) several inputs: where each starts in the spool */
    int n_files;           /* several inputs: their count (every rank), else 0 */
    int slice_k, slice_n;  /* --slice K/N, or 0/0 */
    struct elmo_out out;   /* the store: STORE.partial, STORE.lock (rank 0) */
    struct elmo_out rej;   /* the reject file, written aside and renamed (rank 0) */
    struct plan plan;
    int rank, size;
    /* rank 0: queue and progress */
    int64_t next;                    /* next shard to consider */
    int active_workers;              /* workers not yet told "no more" or with shards running */
    int *pending;                    /* (size) per worker: shards assigned, not reported done */
    char *ended;                     /* (size) per worker: was answered "no more shards" */
    char *deferred;                  /* (size) per worker: a request held until it idles */
    FILE *jf;                        /* journal, rank 0 */
    int journal_created;             /* this run started the journal (rank 0) */
    double t0, last_print;
    int64_t tok_done, sent_done, shards_done, shards_skipped;
    int tty;
    struct elmo_embed_ctx ctx;
    /* direct writes (embed_direct.c); two_pass names why not, when not */
    int direct_on;
    const char *two_pass;
    struct elmo_direct direct;
    struct elmo_shard_count *count, *first; /* (plan.n) counting pass, prefix sums */
    double t_count;
    int64_t wchar_model; /* bytes this process wrote loading the model (the packed cache) */
};

/* ---- cmd_embed.c: small shared helpers ------------------------------------------------- */

/* The input as users name it in messages. */
const char *elmo__embed_input_name(const struct elmo_job *j);
/* STORE.parts/shard-NNNNNN.EXT of shard id. */
void elmo__embed_part_path(const struct embed_run *er, int64_t id, char *out, size_t n,
                           const char *ext);

/* ---- embed_plan.c ---------------------------------------------------------------------- */

/*
 * Parses `slice` strictly: K/N in decimal digits, nothing else, 0 <= K < N <= MAX_SHARDS (a
 * value that does not fit is refused, never wrapped).  Fills k and n (0/0 for no slice).
 */
int elmo__embed_parse_slice(const struct elmo_job *j, int *k, int *n);
/* (Re)allocates the plan's done, bytes and sum arrays for p->n shards, zeroed. */
void elmo__embed_plan_alloc_state(struct plan *p);
/*
 * Collective: rank 0 prepares (the model's identity, the input's fingerprint, the existing
 * store, the journal, the plan); every rank gets the plan, the input's format and files, and
 * whether STORE is already complete (*already) or the run resumes a journal (*resumed).
 */
int elmo__embed_share_plan(struct embed_run *er, int *already, int *resumed);

/* ---- embed_journal.c ------------------------------------------------------------------- */

/* The job's identity: every key that changes what the store holds, and the model's hashes. */
char *elmo__embed_job_fingerprint(const struct embed_run *er);
/* "size=N,sha256=HEX" of a file's bytes, read once so that both describe the same bytes. */
int elmo__embed_fingerprint_file(const char *path, char *out, size_t n);
/*
 * Reads an existing journal into er->plan (*resumed = 1); no journal leaves *resumed 0.  With
 * `overwrite`, a journal of another job is set aside (*stale = 1) instead of refused.
 */
int elmo__embed_journal_resume(struct embed_run *er, int *resumed, int *stale);
/* Starts the journal (er->jf): magic, header, the plan; flushed and fsynced. */
int elmo__embed_journal_start(struct embed_run *er);
/* Journals shard id as done with its part's size and checksum (as its writer reported them). */
int elmo__embed_journal_done(struct embed_run *er, int64_t id, int64_t bytes, uint64_t sum);
/* The same in two steps, so that one fsync covers several lines: the line written (buffered),
 * then everything written so far flushed and fsynced. */
int elmo__embed_journal_note(struct embed_run *er, int64_t id, int64_t bytes, uint64_t sum);
int elmo__embed_journal_sync(struct embed_run *er);
/*
 * Collective: checks the parts of the shards with which[i] set against the journal's size and
 * checksum; bad[i] (on every rank) is set for every part that fails (see embed_journal.c).
 */
int elmo__embed_verify_parts(struct embed_run *er, const uint8_t *which, uint8_t *bad, int warn,
                             int *first);
/* Removes the staging in STORE.parts/ (and the journal when drop_journal). */
void elmo__embed_remove_staging(struct embed_run *er, int drop_journal, int keep_spool_tmp);

/* ---- embed_queue.c --------------------------------------------------------------------- */

/* The per-batch callbacks of rank 0 (serves the queue, prints progress) and of the workers. */
void elmo__embed_on_batch_rank0(void *arg, int64_t sentences, int64_t tokens);
void elmo__embed_on_batch_worker(void *arg, int64_t sentences, int64_t tokens);
/* Collective: runs every shard not done, rank 0 handing them out; a failure stops the job. */
void elmo__embed_work(struct embed_run *er);
/* The ranks that compute shards in a run on size ranks (rank 0 only serves above a limit). */
int elmo__embed_computing_ranks(int size);
/*
 * Collective, after elmo__embed_work: on rank 0, busy[0] and busy[1] are the least and the most
 * any computing rank spent running shards, as fractions of the work phase (t_work seconds).
 */
void elmo__embed_busy_range(const struct embed_run *er, double t_work, double busy[2]);

/* ---- embed_merge.c --------------------------------------------------------------------- */

/* Totals of records [a, b): entries, tokens, bytes (5 int64, summed with MPI_Exscan). */
struct span { int64_t ent, tok, id, text, tokb; };

/* Counts over all parts, for the summary and the reconciliation. */
struct totals {
    int64_t rec, ent, tok, reject, empty, split, truncated, cut, hits, lookups, nonfinite;
};

struct merge {
    struct embed_run *er;
    struct elmo_part_header *hdr;  /* (n) every part's header */
    int64_t *rec0;                 /* (n + 1) stateless: first global record of each part */
    int64_t n_rec;
    struct elmo_part *open;        /* (n) lazily opened parts */
};

/* Collective: rank 0 reads every part's header, every rank gets them and the totals. */
int elmo__embed_merge_headers(struct embed_run *er, struct merge *mg, struct totals *tt,
                              struct span *tot);
void elmo__embed_merge_free(struct merge *mg);
/* Collective: writes every record into STORE.partial and marks it complete. */
int elmo__embed_merge_write(struct embed_run *er, struct merge *mg, const struct span *tot);
/* Rank 0: collects the shards' reject lists (expect lines in all) into the reject file. */
int elmo__embed_write_rejects(struct embed_run *er, int64_t expect);
/*
 * The store's layout and attributes for totals tot; *yaml (owned) and regime (32 bytes) hold
 * strings attrs points to.
 */
void elmo__embed_store_describe(const struct embed_run *er, const struct span *tot,
                                struct elmo_store_layout *lay, struct elmo_store_attrs *attrs,
                                char *regime, char **yaml);
/* The job's identity, the input's fingerprint and the slice as store attributes. */
int elmo__embed_store_identify(const struct embed_run *er, struct elmo_store *st);

/* ---- embed_direct.c -------------------------------------------------------------------- */

/* Every rank: direct writes unless the store is compressed or the job runs streams. */
void elmo__embed_direct_choose(struct embed_run *er);
/*
 * Collective: the counting pass, STORE.partial created (or reopened when this job's partial
 * fits the journal: *resumed stays 1, else the journal starts afresh and *resumed is 0), the
 * store's map on every rank and the file open on every rank.
 */
int elmo__embed_direct_prepare(struct embed_run *er, int *resumed);
/* Collective: the totals from the counting pass and the ranks' counters. */
int elmo__embed_direct_totals(struct embed_run *er, struct totals *tt);
/* Collective: the closing offsets and the complete flag, then STORE.partial renamed. */
int elmo__embed_direct_finish(struct embed_run *er);
void elmo__embed_direct_free(struct embed_run *er);

#endif /* ELMO_DRIVER_EMBED_JOB_H */
