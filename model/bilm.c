/*
 * bilm.c: the model's shape: option checks, the published presets, the one weight block and
 * its table of named tensors (file layout, elmo-spec section 2), seeded random weights,
 * parameter and FLOP counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bilm.h"
#include "model/rng.h"
#include "model/status.h"

/* ------------------------------------------------------------------------------------------ */
/* options */

int elmo_options_check(const struct elmo_options *o) {
    ELMO_CHECK(o->E >= 1 && o->E <= 4096, ELMO_ERR_RANGE,
               "key char_cnn.embedding.dim: %d is not in 1..4096", o->E);
    ELMO_CHECK(o->n_filters >= 1 && o->n_filters <= ELMO_MAX_FILTERS, ELMO_ERR_RANGE,
               "key char_cnn.filters: %d groups, expected 1..%d", o->n_filters, ELMO_MAX_FILTERS);
    int F = 0;
    for (int i = 0; i < o->n_filters; i++) {
        ELMO_CHECK(o->filter_width[i] >= 1 && o->filter_width[i] <= ELMO_MAXC, ELMO_ERR_RANGE,
                   "key char_cnn.filters[%d]: width %d is not in 1..%d", i, o->filter_width[i],
                   ELMO_MAXC);
        ELMO_CHECK(o->filter_count[i] >= 1 && o->filter_count[i] <= 65536, ELMO_ERR_RANGE,
                   "key char_cnn.filters[%d]: count %d is not in 1..65536", i, o->filter_count[i]);
        F += o->filter_count[i];
    }
    ELMO_CHECK(o->F == F, ELMO_ERR_ARG, "options: F = %d but the filter counts sum to %d", o->F, F);
    ELMO_CHECK(o->n_highway >= 0 && o->n_highway <= ELMO_MAX_HIGHWAY, ELMO_ERR_RANGE,
               "key char_cnn.n_highway: %d is not in 0..%d", o->n_highway, ELMO_MAX_HIGHWAY);
    ELMO_CHECK(o->n_characters == 261 || o->n_characters == 262, ELMO_ERR_RANGE,
               "key char_cnn.n_characters: %d, expected 262 (or 261 for a training file)",
               o->n_characters);
    ELMO_CHECK(o->max_chars == ELMO_MAXC, ELMO_ERR_RANGE,
               "key char_cnn.max_characters_per_token: %d, only %d is supported", o->max_chars,
               ELMO_MAXC);
    ELMO_CHECK(o->activation == ELMO_ACT_RELU || o->activation == ELMO_ACT_TANH, ELMO_ERR_RANGE,
               "key char_cnn.activation: unknown activation %d", (int)o->activation);
    ELMO_CHECK(o->D >= 1 && o->D <= 65536, ELMO_ERR_RANGE, "key lstm.dim: %d is not in 1..65536",
               o->D);
    ELMO_CHECK(o->P >= 1 && o->P <= o->D, ELMO_ERR_RANGE,
               "key lstm.projection_dim: %d is not in 1..lstm.dim (%d)", o->P, o->D);
    ELMO_CHECK(o->L >= 1 && o->L <= ELMO_MAX_LAYERS, ELMO_ERR_RANGE,
               "key lstm.n_layers: %d is not in 1..%d", o->L, ELMO_MAX_LAYERS);
    ELMO_CHECK(o->cell_clip >= 0 && isfinite(o->cell_clip), ELMO_ERR_RANGE,
               "key lstm.cell_clip: %g is not a finite number >= 0", o->cell_clip);
    ELMO_CHECK(o->proj_clip >= 0 && isfinite(o->proj_clip), ELMO_ERR_RANGE,
               "key lstm.proj_clip: %g is not a finite number >= 0", o->proj_clip);
    ELMO_CHECK(o->has_cnn_proj || o->F == o->P, ELMO_ERR_ARG,
               "options: the CNN projection can only be left out when F (%d) == "
               "lstm.projection_dim (%d)",
               o->F, o->P);
    ELMO_CHECK(o->has_lstm_proj || o->P == o->D, ELMO_ERR_ARG,
               "options: the LSTM projection can only be left out when lstm.projection_dim (%d) "
               "== lstm.dim (%d)",
               o->P, o->D);
    return ELMO_OK;
}

