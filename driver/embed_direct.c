/*
 * embed_direct.c: direct writes (embed_job.h).  Every vector is written once: ranks write
 * their shards' rows straight into STORE.partial, instead of part files that a merge copies.
 *
 *   1. counting pass: every shard read into entries without the biLM (shard i on rank
 *      i % size); the counts are summed and their prefix sums give every shard its first
 *      entry, token and blob byte in the store;
 *   2. rank 0 creates STORE.partial with every dataset contiguous at its final size, storage
 *      allocated and never filled (a sparse file), with the job's identity as attributes; on a
 *      resume it reopens the partial instead, only when it records this job, this input and
 *      this layout (else the journal and the partial start afresh); every rank gets each
 *      dataset's file offset and opens the file;
 *   3. the work (embed_queue.c): a rank pwrites its shard's rows, fdatasyncs, reads its ranges
 *      back for their checksum, and the shard is journalled with it; a resume verifies every
 *      journalled shard's ranges against that checksum before it skips the shard;
 *   4. rank 0 writes the closing element of each offsets array, sets complete last (after a
 *      flush) and renames the partial over STORE.
 * Compressed stores (deflate needs chunks, filters and collective writes) and the streams
 * regime (a group of streams interleaves its records with the other groups', so a shard's rows
 * are not one range) keep the two-pass path of embed_merge.c.
 */
#include <fcntl.h>
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
#include "io/rank_log.h"
#include "model/clock.h"
#include "model/status.h"

void elmo__embed_direct_choose(struct embed_run *er) {
    const uint16_t one = 1;
    const char *env = getenv("ELMO_EMBED_TWO_PASS");
    er->direct.fd = -1;
    er->two_pass = er->job->compress > 0                  ? "a compressed store"
                   : er->job->streams > 0                 ? "the streams regime"
                   : *(const uint8_t *)&one != 1          ? "a big-endian machine"
                   : env && env[0] && strcmp(env, "0") != 0 ? "ELMO_EMBED_TWO_PASS is set"
                                                          : NULL;
    er->direct_on = elmo_bcast_int(er->two_pass == NULL); /* rank 0's environment decides */
    if (!er->direct_on && !er->two_pass) er->two_pass = "rank 0's choice";
}

/* 1. Every shard's counts (every rank), then where each shard's rows start. */
static int count_shards(struct embed_run *er, struct span *tot) {
    const int64_t n = er->plan.n;
    const int F = ELMO_SHARD_COUNT_FIELDS;
    double t = elmo_now();
    er->count = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *er->count);
    er->first = elmo_xcalloc((size_t)(n > 0 ? n : 1), sizeof *er->first);
    int lrc = 0;
    for (int64_t i = er->rank; i < n && lrc == 0; i += er->size)
        lrc = elmo_embed_count(&er->ctx, er->input, &er->plan.sh[i], &er->count[i]);
    ELMO_TRY(elmo_agree(lrc));
    for (int64_t at = 0; at < n; at += 1 << 20) { /* counts of MPI calls fit an int */
        int64_t m = n - at < (1 << 20) ? n - at : (1 << 20);
        ELMO_MPI(MPI_Allreduce(MPI_IN_PLACE, &er->count[at], (int)(m * F), MPI_INT64_T, MPI_SUM,
                               MPI_COMM_WORLD));
    }
    memset(tot, 0, sizeof *tot);
    for (int64_t i = 0; i < n; i++) {
        const struct elmo_shard_count *c = &er->count[i];
        er->first[i] = (struct elmo_shard_count){.n_ent = tot->ent, .n_tok = tot->tok,
                                                 .id_bytes = tot->id, .text_bytes = tot->text,
                                                 .tok_bytes = tot->tokb};
        tot->ent += c->n_ent;
        tot->tok += c->n_tok;
        tot->id += c->id_bytes;
        tot->text += c->text_bytes;
        tot->tokb += c->tok_bytes;
    }
    er->t_count = elmo_now() - t;
    elmo_rank_log("counting pass: %" PRId64 " shards, %" PRId64 " sentences, %" PRId64
                  " tokens, %.2f s", n, tot->ent, tot->tok, er->t_count);
    return 0;
}

/* The partial's attribute equals want (a string attribute of this job). */
static int attr_is(struct elmo_store *st, const char *name, const char *want) {
    char *v = elmo_store_attr_string(st, name);
    int same = v && !strcmp(v, want);
    free(v);
    return same;
}

