/*
 * crf.c: the linear-chain CRF's forward-backward pass, loss, gradient and Viterbi decoding
 * (see crf.h).  Everything is accumulated in double.
 *
 * Work layout for a sentence of T tokens: alpha (T, V), then beta (T, V), then 2V doubles of
 * row scratch.  Viterbi reuses the alpha part for back pointers (small integers, exact in a
 * double) and the scratch for the running scores.
 */
#include "model/crf.h"

#include <math.h>
#include <string.h>

size_t elmo_crf_work_doubles(int T, int V) { return 2 * (size_t)T * (size_t)V + 2 * (size_t)V; }

double elmo_crf_score(const struct elmo_crf *c, int T, const float *E, const int32_t *y) {
    const int V = c->V;
    double s = (double)c->start[y[0]] + (double)c->end[y[T - 1]];
    for (int t = 0; t < T; t++) {
        s += E[(size_t)t * V + y[t]];
        if (t > 0) s += c->trans[(size_t)y[t - 1] * V + y[t]];
    }
    return s;
}

/* log sum_i exp(x[i]), shifted by the largest value. */
static double logsumexp(const double *x, int n) {
    double m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    if (isinf(m)) return m;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}

/* Fills alpha and beta of the work block; returns log Z. */
static double forward_backward(const struct elmo_crf *c, int T, const float *E, double *work) {
    const int V = c->V;
    double *alpha = work, *beta = work + (size_t)T * V, *tmp = beta + (size_t)T * V;
    for (int j = 0; j < V; j++) alpha[j] = (double)c->start[j] + E[j];
    for (int t = 1; t < T; t++) {
        const double *ap = alpha + (size_t)(t - 1) * V;
        double *a = alpha + (size_t)t * V;
        for (int j = 0; j < V; j++) {
            for (int i = 0; i < V; i++) tmp[i] = ap[i] + c->trans[(size_t)i * V + j];
            a[j] = logsumexp(tmp, V) + E[(size_t)t * V + j];
        }
    }
    double *bl = beta + (size_t)(T - 1) * V;
    for (int i = 0; i < V; i++) bl[i] = c->end[i];
    for (int t = T - 2; t >= 0; t--) {
        const double *bn = beta + (size_t)(t + 1) * V;
        const float *en = E + (size_t)(t + 1) * V;
        double *b = beta + (size_t)t * V;
        for (int i = 0; i < V; i++) {
            for (int j = 0; j < V; j++) tmp[j] = c->trans[(size_t)i * V + j] + en[j] + bn[j];
            b[i] = logsumexp(tmp, V);
        }
    }
    const double *al = alpha + (size_t)(T - 1) * V;
    for (int j = 0; j < V; j++) tmp[j] = al[j] + c->end[j];
    return logsumexp(tmp, V);
}

/* P(y_t = v) from alpha, beta and log Z, renormalised per row against rounding. */
static void fill_marginals(int T, int V, const double *work, double logZ, float *marg) {
    const double *alpha = work, *beta = work + (size_t)T * V;
    for (int t = 0; t < T; t++) {
        double sum = 0.0;
        double p[ELMO_CRF_MAX_TAGS];
        for (int j = 0; j < V; j++) {
            size_t k = (size_t)t * V + j;
            sum += (p[j] = exp(alpha[k] + beta[k] - logZ));
        }
        for (int j = 0; j < V; j++) marg[(size_t)t * V + j] = (float)(p[j] / sum);
    }
}

double elmo_crf_marginals(const struct elmo_crf *c, int T, const float *E, float *marg,
                          double *work) {
    double logZ = forward_backward(c, T, E, work);
    if (marg) fill_marginals(T, c->V, work, logZ, marg);
    return logZ;
}

double elmo_crf_nll(const struct elmo_crf *c, int T, const float *E, const int32_t *gold,
                    float scale, const struct elmo_crf_grad *g, float *marg, double *work) {
    const int V = c->V;
    double logZ = forward_backward(c, T, E, work);
    if (marg) fill_marginals(T, V, work, logZ, marg);
    double nll = logZ - elmo_crf_score(c, T, E, gold);
    if (!g) return nll;
    const double *alpha = work, *beta = work + (size_t)T * V;
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < V; j++) {
            size_t k = (size_t)t * V + j;
            double p = exp(alpha[k] + beta[k] - logZ) - (gold[t] == j ? 1.0 : 0.0);
            if (g->dE) g->dE[k] = scale * (float)p;
            if (t == 0 && g->start) g->start[j] += scale * (float)p;
            if (t == T - 1 && g->end) g->end[j] += scale * (float)p;
        }
    }
    if (g->trans) {
        for (int t = 1; t < T; t++) {
            const double *ap = alpha + (size_t)(t - 1) * V, *b = beta + (size_t)t * V;
            const float *e = E + (size_t)t * V;
            for (int i = 0; i < V; i++)
                for (int j = 0; j < V; j++) {
                    double p = exp(ap[i] + c->trans[(size_t)i * V + j] + e[j] + b[j] - logZ);
                    g->trans[(size_t)i * V + j] += scale * (float)p;
                }
            g->trans[(size_t)gold[t - 1] * V + gold[t]] -= scale;
        }
    }
    return nll;
}

double elmo_crf_viterbi(const struct elmo_crf *c, int T, const float *E, int32_t *path,
                        double *work) {
    const int V = c->V;
    double *bp = work, *cur = work + 2 * (size_t)T * V, *nxt = cur + V;
    for (int j = 0; j < V; j++) cur[j] = (double)c->start[j] + E[j];
    for (int t = 1; t < T; t++) {
        for (int j = 0; j < V; j++) {
            int best = 0;
            double bs = cur[0] + c->trans[j];
            for (int i = 1; i < V; i++) {
                double s = cur[i] + c->trans[(size_t)i * V + j];
                if (s > bs) bs = s, best = i;
            }
            nxt[j] = bs + E[(size_t)t * V + j];
            bp[(size_t)t * V + j] = best;
        }
        memcpy(cur, nxt, sizeof(double) * (size_t)V);
    }
    int last = 0;
    double best = cur[0] + c->end[0];
    for (int j = 1; j < V; j++)
        if (cur[j] + c->end[j] > best) best = cur[j] + c->end[j], last = j;
    path[T - 1] = last;
    for (int t = T - 1; t > 0; t--) path[t - 1] = (int32_t)bp[(size_t)t * V + path[t]];
    return best;
}
