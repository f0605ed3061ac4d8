/*
 * charcnn.c: the context-free token vector (elmo-spec section 4): char embedding, one VALID
 * convolution per filter group as im2col + elmo_gemm_rows, max-pool over positions, the CNN
 * activation, the highway layers and the projection to P.
 *
 * Windows made only of PAD chars give the same output for every token, so they are computed
 * once (elmo__cnn_prepare) and only the windows that touch a token's real chars go through the
 * GEMM: a 5-byte word needs 7 windows instead of 44..50.  The max over positions then also
 * takes the all-PAD output when the token has such windows.  elmo_gemm_rows makes each
 * window's output independent of the other rows, and max is exact, so the result is
 * bit-identical to convolving every position, and a token's vector depends on that token alone.
 */
#include <math.h>
#include <string.h>

#include "model/bilm_ws.h"
#include "model/fastmath.h"
#include "model/gemm.h"
#include "model/status.h"

void elmo__cnn_prepare(const struct elmo_model *m, struct elmo_bilm_ws *ws) {
    const struct elmo_options *o = &m->opt;
    struct elmo__ws *w = ws->priv;
    const int E = o->E;
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        int wi = o->filter_width[i], ni = o->filter_count[i];
        for (int k = 0; k < wi; k++)
            memcpy(w->col + (size_t)k * E, m->char_embed + (size_t)ELMO_CHAR_PAD * E,
                   sizeof(float) * E);
        elmo__gemm_rows_blocked(1, ni, wi * E, w->col, wi * E, m->cnn_w[i], ni, m->cnn_b[i],
                                w->pad_conv + foff, ni, w->scratch);
        foff += ni;
    }
}

/* Char CNN of nv <= ELMO__CNN_CHUNK tokens into x (nv, F). */
static void cnn_chunk(const struct elmo_model *m, struct elmo__ws *w, int nv, const int32_t *ids,
                      float *x) {
    const struct elmo_options *o = &m->opt;
    const int C = ELMO_MAXC, E = o->E, F = o->F;
    const bool tanh_act = o->activation == ELMO_ACT_TANH;

    /* char embeddings, and where each token's PAD tail starts */
    for (int v = 0; v < nv; v++) {
        int last = -1;
        for (int c = 0; c < C; c++) {
            int32_t id = ids[(size_t)v * C + c];
            ELMO_ASSERT(id >= 0 && id < ELMO_NCHARS);
            memcpy(w->emb + ((size_t)v * C + c) * E, m->char_embed + (size_t)id * E,
                   sizeof(float) * E);
            if (id != ELMO_CHAR_PAD) last = c;
        }
        w->last[v] = last;
    }

    /* convolutions, max-pool, activation */
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        const int wi = o->filter_width[i], ni = o->filter_count[i], K = wi * E;
        const int np = C - wi + 1;
        int rows = 0;
        for (int v = 0; v < nv; v++) {
            int r = w->last[v] + 1 < np ? w->last[v] + 1 : np;
            for (int p = 0; p < r; p++, rows++)
                memcpy(w->col + (size_t)rows * K, w->emb + ((size_t)v * C + p) * E,
                       sizeof(float) * K);
        }
        if (rows > 0)
            elmo__gemm_rows_blocked(rows, ni, K, w->col, K, m->cnn_w[i], ni, m->cnn_b[i], w->conv,
                                    ni, w->scratch);
        const float *pad = w->pad_conv + foff;
        const float *conv = w->conv;
        for (int v = 0; v < nv; v++) {
            float *restrict xo = x + (size_t)v * F + foff;
            int r = w->last[v] + 1 < np ? w->last[v] + 1 : np;
            if (r == 0) memcpy(xo, pad, sizeof(float) * ni);
            else {
                memcpy(xo, conv, sizeof(float) * ni);
                for (int p = 1; p < r; p++) {
                    const float *restrict cr = conv + (size_t)p * ni;
                    for (int j = 0; j < ni; j++) xo[j] = cr[j] > xo[j] ? cr[j] : xo[j];
                }
                if (r < np)
                    for (int j = 0; j < ni; j++) xo[j] = pad[j] > xo[j] ? pad[j] : xo[j];
            }
            conv += (size_t)r * ni;
            if (tanh_act)
                for (int j = 0; j < ni; j++) xo[j] = tanhf(xo[j]);
            else
                for (int j = 0; j < ni; j++) xo[j] = xo[j] > 0.0f ? xo[j] : 0.0f;
        }
        foff += ni;
    }
}

/* Char CNN + highway + projection of nv <= ELMO__HW_CHUNK tokens. */
static void embed_chunk(const struct elmo_model *m, struct elmo__ws *w, int nv, const int32_t *ids,
                        float *out) {
    const struct elmo_options *o = &m->opt;
    const int F = o->F, P = o->P;
    for (int v0 = 0; v0 < nv; v0 += ELMO__CNN_CHUNK)
        cnn_chunk(m, w, nv - v0 < ELMO__CNN_CHUNK ? nv - v0 : ELMO__CNN_CHUNK,
                  ids + (size_t)v0 * ELMO_MAXC, w->x + (size_t)v0 * F);

    /* highway: x = g * relu(t) + (1 - g) * x, g = sigmoid(carry) */
    for (int k = 0; k < o->n_highway; k++) {
        elmo__gemm_rows_blocked(nv, F, F, w->x, F, m->hw_carry_w[k], F, m->hw_carry_b[k], w->g, F,
                                w->scratch);
        elmo__gemm_rows_blocked(nv, F, F, w->x, F, m->hw_tr_w[k], F, m->hw_tr_b[k], w->t, F,
                                w->scratch);
        float *restrict x = w->x;
        const float *restrict g = w->g, *restrict t = w->t;
        for (size_t j = 0; j < (size_t)nv * F; j++) {
            float gate = elmo__sigmoidf(g[j]);
            float tr = t[j] > 0.0f ? t[j] : 0.0f;
            x[j] = gate * tr + (1.0f - gate) * x[j];
        }
    }

    /* projection to P */
    if (o->has_cnn_proj)
        elmo__gemm_rows_blocked(nv, P, F, w->x, F, m->proj_w, P, m->proj_b, out, P, w->scratch);
    else memcpy(out, w->x, sizeof(float) * (size_t)nv * F);
}

void elmo_token_embed(const struct elmo_model *m, struct elmo_bilm_ws *ws, int V,
                      const int32_t *ids, float *out) {
    struct elmo__ws *w = ws->priv;
    const int P = m->opt.P;
    for (int v0 = 0; v0 < V; v0 += ELMO__HW_CHUNK) {
        int nv = V - v0 < ELMO__HW_CHUNK ? V - v0 : ELMO__HW_CHUNK;
        embed_chunk(m, w, nv, ids + (size_t)v0 * ELMO_MAXC, out + (size_t)v0 * P);
    }
}
