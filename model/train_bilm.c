/*
 * train_bilm.c: forward with caches and backward for every layer of the biLM and the training
 * step over a window of both directions (see train_bilm.h).  The LSTM cell is
 * model/lstm_cell.c, the optimizers model/optim.c.
 *
 * Every matrix product goes through elmo_gemm.  Element-wise math uses the same fastmath
 * sigmoid/tanh as the inference forward, so a trained model computes in `elmo embed` what it
 * computed here (checked in tests/model/test_train_bilm.c).
 *
 * Sections: char CNN + highway + projection; LSTM; softmax; set-up and the step.
 */
#include "model/train_bilm.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/fastmath.h"
#include "model/gemm.h"
#include "model/grow.h"
#include "model/lm_data.h"
#include "model/lstm_cell.h"
#include "model/status.h"

static inline float clipf(float x, float lim) { return x > lim ? lim : (x < -lim ? -lim : x); }

static size_t pad16(size_t n) { return (n + 15) / 16 * 16; }

/* ============================== char CNN, highway, projection ============================== */

struct elmo_lm_embed {
    struct elmo_options opt;
    int max_U, U;
    int32_t *ids;       /* (max_U, C) copy of the last forward's char ids */
    int32_t *last;      /* (max_U) index of the last non-PAD char, -1 if none */
    int64_t *row_start; /* (n_filters, max_U + 1) first im2col row of each token, per group */
    int32_t *arg;       /* (max_U, F) im2col row of the max (per group), -1 = the all-PAD window */
    float *pooled;      /* (max_U, F) max over windows, bias included, before the activation */
    float *xs;          /* ((H + 1) max_U, F) CNN output, then each highway layer's output */
    float *gate, *tr;   /* (H max_U, F) highway caches */
    float *dxa, *dxb;   /* (max_U, F) gradients flowing down */
    float *hscratch;    /* (2 max_U F) highway backward */
    float *pad_conv;    /* (F) conv of the all-PAD window, bias excluded, per group */
    float *dpad;        /* (n_max) */
    float *col, *conv;  /* im2col rows (R, w E) and their products (R, n) of one group; grow */
    size_t col_cap, conv_cap;
};

void elmo_lm_embed_delete(struct elmo_lm_embed *e) {
    if (!e) return;
    free(e->ids);
    free(e->last);
    free(e->row_start);
    free(e->arg);
    free(e->pooled);
    free(e->xs);
    free(e->gate);
    free(e->tr);
    free(e->dxa);
    free(e->dxb);
    free(e->hscratch);
    free(e->pad_conv);
    free(e->dpad);
    free(e->col);
    free(e->conv);
    free(e);
}

int elmo_lm_embed_new(struct elmo_lm_embed **out, const struct elmo_options *o, int max_U) {
    *out = NULL;
    ELMO_CHECK(max_U >= 1, ELMO_ERR_ARG, "embed cache: max_U %d", max_U);
    struct elmo_lm_embed *e = elmo_calloc(1, sizeof *e, "the embedding caches");
    if (!e) return ELMO_ERR_NOMEM;
    e->opt = *o;
    e->max_U = max_U;
    size_t U = (size_t)max_U, F = (size_t)o->F, H = (size_t)o->n_highway;
    int nmax = 0;
    for (int i = 0; i < o->n_filters; i++)
        if (o->filter_count[i] > nmax) nmax = o->filter_count[i];
    e->ids = elmo_malloc(sizeof(int32_t) * U * ELMO_MAXC, "the embedding caches");
    e->last = elmo_malloc(sizeof(int32_t) * U, "the embedding caches");
    e->row_start =
        elmo_malloc(sizeof(int64_t) * (U + 1) * (size_t)o->n_filters, "the embedding caches");
    e->arg = elmo_malloc(sizeof(int32_t) * U * F, "the embedding caches");
    e->pooled = elmo_aligned_alloc(sizeof(float) * U * F, "the embedding caches");
    e->xs = elmo_aligned_alloc(sizeof(float) * (H + 1) * U * F, "the embedding caches");
    e->gate = elmo_aligned_alloc(sizeof(float) * (H ? H : 1) * U * F, "the embedding caches");
    e->tr = elmo_aligned_alloc(sizeof(float) * (H ? H : 1) * U * F, "the embedding caches");
    e->dxa = elmo_aligned_alloc(sizeof(float) * U * F, "the embedding caches");
    e->dxb = elmo_aligned_alloc(sizeof(float) * U * F, "the embedding caches");
    e->hscratch = elmo_aligned_alloc(sizeof(float) * 2 * U * F, "the embedding caches");
    e->pad_conv = elmo_aligned_alloc(sizeof(float) * F, "the embedding caches");
    e->dpad = elmo_aligned_alloc(sizeof(float) * (size_t)nmax, "the embedding caches");
    if (!e->ids || !e->last || !e->row_start || !e->arg || !e->pooled || !e->xs || !e->gate ||
        !e->tr || !e->dxa || !e->dxb || !e->hscratch || !e->pad_conv || !e->dpad) {
        elmo_lm_embed_delete(e);
        return ELMO_ERR_NOMEM;
    }
    *out = e;
    return ELMO_OK;
}

/* Fills e->col with the windows of group i (w chars each) that touch a real char. */
static void im2col(const struct elmo_model *m, const struct elmo_lm_embed *e, int i) {
    const int E = m->opt.E, w = m->opt.filter_width[i], wE = w * E;
    const int64_t *rs = e->row_start + (size_t)i * ((size_t)e->max_U + 1);
    for (int u = 0; u < e->U; u++) {
        const int32_t *id = e->ids + (size_t)u * ELMO_MAXC;
        int nw = (int)(rs[u + 1] - rs[u]);
        for (int p = 0; p < nw; p++) {
            float *row = e->col + (size_t)(rs[u] + p) * wE;
            for (int k = 0; k < w; k++)
                memcpy(row + k * E, m->char_embed + (size_t)id[p + k] * E, sizeof(float) * E);
        }
    }
}

