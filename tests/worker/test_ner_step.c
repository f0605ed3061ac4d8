/*
 * test_ner_step.c: worker/ner_step, train-ner's per-rank work.  The contract that makes the job
 * data-parallel: for a batch of the epoch's order, the gradients of the ranks' slices sum to the
 * one-rank gradient of the whole batch, and their losses to its loss (up to float summation
 * order), for any rank count, with dropout on, for the softmax and the CRF output, with extra
 * inputs.  Also: the epoch order is a permutation that depends on the seed and the epoch; the
 * blocks of a rank count cover the items once, in order; the ranks' tagged blocks put together
 * are the tags of the whole set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/rng.h"
#include "model/status.h"
#include "model/tagger.h"
#include "tests/check.h"
#include "worker/ner_step.h"

#define N_SENT 9
#define K      3
#define D      4
#define E      2

/* A set of N_SENT sentences of 1..6 tokens with random features, extra inputs and tags. */
struct fixture {
    int64_t offset[N_SENT + 1];
    int32_t len[N_SENT];
    int32_t *gold;
    float *feat, *extra;
    struct elmo_ner_set set;
};

static void fixture_make(struct fixture *f, int n_tags) {
    struct elmo_rng r;
    elmo_rng_seed(&r, 12345);
    f->offset[0] = 0;
    for (int s = 0; s < N_SENT; s++) {
        f->len[s] = 1 + (int32_t)(elmo_rng_next(&r) % 6);
        f->offset[s + 1] = f->offset[s] + f->len[s];
    }
    int64_t n = f->offset[N_SENT];
    f->gold = malloc(sizeof *f->gold * (size_t)n);
    f->feat = malloc(sizeof *f->feat * (size_t)n * K * D);
    f->extra = malloc(sizeof *f->extra * (size_t)n * E);
    if (!f->gold || !f->feat || !f->extra) {
        perror("malloc");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) f->gold[i] = (int32_t)(elmo_rng_next(&r) % (uint64_t)n_tags);
    for (int64_t i = 0; i < n * K * D; i++) f->feat[i] = elmo_rng_uniform(&r, -0.5f, 0.5f);
    for (int64_t i = 0; i < n * E; i++) f->extra[i] = (float)(elmo_rng_next(&r) % 2);
    struct elmo_ner_set set = {N_SENT, f->offset, f->len, f->gold, f->feat, f->extra};
    f->set = set;
}

static void fixture_free(struct fixture *f) {
    free(f->gold);
    free(f->feat);
    free(f->extra);
}

/* The batch [b0, b1) of the epoch's order on `size` ranks: summed gradient and loss. */
static void step_on(const struct elmo_tagger *t, const struct fixture *f, const int32_t *perm,
                    int b0, int b1, int size, double *sum, double *loss) {
    struct elmo_tagger_ws ws;
    struct elmo_ner_slice sl;
    memset(&ws, 0, sizeof ws);
    CHECK_OK(elmo_tagger_ws_reserve(&ws, &t->cfg, 64, 8, 8));
    elmo_ner_slice_init(&sl, 8);
    float *g = malloc(sizeof *g * t->n_floats);
    if (!g) {
        perror("malloc");
        exit(1);
    }
    memset(sum, 0, sizeof *sum * t->n_floats);
    *loss = 0.0;
    for (int rank = 0; rank < size; rank++) {
        double l = -1.0;
        CHECK_OK(elmo_ner_step(t, &ws, &sl, &f->set, perm, b0, b1, rank, size, 7, 2, g, &l));
        *loss += l;
        for (size_t i = 0; i < t->n_floats; i++) sum[i] += g[i];
    }
    free(g);
    elmo_ner_slice_free(&sl);
    elmo_tagger_ws_free(&ws);
}

