/*
 * lstm.c: the biLSTM stack over a batch (elmo-spec sections 5-8).
 *
 * Positions of all rows sit one after another (row b at off[b] .. off[b] + T_b - 1, with <S>
 * and </S> inserted).  A layer runs both directions together.  Per time step s the rows still
 * running (T_b > s) form a prefix of the length-sorted order.  The input projections
 * x @ W_0[:P] + B (zx) are computed for a run of steps at a time: one product whose rows are
 * the positions those steps visit (named by pointers), in step order, up to zx's Zm rows, large
 * enough to run as fast as a whole batch's product and small enough to keep zx small.  Then
 * per step the running rows' h is contiguous and one product gives zx + h @ W_0[P:] for all
 * of them: the accumulators start from the rows' zx rows (pointers, no copies) and the
 * epilogue of each tile runs the LSTM cell on the 16 units whose four gates the tile holds
 * (W_0 is packed gate-interleaved, model/pack.c), updating c and writing o * tanh(c).  One
 * more product projects o * tanh(c) to P, and its epilogue clips, stores the new h and writes
 * (or adds, with the skip connection) the layer output at the row's position.  The forward
 * direction visits position s of each row, the backward direction position T_b - 1 - s, so
 * each row runs on its own length.  Layer outputs overwrite the layer input in place: each
 * position is visited by one step of a direction, whose input projection was computed before
 * the step ran.  The recurrent h never includes the skip.  In the stateless regime the first
 * step has h = 0 and runs the cell on zx alone; its input is the boundary token (<S> forward,
 * </S> backward) in every layer, so its state is the same for every sentence: the workspace
 * records it once (elmo_bilm_ws_init) and a pass starts each row after it, and skips each row's
 * last step (the other boundary), whose output and state nothing reads.  Threads: with exactly
 * two GEMM threads each runs the steps of one direction on its own and they meet once per
 * layer; otherwise the two directions run in lockstep, each step's products of both in one
 * call whose panels the threads split.  Either way every element is computed the same way
 * (gemm.h), so the bits do not depend on it.
 *
 * Stream state layout (elmo_stream_state_floats): for d in {forward, backward}, for l in
 * 0..L-1: c (D) then h (P).
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

/* Units per gate in one packed panel of W_0 (4 gates of 16 in ELMO_NR = 64 columns). */
#define GU (ELMO_NR / 4)

/* The LSTM cell on the units of one tile. */
struct cell_ctx {
    int D;
    float clip; /* INFINITY = no clipping */
    float *c;   /* (Bm, D) cell state, updated */
    float *mm;  /* (Bm, D) o * tanh(c), written */
};

VEC_CLONES static void cell_epi(void *ctx, int r0, int m, int j0, int n, const float *const *t) {
    const struct cell_ctx *x = ctx;
    const int D = x->D, u0 = j0 / ELMO_NR * GU;
    const int nu = D - u0 < GU ? D - u0 : GU;
    const float clip = x->clip;
    for (int r = 0; r < m; r++) {
        const float *z = t[r]; /* i, j, f, o of units u0 .. u0 + 15 */
        float *c = x->c + (size_t)(r0 + r) * D + u0;
        float *mo = x->mm + (size_t)(r0 + r) * D + u0;
        if (nu == GU) {
            /* 16 units in one vector; lane by lane the same operations as the loop below */
            elmo__v16f zi, zj, zf, zo, cv;
            memcpy(&zi, z, sizeof zi);
            memcpy(&zj, z + GU, sizeof zj);
            memcpy(&zf, z + 2 * GU, sizeof zf);
            memcpy(&zo, z + 3 * GU, sizeof zo);
            memcpy(&cv, c, sizeof cv);
            elmo__v16f cc =
                elmo__sigmoidf_v16(zf + 1.0f) * cv + elmo__sigmoidf_v16(zi) * elmo__tanhf_v16(zj);
            const elmo__v16f hi = elmo__v16splat(clip), lo = elmo__v16splat(-clip);
            cc = elmo__v16sel(cc > hi, hi, cc);
            cc = elmo__v16sel(cc < lo, lo, cc);
            elmo__v16f mv = elmo__sigmoidf_v16(zo) * elmo__tanhf_v16(cc);
            memcpy(c, &cc, sizeof cc);
            memcpy(mo, &mv, sizeof mv);
        } else {
            for (int u = 0; u < nu; u++) {
                float cc = elmo__sigmoidf(z[2 * GU + u] + 1.0f) * c[u] +
                           elmo__sigmoidf(z[u]) * elmo__tanhf(z[GU + u]);
                cc = cc > clip ? clip : cc;
                cc = cc < -clip ? -clip : cc;
                c[u] = cc;
                mo[u] = elmo__sigmoidf(z[3 * GU + u]) * elmo__tanhf(cc);
            }
        }
    }
}