static int cnn_forward(const struct elmo_model *m, struct elmo_lm_embed *e) {
    const struct elmo_options *o = &m->opt;
    const int C = ELMO_MAXC, E = o->E, F = o->F, U = e->U;
    for (int u = 0; u < U; u++) {
        const int32_t *id = e->ids + (size_t)u * C;
        int last = -1;
        for (int c = 0; c < C; c++)
            if (id[c] != ELMO_CHAR_PAD) last = c;
        e->last[u] = last;
    }
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        const int w = o->filter_width[i], n = o->filter_count[i], wE = w * E;
        int64_t *rs = e->row_start + (size_t)i * ((size_t)e->max_U + 1);
        rs[0] = 0;
        for (int u = 0; u < U; u++) {
            int nw = (e->last[u] < C - w ? e->last[u] : C - w) + 1;
            rs[u + 1] = rs[u] + nw;
        }
        size_t R = (size_t)rs[U];
        ELMO_TRY(elmo_grow_scratch((void **)&e->col, &e->col_cap, R * (size_t)wE + (size_t)wE,
                                   sizeof(float), "the char CNN buffers"));
        ELMO_TRY(elmo_grow_scratch((void **)&e->conv, &e->conv_cap, R * (size_t)n + (size_t)n,
                                   sizeof(float), "the char CNN buffers"));
        im2col(m, e, i);
        elmo_gemm(false, false, (int)R, n, wE, 1.0f, e->col, wE, m->cnn_w[i], n, 0.0f, e->conv, n);
        /* the all-PAD window, placed after the real rows */
        float *padrow = e->col + R * (size_t)wE;
        for (int k = 0; k < w; k++)
            memcpy(padrow + k * E, m->char_embed + (size_t)ELMO_CHAR_PAD * E, sizeof(float) * E);
        elmo_gemm(false, false, 1, n, wE, 1.0f, padrow, wE, m->cnn_w[i], n, 0.0f,
                  e->pad_conv + foff, n);
        const float *pad = e->pad_conv + foff;
        for (int u = 0; u < U; u++) {
            bool has_pad = e->last[u] < C - w;
            float *best = e->pooled + (size_t)u * F + foff;
            int32_t *arg = e->arg + (size_t)u * F + foff;
            for (int oc = 0; oc < n; oc++) best[oc] = -INFINITY, arg[oc] = -2;
            for (int64_t r = rs[u]; r < rs[u + 1]; r++) {
                const float *cv = e->conv + (size_t)r * n;
                for (int oc = 0; oc < n; oc++)
                    if (cv[oc] > best[oc]) best[oc] = cv[oc], arg[oc] = (int32_t)r;
            }
            if (has_pad)
                for (int oc = 0; oc < n; oc++)
                    if (pad[oc] > best[oc]) best[oc] = pad[oc], arg[oc] = -1;
            for (int oc = 0; oc < n; oc++) best[oc] += m->cnn_b[i][oc];
        }
        foff += n;
    }
    const bool tanh_act = o->activation == ELMO_ACT_TANH;
    float *x = e->xs;
    for (size_t j = 0; j < (size_t)U * F; j++) {
        float p = e->pooled[j];
        x[j] = tanh_act ? elmo__tanhf(p) : (p > 0.0f ? p : 0.0f);
    }
    return ELMO_OK;
}

/* dx (U, F) w.r.t. the CNN output -> gradients of char_embed, cnn_w, cnn_b. */
static void cnn_backward(const struct elmo_model *m, struct elmo_model *gm, struct elmo_lm_embed *e,
                         const float *dx) {
    const struct elmo_options *o = &m->opt;
    const int E = o->E, F = o->F, U = e->U;
    const bool tanh_act = o->activation == ELMO_ACT_TANH;
    /* gradient before the activation, into dxb (dx may be dxa) */
    float *dp = dx == e->dxb ? e->dxa : e->dxb;
    for (size_t j = 0; j < (size_t)U * F; j++) {
        float y = e->xs[j];
        dp[j] = dx[j] * (tanh_act ? 1.0f - y * y : (e->pooled[j] > 0.0f ? 1.0f : 0.0f));
    }
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        const int w = o->filter_width[i], n = o->filter_count[i], wE = w * E;
        const int64_t *rs = e->row_start + (size_t)i * ((size_t)e->max_U + 1);
        size_t R = (size_t)rs[U];
        im2col(m, e, i);
        float *dconv = e->conv;
        memset(dconv, 0, sizeof(float) * R * (size_t)n);
        memset(e->dpad, 0, sizeof(float) * (size_t)n);
        float *gb = gm->cnn_b[i];
        for (int u = 0; u < U; u++) {
            const float *g = dp + (size_t)u * F + foff;
            const int32_t *arg = e->arg + (size_t)u * F + foff;
            for (int oc = 0; oc < n; oc++) {
                gb[oc] += g[oc];
                if (arg[oc] >= 0) dconv[(size_t)arg[oc] * n + oc] += g[oc];
                else e->dpad[oc] += g[oc];
            }
        }
        if (R > 0) {
            elmo_gemm(true, false, wE, n, (int)R, 1.0f, e->col, wE, dconv, n, 1.0f, gm->cnn_w[i],
                      n);
            /* d col = dconv W^T, into col (no longer needed) */
            elmo_gemm(false, true, (int)R, wE, n, 1.0f, dconv, n, m->cnn_w[i], n, 0.0f, e->col, wE);
        }
        for (int u = 0; u < U; u++) {
            const int32_t *id = e->ids + (size_t)u * ELMO_MAXC;
            for (int64_t r = rs[u]; r < rs[u + 1]; r++) {
                int p = (int)(r - rs[u]);
                const float *dr = e->col + (size_t)r * wE;
                for (int k = 0; k < w; k++) {
                    float *ge = gm->char_embed + (size_t)id[p + k] * E;
                    for (int c = 0; c < E; c++) ge[c] += dr[k * E + c];
                }
            }
        }
        /* the all-PAD window: every one of its w chars is PAD */
        const float *pe = m->char_embed + (size_t)ELMO_CHAR_PAD * E;
        float *gpe = gm->char_embed + (size_t)ELMO_CHAR_PAD * E;
        for (int k = 0; k < w; k++)
            for (int c = 0; c < E; c++) {
                const float *wr = m->cnn_w[i] + ((size_t)k * E + c) * n;
                float *gw = gm->cnn_w[i] + ((size_t)k * E + c) * n;
                double acc = 0;
                for (int oc = 0; oc < n; oc++) {
                    gw[oc] += pe[c] * e->dpad[oc];
                    acc += (double)wr[oc] * e->dpad[oc];
                }
                gpe[c] += (float)acc;
            }
        foff += n;
    }
}

static void add_bias_rows(int M, int N, float *C, const float *b) {
    for (int r = 0; r < M; r++) {
        float *c = C + (size_t)r * N;
        for (int j = 0; j < N; j++) c[j] += b[j];
    }
}

static void add_colsum(int M, int N, const float *A, float *out) {
    for (int r = 0; r < M; r++) {
        const float *a = A + (size_t)r * N;
        for (int j = 0; j < N; j++) out[j] += a[j];
    }
}

