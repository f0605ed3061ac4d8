/*
 * rng.c: splitmix64 seeding and the xoshiro256** generator (Blackman and Vigna's published
 * recurrences, written from their description), and the draws of rng.h built on them.
 */
#include "model/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void elmo_rng_seed(struct elmo_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t elmo_rng_next(struct elmo_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float elmo_rng_uniform(struct elmo_rng *r, float lo, float hi) {
    float u = (float)(elmo_rng_next(r) >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
}

double elmo_rng_unit(struct elmo_rng *r) { return (double)(elmo_rng_next(r) >> 11) * 0x1.0p-53; }

float elmo_rng_normal(struct elmo_rng *r) {
    double u1 = ((double)(elmo_rng_next(r) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1]: log(u1) finite */
    double u2 = elmo_rng_unit(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void elmo_rng_fill_uniform(struct elmo_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = elmo_rng_uniform(r, lo, hi);
}

void elmo_rng_fill_normal(struct elmo_rng *r, float *x, size_t n, float sd) {
    for (size_t i = 0; i < n; i++) x[i] = sd * elmo_rng_normal(r);
}

void elmo_rng_shuffle(struct elmo_rng *r, void *items, size_t n, size_t size) {
    unsigned char *a = items;
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)(elmo_rng_next(r) % (uint64_t)(i + 1));
        unsigned char *x = a + i * size, *y = a + j * size;
        for (size_t k = 0; k < size; k++) {
            unsigned char t = x[k];
            x[k] = y[k];
            y[k] = t;
        }
    }
}

uint64_t elmo_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t v[4] = {seed, a, b, c}, h = 0x243F6A8885A308D3ull;
    for (int i = 0; i < 4; i++) {
        h ^= v[i];
        h += 0x9E3779B97F4A7C15ull;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
        h ^= h >> 31;
    }
    return h;
}

uint64_t elmo_rng_derive_xor3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^
                 (c + 0x2545F4914F6CDD1Dull) * 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
