/*
 * embed_plan.c: rank 0's preparation of the embed job (embed_job.h): the inputs checked, a
 * stream input spooled, its format and fingerprint, the existing STORE judged, the journal
 * resumed or the shards planned (byte ranges on record boundaries, or stream groups) and
 * journalled; and --slice.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "io/files.h"
#include "io/hash_cache.h"
#include "io/sha256.h"
#include "model/status.h"

/* Estimates bytes per token from the head of a plain file: conll has one token per non-blank
 * line (the other columns are tags), the other formats whitespace-separated words. */
static double bytes_per_token(const char *path, enum elmo_input_format format) {
    FILE *f = fopen(path, "rb");
    if (!f) return 6.0;
    char *buf = elmo_xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    long tokens = 0;
    int in = 0, line_start = 1;
    for (size_t i = 0; i < n; i++) {
        int ws = buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r';
        if (format == ELMO_INPUT_CONLL) tokens += line_start && !ws;
        else if (!ws && !in) tokens++;
        in = !ws;
        line_start = buf[i] == '\n' || (line_start && ws && buf[i] != '\n');
    }
    free(buf);
    return tokens > 0 ? (double)n / (double)tokens : 6.0;
}

/*
 * Parses `slice` strictly: K/N in decimal digits, nothing else, 0 <= K < N <= MAX_SHARDS (a
 * value that does not fit is refused, never wrapped).  Fills k and n (0/0 for no slice).
 */
