/*
 * tagger.c: the BiLSTM tagger's forward and backward passes and gradient clipping (see
 * tagger.h for the model; the LSTM cell is model/lstm_cell.c, the optimizer model/optim.c).
 *
 * Layout of a batch inside the workspace.  The B sentences are ordered by length, longest
 * first (ties by index), so at time step t the sentences still running (len > t) are a prefix
 * of that order, nb[t] of them.  Each direction keeps its rows "packed": step t's rows sit at
 * off[t] .. off[t] + nb[t] - 1, one per running sentence in length order; the forward
 * direction visits token t of a sentence at step t, the backward direction token len - 1 - t.
 * tokmap[d] maps a packed row to the token row (sentence-major order).  Then one product
 * gives the input projection of every step, one product per step adds h_{t-1} W_h for the
 * running prefix, and the gradient products are single GEMMs over all rows.
 */
#include "model/tagger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/crf.h"
#include "model/gemm.h"
#include "model/lstm_cell.h"
#include "model/optim.h"
#include "model/rng.h"
#include "model/status.h"

/* ================================== Layout ================================== */

static size_t round16(size_t n) { return (n + 15u) & ~(size_t)15u; }

int elmo_tagger_config_check(const struct elmo_tagger_config *cfg) {
    ELMO_CHECK(cfg->K >= 1 && cfg->K <= 16, ELMO_ERR_ARG, "tagger: K = %d layers (1..16)", cfg->K);
    ELMO_CHECK(cfg->D >= 1 && cfg->D <= 65536, ELMO_ERR_ARG, "tagger: D = %d (1..65536)", cfg->D);
    ELMO_CHECK(cfg->H >= 1 && cfg->H <= 8192, ELMO_ERR_ARG, "tagger: hidden = %d (1..8192)",
               cfg->H);
    ELMO_CHECK(cfg->n_tags >= 1 && cfg->n_tags <= ELMO_TAGGER_MAX_TAGS, ELMO_ERR_ARG,
               "tagger: %d tags (1..%d)", cfg->n_tags, ELMO_TAGGER_MAX_TAGS);
    ELMO_CHECK(cfg->keep > 0.0f && cfg->keep <= 1.0f, ELMO_ERR_ARG,
               "tagger: dropout keep probability %g (must be in (0, 1])", (double)cfg->keep);
    ELMO_CHECK(isfinite(cfg->forget_bias), ELMO_ERR_ARG, "tagger: forget bias is not finite");
    ELMO_CHECK(cfg->E >= 0 && cfg->E <= 65536, ELMO_ERR_ARG, "tagger: %d extra inputs (0..65536)",
               cfg->E);
    ELMO_CHECK(cfg->output == ELMO_TAGGER_SOFTMAX || cfg->output == ELMO_TAGGER_CRF, ELMO_ERR_ARG,
               "tagger: unknown output layer %d (0 softmax, 1 crf)", cfg->output);
    ELMO_CHECK(cfg->output != ELMO_TAGGER_CRF || cfg->n_tags <= ELMO_CRF_MAX_TAGS, ELMO_ERR_ARG,
               "tagger: a CRF over %d tags (at most %d)", cfg->n_tags, ELMO_CRF_MAX_TAGS);
    return 0;
}

