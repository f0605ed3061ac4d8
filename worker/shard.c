/*
 * shard.c: one shard from input text to a staged part file.
 *
 * Flow: read the shard's records (corpus reader) into entries (a record gives one entry, none
 * when rejected, several when a long sentence is split); plan length-sorted batches under the
 * token budget (stateless) or walk the stream in order (streams); for each batch look up or
 * compute the token vectors (word-type cache), run the biLSTM, derive the requested outputs
 * and write each entry's rows at their place in the part file.  Stateless, with the sentence
 * cache (worker/dedup.h): an entry equal to one computed earlier on this rank is written from
 * the cache, and one equal to an earlier entry of the shard is written with it; neither is
 * batched.
 */
#include "worker/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/store.h"
#include "model/bilm_ws.h"
#include "model/clock.h"
#include "model/grow.h"
#include "model/status.h"
#include "worker/batcher.h"
#include "worker/part.h"

/* ---- growable arrays (amortised; a shard's index) ----------------------------------- */

struct vec64 { int64_t *v; int64_t n, cap; };
struct bytes { char *v; int64_t n, cap; };

static void v64_push(struct vec64 *a, int64_t x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 1024;
        a->v = elmo_xrealloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

static void bytes_add(struct bytes *b, const char *s, size_t n) {
    if (b->n + (int64_t)n > b->cap) {
        while (b->n + (int64_t)n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->v = elmo_xrealloc(b->v, (size_t)b->cap);
    }
    memcpy(b->v + b->n, s, n);
    b->n += (int64_t)n;
}

struct shard_buf {
    struct vec64 rec_ent, ent_line, ent_id, ent_text, ent_tok, tok_text;
    struct bytes id, text, tok;
    int64_t n_reject, n_empty, n_split, n_truncated, n_cut_tokens;
};

static void shard_buf_free(struct shard_buf *b) {
    free(b->rec_ent.v); free(b->ent_line.v); free(b->ent_id.v); free(b->ent_text.v);
    free(b->ent_tok.v); free(b->tok_text.v); free(b->id.v); free(b->text.v); free(b->tok.v);
    memset(b, 0, sizeof *b);
}

/* Adds one entry made of tokens tok[0..n) with the given text. */
static void add_entry(struct shard_buf *b, int64_t line, const char *id, const char *text,
                      size_t text_len, char **tok, int n) {
    v64_push(&b->ent_line, line);
    bytes_add(&b->id, id, strlen(id));
    v64_push(&b->ent_id, b->id.n);
    bytes_add(&b->text, text, text_len);
    v64_push(&b->ent_text, b->text.n);
    for (int i = 0; i < n; i++) {
        bytes_add(&b->tok, tok[i], strlen(tok[i]));
        v64_push(&b->tok_text, b->tok.n);
    }
    v64_push(&b->ent_tok, b->tok_text.n - 1);
}

/* Joins tokens with single spaces (the text of a piece of a split sentence). */
static char *join_tokens(char **tok, int n, size_t *len) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += strlen(tok[i]) + 1;
    char *s = elmo_xmalloc(total + 1);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(tok[i]);
        if (i) s[o++] = ' ';
        memcpy(s + o, tok[i], l);
        o += l;
    }
    s[o] = '\0';
    *len = o;
    return s;
}