int elmo__embed_parse_slice(const struct elmo_job *j, int *k, int *n) {
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

/* The streams regime: groups of up to ELMO_STREAM_GROUP streams, each reading the whole input. */
static int plan_stream_groups(struct embed_run *er) {
    const struct elmo_job *j = er->job;
    struct plan *p = &er->plan;
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
                    j->streams, n_rec, elmo__embed_input_name(j), used, used > 1 ? "s" : "", p->n);
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

/*
 * The stateless regime.  The base plan: about shard_tokens tokens per shard (estimated from the
 * head of the input), cut on record boundaries, and with --slice the K-th of N contiguous
 * groups of it; it depends on the input and the job only, so that slices run with any rank
 * counts tile the input.  Then balance_range re-cuts the range the run covers for the ranks
 * that compute (a shard's boundaries never change a sentence's numbers in this regime, so the
 * store is the same whatever the rank count; a resume takes the journal's plan as it is).
 */

/* The smallest shard balance_range plans (in tokens; shard_tokens when that is smaller), and
 * the most it raises that floor to on a range of at least 4 W such shards for W ranks: a shard
 * of a few hundred tokens is one narrow batch, whose products run well below a full batch's
 * speed, so a larger input ends on fewer, larger shards while every rank still gets several. */
#define PLAN_MIN_TOKENS 512
#define PLAN_FLOOR_MAX  2048

/* Record boundaries of the input about every atom_bytes bytes (at most MAX_SHARDS pieces). */
static int plan_atoms(const struct embed_run *er, int64_t size, double atom_bytes, int64_t **bounds,
                      int64_t **lines, int *n) {
    int64_t pieces = (int64_t)ceil((double)size / atom_bytes);
    if (pieces < 1) pieces = 1;
    if (pieces > MAX_SHARDS) pieces = MAX_SHARDS;
    *bounds = elmo_xmalloc(sizeof(int64_t) * (size_t)(pieces + 1));
    *lines = elmo_xmalloc(sizeof(int64_t) * (size_t)(pieces + 1));
    struct elmo_corpus_opts co = er->ctx.copts;
    *n = elmo_corpus_split(er->input, &co, (int)pieces, *bounds, *lines);
    return *n < 0 ? *n : 0;
}

/*
 * Re-cuts [begin, end) (first line `line`) at the atoms' record boundaries, guided: each shard
 * takes 1/(2 W) of what is left for W computing ranks, between the minimum shard (the range's
 * tokens / 4 W, within PLAN_MIN_TOKENS .. PLAN_FLOOR_MAX) and shard_tokens, so the plan starts
 * with the largest shards and tapers to small ones that let the ranks finish together; a
 * remainder under half the minimum joins the last shard.  One computing rank gets shards of
 * shard_tokens.  Replaces p's shards.
 */
static void balance_range(struct plan *p, const int64_t *ab, const int64_t *al, int na,
                          int64_t begin, int64_t end, int64_t line, double bpt, int64_t shard_tok,
                          int workers) {
    double max_b = bpt * (double)shard_tok;
    double floor_tok = (double)(end - begin) / bpt / (4.0 * (workers > 1 ? workers : 1));
    floor_tok = floor_tok < PLAN_MIN_TOKENS ? PLAN_MIN_TOKENS
                : floor_tok > PLAN_FLOOR_MAX ? PLAN_FLOOR_MAX
                                             : floor_tok;
    double min_b = bpt * ((double)shard_tok < floor_tok ? (double)shard_tok : floor_tok);
    int k = 0; /* the first atom boundary after begin */
    while (k <= na && ab[k] <= begin) k++;
    int64_t cap = 16, n = 0, at = begin, at_line = line;
    struct elmo_shard *sh = elmo_xmalloc(sizeof *sh * (size_t)cap);
    while (at < end) {
        double want = workers > 1 ? (double)(end - at) / (2.0 * workers) : max_b;
        want = want > max_b ? max_b : want < min_b ? min_b : want;
        while (k <= na && ab[k] < end && (double)(ab[k] - at) < want) k++;
        int64_t cut = k <= na && ab[k] < end ? ab[k] : end;
        /* the record boundary nearest the target, past `at` */
        if (k > 0 && ab[k - 1] > at && want - (double)(ab[k - 1] - at) < (double)(cut - at) - want)
            cut = ab[--k];
        if ((double)(end - cut) < min_b / 2) cut = end;
        if (n == cap) sh = elmo_xrealloc(sh, sizeof *sh * (size_t)(cap *= 2));
        sh[n] = (struct elmo_shard){n, at, cut, at_line, -1, 0};
        n++;
        if (cut < end) at_line = al[k];
        at = cut;
    }
    free(p->sh);
    p->sh = sh;
    p->n = n;
}

static int plan_byte_ranges(struct embed_run *er) {
    const struct elmo_job *j = er->job;
    struct plan *p = &er->plan;
    struct stat st;
    if (stat(er->input, &st) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: %s", er->input, strerror(errno));
    double bpt = bytes_per_token(er->input, er->ctx.copts.format);
    int64_t *bounds = NULL, *lines = NULL;
    int n = 0, rc = 0;
    int64_t begin = 0, end = (int64_t)st.st_size, line = 1;
    if (er->slice_n > 0) {
        /* the base plan, and the K-th of N contiguous groups of it */
        ELMO_CALL(plan_atoms(er, st.st_size, bpt * (double)j->shard_tokens, &bounds, &lines, &n));
        int64_t a = (int64_t)n * er->slice_k / er->slice_n;
        int64_t b = (int64_t)n * (er->slice_k + 1) / er->slice_n;
        begin = bounds[a];
        end = bounds[b];
        line = lines[a];
        free(bounds);
        free(lines);
        bounds = lines = NULL;
    }
    int64_t min_tok = j->shard_tokens < PLAN_MIN_TOKENS ? j->shard_tokens : PLAN_MIN_TOKENS;
    ELMO_CALL(plan_atoms(er, st.st_size, bpt * (double)min_tok / 2, &bounds, &lines, &n));
    if (er->slice_n == 0) end = bounds[n]; /* what the splitter read */
    balance_range(p, bounds, lines, n, begin, end, line, bpt, j->shard_tokens,
                  elmo__embed_computing_ranks(er->size));
    if (p->n == 0 && er->slice_n == 0) { /* an empty input: one empty shard, as ever */
        free(p->sh);
        p->sh = elmo_xcalloc(1, sizeof *p->sh);
        p->sh[0] = (struct elmo_shard){0, begin, end, line, -1, 0};
        p->n = 1;
    }
cleanup:
    free(bounds);
    free(lines);
    return rc;
}

static int plan_shards(struct embed_run *er) {
    return er->job->streams > 0 ? plan_stream_groups(er) : plan_byte_ranges(er);
}


void elmo__embed_plan_alloc_state(struct plan *p) {
    size_t n = (size_t)(p->n > 0 ? p->n : 1);
    free(p->done);
    free(p->bytes);
    free(p->sum);
    p->done = elmo_xcalloc(n, 1);
    p->bytes = elmo_xcalloc(n, sizeof *p->bytes);
    p->sum = elmo_xcalloc(n, sizeof *p->sum);
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
 * Copies the input into er->spool_tmp, a plain file that can be sharded: a compressed file or
 * stdin decompressed as it is, several inputs one after the other (io/corpus.h).
 */
static int spool_input(struct embed_run *er) {
    er->first_line = elmo_xcalloc((size_t)er->in.n, sizeof *er->first_line);
    return elmo_inputs_spool(&er->in, er->job->input_format, er->spool_tmp, er->first_line);
}

/* The model's identity, the inputs readable, their format (stdin's: from its spool, later). */
static int check_inputs(struct embed_run *er) {
    struct elmo_job *job = er->job;
    struct stat st;
    er->options_text = elmo_read_text(job->options);
    if (!er->options_text) return ELMO_ERR_IO;
    ELMO_TRY(elmo_file_sha256_cached(job->weights, er->sha));
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
    return 0;
}

/* The input's fingerprint; a stream input is spooled first (and stdin's format detected). */
static int fingerprint_input(struct embed_run *er) {
    struct elmo_job *job = er->job;
    if (er->stream) {
        snprintf(er->spool_tmp, sizeof er->spool_tmp, "%s/input.spool.tmp", er->parts);
        ELMO_TRY(spool_input(er));
        ELMO_TRY(elmo__embed_fingerprint_file(er->spool_tmp, er->input_fp, sizeof er->input_fp));
        if (job->input_format == ELMO_INPUT_AUTO) { /* stdin: its first bytes decide */
            enum elmo_input_format fmt;
            ELMO_TRY(elmo_input_detect_format(er->spool_tmp, &fmt));
            job->input_format = fmt;
        }
    } else {
        ELMO_TRY(elmo__embed_fingerprint_file(er->in.path[0], er->input_fp, sizeof er->input_fp));
    }
    return 0;
}

/*
 * The journal of this job resumed (*resumed), or the shards planned and a new journal started;
 * a journal of another job (with `overwrite`) is discarded with its parts first.  A stream
 * input's spool is adopted as what the shards read.
 */
static int journal_or_plan(struct embed_run *er, int *resumed) {
    struct stat st;
    int stale = 0;
    ELMO_TRY(elmo__embed_journal_resume(er, resumed, &stale));
    if (stale) {
        fprintf(stderr,
                "embed: --overwrite: the journal %s and the parts of another job are "
                "discarded\n",
                er->journal);
        elmo__embed_remove_staging(er, 1, 1);
        if (stat(er->parts, &st) != 0 && mkdir(er->parts, 0755) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: %s", er->parts, strerror(errno));
    }
    if (er->stream) {
        snprintf(er->input, sizeof er->input, "%s/input.spool", er->parts);
        if (rename(er->spool_tmp, er->input) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: rename failed: %s", er->input, strerror(errno));
        er->spool_tmp[0] = '\0';
    } else {
        snprintf(er->input, sizeof er->input, "%s", er->in.path[0]);
    }
    if (!*resumed) {
        ELMO_TRY(plan_shards(er));
        elmo__embed_plan_alloc_state(&er->plan);
        er->journal_created = 1;
        ELMO_TRY(elmo__embed_journal_start(er));
    } else {
        er->jf = fopen(er->journal, "a");
        if (!er->jf) return elmo_error(ELMO_ERR_IO, "%s: %s", er->journal, strerror(errno));
    }
    return 0;
}

/*
 * Rank 0, once the paths are checked and the lock is held: the model's identity, the input's
 * fingerprint (a stream input is spooled first), the existing store, the journal and the plan.
 * A fresh run that stops here leaves nothing staged behind.
 */
static int prepare(struct embed_run *er, int *resumed, int *already) {
    struct stat st;
    int rc = 0, made_parts = 0;
    ELMO_TRY(check_inputs(er));
    if (stat(er->parts, &st) != 0) {
        if (mkdir(er->parts, 0755) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: %s", er->parts, strerror(errno));
        made_parts = 1;
    }
    ELMO_CALL(fingerprint_input(er));
    er->ctx.copts.format = er->job->input_format;
    er->job_fp = elmo__embed_job_fingerprint(er);
    ELMO_CALL(check_existing(er, already));
    if (*already) goto cleanup;
    ELMO_CALL(journal_or_plan(er, resumed));
cleanup:
    if (rc < 0 || *already) {
        if (er->jf) fclose(er->jf);
        er->jf = NULL;
        if (er->spool_tmp[0]) unlink(er->spool_tmp);
        if (made_parts) elmo__embed_remove_staging(er, er->journal_created, 0);
        else if (er->journal_created) unlink(er->journal);
    }
    return rc;
}

/*
 * Collective: rank 0 prepares (prepare); then every rank gets what the shards need:
 * the input they read, its format, where each of several inputs starts (ids "K:L"), whether
 * STORE is already complete (*already; then nothing more is sent), whether the run resumes,
 * and the plan with the journalled parts' sizes and checksums.
 */
int elmo__embed_share_plan(struct embed_run *er, int *already, int *resumed) {
    struct elmo_job *job = er->job;
    int lrc = 0;
    int64_t hdr[6] = {0, 0, 0, 0, 0, 0}; /* shards, already complete, resumed, files, format */
    if (er->rank == 0) {
        int r = 0, a = 0;
        lrc = prepare(er, &r, &a);
        hdr[0] = er->plan.n;
        hdr[1] = a;
        hdr[2] = r;
        hdr[3] = er->n_files;
        hdr[4] = job->input_format;
    }
    ELMO_TRY(elmo_agree(lrc));
    elmo_bcast(hdr, sizeof hdr);
    elmo_bcast(er->input, sizeof er->input);
    job->input_format = (enum elmo_input_format)hdr[4];
    er->ctx.copts.format = job->input_format;
    er->n_files = (int)hdr[3];
    if (er->n_files > 1) {
        if (er->rank != 0)
            er->first_line = elmo_xcalloc((size_t)er->n_files, sizeof *er->first_line);
        elmo_bcast(er->first_line, sizeof *er->first_line * (size_t)er->n_files);
        er->ctx.copts.n_files = er->n_files;
        er->ctx.copts.file_first_line = er->first_line;
    }
    *already = (int)hdr[1];
    *resumed = (int)hdr[2];
    if (*already) return 0;
    struct plan *p = &er->plan;
    if (er->rank != 0) {
        p->n = hdr[0];
        p->sh = elmo_xcalloc((size_t)(p->n > 0 ? p->n : 1), sizeof *p->sh);
        elmo__embed_plan_alloc_state(p);
    }
    elmo_bcast(p->sh, sizeof *p->sh * (size_t)p->n);
    elmo_bcast(p->done, sizeof *p->done * (size_t)p->n);
    elmo_bcast(p->bytes, sizeof *p->bytes * (size_t)p->n);
    elmo_bcast(p->sum, sizeof *p->sum * (size_t)p->n);
    return 0;
}
