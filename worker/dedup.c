/*
 * dedup.c: the sentence cache of the stateless regime (see dedup.h).
 *
 * An entry is one allocation: its header, then the key (the token lengths as uint32, then the token
 * bytes), then the parts put as bytes (a part put as a place has only its place).  Entries hang in
 * hash chains and in a doubly linked use order; eviction takes the least recently used.
 */
#include "worker/dedup.h"

#include <stdlib.h>
#include <string.h>

#include "model/status.h"

struct elmo_dedup_entry {
    struct elmo_dedup_entry *chain;         /* the next entry of its hash chain */
    struct elmo_dedup_entry *newer, *older; /* the use order */
    uint64_t hash;
    size_t size;    /* bytes charged to the budget */
    int64_t n_tok;
    size_t key_len; /* 4 n_tok + the token bytes */
    uint32_t mask;  /* the parts that were put */
    uint32_t placed; /* those of them put as places: off is the place, not an offset in data */
    size_t off[ELMO_DEDUP_PARTS], len[ELMO_DEDUP_PARTS];
    int64_t count[ELMO_DEDUP_PARTS];
    char data[]; /* key, then parts */
};

/* What an allocator keeps beside each block, charged with it. */
#define MALLOC_OVERHEAD 16
#define TABLE_MIN 1024

/* ---- keys ----------------------------------------------------------------------------- */

