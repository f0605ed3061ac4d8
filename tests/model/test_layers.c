/*
 * test_layers.c: each layer of the forward pass against a naive reference kept here (plain loops,
 * double accumulation, every conv position computed): the char CNN alone (no highway, no
 * projection), then with highway, then with the projection, with relu and tanh; the LSTM with both
 * clips active on one-token sentences (one step each way) and on whole sentences; the full biLM on
 * tiny random models, stateless and with carried stream state, with and without skip connections; a
 * core lent in the middle of a pass and the poll between products change no bit, nor does starting
 * a stateless pass after its recorded boundary step; the scalar mix; the parameter table and the
 * published counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/bilm.h"
#include "model/bilm_ws.h"
#include "model/fastmath.h"
#include "model/gemm.h"
#include "model/rng.h"
#include "model/status.h"
#include "tests/check.h"

/* ------------------------------------------------------------------------------------------ */
/* the naive reference */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Token vector of one token's ids (elmo-spec section 4), every position convolved. */
static void ref_token(const struct elmo_model *m, const int32_t *ids, float *out) {
    const struct elmo_options *o = &m->opt;
    int E = o->E, F = o->F;
    double *x = calloc((size_t)F, sizeof(double)), *y = calloc((size_t)F, sizeof(double));
    int foff = 0;
    for (int i = 0; i < o->n_filters; i++) {
        int w = o->filter_width[i], n = o->filter_count[i];
        for (int oc = 0; oc < n; oc++) {
            double best = -INFINITY;
            for (int p = 0; p + w <= ELMO_MAXC; p++) {
                double acc = m->cnn_b[i][oc];
                for (int k = 0; k < w; k++)
                    for (int e = 0; e < E; e++)
                        acc += (double)m->char_embed[(size_t)ids[p + k] * E + e] *
                               m->cnn_w[i][((size_t)k * E + e) * n + oc];
                if (acc > best) best = acc;
            }
            x[foff + oc] = o->activation == ELMO_ACT_TANH ? tanh(best) : (best > 0 ? best : 0);
        }
        foff += n;
    }
    for (int k = 0; k < o->n_highway; k++) {
        for (int j = 0; j < F; j++) {
            double g = m->hw_carry_b[k][j], t = m->hw_tr_b[k][j];
            for (int i = 0; i < F; i++) {
                g += x[i] * m->hw_carry_w[k][(size_t)i * F + j];
                t += x[i] * m->hw_tr_w[k][(size_t)i * F + j];
            }
            g = sigm(g);
            t = t > 0 ? t : 0;
            y[j] = g * t + (1 - g) * x[j];
        }
        memcpy(x, y, sizeof(double) * F);
    }
    if (o->has_cnn_proj) {
        for (int j = 0; j < o->P; j++) {
            double acc = m->proj_b[j];
            for (int i = 0; i < F; i++) acc += x[i] * m->proj_w[(size_t)i * o->P + j];
            out[j] = (float)acc;
        }
    } else {
        for (int j = 0; j < F; j++) out[j] = (float)x[j];
    }
    free(x);
    free(y);
}

static long clip_c_hits, clip_h_hits;

/*
 * The biLM on one sentence of n tokens (tok: (n, P)); state as in elmo_stream_state_floats
 * (NULL = zeros, not written back); out[l]: (n, 2P).
 */