void elmo_lm_highway_forward(const struct elmo_model *m, int k, int U, const float *x, float *gate,
                             float *tr, float *y) {
    const int F = m->opt.F;
    elmo_gemm(false, false, U, F, F, 1.0f, x, F, m->hw_carry_w[k], F, 0.0f, gate, F);
    add_bias_rows(U, F, gate, m->hw_carry_b[k]);
    elmo_gemm(false, false, U, F, F, 1.0f, x, F, m->hw_tr_w[k], F, 0.0f, tr, F);
    add_bias_rows(U, F, tr, m->hw_tr_b[k]);
    for (size_t j = 0; j < (size_t)U * F; j++) {
        float g = elmo__sigmoidf(gate[j]);
        float t = tr[j] > 0.0f ? tr[j] : 0.0f;
        gate[j] = g;
        y[j] = g * t + (1.0f - g) * x[j];
    }
}

void elmo_lm_highway_backward(const struct elmo_model *m, struct elmo_model *gm, int k, int U,
                              const float *x, const float *gate, const float *tr, const float *dy,
                              float *dx, float *scratch) {
    const int F = m->opt.F;
    const size_t n = (size_t)U * F;
    float *da = scratch, *dt = scratch + n;
    for (size_t j = 0; j < n; j++) {
        float g = gate[j], t = tr[j] > 0.0f ? tr[j] : 0.0f;
        da[j] = dy[j] * (t - x[j]) * g * (1.0f - g);
        dt[j] = tr[j] > 0.0f ? dy[j] * g : 0.0f;
        dx[j] = dy[j] * (1.0f - g);
    }
    elmo_gemm(false, true, U, F, F, 1.0f, da, F, m->hw_carry_w[k], F, 1.0f, dx, F);
    elmo_gemm(false, true, U, F, F, 1.0f, dt, F, m->hw_tr_w[k], F, 1.0f, dx, F);
    elmo_gemm(true, false, F, F, U, 1.0f, x, F, da, F, 1.0f, gm->hw_carry_w[k], F);
    elmo_gemm(true, false, F, F, U, 1.0f, x, F, dt, F, 1.0f, gm->hw_tr_w[k], F);
    add_colsum(U, F, da, gm->hw_carry_b[k]);
    add_colsum(U, F, dt, gm->hw_tr_b[k]);
}

int elmo_lm_embed_forward(const struct elmo_model *m, struct elmo_lm_embed *e, int U,
                          const int32_t *ids, float *tok) {
    const struct elmo_options *o = &m->opt;
    const int F = o->F, P = o->P, H = o->n_highway;
    ELMO_CHECK(U >= 0 && U <= e->max_U, ELMO_ERR_ARG, "embed: %d word types, at most %d", U,
               e->max_U);
    e->U = U;
    if (U == 0) return ELMO_OK;
    memcpy(e->ids, ids, sizeof(int32_t) * (size_t)U * ELMO_MAXC);
    ELMO_TRY(cnn_forward(m, e));
    const size_t UF = (size_t)U * F, stride = (size_t)e->max_U * F;
    for (int k = 0; k < H; k++)
        elmo_lm_highway_forward(m, k, U, e->xs + k * stride, e->gate + k * stride,
                                e->tr + k * stride, e->xs + (k + 1) * stride);
    const float *top = e->xs + (size_t)H * stride;
    if (o->has_cnn_proj) {
        elmo_gemm(false, false, U, P, F, 1.0f, top, F, m->proj_w, P, 0.0f, tok, P);
        add_bias_rows(U, P, tok, m->proj_b);
    } else {
        memcpy(tok, top, sizeof(float) * UF);
    }
    return ELMO_OK;
}

void elmo_lm_embed_backward(const struct elmo_model *m, struct elmo_model *gm,
                            struct elmo_lm_embed *e, const float *dtok) {
    const struct elmo_options *o = &m->opt;
    const int F = o->F, P = o->P, H = o->n_highway, U = e->U;
    if (U == 0) return;
    const size_t stride = (size_t)e->max_U * F;
    const float *top = e->xs + (size_t)H * stride;
    float *d = e->dxa, *other = e->dxb;
    if (o->has_cnn_proj) {
        elmo_gemm(false, true, U, F, P, 1.0f, dtok, P, m->proj_w, P, 0.0f, d, F);
        elmo_gemm(true, false, F, P, U, 1.0f, top, F, dtok, P, 1.0f, gm->proj_w, P);
        add_colsum(U, P, dtok, gm->proj_b);
    } else {
        memcpy(d, dtok, sizeof(float) * (size_t)U * F);
    }
    for (int k = H - 1; k >= 0; k--) {
        elmo_lm_highway_backward(m, gm, k, U, e->xs + k * stride, e->gate + k * stride,
                                 e->tr + k * stride, d, other, e->hscratch);
        float *t = d;
        d = other;
        other = t;
    }
    cnn_backward(m, gm, e, d);
}

/* ========================================== LSTM ========================================== */

size_t elmo_lm_lstm_cache_floats(const struct elmo_options *o, int T, int B) {
    size_t TB = (size_t)T * B, D = (size_t)o->D, P = (size_t)o->P;
    return pad16(TB * P) + pad16(TB * 4 * D) + pad16(TB * D + (size_t)B * D) + pad16(TB * D) +
           pad16(TB * D) + pad16(TB * P + (size_t)B * P) + pad16(TB * P);
}

void elmo_lm_lstm_cache_views(const struct elmo_options *o, int T, int B, float *block,
                              struct elmo_lm_lstm_cache *c) {
    size_t TB = (size_t)T * B, D = (size_t)o->D, P = (size_t)o->P;
    float *p = block;
    c->x = p, p += pad16(TB * P);
    c->gates = p, p += pad16(TB * 4 * D);
    c->c = p, p += pad16(TB * D + (size_t)B * D);
    c->craw = p, p += pad16(TB * D);
    c->m = p, p += pad16(TB * D);
    c->h = p, p += pad16(TB * P + (size_t)B * P);
    c->hraw = p;
}

size_t elmo_lm_lstm_scratch_floats(const struct elmo_options *o, int T, int B) {
    size_t TB = (size_t)T * B, D = (size_t)o->D, P = (size_t)o->P;
    /* dZ (TB, 4D), dhraw (TB, P), dm (B, D), dh (B, P), dc (B, D) */
    return pad16(TB * 4 * D) + pad16(TB * P) + pad16((size_t)B * D) + pad16((size_t)B * P) +
           pad16((size_t)B * D);
}

