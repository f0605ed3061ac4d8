/*
 * lm_files.h: the files of biLM pretraining besides the model itself:
 *
 *   OUT/checkpoint.h5   everything a rerun needs to continue exactly where a run stopped:
 *                       the parameter block (model in elmo_model_params layout, then the
 *                       softmax), the optimizer state, the carried LSTM state of every batch
 *                       row, the step counters, the epoch history, and the options and
 *                       settings that a resumed run must share.  Serial HDF5, written by one
 *                       rank to CHECKPOINT.tmp and renamed, so a crash never leaves half a file.
 *   OUT/vocab.txt       the softmax vocabulary, one word per line in id order (bilm-tf's
 *                       vocabulary file format: <S>, </S>, <UNK>, then by frequency).
 *   OUT/train.json      every setting, the data counts, the unigram baseline and one record
 *                       per epoch (loss, held-out perplexities, tokens/s).
 *
 * Randomness in pretraining is counter-based: every draw (initialisation, epoch shuffle,
 * dropout masks, sampled candidates) comes from a generator seeded with a mix of the seed and
 * (epoch, step, row), so the RNG state is (seed, step), which the checkpoint stores.
 *
 * None of these functions is collective.
 */
#ifndef ELMO_LM_FILES_H
#define ELMO_LM_FILES_H

#include <stddef.h>
#include <stdint.h>

/* One epoch's results. */
struct elmo_lm_epoch {
    int32_t epoch;                    /* 1-based */
    int64_t steps;                    /* optimizer steps done at its end, in all */
    double train_loss;                /* mean CE per target, both directions, over the epoch */
    double ppl_fwd, ppl_bwd, ppl_avg; /* held-out (NAN without a held-out set) */
    double tokens_per_s;              /* training positions per second (one direction counted) */
    double seconds;                   /* wall time of the epoch's training steps */
};

/* The checkpoint's contents.  Arrays are the caller's (save: read; load: filled). */
struct elmo_lm_ckpt {
    char *options_json;    /* the model's options (owned when loaded) */
    char *config_json;     /* the settings a resume must match (owned when loaded) */
    int64_t step;          /* optimizer steps done */
    int32_t epoch;         /* epochs completed */
    int64_t step_in_epoch; /* steps done in the current epoch */
    uint64_t seed;
    double partial[4]; /* the current epoch's sums so far: CE fwd, CE bwd, targets fwd, bwd */
    int32_t n_epochs;  /* entries of history */
    struct elmo_lm_epoch *history; /* (n_epochs) the epochs so far (owned when loaded) */
    size_t n_model;                /* floats of the model part of param */
    int32_t V, P;                  /* softmax rows and width */
    size_t n_total;                /* floats of param (model, softmax W, softmax b, padded) */
    float *param;                  /* (n_total) */
    int32_t n_state;               /* optimizer state arrays (1 Adagrad, 2 Adam) */
    int64_t optim_t;               /* optimizer updates done */
    float *optim;                  /* (n_state, n_total) */
    int32_t rows;                  /* batch rows (global) */
    size_t row_floats;             /* carried state floats per row */
    float *state;                  /* (rows, row_floats) */
};

/* Writes c to path (via path.tmp, then rename).  Returns 0, ELMO_ERR_HDF5 or ELMO_ERR_IO. */
int elmo_lm_ckpt_save(const char *path, const struct elmo_lm_ckpt *c);

/*
 * Reads everything but the arrays: the strings (owned by c; free with elmo_lm_ckpt_free), the
 * counters, the history and the sizes.  Returns 0, ELMO_ERR_IO (no such file), ELMO_ERR_HDF5
 * or ELMO_ERR_FORMAT.
 */
int elmo_lm_ckpt_read_meta(const char *path, struct elmo_lm_ckpt *c);

/*
 * Reads the arrays into c->param, c->optim and c->state, which must be sized by the values
 * that elmo_lm_ckpt_read_meta returned.  Returns 0, ELMO_ERR_HDF5 or ELMO_ERR_SHAPE.
 */
int elmo_lm_ckpt_read_data(const char *path, struct elmo_lm_ckpt *c);

void elmo_lm_ckpt_free(struct elmo_lm_ckpt *c);

/* Writes the n words, one per line.  Returns 0 or ELMO_ERR_IO. */
int elmo_lm_vocab_save(const char *path, const char *const *words, int32_t n);

/* The report: settings and data counts as a JSON object text, plus the epochs. */
struct elmo_lm_report {
    const char *settings_json; /* object: every setting as run */
    const char *data_json;     /* object: counts of the corpus and vocabulary */
    const char *options_json;  /* the model's options.json */
    double unigram_ppl;        /* held-out perplexity of the add-one unigram model */
    int32_t n_epochs;
    const struct elmo_lm_epoch *epochs;
};

/* Writes train.json (via path.tmp, then rename).  Returns 0, ELMO_ERR_FORMAT or ELMO_ERR_IO. */
int elmo_lm_report_save(const char *path, const struct elmo_lm_report *r);

#endif /* ELMO_LM_FILES_H */
