/*
 * cmd_pretrain.c: the pretrain job: a biLM trained from scratch, data-parallel over MPI.
 *
 * Every rank reads the whole corpus (it is small next to the model's work), builds the same
 * vocabulary and the same packing of sentences into B batch rows, and trains on its own rows
 * [B rank / size, B (rank + 1) / size).  A step: forward and backward on the rank's rows
 * (worker/lm_step.c over model/train_bilm.c), the gradient block (model + softmax, one contiguous
 * array) summed with one MPI_Allreduce, the global norm clipped, the same optimizer update on
 * every rank, so the weights stay identical everywhere.  The loss of a step is 0.5 (mean
 * forward CE + mean backward CE) over the step's targets on all ranks; each rank scales its part
 * by the global target count, which every rank knows from the packing.  Dropout masks and sampled
 * candidates are seeded by (seed, step, global row), so a run is reproducible for a given seed,
 * and the same for any number of ranks up to float summation order.
 *
 * After every epoch rank 0 prints the training loss, the held-out perplexities (forward,
 * backward, and their geometric mean) with the full softmax, tokens/s, and writes
 * OUT/checkpoint.h5, OUT/weights.hdf5 + OUT/options.json (the inference model, bilm-tf
 * layout, no softmax), OUT/vocab.txt and OUT/train.json.  A rerun with the same settings
 * continues from the checkpoint (also mid-epoch: the carried LSTM states are in it).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/corpus.h"
#include "io/lm_files.h"
#include "io/outfile.h"
#include "io/sha256.h"
#include "io/weights.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/lm_data.h"
#include "model/optim.h"
#include "model/rng.h"
#include "model/status.h"
#include "model/train_bilm.h"
#include "worker/lm_step.h"

/* s as a JSON string literal (jansson's escaping), owned; NULL when s is not UTF-8. */
static char *json_quote(const char *s) {
    json_t *js = json_string(s);
    char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    return q;
}

/* ------------------------------------------------------------------------------------------ */
/* reading the corpus */

struct read_stats {
    int64_t records, empty, rejected, split, truncated;
};

/*
 * Adds the sentences of one file.  heldout_every: 0 = all training; < 0 = all held out;
 * otherwise the running sentence index *index decides with `fraction` (evenly spaced).
 */
