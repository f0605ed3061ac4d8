/*
 * outputs.c: the table of outputs (see outputs.h).
 */
#include "model/outputs.h"

const struct elmo_output elmo_outputs[ELMO_N_OUTPUTS] = {
    {"word_emb", ELMO_OUT_WORD_EMB, false, 1, 1, "layer 0, context-free char-CNN token vector"},
    {"lstm_outputs1", ELMO_OUT_LSTM1, false, 1, 2, "biLSTM layer 1"},
    {"lstm_outputs2", ELMO_OUT_LSTM2, false, 1, 2, "biLSTM layer 2"},
    {"elmo", ELMO_OUT_ELMO, false, 1, 2, "ELMo: weighted sum of the 3 layers"},
    {"default", ELMO_OUT_DEFAULT, true, 1, 2, "mean of elmo over the sentence's tokens"},
    {"all", ELMO_OUT_ALL, false, 3, 2, "AllenNLP view: [word_emb; word_emb], lstm_outputs1, "
                                       "lstm_outputs2"},
    {"top", ELMO_OUT_TOP, false, 1, 2, "AllenNLP top (= lstm_outputs2)"},
    {"average", ELMO_OUT_AVERAGE, false, 1, 2, "AllenNLP average of the 3 layers"},
};
