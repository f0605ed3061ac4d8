/*
 * test_gemm.c: elmo_gemm against the naive reference, and the row-stable GEMM (gemm.h): a
 * row's result is bit-identical whatever the number of rows, the row's place, the thread count
 * and the tile instruction set, and it equals the scalar fmaf chain of gemm.h bit for bit;
 * elmo_pgemm on packed (also gate-interleaved) weights with row pointers, init rows, K cut in
 * blocks and epilogues.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/bilm.h"
#include "model/gemm.h"
#include <math.h>
#include "model/status.h"
#include "tests/check.h"

/* The naive reference of elmo_gemm: a double accumulator per element. */
static void naive_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
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
    naive_gemm(false, false, MM, N, K, 1.0f, A, K, B, N, 0.0f, naive, N);
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


/* The contract: acc = init; acc = fmaf(a, b, acc) over k in order. */
static void fma_chain(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      const float *bias, const float *init, int ldi, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            if (init && bias) acc = init[(size_t)i * ldi + j] + bias[j];
            else if (init) acc = init[(size_t)i * ldi + j];
            else if (bias) acc = bias[j];
            for (int k = 0; k < K; k++)
                acc = fmaf(A[(size_t)i * lda + k], B[(size_t)k * ldb + j], acc);
            C[(size_t)i * ldc + j] = acc;
        }
}

static float *randv(size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

/* elmo_gemm_rows equals the fmaf chain bit for bit, on every tile path and thread count. */
static void check_exact(int M, int N, int K) {
    float *A = randv((size_t)M * K), *B = randv((size_t)K * (N + 3)), *bias = randv(N);
    float *C0 = randv((size_t)M * N), *want = malloc(sizeof(float) * M * N);
    float *got = malloc(sizeof(float) * M * N);
    float *scratch = malloc(sizeof(float) * elmo_gemm_rows_scratch(N, K));
    int bad = 0;
    for (int mode = 0; mode < 3; mode++) { /* plain, bias, accumulate + bias */
        const float *bi = mode >= 1 ? bias : NULL;
        fma_chain(M, N, K, A, K, B, N + 3, bi, mode == 2 ? C0 : NULL, N, want, N);
        for (int isa = 1; isa <= 3; isa++) {
            if (elmo__pgemm_force_isa(isa) != isa) continue;
            for (int th = 1; th <= 2; th++) {
                elmo_blas_set_threads(th);
                memcpy(got, C0, sizeof(float) * M * N);
                elmo_gemm_rows(M, N, K, A, K, B, N + 3, bi, mode == 2, got, N, scratch);
                if (memcmp(got, want, sizeof(float) * M * N)) {
                    fprintf(stderr, "M=%d N=%d K=%d mode %d isa %d threads %d: differs from "
                            "the fmaf chain\n", M, N, K, mode, isa, th);
                    bad++;
                }
            }
        }
    }
    elmo__pgemm_force_isa(0);
    elmo_blas_set_threads(1);
    CHECK_INT_EQ(bad, 0);
    free(A), free(B), free(bias), free(C0), free(want), free(got), free(scratch);
}

/* An epilogue that copies each finished tile into a (M, Nc) matrix, counting its cells. */
struct grab {
    float *out;
    int ld;
    int *seen;
};
static void grab_epi(void *ctx, int r0, int m, int j0, int n, const float *const *t) {
    struct grab *g = ctx;
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            g->out[(size_t)(r0 + r) * g->ld + j0 + j] = t[r][j];
            g->seen[(size_t)(r0 + r) * g->ld + j0 + j]++;
        }
}

/*
 * elmo_pgemm on packed weights of ngates gates: A rows through pointers (shuffled), init rows
 * through pointers, the result both stored and seen by an epilogue; against the fmaf chain in
 * packed column order.  Two products in one call (the threads split their panels).
 */
