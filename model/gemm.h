/*
 * gemm.h: the one matrix-product wrapper.  Every matrix product in the project goes through
 * elmo_gemm (row-major, BLAS signature, cblas_sgemm underneath); elmo_gemm_ref is the naive
 * triple loop, kept for tests only.
 */
#ifndef ELMO_GEMM_H
#define ELMO_GEMM_H

#include <stdbool.h>
#include <stddef.h>

/* C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; row-major; lda/ldb/ldc in floats. */
void elmo_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The naive reference of elmo_gemm (tests only). */
void elmo_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

/*
 * Rows computed together must not change each other's numbers (the stateless regime promises
 * bit-identical vectors whatever the batch).  OpenBLAS's kernels do not promise that: with the
 * Haswell kernel (OPENBLAS_CORETYPE=Haswell, set on this machine) a row's result changes with
 * the number of rows and with the row's place in the call (measured, tests/test_gemm.c).
 * elmo_gemm_rows therefore always calls sgemm on exactly ELMO_ROW_BLOCK rows, laid out so the
 * rows run along the kernel's vector lanes (col-major C^T = B^T A^T), padding the last block
 * with zero rows; then every row goes through the same instructions wherever it sits.
 * Measured with the Haswell kernel: blocks of 16 rows are position-independent, blocks of 32
 * are not (lanes 8..23 of a 24-row tile take another path), and with 2 BLAS threads OpenBLAS
 * splits a 16-row block in two, which breaks it again; so the promise holds at 1 BLAS thread,
 * and more threads must split the columns (N), not the rows.
 */
#define ELMO_ROW_BLOCK 16

/* Floats of scratch elmo_gemm_rows needs for products with these N and K. */
size_t elmo_gemm_rows_scratch(int N, int K);

/*
 * Row-stable product: C (M,N) = A (M,K) B (K,N) + bias (N) [+ C when accumulate]; row-major.
 * Row r of C depends on row r of A alone, bit for bit.  bias may be NULL.  scratch holds
 * elmo_gemm_rows_scratch(N, K) floats.  C must not overlap A.
 */
void elmo_gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, bool accumulate, float *C, int ldc, float *scratch);

/* Sets the BLAS thread count of this process (openblas_set_num_threads); n >= 1. */
void elmo_blas_set_threads(int n);

/* Name of the BLAS kernel in use (openblas_get_corename), for reports. */
const char *elmo_blas_corename(void);

#endif /* ELMO_GEMM_H */
