/*
 * rng.h: the project's seeded random number generator (no rand()): splitmix64 to spread the
 * seed, xoshiro256** for the stream.  Same seed, same numbers, on every platform.
 */
#ifndef ELMO_RNG_H
#define ELMO_RNG_H

#include <stdint.h>

struct elmo_rng {
    uint64_t s[4];
};

/* Seeds the generator; any seed (0 included) gives a usable stream.  Not collective. */
void elmo_rng_seed(struct elmo_rng *r, uint64_t seed);

/* The next 64 random bits. */
uint64_t elmo_rng_next(struct elmo_rng *r);

/* A uniform float in [lo, hi) with 24 random bits. */
float elmo_rng_uniform(struct elmo_rng *r, float lo, float hi);

#endif /* ELMO_RNG_H */
