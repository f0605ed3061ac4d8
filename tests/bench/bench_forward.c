/*
 * bench_forward.c: forward-pass speed on a synthetic model (seeded random weights) in the
 * stateless regime, 1 BLAS thread: batches of B sentences of N random words, timing
 * elmo_token_embed (char CNN + highway + projection of every token, no cache) and
 * elmo_bilm_forward.  Prints tokens/s and GFLOP/s, counting elmo_options_flops_per_token
 * per token (the full char path, as if nothing were cached or skipped).
 *
 *   bench_forward [small|medium|original|fixture] [batches] [B] [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bilm.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/rng.h"
#include "model/status.h"

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "small";
    int batches = argc > 2 ? atoi(argv[2]) : 5;
    int B = argc > 3 ? atoi(argv[3]) : 64;
    int N = argc > 4 ? atoi(argv[4]) : 20;
    elmo_blas_set_threads(1);
    struct elmo_options o;
    struct elmo_model m;
    struct elmo_bilm_ws ws;
    if (elmo_options_preset(shape, &o) < 0 || elmo_model_init(&m, &o) < 0) {
        fprintf(stderr, "bench_forward: %s\n", elmo_errmsg());
        return 1;
    }
    elmo_model_randomize(&m, 1);
    if (elmo_bilm_ws_init(&ws, &m, B, B * (N + 2), B * N) < 0) {
        fprintf(stderr, "bench_forward: %s\n", elmo_errmsg());
        return 1;
    }
    const int P = o.P, V = B * N;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)V * ELMO_MAXC);
    int32_t *n_tok = malloc(sizeof(int32_t) * (size_t)B);
    float *tok = malloc(sizeof(float) * (size_t)V * P);
    float *outs[ELMO_MAX_LAYERS];
    for (int l = 0; l < o.L; l++) outs[l] = malloc(sizeof(float) * (size_t)V * 2 * P);
    for (int b = 0; b < B; b++) n_tok[b] = N;
    struct elmo_rng r;
    elmo_rng_seed(&r, 7);
    double t_tok = 0, t_lstm = 0;
    for (int it = 0; it <= batches; it++) { /* iteration 0 warms up */
        for (int v = 0; v < V; v++) {
            char w[16];
            int len = 2 + (int)(elmo_rng_next(&r) % 8);
            for (int i = 0; i < len; i++) w[i] = (char)('a' + elmo_rng_next(&r) % 26);
            elmo_char_ids(w, (size_t)len, ids + (size_t)v * ELMO_MAXC);
        }
        double t0 = elmo_now();
        elmo_token_embed(&m, &ws, V, ids, tok);
        double t1 = elmo_now();
        elmo_bilm_forward(&m, &ws, B, n_tok, tok, NULL, outs);
        double t2 = elmo_now();
        if (it > 0) {
            t_tok += t1 - t0;
            t_lstm += t2 - t1;
        }
    }
    double ntok = (double)batches * V, flops = elmo_options_flops_per_token(&o);
    double tps = ntok / (t_tok + t_lstm);
    printf("%s (D %d, P %d, F %d, H %d): %d batches of %d x %d tokens, 1 BLAS thread (%s)\n", shape,
           o.D, o.P, o.F, o.n_highway, batches, B, N, elmo_blas_corename());
    printf("  token vectors: %.1f ms/batch   biLSTM: %.1f ms/batch\n", 1e3 * t_tok / batches,
           1e3 * t_lstm / batches);
    printf("  %.0f tokens/s, %.1f GFLOP/s (%.1f MFLOP/token)\n", tps, tps * flops / 1e9,
           flops / 1e6);
    free(ids), free(n_tok), free(tok);
    for (int l = 0; l < o.L; l++) free(outs[l]);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
    return 0;
}
