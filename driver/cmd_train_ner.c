/*
 * cmd_train_ner.c: the train-ner job.
 *
 * train-ner.  Every rank reads the `token tag` files.  The features are computed once: for
 * features elmo, the (URL/user-masked) tokens of each split are embedded by the embed job
 * (elmo_embed_run on a derived job: word_emb, lstm_outputs1, lstm_outputs2 into
 * DIR/features/<split>.h5, reused by a later run when the store is complete, was made with the
 * same weights and holds the same tokens), then every rank reads the whole store; for
 * features glove every rank looks the tokens up.  Extra inputs after the mix (the GloVe vector
 * for features elmo+glove, the orthographic flags for ortho) are computed by every rank from
 * the raw tokens.  Training is data-parallel (the per-rank step is worker/ner_step.c): every
 * rank holds the same parameters, takes its contiguous slice of each batch of batch_size
 * sentences (the batches come from one seeded shuffle per epoch, the dropout masks of a
 * sentence from a seed of (seed, epoch, sentence)), and the gradients, already scaled by
 * 1 / (tokens of the whole batch), are summed with one MPI_Allreduce of the contiguous
 * gradient block; then each rank clips and steps Adam identically.  After each epoch the ranks
 * tag the dev set in contiguous blocks and rank 0 scores it; the epoch with the best dev F1 is
 * kept (and with patience N, training stops after N epochs without a better one).  Rank 0
 * saves the tagger (with the GloVe rows it used, so that tagging needs no GloVe file), prints
 * the tables, and writes the report and the predictions.  Everything goes into the run
 * directory DIR (`out`, created if missing): DIR/tagger.h5, DIR/eval.json, DIR/{dev,test}.conll,
 * DIR/checkpoint while the run is unfinished, and the feature stores DIR/features/<split>.h5
 * with their logs.
 *
 * eval-ner is in cmd_eval_ner.c, what the two share in ner_shared.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/ner_shared.h"
#include "io/conlleval.h"
#include "io/files.h"
#include "io/hash_cache.h"
#include "io/ner_checkpoint.h"
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
#include "worker/ner_step.h"

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
    ELMO_TRY(elmo__ner_check_outputs(job, prefix, top, (int)(sizeof top / sizeof top[0])));
    ELMO_TRY(run_path(job, prefix, sizeof prefix, RUN_FEATURES));
    if (lstat(prefix, &st) != 0) return 0;
    ELMO_TRY(run_path(job, prefix, sizeof prefix, RUN_FEATURES "/"));
    return elmo__ner_check_outputs(job, prefix, feat, (int)(sizeof feat / sizeof feat[0]));
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

/* The embed job on a split's feature tokens (the file `tokens`) into `store`.  Collective. */
static int embed_split(const struct elmo_job *job, const struct split *sp, const char *tokens,
                       const char *store) {
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
    int rc = elmo_embed_run(&ej);
    elmo_job_free(&ej);
    if (rc < 0) return rc;
    if (elmo_rank() == 0) unlink(tokens); /* written by this run for the embed job */
    return 0;
}

/* Every rank reads the whole store: sp->feat (n_tok, 3, 2P), [word_emb; word_emb], lstm1, lstm2. */
static int read_store(const char *store, struct split *sp, int P) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    const int64_t N = sp->d.n_tok, W = 2 * P;
    int lrc = elmo_store_open(&st, store, &info);
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

/*
 * The ELMo features of a split through the embed job (unless a complete store of the same
 * weights, options and tokens is there to reuse), then read back on every rank.
 * options_text: the options file as read (rank 0; a cached store must hold the same).
 * Collective.
 */
static int elmo_features(const struct elmo_job *job, struct split *sp, const char *sha,
                         const char *options_text, int P) {
    char store[ELMO_PATH_MAX], tokens[ELMO_PATH_MAX], dir[ELMO_PATH_MAX];
    ELMO_TRY(store_path(job, sp, store, sizeof store));
    ELMO_TRY(run_path(job, tokens, sizeof tokens, RUN_FEATURES "/%s.tokens.conll", sp->name));
    ELMO_TRY(run_path(job, dir, sizeof dir, RUN_FEATURES));
    int reuse = 0, lrc = 0;
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
        ELMO_TRY(embed_split(job, sp, tokens, store));
    }
    return read_store(store, sp, P);
}

/* A split as worker/ner_step.h takes it. */
static struct elmo_ner_set set_of(const struct split *sp) {
    struct elmo_ner_set s = {sp->d.n_sent, sp->d.offset, sp->len, sp->gold, sp->feat, sp->extra};
    return s;
}

