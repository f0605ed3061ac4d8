/*
 * embed.c: the embed job, rank-0 orchestration and the collective merge.  Collective.
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
 *   2. work: rank 0 hands out shards on demand (it works too, serving requests between its
 *      batches); a finished shard is a part file (checksummed, fsynced, renamed) and a journal
 *      line with its size and checksum;
 *   3. checks: the input still has its fingerprint, every part its checksum; rank 0 writes the
 *      reject file (only when something was rejected) and fails above max_reject_fraction;
 *   4. merge: every rank takes a contiguous range of records, reads their rows from the parts
 *      and writes them into STORE.partial collectively; it is marked complete last, renamed
 *      over STORE, then the parts and the journal are removed.
 * A crash at any point leaves the journal and the finished parts, and the previous STORE as it
 * was; rerunning the same job skips the verified parts.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/corpus.h"
#include "io/files.h"
#include "io/outfile.h"
#include "io/rank_log.h"
#include "io/sha256.h"
#include "io/store.h"
#include "io/weights.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/grow.h"
#include "model/status.h"
#include "worker/shard.h"
#include "worker/part.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102 };

#define MAX_SHARDS 1000000

struct plan {
    int64_t n;        /* shards */
    struct elmo_shard *sh;
    uint8_t *done;    /* (n) 1 when journalled with a valid part */
    int64_t *bytes;   /* (n) the journalled size of each done part */
    uint64_t *sum;    /* (n) the journalled checksum of each done part (worker/part.h) */
};

/* Fingerprints: "size=N,sha256=HEX" of the bytes the shards read. */
#define FP_MAX 128

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
    FILE *jf;                        /* journal, rank 0 */
    int journal_created;             /* this run started the journal (rank 0) */
    double t0, last_print;
    int64_t tok_done, sent_done, shards_done, shards_skipped;
    int tty;
    struct elmo_embed_ctx ctx;
};

/* ---- the journal ---------------------------------------------------------------------- */

/*
 * The job's identity: every key that changes what the store holds, and the model's hashes.
 * The journal starts with it (then the input's fingerprint); a complete store records it, so a
 * rerun of the same job over the same input is recognised.
 */
static char *make_job_fingerprint(const struct embed_run *er) {
    const struct elmo_job *j = er->job;
    char buf[8192 + ELMO_PATH_MAX];
    char mix[256] = "", input[ELMO_PATH_MAX + 512] = "";
    /* one line per listed input (a list is stored one per line) */
    for (const char *p = j->input; *p;) {
        size_t len = strcspn(p, "\n"), at = strlen(input);
        snprintf(input + at, sizeof input - at, "%s%.*s", at ? "\njob input " : "", (int)len, p);
        p += len + (p[len] == '\n');
    }
    for (int k = 0; k < j->n_mix_weights; k++)
        snprintf(mix + strlen(mix), sizeof mix - strlen(mix), "%s%.9g", k ? "," : "",
                 (double)j->mix_weights[k]);
    snprintf(buf, sizeof buf,
             "job input %s\njob input_format %d\n"
             "job text_field %s\njob tokens_field %s\njob id_field %s\n"
             "job weights_sha256 %s\njob options_bytes %zu\njob outputs %u\njob streams %d\n"
             "job max_sentence_tokens %d\njob long_sentences %d\njob shard_tokens %d\n"
             "job mix_weights %s\njob gamma %.9g\njob layer_norm %d\njob slice %s\n",
             input, (int)j->input_format, j->text_field, j->tokens_field, j->id_field, er->sha,
             strlen(er->options_text), j->outputs, j->streams, j->max_sentence_tokens,
             (int)j->long_sentences, j->shard_tokens, mix, (double)j->gamma, (int)j->layer_norm,
             j->slice[0] ? j->slice : "all");
    return elmo_xstrdup(buf);
}

/* "size=N,sha256=HEX" of a file's bytes, read once so that both describe the same bytes. */
static int fingerprint_file(const char *path, char *out, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct elmo_sha256 s;
    elmo_sha256_init(&s);
    char *buf = elmo_xmalloc(1 << 20);
    long long total = 0;
    size_t r;
    while ((r = fread(buf, 1, 1 << 20, f)) > 0) {
        elmo_sha256_update(&s, buf, r);
        total += (long long)r;
    }
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return elmo_error(ELMO_ERR_IO, "%s: read failed while fingerprinting it", path);
    uint8_t d[32];
    char hex[65];
    elmo_sha256_final(&s, d);
    elmo_sha256_hex(d, hex);
    snprintf(out, n, "size=%lld,sha256=%s", total, hex);
    return 0;
}

