/*
 * pack.c: the model's packed weights (struct elmo_packed, bilm_ws.h): every weight matrix of
 * the forward pass copied once into the panel layout of the row-stable GEMM (gemm.h), next to
 * the contiguous weight block, which stays the one used for loading, saving and gradients.
 * The LSTM matrices are gate-interleaved (4 gates) and the highway carry and transform
 * matrices are packed as one gate-interleaved (F, 2F) matrix, so that one tile holds every
 * input of the element-wise math of its units (model/lstm.c, model/charcnn.c).
 */
#define _DEFAULT_SOURCE /* madvise */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model/bilm_ws.h"
#include "model/fnv.h"
#include "model/gemm.h"
#include "model/status.h"

/* Serialises the lazy packing of elmo_bilm_ws_init across threads. */
static pthread_mutex_t pack_mu = PTHREAD_MUTEX_INITIALIZER;

/* Which items of the layout to write: all (owner NULL), or those whose owner is part. */
struct pick {
    const int *owner;
    int part;
    size_t *sizes; /* when not NULL: the floats of every item, in order */
};

/* [carry | transform] of highway k as one (F, 2F) matrix (w2) with its (2F) bias (b2). */
static void highway_pair(const struct elmo_model *m, int k, float *w2, float *b2) {
    const size_t F = (size_t)m->opt.F;
    for (size_t r = 0; r < F; r++) {
        memcpy(w2 + r * 2 * F, m->hw_carry_w[k] + r * F, sizeof(float) * F);
        memcpy(w2 + r * 2 * F + F, m->hw_tr_w[k] + r * F, sizeof(float) * F);
    }
    memcpy(b2, m->hw_carry_b[k], sizeof(float) * F);
    memcpy(b2 + F, m->hw_tr_b[k], sizeof(float) * F);
}

/*
 * Sizes (base == NULL) or fills the packed copies; returns the floats used.  With base, every
 * item's views are set and the picked items are written (hw_tmp: room for one highway pair).
 */
static size_t layout(const struct elmo_model *m, struct elmo_packed *pk, float *base, float *hw_tmp,
                     const struct pick *pick) {
    const struct elmo_options *o = &m->opt;
    const int E = o->E, F = o->F, P = o->P, D = o->D;
    size_t off = 0;
    int item = 0;
#define MINE (!pick || !pick->owner || pick->owner[item] == pick->part)
#define PUT(pm, K, N, B, ldb, bias, has_bias, ng)                                                \
    do {                                                                                         \
        size_t n_ = elmo_pmat_floats((K), (N), (ng), (has_bias));                                \
        if (base && MINE) elmo_pmat_pack(&(pm), (K), (N), (B), (ldb), (bias), (ng), base + off); \
        else if (base) elmo_pmat_describe(&(pm), (K), (N), (ng), (has_bias), base + off);        \
        if (pick && pick->sizes) pick->sizes[item] = n_;                                         \
        off += n_;                                                                               \
        item++;                                                                                  \
    } while (0)
    for (int i = 0; i < o->n_filters; i++)
        PUT(pk->cnn[i], o->filter_width[i] * E, o->filter_count[i], m->cnn_w[i], o->filter_count[i],
            m->cnn_b[i], true, 1);
    for (int k = 0; k < o->n_highway; k++) {
        float *w2 = hw_tmp, *b2 = hw_tmp ? hw_tmp + (size_t)F * 2 * F : NULL;
        if (base && hw_tmp && MINE) highway_pair(m, k, w2, b2);
        PUT(pk->hw[k], F, 2 * F, w2, 2 * F, b2, true, 2);
    }
    if (o->has_cnn_proj) PUT(pk->proj, F, P, m->proj_w, P, m->proj_b, true, 1);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            const struct elmo_lstm_weights *lw = &m->lstm[d][l];
            PUT(pk->wx[d][l], P, 4 * D, lw->w, 4 * D, lw->b, true, 4);
            PUT(pk->wh[d][l], P, 4 * D, lw->w + (size_t)P * 4 * D, 4 * D, NULL, false, 4);
            if (o->has_lstm_proj) PUT(pk->wp[d][l], D, P, lw->wp, P, NULL, false, 1);
        }
#undef PUT
#undef MINE
    return off;
}

/* Items of the layout (as counted by layout()). */
int elmo_model_pack_items(const struct elmo_options *o) {
    return o->n_filters + o->n_highway + (o->has_cnn_proj ? 1 : 0) +
           2 * o->L * (o->has_lstm_proj ? 3 : 2);
}

size_t elmo_model_packed_floats(const struct elmo_options *opt) {
    struct elmo_model shape;
    struct elmo_packed pk;
    memset(&shape, 0, sizeof shape);
    shape.opt = *opt;
    return layout(&shape, &pk, NULL, NULL, NULL);
}

/* Room for one highway pair (NULL and 0 without highway layers); 0 or ELMO_ERR_NOMEM. */
static int highway_tmp(const struct elmo_model *m, float **tmp) {
    const size_t F = (size_t)m->opt.F;
    *tmp = NULL;
    if (m->opt.n_highway == 0) return ELMO_OK;
    *tmp = malloc(sizeof(float) * (F * 2 * F + 2 * F));
    if (!*tmp) return elmo_error(ELMO_ERR_NOMEM, "out of memory packing the highway weights");
    return ELMO_OK;
}

/*
 * Room for a private packed copy: 2 MiB aligned and advised as huge pages (the kernel may
 * decline), since every product reads all of it and 4 KiB pages would cost a TLB miss per
 * page; a node's image mapped from the packed cache gets the same from the page cache's large
 * folios.  Freed with free(); NULL with the error recorded.
 */
