/*
 * crf.h: a linear-chain conditional random field over per-token emission scores, the
 * tagger's optional output layer (model/tagger.h).  Pure compute: libc + libm.
 *
 * For a sentence of T tokens with emissions E (T, V) and a tag sequence y:
 *
 *   score(y) = start[y_0] + sum_t E[t][y_t] + sum_{t>0} trans[y_{t-1}][y_t] + end[y_{T-1}]
 *   log Z    = logsumexp over all V^T sequences of score(y)
 *   nll(y)   = log Z - score(y)
 *
 * log Z comes from the forward algorithm in log space (every step a max-shifted logsumexp in
 * double), so it is stable for any score range.  The forward-backward pass also gives the
 * marginals P(y_t = v) and, for the gradient, the pairwise marginals
 * P(y_{t-1} = i, y_t = j); Viterbi gives the best sequence.
 *
 * Work buffers are the caller's (elmo_crf_work_doubles); nothing here allocates, and the
 * functions are thread-safe on distinct work buffers.  V is at most ELMO_CRF_MAX_TAGS.
 */
#ifndef ELMO_CRF_H
#define ELMO_CRF_H

#include <stddef.h>
#include <stdint.h>

#define ELMO_CRF_MAX_TAGS 256

/* The CRF's parameters (views into the tagger's block). */
struct elmo_crf {
    int V;              /* tags */
    const float *trans; /* (V, V) trans[i * V + j]: score of tag j right after tag i */
    const float *start; /* (V) score of the first tag */
    const float *end;   /* (V) score of the last tag */
};

/* Gradient accumulators of the same shapes (each may be NULL: not wanted). */
struct elmo_crf_grad {
    float *dE;    /* (T, V) written (not added): scale * (marginal - onehot(gold)) */
    float *trans; /* (V, V) added */
    float *start; /* (V) added */
    float *end;   /* (V) added */
};

/* Doubles of work for a sentence of T tokens (forward-backward and Viterbi alike). */
size_t elmo_crf_work_doubles(int T, int V);

/* score(y) of one tag sequence y (T ids). */
double elmo_crf_score(const struct elmo_crf *c, int T, const float *E, const int32_t *y);

/*
 * The forward-backward pass: returns log Z; marg (T, V; may be NULL) gets P(y_t = v), each
 * row summing to 1.  work: elmo_crf_work_doubles(T, V).  T >= 1.
 */
double elmo_crf_marginals(const struct elmo_crf *c, int T, const float *E, float *marg,
                          double *work);

/*
 * nll(gold) = log Z - score(gold), and (g non-NULL) its gradient times scale: dE is written,
 * the transition, start and end gradients are added to.  marg as in elmo_crf_marginals.
 */
double elmo_crf_nll(const struct elmo_crf *c, int T, const float *E, const int32_t *gold,
                    float scale, const struct elmo_crf_grad *g, float *marg, double *work);

/* The highest-scoring sequence into path (T ids); returns its score.  Ties: the lower id. */
double elmo_crf_viterbi(const struct elmo_crf *c, int T, const float *E, int32_t *path,
                        double *work);

#endif /* ELMO_CRF_H */
