/*
 * store.h: the embedding store, one HDF5 file per job, written collectively by all ranks
 * with parallel HDF5 (MPI-IO), readable with h5py and h5dump.  Layout (README "The store"):
 *
 *   /sentences/offset      (N+1)    int64   token range of sentence i: [offset[i], offset[i+1])
 *   /sentences/line        (N)      int64   1-based input line of the sentence's record
 *   /sentences/id_offset   (N+1)    int64   byte range of sentence i's id in id_blob
 *   /sentences/id_blob     (Bi)     uint8   UTF-8 ids, concatenated (no separators)
 *   /sentences/text_offset (N+1)    int64   byte range of sentence i's text in text_blob
 *   /sentences/text_blob   (Bs)     uint8   the stripped input text of each sentence
 *   /tokens/text_offset    (T+1)    int64   byte range of token t in text_blob
 *   /tokens/text_blob      (Bt)     uint8   UTF-8 tokens, concatenated
 *   /embeddings/word_emb      (T, P)     float32 or float16
 *   /embeddings/lstm_outputs1 (T, 2P)
 *   /embeddings/lstm_outputs2 (T, 2P)
 *   /embeddings/elmo          (T, 2P)
 *   /embeddings/default       (N, 2P)
 *   /embeddings/all           (T, 3, 2P)  AllenNLP view [[x;x], lstm1, lstm2]
 *   /embeddings/top           (T, 2P)     AllenNLP top (= lstm_outputs2)
 *   /embeddings/average       (T, 2P)     AllenNLP average of the 3 layers
 *   root attributes: complete (int, 1 only when every row is in), format_version, version,
 *     options_json, weights_sha256, regime ("stateless" | "streams=S"), precision ("f32"|"f16"),
 *     job_yaml, n_sentences, n_tokens, outputs, elmo_weights, elmo_gamma, elmo_layer_norm.
 *
 * float16 is a 2-byte IEEE little-endian type (h5py reads it as <f2), converted in the program
 * before writing.  Embedding datasets are chunked (rows x full width) and, with compress > 0,
 * shuffle + deflate; filtered datasets need collective writes, so every write call below is
 * collective over the store's communicator: every rank calls it the same number of times in the
 * same order, a rank with nothing to write passes n = 0.
 */
#ifndef ELMO_STORE_H
#define ELMO_STORE_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/job.h"

struct elmo_store_layout {
    int64_t n_sent;          /* N */
    int64_t n_tok;           /* T */
    int64_t id_bytes;        /* Bi */
    int64_t sent_text_bytes; /* Bs */
    int64_t tok_text_bytes;  /* Bt */
    unsigned outputs;        /* enum elmo_output_bits */
    int P;                   /* projection dim; embeddings are P (word_emb) or 2P wide */
    enum elmo_precision precision;
    int compress;            /* deflate level 0..9 */
    bool contiguous;         /* direct writes: see elmo_store_map (compress must be 0) */
};

struct elmo_store_attrs {
    const char *options_json;
    const char *weights_sha256;
    const char *regime;      /* "stateless" or "streams=S" */
    const char *job_yaml;
    const float *elmo_weights; int n_elmo_weights;
    float elmo_gamma;
    bool elmo_layer_norm;
};

struct elmo_store;

/* Creates (truncates) path with every dataset of the layout, complete = 0.  Collective. */
int elmo_store_create(struct elmo_store **out, const char *path, MPI_Comm comm,
                      const struct elmo_store_layout *lay, const struct elmo_store_attrs *attrs);

/*
 * Writes rows [row0, row0 + n) of a dataset ("sentences/offset", "tokens/text_blob",
 * "embeddings/elmo", ...).  The row width is the dataset's (1 for 1-D, 2P for embeddings,
 * 3*2P for all).  Typed by the dataset: int64 for offsets/line, uint8 for blobs, float for
 * embeddings (converted to float16 when the store is f16).  Collective.
 */
int elmo_store_write_i64(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                         const int64_t *data);
int elmo_store_write_u8(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        const uint8_t *data);
int elmo_store_write_f32(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                         const float *data);

/*
 * Marks the store complete (attribute complete = 1, after flushing every row to disk) and
 * closes it.  The store is closed and freed whatever the result.  Collective.
 */
int elmo_store_finish(struct elmo_store *st);

/*
 * Adds a root attribute to a store from elmo_store_create (before elmo_store_finish): a scalar
 * UTF-8 string, or a scalar int64.  Rank 0's value is written.  Collective.
 */
int elmo_store_put_attr_string(struct elmo_store *st, const char *name, const char *value);
int elmo_store_put_attr_i64(struct elmo_store *st, const char *name, int64_t value);

