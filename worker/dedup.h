/*
 * dedup.h: the sentence cache of the stateless regime.  A sentence's results depend on its
 * tokens alone (worker/forward.h), so a rank keeps, for the token sequences it has computed,
 * the exact bytes of each result (embed: one part per output; annotate: the tags and the
 * scores) and a count that goes with each part (embed: its non-finite values), and a sentence
 * equal to one of them is copied instead of computed.
 *
 * Exact match: a 64-bit hash of the token lengths and bytes finds the candidates, and the key
 * (the lengths and the bytes, so "a b" and "ab" differ) is compared in full.  Bounded: the
 * entries, their keys and the hash table together hold at most `budget` bytes; when a new entry
 * does not fit, the least recently used entries (a hit counts as a use) are evicted until it
 * does; an entry above a quarter of the budget is not kept.  MPI-free; not thread-safe.
 *
 * Recording: elmo_dedup_begin (the key), elmo_dedup_put or elmo_dedup_put_place per part,
 * elmo_dedup_end (kept if it fits).  A part put as a place (where the caller wrote its bytes, in a
 * file it keeps) costs the entry nothing but its place, so a cache of places holds a key's worth of
 * budget per sentence instead of its results.  A put without a begin, or after the end, does
 * nothing, so a caller may put from a path that also writes sentences it does not record.
 */
#ifndef ELMO_WORKER_DEDUP_H
#define ELMO_WORKER_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/forward.h"

/* Parts per entry (embed: one per output, model/outputs.h). */
#define ELMO_DEDUP_PARTS 8

struct elmo_dedup_entry; /* dedup.c */

struct elmo_dedup {
    size_t budget, used;             /* bytes: entries (with their keys) and the table */
    struct elmo_dedup_entry **table; /* (n_table, a power of two) chains by hash */
    size_t n_table;
    int64_t n;                          /* entries held */
    struct elmo_dedup_entry *newest, *oldest; /* the use order */
    uint64_t hash_mask;                 /* all ones; tests clear bits to force collisions */
    /* the entry being recorded: key then parts in rec, the parts' places */
    char *rec;
    size_t rec_len, rec_cap, rec_key;
    int64_t rec_tok;
    uint64_t rec_hash;
    bool recording;
    uint32_t rec_mask, rec_placed; /* the parts put; those of them put as places */
    size_t rec_off[ELMO_DEDUP_PARTS], rec_n[ELMO_DEDUP_PARTS];
    int64_t rec_count[ELMO_DEDUP_PARTS];
    int64_t hits, lookups, evicted; /* finds that hit, finds, entries evicted */
};

/* Sizes the cache to at most budget bytes (0: disabled, nothing is found or kept).  0. */
int elmo_dedup_init(struct elmo_dedup *d, size_t budget);
void elmo_dedup_free(struct elmo_dedup *d);

/* The hash of the sequence w[0..n) (token lengths and bytes). */
uint64_t elmo_dedup_hash(const struct elmo_word *w, int64_t n);

/*
 * Groups sentences by equal token sequences: sentence i is words[off[i] .. off[i+1]), i < n;
 * first[i] gets the smallest j with sentence j equal to sentence i (i itself for the first of
 * its kind).
 */
void elmo_dedup_group(int64_t n, const struct elmo_word *words, const int64_t *off,
                      int32_t *first);

/*
 * The entry of the sequence w[0..n), marked as just used, or NULL.  It stays valid until the
 * next elmo_dedup_end (which may evict it) or elmo_dedup_free.
 */
const struct elmo_dedup_entry *elmo_dedup_find(struct elmo_dedup *d, const struct elmo_word *w,
                                               int64_t n);

/* Part k of an entry: its bytes (*len of them) and its count; NULL when it was not put or was
 * put as a place. */
const void *elmo_dedup_part(const struct elmo_dedup_entry *e, unsigned k, size_t *len,
                            int64_t *count);

/* Part k of an entry put as a place: 1 with *at, *len and *count set, else 0. */
int elmo_dedup_place(const struct elmo_dedup_entry *e, unsigned k, int64_t *at, size_t *len,
                     int64_t *count);

/* Starts recording the entry of w[0..n) (any entry being recorded is dropped). */
void elmo_dedup_begin(struct elmo_dedup *d, const struct elmo_word *w, int64_t n);

/* Part k (< ELMO_DEDUP_PARTS) of the entry being recorded: len bytes and a count. */
void elmo_dedup_put(struct elmo_dedup *d, unsigned k, const void *bytes, size_t len,
                    int64_t count);

/* Part k of the entry being recorded as a place: len bytes at byte `at` (>= 0) of a file the
 * caller keeps unchanged there while the cache lives, and a count. */
void elmo_dedup_put_place(struct elmo_dedup *d, unsigned k, int64_t at, size_t len, int64_t count);

/* Ends the recording: the entry is kept (evicting the least recently used) unless it is
 * larger than a quarter of the budget or its key is held already. */
void elmo_dedup_end(struct elmo_dedup *d);

#endif /* ELMO_WORKER_DEDUP_H */