size_t elmo_tagger_layout(const struct elmo_tagger_config *cfg, struct elmo_tagger_tensor *out) {
    const int64_t K = cfg->K, DI = (int64_t)cfg->D + cfg->E, H = cfg->H, V = cfg->n_tags;
    const int64_t VC = cfg->output == ELMO_TAGGER_CRF ? V : 0; /* CRF tensors, else empty */
    const struct {
        const char *name;
        int ndim;
        int64_t d0, d1;
    } t[ELMO_TAGGER_TENSORS] = {
        {"mix/weights", 1, K, 1},
        {"mix/gamma", 1, 1, 1},
        {"lstm_fw/kernel", 2, DI + H, 4 * H},
        {"lstm_fw/bias", 1, 4 * H, 1},
        {"lstm_bw/kernel", 2, DI + H, 4 * H},
        {"lstm_bw/bias", 1, 4 * H, 1},
        {"dense/kernel", 2, 2 * H, V},
        {"dense/bias", 1, V, 1},
        {"crf/transitions", 2, VC, VC},
        {"crf/start", 1, VC, 1},
        {"crf/end", 1, VC, 1},
    };
    size_t off = 0;
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) {
        size_t numel = (size_t)t[i].d0 * (size_t)t[i].d1;
        if (out) {
            out[i].name = t[i].name;
            out[i].offset = off;
            out[i].numel = numel;
            out[i].ndim = t[i].ndim;
            out[i].dims[0] = t[i].d0;
            out[i].dims[1] = t[i].ndim == 2 ? t[i].d1 : 1;
        }
        off += round16(numel);
    }
    return off;
}

void elmo_tagger_views(const struct elmo_tagger_config *cfg, float *block,
                       struct elmo_tagger_views *v) {
    struct elmo_tagger_tensor t[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(cfg, t);
    float **dst[ELMO_TAGGER_TENSORS] = {&v->mix_s, &v->gamma,     &v->fw_w,      &v->fw_b,
                                        &v->bw_w,  &v->bw_b,      &v->out_w,     &v->out_b,
                                        &v->crf_trans, &v->crf_start, &v->crf_end};
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) *dst[i] = block + t[i].offset;
}

size_t elmo_tagger_param_count(const struct elmo_tagger_config *cfg) {
    struct elmo_tagger_tensor t[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(cfg, t);
    size_t n = 0;
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) n += t[i].numel;
    return n;
}

int elmo_tagger_init(struct elmo_tagger *t, const struct elmo_tagger_config *cfg) {
    memset(t, 0, sizeof *t);
    ELMO_TRY(elmo_tagger_config_check(cfg));
    t->cfg = *cfg;
    t->n_floats = elmo_tagger_layout(cfg, NULL);
    t->block = elmo_aligned_alloc(t->n_floats * sizeof(float), "tagger parameters");
    if (!t->block) return ELMO_ERR_NOMEM;
    memset(t->block, 0, t->n_floats * sizeof(float));
    elmo_tagger_views(cfg, t->block, &t->p);
    return 0;
}

void elmo_tagger_free(struct elmo_tagger *t) {
    free(t->block);
    memset(t, 0, sizeof *t);
}

static void glorot(struct elmo_rng *r, float *w, int64_t fan_in, int64_t fan_out) {
    float lim = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    elmo_rng_fill_uniform(r, w, (size_t)(fan_in * fan_out), -lim, lim);
}

void elmo_tagger_randomize(struct elmo_tagger *t, uint64_t seed) {
    const struct elmo_tagger_config *c = &t->cfg;
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    memset(t->block, 0, t->n_floats * sizeof(float));
    t->p.gamma[0] = 1.0f;
    glorot(&r, t->p.fw_w, c->D + c->E + c->H, 4 * c->H);
    glorot(&r, t->p.bw_w, c->D + c->E + c->H, 4 * c->H);
    glorot(&r, t->p.out_w, 2 * c->H, c->n_tags);
    /* the CRF's scores start at 0: the first steps train it as a per-token softmax */
}

/* ================================ Workspace ================================ */