int elmo_options_preset(const char *name, struct elmo_options *o) {
    static const int pub_w[] = {1, 2, 3, 4, 5, 6, 7};
    static const int pub_n[] = {32, 32, 64, 128, 256, 512, 1024};
    static const int fix_w[] = {1, 2, 3, 4, 5};
    static const int fix_n[] = {4, 8, 16, 32, 64};
    memset(o, 0, sizeof *o);
    o->n_characters = 262;
    o->max_chars = ELMO_MAXC;
    o->activation = ELMO_ACT_RELU;
    o->L = 2;
    o->cell_clip = 3;
    o->proj_clip = 3;
    o->skip = true;
    const int *w = pub_w, *n = pub_n;
    o->n_filters = 7;
    o->E = 16;
    if (!strcmp(name, "small")) {
        o->D = 1024, o->P = 128, o->n_highway = 1;
    } else if (!strcmp(name, "medium")) {
        o->D = 2048, o->P = 256, o->n_highway = 1;
    } else if (!strcmp(name, "original")) {
        o->D = 4096, o->P = 512, o->n_highway = 2;
    } else if (!strcmp(name, "fixture")) {
        w = fix_w, n = fix_n;
        o->n_filters = 5;
        o->E = 4;
        o->D = 64, o->P = 16, o->n_highway = 2;
    } else {
        return elmo_error(ELMO_ERR_ARG,
                          "unknown model shape '%s' (small, medium, original or fixture)", name);
    }
    o->F = 0;
    for (int i = 0; i < o->n_filters; i++) {
        o->filter_width[i] = w[i];
        o->filter_count[i] = n[i];
        o->F += n[i];
    }
    o->has_cnn_proj = true;
    o->has_lstm_proj = true;
    return ELMO_OK;
}

size_t elmo_options_param_count(const struct elmo_options *o) {
    size_t E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P, D = (size_t)o->D;
    size_t n = (ELMO_NCHARS - 1) * E;
    for (int i = 0; i < o->n_filters; i++)
        n += (size_t)o->filter_width[i] * E * (size_t)o->filter_count[i] +
             (size_t)o->filter_count[i];
    n += (size_t)o->n_highway * 2 * (F * F + F);
    if (o->has_cnn_proj) n += F * P + P;
    size_t per = 2 * P * 4 * D + 4 * D + (o->has_lstm_proj ? D * P : 0);
    return n + 2 * (size_t)o->L * per;
}

double elmo_options_flops_per_token(const struct elmo_options *o) {
    double E = o->E, F = o->F, P = o->P, D = o->D;
    double f = 0;
    for (int i = 0; i < o->n_filters; i++)
        f += 2.0 * (ELMO_MAXC - o->filter_width[i] + 1) * o->filter_width[i] * E *
             o->filter_count[i];
    f += o->n_highway * 2.0 * (2.0 * F * F);
    if (o->has_cnn_proj) f += 2.0 * F * P;
    double per = 2.0 * (2.0 * P) * 4.0 * D + (o->has_lstm_proj ? 2.0 * D * P : 0.0);
    return f + 2.0 * o->L * per;
}

size_t elmo_stream_state_floats(const struct elmo_options *o) {
    return 2 * (size_t)o->L * ((size_t)o->D + (size_t)o->P);
}

/* ------------------------------------------------------------------------------------------ */
/* the weight block */

/* Reserves n floats at *off, keeping every tensor 64-byte aligned; returns the offset. */
static size_t place(size_t *off, size_t n) {
    size_t o = *off;
    *off += (n + 15) / 16 * 16;
    return o;
}

/*
 * The block's layout for opt: returns its floats; when b is not NULL, points m's tensors into
 * b (m->opt, m->block and m->n_params are set by the callers).
 */
static size_t carve(struct elmo_model *m, const struct elmo_options *o, float *b) {
    size_t E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P, D = (size_t)o->D;
    size_t off = 0;
    size_t ce = place(&off, ELMO_NCHARS * E);
    if (b) m->char_embed = b + ce;
    for (int i = 0; i < o->n_filters; i++) {
        size_t cw = place(&off, (size_t)o->filter_width[i] * E * (size_t)o->filter_count[i]);
        size_t cb = place(&off, (size_t)o->filter_count[i]);
        if (b) m->cnn_w[i] = b + cw, m->cnn_b[i] = b + cb;
    }
    for (int k = 0; k < o->n_highway; k++) {
        size_t hcw = place(&off, F * F), hcb = place(&off, F);
        size_t htw = place(&off, F * F), htb = place(&off, F);
        if (b) {
            m->hw_carry_w[k] = b + hcw, m->hw_carry_b[k] = b + hcb;
            m->hw_tr_w[k] = b + htw, m->hw_tr_b[k] = b + htb;
        }
    }
    if (o->has_cnn_proj) {
        size_t pw = place(&off, F * P), pb = place(&off, P);
        if (b) m->proj_w = b + pw, m->proj_b = b + pb;
    }
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            size_t lw = place(&off, 2 * P * 4 * D), lb = place(&off, 4 * D);
            size_t lp = o->has_lstm_proj ? place(&off, D * P) : 0;
            if (b) {
                m->lstm[d][l].w = b + lw;
                m->lstm[d][l].b = b + lb;
                m->lstm[d][l].wp = o->has_lstm_proj ? b + lp : NULL;
            }
        }
    return off;
}

