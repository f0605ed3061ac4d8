/*
 * lm_step.c: pretrain's per-rank training step and held-out pass (see lm_step.h).
 */
#include "worker/lm_step.h"

#include <string.h>

#include "model/rng.h"
#include "model/status.h"

int elmo_lm_train_window(struct elmo_lm *lm, const struct elmo_lm_streams *s, int64_t k,
                         const struct elmo_lm_vocab *v, struct elmo_lm_rows *rw, uint64_t seed,
                         int64_t step, double loss[2], int64_t count[2], int64_t *valid) {
    elmo_lm_streams_window(s, k, rw->in, rw->tgt);
    *valid = elmo_lm_streams_valid(s, k);
    struct elmo_lm_batch b = {.rows = rw->rows,
                              .in = {rw->in[0], rw->in[1]},
                              .tgt = {rw->tgt[0], rw->tgt[1]},
                              .chars = v->chars,
                              .n_types = v->n_types,
                              .state = rw->state,
                              .row0 = rw->row0,
                              .seed = elmo_rng_derive(seed, (uint64_t)step, 0x53544550u, 0),
                              .train = true,
                              .scale = 0.5f / (float)*valid};
    loss[0] = loss[1] = 0.0;
    count[0] = count[1] = 0;
    return elmo_lm_step(lm, &b, loss, count);
}

int elmo_lm_heldout_sums(struct elmo_lm *lm, const struct elmo_lm_streams *es,
                         const struct elmo_lm_vocab *v, struct elmo_lm_rows *rw, size_t S,
                         double sums[4]) {
    memset(rw->state, 0, sizeof(float) * (size_t)rw->rows * S);
    sums[0] = sums[1] = sums[2] = sums[3] = 0.0;
    for (int64_t k = 0; k < es->steps; k++) {
        elmo_lm_streams_window(es, k, rw->in, rw->tgt);
        struct elmo_lm_batch b = {.rows = rw->rows,
                                  .in = {rw->in[0], rw->in[1]},
                                  .tgt = {rw->tgt[0], rw->tgt[1]},
                                  .chars = v->chars,
                                  .n_types = v->n_types,
                                  .state = rw->state,
                                  .row0 = rw->row0,
                                  .train = false};
        double loss[2];
        int64_t count[2];
        ELMO_TRY(elmo_lm_step(lm, &b, loss, count));
        sums[0] += loss[0], sums[1] += loss[1];
        sums[2] += (double)count[0], sums[3] += (double)count[1];
    }
    return 0;
}
