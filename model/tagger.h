/*
 * tagger.h: the BiLSTM NER tagger of the tutorial (ner.md 1.1, design 6 and 8), forward and
 * backward.  Its optimizer is Adam of model/optim.h over the parameter block.  Pure compute:
 * libc + BLAS.
 *
 *   x_t    = [gamma * sum_k softmax(s)_k * h_k,t; e_t]  the `elmo` mix of K frozen layers (D wide),
 *                                                       then E extra inputs taken as they are
 *                                                       (GloVe vectors, orthographic flags)
 *   fw, bw = LSTM(dropout(x)) per direction             BasicLSTMCell(H): gates i, j, f, o of
 *                                                       [x; h] W + b, c = c sigm(f + 1) +
 *                                                       sigm(i) tanh(j), h = sigm(o) tanh(c)
 *   y_t    = dropout([fw_t; bw_t])                      (2H)
 *   z_t    = y_t W_out + b_out                          emission scores over n_tags
 *
 * Output softmax: p_t = softmax(z_t), loss = sum over real tokens of -log p_t[gold_t], and a
 * token's tag is its argmax.  Output crf: a linear-chain CRF over the z_t of each sentence
 * (model/crf.h: transition matrix, start and end scores), loss = sum over sentences of
 * -log P(gold sequence), the tags are the Viterbi sequence and p_t the CRF's marginals.
 * Either way the caller scales the loss (1 / tokens).
 *
 * Dropout (keep probability cfg.keep, scaled by 1 / keep, a new mask per token as TF's
 * DropoutWrapper) acts on each direction's input (two independent masks, one per cell, as
 * the tutorial's two wrappers) and on the outputs; the masks of a sentence come from its own
 * seed, so they do not depend on which batch or rank the sentence lands in.
 *
 * The backward direction runs each sentence over its own length (bidirectional_dynamic_rnn
 * with sequence lengths).  Products whose rows are tokens go through elmo_gemm_rows, so a
 * sentence's predictions do not depend on the other sentences of its batch (the annotate job
 * promises identical output for any rank count); gradient products use elmo_gemm.
 *
 * Parameters live in one 64-byte aligned block; the gradient and the Adam moments are blocks
 * of the same layout, so data-parallel training reduces gradients with one MPI_Allreduce.
 * Dimension letters: K layers, D layer width, H hidden units per direction, V = n_tags,
 * N tokens of a batch.  Nothing here is collective or thread-safe per workspace.
 */
#ifndef ELMO_TAGGER_H
#define ELMO_TAGGER_H

#include <stddef.h>
#include <stdint.h>

#define ELMO_TAGGER_TENSORS  11
#define ELMO_TAGGER_MAX_TAGS 256

/* The output layer. */
enum elmo_tagger_output {
    ELMO_TAGGER_SOFTMAX = 0, /* per-token softmax, cross-entropy */
    ELMO_TAGGER_CRF = 1,     /* linear-chain CRF */
};

struct elmo_tagger_config {
    int K;             /* layers mixed: 3 for ELMo ([word_emb; word_emb], lstm1, lstm2), 1 GloVe */
    int D;             /* width of each layer (2P for ELMo, 25 for GloVe-Twitter 25d) */
    int H;             /* hidden units per direction (256) */
    int n_tags;        /* V: softmax classes (21 for the Twitter NER data) */
    float keep;        /* dropout keep probability on the BiLSTM input and output (0.7) */
    float forget_bias; /* added to the forget gate (BasicLSTMCell: 1.0) */
    int E;             /* extra inputs per token after the mix (0: none) */
    int output;        /* enum elmo_tagger_output */
};

/* Views of one block (parameters, gradients or optimizer moments), all of the same layout. */
struct elmo_tagger_views {
    float *mix_s; /* (K) pre-softmax layer weights */
    float *gamma; /* (1) scale of the mix */
    float *fw_w;  /* (D + E + H, 4H) forward kernel: rows 0..D+E-1 act on x, the rest on h */
    float *fw_b;  /* (4H) forward bias; gates i, j, f, o */
    float *bw_w;  /* (D + E + H, 4H) backward kernel */
    float *bw_b;  /* (4H) */
    float *out_w; /* (2H, V) dense kernel; rows 0..H-1 act on the forward output */
    float *out_b; /* (V) */
    float *crf_trans; /* (V, V) CRF transition scores, row = previous tag (crf only, else empty) */
    float *crf_start; /* (V) CRF first-tag scores (crf only) */
    float *crf_end;   /* (V) CRF last-tag scores (crf only) */
};

/* One tensor of the block: its HDF5 name, place and shape (numel 0: not used by cfg). */
struct elmo_tagger_tensor {
    const char *name; /* e.g. "lstm_fw/kernel" */
    size_t offset;    /* in floats from the block start (a multiple of 16) */
    size_t numel;
    int ndim;
    int64_t dims[2];
};

struct elmo_tagger {
    struct elmo_tagger_config cfg;
    float *block;    /* owner of every parameter */
    size_t n_floats; /* floats in block (with alignment padding, which stays zero) */
    struct elmo_tagger_views p;
};