static void ref_bilm(const struct elmo_model *m, int n, const float *tok, float *state,
                     float **out) {
    const struct elmo_options *o = &m->opt;
    int P = o->P, D = o->D, T = n + 2;
    int32_t ids[ELMO_MAXC];
    float *in = malloc(sizeof(float) * (size_t)T * P), *nx = malloc(sizeof(float) * (size_t)T * P);
    double *c = malloc(sizeof(double) * D), *h = malloc(sizeof(double) * P);
    double *z = malloc(sizeof(double) * 4 * D), *mm = malloc(sizeof(double) * D);
    for (int d = 0; d < 2; d++) {
        elmo_char_ids_bos(ids);
        ref_token(m, ids, in);
        memcpy(in + P, tok, sizeof(float) * (size_t)n * P);
        elmo_char_ids_eos(ids);
        ref_token(m, ids, in + (size_t)(T - 1) * P);
        for (int l = 0; l < o->L; l++) {
            const struct elmo_lstm_weights *w = &m->lstm[d][l];
            float *st = state ? state + ((size_t)d * o->L + l) * (D + P) : NULL;
            for (int j = 0; j < D; j++) c[j] = st ? st[j] : 0;
            for (int j = 0; j < P; j++) h[j] = st ? st[D + j] : 0;
            for (int s = 0; s < T; s++) {
                int t = d == 0 ? s : T - 1 - s;
                const float *x = in + (size_t)t * P;
                for (int g = 0; g < 4 * D; g++) {
                    double acc = w->b[g];
                    for (int i = 0; i < P; i++) acc += (double)x[i] * w->w[(size_t)i * 4 * D + g];
                    for (int i = 0; i < P; i++) acc += h[i] * w->w[(size_t)(P + i) * 4 * D + g];
                    z[g] = acc;
                }
                for (int j = 0; j < D; j++) {
                    double cc = sigm(z[2 * D + j] + 1.0) * c[j] + sigm(z[j]) * tanh(z[D + j]);
                    if (o->cell_clip > 0 && fabs(cc) > o->cell_clip) {
                        cc = cc > 0 ? o->cell_clip : -o->cell_clip;
                        clip_c_hits++;
                    }
                    c[j] = cc;
                    mm[j] = sigm(z[3 * D + j]) * tanh(cc);
                }
                if (o->has_lstm_proj) {
                    for (int j = 0; j < P; j++) {
                        double acc = 0;
                        for (int i = 0; i < D; i++) acc += mm[i] * w->wp[(size_t)i * P + j];
                        if (o->proj_clip > 0 && fabs(acc) > o->proj_clip) {
                            acc = acc > 0 ? o->proj_clip : -o->proj_clip;
                            clip_h_hits++;
                        }
                        h[j] = acc;
                    }
                } else {
                    for (int j = 0; j < P; j++) h[j] = mm[j];
                }
                for (int j = 0; j < P; j++)
                    nx[(size_t)t * P + j] = (float)(h[j] + (o->skip && l >= 1 ? x[j] : 0.0));
            }
            if (state) {
                for (int j = 0; j < D; j++) st[j] = (float)c[j];
                for (int j = 0; j < P; j++) st[D + j] = (float)h[j];
            }
            for (int t = 1; t <= n; t++)
                memcpy(out[l] + ((size_t)(t - 1) * 2 + d) * P, nx + (size_t)t * P,
                       sizeof(float) * P);
            memcpy(in, nx, sizeof(float) * (size_t)T * P);
        }
    }
    free(in), free(nx), free(c), free(h), free(z), free(mm);
}

/* ------------------------------------------------------------------------------------------ */

static double max_rel(const float *a, const float *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (d > e) e = d;
    }
    return e;
}

static struct elmo_options tiny(int H, bool proj, bool lstm_proj, int L, bool skip) {
    struct elmo_options o;
    memset(&o, 0, sizeof o);
    o.E = 3;
    o.n_filters = 3;
    o.filter_width[0] = 1, o.filter_count[0] = 2;
    o.filter_width[1] = 2, o.filter_count[1] = 3;
    o.filter_width[2] = 4, o.filter_count[2] = 4;
    o.F = 9;
    o.n_highway = H;
    o.n_characters = 262;
    o.max_chars = ELMO_MAXC;
    o.activation = ELMO_ACT_RELU;
    o.D = lstm_proj ? 11 : (proj ? 6 : 9);
    o.P = proj ? 6 : 9;
    o.L = L;
    o.cell_clip = 0.6f;
    o.proj_clip = 0.25f;
    o.skip = skip;
    o.has_cnn_proj = proj;
    o.has_lstm_proj = lstm_proj;
    return o;
}

