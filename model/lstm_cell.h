/*
 * lstm_cell.h: the LSTM cell of both trainers (the tagger's BiLSTM, the biLM's LSTM layers),
 * forward and backward, one batch row at a time, and the gradient of its kernel and bias.
 * Inference runs its own fused cell (model/lstm.c); this one keeps what backward needs.
 *
 * Gates i, j, f, o (each D units) of one row z = [x; h_prev] W + b, as TF's LSTMCell:
 *
 *   c_raw = sigm(f + forget_bias) c_prev + sigm(i) tanh(j)
 *   c     = clip(c_raw, -clip, clip)          (clip INFINITY: none)
 *   m     = sigm(o) tanh(c)                   (the output before any projection)
 *
 * The clip's gradient is 1 inside [-clip, clip] (boundary included, as TF's clip_by_value)
 * and 0 outside.  sigm and tanh are fastmath.h's (the biLM: what `elmo embed` computes) or
 * libm's (the tagger), as the cell says; the operations and their order are otherwise fixed.
 * Pure compute; not collective.
 */
#ifndef ELMO_LSTM_CELL_H
#define ELMO_LSTM_CELL_H

#include <stdbool.h>

struct elmo_lstm_cell {
    int D;             /* units (each of the four gates is D wide) */
    float forget_bias; /* added to f before its sigmoid */
    float clip;        /* cell clip, INFINITY when there is none */
    bool fast;         /* fastmath.h activations, else libm's expf and tanhf */
};

/*
 * One row forward.  z (4D): the gate pre-activations, replaced by sigm(i), tanh(j),
 * sigm(f + forget_bias), sigm(o) (what backward reads).  cprev (D): the previous cell, or
 * NULL for a zero initial state.  Writes c (D), m (D) and, when not NULL, craw (D): the cell
 * before the clip (backward needs it when the cell clips).
 */
void elmo_lstm_cell_forward(const struct elmo_lstm_cell *k, float *z, const float *cprev, float *c,
                            float *craw, float *m);

/*
 * One row backward.  act (4D) and c, craw, cprev as forward left them (craw NULL: the cell
 * did not clip; cprev NULL: zero initial state, which gets no gradient).  dm (D): d loss / d m.
 * dc (D): d loss / d c from the next step on entry, d loss / d cprev on return.  Writes dz
 * (4D): d loss / d of the four gate pre-activations.
 */
void elmo_lstm_cell_backward(const struct elmo_lstm_cell *k, const float *act, const float *cprev,
                             const float *c, const float *craw, const float *dm, float *dc,
                             float *dz);

/*
 * The kernel and bias gradients of n rows: the kernel W (nx + nh, 4D) acts on [x; h_prev];
 * gw += [x; h]^T dz and gb += the column sums of dz, for x (n, nx), h (n, nh) the rows' h_prev
 * and dz (n, 4D).
 */
void elmo_lstm_cell_grad_weights(const struct elmo_lstm_cell *k, int n, int nx, int nh,
                                 const float *x, const float *h, const float *dz, float *gw,
                                 float *gb);

#endif /* ELMO_LSTM_CELL_H */
