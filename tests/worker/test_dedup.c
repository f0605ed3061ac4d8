/*
 * test_dedup.c: worker/dedup, the sentence cache.  A recorded sequence is found again with its
 * parts bit for bit and their counts; another sequence, a prefix, the same characters split
 * differently and a sequence of another length are misses; with every hash forced equal the
 * full compare still tells the keys apart; the budget is never exceeded, the least recently
 * used entry goes first (a hit counts as a use) and an entry above a quarter of the budget is
 * not kept; parts put as places come back as places and cost the budget nothing but the key;
 * grouping finds the first equal sentence; a disabled cache keeps nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/status.h"
#include "tests/check.h"
#include "worker/dedup.h"

/* Splits s on spaces into w (pointing into s); returns the token count. */
static int64_t words(const char *s, struct elmo_word *w) {
    int64_t n = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        size_t len = strcspn(s, " ");
        w[n++] = (struct elmo_word){s, len};
        s += len;
    }
    return n;
}

/* Records sentence s with part 0 = its text bytes and part 3 = v floats, count c. */
static void record(struct elmo_dedup *d, const char *s, const float *v, size_t nv, int64_t c) {
    struct elmo_word w[32];
    int64_t n = words(s, w);
    elmo_dedup_begin(d, w, n);
    elmo_dedup_put(d, 0, s, strlen(s), 0);
    elmo_dedup_put(d, 3, v, nv * sizeof *v, c);
    elmo_dedup_end(d);
}

static const struct elmo_dedup_entry *find(struct elmo_dedup *d, const char *s) {
    struct elmo_word w[32];
    int64_t n = words(s, w);
    return elmo_dedup_find(d, w, n);
}

static void check_hits_and_misses(struct elmo_dedup *d) {
    const float v[3] = {1.5f, -0.0f, 3.25f};
    record(d, "the cat sat", v, 3, 2);
    record(d, "ab c", v, 1, 0);
    const struct elmo_dedup_entry *e = find(d, "the cat sat");
    CHECK(e != NULL);
    size_t len = 0;
    int64_t count = -1;
    const float *p = elmo_dedup_part(e, 3, &len, &count);
    CHECK(p != NULL && len == sizeof v && memcmp(p, v, sizeof v) == 0);
    CHECK_INT_EQ(count, 2);
    const char *t = elmo_dedup_part(e, 0, &len, &count);
    CHECK(t != NULL && len == 11 && memcmp(t, "the cat sat", 11) == 0);
    CHECK(elmo_dedup_part(e, 1, &len, &count) == NULL); /* not put */
    CHECK(find(d, "the cat") == NULL);                  /* a prefix */
    CHECK(find(d, "the cat sat down") == NULL);         /* longer */
    CHECK(find(d, "the cat sit") == NULL);              /* one token differs */
    CHECK(find(d, "a bc") == NULL);                     /* the same characters split otherwise */
    CHECK(find(d, "abc") == NULL);
    CHECK(find(d, "ab c") != NULL);
    CHECK(find(d, "") == NULL);
}

static void test_hit_and_miss(void) {
    struct elmo_dedup d;
    CHECK_OK(elmo_dedup_init(&d, 1 << 20));
    check_hits_and_misses(&d);
    CHECK_INT_EQ(d.n, 2);
    elmo_dedup_free(&d);
}

/* Every hash equal: one chain, told apart by the full compare. */
static void test_collisions(void) {
    struct elmo_dedup d;
    CHECK_OK(elmo_dedup_init(&d, 1 << 20));
    d.hash_mask = 0;
    check_hits_and_misses(&d);
    char s[32];
    const float v = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof s, "w%d x", i);
        record(&d, s, &v, 1, i);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof s, "w%d x", i);
        const struct elmo_dedup_entry *e = find(&d, s);
        size_t len;
        int64_t count = -1;
        CHECK(e && elmo_dedup_part(e, 3, &len, &count) && count == i);
    }
    /* recording a key held already keeps one entry */
    record(&d, "w5 x", &v, 1, 99);
    CHECK_INT_EQ(d.n, 102);
    elmo_dedup_free(&d);
}

