/*
 * store_merge.h: the store work of `elmo merge` (driver/cmd_merge.c has the command): reading
 * and validating the stores of the slices of one input, creating the merged store and copying
 * every dataset into it.
 *
 * The inputs must be the slices 0..N-1 of one input, each exactly once and in that order, as
 * their attributes slice_k, slice_n and input_fingerprint record; each must be complete and
 * valid (elmo_store_open checks its counts and offsets), and they must agree on everything that
 * makes their rows comparable: outputs, P, precision, the stateless regime, the weights'
 * sha256, the options.json text and the elmo mix settings.
 *
 * Every dataset of the output is the concatenation of the inputs' datasets; the offset arrays
 * (sentences/offset, sentences/id_offset, sentences/text_offset, tokens/text_offset) are
 * rebased by what the earlier inputs hold, and sentences/line is kept as it is (slices carry
 * global line numbers).  Root attributes are the first input's (input_fingerprint included,
 * slice_k and slice_n left out); the deflate level is the first non-empty input's.  float16
 * rows are read as float and written back, which is an exact round trip.
 */
#ifndef ELMO_STORE_MERGE_H
#define ELMO_STORE_MERGE_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/store.h"

#define ELMO_MERGE_MAX_MIX_WEIGHTS 1024

/* The row counts of an input, indexed by enum elmo_merge_count. */
enum elmo_merge_count {
    ELMO_CNT_SENT,    /* sentences */
    ELMO_CNT_TOK,     /* tokens */
    ELMO_CNT_ID,      /* id bytes */
    ELMO_CNT_TEXT,    /* sentence text bytes */
    ELMO_CNT_TOKTEXT, /* token text bytes */
    ELMO_CNT_N
};

/* One input store, open for reading, and what the merge needs of it. */
struct elmo_merge_in {
    const char *path;
    struct elmo_store *st;
    struct elmo_store_info info;
    int64_t cnt[ELMO_CNT_N];
    int64_t first_line, last_line; /* of its first and last sentence (when it has any) */
    int64_t slice_k, slice_n;      /* which slice of the run it is: slice_k of 0..slice_n-1 */
    char *fingerprint;             /* owned: input_fingerprint, the corpus the slices split */
    char *options_json;            /* owned */
    int compress;                  /* deflate level of its embedding datasets (0 = none) */
    bool compress_known;           /* false when it has no chunked embedding dataset (no rows) */
    float gamma;
    int layer_norm;
    int n_mix;
    float mix[ELMO_MERGE_MAX_MIX_WEIGHTS];
};

/*
 * Opens in->path (elmo_store_open validates its counts, offsets and shapes) and reads its
 * settings; refuses an incomplete store, a streams store, and a store that does not say which
 * slice of which input it is.  Not collective; elmo_merge_in_free releases it, opened or not.
 */
int elmo_merge_open_input(struct elmo_merge_in *in);
void elmo_merge_in_free(struct elmo_merge_in *in);

/* Refuses an input b whose rows are not comparable with those of the first input a. */
int elmo_merge_check_match(const struct elmo_merge_in *a, const struct elmo_merge_in *b);

/* Refuses inputs that are not the slices 0..N-1 of one input, each once, in that order; the
 * message names the first offending file. */
int elmo_merge_check_slices(const struct elmo_merge_in *in, int n_in);

/*
 * The collective steps the copy takes between its local steps, supplied by the caller: agree
 * returns on every rank the same verdict on a local result (0 when every rank succeeded), and
 * stop returns ELMO_ERR_INTERRUPTED on every rank when any rank was asked to stop, else 0.
 */
struct elmo_merge_hooks {
    int (*agree)(int rc);
    int (*stop)(void);
};

struct elmo_merge {
    int rank, size; /* the caller's, on the communicator of the output */
    struct elmo_merge_in *in;
    int n_in;
    int64_t total[ELMO_CNT_N]; /* the inputs' counts summed: the output's */
    struct elmo_store *out;
    bool out_broken; /* a write, create or close of the output failed (on every rank alike) */
    char *job_yaml;  /* owned: the first input's, for the output */
    void *buf;       /* owned: the copy buffer */
    size_t buf_bytes;
};

/*
 * Creates the merged store m->out at partial on comm, with the summed counts (m->total) and the
 * first input's settings and attributes (input_fingerprint is the caller's to set).
 * Collective; elmo_store_create agrees on the layout, so it fails on every rank alike.
 */
int elmo_merge_create(struct elmo_merge *m, const char *partial, MPI_Comm comm);

/* Copies every dataset of every input into m->out, in chunks of rows split over the ranks.
 * Collective through hooks; on a failed write m->out_broken is set. */
int elmo_merge_copy(struct elmo_merge *m, const struct elmo_merge_hooks *hooks);

/* Releases the inputs and the buffers of m (not m->out: closing it is collective). */
void elmo_merge_free(struct elmo_merge *m);

#endif /* ELMO_STORE_MERGE_H */