static void check_packed(int M, int N, int K, int ngates, bool bias_on, bool init_on) {
    float *A = randv((size_t)M * K), *B = randv((size_t)K * N), *bias = randv(N);
    const int np = elmo_pmat_panels(N, ngates), Nc = ngates > 1 ? np * ELMO_NR : N;
    float *mem = elmo_aligned_alloc(sizeof(float) * elmo_pmat_floats(K, N, ngates, bias_on), "t");
    struct elmo_pmat W;
    elmo_pmat_pack(&W, K, N, B, N, bias_on ? bias : NULL, ngates, mem);
    CHECK_INT_EQ(W.np, np);
    /* the packed matrix as a plain (K, Nc) matrix and bias, to run the chain on */
    float *Bp = calloc((size_t)K * Nc, sizeof(float)), *bp = calloc((size_t)Nc, sizeof(float));
    const int w = ELMO_NR / ngates, gd = N / ngates;
    for (int jp = 0; jp < Nc; jp++) {
        int q = jp / ELMO_NR, g = (jp % ELMO_NR) / w, u = w * q + jp % w;
        int src = ngates == 1 ? jp : (u < gd ? g * gd + u : -1);
        if (src < 0) continue;
        for (int k = 0; k < K; k++) Bp[(size_t)k * Nc + jp] = B[(size_t)k * N + src];
        bp[jp] = bias[src];
    }
    int *perm = malloc(sizeof(int) * M);
    for (int i = 0; i < M; i++) perm[i] = (i * 7 + 3) % M;
    const float **arow = malloc(sizeof(float *) * M), **irow = malloc(sizeof(float *) * M);
    float *Ap = malloc(sizeof(float) * (size_t)M * K), *init = randv((size_t)M * Nc);
    float *Ip = malloc(sizeof(float) * (size_t)M * Nc);
    for (int i = 0; i < M; i++) {
        arow[i] = A + (size_t)perm[i] * K;
        irow[i] = init + (size_t)perm[i] * Nc;
        memcpy(Ap + (size_t)i * K, arow[i], sizeof(float) * K);
        memcpy(Ip + (size_t)i * Nc, irow[i], sizeof(float) * Nc);
    }
    float *want = malloc(sizeof(float) * (size_t)M * Nc);
    fma_chain(M, Nc, K, Ap, K, Bp, Nc, bias_on ? bp : NULL, init_on ? Ip : NULL, Nc, want, Nc);
    float *c1 = malloc(sizeof(float) * (size_t)M * Nc);
    float *c2 = malloc(sizeof(float) * (size_t)M * Nc);
    float *e2 = malloc(sizeof(float) * (size_t)M * Nc);
    int *seen = malloc(sizeof(int) * (size_t)M * Nc);
    int bad = 0;
    for (int isa = 1; isa <= 3; isa++) {
        if (elmo__pgemm_force_isa(isa) != isa) continue;
        for (int th = 1; th <= 2; th++) {
            elmo_blas_set_threads(th);
            memset(seen, 0, sizeof(int) * (size_t)M * Nc);
            struct grab g = {e2, Nc, seen};
            struct elmo_pgemm_op ops[2] = {
                {.M = M, .W = &W, .a = {NULL, 0, arow},
                 .init_mode = init_on ? ELMO_INIT_ROWS : ELMO_INIT_ZERO,
                 .init = {NULL, 0, irow}, .c = {c1, (size_t)Nc, NULL}},
                {.M = M, .W = &W, .a = {Ap, (size_t)K, NULL},
                 .init_mode = init_on ? ELMO_INIT_ROWS : ELMO_INIT_ZERO,
                 .init = {Ip, (size_t)Nc, NULL}, .c = {c2, (size_t)Nc, NULL},
                 .epi = grab_epi, .epi_ctx = &g},
            };
            elmo_pgemm(2, ops);
            int once = 1;
            for (size_t i = 0; i < (size_t)M * Nc; i++) once &= seen[i] == 1;
            if (memcmp(c1, want, sizeof(float) * (size_t)M * Nc) ||
                memcmp(e2, want, sizeof(float) * (size_t)M * Nc) || !once) {
                fprintf(stderr, "packed M=%d N=%d K=%d gates %d isa %d threads %d: differs\n", M,
                        N, K, ngates, isa, th);
                bad++;
            }
        }
    }
    elmo__pgemm_force_isa(0);
    elmo_blas_set_threads(1);
    CHECK_INT_EQ(bad, 0);
    free(mem), free(A), free(B), free(bias), free(Bp), free(bp), free(perm), free(arow);
    free(irow), free(Ap), free(init), free(Ip), free(want), free(c1), free(c2), free(e2);
    free(seen);
}


/*
 * The whole forward pass (token vectors and biLSTM, stateless and with states) gives the same
 * bits on every tile path and thread count, and a sentence's vectors do not depend on its
 * batch.  Shapes with partial panels (D, F, P not multiples of 16 / 32 / 64) take the scalar
 * tails of the epilogues.
 */