static int read_shard(struct elmo_embed_ctx *ctx, const char *input, const struct elmo_shard *sh,
                      struct shard_buf *b, FILE *rej, const char *rej_path) {
    const struct elmo_job *job = ctx->job;
    struct elmo_corpus *c = NULL;
    struct elmo_record rec;
    int rc = 0;
    int64_t cap = job->max_sentence_tokens;
    int64_t r = -1;
    memset(&rec, 0, sizeof rec);
    ELMO_CALL(elmo_corpus_open(&c, input, &ctx->copts, sh->begin, sh->end, sh->first_line));
    v64_push(&b->ent_id, 0);
    v64_push(&b->ent_text, 0);
    v64_push(&b->ent_tok, 0);
    v64_push(&b->tok_text, 0);
    for (;;) {
        int got = elmo_corpus_next(c, &rec);
        if (got < 0) ELMO_FAIL(got, "%s", elmo_errmsg());
        if (got == 0) break;
        r++;
        if (sh->stream >= 0 && (r % job->streams < sh->stream ||
                                r % job->streams >= sh->stream + sh->n_streams))
            continue;
        v64_push(&b->rec_ent, b->ent_line.n);
        if (rec.reject) {
            b->n_reject++;
            if (rej && fprintf(rej, "%" PRId64 "\t%s\n", rec.line, rec.reason) < 0)
                ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", rej_path, strerror(errno));
            continue;
        }
        char idbuf[32];
        const char *id = rec.id && rec.id[0] ? rec.id : idbuf;
        snprintf(idbuf, sizeof idbuf, "%" PRId64, rec.line);
        const char *text = rec.text ? rec.text : "";
        if (rec.n_tok == 0) {
            b->n_empty++;
            add_entry(b, rec.line, id, text, strlen(text), NULL, 0);
        } else if (rec.n_tok <= cap) {
            add_entry(b, rec.line, id, text, strlen(text), rec.tok, rec.n_tok);
        } else if (job->long_sentences == ELMO_LONG_TRUNCATE) {
            b->n_truncated++;
            b->n_cut_tokens += rec.n_tok - cap;
            add_entry(b, rec.line, id, text, strlen(text), rec.tok, (int)cap);
        } else {
            b->n_split++;
            for (int64_t s = 0; s < rec.n_tok; s += cap) {
                int n = (int)(rec.n_tok - s < cap ? rec.n_tok - s : cap);
                size_t len;
                char *piece = join_tokens(rec.tok + s, n, &len);
                add_entry(b, rec.line, id, piece, len, rec.tok + s, n);
                free(piece);
            }
        }
    }
    v64_push(&b->rec_ent, b->ent_line.n);
    /* A plain input that no longer reaches the end of the shard's range was cut (or replaced)
     * while the job ran: the shard would silently hold fewer records than were planned. */
    if (sh->end >= 0) {
        struct stat st;
        if (stat(input, &st) != 0) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", input, strerror(errno));
        if ((int64_t)st.st_size < sh->end)
            ELMO_FAIL(ELMO_ERR_STATE,
                      "%s now ends at byte %lld, inside shard %" PRId64 " (bytes %" PRId64
                      "..%" PRId64 "): the input changed while the job ran; restore it and "
                      "rerun",
                      input, (long long)st.st_size, sh->id, sh->begin, sh->end);
    }
cleanup:
    elmo_corpus_close(c);
    return rc;
}

/* ---- part file writing ---------------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, int64_t n, int64_t off, const char *path) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, (size_t)n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        p += w;
        n -= w;
        off += w;
    }
    return 0;
}

/* ---- the batch ------------------------------------------------------------------------ */

/* The smallest magnitude that rounds to infinity in IEEE half precision (65504 is its largest
 * finite value; halfway to 65536 rounds to the even neighbour, infinity). */
#define F16_OVERFLOW 65520.0f

/*
 * Counts the values of rows[0..n) that the store cannot hold as numbers: inf or nan, and with
 * precision f16 values that round to infinity.  Unless the job keeps them, the first one fails
 * the shard with a message naming the input line of entry e and the output.
 */
static int check_finite(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int64_t e,
                        unsigned k, const float *rows, int64_t n) {
    const bool f16 = ctx->job->precision == ELMO_PREC_F16;
    int64_t bad = 0;
    float first = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float x = rows[i];
        if (!isfinite(x) || (f16 && fabsf(x) >= F16_OVERFLOW)) {
            if (!bad) first = x;
            bad++;
        }
    }
    if (!bad) return 0;
    ctx->n_nonfinite += bad;
    if (ctx->job->keep_nonfinite) return 0;
    const char *in = strcmp(ctx->job->input, "-") ? ctx->job->input : "stdin";
    if (isfinite(first))
        return elmo_error(ELMO_ERR_NAN,
                          "%s line %" PRId64 ": output %s has %" PRId64 " value(s) too large "
                          "for float16 (e.g. %g; the largest is 65504); nothing is written "
                          "(use --precision f32, or --keep-nonfinite to store them as inf)",
                          in, b->ent_line.v[e], elmo_outputs[k].name, bad, (double)first);
    return elmo_error(ELMO_ERR_NAN,
                      "%s line %" PRId64 ": output %s has %" PRId64 " non-finite value(s) "
                      "(%g): the model's weights or the input give values out of range; "
                      "nothing is written (--keep-nonfinite stores them and counts them)",
                      in, b->ent_line.v[e], elmo_outputs[k].name, bad, (double)first);
}

/*
 * Where a shard's rows go: a part file being written (its temporary path), or STORE.partial.
 * Row r of output k is at byte out[k] + r * row[k]; half: rows are stored as float16.
 */
struct part_out {
    int fd;
    struct elmo_part_layout lay;
    const char *path;
    int64_t out[ELMO_N_OUTPUTS], row[ELMO_N_OUTPUTS];
    int half;
    uint16_t *h16;  /* half: conversion buffer of cap16 values */
    size_t cap16;
};

/* The bytes n floats take in out: the floats themselves, or their float16 conversion (in
 * out->h16, valid until the next call) when the store holds float16.  *len: their size. */
