/*
 * test_pca.c: model/pca against cases worked out by hand, through both routes (covariance when
 * there are more rows than columns, Gram matrix otherwise), sign normalisation, and the
 * variance bookkeeping on random data (the ratios of all components sum to 1, the projections
 * have the reported variances, elmo_pca_project agrees with the fit).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "model/pca.h"
#include "model/rng.h"
#include "model/status.h"

/*
 * Four points in the plane spanned by a = (0.6, 0.8, 0) and b = (-0.8, 0.6, 0), shifted by
 * m = (5, -3, 1):  m + 2a,  m - 2a,  m + b,  m - b.
 * By hand: the mean is m; the scatter matrix has eigenvalues 8 (along a) and 2 (along b) and 0;
 * the total is 10, so the ratios are 0.8 and 0.2; sklearn's explained_variance_ divides by
 * n - 1 = 3: 8/3 and 2/3.  Components: a = (0.6, 0.8, 0) has its largest loading positive;
 * b's largest-magnitude loading is -0.8, so it is flipped to (0.8, -0.6, 0).  Projections:
 * (2, 0), (-2, 0), (0, -1), (0, 1).
 */
static void fill_hand_case(float *X, int d) {
    const double a[3] = {0.6, 0.8, 0.0}, b[3] = {-0.8, 0.6, 0.0}, m[3] = {5, -3, 1};
    const double ca[4] = {2, -2, 0, 0}, cb[4] = {0, 0, 1, -1};
    memset(X, 0, sizeof(float) * 4 * (size_t)d);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) X[i * d + j] = (float)(m[j] + ca[i] * a[j] + cb[i] * b[j]);
}

static void check_hand_case(const struct elmo_pca *p, int d) {
    const float comp[2][3] = {{0.6f, 0.8f, 0.0f}, {0.8f, -0.6f, 0.0f}};
    const float proj[4][2] = {{2, 0}, {-2, 0}, {0, -1}, {0, 1}};
    CHECK_NEAR(p->mean[0], 5.0, 1e-5);
    CHECK_NEAR(p->mean[1], -3.0, 1e-5);
    CHECK_NEAR(p->mean[2], 1.0, 1e-5);
    CHECK_NEAR(p->total, 10.0, 1e-4);
    CHECK_NEAR(p->ratio[0], 0.8, 1e-5);
    CHECK_NEAR(p->ratio[1], 0.2, 1e-5);
    CHECK_NEAR(p->variance[0], 8.0 / 3.0, 1e-4);
    CHECK_NEAR(p->variance[1], 2.0 / 3.0, 1e-4);
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < d; j++)
            CHECK_NEAR(p->components[c * d + j], j < 3 ? comp[c][j] : 0.0f, 1e-5);
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 2; c++) CHECK_NEAR(p->proj[i * 2 + c], proj[i][c], 1e-4);
}

static void test_hand_case(void) {
    /* n = 4 > d = 3: the covariance route. */
    float X3[4 * 3];
    fill_hand_case(X3, 3);
    struct elmo_pca p;
    CHECK_OK(elmo_pca_fit(X3, 4, 3, 3, 2, &p));
    CHECK_INT_EQ(p.n, 4);
    CHECK_INT_EQ(p.k, 2);
    check_hand_case(&p, 3);
    elmo_pca_free(&p);
    elmo_pca_free(&p); /* twice is fine */

    /* The same points in 6 dimensions (zeros appended): n = 4 <= d, the Gram route. */
    float X6[4 * 6];
    fill_hand_case(X6, 6);
    CHECK_OK(elmo_pca_fit(X6, 4, 6, 6, 2, &p));
    check_hand_case(&p, 6);
    elmo_pca_free(&p);

    /* A leading dimension wider than d: the same answer. */
    float X8[4 * 8];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) X8[i * 8 + j] = j < 3 ? X3[i * 3 + j] : 99.0f;
    CHECK_OK(elmo_pca_fit(X8, 4, 3, 8, 2, &p));
    check_hand_case(&p, 3);
    elmo_pca_free(&p);

    /* Three components: the third has eigenvalue 0 and comes back all zero. */
    CHECK_OK(elmo_pca_fit(X3, 4, 3, 3, 3, &p));
    CHECK_NEAR(p.ratio[2], 0.0, 1e-12);
    for (int j = 0; j < 3; j++) CHECK_NEAR(p.components[2 * 3 + j], 0.0, 1e-12);
    for (int i = 0; i < 4; i++) CHECK_NEAR(p.proj[i * 3 + 2], 0.0, 1e-12);
    elmo_pca_free(&p);
}

