/*
 * test_cache.c: worker/cache, the word-type cache of token vectors.  A miss inserts the key
 * (ready 0) and a later lookup of the same key hits it (ready 1, the same index, the vector
 * stored on the miss, bit for bit); tokens that share their first 48 bytes share an entry, and
 * the token vector of the fixture-shaped model indeed depends on those bytes alone; hits and
 * lookups are counted; a disabled cache and a full one (slots or key bytes) return -1 and
 * keep what they hold: nothing is evicted.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/bilm.h"
#include "model/status.h"
#include "tests/check.h"
#include "worker/cache.h"

/* A token of a few letters spelling i in base 26 ("b", "c", ..., "ba", ...). */
static size_t word(int i, char *buf) {
    size_t n = 0;
    do {
        buf[n++] = (char)('a' + i % 26);
        i /= 26;
    } while (i > 0);
    buf[n] = '\0';
    return n;
}

static void test_hit_and_miss(void) {
    struct elmo_cache c;
    const int P = 4;
    CHECK_OK(elmo_cache_init(&c, P, 1 << 20));
    int ready = -1;
    int64_t a = elmo_cache_get(&c, "cat", 3, &ready);
    CHECK(a >= 0);
    CHECK_INT_EQ(ready, 0);
    const float va[4] = {1.5f, -2.0f, 0.0f, 3.25f};
    memcpy(elmo_cache_vec(&c, a), va, sizeof va);
    int64_t b = elmo_cache_get(&c, "dog", 3, &ready);
    CHECK(b >= 0 && b != a);
    CHECK_INT_EQ(ready, 0);
    const float vb[4] = {7, 8, 9, 10};
    memcpy(elmo_cache_vec(&c, b), vb, sizeof vb);
    /* a prefix or an extension is another word */
    int64_t p = elmo_cache_get(&c, "ca", 2, &ready);
    CHECK(p >= 0 && p != a && p != b);
    CHECK_INT_EQ(ready, 0);
    memset(elmo_cache_vec(&c, p), 0, sizeof(float) * P);
    CHECK_INT_EQ(c.hits, 0);
    CHECK_INT_EQ(c.lookups, 3);
    CHECK_INT_EQ(c.used, 3);
    for (int round = 0; round < 3; round++) {
        ready = 0;
        CHECK_INT_EQ(elmo_cache_get(&c, "cat", 3, &ready), a);
        CHECK_INT_EQ(ready, 1);
        CHECK(memcmp(elmo_cache_vec(&c, a), va, sizeof va) == 0);
        ready = 0;
        CHECK_INT_EQ(elmo_cache_get(&c, "dog", 3, &ready), b);
        CHECK_INT_EQ(ready, 1);
        CHECK(memcmp(elmo_cache_vec(&c, b), vb, sizeof vb) == 0);
    }
    CHECK_INT_EQ(c.hits, 6);
    CHECK_INT_EQ(c.lookups, 9);
    CHECK_INT_EQ(c.used, 3);
    elmo_cache_free(&c);
    CHECK_INT_EQ(c.cap, 0);
    CHECK_INT_EQ(c.P, P);
    elmo_cache_free(&c); /* twice is harmless */
}

/* Only the first 48 bytes are the key: longer tokens that share them share the entry. */
static void test_key_length(void) {
    CHECK_INT_EQ(elmo_cache_key_len(0), 0);
    CHECK_INT_EQ(elmo_cache_key_len(47), 47);
    CHECK_INT_EQ(elmo_cache_key_len(48), 48);
    CHECK_INT_EQ(elmo_cache_key_len(49), 48);
    CHECK_INT_EQ(elmo_cache_key_len(4000), 48);
    struct elmo_cache c;
    CHECK_OK(elmo_cache_init(&c, 2, 1 << 16));
    char t1[80], t2[80];
    memset(t1, 'x', sizeof t1);
    memset(t2, 'x', sizeof t2);
    t2[60] = 'y';  /* differs after byte 48 */
    int ready;
    int64_t i1 = elmo_cache_get(&c, t1, 70, &ready);
    CHECK_INT_EQ(ready, 0);
    CHECK_INT_EQ(elmo_cache_get(&c, t2, 75, &ready), i1);
    CHECK_INT_EQ(ready, 1);
    CHECK_INT_EQ(elmo_cache_get(&c, t1, 48, &ready), i1);
    CHECK_INT_EQ(ready, 1);
    CHECK(elmo_cache_get(&c, t1, 47, &ready) != i1);  /* 47 bytes: another key */
    CHECK_INT_EQ(ready, 0);
    elmo_cache_free(&c);
}

/* Budget 0 disables the cache: every lookup is counted and answered -1. */
static void test_disabled(void) {
    struct elmo_cache c;
    CHECK_OK(elmo_cache_init(&c, 8, 0));
    int ready = 7;
    for (int i = 0; i < 3; i++) CHECK_INT_EQ(elmo_cache_get(&c, "cat", 3, &ready), -1);
    CHECK_INT_EQ(c.lookups, 3);
    CHECK_INT_EQ(c.hits, 0);
    CHECK_INT_EQ(c.used, 0);
    elmo_cache_free(&c);
}

