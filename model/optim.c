/*
 * optim.c: Adagrad and Adam over flat float blocks (see optim.h).
 */
#include "model/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/status.h"

int elmo_optim_init(struct elmo_optim *o, enum elmo_optim_kind kind, size_t n) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f, o->acc0 = 1.0f;
    o->n = n;
    o->n_state = kind == ELMO_OPTIM_ADAM ? 2 : 1;
    o->state = elmo_aligned_alloc(sizeof(float) * n * (size_t)o->n_state, "the optimizer state");
    if (!o->state) return ELMO_ERR_NOMEM;
    const float start = kind == ELMO_OPTIM_ADAGRAD ? o->acc0 : 0.0f;
    for (size_t i = 0; i < n * (size_t)o->n_state; i++) o->state[i] = start;
    return ELMO_OK;
}

void elmo_optim_free(struct elmo_optim *o) {
    free(o->state);
    memset(o, 0, sizeof *o);
}

double elmo_grad_norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

static void adagrad(size_t n, float *restrict p, const float *restrict g, float *restrict acc,
                    float lr, float gscale) {
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        acc[i] += gi * gi;
        p[i] -= lr * gi / sqrtf(acc[i]);
    }
}

static void adam(const struct elmo_optim *o, float *restrict p, const float *restrict g,
                 float *restrict m, float *restrict v, float lr, float gscale) {
    const double t = (double)o->t;
    const float lr_t = (float)(lr * sqrt(1.0 - pow(o->beta2, t)) / (1.0 - pow(o->beta1, t)));
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (size_t i = 0; i < o->n; i++) {
        float gi = g[i] * gscale;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void elmo_optim_step(struct elmo_optim *o, float *param, const float *grad, float lr,
                     float gscale) {
    o->t++;
    if (o->kind == ELMO_OPTIM_ADAGRAD) adagrad(o->n, param, grad, o->state, lr, gscale);
    else adam(o, param, grad, o->state, o->state + o->n, lr, gscale);
}