/* Tags split sp with t on every rank (contiguous blocks); rank 0 gets all tags.  Collective. */
static int tag_split(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, const struct split *sp,
                     int32_t *all) {
    int64_t s0, s1;
    elmo_ner_block(sp->d.n_sent, elmo_rank(), elmo_size(), &s0, &s1);
    int32_t *mine =
        elmo_xmalloc(sizeof(int32_t) * (size_t)(sp->d.offset[s1] - sp->d.offset[s0] + 1));
    const struct elmo_ner_set set = set_of(sp);
    int rc = elmo_agree(elmo_ner_tag_block(t, ws, &set, elmo_rank(), elmo_size(), mine));
    if (rc == 0) rc = elmo__ner_gather_tags(&sp->d, mine, all);
    free(mine);
    return rc;
}

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

/* One train-ner run: its settings, data, model and progress. */
struct ner_run {
    struct elmo_job *job;
    int rank, size;
    bool glove, xglove; /* GloVe instead of the mix; GloVe after the mix */
    int output;         /* ELMO_TAGGER_SOFTMAX or ELMO_TAGGER_CRF */
    struct split sp[3];
    struct elmo_tagset tags;
    struct elmo_model model;
    struct elmo_glove gv;
    struct elmo_tagger_config cfg;
    struct elmo_tagger t, best; /* the weights trained, the kept epoch's */
    struct elmo_tagger_ws ws;
    struct elmo_optim adam;
    struct elmo_tagger_meta meta;
    struct elmo_ner_slice slice;
    struct elmo_ner_epoch *elog; /* (epochs) */
    float *grad;            /* the gradient block */
    int32_t *perm;          /* (train sentences) the epoch's order */
    int32_t *all;           /* rank 0: a split's tags */
    int K, D, E, max_len;
    char sha[65], glove_sha[65], tagger_path[ELMO_PATH_MAX], ckpt[ELMO_PATH_MAX + 16];
    struct elmo_ner_ckpt_head ck;
    int resumed;
    /* progress */
    double t_start, t_feat, t_train, best_f1, lr;
    int best_epoch, epochs_run;
    /* the kept epoch's scores */
    struct elmo_conll_eval evs[3];
    bool scored[3];
};

/*
 * The run directory's name, before any work; `DIR/` is the same job as `DIR`.  Every rank
 * checks, so that a refusal exits 2 on each (rank 0 prints it).
 */
static int check_name(struct ner_run *r) {
    struct elmo_job *job = r->job;
    for (size_t n = strlen(job->out); n > 1 && job->out[n - 1] == '/'; n--) job->out[n - 1] = '\0';
    int lrc = check_run_dir(job);
    if (lrc == 0) lrc = run_path(job, r->tagger_path, sizeof r->tagger_path, RUN_TAGGER);
    int rc = elmo_agree(lrc);
    if (lrc < 0) rc = lrc; /* this rank's own refusal: the same exit code on every rank */
    return rc;
}

/* The splits and the tag set (every rank); then rank 0 checks the run's existing files. */
static int read_splits(struct ner_run *r) {
    int lrc = 0;
    for (int i = 0; i < 3 && lrc == 0; i++) {
        if (!r->sp[i].path[0]) continue;
        lrc = elmo_ner_data_read(r->sp[i].path, false, &r->sp[i].d);
        r->sp[i].present = lrc == 0;
    }
    if (lrc == 0 && r->sp[0].d.n_sent == 0)
        lrc = elmo_error(ELMO_ERR_FORMAT, "%s: no sentences to train on", r->job->train);
    if (lrc == 0) lrc = elmo_tagset_build(&r->sp[0].d, &r->tags);
    ELMO_TRY(elmo_agree(lrc));
    r->max_len = 1;
    for (int i = 0; i < 3; i++) {
        struct split *sp = &r->sp[i];
        if (!sp->present) continue;
        sp->len = elmo__ner_lengths(&sp->d);
        sp->gold = elmo_xmalloc(sizeof(int32_t) * (size_t)(sp->d.n_tok + 1));
        for (int64_t k = 0; k < sp->d.n_tok; k++)
            sp->gold[k] = elmo_tagset_find(&r->tags, sp->d.tag[k]);
        if (sp->d.max_len > r->max_len) r->max_len = sp->d.max_len;
    }
    return elmo_agree(r->rank == 0 ? check_run_outputs(r->job) : 0);
}

/*
 * An existing DIR/tagger.h5: the same job again is already complete (*complete, on every rank);
 * another job's is kept unless --overwrite.  Collective.
 */