void elmo_lm_lstm_forward(const struct elmo_options *o, const struct elmo_lstm_weights *w, int T,
                          int B, bool skip, struct elmo_lm_lstm_cache *c, float *y) {
    const int P = o->P, D = o->D, G = 4 * D;
    const int TB = T * B;
    const float pclip = o->proj_clip > 0.0f ? o->proj_clip : INFINITY;
    const struct elmo_lstm_cell cell = {D, 1.0f, o->cell_clip > 0.0f ? o->cell_clip : INFINITY,
                                        true};
    /* input part of every step at once, then the recurrence */
    elmo_gemm(false, false, TB, G, P, 1.0f, c->x, P, w->w, G, 0.0f, c->gates, G);
    add_bias_rows(TB, G, c->gates, w->b);
    for (int t = 0; t < T; t++) {
        float *z = c->gates + (size_t)t * B * G;
        elmo_gemm(false, false, B, G, P, 1.0f, c->h + (size_t)t * B * P, P, w->w + (size_t)P * G, G,
                  1.0f, z, G);
        const float *cp = c->c + (size_t)t * B * D;
        float *cn = c->c + (size_t)(t + 1) * B * D;
        float *cr = c->craw + (size_t)t * B * D;
        float *mm = c->m + (size_t)t * B * D;
        for (int b = 0; b < B; b++)
            elmo_lstm_cell_forward(&cell, z + (size_t)b * G, cp + (size_t)b * D, cn + (size_t)b * D,
                                   cr + (size_t)b * D, mm + (size_t)b * D);
        float *hr = c->hraw + (size_t)t * B * P;
        float *hn = c->h + (size_t)(t + 1) * B * P;
        if (w->wp) {
            elmo_gemm(false, false, B, P, D, 1.0f, mm, D, w->wp, P, 0.0f, hr, P);
            for (size_t j = 0; j < (size_t)B * P; j++) hn[j] = clipf(hr[j], pclip);
        } else {
            memcpy(hr, mm, sizeof(float) * (size_t)B * P);
            memcpy(hn, mm, sizeof(float) * (size_t)B * P);
        }
        float *yt = y + (size_t)t * B * P;
        const float *xt = c->x + (size_t)t * B * P;
        if (skip)
            for (size_t j = 0; j < (size_t)B * P; j++) yt[j] = hn[j] + xt[j];
        else memcpy(yt, hn, sizeof(float) * (size_t)B * P);
    }
}

void elmo_lm_lstm_backward(const struct elmo_options *o, const struct elmo_lstm_weights *w,
                           struct elmo_lstm_weights *gw, int T, int B, bool skip,
                           const struct elmo_lm_lstm_cache *c, const float *dy, float *dx,
                           float *scratch) {
    const int P = o->P, D = o->D, G = 4 * D;
    const int TB = T * B;
    const float pclip = o->proj_clip > 0.0f && w->wp ? o->proj_clip : INFINITY;
    const struct elmo_lstm_cell cell = {D, 1.0f, o->cell_clip > 0.0f ? o->cell_clip : INFINITY,
                                        true};
    float *dZ = scratch;
    float *dhraw = dZ + pad16((size_t)TB * G);
    float *dm = dhraw + pad16((size_t)TB * P);
    float *dh = dm + pad16((size_t)B * D);
    float *dc = dh + pad16((size_t)B * P);
    memset(dh, 0, sizeof(float) * (size_t)B * P);
    memset(dc, 0, sizeof(float) * (size_t)B * D);
    for (int t = T - 1; t >= 0; t--) {
        const float *dyt = dy + (size_t)t * B * P;
        const float *hr = c->hraw + (size_t)t * B * P;
        float *dhr = dhraw + (size_t)t * B * P;
        for (size_t j = 0; j < (size_t)B * P; j++) {
            float g = dyt[j] + dh[j];
            dhr[j] = fabsf(hr[j]) <= pclip ? g : 0.0f;
        }
        if (w->wp) elmo_gemm(false, true, B, D, P, 1.0f, dhr, P, w->wp, P, 0.0f, dm, D);
        else memcpy(dm, dhr, sizeof(float) * (size_t)B * D);
        const float *gt = c->gates + (size_t)t * B * G;
        const float *cp = c->c + (size_t)t * B * D, *cn = c->c + (size_t)(t + 1) * B * D;
        const float *cr = c->craw + (size_t)t * B * D;
        float *dz = dZ + (size_t)t * B * G;
        for (int b = 0; b < B; b++)
            elmo_lstm_cell_backward(&cell, gt + (size_t)b * G, cp + (size_t)b * D,
                                    cn + (size_t)b * D, cr + (size_t)b * D, dm + (size_t)b * D,
                                    dc + (size_t)b * D, dz + (size_t)b * G);
        elmo_gemm(false, true, B, P, G, 1.0f, dz, G, w->w + (size_t)P * G, G, 0.0f, dh, P);
    }
    if (w->wp) elmo_gemm(true, false, D, P, TB, 1.0f, c->m, D, dhraw, P, 1.0f, gw->wp, P);
    elmo_lstm_cell_grad_weights(&cell, TB, P, P, c->x, c->h, dZ, gw->w, gw->b);
    if (skip) memcpy(dx, dy, sizeof(float) * (size_t)TB * P);
    elmo_gemm(false, true, TB, P, G, 1.0f, dZ, G, w->w, G, skip ? 1.0f : 0.0f, dx, P);
}

/* ======================================== softmax ========================================= */

/* Rows per chunk for `cols` logits per row: about 4M floats of logits. */
static int chunk_rows(int cols) {
    int r = (1 << 22) / (cols > 0 ? cols : 1);
    return r < 16 ? 16 : r > 512 ? 512 : r;
}

size_t elmo_lm_softmax_scratch_floats(int V, int P, int S) {
    size_t full = (size_t)chunk_rows(V) * (size_t)V;
    size_t samp = S > 0 ? (size_t)chunk_rows(S + 1) * (size_t)(S + 1) + 2 * pad16((size_t)S * P) +
                              3 * pad16((size_t)S)
                        : 0;
    return pad16(full > samp ? full : samp);
}

/*
 * exp(L - max) into L (n values; entry `skip`, when >= 0, excluded and set to 0); returns the
 * log-sum-exp and the sum of the exponentials in *sum.
 */
static double softmax_row(float *L, int n, int skip, double *sum) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        if (j != skip && L[j] > mx) mx = L[j];
    for (int j = 0; j < n; j++) L[j] = elmo__expf(L[j] - mx);
    if (skip >= 0) L[skip] = 0.0f;
    double s = 0;
    for (int j = 0; j < n; j++) s += L[j];
    *sum = s;
    return (double)mx + log(s);
}