/* The input as users name it in messages. */
static const char *input_name(const struct elmo_job *j) {
    return strchr(j->input, '\n') ? "the inputs" : strcmp(j->input, "-") ? j->input : "stdin";
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

/*
 * Parses `slice` strictly: K/N in decimal digits, nothing else, 0 <= K < N <= MAX_SHARDS (a
 * value that does not fit is refused, never wrapped).  Fills k and n (0/0 for no slice).
 */
static int parse_slice(const struct elmo_job *j, int *k, int *n) {
    *k = *n = 0;
    if (!j->slice[0]) return 0;
    const char *p = j->slice;
    char *end;
    unsigned long long a, b;
    if (!isdigit((unsigned char)p[0])) goto bad;
    errno = 0;
    a = strtoull(p, &end, 10);
    if (errno || *end != '/' || !isdigit((unsigned char)end[1])) goto bad;
    p = end + 1;
    b = strtoull(p, &end, 10);
    if (errno || *end) goto bad;
    if (b < 1 || b > MAX_SHARDS)
        return elmo_error(ELMO_ERR_ARG, "%s: slice '%s': N must be 1..%d", j->source, j->slice,
                          MAX_SHARDS);
    if (a >= b) goto bad;
    *k = (int)a;
    *n = (int)b;
    return 0;
bad:
    return elmo_error(ELMO_ERR_ARG, "%s: slice '%s': expected K/N (decimal) with 0 <= K < N",
                      j->source, j->slice);
}

/* Counts the records of a whole input, stopping at limit. */
static int count_records(const struct embed_run *er, int64_t limit, int64_t *count) {
    struct elmo_corpus *c = NULL;
    struct elmo_record rec;
    int rc = 0;
    memset(&rec, 0, sizeof rec);
    *count = 0;
    ELMO_CALL(elmo_corpus_open(&c, er->input, &er->ctx.copts, 0, -1, 1));
    while (*count < limit) {
        int got = elmo_corpus_next(c, &rec);
        if (got < 0) ELMO_FAIL(got, "%s", elmo_errmsg());
        if (got == 0) break;
        (*count)++;
    }
cleanup:
    elmo_corpus_close(c);
    return rc;
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
        /* Streams beyond the number of records would be empty groups that each read the whole
         * input for nothing: plan groups for the streams that hold a record.  The regime (and
         * so every vector) stays streams=S: record i is stream i either way. */
        if (p->n > 1) {
            int64_t n_rec = 0;
            ELMO_TRY(count_records(er, j->streams, &n_rec));
            int64_t used = n_rec > 0 ? (n_rec + G - 1) / G : 1;
            if (used < p->n) {
                fprintf(stderr,
                        "embed: streams %d is more than the %" PRId64 " records of %s: each "
                        "record is a stream of its own (the same vectors); planning %" PRId64
                        " stream group%s, not %" PRId64 "\n",
                        j->streams, n_rec, input_name(j), used, used > 1 ? "s" : "", p->n);
                p->n = used;
            }
        }
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
    if (er->slice_n > 0) {
        /* keep the K-th of N contiguous groups of the full plan, renumbered from 0 */
        int64_t k = er->slice_k, parts = er->slice_n;
        int64_t a = p->n * k / parts, b = p->n * (k + 1) / parts;
        for (int64_t i = a; i < b; i++) {
            p->sh[i - a] = p->sh[i];
            p->sh[i - a].id = i - a;
        }
        p->n = b - a;
    }
    return 0;
}

#define JOURNAL_MAGIC "elmo-journal 2\n"

/* The journal's header: the job's identity, then the input's fingerprint. */
static char *journal_header(const struct embed_run *er) {
    size_t n = strlen(er->job_fp) + strlen(er->input_fp) + 64;
    char *h = elmo_xmalloc(n);
    snprintf(h, n, "%sjob input_fingerprint %s\n", er->job_fp, er->input_fp);
    return h;
}

static void plan_alloc_state(struct plan *p) {
    size_t n = (size_t)(p->n > 0 ? p->n : 1);
    free(p->done);
    free(p->bytes);
    free(p->sum);
    p->done = elmo_xcalloc(n, 1);
    p->bytes = elmo_xcalloc(n, sizeof *p->bytes);
    p->sum = elmo_xcalloc(n, sizeof *p->sum);
}

/*
 * Reads an existing journal: the same job and input, its plan, and the shards it lists as done
 * with their parts' sizes and checksums (the last line of a shard wins).  The parts are
 * verified later, collectively (verify_parts).  With `overwrite`, a journal of another job is
 * set aside (*stale = 1) instead of refused.
 */
static int journal_resume(struct embed_run *er, int *resumed, int *stale) {
    *resumed = 0;
    *stale = 0;
    struct stat jst;
    if (stat(er->journal, &jst) != 0) return 0; /* no journal: a fresh start */
    char *text = elmo_read_text(er->journal);
    if (!text) return elmo_error_prefix(ELMO_ERR_IO, "reading the journal: ");
    int rc = 0;
    char *header = journal_header(er);
    size_t fl = strlen(header), ml = strlen(JOURNAL_MAGIC);
    if (strncmp(text, JOURNAL_MAGIC, ml) != 0) {
        if (er->job->overwrite) {
            *stale = 1;
            goto out;
        }
        rc = elmo_error(ELMO_ERR_MISMATCH,
                        "%s: not a journal of this version of elmo; delete it and %s/ to start "
                        "over (or give --overwrite)",
                        er->journal, er->parts);
        goto out;
    }
    if (strncmp(text + ml, header, fl) != 0) {
        if (er->job->overwrite) {
            *stale = 1;
            goto out;
        }
        /* name the first line that differs */
        const char *a = text + ml, *b = header;
        while (*a && *b && *a == *b) {
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a)) != 0) break;
            a = ea + 1;
            b = eb + 1;
        }
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        static const char in_key[] = "job input_fingerprint ";
        if (!strncmp(a, in_key, sizeof in_key - 1) && !strncmp(b, in_key, sizeof in_key - 1))
            rc = elmo_error(ELMO_ERR_MISMATCH,
                            "%s is not the input that %s was started with (then %.*s, now "
                            "%.*s): its finished shards cannot be reused; rerun with the "
                            "original input, or delete %s and %s/ (or give --overwrite) to "
                            "start over",
                            input_name(er->job), er->journal,
                            ea ? (int)(ea - a - (sizeof in_key - 1)) : 0, a + sizeof in_key - 1,
                            eb ? (int)(eb - b - (sizeof in_key - 1)) : 0, b + sizeof in_key - 1,
                            er->journal, er->parts);
        else
            rc = elmo_error(ELMO_ERR_MISMATCH,
                            "%s belongs to a different job or model: it has '%.*s', this run "
                            "has '%.*s'; delete %s and %s/ (or give --overwrite) to start over",
                            er->journal, ea ? (int)(ea - a) : 0, a, eb ? (int)(eb - b) : 0, b,
                            er->journal, er->parts);
        goto out;
    }
    /* plan lines and done lines */
    struct plan *p = &er->plan;
    char *line = text + ml + fl;
    int64_t n = -1, seen = 0;
    while (*line) {
        char *end = strchr(line, '\n');
        if (!end) break; /* a torn last line (crash while appending): ignored */
        *end = '\0';
        long long a, b, c, d, e, f;
        uint64_t sum;
        if (n < 0 && sscanf(line, "plan %lld", &a) == 1) {
            n = a;
            if (n < 0 || n > MAX_SHARDS) break;
            p->n = n;
            p->sh = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *p->sh);
            plan_alloc_state(p);
        } else if (sscanf(line, "shard %lld %lld %lld %lld %lld %lld", &a, &b, &c, &d, &e, &f) ==
                       6 &&
                   n >= 0 && a >= 0 && a < n) {
            p->sh[a] = (struct elmo_shard){a, b, c, d, (int)e, (int)f};
            seen++;
        } else if (sscanf(line, "done %lld %lld %" SCNx64, &a, &b, &sum) == 3 && n >= 0 && a >= 0 &&
                   a < n) {
            p->done[a] = 1;
            p->bytes[a] = b;
            p->sum[a] = sum;
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
    free(header);
    free(text);
    return rc;
}

