/*
 * test_tagger.c: the BiLSTM tagger (model/tagger.c) against a naive double-precision reference
 * kept here (plain loops, one sentence at a time, every LSTM step written out).
 *
 * - the forward loss equals the reference's, with and without dropout (the reference uses the
 *   masks the tagger drew);
 * - every layer's gradient (the mix: layer weights and gamma; both LSTMs: kernel and bias; the
 *   dense layer; the CRF's transitions, start and end scores; the loss layer against its
 *   logits) equals central finite differences of the reference in double precision (eps
 *   1e-5), on sampled entries of every tensor, for the softmax and the CRF output, with and
 *   without extra inputs after the mix;
 * - the CRF output decodes the Viterbi sequence and its marginals sum to 1;
 * - a sentence's probabilities and dropout masks do not depend on its batch;
 * - per-tensor clipping, Adam's update, and a toy problem that the tagger learns.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/crf.h"
#include "model/optim.h"
#include "model/rng.h"
#include "model/status.h"
#include "model/tagger.h"
#include "tests/check.h"

/* ------------------------------------------------------------------------------------------ */
/* the reference */

static double dsig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The tensors of a double block laid out as the tagger's. */
struct dviews {
    const double *s, *gamma, *fw_w, *fw_b, *bw_w, *bw_b, *out_w, *out_b, *tr, *st, *en;
};

static void dviews(const struct elmo_tagger_config *c, const double *blk, struct dviews *v) {
    struct elmo_tagger_tensor t[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(c, t);
    const double **dst[] = {&v->s,     &v->gamma, &v->fw_w, &v->fw_b, &v->bw_w, &v->bw_b,
                            &v->out_w, &v->out_b, &v->tr,   &v->st,   &v->en};
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) *dst[i] = blk + t[i].offset;
}

/* log sum exp of n doubles. */
static double dlse(const double *x, int n) {
    double m = x[0], s = 0;
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}

/* The CRF's negative log-likelihood of gold for logits lg (L, V): the forward algorithm. */
static double ref_crf_nll(const struct dviews *p, int L, int V, const double *lg,
                          const int32_t *gold) {
    double a[ELMO_TAGGER_MAX_TAGS], na[ELMO_TAGGER_MAX_TAGS], tmp[ELMO_TAGGER_MAX_TAGS];
    for (int j = 0; j < V; j++) a[j] = p->st[j] + lg[j];
    for (int t = 1; t < L; t++) {
        for (int j = 0; j < V; j++) {
            for (int i = 0; i < V; i++) tmp[i] = a[i] + p->tr[i * V + j];
            na[j] = dlse(tmp, V) + lg[t * V + j];
        }
        memcpy(a, na, sizeof(double) * (size_t)V);
    }
    for (int j = 0; j < V; j++) a[j] += p->en[j];
    double gs = p->st[gold[0]] + p->en[gold[L - 1]];
    for (int t = 0; t < L; t++) gs += lg[t * V + gold[t]] + (t ? p->tr[gold[t - 1] * V + gold[t]] : 0);
    return dlse(a, V) - gs;
}

/*
 * The summed loss of a batch (cross-entropy, or the CRF's nll), computed from scratch in
 * double; masks in token order as the tagger's workspace has them; logits_out (optional) gets
 * the logits of every token.
 */