static void check_forward(int D, int P, int n_highway, bool lstm_proj) {
    struct elmo_options o;
    CHECK_OK(elmo_options_preset("fixture", &o));
    o.D = D, o.P = P, o.n_highway = n_highway;
    o.has_lstm_proj = lstm_proj;
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 3);
    enum { B = 7, NMAX = 9 };
    const int32_t n_tok[B] = {3, 9, 1, 5, 9, 2, 6};
    int V = 0;
    for (int b = 0; b < B; b++) V += n_tok[b];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)V * ELMO_MAXC);
    for (int v = 0; v < V; v++) {
        char w[16];
        int len = 1 + (int)((v * 7) % 11);
        for (int i = 0; i < len; i++) w[i] = (char)('a' + (v * 3 + i * 5) % 26);
        elmo_char_ids(w, (size_t)len, ids + (size_t)v * ELMO_MAXC);
    }
    const size_t sf = elmo_stream_state_floats(&o);
    float *tok = malloc(sizeof(float) * (size_t)V * P);
    float *tok0 = malloc(sizeof(float) * (size_t)V * P);
    float *out[2], *ref[2], *st = calloc((size_t)B * sf, sizeof(float));
    float *st0 = malloc(sizeof(float) * (size_t)B * sf);
    for (int l = 0; l < 2; l++) {
        out[l] = malloc(sizeof(float) * (size_t)V * 2 * P);
        ref[l] = malloc(sizeof(float) * (size_t)V * 2 * P);
    }
    float *sp[B];
    for (int b = 0; b < B; b++) sp[b] = st + (size_t)b * sf;
    struct elmo_bilm_ws ws;
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, B, V + 2 * B, V));
    int bad = 0, runs = 0;
    for (int isa = 3; isa >= 1; isa--) {
        if (elmo__pgemm_force_isa(isa) != isa) continue;
        for (int th = 1; th <= 2; th++, runs++) {
            elmo_blas_set_threads(th);
            elmo_token_embed(&m, &ws, V, ids, tok);
            elmo_bilm_forward(&m, &ws, B, n_tok, tok, NULL, out);
            memset(st, 0, sizeof(float) * (size_t)B * sf);
            elmo_bilm_forward(&m, &ws, B, n_tok, tok, sp, out); /* streams: two batches */
            elmo_bilm_forward(&m, &ws, B, n_tok, tok, sp, out);
            if (runs == 0) {
                memcpy(tok0, tok, sizeof(float) * (size_t)V * P);
                memcpy(st0, st, sizeof(float) * (size_t)B * sf);
                for (int l = 0; l < 2; l++)
                    memcpy(ref[l], out[l], sizeof(float) * (size_t)V * 2 * P);
            } else {
                bad += memcmp(tok, tok0, sizeof(float) * (size_t)V * P) != 0;
                bad += memcmp(st, st0, sizeof(float) * (size_t)B * sf) != 0;
                for (int l = 0; l < 2; l++)
                    bad += memcmp(out[l], ref[l], sizeof(float) * (size_t)V * 2 * P) != 0;
            }
        }
    }
    /* stateless: each sentence alone equals the batch */
    elmo_blas_set_threads(1);
    elmo__pgemm_force_isa(0);
    elmo_bilm_forward(&m, &ws, B, n_tok, tok0, NULL, ref);
    size_t off = 0;
    for (int b = 0; b < B; b++) {
        elmo_token_embed(&m, &ws, n_tok[b], ids + off * ELMO_MAXC, tok);
        bad += memcmp(tok, tok0 + off * P, sizeof(float) * (size_t)n_tok[b] * P) != 0;
        elmo_bilm_forward(&m, &ws, 1, &n_tok[b], tok, NULL, out);
        for (int l = 0; l < 2; l++)
            bad += memcmp(out[l], ref[l] + off * 2 * P,
                          sizeof(float) * (size_t)n_tok[b] * 2 * P) != 0;
        off += (size_t)n_tok[b];
    }
    if (bad) fprintf(stderr, "forward D=%d P=%d H=%d: %d mismatches\n", D, P, n_highway, bad);
    CHECK_INT_EQ(bad, 0);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
    free(ids), free(tok), free(tok0), free(st), free(st0);
    for (int l = 0; l < 2; l++) free(out[l]), free(ref[l]);
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
            naive_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, R, N);
            double e = 0;
            for (int i = 0; i < 63; i++) e = fmax(e, fabs(C[i] - R[i]));
            CHECK(e < 1e-5);
        }
    check_rows(256, 32);
    check_rows(124, 124);
    check_rows(16, 124);
    check_rows(1024, 256);
    check_rows(64, 1100); /* K in several blocks */
    /* threads give the same rows */
    elmo_blas_set_threads(2);
    check_rows(200, 96);
    elmo_blas_set_threads(1);
    printf("row-stable GEMM tiles: %s\n", elmo_pgemm_isa());
    check_exact(1, 1, 1);
    check_exact(13, 64, 16);
    check_exact(37, 200, 123);
    check_exact(20, 130, 1100);
    check_exact(7, 16, 0);
    check_packed(29, 124, 40, 1, true, false);
    check_packed(29, 248, 40, 2, true, false);
    check_packed(50, 256, 24, 4, false, true);
    check_packed(17, 4 * 20, 33, 4, true, true);
    check_packed(11, 192, 1100, 1, false, true);
    check_packed(9, 4 * 64, 700, 4, false, true);
    check_forward(64, 16, 2, true);   /* the fixture's shape */
    check_forward(40, 12, 1, true);   /* partial panels everywhere */
    check_forward(48, 48, 0, false);  /* no highway, no LSTM projection */
    return CHECK_REPORT();
}