static const void *stored_bytes(struct part_out *out, const float *rows, int64_t n,
                                int64_t *len) {
    if (!out->half) {
        *len = n * 4;
        return rows;
    }
    elmo_xgrow((void **)&out->h16, &out->cap16, (size_t)n, sizeof *out->h16);
    for (int64_t i = 0; i < n; i++) out->h16[i] = elmo_f32_to_f16(rows[i]);
    *len = n * 2;
    return out->h16;
}

/* The byte of out where output k of entry e starts. */
static int64_t place_of(const struct shard_buf *b, int64_t e, unsigned k,
                        const struct part_out *out) {
    const int64_t at = elmo_outputs[k].per_sentence ? e : b->ent_tok.v[e];
    return out->out[k] + at * out->row[k];
}

/* Writes len bytes of output k of entry e at their place: the one place an output's bytes go,
 * from the forward path (write_entry) or from the sentence cache (copy_entry). */
static int put_output(const struct shard_buf *b, int64_t e, unsigned k, const void *bytes,
                      int64_t len, const struct part_out *out) {
    return pwrite_all(out->fd, bytes, len, place_of(b, e, k, out), out->path);
}

/* Writes the outputs of entry e, the forward path's selected sentence, at its place.  The
 * sentence cache records them: with direct writes as their place in the store, which stays
 * open and keeps them for the whole job, else as the bytes (a part file is closed when its
 * shard ends). */
static int write_entry(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int64_t e,
                       struct part_out *out) {
    const int P = ctx->m->opt.P;
    const int64_t n = b->ent_tok.v[e + 1] - b->ent_tok.v[e];
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        const struct elmo_output *o = &elmo_outputs[k];
        if (!(ctx->outputs & o->bit)) continue;
        const int64_t width = elmo_output_width(k, P);
        int64_t nrows;
        const float *rows = elmo_forward_output(&ctx->fwd, k, &nrows);
        if (nrows > 0 && (n > 0 || o->per_sentence)) {
            const int64_t bad0 = ctx->n_nonfinite;
            ELMO_TRY(check_finite(ctx, b, e, k, rows, nrows * width));
            int64_t len;
            const void *bytes = stored_bytes(out, rows, nrows * width, &len);
            ELMO_TRY(put_output(b, e, k, bytes, len, out));
            const int64_t bad = ctx->n_nonfinite - bad0;
            if (ctx->direct)
                elmo_dedup_put_place(&ctx->dedup, k, place_of(b, e, k, out), (size_t)len, bad);
            else elmo_dedup_put(&ctx->dedup, k, bytes, (size_t)len, bad);
        }
    }
    return 0;
}

/* Writes the outputs of entry e from the sentence cache: the bytes an equal entry's
 * computation wrote (kept in the cache, or read back from their place in the store), and its
 * non-finite count. */
static int copy_entry(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int64_t e,
                      const struct elmo_dedup_entry *hit, const struct part_out *out) {
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        size_t len;
        int64_t bad, at;
        if (!(ctx->outputs & elmo_outputs[k].bit)) continue;
        const void *bytes = elmo_dedup_part(hit, k, &len, &bad);
        if (!bytes && elmo_dedup_place(hit, k, &at, &len, &bad)) {
            elmo_xgrow((void **)&ctx->dup_buf, &ctx->dup_cap, len, 1);
            ELMO_TRY(elmo_part_read_at(out->fd, ctx->dup_buf, (int64_t)len, at, out->path));
            bytes = ctx->dup_buf;
        }
        if (!bytes) continue;
        ctx->n_nonfinite += bad;
        ELMO_TRY(put_output(b, e, k, bytes, (int64_t)len, out));
    }
    return 0;
}

/*
 * Entry e, the forward path's selected sentence (its tokens w[0..n)): written and recorded in
 * the sentence cache, then written again for each later equal entry of the shard.
 */
static int write_computed(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int64_t e,
                          const struct elmo_word *w, int n, struct part_out *out) {
    elmo_dedup_begin(&ctx->dedup, w, n);
    ELMO_TRY(write_entry(ctx, b, e, out));
    elmo_dedup_end(&ctx->dedup);
    for (int64_t d = ctx->dup_next ? ctx->dup_next[e] : -1; d >= 0; d = ctx->dup_next[d]) {
        ELMO_TRY(write_entry(ctx, b, d, out));
        ctx->dup_sentences++;
        ctx->dup_tokens += n;
    }
    return 0;
}

