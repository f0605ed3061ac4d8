/*
 * bilm_ws.c: the per-worker scratch of the forward pass.  elmo_bilm_ws_init sizes one arena
 * for the largest batch the worker will run, carves the views of struct elmo__ws out of it,
 * and computes the <S>/</S> token vectors once; the forward pass then never allocates.
 */
#define _DEFAULT_SOURCE /* madvise, MAP_ANONYMOUS */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model/bilm_ws.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"

/* Alignment of the arena: one huge page. */
#define ARENA_ALIGN ((size_t)2 << 20)

/* Rows of the input projections computed at once (see layout). */
#define ZX_ROWS ((size_t)1024)

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

static void layout(struct carve *cv, struct elmo__ws *w, const struct elmo_model *m, size_t Bm,
                   size_t Pm, float **bos, float **eos) {
    const struct elmo_options *o = &m->opt;
    const size_t C = ELMO_MAXC, E = (size_t)o->E, F = (size_t)o->F, P = (size_t)o->P,
                 D = (size_t)o->D, CH = ELMO__TOK_CHUNK, PTR = sizeof(void *) / sizeof(float);
    const size_t G = (size_t)elmo_pmat_panels(4 * o->D, 4) * ELMO_NR;
    w->G = (int)G;
    /* zx holds the input projections of a run of steps: enough rows that the product
       streams W_0[:P] once per ZX_ROWS rows or so, few enough that it stays small */
    const size_t cap = Pm < ZX_ROWS ? Pm : ZX_ROWS, Zm = Bm > cap ? Bm : cap;
    w->Zm = (int)Zm;
    *bos = take(cv, P);
    *eos = take(cv, P);
    w->emb = take(cv, CH * C * E);
    w->win = (const float **)take(cv, (size_t)o->n_filters * CH * C * PTR);
    w->win_tok = (int32_t *)take(cv, (size_t)o->n_filters * CH * C);
    w->pad_conv = take(cv, F);
    w->x = take(cv, CH * F);
    w->x2 = take(cv, CH * F);
    w->hwc = o->F > elmo_pgemm_kc() ? take(cv, CH * (size_t)elmo_pmat_panels(2 * o->F, 2) * ELMO_NR)
                                    : NULL;
    w->last = (int32_t *)take(cv, CH);
    w->x0 = take(cv, Pm * P);
    w->edge_c = take(cv, 2 * (size_t)o->L * D);
    w->edge_h = take(cv, 2 * (size_t)o->L * P);
    for (int d = 0; d < 2; d++) {
        w->y[d] = take(cv, Pm * P);
        w->zx[d] = take(cv, Zm * G);
        w->xrow[d] = (const float **)take(cv, Zm * PTR);
        w->h[d] = take(cv, Bm * P);
        w->c[d] = take(cv, Bm * D);
        w->mm[d] = take(cv, Bm * D);
        w->carry[d] = o->P > elmo_pgemm_kc() ? take(cv, Bm * G) : NULL;
        w->pos[d] = (int32_t *)take(cv, Bm);
        w->zrow[d] = (const float **)take(cv, Bm * PTR);
    }
    w->order = (int32_t *)take(cv, Bm);
    w->off = (int32_t *)take(cv, Bm);
    w->toff = (int32_t *)take(cv, Bm);
}

int elmo_bilm_ws_init(struct elmo_bilm_ws *ws, const struct elmo_model *m, int max_rows,
                      int max_positions, int max_words) {
    memset(ws, 0, sizeof *ws);
    ELMO_CHECK(m->block != NULL, ELMO_ERR_ARG, "elmo_bilm_ws_init: the model has no weights");
    ELMO_CHECK(max_rows >= 1 && max_positions >= 3 && max_words >= 0, ELMO_ERR_ARG,
               "elmo_bilm_ws_init: bad sizes (max_rows %d, max_positions %d, max_words %d)",
               max_rows, max_positions, max_words);
    ELMO_TRY(elmo__model_packed(m));
    struct elmo__ws *w = elmo_calloc(1, sizeof *w, "the forward-pass workspace");
    if (!w) return ELMO_ERR_NOMEM;
    struct carve cv = {NULL, 0};
    float *bos, *eos;
    layout(&cv, w, m, (size_t)max_rows, (size_t)max_positions, &bos, &eos);
    /* anonymous zeroed pages, touched only when a batch reaches them, so neither the start-up
       nor the memory of a small job pays for the largest batch; advised as huge pages, so
       that a batch's first touches fault 2 MiB at a time (the advice may be ignored) */
    w->arena_bytes = (cv.off * sizeof(float) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    void *raw = mmap(NULL, w->arena_bytes + ARENA_ALIGN, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        free(w);
        return elmo_error(ELMO_ERR_NOMEM,
                          "out of memory: %zu bytes for the forward-pass "
                          "workspace",
                          cv.off * sizeof(float));
    }
    w->arena_raw = raw;
    float *arena = (float *)(((uintptr_t)raw + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(arena, w->arena_bytes, MADV_HUGEPAGE);
#endif
    cv.base = arena;
    cv.off = 0;
    layout(&cv, w, m, (size_t)max_rows, (size_t)max_positions, &bos, &eos);
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
    /* the stateless first step of every layer and direction: a pass over one empty sentence
       (<S> </S>) records the state after it, computed as in any batch (the GEMM's bits do not
       depend on the rows beside a row), so later passes start from it */
    float *none[ELMO_MAX_LAYERS] = {NULL}; /* an empty sentence has no output rows */
    const int32_t empty = 0;
    w->edge_capture = true;
    elmo_bilm_forward(m, ws, 1, &empty, bos, NULL, none);
    w->edge_capture = false;
    w->edge_ready = true;
    memset(&ws->times, 0, sizeof ws->times);
    return ELMO_OK;
}

void elmo_bilm_ws_free(struct elmo_bilm_ws *ws) {
    struct elmo__ws *w = ws->priv;
    if (w && w->arena_raw) (void)munmap(w->arena_raw, w->arena_bytes + ARENA_ALIGN);
    free(ws->priv);
    memset(ws, 0, sizeof *ws);
}
