/*
 * test_files.c: the shared chores: the monotonic clock, growing arrays, whole-file reads (plain
 * and gzip, with no silent cut), mkdir -p (io/outfile.h), and UTF-8 decoding and encoding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/files.h"
#include "io/outfile.h"
#include "io/utf8.h"
#include "model/clock.h"
#include "model/grow.h"
#include "model/status.h"
#include "tests/check.h"

static void test_clock_and_grow(void) {
    double t0 = elmo_now(), t1 = elmo_now();
    CHECK(t1 >= t0);
    int *a = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        CHECK_INT_EQ(elmo_grow((void **)&a, &cap, (size_t)i + 1, sizeof *a), 0);
        a[i] = i;
    }
    CHECK(cap >= 1000 && cap < 2048);
    long long sum = 0;
    for (int i = 0; i < 1000; i++) sum += a[i];
    CHECK_INT_EQ(sum, 999 * 1000 / 2); /* contents kept across growth */
    size_t before = cap;
    CHECK_INT_EQ(elmo_grow((void **)&a, &cap, (size_t)SIZE_MAX / 2, sizeof *a), ELMO_ERR_NOMEM);
    CHECK_INT_EQ(cap, before); /* a failure leaves the array as it was */
    free(a);
    float *s = NULL;
    cap = 0;
    CHECK_INT_EQ(elmo_grow_scratch((void **)&s, &cap, 100, sizeof *s, "test"), 0);
    CHECK(((uintptr_t)s & 63) == 0);
    free(s);
    char *z = NULL; /* need 0: still a buffer, so memcpy(z, src, 0) is defined */
    cap = 0;
    elmo_xgrow((void **)&z, &cap, 0, 1);
    CHECK(z != NULL && cap >= ELMO_GROW_MIN);
    free(z);
}

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) exit(1);
}

static void test_read(const char *dir) {
    char p[512], gzp[512];
    snprintf(p, sizeof p, "%s/plain.txt", dir);
    snprintf(gzp, sizeof gzp, "%s/text.gz", dir);
    /* longer than one read step, so that growth and joining are exercised */
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    write_file(p, big, n);
    gzFile g = gzopen(gzp, "wb");
    if (!g || gzwrite(g, big, (unsigned)n) != (int)n || gzclose(g) != Z_OK) exit(1);
    char *t = NULL;
    size_t len = 0;
    CHECK_INT_EQ(elmo_read_file(p, &t, &len), 0);
    CHECK_INT_EQ(len, n);
    CHECK(t && memcmp(t, big, n) == 0 && t[n] == '\0');
    free(t);
    CHECK_INT_EQ(elmo_read_file(gzp, &t, &len), 0);
    CHECK_INT_EQ(len, n);
    CHECK(t && memcmp(t, big, n) == 0);
    free(t);
    t = elmo_read_text(p);
    CHECK(t && strlen(t) == n);
    free(t);
    snprintf(p, sizeof p, "%s/missing.txt", dir);
    CHECK(elmo_read_text(p) == NULL);
    CHECK(strstr(elmo_errmsg(), "missing.txt") != NULL);
    /* a stream over its limit is refused, never cut */
    snprintf(p, sizeof p, "%s/plain.txt", dir);
    FILE *f = fopen(p, "rb");
    CHECK_INT_EQ(elmo_read_stream(f, p, 1000, &t, &len), ELMO_ERR_RANGE);
    CHECK(t == NULL);
    rewind(f);
    CHECK_INT_EQ(elmo_read_stream(f, p, 0, &t, &len), 0);
    CHECK_INT_EQ(len, n);
    free(t);
    fclose(f);
    free(big);
}

static void test_utf8(void) {
    uint32_t cp;
    const unsigned char *s = (const unsigned char *)"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    CHECK_INT_EQ(elmo_utf8_decode(s, 1, &cp), 1);
    CHECK_INT_EQ(cp, 'a');
    CHECK_INT_EQ(elmo_utf8_decode(s + 1, 2, &cp), 2);
    CHECK_INT_EQ(cp, 0xe9);
    CHECK_INT_EQ(elmo_utf8_decode(s + 3, 3, &cp), 3);
    CHECK_INT_EQ(cp, 0x20ac);
    CHECK_INT_EQ(elmo_utf8_decode(s + 6, 4, &cp), 4);
    CHECK_INT_EQ(cp, 0x1f600);
    CHECK_INT_EQ(elmo_utf8_decode(s + 6, 3, &cp), 0); /* cut short */
    CHECK_INT_EQ(cp, 0xfffd);
    static const char *const bad[] = {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80", "\x80", "\xff", "\xc3\x00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT_EQ(elmo_utf8_decode((const unsigned char *)bad[i], strlen(bad[i]) + 1, &cp), 0);
    char out[4];
    const uint32_t cps[] = {0x41, 0xe9, 0x20ac, 0x1f600, 0x10ffff};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        int n = elmo_utf8_encode(cps[i], out);
        CHECK_INT_EQ(elmo_utf8_decode((const unsigned char *)out, (size_t)n, &cp), n);
        CHECK_INT_EQ(cp, cps[i]);
    }
    CHECK_INT_EQ(elmo_utf8_count((const char *)s, 10), 4);
}

/* elmo_make_dirs: creates every missing level, accepts what exists, refuses an empty name and
 * a regular file in the way (which it leaves as it is). */
static void test_make_dirs(const char *dir) {
    char p[512], f[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/a/b/c/", dir);
    CHECK_INT_EQ(elmo_make_dirs(p), ELMO_OK);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT_EQ(elmo_make_dirs(p), ELMO_OK);
    CHECK(elmo_make_dirs("") != ELMO_OK);
    snprintf(f, sizeof f, "%s/a/file", dir);
    FILE *fp = fopen(f, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs("mine\n", fp);
        fclose(fp);
    }
    snprintf(p, sizeof p, "%s/a/file/d", dir);
    CHECK(elmo_make_dirs(p) != ELMO_OK);
    CHECK(elmo_make_dirs(f) != ELMO_OK);
    CHECK(stat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5);
}

int main(void) {
    char dir[] = "/tmp/elmo-test-files-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_clock_and_grow();
    test_read(dir);
    test_utf8();
    test_make_dirs(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return CHECK_REPORT();
}
