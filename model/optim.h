/*
 * optim.h: the optimizers of both trainers (train-ner's tagger, pretrain's biLM), over a
 * parameter block seen as one flat float array with a gradient block of the same layout.
 *
 *   Adagrad (TF's, as bilm-tf sets it): acc starts at acc0 = 1.0; acc += g^2;
 *                                       p -= lr g / sqrt(acc)
 *   Adam (Kingma and Ba, TF's form):    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *                                       p -= lr_t m / (sqrt(v) + eps) with
 *                                       lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); b1 0.9,
 *                                       b2 0.999, eps 1e-8
 *
 * where g = grad * gscale (gscale: the global-norm clip factor, or 1).  The arithmetic is
 * float, element by element, so every rank that applies the same gradient to the same
 * parameters gets the same bits.  Pure compute; nothing here is collective.
 */
#ifndef ELMO_OPTIM_H
#define ELMO_OPTIM_H

#include <stddef.h>
#include <stdint.h>

enum elmo_optim_kind { ELMO_OPTIM_ADAGRAD = 0, ELMO_OPTIM_ADAM = 1 };

struct elmo_optim {
    enum elmo_optim_kind kind;
    float beta1, beta2, eps; /* Adam */
    float acc0;              /* Adagrad: the accumulator's start */
    int64_t t;               /* updates done */
    size_t n;                /* parameters */
    int n_state;             /* state arrays: 1 (Adagrad) or 2 (Adam) */
    float *state; /* (n_state n), owner: the accumulator, or Adam's m then v (checkpointed whole) */
};

/*
 * Sets up kind over n parameters with the defaults above and a fresh state (t = 0).
 * Returns 0 or ELMO_ERR_NOMEM.  Free with elmo_optim_free (accepts a zeroed struct).
 */
int elmo_optim_init(struct elmo_optim *o, enum elmo_optim_kind kind, size_t n);
void elmo_optim_free(struct elmo_optim *o);

/* One update of param (o->n floats) with grad * gscale and learning rate lr. */
void elmo_optim_step(struct elmo_optim *o, float *param, const float *grad, float lr, float gscale);

/* The L2 norm of g (n floats), the squares summed in double in index order. */
double elmo_grad_norm(const float *g, size_t n);

#endif /* ELMO_OPTIM_H */
