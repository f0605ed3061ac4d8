/*
 * tagger_file.h: the trained tagger as one HDF5 file (serial HDF5; train-ner writes it from
 * rank 0, every rank may read it).  Layout:
 *
 *   /params/mix/weights (K)  /params/mix/gamma (1)
 *   /params/lstm_fw/kernel (D + H, 4H)  /params/lstm_fw/bias (4H)   (and lstm_bw)
 *   /params/dense/kernel (2H, V)  /params/dense/bias (V)             float32
 *   /params/crf/transitions (V, V)  /params/crf/start (V)  /params/crf/end (V)   output crf only
 *   /glove/vectors (n, dim) float32, /glove/words (bytes: the n words, each NUL-terminated)
 *     the GloVe rows the tagger looks up (features glove or elmo+glove), so that tagging
 *     needs no GloVe file
 *   root attributes: format "elmo-tagger", format_version 2, version, tags (the tag set,
 *     one name per line, id order), features ("elmo" | "glove" | "elmo+glove"), ortho (the
 *     orthographic inputs are on), output ("softmax" | "crf"), mask_urls_users, K, D, E, H,
 *     n_tags, keep, forget_bias, the training settings (lr, lr_decay, clip, batch_size,
 *     epochs, seed, ranks), best_epoch, dev_f1, weights_sha256 and options_json of the ELMo
 *     model (features elmo), glove_path and glove_sha256 (where the GloVe rows came from),
 *     job_yaml.
 *
 * Version 1 files (softmax output, no extra inputs, GloVe read from glove_path) still load.
 *
 * Not collective.
 */
#ifndef ELMO_TAGGER_FILE_H
#define ELMO_TAGGER_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/glove.h"
#include "io/job.h"
#include "io/ner_data.h"
#include "model/tagger.h"

struct elmo_tagger_meta {
    struct elmo_tagset tags;
    char features[16];       /* "elmo", "glove" or "elmo+glove" */
    bool ortho;              /* orthographic inputs after the mix */
    bool mask_urls_users;    /* <URL>/<USR> replacement before the features */
    char weights_sha256[80]; /* ELMo weight file the tagger was trained on ("" for glove) */
    char *options_json;      /* its options.json text (owned; NULL for glove) */
    char options_sha256[80]; /* the sha256 of that options file ("" in older files) */
    /* the biLM's files relative to the tagger file's directory ("" in older files), so that
     * a tagger shipped beside its biLM needs no model flag */
    char bilm_options[ELMO_PATH_MAX];
    char bilm_weights[ELMO_PATH_MAX];
    char glove_path[ELMO_PATH_MAX];
    char glove_sha256[80];
    double lr, lr_decay, clip;
    int batch_size, epochs, best_epoch, ranks;
    uint64_t seed;
    double dev_f1;  /* validation F1 of the kept epoch (-1: no dev set) */
    char *job_yaml; /* the training job (owned; may be NULL) */
    struct elmo_glove glove; /* the stored GloVe rows (owned; n = 0: none stored) */
};

/* Frees the owned strings and rows; accepts a zeroed struct. */
void elmo_tagger_meta_free(struct elmo_tagger_meta *m);

/*
 * Writes path: into PATH.partial, renamed over path when complete (an earlier file survives a
 * failure).  Returns 0, or ELMO_ERR_HDF5/ELMO_ERR_IO naming the file and item.
 */
int elmo_tagger_save(const char *path, const struct elmo_tagger *t,
                     const struct elmo_tagger_meta *meta);

/*
 * Reads path into t (initialised here; free with elmo_tagger_free) and meta (free with
 * elmo_tagger_meta_free).  Returns 0, ELMO_ERR_IO, ELMO_ERR_HDF5, or ELMO_ERR_FORMAT (not a
 * tagger file, a missing item, a shape that does not match the config).
 */
int elmo_tagger_load(const char *path, struct elmo_tagger *t, struct elmo_tagger_meta *meta);

#endif /* ELMO_TAGGER_FILE_H */
