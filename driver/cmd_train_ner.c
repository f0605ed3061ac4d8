/*
 * cmd_train_ner.c: the train-ner and eval-ner jobs.
 *
 * train-ner.  Every rank reads the `token tag` files.  The features are computed once: for
 * features elmo, the (URL/user-masked) tokens of each split are embedded by the embed job
 * (elmo_embed_run on a derived job: word_emb, lstm_outputs1, lstm_outputs2 into
 * DIR/features/<split>.h5, reused by a later run when the store is complete, was made with the
 * same weights and holds the same tokens), then every rank reads the whole store; for
 * features glove every rank looks the tokens up.  Extra inputs after the mix (the GloVe vector
 * for features elmo+glove, the orthographic flags for ortho) are computed by every rank from
 * the raw tokens.  Training is data-parallel: every rank holds
 * the same parameters, takes its contiguous slice of each batch of batch_size sentences (the
 * batches come from one seeded shuffle per epoch, the dropout masks of a sentence from a seed
 * of (seed, epoch, sentence)), and the gradients, already scaled by 1 / (tokens of the whole
 * batch), are summed with one MPI_Allreduce of the contiguous gradient block; then each rank
 * clips and steps Adam identically.  After each epoch the ranks tag the dev set in contiguous
 * blocks and rank 0 scores it; the epoch with the best dev F1 is kept (and with patience N,
 * training stops after N epochs without a better one).  Rank 0 saves the tagger (with the
 * GloVe rows it used, so that tagging needs no GloVe file), prints the tables, and writes
 * the report and the predictions.  Everything goes into the run directory DIR (`out`, created
 * if missing): DIR/tagger.h5, DIR/eval.json, DIR/{dev,test}.conll, DIR/checkpoint while the
 * run is unfinished, and the feature stores DIR/features/<split>.h5 with their logs.
 *
 * eval-ner.  Every rank loads the tagger and its features' model, tags a contiguous block of
 * sentences, and rank 0 gathers the tags and scores them like conlleval.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/ner_shared.h"
#include "io/conlleval.h"
#include "io/files.h"
#include "io/models.h"
#include "io/ner_data.h"
#include "io/outfile.h"
#include "io/sha256.h"
#include "io/store.h"
#include "io/weights.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/optim.h"
#include "model/rng.h"
#include "model/status.h"

/* ================================== Shared ================================== */

/* Reads a whole small text file (options.json) into an owned string, or NULL. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, r;
    char *s = elmo_xmalloc(cap);
    while ((r = fread(s + n, 1, cap - n - 1, f)) > 0)
        if ((n += r) + 1 == cap) s = elmo_xrealloc(s, cap *= 2);
    fclose(f);
    s[n] = '\0';
    return s;
}

/* Sentence lengths of d as int32. */
static int32_t *lengths(const struct elmo_ner_data *d) {
    int32_t *len = elmo_xmalloc(sizeof(int32_t) * (size_t)(d->n_sent > 0 ? d->n_sent : 1));
    for (int s = 0; s < d->n_sent; s++) len[s] = (int32_t)(d->offset[s + 1] - d->offset[s]);
    return len;
}

/* The contiguous block of n items that rank r of size owns: [*a, *b). */
static void block_of(int64_t n, int r, int size, int64_t *a, int64_t *b) {
    *a = n * r / size;
    *b = n * (r + 1) / size;
}

/*
 * Gathers per-token tag ids of every rank's sentence block [s0, s1) to rank 0 (all: the
 * d->n_tok ids in order, rank 0 only).  Collective.
 */
static int gather_tags(const struct elmo_ner_data *d, const int32_t *mine, int32_t *all) {
    int size = elmo_size();
    int *counts = elmo_xmalloc(sizeof(int) * (size_t)size),
        *displs = elmo_xmalloc(sizeof(int) * (size_t)size);
    for (int r = 0; r < size; r++) {
        int64_t a, b;
        block_of(d->n_sent, r, size, &a, &b);
        counts[r] = (int)(d->offset[b] - d->offset[a]);
        displs[r] = (int)d->offset[a];
    }
    int me = elmo_rank();
    ELMO_MPI(MPI_Gatherv(mine, counts[me], MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0,
                         MPI_COMM_WORLD));
    free(counts);
    free(displs);
    return 0;
}

/* Scores predicted tag ids against d's gold tags; writes `token gold guess` lines when f. */
static int score_tags(const struct elmo_ner_data *d, const struct elmo_tagset *ts,
                      const int32_t *tags, struct elmo_conll_eval *ev, FILE *f) {
    elmo_conll_eval_init(ev);
    const char **guess = elmo_xmalloc(sizeof(char *) * (size_t)(d->n_tok > 0 ? d->n_tok : 1));
    for (int64_t i = 0; i < d->n_tok; i++) guess[i] = ts->name[tags[i]];
    int rc = 0;
    for (int s = 0; s < d->n_sent && rc == 0; s++) {
        int64_t a = d->offset[s], b = d->offset[s + 1];
        rc = elmo_conll_eval_add(ev, (int)(b - a), (const char *const *)d->tag + a, guess + a);
        if (f) {
            for (int64_t i = a; i < b; i++)
                fprintf(f, "%s %s %s\n", d->tok[i], d->tag[i], guess[i]);
            fputc('\n', f);
        }
    }
    free(guess);
    return rc;
}