double elmo_lm_softmax_full(int N, int P, int V, const float *Y, const int32_t *tgt, const float *W,
                            const float *b, float scale, float *dY, float *dW, float *db,
                            float *scratch, int64_t *count) {
    const int R = chunk_rows(V);
    double loss = 0;
    int64_t cnt = 0;
    for (int r0 = 0; r0 < N; r0 += R) {
        int rows = N - r0 < R ? N - r0 : R;
        const float *Yc = Y + (size_t)r0 * P;
        float *L = scratch;
        elmo_gemm(false, true, rows, V, P, 1.0f, Yc, P, W, P, 0.0f, L, V);
        for (int r = 0; r < rows; r++) {
            float *l = L + (size_t)r * V;
            int t = tgt[r0 + r];
            if (t < 0) {
                if (dY) memset(l, 0, sizeof(float) * (size_t)V);
                continue;
            }
            for (int j = 0; j < V; j++) l[j] += b[j];
            float lt = l[t];
            double sum;
            double lse = softmax_row(l, V, -1, &sum);
            loss += lse - lt;
            cnt++;
            if (dY) {
                /* l holds exp(l - max): p = l / sum; d CE / d logit = p - onehot */
                float inv = (float)(scale / sum);
                for (int j = 0; j < V; j++) l[j] *= inv;
                l[t] -= scale;
            }
        }
        if (dY) {
            elmo_gemm(false, false, rows, P, V, 1.0f, L, V, W, P, 0.0f, dY + (size_t)r0 * P, P);
            elmo_gemm(true, false, V, P, rows, 1.0f, L, V, Yc, P, 1.0f, dW, P);
            add_colsum(rows, V, L, db);
        }
    }
    if (count) *count = cnt;
    return loss;
}

double elmo_lm_log_expected(int V, int64_t tries, int k) {
    double p = (log((double)k + 2.0) - log((double)k + 1.0)) / log((double)V + 1.0);
    return log(-expm1((double)tries * log1p(-p)));
}

int64_t elmo_lm_sample(struct elmo_rng *r, int V, int S, int32_t *cand, uint8_t *seen) {
    const double range = log((double)V + 1.0);
    int64_t tries = 0;
    int got = 0;
    while (got < S) {
        double u = elmo_rng_unit(r);
        int64_t k = (int64_t)floor(exp(u * range)) - 1;
        if (k < 0) k = 0;
        if (k > V - 1) k = V - 1;
        tries++;
        if (!seen[k]) {
            seen[k] = 1;
            cand[got++] = (int32_t)k;
        }
    }
    for (int s = 0; s < S; s++) seen[cand[s]] = 0;
    return tries;
}

double elmo_lm_softmax_sampled(int N, int P, int V, const float *Y, const int32_t *tgt,
                               const float *W, const float *b, int S, const int32_t *cand,
                               int64_t tries, float scale, float *dY, float *dW, float *db,
                               float *scratch, int64_t *count) {
    const int cols = S + 1, R = chunk_rows(cols);
    float *L = scratch;
    float *Wc = L + (size_t)R * cols;       /* (S, P) gathered candidate rows */
    float *dWc = Wc + pad16((size_t)S * P); /* (S, P) */
    float *bc = dWc + pad16((size_t)S * P); /* (S) bias minus log expected count */
    float *dbc = bc + pad16((size_t)S);     /* (S) */
    for (int s = 0; s < S; s++) {
        memcpy(Wc + (size_t)s * P, W + (size_t)cand[s] * P, sizeof(float) * P);
        bc[s] = b[cand[s]] - (float)elmo_lm_log_expected(V, tries, cand[s]);
    }
    if (dY) {
        memset(dWc, 0, sizeof(float) * (size_t)S * P);
        memset(dbc, 0, sizeof(float) * (size_t)S);
    }
    double loss = 0;
    int64_t cnt = 0;
    for (int r0 = 0; r0 < N; r0 += R) {
        int rows = N - r0 < R ? N - r0 : R;
        const float *Yc = Y + (size_t)r0 * P;
        elmo_gemm(false, true, rows, S, P, 1.0f, Yc, P, Wc, P, 0.0f, L + 1, cols);
        for (int r = 0; r < rows; r++) {
            float *l = L + (size_t)r * cols;
            int t = tgt[r0 + r];
            if (t < 0) {
                memset(l, 0, sizeof(float) * (size_t)cols);
                continue;
            }
            const float *y = Yc + (size_t)r * P, *wt = W + (size_t)t * P;
            double dot = 0;
            for (int j = 0; j < P; j++) dot += (double)y[j] * wt[j];
            l[0] = (float)dot + b[t] - (float)elmo_lm_log_expected(V, tries, t);
            int hit = -1;
            for (int s = 0; s < S; s++) {
                l[1 + s] += bc[s];
                if (cand[s] == t) hit = 1 + s;
            }
            float l0 = l[0];
            double sum;
            double lse = softmax_row(l, cols, hit, &sum);
            loss += lse - l0;
            cnt++;
            if (dY) {
                float inv = (float)(scale / sum);
                for (int j = 0; j < cols; j++) l[j] *= inv;
                l[0] -= scale;
            }
        }
        if (!dY) continue;
        /* dY = p0 w_t + sum_s p_s w_s; dW_t += p0 y; dWc += p^T Y */
        float *dYc = dY + (size_t)r0 * P;
        elmo_gemm(false, false, rows, P, S, 1.0f, L + 1, cols, Wc, P, 0.0f, dYc, P);
        elmo_gemm(true, false, S, P, rows, 1.0f, L + 1, cols, Yc, P, 1.0f, dWc, P);
        for (int r = 0; r < rows; r++) {
            int t = tgt[r0 + r];
            if (t < 0) continue;
            const float *l = L + (size_t)r * cols;
            for (int s = 0; s < S; s++) dbc[s] += l[1 + s];
            float p0 = l[0];
            const float *y = Yc + (size_t)r * P, *wt = W + (size_t)t * P;
            float *gwt = dW + (size_t)t * P, *dyr = dYc + (size_t)r * P;
            for (int j = 0; j < P; j++) {
                dyr[j] += p0 * wt[j];
                gwt[j] += p0 * y[j];
            }
            db[t] += p0;
        }
    }
    if (dY)
        for (int s = 0; s < S; s++) {
            float *g = dW + (size_t)cand[s] * P;
            const float *d = dWc + (size_t)s * P;
            for (int j = 0; j < P; j++) g[j] += d[j];
            db[cand[s]] += dbc[s];
        }
    if (count) *count = cnt;
    return loss;
}

/* ====================================== set-up, step ====================================== */