struct ws_priv {
    int32_t *order;     /* (B) sentence indices, longest first */
    int32_t *start;     /* (B + 1) first token row of each sentence */
    int32_t *nb;        /* (Tmax) sentences running at step t */
    int32_t *off;       /* (Tmax + 1) first packed row of step t */
    int32_t *tokmap[2]; /* (N) packed row -> token row, per direction */
    float *S;           /* (N, D) sum_k softmax(s)_k h_k (x = gamma S) */
    float *xin[2];      /* (N, D + E) packed, dropped-out LSTM input */
    float *act[2];  /* (N, 4H) packed gate activations sigm(i), tanh(j), sigm(f + fb), sigm(o) */
    float *c[2];    /* (N, H) packed cell state */
    float *h[2];    /* (N, H) packed LSTM output */
    float *Y;       /* (N, 2H) token order, dropped-out [fw; bw] */
    float *dl;      /* (N, V) logits, then their gradient */
    float *logit;   /* (N, V) the logits kept for the CRF's backward pass */
    float *dY;      /* (N, 2H) */
    float *dA;      /* (N, 4H) packed gradient of the gate pre-activations */
    float *dH;      /* (N, H) packed gradient of h */
    float *dC;      /* (B, H) gradient of c carried from step t + 1, row i = i-th running */
    float *hprev;   /* (N, H) packed h_{t-1} (0 at t = 0) */
    float *dxin;    /* (N, D + E) packed gradient of the LSTM input */
    float *dx;      /* (N, D) token order, gradient of x */
    float *scratch; /* elmo_gemm_rows scratch */
    double *crf;    /* CRF work of one sentence of up to cap_time tokens */
    void *arena;
};

int elmo_tagger_ws_reserve(struct elmo_tagger_ws *ws, const struct elmo_tagger_config *cfg,
                           size_t n_tok, size_t n_sent, size_t max_len) {
    if (ws->priv && n_tok <= ws->cap_tok && n_sent <= ws->cap_sent && max_len <= ws->cap_time)
        return 0;
    size_t N = n_tok > ws->cap_tok ? n_tok : ws->cap_tok;
    size_t B = n_sent > ws->cap_sent ? n_sent : ws->cap_sent;
    size_t T = max_len > ws->cap_time ? max_len : ws->cap_time;
    if (N < 16) N = 16;
    if (B < 1) B = 1;
    if (T < 1) T = 1;
    elmo_tagger_ws_free(ws);
    const size_t D = (size_t)cfg->D, H = (size_t)cfg->H, V = (size_t)cfg->n_tags;
    const size_t DI = D + (size_t)cfg->E;
    size_t scr = elmo_gemm_rows_scratch((int)(4 * H), (int)(DI > H ? DI : H));
    size_t scr2 = elmo_gemm_rows_scratch((int)V, (int)(2 * H));
    if (scr2 > scr) scr = scr2;
    /* float arrays, each rounded to 16 floats */
    size_t fl[] = {
        N * V,                                                /* prob */
        N * DI,    N * DI,    N * 2 * H,                      /* masks */
        N * DI,                                               /* S */
        N * DI,    N * DI,                                    /* xin */
        N * 4 * H, N * 4 * H,                                 /* act */
        N * H,     N * H,     N * H,     N * H,               /* c, h */
        N * 2 * H, N * V,     N * 2 * H,                      /* Y, dl, dY */
        N * 4 * H, N * H,     N * H,     N * H,               /* dA, dH, dC, hprev */
        N * DI,    N * D,                                     /* dxin, dx */
        scr,       N * V,                                     /* scratch, logit */
    };
    size_t nfl = sizeof fl / sizeof fl[0], total = 0;
    for (size_t i = 0; i < nfl; i++) total += round16(fl[i]) * sizeof(float);
    size_t ints = 4 * (B + 1) + 2 * (T + 1) + 3 * N + 64;
    total += ints * sizeof(int32_t);
    struct ws_priv *p = calloc(1, sizeof *p);
    if (!p) return elmo_error(ELMO_ERR_NOMEM, "tagger workspace");
    p->arena = elmo_aligned_alloc(total, "tagger workspace");
    p->crf = malloc(sizeof(double) * elmo_crf_work_doubles((int)T, (int)V));
    if (!p->arena || !p->crf) {
        free(p->arena);
        free(p->crf);
        free(p);
        return elmo_error(ELMO_ERR_NOMEM, "tagger workspace");
    }
    float *f = p->arena;
    float **dst[] = {&ws->prob,  &ws->mask_in[0], &ws->mask_in[1], &ws->mask_out, &p->S,
                     &p->xin[0], &p->xin[1],      &p->act[0],      &p->act[1],    &p->c[0],
                     &p->c[1],   &p->h[0],        &p->h[1],        &p->Y,         &p->dl,
                     &p->dY,     &p->dA,          &p->dH,          &p->dC,        &p->hprev,
                     &p->dxin,   &p->dx,          &p->scratch,     &p->logit};
    for (size_t i = 0; i < nfl; i++) {
        *dst[i] = f;
        f += round16(fl[i]);
    }
    int32_t *q = (int32_t *)f;
    p->order = q, q += B + 1;
    p->start = q, q += B + 1;
    p->nb = q, q += T + 1;
    p->off = q, q += T + 1;
    p->tokmap[0] = q, q += N;
    p->tokmap[1] = q, q += N;
    ws->path = q, q += N;
    ws->priv = p;
    ws->cap_tok = N;
    ws->cap_sent = B;
    ws->cap_time = T;
    return 0;
}

