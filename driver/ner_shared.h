/*
 * ner_shared.h: what the NER jobs (driver/ner.c: train-ner, eval-ner; driver/annotate.c)
 * share: the collective error verdict, and a trained tagger opened with whatever its features
 * need (the biLM it was trained on, or its GloVe vectors).  driver/ internal.
 */
#ifndef ELMO_DRIVER_NER_SHARED_H
#define ELMO_DRIVER_NER_SHARED_H

#include <stdbool.h>

#include "io/glove.h"
#include "io/job.h"
#include "io/tagger_file.h"
#include "model/bilm.h"
#include "model/tagger.h"
#include "worker/ner.h"

/* A trained tagger, ready to tag on this rank. */
struct elmo_ner_runtime {
    struct elmo_tagger t;
    struct elmo_tagger_meta meta;
    struct elmo_model m;     /* the biLM (features elmo) */
    struct elmo_glove glove; /* the vectors (features glove) */
    struct elmo_ner_feat feat;
    struct elmo_tagger_ws ws;
};

/*
 * Loads job->tagger, and the biLM of job->options/weights (whose sha256 must be the one the
 * tagger recorded) or the GloVe vectors (job->glove, else the recorded path), on every rank;
 * max_len bounds the sentences that will be tagged.  Collective.  Free with
 * elmo__ner_runtime_close.
 */
int elmo__ner_runtime_open(struct elmo_ner_runtime *r, const struct elmo_job *job, int max_len);
void elmo__ner_runtime_close(struct elmo_ner_runtime *r);

/* Seconds of a monotonic clock. */
double elmo__ner_now(void);

#endif /* ELMO_DRIVER_NER_SHARED_H */
