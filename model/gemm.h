/*
 * gemm.h: the matrix products.
 *
 * elmo_gemm is the plain BLAS product (row-major, BLAS signature, cblas_sgemm underneath), for
 * products whose rows are not independent samples.
 *
 * Products whose rows are independent sentences or tokens go through the project's own
 * row-stable GEMM instead (model/pgemm.c): elmo_pgemm on weights packed once (struct
 * elmo_pmat), and elmo_gemm_rows on plain row-major weights.  OpenBLAS does not promise that a
 * row's result depends on that row alone: with some kernels (e.g. OPENBLAS_CORETYPE=Haswell)
 * a row's result changes with the number of rows and with the row's place in the call, and
 * with two threads OpenBLAS splits the rows.  Our kernel computes every output element as one
 * chain of fused multiply-adds in a fixed order,
 *
 *     acc = init(i, j);  for k = 0 .. K-1: acc = fmaf(A[i][k], B[k][j], acc);  C[i][j] = acc
 *
 * where init is 0, bias[j], a given row, or bias[j] + that row (one rounding).  The register
 * tile, the cache blocking of M, N and K (a K block ends by storing the accumulators and the
 * next one starts by loading them, which is exact), the thread count (threads split the
 * columns) and the instruction set (AVX-512 or AVX2 tiles) change only which lanes and which
 * order of elements compute, never an element's chain, so a row's result is bit-identical
 * whatever the rows around it, the thread count and the x86-64 level, and it equals that
 * scalar fmaf loop (tests/model/test_gemm.c checks this bit for bit).  A machine without FMA runs a
 * scalar path calling fmaf, slow but with the same bits.
 */
#ifndef ELMO_GEMM_H
#define ELMO_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; row-major; lda/ldb/ldc in floats. */
void elmo_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ------------------------------------------------------------------------------------------ */
/* the row-stable GEMM */

/* Columns per packed panel (and per register tile). */
#define ELMO_NR 64

/*
 * A weight matrix B (K, N) packed for elmo_pgemm: panels of ELMO_NR columns, each panel K rows
 * of ELMO_NR floats one after another.  With ngates = 1 the packed columns are B's columns,
 * the last panel zero-padded.  With ngates = G in {2, 4} B is G gates of gd = N / G columns
 * each (highway carry | transform; LSTM i | j | f | o) and the panels interleave them:
 * packed column ELMO_NR q + w g + u (w = ELMO_NR / G) holds column g gd + w q + u, or zeros
 * when w q + u >= gd; so panel q holds all G gates of units w q .. w q + w - 1, and an
 * epilogue can finish those units at once.  bias (np ELMO_NR floats, in packed column order,
 * zero-padded) is NULL when there is none.
 */
struct elmo_pmat {
    int K, N;    /* logical shape of B */
    int np;      /* panels */
    int ngates;  /* 1, 2 or 4 */
    float *data; /* (np, K, ELMO_NR) */
    float *bias; /* (np * ELMO_NR) or NULL */
};

/* Panels of a (K, N) matrix of ngates gates: ceil(N / ngates / (ELMO_NR / ngates)). */
int elmo_pmat_panels(int N, int ngates);

/* Floats elmo_pmat_pack writes for a (K, N) matrix, bias included, rounded up to 16. */
size_t elmo_pmat_floats(int K, int N, int ngates, bool bias);

/* Points p at mem laid out as elmo_pmat_pack writes it, without writing any data (for a copy
 * packed elsewhere, e.g. by another process into shared memory). */
void elmo_pmat_describe(struct elmo_pmat *p, int K, int N, int ngates, bool bias, float *mem);

/*
 * Packs B (K, N, row stride ldb) and bias (N, may be NULL) into mem (elmo_pmat_floats floats,
 * 64-byte aligned, owned by the caller) and describes it in p.  ngates: 1, or 2 / 4 with N a
 * multiple of ngates.
 */
void elmo_pmat_pack(struct elmo_pmat *p, int K, int N, const float *B, int ldb, const float *bias,
                    int ngates, float *mem);

/* Rows of a matrix: row i is base + i * ld, or ptr[i] when ptr is not NULL. */
struct elmo_rows {
    const float *base;
    size_t ld;
    const float *const *ptr;
};
struct elmo_out_rows {
    float *base;
    size_t ld;
    float *const *ptr;
};

/*
 * Called once per finished tile, with the final sums of rows r0 .. r0 + m - 1 (m <= 8) and
 * packed columns j0 .. j0 + n - 1 (one panel; n = ELMO_NR for a gate-interleaved matrix, else
 * the columns < N): t[r] points at row r0 + r, column j0.  Runs on the thread that computed
 * the tile; a panel's tiles all run on one thread, in row order.
 */
typedef void (*elmo_pgemm_epilogue)(void *ctx, int r0, int m, int j0, int n, const float *const *t);

/* Where the accumulators start (see the top of this file). */
enum elmo_pgemm_init {
    ELMO_INIT_ZERO = 0, /* 0, or the packed bias when W has one */
    ELMO_INIT_ROWS = 1, /* the rows `init` (+ the packed bias when W has one) */
};

