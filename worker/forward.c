/*
 * forward.c: the per-rank forward path (see forward.h).
 *
 * A batch: each token is looked up in the word-type cache; the misses get their char ids and go
 * through the char CNN in groups of max_words, their vectors landing in the cache or straight in
 * the batch's row; the cached rows are copied in; then the biLSTM.  A sentence's outputs are
 * derived from the batch's rows on request: layer 0 ([tok; tok]) and the mix once per sentence.
 */
#include "worker/forward.h"

#include <stdlib.h>
#include <string.h>

#include "model/status.h"

/* ---- init ----------------------------------------------------------------------------- */

/* The mix settings: the job's weights when there is one per layer, else all equal. */
static void set_mix(struct elmo_forward *f, const struct elmo_forward_opts *o) {
    const int K = f->m->opt.L + 1;
    memset(f->mix_w, 0, sizeof f->mix_w);
    if (o->n_mix_weights == K)
        for (int k = 0; k < K; k++) f->mix_w[k] = o->mix_weights[k];
    f->gamma = o->gamma;
    f->layer_norm = o->layer_norm;
}

/* The per-sentence scratch of the derived outputs that opts.outputs asks for. */
static int alloc_output_scratch(struct elmo_forward *f) {
    const size_t W = 2 * (size_t)f->m->opt.P, K = (size_t)f->m->opt.L + 1;
    const size_t rows = f->max_len > 0 ? (size_t)f->max_len : 1;
    const unsigned mixed = ELMO_OUT_ELMO | ELMO_OUT_DEFAULT;
    const unsigned rowbuf = ELMO_OUT_DEFAULT | ELMO_OUT_ALL | ELMO_OUT_AVERAGE;
    if (f->outputs & (mixed | rowbuf)) {
        f->layer0 = elmo_aligned_alloc(sizeof(float) * rows * W, "layer 0");
        if (!f->layer0) return ELMO_ERR_NOMEM;
    }
    if (f->outputs & mixed) {
        f->mix = elmo_aligned_alloc(sizeof(float) * rows * W, "mix");
        if (!f->mix) return ELMO_ERR_NOMEM;
    }
    if (f->outputs & rowbuf) {
        f->rowbuf = elmo_aligned_alloc(sizeof(float) * rows * K * W, "rows");
        if (!f->rowbuf) return ELMO_ERR_NOMEM;
    }
    return 0;
}

int elmo_forward_init(struct elmo_forward *f, const struct elmo_model *m,
                      const struct elmo_forward_opts *o) {
    const int P = m->opt.P, W = 2 * P;
    int rc = 0;
    memset(f, 0, sizeof *f);
    f->m = m;
    f->outputs = o->outputs;
    f->max_rows = o->max_rows;
    f->max_len = o->max_len;
    f->budget = o->batch_tokens > o->max_len + 2 ? o->batch_tokens : o->max_len + 2;
    f->max_words = f->budget < 1024 ? f->budget : 1024;
    set_mix(f, o);
    ELMO_CALL(elmo_bilm_ws_init(&f->ws, m, f->max_rows, f->budget, f->max_words));
    ELMO_CALL(elmo_cache_init(&f->cache, P, o->cache ? (size_t)256 << 20 : 0));
    f->words = elmo_malloc(sizeof *f->words * (size_t)f->budget, "batch tokens");
    f->tok = elmo_aligned_alloc(sizeof(float) * (size_t)f->budget * P, "token vectors");
    f->ids = elmo_aligned_alloc(sizeof(int32_t) * (size_t)f->max_words * ELMO_MAXC, "char ids");
    f->missvec = elmo_aligned_alloc(sizeof(float) * (size_t)f->max_words * P, "new vectors");
    f->src = elmo_malloc(sizeof(int64_t) * (size_t)f->budget, "cache rows");
    f->miss_dst = elmo_malloc(sizeof(int64_t) * (size_t)f->max_words, "cache misses");
    if (!f->words || !f->tok || !f->ids || !f->missvec || !f->src || !f->miss_dst)
        ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    for (int l = 0; l < m->opt.L; l++) {
        f->lay[l] = elmo_aligned_alloc(sizeof(float) * (size_t)f->budget * W, "layers");
        if (!f->lay[l]) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    }
    ELMO_CALL(alloc_output_scratch(f));
    return 0;
cleanup:
    elmo_forward_free(f);
    return rc;
}

void elmo_forward_free(struct elmo_forward *f) {
    elmo_bilm_ws_free(&f->ws);
    elmo_cache_free(&f->cache);
    free(f->words); free(f->tok); free(f->ids); free(f->missvec); free(f->src);
    free(f->miss_dst); free(f->layer0); free(f->mix); free(f->rowbuf);
    for (int l = 0; l < ELMO_MAX_LAYERS; l++) free(f->lay[l]);
    memset(f, 0, sizeof *f);
}

/* ---- a batch -------------------------------------------------------------------------- */

/* The vectors of the nmiss pending misses, into the cache or their batch rows. */
static void flush_misses(struct elmo_forward *f, int nmiss) {
    const int P = f->m->opt.P;
    elmo_token_embed(f->m, &f->ws, nmiss, f->ids, f->missvec);
    for (int i = 0; i < nmiss; i++) {
        int64_t d = f->miss_dst[i];
        float *dst = d >= 0 ? f->tok + (size_t)d * P : elmo_cache_vec(&f->cache, ~d);
        memcpy(dst, f->missvec + (size_t)i * P, sizeof(float) * P);
    }
}