/*
 * Rank 0, on a resume: the existing partial is this job's over this input with the layout the
 * counts give (fills map).  Returns 1 when it can be reused, 0 with *why when not.
 */
static int reusable_partial(struct embed_run *er, const struct elmo_store_layout *lay,
                            struct elmo_store_map *map, char *why, size_t n) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    int ok = 0;
    if (elmo_store_open(&st, er->out.partial, &info) < 0) {
        snprintf(why, n, "%s", elmo_errmsg());
    } else if (!attr_is(st, "job_fingerprint", er->job_fp) ||
               !attr_is(st, "input_fingerprint", er->input_fp)) {
        snprintf(why, n, "it is not this job's over this input");
    } else if (info.complete || info.n_sent != lay->n_sent || info.n_tok != lay->n_tok ||
               info.id_bytes != lay->id_bytes || info.sent_text_bytes != lay->sent_text_bytes ||
               info.tok_text_bytes != lay->tok_text_bytes || info.outputs != lay->outputs ||
               info.P != lay->P || info.precision != lay->precision) {
        snprintf(why, n, "its layout is not this run's");
    } else if (elmo_store_map(st, map) < 0) {
        snprintf(why, n, "%s", elmo_errmsg());
    } else {
        ok = 1;
    }
    elmo_error_clear();
    elmo_store_close(st);
    return ok;
}

/*
 * The partial reaches the end of every dataset, sparse (HDF5 would extend it at close; over a
 * file size limit that fails here, before any rank writes a row).
 */
static int extend_partial(const char *path, const struct elmo_store_map *map) {
    int64_t end = 0;
    struct stat st;
    for (int k = 0; k < ELMO_DS_COUNT; k++)
        if (map->off[k] >= 0 && map->off[k] + map->rows[k] * map->row_bytes[k] > end)
            end = map->off[k] + map->rows[k] * map->row_bytes[k];
    if (stat(path, &st) != 0) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    if ((int64_t)st.st_size < end && truncate(path, (off_t)end) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot extend it to %" PRId64 " bytes: %s", path,
                          end, strerror(errno));
    return 0;
}

/* Rank 0: a fresh STORE.partial for direct writes (no row written yet); fills map. */
static int create_partial(struct embed_run *er, const struct span *tot,
                          struct elmo_store_map *map) {
    struct elmo_store *st = NULL;
    struct elmo_store_layout lay;
    struct elmo_store_attrs attrs;
    char regime[32], *yaml = NULL;
    elmo__embed_store_describe(er, tot, &lay, &attrs, regime, &yaml);
    lay.contiguous = true;
    int rc = elmo_store_create(&st, er->out.partial, MPI_COMM_SELF, &lay, &attrs);
    free(yaml);
    if (rc == 0) rc = elmo__embed_store_identify(er, st);
    if (rc == 0) rc = elmo_store_map(st, map);
    if (rc == 0) rc = extend_partial(er->out.partial, map);
    /* HDF5 keeps a file whose close failed (it extends the file there too) and fails again at
       exit: a failure once the file exists stops the job at once; the journal stays */
    if (rc < 0 && st) elmo_die(rc);
    elmo_store_close(st); /* not complete: the rows come from the ranks */
    return rc;
}

/*
 * 2. Rank 0: reopens the partial of a resumed run when it fits, else creates it and the
 *    journal afresh (*resumed = 0).
 */
static int open_or_create(struct embed_run *er, const struct span *tot, int *resumed) {
    struct elmo_store_layout lay;
    struct elmo_store_attrs attrs;
    char regime[32], *yaml = NULL, why[600] = "";
    elmo__embed_store_describe(er, tot, &lay, &attrs, regime, &yaml);
    free(yaml);
    if (*resumed && reusable_partial(er, &lay, &er->direct.map, why, sizeof why)) return 0;
    if (*resumed) {
        fprintf(stderr, "embed: %s cannot be reused (%s): the journalled shards are done "
                "again\n", er->out.partial, why);
        elmo_rank_log("%s cannot be reused (%s); starting afresh", er->out.partial, why);
        if (er->jf) fclose(er->jf);
        er->jf = NULL;
        memset(er->plan.done, 0, (size_t)(er->plan.n > 0 ? er->plan.n : 1));
        ELMO_TRY(elmo__embed_journal_start(er));
        *resumed = 0;
    }
    return create_partial(er, tot, &er->direct.map);
}

