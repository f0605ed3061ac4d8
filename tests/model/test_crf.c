/*
 * test_crf.c: the linear-chain CRF (model/crf.c) against brute force over every tag sequence
 * of small cases, and its gradient against central finite differences.
 *
 * - log Z equals the logsumexp of score(y) over all V^T sequences;
 * - the marginals of every position sum to 1 and equal the brute-force marginals;
 * - Viterbi returns a sequence of the brute-force best score, and that score;
 * - the gradient of scale * nll with respect to the emissions, the transitions, and the start
 *   and end scores equals central differences (in double, through elmo_crf_nll itself);
 * - large scores (1e4) stay finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/crf.h"
#include "model/rng.h"
#include "tests/check.h"

/* A random CRF of V tags and emissions of T tokens; arrays owned by the caller's struct. */
struct cas {
    int T, V;
    float *E, *trans, *start, *end;
    struct elmo_crf crf;
};

static void case_make(struct cas *c, int T, int V, float range, uint64_t seed) {
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    c->T = T, c->V = V;
    c->E = malloc(sizeof(float) * (size_t)T * V);
    c->trans = malloc(sizeof(float) * (size_t)V * V);
    c->start = malloc(sizeof(float) * (size_t)V);
    c->end = malloc(sizeof(float) * (size_t)V);
    for (int i = 0; i < T * V; i++) c->E[i] = elmo_rng_uniform(&r, -range, range);
    for (int i = 0; i < V * V; i++) c->trans[i] = elmo_rng_uniform(&r, -range, range);
    for (int i = 0; i < V; i++) c->start[i] = elmo_rng_uniform(&r, -range, range);
    for (int i = 0; i < V; i++) c->end[i] = elmo_rng_uniform(&r, -range, range);
    c->crf = (struct elmo_crf){V, c->trans, c->start, c->end};
}

static void case_free(struct cas *c) { free(c->E), free(c->trans), free(c->start), free(c->end); }

/* Advances y (T digits base V) to the next sequence; 0 after the last. */
static int next_seq(int32_t *y, int T, int V) {
    for (int t = T - 1; t >= 0; t--) {
        if (++y[t] < V) return 1;
        y[t] = 0;
    }
    return 0;
}

/*
 * Brute force: log Z, the marginals (T, V) and the best score over all sequences (best gets
 * one of the best sequences).
 */
static double brute(const struct cas *c, double *marg, double *best_score, int32_t *best) {
    int32_t y[8] = {0};
    double m = -INFINITY;
    do {
        double s = elmo_crf_score(&c->crf, c->T, c->E, y);
        if (s > m) m = s;
    } while (next_seq(y, c->T, c->V));
    memset(y, 0, sizeof y);
    double z = 0.0;
    *best_score = -INFINITY;
    memset(marg, 0, sizeof(double) * (size_t)c->T * c->V);
    do {
        double s = elmo_crf_score(&c->crf, c->T, c->E, y), e = exp(s - m);
        z += e;
        for (int t = 0; t < c->T; t++) marg[t * c->V + y[t]] += e;
        if (s > *best_score) {
            *best_score = s;
            memcpy(best, y, sizeof(int32_t) * (size_t)c->T);
        }
    } while (next_seq(y, c->T, c->V));
    for (int i = 0; i < c->T * c->V; i++) marg[i] /= z;
    return m + log(z);
}

static void check_brute(int T, int V, uint64_t seed) {
    struct cas c;
    case_make(&c, T, V, 2.0f, seed);
    double *work = malloc(sizeof(double) * elmo_crf_work_doubles(T, V));
    float *marg = malloc(sizeof(float) * (size_t)T * V);
    double *bm = malloc(sizeof(double) * (size_t)T * V);
    int32_t path[8], bpath[8];
    double bscore;
    double logZ = elmo_crf_marginals(&c.crf, T, c.E, marg, work);
    double ref = brute(&c, bm, &bscore, bpath);
    CHECK_NEAR(logZ, ref, 1e-9 * (fabs(ref) + 1));
    for (int t = 0; t < T; t++) {
        double sum = 0;
        for (int v = 0; v < V; v++) {
            sum += marg[t * V + v];
            CHECK_NEAR(marg[t * V + v], bm[t * V + v], 1e-6);
        }
        CHECK_NEAR(sum, 1.0, 1e-6);
    }
    double vs = elmo_crf_viterbi(&c.crf, T, c.E, path, work);
    CHECK_NEAR(vs, bscore, 1e-9 * (fabs(bscore) + 1));
    CHECK_NEAR(elmo_crf_score(&c.crf, T, c.E, path), bscore, 1e-9 * (fabs(bscore) + 1));
    /* random scores have no ties: the very same sequence */
    CHECK(!memcmp(path, bpath, sizeof(int32_t) * (size_t)T));
    /* nll of the best sequence is log Z - its score */
    double nll = elmo_crf_nll(&c.crf, T, c.E, path, 1.0f, NULL, NULL, work);
    CHECK_NEAR(nll, ref - bscore, 1e-9 * (fabs(ref) + 1));
    CHECK(nll > 0);
    free(work), free(marg), free(bm);
    case_free(&c);
}

