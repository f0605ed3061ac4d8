/*
 * embed_merge.c: the end of the embed job (embed_job.h).  Rank 0 collects the shards' reject
 * lists into the reject file; then every rank takes a contiguous range of records, reads their
 * rows from the parts and writes them into STORE.partial collectively, in rounds of bounded
 * size; the store is marked complete last.
 */
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/embed_job.h"
#include "io/files.h"
#include "model/grow.h"
#include "model/outputs.h"
#include "model/status.h"


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
        elmo__embed_part_path(mg->er, i, pp, sizeof pp, "part");
        ELMO_TRY(elmo_part_open(&mg->open[i], pp));
    }
    *out = &mg->open[i];
    return 0;
}

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
    size_t cap_ent, cap_tok, cap_id, cap_text, cap_tokb, cap_rows[8];
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

/* The merge rounds of records [ra, rb): chunks of at most CHUNK_TOKENS tokens or
 * CHUNK_RECORDS records (a record larger than that is a chunk of its own). */
static int count_rounds(struct merge *mg, int64_t ra, int64_t rb, int64_t *my_rounds) {
    int64_t tok = 0, recs = 0;
    *my_rounds = 0;
    for (int64_t g = ra; g < rb; g++) {
        int64_t r;
        int i = part_of(mg, g, &r);
        struct elmo_part *p;
        ELMO_TRY(get_part(mg, i, &p));
        int64_t t = p->ent_tok[p->rec_ent[r + 1]] - p->ent_tok[p->rec_ent[r]];
        if (recs > 0 && (tok + t > CHUNK_TOKENS || recs >= CHUNK_RECORDS)) {
            (*my_rounds)++;
            tok = 0;
            recs = 0;
        }
        tok += t;
        recs++;
        if (mg->er->job->streams == 0 && r + 1 == p->h.n_rec) elmo_part_close(p);
    }
    if (recs > 0) (*my_rounds)++;
    return 0;
}

/* Appends entry e of part p to the chunk, its offsets global (the chunk starts at `at`). */
static int chunk_add_entry(struct merge *mg, struct chunk *c, struct elmo_part *p, int64_t e,
                           const struct span *at) {
    const struct elmo_job *j = mg->er->job;
    const int P = mg->er->model.opt.P;
    int64_t nt = p->ent_tok[e + 1] - p->ent_tok[e];
    elmo_xgrow((void **)&c->s_off, &c->cap_ent, (size_t)(c->n_ent + 1), 8);
    size_t ce = c->cap_ent;
    c->cap_ent = 0;
    elmo_xgrow((void **)&c->s_line, &c->cap_ent, ce, 8);
    c->cap_ent = 0;
    elmo_xgrow((void **)&c->s_id, &c->cap_ent, ce, 8);
    c->cap_ent = 0;
    elmo_xgrow((void **)&c->s_text, &c->cap_ent, ce, 8);
    c->s_off[c->n_ent] = at->tok + c->n_tok;
    c->s_line[c->n_ent] = p->ent_line[e];
    c->s_id[c->n_ent] = at->id + c->n_id;
    c->s_text[c->n_ent] = at->text + c->n_text;
    int64_t il = p->ent_id[e + 1] - p->ent_id[e];
    elmo_xgrow((void **)&c->id, &c->cap_id, (size_t)(c->n_id + il), 1);
    memcpy(c->id + c->n_id, p->id_blob + p->ent_id[e], (size_t)il);
    c->n_id += il;
    int64_t tl = p->ent_text[e + 1] - p->ent_text[e];
    elmo_xgrow((void **)&c->text, &c->cap_text, (size_t)(c->n_text + tl), 1);
    memcpy(c->text + c->n_text, p->text_blob + p->ent_text[e], (size_t)tl);
    c->n_text += tl;
    int64_t t0 = p->ent_tok[e];
    elmo_xgrow((void **)&c->t_off, &c->cap_tok, (size_t)(c->n_tok + nt), 8);
    for (int64_t x = 0; x < nt; x++)
        c->t_off[c->n_tok + x] = at->tokb + c->n_tokb + (p->tok_text[t0 + x] - p->tok_text[t0]);
    int64_t bl = p->tok_text[t0 + nt] - p->tok_text[t0];
    elmo_xgrow((void **)&c->tokb, &c->cap_tokb, (size_t)(c->n_tokb + bl), 1);
    memcpy(c->tokb + c->n_tokb, p->tok_blob + p->tok_text[t0], (size_t)bl);
    c->n_tokb += bl;
    for (unsigned k = 0; k < 8; k++) {
        if (!(j->outputs & (1u << k))) continue;
        int64_t w = elmo_output_width(k, P);
        int is_def = (1u << k) == ELMO_OUT_DEFAULT;
        int64_t have = is_def ? c->n_ent : c->n_tok, add = is_def ? 1 : nt;
        elmo_xgrow((void **)&c->rows[k], &c->cap_rows[k], (size_t)((have + add) * w),
                   sizeof(float));
        ELMO_TRY(elmo_part_read_rows(p, k, is_def ? e : t0, add, c->rows[k] + have * w));
    }
    c->n_ent++;
    c->n_tok += nt;
    return 0;
}

