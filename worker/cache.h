/*
 * cache.h: the word-type cache of context-free token vectors.  A token's vector (char CNN,
 * highway, projection) depends on its first 48 bytes alone, so a rank keeps one vector per
 * distinct key and reuses it; the vectors are bit-identical to a fresh computation (the
 * row-stable GEMM), so the cache never changes the output.  Fixed capacity chosen at init (no
 * allocation afterwards); when full, new words are computed but not kept.  Not thread-safe.
 */
#ifndef ELMO_CACHE_H
#define ELMO_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct elmo_cache {
    int P;              /* floats per vector */
    int64_t cap;        /* slots (power of two); at most cap / 2 are used */
    int64_t used;
    uint64_t *hash;     /* (cap) 0 = empty */
    uint32_t *key_off;  /* (cap) offset of the key in keys */
    uint8_t *key_len;   /* (cap) */
    char *keys;         /* key bytes */
    size_t keys_cap, keys_used;
    float *vec;         /* (cap / 2, P) vectors, in insertion order */
    int64_t *slot_vec;  /* (cap) index into vec */
    int64_t hits, lookups;
};

/* Sizes the cache to about budget_bytes (0 disables it).  Returns 0 or ELMO_ERR_NOMEM. */
int elmo_cache_init(struct elmo_cache *c, int P, size_t budget_bytes);
void elmo_cache_free(struct elmo_cache *c);

/* The cache key length of a token: its first 48 bytes decide its vector. */
size_t elmo_cache_key_len(size_t len);

/*
 * Looks up a token (len bytes).  Returns the vector index >= 0 and sets *ready: 0 = inserted
 * now, the caller fills elmo_cache_vec; 1 = inserted earlier (a hit), filled by whoever
 * inserted it: within a batch, by the time that caller has written its misses.  Returns -1
 * when the cache is disabled or full (then the caller computes the vector itself).
 */
int64_t elmo_cache_get(struct elmo_cache *c, const char *tok, size_t len, int *ready);

/* The vector of index i (P floats). */
static inline float *elmo_cache_vec(struct elmo_cache *c, int64_t i) {
    return c->vec + (size_t)i * (size_t)c->P;
}

#endif /* ELMO_CACHE_H */
