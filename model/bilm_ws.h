/*
 * bilm_ws.h: the private layout of struct elmo_bilm_ws (model/ internal; not installed).
 * Every pointer is a view into ws->arena; elmo_bilm_ws_init sizes and carves it once.
 */
#ifndef ELMO_BILM_WS_H
#define ELMO_BILM_WS_H

#include <stdint.h>

#include "model/bilm.h"

/* Tokens per char-CNN chunk and per highway chunk (multiples of ELMO_ROW_BLOCK); a larger
 * highway chunk lets more row blocks reuse a cached block of the F x F weights. */
#define ELMO__CNN_CHUNK 64
#define ELMO__HW_CHUNK  256

struct elmo__ws {
    /* char CNN (per chunk of ELMO__CNN_CHUNK tokens), highway and projection (per chunk of
     * ELMO__HW_CHUNK tokens) */
    float *emb;      /* (chunk * C, E) char embeddings of the chunk's tokens */
    float *col;      /* (chunk * C, w_max * E) im2col rows: one window of w chars per row */
    float *conv;     /* (chunk * C, n_max) convolution outputs of one filter group */
    float *pad_conv; /* (F) conv output (bias included) of a window of PAD chars, per group */
    float *x;        /* (hw chunk, F) CNN output, then highway state */
    float *g;        /* (hw chunk, F) highway gate pre-activation */
    float *t;        /* (hw chunk, F) highway transform pre-activation */
    int32_t *last;   /* (chunk) index of each token's last non-PAD char, -1 if none */
    /* biLSTM */
    float *x0;      /* (Pm, P) layer-0 input with <S> and </S> inserted */
    float *y[2];    /* (Pm, P) per direction: layer output (with skip), next layer's input */
    float *zx;      /* (Pm, 4D) input projection x @ W_0[:P] + B of all positions */
    float *h;       /* (Bm, P) recurrent h of the rows, in length order */
    float *c;       /* (Bm, D) cell state of the rows, in length order */
    float *gates;   /* (Bm, 4D) recurrent part h @ W_0[P:] of one step */
    float *mm;      /* (Bm, D) o * tanh(c) of one step */
    float *hn;      /* (Bm, P) projected output of one step */
    int32_t *order; /* (Bm) batch rows sorted by length, longest first */
    int32_t *off;   /* (Bm) first position of each batch row in x0/y/zx */
    int32_t *toff;  /* (Bm) first real token of each batch row in tok/out */
    float *scratch; /* elmo_gemm_rows scratch, large enough for every product here */
};

/*
 * elmo_gemm_rows (no accumulate) cut into column blocks of about 4 MB of B, each run over all
 * the rows, so that a block of B stays in cache while elmo_gemm_rows packs it again for every
 * 16 rows.  The cut depends on N and K alone, so a row's result still depends on that row
 * alone.
 */
void elmo__gemm_rows_blocked(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                             const float *bias, float *C, int ldc, float *scratch);

/* The char CNN's all-PAD window outputs; called once by elmo_bilm_ws_init. */
void elmo__cnn_prepare(const struct elmo_model *m, struct elmo_bilm_ws *ws);

#endif /* ELMO_BILM_WS_H */