/* The nll in double of perturbed parameters: central differences against elmo_crf_nll. */
static void check_gradient(int T, int V, uint64_t seed) {
    struct cas c;
    case_make(&c, T, V, 1.5f, seed);
    struct elmo_rng r;
    elmo_rng_seed(&r, seed + 1);
    int32_t gold[8];
    for (int t = 0; t < T; t++) gold[t] = (int32_t)(elmo_rng_next(&r) % (uint64_t)V);
    double *work = malloc(sizeof(double) * elmo_crf_work_doubles(T, V));
    const float scale = 0.25f;
    float *dE = malloc(sizeof(float) * (size_t)T * V);
    float *dtr = calloc((size_t)V * V, sizeof(float));
    float *dst = calloc((size_t)V, sizeof(float)), *den = calloc((size_t)V, sizeof(float));
    const struct elmo_crf_grad g = {dE, dtr, dst, den};
    elmo_crf_nll(&c.crf, T, c.E, gold, scale, &g, NULL, work);
    struct {
        float *x;
        const float *grad;
        int n;
        const char *name;
    } ts[4] = {{c.E, dE, T * V, "emissions"},
               {c.trans, dtr, V * V, "transitions"},
               {c.start, dst, V, "start"},
               {c.end, den, V, "end"}};
    for (int i = 0; i < 4; i++) {
        double worst = 0, gmax = 0;
        for (int j = 0; j < ts[i].n; j++) {
            /* float parameters: a step of 1e-2 keeps the rounding of x +- eps small */
            const float eps = 1e-2f, x0 = ts[i].x[j];
            ts[i].x[j] = x0 + eps;
            double lp = elmo_crf_nll(&c.crf, T, c.E, gold, 1.0f, NULL, NULL, work);
            ts[i].x[j] = x0 - eps;
            double lm = elmo_crf_nll(&c.crf, T, c.E, gold, 1.0f, NULL, NULL, work);
            ts[i].x[j] = x0;
            double step = (double)(x0 + eps) - (double)(x0 - eps);
            double fd = scale * (lp - lm) / step;
            double err = fabs(fd - ts[i].grad[j]);
            worst = err > worst ? err : worst;
            gmax = fabs(fd) > gmax ? fabs(fd) : gmax;
        }
        if (worst > 2e-5) fprintf(stderr, "crf %s: worst error %.3g\n", ts[i].name, worst);
        CHECK(worst <= 2e-5);
        /* one token has no transition: its gradient is exactly zero */
        if (T == 1 && i == 1) CHECK(gmax == 0.0);
        else CHECK(gmax > 1e-3);
    }
    free(work), free(dE), free(dtr), free(dst), free(den);
    case_free(&c);
}

/* Scores of 1e4 do not overflow: log Z is finite and the marginals still sum to 1. */
static void check_stable(void) {
    struct cas c;
    case_make(&c, 6, 5, 1e4f, 99);
    double *work = malloc(sizeof(double) * elmo_crf_work_doubles(6, 5));
    float marg[30];
    double logZ = elmo_crf_marginals(&c.crf, 6, c.E, marg, work);
    CHECK(isfinite(logZ));
    for (int t = 0; t < 6; t++) {
        double s = 0;
        for (int v = 0; v < 5; v++) s += marg[t * 5 + v];
        CHECK_NEAR(s, 1.0, 1e-6);
    }
    free(work);
    case_free(&c);
}

int main(void) {
    check_brute(1, 4, 1);
    check_brute(2, 3, 2);
    check_brute(4, 3, 3);
    check_brute(5, 4, 4);
    check_brute(3, 6, 5);
    check_gradient(1, 3, 6);
    check_gradient(4, 3, 7);
    check_gradient(6, 5, 8);
    check_stable();
    return CHECK_REPORT();
}