void elmo_tagger_ws_free(struct elmo_tagger_ws *ws) {
    struct ws_priv *p = ws->priv;
    if (p) free(p->arena), free(p->crf);
    free(p);
    memset(ws, 0, sizeof *ws);
}

/* ================================ Pieces ================================ */

double elmo_tagger_xent(int n, int V, const float *logits, const int32_t *gold, float scale,
                        float *prob, float *dlogits) {
    double loss = 0.0;
    for (int r = 0; r < n; r++) {
        const float *z = logits + (size_t)r * V;
        float *p = prob + (size_t)r * V;
        float zmax = z[0];
        for (int v = 1; v < V; v++) zmax = z[v] > zmax ? z[v] : zmax;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)z[v] - zmax);
        for (int v = 0; v < V; v++) p[v] = (float)(exp((double)z[v] - zmax) / sum);
        if (gold) {
            int g = gold[r];
            loss += log(sum) - ((double)z[g] - zmax);
            if (dlogits) {
                float *d = dlogits + (size_t)r * V;
                for (int v = 0; v < V; v++) d[v] = scale * (p[v] - (v == g ? 1.0f : 0.0f));
            }
        }
    }
    return loss;
}

/* The dropout mask of n values: 1 / keep with probability keep, else 0. */
static void draw_mask(struct elmo_rng *r, float *m, size_t n, float keep) {
    float inv = 1.0f / keep;
    for (size_t i = 0; i < n; i++) m[i] = elmo_rng_uniform(r, 0.0f, 1.0f) < keep ? inv : 0.0f;
}