/*
 * One product C (M, Nc) = init + A (M, K) W (K, N) of elmo_pgemm, in packed column order
 * (Nc = N for ngates = 1, np ELMO_NR for gate-interleaved matrices).  Without an epilogue the
 * result goes to c.  With one, the epilogue gets every finished tile and c only carries the
 * partial sums when K is cut in blocks (K > elmo_pgemm_kc()); leave c empty and K runs in one
 * block instead (right, but slower for a long K).  c may be init (accumulate in place) but
 * must not overlap a.
 */
struct elmo_pgemm_op {
    int M;
    const struct elmo_pmat *W;
    struct elmo_rows a; /* (M, K) */
    enum elmo_pgemm_init init_mode;
    struct elmo_rows init;   /* (M, Nc) for ELMO_INIT_ROWS */
    struct elmo_out_rows c;  /* (M, Nc) */
    elmo_pgemm_epilogue epi; /* NULL or called per finished tile */
    void *epi_ctx;
};

/*
 * Runs n independent products on the GEMM threads (elmo_blas_set_threads): their panels are
 * laid end to end and cut into one contiguous range per thread (columns, never rows), weighed
 * by M K.  Returns when all are done.  Never allocates.  With more than one GEMM thread, call
 * it from one thread of the process only (the pool is shared), and never from an epilogue.
 */
void elmo_pgemm(int n, const struct elmo_pgemm_op *ops);

/* elmo_pgemm on the calling thread alone (for use inside an elmo__parallel task). */
void elmo__pgemm_serial(int n, const struct elmo_pgemm_op *ops);

/* The K block (floats of K per pass); products with K <= this never use c as a carrier. */
int elmo_pgemm_kc(void);

/*
 * Row-stable product on unpacked weights: C (M,N) = A (M,K) B (K,N) + bias (N) [+ C when
 * accumulate]; row-major.  Row r of C depends on row r of A (and of C) alone, bit for bit, and
 * equals the fmaf chain above with init = bias[j] [+ C[r][j]].  bias may be NULL.  scratch
 * holds elmo_gemm_rows_scratch(N, K) floats (a padded copy of a partial last panel).  C must
 * not overlap A.  B is read in place (row stride ldb), so no packing cost per call.
 */
void elmo_gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, bool accumulate, float *C, int ldc, float *scratch);

/* Floats of scratch elmo_gemm_rows needs for products with these N and K. */
size_t elmo_gemm_rows_scratch(int N, int K);

/*
 * Sets the thread count of the row-stable GEMM (a small persistent pool, started on first use)
 * and of OpenBLAS (openblas_set_num_threads); n >= 1.  Results of elmo_pgemm/elmo_gemm_rows do
 * not depend on it.  Call it from the main thread, outside any product.
 */
void elmo_blas_set_threads(int n);

/* The current thread count of the row-stable GEMM. */
int elmo_blas_threads(void);

/*
 * A lender of cores.  While one is set, every parallel product call (elmo_pgemm,
 * elmo_gemm_rows; not the serial ones a GEMM thread makes) first asks take(ctx, threads) with
 * the current thread count, and the row-stable GEMM runs on that many more threads from then
 * on (at most 64 in all).  Results do not depend on it, so a rank may take cores other ranks
 * stopped using in the middle of a batch.  NULL stops asking; the thread count stays until
 * elmo_blas_set_threads.  Call it from the main thread, outside any product.
 */
void elmo_blas_set_lender(int (*take)(void *ctx, int threads), void *ctx);

/*
 * A poll between products.  While one is set, every parallel product call first calls
 * poll(ctx) on the main thread (before asking the lender), so a rank that also answers other
 * ranks answers within a product rather than a batch.  poll must not call the GEMM.  NULL
 * stops it.  Call it from the main thread, outside any product.
 */
void elmo_blas_set_poll(void (*poll)(void *ctx), void *ctx);

/* Name of the BLAS kernel in use (openblas_get_corename), for reports. */
const char *elmo_blas_corename(void);

/*
 * The FMA peak of the tiles' instruction set, measured: GFLOP/s of a register-only loop of 12
 * independent FMA chains, run on every GEMM thread at once and summed (about 0.3 s).
 */
double elmo_pgemm_fma_peak(void);

/* Instruction set of the row-stable GEMM's tiles: "avx512", "avx2" or "scalar-fma". */
const char *elmo_pgemm_isa(void);

/*
 * Forces the tile path (tests and benchmarks): 0 = the best this CPU has, 1 = scalar fmaf,
 * 2 = AVX2 + FMA (x86-64-v3), 3 = AVX-512 (x86-64-v4).  Returns the path now in use (a path the
 * CPU lacks is refused and the current one kept).
 */
int elmo__pgemm_force_isa(int level);

/* Sets the row-stable GEMM's threads alone (elmo_blas_set_threads sets OpenBLAS's too). */
void elmo__pgemm_set_threads(int n);

/* Runs fn(arg, t, n) for t = 0 .. n - 1 on the GEMM threads (n = elmo_blas_threads()). */
void elmo__parallel(void (*fn)(void *arg, int t, int n), void *arg);

#endif /* ELMO_GEMM_H */
