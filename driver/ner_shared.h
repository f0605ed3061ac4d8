/*
 * ner_shared.h: what the NER jobs (driver/ner.c: train-ner, eval-ner; driver/annotate.c)
 * share: the collective error verdict, the tagger's extra inputs, and a trained tagger opened
 * with whatever its features need (the biLM it was trained on, or its GloVe vectors), with
 * one call that tags tokenized sentences.  driver/ internal.
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
void elmo__ner_extras_init(struct elmo_ner_extras *x, const struct elmo_glove *glove, bool ortho,
                           bool mask_urls_users);

/* The extra inputs of n tokens: out (n, x->E). */
void elmo__ner_extras_compute(const struct elmo_ner_extras *x, int64_t n, const char *const *tok,
                              float *out);

/* A trained tagger, ready to tag on this rank. */
struct elmo_ner_runtime {
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
 * Loads job->tagger, and the biLM of job->options/weights (whose sha256 must be the one the
 * tagger recorded) or the GloVe vectors (job->glove, else the recorded path), on every rank;
 * max_len bounds the sentences that will be tagged.  Collective.  Free with
 * elmo__ner_runtime_close.
 */
int elmo__ner_runtime_open(struct elmo_ner_runtime *r, const struct elmo_job *job, int max_len);
void elmo__ner_runtime_close(struct elmo_ner_runtime *r);

/*
 * Tags n tokenized sentences on this rank (not collective): len (n) tokens each, tok the
 * sum(len) raw tokens one sentence after another.  tags (sum len) gets the tag ids (the
 * argmax, or the CRF's Viterbi sequence) and score (may be NULL) each tag's probability (the
 * softmax's, or the CRF's marginal), so an entity's score is the mean over its tokens.
 * Returns 0 or a status (a sentence longer than the runtime's max_len: ELMO_ERR_ARG).
 */
int elmo__ner_runtime_tag(struct elmo_ner_runtime *r, int n, const int32_t *len,
                          const char *const *tok, int32_t *tags, float *score);

#endif /* ELMO_DRIVER_NER_SHARED_H */