size_t elmo_model_block_floats(const struct elmo_options *opt) { return carve(NULL, opt, NULL); }

int elmo_model_init_at(struct elmo_model *m, const struct elmo_options *opt, float *mem) {
    memset(m, 0, sizeof *m);
    ELMO_TRY(elmo_options_check(opt));
    ELMO_CHECK(mem != NULL && ((uintptr_t)mem & 63) == 0, ELMO_ERR_ARG,
               "elmo_model_init_at: the memory is not 64-byte aligned");
    m->opt = *opt;
    m->block = mem;
    m->n_params = carve(m, opt, mem);
    m->borrowed = true;
    return ELMO_OK;
}

/* The model's tensor pointers after char_embed, in elmo_model_params order; returns the count. */
static int tensor_slots(struct elmo_model *m, float **slot[]) {
    const struct elmo_options *o = &m->opt;
    int n = 0;
    for (int i = 0; i < o->n_filters; i++) slot[n++] = &m->cnn_w[i], slot[n++] = &m->cnn_b[i];
    for (int k = 0; k < o->n_highway; k++) {
        slot[n++] = &m->hw_carry_w[k], slot[n++] = &m->hw_carry_b[k];
        slot[n++] = &m->hw_tr_w[k], slot[n++] = &m->hw_tr_b[k];
    }
    if (o->has_cnn_proj) slot[n++] = &m->proj_w, slot[n++] = &m->proj_b;
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            slot[n++] = &m->lstm[d][l].w, slot[n++] = &m->lstm[d][l].b;
            if (o->has_lstm_proj) slot[n++] = &m->lstm[d][l].wp;
        }
    return n;
}

int elmo_model_init_views(struct elmo_model *m, const struct elmo_options *opt, float *mem,
                          float *const *tensors) {
    float **slot[2 * ELMO_MAX_FILTERS + 4 * ELMO_MAX_HIGHWAY + 2 + 6 * ELMO_MAX_LAYERS];
    memset(m, 0, sizeof *m);
    ELMO_TRY(elmo_options_check(opt));
    ELMO_CHECK(mem != NULL && ((uintptr_t)mem & 63) == 0, ELMO_ERR_ARG,
               "elmo_model_init_views: the memory is not 64-byte aligned");
    m->opt = *opt;
    m->block = mem;
    m->n_params = (size_t)ELMO_NCHARS * (size_t)opt->E;
    m->char_embed = mem;
    m->borrowed = true;
    int n = tensor_slots(m, slot);
    for (int i = 0; i < n; i++) *slot[i] = tensors[i + 1];
    return ELMO_OK;
}

int elmo_model_init(struct elmo_model *m, const struct elmo_options *opt) {
    memset(m, 0, sizeof *m);
    ELMO_TRY(elmo_options_check(opt));
    size_t n = carve(NULL, opt, NULL);
    float *b = elmo_aligned_alloc(n * sizeof(float), "the model weights");
    if (!b) return ELMO_ERR_NOMEM;
    memset(b, 0, n * sizeof(float));
    m->opt = *opt;
    m->block = b;
    m->n_params = n;
    carve(m, opt, b);
    return ELMO_OK;
}

void elmo_model_free(struct elmo_model *m) {
    elmo_model_unpack(m);
    if (!m->borrowed) free(m->block);
    if (m->release) m->release(m->release_ctx);
    struct elmo_options keep = m->opt;
    memset(m, 0, sizeof *m);
    m->opt = keep;
}

static void add(struct elmo_param *out, int cap, int *n, float *data, int ndim, int64_t d0,
                int64_t d1, int64_t d2, int64_t d3, const char *fmt, int a, int b) {
    if (out && *n < cap) {
        struct elmo_param *p = &out[*n];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, fmt, a, b);
        p->data = data;
        p->ndim = ndim;
        p->dims[0] = d0, p->dims[1] = d1, p->dims[2] = d2, p->dims[3] = d3;
    }
    (*n)++;
}

