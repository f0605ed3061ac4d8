/*
 * models.h: where the shipped models are, and the files of a model directory.
 *
 * The project ships models/elmo-tweets (a biLM: options.json + weights.hdf5) and
 * models/ner-tweets (tagger.h5, which names its biLM).  A job without model flags uses them,
 * found in this order: $ELMO_MODEL_DIR, the installed share directory (PREFIX/share/elmo/models,
 * filled by `make install`), the source tree's models/ (found next to the binary's build
 * directory).  Not collective; no MPI.
 */
#ifndef ELMO_MODELS_H
#define ELMO_MODELS_H

#include <stddef.h>

/* Default model names: the biLM and the tagger. */
#define ELMO_DEFAULT_BILM "elmo-tweets"
#define ELMO_DEFAULT_TAGGER "ner-tweets"

/*
 * The first models directory, in lookup order, that holds subdirectory `name`: writes
 * DIR/name to out and a short description of where it was found ("$ELMO_MODEL_DIR",
 * "installed", "source tree") to where.  Returns 0, or ELMO_ERR_IO listing the places tried.
 */
int elmo_models_find(const char *name, char *out, size_t n, char *where, size_t wn);

/*
 * The options and weight files of model directory dir: DIR/options.json + DIR/weights.hdf5,
 * or the official names DIR/NAME_options.json + DIR/NAME_weights.hdf5 (exactly one of each).
 * Returns 0, or ELMO_ERR_IO naming the directory and what is missing or ambiguous.
 */
int elmo_model_dir_files(const char *dir, char *options, size_t on, char *weights, size_t wn);

/*
 * The path of existing file `to` relative to existing directory `from_dir` (both resolved
 * through realpath first), e.g. "../elmo-tweets/weights.hdf5".  Returns 0, or ELMO_ERR_IO
 * naming the path that cannot be resolved.
 */
int elmo_path_relative(const char *from_dir, const char *to, char *out, size_t n);

#endif /* ELMO_MODELS_H */