/* Token vectors of the batch's n words into f->tok. */
static void token_vectors(struct elmo_forward *f, int n, const struct elmo_word *words) {
    const int P = f->m->opt.P;
    int nmiss = 0;
    for (int row = 0; row < n; row++) {
        int ready = 0;
        int64_t ci = elmo_cache_get(&f->cache, words[row].s, words[row].len, &ready);
        f->src[row] = ci;
        if (ci >= 0 && ready) continue;
        elmo_char_ids(words[row].s, words[row].len, f->ids + (size_t)nmiss * ELMO_MAXC);
        f->miss_dst[nmiss++] = ci >= 0 ? ~ci : row; /* a cache slot (< 0) or the row */
        if (nmiss == f->max_words) {
            flush_misses(f, nmiss);
            nmiss = 0;
        }
    }
    if (nmiss) flush_misses(f, nmiss);
    for (int row = 0; row < n; row++)
        if (f->src[row] >= 0)
            memcpy(f->tok + (size_t)row * P, elmo_cache_vec(&f->cache, f->src[row]),
                   sizeof(float) * P);
}

void elmo_forward_run(struct elmo_forward *f, int B, const int32_t *ntok,
                      const struct elmo_word *words, float *const *state) {
    int n = 0;
    for (int b = 0; b < B; b++) n += ntok[b];
    token_vectors(f, n, words);
    elmo_bilm_forward(f->m, &f->ws, B, ntok, f->tok, state, f->lay);
    f->r0 = f->n = 0;
    f->have_layer0 = f->have_mix = false;
}

int elmo_forward_next_batch(const struct elmo_forward *f, int n, const int32_t *len, int s0) {
    int s1 = s0, used = 0;
    while (s1 < n && s1 - s0 < f->max_rows) {
        if (s1 > s0 && used + len[s1] + 2 > f->budget) break;
        used += len[s1] + 2;
        s1++;
    }
    return s1;
}

/* ---- one sentence's outputs ----------------------------------------------------------- */

void elmo_forward_select(struct elmo_forward *f, int r0, int n) {
    f->r0 = r0;
    f->n = n;
    f->have_layer0 = f->have_mix = false;
}

/* [tok; tok] of the selected sentence (layer 0 of the mix). */
static const float *layer0(struct elmo_forward *f) {
    const int P = f->m->opt.P;
    if (f->have_layer0) return f->layer0;
    elmo_layer0(f->n, P, f->tok + (size_t)f->r0 * P, f->layer0);
    f->have_layer0 = true;
    return f->layer0;
}

/* The `elmo` scalar mix of the selected sentence. */
static const float *mix(struct elmo_forward *f) {
    const int W = 2 * f->m->opt.P, L = f->m->opt.L;
    const float *layers[ELMO_MAX_LAYERS + 1];
    if (f->have_mix) return f->mix;
    layers[0] = layer0(f);
    for (int l = 0; l < L; l++) layers[l + 1] = f->lay[l] + (size_t)f->r0 * W;
    elmo_scalar_mix(L + 1, f->n, W, layers, f->mix_w, f->gamma, f->layer_norm, f->mix);
    f->have_mix = true;
    return f->mix;
}

/* `default`: the mean of the mix over the sentence's tokens (one row). */
static const float *mean_of_mix(struct elmo_forward *f) {
    const int W = 2 * f->m->opt.P, n = f->n;
    const float *x = mix(f);
    float *d = f->rowbuf;
    for (int j = 0; j < W; j++) d[j] = 0.0f;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < W; j++) d[j] += x[(size_t)i * W + j];
    if (n > 0)
        for (int j = 0; j < W; j++) d[j] /= (float)n;
    return d;
}

/* `average`: the mean of the three layers, token by token. */
static const float *average(struct elmo_forward *f) {
    const int W = 2 * f->m->opt.P, L = f->m->opt.L;
    const float *l0 = layer0(f), *l1 = f->lay[0] + (size_t)f->r0 * W;
    const float *l2 = f->lay[L - 1] + (size_t)f->r0 * W;
    float *d = f->rowbuf;
    for (int i = 0; i < f->n * W; i++) d[i] = (l0[i] + l1[i] + l2[i]) / 3.0f;
    return d;
}

void elmo_forward_layers(struct elmo_forward *f, float *dst) {
    const int P = f->m->opt.P, W = 2 * P, L = f->m->opt.L;
    const float *tok = f->tok + (size_t)f->r0 * P;
    for (int i = 0; i < f->n; i++) {
        float *row = dst + (size_t)i * (L + 1) * W;
        memcpy(row, tok + (size_t)i * P, sizeof(float) * P);
        memcpy(row + P, tok + (size_t)i * P, sizeof(float) * P);
        for (int l = 0; l < L; l++)
            memcpy(row + (size_t)(l + 1) * W, f->lay[l] + (size_t)(f->r0 + i) * W,
                   sizeof(float) * W);
    }
}

const float *elmo_forward_output(struct elmo_forward *f, unsigned k, int64_t *nrows) {
    const int P = f->m->opt.P, W = 2 * P, L = f->m->opt.L;
    *nrows = f->n;
    switch (elmo_outputs[k].bit) {
    case ELMO_OUT_WORD_EMB: return f->tok + (size_t)f->r0 * P;
    case ELMO_OUT_LSTM1: return f->lay[0] + (size_t)f->r0 * W;
    case ELMO_OUT_LSTM2:
    case ELMO_OUT_TOP: return f->lay[L - 1] + (size_t)f->r0 * W;
    case ELMO_OUT_ELMO: return mix(f);
    case ELMO_OUT_DEFAULT: *nrows = 1; return mean_of_mix(f);
    case ELMO_OUT_ALL: elmo_forward_layers(f, f->rowbuf); return f->rowbuf;
    case ELMO_OUT_AVERAGE: return average(f);
    }
    *nrows = 0;
    return NULL;
}
