/*
 * test_forward.c: worker/forward (the per-rank forward path) and model/outputs (the outputs
 * table).  A sentence's outputs must not depend on the cache or on the batch it ran in, and
 * the derived outputs must be what their definitions say (the mix, its mean, the layers).
 */
#include <stdint.h>
#include <string.h>

#include "tests/check.h"
#include "model/bilm.h"
#include "model/outputs.h"
#include "model/status.h"
#include "worker/forward.h"

#define N_SENT 5

static const char *const text[N_SENT][6] = {
    {"the", "cat", "sat", NULL},
    {"a", "very", "long", "sentence", "the", "end"},
    {"cat", NULL},
    {"the", "the", "cat", "sat", NULL},
    {"sat", "end", NULL},
};

static int sent_len(int s) {
    int n = 0;
    while (n < 6 && text[s][n]) n++;
    return n;
}

static void test_table(void) {
    const int P = 16;
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        CHECK_INT_EQ(elmo_outputs[k].bit, 1u << k);
        for (unsigned j = 0; j < k; j++) CHECK(strcmp(elmo_outputs[j].name, elmo_outputs[k].name));
    }
    CHECK_STR_EQ(elmo_outputs[4].name, "default");
    CHECK(elmo_outputs[4].per_sentence);
    CHECK_INT_EQ(elmo_output_width(0, P), P);
    CHECK_INT_EQ(elmo_output_width(1, P), 2 * P);
    CHECK_INT_EQ(elmo_output_width(5, P), 6 * P);
}

/* Runs every sentence through f (in batches of `per` sentences); out[s][k]: its output k. */
static void run_all(struct elmo_forward *f, int per, float *out[N_SENT][ELMO_N_OUTPUTS]) {
    for (int s0 = 0; s0 < N_SENT; s0 += per) {
        int32_t len[N_SENT];
        int B = 0, row = 0;
        for (int s = s0; s < N_SENT && s < s0 + per; s++, B++) {
            len[B] = sent_len(s);
            for (int i = 0; i < len[B]; i++, row++)
                f->words[row] = (struct elmo_word){text[s][i], strlen(text[s][i])};
        }
        elmo_forward_run(f, B, len, f->words, NULL);
        for (int b = 0, r0 = 0; b < B; r0 += len[b], b++) {
            elmo_forward_select(f, r0, len[b]);
            for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
                int64_t nrows;
                const float *rows = elmo_forward_output(f, k, &nrows);
                size_t nf = (size_t)nrows * elmo_output_width(k, f->m->opt.P);
                CHECK_INT_EQ(nrows, k == 4 ? 1 : len[b]);
                out[s0 + b][k] = malloc(sizeof(float) * nf);
                memcpy(out[s0 + b][k], rows, sizeof(float) * nf);
            }
        }
    }
}

static void test_forward(void) {
    struct elmo_options o;
    struct elmo_model m;
    memset(&m, 0, sizeof m);
    CHECK_OK(elmo_options_preset("fixture", &o));
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 7);
    const int P = o.P, W = 2 * P;
    const float mw[3] = {0.5f, -1.0f, 2.0f};
    struct elmo_forward_opts fo = {.max_rows = 8, .batch_tokens = 64, .max_len = 6,
                                   .cache = true, .outputs = 0xffu, .n_mix_weights = 3,
                                   .mix_weights = mw, .gamma = 1.5f};
    struct elmo_forward a, b;
    CHECK_OK(elmo_forward_init(&a, &m, &fo));
    fo.cache = false;
    CHECK_OK(elmo_forward_init(&b, &m, &fo));
    float *xa[N_SENT][ELMO_N_OUTPUTS], *xb[N_SENT][ELMO_N_OUTPUTS];
    run_all(&a, N_SENT, xa);  /* one batch, cached */
    run_all(&b, 1, xb);       /* one sentence at a time, no cache */
    CHECK(a.cache.hits > 0);
    CHECK_INT_EQ(b.cache.hits, 0);
    for (int s = 0; s < N_SENT; s++) {
        const int n = sent_len(s);
        for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
            size_t nf = (size_t)(k == 4 ? 1 : n) * elmo_output_width(k, P);
            CHECK(memcmp(xa[s][k], xb[s][k], sizeof(float) * nf) == 0);
        }
        /* elmo is the mix of the three layers; default its mean; top is lstm_outputs2 */
        float *l0 = malloc(sizeof(float) * (size_t)n * W), *mix = malloc(sizeof(float) * n * W);
        elmo_layer0(n, P, xa[s][0], l0);
        const float *layers[3] = {l0, xa[s][1], xa[s][2]};
        elmo_scalar_mix(3, n, W, layers, mw, 1.5f, false, mix);
        CHECK(memcmp(mix, xa[s][3], sizeof(float) * (size_t)n * W) == 0);
        CHECK(memcmp(xa[s][6], xa[s][2], sizeof(float) * (size_t)n * W) == 0);
        double mean0 = 0;
        for (int i = 0; i < n; i++) mean0 += mix[(size_t)i * W];
        CHECK_NEAR(xa[s][4][0], mean0 / n, 1e-5);
        /* all: [l0, l1, l2] per token */
        CHECK(memcmp(xa[s][5], l0, sizeof(float) * W) == 0);
        CHECK(memcmp(xa[s][5] + 2 * W, xa[s][2], sizeof(float) * W) == 0);
        free(l0);
        free(mix);
        for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) free(xa[s][k]), free(xb[s][k]);
    }
    elmo_forward_free(&a);
    elmo_forward_free(&b);
    elmo_model_free(&m);
}

static void test_next_batch(void) {
    struct elmo_forward f;
    memset(&f, 0, sizeof f);
    f.max_rows = 2;
    f.budget = 10;
    const int32_t len[5] = {3, 3, 1, 7, 1};
    CHECK_INT_EQ(elmo_forward_next_batch(&f, 5, len, 0), 2);  /* 5 + 5 positions, 2 rows */
    CHECK_INT_EQ(elmo_forward_next_batch(&f, 5, len, 2), 3);  /* 3 + 9 > 10 */
    CHECK_INT_EQ(elmo_forward_next_batch(&f, 5, len, 3), 4);  /* 9 + 3 > 10 */
    CHECK_INT_EQ(elmo_forward_next_batch(&f, 5, len, 4), 5);
}

int main(void) {
    test_table();
    test_forward();
    test_next_batch();
    return CHECK_REPORT();
}