/* Writes text to path (rank 0 use).  0 or ELMO_ERR_IO. */
/* Writes text to path aside (PATH.partial) and renames it into place when complete. */
static int write_text(const char *path, const char *text) {
    char tmp[ELMO_PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp)
        return elmo_error(ELMO_ERR_ARG, "path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    int bad = fputs(text, f) < 0;
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return elmo_commit_file(tmp, path);
}

/*
 * Rank 0, before any work: every file the job writes (each prefix + suffix: OUT + ".conll", or
 * DIR/ + "tagger.h5") must be none of its inputs (by device and inode) and a regular file or
 * absent.
 */
static int check_ner_outputs(const struct elmo_job *job, const char *prefix,
                             const char *const *suffixes, int n_suf) {
    if (!job->out[0]) return 0;
    const char *inputs[] = {job->train, job->dev,   job->test,   job->input,
                            job->tagger, job->options, job->weights, job->glove};
    const int n_in = (int)(sizeof inputs / sizeof inputs[0]);
    for (int i = 0; i < n_suf; i++) {
        char path[ELMO_PATH_MAX + 64];
        if (snprintf(path, sizeof path, "%s%s", prefix, suffixes[i]) >= (int)sizeof path)
            return elmo_error(ELMO_ERR_ARG, "`out` is too long: %s", job->out);
        ELMO_TRY(elmo_check_output_path("out", path, inputs, n_in));
    }
    return 0;
}

/* ================================ eval-ner ================================ */

int elmo_eval_ner_run(struct elmo_job *job) {
    const char *input = job->input[0] ? job->input : job->test;
    int rank = elmo_rank(), size = elmo_size(), rc = 0;
    struct elmo_ner_data d;
    struct elmo_tagging rt;
    memset(&rt, 0, sizeof rt);
    elmo_blas_set_threads(job->threads);
    static const char *const eval_outputs[] = {"", ".partial", ".conll"};
    ELMO_TRY(elmo_agree(elmo_rank() == 0 ? check_ner_outputs(job, job->out, eval_outputs, 3) : 0));
    ELMO_TRY(elmo_agree(elmo_ner_data_read(input, false, &d)));
    double t0 = elmo__ner_now();
    rc = elmo__tagging_open(&rt, job, d.max_len > 0 ? d.max_len : 1);
    if (rc < 0) {
        elmo_ner_data_free(&d);
        return rc;
    }
    int32_t *len = lengths(&d);
    int64_t s0, s1;
    block_of(d.n_sent, rank, size, &s0, &s1);
    int64_t t_a = d.offset[s0], t_b = d.offset[s1];
    int32_t *mine = elmo_xmalloc(sizeof(int32_t) * (size_t)(t_b - t_a + 1));
    int32_t *all = rank == 0 ? elmo_xmalloc(sizeof(int32_t) * (size_t)(d.n_tok + 1)) : NULL;
    int lrc = elmo_tagging_tag(&rt, (int)(s1 - s0), len + s0, (const char *const *)d.tok + t_a,
                               mine, NULL);
    ELMO_CALL(elmo_agree(lrc));
    /* a stop signal on any rank while tagging: nothing is written (exit 3) */
    int any_sig = elmo_stop_agreed();
    if (any_sig)
        ELMO_FAIL(ELMO_ERR_INTERRUPTED,
                  "interrupted by signal %d; nothing was written: rerun the same job", any_sig);
    ELMO_CALL(gather_tags(&d, mine, all));
    if (rank == 0) {
        struct elmo_conll_eval ev;
        char pred[ELMO_PATH_MAX + 16];
        FILE *pf = NULL;
        lrc = 0;
        if (job->out[0]) {
            snprintf(pred, sizeof pred, "%s.conll", job->out);
            pf = fopen(pred, "w");
            if (!pf) lrc = elmo_error(ELMO_ERR_IO, "%s: %s", pred, strerror(errno));
        }
        if (lrc == 0) lrc = score_tags(&d, &rt.meta.tags, all, &ev, pf);
        if (pf && fclose(pf) != 0 && lrc == 0)
            lrc = elmo_error(ELMO_ERR_IO, "%s: write failed", pred);
        if (lrc == 0) {
            elmo_conll_eval_print(&ev, stdout);
            fflush(stdout);
            if (job->out[0]) {
                char *js = elmo_conll_eval_json(&ev);
                lrc = write_text(job->out, js);
                free(js);
            }
            double dt = elmo_now() - t0;
            fprintf(stderr,
                    "eval-ner: %d sentences, %" PRId64 " tokens tagged in %.2f s on %d rank%s "
                    "(%s features)%s%s%s\n",
                    d.n_sent, d.n_tok, dt, size, size > 1 ? "s" : "", rt.meta.features,
                    job->out[0] ? "; wrote " : "", job->out, job->out[0] ? " and its .conll" : "");
        }
    }
    ELMO_CALL(elmo_agree(lrc));
cleanup:
    free(mine);
    free(all);
    free(len);
    elmo_tagging_close(&rt);
    elmo_ner_data_free(&d);
    return rc;
}

/* ================================ train-ner ================================ */

struct split {
    const char *name; /* "train", "dev", "test" */
    const char *path;
    struct elmo_ner_data d;
    int32_t *len;  /* (n_sent) */
    int32_t *gold; /* (n_tok) tag ids (-1: not in the tag set; dev/test only) */
    float *feat;   /* (n_tok, K, D) */
    bool present;
    float *extra; /* (n_tok, E) extra inputs, or NULL when E = 0 */
};

/*
 * The run directory (`out`).  These are the only names a train-ner run writes or removes in it,
 * so a directory that holds other files keeps them.  The feature stores, and what the embed job
 * writes beside them (.logs/, .rejects.tsv, .lock, .partial), are in DIR/features.
 */
#define RUN_TAGGER     "tagger.h5"  /* the tagger */
#define RUN_EVAL       "eval.json"  /* per-epoch log, final dev and test scores */
#define RUN_CHECKPOINT "checkpoint" /* resume state while the run is unfinished */
#define RUN_FEATURES   "features"   /* <split>.h5: the ELMo feature stores */

/* DIR/NAME in out[n], with NAME from fmt. */
__attribute__((format(printf, 4, 5))) static int run_path(const struct elmo_job *job, char *out,
                                                          size_t n, const char *fmt, ...) {
    int w = snprintf(out, n, "%s/", job->out), w2 = -1;
    if (w >= 0 && (size_t)w < n) {
        va_list ap;
        va_start(ap, fmt);
        w2 = vsnprintf(out + w, n - (size_t)w, fmt, ap);
        va_end(ap);
    }
    if (w2 < 0 || (size_t)w + (size_t)w2 >= n)
        return elmo_error(ELMO_ERR_ARG, "`out` is too long: %s", job->out);
    return 0;
}

/* 1 when s ends in suffix, ignoring case. */
static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && !strcasecmp(s + a - b, suffix);
}

/*
 * Before any work (every rank): `out` names a directory, existing or to be made.  A file of
 * another type is refused and left alone, and so is a new name ending in .h5 or .hdf5 (the
 * tagger file was `out` before train-ner wrote a run directory).
 */
