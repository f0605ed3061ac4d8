/*
 * ner_shared.h: what the NER jobs (driver/cmd_train_ner.c: train-ner, eval-ner;
 * driver/cmd_annotate.c) share: a trained tagger opened on every rank (worker/tagging.h), and
 * a clock.  driver/ internal.
 */
#ifndef ELMO_DRIVER_NER_SHARED_H
#define ELMO_DRIVER_NER_SHARED_H

#include "io/job.h"
#include "worker/tagging.h"

/*
 * Opens job->tagger with its biLM or GloVe vectors on every rank (the three steps of
 * worker/tagging.h, each agreed on; rank 0 verifies the vectors' sha256); max_len bounds the
 * sentences that will be tagged.  Collective.  Free with elmo_tagging_close.
 */
int elmo__tagging_open(struct elmo_tagging *r, const struct elmo_job *job, int max_len);

#endif /* ELMO_DRIVER_NER_SHARED_H */
