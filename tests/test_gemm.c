/*
 * test_gemm.c: elmo_gemm against the naive reference, and the row-stability of elmo_gemm_rows:
 * a row's result is bit-identical whatever the number of rows and the row's place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemm.h"
#include "model/status.h"
#include "tests/check.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / 16777216.0) - 0.5f;
}

static void check_rows(int N, int K) {
    const int MM = 150;
    float *A = malloc(sizeof(float) * MM * K), *B = malloc(sizeof(float) * K * N);
    float *bias = malloc(sizeof(float) * N);
    float *ref = malloc(sizeof(float) * MM * N), *C = malloc(sizeof(float) * MM * N);
    float *scratch = malloc(sizeof(float) * elmo_gemm_rows_scratch(N, K));
    for (int i = 0; i < MM * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    for (int i = 0; i < N; i++) bias[i] = frand();
    for (int r = 0; r < MM; r++)  /* each row alone */
        elmo_gemm_rows(1, N, K, A + (size_t)r * K, K, B, N, bias, false, ref + (size_t)r * N, N,
                       scratch);
    int differ = 0;
    for (int M = 2; M <= MM; M += 7) {
        for (int off = 0; off + M <= MM; off += 37) {  /* rows at other places */
            elmo_gemm_rows(M, N, K, A + (size_t)off * K, K, B, N, bias, false, C, N, scratch);
            for (int r = 0; r < M; r++)
                if (memcmp(C + (size_t)r * N, ref + (size_t)(off + r) * N, sizeof(float) * N))
                    differ++;
        }
    }
    if (differ) fprintf(stderr, "N=%d K=%d: %d rows differ\n", N, K, differ);
    CHECK_INT_EQ(differ, 0);
    /* and the values are right */
    float *naive = malloc(sizeof(float) * MM * N);
    elmo_gemm_ref(false, false, MM, N, K, 1.0f, A, K, B, N, 0.0f, naive, N);
    double maxerr = 0;
    for (int r = 0; r < MM; r++)
        for (int j = 0; j < N; j++) {
            double e = fabs(naive[(size_t)r * N + j] + bias[j] - ref[(size_t)r * N + j]);
            if (e > maxerr) maxerr = e;
        }
    CHECK(maxerr < 1e-4 * K);
    /* accumulate adds to C */
    memcpy(C, ref, sizeof(float) * MM * N);
    elmo_gemm_rows(MM, N, K, A, K, B, N, NULL, true, C, N, scratch);
    double e2 = 0;
    for (int r = 0; r < MM; r++)
        for (int j = 0; j < N; j++) {
            double want = 2.0 * naive[(size_t)r * N + j] + bias[j];
            double e = fabs(want - C[(size_t)r * N + j]);
            if (e > e2) e2 = e;
        }
    CHECK(e2 < 2e-4 * K);
    free(A); free(B); free(bias); free(ref); free(C); free(scratch); free(naive);
}

int main(void) {
    /* elmo_gemm vs the naive loop, all transpose cases */
    int M = 7, N = 9, K = 5;
    float A[7 * 5], B[5 * 9], C[7 * 9], R[7 * 9];
    for (int i = 0; i < 35; i++) A[i] = frand();
    for (int i = 0; i < 45; i++) B[i] = frand();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < 63; i++) C[i] = R[i] = frand();
            elmo_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, C, N);
            elmo_gemm_ref(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, R, N);
            double e = 0;
            for (int i = 0; i < 63; i++) e = fmax(e, fabs(C[i] - R[i]));
            CHECK(e < 1e-5);
        }
    check_rows(256, 32);
    check_rows(124, 124);
    check_rows(16, 124);
    check_rows(1024, 256);
    return CHECK_REPORT();
}