static void fill(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* Orders the batch, fills start, nb, off and tokmap; returns N. */
static int plan_batch(struct ws_priv *p, const struct elmo_tagger_batch *b, int *Tmax) {
    int B = b->B;
    p->start[0] = 0;
    for (int i = 0; i < B; i++) {
        p->start[i + 1] = p->start[i] + b->len[i];
        p->order[i] = i;
    }
    /* insertion sort by length, longest first, stable (B is small) */
    for (int i = 1; i < B; i++) {
        int32_t x = p->order[i];
        int j = i - 1;
        while (j >= 0 && b->len[p->order[j]] < b->len[x]) {
            p->order[j + 1] = p->order[j];
            j--;
        }
        p->order[j + 1] = x;
    }
    int T = B ? b->len[p->order[0]] : 0;
    int nb = B;
    p->off[0] = 0;
    for (int t = 0; t < T; t++) {
        while (nb > 0 && b->len[p->order[nb - 1]] <= t) nb--;
        p->nb[t] = nb;
        p->off[t + 1] = p->off[t] + nb;
        for (int i = 0; i < nb; i++) {
            int s = p->order[i], L = b->len[s];
            p->tokmap[0][p->off[t] + i] = p->start[s] + t;
            p->tokmap[1][p->off[t] + i] = p->start[s] + L - 1 - t;
        }
    }
    *Tmax = T;
    return p->start[B];
}

/* softmax(s) in double. */
static void mix_weights(int K, const float *s, double *w) {
    double smax = s[0], z = 0.0;
    for (int k = 1; k < K; k++) smax = s[k] > smax ? s[k] : smax;
    for (int k = 0; k < K; k++) z += (w[k] = exp((double)s[k] - smax));
    for (int k = 0; k < K; k++) w[k] /= z;
}

/* =============================== Forward =============================== */

/* Direction dir of the LSTM over the packed rows: input, recurrence, dropped-out outputs in Y. */
static void lstm_forward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, int dir, int N,
                         int Tmax) {
    const struct elmo_tagger_config *c = &t->cfg;
    const int D = c->D, DI = D + c->E, H = c->H, G = 4 * H;
    const struct elmo_lstm_cell cell = {H, c->forget_bias, INFINITY, false};
    struct ws_priv *p = ws->priv;
    const float gamma = t->p.gamma[0];
    const float *W = dir ? t->p.bw_w : t->p.fw_w, *bias = dir ? t->p.bw_b : t->p.fw_b;
    const int32_t *map = p->tokmap[dir];
    float *xin = p->xin[dir], *A = p->act[dir], *C = p->c[dir], *Hh = p->h[dir];
    const float *mask = ws->mask_in[dir];
    for (int r = 0; r < N; r++) {
        const float *S = p->S + (size_t)map[r] * DI, *m = mask + (size_t)map[r] * DI;
        float *x = xin + (size_t)r * DI;
        for (int d = 0; d < D; d++) x[d] = gamma * S[d] * m[d];
        for (int d = D; d < DI; d++) x[d] = S[d] * m[d];
    }
    elmo_gemm_rows(N, G, DI, xin, DI, W, G, bias, false, A, G, p->scratch);
    for (int st = 0; st < Tmax; st++) {
        const int r0 = p->off[st], nb = p->nb[st];
        if (st > 0)
            elmo_gemm_rows(nb, G, H, Hh + (size_t)p->off[st - 1] * H, H, W + (size_t)DI * G, G,
                           NULL, true, A + (size_t)r0 * G, G, p->scratch);
        for (int i = 0; i < nb; i++) {
            const size_t r = (size_t)(r0 + i);
            const float *cp = st > 0 ? C + (size_t)(p->off[st - 1] + i) * H : NULL;
            elmo_lstm_cell_forward(&cell, A + r * G, cp, C + r * H, NULL, Hh + r * H);
        }
    }
    /* outputs into Y (token order), dropped out */
    for (int r = 0; r < N; r++) {
        size_t tr = (size_t)map[r];
        const float *hh = Hh + (size_t)r * H, *m = ws->mask_out + tr * 2 * H + (size_t)dir * H;
        float *y = p->Y + tr * 2 * H + (size_t)dir * H;
        for (int j = 0; j < H; j++) y[j] = hh[j] * m[j];
    }
}

/*
 * Direction dir of the LSTM back through time: from dY to the kernel and bias gradients in g,
 * and the gradient of the mix output added into dx.
 */