/* Full at cap / 2 words: a new word gets -1, the words held still hit with their vectors. */
static void test_full_slots(void) {
    struct elmo_cache c;
    CHECK_OK(elmo_cache_init(&c, 1, 1));  /* the smallest table */
    CHECK(c.cap >= 2 && (c.cap & (c.cap - 1)) == 0);
    const int64_t room = c.cap / 2;
    char buf[16];
    int ready, ok = 1;
    for (int i = 0; i < room; i++) {
        int64_t k = elmo_cache_get(&c, buf, word(i, buf), &ready);
        if (k != i || ready != 0) ok = 0;
        else *elmo_cache_vec(&c, k) = (float)i;
    }
    CHECK(ok);
    CHECK_INT_EQ(c.used, room);
    CHECK_INT_EQ(elmo_cache_get(&c, buf, word((int)room, buf), &ready), -1);
    CHECK_INT_EQ(elmo_cache_get(&c, buf, word((int)room + 1, buf), &ready), -1);
    CHECK_INT_EQ(c.used, room);
    for (int i = 0; i < room; i++) {
        int64_t k = elmo_cache_get(&c, buf, word(i, buf), &ready);
        if (k != i || ready != 1 || *elmo_cache_vec(&c, k) != (float)i) ok = 0;
    }
    CHECK(ok);
    CHECK_INT_EQ(c.hits, room);
    CHECK_INT_EQ(c.lookups, 2 * room + 2);
    elmo_cache_free(&c);
}

/* Full key space: long words fill the key bytes before the slots. */
static void test_full_keys(void) {
    struct elmo_cache c;
    CHECK_OK(elmo_cache_init(&c, 1, 1));
    char tok[48];
    memset(tok, 'k', sizeof tok);
    int ready, n = 0;
    int64_t k;
    for (;;) {
        snprintf(tok, sizeof tok, "%06d", n);
        tok[6] = 'k';
        k = elmo_cache_get(&c, tok, sizeof tok, &ready);
        if (k < 0) break;
        n++;
    }
    CHECK(n > 0 && n < c.cap / 2);  /* stopped by the key bytes, not the slots */
    CHECK_INT_EQ(c.used, n);
    CHECK(c.keys_used + sizeof tok > c.keys_cap);
    snprintf(tok, sizeof tok, "%06d", 0);
    tok[6] = 'k';
    CHECK_INT_EQ(elmo_cache_get(&c, tok, sizeof tok, &ready), 0);  /* still held */
    CHECK_INT_EQ(ready, 1);
    elmo_cache_free(&c);
}

/* The token vectors of a small model: a hit gives exactly what a fresh computation gives, for
 * every word, and the key's 48 bytes decide the vector. */
static void test_model_vectors(void) {
    struct elmo_options o;
    struct elmo_model m;
    struct elmo_bilm_ws ws;
    memset(&m, 0, sizeof m);
    memset(&ws, 0, sizeof ws);
    CHECK_OK(elmo_options_preset("fixture", &o));
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 11);
    CHECK_OK(elmo_bilm_ws_init(&ws, &m, 4, 64, 64));
    const int P = o.P;
    struct elmo_cache c;
    CHECK_OK(elmo_cache_init(&c, P, 1 << 20));
    char lng[64];
    memset(lng, 'z', sizeof lng);
    memcpy(lng, "long", 4);
    const char *words[] = {"the", "cat", "sat", "on", "the", "mat", "cat", lng, lng};
    const size_t lens[] = {3, 3, 3, 2, 3, 3, 3, 50, 64};
    const int nw = 9;
    int32_t ids[ELMO_MAXC];
    float *fresh = malloc(sizeof(float) * P), *got = malloc(sizeof(float) * P);
    if (!fresh || !got) { perror("malloc"); exit(1); }
    int same = 1, hits_seen = 0;
    for (int w = 0; w < nw; w++) {
        elmo_char_ids(words[w], lens[w], ids);
        elmo_token_embed(&m, &ws, 1, ids, fresh);
        int ready;
        int64_t k = elmo_cache_get(&c, words[w], lens[w], &ready);
        CHECK(k >= 0);
        if (!ready) memcpy(elmo_cache_vec(&c, k), fresh, sizeof(float) * P);
        else hits_seen++;
        memcpy(got, elmo_cache_vec(&c, k), sizeof(float) * P);
        if (memcmp(got, fresh, sizeof(float) * P) != 0) same = 0;
    }
    CHECK(same);
    CHECK_INT_EQ(hits_seen, 3);  /* the, cat, and the long word cut at 48 bytes */
    CHECK_INT_EQ(c.hits, 3);
    CHECK_INT_EQ(c.lookups, nw);
    free(fresh);
    free(got);
    elmo_cache_free(&c);
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&m);
}

int main(void) {
    test_hit_and_miss();
    test_key_length();
    test_disabled();
    test_full_slots();
    test_full_keys();
    test_model_vectors();
    return CHECK_REPORT();
}