static double ref_loss(const struct elmo_tagger_config *c, const double *blk,
                       const struct elmo_tagger_batch *b, const float *mask_in0,
                       const float *mask_in1, const float *mask_out, double *logits_out) {
    const int K = c->K, D = c->D, E = c->E, DI = D + E, H = c->H, V = c->n_tags, G = 4 * H;
    struct dviews p;
    dviews(c, blk, &p);
    double w[16], smax = -1e300, z = 0;
    for (int k = 0; k < K; k++) smax = p.s[k] > smax ? p.s[k] : smax;
    for (int k = 0; k < K; k++) z += (w[k] = exp(p.s[k] - smax));
    for (int k = 0; k < K; k++) w[k] /= z;
    double loss = 0.0;
    int row0 = 0;
    for (int s = 0; s < b->B; s++) {
        int L = b->len[s];
        double *x = calloc((size_t)L * DI, sizeof(double));
        double *out = calloc((size_t)L * 2 * H, sizeof(double));
        double *lgs = calloc((size_t)L * V, sizeof(double));
        for (int t = 0; t < L; t++) {
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int k = 0; k < K; k++) acc += w[k] * b->feat[s][((size_t)t * K + k) * D + d];
                x[(size_t)t * DI + d] = p.gamma[0] * acc;
            }
            for (int e = 0; e < E; e++) x[(size_t)t * DI + D + e] = b->extra[s][(size_t)t * E + e];
        }
        for (int dir = 0; dir < 2; dir++) {
            const double *W = dir ? p.bw_w : p.fw_w, *bias = dir ? p.bw_b : p.fw_b;
            const float *mi = dir ? mask_in1 : mask_in0;
            double *h = calloc((size_t)H, sizeof(double)), *cc = calloc((size_t)H, sizeof(double));
            double *a = calloc((size_t)G, sizeof(double));
            for (int step = 0; step < L; step++) {
                int t = dir ? L - 1 - step : step;
                for (int j = 0; j < G; j++) {
                    double acc = bias[j];
                    for (int d = 0; d < DI; d++)
                        acc += x[(size_t)t * DI + d] * mi[(size_t)(row0 + t) * DI + d] *
                               W[(size_t)d * G + j];
                    for (int k = 0; k < H; k++) acc += h[k] * W[(size_t)(DI + k) * G + j];
                    a[j] = acc;
                }
                for (int j = 0; j < H; j++) {
                    double ig = dsig(a[j]), jg = tanh(a[H + j]);
                    double fg = dsig(a[2 * H + j] + c->forget_bias), og = dsig(a[3 * H + j]);
                    cc[j] = fg * cc[j] + ig * jg;
                    h[j] = og * tanh(cc[j]);
                    out[(size_t)t * 2 * H + (size_t)dir * H + j] =
                        h[j] * mask_out[(size_t)(row0 + t) * 2 * H + (size_t)dir * H + j];
                }
            }
            free(h), free(cc), free(a);
        }
        for (int t = 0; t < L; t++) {
            double lg[ELMO_TAGGER_MAX_TAGS], mx = -1e300, sum = 0;
            for (int v = 0; v < V; v++) {
                double acc = p.out_b[v];
                for (int j = 0; j < 2 * H; j++)
                    acc += out[(size_t)t * 2 * H + j] * p.out_w[(size_t)j * V + v];
                lg[v] = acc;
                lgs[(size_t)t * V + v] = acc;
                mx = acc > mx ? acc : mx;
                if (logits_out) logits_out[(size_t)(row0 + t) * V + v] = acc;
            }
            for (int v = 0; v < V; v++) sum += exp(lg[v] - mx);
            if (b->gold && c->output == ELMO_TAGGER_SOFTMAX) loss += log(sum) + mx - lg[b->gold[s][t]];
        }
        if (b->gold && c->output == ELMO_TAGGER_CRF) loss += ref_crf_nll(&p, L, V, lgs, b->gold[s]);
        free(x), free(out), free(lgs);
        row0 += L;
    }
    return loss;
}

/* ------------------------------------------------------------------------------------------ */
/* a small random problem */

struct problem {
    struct elmo_tagger_config cfg;
    int B;
    int32_t len[8];
    float *feat[8];
    float *extra[8];
    int32_t *gold[8];
    uint64_t seed[8];
    struct elmo_tagger_batch batch;
};