struct lm_ws {
    int32_t *stamp, *slot; /* (stamp_cap) per word type: generation seen, its unique index */
    int32_t stamp_cap, gen;
    int32_t *utype;  /* (2 T B) unique word types of the window */
    int32_t *uid[2]; /* (T B) unique index of each input */
    int32_t *uchars; /* (2 T B, C) */
    struct elmo_lm_embed *emb;
    float *tokU, *dtokU;                 /* (2 T B, P) */
    float *x0[2];                        /* (T B, P) layer-0 input */
    float *y[2][ELMO_MAX_LAYERS];        /* (T B, P) layer outputs (with skip) */
    float *mask[2][ELMO_MAX_LAYERS + 1]; /* (T B, P) dropout masks; [L] = before the softmax */
    float *cblock[2][ELMO_MAX_LAYERS];
    struct elmo_lm_lstm_cache lc[2][ELMO_MAX_LAYERS];
    float *top[2];    /* (T B, P) softmax input */
    float *dya, *dyb; /* (T B, P) */
    float *lscratch, *sscratch;
    int32_t *cand; /* (S) */
    uint8_t *seen; /* (V) */
};

/* Points every tensor of dst into block at the offsets src's tensors have in src->block. */
static void rebase(struct elmo_model *dst, const struct elmo_model *src, float *block) {
    *dst = *src;
    dst->block = block;
    dst->packed = NULL;
#define RB(p) ((p) ? block + ((p)-src->block) : NULL)
    dst->char_embed = RB(src->char_embed);
    for (int i = 0; i < ELMO_MAX_FILTERS; i++) {
        dst->cnn_w[i] = RB(src->cnn_w[i]);
        dst->cnn_b[i] = RB(src->cnn_b[i]);
    }
    for (int k = 0; k < ELMO_MAX_HIGHWAY; k++) {
        dst->hw_carry_w[k] = RB(src->hw_carry_w[k]);
        dst->hw_carry_b[k] = RB(src->hw_carry_b[k]);
        dst->hw_tr_w[k] = RB(src->hw_tr_w[k]);
        dst->hw_tr_b[k] = RB(src->hw_tr_b[k]);
    }
    dst->proj_w = RB(src->proj_w);
    dst->proj_b = RB(src->proj_b);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < ELMO_MAX_LAYERS; l++) {
            dst->lstm[d][l].w = RB(src->lstm[d][l].w);
            dst->lstm[d][l].b = RB(src->lstm[d][l].b);
            dst->lstm[d][l].wp = RB(src->lstm[d][l].wp);
        }
#undef RB
}

static void ws_free(struct lm_ws *w) {
    if (!w) return;
    free(w->stamp);
    free(w->slot);
    free(w->utype);
    free(w->uchars);
    elmo_lm_embed_delete(w->emb);
    free(w->tokU);
    free(w->dtokU);
    for (int d = 0; d < 2; d++) {
        free(w->uid[d]);
        free(w->x0[d]);
        free(w->top[d]);
        for (int l = 0; l < ELMO_MAX_LAYERS; l++) {
            free(w->y[d][l]);
            free(w->cblock[d][l]);
        }
        for (int l = 0; l <= ELMO_MAX_LAYERS; l++) free(w->mask[d][l]);
    }
    free(w->dya);
    free(w->dyb);
    free(w->lscratch);
    free(w->sscratch);
    free(w->cand);
    free(w->seen);
    free(w);
}

void elmo_lm_free(struct elmo_lm *lm) {
    /* packed copies that an inference forward over lm->m may have made */
    elmo_model_unpack(&lm->m);
    elmo_model_unpack(&lm->gm);
    free(lm->param);
    free(lm->grad);
    ws_free(lm->ws);
    memset(lm, 0, sizeof *lm);
}

#define ALLOC_F(p, n) \
    (((p) = elmo_aligned_alloc(sizeof(float) * (n), "the training caches")) != NULL)
#define ALLOC_I(p, n) (((p) = elmo_malloc(sizeof(int32_t) * (n), "the training caches")) != NULL)

int elmo_lm_init(struct elmo_lm *lm, const struct elmo_options *opt,
                 const struct elmo_lm_config *cfg) {
    memset(lm, 0, sizeof *lm);
    ELMO_CHECK(cfg->V >= 4 && cfg->max_rows >= 1 && cfg->T >= 1, ELMO_ERR_ARG,
               "training: V %d, rows %d, unroll steps %d", cfg->V, cfg->max_rows, cfg->T);
    ELMO_CHECK(cfg->dropout >= 0.0f && cfg->dropout < 1.0f, ELMO_ERR_RANGE,
               "dropout %g: expected 0 <= dropout < 1", cfg->dropout);
    ELMO_CHECK(cfg->n_sampled >= 0 && cfg->n_sampled < cfg->V, ELMO_ERR_RANGE,
               "n_negative_samples %d: expected 0..%d (below the vocabulary size)", cfg->n_sampled,
               cfg->V - 1);
    struct elmo_model tmp;
    ELMO_TRY(elmo_model_init(&tmp, opt));
    int rc = ELMO_OK;
    const size_t P = (size_t)opt->P, V = (size_t)cfg->V;
    lm->opt = tmp.opt;
    lm->cfg = *cfg;
    lm->n_model = tmp.n_params;
    lm->n_total = lm->n_model + pad16(V * P) + pad16(V);
    lm->param = elmo_aligned_alloc(sizeof(float) * lm->n_total, "the parameters");
    lm->grad = elmo_aligned_alloc(sizeof(float) * lm->n_total, "the gradient");
    struct lm_ws *w = elmo_calloc(1, sizeof *w, "the training caches");
    lm->ws = w;
    if (!lm->param || !lm->grad || !w) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");
    memset(lm->param, 0, sizeof(float) * lm->n_total);
    memset(lm->grad, 0, sizeof(float) * lm->n_total);
    rebase(&lm->m, &tmp, lm->param);
    rebase(&lm->gm, &tmp, lm->grad);
    lm->soft_w = lm->param + lm->n_model;
    lm->soft_b = lm->soft_w + pad16(V * P);
    lm->gsoft_w = lm->grad + lm->n_model;
    lm->gsoft_b = lm->gsoft_w + pad16(V * P);

    const int T = cfg->T, B = cfg->max_rows, L = opt->L;
    const size_t TB = (size_t)T * B, U = 2 * TB;
    ELMO_CALL(elmo_lm_embed_new(&w->emb, &lm->opt, (int)U));
    bool ok = ALLOC_I(w->utype, U) && ALLOC_I(w->uchars, U * ELMO_MAXC) &&
              ALLOC_F(w->tokU, U * P) && ALLOC_F(w->dtokU, U * P) && ALLOC_F(w->dya, TB * P) &&
              ALLOC_F(w->dyb, TB * P);
    for (int d = 0; d < 2 && ok; d++) {
        ok = ALLOC_I(w->uid[d], TB) && ALLOC_F(w->x0[d], TB * P) && ALLOC_F(w->top[d], TB * P);
        for (int l = 0; l < L && ok; l++) {
            size_t n = elmo_lm_lstm_cache_floats(&lm->opt, T, B);
            ok = ALLOC_F(w->y[d][l], TB * P) && ALLOC_F(w->cblock[d][l], n);
            if (ok) elmo_lm_lstm_cache_views(&lm->opt, T, B, w->cblock[d][l], &w->lc[d][l]);
        }
        for (int l = 0; l <= L && ok && cfg->dropout > 0.0f; l++)
            ok = ALLOC_F(w->mask[d][l], TB * P);
    }
    ok = ok && ALLOC_F(w->lscratch, elmo_lm_lstm_scratch_floats(&lm->opt, T, B)) &&
         ALLOC_F(w->sscratch, elmo_lm_softmax_scratch_floats(cfg->V, opt->P, cfg->n_sampled));
    if (ok && cfg->n_sampled > 0) {
        ok = ALLOC_I(w->cand, (size_t)cfg->n_sampled);
        w->seen = ok ? elmo_calloc(V, 1, "the sampler") : NULL;
        ok = w->seen != NULL;
    }
    if (!ok) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory for the training caches");
cleanup:
    elmo_model_free(&tmp);
    if (rc < 0) elmo_lm_free(lm);
    return rc;
}