int elmo_model_params(const struct elmo_model *m, struct elmo_param *out, int cap) {
    const struct elmo_options *o = &m->opt;
    int64_t E = o->E, F = o->F, P = o->P, D = o->D;
    int n = 0;
    add(out, cap, &n, m->char_embed ? m->char_embed + E : NULL, 2, ELMO_NCHARS - 1, E, 0, 0,
        "char_embed", 0, 0);
    for (int i = 0; i < o->n_filters; i++) {
        add(out, cap, &n, m->cnn_w[i], 4, 1, o->filter_width[i], E, o->filter_count[i],
            "CNN/W_cnn_%d", i, 0);
        add(out, cap, &n, m->cnn_b[i], 1, o->filter_count[i], 0, 0, 0, "CNN/b_cnn_%d", i, 0);
    }
    for (int k = 0; k < o->n_highway; k++) {
        add(out, cap, &n, m->hw_carry_w[k], 2, F, F, 0, 0, "CNN_high_%d/W_carry", k, 0);
        add(out, cap, &n, m->hw_carry_b[k], 1, F, 0, 0, 0, "CNN_high_%d/b_carry", k, 0);
        add(out, cap, &n, m->hw_tr_w[k], 2, F, F, 0, 0, "CNN_high_%d/W_transform", k, 0);
        add(out, cap, &n, m->hw_tr_b[k], 1, F, 0, 0, 0, "CNN_high_%d/b_transform", k, 0);
    }
    if (o->has_cnn_proj) {
        add(out, cap, &n, m->proj_w, 2, F, P, 0, 0, "CNN_proj/W_proj", 0, 0);
        add(out, cap, &n, m->proj_b, 1, P, 0, 0, 0, "CNN_proj/b_proj", 0, 0);
    }
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            const struct elmo_lstm_weights *w = &m->lstm[d][l];
            add(out, cap, &n, w->w, 2, 2 * P, 4 * D, 0, 0,
                "RNN_%d/RNN/MultiRNNCell/Cell%d/LSTMCell/W_0", d, l);
            add(out, cap, &n, w->b, 1, 4 * D, 0, 0, 0, "RNN_%d/RNN/MultiRNNCell/Cell%d/LSTMCell/B",
                d, l);
            if (o->has_lstm_proj)
                add(out, cap, &n, w->wp, 2, D, P, 0, 0,
                    "RNN_%d/RNN/MultiRNNCell/Cell%d/LSTMCell/W_P_0", d, l);
        }
    return n;
}

void elmo_split_work(int n, const size_t *size, int nparts, int *owner) {
    size_t load[128] = {0}; /* callers split fewer than 128 items: more parts would idle anyway */
    if (nparts > 128) nparts = 128;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int p = 1; p < nparts; p++)
            if (load[p] < load[best]) best = p;
        owner[i] = best;
        load[best] += size[i];
    }
}

size_t elmo_param_numel(const struct elmo_param *p) {
    size_t n = 1;
    for (int i = 0; i < p->ndim; i++) n *= (size_t)p->dims[i];
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* random weights */

void elmo_model_randomize(struct elmo_model *m, uint64_t seed) {
    const struct elmo_options *o = &m->opt;
    elmo_model_unpack(m); /* the packed copies would be stale */
    struct elmo_rng r;
    elmo_rng_seed(&r, seed);
    size_t E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P, D = (size_t)o->D;
    /* uniform(-a, a) with a = sqrt(3 / fan_in) has standard deviation 1 / sqrt(fan_in) */
    memset(m->char_embed, 0, E * sizeof(float));
    elmo_rng_fill_uniform(&r, m->char_embed + E, (ELMO_NCHARS - 1) * E, -1.0f, 1.0f);
    for (int i = 0; i < o->n_filters; i++) {
        size_t fan = (size_t)o->filter_width[i] * E;
        float a = sqrtf(3.0f / (float)fan);
        elmo_rng_fill_uniform(&r, m->cnn_w[i], fan * (size_t)o->filter_count[i], -a, a);
        elmo_rng_fill_uniform(&r, m->cnn_b[i], (size_t)o->filter_count[i], -0.1f, 0.1f);
    }
    float af = sqrtf(3.0f / (float)F);
    for (int k = 0; k < o->n_highway; k++) {
        elmo_rng_fill_uniform(&r, m->hw_carry_w[k], F * F, -af, af);
        elmo_rng_fill_uniform(&r, m->hw_carry_b[k], F, -2.1f, -1.9f);
        elmo_rng_fill_uniform(&r, m->hw_tr_w[k], F * F, -af, af);
        elmo_rng_fill_uniform(&r, m->hw_tr_b[k], F, -0.1f, 0.1f);
    }
    if (o->has_cnn_proj) {
        elmo_rng_fill_uniform(&r, m->proj_w, F * P, -af, af);
        elmo_rng_fill_uniform(&r, m->proj_b, P, -0.1f, 0.1f);
    }
    float aw = sqrtf(3.0f / (float)(2 * P)), ap = sqrtf(3.0f / (float)D);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < o->L; l++) {
            elmo_rng_fill_uniform(&r, m->lstm[d][l].w, 2 * P * 4 * D, -aw, aw);
            elmo_rng_fill_uniform(&r, m->lstm[d][l].b, 4 * D, -0.1f, 0.1f);
            if (o->has_lstm_proj) elmo_rng_fill_uniform(&r, m->lstm[d][l].wp, D * P, -ap, ap);
        }
}