static int read_file(struct elmo_lm_corpus *c, const char *path, enum elmo_input_format format,
                     int mode, double fraction, int64_t *index, const struct elmo_job *job,
                     struct read_stats *st) {
    struct elmo_corpus_opts o = {.format = format, .text_field = "text", .id_field = "id"};
    struct elmo_corpus *rd = NULL;
    ELMO_TRY(elmo_corpus_open(&rd, path, &o, 0, -1, 1));
    struct elmo_record rec;
    int rc, max = job->max_sentence_tokens;
    while ((rc = elmo_corpus_next(rd, &rec)) == 1) {
        st->records++;
        if (rec.reject) {
            st->rejected++;
            continue;
        }
        if (rec.n_tok == 0) {
            st->empty++;
            continue;
        }
        int n = rec.n_tok;
        if (n > max && job->long_sentences == ELMO_LONG_TRUNCATE) {
            n = max;
            st->truncated++;
        } else if (n > max) {
            st->split++;
        }
        for (int k0 = 0; k0 < n; k0 += max) {
            int k = n - k0 < max ? n - k0 : max;
            bool held = mode < 0;
            if (mode > 0) {
                held = floor((double)(*index + 1) * fraction) > floor((double)*index * fraction);
                (*index)++;
            }
            rc = elmo_lm_corpus_add(c, rec.tok + k0, k, held);
            if (rc < 0) break;
        }
        if (rc < 0) break;
    }
    elmo_corpus_close(rd);
    return rc < 0 ? rc : ELMO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* the run */

struct run {
    struct elmo_job *job;
    int rank, size;
    struct elmo_options opt;
    char options_json[4096];
    struct elmo_lm_corpus corpus;
    struct elmo_lm_vocab vocab;
    struct elmo_lm lm;
    struct elmo_optim optim;
    int32_t B, T, row0, rows; /* training rows: global, window, this rank's */
    int32_t Be, erow0, erows; /* held-out rows */
    size_t S;                 /* carried state floats per row */
    float *state, *estate;    /* (rows, S), (erows, S) */
    int32_t *in[2], *tgt[2];  /* (T max(rows, erows)) one window */
    const char *softmax;      /* "full" or "sampled" */
    int32_t n_sampled;
    double unigram;
    /* progress */
    int64_t step;  /* optimizer steps done */
    int32_t epoch; /* epochs completed */
    int64_t step_in_epoch;
    double partial[4]; /* this rank's sums of the current epoch (+ rank 0: resumed) */
    int32_t n_epochs;
    struct elmo_lm_epoch *history;
    char *settings; /* owned */
    char data[2048], config[2048];
    char ckpt_path[ELMO_PATH_MAX + 32], weights_path[ELMO_PATH_MAX + 32];
    char options_path[ELMO_PATH_MAX + 32], vocab_path[ELMO_PATH_MAX + 32];
    char report_path[ELMO_PATH_MAX + 32];
};

static int setup_paths(struct run *r) {
    const char *out = r->job->out;
    if (snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/checkpoint.h5", out) >=
            (int)sizeof r->ckpt_path ||
        snprintf(r->weights_path, sizeof r->weights_path, "%s/weights.hdf5", out) >=
            (int)sizeof r->weights_path ||
        snprintf(r->options_path, sizeof r->options_path, "%s/options.json", out) >=
            (int)sizeof r->options_path ||
        snprintf(r->vocab_path, sizeof r->vocab_path, "%s/vocab.txt", out) >=
            (int)sizeof r->vocab_path ||
        snprintf(r->report_path, sizeof r->report_path, "%s/train.json", out) >=
            (int)sizeof r->report_path)
        return elmo_error(ELMO_ERR_ARG, "%s: the output path is too long", out);
    return ELMO_OK;
}

static int load_data(struct run *r) {
    struct elmo_job *job = r->job;
    ELMO_TRY(elmo_lm_corpus_init(&r->corpus));
    struct read_stats st = {0};
    int64_t index = 0;
    bool dev = job->dev[0] != '\0';
    double f = dev ? 0.0 : job->heldout_fraction;
    int mode = f > 0 ? 1 : 0;
    if (job->corpus[0])
        ELMO_TRY(read_file(&r->corpus, job->corpus, ELMO_INPUT_TEXT, mode, f, &index, job, &st));
    if (job->train[0])
        ELMO_TRY(read_file(&r->corpus, job->train, ELMO_INPUT_CONLL, mode, f, &index, job, &st));
    if (dev) ELMO_TRY(read_file(&r->corpus, job->dev, ELMO_INPUT_TEXT, -1, 0, &index, job, &st));
    int64_t ns, nt, hs, ht;
    elmo_lm_corpus_count(&r->corpus, false, &ns, &nt);
    elmo_lm_corpus_count(&r->corpus, true, &hs, &ht);
    ELMO_CHECK(ns > 0, ELMO_ERR_ARG,
               "%s: no training sentence (%lld records, %lld empty, %lld "
               "rejected)",
               job->corpus[0] ? job->corpus : job->train, (long long)st.records,
               (long long)st.empty, (long long)st.rejected);
    ELMO_TRY(elmo_lm_vocab_build(&r->corpus, job->vocab_size, &r->vocab));
    int64_t ht_targets = 0;
    r->unigram = elmo_lm_unigram_ppl(&r->corpus, &r->vocab, &ht_targets);
    snprintf(r->data, sizeof r->data,
             "{\"records\": %lld, \"empty_skipped\": %lld, \"rejected\": %lld, "
             "\"long_split\": %lld, \"long_truncated\": %lld, \"train_sentences\": %lld, "
             "\"train_tokens\": %lld, \"heldout_sentences\": %lld, \"heldout_tokens\": %lld, "
             "\"heldout_targets\": %lld, \"word_types\": %d, \"vocab_size\": %d, "
             "\"train_oov_tokens\": %lld}",
             (long long)st.records, (long long)st.empty, (long long)st.rejected,
             (long long)st.split, (long long)st.truncated, (long long)ns, (long long)nt,
             (long long)hs, (long long)ht, (long long)ht_targets, r->corpus.n_types, r->vocab.V,
             (long long)r->vocab.n_oov);
    if (r->rank == 0)
        printf("pretrain: %lld training sentences (%lld tokens), %lld held out (%lld tokens); "
               "%d word types; vocabulary %d (<UNK> = %.2f%% of training tokens); unigram "
               "held-out perplexity %.2f\n",
               (long long)ns, (long long)nt, (long long)hs, (long long)ht, r->corpus.n_types,
               r->vocab.V, 100.0 * (double)r->vocab.n_oov / (double)(nt > 0 ? nt : 1), r->unigram);
    return ELMO_OK;
}

/*
 * The settings as run (report) and the ones a resume must match (config).  The paths are
 * quoted by jansson; every rank fails alike on a path that is not UTF-8.
 */
static int describe(struct run *r) {
    const struct elmo_job *j = r->job;
    char nums[2048];
    snprintf(nums, sizeof nums,
             ", \"vocab_size\": %d, \"heldout_fraction\": %.6g, \"unroll_steps\": %d, "
             "\"batch_size\": %d, \"lr\": %.6g, \"optimizer\": \"%s\", \"clip\": %.6g, "
             "\"dropout\": %.6g, \"softmax\": \"%s\", \"softmax_requested\": \"%s\", "
             "\"n_negative_samples\": %d, \"epochs\": %d, \"seed\": %llu, \"ranks\": %d, "
             "\"threads\": %d, \"heldout_rows\": %d, \"checkpoint_steps\": %d, \"max_steps\": %d, "
             "\"max_sentence_tokens\": %d, \"long_sentences\": \"%s\", \"loss\": \"0.5 (mean "
             "forward CE + mean backward CE) per step\", \"adagrad_initial_accumulator\": 1.0, "
             "\"adam\": {\"beta1\": 0.9, \"beta2\": 0.999, \"eps\": 1e-8}}",
             j->vocab_size, j->heldout_fraction, j->unroll_steps, j->batch_size, j->lr,
             j->optimizer, j->clip, j->dropout, r->softmax, j->softmax, r->n_sampled, j->epochs,
             (unsigned long long)j->seed, r->size, j->threads, r->Be, j->checkpoint_steps,
             j->max_steps, j->max_sentence_tokens,
             j->long_sentences == ELMO_LONG_TRUNCATE ? "truncate" : "split");
    char *q[4] = {json_quote(j->corpus), json_quote(j->train), json_quote(j->dev),
                  json_quote(j->options)};
    int rc = 0;
    if (!q[0] || !q[1] || !q[2] || !q[3]) {
        rc = elmo_error(ELMO_ERR_ARG, "pretrain: the corpus, train, dev and options paths must "
                                      "be UTF-8 (they are written to train.json)");
    } else {
#define SETTINGS "{\"corpus\": %s, \"train\": %s, \"dev\": %s, \"options\": %s%s"
        size_t n = (size_t)snprintf(NULL, 0, SETTINGS, q[0], q[1], q[2], q[3], nums) + 1;
        free(r->settings);
        r->settings = elmo_xmalloc(n);
        snprintf(r->settings, n, SETTINGS, q[0], q[1], q[2], q[3], nums);
#undef SETTINGS
    }
    for (int k = 0; k < 4; k++) free(q[k]);
    if (rc < 0) return rc;

    /* the vocabulary's fingerprint */
    struct elmo_sha256 h;
    elmo_sha256_init(&h);
    for (int32_t k = 0; k < r->vocab.V; k++) {
        int32_t t = r->vocab.word_type[k];
        const char *w = t < 0 ? "<UNK>" : r->corpus.type[t];
        elmo_sha256_update(&h, w, strlen(w) + 1);
    }
    uint8_t dg[32];
    char hex[65];
    elmo_sha256_final(&h, dg);
    elmo_sha256_hex(dg, hex);
    int64_t ns, nt;
    elmo_lm_corpus_count(&r->corpus, false, &ns, &nt);
    snprintf(r->config, sizeof r->config,
             "{\"vocab\": %d, \"vocab_sha256\": \"%s\", \"train_sentences\": %lld, "
             "\"train_tokens\": %lld, \"batch_size\": %d, \"unroll_steps\": %d, \"seed\": %llu, "
             "\"dropout\": %.9g, \"optimizer\": \"%s\", \"lr\": %.9g, \"clip\": %.9g, "
             "\"softmax\": \"%s\", \"n_negative_samples\": %d}",
             r->vocab.V, hex, (long long)ns, (long long)nt, r->B, r->T, (unsigned long long)j->seed,
             j->dropout, j->optimizer, j->lr, j->clip, r->softmax, r->n_sampled);
    return 0;
}

/* Rank 0 writes the report. */
static int save_report(struct run *r) {
    struct elmo_lm_report rep = {r->settings, r->data,     r->options_json,
                                 r->unigram,  r->n_epochs, r->history};
    return elmo_lm_report_save(r->report_path, &rep);
}

/* weights.hdf5 via a temporary file (rank 0). */
static int save_weights(struct run *r) {
    char tmp[ELMO_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->weights_path);
    ELMO_TRY(elmo_weights_save(tmp, &r->lm.m));
    if (rename(tmp, r->weights_path) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot rename to %s: %s", tmp, r->weights_path,
                          strerror(errno));
    return elmo_options_save(r->options_path, &r->opt);
}

/* The counts and displacements of each rank's rows of the carried states (rank 0 use). */
static void state_blocks(const struct run *r, int *counts, int *displs) {
    for (int k = 0; k < r->size; k++) {
        int64_t a = (int64_t)r->B * k / r->size, b = (int64_t)r->B * (k + 1) / r->size;
        counts[k] = (int)((b - a) * (int64_t)r->S);
        displs[k] = (int)(a * (int64_t)r->S);
    }
}

/* Gathers the carried states and epoch sums, then rank 0 writes everything.  Collective. */
static int checkpoint(struct run *r) {
    float *all = NULL;
    int *counts = NULL, *displs = NULL;
    int rc = ELMO_OK;
    double sums[4];
    /* every rank must hold the same weights and optimizer state, bit for bit */
    uint64_t lo, hi;
    if (!elmo_same_weights(r->lm.param, r->lm.n_total, r->optim.state,
                           r->optim.n * (size_t)r->optim.n_state, &lo, &hi))
        return elmo_error(ELMO_ERR_STATE,
                          "after %lld steps the ranks hold different weights "
                          "(hash %016llx..%016llx): a bug, please report it",
                          (long long)r->step, (unsigned long long)lo, (unsigned long long)hi);
    ELMO_MPI(MPI_Reduce(r->partial, sums, 4, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    if (r->rank == 0) {
        all = elmo_malloc(sizeof(float) * (size_t)r->B * r->S, "the carried states");
        counts = elmo_malloc(sizeof(int) * (size_t)r->size, "the carried states");
        displs = elmo_malloc(sizeof(int) * (size_t)r->size, "the carried states");
        if (!all || !counts || !displs) rc = ELMO_ERR_NOMEM;
        if (counts && displs) state_blocks(r, counts, displs);
    }
    ELMO_TRY(elmo_agree(rc));
    ELMO_MPI(MPI_Gatherv(r->state, (int)((size_t)r->rows * r->S), MPI_FLOAT, all, counts, displs,
                         MPI_FLOAT, 0, MPI_COMM_WORLD));
    if (r->rank == 0 && rc == ELMO_OK) {
        struct elmo_lm_ckpt c = {.options_json = r->options_json,
                                 .config_json = r->config,
                                 .step = r->step,
                                 .epoch = r->epoch,
                                 .step_in_epoch = r->step_in_epoch,
                                 .seed = r->job->seed,
                                 .n_epochs = r->n_epochs,
                                 .history = r->history,
                                 .n_model = r->lm.n_model,
                                 .V = r->lm.cfg.V,
                                 .P = r->opt.P,
                                 .n_total = r->lm.n_total,
                                 .param = r->lm.param,
                                 .n_state = r->optim.n_state,
                                 .optim_t = r->optim.t,
                                 .optim = r->optim.state,
                                 .rows = r->B,
                                 .row_floats = r->S,
                                 .state = all};
        memcpy(c.partial, sums, sizeof sums);
        rc = elmo_lm_ckpt_save(r->ckpt_path, &c);
        if (rc == ELMO_OK) rc = save_weights(r);
        if (rc == ELMO_OK) rc = save_report(r);
    }
    free(all);
    free(counts);
    free(displs);
    return elmo_agree(rc);
}

/*
 * Rank 0: reads the checkpoint into c (the weights and the optimizer state in place, the carried
 * states of all rows into *all), refusing one of another model, data, settings or shape.
 */
static int read_checkpoint(struct run *r, struct elmo_lm_ckpt *c, float **all) {
    ELMO_TRY(elmo_lm_ckpt_read_meta(r->ckpt_path, c));
    if (strcmp(c->options_json, r->options_json) != 0)
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s: the checkpoint is of another model (%s), not of %s; delete it "
                          "or run with --no-resume",
                          r->ckpt_path, c->options_json, r->job->options);
    if (strcmp(c->config_json, r->config) != 0)
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s: the checkpoint has other data or settings:\n  checkpoint: %s\n"
                          "  this run:   %s\n  (delete it, or run with --no-resume to start "
                          "over)",
                          r->ckpt_path, c->config_json, r->config);
    if (c->n_total != r->lm.n_total || c->n_model != r->lm.n_model || c->rows != r->B ||
        c->row_floats != r->S || c->n_state != r->optim.n_state)
        return elmo_error(ELMO_ERR_SHAPE, "%s: array sizes differ from this run's", r->ckpt_path);
    *all = elmo_malloc(sizeof(float) * (size_t)r->B * r->S, "the carried states");
    if (!*all) return ELMO_ERR_NOMEM;
    c->param = r->lm.param;
    c->optim = r->optim.state;
    c->state = *all;
    return elmo_lm_ckpt_read_data(r->ckpt_path, c);
}

/* Every rank receives the counters, the weights, the optimizer state and its rows' states. */
static int share_state(struct run *r, const struct elmo_lm_ckpt *c, const float *all) {
    int64_t counters[4] = {c->step, c->epoch, c->step_in_epoch, c->optim_t};
    elmo_bcast(counters, sizeof counters);
    r->step = counters[0];
    r->epoch = (int32_t)counters[1];
    r->step_in_epoch = counters[2];
    r->optim.t = counters[3];
    elmo_bcast(r->lm.param, sizeof(float) * r->lm.n_total);
    elmo_bcast(r->optim.state, sizeof(float) * r->optim.n * (size_t)r->optim.n_state);
    int *counts = NULL, *displs = NULL;
    if (r->rank == 0) {
        counts = elmo_xmalloc(sizeof(int) * (size_t)r->size);
        displs = elmo_xmalloc(sizeof(int) * (size_t)r->size);
        state_blocks(r, counts, displs);
    }
    ELMO_MPI(MPI_Scatterv(all, counts, displs, MPI_FLOAT, r->state, (int)((size_t)r->rows * r->S),
                          MPI_FLOAT, 0, MPI_COMM_WORLD));
    free(counts);
    free(displs);
    return ELMO_OK;
}

/* Every rank receives the epoch history (with room for this run's epochs) and the sums so far. */
static int share_history(struct run *r, const struct elmo_lm_ckpt *c) {
    int32_t n_hist = c->n_epochs;
    elmo_bcast(&n_hist, sizeof n_hist);
    /* room for the checkpoint's epochs and this run's */
    struct elmo_lm_epoch *h =
        realloc(r->history, sizeof *h * ((size_t)n_hist + (size_t)r->job->epochs + 1));
    if (!h) return elmo_error(ELMO_ERR_NOMEM, "out of memory for the epoch history");
    r->history = h;
    if (r->rank == 0) {
        memcpy(r->partial, c->partial, sizeof c->partial);
        r->n_epochs = c->n_epochs;
        for (int i = 0; i < c->n_epochs; i++) r->history[i] = c->history[i];
        printf("pretrain: resuming from %s: %lld steps done (epoch %d, step %lld of it)\n",
               r->ckpt_path, (long long)r->step, r->epoch + 1, (long long)r->step_in_epoch);
    }
    elmo_bcast(&r->n_epochs, sizeof r->n_epochs);
    elmo_bcast(r->history, sizeof *r->history * (size_t)r->n_epochs);
    return ELMO_OK;
}

/* Continues from the checkpoint when there is one.  Collective. */
static int resume(struct run *r) {
    int have = 0;
    if (r->rank == 0) have = access(r->ckpt_path, F_OK) == 0;
    have = elmo_bcast_int(have);
    if (!have) return ELMO_OK;
    if (!r->job->resume) {
        if (r->rank == 0)
            printf("pretrain: resume is off: starting over (%s will be replaced)\n", r->ckpt_path);
        return ELMO_OK;
    }
    struct elmo_lm_ckpt c;
    memset(&c, 0, sizeof c);
    float *all = NULL;
    int rc = elmo_agree(r->rank == 0 ? read_checkpoint(r, &c, &all) : ELMO_OK);
    if (rc == ELMO_OK) rc = share_state(r, &c, all);
    if (rc == ELMO_OK) rc = share_history(r, &c);
    free(all);
    elmo_lm_ckpt_free(&c);
    return rc;
}

/* This rank's rows of the training batch, or of the held-out pass. */
static struct elmo_lm_rows rows_of(struct run *r, bool heldout) {
    struct elmo_lm_rows rw = {heldout ? r->erow0 : r->row0,
                              heldout ? r->erows : r->rows,
                              heldout ? r->estate : r->state,
                              {r->in[0], r->in[1]},
                              {r->tgt[0], r->tgt[1]}};
    return rw;
}

/* Held-out perplexities with the full softmax (fresh zero state).  Collective. */
static int evaluate(struct run *r, const struct elmo_lm_streams *es, double ppl[3]) {
    ppl[0] = ppl[1] = ppl[2] = NAN;
    if (es->total == 0) return ELMO_OK;
    struct elmo_lm_rows rw = rows_of(r, true);
    double sums[4], all[4];
    ELMO_TRY(elmo_lm_heldout_sums(&r->lm, es, &r->vocab, &rw, r->S, sums));
    ELMO_MPI(MPI_Allreduce(sums, all, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    ppl[0] = exp(all[0] / all[2]);
    ppl[1] = exp(all[1] / all[3]);
    ppl[2] = exp((all[0] + all[1]) / (all[2] + all[3]));
    return ELMO_OK;
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (s < 120) snprintf(buf, n, "%.0fs", s);
    else if (s < 7200) snprintf(buf, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(buf, n, "%.0fh%02.0fm", floor(s / 3600), fmod(floor(s / 60), 60));
}

/* One epoch as this run does it: its windows and the progress counters. */
struct epoch_run {
    struct elmo_lm_streams s;
    int64_t log_every, tokens, tokens_log; /* tokens: of the epoch; tokens_log: since the log */
    double t0, tlog, win[4];               /* win: the loss sums since the last log line */
};

/*
 * One optimizer step on window k: this rank's forward and backward, the gradient block summed
 * over the ranks, its global norm clipped, the same update on every rank.  Collective.
 */
static int step(struct run *r, struct epoch_run *e, int64_t k, double *norm) {
    const struct elmo_job *job = r->job;
    struct elmo_lm_rows rw = rows_of(r, false);
    double loss[2];
    int64_t count[2], valid;
    int rc = elmo_lm_train_window(&r->lm, &e->s, k, &r->vocab, &rw, job->seed, r->step, loss,
                                  count, &valid);
    if (rc < 0) {
        /* no extra collective per step: a failed rank poisons its gradient, and every
         * rank sees a non-finite norm after the reduction */
        if (r->rank != 0) fprintf(stderr, "elmo: error (rank %d): %s\n", r->rank, elmo_errmsg());
        r->lm.grad[0] = NAN;
    }
    /* the one reduction of the step: the whole gradient block */
    elmo_allreduce_sum(r->lm.grad, r->lm.n_total);
    *norm = elmo_grad_norm(r->lm.grad, r->lm.n_total);
    if (!isfinite(*norm)) {
        if (rc == ELMO_OK)
            rc = elmo_error(ELMO_ERR_NAN,
                            "step %lld: the gradient norm is %g (a rank failed, or the "
                            "training diverged: lower lr?)",
                            (long long)r->step + 1, *norm);
        return rc;
    }
    float gs = job->clip > 0 && *norm > job->clip ? (float)(job->clip / *norm) : 1.0f;
    elmo_optim_step(&r->optim, r->lm.param, r->lm.grad, job->lr, gs);
    r->step++;
    r->step_in_epoch = k + 1;
    r->partial[0] += loss[0], r->partial[1] += loss[1];
    r->partial[2] += (double)count[0], r->partial[3] += (double)count[1];
    e->win[0] += loss[0], e->win[1] += loss[1];
    e->win[2] += (double)count[0], e->win[3] += (double)count[1];
    e->tokens += valid;
    e->tokens_log += valid;
    return ELMO_OK;
}

/* With progress on, every log_every steps: the loss since the last line.  Collective. */
static int log_progress(struct run *r, struct epoch_run *e, int64_t k, double norm) {
    const struct elmo_job *job = r->job;
    if (!job->progress || ((k + 1) % e->log_every != 0 && k + 1 != e->s.steps)) return ELMO_OK;
    double g[4];
    ELMO_MPI(MPI_Reduce(e->win, g, 4, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    double t = elmo_now();
    if (r->rank == 0) {
        char eta[32];
        double rate = (double)e->tokens / (t - e->t0);
        fmt_duration((double)(e->s.steps - k - 1) * (double)r->B * r->T / rate, eta, sizeof eta);
        fprintf(stderr,
                "epoch %d/%d step %lld/%lld: loss %.4f (fwd %.4f bwd %.4f) |g| %.3g, "
                "%.0f tokens/s, epoch ETA %s\n",
                r->epoch + 1, job->epochs, (long long)(k + 1), (long long)e->s.steps,
                (g[0] + g[1]) / (g[2] + g[3]), g[0] / g[2], g[1] / g[3], norm,
                (double)e->tokens_log / (t - e->tlog), eta);
    }
    memset(e->win, 0, sizeof e->win);
    e->tlog = t;
    e->tokens_log = 0;
    return ELMO_OK;
}

/*
 * After step k of an epoch of `steps`: a checkpoint when due, or before stopping for a signal
 * (exit 3) or at max_steps (*stopped).  The epoch's last step leaves that to the epoch's end.
 * Collective.
 */
static int after_step(struct run *r, int64_t k, int64_t steps, bool *stopped) {
    const struct elmo_job *job = r->job;
    int any_sig = elmo_stop_agreed();
    bool stop = job->max_steps > 0 && r->step >= job->max_steps;
    bool ck = job->checkpoint_steps > 0 && r->step % job->checkpoint_steps == 0;
    if (k + 1 >= steps) return ELMO_OK;
    if (stop || ck || any_sig) ELMO_TRY(checkpoint(r));
    if (any_sig)
        return elmo_error(ELMO_ERR_INTERRUPTED,
                          "interrupted by signal %d after step %lld; %s holds the state: "
                          "rerun the same job to continue",
                          any_sig, (long long)r->step, r->ckpt_path);
    *stopped = stop;
    return ELMO_OK;
}

/* The steps of epoch r->epoch from r->step_in_epoch on (or to max_steps).  Collective. */
static int epoch_steps(struct run *r, struct epoch_run *e, bool *stopped) {
    int rc = ELMO_OK;
    for (int64_t k = r->step_in_epoch; k < e->s.steps && !*stopped; k++) {
        double norm = 0.0;
        if ((rc = step(r, e, k, &norm)) < 0) break;
        if ((rc = log_progress(r, e, k, norm)) < 0) break;
        if ((rc = after_step(r, k, e->s.steps, stopped)) < 0) break;
    }
    return rc;
}

/*
 * The end of an epoch: held-out perplexity, the history, the report and the checkpoint; then a
 * stop for a signal (exit 3) or at max_steps (*stopped).  Collective.
 */
static int end_epoch(struct run *r, const struct elmo_lm_streams *es, const struct epoch_run *er,
                     double secs, bool *stopped) {
    const struct elmo_job *job = r->job;
    double g[4];
    ELMO_MPI(MPI_Allreduce(r->partial, g, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    double ppl[3];
    ELMO_TRY(elmo_agree(evaluate(r, es, ppl)));
    struct elmo_lm_epoch e = {.epoch = r->epoch + 1,
                              .steps = r->step,
                              .train_loss = (g[0] + g[1]) / (g[2] + g[3]),
                              .ppl_fwd = ppl[0],
                              .ppl_bwd = ppl[1],
                              .ppl_avg = ppl[2],
                              .tokens_per_s = (double)er->tokens / secs,
                              .seconds = secs};
    r->history[r->n_epochs++] = e;
    if (r->rank == 0) {
        printf("epoch %d/%d: %lld steps, train loss%s %.4f (ppl %.2f), held-out ppl fwd %.2f "
               "bwd %.2f avg %.2f (unigram %.2f), %.0f tokens/s, %.1f s\n",
               e.epoch, job->epochs, (long long)e.steps, r->n_sampled ? " (sampled softmax)" : "",
               e.train_loss, exp(e.train_loss), e.ppl_fwd, e.ppl_bwd, e.ppl_avg, r->unigram,
               e.tokens_per_s, e.seconds);
        fflush(stdout);
    }
    r->step_in_epoch = 0;
    memset(r->partial, 0, sizeof r->partial);
    r->epoch++;
    int rc2 = checkpoint(r);
    r->epoch--;
    ELMO_TRY(rc2);
    int any_sig = elmo_stop_agreed();
    if (any_sig && r->epoch + 1 < job->epochs)
        return elmo_error(ELMO_ERR_INTERRUPTED,
                          "interrupted by signal %d after epoch %d; %s holds the state: "
                          "rerun the same job to continue",
                          any_sig, r->epoch + 1, r->ckpt_path);
    if (job->max_steps > 0 && r->step >= job->max_steps && r->epoch + 1 < job->epochs) {
        r->epoch++;
        *stopped = true;
        if (r->rank == 0)
            printf("pretrain: stopped after %lld steps (max_steps); %s holds the state, "
                   "rerun to continue\n",
                   (long long)r->step, r->ckpt_path);
    }
    return ELMO_OK;
}

/* Epoch r->epoch's windows, from a zero state and sums at its start.  Collective. */
static int begin_epoch(struct run *r, struct epoch_run *e) {
    const struct elmo_job *job = r->job;
    memset(e, 0, sizeof *e);
    ELMO_TRY(elmo_agree(
        elmo_lm_streams_build(&r->corpus, &r->vocab, false, true,
                              elmo_rng_derive(job->seed, (uint64_t)r->epoch, 0x45504F43u, 0), r->B,
                              r->T, r->row0, r->rows, &e->s)));
    if (r->step_in_epoch == 0) {
        memset(r->state, 0, sizeof(float) * (size_t)r->rows * r->S);
        memset(r->partial, 0, sizeof r->partial);
    }
    int64_t steps = e->s.steps;
    e->log_every = steps / 20 > 100 ? 100 : steps / 20 > 0 ? steps / 20 : 1;
    e->t0 = e->tlog = elmo_now();
    return ELMO_OK;
}

/* The training loop: epochs from r->epoch on.  Collective. */
static int train(struct run *r, const struct elmo_lm_streams *es, bool *stopped) {
    struct elmo_job *job = r->job;
    *stopped = false;
    if (job->max_steps > 0 && r->step >= job->max_steps) {
        *stopped = true;
        if (r->rank == 0)
            printf("pretrain: %lld steps done already (max_steps %d); raise or drop max_steps "
                   "to continue\n",
                   (long long)r->step, job->max_steps);
        return ELMO_OK;
    }
    for (; r->epoch < job->epochs; r->epoch++) {
        struct epoch_run e;
        ELMO_TRY(begin_epoch(r, &e));
        int rc = epoch_steps(r, &e, stopped);
        double secs = elmo_now() - e.t0;
        elmo_lm_streams_free(&e.s);
        if (rc == ELMO_ERR_INTERRUPTED) return rc; /* every rank saw the signal: exit 3 on all */
        ELMO_TRY(elmo_agree(rc));
        if (*stopped) {
            if (r->rank == 0)
                printf("pretrain: stopped after %lld steps (max_steps), %.0f tokens/s over the "
                       "last %.1f s; %s holds the state, rerun to continue\n",
                       (long long)r->step, (double)e.tokens / secs, secs, r->ckpt_path);
            return ELMO_OK;
        }
        ELMO_TRY(end_epoch(r, es, &e, secs, stopped));
        if (*stopped) return ELMO_OK;
    }
    return ELMO_OK;
}

static void run_free(struct run *r) {
    elmo_lm_free(&r->lm);
    elmo_optim_free(&r->optim);
    elmo_lm_vocab_free(&r->vocab);
    elmo_lm_corpus_free(&r->corpus);
    free(r->state);
    free(r->estate);
    free(r->history);
    free(r->settings);
    for (int d = 0; d < 2; d++) {
        free(r->in[d]);
        free(r->tgt[d]);
    }
}

/* The settings, the model's options and the corpus, on every rank.  Collective. */
static int setup(struct run *r) {
    struct elmo_job *job = r->job;
    r->B = job->batch_size;
    r->T = job->unroll_steps;
    if (r->B < r->size)
        return elmo_error(ELMO_ERR_ARG,
                          "batch_size %d is below the number of ranks (%d): every rank "
                          "needs at least one batch row",
                          r->B, r->size);
    ELMO_TRY(setup_paths(r));
    ELMO_TRY(elmo_agree(elmo_options_load(job->options, &r->opt)));
    r->opt.n_characters = 262; /* the inference file: 261 trained rows below the zero row */
    char *js = NULL;
    ELMO_TRY(elmo_options_to_json(&r->opt, &js));
    snprintf(r->options_json, sizeof r->options_json, "%s", js);
    free(js);
    return elmo_agree(load_data(r));
}

/* The softmax: sampled when asked, or (auto) when the vocabulary is large enough. */
static int choose_softmax(struct run *r) {
    const struct elmo_job *job = r->job;
    bool sampled = !strcmp(job->softmax, "sampled") ||
                   (!strcmp(job->softmax, "auto") &&
                    (int64_t)r->vocab.V > 4 * (int64_t)job->n_negative_samples);
    if (sampled && job->n_negative_samples * 2 > r->vocab.V)
        return elmo_error(ELMO_ERR_ARG,
                          "softmax sampled: n_negative_samples %d is over half the "
                          "vocabulary (%d words); use the full softmax",
                          job->n_negative_samples, r->vocab.V);
    r->softmax = sampled ? "sampled" : "full";
    r->n_sampled = sampled ? job->n_negative_samples : 0;
    return ELMO_OK;
}

/* This rank's rows, for training and for the held-out set. */
static void plan_rows(struct run *r) {
    r->row0 = (int32_t)((int64_t)r->B * r->rank / r->size);
    r->rows = (int32_t)((int64_t)r->B * (r->rank + 1) / r->size) - r->row0;
    int64_t hs, ht;
    elmo_lm_corpus_count(&r->corpus, true, &hs, &ht);
    int64_t be = r->job->batch_tokens / r->T;
    if (be > hs) be = hs;
    if (be < r->size) be = r->size;
    r->Be = (int32_t)be;
    r->erow0 = (int32_t)((int64_t)r->Be * r->rank / r->size);
    r->erows = (int32_t)((int64_t)r->Be * (r->rank + 1) / r->size) - r->erow0;
}

/* The model with its initial weights, the optimizer, the buffers.  Collective. */
static int build_model(struct run *r) {
    const struct elmo_job *job = r->job;
    struct elmo_lm_config cfg = {.V = r->vocab.V,
                                 .max_rows = r->rows > r->erows ? r->rows : r->erows,
                                 .T = r->T,
                                 .dropout = job->dropout,
                                 .n_sampled = r->n_sampled};
    ELMO_TRY(elmo_agree(elmo_lm_init(&r->lm, &r->opt, &cfg)));
    if (r->lm.n_total > (size_t)INT_MAX)
        return elmo_error(ELMO_ERR_ARG, "%zu parameters: more than one MPI_Allreduce can sum",
                          r->lm.n_total);
    elmo_lm_init_weights(&r->lm, job->seed);
    ELMO_TRY(elmo_agree(elmo_optim_init(
        &r->optim, !strcmp(job->optimizer, "adam") ? ELMO_OPTIM_ADAM : ELMO_OPTIM_ADAGRAD,
        r->lm.n_total)));
    r->S = elmo_stream_state_floats(&r->opt);
    r->state =
        elmo_calloc((size_t)(r->rows ? r->rows : 1) * r->S, sizeof(float), "the carried states");
    r->estate =
        elmo_calloc((size_t)(r->erows ? r->erows : 1) * r->S, sizeof(float), "the carried states");
    r->history = elmo_calloc((size_t)job->epochs + 1, sizeof *r->history, "the epoch history");
    int rc = ELMO_OK;
    for (int d = 0; d < 2; d++) {
        r->in[d] = elmo_malloc(sizeof(int32_t) * (size_t)r->T * cfg.max_rows, "a window");
        r->tgt[d] = elmo_malloc(sizeof(int32_t) * (size_t)r->T * cfg.max_rows, "a window");
        if (!r->in[d] || !r->tgt[d]) rc = ELMO_ERR_NOMEM;
    }
    if (!r->state || !r->estate || !r->history) rc = ELMO_ERR_NOMEM;
    return elmo_agree(rc);
}

/* Rank 0: the model line on stdout, then the output directory made.  Collective. */
static int announce(struct run *r) {
    const struct elmo_job *job = r->job;
    int rc = ELMO_OK;
    if (r->rank == 0) {
        size_t nm = elmo_options_param_count(&r->opt);
        printf("model: %s; %.2fM parameters + softmax %d x %d; batch %d rows x %d steps on %d "
               "rank%s; %s lr %g, clip %g, dropout %g; %s softmax%s\n",
               r->options_json, (double)nm / 1e6, r->vocab.V, r->opt.P, r->B, r->T, r->size,
               r->size > 1 ? "s" : "", job->optimizer, job->lr, job->clip, job->dropout, r->softmax,
               !strcmp(r->softmax, "sampled") ? " (log-uniform candidates)" : "");
        if (!strcmp(job->softmax, "auto"))
            printf("softmax auto: sampled only when vocab_size > 4 x n_negative_samples = %lld\n",
                   4LL * job->n_negative_samples);
        fflush(stdout);
        rc = elmo_make_dirs(job->out);
    }
    return elmo_agree(rc);
}

/* Rank 0 writes OUT/vocab.txt.  Collective. */
static int save_vocab(struct run *r) {
    int rc = ELMO_OK;
    if (r->rank == 0) {
        const char **words = elmo_xmalloc(sizeof(char *) * (size_t)r->vocab.V);
        for (int32_t k = 0; k < r->vocab.V; k++)
            words[k] = r->vocab.word_type[k] < 0 ? "<UNK>" : r->corpus.type[r->vocab.word_type[k]];
        rc = elmo_lm_vocab_save(r->vocab_path, words, r->vocab.V);
        free(words);
    }
    return elmo_agree(rc);
}

/* Trains, or (all epochs done already) writes the weights again.  Collective. */
static int train_or_finish(struct run *r, const struct elmo_lm_streams *es) {
    const struct elmo_job *job = r->job;
    if (r->epoch >= job->epochs) {
        int rc = ELMO_OK;
        if (r->rank == 0) {
            printf("pretrain: already trained for %d epochs (%lld steps); writing %s\n", r->epoch,
                   (long long)r->step, r->weights_path);
            rc = save_weights(r);
        }
        return elmo_agree(rc);
    }
    bool stopped = false;
    ELMO_TRY(train(r, es, &stopped));
    if (!stopped && r->rank == 0)
        printf("pretrain: done: %d epochs, %lld steps; model in %s (options.json, weights.hdf5), "
               "vocab.txt, train.json, checkpoint.h5\n",
               job->epochs, (long long)r->step, job->out);
    return ELMO_OK;
}

int elmo_pretrain_run(struct elmo_job *job) {
    struct run *r = elmo_xcalloc(1, sizeof *r);
    struct elmo_lm_streams es;
    memset(&es, 0, sizeof es);
    int rc = ELMO_OK;
    r->job = job;
    r->rank = elmo_rank();
    r->size = elmo_size();
    elmo_blas_set_threads(job->threads);

    ELMO_CALL(setup(r));
    ELMO_CALL(choose_softmax(r));
    plan_rows(r);
    ELMO_CALL(elmo_agree(describe(r)));
    ELMO_CALL(build_model(r));
    ELMO_CALL(elmo_agree(elmo_lm_streams_build(&r->corpus, &r->vocab, true, false, 0, r->Be, r->T,
                                               r->erow0, r->erows, &es)));
    ELMO_CALL(announce(r));
    ELMO_CALL(resume(r));
    ELMO_CALL(save_vocab(r));
    ELMO_CALL(train_or_finish(r, &es));
cleanup:
    elmo_lm_streams_free(&es);
    run_free(r);
    free(r);
    return rc;
}
