/*
 * lstm.c: the biLSTM stack over a batch (elmo-spec sections 5-8).
 *
 * Positions of all rows sit one after another (row b at off[b] .. off[b] + T_b - 1, with <S>
 * and </S> inserted).  Per (direction, layer): one elmo_gemm_rows gives the input projection
 * x @ W_0[:P] + B of every position; then per time step s the rows still running (T_b > s)
 * form a prefix of the length-sorted order, so their h is contiguous and one elmo_gemm_rows
 * gives h @ W_0[P:] for all of them, the gate math runs fused per row, and one more
 * elmo_gemm_rows projects o * tanh(c) to P.  The forward direction visits position s of each
 * row, the backward direction position T_b - 1 - s, so each row runs on its own length.
 * Layer outputs overwrite the layer input in place (with the skip connection added for layers
 * >= 1); the recurrent h never includes the skip.
 *
 * Stream state layout (elmo_stream_state_floats): for d in {forward, backward}, for l in
 * 0..L-1: c (D) then h (P).
 */
#include <math.h>
#include <string.h>

#include "model/bilm_ws.h"
#include "model/fastmath.h"
#include "model/gemm.h"
#include "model/status.h"

static inline float clipf(float x, float lim) { return x > lim ? lim : (x < -lim ? -lim : x); }

/* The fused gate math of one row: c and m from the pre-activations z (4D, gates i, j, f, o). */
static void cell_row(int D, const float *restrict z, float *restrict c, float *restrict m,
                     float clip) {
    for (int j = 0; j < D; j++) {
        float cc = elmo__sigmoidf(z[2 * D + j] + 1.0f) * c[j] +
                   elmo__sigmoidf(z[j]) * elmo__tanhf(z[D + j]);
        cc = cc > clip ? clip : cc;
        cc = cc < -clip ? -clip : cc;
        c[j] = cc;
        m[j] = elmo__sigmoidf(z[3 * D + j]) * elmo__tanhf(cc);
    }
}

/* One direction d of layer l over the whole batch; reads `in`, writes w->y[d]. */
static void run_lstm(const struct elmo_model *m, struct elmo__ws *w, int B, const int32_t *n_tok,
                     int Tsum, int d, int l, const float *in, float *const *state) {
    const struct elmo_options *o = &m->opt;
    const int P = o->P, D = o->D, G = 4 * D;
    const struct elmo_lstm_weights *lw = &m->lstm[d][l];
    const size_t soff = ((size_t)d * o->L + (size_t)l) * ((size_t)D + (size_t)P);
    float *y = w->y[d];
    const bool skip = o->skip && l >= 1;
    const int Tmax = n_tok[w->order[0]] + 2;
    const float clip = o->cell_clip > 0.0f ? o->cell_clip : INFINITY;

    /* input projection of every position at once */
    elmo__gemm_rows_blocked(Tsum, G, P, in, P, lw->w, G, lw->b, w->zx, G, w->scratch);

    /* initial state, in length order */
    for (int k = 0; k < B; k++) {
        int b = w->order[k];
        float *hk = w->h + (size_t)k * P, *ck = w->c + (size_t)k * D;
        if (state) {
            memcpy(ck, state[b] + soff, sizeof(float) * D);
            memcpy(hk, state[b] + soff + D, sizeof(float) * P);
        } else {
            memset(ck, 0, sizeof(float) * D);
            memset(hk, 0, sizeof(float) * P);
        }
    }

    int nact = B;
    for (int s = 0; s < Tmax; s++) {
        while (nact > 0 && n_tok[w->order[nact - 1]] + 2 <= s) nact--;
        /* recurrent part; with zero state the first step has h = 0 and needs none */
        const bool zero_h = state == NULL && s == 0;
        if (!zero_h)
            elmo__gemm_rows_blocked(nact, G, P, w->h, P, lw->w + (size_t)P * G, G, NULL, w->gates,
                                    G, w->scratch);
        for (int k = 0; k < nact; k++) {
            int b = w->order[k], T = n_tok[b] + 2;
            int pos = w->off[b] + (d == 0 ? s : T - 1 - s);
            const float *restrict zx = w->zx + (size_t)pos * G;
            float *restrict z = w->gates + (size_t)k * G;
            if (zero_h) memcpy(z, zx, sizeof(float) * G);
            else
                for (int j = 0; j < G; j++) z[j] += zx[j];
            cell_row(D, z, w->c + (size_t)k * D, w->mm + (size_t)k * D, clip);
        }
        const float *hn = w->mm;
        if (o->has_lstm_proj) {
            elmo__gemm_rows_blocked(nact, P, D, w->mm, D, lw->wp, P, NULL, w->hn, P, w->scratch);
            if (o->proj_clip > 0.0f)
                for (size_t j = 0; j < (size_t)nact * P; j++)
                    w->hn[j] = clipf(w->hn[j], o->proj_clip);
            hn = w->hn;
        }
        memcpy(w->h, hn, sizeof(float) * (size_t)nact * P);
        for (int k = 0; k < nact; k++) {
            int b = w->order[k], T = n_tok[b] + 2;
            int pos = w->off[b] + (d == 0 ? s : T - 1 - s);
            float *restrict yo = y + (size_t)pos * P;
            const float *restrict hk = hn + (size_t)k * P;
            if (skip)
                for (int j = 0; j < P; j++) yo[j] += hk[j];
            else memcpy(yo, hk, sizeof(float) * P);
        }
    }

    if (state)
        for (int k = 0; k < B; k++) {
            int b = w->order[k];
            memcpy(state[b] + soff, w->c + (size_t)k * D, sizeof(float) * D);
            memcpy(state[b] + soff + D, w->h + (size_t)k * P, sizeof(float) * P);
        }
}

