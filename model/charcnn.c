/*
 * charcnn.c: the context-free token vector (elmo-spec section 4): char embedding, one VALID
 * convolution per filter group, max-pool over positions, the CNN activation, the highway
 * layers and the projection to P, for chunks of ELMO__TOK_CHUNK tokens.
 *
 * Convolutions: a window of w chars is w E consecutive floats of the chunk's char embeddings,
 * so the row-stable GEMM reads the windows in place through row pointers (no im2col copy), all
 * filter groups in one elmo_pgemm call, and its epilogue max-pools each finished tile straight
 * into the token's row of x: the convolution outputs are never stored.  Windows made only of
 * PAD chars give the same output for every token, so they are computed once
 * (elmo__cnn_prepare) and only the windows that touch a token's real chars go through the
 * GEMM: a 5-byte word needs 7 windows instead of 44..50; the max then starts from the all-PAD
 * output when the token has such windows.  Each window's output depends on that window alone
 * (gemm.h) and max is exact, so a token's vector depends on that token alone, bit for bit.
 *
 * Highway: carry and transform are one gate-interleaved product (model/pack.c) whose epilogue
 * computes x' = g relu(t) + (1 - g) x for the units of its tile (g = sigmoid(carry)), so the
 * element-wise math runs on the GEMM's threads too.
 */
#include <math.h>
#include <string.h>

#include "model/bilm_ws.h"
#include "model/clock.h"
#include "model/fastmath.h"
#include "model/gemm.h"
#include "model/status.h"

/* The element-wise epilogues are compiled for AVX-512, AVX2 and baseline x86-64 (picked at
 * load time); without contraction (ISO C mode) every version gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

void elmo__cnn_prepare(const struct elmo_model *m, struct elmo_bilm_ws *ws) {
    const struct elmo_options *o = &m->opt;
    struct elmo__ws *w = ws->priv;
    const int E = o->E;
    struct elmo_pgemm_op ops[ELMO_MAX_FILTERS];
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        const int wi = o->filter_width[i];
        float *win = w->emb + (size_t)i * ELMO_MAXC * E; /* a window of PAD chars per group */
        for (int k = 0; k < wi; k++)
            memcpy(win + (size_t)k * E, m->char_embed + (size_t)ELMO_CHAR_PAD * E,
                   sizeof(float) * E);
        ops[i] = (struct elmo_pgemm_op){.M = 1,
                                        .W = &m->packed->cnn[i],
                                        .a = {win, 0, NULL},
                                        .c = {w->pad_conv + foff, 0, NULL}};
        foff += o->filter_count[i];
    }
    elmo_pgemm(o->n_filters, ops);
}

/* Max-pool of one filter group: window rows into their tokens' rows of x. */
struct pool_ctx {
    float *x;           /* (chunk, F) */
    int F, foff;        /* row stride of x; first column of this group */
    const int32_t *tok; /* token of each window row */
};

VEC_CLONES static void pool_epi(void *ctx, int r0, int m, int j0, int n, const float *const *t) {
    const struct pool_ctx *p = ctx;
    for (int r = 0; r < m; r++) {
        float *restrict xo = p->x + (size_t)p->tok[r0 + r] * p->F + p->foff + j0;
        const float *restrict v = t[r];
        if (n == ELMO_NR)
            for (int j = 0; j < ELMO_NR; j++) xo[j] = v[j] > xo[j] ? v[j] : xo[j];
        else
            for (int j = 0; j < n; j++) xo[j] = v[j] > xo[j] ? v[j] : xo[j];
    }
}

/* Highway: x' = g relu(t) + (1 - g) x on the units of one tile. */
struct hw_ctx {
    const float *x; /* (chunk, F) input */
    float *xn;      /* (chunk, F) output */
    int F;
};

VEC_CLONES static void hw_epi(void *ctx, int r0, int m, int j0, int n, const float *const *t) {
    const struct hw_ctx *h = ctx;
    const int W = ELMO_NR / 2, u0 = j0 / ELMO_NR * W;
    const int nu = h->F - u0 < W ? h->F - u0 : W;
    for (int r = 0; r < m; r++) {
        const float *g = t[r], *tr = t[r] + W;
        const float *xi = h->x + (size_t)(r0 + r) * h->F + u0;
        float *xo = h->xn + (size_t)(r0 + r) * h->F + u0;
        if (nu == W) {
            /* 2 x 16 units in vectors; lane by lane the same operations as the loop below */
            for (int u = 0; u < W; u += 16) {
                elmo__v16f gv, tv, xv;
                memcpy(&gv, g + u, sizeof gv);
                memcpy(&tv, tr + u, sizeof tv);
                memcpy(&xv, xi + u, sizeof xv);
                elmo__v16f gate = elmo__sigmoidf_v16(gv);
                const elmo__v16f zero = elmo__v16splat(0.0f);
                elmo__v16f tt = elmo__v16sel(tv > zero, tv, zero);
                elmo__v16f y = gate * tt + (1.0f - gate) * xv;
                memcpy(xo + u, &y, sizeof y);
            }
        } else {
            for (int u = 0; u < nu; u++) {
                float gate = elmo__sigmoidf(g[u]);
                float tt = tr[u] > 0.0f ? tr[u] : 0.0f;
                xo[u] = gate * tt + (1.0f - gate) * xi[u];
            }
        }
    }
}

