/*
 * train_bilm.h: training the ELMo biLM: the forward pass with caches and the
 * backward pass of every layer (char CNN, highway, projection, LSTM cell with projection and
 * both clips, skip connections, softmax + cross-entropy, full or sampled) and dropout.  The
 * optimizers (Adagrad as bilm-tf, or Adam) and the global gradient norm are model/optim.h's.
 *
 * The model is the inference model of bilm.h (elmo-spec sections 4-6) plus a softmax over the
 * vocabulary that both directions share (bilm-tf: one softmax_W (V, P) and softmax_b (V)).
 * The loss of a step is 0.5 * (mean forward CE + mean backward CE) over the step's targets.
 *
 * Layout: the parameters are one 64-byte aligned block [model | softmax W | softmax b]; the
 * model part has exactly the layout of struct elmo_model's block (elmo_model_params order),
 * so `lm->m` is an ordinary struct elmo_model whose tensors are views into lm->param (save it
 * with elmo_weights_save; never elmo_model_free it; an inference forward over it caches packed
 * copies of the weights, so call elmo_model_unpack(&lm->m) after an update before another
 * inference forward).  The gradient block lm->grad has the same
 * layout, so data-parallel training reduces it with one MPI_Allreduce, and an optimizer walks
 * both blocks as flat arrays.
 *
 * Dropout (bilm-tf's DropoutWrapper around every LSTM layer, plus the LSTM output before the
 * softmax): each layer's input is multiplied by a mask of 0 and 1 / (1 - dropout); with skip
 * connections the masked input is what is added to the layer's output.  Masks come from one
 * RNG per batch row seeded with (step seed, global row), so they do not depend on how rows are
 * spread over ranks.
 *
 * Truncated BPTT: the LSTM state of every row enters a window from the previous window
 * (batch->state) and no gradient flows back across windows.
 *
 * Clips: cell_clip and proj_clip as in the forward pass; their gradient is 1 inside
 * [-clip, clip] (boundary included, as TF's clip_by_value) and 0 outside.
 *
 * Pure compute (libc + BLAS through elmo_gemm).  Nothing here is collective.
 */
#ifndef ELMO_TRAIN_BILM_H
#define ELMO_TRAIN_BILM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/bilm.h"
#include "model/rng.h"

struct elmo_lm_config {
    int32_t V;         /* softmax rows: the vocabulary with <S>, </S>, <UNK> */
    int32_t max_rows;  /* B: most batch rows of one call on this rank */
    int32_t T;         /* positions per window (unroll steps) */
    float dropout;     /* probability of dropping a unit, 0 <= dropout < 1 */
    int32_t n_sampled; /* 0: full softmax; S > 0: sampled softmax with S candidates */
};

struct elmo_lm {
    struct elmo_options opt;
    struct elmo_lm_config cfg;
    size_t n_model;           /* floats of the model part (struct elmo_model's block) */
    size_t n_total;           /* floats of the whole block: model, softmax W, softmax b (padded) */
    float *param;             /* (n_total) the parameters; owner */
    float *grad;              /* (n_total) the gradient of the last training step; owner */
    struct elmo_model m;      /* views into param (file layout) */
    struct elmo_model gm;     /* the same views into grad */
    float *soft_w, *soft_b;   /* (V, P), (V) in param */
    float *gsoft_w, *gsoft_b; /* (V, P), (V) in grad */
    void *ws;                 /* private caches and scratch */
};

/*
 * Sizes everything for cfg (the caches of a window of max_rows x T positions per direction).
 * Parameters start at zero; see elmo_lm_init_weights.  Returns 0, ELMO_ERR_ARG or
 * ELMO_ERR_NOMEM.  Free with elmo_lm_free.  Not collective.
 */
int elmo_lm_init(struct elmo_lm *lm, const struct elmo_options *opt,
                 const struct elmo_lm_config *cfg);
void elmo_lm_free(struct elmo_lm *lm);

/*
 * bilm-tf's initialisation, drawn from a generator seeded with seed: char embeddings
 * U(-1, 1); CNN kernels N(0, 1 / (width E)) (tanh: U(-0.05, 0.05)), biases 0; highway and
 * projection N(0, 1 / F) with carry bias -2; LSTM kernels Glorot-uniform, biases 0; softmax
 * N(0, 1 / P), bias 0.  Row 0 of the char table (id 0 = no char) stays 0.
 */
void elmo_lm_init_weights(struct elmo_lm *lm, uint64_t seed);

/* One call: a window of `rows` batch rows, both directions. */
struct elmo_lm_batch {
    int32_t rows;          /* B of this call, 1..cfg.max_rows */
    const int32_t *in[2];  /* (T * B) input word types per direction, [t * B + b] */
    const int32_t *tgt[2]; /* (T * B) target softmax ids, -1 = no target */
    const int32_t *chars;  /* (n_types, ELMO_MAXC) char ids of every word type */
    int32_t n_types;
    float *state;  /* (B, elmo_stream_state_floats) carried state, read and updated */
    int64_t row0;  /* global index of row 0 (selects the dropout streams) */
    uint64_t seed; /* this step's seed (dropout masks, sampled candidates) */
    bool train;    /* dropout, sampled softmax when configured, gradient */
    float scale;   /* d loss / d CE of one target, e.g. 0.5 / (targets of the step) */
    float *out[2]; /* optional (T * B, P): the top layer's output (before dropout) */
};

/*
 * Runs the window: forward (and, when b->train, backward into lm->grad, which is zeroed first
 * and receives b->scale times the gradient of the summed CE).  loss[d] receives the summed CE
 * of direction d (sampled-softmax CE when training with it), count[d] its targets.
 * Returns 0 or ELMO_ERR_NOMEM (a larger word-type table).  Not collective.
 */
