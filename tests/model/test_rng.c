/*
 * test_rng.c: the draws of model/rng.h built on the generator.
 *
 * - the fills draw exactly the values of elmo_rng_uniform / sd * elmo_rng_normal, in order;
 * - elmo_rng_unit is the top 53 bits over 2^53, in [0, 1);
 * - normal draws have mean about 0 and variance about 1;
 * - the shuffle is the Fisher-Yates of rng.h (the same permutation for 4- and 8-byte items and
 *   for a hand-written loop) and a permutation;
 * - the derivations are deterministic and give distinct seeds for distinct counters.
 */
#include <math.h>
#include <stdlib.h>

#include "model/rng.h"
#include "tests/check.h"

static void test_fills(void) {
    printf("rng: fills, unit and normal draws\n");
    struct elmo_rng a, b;
    float x[100];
    elmo_rng_seed(&a, 7), elmo_rng_seed(&b, 7);
    elmo_rng_fill_uniform(&a, x, 100, -0.5f, 2.0f);
    for (int i = 0; i < 100; i++) CHECK(x[i] == elmo_rng_uniform(&b, -0.5f, 2.0f));
    elmo_rng_fill_normal(&a, x, 100, 3.0f);
    for (int i = 0; i < 100; i++) CHECK(x[i] == 3.0f * elmo_rng_normal(&b));
    struct elmo_rng c = a;
    double u = elmo_rng_unit(&a);
    CHECK(u == (double)(elmo_rng_next(&c) >> 11) * 0x1.0p-53);
    CHECK(u >= 0.0 && u < 1.0);
    double s = 0, s2 = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        double z = elmo_rng_normal(&a);
        s += z, s2 += z * z;
    }
    CHECK_NEAR(s / n, 0.0, 0.05);
    CHECK_NEAR(s2 / n, 1.0, 0.05);
}

static void test_shuffle(void) {
    printf("rng: shuffle\n");
    enum { N = 257 };
    int32_t a[N], ref[N];
    int64_t b[N];
    for (int i = 0; i < N; i++) a[i] = ref[i] = i, b[i] = i;
    struct elmo_rng r1, r2, r3;
    elmo_rng_seed(&r1, 11), elmo_rng_seed(&r2, 11), elmo_rng_seed(&r3, 11);
    elmo_rng_shuffle(&r1, a, N, sizeof *a);
    elmo_rng_shuffle(&r2, b, N, sizeof *b);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(elmo_rng_next(&r3) % (uint64_t)(i + 1));
        int32_t t = ref[i];
        ref[i] = ref[j], ref[j] = t;
    }
    int seen[N] = {0}, moved = 0;
    for (int i = 0; i < N; i++) {
        CHECK(a[i] == ref[i] && b[i] == a[i]);
        CHECK(a[i] >= 0 && a[i] < N);
        if (a[i] >= 0 && a[i] < N) seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < N; i++) CHECK_INT_EQ(seen[i], 1);
    CHECK(moved > N / 2);
    elmo_rng_shuffle(&r1, a, 0, sizeof *a); /* nothing to do, nothing drawn */
    elmo_rng_shuffle(&r1, a, 1, sizeof *a);
    CHECK(elmo_rng_next(&r1) == elmo_rng_next(&r2));
}

static void test_derive(void) {
    printf("rng: seed derivations\n");
    CHECK(elmo_rng_derive(1, 2, 3, 4) == elmo_rng_derive(1, 2, 3, 4));
    CHECK(elmo_rng_derive(1, 2, 3, 4) != elmo_rng_derive(1, 2, 3, 5));
    CHECK(elmo_rng_derive(1, 2, 3, 4) != elmo_rng_derive(2, 2, 3, 4));
    CHECK(elmo_rng_derive(0, 1, 0, 0) != elmo_rng_derive(0, 0, 1, 0));
    CHECK(elmo_rng_derive_xor3(5, 6, 7) == elmo_rng_derive_xor3(5, 6, 7));
    CHECK(elmo_rng_derive_xor3(5, 6, 7) != elmo_rng_derive_xor3(5, 7, 7));
    CHECK(elmo_rng_derive_xor3(5, 6, 7) != elmo_rng_derive_xor3(5, 6, 8));
}

int main(void) {
    test_fills();
    test_shuffle();
    test_derive();
    return CHECK_REPORT();
}