static void lstm_backward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, int dir, int B,
                          int N, int Tmax, const struct elmo_tagger_views *g) {
    const struct elmo_tagger_config *c = &t->cfg;
    const int D = c->D, DI = D + c->E, H = c->H, G = 4 * H;
    const struct elmo_lstm_cell cell = {H, c->forget_bias, INFINITY, false};
    struct ws_priv *p = ws->priv;
    const float *W = dir ? t->p.bw_w : t->p.fw_w;
    float *gW = dir ? g->bw_w : g->fw_w, *gb = dir ? g->bw_b : g->fw_b;
    const int32_t *map = p->tokmap[dir];
    const float *A = p->act[dir], *C = p->c[dir], *Hh = p->h[dir];
    for (int r = 0; r < N; r++) {
        size_t tr = (size_t)map[r];
        const float *dy = p->dY + tr * 2 * H + (size_t)dir * H;
        const float *m = ws->mask_out + tr * 2 * H + (size_t)dir * H;
        float *dh = p->dH + (size_t)r * H;
        for (int j = 0; j < H; j++) dh[j] = dy[j] * m[j];
    }
    /* the running sentences are a prefix of one order at every step, so the i-th keeps
       row i of dC from step to step (0 until its last token) */
    memset(p->dC, 0, sizeof(float) * (size_t)B * H);
    for (int st = Tmax - 1; st >= 0; st--) {
        const int r0 = p->off[st], nb = p->nb[st];
        for (int i = 0; i < nb; i++) {
            const size_t r = (size_t)(r0 + i);
            const float *cp = st > 0 ? C + (size_t)(p->off[st - 1] + i) * H : NULL;
            elmo_lstm_cell_backward(&cell, A + r * G, cp, C + r * H, NULL, p->dH + r * H,
                                    p->dC + (size_t)i * H, p->dA + r * G);
        }
        /* dh_{t-1} += dA_t W_h^T for the running prefix */
        if (st > 0)
            elmo_gemm(false, true, nb, H, G, 1.0f, p->dA + (size_t)r0 * G, G, W + (size_t)DI * G, G,
                      1.0f, p->dH + (size_t)p->off[st - 1] * H, H);
    }
    /* h_{t-1} of every packed row, for the recurrent kernel's gradient */
    memset(p->hprev, 0, sizeof(float) * (size_t)p->nb[0] * H);
    for (int st = 1; st < Tmax; st++)
        memcpy(p->hprev + (size_t)p->off[st] * H, Hh + (size_t)p->off[st - 1] * H,
               sizeof(float) * (size_t)p->nb[st] * H);
    elmo_lstm_cell_grad_weights(&cell, N, DI, H, p->xin[dir], p->hprev, p->dA, gW, gb);
    /* back to the mix through the input dropout (the extra inputs are not trained) */
    elmo_gemm(false, true, N, D, G, 1.0f, p->dA, G, W, G, 0.0f, p->dxin, DI);
    for (int r = 0; r < N; r++) {
        size_t tr = (size_t)map[r];
        const float *m = ws->mask_in[dir] + tr * DI, *dxi = p->dxin + (size_t)r * DI;
        float *dx = p->dx + tr * D;
        for (int d = 0; d < D; d++) dx[d] += dxi[d] * m[d];
    }
}

