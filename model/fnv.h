/*
 * fnv.h: the 64-bit FNV-1a checksum of the project's files and images: part files and
 * direct-write shards (worker/part.h), packed-weight images (io/pack_cache.h) and the packed
 * layout's probe (model/pack.c).
 */
#ifndef ELMO_FNV_H
#define ELMO_FNV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The start of a 64-bit FNV-1a checksum. */
#define ELMO_FNV64_OFFSET 0xcbf29ce484222325ull

/*
 * Folds n bytes into the FNV-1a state h: whole little-endian 64-bit words, then the tail of
 * fewer than 8 bytes byte by byte.
 */
static inline uint64_t elmo_fnv64_fold(uint64_t h, const void *buf, size_t n) {
    const uint8_t *b = buf;
    const size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, b + 8 * i, 8);
        h ^= w;
        h *= 0x100000001b3ull;
    }
    for (size_t i = 8 * words; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif /* ELMO_FNV_H */