/* The batch's tokens, entry after entry, for the forward path. */
static void batch_words(struct elmo_embed_ctx *ctx, const struct shard_buf *b, const int32_t *ents,
                        int B, int32_t *ntok) {
    int row = 0;
    for (int k = 0; k < B; k++) {
        int64_t e = ents[k];
        ntok[k] = (int32_t)(b->ent_tok.v[e + 1] - b->ent_tok.v[e]);
        for (int64_t t = b->ent_tok.v[e]; t < b->ent_tok.v[e + 1]; t++, row++) {
            ctx->fwd.words[row].s = b->tok.v + b->tok_text.v[t];
            ctx->fwd.words[row].len = (size_t)(b->tok_text.v[t + 1] - b->tok_text.v[t]);
        }
    }
}

static int run_batch(struct elmo_embed_ctx *ctx, const struct shard_buf *b, const int32_t *ents,
                     int B, float *const *state, int32_t *ntok, struct part_out *out) {
    int64_t tokens = 0;
    batch_words(ctx, b, ents, B, ntok);
    for (int k = 0; k < B; k++) tokens += ntok[k];
    elmo_forward_run(&ctx->fwd, B, ntok, ctx->fwd.words, state);
    int r0 = 0;
    double t0 = elmo_now();
    const int64_t dup0 = ctx->dup_sentences, duptok0 = ctx->dup_tokens;
    for (int k = 0; k < B; k++) {
        elmo_forward_select(&ctx->fwd, r0, ntok[k]);
        ELMO_TRY(write_computed(ctx, b, ents[k], ctx->fwd.words + r0, ntok[k], out));
        r0 += ntok[k];
    }
    ctx->t_write += elmo_now() - t0;
    /* the entries written with an equal one count as done, as computed ones do */
    const int64_t sentences = B + ctx->dup_sentences - dup0;
    tokens += ctx->dup_tokens - duptok0;
    ctx->tokens_done += tokens;
    ctx->sentences_done += sentences;
    if (ctx->on_batch) ctx->on_batch(ctx->cb_arg, sentences, tokens);
    return 0;
}

/* ---- context -------------------------------------------------------------------------- */

int elmo_embed_ctx_init(struct elmo_embed_ctx *ctx, const struct elmo_job *job,
                        const struct elmo_model *m) {
    int rc = 0;
    memset(ctx, 0, sizeof *ctx);
    ctx->job = job;
    ctx->m = m;
    ctx->copts.format = job->input_format;
    ctx->copts.text_field = job->text_field;
    ctx->copts.tokens_field = job->tokens_field[0] ? job->tokens_field : NULL;
    ctx->copts.id_field = job->id_field;
    ctx->outputs = job->outputs;
    if (job->n_mix_weights != 0 && job->n_mix_weights != m->opt.L + 1)
        return elmo_error(ELMO_ERR_ARG, "mix_weights has %d values; the model has %d layers "
                          "(give %d values or none)", job->n_mix_weights, m->opt.L + 1,
                          m->opt.L + 1);
    if ((job->outputs & (ELMO_OUT_ALL | ELMO_OUT_AVERAGE)) && m->opt.L != 2)
        return elmo_error(ELMO_ERR_ARG, "outputs all/average need a 2-layer model (this has %d)",
                          m->opt.L);
    const struct elmo_forward_opts fo = {
        .max_rows = job->streams > 0 ? ELMO_STREAM_GROUP : 256,
        .batch_tokens = job->batch_tokens,
        .max_len = job->max_sentence_tokens,
        .cache = job->cache,
        .outputs = job->outputs,
        .n_mix_weights = job->n_mix_weights,
        .mix_weights = job->mix_weights,
        .gamma = job->gamma,
        .layer_norm = job->layer_norm,
    };
    ELMO_CALL(elmo_forward_init(&ctx->fwd, m, &fo));
    if (job->dedup && job->streams == 0)
        ELMO_CALL(elmo_dedup_init(&ctx->dedup, (size_t)job->dedup_mib << 20));
    if (job->streams > 0) {
        ctx->state = elmo_aligned_alloc(sizeof(float) * ELMO_STREAM_GROUP *
                                        elmo_stream_state_floats(&m->opt), "stream states");
        if (!ctx->state) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    }
    return 0;
cleanup:
    elmo_embed_ctx_free(ctx);
    return rc;
}

void elmo_embed_ctx_free(struct elmo_embed_ctx *ctx) {
    elmo_forward_free(&ctx->fwd);
    elmo_dedup_free(&ctx->dedup);
    free(ctx->dup_buf);
    free(ctx->state);
    memset(ctx, 0, sizeof *ctx);
}

/* ---- the shard ------------------------------------------------------------------------ */

static int fsync_dir_of(const char *path) {
    char *copy = elmo_xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return 0;
    fsync(fd);
    close(fd);
    return 0;
}

