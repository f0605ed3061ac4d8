/*
 * ner_shared.h: what the NER jobs (driver/cmd_train_ner.c, cmd_eval_ner.c, cmd_annotate.c)
 * share: a trained tagger opened on every rank (worker/tagging.h), a split's tags gathered and
 * scored, their outputs checked and written.  driver/ internal.
 */
#ifndef ELMO_DRIVER_NER_SHARED_H
#define ELMO_DRIVER_NER_SHARED_H

#include <stdint.h>
#include <stdio.h>

#include "io/conlleval.h"
#include "io/job.h"
#include "io/ner_data.h"
#include "worker/tagging.h"

/*
 * Opens job->tagger with its biLM or GloVe vectors on every rank (the three steps of
 * worker/tagging.h, each agreed on; rank 0 verifies the vectors' sha256); max_len bounds the
 * sentences that will be tagged.  Collective.  Free with elmo_tagging_close.
 */
int elmo__tagging_open(struct elmo_tagging *r, const struct elmo_job *job, int max_len);

/* Sentence lengths of d as int32 (owned). */
int32_t *elmo__ner_lengths(const struct elmo_ner_data *d);

/*
 * Gathers the per-token tag ids of every rank's sentence block (worker/ner_step.h's
 * elmo_ner_block) to rank 0: all gets the d->n_tok ids in order (rank 0 only).  Collective.
 */
int elmo__ner_gather_tags(const struct elmo_ner_data *d, const int32_t *mine, int32_t *all);

/* Scores predicted tag ids against d's gold tags into ev; writes `token gold guess` lines to f
 * when not NULL. */
int elmo__ner_score_tags(const struct elmo_ner_data *d, const struct elmo_tagset *ts,
                         const int32_t *tags, struct elmo_conll_eval *ev, FILE *f);

/* Writes text to path aside (PATH.partial) and renames it into place when complete. */
int elmo__ner_write_text(const char *path, const char *text);

/*
 * Rank 0, before any work: every file the job writes (each prefix + suffix: OUT + ".conll", or
 * DIR/ + "tagger.h5") must be none of its inputs (by device and inode) and a regular file or
 * absent.
 */
int elmo__ner_check_outputs(const struct elmo_job *job, const char *prefix,
                            const char *const *suffixes, int n_suf);

#endif /* ELMO_DRIVER_NER_SHARED_H */