void elmo_lm_init_weights(struct elmo_lm *lm, uint64_t seed) {
    const struct elmo_options *o = &lm->opt;
    struct elmo_model *m = &lm->m;
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    memset(lm->param, 0, sizeof(float) * lm->n_total);
    const size_t E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P, D = (size_t)o->D;
    elmo_rng_fill_uniform(&r, m->char_embed + E, (ELMO_NCHARS - 1) * E, -1.0f, 1.0f);
    for (int i = 0; i < o->n_filters; i++) {
        size_t fan = (size_t)o->filter_width[i] * E, n = fan * (size_t)o->filter_count[i];
        if (o->activation == ELMO_ACT_TANH)
            elmo_rng_fill_uniform(&r, m->cnn_w[i], n, -0.05f, 0.05f);
        else elmo_rng_fill_normal(&r, m->cnn_w[i], n, sqrtf(1.0f / (float)fan));
    }
    float sf = sqrtf(1.0f / (float)F);
    for (int k = 0; k < o->n_highway; k++) {
        elmo_rng_fill_normal(&r, m->hw_carry_w[k], F * F, sf);
        for (size_t j = 0; j < F; j++) m->hw_carry_b[k][j] = -2.0f;
        elmo_rng_fill_normal(&r, m->hw_tr_w[k], F * F, sf);
    }
    if (o->has_cnn_proj) elmo_rng_fill_normal(&r, m->proj_w, F * P, sf);
    float aw = sqrtf(6.0f / (float)(2 * P + 4 * D)), ap = sqrtf(6.0f / (float)(D + P));
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            elmo_rng_fill_uniform(&r, m->lstm[d][l].w, 2 * P * 4 * D, -aw, aw);
            if (m->lstm[d][l].wp) elmo_rng_fill_uniform(&r, m->lstm[d][l].wp, D * P, -ap, ap);
        }
    elmo_rng_fill_normal(&r, lm->soft_w, (size_t)lm->cfg.V * P, 1.0f / sqrtf((float)P));
}

/* Dropout masks of every (direction, layer input / softmax input), one RNG per batch row. */
static void make_masks(struct elmo_lm *lm, const struct elmo_lm_batch *b) {
    struct lm_ws *w = lm->ws;
    const int T = lm->cfg.T, B = b->rows, P = lm->opt.P, L = lm->opt.L;
    const double p = lm->cfg.dropout;
    const float keep = 1.0f / (1.0f - lm->cfg.dropout);
    for (int r = 0; r < B; r++) {
        struct elmo_rng rng;
        elmo_rng_seed(&rng, elmo_rng_derive(b->seed, (uint64_t)(b->row0 + r), 0x44524F50u, 0));
        for (int d = 0; d < 2; d++)
            for (int l = 0; l <= L; l++)
                for (int t = 0; t < T; t++) {
                    float *mk = w->mask[d][l] + ((size_t)t * B + r) * P;
                    for (int j = 0; j < P; j++)
                        mk[j] = elmo_rng_unit(&rng) < p ? 0.0f : keep;
                }
    }
}

/* y = x * mk element-wise (y may be x). */
static void mul(float *y, const float *x, const float *mk, size_t n) {
    for (size_t j = 0; j < n; j++) y[j] = x[j] * mk[j];
}

/* Room in the word-type map for n_types types; a fresh generation stamp for this window. */
static int prepare_type_map(struct lm_ws *w, int n_types) {
    if (n_types > w->stamp_cap) {
        int32_t *st = elmo_calloc((size_t)n_types, sizeof *st, "the word-type map");
        int32_t *sl = elmo_malloc(sizeof *sl * (size_t)n_types, "the word-type map");
        if (!st || !sl) {
            free(st);
            free(sl);
            return ELMO_ERR_NOMEM;
        }
        free(w->stamp);
        free(w->slot);
        w->stamp = st, w->slot = sl, w->stamp_cap = n_types, w->gen = 0;
    }
    if (++w->gen == INT32_MAX) {
        memset(w->stamp, 0, sizeof(int32_t) * (size_t)w->stamp_cap);
        w->gen = 1;
    }
    return ELMO_OK;
}

/* The distinct word types of the window, in order of first use: their types and characters go
 * to utype and uchars, each position's slot to uid.  Returns their number. */
static int collect_types(struct lm_ws *w, const struct elmo_lm_batch *b, size_t TB) {
    int U = 0;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < TB; i++) {
            int32_t ty = b->in[d][i];
            ELMO_ASSERT(ty >= 0 && ty < b->n_types);
            if (w->stamp[ty] != w->gen) {
                w->stamp[ty] = w->gen;
                w->slot[ty] = U;
                w->utype[U] = ty;
                memcpy(w->uchars + (size_t)U * ELMO_MAXC, b->chars + (size_t)ty * ELMO_MAXC,
                       sizeof(int32_t) * ELMO_MAXC);
                U++;
            }
            w->uid[d][i] = w->slot[ty];
        }
    return U;
}

/* LSTM layer l of direction d over the window: its (masked) input into the cache, its start
 * state from b->state, and its end state back into b->state. */
