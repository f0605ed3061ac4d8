/*
 * test_lm_step.c: worker/lm_step, pretrain's per-rank work.  The contract that makes the job
 * data-parallel: for each window of a pass, the gradients of the ranks' rows sum to the one-rank
 * gradient of all rows, and their losses and target counts to its ones (up to float summation
 * order), with dropout on and the LSTM states carried from window to window; the ranks'
 * held-out sums add up to the one-rank sums.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/lm_data.h"
#include "model/status.h"
#include "model/train_bilm.h"
#include "tests/check.h"
#include "worker/lm_step.h"

#define ROWS    4 /* batch rows */
#define WIN     3 /* window length */
#define WINDOWS 3

static const char *const lines[] = {
    "the cat sat on the mat", "a dog ran", "the dog sat",   "cats and dogs",    "on the mat a cat",
    "it ran and ran",         "the end",   "a b c d e f g", "dogs sat on cats", "mat",
};

static struct elmo_options tiny_options(void) {
    struct elmo_options o;
    memset(&o, 0, sizeof o);
    o.E = 3;
    o.n_filters = 2;
    o.filter_width[0] = 1, o.filter_count[0] = 3;
    o.filter_width[1] = 2, o.filter_count[1] = 4;
    o.F = 7;
    o.n_highway = 1;
    o.n_characters = 262;
    o.max_chars = ELMO_MAXC;
    o.activation = ELMO_ACT_RELU;
    o.P = 4;
    o.D = 6;
    o.L = 2;
    o.skip = true;
    o.has_cnn_proj = true;
    o.has_lstm_proj = true;
    return o;
}

static void corpus_make(struct elmo_lm_corpus *c, struct elmo_lm_vocab *v) {
    CHECK_OK(elmo_lm_corpus_init(c));
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char buf[128], *tok[16];
        snprintf(buf, sizeof buf, "%s", lines[i]);
        int n = 0;
        for (char *t = strtok(buf, " "); t && n < 16; t = strtok(NULL, " ")) tok[n++] = t;
        CHECK_OK(elmo_lm_corpus_add(c, tok, n, i % 3 == 2));
    }
    CHECK_OK(elmo_lm_vocab_build(c, 12, v));
}

/* This rank's rows of the pass, its streams and buffers. */
struct rank_rows {
    struct elmo_lm_streams s;
    struct elmo_lm_rows rw;
};

static void rows_make(struct rank_rows *x, const struct elmo_lm_corpus *c,
                      const struct elmo_lm_vocab *v, bool heldout, int rank, int size, size_t S) {
    int32_t row0 = ROWS * rank / size, rows = ROWS * (rank + 1) / size - row0;
    CHECK_OK(elmo_lm_streams_build(c, v, heldout, !heldout, 9, ROWS, WIN, row0, rows, &x->s));
    x->rw.row0 = row0;
    x->rw.rows = rows;
    x->rw.state = calloc((size_t)(rows ? rows : 1) * S, sizeof(float));
    for (int d = 0; d < 2; d++) {
        x->rw.in[d] = malloc(sizeof(int32_t) * WIN * ROWS);
        x->rw.tgt[d] = malloc(sizeof(int32_t) * WIN * ROWS);
    }
}

static void rows_free(struct rank_rows *x) {
    elmo_lm_streams_free(&x->s);
    free(x->rw.state);
    for (int d = 0; d < 2; d++) free(x->rw.in[d]), free(x->rw.tgt[d]);
}

/*
 * The windows of a pass on `size` ranks: grad[w] the summed gradient of window w, loss[w] and
 * count[w] the summed losses and targets per direction.
 */