static const char *words[] = {"the",
                              "U.S.",
                              "Centers",
                              "a",
                              ".",
                              "supercalifragilistic",
                              "<S>",
                              "</S>",
                              "\xC3\xA9t\xC3\xA9",
                              "x",
                              "emoji\xF0\x9F\x98\x80",
                              "0123456789012345678901234567890123456789012345678901234"};
#define NWORDS ((int)(sizeof words / sizeof words[0]))

static void test_token(struct elmo_options o, const char *what) {
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 7);
    struct elmo_bilm_ws ws;
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, 4, 64, NWORDS));
    int32_t ids[NWORDS * ELMO_MAXC + ELMO_MAXC];
    for (int v = 0; v < NWORDS; v++)
        elmo_char_ids(words[v], strlen(words[v]), ids + (size_t)v * ELMO_MAXC);
    int V = NWORDS + 1; /* plus an all-zero padding token */
    memset(ids + (size_t)NWORDS * ELMO_MAXC, 0, sizeof(int32_t) * ELMO_MAXC);
    int P = o.has_cnn_proj ? o.P : o.F;
    float *got = malloc(sizeof(float) * (size_t)V * P), *want = malloc(sizeof(float) * P);
    elmo_token_embed(&m, &ws, V, ids, got);
    double e = 0;
    for (int v = 0; v < V; v++) {
        ref_token(&m, ids + (size_t)v * ELMO_MAXC, want);
        double ev = max_rel(got + (size_t)v * P, want, (size_t)P);
        if (ev > e) e = ev;
    }
    printf("token vector, %s: max rel err %.3g\n", what, e);
    CHECK(e < 1e-5);
    free(got), free(want);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
}

static float frand(struct elmo_rng *r) { return elmo_rng_uniform(r, -1.0f, 1.0f); }

/* Runs batches through elmo_bilm_forward and the reference; returns the max rel error. */
static double run_bilm(struct elmo_options o, float wscale, int B, const int32_t *n_tok,
                       bool stateful, int rounds, const char *what) {
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 11);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o.L; l++)
            for (size_t i = 0; i < (size_t)2 * o.P * 4 * o.D; i++) m.lstm[d][l].w[i] *= wscale;
    struct elmo_bilm_ws ws;
    int Ntot = 0;
    for (int b = 0; b < B; b++) Ntot += n_tok[b];
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, B, Ntot + 2 * B, 16));
    const int P = o.P, L = o.L;
    struct elmo_rng r;
    elmo_rng_seed(&r, 5);
    float *tok = malloc(sizeof(float) * (size_t)Ntot * P);
    float *outs[ELMO_MAX_LAYERS], *refo[ELMO_MAX_LAYERS];
    for (int l = 0; l < L; l++) {
        outs[l] = malloc(sizeof(float) * (size_t)Ntot * 2 * P);
        refo[l] = malloc(sizeof(float) * (size_t)Ntot * 2 * P);
    }
    size_t sfl = elmo_stream_state_floats(&o);
    float *st = calloc((size_t)B * sfl, sizeof(float)), *rst = calloc((size_t)B * sfl, 4);
    float *sp[64];
    for (int b = 0; b < B; b++) sp[b] = st + (size_t)b * sfl;
    double e = 0;
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < (size_t)Ntot * P; i++) tok[i] = frand(&r);
        elmo_bilm_forward(&m, &ws, B, n_tok, tok, stateful ? sp : NULL, outs);
        size_t off = 0;
        for (int b = 0; b < B; b++) {
            float *ro[ELMO_MAX_LAYERS];
            for (int l = 0; l < L; l++) ro[l] = refo[l] + off * 2 * P;
            ref_bilm(&m, n_tok[b], tok + off * P, stateful ? rst + (size_t)b * sfl : NULL, ro);
            off += (size_t)n_tok[b];
        }
        for (int l = 0; l < L; l++) {
            double el = max_rel(outs[l], refo[l], (size_t)Ntot * 2 * P);
            if (el > e) e = el;
        }
        if (stateful) {
            double es = max_rel(st, rst, (size_t)B * sfl);
            if (es > e) e = es;
        }
    }
    printf("biLM, %s: max rel err %.3g\n", what, e);
    free(tok), free(st), free(rst);
    for (int l = 0; l < L; l++) free(outs[l]), free(refo[l]);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
    return e;
}