static int check_run_dir(const struct elmo_job *job) {
    struct stat st;
    if (stat(job->out, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        return elmo_error(ELMO_ERR_ARG,
                          "`out`: %s exists and is not a directory; train-ner --out names a run "
                          "directory (it writes DIR/" RUN_TAGGER ", DIR/" RUN_EVAL ", ...): "
                          "choose another name (%s is left as it is)",
                          job->out, job->out);
    }
    const char *ext = ends_with(job->out, ".h5")     ? ".h5"
                      : ends_with(job->out, ".hdf5") ? ".hdf5"
                                                     : NULL;
    if (ext)
        return elmo_error(ELMO_ERR_ARG,
                          "`out`: train-ner --out now names a run directory; got %s, a file "
                          "name: give a directory, e.g. --out %.*s (the tagger is written to "
                          "DIR/" RUN_TAGGER ")",
                          job->out, (int)(strlen(job->out) - strlen(ext)), job->out);
    char longest[ELMO_PATH_MAX];
    return run_path(job, longest, sizeof longest, RUN_FEATURES "/train.tokens.conll");
}

/*
 * Rank 0, before any work: the run's files that exist already (in DIR and DIR/features) must be
 * regular files and none of the inputs.  A new DIR holds none.
 */
static int check_run_outputs(const struct elmo_job *job) {
    static const char *const top[] = {
        RUN_TAGGER,  RUN_TAGGER ".partial", RUN_EVAL,       RUN_EVAL ".partial",
        "dev.conll", "test.conll",          RUN_CHECKPOINT, RUN_CHECKPOINT ".partial"};
    static const char *const feat[] = {"train.h5",         "dev.h5",
                                       "test.h5",          "train.tokens.conll",
                                       "dev.tokens.conll", "test.tokens.conll"};
    char prefix[ELMO_PATH_MAX];
    struct stat st;
    if (stat(job->out, &st) != 0) return 0;
    ELMO_TRY(run_path(job, prefix, sizeof prefix, "%s", ""));
    ELMO_TRY(check_ner_outputs(job, prefix, top, (int)(sizeof top / sizeof top[0])));
    ELMO_TRY(run_path(job, prefix, sizeof prefix, RUN_FEATURES));
    if (lstat(prefix, &st) != 0) return 0;
    ELMO_TRY(run_path(job, prefix, sizeof prefix, RUN_FEATURES "/"));
    return check_ner_outputs(job, prefix, feat, (int)(sizeof feat / sizeof feat[0]));
}

/* The store of a split's ELMo features: DIR/features/<split>.h5. */
static int store_path(const struct elmo_job *job, const struct split *sp, char *out, size_t n) {
    return run_path(job, out, n, RUN_FEATURES "/%s.h5", sp->name);
}

/*
 * Rank 0: 1 when the store at path is complete, from these weights and this options text, with
 * exactly these tokens.
 */
static int store_reusable(const char *path, const char *sha, const char *options_text,
                          const struct split *sp, bool mask) {
    if (access(path, R_OK) != 0) return 0;
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    if (elmo_store_open(&st, path, &info) < 0) {
        elmo_error_clear();
        return 0;
    }
    char *stored_options = elmo_store_attr_string(st, "options_json");
    int ok = info.complete && !strcmp(info.weights_sha256, sha) && options_text &&
             stored_options && !strcmp(stored_options, options_text) &&
             info.n_sent == sp->d.n_sent &&
             info.n_tok == sp->d.n_tok &&
             (info.outputs & (ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2)) ==
                 (ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2);
    int64_t *off = NULL;
    uint8_t *blob = NULL;
    if (ok) {
        off = elmo_xmalloc(sizeof(int64_t) * (size_t)(sp->d.n_tok + 1));
        ok = elmo_store_read_i64(st, "tokens/text_offset", 0, sp->d.n_tok + 1, off) == 0;
        if (ok) {
            blob = elmo_xmalloc((size_t)off[sp->d.n_tok] + 1);
            ok = elmo_store_read_u8(st, "tokens/text_blob", 0, off[sp->d.n_tok], blob) == 0;
        }
        for (int64_t i = 0; ok && i < sp->d.n_tok; i++) {
            const char *t = elmo_ner_feature_token(sp->d.tok[i], mask);
            size_t l = strlen(t);
            ok = (int64_t)l == off[i + 1] - off[i] && !memcmp(blob + off[i], t, l);
        }
    }
    free(off);
    free(blob);
    free(stored_options);
    elmo_store_close(st);
    elmo_error_clear();
    return ok;
}

/* Writes the split's feature tokens as CoNLL (one per line, blank line between sentences). */
static int write_tokens(const char *path, const struct split *sp, bool mask) {
    FILE *f = fopen(path, "w");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    for (int s = 0; s < sp->d.n_sent; s++) {
        for (int64_t i = sp->d.offset[s]; i < sp->d.offset[s + 1]; i++)
            fprintf(f, "%s\n", elmo_ner_feature_token(sp->d.tok[i], mask));
        fputc('\n', f);
    }
    if (fclose(f) != 0) return elmo_error(ELMO_ERR_IO, "%s: write failed", path);
    return 0;
}

/*
 * The ELMo features of a split through the embed job, then read back on every rank.
 * options_text: the options file as read (rank 0; a cached store must hold the same).
 * Collective.
 */
static int elmo_features(const struct elmo_job *job, struct split *sp, const char *sha,
                         const char *options_text, int P) {
    char store[ELMO_PATH_MAX], tokens[ELMO_PATH_MAX], dir[ELMO_PATH_MAX];
    ELMO_TRY(store_path(job, sp, store, sizeof store));
    ELMO_TRY(run_path(job, tokens, sizeof tokens, RUN_FEATURES "/%s.tokens.conll", sp->name));
    ELMO_TRY(run_path(job, dir, sizeof dir, RUN_FEATURES));
    int reuse = 0, rc = 0, lrc = 0;
    if (elmo_rank() == 0) {
        lrc = elmo_make_dirs(dir);
        if (lrc == 0) reuse = store_reusable(store, sha, options_text, sp, job->mask_urls_users);
        if (lrc == 0 && !reuse) lrc = write_tokens(tokens, sp, job->mask_urls_users);
    }
    ELMO_TRY(elmo_agree(lrc));
    reuse = elmo_bcast_int(reuse);
    if (reuse) {
        if (elmo_rank() == 0)
            fprintf(stderr, "train-ner: %s features: reusing %s\n", sp->name, store);
    } else {
        if (elmo_rank() == 0)
            fprintf(stderr, "train-ner: %s features: embedding %d sentences into %s\n", sp->name,
                    sp->d.n_sent, store);
        struct elmo_job ej;
        elmo_job_default(&ej, ELMO_JOB_EMBED);
        snprintf(ej.source, sizeof ej.source, "train-ner (%s features)", sp->name);
        snprintf(ej.options, sizeof ej.options, "%s", job->options);
        snprintf(ej.weights, sizeof ej.weights, "%s", job->weights);
        snprintf(ej.input, sizeof ej.input, "%s", tokens);
        snprintf(ej.output, sizeof ej.output, "%s", store);
        ej.input_format = ELMO_INPUT_CONLL;
        ej.outputs = ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2;
        ej.threads = job->threads;
        ej.batch_tokens = job->batch_tokens;
        ej.cache = job->cache;
        ej.progress = job->progress;
        ej.overwrite = true; /* the store is this job's own derived output, found stale above */
        if (sp->d.max_len > ej.max_sentence_tokens) ej.max_sentence_tokens = sp->d.max_len;
        rc = elmo_embed_run(&ej);
        elmo_job_free(&ej);
        if (rc < 0) return rc;
        if (elmo_rank() == 0) unlink(tokens); /* written by this run for the embed job */
    }
    /* every rank reads the whole store */
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    const int64_t N = sp->d.n_tok, W = 2 * P;
    lrc = elmo_store_open(&st, store, &info);
    if (lrc == 0 && (info.n_sent != sp->d.n_sent || info.n_tok != N || info.P != P))
        lrc = elmo_error(ELMO_ERR_STATE,
                         "%s holds %" PRId64 " sentences and %" PRId64 " tokens, %s has %d and "
                         "%" PRId64 " (rejected records? see %s.rejects.tsv)",
                         store, info.n_sent, info.n_tok, sp->path, sp->d.n_sent, N, store);
    float *we = NULL, *l1 = NULL, *l2 = NULL;
    if (lrc == 0) {
        we = elmo_malloc(sizeof(float) * (size_t)(N > 0 ? N : 1) * P, "word_emb");
        l1 = elmo_malloc(sizeof(float) * (size_t)(N > 0 ? N : 1) * W, "lstm_outputs1");
        l2 = elmo_malloc(sizeof(float) * (size_t)(N > 0 ? N : 1) * W, "lstm_outputs2");
        sp->feat = elmo_malloc(sizeof(float) * (size_t)(N > 0 ? N : 1) * 3 * W, "features");
        if (!we || !l1 || !l2 || !sp->feat) lrc = ELMO_ERR_NOMEM;
    }
    if (lrc == 0 && N > 0) lrc = elmo_store_read_f32(st, "embeddings/word_emb", 0, N, we);
    if (lrc == 0 && N > 0) lrc = elmo_store_read_f32(st, "embeddings/lstm_outputs1", 0, N, l1);
    if (lrc == 0 && N > 0) lrc = elmo_store_read_f32(st, "embeddings/lstm_outputs2", 0, N, l2);
    if (lrc == 0)
        for (int64_t i = 0; i < N; i++) {
            float *row = sp->feat + (size_t)i * 3 * W;
            memcpy(row, we + (size_t)i * P, sizeof(float) * P);
            memcpy(row + P, we + (size_t)i * P, sizeof(float) * P);
            memcpy(row + W, l1 + (size_t)i * W, sizeof(float) * W);
            memcpy(row + 2 * W, l2 + (size_t)i * W, sizeof(float) * W);
        }
    free(we), free(l1), free(l2);
    elmo_store_close(st);
    return elmo_agree(lrc);
}

/* Tags split sp with t on every rank (contiguous blocks); rank 0 gets all tags.  Collective. */
static int tag_split(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, const struct split *sp,
                     int32_t *all) {
    int64_t s0, s1;
    block_of(sp->d.n_sent, elmo_rank(), elmo_size(), &s0, &s1);
    int64_t t0 = sp->d.offset[s0];
    int32_t *mine = elmo_xmalloc(sizeof(int32_t) * (size_t)(sp->d.offset[s1] - t0 + 1));
    int lrc = elmo_ner_tag(t, ws, (int)(s1 - s0), sp->len + s0,
                           sp->feat + (size_t)t0 * t->cfg.K * t->cfg.D,
                           sp->extra ? sp->extra + (size_t)t0 * t->cfg.E : NULL, mine, NULL, NULL);
    int rc = elmo_agree(lrc);
    if (rc == 0) rc = gather_tags(&sp->d, mine, all);
    free(mine);
    return rc;
}

/* Per-epoch record for the JSON report. */
struct epoch_log {
    double lr, loss, seconds;
    struct elmo_conll_score dev;
};

/*
 * The training checkpoint, DIR/checkpoint: written by rank 0 after every epoch (aside, then
 * renamed) and removed once the tagger is written.  A rerun of the same job (same settings,
 * data and vectors: the fingerprint) continues after the last finished epoch and ends with the
 * tagger an uninterrupted run writes (the shuffle and dropout masks depend on the epoch alone).
 * Layout: a header, the epoch records, then the weights, the kept epoch's weights and Adam's two
 * moments, and the sha256 of everything before it.
 */
#define CKPT_MAGIC "elmo-ner-checkpoint 1\n"

struct ckpt_head {
    char magic[24];
    char fingerprint[65];
    int32_t epochs_done, best_epoch;
    double best_f1, lr;
    int64_t adam_step;
    uint64_t n_floats;
};

/* What must not change between a run and its resume: settings, data and vectors, as sha256. */
static int ckpt_fingerprint(const struct elmo_job *job, const struct split *sp, const char *sha,
                            const char *glove_sha, int size, size_t n_floats, char out[65]) {
    char data[3][65] = {"", "", ""};
    for (int i = 0; i < 3; i++)
        if (sp[i].present) ELMO_TRY(elmo_file_sha256(sp[i].path, data[i]));
    char text[2048];
    snprintf(text, sizeof text,
             "features %s output %s ortho %d mask %d hidden %d keep %.9g lr %.9g decay %.9g "
             "clip %.9g batch %d seed %llu ranks %d floats %zu train %s dev %s test %s elmo %s "
             "glove %s",
             job->features, job->ner_output, (int)job->ortho, (int)job->mask_urls_users,
             job->hidden, (double)job->dropout_keep, (double)job->lr, (double)job->lr_decay,
             (double)job->clip, job->batch_size, (unsigned long long)job->seed, size, n_floats,
             data[0], data[1], data[2], sha, glove_sha);
    struct elmo_sha256 h;
    uint8_t digest[32];
    elmo_sha256_init(&h);
    elmo_sha256_update(&h, text, strlen(text));
    elmo_sha256_final(&h, digest);
    elmo_sha256_hex(digest, out);
    return 0;
}

static int ckpt_write(const char *path, const struct ckpt_head *h, const struct epoch_log *elog,
                      const struct elmo_tagger *t, const struct elmo_tagger *best,
                      const struct elmo_optim *adam) {
    char tmp[ELMO_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    const void *part[6] = {h, elog, t->block, best->block, adam->state, adam->state + adam->n};
    size_t len[6] = {sizeof *h, sizeof *elog * (size_t)h->epochs_done,
                     sizeof(float) * h->n_floats, sizeof(float) * h->n_floats,
                     sizeof(float) * h->n_floats, sizeof(float) * h->n_floats};
    struct elmo_sha256 sum;
    uint8_t digest[32];
    elmo_sha256_init(&sum);
    bool bad = false;
    for (int i = 0; i < 6 && !bad; i++) {
        elmo_sha256_update(&sum, part[i], len[i]);
        bad = len[i] > 0 && fwrite(part[i], 1, len[i], f) != len[i];
    }
    elmo_sha256_final(&sum, digest);
    bad = bad || fwrite(digest, sizeof digest, 1, f) != 1;
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return elmo_commit_file(tmp, path);
}

/*
 * Reads a checkpoint into h, elog (room for max_epochs) and the blocks; 1 when read and
 * whole, 0 when there is none, or a negative status naming what is wrong.
 */
static int ckpt_read(const char *path, int max_epochs, struct ckpt_head *h, struct epoch_log *elog,
                     struct elmo_tagger *t, struct elmo_tagger *best, struct elmo_optim *adam) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = 1;
    struct elmo_sha256 sum;
    uint8_t digest[32], stored[32];
    elmo_sha256_init(&sum);
    if (fread(h, sizeof *h, 1, f) != 1 || memcmp(h->magic, CKPT_MAGIC, sizeof CKPT_MAGIC) != 0 ||
        h->n_floats != t->n_floats || h->epochs_done < 1 || h->epochs_done > max_epochs) {
        rc = elmo_error(ELMO_ERR_MISMATCH, "%s is not a checkpoint of this job (another model "
                        "size, more epochs than asked, or not a checkpoint); delete it or rerun "
                        "with --overwrite", path);
    } else {
        elmo_sha256_update(&sum, h, sizeof *h);
        void *part[5] = {elog, t->block, best->block, adam->state, adam->state + adam->n};
        size_t len[5] = {sizeof *elog * (size_t)h->epochs_done, sizeof(float) * h->n_floats,
                         sizeof(float) * h->n_floats, sizeof(float) * h->n_floats,
                         sizeof(float) * h->n_floats};
        for (int i = 0; i < 5 && rc == 1; i++) {
            if (fread(part[i], 1, len[i], f) != len[i]) rc = 0;
            else elmo_sha256_update(&sum, part[i], len[i]);
        }
        elmo_sha256_final(&sum, digest);
        if (rc != 1 || fread(stored, sizeof stored, 1, f) != 1 ||
            memcmp(stored, digest, sizeof digest) != 0 || fgetc(f) != EOF)
            rc = elmo_error(ELMO_ERR_FORMAT, "%s is damaged (short, or its checksum does not "
                            "match); delete it to start over", path);
    }
    fclose(f);
    return rc;
}

int elmo_train_ner_run(struct elmo_job *job) {
    const int rank = elmo_rank(), size = elmo_size();
    const bool glove = !strcmp(job->features, "glove");       /* GloVe instead of the mix */
    const bool xglove = !strcmp(job->features, "elmo+glove"); /* GloVe after the mix */
    const int output = !strcmp(job->ner_output, "crf") ? ELMO_TAGGER_CRF : ELMO_TAGGER_SOFTMAX;
    int rc = 0, lrc = 0;
    struct split sp[3] = {{"train", job->train, {0}, NULL, NULL, NULL, false, NULL},
                          {"dev", job->dev, {0}, NULL, NULL, NULL, false, NULL},
                          {"test", job->test, {0}, NULL, NULL, NULL, false, NULL}};
    struct elmo_tagset tags;
    struct elmo_model model;
    struct elmo_glove gv;
    struct elmo_tagger t, best;
    struct elmo_tagger_ws ws;
    struct elmo_optim adam;
    struct elmo_tagger_meta meta;
    struct epoch_log *elog = NULL;
    float *grad = NULL;
    int32_t *perm = NULL, *all = NULL, *blen = NULL;
    const float **bfeat = NULL, **bextra = NULL;
    const int32_t **bgold = NULL;
    uint64_t *bseed = NULL;
    char sha[65] = "", glove_sha[65] = "", tagger_path[ELMO_PATH_MAX];
    memset(&model, 0, sizeof model);
    memset(&gv, 0, sizeof gv);
    memset(&t, 0, sizeof t);
    memset(&best, 0, sizeof best);
    memset(&ws, 0, sizeof ws);
    memset(&adam, 0, sizeof adam);
    memset(&meta, 0, sizeof meta);
    elmo_blas_set_threads(job->threads);
    double t_start = elmo_now();

    /* 0. the run directory's name, before any work; `DIR/` is the same job as `DIR`.  Every
     * rank checks, so that a refusal exits 2 on each (rank 0 prints it) */
    for (size_t n = strlen(job->out); n > 1 && job->out[n - 1] == '/'; n--) job->out[n - 1] = '\0';
    lrc = check_run_dir(job);
    if (lrc == 0) lrc = run_path(job, tagger_path, sizeof tagger_path, RUN_TAGGER);
    rc = elmo_agree(lrc);
    if (lrc < 0) rc = lrc; /* this rank's own refusal: the same exit code on every rank */
    if (rc < 0) goto cleanup;

    /* 1. data and tag set (every rank) */
    for (int i = 0; i < 3 && lrc == 0; i++) {
        if (!sp[i].path[0]) continue;
        lrc = elmo_ner_data_read(sp[i].path, false, &sp[i].d);
        sp[i].present = lrc == 0;
    }
    if (lrc == 0 && sp[0].d.n_sent == 0)
        lrc = elmo_error(ELMO_ERR_FORMAT, "%s: no sentences to train on", job->train);
    if (lrc == 0) lrc = elmo_tagset_build(&sp[0].d, &tags);
    ELMO_CALL(elmo_agree(lrc));
    int max_len = 1;
    for (int i = 0; i < 3; i++) {
        if (!sp[i].present) continue;
        sp[i].len = lengths(&sp[i].d);
        sp[i].gold = elmo_xmalloc(sizeof(int32_t) * (size_t)(sp[i].d.n_tok + 1));
        for (int64_t k = 0; k < sp[i].d.n_tok; k++)
            sp[i].gold[k] = elmo_tagset_find(&tags, sp[i].d.tag[k]);
        if (sp[i].d.max_len > max_len) max_len = sp[i].d.max_len;
    }

    if (lrc == 0 && rank == 0) lrc = check_run_outputs(job);
    ELMO_CALL(elmo_agree(lrc));

    /* an existing DIR/tagger.h5: the same job again is already complete; another job's is kept
     * unless --overwrite */
    int complete = 0;
    if (rank == 0 && !job->overwrite && access(tagger_path, F_OK) == 0) {
        struct elmo_tagger old;
        struct elmo_tagger_meta old_meta;
        memset(&old, 0, sizeof old);
        memset(&old_meta, 0, sizeof old_meta);
        char *yaml = elmo_job_to_yaml(job);
        if (elmo_tagger_load(tagger_path, &old, &old_meta) == 0 && old_meta.job_yaml && yaml &&
            !strcmp(old_meta.job_yaml, yaml))
            complete = 1;
        else
            lrc = elmo_error(ELMO_ERR_ARG,
                             "%s exists and is not the tagger of this job (other settings or "
                             "data, or not a tagger); --overwrite replaces it",
                             tagger_path);
        free(yaml);
        elmo_tagger_free(&old);
        elmo_tagger_meta_free(&old_meta);
    }
    ELMO_CALL(elmo_agree(lrc));
    complete = elmo_bcast_int(complete);
    if (complete) {
        if (rank == 0)
            printf("train-ner: %s is already complete (%s is the tagger of this job); nothing "
                   "to do (--overwrite trains it again)\n",
                   job->out, tagger_path);
        goto cleanup;
    }
    /* mkdir -p of the run directory */
    ELMO_CALL(elmo_agree(rank == 0 ? elmo_make_dirs(job->out) : 0));

    /* 2. features */
    int K, D;
    if (glove || xglove) {
        lrc = elmo_glove_load(job->glove, &gv);
        if (lrc == 0 && rank == 0) lrc = elmo_file_sha256(job->glove, glove_sha);
        ELMO_CALL(elmo_agree(lrc));
        int64_t known = 0;
        for (int64_t k = 0; k < sp[0].d.n_tok; k++)
            known += elmo_glove_lookup(
                         &gv, elmo_ner_feature_token(sp[0].d.tok[k], job->mask_urls_users)) != NULL;
        if (rank == 0)
            fprintf(stderr,
                    "train-ner: GloVe %s: %" PRId64 " words of %d dimensions; %.1f%% of "
                    "the training tokens have a vector\n",
                    job->glove, gv.n, gv.dim, 100.0 * (double)known / (double)sp[0].d.n_tok);
    }
    if (glove) {
        struct elmo_ner_feat f;
        ELMO_CALL(elmo_agree(elmo_ner_feat_init(&f, NULL, &gv, job->mask_urls_users, 0, 0)));
        K = f.K, D = f.D;
        for (int i = 0; i < 3; i++) {
            if (!sp[i].present) continue;
            sp[i].feat = elmo_xmalloc(sizeof(float) * (size_t)(sp[i].d.n_tok + 1) * K * D);
            elmo_ner_feat_compute(&f, sp[i].d.n_sent, sp[i].len, (const char *const *)sp[i].d.tok,
                                  sp[i].feat);
        }
        elmo_ner_feat_free(&f);
    } else {
        lrc = elmo_options_load(job->options, &model.opt);
        if (lrc == 0 && model.opt.L != 2)
            lrc = elmo_error(ELMO_ERR_ARG, "train-ner needs a 2-layer biLM (%s has %d)",
                             job->options, model.opt.L);
        if (lrc == 0 && rank == 0) lrc = elmo_file_sha256(job->weights, sha);
        if (lrc == 0 && rank == 0) meta.options_json = elmo_read_text(job->options);
        if (lrc == 0 && rank == 0 && !meta.options_json) lrc = ELMO_ERR_IO;
        ELMO_CALL(elmo_agree(lrc));
        elmo_bcast(sha, sizeof sha);
        K = 3, D = 2 * model.opt.P;
        for (int i = 0; i < 3; i++)
            if (sp[i].present)
                ELMO_CALL(elmo_features(job, &sp[i], sha, meta.options_json, model.opt.P));
    }
    struct elmo_ner_extras xs;
    elmo_ner_extras_init(&xs, xglove ? &gv : NULL, job->ortho, job->mask_urls_users);
    const int E = xs.E;
    for (int i = 0; i < 3 && E > 0; i++) {
        if (!sp[i].present) continue;
        sp[i].extra = elmo_xmalloc(sizeof(float) * (size_t)(sp[i].d.n_tok + 1) * E);
        elmo_ner_extras_compute(&xs, sp[i].d.n_tok, (const char *const *)sp[i].d.tok,
                                 sp[i].extra);
    }
    double t_feat = elmo_now() - t_start;

    /* 3. the model */
    struct elmo_tagger_config cfg = {K,    D, job->hidden, tags.n, job->dropout_keep,
                                     1.0f, E, output};
    lrc = elmo_tagger_init(&t, &cfg);
    if (lrc == 0) lrc = elmo_tagger_init(&best, &cfg);
    if (lrc == 0) lrc = elmo_optim_init(&adam, ELMO_OPTIM_ADAM, t.n_floats);
    if (lrc == 0) {
        grad = elmo_aligned_alloc(sizeof(float) * t.n_floats, "gradient block");
        if (!grad) lrc = ELMO_ERR_NOMEM;
    }
    size_t bs = (size_t)job->batch_size;
    if (lrc == 0)
        lrc = elmo_tagger_ws_reserve(&ws, &cfg, bs * (size_t)max_len, bs, (size_t)max_len);
    ELMO_CALL(elmo_agree(lrc));
    elmo_tagger_randomize(&t, job->seed);
    memcpy(best.block, t.block, sizeof(float) * t.n_floats);
    elog = elmo_xcalloc((size_t)job->epochs, sizeof *elog);

    /* a checkpoint of this job: continue after its last epoch (rank 0 reads, all receive) */
    char ckpt[ELMO_PATH_MAX + 16] = "";
    struct ckpt_head ck;
    memset(&ck, 0, sizeof ck);
    if (job->out[0]) ELMO_CALL(run_path(job, ckpt, sizeof ckpt, RUN_CHECKPOINT));
    int resumed = 0;
    if (rank == 0 && ckpt[0]) {
        char fp[65];
        lrc = ckpt_fingerprint(job, sp, sha, glove_sha, size, t.n_floats, fp);
        if (lrc == 0 && job->overwrite) unlink(ckpt);
        if (lrc == 0) resumed = ckpt_read(ckpt, job->epochs, &ck, elog, &t, &best, &adam);
        if (resumed < 0) lrc = resumed, resumed = 0;
        if (lrc == 0 && resumed && strcmp(ck.fingerprint, fp) != 0)
            lrc = elmo_error(ELMO_ERR_MISMATCH,
                             "%s belongs to a run with other settings, data or vectors; delete "
                             "it or rerun with --overwrite",
                             ckpt);
        if (lrc == 0 && !resumed) {
            memcpy(ck.magic, CKPT_MAGIC, sizeof CKPT_MAGIC);
            memcpy(ck.fingerprint, fp, sizeof fp);
            ck.best_f1 = -1.0, ck.lr = job->lr, ck.n_floats = t.n_floats;
        }
    }
    ELMO_CALL(elmo_agree(lrc));
    if (ckpt[0]) {
        resumed = elmo_bcast_int(resumed);
        if (resumed) {
            elmo_bcast(&ck, sizeof ck);
            elmo_bcast(elog, sizeof *elog * (size_t)ck.epochs_done);
            elmo_bcast(t.block, sizeof(float) * t.n_floats);
            elmo_bcast(best.block, sizeof(float) * t.n_floats);
            elmo_bcast(adam.state, sizeof(float) * t.n_floats);
            elmo_bcast(adam.state + t.n_floats, sizeof(float) * t.n_floats);
        }
        if (resumed) {
            adam.t = ck.adam_step;
            if (rank == 0)
                fprintf(stderr, "train-ner: resuming from %s after epoch %d (best so far: epoch "
                                "%d)\n", ckpt, ck.epochs_done, ck.best_epoch);
        }
    }
    if (rank == 0)
        fprintf(stderr,
                "train-ner: %s features (K %d x D %d)%s, %d extra inputs, BiLSTM %d per "
                "direction, %s output, %d tags, %zu parameters; %d train / %d dev / %d test "
                "sentences; batch %d over %d rank%s; features ready in %.1f s\n",
                job->features, K, D, job->ortho ? " + ortho" : "", E, job->hidden,
                output == ELMO_TAGGER_CRF ? "crf" : "softmax", tags.n,
                elmo_tagger_param_count(&cfg),
                sp[0].d.n_sent, sp[1].d.n_sent, sp[2].d.n_sent, job->batch_size, size,
                size > 1 ? "s" : "", t_feat);

    /* 4. training */
    const int n_train = sp[0].d.n_sent;
    perm = elmo_xmalloc(sizeof(int32_t) * (size_t)n_train);
    int64_t most = 1;
    for (int i = 0; i < 3; i++) most = sp[i].d.n_tok + 1 > most ? sp[i].d.n_tok + 1 : most;
    all = rank == 0 ? elmo_xmalloc(sizeof(int32_t) * (size_t)most) : NULL;
    bfeat = elmo_xmalloc(sizeof(float *) * bs);
    bextra = elmo_xmalloc(sizeof(float *) * bs);
    bgold = elmo_xmalloc(sizeof(int32_t *) * bs);
    blen = elmo_xmalloc(sizeof(int32_t) * bs);
    bseed = elmo_xmalloc(sizeof(uint64_t) * bs);
    double best_f1 = resumed ? ck.best_f1 : -1.0;
    int best_epoch = resumed ? ck.best_epoch : 0, epochs_run = resumed ? ck.epochs_done : 0;
    double lr = resumed ? ck.lr : job->lr;
    bool patience_stop = false;
    if (resumed && job->patience > 0 && sp[1].present &&
        ck.epochs_done - best_epoch >= job->patience)
        patience_stop = true; /* the checkpoint was written as the patience ran out */
    for (int ep = resumed ? ck.epochs_done : 0; ep < job->epochs && !patience_stop; ep++) {
        epochs_run = ep + 1;
        double te = elmo_now(), last_print = te;
        struct elmo_rng r;
        elmo_rng_seed(&r, elmo_rng_derive_xor3(job->seed, (uint64_t)ep, 0x5348554646ull));
        for (int i = 0; i < n_train; i++) perm[i] = i;
        elmo_rng_shuffle(&r, perm, (size_t)n_train, sizeof *perm);
        double loss_local = 0.0;
        int n_batches = (int)((n_train + (int)bs - 1) / (int)bs);
        for (int bi = 0; bi < n_batches; bi++) {
            int b0 = bi * (int)bs, b1 = b0 + (int)bs < n_train ? b0 + (int)bs : n_train;
            int64_t ntok = 0;
            for (int i = b0; i < b1; i++) ntok += sp[0].len[perm[i]];
            int64_t m0, m1;
            block_of(b1 - b0, rank, size, &m0, &m1);
            int B = (int)(m1 - m0);
            for (int k = 0; k < B; k++) {
                int s = perm[b0 + m0 + k];
                blen[k] = sp[0].len[s];
                bfeat[k] = sp[0].feat + (size_t)sp[0].d.offset[s] * K * D;
                bextra[k] = E > 0 ? sp[0].extra + (size_t)sp[0].d.offset[s] * E : NULL;
                bgold[k] = sp[0].gold + sp[0].d.offset[s];
                bseed[k] = elmo_rng_derive_xor3(job->seed, (uint64_t)ep + 1, (uint64_t)s);
            }
            memset(grad, 0, sizeof(float) * t.n_floats);
            lrc = 0;
            if (B > 0) {
                struct elmo_tagger_batch batch = {B, blen, bfeat, bgold, bseed,
                                                  E > 0 ? bextra : NULL};
                double loss = 0.0;
                lrc = elmo_tagger_forward(&t, &ws, &batch, &loss);
                if (lrc == 0) {
                    elmo_tagger_backward(&t, &ws, &batch, 1.0f / (float)ntok, grad);
                    loss_local += loss;
                }
            }
            ELMO_CALL(elmo_agree(lrc));
            elmo_allreduce_sum(grad, t.n_floats);
            elmo_tagger_clip(&cfg, grad, job->clip);
            elmo_optim_step(&adam, t.block, grad, (float)lr, 1.0f);
            /* a stop signal on any rank: abandon this epoch; the checkpoint holds the last one */
            int any_sig = elmo_stop_agreed();
            if (any_sig) {
                if (ep > 0 && ckpt[0])
                    rc = elmo_error(ELMO_ERR_INTERRUPTED,
                                    "interrupted by signal %d in epoch %d; %s holds epoch %d: "
                                    "rerun the same job to continue",
                                    any_sig, ep + 1, ckpt, ep);
                else
                    rc = elmo_error(ELMO_ERR_INTERRUPTED,
                                    "interrupted by signal %d in epoch %d, before any epoch "
                                    "finished: a rerun starts over",
                                    any_sig, ep + 1);
                goto cleanup;
            }
            double now = elmo_now();
            if (rank == 0 && job->progress && now - last_print > 10.0) {
                fprintf(stderr, "train-ner: epoch %d, batch %d/%d, %.0f sentences/s\n", ep + 1,
                        bi + 1, n_batches, (double)b1 / (now - te));
                last_print = now;
            }
        }
        double loss_sum = 0.0;
        ELMO_MPI(MPI_Allreduce(&loss_local, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
        /* the ranks must hold the same weights */
        uint64_t h_lo, h_hi;
        if (!elmo_same_weights(t.block, t.n_floats, NULL, 0, &h_lo, &h_hi))
            ELMO_FAIL(ELMO_ERR_STATE, "the ranks' weights diverged after epoch %d", ep + 1);
        elog[ep].lr = lr;
        elog[ep].loss = loss_sum / (double)sp[0].d.n_tok;
        /* dev */
        int improved = 0;
        if (sp[1].present && sp[1].d.n_sent > 0) {
            ELMO_CALL(tag_split(&t, &ws, &sp[1], all));
            if (rank == 0) {
                struct elmo_conll_eval ev;
                lrc = score_tags(&sp[1].d, &tags, all, &ev, NULL);
                elog[ep].dev = elmo_conll_overall(&ev);
                improved = elog[ep].dev.f1 >= best_f1; /* ties: the later epoch */
            }
            ELMO_CALL(elmo_agree(lrc));
        } else {
            improved = 1; /* no dev set: keep the last epoch */
        }
        improved = elmo_bcast_int(improved);
        if (improved) {
            memcpy(best.block, t.block, sizeof(float) * t.n_floats);
            best_epoch = ep + 1;
            best_f1 = elog[ep].dev.f1;
        }
        elog[ep].seconds = elmo_now() - te;
        if (rank == 0) {
            if (sp[1].present)
                printf("epoch %d/%d: lr %.6f, train loss %.4f, dev P %.2f R %.2f F1 %.2f%s, "
                       "%.1f s\n",
                       ep + 1, job->epochs, lr, elog[ep].loss, elog[ep].dev.precision,
                       elog[ep].dev.recall, elog[ep].dev.f1, improved ? " (best)" : "",
                       elog[ep].seconds);
            else
                printf("epoch %d/%d: lr %.6f, train loss %.4f, %.1f s\n", ep + 1, job->epochs, lr,
                       elog[ep].loss, elog[ep].seconds);
            fflush(stdout);
        }
        lr *= job->lr_decay;
        if (ckpt[0] && ep + 1 < job->epochs) {
            lrc = 0;
            if (rank == 0) {
                ck.epochs_done = ep + 1, ck.best_epoch = best_epoch;
                ck.best_f1 = best_f1, ck.lr = lr, ck.adam_step = adam.t;
                lrc = ckpt_write(ckpt, &ck, elog, &t, &best, &adam);
            }
            ELMO_CALL(elmo_agree(lrc));
        }
        if (job->patience > 0 && sp[1].present && ep + 1 - best_epoch >= job->patience) {
            if (rank == 0) {
                printf("stopping: no better dev F1 in the %d epochs after epoch %d\n",
                       job->patience, best_epoch);
                fflush(stdout);
            }
            break;
        }
    }
    double t_train = elmo_now() - t_start - t_feat;

    /* 5. the kept epoch: final tables, predictions, report, the tagger file */
    memcpy(t.block, best.block, sizeof(float) * t.n_floats);
    struct elmo_conll_eval evs[3];
    bool scored[3] = {false, false, false};
    for (int i = 1; i < 3; i++) {
        if (!sp[i].present || sp[i].d.n_sent == 0) continue;
        ELMO_CALL(tag_split(&t, &ws, &sp[i], all));
        lrc = 0;
        if (rank == 0) {
            char pred[ELMO_PATH_MAX + 16];
            lrc = run_path(job, pred, sizeof pred, "%s.conll", sp[i].name);
            FILE *pf = lrc == 0 ? fopen(pred, "w") : NULL;
            if (!pf && lrc == 0) lrc = elmo_error(ELMO_ERR_IO, "%s: %s", pred, strerror(errno));
            if (lrc == 0) lrc = score_tags(&sp[i].d, &tags, all, &evs[i], pf);
            if (pf && fclose(pf) != 0 && lrc == 0)
                lrc = elmo_error(ELMO_ERR_IO, "%s: write failed", pred);
            if (lrc == 0) {
                printf("\n%s (%s, epoch %d of %d), %s features:\n", i == 1 ? "validation" : "test",
                       sp[i].path, best_epoch, epochs_run, job->features);
                elmo_conll_eval_print(&evs[i], stdout);
                fflush(stdout);
                scored[i] = true;
            }
        }
        ELMO_CALL(elmo_agree(lrc));
    }
    lrc = 0;
    if (rank == 0) {
        meta.tags = tags;
        snprintf(meta.features, sizeof meta.features, "%s", job->features);
        meta.ortho = job->ortho;
        meta.mask_urls_users = job->mask_urls_users;
        if (glove || xglove) {
            snprintf(meta.glove_path, sizeof meta.glove_path, "%s", job->glove);
            snprintf(meta.glove_sha256, sizeof meta.glove_sha256, "%s", glove_sha);
            meta.glove = gv; /* the file keeps every row: tagging needs no GloVe file */
            memset(&gv, 0, sizeof gv);
        }
        if (!glove) {
            /* the biLM by sha256 and by a path relative to the tagger's directory (the run
             * directory), which a tagger shipped or moved together with its biLM keeps */
            snprintf(meta.weights_sha256, sizeof meta.weights_sha256, "%s", sha);
            lrc = elmo_file_sha256(job->options, meta.options_sha256);
            if (lrc == 0)
                lrc = elmo_path_relative(job->out, job->options, meta.bilm_options,
                                         sizeof meta.bilm_options);
            if (lrc == 0)
                lrc = elmo_path_relative(job->out, job->weights, meta.bilm_weights,
                                         sizeof meta.bilm_weights);
        }
        meta.lr = job->lr, meta.lr_decay = job->lr_decay, meta.clip = job->clip;
        meta.batch_size = job->batch_size, meta.epochs = epochs_run;
        meta.best_epoch = best_epoch, meta.ranks = size, meta.seed = job->seed;
        meta.dev_f1 = sp[1].present ? best_f1 : -1.0;
        meta.job_yaml = elmo_job_to_yaml(job);
        if (lrc == 0) lrc = elmo_tagger_save(tagger_path, &t, &meta);

        /* DIR/eval.json */
        struct {
            char *p;
            size_t n, cap;
        } js = {NULL, 0, 0};
#define JS(...)                                                            \
    do {                                                                   \
        int need = snprintf(NULL, 0, __VA_ARGS__);                         \
        if (js.n + (size_t)need + 1 > js.cap) {                            \
            js.cap = (js.n + (size_t)need + 1) * 2;                        \
            js.p = elmo_xrealloc(js.p, js.cap);                            \
        }                                                                  \
        js.n += (size_t)snprintf(js.p + js.n, js.cap - js.n, __VA_ARGS__); \
    } while (0)
        JS("{\"features\": \"%s\", \"ortho\": %s, \"output\": \"%s\", \"hidden\": %d, "
           "\"dropout_keep\": %g, \"ranks\": %d, \"seed\": %" PRIu64 ", \"epochs\": %d, "
           "\"best_epoch\": %d, \"feature_seconds\": %.3f, \"train_seconds\": %.3f,\n"
           " \"per_epoch\": [",
           job->features, job->ortho ? "true" : "false", job->ner_output, job->hidden,
           (double)job->dropout_keep, size, job->seed, epochs_run, best_epoch, t_feat, t_train);
        for (int ep = 0; ep < epochs_run; ep++)
            JS("%s\n  {\"epoch\": %d, \"lr\": %.8g, \"train_loss\": %.6f, \"seconds\": %.3f, "
               "\"dev_precision\": %.4f, \"dev_recall\": %.4f, \"dev_f1\": %.4f}",
               ep ? "," : "", ep + 1, elog[ep].lr, elog[ep].loss, elog[ep].seconds,
               elog[ep].dev.precision, elog[ep].dev.recall, elog[ep].dev.f1);
        JS("]");
        for (int i = 1; i < 3; i++) {
            if (!scored[i]) continue;
            char *e = elmo_conll_eval_json(&evs[i]);
            JS(",\n \"%s\": %s", i == 1 ? "dev" : "test", e);
            free(e);
        }
        JS("}\n");
#undef JS
        char jp[ELMO_PATH_MAX + 16];
        if (lrc == 0) lrc = run_path(job, jp, sizeof jp, RUN_EVAL);
        if (lrc == 0) lrc = write_text(jp, js.p);
        free(js.p);
        if (lrc == 0 && ckpt[0]) unlink(ckpt); /* the tagger is written: nothing to resume */
        if (lrc == 0)
            fprintf(stderr,
                    "train-ner: done in %.1f s (features %.1f s, training %.1f s = %.1f s per "
                    "epoch on %d rank%s); kept epoch %d; wrote %s: " RUN_TAGGER ", " RUN_EVAL
                    "%s%s\n",
                    elmo_now() - t_start, t_feat, t_train, t_train / epochs_run, size,
                    size > 1 ? "s" : "", best_epoch, job->out, scored[1] ? ", dev.conll" : "",
                    scored[2] ? ", test.conll" : "");
    }
    ELMO_CALL(elmo_agree(lrc));

cleanup:
    free(bfeat);
    free(bextra);
    free(bgold);
    free(blen);
    free(bseed);
    free(perm);
    free(all);
    free(grad);
    free(elog);
    for (int i = 0; i < 3; i++) {
        free(sp[i].len);
        free(sp[i].gold);
        free(sp[i].feat);
        free(sp[i].extra);
        elmo_ner_data_free(&sp[i].d);
    }
    elmo_tagger_meta_free(&meta);
    elmo_optim_free(&adam);
    elmo_tagger_ws_free(&ws);
    elmo_tagger_free(&best);
    elmo_tagger_free(&t);
    elmo_glove_free(&gv);
    elmo_model_free(&model);
    return rc;
}