/* Fills the chunk with the records from *g on (before rb), as count_rounds cut them. */
static int fill_chunk(struct merge *mg, struct chunk *c, int64_t *g, int64_t rb,
                      const struct span *at) {
    int64_t tok = 0, recs = 0;
    c->n_ent = c->n_tok = c->n_id = c->n_text = c->n_tokb = 0;
    while (*g < rb) {
        int64_t r;
        int i = part_of(mg, *g, &r);
        struct elmo_part *p;
        ELMO_TRY(get_part(mg, i, &p));
        int64_t e0 = p->rec_ent[r], e1 = p->rec_ent[r + 1];
        int64_t t = p->ent_tok[e1] - p->ent_tok[e0];
        if (recs > 0 && (tok + t > CHUNK_TOKENS || recs >= CHUNK_RECORDS)) break;
        for (int64_t e = e0; e < e1; e++) ELMO_TRY(chunk_add_entry(mg, c, p, e, at));
        tok += t;
        recs++;
        (*g)++;
        if (mg->er->job->streams == 0 && r + 1 == p->h.n_rec) elmo_part_close(p);
    }
    return 0;
}

/* The closing element of each offsets array, written by rank 0 (collective). */
static int write_closing_offsets(const struct embed_run *er, struct elmo_store *st,
                                 const struct span *tot) {
    int me = er->rank == 0;
    int64_t v;
    v = tot->tok;
    ELMO_TRY(elmo_store_write_i64(st, "sentences/offset", tot->ent, me, &v));
    v = tot->id;
    ELMO_TRY(elmo_store_write_i64(st, "sentences/id_offset", tot->ent, me, &v));
    v = tot->text;
    ELMO_TRY(elmo_store_write_i64(st, "sentences/text_offset", tot->ent, me, &v));
    v = tot->tokb;
    ELMO_TRY(elmo_store_write_i64(st, "tokens/text_offset", tot->tok, me, &v));
    return 0;
}

static void chunk_free(struct chunk *c) {
    free(c->s_off); free(c->s_line); free(c->s_id); free(c->s_text); free(c->t_off);
    free(c->id); free(c->text); free(c->tokb);
    for (int k = 0; k < 8; k++) free(c->rows[k]);
}

/*
 * Collective: this rank's records [ra, rb), starting at `start` in the store, written in
 * rounds; every rank makes the same number of collective calls (the most rounds of any rank).
 */
