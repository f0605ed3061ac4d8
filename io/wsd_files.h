/*
 * wsd_files.h: the data and the files of the word-sense picture (`elmo wsd`, README "The
 * word-sense picture"): the set of sentences and occurrences with their vectors per output,
 * filled from an embedding store or by the driver's forward pass; the sense labels file; and
 * the outputs: one SVG per layer and fit, an overview SVG with every layer side by side, and
 * wsd.json.
 *
 * Dimension letters: R = token rows of the kept sentences (all their tokens), O = occurrences
 * drawn, P = the model's projection dim (word_emb is P wide, the other outputs 2P).
 * Nothing here is collective; the store is read with the serial API (io/store.h).
 */
#ifndef ELMO_IO_WSD_FILES_H
#define ELMO_IO_WSD_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/outputs.h"
#include "model/pca.h"
#include "model/sense.h"

#define ELMO_WSD_OUTPUTS 4 /* word_emb, lstm_outputs1, lstm_outputs2, elmo: bits 0..3 */

/* The sentences kept (those with at least one drawn occurrence), their tokens and vectors. */
struct elmo_wsd_set {
    char word[128];          /* the target word as given */
    int n_sent;              /* kept sentences */
    char **sent_text;        /* (n_sent) owned: the sentence text */
    int64_t *sent_src;       /* (n_sent) 1-based line of the sentences file, or store sentence */
    int *sent_row;           /* (n_sent + 1) sentence s has token rows [sent_row[s], [s+1]) */
    int n_rows;              /* R */
    char **tok;              /* (R) owned: the tokens */
    int n_occ;               /* O */
    int *occ_row;            /* (O) token row of each occurrence */
    int *occ_sent;           /* (O) its sentence */
    int *occ_sense;          /* (O) index into sense[], or -1 when unlabelled */
    int64_t n_found;         /* occurrences found before the max_points cap */
    char **sense;            /* (n_senses) owned: sense names in order of first appearance */
    int n_senses;
    unsigned outputs;        /* enum elmo_output_bits (bits 0..3 only) */
    int dim[ELMO_WSD_OUTPUTS];   /* width per output bit: P or 2P (0: not requested) */
    float *X[ELMO_WSD_OUTPUTS];  /* (R, dim) per output bit, NULL when not requested */
    size_t sent_cap, row_cap, occ_cap; /* allocated capacities (internal) */
};

/* Frees everything; accepts a zeroed set and may be called twice. */
void elmo_wsd_set_free(struct elmo_wsd_set *s);

/*
 * Appends a sentence: its text, where it came from (src), its n tokens, and the token indices
 * occ[0..nocc) (0-based within the sentence) of the occurrences to draw, all labelled `sense`
 * (NULL or "": unlabelled).  Copies everything.  Returns 0 or ELMO_ERR_NOMEM.
 */
int elmo_wsd_set_add(struct elmo_wsd_set *s, const char *text, int64_t src, int n,
                     const char *const *tok, int nocc, const int *occ, const char *sense);

/*
 * Allocates the vectors (R rows) of the outputs in `outputs` (word_emb P wide, the others 2P),
 * zeroed.  Call after the last elmo_wsd_set_add.  Returns 0 or ELMO_ERR_NOMEM.
 */
int elmo_wsd_set_alloc(struct elmo_wsd_set *s, unsigned outputs, int P);

/*
 * The j-th of `take` occurrences drawn from n_found (take <= n_found): floor(j * n_found /
 * take), evenly spaced over the input, the same on every run.
 */
int64_t elmo_wsd_pick(int64_t j, int64_t n_found, int64_t take);

/*
 * Reads a sense-labels file: one label per line, surrounding whitespace stripped; an empty line
 * is an unlabelled sentence.  *labels (owned, n entries, NULL for unlabelled; the array itself
 * is never NULL, even for an empty file) and *n are set.
 * A final line without newline counts; a trailing newline does not add an empty line.
 * Returns 0, ELMO_ERR_IO or ELMO_ERR_FORMAT (invalid UTF-8, naming the line).
 */
int elmo_wsd_read_labels(const char *path, char ***labels, int64_t *n);
void elmo_wsd_free_labels(char **labels, int64_t n);

/*
 * Fills s from an embedding store made by `elmo embed`: every token of the store that matches
 * word (elmo_wsd_match with forms) is an occurrence; at most max_points of them are drawn
 * (elmo_wsd_pick) and their sentences kept.  Each requested output is read from its dataset,
 * or derived from `embeddings/all` ((T, 3, 2P): word_emb is its first P columns of layer 0, the
 * LSTM outputs are layers 1 and 2) and `elmo` from the three layers with the store's mix
 * attributes (elmo_weights, elmo_gamma, elmo_layer_norm).  labels (n_labels entries, one per
 * store sentence, or NULL) give the senses.  s->word must be set.  Returns 0, ELMO_ERR_FORMAT
 * (an incomplete store, no occurrence, an output the store cannot give, a label count that does
 * not match) or an I/O / HDF5 error naming the store.
 */
int elmo_wsd_from_store(struct elmo_wsd_set *s, const char *path, bool forms, unsigned outputs,
                        int max_points, char *const *labels, int64_t n_labels);

/* The analysis of one output. */
struct elmo_wsd_layer {
    int bit;                      /* output bit index 0..3 */
    struct elmo_pca all;          /* fitted on all R token rows (the tutorial's fit) */
    struct elmo_pca occ;          /* fitted on the O occurrences alone */
    float *all_xy;                /* (O, 2) the occurrences in the all-token fit (owned) */
    struct elmo_separation sep;   /* in the full-dimensional space */
    bool has_sep;                 /* 2+ labelled points of 2+ senses */
};

void elmo_wsd_layer_free(struct elmo_wsd_layer *l);

/* What the figures and the JSON say about where the sentences came from. */
struct elmo_wsd_meta {
    const char *source;           /* e.g. "the tutorial's five sentences", "sentences FILE" */
    bool from_store;              /* sent_src is a store sentence index (else a line) */
    bool match_forms;
};

/*
 * Writes DIR/<output>.svg (the all-token fit), DIR/<output>.occurrences.svg (the fit on the
 * occurrences), DIR/layers.svg (every output side by side, both fits) and DIR/wsd.json.
 * dir must exist.  Returns 0 or ELMO_ERR_IO naming the file.
 */
int elmo_wsd_write(const char *dir, const struct elmo_wsd_set *s,
                   const struct elmo_wsd_layer *layers, int n_layers,
                   const struct elmo_wsd_meta *meta);

#endif /* ELMO_IO_WSD_FILES_H */
