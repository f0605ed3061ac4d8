/*
 * lm_step.h: the per-rank work of pretrain: the training step over this rank's rows of a
 * window (forward and backward, producing its part of the gradient and its losses), and the
 * held-out sums over its rows.  No MPI: the job (driver/cmd_pretrain.c) sums the ranks'
 * gradients and losses.
 *
 * Data parallelism: the batch's B rows are split into contiguous blocks, one per rank.  A rank's
 * gradient is scaled by 0.5 / (the window's targets on all B rows), and its dropout masks and
 * sampled candidates are seeded by (seed, step, global row), so the ranks' gradients sum to the
 * one-rank gradient of the window (up to float summation order).
 */
#ifndef ELMO_WORKER_LM_STEP_H
#define ELMO_WORKER_LM_STEP_H

#include <stdint.h>

#include "model/lm_data.h"
#include "model/train_bilm.h"

/* This rank's rows of a pass: where they start, their carried states, one window's buffers. */
struct elmo_lm_rows {
    int32_t row0, rows; /* [row0, row0 + rows) of the batch */
    float *state;       /* (rows, elmo_stream_state_floats) carried states, read and updated */
    int32_t *in[2];     /* (T rows) one window's inputs per direction */
    int32_t *tgt[2];    /* (T rows) its targets */
};

/*
 * Training step `step` (global, seeds the masks) on window k of this rank's streams s:
 * lm->grad gets the rank's part of the gradient scaled by 0.5 / *valid, where *valid is the
 * window's targets on all rows; loss[d] and count[d] the rank's summed CE and targets per
 * direction.  Returns 0 or a status of elmo_lm_step.
 */
int elmo_lm_train_window(struct elmo_lm *lm, const struct elmo_lm_streams *s, int64_t k,
                         const struct elmo_lm_vocab *v, struct elmo_lm_rows *rw, uint64_t seed,
                         int64_t step, double loss[2], int64_t count[2], int64_t *valid);

/*
 * The held-out pass es over this rank's rows from zero states, without dropout and with the
 * full softmax: sums = {CE forward, CE backward, targets forward, targets backward}.  Returns 0
 * or a status of elmo_lm_step.
 */
int elmo_lm_heldout_sums(struct elmo_lm *lm, const struct elmo_lm_streams *es,
                         const struct elmo_lm_vocab *v, struct elmo_lm_rows *rw, size_t S,
                         double sums[4]);

#endif /* ELMO_WORKER_LM_STEP_H */
