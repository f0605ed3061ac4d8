/*
 * embed_journal.c: the embed job's journal (embed_job.h).  STORE.journal starts with the job's
 * identity and the input's fingerprint, then the plan (one line per shard), then one line per
 * finished shard with its part's size and checksum, appended and fsynced as shards finish.  A
 * rerun of the same job over the same input resumes from it, trusting a part only after
 * checking it.  Also: the staging area's removal.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "io/files.h"
#include "io/rank_log.h"
#include "io/sha256.h"
#include "model/status.h"

/*
 * The job's identity: every key that changes what the store holds, and the model's hashes.
 * The journal starts with it (then the input's fingerprint); a complete store records it, so a
 * rerun of the same job over the same input is recognised.
 */
char *elmo__embed_job_fingerprint(const struct embed_run *er) {
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
int elmo__embed_fingerprint_file(const char *path, char *out, size_t n) {
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

#define JOURNAL_MAGIC "elmo-journal 2\n"

/* The journal's header: the job's identity, then the input's fingerprint. */
static char *journal_header(const struct embed_run *er) {
    size_t n = strlen(er->job_fp) + strlen(er->input_fp) + 64;
    char *h = elmo_xmalloc(n);
    snprintf(h, n, "%sjob input_fingerprint %s\n", er->job_fp, er->input_fp);
    return h;
}

/*
 * The journal's header differs from this run's (text and header after the magic): names the
 * first line that differs, telling a changed input from another job or model.
 */
static int header_mismatch(const struct embed_run *er, const char *text, const char *header) {
    const char *a = text, *b = header;
    while (*a && *b && *a == *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a)) != 0) break;
        a = ea + 1;
        b = eb + 1;
    }
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    static const char in_key[] = "job input_fingerprint ";
    if (!strncmp(a, in_key, sizeof in_key - 1) && !strncmp(b, in_key, sizeof in_key - 1))
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s is not the input that %s was started with (then %.*s, now "
                          "%.*s): its finished shards cannot be reused; rerun with the "
                          "original input, or delete %s and %s/ (or give --overwrite) to "
                          "start over",
                          elmo__embed_input_name(er->job), er->journal,
                          ea ? (int)(ea - a - (sizeof in_key - 1)) : 0, a + sizeof in_key - 1,
                          eb ? (int)(eb - b - (sizeof in_key - 1)) : 0, b + sizeof in_key - 1,
                          er->journal, er->parts);
    return elmo_error(ELMO_ERR_MISMATCH,
                      "%s belongs to a different job or model: it has '%.*s', this run "
                      "has '%.*s'; delete %s and %s/ (or give --overwrite) to start over",
                      er->journal, ea ? (int)(ea - a) : 0, a, eb ? (int)(eb - b) : 0, b,
                      er->journal, er->parts);
}

/*
 * Reads the journal's lines after its header into er->plan: the plan, its shards, and the
 * done shards with their parts' sizes and checksums.  A torn last line (a crash while
 * appending) is ignored; a plan that is missing or incomplete is refused.
 */
static int read_plan_lines(struct embed_run *er, char *line) {
    struct plan *p = &er->plan;
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
            elmo__embed_plan_alloc_state(p);
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
    if (n < 0 || seen != n)
        return elmo_error(ELMO_ERR_MISMATCH, "%s: the journal's plan is damaged; delete it and %s/ "
                          "to start over", er->journal, er->parts);
    return 0;
}

/*
 * Reads an existing journal: the same job and input, its plan, and the shards it lists as done
 * with their parts' sizes and checksums (the last line of a shard wins).  The parts are
 * verified later, collectively (elmo__embed_verify_parts).  With `overwrite`, a journal of
 * another job is set aside (*stale = 1) instead of refused.
 */
int elmo__embed_journal_resume(struct embed_run *er, int *resumed, int *stale) {
    *resumed = 0;
    *stale = 0;
    struct stat jst;
    if (stat(er->journal, &jst) != 0) return 0; /* no journal: a fresh start */
    char *text = elmo_read_text(er->journal);
    if (!text) return elmo_error_prefix(ELMO_ERR_IO, "reading the journal: ");
    int rc = 0;
    char *header = journal_header(er);
    size_t fl = strlen(header), ml = strlen(JOURNAL_MAGIC);
    int magic_ok = strncmp(text, JOURNAL_MAGIC, ml) == 0;
    if (!magic_ok || strncmp(text + ml, header, fl) != 0) {
        if (er->job->overwrite)
            *stale = 1;
        else if (!magic_ok)
            rc = elmo_error(ELMO_ERR_MISMATCH,
                            "%s: not a journal of this version of elmo; delete it and %s/ to "
                            "start over (or give --overwrite)",
                            er->journal, er->parts);
        else
            rc = header_mismatch(er, text + ml, header);
        goto out;
    }
    rc = read_plan_lines(er, text + ml + fl);
    if (rc == 0) *resumed = 1;
out:
    free(header);
    free(text);
    return rc;
}

int elmo__embed_journal_start(struct embed_run *er) {
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
int elmo__embed_journal_done(struct embed_run *er, int64_t id, int64_t bytes, uint64_t sum) {
    ELMO_TRY(elmo__embed_journal_note(er, id, bytes, sum));
    return elmo__embed_journal_sync(er);
}

int elmo__embed_journal_note(struct embed_run *er, int64_t id, int64_t bytes, uint64_t sum) {
    if (id < 0 || id >= er->plan.n)
        return elmo_error(ELMO_ERR_STATE, "shard %" PRId64 " reported done is not in the plan", id);
    if (fprintf(er->jf, "done %" PRId64 " %" PRId64 " %016" PRIx64 "\n", id, bytes, sum) < 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    er->plan.done[id] = 1;
    er->plan.bytes[id] = bytes;
    er->plan.sum[id] = sum;
    er->shards_done++;
    return 0;
}

int elmo__embed_journal_sync(struct embed_run *er) {
    if (fflush(er->jf) != 0 || fsync(fileno(er->jf)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", er->journal, strerror(errno));
    return 0;
}

/*
 * Collective: checks the parts of the shards with which[i] set (with direct writes: their rows
 * in STORE.partial) against the journal's size and checksum, each rank the shards i with i % size == rank; bad[i] (on every rank) is set for
 * every part that fails.  With warn, each failure is printed as a warning (the shard is then
 * computed again); otherwise this rank stops at its first failure and returns it in *first
 * (its message recorded).
 */
int elmo__embed_verify_parts(struct embed_run *er, const uint8_t *which, uint8_t *bad, int warn,
                        int *first) {
    const struct plan *p = &er->plan;
    int64_t n = p->n;
    *first = 0;
    memset(bad, 0, (size_t)(n > 0 ? n : 1));
    for (int64_t i = er->rank; i < n; i += er->size) {
        if (!which[i]) continue;
        char pp[ELMO_PATH_MAX + 64];
        elmo__embed_part_path(er, i, pp, sizeof pp, "part");
        int rc = er->direct_on ? elmo_direct_verify(&er->direct, i, p->bytes[i], p->sum[i])
                               : elmo_part_verify(pp, p->bytes[i], p->sum[i]);
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


/*
 * Removes this output's staging: in STORE.parts/ the shard files (shard-*) and the input spool
 * (the spool being written too unless keep_spool_tmp), the journal when drop_journal, and the
 * directory once it is empty.  These names belong to the job; the lock proves that no other
 * run is using them.
 */
void elmo__embed_remove_staging(struct embed_run *er, int drop_journal, int keep_spool_tmp) {
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