int elmo_lm_step(struct elmo_lm *lm, const struct elmo_lm_batch *b, double loss[2],
                 int64_t count[2]);

/* ---- the layers, exposed for the finite-difference checks (tests/model/test_train_bilm.c) ---- */

/*
 * Context-free token vectors of U word types with their caches: char CNN (only the windows
 * that touch a real char are convolved; the all-PAD window is computed once per call),
 * max-pool with argmax, activation, highway layers, projection.
 */
struct elmo_lm_embed;
int elmo_lm_embed_new(struct elmo_lm_embed **e, const struct elmo_options *opt, int max_U);
void elmo_lm_embed_delete(struct elmo_lm_embed *e);
/* ids (U, C) -> tok (U, P) (F when the model has no CNN projection); keeps the caches. */
int elmo_lm_embed_forward(const struct elmo_model *m, struct elmo_lm_embed *e, int U,
                          const int32_t *ids, float *tok);
/* dtok (U, P) -> adds the gradients of every embedding weight into gm. */
void elmo_lm_embed_backward(const struct elmo_model *m, struct elmo_model *gm,
                            struct elmo_lm_embed *e, const float *dtok);

/* The caches of one LSTM (direction, layer) over a window, time-major [t * B + b]. */
struct elmo_lm_lstm_cache {
    float *x;     /* (T B, P) the layer's input after dropout */
    float *gates; /* (T B, 4D) sigmoid(i), tanh(j), sigmoid(f + 1), sigmoid(o) */
    float *c;     /* ((T + 1) B, D) cell after the clip; block 0 = initial cell state */
    float *craw;  /* (T B, D) cell before the clip */
    float *m;     /* (T B, D) sigmoid(o) * tanh(c) */
    float *h;     /* ((T + 1) B, P) output after the projection clip (no skip); block 0 =
                     initial h */
    float *hraw;  /* (T B, P) projection before the clip */
};
size_t elmo_lm_lstm_cache_floats(const struct elmo_options *opt, int T, int B);
void elmo_lm_lstm_cache_views(const struct elmo_options *opt, int T, int B, float *block,
                              struct elmo_lm_lstm_cache *c);
size_t elmo_lm_lstm_scratch_floats(const struct elmo_options *opt, int T, int B);

/*
 * Forward over T steps of B rows: reads c->x and blocks 0 of c->c and c->h, fills the rest;
 * y (T B, P) = h, plus c->x when skip.
 */
void elmo_lm_lstm_forward(const struct elmo_options *opt, const struct elmo_lstm_weights *w, int T,
                          int B, bool skip, struct elmo_lm_lstm_cache *c, float *y);

/*
 * Backward: dy (T B, P) -> dx (T B, P) (gradient w.r.t. c->x, overwritten) and adds the
 * weight gradients into gw.  No gradient reaches the initial state (truncated BPTT).
 */
void elmo_lm_lstm_backward(const struct elmo_options *opt, const struct elmo_lstm_weights *w,
                           struct elmo_lstm_weights *gw, int T, int B, bool skip,
                           const struct elmo_lm_lstm_cache *c, const float *dy, float *dx,
                           float *scratch);

/* Highway layer k (elmo-spec 4.4): gate (U, F) = sigmoid(carry), tr (U, F) = pre-relu. */
void elmo_lm_highway_forward(const struct elmo_model *m, int k, int U, const float *x, float *gate,
                             float *tr, float *y);
/* dy -> dx (U, F), gradients into gm; scratch (2 U F). */
void elmo_lm_highway_backward(const struct elmo_model *m, struct elmo_model *gm, int k, int U,
                              const float *x, const float *gate, const float *tr, const float *dy,
                              float *dx, float *scratch);

/* Scratch floats of the softmax functions for N rows. */
size_t elmo_lm_softmax_scratch_floats(int V, int P, int S);

/*
 * Full softmax + CE over rows of Y (N, P) with targets tgt (N; -1 = none), weights W (V, P),
 * b (V).  Returns the summed CE and the target count in *count.  With dY non-NULL: dY (N, P)
 * = scale * dCE/dY (overwritten), and scale * dCE/dW, /db are added into dW, db.
 */
double elmo_lm_softmax_full(int N, int P, int V, const float *Y, const int32_t *tgt, const float *W,
                            const float *b, float scale, float *dY, float *dW, float *db,
                            float *scratch, int64_t *count);

/*
 * Sampled softmax (TF's sampled_softmax_loss with the log-uniform sampler): the true class and
 * the S candidates cand (distinct ids drawn by elmo_lm_sample in `tries` draws), every logit
 * minus the log of its expected count, candidates equal to a row's target removed.
 * Arguments otherwise as elmo_lm_softmax_full.
 */
double elmo_lm_softmax_sampled(int N, int P, int V, const float *Y, const int32_t *tgt,
                               const float *W, const float *b, int S, const int32_t *cand,
                               int64_t tries, float scale, float *dY, float *dW, float *db,
                               float *scratch, int64_t *count);

/*
 * Draws S distinct ids of 0..V-1 from the log-uniform (Zipf) distribution
 * P(k) = log((k + 2) / (k + 1)) / log(V + 1); returns the number of draws it took.
 * seen: (V) bytes of scratch, all 0 on entry and on return.  Requires S < V.
 */
int64_t elmo_lm_sample(struct elmo_rng *r, int V, int S, int32_t *cand, uint8_t *seen);

/* log of the expected count of id k in `tries` log-uniform draws: log(1 - (1 - P(k))^tries). */
double elmo_lm_log_expected(int V, int64_t tries, int k);

#endif /* ELMO_TRAIN_BILM_H */
