/*
 * weights.h: the official model files: options.json (jansson) and the weight HDF5 file
 * (elmo-spec sections 1 and 2), read and written with the serial HDF5 API.
 *
 * Every error names the file and the key or dataset at fault, e.g.
 * "m/options.json: key lstm.dim: missing" or
 * "m/weights.hdf5: dataset CNN_high_0/W_carry: shape (124, 100), the options give (124, 124)".
 * None of these functions is collective: call them on any rank, or on one and broadcast.
 */
#ifndef ELMO_WEIGHTS_H
#define ELMO_WEIGHTS_H

#include "io/sha256.h"
#include "model/bilm.h"

/*
 * Reads options.json into opt (training-only keys are ignored).  has_cnn_proj / has_lstm_proj
 * are set from the shapes alone (F != P, P < D); elmo_weights_load settles the equal cases.
 * Returns 0, ELMO_ERR_IO (cannot read), ELMO_ERR_FORMAT (bad JSON, a missing or mistyped key)
 * or ELMO_ERR_RANGE (an unsupported value).
 */
int elmo_options_load(const char *path, struct elmo_options *opt);

/* The same from JSON text; origin names the text in messages (a path or "store attribute"). */
int elmo_options_parse(const char *json, const char *origin, struct elmo_options *opt);

/*
 * The options as one line of JSON in the official key order.  *out is malloc'd; the caller
 * frees it.  Returns 0 or ELMO_ERR_NOMEM.
 */
int elmo_options_to_json(const struct elmo_options *opt, char **out);

/* Writes options.json.  Returns 0 or ELMO_ERR_IO. */
int elmo_options_save(const char *path, const struct elmo_options *opt);

/*
 * Reads a weight file into m.  On entry m->opt holds the options (m zeroed otherwise, or an
 * initialised model, whose block is replaced).  Before any data is read, every dataset is
 * checked for presence, float type and the shape the options give; CNN_proj and W_P_0 may be
 * absent where bilm-tf allows it (F == P, P == D), and m->opt.has_cnn_proj / has_lstm_proj
 * then follow the file.  NaN or Inf values are rejected.  On failure m holds no block.
 * Returns 0, ELMO_ERR_IO, ELMO_ERR_HDF5 (not HDF5, truncated, unreadable), ELMO_ERR_FORMAT
 * (missing dataset, wrong type), ELMO_ERR_SHAPE, ELMO_ERR_NAN or ELMO_ERR_NOMEM.
 */
int elmo_weights_load(const char *path, struct elmo_model *m);

/*
 * The first half of elmo_weights_load, for loaders that place the block themselves: settles
 * opt->has_cnn_proj / has_lstm_proj from the file where the options leave them open and checks
 * every dataset (presence, float type, shape); reads no data.  Returns 0 or the error
 * elmo_weights_load would give.
 */
int elmo_weights_check(const char *path, struct elmo_options *opt);

/*
 * The second half: reads into m (initialised from checked options, e.g. elmo_model_init_at on
 * shared memory) the datasets of this part: the tensors are split over nparts parts by size
 * (elmo_split_work), so nparts callers together read each dataset once.  NaN or Inf values are
 * rejected.  Returns 0, ELMO_ERR_IO, ELMO_ERR_HDF5 or ELMO_ERR_NAN.
 */
int elmo_weights_read_part(const char *path, const struct elmo_model *m, int part, int nparts);

/* A read-only mapping of a weight file (elmo_weights_map_part). */
struct elmo_weights_map {
    void *base;
    size_t size;
};

/*
 * For loaders that keep no copy of the raw weights: maps path read-only and points tensors[i]
 * (room for every tensor of elmo_model_params) at dataset i of a model of opt (checked by
 * elmo_weights_check) in the mapping, then checks this part's share of the datasets (split as
 * in elmo_weights_read_part) for NaN or Inf (none with part < 0: the caller vouches for the
 * values, as a packed image made from this same file does, io/pack_cache.h).  Where some dataset does not lie in the file as
 * native floats (chunked, compressed, another type), returns 0 with map->base NULL: read the
 * datasets instead.  Returns 0, ELMO_ERR_IO, ELMO_ERR_HDF5 or ELMO_ERR_NAN (map empty then).
 * The mapping ends with elmo_weights_unmap; a file truncated in place meanwhile would make
 * reading the views fail (SIGBUS), a file replaced by rename would not.
 */
int elmo_weights_map_part(const char *path, const struct elmo_options *opt, int part,
                          int nparts, struct elmo_weights_map *map, float **tensors);

/* Ends the mapping (accepts an empty one). */
void elmo_weights_unmap(struct elmo_weights_map *map);

/*
 * Writes m in the official layout (same dataset names and shapes, float32, contiguous).
 * An existing file is replaced.  Returns 0 or ELMO_ERR_HDF5 naming the dataset.
 */
int elmo_weights_save(const char *path, const struct elmo_model *m);

/*
 * elmo_options_load + elmo_weights_load.  m is overwritten (treated as uninitialised); free it
 * with elmo_model_free().  Returns 0 or the first error.
 */
int elmo_model_load(const char *options_path, const char *weights_path, struct elmo_model *m);

#endif /* ELMO_WEIGHTS_H */
