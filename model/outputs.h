/*
 * outputs.h: the table of outputs an embed job can write, one row per output: its name (the
 * `outputs` key's spelling and the store's dataset /embeddings/NAME), its bit, its rows (per
 * token, or per sentence for `default`), its width in units of the model's projection dim P,
 * and a one-line description.  Every layer that names, sizes or reads an output reads it here:
 * the job parser, the store, the part files, the forward path, wsd and export.
 *
 * The three layers of a token are [word_emb; word_emb], lstm_outputs1, lstm_outputs2 (2P each);
 * `elmo` is their scalar mix (elmo_scalar_mix, model/bilm.h) with the job's mix settings.
 */
#ifndef ELMO_OUTPUTS_H
#define ELMO_OUTPUTS_H

#include <stdbool.h>

/* Output bits, for `outputs`; bit k is row k of elmo_outputs. */
enum elmo_output_bits {
    ELMO_OUT_WORD_EMB = 1 << 0,
    ELMO_OUT_LSTM1 = 1 << 1,
    ELMO_OUT_LSTM2 = 1 << 2,
    ELMO_OUT_ELMO = 1 << 3,
    ELMO_OUT_DEFAULT = 1 << 4,
    ELMO_OUT_ALL = 1 << 5,     /* AllenNLP 3-layer view (3, n, 2P) */
    ELMO_OUT_TOP = 1 << 6,     /* AllenNLP top = lstm_outputs2 */
    ELMO_OUT_AVERAGE = 1 << 7, /* AllenNLP average of the 3 layers */
};

#define ELMO_N_OUTPUTS 8

/* What an embed job writes when `outputs` is not given. */
#define ELMO_OUTPUTS_EMBED_DEFAULT \
    (ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2 | ELMO_OUT_DEFAULT)

struct elmo_output {
    const char *name;   /* key spelling and dataset name */
    unsigned bit;       /* 1 << its row */
    bool per_sentence;  /* one row per sentence (default), else one per token */
    int layers;         /* 3 for `all` ((rows, 3, 2P)), else 1 ((rows, width)) */
    int width_p;        /* floats per layer in units of P: 1 (word_emb) or 2 */
    const char *desc;   /* what it is, for figures and listings */
};

extern const struct elmo_output elmo_outputs[ELMO_N_OUTPUTS];

/* Floats per row of output k (0..7) for projection dim P: layers x width_p x P. */
static inline int elmo_output_width(unsigned k, int P) {
    return elmo_outputs[k].layers * elmo_outputs[k].width_p * P;
}

#endif /* ELMO_OUTPUTS_H */
