/*
 * gemm.c: elmo_gemm over cblas_sgemm, the naive reference used by tests, and the thread
 * setting (the row-stable GEMM itself is model/pgemm.c).
 */
#include "model/gemm.h"

#include <cblas.h>
#include <string.h>

void elmo_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void elmo_blas_set_threads(int n) {
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    elmo__pgemm_set_threads(n);
}

const char *elmo_blas_corename(void) { return openblas_get_corename(); }