static int journal_start(struct embed_run *er) {
    er->jf = fopen(er->journal, "w");
    if (!er->jf) return elmo_error(ELMO_ERR_IO, "%s: %s", er->journal, strerror(errno));
    char *header = journal_header(er);
    fprintf(er->jf, "%s%splan %" PRId64 "\n", JOURNAL_MAGIC, header, er->plan.n);
    free(header);
    for (int64_t i = 0; i < er->plan.n; i++) {
        const struct elmo_shard *s = &er->plan.sh[i];
        fprintf(er->jf, "shard %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %d %d\n", s->id,
                s->begin, s->end, s->first_line, s->stream, s->n_streams);
    }
    if (fflush(er->jf) != 0 || fsync(fileno(er->jf)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    return 0;
}

/* Journals shard id as done with its part's size and checksum (as its writer reported them). */
static int journal_done(struct embed_run *er, int64_t id, int64_t bytes, uint64_t sum) {
    if (id < 0 || id >= er->plan.n)
        return elmo_error(ELMO_ERR_STATE, "shard %" PRId64 " reported done is not in the plan", id);
    if (fprintf(er->jf, "done %" PRId64 " %" PRId64 " %016" PRIx64 "\n", id, bytes, sum) < 0 ||
        fflush(er->jf) != 0 || fsync(fileno(er->jf)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    er->plan.done[id] = 1;
    er->plan.bytes[id] = bytes;
    er->plan.sum[id] = sum;
    er->shards_done++;
    return 0;
}

/*
 * Collective: checks the parts of the shards with which[i] set against the journal's size and
 * checksum, each rank the shards i with i % size == rank; bad[i] (on every rank) is set for
 * every part that fails.  With warn, each failure is printed as a warning (the shard is then
 * computed again); otherwise this rank stops at its first failure and returns it in *first
 * (its message recorded).
 */
static int verify_parts(struct embed_run *er, const uint8_t *which, uint8_t *bad, int warn,
                        int *first) {
    const struct plan *p = &er->plan;
    int64_t n = p->n;
    *first = 0;
    memset(bad, 0, (size_t)(n > 0 ? n : 1));
    for (int64_t i = er->rank; i < n; i += er->size) {
        if (!which[i]) continue;
        char pp[ELMO_PATH_MAX + 64];
        part_path(er, i, pp, sizeof pp, "part");
        int rc = elmo_part_verify(pp, p->bytes[i], p->sum[i]);
        if (rc == 0) continue;
        bad[i] = 1;
        if (warn) {
            fprintf(stderr, "embed: warning: %s; shard %" PRId64 " is computed again\n",
                    elmo_errmsg(), i);
            elmo_rank_log("warning: %s; shard %" PRId64 " is computed again", elmo_errmsg(), i);
            elmo_error_clear();
        } else {
            *first = rc; /* the message of the first failure is this rank's report */
            break;
        }
    }
    if (n > 0)
        ELMO_MPI(
            MPI_Allreduce(MPI_IN_PLACE, bad, (int)n, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD));
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
            int rc = journal_done(er, msg[0], msg[4], (uint64_t)msg[5]);
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

static void on_batch_rank0(void *arg, int64_t sentences, int64_t tokens) {
    struct embed_run *er = arg;
    er->tok_done += tokens;
    er->sent_done += sentences;
    stop_if_signalled(er);
    if (er->size > 1) serve(er, 0);
    progress(er, 0);
}

static void on_batch_worker(void *arg, int64_t sentences, int64_t tokens) {
    (void)sentences;
    (void)tokens;
    stop_if_signalled(arg);
}

static int run_shard(struct embed_run *er, int64_t id) {
    char pp[ELMO_PATH_MAX + 64], rp[ELMO_PATH_MAX + 64];
    part_path(er, id, pp, sizeof pp, "part");
    part_path(er, id, rp, sizeof rp, "rej");
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

static void work(struct embed_run *er) {
    if (er->rank == 0) {
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
            int rc = journal_done(er, id, er->ctx.part_bytes, er->ctx.part_checksum);
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
}

/*
 * Collective: every rank learns whether any rank got SIGINT/SIGTERM/SIGUSR1; if so, rank 0
 * stops the job (exit 3).  The store is not complete, the parts and the journal stay, and a
 * rerun merges again.  Used between merge rounds, where a signal would otherwise wait.
 */
static void merge_check_interrupt(const struct embed_run *er) {
    int any = elmo_stop_agreed();
    if (any && er->rank == 0) {
        elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d during the merge; the journal "
                   "%s is consistent: rerun the same job to resume", any, er->journal);
        elmo_die(ELMO_ERR_INTERRUPTED);
    }
    if (any) elmo_await_abort(ELMO_EXIT_INTERRUPTED); /* rank 0's MPI_Abort ends this rank */
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
    size_t cap_ent, cap_tok, cap_id, cap_text, cap_tokb;
};

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
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[k].name);
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
    size_t caps[8] = {0};
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
    ELMO_MPI(MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
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
                elmo_xgrow((void **)&c.s_off, &c.cap_ent, (size_t)(c.n_ent + 1), 8);
                size_t ce = c.cap_ent;
                c.cap_ent = 0;
                elmo_xgrow((void **)&c.s_line, &c.cap_ent, ce, 8);
                c.cap_ent = 0;
                elmo_xgrow((void **)&c.s_id, &c.cap_ent, ce, 8);
                c.cap_ent = 0;
                elmo_xgrow((void **)&c.s_text, &c.cap_ent, ce, 8);
                c.s_off[c.n_ent] = at.tok + c.n_tok;
                c.s_line[c.n_ent] = p->ent_line[e];
                c.s_id[c.n_ent] = at.id + c.n_id;
                c.s_text[c.n_ent] = at.text + c.n_text;
                int64_t il = p->ent_id[e + 1] - p->ent_id[e];
                elmo_xgrow((void **)&c.id, &c.cap_id, (size_t)(c.n_id + il), 1);
                memcpy(c.id + c.n_id, p->id_blob + p->ent_id[e], (size_t)il);
                c.n_id += il;
                int64_t tl = p->ent_text[e + 1] - p->ent_text[e];
                elmo_xgrow((void **)&c.text, &c.cap_text, (size_t)(c.n_text + tl), 1);
                memcpy(c.text + c.n_text, p->text_blob + p->ent_text[e], (size_t)tl);
                c.n_text += tl;
                int64_t t0 = p->ent_tok[e];
                elmo_xgrow((void **)&c.t_off, &c.cap_tok, (size_t)(c.n_tok + nt), 8);
                for (int64_t x = 0; x < nt; x++)
                    c.t_off[c.n_tok + x] = at.tokb + c.n_tokb + (p->tok_text[t0 + x] - p->tok_text[t0]);
                int64_t bl = p->tok_text[t0 + nt] - p->tok_text[t0];
                elmo_xgrow((void **)&c.tokb, &c.cap_tokb, (size_t)(c.n_tokb + bl), 1);
                memcpy(c.tokb + c.n_tokb, p->tok_blob + p->tok_text[t0], (size_t)bl);
                c.n_tokb += bl;
                for (unsigned k = 0; k < 8; k++) {
                    if (!(er->job->outputs & (1u << k))) continue;
                    int64_t w = elmo_output_width(k, P);
                    int is_def = (1u << k) == ELMO_OUT_DEFAULT;
                    int64_t have = is_def ? c.n_ent : c.n_tok, add = is_def ? 1 : nt;
                    elmo_xgrow((void **)&c.rows[k], &caps[k], (size_t)((have + add) * w),
                               sizeof(float));
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
struct totals {
    int64_t rec, ent, tok, reject, empty, split, truncated, cut, hits, lookups, nonfinite;
};

/*
 * Collective: rank 0 reads every part's header, every rank gets them and the totals.  The
 * parts were verified (verify_parts) just before.
 */
static int merge_headers(struct embed_run *er, struct merge *mg, struct totals *tt,
                         struct span *tot) {
    int rc = 0;
    memset(mg, 0, sizeof *mg);
    mg->er = er;
    int64_t n = er->plan.n;
    mg->hdr = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *mg->hdr);
    mg->open = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *mg->open);
    mg->rec0 = elmo_xcalloc((size_t)n + 1, sizeof *mg->rec0);
    int lrc = 0;
    if (er->rank == 0) {
        for (int64_t i = 0; i < n && lrc == 0; i++) {
            lrc = get_part(mg, (int)i, &(struct elmo_part *){0});
            if (lrc == 0) {
                mg->hdr[i] = mg->open[i].h;
                elmo_part_close(&mg->open[i]);
            }
        }
    }
    ELMO_CALL(elmo_agree(lrc));
    elmo_bcast(mg->hdr, sizeof *mg->hdr * (size_t)n);
    memset(tt, 0, sizeof *tt);
    memset(tot, 0, sizeof *tot);
    for (int64_t i = 0; i < n; i++) {
        const struct elmo_part_header *h = &mg->hdr[i];
        mg->rec0[i + 1] = mg->rec0[i] + h->n_rec;
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
        tt->nonfinite += h->n_nonfinite;
        tot->ent += h->n_ent;
        tot->tok += h->n_tok;
        tot->id += h->id_bytes;
        tot->text += h->text_bytes;
        tot->tokb += h->tok_bytes;
    }
    mg->n_rec = tt->rec;
cleanup:
    return rc;
}

static void merge_free(struct merge *mg) {
    if (mg->open)
        for (int64_t i = 0; i < mg->er->plan.n; i++) elmo_part_close(&mg->open[i]);
    free(mg->hdr);
    free(mg->open);
    free(mg->rec0);
    memset(mg, 0, sizeof *mg);
}

/*
 * Collective: writes every record into STORE.partial (rank 0 owns that name for this run),
 * records the job's identity, the input's fingerprint and the slice, and marks it complete.
 * The caller renames it over STORE.
 */
static int merge_write(struct embed_run *er, struct merge *mg, const struct span *tot) {
    struct elmo_store *st = NULL;
    int rc = 0;
    /* this rank's records and where they start */
    int64_t ra = mg->n_rec * er->rank / er->size, rb = mg->n_rec * (er->rank + 1) / er->size;
    struct span mine, start;
    int lrc = span_of(mg, ra, rb, &mine);
    ELMO_CALL(elmo_agree(lrc));
    memset(&start, 0, sizeof start);
    ELMO_MPI(MPI_Exscan(&mine, &start, 5, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (er->rank == 0) memset(&start, 0, sizeof start);

    struct elmo_store_layout lay = {.n_sent = tot->ent,
                                    .n_tok = tot->tok,
                                    .id_bytes = tot->id,
                                    .sent_text_bytes = tot->text,
                                    .tok_text_bytes = tot->tokb,
                                    .outputs = er->job->outputs,
                                    .P = er->model.opt.P,
                                    .precision = er->job->precision,
                                    .compress = er->job->compress};
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
    if (er->rank == 0) elmo_out_claim_partial(&er->out);
    rc = elmo_store_create(&st, er->out.partial, MPI_COMM_WORLD, &lay, &attrs);
    free(yaml);
    ELMO_CALL(elmo_agree(rc));
    rc = elmo_store_put_attr_string(st, "job_fingerprint", er->job_fp);
    if (rc == 0) rc = elmo_store_put_attr_string(st, "input_fingerprint", er->input_fp);
    if (rc == 0 && er->slice_n > 0) rc = elmo_store_put_attr_i64(st, "slice_k", er->slice_k);
    if (rc == 0 && er->slice_n > 0) rc = elmo_store_put_attr_i64(st, "slice_n", er->slice_n);
    if (rc < 0) elmo_die(rc); /* a failed collective attribute write leaves HDF5 inconsistent */
    lrc = merge_run(mg, st, ra, rb, &start, tot);
    /* After a failed collective write (EFBIG, ENOSPC) the ranks hang in the store's collective
       close: stop them all instead, as run_shard does; the parts and the journal stay for a
       rerun. */
    if (lrc < 0) elmo_die(lrc);
    ELMO_CALL(elmo_agree(lrc));
    rc = elmo_store_finish(st);
    st = NULL;
    if (rc < 0) elmo_die(rc);
    ELMO_CALL(elmo_agree(rc));
cleanup:
    if (st) elmo_store_close(st);
    return rc;
}

/* ---- rejects, summary, clean-up (rank 0) ---------------------------------------------- */

static int cmp_line(const void *a, const void *b) {
    long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);
    return x < y ? -1 : x > y;
}

/*
 * Collects the shards' reject lists into the reject file, written aside and renamed over it.
 * Nothing rejected: no file is created, and an existing one (an earlier run's, or not ours at
 * all) is left as it is.
 */
static int write_rejects(struct embed_run *er, int64_t expect) {
    char **lines = NULL;
    int64_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = NULL;
    for (int64_t i = 0; i < er->plan.n; i++) {
        char rp[ELMO_PATH_MAX + 64];
        part_path(er, i, rp, sizeof rp, "rej");
        char *t = elmo_read_text(rp);
        if (!t) ELMO_FAIL(ELMO_ERR_IO, "collecting rejects: %s", elmo_errmsg());
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
        ELMO_FAIL(ELMO_ERR_STATE, "reject files hold %lld lines, the parts count %lld",
                  (long long)n, (long long)expect);
    if (n == 0) {
        struct stat st;
        if (stat(er->rej.path, &st) == 0)
            fprintf(stderr,
                    "embed: nothing was rejected; %s is not from this run and was left "
                    "as it was\n",
                    er->rej.path);
        goto cleanup;
    }
    qsort(lines, (size_t)n, sizeof *lines, cmp_line);
    f = elmo_out_create_partial(&er->rej);
    if (!f) ELMO_FAIL(ELMO_ERR_IO, "%s", elmo_errmsg());
    int bad = fprintf(f, "# input\tline\treason\n") < 0;
    for (int64_t i = 0; i < n && !bad; i++) {
        if (er->n_files > 1) {
            /* a line of the spool: the file it came from and its line there */
            int k;
            int64_t local;
            char *tab = strchr(lines[i], '\t');
            elmo_inputs_locate(er->first_line, er->n_files, atoll(lines[i]), &k, &local);
            bad = fprintf(f, "%s\t%" PRId64 "%s\n", er->in.path[k], local, tab ? tab : "") < 0;
        } else {
            bad = fprintf(f, "%s\t%s\n", er->in.n ? er->in.path[0] : er->job->input,
                          lines[i]) < 0;
        }
    }
    if (fflush(f) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    f = NULL;
    if (bad) ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", er->rej.partial, strerror(errno));
    ELMO_CALL(elmo_out_commit(&er->rej));
cleanup:
    if (f) fclose(f);
    if (rc < 0) elmo_out_abandon(&er->rej);
    for (int64_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return rc;
}

/*
 * Removes this output's staging: in STORE.parts/ the shard files (shard-*) and the input spool
 * (the spool being written too unless keep_spool_tmp), the journal when drop_journal, and the
 * directory once it is empty.  These names belong to the job; the lock proves that no other
 * run is using them.
 */
static void remove_staging(struct embed_run *er, int drop_journal, int keep_spool_tmp) {
    DIR *d = opendir(er->parts);
    if (d) {
        struct dirent *e;
        char pp[ELMO_PATH_MAX + 300];
        while ((e = readdir(d)) != NULL) {
            int spool = !strcmp(e->d_name, "input.spool"),
                spool_tmp = !strcmp(e->d_name, "input.spool.tmp");
            if (strncmp(e->d_name, "shard-", 6) != 0 && !spool && !(spool_tmp && !keep_spool_tmp))
                continue;
            snprintf(pp, sizeof pp, "%s/%s", er->parts, e->d_name);
            unlink(pp);
        }
        closedir(d);
        rmdir(er->parts);
    }
    if (drop_journal) unlink(er->journal);
}

/*
 * Copies the input into er->spool_tmp, a plain file that can be sharded: a compressed file or
 * stdin decompressed as it is, several inputs one after the other (io/corpus.h).
 */
static int spool_input(struct embed_run *er) {
    er->first_line = elmo_xcalloc((size_t)er->in.n, sizeof *er->first_line);
    return elmo_inputs_spool(&er->in, er->job->input_format, er->spool_tmp, er->first_line);
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

/*
 * An existing STORE: this job's complete store over this input gives *already (nothing to do);
 * anything else (another job's store, an incomplete one, a file that is no store) is refused
 * unless `overwrite`, and then replaced only when the new store is complete.
 */
static int check_existing(struct embed_run *er, int *already) {
    struct stat st;
    *already = 0;
    if (stat(er->out.path, &st) != 0) return 0;
    struct elmo_store *s = NULL;
    struct elmo_store_info info;
    char why[512] = "", *jfp = NULL, *ifp = NULL;
    int rc = elmo_store_open(&s, er->out.path, &info);
    if (rc == 0) {
        jfp = elmo_store_attr_string(s, "job_fingerprint");
        ifp = elmo_store_attr_string(s, "input_fingerprint");
    } else {
        snprintf(why, sizeof why, "%s", elmo_errmsg());
        elmo_error_clear();
    }
    elmo_store_close(s);
    int same_job = rc == 0 && jfp && !strcmp(jfp, er->job_fp);
    int same_input = rc == 0 && ifp && !strcmp(ifp, er->input_fp);
    if (er->job->overwrite) {
        fprintf(stderr,
                "embed: %s exists; --overwrite: it is replaced once the new store is "
                "complete\n",
                er->out.path);
        rc = 0;
    } else if (rc < 0) {
        rc = elmo_error(ELMO_ERR_ARG,
                        "%s exists and is not an elmo store (%s); refusing to "
                        "replace it: move it away, or give --overwrite",
                        er->out.path, why);
    } else if (!info.complete) {
        rc = elmo_error(ELMO_ERR_ARG,
                        "%s is an incomplete store; refusing to replace it "
                        "without --overwrite",
                        er->out.path);
    } else if (same_job && same_input) {
        *already = 1;
    } else {
        rc = elmo_error(ELMO_ERR_ARG,
                        "%s is a complete store of %s; refusing to replace it: give "
                        "--overwrite to redo it (the old store stays until the new one is "
                        "complete), or choose another --output",
                        er->out.path,
                        !jfp        ? "an older elmo (it records no job fingerprint)"
                        : !same_job ? "another job (other settings, model or input path)"
                                    : "this job over different input bytes");
    }
    free(jfp);
    free(ifp);
    return rc;
}

/*
 * Rank 0, once the paths are checked and the lock is held: the model's identity, the input's
 * fingerprint (a stream input is spooled first), the existing store, the journal and the plan.
 * A fresh run that stops here leaves nothing staged behind.
 */
static int prepare(struct embed_run *er, int *resumed, int *already) {
    struct elmo_job *job = er->job;
    struct stat st;
    int rc = 0, stale = 0, made_parts = 0;
    int stream = er->stream;
    er->options_text = elmo_read_text(job->options);
    if (!er->options_text) return ELMO_ERR_IO;
    ELMO_TRY(elmo_file_sha256(job->weights, er->sha));
    for (int i = 0; i < er->in.n; i++) {
        const char *in = er->in.path[i];
        if (strcmp(in, "-") != 0 && access(in, R_OK) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: %s", in, strerror(errno));
        if (strcmp(in, "-") != 0 && stat(in, &st) == 0 && S_ISDIR(st.st_mode))
            return elmo_error(ELMO_ERR_IO, "%s: %s", in, strerror(EISDIR));
    }
    /* the format: given, else from the names or first bytes (stdin: of the spool, below) */
    if (job->input_format == ELMO_INPUT_AUTO && strcmp(er->in.path[0], "-") != 0) {
        enum elmo_input_format fmt;
        ELMO_TRY(elmo_inputs_format(&er->in, ELMO_INPUT_AUTO, &fmt));
        job->input_format = fmt;
    }
    if (stat(er->parts, &st) != 0) {
        if (mkdir(er->parts, 0755) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: %s", er->parts, strerror(errno));
        made_parts = 1;
    }
    if (stream) {
        snprintf(er->spool_tmp, sizeof er->spool_tmp, "%s/input.spool.tmp", er->parts);
        ELMO_CALL(spool_input(er));
        ELMO_CALL(fingerprint_file(er->spool_tmp, er->input_fp, sizeof er->input_fp));
        if (job->input_format == ELMO_INPUT_AUTO) { /* stdin: its first bytes decide */
            enum elmo_input_format fmt;
            ELMO_CALL(elmo_input_detect_format(er->spool_tmp, &fmt));
            job->input_format = fmt;
        }
    } else {
        ELMO_CALL(fingerprint_file(er->in.path[0], er->input_fp, sizeof er->input_fp));
    }
    er->ctx.copts.format = job->input_format;
    er->job_fp = make_job_fingerprint(er);
    ELMO_CALL(check_existing(er, already));
    if (*already) goto cleanup;
    ELMO_CALL(journal_resume(er, resumed, &stale));
    if (stale) {
        fprintf(stderr,
                "embed: --overwrite: the journal %s and the parts of another job are "
                "discarded\n",
                er->journal);
        remove_staging(er, 1, 1);
        if (stat(er->parts, &st) != 0 && mkdir(er->parts, 0755) != 0)
            ELMO_FAIL(ELMO_ERR_IO, "%s: %s", er->parts, strerror(errno));
    }
    if (stream) {
        snprintf(er->input, sizeof er->input, "%s/input.spool", er->parts);
        if (rename(er->spool_tmp, er->input) != 0)
            ELMO_FAIL(ELMO_ERR_IO, "%s: rename failed: %s", er->input, strerror(errno));
        er->spool_tmp[0] = '\0';
    } else {
        snprintf(er->input, sizeof er->input, "%s", er->in.path[0]);
    }
    if (!*resumed) {
        ELMO_CALL(plan_shards(er));
        plan_alloc_state(&er->plan);
        er->journal_created = 1;
        ELMO_CALL(journal_start(er));
    } else {
        er->jf = fopen(er->journal, "a");
        if (!er->jf) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", er->journal, strerror(errno));
    }
cleanup:
    if (rc < 0 || *already) {
        if (er->jf) fclose(er->jf);
        er->jf = NULL;
        if (er->spool_tmp[0]) unlink(er->spool_tmp);
        if (made_parts) remove_staging(er, er->journal_created, 0);
        else if (er->journal_created) unlink(er->journal);
    }
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
    uint8_t *bad = NULL; /* (shards) parts that failed verification */
    memset(&er, 0, sizeof er);
    er.out.lock_fd = er.rej.lock_fd = -1;
    er.job = job;
    er.rank = elmo_rank();
    er.size = elmo_size();
    er.t0 = elmo_now();
    er.tty = isatty(2);
    elmo_blas_set_threads(job->threads);
    snprintf(er.journal, sizeof er.journal, "%s.journal", job->output);
    snprintf(er.parts, sizeof er.parts, "%s.parts", job->output);
    snprintf(er.logs, sizeof er.logs, "%s.logs", job->output);
    snprintf(er.input, sizeof er.input, "%s", job->input);

    /* 0. the job's own rules, alike on every rank; then rank 0 checks every path it will write
     *    and takes the lock.  Nothing is written before this point. */
    if (!strcmp(job->source, "<stdin>") && !strcmp(job->input, "-"))
        ELMO_FAIL(ELMO_ERR_ARG, "<stdin>: the job was read from stdin (`elmo run -`), so its "
                                "`input: -` cannot read stdin as well; give the input as a file");
    ELMO_CALL(parse_slice(job, &er.slice_k, &er.slice_n));
    ELMO_CALL(elmo_out_init(&er.out, "output", job->output));
    /* a job built in code (train-ner's feature stores) may leave the reject file to default */
    if (!job->reject_file[0] &&
        snprintf(job->reject_file, sizeof job->reject_file, "%s.rejects.tsv", job->output) >=
            (int)sizeof job->reject_file)
        ELMO_FAIL(ELMO_ERR_ARG, "`output` is too long: %s", job->output);
    ELMO_CALL(elmo_out_init(&er.rej, "reject_file", job->reject_file));
    if (er.rank == 0) {
        /* the inputs: a list, globs expanded; several, compressed or stdin are spooled */
        lrc = elmo_inputs_expand(job->input, &er.in);
        if (lrc == 0) {
            er.stream = er.in.n > 1 || elmo_corpus_is_stream(er.in.path[0]);
            er.n_files = er.in.n > 1 ? er.in.n : 0;
            lrc = check_paths(&er);
        }
        if (lrc == 0) lrc = elmo_out_lock(&er.out);
    }
    ELMO_CALL(elmo_agree(lrc));

    /* 1. the rank's log, model and context on every rank */
    lrc = elmo_rank_log_open(job->output, er.rank, er.size);
    elmo_rank_log("embed %s -> %s, model %s + %s, %d rank%s x %d thread%s", job->input, job->output,
                  job->options, job->weights, er.size, er.size > 1 ? "s" : "", job->threads,
                  job->threads > 1 ? "s" : "");
    if (lrc == 0) lrc = elmo_model_load(job->options, job->weights, &er.model);
    if (lrc == 0) lrc = elmo_embed_ctx_init(&er.ctx, job, &er.model);
    ELMO_CALL(elmo_agree(lrc));
    er.ctx.on_batch = er.rank == 0 ? on_batch_rank0 : on_batch_worker;
    er.ctx.cb_arg = &er;

    /* 2. rank 0: identity, the existing store, journal, plan; then everyone gets the plan */
    int64_t hdr[6] = {0, 0, 0, 0, 0, 0}; /* shards, already complete, resumed, files, format */
    if (er.rank == 0) {
        int resumed = 0, already = 0;
        lrc = prepare(&er, &resumed, &already);
        hdr[0] = er.plan.n;
        hdr[1] = already;
        hdr[2] = resumed;
        hdr[3] = er.n_files;
        hdr[4] = job->input_format;
    }
    ELMO_CALL(elmo_agree(lrc));
    elmo_bcast(hdr, sizeof hdr);
    elmo_bcast(er.input, sizeof er.input);
    /* the detected format and, for several inputs, where each starts (ids "K:L") */
    job->input_format = (enum elmo_input_format)hdr[4];
    er.ctx.copts.format = job->input_format;
    er.n_files = (int)hdr[3];
    if (er.n_files > 1) {
        if (er.rank != 0) er.first_line = elmo_xcalloc((size_t)er.n_files, sizeof *er.first_line);
        elmo_bcast(er.first_line, sizeof *er.first_line * (size_t)er.n_files);
        er.ctx.copts.n_files = er.n_files;
        er.ctx.copts.file_first_line = er.first_line;
    }
    if (hdr[1]) {
        if (er.rank == 0)
            fprintf(stderr,
                    "embed: %s is already complete (this job over this input); nothing "
                    "to do (--overwrite redoes it)\n",
                    job->output);
        elmo_rank_log("%s is already complete; nothing to do", job->output);
        goto cleanup;
    }
    if (er.rank != 0) {
        er.plan.n = hdr[0];
        er.plan.sh = elmo_xcalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1), sizeof *er.plan.sh);
        plan_alloc_state(&er.plan);
    }
    elmo_bcast(er.plan.sh, sizeof *er.plan.sh * (size_t)er.plan.n);
    elmo_bcast(er.plan.done, sizeof *er.plan.done * (size_t)er.plan.n);
    elmo_bcast(er.plan.bytes, sizeof *er.plan.bytes * (size_t)er.plan.n);
    elmo_bcast(er.plan.sum, sizeof *er.plan.sum * (size_t)er.plan.n);
    bad = elmo_xcalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1), 1);
    if (hdr[2]) {
        /* a resume trusts a journalled part only after checking its size and checksum */
        int first = 0;
        lrc = verify_parts(&er, er.plan.done, bad, 1, &first);
        if (lrc == 0 && er.rank == 0) {
            for (int64_t i = 0; i < er.plan.n; i++) {
                if (bad[i]) er.plan.done[i] = 0;
                er.shards_skipped += er.plan.done[i];
            }
            fprintf(stderr,
                    "embed: resuming from %s: %" PRId64 " of %" PRId64 " shards already done\n",
                    er.journal, er.shards_skipped, er.plan.n);
            elmo_rank_log("resuming from %s: %" PRId64 " of %" PRId64 " shards already done",
                          er.journal, er.shards_skipped, er.plan.n);
        }
        ELMO_CALL(lrc);
    }

    /* 3. work */
    double t_work = elmo_now();
    work(&er);
    t_work = elmo_now() - t_work;
    ELMO_MPI(MPI_Barrier(MPI_COMM_WORLD));

    /* 4. checks: the input is what it was at the start, every part what its writer wrote */
    if (er.rank == 0 && !er.stream) {
        char fp[FP_MAX];
        lrc = fingerprint_file(er.in.path[0], fp, sizeof fp);
        if (lrc == 0 && strcmp(fp, er.input_fp) != 0) {
            if (er.jf) fclose(er.jf);
            er.jf = NULL;
            remove_staging(&er, 1, 0);
            lrc = elmo_error(ELMO_ERR_STATE,
                             "%s changed while the job ran (at the start %s, now %s): the "
                             "shards read from it cannot be trusted and were discarded; rerun "
                             "when the input no longer changes",
                             er.in.path[0], er.input_fp, fp);
        }
    }
    ELMO_CALL(elmo_agree(lrc));
    elmo_bcast(er.plan.bytes, sizeof *er.plan.bytes * (size_t)er.plan.n);
    elmo_bcast(er.plan.sum, sizeof *er.plan.sum * (size_t)er.plan.n);
    {
        uint8_t *all = elmo_xmalloc((size_t)(er.plan.n > 0 ? er.plan.n : 1));
        memset(all, 1, (size_t)(er.plan.n > 0 ? er.plan.n : 1));
        int first = 0;
        lrc = verify_parts(&er, all, bad, 0, &first);
        free(all);
        if (lrc == 0) lrc = first;
        ELMO_CALL(elmo_agree(lrc));
    }

    /* 5. totals, rejects, the reject threshold */
    if (er.rank == 0 && er.options_text == NULL) er.options_text = elmo_xstrdup("");
    if (er.rank != 0) {
        er.options_text = elmo_read_text(job->options);
        if (!er.options_text) er.options_text = elmo_xstrdup("");
    }
    elmo_bcast(er.sha, sizeof er.sha);
    struct merge mg;
    struct totals tt;
    struct span tot;
    memset(&mg, 0, sizeof mg);
    mg.er = &er;
    lrc = merge_headers(&er, &mg, &tt, &tot);
    if (lrc == 0 && er.rank == 0) {
        lrc = write_rejects(&er, tt.reject);
        double share = tt.rec > 0 ? (double)tt.reject / (double)tt.rec : 0.0;
        if (lrc == 0 && tt.rec > 0 && tt.reject == tt.rec)
            lrc = elmo_error(ELMO_ERR_RANGE,
                             "every record of %s was rejected (%" PRId64 " of %" PRId64
                             "; see %s): no store is written",
                             input_name(job), tt.reject, tt.rec, er.rej.path);
        else if (lrc == 0 && share > (double)job->max_reject_fraction)
            lrc = elmo_error(ELMO_ERR_RANGE,
                             "%" PRId64 " of %" PRId64 " records of %s were rejected (%.1f%%), "
                             "more than max_reject_fraction %g (see %s): no store is written; "
                             "the finished shards are kept, so a rerun with a higher "
                             "--max-reject-fraction only merges",
                             tt.reject, tt.rec, input_name(job), 100.0 * share,
                             (double)job->max_reject_fraction, er.rej.path);
    }
    rc = elmo_agree(lrc);
    if (rc < 0) {
        merge_free(&mg);
        goto cleanup;
    }

    /* 6. merge into STORE.partial, then rank 0 renames it over STORE */
    double t_merge = elmo_now();
    lrc = merge_write(&er, &mg, &tot);
    merge_free(&mg);
    ELMO_CALL(lrc);
    t_merge = elmo_now() - t_merge;
    if (er.rank == 0) lrc = elmo_out_commit(&er.out);
    ELMO_CALL(elmo_agree(lrc));

    /* 7. summary, clean-up */
    int64_t rss = peak_rss_kb(), rss_max = 0, rss_min = 0;
    ELMO_MPI(MPI_Reduce(&rss, &rss_max, 1, MPI_INT64_T, MPI_MAX, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&rss, &rss_min, 1, MPI_INT64_T, MPI_MIN, 0, MPI_COMM_WORLD));
    /* where the time went, summed over ranks: reading, writing parts, the rest of the work */
    double tm[3] = {er.ctx.t_read, er.ctx.t_write, t_work}, tsum[3] = {0, 0, 0};
    ELMO_MPI(MPI_Reduce(tm, tsum, 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    if (er.rank == 0) {
        if (er.jf) fclose(er.jf);
        er.jf = NULL;
        remove_staging(&er, 1, 0);
        double wall = elmo_now() - er.t0;
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
                tt.reject ? er.rej.path : "", tt.ent, tt.empty, tt.split, tt.truncated, tt.cut,
                tt.tok, wall > 0 ? (double)tt.tok / wall : 0.0, er.size, er.size > 1 ? "s" : "",
                tt.lookups ? 100.0 * (double)tt.hits / (double)tt.lookups : 0.0, tt.hits,
                tt.lookups, (double)rss_min / 1024.0, (double)rss_max / 1024.0);
        if (tt.nonfinite)
            fprintf(stderr,
                    "embed: warning: %" PRId64 " non-finite values were stored as they "
                    "are (keep_nonfinite)\n",
                    tt.nonfinite);
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
    elmo_rank_log("done: %" PRId64 " tokens on this rank (reading %.1f s, part writes %.1f s, "
                  "work %.1f s, merge %.1f s)",
                  er.ctx.tokens_done, er.ctx.t_read, er.ctx.t_write, t_work, t_merge);
cleanup:
    if (er.jf) fclose(er.jf);
    if (er.rank == 0) {
        if (rc < 0) elmo_out_abandon(&er.out);
        elmo_out_unlock(&er.out);
    }
    elmo_embed_ctx_free(&er.ctx);
    elmo_model_free(&er.model);
    free(er.plan.sh);
    free(er.plan.done);
    free(er.plan.bytes);
    free(er.plan.sum);
    free(er.options_text);
    free(er.job_fp);
    free(er.first_line);
    elmo_inputs_free(&er.in);
    free(bad);
    return rc;
}
