/*
 * bilm_ws.c: the per-worker scratch of the forward pass.  elmo_bilm_ws_init sizes one arena
 * for the largest batch the worker will run, carves the views of struct elmo__ws out of it,
 * and computes the <S>/</S> token vectors once; the forward pass then never allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "model/bilm_ws.h"
#include "model/gemm.h"
#include "model/status.h"

void elmo__gemm_rows_blocked(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                             const float *bias, float *C, int ldc, float *scratch) {
    int nc = N;
    if ((size_t)K * (size_t)N > ((size_t)1 << 20)) {
        nc = (int)(((size_t)1 << 20) / (size_t)K) / 64 * 64;
        if (nc < 256) nc = 256;
    }
    for (int j0 = 0; j0 < N; j0 += nc) {
        int n = N - j0 < nc ? N - j0 : nc;
        elmo_gemm_rows(M, n, K, A, lda, B + j0, ldb, bias ? bias + j0 : NULL, false, C + j0, ldc,
                       scratch);
    }
}

/* Carves n floats (64-byte aligned) from the arena, or only counts when base is NULL. */
struct carve {
    float *base;
    size_t off;
};

static float *take(struct carve *c, size_t n) {
    float *p = c->base ? c->base + c->off : NULL;
    c->off += (n + 15) / 16 * 16;
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static void layout(struct carve *cv, struct elmo__ws *w, const struct elmo_options *o, size_t Bm,
                   size_t Pm, float **bos, float **eos) {
    size_t C = ELMO_MAXC, E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P, D = (size_t)o->D,
           CH = ELMO__CNN_CHUNK;
    size_t col = 0, conv = 0, scratch = 0;
    for (int i = 0; i < o->n_filters; i++) {
        size_t wi = (size_t)o->filter_width[i], ni = (size_t)o->filter_count[i];
        size_t rows = CH * (C - wi + 1);
        col = max_sz(col, rows * wi * E);
        conv = max_sz(conv, rows * ni);
        scratch = max_sz(scratch, elmo_gemm_rows_scratch((int)ni, (int)(wi * E)));
    }
    scratch = max_sz(scratch, elmo_gemm_rows_scratch((int)F, (int)F));
    scratch = max_sz(scratch, elmo_gemm_rows_scratch((int)P, (int)F));
    scratch = max_sz(scratch, elmo_gemm_rows_scratch((int)(4 * D), (int)P));
    scratch = max_sz(scratch, elmo_gemm_rows_scratch((int)P, (int)D));
    *bos = take(cv, P);
    *eos = take(cv, P);
    w->emb = take(cv, CH * C * E);
    w->col = take(cv, col);
    w->conv = take(cv, conv);
    w->pad_conv = take(cv, F);
    w->x = take(cv, ELMO__HW_CHUNK * F);
    w->g = take(cv, ELMO__HW_CHUNK * F);
    w->t = take(cv, ELMO__HW_CHUNK * F);
    w->last = (int32_t *)take(cv, CH);
    w->x0 = take(cv, Pm * P);
    w->y[0] = take(cv, Pm * P);
    w->y[1] = take(cv, Pm * P);
    w->zx = take(cv, Pm * 4 * D);
    w->h = take(cv, Bm * P);
    w->c = take(cv, Bm * D);
    w->gates = take(cv, Bm * 4 * D);
    w->mm = take(cv, Bm * D);
    w->hn = take(cv, Bm * P);
    w->order = (int32_t *)take(cv, Bm);
    w->off = (int32_t *)take(cv, Bm);
    w->toff = (int32_t *)take(cv, Bm);
    w->scratch = take(cv, scratch);
}

int elmo_bilm_ws_init(struct elmo_bilm_ws *ws, const struct elmo_model *m, int max_rows,
                      int max_positions, int max_words) {
    memset(ws, 0, sizeof *ws);
    ELMO_CHECK(m->block != NULL, ELMO_ERR_ARG, "elmo_bilm_ws_init: the model has no weights");
    ELMO_CHECK(max_rows >= 1 && max_positions >= 3 && max_words >= 0, ELMO_ERR_ARG,
               "elmo_bilm_ws_init: bad sizes (max_rows %d, max_positions %d, max_words %d)",
               max_rows, max_positions, max_words);
    struct elmo__ws *w = elmo_calloc(1, sizeof *w, "the forward-pass workspace");
    if (!w) return ELMO_ERR_NOMEM;
    struct carve cv = {NULL, 0};
    float *bos, *eos;
    layout(&cv, w, &m->opt, (size_t)max_rows, (size_t)max_positions, &bos, &eos);
    float *arena = elmo_aligned_alloc(cv.off * sizeof(float), "the forward-pass workspace");
    if (!arena) {
        free(w);
        return ELMO_ERR_NOMEM;
    }
    memset(arena, 0, cv.off * sizeof(float));
    cv.base = arena;
    cv.off = 0;
    layout(&cv, w, &m->opt, (size_t)max_rows, (size_t)max_positions, &bos, &eos);
    ws->max_rows = max_rows;
    ws->max_positions = max_positions;
    ws->max_words = max_words;
    ws->arena = arena;
    ws->arena_floats = cv.off;
    ws->bos = bos;
    ws->eos = eos;
    ws->priv = w;
    elmo__cnn_prepare(m, ws);
    int32_t ids[2 * ELMO_MAXC];
    elmo_char_ids_bos(ids);
    elmo_char_ids_eos(ids + ELMO_MAXC);
    float *both = w->x0; /* (2, P) borrowed: x0 is rewritten by every forward pass */
    elmo_token_embed(m, ws, 2, ids, both);
    memcpy(bos, both, sizeof(float) * (size_t)m->opt.P);
    memcpy(eos, both + m->opt.P, sizeof(float) * (size_t)m->opt.P);
    return ELMO_OK;
}

void elmo_bilm_ws_free(struct elmo_bilm_ws *ws) {
    free(ws->arena);
    free(ws->priv);
    memset(ws, 0, sizeof *ws);
}
