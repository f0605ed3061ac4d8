/*
 * test_batcher.c: worker/batcher, the token-budget batcher.  For hand-made and random sentence
 * lengths, budgets and row limits, the plan must hold every non-empty sentence exactly once and
 * no empty one, in its documented order (longest first, ties by index), with every batch within
 * both limits (a sentence longer than the budget alone in its batch), as few batches as a greedy
 * cut under the limits makes, and as even as that count allows (a greedy cut with a position
 * limit one below the plan's largest batch needs more batches).
 */
#include <stdint.h>
#include <stdlib.h>

#include "tests/check.h"
#include "worker/batcher.h"

/* Positions a sentence occupies in a batch: its tokens and <S>, </S>. */
static long positions(int32_t n_tok) { return (long)n_tok + 2; }

/* Batches of a greedy cut of the sentences order[0 .. m) (as planned) at limit lim and rows. */
static int greedy(int m, const int32_t *order, const int32_t *len, long lim, int max_rows) {
    int nb = 0, rows = 0;
    long used = 0;
    for (int k = 0; k < m; k++) {
        if (rows > 0 && (used + positions(len[order[k]]) > lim || rows >= max_rows)) {
            nb++;
            rows = 0;
            used = 0;
        }
        rows++;
        used += positions(len[order[k]]);
    }
    return nb + (m > 0);
}

/* Checks one plan of n sentences against the batcher's contract. */
static void check_plan(int n, const int32_t *len, int budget, int max_rows) {
    int32_t *order = malloc(sizeof *order * (size_t)(n + 1));
    int32_t *starts = malloc(sizeof *starts * (size_t)(n + 2));
    int *seen = calloc((size_t)n + 1, sizeof *seen);
    if (!order || !starts || !seen) { perror("malloc"); exit(1); }
    int nb = elmo_batcher_plan(n, len, budget, max_rows, order, starts);
    int m = 0;
    for (int i = 0; i < n; i++) m += len[i] > 0;
    CHECK(nb >= 0);
    CHECK_INT_EQ(starts[0], 0);
    CHECK_INT_EQ(nb > 0 ? starts[nb] : 0, m);
    CHECK_INT_EQ(nb == 0, m == 0);
    int ok_once = 1, ok_order = 1, ok_limits = 1, ok_even = 1;
    for (int k = 0; k < m; k++) {
        int s = order[k];
        if (s < 0 || s >= n || len[s] <= 0 || seen[s]++) ok_once = 0;
        if (k > 0 && ok_once) {
            int p = order[k - 1];
            if (len[p] < len[s] || (len[p] == len[s] && p > s)) ok_order = 0;
        }
    }
    long largest = 0;
    int largest_rows = 0;
    for (int b = 0; b < nb && ok_once; b++) {
        int rows = starts[b + 1] - starts[b];
        long used = 0;
        for (int k = starts[b]; k < starts[b + 1]; k++) used += positions(len[order[k]]);
        if (rows < 1 || rows > max_rows || (used > budget && rows > 1)) ok_limits = 0;
        if (used > largest) largest = used, largest_rows = rows;
    }
    /* the count: what the greedy cut under the budget makes; evenness: no smaller largest
       batch in that many (unless the largest is one sentence, which no cut can shrink) */
    if (ok_once && nb > 0) {
        CHECK_INT_EQ(nb, greedy(m, order, len, budget, max_rows));
        if (largest_rows > 1 && greedy(m, order, len, largest - 1, max_rows) <= nb) ok_even = 0;
    }
    CHECK(ok_once);
    CHECK(ok_order);
    CHECK(ok_limits);
    CHECK(ok_even);
    free(order);
    free(starts);
    free(seen);
}

/* A small plan written out by hand. */
static void test_by_hand(void) {
    /* lengths 3 0 5 1 5 2: non-empty by length, ties by index -> 2 4 0 5 3 */
    const int32_t len[6] = {3, 0, 5, 1, 5, 2};
    int32_t order[6], starts[7];
    /* budget 14: 7 + 7 | 5 + 4 + 3 (12) */
    int nb = elmo_batcher_plan(6, len, 14, 8, order, starts);
    CHECK_INT_EQ(nb, 2);
    const int32_t want[5] = {2, 4, 0, 5, 3};
    for (int k = 0; k < 5; k++) CHECK_INT_EQ(order[k], want[k]);
    CHECK_INT_EQ(starts[0], 0);
    CHECK_INT_EQ(starts[1], 2);
    CHECK_INT_EQ(starts[2], 5);
    /* two rows at most: three batches, evened out: 2 (7) | 4 0 (7 + 5) | 5 3 (4 + 3), where
       the plain greedy cut 2 4 | 0 5 | 3 would make one of 14 positions */
    nb = elmo_batcher_plan(6, len, 1000, 2, order, starts);
    CHECK_INT_EQ(nb, 3);
    CHECK_INT_EQ(starts[1], 1);
    CHECK_INT_EQ(starts[2], 3);
    CHECK_INT_EQ(starts[3], 5);
    /* a budget below one sentence: each sentence alone, none dropped */
    nb = elmo_batcher_plan(6, len, 3, 8, order, starts);
    CHECK_INT_EQ(nb, 5);
    for (int b = 0; b <= nb; b++) CHECK_INT_EQ(starts[b], b);
    /* nothing to do: no sentences, or only empty ones */
    CHECK_INT_EQ(elmo_batcher_plan(0, len, 14, 8, order, starts), 0);
    const int32_t empty[3] = {0, 0, 0};
    CHECK_INT_EQ(elmo_batcher_plan(3, empty, 14, 8, order, starts), 0);
    check_plan(6, len, 14, 8);
    check_plan(6, len, 1000, 2);
    check_plan(6, len, 3, 8);
    check_plan(3, empty, 14, 8);
}

/* Random lengths (many ties and empty sentences) under random limits. */
static void test_random(void) {
    uint64_t x = 12345;
    for (int trial = 0; trial < 200; trial++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int n = 1 + (int)((x >> 33) % 300);
        int32_t *len = malloc(sizeof *len * (size_t)n);
        if (!len) { perror("malloc"); exit(1); }
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            len[i] = (int32_t)((x >> 33) % 40) - 5;  /* about one in eight empty */
            if (len[i] < 0) len[i] = 0;
        }
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int budget = 10 + (int)((x >> 33) % 400);
        int max_rows = 1 + (int)((x >> 20) % 64);
        check_plan(n, len, budget, max_rows);
        free(len);
    }
}

int main(void) {
    test_by_hand();
    test_random();
    return CHECK_REPORT();
}
