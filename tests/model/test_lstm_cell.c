/*
 * test_lstm_cell.c: the trainers' LSTM cell (model/lstm_cell.c) against the formulas written
 * out in the test, bit for bit, in both activation sets.
 *
 * - forward: the activations, c (clipped), c before the clip and m;
 * - a NULL previous cell is the zero state (same bits as a zero row) and gets no gradient;
 * - backward: the four gate gradients and d c_prev, with the clip passing the gradient only
 *   where |c_raw| <= clip;
 * - the kernel and bias gradients equal [x; h]^T dz and the column sums.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/fastmath.h"
#include "model/lstm_cell.h"
#include "model/rng.h"
#include "tests/check.h"

enum { D = 37 };

static float sg(float x, bool fast) { return fast ? elmo__sigmoidf(x) : 1.0f / (1.0f + expf(-x)); }
static float th(float x, bool fast) { return fast ? elmo__tanhf(x) : tanhf(x); }

static void check_cell(bool fast, float clip) {
    printf("lstm cell: %s activations, clip %g\n", fast ? "fast" : "libm", (double)clip);
    const struct elmo_lstm_cell k = {D, 1.0f, clip, fast};
    struct elmo_rng r;
    elmo_rng_seed(&r, 3);
    float z[4 * D], z0[4 * D], zz[4 * D], cp[D], c[D], craw[D], m[D], zero[D] = {0};
    elmo_rng_fill_uniform(&r, z0, 4 * D, -3.0f, 3.0f);
    elmo_rng_fill_uniform(&r, cp, D, -2.0f, 2.0f);
    memcpy(z, z0, sizeof z);
    elmo_lstm_cell_forward(&k, z, cp, c, craw, m);
    for (int j = 0; j < D; j++) {
        float si = sg(z0[j], fast), tj = th(z0[D + j], fast);
        float sf = sg(z0[2 * D + j] + 1.0f, fast), so = sg(z0[3 * D + j], fast);
        float cr = sf * cp[j] + si * tj, cc = fminf(fmaxf(cr, -clip), clip);
        CHECK(z[j] == si && z[D + j] == tj && z[2 * D + j] == sf && z[3 * D + j] == so);
        CHECK(craw[j] == cr && c[j] == cc && m[j] == so * th(cc, fast));
    }
    /* the zero state: NULL and a zero row give the same forward bits */
    float c1[D], m1[D], c2[D], m2[D];
    memcpy(zz, z0, sizeof zz);
    elmo_lstm_cell_forward(&k, zz, NULL, c1, NULL, m1);
    memcpy(zz, z0, sizeof zz);
    elmo_lstm_cell_forward(&k, zz, zero, c2, NULL, m2);
    CHECK(memcmp(c1, c2, sizeof c1) == 0 && memcmp(m1, m2, sizeof m1) == 0);

    float dm[D], dc[D], dc0[D], dz[4 * D];
    elmo_rng_fill_uniform(&r, dm, D, -1.0f, 1.0f);
    elmo_rng_fill_uniform(&r, dc0, D, -1.0f, 1.0f);
    memcpy(dc, dc0, sizeof dc);
    elmo_lstm_cell_backward(&k, z, cp, c, craw, dm, dc, dz);
    for (int j = 0; j < D; j++) {
        float si = z[j], tj = z[D + j], sf = z[2 * D + j], so = z[3 * D + j];
        float tc = th(c[j], fast);
        float g = dc0[j] + dm[j] * so * (1.0f - tc * tc);
        g = fabsf(craw[j]) <= clip ? g : 0.0f;
        CHECK(dz[j] == g * tj * si * (1.0f - si));
        CHECK(dz[D + j] == g * si * (1.0f - tj * tj));
        CHECK(dz[2 * D + j] == g * cp[j] * sf * (1.0f - sf));
        CHECK(dz[3 * D + j] == dm[j] * tc * so * (1.0f - so));
        CHECK(dc[j] == g * sf);
    }
    memcpy(dc, dc0, sizeof dc);
    elmo_lstm_cell_backward(&k, zz, NULL, c2, NULL, dm, dc, dz);
    for (int j = 0; j < D; j++) CHECK(dz[2 * D + j] == 0.0f && !signbit(dz[2 * D + j]));
}

static void check_grad_weights(void) {
    printf("lstm cell: kernel and bias gradients\n");
    enum { N = 5, NX = 3, NH = 2, G = 4 * 2 };
    const struct elmo_lstm_cell k = {2, 1.0f, INFINITY, false};
    float x[N * NX], h[N * NH], dz[N * G], gw[(NX + NH) * G] = {0}, gb[G] = {0};
    struct elmo_rng r;
    elmo_rng_seed(&r, 5);
    elmo_rng_fill_uniform(&r, x, N * NX, -1.0f, 1.0f);
    elmo_rng_fill_uniform(&r, h, N * NH, -1.0f, 1.0f);
    elmo_rng_fill_uniform(&r, dz, N * G, -1.0f, 1.0f);
    elmo_lstm_cell_grad_weights(&k, N, NX, NH, x, h, dz, gw, gb);
    for (int g = 0; g < G; g++) {
        double b = 0;
        for (int n = 0; n < N; n++) b += dz[n * G + g];
        CHECK_NEAR(gb[g], b, 1e-5);
        for (int i = 0; i < NX + NH; i++) {
            double w = 0;
            for (int n = 0; n < N; n++)
                w += (double)(i < NX ? x[n * NX + i] : h[n * NH + i - NX]) * dz[n * G + g];
            CHECK_NEAR(gw[i * G + g], w, 1e-5);
        }
    }
}

int main(void) {
    check_cell(false, INFINITY);
    check_cell(true, INFINITY);
    check_cell(true, 0.5f);
    check_cell(false, 0.5f);
    check_grad_weights();
    return CHECK_REPORT();
}