/* The state projection's tile: clip, new h, layer output at the rows' positions. */
struct proj_ctx {
    int P;
    float clip;         /* INFINITY = no clipping */
    bool skip;          /* add to the layer input instead of overwriting it */
    float *h;           /* (Bm, P) new recurrent h (may be where the tile is) */
    float *y;           /* (Pm, P) layer output */
    const int32_t *pos; /* (Bm) position of each row */
};

VEC_CLONES static void proj_epi(void *ctx, int r0, int m, int j0, int n, const float *const *t) {
    const struct proj_ctx *x = ctx;
    const float clip = x->clip;
    for (int r = 0; r < m; r++) {
        const float *v = t[r]; /* may be hk itself */
        float *hk = x->h + (size_t)(r0 + r) * x->P + j0;
        float *restrict yo = x->y + (size_t)x->pos[r0 + r] * x->P + j0;
        for (int j = 0; j < n; j++) {
            float a = v[j];
            a = a > clip ? clip : a;
            a = a < -clip ? -clip : a;
            hk[j] = a;
            yo[j] = x->skip ? yo[j] + a : a;
        }
    }
}

/* What one layer's recurrence needs, for both directions. */
struct layer_run {
    const struct elmo_model *m;
    struct elmo__ws *w;
    int B, l;
    const int32_t *n_tok;
    const float *in[2]; /* (Pm, P) layer input; a position is read before its step writes y */
    float *const *state;
    struct cell_ctx cc[2];
    struct proj_ctx pc[2];
    struct elmo_pmat w0[2]; /* W_0[P:] with K = 0: the first stateless step, h = 0 */
    int edge; /* 1: steps 1 .. T_b - 2 of a row of T_b positions run (the boundary steps are
                 recorded), else 0 .. T_b - 1 */
    bool capture;           /* record the state after step 0 (elmo__ws edge_c, edge_h) */
    double flops[2];
    double t_in[2]; /* seconds in input projections, by the thread running direction d0 */
};

/* Position of running row k (length order) at step s in direction d. */
static inline int step_pos(const struct elmo__ws *w, const int32_t *n_tok, int d, int k, int s) {
    const int b = w->order[k], T = n_tok[b] + 2;
    return w->off[b] + (d == 0 ? s : T - 1 - s);
}

/* Rows still running at step s, of the nact (a prefix of the length order) running before; a
 * row of T_b positions runs steps up to T_b - 1, or T_b - 2 with edge (layer_run). */
static inline int running_at(const struct elmo__ws *w, const int32_t *n_tok, int nact, int s,
                             int edge) {
    while (nact > 0 && n_tok[w->order[nact - 1]] + 2 - edge <= s) nact--;
    return nact;
}

/*
 * The input projections zx of the steps s, s + 1, ... (nact rows running at s) of directions
 * d0 .. d1 - 1, as many steps as fit in zx's rows (at least step s); returns the first step
 * not computed.
 */
static int input_run(struct layer_run *lr, int d0, int d1, int s, int nact, int Tmax,
                     void (*run)(int, const struct elmo_pgemm_op *)) {
    struct elmo__ws *w = lr->w;
    const struct elmo_options *o = &lr->m->opt;
    const int P = o->P;
    double t0 = elmo_now();
    int rows = 0, e = s;
    for (; e < Tmax; e++) {
        nact = running_at(w, lr->n_tok, nact, e, lr->edge);
        if (nact == 0 || rows + nact > w->Zm) break;
        for (int d = d0; d < d1; d++)
            for (int k = 0; k < nact; k++)
                w->xrow[d][rows + k] = lr->in[d] + (size_t)step_pos(w, lr->n_tok, d, k, e) * P;
        rows += nact;
    }
    struct elmo_pgemm_op ops[2];
    for (int d = d0; d < d1; d++)
        ops[d - d0] = (struct elmo_pgemm_op){.M = rows,
                                             .W = &lr->m->packed->wx[d][lr->l],
                                             .a = {NULL, 0, w->xrow[d]},
                                             .c = {w->zx[d], (size_t)w->G, NULL}};
    run(d1 - d0, ops);
    lr->t_in[d0] += elmo_now() - t0;
    return e;
}

