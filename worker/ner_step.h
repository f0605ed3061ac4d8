/*
 * ner_step.h: the per-rank work of train-ner: an epoch's order of the training sentences, the
 * training step over this rank's slice of a batch (forward and backward, producing its part of
 * the gradient and the loss), and tagging this rank's block of a split.  No MPI: the job
 * (driver/cmd_train_ner.c) sums the ranks' gradients and gathers their tags.
 *
 * Data parallelism: a batch is batch_size sentences of the epoch's order; rank r of size takes
 * its contiguous slice [B r / size, B (r + 1) / size).  The gradient of a slice is scaled by
 * 1 / (tokens of the whole batch), and the dropout masks of a sentence are seeded by (seed,
 * epoch, sentence), so the ranks' gradients sum to the one-rank gradient of the whole batch (up
 * to float summation order).
 */
#ifndef ELMO_WORKER_NER_STEP_H
#define ELMO_WORKER_NER_STEP_H

#include <stdint.h>

#include "model/tagger.h"

/* A split as the trainer holds it, every rank the whole of it. */
struct elmo_ner_set {
    int n_sent;
    const int64_t *offset; /* (n_sent + 1) first token of each sentence */
    const int32_t *len;    /* (n_sent) tokens of each sentence */
    const int32_t *gold;   /* (n_tok) gold tag ids */
    const float *feat;     /* (n_tok, K, D) features */
    const float *extra;    /* (n_tok, E) extra inputs, or NULL when E = 0 */
};

/* The contiguous block of n items that rank r of size owns: [*a, *b). */
void elmo_ner_block(int64_t n, int r, int size, int64_t *a, int64_t *b);

/* Epoch ep's order of n training sentences into perm (n): one shuffle seeded by (seed, ep). */
void elmo_ner_epoch_order(int32_t *perm, int n, uint64_t seed, int ep);

/* The pointers of one rank's slice of a batch (sized for batch_size sentences). */
struct elmo_ner_slice {
    const float **feat, **extra;
    const int32_t **gold;
    int32_t *len;
    uint64_t *seed;
};
void elmo_ner_slice_init(struct elmo_ner_slice *s, int batch_size);
void elmo_ner_slice_free(struct elmo_ner_slice *s);

/*
 * The training step of sentences perm[b0, b1) (one batch) on rank `rank` of `size`: grad (the
 * tagger's layout, zeroed here) gets the gradient of this rank's slice, scaled by 1 / (tokens of
 * the whole batch), and *loss the slice's summed loss (0 for an empty slice).  ep: the epoch
 * (0-based), which with seed and the sentence seeds the dropout masks.  Returns 0 or a status
 * of elmo_tagger_forward.
 */
int elmo_ner_step(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, struct elmo_ner_slice *sl,
                  const struct elmo_ner_set *set, const int32_t *perm, int b0, int b1, int rank,
                  int size, uint64_t seed, int ep, float *grad, double *loss);

/*
 * Tags rank `rank`'s block (elmo_ner_block over the sentences) of set: mine gets the block's
 * tag ids, from its first token on.  Returns 0 or a status of elmo_ner_tag.
 */
int elmo_ner_tag_block(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                       const struct elmo_ner_set *set, int rank, int size, int32_t *mine);

#endif /* ELMO_WORKER_NER_STEP_H */