/*
 * Checks a configuration (positive sizes, E >= 0, 0 < keep <= 1, n_tags <= 256, a known
 * output); names the field.
 */
int elmo_tagger_config_check(const struct elmo_tagger_config *cfg);

/*
 * The tensor table of cfg in block order (out: ELMO_TAGGER_TENSORS entries, may be NULL).
 * Returns the floats of a block.
 */
size_t elmo_tagger_layout(const struct elmo_tagger_config *cfg, struct elmo_tagger_tensor *out);

/* Points v into block (of elmo_tagger_layout(cfg) floats). */
void elmo_tagger_views(const struct elmo_tagger_config *cfg, float *block,
                       struct elmo_tagger_views *v);

/* Parameters that are trained (the sum of numel; padding excluded). */
size_t elmo_tagger_param_count(const struct elmo_tagger_config *cfg);

/*
 * Allocates a zeroed parameter block for cfg.  Returns 0, ELMO_ERR_ARG (bad cfg) or
 * ELMO_ERR_NOMEM.  Free with elmo_tagger_free (accepts a zeroed struct, may be called twice).
 */
int elmo_tagger_init(struct elmo_tagger *t, const struct elmo_tagger_config *cfg);
void elmo_tagger_free(struct elmo_tagger *t);

/*
 * The initial values of TF1: glorot-uniform kernels, zero biases, mix weights 0, gamma 1
 * (so the mix starts as the plain average of the layers), from the seeded RNG.
 */
void elmo_tagger_randomize(struct elmo_tagger *t, uint64_t seed);

/* A batch of B sentences, each with its own feature rows. */
struct elmo_tagger_batch {
    int B;
    const int32_t *len;         /* (B) tokens of each sentence, >= 1 */
    const float *const *feat;   /* (B) sentence b's layers: (len_b, K, D), row-major */
    const int32_t *const *gold; /* (B) gold tag ids (len_b), or NULL (no loss) */
    const uint64_t *drop_seed;  /* (B) seed of sentence b's dropout masks, or NULL: none */
    const float *const *extra;  /* (B) sentence b's extra inputs (len_b, E), or NULL when E = 0 */
};

/*
 * Scratch of a forward/backward pass; grows on demand (elmo_tagger_ws_reserve before the
 * batch loop avoids allocation inside it).  The fields below the line are readable after a
 * forward call: rows in token order (sentence b's token i is row sum_{c<b} len_c + i).
 */
struct elmo_tagger_ws {
    size_t cap_tok, cap_sent, cap_time; /* sizes reserved */
    void *priv;                         /* implementation-private arrays */
    /* ---- */
    int n_tok;         /* N of the last forward */
    float *prob;       /* (N, V) softmax probabilities, or the CRF's marginals */
    int32_t *path;     /* (N) the decoded tags: argmax of prob, or the CRF's Viterbi sequence */
    float *mask_in[2]; /* (N, D + E) input dropout mask of the forward / backward cell (1 = none) */
    float *mask_out;   /* (N, 2H) output dropout mask */
};

/* Reserves room for n_tok tokens in n_sent sentences of at most max_len tokens.  0 or NOMEM. */
int elmo_tagger_ws_reserve(struct elmo_tagger_ws *ws, const struct elmo_tagger_config *cfg,
                           size_t n_tok, size_t n_sent, size_t max_len);
void elmo_tagger_ws_free(struct elmo_tagger_ws *ws);

/*
 * The forward pass over a batch: fills ws->prob, ws->path (and the masks).  *loss (may be
 * NULL) gets the summed loss (cross-entropy over the tokens, or the CRF's negative
 * log-likelihood over the sentences) when b->gold is given, else 0.
 * Returns 0, ELMO_ERR_ARG (a length < 1, a gold id out of range) or ELMO_ERR_NOMEM (growing ws).
 */
int elmo_tagger_forward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                        const struct elmo_tagger_batch *b, double *loss);

/*
 * The backward pass of the last elmo_tagger_forward (same t, ws and b, with gold): adds the
 * gradient of scale * (summed loss) to grad, a block of t's layout.
 */
void elmo_tagger_backward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                          const struct elmo_tagger_batch *b, float scale, float *grad);

/*
 * The loss layer alone: prob = softmax(logits) per row; returns sum_n -log prob[n][gold[n]];
 * dlogits (may be NULL) = scale * (prob - onehot(gold)).  logits: (n, V).
 */
double elmo_tagger_xent(int n, int V, const float *logits, const int32_t *gold, float scale,
                        float *prob, float *dlogits);

/*
 * Clips every tensor of grad separately to L2 norm at most max_norm (tf.clip_by_norm per
 * gradient tensor); max_norm <= 0 leaves grad as it is.  Returns the largest norm before
 * clipping.
 */
double elmo_tagger_clip(const struct elmo_tagger_config *cfg, float *grad, float max_norm);

#endif /* ELMO_TAGGER_H */