static int check_complete(struct ner_run *r, int *complete) {
    int lrc = 0;
    *complete = 0;
    if (r->rank == 0 && !r->job->overwrite && access(r->tagger_path, F_OK) == 0) {
        struct elmo_tagger old;
        struct elmo_tagger_meta old_meta;
        memset(&old, 0, sizeof old);
        memset(&old_meta, 0, sizeof old_meta);
        char *yaml = elmo_job_to_yaml(r->job);
        if (elmo_tagger_load(r->tagger_path, &old, &old_meta) == 0 && old_meta.job_yaml && yaml &&
            !strcmp(old_meta.job_yaml, yaml))
            *complete = 1;
        else
            lrc = elmo_error(ELMO_ERR_ARG,
                             "%s exists and is not the tagger of this job (other settings or "
                             "data, or not a tagger); --overwrite replaces it",
                             r->tagger_path);
        free(yaml);
        elmo_tagger_free(&old);
        elmo_tagger_meta_free(&old_meta);
    }
    ELMO_TRY(elmo_agree(lrc));
    *complete = elmo_bcast_int(*complete);
    if (*complete && r->rank == 0)
        printf("train-ner: %s is already complete (%s is the tagger of this job); nothing "
               "to do (--overwrite trains it again)\n",
               r->job->out, r->tagger_path);
    return 0;
}

/* The GloVe table (features glove, elmo+glove) on every rank; rank 0 hashes it and reports. */
static int load_glove(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    int lrc = elmo_glove_load(job->glove, &r->gv);
    if (lrc == 0 && r->rank == 0) lrc = elmo_file_sha256_cached(job->glove, r->glove_sha);
    ELMO_TRY(elmo_agree(lrc));
    const struct elmo_ner_data *d = &r->sp[0].d;
    int64_t known = 0;
    for (int64_t k = 0; k < d->n_tok; k++)
        known += elmo_glove_lookup(&r->gv, elmo_ner_feature_token(d->tok[k],
                                                                  job->mask_urls_users)) != NULL;
    if (r->rank == 0)
        fprintf(stderr,
                "train-ner: GloVe %s: %" PRId64 " words of %d dimensions; %.1f%% of "
                "the training tokens have a vector\n",
                job->glove, r->gv.n, r->gv.dim, 100.0 * (double)known / (double)d->n_tok);
    return 0;
}

/* Features glove: every rank looks the tokens of every split up. */
static int glove_features(struct ner_run *r) {
    struct elmo_ner_feat f;
    ELMO_TRY(elmo_agree(elmo_ner_feat_init(&f, NULL, &r->gv, r->job->mask_urls_users, 0, 0)));
    r->K = f.K, r->D = f.D;
    for (int i = 0; i < 3; i++) {
        struct split *sp = &r->sp[i];
        if (!sp->present) continue;
        sp->feat = elmo_xmalloc(sizeof(float) * (size_t)(sp->d.n_tok + 1) * r->K * r->D);
        elmo_ner_feat_compute(&f, sp->d.n_sent, sp->len, (const char *const *)sp->d.tok,
                              sp->feat);
    }
    elmo_ner_feat_free(&f);
    return 0;
}

/* Features elmo, elmo+glove: the biLM's three layers of every split, through the embed job. */
static int bilm_features(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    int lrc = elmo_options_load(job->options, &r->model.opt);
    if (lrc == 0 && r->model.opt.L != 2)
        lrc = elmo_error(ELMO_ERR_ARG, "train-ner needs a 2-layer biLM (%s has %d)", job->options,
                         r->model.opt.L);
    if (lrc == 0 && r->rank == 0) lrc = elmo_file_sha256_cached(job->weights, r->sha);
    if (lrc == 0 && r->rank == 0) r->meta.options_json = elmo_read_text(job->options);
    if (lrc == 0 && r->rank == 0 && !r->meta.options_json) lrc = ELMO_ERR_IO;
    ELMO_TRY(elmo_agree(lrc));
    elmo_bcast(r->sha, sizeof r->sha);
    r->K = 3, r->D = 2 * r->model.opt.P;
    for (int i = 0; i < 3; i++)
        if (r->sp[i].present)
            ELMO_TRY(elmo_features(job, &r->sp[i], r->sha, r->meta.options_json,
                                   r->model.opt.P));
    return 0;
}

/* The tagger's inputs of every split: the features, then the extra inputs.  Collective. */
static int features(struct ner_run *r) {
    if (r->glove || r->xglove) ELMO_TRY(load_glove(r));
    ELMO_TRY(r->glove ? glove_features(r) : bilm_features(r));
    struct elmo_ner_extras xs;
    elmo_ner_extras_init(&xs, r->xglove ? &r->gv : NULL, r->job->ortho,
                         r->job->mask_urls_users);
    r->E = xs.E;
    for (int i = 0; i < 3 && r->E > 0; i++) {
        struct split *sp = &r->sp[i];
        if (!sp->present) continue;
        sp->extra = elmo_xmalloc(sizeof(float) * (size_t)(sp->d.n_tok + 1) * r->E);
        elmo_ner_extras_compute(&xs, sp->d.n_tok, (const char *const *)sp->d.tok, sp->extra);
    }
    r->t_feat = elmo_now() - r->t_start;
    return 0;
}