/* The ranks' gradients and losses sum to the one-rank ones. */
static void check_parallel_step(int output) {
    const int n_tags = 4;
    struct fixture f;
    fixture_make(&f, n_tags);
    struct elmo_tagger_config cfg = {K, D, 3, n_tags, 0.7f, 1.0f, E, output};
    struct elmo_tagger t;
    memset(&t, 0, sizeof t);
    CHECK_OK(elmo_tagger_init(&t, &cfg));
    elmo_tagger_randomize(&t, 3);
    int32_t perm[N_SENT];
    elmo_ner_epoch_order(perm, N_SENT, 7, 2);
    double *one = malloc(sizeof *one * t.n_floats), *many = malloc(sizeof *many * t.n_floats);
    if (!one || !many) {
        perror("malloc");
        exit(1);
    }
    double loss1, lossn, gmax = 0.0;
    step_on(&t, &f, perm, 1, 8, 1, one, &loss1);
    for (size_t i = 0; i < t.n_floats; i++) gmax = fabs(one[i]) > gmax ? fabs(one[i]) : gmax;
    CHECK(gmax > 0.0);
    CHECK(loss1 > 0.0);
    for (int size = 2; size <= 4; size++) {
        step_on(&t, &f, perm, 1, 8, size, many, &lossn);
        double worst = 0.0;
        for (size_t i = 0; i < t.n_floats; i++)
            worst = fabs(one[i] - many[i]) > worst ? fabs(one[i] - many[i]) : worst;
        CHECK_NEAR(worst / gmax, 0.0, 1e-5);
        CHECK_NEAR(lossn, loss1, 1e-5 * loss1);
    }
    free(one);
    free(many);
    elmo_tagger_free(&t);
    fixture_free(&f);
}

/* The epoch order: a permutation, the same for the same seed and epoch, else another. */
static void check_epoch_order(void) {
    int32_t a[50], b[50], c[50];
    int seen[50] = {0};
    elmo_ner_epoch_order(a, 50, 11, 0);
    elmo_ner_epoch_order(b, 50, 11, 0);
    elmo_ner_epoch_order(c, 50, 11, 1);
    int ok = 1;
    for (int i = 0; i < 50; i++) ok &= a[i] >= 0 && a[i] < 50 && !seen[a[i]]++;
    CHECK(ok);
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, c, sizeof a) != 0);
}

/* Blocks cover [0, n) once, in rank order, sizes differing by at most one. */
static void check_blocks(void) {
    for (int64_t n = 0; n < 20; n++)
        for (int size = 1; size <= 6; size++) {
            int64_t next = 0, lo = n, hi = 0;
            int ok = 1;
            for (int r = 0; r < size; r++) {
                int64_t a, b;
                elmo_ner_block(n, r, size, &a, &b);
                ok &= a == next && b >= a;
                next = b;
                lo = b - a < lo ? b - a : lo;
                hi = b - a > hi ? b - a : hi;
            }
            CHECK(ok && next == n && hi - lo <= 1);
        }
}

/* The ranks' tagged blocks, put together, are the one-rank tags. */
static void check_tag_blocks(void) {
    struct fixture f;
    fixture_make(&f, 5);
    struct elmo_tagger_config cfg = {K, D, 3, 5, 1.0f, 1.0f, E, ELMO_TAGGER_CRF};
    struct elmo_tagger t;
    struct elmo_tagger_ws ws;
    memset(&t, 0, sizeof t);
    memset(&ws, 0, sizeof ws);
    CHECK_OK(elmo_tagger_init(&t, &cfg));
    elmo_tagger_randomize(&t, 5);
    CHECK_OK(elmo_tagger_ws_reserve(&ws, &cfg, 2048, 32, 8));
    int64_t n = f.offset[N_SENT];
    int32_t *one = malloc(sizeof *one * (size_t)n), *joined = malloc(sizeof *joined * (size_t)n);
    if (!one || !joined) {
        perror("malloc");
        exit(1);
    }
    CHECK_OK(elmo_ner_tag_block(&t, &ws, &f.set, 0, 1, one));
    for (int r = 0; r < 3; r++) {
        int64_t a, b;
        elmo_ner_block(N_SENT, r, 3, &a, &b);
        CHECK_OK(elmo_ner_tag_block(&t, &ws, &f.set, r, 3, joined + f.offset[a]));
    }
    CHECK(!memcmp(one, joined, sizeof *one * (size_t)n));
    free(one);
    free(joined);
    elmo_tagger_ws_free(&ws);
    elmo_tagger_free(&t);
    fixture_free(&f);
}

int main(void) {
    check_parallel_step(ELMO_TAGGER_SOFTMAX);
    check_parallel_step(ELMO_TAGGER_CRF);
    check_epoch_order();
    check_blocks();
    check_tag_blocks();
    return CHECK_REPORT();
}