static void test_eviction(void) {
    struct elmo_dedup d;
    const size_t budget = 64 << 10;
    CHECK_OK(elmo_dedup_init(&d, budget));
    float v[256] = {0};
    char s[32];
    record(&d, "keep me", v, 256, 0);
    for (int i = 0; i < 400; i++) {
        snprintf(s, sizeof s, "s %d", i);
        v[0] = (float)i;
        record(&d, s, v, 256, 0);
        CHECK(d.used <= budget);
        CHECK(find(&d, "keep me") != NULL); /* used every time: never the oldest */
    }
    CHECK(d.evicted > 300);
    CHECK(d.n < 100);
    CHECK(find(&d, "s 0") == NULL);   /* the oldest went first */
    CHECK(find(&d, "s 399") != NULL); /* the newest stays */
    /* above a quarter of the budget: not kept, nothing evicted for it */
    int64_t n0 = d.n;
    float big[5000] = {0};
    record(&d, "too big", big, 5000, 0);
    CHECK(find(&d, "too big") == NULL);
    CHECK_INT_EQ(d.n, n0);
    elmo_dedup_free(&d);
}

/* Parts put as places: found again with their place, length and count, not as bytes; an entry
 * of places costs its key, not the bytes placed (10,000 parts of 1 MiB each in a 4 MiB cache). */
static void test_places(void) {
    struct elmo_dedup d;
    const size_t budget = 4 << 20;
    CHECK_OK(elmo_dedup_init(&d, budget));
    struct elmo_word w[32];
    char s[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(s, sizeof s, "p %d q", i);
        int64_t n = words(s, w);
        elmo_dedup_begin(&d, w, n);
        elmo_dedup_put_place(&d, 2, (int64_t)i << 20, 1 << 20, i % 3);
        elmo_dedup_put(&d, 5, s, strlen(s), 7);
        elmo_dedup_end(&d);
        CHECK(d.used <= budget);
    }
    CHECK_INT_EQ(d.evicted, 0);
    CHECK_INT_EQ(d.n, 10000);
    for (int i = 0; i < 10000; i += 999) {
        snprintf(s, sizeof s, "p %d q", i);
        const struct elmo_dedup_entry *e = find(&d, s);
        int64_t at = -1, count = -1;
        size_t len = 0;
        CHECK(e != NULL);
        if (!e) continue;
        CHECK(elmo_dedup_place(e, 2, &at, &len, &count) == 1);
        CHECK(at == (int64_t)i << 20 && len == 1 << 20 && count == i % 3);
        CHECK(elmo_dedup_part(e, 2, &len, &count) == NULL); /* a place has no bytes */
        const char *t = elmo_dedup_part(e, 5, &len, &count);
        CHECK(t && len == strlen(s) && memcmp(t, s, len) == 0 && count == 7);
        CHECK(elmo_dedup_place(e, 5, &at, &len, &count) == 0); /* bytes are not a place */
        CHECK(elmo_dedup_place(e, 1, &at, &len, &count) == 0); /* not put */
    }
    elmo_dedup_free(&d);
}

static void test_group(void) {
    const char *s[] = {"a b", "ab", "a b", "", "b a", "ab", "", "a b"};
    struct elmo_word w[32];
    int64_t off[9] = {0};
    for (int i = 0; i < 8; i++) off[i + 1] = off[i] + words(s[i], w + off[i]);
    int32_t first[8];
    elmo_dedup_group(8, w, off, first);
    const int32_t want[8] = {0, 1, 0, 3, 4, 1, 3, 0};
    for (int i = 0; i < 8; i++) CHECK_INT_EQ(first[i], want[i]);
}

static void test_disabled(void) {
    struct elmo_dedup d;
    CHECK_OK(elmo_dedup_init(&d, 0));
    const float v = 1;
    record(&d, "x y", &v, 1, 0);
    CHECK(find(&d, "x y") == NULL);
    CHECK_INT_EQ(d.n, 0);
    elmo_dedup_free(&d);
}

int main(void) {
    test_hit_and_miss();
    test_collisions();
    test_eviction();
    test_places();
    test_group();
    test_disabled();
    return CHECK_REPORT();
}