static void layer_forward(struct elmo_lm *lm, const struct elmo_lm_batch *b, int d, int l,
                          bool drop) {
    struct lm_ws *w = lm->ws;
    const struct elmo_options *o = &lm->opt;
    const int T = lm->cfg.T, B = b->rows, P = o->P, D = o->D, L = o->L;
    const size_t TBP = (size_t)T * B * P, S = elmo_stream_state_floats(o);
    struct elmo_lm_lstm_cache *c = &w->lc[d][l];
    const float *in = l == 0 ? w->x0[d] : w->y[d][l - 1];
    if (drop) mul(c->x, in, w->mask[d][l], TBP);
    else memcpy(c->x, in, sizeof(float) * TBP);
    size_t soff = ((size_t)d * L + (size_t)l) * ((size_t)D + P);
    for (int r = 0; r < B; r++) {
        const float *st = b->state + (size_t)r * S + soff;
        memcpy(c->c + (size_t)r * D, st, sizeof(float) * D);
        memcpy(c->h + (size_t)r * P, st + D, sizeof(float) * P);
    }
    elmo_lm_lstm_forward(o, &lm->m.lstm[d][l], T, B, o->skip && l >= 1, c, w->y[d][l]);
    for (int r = 0; r < B; r++) {
        float *st = b->state + (size_t)r * S + soff;
        memcpy(st, c->c + ((size_t)T * B + r) * D, sizeof(float) * D);
        memcpy(st + D, c->h + ((size_t)T * B + r) * P, sizeof(float) * P);
    }
}

/* Direction d from the token vectors to the (masked) softmax input top[d]; b->out[d] gets the
 * top layer's output when asked for. */
static void direction_forward(struct elmo_lm *lm, const struct elmo_lm_batch *b, int d,
                              bool drop) {
    struct lm_ws *w = lm->ws;
    const int P = lm->opt.P, L = lm->opt.L;
    const size_t TB = (size_t)lm->cfg.T * b->rows, TBP = TB * P;
    for (size_t i = 0; i < TB; i++)
        memcpy(w->x0[d] + i * P, w->tokU + (size_t)w->uid[d][i] * P, sizeof(float) * P);
    for (int l = 0; l < L; l++) layer_forward(lm, b, d, l, drop);
    if (b->out[d]) memcpy(b->out[d], w->y[d][L - 1], sizeof(float) * TBP);
    if (drop) mul(w->top[d], w->y[d][L - 1], w->mask[d][L], TBP);
    else memcpy(w->top[d], w->y[d][L - 1], sizeof(float) * TBP);
}

/* Direction d's softmax loss and its gradient dy over the softmax input (sampled or full). */
static double direction_softmax(struct elmo_lm *lm, const struct elmo_lm_batch *b, int d,
                                float *dy, int64_t *count) {
    struct lm_ws *w = lm->ws;
    const int P = lm->opt.P, V = lm->cfg.V;
    const size_t TB = (size_t)lm->cfg.T * b->rows;
    if (lm->cfg.n_sampled > 0) {
        struct elmo_rng rng;
        elmo_rng_seed(&rng, elmo_rng_derive(b->seed, (uint64_t)d, 0x53414D50u, 0));
        int64_t tries = elmo_lm_sample(&rng, V, lm->cfg.n_sampled, w->cand, w->seen);
        return elmo_lm_softmax_sampled((int)TB, P, V, w->top[d], b->tgt[d], lm->soft_w,
                                       lm->soft_b, lm->cfg.n_sampled, w->cand, tries, b->scale,
                                       dy, lm->gsoft_w, lm->gsoft_b, w->sscratch, count);
    }
    return elmo_lm_softmax_full((int)TB, P, V, w->top[d], b->tgt[d], lm->soft_w, lm->soft_b,
                                b->scale, dy, lm->gsoft_w, lm->gsoft_b, w->sscratch, count);
}

/* Direction d backward: softmax, the LSTMs top-down, then the token-vector gradients summed
 * into dtokU by slot.  Returns the direction's loss. */
static double direction_backward(struct elmo_lm *lm, const struct elmo_lm_batch *b, int d,
                                 bool drop, int64_t *count) {
    struct lm_ws *w = lm->ws;
    const struct elmo_options *o = &lm->opt;
    const int T = lm->cfg.T, B = b->rows, P = o->P, L = o->L;
    const size_t TB = (size_t)T * B, TBP = TB * P;
    float *dy = w->dya, *dx = w->dyb;
    double loss = direction_softmax(lm, b, d, dy, count);
    if (drop) mul(dy, dy, w->mask[d][L], TBP);
    for (int l = L - 1; l >= 0; l--) {
        elmo_lm_lstm_backward(o, &lm->m.lstm[d][l], &lm->gm.lstm[d][l], T, B, o->skip && l >= 1,
                              &w->lc[d][l], dy, dx, w->lscratch);
        if (drop) mul(dx, dx, w->mask[d][l], TBP);
        float *t = dy;
        dy = dx;
        dx = t;
    }
    for (size_t i = 0; i < TB; i++) {
        float *g = w->dtokU + (size_t)w->uid[d][i] * P;
        const float *s = dy + i * P;
        for (int j = 0; j < P; j++) g[j] += s[j];
    }
    return loss;
}

int elmo_lm_step(struct elmo_lm *lm, const struct elmo_lm_batch *b, double loss[2],
                 int64_t count[2]) {
    struct lm_ws *w = lm->ws;
    const int T = lm->cfg.T, B = b->rows, P = lm->opt.P, V = lm->cfg.V;
    const size_t TB = (size_t)T * B;
    const bool drop = b->train && lm->cfg.dropout > 0.0f;
    ELMO_CHECK(B >= 1 && B <= lm->cfg.max_rows, ELMO_ERR_ARG, "step: %d rows, at most %d", B,
               lm->cfg.max_rows);

    /* 1. the distinct word types of the window */
    ELMO_TRY(prepare_type_map(w, b->n_types));
    const int U = collect_types(w, b, TB);

    /* 2. token vectors, then the LSTMs of both directions */
    ELMO_TRY(elmo_lm_embed_forward(&lm->m, w->emb, U, w->uchars, w->tokU));
    if (drop) make_masks(lm, b);
    for (int d = 0; d < 2; d++) direction_forward(lm, b, d, drop);

    /* 3. softmax, and the backward pass */
    if (!b->train) {
        for (int d = 0; d < 2; d++)
            loss[d] =
                elmo_lm_softmax_full((int)TB, P, V, w->top[d], b->tgt[d], lm->soft_w, lm->soft_b,
                                     0.0f, NULL, NULL, NULL, w->sscratch, &count[d]);
        return ELMO_OK;
    }
    memset(lm->grad, 0, sizeof(float) * lm->n_total);
    memset(w->dtokU, 0, sizeof(float) * (size_t)U * P);
    for (int d = 0; d < 2; d++) loss[d] = direction_backward(lm, b, d, drop, &count[d]);
    elmo_lm_embed_backward(&lm->m, &lm->gm, w->emb, w->dtokU);
    return ELMO_OK;
}
