/*
 * rng.h: the project's seeded random numbers (no rand()): splitmix64 to spread the seed,
 * xoshiro256** for the stream, and the draws built on it that the trainers and the random
 * models share (seed derivation, uniform and normal fills, shuffles).  Same seed, same
 * numbers, on every platform.  Nothing here is collective; a generator is not thread-safe.
 */
#ifndef ELMO_RNG_H
#define ELMO_RNG_H

#include <stddef.h>
#include <stdint.h>

struct elmo_rng {
    uint64_t s[4];
};

/* Seeds the generator; any seed (0 included) gives a usable stream. */
void elmo_rng_seed(struct elmo_rng *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t elmo_rng_next(struct elmo_rng *r);

/* A uniform float in [lo, hi) with 24 random bits. */
float elmo_rng_uniform(struct elmo_rng *r, float lo, float hi);

/* A uniform double in [0, 1) with 53 random bits (one draw). */
double elmo_rng_unit(struct elmo_rng *r);

/* A standard normal draw (Box-Muller, one value of the pair; two draws). */
float elmo_rng_normal(struct elmo_rng *r);

/* x[i] = elmo_rng_uniform(r, lo, hi) for i = 0 .. n - 1, in order. */
void elmo_rng_fill_uniform(struct elmo_rng *r, float *x, size_t n, float lo, float hi);

/* x[i] = sd * elmo_rng_normal(r) for i = 0 .. n - 1, in order. */
void elmo_rng_fill_normal(struct elmo_rng *r, float *x, size_t n, float sd);

/*
 * Shuffles n items of size bytes in place (Fisher-Yates from the last item down: item i swaps
 * with item elmo_rng_next % (i + 1)).
 */
void elmo_rng_shuffle(struct elmo_rng *r, void *items, size_t n, size_t size);

/*
 * The seed of a derived stream: seed and three counters folded in by splitmix64 rounds, so
 * every (seed, a, b, c) names its own stream (pretrain's epochs and steps, the biLM's dropout
 * rows and sampled candidates).
 */
uint64_t elmo_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/*
 * The derivation train-ner uses (its epochs' shuffles, its sentences' dropout masks): three
 * values multiplied by odd constants, xored, then the splitmix64 finaliser.  It differs from
 * elmo_rng_derive and stays because the trained taggers of a given seed depend on it.
 */
uint64_t elmo_rng_derive_xor3(uint64_t a, uint64_t b, uint64_t c);

#endif /* ELMO_RNG_H */