int elmo_tagger_forward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                        const struct elmo_tagger_batch *b, double *loss) {
    const struct elmo_tagger_config *c = &t->cfg;
    const int K = c->K, D = c->D, E = c->E, DI = D + E, H = c->H, V = c->n_tags;
    size_t ntok = 0;
    int maxlen = 0;
    if (loss) *loss = 0.0;
    for (int i = 0; i < b->B; i++) {
        ELMO_CHECK(b->len[i] >= 1, ELMO_ERR_ARG, "tagger: sentence %d has %d tokens", i,
                   (int)b->len[i]);
        ntok += (size_t)b->len[i];
        maxlen = b->len[i] > maxlen ? b->len[i] : maxlen;
        if (b->gold)
            for (int j = 0; j < b->len[i]; j++)
                ELMO_CHECK(b->gold[i][j] >= 0 && b->gold[i][j] < V, ELMO_ERR_ARG,
                           "tagger: gold tag id %d out of range (%d tags)", (int)b->gold[i][j], V);
    }
    ELMO_TRY(elmo_tagger_ws_reserve(ws, c, ntok, (size_t)b->B, (size_t)maxlen));
    struct ws_priv *p = ws->priv;
    int Tmax;
    const int N = plan_batch(p, b, &Tmax);
    ws->n_tok = N;

    /* 1. the mix: S = [sum_k w_k h_k; extra], x = [gamma S_mix; extra] */
    double w[16];
    mix_weights(K, t->p.mix_s, w);
    for (int s = 0; s < b->B; s++) {
        for (int i = 0; i < b->len[s]; i++) {
            const float *f = b->feat[s] + (size_t)i * K * D;
            float *S = p->S + (size_t)(p->start[s] + i) * DI;
            for (int d = 0; d < D; d++) {
                double acc = 0.0;
                for (int k = 0; k < K; k++) acc += w[k] * f[(size_t)k * D + d];
                S[d] = (float)acc;
            }
            if (E > 0) memcpy(S + D, b->extra[s] + (size_t)i * E, sizeof(float) * (size_t)E);
        }
    }

    /* 2. dropout masks, per sentence from its own seed */
    if (b->drop_seed && c->keep < 1.0f) {
        for (int s = 0; s < b->B; s++) {
            struct elmo_rng r;
            size_t r0 = (size_t)p->start[s], L = (size_t)b->len[s];
            elmo_rng_seed(&r, b->drop_seed[s]);
            draw_mask(&r, ws->mask_in[0] + r0 * DI, L * DI, c->keep);
            draw_mask(&r, ws->mask_in[1] + r0 * DI, L * DI, c->keep);
            draw_mask(&r, ws->mask_out + r0 * 2 * H, L * 2 * H, c->keep);
        }
    } else {
        fill(ws->mask_in[0], (size_t)N * DI, 1.0f);
        fill(ws->mask_in[1], (size_t)N * DI, 1.0f);
        fill(ws->mask_out, (size_t)N * 2 * H, 1.0f);
    }

    /* 3. the two LSTMs */
    for (int dir = 0; dir < 2; dir++) lstm_forward(t, ws, dir, N, Tmax);

    /* 4. dense, then softmax or the CRF */
    elmo_gemm_rows(N, V, 2 * H, p->Y, 2 * H, t->p.out_w, V, t->p.out_b, false, p->dl, V,
                   p->scratch);
    double total = 0.0;
    if (c->output == ELMO_TAGGER_CRF) {
        const struct elmo_crf crf = {V, t->p.crf_trans, t->p.crf_start, t->p.crf_end};
        memcpy(p->logit, p->dl, sizeof(float) * (size_t)N * V);
        for (int s = 0; s < b->B; s++) {
            size_t r0 = (size_t)p->start[s];
            const float *z = p->logit + r0 * V;
            if (b->gold)
                total += elmo_crf_nll(&crf, b->len[s], z, b->gold[s], 1.0f, NULL,
                                      ws->prob + r0 * V, p->crf);
            else elmo_crf_marginals(&crf, b->len[s], z, ws->prob + r0 * V, p->crf);
            elmo_crf_viterbi(&crf, b->len[s], z, ws->path + r0, p->crf);
        }
    } else {
        for (int s = 0; s < b->B; s++) {
            size_t r0 = (size_t)p->start[s];
            total += elmo_tagger_xent(b->len[s], V, p->dl + r0 * V, b->gold ? b->gold[s] : NULL,
                                      1.0f, ws->prob + r0 * V, NULL);
        }
        for (int r = 0; r < N; r++) {
            const float *pr = ws->prob + (size_t)r * V;
            int best = 0;
            for (int v = 1; v < V; v++) best = pr[v] > pr[best] ? v : best;
            ws->path[r] = best;
        }
    }
    if (loss) *loss = total;
    return 0;
}

/* =============================== Backward =============================== */