static void problem_make_out(struct problem *pb, int K, int D, int H, int V, float keep, int B,
                             const int *lens, uint64_t seed, int E, int output) {
    memset(pb, 0, sizeof *pb);
    pb->cfg = (struct elmo_tagger_config){K, D, H, V, keep, 1.0f, E, output};
    pb->B = B;
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    for (int s = 0; s < B; s++) {
        pb->len[s] = lens[s];
        pb->feat[s] = malloc(sizeof(float) * (size_t)lens[s] * K * D);
        pb->extra[s] = malloc(sizeof(float) * ((size_t)lens[s] * E + 1));
        for (int i = 0; i < lens[s] * E; i++) pb->extra[s][i] = elmo_rng_uniform(&r, -1.0f, 1.0f);
        pb->gold[s] = malloc(sizeof(int32_t) * (size_t)lens[s]);
        for (int i = 0; i < lens[s] * K * D; i++)
            pb->feat[s][i] = elmo_rng_uniform(&r, -1.5f, 1.5f);
        for (int i = 0; i < lens[s]; i++)
            pb->gold[s][i] = (int32_t)(elmo_rng_next(&r) % (uint64_t)V);
        pb->seed[s] = 1000 + (uint64_t)s;
    }
    pb->batch.B = B;
    pb->batch.len = pb->len;
    pb->batch.feat = (const float *const *)pb->feat;
    pb->batch.extra = E > 0 ? (const float *const *)pb->extra : NULL;
    pb->batch.gold = (const int32_t *const *)pb->gold;
    pb->batch.drop_seed = keep < 1.0f ? pb->seed : NULL;
}

static void problem_make(struct problem *pb, int K, int D, int H, int V, float keep, int B,
                         const int *lens, uint64_t seed) {
    problem_make_out(pb, K, D, H, V, keep, B, lens, seed, 0, ELMO_TAGGER_SOFTMAX);
}

static void problem_free(struct problem *pb) {
    for (int s = 0; s < pb->B; s++) free(pb->feat[s]), free(pb->gold[s]), free(pb->extra[s]);
}

/* Random parameters, larger than the initial ones so that every gate is exercised. */
static void random_params(struct elmo_tagger *t, uint64_t seed) {
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    struct elmo_tagger_tensor tt[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(&t->cfg, tt);
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++)
        for (size_t j = 0; j < tt[i].numel; j++)
            t->block[tt[i].offset + j] = elmo_rng_uniform(&r, -0.6f, 0.6f);
    t->p.gamma[0] = 1.3f;
}

/* ------------------------------------------------------------------------------------------ */

/*
 * Forward loss vs the reference, then every tensor's gradient vs central differences; E extra
 * inputs, output softmax or crf.
 */
static void check_gradients(float keep, const int *lens, int B, int E, int output) {
    struct problem pb;
    problem_make_out(&pb, 3, 5, 4, 5, keep, B, lens, 7, E, output);
    struct elmo_tagger t;
    struct elmo_tagger_ws ws = {0};
    CHECK_OK(elmo_tagger_init(&t, &pb.cfg));
    random_params(&t, 11);
    double loss = -1;
    CHECK_OK(elmo_tagger_forward(&t, &ws, &pb.batch, &loss));
    int N = ws.n_tok;
    if (keep < 1.0f) {
        /* some units are dropped and the kept ones are scaled by 1 / keep */
        int zeros = 0, kept = 0;
        const int DI = pb.cfg.D + pb.cfg.E;
        for (int i = 0; i < N * DI; i++) {
            zeros += ws.mask_in[0][i] == 0.0f;
            kept += fabsf(ws.mask_in[0][i] - 1.0f / keep) < 1e-6f;
        }
        CHECK(zeros > 0 && kept > 0 && zeros + kept == N * DI);
    }

    size_t nf = t.n_floats;
    double *blk = malloc(sizeof(double) * nf);
    for (size_t i = 0; i < nf; i++) blk[i] = t.block[i];
    double ref = ref_loss(&pb.cfg, blk, &pb.batch, ws.mask_in[0], ws.mask_in[1], ws.mask_out, NULL);
    CHECK_NEAR(loss, ref, 1e-4 * fabs(ref));

    const float scale = 1.0f / (float)N;
    float *grad = calloc(nf, sizeof(float));
    elmo_tagger_backward(&t, &ws, &pb.batch, scale, grad);

    struct elmo_tagger_tensor tt[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(&pb.cfg, tt);
    struct elmo_rng r;
    elmo_rng_seed(&r, 5);
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) {
        if (tt[i].numel == 0) continue; /* the CRF's tensors of a softmax tagger */
        int n_check = tt[i].numel < 24 ? (int)tt[i].numel : 24;
        double worst = 0.0, gmax = 0.0;
        for (int c = 0; c < n_check; c++) {
            size_t j = tt[i].numel <= 24 ? (size_t)c : (size_t)(elmo_rng_next(&r) % tt[i].numel);
            size_t at = tt[i].offset + j;
            const double eps = 1e-5, x0 = blk[at];
            blk[at] = x0 + eps;
            double lp =
                ref_loss(&pb.cfg, blk, &pb.batch, ws.mask_in[0], ws.mask_in[1], ws.mask_out, NULL);
            blk[at] = x0 - eps;
            double lm =
                ref_loss(&pb.cfg, blk, &pb.batch, ws.mask_in[0], ws.mask_in[1], ws.mask_out, NULL);
            blk[at] = x0;
            double fd = scale * (lp - lm) / (2 * eps);
            double err = fabs(fd - grad[at]) / (fabs(fd) + 1e-3);
            worst = err > worst ? err : worst;
            gmax = fabs(fd) > gmax ? fabs(fd) : gmax;
        }
        if (worst > 2e-3)
            fprintf(stderr, "tensor %s: worst relative error %.3g (keep %.1f, E %d, output %d)\n",
                    tt[i].name, worst, (double)keep, E, output);
        CHECK(worst <= 2e-3);
        /* the gradient is not trivially zero (one token has no transition) */
        if (!(B == 1 && lens[0] == 1 && !strcmp(tt[i].name, "crf/transitions")))
            CHECK(gmax > 1e-6);
    }
    free(grad);
    free(blk);
    elmo_tagger_ws_free(&ws);
    elmo_tagger_free(&t);
    problem_free(&pb);
}