void elmo_bilm_forward(const struct elmo_model *m, struct elmo_bilm_ws *ws, int B,
                       const int32_t *n_tok, const float *tok, float *const *state,
                       float *const *out) {
    struct elmo__ws *w = ws->priv;
    const struct elmo_options *o = &m->opt;
    const int P = o->P;
    if (B <= 0) return;
    ELMO_ASSERT(B <= ws->max_rows);

    /* positions, and rows sorted by length (longest first, ties by row) */
    int Tsum = 0, Nsum = 0;
    for (int b = 0; b < B; b++) {
        ELMO_ASSERT(n_tok[b] >= 0);
        w->off[b] = Tsum;
        w->toff[b] = Nsum;
        Tsum += n_tok[b] + 2;
        Nsum += n_tok[b];
        int k = b;
        while (k > 0 && n_tok[w->order[k - 1]] < n_tok[b]) {
            w->order[k] = w->order[k - 1];
            k--;
        }
        w->order[k] = b;
    }
    ELMO_ASSERT(Tsum <= ws->max_positions);

    /* layer-0 input: <S>, the tokens, </S> */
    for (int b = 0; b < B; b++) {
        float *x = w->x0 + (size_t)w->off[b] * P;
        int n = n_tok[b];
        memcpy(x, ws->bos, sizeof(float) * P);
        memcpy(x + P, tok + (size_t)w->toff[b] * P, sizeof(float) * (size_t)n * P);
        memcpy(x + (size_t)(n + 1) * P, ws->eos, sizeof(float) * P);
    }

    for (int l = 0; l < o->L; l++) {
        for (int d = 0; d < 2; d++)
            run_lstm(m, w, B, n_tok, Tsum, d, l, l == 0 ? w->x0 : w->y[d], state);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < n_tok[b]; t++) {
                float *dst = out[l] + ((size_t)w->toff[b] + t) * 2 * P;
                size_t src = ((size_t)w->off[b] + 1 + t) * P;
                memcpy(dst, w->y[0] + src, sizeof(float) * P);
                memcpy(dst + P, w->y[1] + src, sizeof(float) * P);
            }
    }
}