static uint64_t fnv_add(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t elmo_dedup_hash(const struct elmo_word *w, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv_add(h, &n, sizeof n);
    for (int64_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)w[i].len;
        h = fnv_add(h, &len, sizeof len);
        h = fnv_add(h, w[i].s, w[i].len);
    }
    /* a final mix, so that the low bits (the chain index) depend on every byte */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* 1 when the key of e is the sequence w[0..n). */
static int key_is(const struct elmo_dedup_entry *e, const struct elmo_word *w, int64_t n) {
    if (e->n_tok != n) return 0;
    const char *bytes = e->data + 4 * (size_t)n;
    for (int64_t i = 0; i < n; i++) {
        uint32_t len;
        memcpy(&len, e->data + 4 * (size_t)i, sizeof len);
        if (len != w[i].len || memcmp(bytes, w[i].s, len) != 0) return 0;
        bytes += len;
    }
    return 1;
}

static int same_words(const struct elmo_word *a, int64_t na, const struct elmo_word *b,
                      int64_t nb) {
    if (na != nb) return 0;
    for (int64_t i = 0; i < na; i++)
        if (a[i].len != b[i].len || memcmp(a[i].s, b[i].s, a[i].len) != 0) return 0;
    return 1;
}

void elmo_dedup_group(int64_t n, const struct elmo_word *words, const int64_t *off,
                      int32_t *first) {
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    int32_t *slot = elmo_xmalloc(cap * sizeof *slot);
    memset(slot, 0xff, cap * sizeof *slot); /* -1: empty */
    for (int64_t i = 0; i < n; i++) {
        const struct elmo_word *w = words + off[i];
        const int64_t len = off[i + 1] - off[i];
        size_t s = (size_t)elmo_dedup_hash(w, len) & (cap - 1);
        first[i] = (int32_t)i;
        for (; slot[s] >= 0; s = (s + 1) & (cap - 1)) {
            int32_t j = slot[s];
            if (same_words(words + off[j], off[j + 1] - off[j], w, len)) {
                first[i] = j;
                break;
            }
        }
        if (first[i] == i) slot[s] = (int32_t)i;
    }
    free(slot);
}

/* ---- the table and the use order ------------------------------------------------------ */

int elmo_dedup_init(struct elmo_dedup *d, size_t budget) {
    memset(d, 0, sizeof *d);
    d->budget = budget;
    d->hash_mask = ~(uint64_t)0;
    if (budget == 0) return 0;
    d->n_table = TABLE_MIN;
    d->table = elmo_xcalloc(d->n_table, sizeof *d->table);
    d->used = d->n_table * sizeof *d->table;
    return 0;
}

void elmo_dedup_free(struct elmo_dedup *d) {
    for (struct elmo_dedup_entry *e = d->newest, *next; e; e = next) {
        next = e->older;
        free(e);
    }
    free(d->table);
    free(d->rec);
    memset(d, 0, sizeof *d);
}

static void unlink_use(struct elmo_dedup *d, struct elmo_dedup_entry *e) {
    if (e->newer) e->newer->older = e->older;
    else d->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else d->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void push_newest(struct elmo_dedup *d, struct elmo_dedup_entry *e) {
    e->older = d->newest;
    e->newer = NULL;
    if (d->newest) d->newest->newer = e;
    d->newest = e;
    if (!d->oldest) d->oldest = e;
}

static void evict_oldest(struct elmo_dedup *d) {
    struct elmo_dedup_entry *e = d->oldest;
    struct elmo_dedup_entry **p = &d->table[e->hash & (d->n_table - 1)];
    while (*p != e) p = &(*p)->chain;
    *p = e->chain;
    unlink_use(d, e);
    d->used -= e->size;
    d->n--;
    d->evicted++;
    free(e);
}

/* Doubles the table when it holds more entries than chains (when the budget allows). */
static void grow_table(struct elmo_dedup *d) {
    if ((size_t)d->n <= d->n_table) return;
    size_t n2 = 2 * d->n_table, extra = (n2 - d->n_table) * sizeof *d->table;
    if (d->used + extra > d->budget) return; /* longer chains rather than more bytes */
    struct elmo_dedup_entry **t = calloc(n2, sizeof *t);
    if (!t) return;
    for (struct elmo_dedup_entry *e = d->newest; e; e = e->older) {
        size_t s = e->hash & (n2 - 1);
        e->chain = t[s];
        t[s] = e;
    }
    free(d->table);
    d->table = t;
    d->n_table = n2;
    d->used += extra;
}

const struct elmo_dedup_entry *elmo_dedup_find(struct elmo_dedup *d, const struct elmo_word *w,
                                               int64_t n) {
    if (!d->table) return NULL;
    d->lookups++;
    uint64_t h = elmo_dedup_hash(w, n) & d->hash_mask;
    for (struct elmo_dedup_entry *e = d->table[h & (d->n_table - 1)]; e; e = e->chain) {
        if (e->hash != h || !key_is(e, w, n)) continue;
        unlink_use(d, e);
        push_newest(d, e);
        d->hits++;
        return e;
    }
    return NULL;
}

const void *elmo_dedup_part(const struct elmo_dedup_entry *e, unsigned k, size_t *len,
                            int64_t *count) {
    if (k >= ELMO_DEDUP_PARTS || !(e->mask & (1u << k)) || (e->placed & (1u << k))) return NULL;
    *len = e->len[k];
    *count = e->count[k];
    return e->data + e->off[k];
}

int elmo_dedup_place(const struct elmo_dedup_entry *e, unsigned k, int64_t *at, size_t *len,
                     int64_t *count) {
    if (k >= ELMO_DEDUP_PARTS || !(e->placed & (1u << k))) return 0;
    *at = (int64_t)e->off[k];
    *len = e->len[k];
    *count = e->count[k];
    return 1;
}

/* ---- recording ------------------------------------------------------------------------ */

/* Appends n bytes to the record; false (and the record dropped) beyond a quarter budget. */
static bool rec_add(struct elmo_dedup *d, const void *p, size_t n) {
    if (sizeof(struct elmo_dedup_entry) + d->rec_len + n > d->budget / 4) {
        d->recording = false;
        return false;
    }
    if (d->rec_len + n > d->rec_cap) {
        size_t cap = d->rec_cap ? d->rec_cap : 4096;
        while (cap < d->rec_len + n) cap *= 2;
        d->rec = elmo_xrealloc(d->rec, cap);
        d->rec_cap = cap;
    }
    if (n) memcpy(d->rec + d->rec_len, p, n);
    d->rec_len += n;
    return true;
}

void elmo_dedup_begin(struct elmo_dedup *d, const struct elmo_word *w, int64_t n) {
    d->recording = d->table != NULL;
    d->rec_len = 0;
    d->rec_mask = 0;
    d->rec_placed = 0;
    d->rec_tok = n;
    d->rec_hash = elmo_dedup_hash(w, n) & d->hash_mask;
    for (int64_t i = 0; i < n && d->recording; i++) {
        uint32_t len = (uint32_t)w[i].len;
        rec_add(d, &len, sizeof len);
    }
    for (int64_t i = 0; i < n && d->recording; i++) rec_add(d, w[i].s, w[i].len);
    d->rec_key = d->rec_len;
}

void elmo_dedup_put(struct elmo_dedup *d, unsigned k, const void *bytes, size_t len,
                    int64_t count) {
    if (!d->recording || k >= ELMO_DEDUP_PARTS) return;
    size_t at = d->rec_len;
    if (!rec_add(d, bytes, len)) return;
    d->rec_off[k] = at;
    d->rec_n[k] = len;
    d->rec_count[k] = count;
    d->rec_mask |= 1u << k;
    d->rec_placed &= ~(1u << k);
}

void elmo_dedup_put_place(struct elmo_dedup *d, unsigned k, int64_t at, size_t len, int64_t count) {
    if (!d->recording || k >= ELMO_DEDUP_PARTS || at < 0) return;
    d->rec_off[k] = (size_t)at;
    d->rec_n[k] = len;
    d->rec_count[k] = count;
    d->rec_mask |= 1u << k;
    d->rec_placed |= 1u << k;
}

/* 1 when the key being recorded is held already. */
static int rec_is_held(const struct elmo_dedup *d) {
    for (struct elmo_dedup_entry *e = d->table[d->rec_hash & (d->n_table - 1)]; e; e = e->chain)
        if (e->hash == d->rec_hash && e->n_tok == d->rec_tok && e->key_len == d->rec_key &&
            memcmp(e->data, d->rec, d->rec_key) == 0)
            return 1;
    return 0;
}

void elmo_dedup_end(struct elmo_dedup *d) {
    if (!d->recording) return;
    d->recording = false;
    const size_t size = sizeof(struct elmo_dedup_entry) + d->rec_len + MALLOC_OVERHEAD;
    if (size > d->budget / 4 || rec_is_held(d)) return;
    while (d->oldest && d->used + size > d->budget) evict_oldest(d);
    if (d->used + size > d->budget) return; /* the table alone fills a tiny budget */
    struct elmo_dedup_entry *e = malloc(sizeof *e + d->rec_len);
    if (!e) return; /* a cache: without memory it only keeps less */
    memset(e, 0, sizeof *e);
    e->hash = d->rec_hash;
    e->size = size;
    e->n_tok = d->rec_tok;
    e->key_len = d->rec_key;
    e->mask = d->rec_mask;
    e->placed = d->rec_placed;
    memcpy(e->off, d->rec_off, sizeof e->off);
    memcpy(e->len, d->rec_n, sizeof e->len);
    memcpy(e->count, d->rec_count, sizeof e->count);
    memcpy(e->data, d->rec, d->rec_len);
    size_t s = e->hash & (d->n_table - 1);
    e->chain = d->table[s];
    d->table[s] = e;
    push_newest(d, e);
    d->used += size;
    d->n++;
    grow_table(d);
}