void elmo_tagger_backward(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                          const struct elmo_tagger_batch *b, float scale, float *grad) {
    const struct elmo_tagger_config *c = &t->cfg;
    const int K = c->K, D = c->D, DI = D + c->E, H = c->H, V = c->n_tags;
    struct ws_priv *p = ws->priv;
    const int N = ws->n_tok;
    int Tmax = 0;
    for (int i = 0; i < b->B; i++) Tmax = b->len[i] > Tmax ? b->len[i] : Tmax;
    struct elmo_tagger_views g;
    elmo_tagger_views(c, grad, &g);

    /* 1. loss: dl = scale (prob - onehot); for the CRF prob is the marginal, and the
       transition, start and end gradients come from the pairwise marginals */
    if (c->output == ELMO_TAGGER_CRF) {
        const struct elmo_crf crf = {V, t->p.crf_trans, t->p.crf_start, t->p.crf_end};
        for (int s = 0; s < b->B; s++) {
            size_t r0 = (size_t)p->start[s];
            const struct elmo_crf_grad cg = {p->dl + r0 * V, g.crf_trans, g.crf_start, g.crf_end};
            elmo_crf_nll(&crf, b->len[s], p->logit + r0 * V, b->gold[s], scale, &cg, NULL,
                         p->crf);
        }
    }
    for (int s = 0; s < b->B && c->output != ELMO_TAGGER_CRF; s++) {
        for (int i = 0; i < b->len[s]; i++) {
            size_t r = (size_t)(p->start[s] + i);
            const float *pr = ws->prob + r * V;
            float *d = p->dl + r * V;
            int gold = b->gold[s][i];
            for (int v = 0; v < V; v++) d[v] = scale * (pr[v] - (v == gold ? 1.0f : 0.0f));
        }
    }

    /* 2. dense */
    elmo_gemm(true, false, 2 * H, V, N, 1.0f, p->Y, 2 * H, p->dl, V, 1.0f, g.out_w, V);
    for (int r = 0; r < N; r++)
        for (int v = 0; v < V; v++) g.out_b[v] += p->dl[(size_t)r * V + v];
    elmo_gemm(false, true, N, 2 * H, V, 1.0f, p->dl, V, t->p.out_w, V, 0.0f, p->dY, 2 * H);

    /* 3. the LSTMs, back through time */
    memset(p->dx, 0, sizeof(float) * (size_t)N * D);
    for (int dir = 0; dir < 2; dir++) lstm_backward(t, ws, dir, b->B, N, Tmax, &g);

    /* 4. the mix: x = gamma sum_k w_k h_k, w = softmax(s) */
    double w[16], dw[16] = {0}, dgamma = 0.0;
    mix_weights(K, t->p.mix_s, w);
    const float gamma = t->p.gamma[0];
    for (int s = 0; s < b->B; s++) {
        for (int i = 0; i < b->len[s]; i++) {
            size_t r = (size_t)(p->start[s] + i);
            const float *f = b->feat[s] + (size_t)i * K * D, *dx = p->dx + r * D,
                        *S = p->S + r * DI;
            for (int d = 0; d < D; d++) dgamma += (double)dx[d] * S[d];
            for (int k = 0; k < K; k++) {
                double acc = 0.0;
                for (int d = 0; d < D; d++) acc += (double)dx[d] * f[(size_t)k * D + d];
                dw[k] += gamma * acc;
            }
        }
    }
    double wdw = 0.0;
    for (int k = 0; k < K; k++) wdw += w[k] * dw[k];
    for (int k = 0; k < K; k++) g.mix_s[k] += (float)(w[k] * (dw[k] - wdw));
    g.gamma[0] += (float)dgamma;
}

/* ================================ Clipping ================================ */

double elmo_tagger_clip(const struct elmo_tagger_config *cfg, float *grad, float max_norm) {
    struct elmo_tagger_tensor t[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(cfg, t);
    double worst = 0.0;
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) {
        float *g = grad + t[i].offset;
        double norm = elmo_grad_norm(g, t[i].numel);
        worst = norm > worst ? norm : worst;
        if (max_norm > 0.0f && norm > max_norm) {
            float f = (float)(max_norm / norm);
            for (size_t j = 0; j < t[i].numel; j++) g[j] *= f;
        }
    }
    return worst;
}