static int merge_run(struct merge *mg, struct elmo_store *st, int64_t ra, int64_t rb,
                     const struct span *start, const struct span *tot) {
    struct embed_run *er = mg->er;
    struct chunk c;
    memset(&c, 0, sizeof c);
    int rc = 0;
    int64_t my_rounds = 0, rounds = 0;
    ELMO_CALL(count_rounds(mg, ra, rb, &my_rounds));
    ELMO_MPI(MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
    struct span at = *start;
    int64_t g = ra;
    for (int64_t round = 0; round < rounds; round++) {
        merge_check_interrupt(er);
        ELMO_CALL(fill_chunk(mg, &c, &g, rb, &at));
        ELMO_CALL(write_chunk(mg, st, &c, &at));
        at.ent += c.n_ent;
        at.tok += c.n_tok;
        at.id += c.n_id;
        at.text += c.n_text;
        at.tokb += c.n_tokb;
    }
    ELMO_CALL(write_closing_offsets(er, st, tot));
cleanup:
    chunk_free(&c);
    return rc;
}

/*
 * Collective: rank 0 reads every part's header, every rank gets them and the totals.  The
 * parts were verified (elmo__embed_verify_parts) just before.
 */
int elmo__embed_merge_headers(struct embed_run *er, struct merge *mg, struct totals *tt,
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

void elmo__embed_merge_free(struct merge *mg) {
    if (mg->open)
        for (int64_t i = 0; i < mg->er->plan.n; i++) elmo_part_close(&mg->open[i]);
    free(mg->hdr);
    free(mg->open);
    free(mg->rec0);
    memset(mg, 0, sizeof *mg);
}

void elmo__embed_store_describe(const struct embed_run *er, const struct span *tot,
                                struct elmo_store_layout *lay, struct elmo_store_attrs *attrs,
                                char *regime, char **yaml) {
    const struct elmo_job *j = er->job;
    *lay = (struct elmo_store_layout){.n_sent = tot->ent,
                                      .n_tok = tot->tok,
                                      .id_bytes = tot->id,
                                      .sent_text_bytes = tot->text,
                                      .tok_text_bytes = tot->tokb,
                                      .outputs = j->outputs,
                                      .P = er->model.opt.P,
                                      .precision = j->precision,
                                      .compress = j->compress};
    if (j->streams > 0) snprintf(regime, 32, "streams=%d", j->streams);
    else snprintf(regime, 32, "stateless");
    *yaml = elmo_job_to_yaml(j);
    *attrs = (struct elmo_store_attrs){
        .options_json = er->options_text, .weights_sha256 = er->sha, .regime = regime,
        .job_yaml = *yaml ? *yaml : "", .elmo_weights = j->mix_weights,
        .n_elmo_weights = j->n_mix_weights, .elmo_gamma = j->gamma,
        .elmo_layer_norm = j->layer_norm};
}

int elmo__embed_store_identify(const struct embed_run *er, struct elmo_store *st) {
    ELMO_TRY(elmo_store_put_attr_string(st, "job_fingerprint", er->job_fp));
    ELMO_TRY(elmo_store_put_attr_string(st, "input_fingerprint", er->input_fp));
    if (er->slice_n > 0) ELMO_TRY(elmo_store_put_attr_i64(st, "slice_k", er->slice_k));
    if (er->slice_n > 0) ELMO_TRY(elmo_store_put_attr_i64(st, "slice_n", er->slice_n));
    return 0;
}

/*
 * Collective: writes every record into STORE.partial (rank 0 owns that name for this run),
 * records the job's identity, the input's fingerprint and the slice, and marks it complete.
 * The caller renames it over STORE.
 */
int elmo__embed_merge_write(struct embed_run *er, struct merge *mg, const struct span *tot) {
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

    struct elmo_store_layout lay;
    struct elmo_store_attrs attrs;
    char regime[32], *yaml = NULL;
    elmo__embed_store_describe(er, tot, &lay, &attrs, regime, &yaml);
    merge_check_interrupt(er);
    if (er->rank == 0) elmo_out_claim_partial(&er->out);
    rc = elmo_store_create(&st, er->out.partial, MPI_COMM_WORLD, &lay, &attrs);
    free(yaml);
    ELMO_CALL(elmo_agree(rc));
    rc = elmo__embed_store_identify(er, st);
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


static int cmp_line(const void *a, const void *b) {
    long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);
    return x < y ? -1 : x > y;
}

/*
 * Collects the shards' reject lists into the reject file, written aside and renamed over it.
 * Nothing rejected: no file is created, and an existing one (an earlier run's, or not ours at
 * all) is left as it is.
 */
int elmo__embed_write_rejects(struct embed_run *er, int64_t expect) {
    char **lines = NULL;
    int64_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = NULL;
    for (int64_t i = 0; i < er->plan.n; i++) {
        char rp[ELMO_PATH_MAX + 64];
        elmo__embed_part_path(er, i, rp, sizeof rp, "rej");
        char *t = elmo_read_text(rp);
        if (!t) ELMO_FAIL(ELMO_ERR_IO, "collecting rejects: %s", elmo_errmsg());
        for (char *s = t, *e; *s; s = e + 1) {
            e = strchr(s, '\n');
            if (!e) break;
            *e = '\0';
            if (n == cap)
                lines = elmo_xrealloc(lines, sizeof *lines * (size_t)(cap = cap ? 2 * cap : 64));
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