/*
 * The steps of the directions d0 .. d1 - 1, in lockstep (one product call per step for all of
 * them); serial: on this thread alone.
 */
static void recur(struct layer_run *lr, int d0, int d1, bool serial) {
    const struct elmo_model *m = lr->m;
    struct elmo__ws *w = lr->w;
    const struct elmo_options *o = &m->opt;
    const struct elmo_packed *pk = m->packed;
    const int P = o->P, D = o->D, G = w->G, l = lr->l;
    const int32_t *n_tok = lr->n_tok;
    const int Tmax = n_tok[w->order[0]] + 2 - lr->edge;
    void (*run)(int, const struct elmo_pgemm_op *) = serial ? elmo__pgemm_serial : elmo_pgemm;
    struct elmo_pgemm_op ops[2];
    const int nd = d1 - d0;
    int nact = lr->B;
    int zend = lr->edge, zi = 0; /* zx holds the steps before zend; step s's from row zi */
    for (int s = lr->edge; s < Tmax; s++) {
        nact = running_at(w, n_tok, nact, s, lr->edge);
        if (s == zend) {
            zend = input_run(lr, d0, d1, s, nact, Tmax, run);
            zi = 0;
        }
        for (int d = d0; d < d1; d++)
            for (int k = 0; k < nact; k++) {
                w->pos[d][k] = step_pos(w, n_tok, d, k, s);
                w->zrow[d][k] = w->zx[d] + (size_t)(zi + k) * G;
            }
        zi += nact;
        /* zx + h W_0[P:], then the cell; with zero state the first step has h = 0 */
        const bool zero_h = lr->state == NULL && s == 0;
        for (int d = d0; d < d1; d++) {
            ops[d - d0] = (struct elmo_pgemm_op){.M = nact,
                                                 .W = zero_h ? &lr->w0[d] : &pk->wh[d][l],
                                                 .a = {w->h[d], (size_t)P, NULL},
                                                 .init_mode = ELMO_INIT_ROWS,
                                                 .init = {NULL, 0, w->zrow[d]},
                                                 .c = {w->carry[d], (size_t)G, NULL},
                                                 .epi = cell_epi,
                                                 .epi_ctx = &lr->cc[d]};
            if (!zero_h) lr->flops[d] += 2.0 * nact * P * 4.0 * D;
        }
        run(nd, ops);
        /* the state projection, clip, h and the layer output */
        if (o->has_lstm_proj) {
            for (int d = d0; d < d1; d++) {
                ops[d - d0] = (struct elmo_pgemm_op){.M = nact,
                                                     .W = &pk->wp[d][l],
                                                     .a = {w->mm[d], (size_t)D, NULL},
                                                     .c = {w->h[d], (size_t)P, NULL},
                                                     .epi = proj_epi,
                                                     .epi_ctx = &lr->pc[d]};
                lr->flops[d] += 2.0 * nact * D * P;
            }
            run(nd, ops);
        } else {
            /* P == D: h = o * tanh(c), no projection and no projection clip */
            for (int d = d0; d < d1; d++)
                for (int k = 0; k < nact; k++) {
                    const float *mk = w->mm[d] + (size_t)k * D;
                    float *restrict yo = w->y[d] + (size_t)w->pos[d][k] * P;
                    memcpy(w->h[d] + (size_t)k * P, mk, sizeof(float) * P);
                    if (lr->pc[d].skip)
                        for (int j = 0; j < P; j++) yo[j] += mk[j];
                    else memcpy(yo, mk, sizeof(float) * P);
                }
        }
        if (lr->capture && s == 0)
            for (int d = d0; d < d1; d++) {
                memcpy(w->edge_c + (size_t)(2 * l + d) * D, w->c[d], sizeof(float) * D);
                memcpy(w->edge_h + (size_t)(2 * l + d) * P, w->h[d], sizeof(float) * P);
            }
    }
}

/* With two GEMM threads: each runs one direction on its own, meeting once per layer. */
static void recur_task(void *arg, int t, int n) {
    for (int d = t; d < 2; d += n) recur(arg, d, d + 1, true);
}