static float *packed_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20, n = (bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, n) != 0) {
        elmo_error(ELMO_ERR_NOMEM, "out of memory: %zu bytes for the packed weights", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

int elmo_model_pack(struct elmo_model *m) {
    ELMO_CHECK(m->block != NULL, ELMO_ERR_ARG, "elmo_model_pack: the model has no weights");
    elmo_model_unpack(m);
    struct elmo_packed *pk = elmo_calloc(1, sizeof *pk, "the packed weights");
    if (!pk) return ELMO_ERR_NOMEM;
    float *hw_tmp = NULL;
    if (highway_tmp(m, &hw_tmp) < 0) {
        free(pk);
        return ELMO_ERR_NOMEM;
    }
    size_t n = layout(m, pk, NULL, NULL, NULL);
    pk->block = packed_alloc(sizeof(float) * (n > 0 ? n : 16));
    if (!pk->block) {
        free(hw_tmp);
        free(pk);
        return ELMO_ERR_NOMEM;
    }
    pk->floats = n;
    layout(m, pk, pk->block, hw_tmp, NULL);
    free(hw_tmp);
    m->packed = pk;
    return ELMO_OK;
}

/* elmo_model_pack_at, or with write false elmo_model_pack_view (every item described). */
static int pack_into(struct elmo_model *m, float *mem, int part, int nparts, bool write) {
    ELMO_CHECK(m->block != NULL, ELMO_ERR_ARG, "elmo_model_pack_at: the model has no weights");
    ELMO_CHECK(mem != NULL && ((uintptr_t)mem & 63) == 0 && nparts >= 1 && part >= 0 &&
                   part < nparts,
               ELMO_ERR_ARG, "elmo_model_pack_at: bad memory or part %d of %d", part, nparts);
    elmo_model_unpack(m);
    const int n_items = elmo_model_pack_items(&m->opt);
    size_t sizes[ELMO_MAX_FILTERS + ELMO_MAX_HIGHWAY + 1 + 6 * ELMO_MAX_LAYERS];
    int owner[ELMO_MAX_FILTERS + ELMO_MAX_HIGHWAY + 1 + 6 * ELMO_MAX_LAYERS];
    struct elmo_packed *pk = elmo_calloc(1, sizeof *pk, "the packed weights");
    if (!pk) return ELMO_ERR_NOMEM;
    struct pick pick = {NULL, part, sizes};
    pk->floats = layout(m, pk, NULL, NULL, &pick);
    elmo_split_work(n_items, sizes, nparts, owner);
    if (!write)
        for (int i = 0; i < n_items; i++) owner[i] = -1;
    pick.owner = owner;
    pick.sizes = NULL;
    float *hw_tmp = NULL;
    if (write && highway_tmp(m, &hw_tmp) < 0) {
        free(pk);
        return ELMO_ERR_NOMEM;
    }
    pk->block = mem;
    pk->borrowed = true;
    layout(m, pk, mem, hw_tmp, &pick);
    free(hw_tmp);
    m->packed = pk;
    return ELMO_OK;
}

int elmo_model_pack_at(struct elmo_model *m, float *mem, int part, int nparts) {
    return pack_into(m, mem, part, nparts, true);
}

int elmo_model_pack_view(struct elmo_model *m, const float *mem) {
    /* the views are only read: the forward pass never writes the packed weights */
    return pack_into(m, (float *)mem, 0, 1, false);
}

/* The packing of a tiny seeded model of every kind of item (1, 2 and 4 gates, biases),
   hashed (model/fnv.h): it changes whenever the code packs anything differently. */
static uint64_t probe_hash;
static void probe(void) {
    const struct elmo_options o = {.E = 3,
                                   .n_filters = 2,
                                   .filter_width = {1, 2},
                                   .filter_count = {5, 7},
                                   .F = 12,
                                   .n_highway = 1,
                                   .n_characters = 262,
                                   .max_chars = 50,
                                   .D = 24,
                                   .P = 8,
                                   .L = 2,
                                   .skip = true,
                                   .has_cnn_proj = true,
                                   .has_lstm_proj = true};
    struct elmo_model m;
    if (elmo_model_init(&m, &o) != ELMO_OK) return;
    elmo_model_randomize(&m, 7);
    if (elmo_model_pack(&m) == ELMO_OK)
        probe_hash =
            elmo_fnv64_fold(ELMO_FNV64_OFFSET, m.packed->block, m.packed->floats * sizeof(float));
    elmo_model_free(&m);
}

int elmo_model_pack_tag(const struct elmo_options *o, char *buf, size_t cap) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, probe);
    int n = snprintf(buf, cap,
                     "layout=%016llx nr=%d E=%d F=%d filters=", (unsigned long long)probe_hash,
                     ELMO_NR, o->E, o->F);
    for (int i = 0; i < o->n_filters && n > 0 && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%dx%d", i ? "," : "", o->filter_width[i],
                      o->filter_count[i]);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n,
                      " highway=%d cnn_proj=%d P=%d D=%d L=%d lstm_proj=%d", o->n_highway,
                      (int)o->has_cnn_proj, o->P, o->D, o->L, (int)o->has_lstm_proj);
    return n > 0 && (size_t)n < cap && probe_hash != 0 ? 0 : -1;
}

void elmo_model_unpack(struct elmo_model *m) {
    if (!m->packed) return;
    if (!m->packed->borrowed) free(m->packed->block);
    free(m->packed);
    m->packed = NULL;
}

int elmo__model_packed(const struct elmo_model *m) {
    int rc = ELMO_OK;
    pthread_mutex_lock(&pack_mu);
    /* the packed copies are a cache of the weights: building them does not change the model's
       values, so a const model may fill them in */
    if (!m->packed) rc = elmo_model_pack((struct elmo_model *)m);
    pthread_mutex_unlock(&pack_mu);
    return rc;
}