/*
 * Closes without marking complete (after a failure).  Collective for a store from
 * elmo_store_create; also closes a store from elmo_store_open (not collective).  Accepts NULL.
 */
void elmo_store_close(struct elmo_store *st);

/* ---- direct writes: rows written with plain POSIX I/O at known file offsets ---- */

/*
 * A store created with lay->contiguous (on one process: comm = MPI_COMM_SELF) has every dataset
 * contiguous, its storage allocated at creation and never filled (a sparse file of its final
 * size), so that other processes can pwrite rows at fixed byte offsets without HDF5.  The
 * datasets in this fixed order; embedding output bit k is ELMO_DS_EMB0 + k.
 */
enum elmo_store_ds {
    ELMO_DS_SENT_OFFSET, ELMO_DS_SENT_LINE, ELMO_DS_ID_OFFSET, ELMO_DS_ID_BLOB,
    ELMO_DS_TEXT_OFFSET, ELMO_DS_TEXT_BLOB, ELMO_DS_TOK_OFFSET, ELMO_DS_TOK_BLOB,
    ELMO_DS_EMB0, ELMO_DS_COUNT = ELMO_DS_EMB0 + 8
};

/* Where each dataset's rows are: file offset (-1 when absent or 0 rows), rows, bytes a row. */
struct elmo_store_map {
    int64_t off[ELMO_DS_COUNT];
    int64_t rows[ELMO_DS_COUNT];
    int64_t row_bytes[ELMO_DS_COUNT];
};

/*
 * Fills *map from a store (created or opened).  Every dataset of the store must be contiguous
 * and little-endian with its storage allocated; otherwise ELMO_ERR_FORMAT (such a store cannot
 * take direct writes).  Not collective.
 */
int elmo_store_map(struct elmo_store *st, struct elmo_store_map *map);

/*
 * Marks a closed store at path complete (attribute complete = 1, written after a flush) on the
 * calling process alone, for a store whose rows were written directly.  Not collective.
 */
int elmo_store_mark_complete(const char *path);

/* ---- reading (serial, any process) ---- */

/* Counts beyond this are refused as damage (no real corpus comes near it). */
#define ELMO_STORE_MAX_ROWS ((int64_t)1 << 40)

struct elmo_store_info {
    int complete;
    int64_t n_sent, n_tok;
    int64_t id_bytes, sent_text_bytes, tok_text_bytes; /* lengths of the three blobs */
    unsigned outputs;
    int P;
    enum elmo_precision precision;
    char regime[64];
    char weights_sha256[80];
    char version[32];
};

/*
 * Opens a store read-only, validates it and fills *info.  Not collective.
 *
 * Nothing the file says is trusted.  For every store: n_sentences and n_tokens are present,
 * neither negative nor beyond ELMO_STORE_MAX_ROWS, and equal to the lengths of the index
 * datasets (N + 1 offsets, N lines, T + 1 token offsets); each embedding dataset is a float
 * array of the recorded precision with N or T rows and a width of one projection dim P.  For
 * a complete store also: every offset array starts at 0, never decreases and ends at what it
 * indexes (n_tokens or its blob's length), and no unfiltered dataset has less storage than its
 * shape.  A failure is ELMO_ERR_FORMAT (or ELMO_ERR_HDF5 for an unreadable file) with a message
 * naming the file, the item and the cause; *out is then NULL.
 */
int elmo_store_open(struct elmo_store **out, const char *path, struct elmo_store_info *info);

/*
 * Reads a scalar integer attribute of the root of a store opened for reading: 1 and *v when
 * present, 0 when absent, ELMO_ERR_FORMAT when it is not one integer.  Not collective.
 */
int elmo_store_attr_int64(struct elmo_store *st, const char *name, int64_t *v);

/* Reads rows [row0, row0 + n) of a dataset (float16 converted to float).  Not collective. */
int elmo_store_read_i64(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        int64_t *data);
int elmo_store_read_u8(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                       uint8_t *data);
int elmo_store_read_f32(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        float *data);

/*
 * The shape of a dataset of a store opened for reading: *ndim = 1..3, dims[0..ndim) (the rest
 * set to 1).  ELMO_ERR_ARG if the store has no such dataset.  Not collective.
 */
int elmo_store_dims(struct elmo_store *st, const char *name, int *ndim, int64_t dims[3]);

/* Reads a string attribute of the root into an owned string (NULL if absent). */
char *elmo_store_attr_string(struct elmo_store *st, const char *name);

/* float <-> IEEE half (round to nearest even; inf/nan kept). */
uint16_t elmo_f32_to_f16(float x);
float elmo_f16_to_f32(uint16_t h);

/* For tests: how many writes HDF5 did not do collectively (0 expected). */
int elmo__store_independent_writes(const struct elmo_store *st);

#endif /* ELMO_STORE_H */
