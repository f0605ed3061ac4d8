/*
 * ner_checkpoint.h: train-ner's checkpoint file, DIR/checkpoint.
 *
 * Written by rank 0 after every epoch (aside, then renamed) and removed once the tagger is
 * written.  A rerun of the same job (same settings, data and vectors: the fingerprint)
 * continues after the last finished epoch and ends with the tagger an uninterrupted run writes
 * (the shuffle and dropout masks depend on the epoch alone).  Layout: a header, the epoch
 * records, then the weights, the kept epoch's weights and Adam's two moments, and the sha256 of
 * everything before it.  Numbers are as in memory on the machine that wrote it.
 */
#ifndef ELMO_IO_NER_CHECKPOINT_H
#define ELMO_IO_NER_CHECKPOINT_H

#include <stdint.h>

#include "io/conlleval.h"
#include "model/optim.h"
#include "model/tagger.h"

/* One epoch of the run, for the report (eval.json) and the checkpoint. */
struct elmo_ner_epoch {
    double lr, loss, seconds;
    struct elmo_conll_score dev;
};

#define ELMO_NER_CKPT_MAGIC "elmo-ner-checkpoint 1\n"

struct elmo_ner_ckpt_head {
    char magic[24];
    char fingerprint[65]; /* sha256 (hex) of what must not change between a run and its resume */
    int32_t epochs_done, best_epoch;
    double best_f1, lr;
    int64_t adam_step;
    uint64_t n_floats; /* of the tagger's block */
};

/* Writes h, its h->epochs_done epoch records elog and the blocks to path (aside, then
 * renamed).  0 or ELMO_ERR_IO. */
int elmo_ner_ckpt_write(const char *path, const struct elmo_ner_ckpt_head *h,
                        const struct elmo_ner_epoch *elog, const struct elmo_tagger *t,
                        const struct elmo_tagger *best, const struct elmo_optim *adam);

/*
 * Reads a checkpoint into h, elog (room for max_epochs) and the blocks; 1 when read and
 * whole, 0 when there is none, or a negative status naming what is wrong.
 */
int elmo_ner_ckpt_read(const char *path, int max_epochs, struct elmo_ner_ckpt_head *h,
                       struct elmo_ner_epoch *elog, struct elmo_tagger *t,
                       struct elmo_tagger *best, struct elmo_optim *adam);

#endif /* ELMO_IO_NER_CHECKPOINT_H */
