/*
 * lm_data.h: the data side of biLM pretraining: a corpus as sentences of word-type
 * ids, the softmax vocabulary, the unigram baseline, and the packing of sentences into
 * fixed windows of `unroll_steps` positions per batch row (bilm-tf's LMDataset, redone so that
 * a row's content depends on the seed and the row's global index only, never on the number of
 * MPI ranks).
 *
 * Word types: every distinct token string of the corpus (training and held-out), with its
 * character ids (elmo-spec 3.1).  Type 0 is <S> and type 1 is </S>.  The character CNN reads
 * the characters of the actual token, so a word outside the softmax vocabulary still gets its
 * own input vector; only its target becomes <UNK>.
 *
 * Softmax ids: 0 = <S>, 1 = </S>, 2 = <UNK>, then the training words by descending count
 * (ties by byte order), as bilm-tf's vocabulary files.  The order matters for the sampled
 * softmax, whose log-uniform sampler assumes ids sorted by frequency.
 *
 * Streams (bilm-tf, training.py / data.py): the forward LM of a sentence w1..wn reads
 * <S> w1 .. wn and predicts w1 .. wn </S>; the backward LM reads </S> wn .. w1 and predicts
 * wn .. w1 <S>.  Every batch row is a stream of whole sentences laid end to end, cut into
 * windows of T positions; the LSTM state of a row is carried from one window to the next
 * (truncated back-propagation through time).  Positions past the end of a row's stream have
 * no target (-1).
 *
 * Pure compute (libc only).  Nothing here is collective.
 */
#ifndef ELMO_LM_DATA_H
#define ELMO_LM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/bilm.h"

#define ELMO_LM_BOS 0 /* word type and softmax id of <S> */
#define ELMO_LM_EOS 1 /* word type and softmax id of </S> */
#define ELMO_LM_UNK 2 /* softmax id of <UNK> (no word type) */

/* Sentences of word-type ids, and the table of word types. */
struct elmo_lm_corpus {
    int32_t n_types, cap_types;
    char **type;      /* (n_types) NUL-terminated token strings, owned */
    uint32_t *slot;   /* open-addressing hash: type id + 1, 0 = empty */
    uint32_t n_slots; /* a power of two, > 2 * n_types */
    int64_t n_sent, cap_sent;
    int64_t *sent_off; /* (n_sent + 1) sentence i is tok[sent_off[i] .. sent_off[i + 1]) */
    uint8_t *heldout;  /* (n_sent) 1 = held-out sentence (perplexity only) */
    int64_t n_tok, cap_tok;
    int32_t *tok; /* (n_tok) word-type ids */
};

/* An empty corpus holding the types <S> and </S>.  Returns 0 or ELMO_ERR_NOMEM. */
int elmo_lm_corpus_init(struct elmo_lm_corpus *c);

/* Frees everything; accepts a zeroed corpus and may be called twice. */
void elmo_lm_corpus_free(struct elmo_lm_corpus *c);

/*
 * Appends one sentence of n tokens (NUL-terminated strings; "<S>" and "</S>" map to types 0
 * and 1).  heldout marks it as a held-out sentence.  Returns 0 or ELMO_ERR_NOMEM.
 */
int elmo_lm_corpus_add(struct elmo_lm_corpus *c, char *const *tok, int n, bool heldout);

/* Sentences and tokens (without <S>/</S>) of the training (heldout false) or held-out part. */
void elmo_lm_corpus_count(const struct elmo_lm_corpus *c, bool heldout, int64_t *sentences,
                          int64_t *tokens);

/* The softmax vocabulary and the per-type lookups. */
struct elmo_lm_vocab {
    int32_t V;             /* softmax rows: <S>, </S>, <UNK> and the V - 3 most frequent words */
    int32_t n_types;       /* word types of the corpus it was built from */
    int32_t *word_type;    /* (V) word type of each softmax id; -1 for <UNK> */
    int64_t *count;        /* (V) occurrences as a forward target in the training sentences
                               (</S> once per sentence, <S> 0, <UNK> every out-of-vocabulary
                               token) */
    int32_t *target;       /* (n_types) softmax id of each word type (<UNK> when outside) */
    int32_t *chars;        /* (n_types, ELMO_MAXC) character ids of each word type */
    int64_t n_train_words; /* training tokens (without <S>/</S>) */
    int64_t n_oov;         /* of which outside the vocabulary */
};

/*
 * Builds the vocabulary from the training sentences of c: the max_V - 3 most frequent words
 * (fewer when the corpus has fewer) after <S>, </S> and <UNK>.  max_V >= 4.
 * Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM.  Free with elmo_lm_vocab_free.
 */
int elmo_lm_vocab_build(const struct elmo_lm_corpus *c, int32_t max_V, struct elmo_lm_vocab *v);

void elmo_lm_vocab_free(struct elmo_lm_vocab *v);

/*
 * The held-out perplexity of a unigram model with add-one smoothing estimated on the training
 * targets (the baseline for the biLM): p(w) = (count(w) + 1) / (N + V), over the held-out
 * forward targets w1 .. wn </S> of every held-out sentence.  The backward targets (with <S>
 * in place of </S>, which has the same count) give the same value.  *n_targets receives the
 * number of held-out targets.  Returns NAN when there is no held-out sentence.
 */
double elmo_lm_unigram_ppl(const struct elmo_lm_corpus *c, const struct elmo_lm_vocab *v,
                           int64_t *n_targets);

/* The windows of one pass over a set of sentences, for the rows of one rank. */
struct elmo_lm_streams {
    int32_t B, T;       /* global rows and window length */
    int32_t row0, rows; /* this rank's rows: [row0, row0 + rows) */
    int64_t steps;      /* windows in the pass (the longest row, rounded up) */
    int64_t *len;       /* (B) positions in each global row's stream */
    int64_t total;      /* sum of len: targets per direction in the pass */
    int32_t *in[2];     /* (rows, steps * T) per direction: input word types */
    int32_t *tgt[2];    /* (rows, steps * T) per direction: target softmax ids, -1 = none */
};

/*
 * Packs the training (heldout false) or held-out sentences of c into B rows.  With shuffle,
 * the sentence order is a permutation seeded by `seed`; otherwise corpus order.  Sentences go
 * one by one to the row with the fewest positions so far (lowest row on ties), so rows end
 * within one sentence of each other.  Every rank computes the same assignment and keeps the
 * content of rows [row0, row0 + rows) only.  Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM.
 */
int elmo_lm_streams_build(const struct elmo_lm_corpus *c, const struct elmo_lm_vocab *v,
                          bool heldout, bool shuffle, uint64_t seed, int32_t B, int32_t T,
                          int32_t row0, int32_t rows, struct elmo_lm_streams *s);

void elmo_lm_streams_free(struct elmo_lm_streams *s);

/* Positions with a target in window `step` over all B rows (the same for both directions). */
int64_t elmo_lm_streams_valid(const struct elmo_lm_streams *s, int64_t step);

/*
 * Copies window `step` of this rank's rows, time-major: in[d][t * rows + b], tgt[d][...].
 */
void elmo_lm_streams_window(const struct elmo_lm_streams *s, int64_t step, int32_t *const in[2],
                            int32_t *const tgt[2]);

#endif /* ELMO_LM_DATA_H */