/* The loss layer: dlogits vs central differences of the summed cross-entropy. */
static void check_xent(void) {
    const int n = 3, V = 6;
    float logits[18], prob[18], dl[18];
    int32_t gold[3] = {0, 5, 2};
    struct elmo_rng r;
    elmo_rng_seed(&r, 3);
    for (int i = 0; i < n * V; i++) logits[i] = elmo_rng_uniform(&r, -3, 3);
    double loss = elmo_tagger_xent(n, V, logits, gold, 0.5f, prob, dl);
    double ref = 0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += exp(logits[i * V + v]);
        ref += log(s) - logits[i * V + gold[i]];
        double ps = 0;
        for (int v = 0; v < V; v++) ps += prob[i * V + v];
        CHECK_NEAR(ps, 1.0, 1e-6);
    }
    CHECK_NEAR(loss, ref, 1e-6);
    for (int k = 0; k < n * V; k++) {
        float x0 = logits[k];
        const float eps = 1e-2f;
        logits[k] = x0 + eps;
        double lp = elmo_tagger_xent(n, V, logits, gold, 1, prob, NULL);
        logits[k] = x0 - eps;
        double lm = elmo_tagger_xent(n, V, logits, gold, 1, prob, NULL);
        logits[k] = x0;
        CHECK_NEAR(dl[k], 0.5 * (lp - lm) / (2 * eps), 2e-4);
    }
}

/* A sentence's probabilities and masks do not depend on the other sentences of its batch. */
static void check_batch_independence(void) {
    int lens[5] = {7, 3, 9, 1, 4};
    struct problem pb;
    problem_make(&pb, 3, 6, 8, 4, 0.7f, 5, lens, 17);
    struct elmo_tagger t;
    struct elmo_tagger_ws ws = {0}, ws1 = {0};
    CHECK_OK(elmo_tagger_init(&t, &pb.cfg));
    random_params(&t, 19);
    for (int drop = 0; drop < 2; drop++) {
        pb.batch.drop_seed = drop ? pb.seed : NULL;
        CHECK_OK(elmo_tagger_forward(&t, &ws, &pb.batch, NULL));
        int row = 0, same = 1;
        for (int s = 0; s < 5; s++) {
            struct elmo_tagger_batch one = {1, &pb.len[s], (const float *const *)&pb.feat[s], NULL,
                                            drop ? &pb.seed[s] : NULL, NULL};
            CHECK_OK(elmo_tagger_forward(&t, &ws1, &one, NULL));
            size_t V = 4, H2 = 16;
            same &= !memcmp(ws.prob + row * V, ws1.prob, sizeof(float) * V * pb.len[s]);
            same &= !memcmp(ws.mask_out + row * H2, ws1.mask_out, sizeof(float) * H2 * pb.len[s]);
            row += pb.len[s];
        }
        CHECK(same);
    }
    elmo_tagger_ws_free(&ws);
    elmo_tagger_ws_free(&ws1);
    elmo_tagger_free(&t);
    problem_free(&pb);
}