/* A lender of cores (model/gemm.h) that grants one core at its `at`-th question. */
static int lend_calls, lend_at;
static int lend_one(void *ctx, int threads) {
    (void)ctx;
    (void)threads;
    return ++lend_calls == lend_at ? 1 : 0;
}

/* A poll between products (model/gemm.h) counting its calls, and those that came before the
 * lender's question of the same call. */
static int polls, polls_before_lender;
static void count_poll(void *ctx) {
    int *n = ctx;
    ++*n;
    if (lend_calls == *n - 1) polls_before_lender++;
}

/* One forward pass of the 64-row batch on one thread, with a lender granting a second thread
 * at the at-th product call (0: none); the layers' outputs into out. */
static void forward_lent(struct elmo_model *m, struct elmo_bilm_ws *ws, const int32_t *n_tok,
                         const float *tok, int at, float **out) {
    elmo_blas_set_threads(1);
    lend_calls = 0;
    lend_at = at;
    if (at) elmo_blas_set_lender(lend_one, NULL);
    elmo_bilm_forward(m, ws, 64, n_tok, tok, NULL, out);
    elmo_blas_set_lender(NULL, NULL);
    if (at) {
        CHECK(lend_calls >= at);              /* the lender was asked at every parallel call */
        CHECK_INT_EQ(elmo_blas_threads(), 2); /* and its core was used from then on */
    }
    elmo_blas_set_threads(1);
}

/* Threads lent in the middle of a batch (a rank taking the core of a finished one) leave every
 * bit of the outputs as on one thread: granted before the first layer, in the middle of the
 * first layer's steps, and before the second layer. */
static void test_lender(void) {
    struct elmo_options o = tiny(1, true, true, 2, true);
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 17);
    int32_t n_tok[64];
    int ntot = 0;
    for (int b = 0; b < 64; b++) n_tok[b] = 5 + (b * 7) % 37, ntot += n_tok[b];
    struct elmo_bilm_ws ws;
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, 64, ntot + 2 * 64, 16));
    const size_t n = (size_t)ntot * 2 * o.P;
    float *tok = malloc(sizeof(float) * (size_t)ntot * o.P);
    float *one[2], *lent[2];
    for (int l = 0; l < 2; l++)
        one[l] = malloc(sizeof(float) * n), lent[l] = malloc(sizeof(float) * n);
    struct elmo_rng r;
    elmo_rng_seed(&r, 9);
    for (int i = 0; i < ntot * o.P; i++) tok[i] = frand(&r);
    forward_lent(&m, &ws, n_tok, tok, 0, one);
    /* how many product calls one pass makes, to grant a core in the middle of it */
    lend_calls = 0;
    lend_at = -1;
    elmo_blas_set_lender(lend_one, NULL);
    elmo_bilm_forward(&m, &ws, 64, n_tok, tok, NULL, lent);
    elmo_blas_set_lender(NULL, NULL);
    const int calls = lend_calls;
    printf("lender: %d parallel product calls in one pass\n", calls);
    CHECK(calls > 8);
    /* the poll between products: called once per parallel call, before the lender; no bit
       changes; NULL stops it */
    polls = polls_before_lender = 0;
    lend_calls = 0;
    elmo_blas_set_poll(count_poll, &polls);
    elmo_blas_set_lender(lend_one, NULL);
    elmo_bilm_forward(&m, &ws, 64, n_tok, tok, NULL, lent);
    elmo_blas_set_lender(NULL, NULL);
    elmo_blas_set_poll(NULL, NULL);
    CHECK_INT_EQ(polls, calls);
    CHECK_INT_EQ(polls_before_lender, calls);
    for (int l = 0; l < 2; l++) CHECK(memcmp(one[l], lent[l], sizeof(float) * n) == 0);
    elmo_bilm_forward(&m, &ws, 64, n_tok, tok, NULL, lent);
    CHECK_INT_EQ(polls, calls);
    const int at[3] = {1, calls / 4, calls / 2 + 1};
    for (int k = 0; k < 3; k++) {
        forward_lent(&m, &ws, n_tok, tok, at[k], lent);
        for (int l = 0; l < 2; l++) CHECK(memcmp(one[l], lent[l], sizeof(float) * n) == 0);
    }
    free(tok);
    for (int l = 0; l < 2; l++) free(one[l]), free(lent[l]);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
}