static void pass_on(struct elmo_lm *lm, const struct elmo_lm_corpus *c,
                    const struct elmo_lm_vocab *v, size_t S, int size, double *grad,
                    double loss[][2], double count[][2]) {
    struct rank_rows x[3];
    for (int r = 0; r < size; r++) rows_make(&x[r], c, v, false, r, size, S);
    memset(grad, 0, sizeof *grad * lm->n_total * WINDOWS);
    memset(loss, 0, sizeof(double) * 2 * WINDOWS);
    memset(count, 0, sizeof(double) * 2 * WINDOWS);
    for (int k = 0; k < WINDOWS; k++)
        for (int r = 0; r < size; r++) {
            double l[2];
            int64_t n[2], valid;
            CHECK_OK(elmo_lm_train_window(lm, &x[r].s, k, v, &x[r].rw, 21, 100 + k, l, n, &valid));
            for (size_t i = 0; i < lm->n_total; i++) grad[k * lm->n_total + i] += lm->grad[i];
            for (int d = 0; d < 2; d++) loss[k][d] += l[d], count[k][d] += (double)n[d];
        }
    for (int r = 0; r < size; r++) rows_free(&x[r]);
}

static void check_parallel_windows(void) {
    struct elmo_lm_corpus c;
    struct elmo_lm_vocab v;
    corpus_make(&c, &v);
    struct elmo_options o = tiny_options();
    struct elmo_lm_config cfg = {.V = v.V, .max_rows = ROWS, .T = WIN, .dropout = 0.2f};
    struct elmo_lm lm;
    CHECK_OK(elmo_lm_init(&lm, &o, &cfg));
    elmo_lm_init_weights(&lm, 4);
    size_t S = elmo_stream_state_floats(&o);
    double *one = malloc(sizeof *one * lm.n_total * WINDOWS);
    double *many = malloc(sizeof *many * lm.n_total * WINDOWS);
    double l1[WINDOWS][2], n1[WINDOWS][2], ln[WINDOWS][2], nn[WINDOWS][2];
    pass_on(&lm, &c, &v, S, 1, one, l1, n1);
    double gmax = 0.0;
    for (size_t i = 0; i < lm.n_total * WINDOWS; i++)
        gmax = fabs(one[i]) > gmax ? fabs(one[i]) : gmax;
    CHECK(gmax > 0.0);
    for (int size = 2; size <= 3; size++) {
        pass_on(&lm, &c, &v, S, size, many, ln, nn);
        double worst = 0.0;
        for (size_t i = 0; i < lm.n_total * WINDOWS; i++)
            worst = fabs(one[i] - many[i]) > worst ? fabs(one[i] - many[i]) : worst;
        CHECK_NEAR(worst / gmax, 0.0, 1e-5);
        for (int k = 0; k < WINDOWS; k++)
            for (int d = 0; d < 2; d++) {
                CHECK_NEAR(ln[k][d], l1[k][d], 1e-5 * (1.0 + l1[k][d]));
                CHECK_NEAR(nn[k][d], n1[k][d], 0.0);
            }
    }
    /* held out: the ranks' sums add up to the one-rank sums */
    double h1[4], hn[4] = {0, 0, 0, 0};
    struct rank_rows x;
    rows_make(&x, &c, &v, true, 0, 1, S);
    CHECK_OK(elmo_lm_heldout_sums(&lm, &x.s, &v, &x.rw, S, h1));
    rows_free(&x);
    CHECK(h1[2] > 0 && h1[3] > 0);
    for (int r = 0; r < 2; r++) {
        double h[4];
        rows_make(&x, &c, &v, true, r, 2, S);
        CHECK_OK(elmo_lm_heldout_sums(&lm, &x.s, &v, &x.rw, S, h));
        rows_free(&x);
        for (int i = 0; i < 4; i++) hn[i] += h[i];
    }
    for (int i = 0; i < 4; i++) CHECK_NEAR(hn[i], h1[i], 1e-6 * (1.0 + h1[i]));
    free(one);
    free(many);
    elmo_lm_free(&lm);
    elmo_lm_vocab_free(&v);
    elmo_lm_corpus_free(&c);
}

int main(void) {
    check_parallel_windows();
    return CHECK_REPORT();
}