static void check_clip_adam(void) {
    struct elmo_tagger_config c = {3, 2, 2, 3, 1.0f, 1.0f, 0, ELMO_TAGGER_SOFTMAX};
    struct elmo_tagger_tensor tt[ELMO_TAGGER_TENSORS];
    size_t n = elmo_tagger_layout(&c, tt);
    CHECK_INT_EQ(elmo_tagger_param_count(&c), 3 + 1 + 2 * (4 * 8 + 8) + 4 * 3 + 3);
    float *g = calloc(n, sizeof(float));
    g[tt[0].offset] = 3.0f, g[tt[0].offset + 1] = 4.0f; /* norm 5 -> clipped to 1 */
    g[tt[7].offset] = 0.5f;                             /* norm 0.5 -> kept */
    double worst = elmo_tagger_clip(&c, g, 1.0f);
    CHECK_NEAR(worst, 5.0, 1e-6);
    CHECK_NEAR(g[tt[0].offset], 0.6, 1e-6);
    CHECK_NEAR(g[tt[0].offset + 1], 0.8, 1e-6);
    CHECK_NEAR(g[tt[7].offset], 0.5, 1e-7);

    struct elmo_optim a;
    CHECK_OK(elmo_optim_init(&a, ELMO_OPTIM_ADAM, 2));
    float param[2] = {1.0f, -1.0f}, gr[2] = {0.5f, -2.0f};
    elmo_optim_step(&a, param, gr, 0.1f, 1.0f);
    /* the first step moves every weight by lr against the gradient's sign */
    CHECK_NEAR(param[0], 0.9, 1e-6);
    CHECK_NEAR(param[1], -0.9, 1e-6);
    gr[0] = 0.0f;
    elmo_optim_step(&a, param, gr, 0.1f, 1.0f);
    double m = 0.9 * 0.1 * 0.5, v = 0.999 * 0.001 * 0.25;
    double step = 0.1 * sqrt(1 - 0.999 * 0.999) / (1 - 0.81) * m / (sqrt(v) + 1e-8);
    CHECK_NEAR(param[0], 0.9 - step, 1e-6);
    elmo_optim_free(&a);
    free(g);
}

/* The tag is the index of the largest of the first V features of layer 1: learnable. */
static void check_learns(int output) {
    int lens[8] = {5, 8, 3, 6, 7, 2, 9, 4};
    struct problem pb;
    problem_make_out(&pb, 2, 4, 8, 3, 0.9f, 8, lens, 23, 0, output);
    for (int s = 0; s < 8; s++)
        for (int i = 0; i < lens[s]; i++) {
            const float *f = pb.feat[s] + (size_t)i * 2 * 4 + 4;
            int best = 0;
            for (int v = 1; v < 3; v++) best = f[v] > f[best] ? v : best;
            pb.gold[s][i] = best;
        }
    struct elmo_tagger t;
    struct elmo_tagger_ws ws = {0};
    struct elmo_optim a;
    CHECK_OK(elmo_tagger_init(&t, &pb.cfg));
    elmo_tagger_randomize(&t, 1);
    CHECK_NEAR(t.p.gamma[0], 1.0, 0);
    CHECK_OK(elmo_optim_init(&a, ELMO_OPTIM_ADAM, t.n_floats));
    float *g = calloc(t.n_floats, sizeof(float));
    double first = 0, last = 0;
    for (int it = 0; it < 150; it++) {
        double loss;
        for (int s = 0; s < 8; s++) pb.seed[s] = 100 * (uint64_t)it + (uint64_t)s;
        CHECK_OK(elmo_tagger_forward(&t, &ws, &pb.batch, &loss));
        memset(g, 0, sizeof(float) * t.n_floats);
        elmo_tagger_backward(&t, &ws, &pb.batch, 1.0f / (float)ws.n_tok, g);
        elmo_tagger_clip(&t.cfg, g, 1.0f);
        elmo_optim_step(&a, t.block, g, 0.02f, 1.0f);
        if (it == 0) first = loss / ws.n_tok;
        last = loss / ws.n_tok;
    }
    printf("toy problem (output %d): mean loss %.4f -> %.4f\n", output, first, last);
    CHECK(last < 0.5 * first);
    /* the mix learned to weigh layer 1 (which holds the answer) above layer 0 */
    CHECK(t.p.mix_s[1] > t.p.mix_s[0]);
    free(g);
    elmo_optim_free(&a);
    elmo_tagger_ws_free(&ws);
    elmo_tagger_free(&t);
    problem_free(&pb);
}