/* A stateless pass starts after the boundary step recorded by elmo_bilm_ws_init and skips the
 * last one; running every step (the record set aside) gives the same bits, with and without the
 * state projection and skip connections, on one and two threads. */
static void check_edge(bool lstm_proj, bool skip, int threads) {
    struct elmo_options o = tiny(1, true, lstm_proj, 2, skip);
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 23);
    int32_t n_tok[9] = {0, 1, 7, 3, 12, 1, 5, 0, 9};
    int ntot = 0;
    for (int b = 0; b < 9; b++) ntot += n_tok[b];
    elmo_blas_set_threads(threads);
    struct elmo_bilm_ws ws;
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, 9, ntot + 2 * 9, 16));
    struct elmo__ws *pw = ws.priv;
    CHECK(pw->edge_ready);
    const size_t n = (size_t)ntot * 2 * o.P;
    float *tok = malloc(sizeof(float) * (size_t)ntot * o.P);
    float *a[2], *b[2];
    for (int l = 0; l < 2; l++) a[l] = calloc(n, sizeof(float)), b[l] = calloc(n, sizeof(float));
    struct elmo_rng r;
    elmo_rng_seed(&r, 5);
    for (int i = 0; i < ntot * o.P; i++) tok[i] = frand(&r);
    elmo_bilm_forward(&m, &ws, 9, n_tok, tok, NULL, a);
    const double run = ws.times.flops;
    pw->edge_ready = false;
    elmo_bilm_forward(&m, &ws, 9, n_tok, tok, NULL, b);
    pw->edge_ready = true;
    for (int l = 0; l < 2; l++) CHECK(memcmp(a[l], b[l], sizeof(float) * n) == 0);
    CHECK(run < ws.times.flops - run); /* fewer products run */
    free(tok);
    for (int l = 0; l < 2; l++) free(a[l]), free(b[l]);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
    elmo_blas_set_threads(1);
}

static void test_edge(void) {
    check_edge(true, true, 1);
    check_edge(false, false, 1);
    check_edge(true, false, 2);
}

static void test_mix(void) {
    enum { K = 3, N = 4, DIM = 6 };
    struct elmo_rng r;
    elmo_rng_seed(&r, 3);
    float data[K][N * DIM];
    const float *layers[K];
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < N * DIM; i++) data[k][i] = frand(&r) * (float)(k + 1) + (float)k;
        layers[k] = data[k];
    }
    float s[K] = {0.5f, -1.0f, 2.0f}, out[N * DIM];
    for (int ln = 0; ln < 2; ln++) {
        elmo_scalar_mix(K, N, DIM, layers, s, 1.5f, ln, out);
        double z = 0, w[K];
        for (int k = 0; k < K; k++) z += exp(s[k]);
        for (int k = 0; k < K; k++) w[k] = exp(s[k]) / z;
        double e = 0;
        for (int i = 0; i < N * DIM; i++) {
            double want = 0;
            for (int k = 0; k < K; k++) {
                double x = data[k][i];
                if (ln) {
                    double mean = 0, var = 0;
                    for (int j = 0; j < N * DIM; j++) mean += data[k][j];
                    mean /= N * DIM;
                    for (int j = 0; j < N * DIM; j++)
                        var += (data[k][j] - mean) * (data[k][j] - mean);
                    var /= N * DIM;
                    x = (x - mean) / sqrt(var + 1e-12);
                }
                want += w[k] * x;
            }
            want *= 1.5;
            e = fmax(e, fabs(want - out[i]));
        }
        CHECK(e < 1e-5);
    }
    /* zero weights: the plain mean */
    float s0[K] = {0, 0, 0};
    elmo_scalar_mix(K, N, DIM, layers, s0, 1.0f, false, out);
    CHECK_NEAR(out[5], (data[0][5] + data[1][5] + data[2][5]) / 3.0, 1e-6);
}