int elmo__embed_direct_prepare(struct embed_run *er, int *resumed) {
    struct span tot;
    ELMO_TRY(count_shards(er, &tot));
    int lrc = er->rank == 0 ? open_or_create(er, &tot, resumed) : 0;
    ELMO_TRY(elmo_agree(lrc));
    elmo_bcast(&er->direct.map, sizeof er->direct.map);
    elmo_bcast(er->plan.done, (size_t)er->plan.n);
    *resumed = elmo_bcast_int(*resumed);
    struct elmo_direct *d = &er->direct;
    d->path = er->out.partial;
    d->count = er->count;
    d->first = er->first;
    d->half = er->job->precision == ELMO_PREC_F16;
    /* read-write: a shard's checksum is read back from what it wrote */
    d->fd = open(d->path, O_RDWR | O_CLOEXEC);
    lrc = d->fd < 0 ? elmo_error(ELMO_ERR_IO, "%s: %s", d->path, strerror(errno)) : 0;
    ELMO_TRY(elmo_agree(lrc));
    er->ctx.direct = d;
    return 0;
}

int elmo__embed_direct_totals(struct embed_run *er, struct totals *tt) {
    memset(tt, 0, sizeof *tt);
    for (int64_t i = 0; i < er->plan.n; i++) {
        const struct elmo_shard_count *c = &er->count[i];
        tt->rec += c->n_rec;
        tt->ent += c->n_ent;
        tt->tok += c->n_tok;
        tt->reject += c->n_reject;
        tt->empty += c->n_empty;
        tt->split += c->n_split;
        tt->truncated += c->n_truncated;
        tt->cut += c->n_cut_tokens;
    }
    /* what only the forward work knows, over the shards this run did */
    int64_t mine[3] = {er->ctx.fwd.cache.hits, er->ctx.fwd.cache.lookups, er->ctx.n_nonfinite};
    int64_t all[3];
    ELMO_MPI(MPI_Allreduce(mine, all, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    tt->hits = all[0];
    tt->lookups = all[1];
    tt->nonfinite = all[2];
    return 0;
}

/* Rank 0: the closing element of each offsets array (no shard writes it). */
static int write_closing(struct embed_run *er) {
    const struct elmo_direct *d = &er->direct;
    int64_t N = 0, T = 0, id = 0, text = 0, tokb = 0;
    for (int64_t i = 0; i < er->plan.n; i++) {
        N += er->count[i].n_ent;
        T += er->count[i].n_tok;
        id += er->count[i].id_bytes;
        text += er->count[i].text_bytes;
        tokb += er->count[i].tok_bytes;
    }
    const struct { int ds; int64_t row, v; } w[4] = {{ELMO_DS_SENT_OFFSET, N, T},
                                                     {ELMO_DS_ID_OFFSET, N, id},
                                                     {ELMO_DS_TEXT_OFFSET, N, text},
                                                     {ELMO_DS_TOK_OFFSET, T, tokb}};
    for (int k = 0; k < 4; k++) {
        int64_t off = d->map.off[w[k].ds] + w[k].row * d->map.row_bytes[w[k].ds];
        if (pwrite(d->fd, &w[k].v, 8, (off_t)off) != 8)
            return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", d->path, strerror(errno));
    }
    if (fdatasync(d->fd) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: fdatasync failed: %s", d->path, strerror(errno));
    return 0;
}

int elmo__embed_direct_finish(struct embed_run *er) {
    int lrc = 0;
    if (er->rank == 0) {
        lrc = write_closing(er);
        if (close(er->direct.fd) != 0 && lrc == 0)
            lrc = elmo_error(ELMO_ERR_IO, "%s: close failed: %s", er->direct.path,
                             strerror(errno));
        er->direct.fd = -1;
        if (lrc == 0) lrc = elmo_store_mark_complete(er->out.partial);
        if (lrc == 0) {
            elmo_out_claim_partial(&er->out);
            lrc = elmo_out_commit(&er->out);
        }
    }
    return elmo_agree(lrc);
}

void elmo__embed_direct_free(struct embed_run *er) {
    if (er->direct.fd >= 0) close(er->direct.fd);
    er->direct.fd = -1;
    er->ctx.direct = NULL;
    free(er->count);
    free(er->first);
    er->count = er->first = NULL;
}