/* The part's header as far as the shard's index gives it (the counts come at the end). */
static void part_header(const struct elmo_embed_ctx *ctx, const struct elmo_shard *sh,
                        const struct shard_buf *b, struct elmo_part_header *h) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, ELMO_PART_MAGIC, 8);
    h->version = 1;
    h->P = (uint32_t)ctx->m->opt.P;
    h->outputs = ctx->outputs;
    h->shard = sh->id;
    h->n_rec = b->rec_ent.n - 1;
    h->n_ent = b->ent_line.n;
    h->n_tok = b->tok_text.n - 1;
    h->id_bytes = b->id.n;
    h->text_bytes = b->text.n;
    h->tok_bytes = b->tok.n;
    h->n_reject = b->n_reject;
    h->n_empty = b->n_empty;
    h->n_split = b->n_split;
    h->n_truncated = b->n_truncated;
    h->n_cut_tokens = b->n_cut_tokens;
}

/* The shard's index (entries, ids, texts, tokens) into the part, sized to its full length. */
static int write_index(const struct shard_buf *b, const struct elmo_part_header *h,
                       const struct part_out *out) {
    const int fd = out->fd;
    const struct elmo_part_layout *lay = &out->lay;
    const char *tmp = out->path;
    ELMO_TRY(pwrite_all(fd, b->rec_ent.v, 8 * (h->n_rec + 1), lay->rec_ent, tmp));
    ELMO_TRY(pwrite_all(fd, b->ent_line.v, 8 * h->n_ent, lay->ent_line, tmp));
    ELMO_TRY(pwrite_all(fd, b->ent_id.v, 8 * (h->n_ent + 1), lay->ent_id, tmp));
    ELMO_TRY(pwrite_all(fd, b->ent_text.v, 8 * (h->n_ent + 1), lay->ent_text, tmp));
    ELMO_TRY(pwrite_all(fd, b->ent_tok.v, 8 * (h->n_ent + 1), lay->ent_tok, tmp));
    ELMO_TRY(pwrite_all(fd, b->tok_text.v, 8 * (h->n_tok + 1), lay->tok_text, tmp));
    ELMO_TRY(pwrite_all(fd, b->id.v, h->id_bytes, lay->id_blob, tmp));
    ELMO_TRY(pwrite_all(fd, b->text.v, h->text_bytes, lay->text_blob, tmp));
    ELMO_TRY(pwrite_all(fd, b->tok.v, h->tok_bytes, lay->tok_blob, tmp));
    if (ftruncate(fd, (off_t)lay->total) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    return 0;
}

/* Writes entry e and the later equal entries chained after it (next) from the cache entry
 * hit, counting them as reused and done. */
static int copy_chain(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int64_t e,
                      const int32_t *next, const struct elmo_dedup_entry *hit,
                      const struct part_out *out) {
    const int64_t n = b->ent_tok.v[e + 1] - b->ent_tok.v[e];
    for (int64_t d = e; d >= 0; d = next[d]) {
        ELMO_TRY(copy_entry(ctx, b, d, hit, out));
        ctx->dup_sentences++;
        ctx->dup_tokens += n;
        ctx->sentences_done++;
        ctx->tokens_done += n;
    }
    return 0;
}

/*
 * The sentence cache before the batches: each entry equal to an earlier one of the shard is
 * chained after the first (next, -1 ends a chain) and left out of the batches (todo 0), to be
 * written with it; a first entry the cache holds is written from there now, with its chain,
 * and left out too.
 */
static int copy_known(struct elmo_embed_ctx *ctx, const struct shard_buf *b, int32_t *todo,
                      int32_t *next, const struct part_out *out) {
    const int64_t n = b->ent_line.n, n_tok = b->tok_text.n - 1;
    const int64_t s0 = ctx->sentences_done, t0 = ctx->tokens_done;
    struct elmo_word *w = elmo_xmalloc(sizeof *w * (size_t)(n_tok + 1));
    int32_t *first = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *last = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int rc = 0;
    double tw = elmo_now();
    for (int64_t t = 0; t < n_tok; t++)
        w[t] = (struct elmo_word){b->tok.v + b->tok_text.v[t],
                                  (size_t)(b->tok_text.v[t + 1] - b->tok_text.v[t])};
    elmo_dedup_group(n, w, b->ent_tok.v, first);
    for (int64_t e = 0; e < n; e++) {
        next[e] = -1;
        last[e] = (int32_t)e;
        if (todo[e] == 0 || first[e] == e) continue;
        next[last[first[e]]] = (int32_t)e;
        last[first[e]] = (int32_t)e;
        todo[e] = 0;
    }
    for (int64_t e = 0; e < n && rc == 0; e++) {
        if (todo[e] == 0) continue;
        const struct elmo_dedup_entry *hit = elmo_dedup_find(&ctx->dedup, w + b->ent_tok.v[e],
                                                             todo[e]);
        if (!hit) continue;
        todo[e] = 0;
        rc = copy_chain(ctx, b, e, next, hit, out);
    }
    ctx->t_write += elmo_now() - tw;
    if (rc == 0 && ctx->on_batch && ctx->sentences_done > s0)
        ctx->on_batch(ctx->cb_arg, ctx->sentences_done - s0, ctx->tokens_done - t0);
    free(w);
    free(first);
    free(last);
    return rc;
}

/* Stateless: the entries in length-sorted batches under the token budget; with the sentence
 * cache, only those it does not hold and not equal to an earlier one of the shard. */
static int run_stateless(struct elmo_embed_ctx *ctx, const struct shard_buf *b,
                         const int32_t *lens, int32_t *ntok, struct part_out *out) {
    const int n = (int)b->ent_line.n;
    int32_t *order = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *starts = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 2));
    int32_t *todo = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *next = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int rc = 0;
    memcpy(todo, lens, sizeof(int32_t) * (size_t)n);
    if (ctx->dedup.table) {
        rc = copy_known(ctx, b, todo, next, out);
        ctx->dup_next = next;
    }
    int nb = elmo_batcher_plan(n, todo, ctx->fwd.budget, ctx->fwd.max_rows, order, starts);
    for (int k = 0; k < nb && rc == 0; k++)
        rc = run_batch(ctx, b, order + starts[k], starts[k + 1] - starts[k], NULL, ntok, out);
    ctx->dup_next = NULL;
    free(order);
    free(starts);
    free(todo);
    free(next);
    return rc;
}