/* The vectorizable exp / sigmoid / tanh against double math: a few ulp. */
static void test_fastmath(void) {
    double e_exp = 0, e_sig = 0, e_tanh = 0;
    for (int i = -2000000; i <= 2000000; i++) {
        float x = (float)i * 4.35e-5f; /* -87 .. 87 */
        double want = exp((double)x);
        e_exp = fmax(e_exp, fabs(elmo__expf(x) - want) / want);
        double s = 1.0 / (1.0 + exp(-(double)x));
        e_sig = fmax(e_sig, fabs(elmo__sigmoidf(x) - s) / s);
        float t = x * 0.2f;
        double tw = tanh((double)t);
        if (t != 0.0f) e_tanh = fmax(e_tanh, fabs(elmo__tanhf(t) - tw) / fabs(tw));
    }
    for (int k = 1; k < 40; k++) { /* tiny arguments keep full relative precision */
        float t = ldexpf(1.2345f, -k);
        e_tanh = fmax(e_tanh, fabs(elmo__tanhf(t) - tanh((double)t)) / tanh((double)t));
    }
    printf("fast math: max rel err exp %.3g, sigmoid %.3g, tanh %.3g\n", e_exp, e_sig, e_tanh);
    CHECK(e_exp < 5e-7 && e_sig < 5e-7 && e_tanh < 5e-7);
    CHECK(elmo__expf(-1000.0f) >= 0.0f && elmo__expf(-1000.0f) < 1e-37f);
    CHECK(isfinite(elmo__expf(1000.0f)));
    CHECK(elmo__sigmoidf(-1000.0f) < 1e-37f && elmo__sigmoidf(1000.0f) == 1.0f);
    CHECK(elmo__tanhf(50.0f) == 1.0f && elmo__tanhf(-50.0f) == -1.0f);
    CHECK(elmo__tanhf(0.0f) == 0.0f);
}

static void test_counts(void) {
    struct elmo_options o;
    const char *names[] = {"small", "medium", "original", "fixture"};
    const size_t want[] = {13593296, 28027728, 93600848, 105120};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(elmo_options_preset(names[i], &o));
        CHECK_INT_EQ(elmo_options_param_count(&o), want[i]);
    }
    CHECK(elmo_options_preset("huge", &o) == ELMO_ERR_ARG);
    CHECK_OK(elmo_options_preset("original", &o));
    double f = elmo_options_flops_per_token(&o);
    printf("original: %.1f MFLOP per token\n", f / 1e6);
    CHECK(f > 200e6 && f < 210e6);
    /* the parameter table: names, shapes, and the block holds them all */
    CHECK_OK(elmo_options_preset("fixture", &o));
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    struct elmo_param p[64];
    int n = elmo_model_params(&m, p, 64);
    CHECK_INT_EQ(n, 1 + 10 + 8 + 2 + 12);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        total += elmo_param_numel(&p[i]);
        CHECK(p[i].data >= m.block && p[i].data + elmo_param_numel(&p[i]) <= m.block + m.n_params);
    }
    CHECK_INT_EQ(total, 105120);
    CHECK_STR_EQ(p[0].name, "char_embed");
    CHECK_INT_EQ(p[0].dims[0], 261);
    CHECK_STR_EQ(p[n - 1].name, "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0");
    CHECK_STR_EQ(p[3].name, "CNN/W_cnn_1");
    CHECK_INT_EQ(p[3].dims[1], 2);
    /* randomize is seeded: same seed, same weights; zero row stays zero */
    struct elmo_model m2;
    CHECK_OK(elmo_model_init(&m2, &o));
    elmo_model_randomize(&m, 42);
    elmo_model_randomize(&m2, 42);
    CHECK(!memcmp(m.block, m2.block, sizeof(float) * m.n_params));
    for (int e = 0; e < o.E; e++) CHECK(m.char_embed[e] == 0.0f);
    elmo_model_randomize(&m2, 43);
    CHECK(memcmp(m.block, m2.block, sizeof(float) * m.n_params) != 0);
    elmo_model_free(&m2);
    elmo_model_free(&m);
    elmo_model_free(&m); /* twice is fine */
    /* bad options name the key */
    o.P = o.D + 1;
    CHECK(elmo_options_check(&o) < 0);
    CHECK(strstr(elmo_errmsg(), "lstm.projection_dim") != NULL);
}