/* A point cloud with one dominant direction: the sign rule makes PC1 point along +e_2. */
static void test_sign(void) {
    const float X[5 * 3] = {0, -4, 0.1f, 0, -2, 0, 0, 0, 0, 0, 2, -0.1f, 0, 4, 0};
    struct elmo_pca p;
    CHECK_OK(elmo_pca_fit(X, 5, 3, 3, 1, &p));
    CHECK(p.components[1] > 0.99f);
    CHECK(p.proj[0] < 0 && p.proj[4] > 0);
    elmo_pca_free(&p);
    /* Negating the data does not flip the components, only the projections. */
    float Y[5 * 3];
    for (int i = 0; i < 15; i++) Y[i] = -X[i];
    CHECK_OK(elmo_pca_fit(Y, 5, 3, 3, 1, &p));
    CHECK(p.components[1] > 0.99f);
    CHECK(p.proj[0] > 0 && p.proj[4] < 0);
    elmo_pca_free(&p);
}

/* Random data: ratios of all rank components sum to 1; projections carry the variances. */
static void test_random(int n, int d) {
    struct elmo_rng rng;
    elmo_rng_seed(&rng, 1234 + (uint64_t)n * 31 + (uint64_t)d);
    float *X = malloc(sizeof(float) * (size_t)n * d);
    for (int i = 0; i < n * d; i++) X[i] = elmo_rng_uniform(&rng, -1.0f, 1.0f) * (float)(1 + i % 3);
    int rank = n - 1 < d ? n - 1 : d;
    struct elmo_pca p;
    CHECK_OK(elmo_pca_fit(X, n, d, d, rank, &p));
    double sum = 0;
    for (int c = 0; c < rank; c++) sum += p.ratio[c];
    CHECK_NEAR(sum, 1.0, 1e-4);
    for (int c = 0; c + 1 < rank; c++) CHECK(p.ratio[c] >= p.ratio[c + 1] - 1e-7);
    for (int c = 0; c < rank; c++) {
        double ss = 0, mean = 0;
        for (int i = 0; i < n; i++) mean += p.proj[(size_t)i * rank + c];
        for (int i = 0; i < n; i++) ss += pow(p.proj[(size_t)i * rank + c], 2);
        CHECK_NEAR(mean / n, 0.0, 1e-4);
        CHECK_NEAR(ss / (n - 1), p.variance[c], 1e-3 * (1 + p.variance[c]));
    }
    /* Orthonormal components. */
    for (int a = 0; a < rank; a++)
        for (int b = 0; b < rank; b++) {
            double dot = 0;
            for (int j = 0; j < d; j++)
                dot += (double)p.components[a * d + j] * p.components[b * d + j];
            CHECK_NEAR(dot, (a == b ? 1.0 : 0.0), 1e-4);
        }
    float *again = malloc(sizeof(float) * (size_t)n * rank);
    elmo_pca_project(&p, X, n, d, again);
    for (int i = 0; i < n * rank; i++) CHECK_NEAR(again[i], p.proj[i], 1e-4);
    free(again);
    elmo_pca_free(&p);
    free(X);
}

static void test_errors(void) {
    float X[4] = {1, 2, 3, 4};
    struct elmo_pca p;
    CHECK_INT_EQ(elmo_pca_fit(X, 2, 2, 2, 3, &p), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_pca_fit(X, 0, 2, 2, 1, &p), ELMO_ERR_ARG);
    X[3] = NAN;
    CHECK_INT_EQ(elmo_pca_fit(X, 2, 2, 2, 1, &p), ELMO_ERR_NAN);
    /* One row, or identical rows: zero variance, zero ratios, no NaN. */
    float same[6] = {1, 2, 3, 1, 2, 3};
    CHECK_OK(elmo_pca_fit(same, 2, 3, 3, 2, &p));
    CHECK_NEAR(p.total, 0.0, 1e-12);
    CHECK_NEAR(p.ratio[0], 0.0, 1e-12);
    CHECK_NEAR(p.proj[0], 0.0, 1e-12);
    elmo_pca_free(&p);
    CHECK_OK(elmo_pca_fit(same, 1, 3, 3, 2, &p));
    CHECK_NEAR(p.ratio[1], 0.0, 1e-12);
    elmo_pca_free(&p);
}

int main(void) {
    test_hand_case();
    test_sign();
    test_random(40, 16);   /* covariance route, like the fixture model's 40 x 16 word_emb */
    test_random(12, 64);   /* Gram route */
    test_random(150, 300); /* Gram route, many dimensions */
    test_errors();
    return CHECK_REPORT();
}
