/*
 * ner_step.c: train-ner's per-rank training step and tagging (see ner_step.h).
 */
#include "worker/ner_step.h"

#include <stdlib.h>
#include <string.h>

#include "model/rng.h"
#include "model/status.h"
#include "worker/ner.h"

void elmo_ner_block(int64_t n, int r, int size, int64_t *a, int64_t *b) {
    *a = n * r / size;
    *b = n * (r + 1) / size;
}

void elmo_ner_epoch_order(int32_t *perm, int n, uint64_t seed, int ep) {
    struct elmo_rng r;
    elmo_rng_seed(&r, elmo_rng_derive_xor3(seed, (uint64_t)ep, 0x5348554646ull));
    for (int i = 0; i < n; i++) perm[i] = i;
    elmo_rng_shuffle(&r, perm, (size_t)n, sizeof *perm);
}

void elmo_ner_slice_init(struct elmo_ner_slice *s, int batch_size) {
    size_t bs = (size_t)batch_size;
    s->feat = elmo_xmalloc(sizeof(float *) * bs);
    s->extra = elmo_xmalloc(sizeof(float *) * bs);
    s->gold = elmo_xmalloc(sizeof(int32_t *) * bs);
    s->len = elmo_xmalloc(sizeof(int32_t) * bs);
    s->seed = elmo_xmalloc(sizeof(uint64_t) * bs);
}

void elmo_ner_slice_free(struct elmo_ner_slice *s) {
    free(s->feat);
    free(s->extra);
    free(s->gold);
    free(s->len);
    free(s->seed);
    memset(s, 0, sizeof *s);
}

int elmo_ner_step(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, struct elmo_ner_slice *sl,
                  const struct elmo_ner_set *set, const int32_t *perm, int b0, int b1, int rank,
                  int size, uint64_t seed, int ep, float *grad, double *loss) {
    const size_t KD = (size_t)t->cfg.K * (size_t)t->cfg.D, E = (size_t)t->cfg.E;
    int64_t ntok = 0, m0, m1;
    for (int i = b0; i < b1; i++) ntok += set->len[perm[i]];
    elmo_ner_block(b1 - b0, rank, size, &m0, &m1);
    const int B = (int)(m1 - m0);
    for (int k = 0; k < B; k++) {
        int s = perm[b0 + m0 + k];
        size_t first = (size_t)set->offset[s];
        sl->len[k] = set->len[s];
        sl->feat[k] = set->feat + first * KD;
        sl->extra[k] = E > 0 ? set->extra + first * E : NULL;
        sl->gold[k] = set->gold + first;
        sl->seed[k] = elmo_rng_derive_xor3(seed, (uint64_t)ep + 1, (uint64_t)s);
    }
    memset(grad, 0, sizeof(float) * t->n_floats);
    *loss = 0.0;
    if (B == 0) return 0;
    struct elmo_tagger_batch batch = {B,        sl->len,  sl->feat,
                                      sl->gold, sl->seed, E > 0 ? sl->extra : NULL};
    ELMO_TRY(elmo_tagger_forward(t, ws, &batch, loss));
    elmo_tagger_backward(t, ws, &batch, 1.0f / (float)ntok, grad);
    return 0;
}

int elmo_ner_tag_block(const struct elmo_tagger *t, struct elmo_tagger_ws *ws,
                       const struct elmo_ner_set *set, int rank, int size, int32_t *mine) {
    int64_t s0, s1;
    elmo_ner_block(set->n_sent, rank, size, &s0, &s1);
    size_t t0 = (size_t)set->offset[s0];
    return elmo_ner_tag(t, ws, (int)(s1 - s0), set->len + s0, set->feat + t0 * t->cfg.K * t->cfg.D,
                        set->extra ? set->extra + t0 * t->cfg.E : NULL, mine, NULL, NULL);
}