/* The CRF output: ws->path is the Viterbi sequence of the logits, ws->prob rows sum to 1. */
static void check_crf_decode(void) {
    int lens[4] = {6, 1, 4, 3};
    struct problem pb;
    problem_make_out(&pb, 2, 4, 5, 6, 1.0f, 4, lens, 31, 2, ELMO_TAGGER_CRF);
    struct elmo_tagger t;
    struct elmo_tagger_ws ws = {0};
    CHECK_OK(elmo_tagger_init(&t, &pb.cfg));
    random_params(&t, 37);
    pb.batch.gold = NULL;
    CHECK_OK(elmo_tagger_forward(&t, &ws, &pb.batch, NULL));
    double *blk = malloc(sizeof(double) * t.n_floats), *lg = malloc(sizeof(double) * 14 * 6);
    for (size_t i = 0; i < t.n_floats; i++) blk[i] = t.block[i];
    ref_loss(&pb.cfg, blk, &pb.batch, ws.mask_in[0], ws.mask_in[1], ws.mask_out, lg);
    const struct elmo_crf crf = {6, t.p.crf_trans, t.p.crf_start, t.p.crf_end};
    double work[2 * 6 * 6 + 12];
    float z[36];
    int32_t path[6];
    int row = 0, same = 1;
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < lens[s] * 6; i++) z[i] = (float)lg[row * 6 + i];
        elmo_crf_viterbi(&crf, lens[s], z, path, work);
        same &= !memcmp(path, ws.path + row, sizeof(int32_t) * (size_t)lens[s]);
        for (int i = 0; i < lens[s]; i++) {
            double sum = 0;
            for (int v = 0; v < 6; v++) sum += ws.prob[(row + i) * 6 + v];
            CHECK_NEAR(sum, 1.0, 1e-5);
        }
        row += lens[s];
    }
    CHECK(same);
    free(blk), free(lg);
    elmo_tagger_ws_free(&ws);
    elmo_tagger_free(&t);
    problem_free(&pb);
}

static void check_config(void) {
    struct elmo_tagger t;
    struct elmo_tagger_config c = {3, 32, 256, 21, 0.7f, 1.0f, 0, ELMO_TAGGER_SOFTMAX};
    CHECK_OK(elmo_tagger_init(&t, &c));
    /* the tutorial's count with 1024-wide layers: 2,623,488 + 10,773 + 4 */
    struct elmo_tagger_config big = {3, 1024, 256, 21, 0.7f, 1.0f, 0, ELMO_TAGGER_SOFTMAX};
    CHECK_INT_EQ(elmo_tagger_param_count(&big), 2623488 + 10773 + 4);
    elmo_tagger_free(&t);
    elmo_tagger_free(&t);
    c.keep = 0.0f;
    CHECK_INT_EQ(elmo_tagger_init(&t, &c), ELMO_ERR_ARG);
    c.keep = 0.5f, c.n_tags = 0;
    CHECK_INT_EQ(elmo_tagger_init(&t, &c), ELMO_ERR_ARG);
}

int main(void) {
    int lens[3] = {4, 2, 3};
    int one[1] = {1};
    for (int output = 0; output < 2; output++)
        for (int E = 0; E <= 3; E += 3) {
            check_gradients(1.0f, lens, 3, E, output);
            check_gradients(0.7f, lens, 3, E, output);
            check_gradients(1.0f, one, 1, E, output);
        }
    check_crf_decode();
    check_xent();
    check_batch_independence();
    check_clip_adam();
    check_learns(ELMO_TAGGER_SOFTMAX);
    check_learns(ELMO_TAGGER_CRF);
    check_config();
    return CHECK_REPORT();
}
