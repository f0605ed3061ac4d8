/*
 * cache.c: open-addressing hash table from token bytes to a vector index.
 */
#include "worker/cache.h"

#include <stdlib.h>
#include <string.h>

#include "model/bilm.h"
#include "model/status.h"

size_t elmo_cache_key_len(size_t len) { return len > ELMO_MAX_BYTES ? ELMO_MAX_BYTES : len; }

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

int elmo_cache_init(struct elmo_cache *c, int P, size_t budget_bytes) {
    memset(c, 0, sizeof *c);
    c->P = P;
    if (budget_bytes == 0) return 0;
    /* per used entry: vector + ~24 bytes of key + 2 slots of index */
    size_t per = (size_t)P * sizeof(float) + 24 + 2 * (8 + 4 + 1 + 1 + 8);
    int64_t want = (int64_t)(budget_bytes / per);
    int64_t cap = 1024;
    while (cap / 2 < want && cap < ((int64_t)1 << 30)) cap *= 2;
    c->cap = cap;
    c->hash = calloc((size_t)cap, sizeof *c->hash);
    c->key_off = calloc((size_t)cap, sizeof *c->key_off);
    c->key_len = calloc((size_t)cap, sizeof *c->key_len);
    c->slot_vec = calloc((size_t)cap, sizeof *c->slot_vec);
    c->keys_cap = (size_t)(cap / 2) * 16 + 64;
    if (c->keys_cap > 0xffffffffu) c->keys_cap = 0xffffffffu;
    c->keys = malloc(c->keys_cap);
    c->vec = malloc((size_t)(cap / 2) * (size_t)P * sizeof(float));
    if (!c->hash || !c->key_off || !c->key_len || !c->slot_vec || !c->keys ||
        !c->vec) {
        elmo_cache_free(c);
        return elmo_error(ELMO_ERR_NOMEM, "out of memory for the token cache (%zu bytes)",
                          budget_bytes);
    }
    return 0;
}

void elmo_cache_free(struct elmo_cache *c) {
    free(c->hash); free(c->key_off); free(c->key_len); free(c->slot_vec);
    free(c->keys); free(c->vec);
    int P = c->P;
    memset(c, 0, sizeof *c);
    c->P = P;
}

int64_t elmo_cache_get(struct elmo_cache *c, const char *tok, size_t len, int *ready) {
    c->lookups++;
    if (c->cap == 0) return -1;
    size_t n = elmo_cache_key_len(len);
    uint64_t h = fnv1a(tok, n);
    int64_t mask = c->cap - 1;
    for (int64_t i = (int64_t)(h & (uint64_t)mask);; i = (i + 1) & mask) {
        if (c->hash[i] == 0) {
            if (c->used >= c->cap / 2 || c->keys_used + n > c->keys_cap) return -1;
            c->hash[i] = h;
            c->key_off[i] = (uint32_t)c->keys_used;
            c->key_len[i] = (uint8_t)n;
            memcpy(c->keys + c->keys_used, tok, n);
            c->keys_used += n;
            c->slot_vec[i] = c->used++;
            *ready = 0;
            return c->slot_vec[i];
        }
        if (c->hash[i] == h && c->key_len[i] == n && memcmp(c->keys + c->key_off[i], tok, n) == 0) {
            c->hits++;
            *ready = 1;
            return c->slot_vec[i];
        }
    }
}