VEC_CLONES static void activate(float *restrict x, size_t n, bool tanh_act) {
    if (tanh_act)
        for (size_t j = 0; j < n; j++) x[j] = tanhf(x[j]);
    else
        for (size_t j = 0; j < n; j++) x[j] = x[j] > 0.0f ? x[j] : 0.0f;
}

/* Char CNN of nv <= ELMO__TOK_CHUNK tokens into w->x (nv, F). */
static void cnn_chunk(const struct elmo_model *m, struct elmo_bilm_ws *ws, int nv,
                      const int32_t *ids) {
    const struct elmo_options *o = &m->opt;
    struct elmo__ws *w = ws->priv;
    const int C = ELMO_MAXC, E = o->E, F = o->F;
    int wmax = 1;
    for (int i = 0; i < o->n_filters; i++)
        if (o->filter_width[i] > wmax) wmax = o->filter_width[i];

    /* where each token's PAD tail starts, and the char embeddings its windows read */
    for (int v = 0; v < nv; v++) {
        const int32_t *id = ids + (size_t)v * C;
        int last = -1;
        for (int c = 0; c < C; c++) {
            ELMO_ASSERT(id[c] >= 0 && id[c] < ELMO_NCHARS);
            if (id[c] != ELMO_CHAR_PAD) last = c;
        }
        w->last[v] = last;
        const int need = last < 0 ? 0 : (last + wmax < C ? last + wmax : C);
        float *e = w->emb + (size_t)v * C * E;
        for (int c = 0; c < need; c++)
            memcpy(e + (size_t)c * E, m->char_embed + (size_t)id[c] * E, sizeof(float) * E);
    }

    /* the windows of every group, and x initialised to the all-PAD output or -inf */
    struct elmo_pgemm_op ops[ELMO_MAX_FILTERS];
    struct pool_ctx pc[ELMO_MAX_FILTERS];
    double flops = 0;
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        const int wi = o->filter_width[i], ni = o->filter_count[i], np = C - wi + 1;
        const float **win = w->win + (size_t)i * ELMO__TOK_CHUNK * C;
        int32_t *tok = w->win_tok + (size_t)i * ELMO__TOK_CHUNK * C;
        int rows = 0;
        for (int v = 0; v < nv; v++) {
            const int r = w->last[v] + 1 < np ? w->last[v] + 1 : np;
            const float *e = w->emb + (size_t)v * C * E;
            for (int p = 0; p < r; p++, rows++) {
                win[rows] = e + (size_t)p * E;
                tok[rows] = v;
            }
            float *xo = w->x + (size_t)v * F + foff;
            if (r < np) memcpy(xo, w->pad_conv + foff, sizeof(float) * ni);
            else
                for (int j = 0; j < ni; j++) xo[j] = -INFINITY;
        }
        pc[i] = (struct pool_ctx){w->x, F, foff, tok};
        ops[i] = (struct elmo_pgemm_op){.M = rows,
                                        .W = &m->packed->cnn[i],
                                        .a = {NULL, 0, win},
                                        .epi = pool_epi,
                                        .epi_ctx = &pc[i]};
        flops += 2.0 * rows * wi * E * ni;
        foff += ni;
    }
    elmo_pgemm(o->n_filters, ops);
    activate(w->x, (size_t)nv * F, o->activation == ELMO_ACT_TANH);
    ws->times.flops += flops;
}

/* Char CNN + highway + projection of nv <= ELMO__TOK_CHUNK tokens. */
static void embed_chunk(const struct elmo_model *m, struct elmo_bilm_ws *ws, int nv,
                        const int32_t *ids, float *out) {
    const struct elmo_options *o = &m->opt;
    struct elmo__ws *w = ws->priv;
    const int F = o->F, P = o->P;
    double t0 = elmo_now();
    cnn_chunk(m, ws, nv, ids);
    double t1 = elmo_now();
    ws->times.cnn += t1 - t0;

    float *x = w->x, *xn = w->x2;
    for (int k = 0; k < o->n_highway; k++) {
        struct hw_ctx hc = {x, xn, F};
        struct elmo_pgemm_op op = {.M = nv,
                                   .W = &m->packed->hw[k],
                                   .a = {x, (size_t)F, NULL},
                                   .c = {w->hwc, (size_t)m->packed->hw[k].np * ELMO_NR, NULL},
                                   .epi = hw_epi,
                                   .epi_ctx = &hc};
        elmo_pgemm(1, &op);
        ws->times.flops += 2.0 * nv * F * 2.0 * F;
        float *sw = x;
        x = xn;
        xn = sw;
    }
    double t2 = elmo_now();
    ws->times.highway += t2 - t1;

    if (o->has_cnn_proj) {
        struct elmo_pgemm_op op = {
            .M = nv, .W = &m->packed->proj, .a = {x, (size_t)F, NULL}, .c = {out, (size_t)P, NULL}};
        elmo_pgemm(1, &op);
        ws->times.flops += 2.0 * nv * F * P;
    } else {
        memcpy(out, x, sizeof(float) * (size_t)nv * F);
    }
    ws->times.proj += elmo_now() - t2;
}

void elmo_token_embed(const struct elmo_model *m, struct elmo_bilm_ws *ws, int V,
                      const int32_t *ids, float *out) {
    const int P = m->opt.P;
    for (int v0 = 0; v0 < V; v0 += ELMO__TOK_CHUNK) {
        int nv = V - v0 < ELMO__TOK_CHUNK ? V - v0 : ELMO__TOK_CHUNK;
        embed_chunk(m, ws, nv, ids + (size_t)v0 * ELMO_MAXC, out + (size_t)v0 * P);
    }
}