/* Layer l, both directions, over the whole batch; reads in[d], writes w->y[d]. */
static void run_layer(const struct elmo_model *m, struct elmo_bilm_ws *ws, int B,
                      const int32_t *n_tok, int Tsum, int l, const float *const in[2],
                      float *const *state) {
    struct elmo__ws *w = ws->priv;
    const struct elmo_options *o = &m->opt;
    const struct elmo_packed *pk = m->packed;
    const int P = o->P, D = o->D;
    const float cclip = o->cell_clip > 0.0f ? o->cell_clip : INFINITY;
    const float pclip = o->proj_clip > 0.0f ? o->proj_clip : INFINITY;
    const double t0 = elmo_now();
    /* stateless with the boundary steps recorded: every row starts after its first step and
       skips its last (whose output and state no one reads) */
    const bool edge = !state && w->edge_ready;
    /* the input projections */
    ws->times.flops += 2 * 2.0 * (edge ? Tsum - 2 * B : Tsum) * P * 4.0 * D;

    /* initial state, in length order */
    struct layer_run lr = {.m = m,
                           .w = w,
                           .B = B,
                           .l = l,
                           .n_tok = n_tok,
                           .in = {in[0], in[1]},
                           .state = state,
                           .edge = edge,
                           .capture = !state && w->edge_capture};
    for (int d = 0; d < 2; d++) {
        const size_t soff = ((size_t)d * o->L + (size_t)l) * ((size_t)D + (size_t)P);
        for (int k = 0; k < B; k++) {
            int b = w->order[k];
            float *hk = w->h[d] + (size_t)k * P, *ck = w->c[d] + (size_t)k * D;
            if (state) {
                memcpy(ck, state[b] + soff, sizeof(float) * D);
                memcpy(hk, state[b] + soff + D, sizeof(float) * P);
            } else if (edge) {
                memcpy(ck, w->edge_c + (size_t)(2 * l + d) * D, sizeof(float) * D);
                memcpy(hk, w->edge_h + (size_t)(2 * l + d) * P, sizeof(float) * P);
            } else {
                memset(ck, 0, sizeof(float) * D);
                memset(hk, 0, sizeof(float) * P);
            }
        }
        lr.cc[d] = (struct cell_ctx){D, cclip, w->c[d], w->mm[d]};
        lr.pc[d] = (struct proj_ctx){P, pclip, o->skip && l >= 1, w->h[d], w->y[d], w->pos[d]};
        lr.w0[d] = pk->wh[d][l];
        lr.w0[d].K = 0;
    }

    /* the steps: with 2 threads one direction each, else both in lockstep on all threads */
    const bool split = elmo_blas_threads() == 2;
    if (split) elmo__parallel(recur_task, &lr);
    else recur(&lr, 0, 2, false);
    ws->times.flops += lr.flops[0] + lr.flops[1];
    /* wall time of the input projections: the two threads' times overlap when split */
    const double t_in = (lr.t_in[0] + lr.t_in[1]) / (split ? 2.0 : 1.0);
    ws->times.lstm_in += t_in;

    if (state)
        for (int d = 0; d < 2; d++) {
            const size_t soff = ((size_t)d * o->L + (size_t)l) * ((size_t)D + (size_t)P);
            for (int k = 0; k < B; k++) {
                int b = w->order[k];
                memcpy(state[b] + soff, w->c[d] + (size_t)k * D, sizeof(float) * D);
                memcpy(state[b] + soff + D, w->h[d] + (size_t)k * P, sizeof(float) * P);
            }
        }
    ws->times.recur += elmo_now() - t0 - t_in;
}

void elmo_bilm_forward(const struct elmo_model *m, struct elmo_bilm_ws *ws, int B,
                       const int32_t *n_tok, const float *tok, float *const *state,
                       float *const *out) {
    struct elmo__ws *w = ws->priv;
    const struct elmo_options *o = &m->opt;
    const int P = o->P;
    if (B <= 0) return;
    ELMO_ASSERT(B <= ws->max_rows);
    ELMO_ASSERT(m->packed != NULL);
    double t0 = elmo_now();
    const double in0 = ws->times.lstm_in, rec0 = ws->times.recur;

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
        const float *in[2] = {l == 0 ? w->x0 : w->y[0], l == 0 ? w->x0 : w->y[1]};
        run_layer(m, ws, B, n_tok, Tsum, l, in, state);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < n_tok[b]; t++) {
                float *dst = out[l] + ((size_t)w->toff[b] + t) * 2 * P;
                size_t src = ((size_t)w->off[b] + 1 + t) * P;
                memcpy(dst, w->y[0] + src, sizeof(float) * P);
                memcpy(dst + P, w->y[1] + src, sizeof(float) * P);
            }
    }
    ws->times.other += elmo_now() - t0 - (ws->times.lstm_in - in0) - (ws->times.recur - rec0);
}
