/*
 * forward.h: the per-rank forward path, the one that embed, the NER features, wsd and bench
 * all run: tokens -> char ids -> token vectors (through the word-type cache) -> the biLM's
 * layers -> the outputs of one sentence (model/outputs.h: word_emb, the LSTM layers, the `elmo`
 * mix, `default`, the AllenNLP views).
 *
 * Use: fill a batch's tokens (f->words, or an array of your own), elmo_forward_run, then for
 * each sentence of the batch elmo_forward_select and elmo_forward_output / elmo_forward_layers.
 * Everything is sized at init; a batch never allocates.  The cache never changes a value (a
 * token vector depends on its own bytes alone), nor does the batching (in the stateless regime
 * a sentence's layers do not depend on the other rows), so every caller gets the same numbers
 * for the same sentence.  Not collective: one struct per worker.
 */
#ifndef ELMO_FORWARD_H
#define ELMO_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/bilm.h"
#include "model/outputs.h"
#include "worker/cache.h"

/* One token: its bytes (not necessarily NUL-terminated). */
struct elmo_word {
    const char *s;
    size_t len;
};

struct elmo_forward_opts {
    int max_rows;          /* sentences per batch */
    int batch_tokens;      /* positions per batch (tokens + 2 per sentence), at least max_len + 2 */
    int max_len;           /* tokens of the longest sentence */
    bool cache;            /* keep the vectors of word types (worker/cache.h), 256 MiB */
    unsigned outputs;      /* the outputs elmo_forward_output will be asked for */
    int n_mix_weights;     /* the mix's pre-softmax weights: L + 1 values, else all equal */
    const float *mix_weights;
    float gamma;           /* the mix's scale */
    bool layer_norm;       /* the mix normalises each layer first */
};

struct elmo_forward {
    const struct elmo_model *m;
    int max_rows, budget, max_len, max_words;
    unsigned outputs;
    float mix_w[ELMO_MAX_LAYERS + 1], gamma;
    bool layer_norm;
    struct elmo_bilm_ws ws;       /* ws.times: where the forward time went */
    struct elmo_cache cache;      /* cache.hits, cache.lookups (counted with the cache off too) */
    struct elmo_word *words;      /* (budget) a batch's tokens, for the caller to fill */
    float *tok;                   /* (budget, P) token vectors of the last batch */
    float *lay[ELMO_MAX_LAYERS];  /* (budget, 2P) its biLM layers */
    /* the selected sentence: rows [r0, r0 + n) of the last batch */
    int r0, n;
    bool have_layer0, have_mix;
    /* scratch */
    int32_t *ids;                 /* (max_words, ELMO_MAXC) char ids of cache misses */
    float *missvec;               /* (max_words, P) their vectors */
    int64_t *src, *miss_dst;      /* (budget) cache index per row; (max_words) miss targets */
    float *layer0, *mix, *rowbuf; /* (max_len, 2P), (max_len, 2P), (max_len, (L + 1) 2P) */
};

/*
 * Sizes everything for m and o.  Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM (f is then freed).
 * Free with elmo_forward_free (also safe on a zeroed struct).
 */
int elmo_forward_init(struct elmo_forward *f, const struct elmo_model *m,
                      const struct elmo_forward_opts *o);
void elmo_forward_free(struct elmo_forward *f);

/*
 * Runs a batch of B <= max_rows sentences of ntok[b] tokens (sum(ntok + 2) <= budget);
 * words: the sum(ntok) tokens, sentences one after another (f->words may be passed).  state:
 * NULL (stateless) or B stream states, as for elmo_bilm_forward.  Fills f->tok and f->lay.
 */
void elmo_forward_run(struct elmo_forward *f, int B, const int32_t *ntok,
                      const struct elmo_word *words, float *const *state);

/* Selects the sentence of the last batch at token rows [r0, r0 + n) for the calls below. */
void elmo_forward_select(struct elmo_forward *f, int r0, int n);

/*
 * The rows of output k (0..7; in opts.outputs for the derived ones) of the selected sentence:
 * *nrows rows (n, or 1 for `default`) of elmo_output_width(k, P) floats, valid until the next
 * select or run (default, all and average: until the next call).  all and average need a
 * 2-layer model.
 */
const float *elmo_forward_output(struct elmo_forward *f, unsigned k, int64_t *nrows);

/*
 * The L + 1 layers of each token of the selected sentence into dst (n, L + 1, 2P):
 * [word_emb; word_emb], lstm_outputs1, ..., the top layer (for L = 2, the `all` view).
 */
void elmo_forward_layers(struct elmo_forward *f, float *dst);

/*
 * In-order batching: sentences [s0, end) of len[0..n) form the next batch (at most max_rows
 * sentences and budget positions; one sentence at least, which the caller keeps within
 * max_len).  Returns end.
 */
int elmo_forward_next_batch(const struct elmo_forward *f, int n, const int32_t *len, int s0);

#endif /* ELMO_FORWARD_H */
