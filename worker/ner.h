/*
 * ner.h: the per-rank NER work: the tagger's input features of tokenized sentences (the three
 * ELMo layers, computed here with the biLM, or GloVe vectors), its extra inputs after the mix
 * (GloVe and orthographic flags), and tagging with a trained tagger.  Not collective: ranks
 * call these on the sentences they own.
 *
 * ELMo features of a token are K = L + 1 layers of D = 2P floats: [word_emb; word_emb],
 * lstm_outputs1, lstm_outputs2 (the layers an embed store holds, in the stateless regime), so
 * features computed here equal those read from a store bit for bit.  GloVe features are one
 * layer of the vector's width, zeros for unknown words.
 */
#ifndef ELMO_WORKER_NER_H
#define ELMO_WORKER_NER_H

#include <stdbool.h>
#include <stdint.h>

#include "io/glove.h"
#include "model/bilm.h"
#include "model/tagger.h"
#include "worker/forward.h"

struct elmo_ner_feat {
    const struct elmo_model *m;     /* ELMo, or NULL */
    const struct elmo_glove *glove; /* GloVe, or NULL */
    bool mask_urls_users;           /* <URL>/<USR> replacement (elmo_ner_feature_token) */
    int K, D;                       /* feature shape per token */
    struct elmo_forward fwd;        /* ELMo: the forward path (no cache, no derived outputs) */
};

/*
 * Prepares feature computation with ELMo m (glove NULL) or GloVe (m NULL).  batch_tokens is
 * the biLM token budget; sentences longer than it get a batch of their own (max_len bounds
 * them).  Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM.  Free with elmo_ner_feat_free.
 */
int elmo_ner_feat_init(struct elmo_ner_feat *f, const struct elmo_model *m,
                       const struct elmo_glove *glove, bool mask_urls_users, int batch_tokens,
                       int max_len);
void elmo_ner_feat_free(struct elmo_ner_feat *f);

/*
 * Features of n sentences: len (n) tokens each (>= 1), tok the sum(len) tokens one sentence
 * after another (the form the data has; the URL/user replacement is applied here).
 * feat: (sum len, K, D) out.  Returns 0 or ELMO_ERR_ARG (a sentence longer than max_len).
 */
int elmo_ner_feat_compute(struct elmo_ner_feat *f, int n, const int32_t *len,
                          const char *const *tok, float *feat);

/* Orthographic inputs per token (ortho): binary flags of the raw token. */
#define ELMO_NER_ORTHO 9

/*
 * The tagger's extra inputs after the mix, per token: the GloVe vector of the token (zeros
 * when the table has none; a #hashtag or @mention without a vector of its own takes the
 * word's), then the ELMO_NER_ORTHO flags: initial capital, all capitals, an inner capital,
 * all lowercase, #hashtag, @mention, URL, a digit, neither letters nor digits.
 */
struct elmo_ner_extras {
    const struct elmo_glove *glove; /* or NULL: no GloVe part */
    bool ortho;                     /* the flags are on */
    bool mask_urls_users;           /* GloVe looks up the <URL>/<USR>-masked token */
    int E;                          /* inputs per token */
};

/* Sets x up; E = (glove ? glove->dim : 0) + (ortho ? ELMO_NER_ORTHO : 0). */
void elmo_ner_extras_init(struct elmo_ner_extras *x, const struct elmo_glove *glove, bool ortho,
                          bool mask_urls_users);

/* The extra inputs of n tokens: out (n, x->E). */
void elmo_ner_extras_compute(const struct elmo_ner_extras *x, int64_t n, const char *const *tok,
                             float *out);

/*
 * Tags n sentences with features feat (sum len, K, D) and extra inputs extra (sum len, E; NULL
 * when the tagger has none): tags (sum len) gets the tagger's decoded tag id (argmax, or the
 * CRF's Viterbi sequence) and score its probability (softmax, or the CRF's marginal); prob
 * (sum len, V) the whole distribution when not NULL.
 * Sentences go through the tagger in groups of at most 32 sentences and 2048 tokens (the
 * result does not depend on the grouping; ws grows to the largest group).
 * Returns 0 or a status of elmo_tagger_forward.
 */
int elmo_ner_tag(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, int n, const int32_t *len,
                 const float *feat, const float *extra, int32_t *tags, float *score, float *prob);

#endif /* ELMO_WORKER_NER_H */
