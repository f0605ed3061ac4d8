/*
 * gemm.c: elmo_gemm over cblas_sgemm, and the naive reference used by tests.
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

void elmo_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = trans_b ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                acc += (double)a * b;
            }
            float c = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
            C[(long)i * ldc + j] = (float)(alpha * acc) + c;
        }
    }
}

size_t elmo_gemm_rows_scratch(int N, int K) {
    return (size_t)ELMO_ROW_BLOCK * (size_t)K + (size_t)ELMO_ROW_BLOCK * (size_t)N;
}

void elmo_gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, bool accumulate, float *C, int ldc, float *scratch) {
    const int Q = ELMO_ROW_BLOCK;
    float *pad = scratch;                  /* (Q, K) zero-padded copy of a partial block */
    float *ct = scratch + (size_t)Q * K;   /* (N, Q): the block's product, transposed */
    for (int r0 = 0; r0 < M; r0 += Q) {
        int rows = M - r0 < Q ? M - r0 : Q;
        const float *a = A + (size_t)r0 * lda;
        int la = lda;
        if (rows < Q) {
            for (int r = 0; r < Q; r++) {
                if (r < rows) memcpy(pad + (size_t)r * K, a + (size_t)r * lda, sizeof(float) * K);
                else memset(pad + (size_t)r * K, 0, sizeof(float) * K);
            }
            a = pad;
            la = K;
        }
        /* col-major ct (Q x N) = a (row-major Q x K) * B (row-major K x N) */
        cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, Q, N, K, 1.0f, a, la, B, ldb, 0.0f,
                    ct, Q);
        for (int r = 0; r < rows; r++) {
            float *c = C + (size_t)(r0 + r) * ldc;
            const float *t = ct + r;
            if (accumulate) {
                if (bias) for (int j = 0; j < N; j++) c[j] += t[(size_t)j * Q] + bias[j];
                else for (int j = 0; j < N; j++) c[j] += t[(size_t)j * Q];
            } else {
                if (bias) for (int j = 0; j < N; j++) c[j] = t[(size_t)j * Q] + bias[j];
                else for (int j = 0; j < N; j++) c[j] = t[(size_t)j * Q];
            }
        }
    }
}

void elmo_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

const char *elmo_blas_corename(void) { return openblas_get_corename(); }
