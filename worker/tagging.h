/*
 * tagging.h: a trained tagger opened with whatever its features need (the biLM it was trained
 * on, or its GloVe vectors), and one call that tags tokenized sentences on this rank.  Used by
 * eval-ner and annotate.  Not collective: opening is three per-rank steps, and the caller
 * agrees on each one's status across the ranks before the next (driver/ner_shared.h).
 */
#ifndef ELMO_WORKER_TAGGING_H
#define ELMO_WORKER_TAGGING_H

#include <stdbool.h>
#include <stdint.h>

#include "io/glove.h"
#include "io/job.h"
#include "io/tagger_file.h"
#include "model/bilm.h"
#include "model/tagger.h"
#include "worker/ner.h"

/* A trained tagger, ready to tag on this rank. */
struct elmo_tagging {
    struct elmo_tagger t;
    struct elmo_tagger_meta meta;
    struct elmo_model m;     /* the biLM (features elmo, elmo+glove) */
    struct elmo_glove glove; /* the vectors read from a file (version 1 glove taggers) */
    struct elmo_ner_feat feat;
    struct elmo_ner_extras extras;
    struct elmo_tagger_ws ws;
    float *fbuf, *xbuf; /* features and extra inputs of the sentences being tagged */
    size_t cap_tok;     /* tokens fbuf and xbuf hold */
    /* the biLM in use: the job's files, or those the tagger names relative to itself */
    char options[ELMO_PATH_MAX];
    char weights[ELMO_PATH_MAX];
};

/*
 * Step 1: loads job->tagger and settles which biLM it takes (job->options/weights, else the
 * files the tagger names relative to its own directory).  0 or a status.
 */
int elmo_tagging_load(struct elmo_tagging *r, const struct elmo_job *job);

/*
 * Step 2 (one rank is enough): the vectors' file (biLM weights, or GloVe: job->glove, else the
 * recorded path) must have the sha256 the tagger recorded, and the options file too when it
 * recorded one; prints the biLM in use on stderr.  0 or a status.
 */
int elmo_tagging_verify(const struct elmo_tagging *r, const struct elmo_job *job);

/* Whether the features run the biLM r->options + r->weights (after step 1). */
bool elmo_tagging_needs_bilm(const struct elmo_tagging *r);

/*
 * Step 3: loads the biLM (unless the caller already filled r->m from r->options and
 * r->weights, e.g. once per node) or the GloVe vectors, checks their shapes against the tagger
 * and sizes the work space; max_len bounds the sentences that will be tagged.  0 or a status.
 * Free with elmo_tagging_close (also after a failed step; it frees r->m, whoever loaded it).
 */
int elmo_tagging_prepare(struct elmo_tagging *r, const struct elmo_job *job, int max_len);
void elmo_tagging_close(struct elmo_tagging *r);

/*
 * Tags n tokenized sentences: len (n) tokens each, tok the sum(len) raw tokens one sentence
 * after another.  tags (sum len) gets the tag ids (the argmax, or the CRF's Viterbi sequence)
 * and score (may be NULL) each tag's probability (the softmax's, or the CRF's marginal), so an
 * entity's score is the mean over its tokens.  Returns 0 or a status (a sentence longer than
 * max_len: ELMO_ERR_ARG).
 */
int elmo_tagging_tag(struct elmo_tagging *r, int n, const int32_t *len, const char *const *tok,
                     int32_t *tags, float *score);

#endif /* ELMO_WORKER_TAGGING_H */