int main(void) {
    /* char CNN alone (F == P: no projection, no highway) */
    struct elmo_options o = tiny(0, false, false, 1, true);
    test_token(o, "char CNN (relu)");
    o.activation = ELMO_ACT_TANH;
    test_token(o, "char CNN (tanh)");
    test_token(tiny(1, false, false, 1, true), "char CNN + highway");
    test_token(tiny(2, true, true, 1, true), "char CNN + 2 highway + projection");

    /* one LSTM step each way (one-token sentences) with both clips active */
    clip_c_hits = clip_h_hits = 0;
    int32_t one[3] = {1, 1, 1};
    CHECK(run_bilm(tiny(1, true, true, 1, false), 3.0f, 3, one, false, 1,
                   "one layer, 1-token sentences, clipping") < 1e-4);
    printf("  cell clip hit %ld times, proj clip %ld times\n", clip_c_hits, clip_h_hits);
    CHECK(clip_c_hits > 0 && clip_h_hits > 0);

    /* the full biLM, several lengths in one batch */
    int32_t lens[6] = {4, 1, 9, 4, 2, 7};
    CHECK(run_bilm(tiny(1, true, true, 2, true), 1.0f, 6, lens, false, 1, "L=2, skip, stateless") <
          1e-4);
    CHECK(run_bilm(tiny(1, true, true, 3, true), 2.0f, 6, lens, false, 1,
                   "L=3, skip, clipping, stateless") < 1e-4);
    CHECK(run_bilm(tiny(1, true, true, 2, false), 1.0f, 6, lens, false, 1,
                   "L=2, no skip, stateless") < 1e-4);
    CHECK(run_bilm(tiny(1, true, false, 2, true), 1.0f, 6, lens, false, 1,
                   "L=2, no LSTM projection (P == D)") < 1e-4);
    clip_c_hits = clip_h_hits = 0;
    CHECK(run_bilm(tiny(1, true, true, 2, true), 2.0f, 6, lens, true, 3,
                   "L=2, skip, 3 rounds of carried stream state") < 1e-4);
    CHECK(clip_c_hits > 0 && clip_h_hits > 0);

    /* a batch of more positions than the input projections computed at once (1024 rows), so
       the steps take their projections from several runs */
    int32_t many[64];
    int many_pos = 0;
    for (int b = 0; b < 64; b++) many[b] = 5 + (b * 7) % 37, many_pos += many[b] + 2;
    CHECK(many_pos > 1024);
    CHECK(run_bilm(tiny(1, true, true, 2, true), 1.0f, 64, many, false, 1,
                   "64 rows, several runs of input projections") < 1e-4);
    CHECK(run_bilm(tiny(1, true, true, 2, true), 2.0f, 64, many, true, 2,
                   "64 rows, several runs, carried stream state") < 1e-4);
    test_lender();
    test_edge();
    test_mix();
    test_fastmath();
    test_counts();
    return CHECK_REPORT();
}