/*
 * Streams, in lockstep: each step takes the next non-empty entry of every stream of the group
 * (while the token budget allows), so a stream's entries still run in order.  Local record l
 * belongs to the group's stream l % G.
 */
static int run_streams(struct elmo_embed_ctx *ctx, const struct shard_buf *b,
                       const struct elmo_shard *sh, const int32_t *lens, int32_t *ntok,
                       struct part_out *out) {
    const size_t sf = elmo_stream_state_floats(&ctx->m->opt);
    const int G = sh->n_streams;
    const int64_t n_rec = b->rec_ent.n - 1;
    int rc = 0;
    memset(ctx->state, 0, sizeof(float) * sf * (size_t)G);
    int64_t *next = elmo_xcalloc((size_t)G, sizeof *next);  /* next record index per stream */
    int64_t *nent = elmo_xcalloc((size_t)G, sizeof *nent);  /* entry position within it */
    float **st = elmo_xcalloc((size_t)G, sizeof *st);
    int32_t *rows = elmo_xcalloc((size_t)G, sizeof *rows);
    for (int t = 0; t < G; t++) next[t] = t;
    for (;;) {
        int B = 0, used = 0, left = 0;
        for (int t = 0; t < G; t++) {
            /* skip finished records and empty entries (state unchanged) */
            while (next[t] < n_rec) {
                int64_t e0 = b->rec_ent.v[next[t]], e1 = b->rec_ent.v[next[t] + 1];
                if (e0 + nent[t] < e1 && lens[e0 + nent[t]] > 0) break;
                if (e0 + nent[t] < e1) nent[t]++;
                else {
                    next[t] += G;
                    nent[t] = 0;
                }
            }
            if (next[t] >= n_rec) continue;
            left = 1;
            int64_t e = b->rec_ent.v[next[t]] + nent[t];
            if (B > 0 && used + lens[e] + 2 > ctx->fwd.budget) continue;
            rows[B] = (int32_t)e;
            st[B] = ctx->state + sf * (size_t)t;
            used += lens[e] + 2;
            B++;
            nent[t]++;
        }
        if (!left) break;
        rc = run_batch(ctx, b, rows, B, st, ntok, out);
        if (rc < 0) break;
    }
    free(next); free(nent); free(st); free(rows);
    return rc;
}

/* The header last, then the checksum, fsync and the rename: a part without its header is
 * never taken for complete.  Closes out->fd (set to -1). */
