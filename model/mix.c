/*
 * mix.c: the `elmo` scalar mix of the layers of one sentence (elmo-spec 7.1, design 8):
 * gamma * sum_k softmax(s)_k * norm(layer_k), with layer norm statistics per sentence.
 */
#include <math.h>
#include <string.h>

#include "model/bilm.h"

void elmo_scalar_mix(int K, int N, int dim, const float *const *layers, const float *s, float gamma,
                     bool layer_norm, float *out) {
    size_t n = (size_t)N * (size_t)dim;
    double smax = -INFINITY, z = 0.0;
    for (int k = 0; k < K; k++) smax = s[k] > smax ? s[k] : smax;
    for (int k = 0; k < K; k++) z += exp((double)s[k] - smax);
    for (size_t i = 0; i < n; i++) out[i] = 0.0f;
    if (n == 0) return;
    for (int k = 0; k < K; k++) {
        float wk = (float)(exp((double)s[k] - smax) / z) * gamma;
        const float *x = layers[k];
        if (layer_norm) {
            double mean = 0.0, var = 0.0;
            for (size_t i = 0; i < n; i++) mean += x[i];
            mean /= (double)n;
            for (size_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
            var /= (double)n;
            float mu = (float)mean, inv = (float)(1.0 / sqrt(var + 1e-12));
            for (size_t i = 0; i < n; i++) out[i] += wk * ((x[i] - mu) * inv);
        } else {
            for (size_t i = 0; i < n; i++) out[i] += wk * x[i];
        }
    }
}

void elmo_layer0(int N, int P, const float *tok, float *out) {
    for (int i = 0; i < N; i++) {
        memcpy(out + (size_t)i * 2 * P, tok + (size_t)i * P, sizeof(float) * P);
        memcpy(out + (size_t)i * 2 * P + P, tok + (size_t)i * P, sizeof(float) * P);
    }
}
