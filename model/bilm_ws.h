/*
 * bilm_ws.h: the private layout of struct elmo_bilm_ws (model/ internal; not installed).
 * Every pointer is a view into ws->arena; elmo_bilm_ws_init sizes and carves it once.
 */
#ifndef ELMO_BILM_WS_H
#define ELMO_BILM_WS_H

#include <stdint.h>

#include "model/bilm.h"
#include "model/gemm.h"

/* Tokens per chunk of elmo_token_embed (char CNN, highway and projection run on a chunk). */
#define ELMO__TOK_CHUNK 256

/* The packed weights of a model (model/pack.c); views into one block. */
struct elmo_packed {
    float *block;
    size_t floats;
    bool borrowed;                             /* block is the caller's (elmo_model_pack_at) */
    struct elmo_pmat cnn[ELMO_MAX_FILTERS];    /* (w_i E, n_i) + bias */
    struct elmo_pmat hw[ELMO_MAX_HIGHWAY];     /* (F, 2F) [carry | transform], 2 gates, + bias */
    struct elmo_pmat proj;                     /* (F, P) + bias, when has_cnn_proj */
    struct elmo_pmat wx[2][ELMO_MAX_LAYERS];   /* W_0[:P] (P, 4D), 4 gates, + B */
    struct elmo_pmat wh[2][ELMO_MAX_LAYERS];   /* W_0[P:] (P, 4D), 4 gates */
    struct elmo_pmat wp[2][ELMO_MAX_LAYERS];   /* W_P_0 (D, P), when has_lstm_proj */
};

/* Packs m once (lazily, under a lock); the packed copies are a cache of the weights. */
int elmo__model_packed(const struct elmo_model *m);

struct elmo__ws {
    void *arena_raw;     /* the mapping holding ws->arena (aligned to 2 MiB inside it) */
    size_t arena_bytes;  /* of the arena, a multiple of 2 MiB (the mapping has 2 MiB more) */
    /* token vectors, per chunk of ELMO__TOK_CHUNK tokens */
    float *emb;          /* (chunk * C, E) char embeddings of the chunk's tokens */
    const float **win;   /* (n_filters, chunk * C) start of each convolution window in emb */
    int32_t *win_tok;    /* (n_filters, chunk * C) token of each window */
    float *pad_conv;     /* (F) conv output (bias included) of a window of PAD chars, per group */
    float *x, *x2;       /* (chunk, F) CNN output, then highway state (ping-pong) */
    float *hwc;          /* (chunk, 2F packed) partial sums of a highway product when F > KC */
    int32_t *last;       /* (chunk) index of each token's last non-PAD char, -1 if none */
    /* biLSTM; per direction d where indexed [2] */
    float *x0;           /* (Pm, P) layer-0 input with <S> and </S> inserted */
    float *y[2];         /* (Pm, P) layer output (with skip), next layer's input */
    float *zx[2];        /* (Zm, G) input projections x W_0[:P] + B of a run of steps */
    const float **xrow[2]; /* (Zm) the layer-input row of each zx row */
    float *h[2];         /* (Bm, P) recurrent h of the rows, in length order */
    float *c[2];         /* (Bm, D) cell state of the rows, in length order */
    float *mm[2];        /* (Bm, D) o * tanh(c) of one step */
    float *carry[2];     /* (Bm, G) partial sums of h W_0[P:] when P > elmo_pgemm_kc(), else NULL */
    int32_t *pos[2];     /* (Bm) position of each running row at the current step */
    const float **zrow[2]; /* (Bm) zx row of each running row at the current step */
    int32_t *order;      /* (Bm) batch rows sorted by length, longest first */
    int32_t *off;        /* (Bm) first position of each batch row in x0/y/zx */
    int32_t *toff;       /* (Bm) first real token of each batch row in tok/out */
    int G;               /* row stride of zx / carry: packed width of W_0 (>= 4D) */
    int Zm;              /* rows of zx: at least one step's rows (Bm) */
    /* Stateless, per layer l and direction d at [2 l + d]: the state after the first step, on
     * the boundary token (<S> forward, </S> backward) from zero state, the same for every
     * sentence; captured once by elmo_bilm_ws_init (edge_ready), so that a stateless pass
     * starts at the second step.  The last step (the other boundary) is skipped too: its
     * output and state are never read. */
    float *edge_c; /* (2 L, D) */
    float *edge_h; /* (2 L, P) */
    bool edge_ready;
    bool edge_capture; /* set while elmo_bilm_ws_init captures them */
};

/* The char CNN's all-PAD window outputs; called once by elmo_bilm_ws_init. */
void elmo__cnn_prepare(const struct elmo_model *m, struct elmo_bilm_ws *ws);

#endif /* ELMO_BILM_WS_H */