static int seal_part(struct part_out *out, struct elmo_part_header *h, const char *part_path) {
    h->checksum = 0;
    ELMO_TRY(pwrite_all(out->fd, h, sizeof *h, 0, out->path));
    ELMO_TRY(elmo_part_checksum(out->fd, out->lay.total, &h->checksum, out->path));
    ELMO_TRY(pwrite_all(out->fd, h, sizeof *h, 0, out->path));
    if (fsync(out->fd) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: fsync failed: %s", out->path, strerror(errno));
    int c = close(out->fd);
    out->fd = -1;
    if (c != 0) return elmo_error(ELMO_ERR_IO, "%s: close failed: %s", out->path, strerror(errno));
    if (rename(out->path, part_path) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: rename failed: %s", part_path, strerror(errno));
    fsync_dir_of(part_path);
    return 0;
}

/* Reads the shard into b, its rejected records into rej_path. */
static int read_rejecting(struct elmo_embed_ctx *ctx, const char *input,
                          const struct elmo_shard *sh, struct shard_buf *b, FILE *rej,
                          const char *rej_path) {
    double t0 = elmo_now();
    ELMO_TRY(read_shard(ctx, input, sh, b, rej, rej_path));
    if (fflush(rej) != 0 || fsync(fileno(rej)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", rej_path, strerror(errno));
    ctx->t_read += elmo_now() - t0;
    return 0;
}

/* The part file's layout, its rows' places, and its index written (as part_path.tmp). */
static int open_part(struct elmo_embed_ctx *ctx, const struct elmo_shard *sh,
                     const struct shard_buf *b, struct elmo_part_header *h, struct part_out *out) {
    const int P = ctx->m->opt.P;
    part_header(ctx, sh, b, h);
    elmo_part_layout(h, &out->lay);
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        out->out[k] = out->lay.out[k];
        out->row[k] = elmo_output_width(k, P) * 4;
    }
    out->fd = open(out->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* read back */
    if (out->fd < 0) return elmo_error(ELMO_ERR_IO, "%s: %s", out->path, strerror(errno));
    return write_index(b, h, out);
}

/* Writes a[0..n) + add as int64 at byte off of the store (an offsets dataset's rows). */
static int write_offsets(const struct elmo_direct *d, const int64_t *a, int64_t n, int64_t add,
                         int64_t off) {
    if (n == 0) return 0;
    int64_t *v = elmo_xmalloc(sizeof *v * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = a[i] + add;
    int rc = pwrite_all(d->fd, v, 8 * n, off, d->path);
    free(v);
    return rc;
}

/* Byte offset of row `row` of dataset k of the store. */
static int64_t at_row(const struct elmo_direct *d, int k, int64_t row) {
    return d->map.off[k] + row * d->map.row_bytes[k];
}

/*
 * Direct writes: the shard's counts must be the counting pass's (else the input changed); its
 * index goes into the store with global offsets, its rows' places are set in out.
 */
static int open_direct(struct elmo_embed_ctx *ctx, const struct elmo_shard *sh,
                       const struct shard_buf *b, struct part_out *out) {
    const struct elmo_direct *d = ctx->direct;
    const struct elmo_shard_count *c = &d->count[sh->id], *f = &d->first[sh->id];
    if (c->n_rec != b->rec_ent.n - 1 || c->n_ent != b->ent_line.n ||
        c->n_tok != b->tok_text.n - 1 || c->id_bytes != b->id.n || c->text_bytes != b->text.n ||
        c->tok_bytes != b->tok.n)
        return elmo_error(ELMO_ERR_STATE,
                          "shard %" PRId64 " now reads %" PRId64 " sentences and %" PRId64
                          " tokens, the counting pass found %" PRId64 " and %" PRId64
                          ": the input changed while the job ran; restore it and rerun",
                          sh->id, (int64_t)b->ent_line.n, (int64_t)(b->tok_text.n - 1), c->n_ent,
                          c->n_tok);
    out->fd = d->fd;
    out->path = d->path;
    out->half = d->half;
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        const int ds = ELMO_DS_EMB0 + (int)k;
        out->out[k] = at_row(d, ds, elmo_outputs[k].per_sentence ? f->n_ent : f->n_tok);
        out->row[k] = d->map.row_bytes[ds];
    }
    const int64_t n = c->n_ent, t = c->n_tok;
    ELMO_TRY(write_offsets(d, b->ent_tok.v, n, f->n_tok, at_row(d, ELMO_DS_SENT_OFFSET, f->n_ent)));
    ELMO_TRY(write_offsets(d, b->ent_line.v, n, 0, at_row(d, ELMO_DS_SENT_LINE, f->n_ent)));
    ELMO_TRY(write_offsets(d, b->ent_id.v, n, f->id_bytes, at_row(d, ELMO_DS_ID_OFFSET, f->n_ent)));
    ELMO_TRY(write_offsets(d, b->ent_text.v, n, f->text_bytes,
                           at_row(d, ELMO_DS_TEXT_OFFSET, f->n_ent)));
    ELMO_TRY(write_offsets(d, b->tok_text.v, t, f->tok_bytes,
                           at_row(d, ELMO_DS_TOK_OFFSET, f->n_tok)));
    if (c->id_bytes)
        ELMO_TRY(pwrite_all(d->fd, b->id.v, c->id_bytes, at_row(d, ELMO_DS_ID_BLOB, f->id_bytes),
                            d->path));
    if (c->text_bytes)
        ELMO_TRY(pwrite_all(d->fd, b->text.v, c->text_bytes,
                            at_row(d, ELMO_DS_TEXT_BLOB, f->text_bytes), d->path));
    if (c->tok_bytes)
        ELMO_TRY(pwrite_all(d->fd, b->tok.v, c->tok_bytes,
                            at_row(d, ELMO_DS_TOK_BLOB, f->tok_bytes), d->path));
    return 0;
}

/* Direct writes: the shard's rows on disk, then their checksum read back for the journal. */
static int seal_direct(struct elmo_embed_ctx *ctx, int64_t id) {
    const struct elmo_direct *d = ctx->direct;
    if (fdatasync(d->fd) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: fdatasync failed: %s", d->path, strerror(errno));
    return elmo_direct_checksum(d, id, &ctx->part_bytes, &ctx->part_checksum);
}

int elmo_embed_count(struct elmo_embed_ctx *ctx, const char *input, const struct elmo_shard *sh,
                     struct elmo_shard_count *c) {
    struct shard_buf b;
    memset(&b, 0, sizeof b);
    double t0 = elmo_now();
    int rc = read_shard(ctx, input, sh, &b, NULL, NULL);
    ctx->t_read += elmo_now() - t0;
    if (rc == 0)
        *c = (struct elmo_shard_count){b.rec_ent.n - 1, b.ent_line.n, b.tok_text.n - 1, b.id.n,
                                       b.text.n, b.tok.n, b.n_reject, b.n_empty, b.n_split,
                                       b.n_truncated, b.n_cut_tokens};
    shard_buf_free(&b);
    return rc;
}

/* Runs the forward work over the shard's entries into out (stateless or streams). */
static int run_entries(struct elmo_embed_ctx *ctx, const struct elmo_shard *sh,
                       const struct shard_buf *b, struct part_out *out) {
    const int n = (int)b->ent_line.n;
    int32_t *ntok = elmo_xmalloc(sizeof(int32_t) * (size_t)(ctx->fwd.max_rows + 1));
    int32_t *lens = elmo_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int e = 0; e < n; e++) lens[e] = (int32_t)(b->ent_tok.v[e + 1] - b->ent_tok.v[e]);
    int rc = sh->stream >= 0 ? run_streams(ctx, b, sh, lens, ntok, out)
                             : run_stateless(ctx, b, lens, ntok, out);
    free(ntok);
    free(lens);
    return rc;
}

int elmo_embed_shard(struct elmo_embed_ctx *ctx, const char *input, const struct elmo_shard *sh,
                     const char *part_path, const char *rej_path) {
    struct shard_buf b;
    struct elmo_part_header h;
    char tmp[ELMO_PATH_MAX + 8];
    struct part_out out = {.fd = -1, .path = tmp};
    int rc = 0;
    FILE *rej = NULL;
    memset(&b, 0, sizeof b);
    const int64_t hits0 = ctx->fwd.cache.hits, look0 = ctx->fwd.cache.lookups;
    const int64_t bad0 = ctx->n_nonfinite;
    ctx->part_bytes = 0;
    ctx->part_checksum = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", part_path);

    rej = fopen(rej_path, "w");
    if (!rej) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", rej_path, strerror(errno));
    ELMO_CALL(read_rejecting(ctx, input, sh, &b, rej, rej_path));
    double t0 = elmo_now();
    if (ctx->direct) ELMO_CALL(open_direct(ctx, sh, &b, &out));
    else ELMO_CALL(open_part(ctx, sh, &b, &h, &out));
    ctx->t_write += elmo_now() - t0;

    ELMO_CALL(run_entries(ctx, sh, &b, &out));

    t0 = elmo_now();
    if (ctx->direct) {
        out.fd = -1; /* the store's descriptor stays open */
        ELMO_CALL(seal_direct(ctx, sh->id));
    } else {
        h.cache_hits = ctx->fwd.cache.hits - hits0;
        h.cache_lookups = ctx->fwd.cache.lookups - look0;
        h.n_nonfinite = ctx->n_nonfinite - bad0;
        ELMO_CALL(seal_part(&out, &h, part_path));
        ctx->part_bytes = out.lay.total;
        ctx->part_checksum = h.checksum;
    }
    ctx->t_write += elmo_now() - t0;
cleanup:
    if (out.fd >= 0 && !ctx->direct) {
        close(out.fd);
        unlink(tmp);
    }
    if (rej && fclose(rej) != 0 && rc == 0)
        rc = elmo_error(ELMO_ERR_IO, "%s: close failed: %s", rej_path, strerror(errno));
    free(out.h16);
    shard_buf_free(&b);
    return rc;
}