/* The tagger, the kept epoch's copy, Adam, the gradient block, the work space.  Collective. */
static int init_model(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    struct elmo_tagger_config cfg = {r->K, r->D, job->hidden, r->tags.n, job->dropout_keep,
                                     1.0f, r->E, r->output};
    r->cfg = cfg;
    int lrc = elmo_tagger_init(&r->t, &r->cfg);
    if (lrc == 0) lrc = elmo_tagger_init(&r->best, &r->cfg);
    if (lrc == 0) lrc = elmo_optim_init(&r->adam, ELMO_OPTIM_ADAM, r->t.n_floats);
    if (lrc == 0) {
        r->grad = elmo_aligned_alloc(sizeof(float) * r->t.n_floats, "gradient block");
        if (!r->grad) lrc = ELMO_ERR_NOMEM;
    }
    size_t bs = (size_t)job->batch_size;
    if (lrc == 0)
        lrc = elmo_tagger_ws_reserve(&r->ws, &r->cfg, bs * (size_t)r->max_len, bs,
                                     (size_t)r->max_len);
    ELMO_TRY(elmo_agree(lrc));
    elmo_tagger_randomize(&r->t, job->seed);
    memcpy(r->best.block, r->t.block, sizeof(float) * r->t.n_floats);
    r->elog = elmo_xcalloc((size_t)job->epochs, sizeof *r->elog);
    return 0;
}

/* Rank 0: reads a checkpoint of this job (r->resumed), or sets up the header of a new one. */
static int read_checkpoint(struct ner_run *r) {
    char fp[65];
    ELMO_TRY(ckpt_fingerprint(r->job, r->sp, r->sha, r->glove_sha, r->size, r->t.n_floats, fp));
    if (r->job->overwrite) unlink(r->ckpt);
    int got =
        elmo_ner_ckpt_read(r->ckpt, r->job->epochs, &r->ck, r->elog, &r->t, &r->best, &r->adam);
    if (got < 0) return got;
    r->resumed = got;
    if (r->resumed && strcmp(r->ck.fingerprint, fp) != 0) {
        r->resumed = 0;
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s belongs to a run with other settings, data or vectors; delete "
                          "it or rerun with --overwrite",
                          r->ckpt);
    }
    if (!r->resumed) {
        memcpy(r->ck.magic, ELMO_NER_CKPT_MAGIC, sizeof ELMO_NER_CKPT_MAGIC);
        memcpy(r->ck.fingerprint, fp, sizeof fp);
        r->ck.best_f1 = -1.0, r->ck.lr = r->job->lr, r->ck.n_floats = r->t.n_floats;
    }
    return 0;
}

/* Every rank receives what rank 0 read of the checkpoint. */
static int share_checkpoint(struct ner_run *r) {
    const size_t n = sizeof(float) * r->t.n_floats;
    r->resumed = elmo_bcast_int(r->resumed);
    if (r->resumed) {
        elmo_bcast(&r->ck, sizeof r->ck);
        elmo_bcast(r->elog, sizeof *r->elog * (size_t)r->ck.epochs_done);
        elmo_bcast(r->t.block, n);
        elmo_bcast(r->best.block, n);
        elmo_bcast(r->adam.state, n);
        elmo_bcast(r->adam.state + r->t.n_floats, n);
    }
    return 0;
}

/*
 * A checkpoint of this job: continue after its last epoch (rank 0 reads, all receive).  Sets
 * the progress (best so far, learning rate) either way.  Collective.
 */
static int resume(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    if (job->out[0]) ELMO_TRY(run_path(job, r->ckpt, sizeof r->ckpt, RUN_CHECKPOINT));
    ELMO_TRY(elmo_agree(r->rank == 0 && r->ckpt[0] ? read_checkpoint(r) : 0));
    if (r->ckpt[0]) {
        ELMO_TRY(share_checkpoint(r));
        if (r->resumed) {
            r->adam.t = r->ck.adam_step;
            if (r->rank == 0)
                fprintf(stderr, "train-ner: resuming from %s after epoch %d (best so far: epoch "
                                "%d)\n", r->ckpt, r->ck.epochs_done, r->ck.best_epoch);
        }
    }
    r->best_f1 = r->resumed ? r->ck.best_f1 : -1.0;
    r->best_epoch = r->resumed ? r->ck.best_epoch : 0;
    r->epochs_run = r->resumed ? r->ck.epochs_done : 0;
    r->lr = r->resumed ? r->ck.lr : job->lr;
    return 0;
}

