/*
 * pgemm_tile.h: the register tile of the row-stable GEMM, written once in plain C with GCC
 * vector extensions and instantiated per instruction set by model/pgemm.c, which defines
 * before each inclusion:
 *
 *   TILE_NAME   name of the tile function (e.g. tile_avx512)
 *   TILE_TARGET the function attribute selecting the instruction set
 *   VW          floats per vector (16 for AVX-512, 8 for AVX2)
 *   NVS         vectors per row of a sub-tile; a sub-tile is VW * NVS columns, and a panel of
 *               ELMO_NR columns is ELMO_NR / (VW * NVS) sub-tiles
 *   MR          rows of the tile (<= PGEMM_MAXMR)
 *
 * The accumulators of an MR x (VW NVS) sub-tile stay in registers for the whole K block: per k
 * one row of B (NVS vector loads), one broadcast per row of A, MR NVS multiply-adds.  This
 * file is compiled with -ffp-contract=fast, so `acc += b * a` is one FMA: every element is one
 * fmaf chain over k in order whatever the lane, the row count m or the vector width (see
 * gemm.h).  The row count m (1 .. MR) is a constant in each instance of tile_body, so a tile
 * of fewer rows runs the same chains with fewer accumulators instead of padding rows.
 */

#define TILE_CAT2(a, b) a##b
#define TILE_CAT(a, b)  TILE_CAT2(a, b)
#define TILE_VT         TILE_CAT(TILE_NAME, _vt)
#define TILE_BODY       TILE_CAT(TILE_NAME, _body)

typedef float TILE_VT __attribute__((vector_size(VW * 4)));

TILE_TARGET __attribute__((always_inline)) static inline void
TILE_BODY(const struct tile_args *restrict t, const int m) {
    const int kc = t->kc;
    const size_t bs = t->bs;
    const float *ar[MR];
    for (int r = 0; r < MR; r++) ar[r] = t->a[r < m ? r : 0];
    for (int s = 0; s < ELMO_NR / (VW * NVS); s++) {
        const int c0 = s * VW * NVS;
        TILE_VT acc[MR][NVS];
#pragma GCC unroll 8
        for (int r = 0; r < m; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NVS; v++) {
                const float *src = t->init == TILE_INIT_ZERO   ? NULL
                                   : t->init == TILE_INIT_BIAS ? t->bias + c0 + v * VW
                                                               : t->i[r] + c0 + v * VW;
                if (src) memcpy(&acc[r][v], src, sizeof(TILE_VT));
                else acc[r][v] = (TILE_VT){0};
            }
        const float *restrict bp = t->b + c0;
        for (int k = 0; k < kc; k++, bp += bs) {
            TILE_VT bv[NVS];
#pragma GCC unroll 8
            for (int v = 0; v < NVS; v++) memcpy(&bv[v], bp + v * VW, sizeof(TILE_VT));
#pragma GCC unroll 8
            for (int r = 0; r < m; r++) {
                const float x = ar[r][k];
#pragma GCC unroll 8
                for (int v = 0; v < NVS; v++) acc[r][v] += bv[v] * x;
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < m; r++)
#pragma GCC unroll 8
            for (int v = 0; v < NVS; v++)
                memcpy(t->c[r] + c0 + v * VW, &acc[r][v], sizeof(TILE_VT));
    }
}

TILE_TARGET static void TILE_NAME(const struct tile_args *restrict t) {
    switch (t->m) {
#if MR >= 8
    case 8: TILE_BODY(t, 8); break;
#endif
#if MR >= 7
    case 7: TILE_BODY(t, 7); break;
#endif
    case 6: TILE_BODY(t, 6); break;
    case 5: TILE_BODY(t, 5); break;
    case 4: TILE_BODY(t, 4); break;
    case 3: TILE_BODY(t, 3); break;
    case 2: TILE_BODY(t, 2); break;
    default: TILE_BODY(t, 1); break;
    }
}

#undef TILE_CAT2
#undef TILE_CAT
#undef TILE_VT
#undef TILE_BODY
