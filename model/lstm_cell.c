/*
 * lstm_cell.c: the trainers' LSTM cell (see lstm_cell.h).
 *
 * Each row loop is written once, as an always-inlined body whose choices (fast or libm
 * activations, zero initial state, clip kept) are compile-time constants in each of its
 * instances, so the loop of every instance has no branch and separate restrict arguments:
 * the fast instances vectorize (fastmath.h has no library calls), the libm ones run as the
 * scalar loop they always were.
 */
#include "model/lstm_cell.h"

#include <math.h>
#include <stddef.h>

#include "model/fastmath.h"
#include "model/gemm.h"

#define CELL_INLINE static inline __attribute__((always_inline))

CELL_INLINE float sig(float x, bool fast) {
    return fast ? elmo__sigmoidf(x) : 1.0f / (1.0f + expf(-x));
}

CELL_INLINE float th(float x, bool fast) { return fast ? elmo__tanhf(x) : tanhf(x); }

/* The forward row loop; first: cprev is the zero state (not read); raw: craw is written. */
CELL_INLINE void forward_row(int D, float fb, float clip, float *restrict zi, float *restrict zj,
                             float *restrict zf, float *restrict zo, const float *restrict cprev,
                             float *restrict c, float *restrict craw, float *restrict m, bool fast,
                             bool first, bool raw) {
    for (int j = 0; j < D; j++) {
        float si = sig(zi[j], fast);
        float tj = th(zj[j], fast);
        float sf = sig(zf[j] + fb, fast);
        float so = sig(zo[j], fast);
        float cc = (first ? 0.0f : sf * cprev[j]) + si * tj;
        if (raw) craw[j] = cc;
        cc = cc > clip ? clip : cc;
        cc = cc < -clip ? -clip : cc;
        c[j] = cc;
        m[j] = so * th(cc, fast);
        zi[j] = si, zj[j] = tj, zf[j] = sf, zo[j] = so;
    }
}

/* The backward row loop; first: zero initial state (df = 0); raw: the clip gates dc. */
CELL_INLINE void backward_row(int D, float clip, const float *restrict si_,
                              const float *restrict tj_, const float *restrict sf_,
                              const float *restrict so_, const float *restrict cprev,
                              const float *restrict c, const float *restrict craw,
                              const float *restrict dm, float *restrict dc, float *restrict di,
                              float *restrict dj, float *restrict df, float *restrict dout,
                              bool fast, bool first, bool raw) {
    for (int j = 0; j < D; j++) {
        float si = si_[j], tj = tj_[j], sf = sf_[j], so = so_[j];
        float tc = th(c[j], fast);
        float dcc = dc[j] + dm[j] * so * (1.0f - tc * tc);
        if (raw) dcc = fabsf(craw[j]) <= clip ? dcc : 0.0f;
        di[j] = dcc * tj * si * (1.0f - si);
        dj[j] = dcc * si * (1.0f - tj * tj);
        df[j] = first ? 0.0f : dcc * cprev[j] * sf * (1.0f - sf);
        dout[j] = dm[j] * tc * so * (1.0f - so);
        dc[j] = dcc * sf;
    }
}

void elmo_lstm_cell_forward(const struct elmo_lstm_cell *k, float *z, const float *cprev, float *c,
                            float *craw, float *m) {
    const int D = k->D;
#define FWD(fast, first, raw)                                                                  \
    forward_row(D, k->forget_bias, k->clip, z, z + D, z + 2 * D, z + 3 * D, cprev, c, craw, m, \
                fast, first, raw)
    switch ((k->fast ? 4 : 0) | (cprev ? 0 : 2) | (craw ? 1 : 0)) {
    case 0: FWD(false, false, false); break;
    case 1: FWD(false, false, true); break;
    case 2: FWD(false, true, false); break;
    case 3: FWD(false, true, true); break;
    case 4: FWD(true, false, false); break;
    case 5: FWD(true, false, true); break;
    case 6: FWD(true, true, false); break;
    default: FWD(true, true, true); break;
    }
#undef FWD
}

void elmo_lstm_cell_backward(const struct elmo_lstm_cell *k, const float *act, const float *cprev,
                             const float *c, const float *craw, const float *dm, float *dc,
                             float *dz) {
    const int D = k->D;
#define BWD(fast, first, raw)                                                                    \
    backward_row(D, k->clip, act, act + D, act + 2 * D, act + 3 * D, cprev, c, craw, dm, dc, dz, \
                 dz + D, dz + 2 * D, dz + 3 * D, fast, first, raw)
    switch ((k->fast ? 4 : 0) | (cprev ? 0 : 2) | (craw ? 1 : 0)) {
    case 0: BWD(false, false, false); break;
    case 1: BWD(false, false, true); break;
    case 2: BWD(false, true, false); break;
    case 3: BWD(false, true, true); break;
    case 4: BWD(true, false, false); break;
    case 5: BWD(true, false, true); break;
    case 6: BWD(true, true, false); break;
    default: BWD(true, true, true); break;
    }
#undef BWD
}

void elmo_lstm_cell_grad_weights(const struct elmo_lstm_cell *k, int n, int nx, int nh,
                                 const float *x, const float *h, const float *dz, float *gw,
                                 float *gb) {
    const int G = 4 * k->D;
    elmo_gemm(true, false, nx, G, n, 1.0f, x, nx, dz, G, 1.0f, gw, G);
    elmo_gemm(true, false, nh, G, n, 1.0f, h, nh, dz, G, 1.0f, gw + (size_t)nx * G, G);
    for (int r = 0; r < n; r++) {
        const float *d = dz + (size_t)r * G;
        for (int j = 0; j < G; j++) gb[j] += d[j];
    }
}