/* Rank 0: what is about to be trained. */
static void print_setup(const struct ner_run *r) {
    const struct elmo_job *job = r->job;
    fprintf(stderr,
            "train-ner: %s features (K %d x D %d)%s, %d extra inputs, BiLSTM %d per "
            "direction, %s output, %d tags, %zu parameters; %d train / %d dev / %d test "
            "sentences; batch %d over %d rank%s; features ready in %.1f s\n",
            job->features, r->K, r->D, job->ortho ? " + ortho" : "", r->E, job->hidden,
            r->output == ELMO_TAGGER_CRF ? "crf" : "softmax", r->tags.n,
            elmo_tagger_param_count(&r->cfg), r->sp[0].d.n_sent, r->sp[1].d.n_sent,
            r->sp[2].d.n_sent, job->batch_size, r->size, r->size > 1 ? "s" : "", r->t_feat);
}

/* The message of a stop signal in epoch ep (0-based): what a rerun does. */
static int interrupted(const struct ner_run *r, int sig, int ep) {
    if (ep > 0 && r->ckpt[0])
        return elmo_error(ELMO_ERR_INTERRUPTED,
                          "interrupted by signal %d in epoch %d; %s holds epoch %d: "
                          "rerun the same job to continue",
                          sig, ep + 1, r->ckpt, ep);
    return elmo_error(ELMO_ERR_INTERRUPTED,
                      "interrupted by signal %d in epoch %d, before any epoch "
                      "finished: a rerun starts over",
                      sig, ep + 1);
}

/*
 * One epoch's batches: each rank's step, the gradients summed over the ranks, then the same
 * clipped Adam step on every rank.  *loss_local: this rank's summed loss.  A stop signal on any
 * rank abandons the epoch (the checkpoint holds the last one).  Collective.
 */
static int train_epoch(struct ner_run *r, int ep, double te, double *loss_local) {
    const struct elmo_job *job = r->job;
    const int n_train = r->sp[0].d.n_sent, bs = job->batch_size;
    const struct elmo_ner_set set = set_of(&r->sp[0]);
    double last_print = te;
    elmo_ner_epoch_order(r->perm, n_train, job->seed, ep);
    *loss_local = 0.0;
    int n_batches = (n_train + bs - 1) / bs;
    for (int bi = 0; bi < n_batches; bi++) {
        int b0 = bi * bs, b1 = b0 + bs < n_train ? b0 + bs : n_train;
        double loss = 0.0;
        int lrc = elmo_ner_step(&r->t, &r->ws, &r->slice, &set, r->perm, b0, b1, r->rank,
                                r->size, job->seed, ep, r->grad, &loss);
        if (lrc == 0) *loss_local += loss;
        ELMO_TRY(elmo_agree(lrc));
        elmo_allreduce_sum(r->grad, r->t.n_floats);
        elmo_tagger_clip(&r->cfg, r->grad, job->clip);
        elmo_optim_step(&r->adam, r->t.block, r->grad, (float)r->lr, 1.0f);
        int any_sig = elmo_stop_agreed();
        if (any_sig) return interrupted(r, any_sig, ep);
        double now = elmo_now();
        if (r->rank == 0 && job->progress && now - last_print > 10.0) {
            fprintf(stderr, "train-ner: epoch %d, batch %d/%d, %.0f sentences/s\n", ep + 1,
                    bi + 1, n_batches, (double)b1 / (now - te));
            last_print = now;
        }
    }
    return 0;
}

/* The epoch's mean training loss over all ranks, and the check that the ranks' weights agree. */
static int epoch_loss(struct ner_run *r, int ep, double loss_local) {
    double loss_sum = 0.0;
    ELMO_MPI(MPI_Allreduce(&loss_local, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    /* the ranks must hold the same weights */
    uint64_t h_lo, h_hi;
    if (!elmo_same_weights(r->t.block, r->t.n_floats, NULL, 0, &h_lo, &h_hi))
        return elmo_error(ELMO_ERR_STATE, "the ranks' weights diverged after epoch %d", ep + 1);
    r->elog[ep].lr = r->lr;
    r->elog[ep].loss = loss_sum / (double)r->sp[0].d.n_tok;
    return 0;
}

/* Scores the dev set after epoch ep; *improved (every rank) when it is the best so far. */
static int score_dev(struct ner_run *r, int ep, int *improved) {
    int lrc = 0;
    *improved = 0;
    if (r->sp[1].present && r->sp[1].d.n_sent > 0) {
        ELMO_TRY(tag_split(&r->t, &r->ws, &r->sp[1], r->all));
        if (r->rank == 0) {
            struct elmo_conll_eval ev;
            lrc = elmo__ner_score_tags(&r->sp[1].d, &r->tags, r->all, &ev, NULL);
            r->elog[ep].dev = elmo_conll_overall(&ev);
            *improved = r->elog[ep].dev.f1 >= r->best_f1; /* ties: the later epoch */
        }
        ELMO_TRY(elmo_agree(lrc));
    } else {
        *improved = 1; /* no dev set: keep the last epoch */
    }
    *improved = elmo_bcast_int(*improved);
    if (*improved) {
        memcpy(r->best.block, r->t.block, sizeof(float) * r->t.n_floats);
        r->best_epoch = ep + 1;
        r->best_f1 = r->elog[ep].dev.f1;
    }
    return 0;
}

/* Rank 0: the epoch's line on stdout. */
static void print_epoch(const struct ner_run *r, int ep, int improved) {
    const struct elmo_ner_epoch *e = &r->elog[ep];
    if (r->sp[1].present)
        printf("epoch %d/%d: lr %.6f, train loss %.4f, dev P %.2f R %.2f F1 %.2f%s, "
               "%.1f s\n",
               ep + 1, r->job->epochs, e->lr, e->loss, e->dev.precision, e->dev.recall,
               e->dev.f1, improved ? " (best)" : "", e->seconds);
    else
        printf("epoch %d/%d: lr %.6f, train loss %.4f, %.1f s\n", ep + 1, r->job->epochs, e->lr,
               e->loss, e->seconds);
    fflush(stdout);
}

/* Rank 0 writes the checkpoint after epoch ep (not after the last).  Collective. */
static int save_checkpoint(struct ner_run *r, int ep) {
    if (!r->ckpt[0] || ep + 1 >= r->job->epochs) return 0;
    int lrc = 0;
    if (r->rank == 0) {
        struct elmo_ner_ckpt_head *ck = &r->ck;
        ck->epochs_done = ep + 1, ck->best_epoch = r->best_epoch;
        ck->best_f1 = r->best_f1, ck->lr = r->lr, ck->adam_step = r->adam.t;
        lrc = elmo_ner_ckpt_write(r->ckpt, ck, r->elog, &r->t, &r->best, &r->adam);
    }
    return elmo_agree(lrc);
}

/* 1 when patience has run out after epoch ep (epochs since the best one, with a dev set). */
static int patience_out(const struct ner_run *r, int epochs_done) {
    return r->job->patience > 0 && r->sp[1].present &&
           epochs_done - r->best_epoch >= r->job->patience;
}

/*
 * The epochs from the checkpoint's on: train, check, score the dev set, keep the best, log,
 * checkpoint; stop early when patience runs out.  Collective.
 */
static int train(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    int64_t most = 1;
    for (int i = 0; i < 3; i++) most = r->sp[i].d.n_tok + 1 > most ? r->sp[i].d.n_tok + 1 : most;
    r->perm = elmo_xmalloc(sizeof(int32_t) * (size_t)r->sp[0].d.n_sent);
    r->all = r->rank == 0 ? elmo_xmalloc(sizeof(int32_t) * (size_t)most) : NULL;
    elmo_ner_slice_init(&r->slice, job->batch_size);
    /* a checkpoint written as the patience ran out trains no further */
    const bool spent = r->resumed && patience_out(r, r->ck.epochs_done);
    for (int ep = r->resumed ? r->ck.epochs_done : 0; ep < job->epochs && !spent; ep++) {
        r->epochs_run = ep + 1;
        double te = elmo_now(), loss_local;
        int improved;
        ELMO_TRY(train_epoch(r, ep, te, &loss_local));
        ELMO_TRY(epoch_loss(r, ep, loss_local));
        ELMO_TRY(score_dev(r, ep, &improved));
        r->elog[ep].seconds = elmo_now() - te;
        if (r->rank == 0) print_epoch(r, ep, improved);
        r->lr *= job->lr_decay;
        ELMO_TRY(save_checkpoint(r, ep));
        if (patience_out(r, ep + 1)) {
            if (r->rank == 0) {
                printf("stopping: no better dev F1 in the %d epochs after epoch %d\n",
                       job->patience, r->best_epoch);
                fflush(stdout);
            }
            break;
        }
    }
    r->t_train = elmo_now() - r->t_start - r->t_feat;
    return 0;
}

/* Rank 0: the predictions of split i (DIR/<split>.conll) and its table on stdout. */
static int write_predictions(struct ner_run *r, int i) {
    const struct split *sp = &r->sp[i];
    char pred[ELMO_PATH_MAX + 16];
    int lrc = run_path(r->job, pred, sizeof pred, "%s.conll", sp->name);
    FILE *pf = lrc == 0 ? fopen(pred, "w") : NULL;
    if (!pf && lrc == 0) lrc = elmo_error(ELMO_ERR_IO, "%s: %s", pred, strerror(errno));
    if (lrc == 0) lrc = elmo__ner_score_tags(&sp->d, &r->tags, r->all, &r->evs[i], pf);
    if (pf && fclose(pf) != 0 && lrc == 0) lrc = elmo_error(ELMO_ERR_IO, "%s: write failed", pred);
    if (lrc == 0) {
        printf("\n%s (%s, epoch %d of %d), %s features:\n", i == 1 ? "validation" : "test",
               sp->path, r->best_epoch, r->epochs_run, r->job->features);
        elmo_conll_eval_print(&r->evs[i], stdout);
        fflush(stdout);
        r->scored[i] = true;
    }
    return lrc;
}

/* The kept epoch: the dev and test sets tagged, scored and written.  Collective. */
static int evaluate(struct ner_run *r) {
    memcpy(r->t.block, r->best.block, sizeof(float) * r->t.n_floats);
    for (int i = 1; i < 3; i++) {
        if (!r->sp[i].present || r->sp[i].d.n_sent == 0) continue;
        ELMO_TRY(tag_split(&r->t, &r->ws, &r->sp[i], r->all));
        ELMO_TRY(elmo_agree(r->rank == 0 ? write_predictions(r, i) : 0));
    }
    return 0;
}

/*
 * Rank 0: DIR/tagger.h5, with what tagging needs (the tag set, the features, the GloVe rows it
 * used, the biLM by sha256 and by a path relative to the run directory) and the run's record.
 */
static int save_tagger(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    struct elmo_tagger_meta *meta = &r->meta;
    int lrc = 0;
    meta->tags = r->tags;
    snprintf(meta->features, sizeof meta->features, "%s", job->features);
    meta->ortho = job->ortho;
    meta->mask_urls_users = job->mask_urls_users;
    if (r->glove || r->xglove) {
        snprintf(meta->glove_path, sizeof meta->glove_path, "%s", job->glove);
        snprintf(meta->glove_sha256, sizeof meta->glove_sha256, "%s", r->glove_sha);
        meta->glove = r->gv; /* the file keeps every row: tagging needs no GloVe file */
        memset(&r->gv, 0, sizeof r->gv);
    }
    if (!r->glove) {
        /* a tagger shipped or moved together with its biLM keeps the relative paths */
        snprintf(meta->weights_sha256, sizeof meta->weights_sha256, "%s", r->sha);
        lrc = elmo_file_sha256_cached(job->options, meta->options_sha256);
        if (lrc == 0)
            lrc = elmo_path_relative(job->out, job->options, meta->bilm_options,
                                     sizeof meta->bilm_options);
        if (lrc == 0)
            lrc = elmo_path_relative(job->out, job->weights, meta->bilm_weights,
                                     sizeof meta->bilm_weights);
    }
    meta->lr = job->lr, meta->lr_decay = job->lr_decay, meta->clip = job->clip;
    meta->batch_size = job->batch_size, meta->epochs = r->epochs_run;
    meta->best_epoch = r->best_epoch, meta->ranks = r->size, meta->seed = job->seed;
    meta->dev_f1 = r->sp[1].present ? r->best_f1 : -1.0;
    meta->job_yaml = elmo_job_to_yaml(job);
    if (lrc == 0) lrc = elmo_tagger_save(r->tagger_path, &r->t, meta);
    return lrc;
}

/* The settings part of DIR/eval.json. */
static json_t *eval_settings(const struct ner_run *r) {
    const struct elmo_job *job = r->job;
    json_t *o = json_object();
    json_object_set_new(o, "features", json_string(job->features));
    json_object_set_new(o, "ortho", json_boolean(job->ortho));
    json_object_set_new(o, "output", json_string(job->ner_output));
    json_object_set_new(o, "hidden", json_integer(job->hidden));
    json_object_set_new(o, "dropout_keep", json_real(job->dropout_keep));
    json_object_set_new(o, "ranks", json_integer(r->size));
    json_object_set_new(o, "seed", json_integer((json_int_t)job->seed));
    json_object_set_new(o, "epochs", json_integer(r->epochs_run));
    json_object_set_new(o, "best_epoch", json_integer(r->best_epoch));
    json_object_set_new(o, "feature_seconds", json_real(r->t_feat));
    json_object_set_new(o, "train_seconds", json_real(r->t_train));
    return o;
}

/* The per-epoch log of DIR/eval.json: learning rate, loss, time, dev scores. */
static json_t *eval_epochs(const struct ner_run *r) {
    json_t *a = json_array();
    for (int ep = 0; ep < r->epochs_run; ep++) {
        const struct elmo_ner_epoch *e = &r->elog[ep];
        json_t *o = json_object();
        json_object_set_new(o, "epoch", json_integer(ep + 1));
        json_object_set_new(o, "lr", json_real(e->lr));
        json_object_set_new(o, "train_loss", json_real(e->loss));
        json_object_set_new(o, "seconds", json_real(e->seconds));
        json_object_set_new(o, "dev_precision", json_real(e->dev.precision));
        json_object_set_new(o, "dev_recall", json_real(e->dev.recall));
        json_object_set_new(o, "dev_f1", json_real(e->dev.f1));
        json_array_append_new(a, o);
    }
    return a;
}

/* The text of DIR/eval.json: settings, per-epoch log, the final dev and test scores; NULL with
 * the error set when it cannot be built. */
static char *eval_json(const struct ner_run *r) {
    json_t *o = eval_settings(r);
    json_object_set_new(o, "per_epoch", eval_epochs(r));
    for (int i = 1; i < 3; i++) {
        if (!r->scored[i]) continue;
        json_object_set_new(o, i == 1 ? "dev" : "test", elmo_conll_eval_object(&r->evs[i]));
    }
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL; /* the file ends with a newline */
    if (!line) {
        free(text);
        elmo_error(ELMO_ERR_NOMEM, "out of memory for the text of %s", RUN_EVAL);
        return NULL;
    }
    memcpy(line + n, "\n", 2);
    return line;
}

/* Rank 0: the tagger, DIR/eval.json, the checkpoint removed, the summary line. */
static int write_run(struct ner_run *r) {
    const struct elmo_job *job = r->job;
    int lrc = save_tagger(r);
    char *js = lrc == 0 ? eval_json(r) : NULL;
    char jp[ELMO_PATH_MAX + 16];
    if (lrc == 0 && !js) lrc = ELMO_ERR_NOMEM;
    if (lrc == 0) lrc = run_path(job, jp, sizeof jp, RUN_EVAL);
    if (lrc == 0) lrc = elmo__ner_write_text(jp, js);
    free(js);
    if (lrc == 0 && r->ckpt[0]) unlink(r->ckpt); /* the tagger is written: nothing to resume */
    if (lrc == 0)
        fprintf(stderr,
                "train-ner: done in %.1f s (features %.1f s, training %.1f s = %.1f s per "
                "epoch on %d rank%s); kept epoch %d; wrote %s: " RUN_TAGGER ", " RUN_EVAL
                "%s%s\n",
                elmo_now() - r->t_start, r->t_feat, r->t_train, r->t_train / r->epochs_run,
                r->size, r->size > 1 ? "s" : "", r->best_epoch, job->out,
                r->scored[1] ? ", dev.conll" : "", r->scored[2] ? ", test.conll" : "");
    return lrc;
}

static void run_free(struct ner_run *r) {
    elmo_ner_slice_free(&r->slice);
    free(r->perm);
    free(r->all);
    free(r->grad);
    free(r->elog);
    for (int i = 0; i < 3; i++) {
        free(r->sp[i].len);
        free(r->sp[i].gold);
        free(r->sp[i].feat);
        free(r->sp[i].extra);
        elmo_ner_data_free(&r->sp[i].d);
    }
    elmo_tagger_meta_free(&r->meta);
    elmo_optim_free(&r->adam);
    elmo_tagger_ws_free(&r->ws);
    elmo_tagger_free(&r->best);
    elmo_tagger_free(&r->t);
    elmo_glove_free(&r->gv);
    elmo_model_free(&r->model);
}

int elmo_train_ner_run(struct elmo_job *job) {
    struct ner_run *r = elmo_xcalloc(1, sizeof *r);
    struct split sp[3] = {{"train", job->train, {0}, NULL, NULL, NULL, false, NULL},
                          {"dev", job->dev, {0}, NULL, NULL, NULL, false, NULL},
                          {"test", job->test, {0}, NULL, NULL, NULL, false, NULL}};
    memcpy(r->sp, sp, sizeof sp);
    r->job = job;
    r->rank = elmo_rank(), r->size = elmo_size();
    r->glove = !strcmp(job->features, "glove");
    r->xglove = !strcmp(job->features, "elmo+glove");
    r->output = !strcmp(job->ner_output, "crf") ? ELMO_TAGGER_CRF : ELMO_TAGGER_SOFTMAX;
    elmo_blas_set_threads(job->threads);
    r->t_start = elmo_now();
    int rc = 0, complete = 0;

    ELMO_CALL(check_name(r));
    ELMO_CALL(read_splits(r));
    ELMO_CALL(check_complete(r, &complete));
    if (complete) goto cleanup;
    ELMO_CALL(elmo_agree(r->rank == 0 ? elmo_make_dirs(job->out) : 0)); /* mkdir -p DIR */
    ELMO_CALL(features(r));
    ELMO_CALL(init_model(r));
    ELMO_CALL(resume(r));
    if (r->rank == 0) print_setup(r);
    ELMO_CALL(train(r));
    ELMO_CALL(evaluate(r));
    ELMO_CALL(elmo_agree(r->rank == 0 ? write_run(r) : 0));
cleanup:
    run_free(r);
    free(r);
    return rc;
}
