/*
 * check.h: a tiny test framework in the spirit of redis's testhelp.h and libuv's ASSERT_*.
 * Each failed check prints file:line, both expressions and both values, and counts a failure;
 * CHECK_REPORT() prints "N passed, N failed" and returns the exit status.
 */
#ifndef ELMO_CHECK_H
#define ELMO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check__passed, check__failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) check__passed++;                                                    \
        else {                                                                        \
            check__failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                            \
    do {                                                                              \
        long long check__a = (long long)(a), check__b = (long long)(b);               \
        if (check__a == check__b) check__passed++;                                    \
        else {                                                                        \
            check__failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld vs %lld)\n", __FILE__, \
                    __LINE__, #a, #b, check__a, check__b);                            \
        }                                                                             \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                            \
    do {                                                                              \
        const char *check__a = (a), *check__b = (b);                                  \
        if (check__a && check__b && strcmp(check__a, check__b) == 0) check__passed++; \
        else {                                                                        \
            check__failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n",     \
                    __FILE__, __LINE__, #a, #b, check__a ? check__a : "(null)",       \
                    check__b ? check__b : "(null)");                                  \
        }                                                                             \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
    do {                                                                              \
        double check__a = (double)(a), check__b = (double)(b);                        \
        if (fabs(check__a - check__b) <= (tol)) check__passed++;                      \
        else {                                                                        \
            check__failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: |%s - %s| <= %s (%.9g vs %.9g)\n",  \
                    __FILE__, __LINE__, #a, #b, #tol, check__a, check__b);            \
        }                                                                             \
    } while (0)

/* The status of a call that must succeed; prints elmo_errmsg() on failure. */
#define CHECK_OK(expr)                                                                \
    do {                                                                              \
        int check__rc = (expr);                                                       \
        if (check__rc == 0) check__passed++;                                          \
        else {                                                                        \
            check__failed++;                                                          \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #expr,  \
                    check__rc, elmo_errmsg());                                        \
        }                                                                             \
    } while (0)

#define CHECK_REPORT()                                                                \
    (printf("%d passed, %d failed\n", check__passed, check__failed), check__failed ? 1 : 0)

/* The exit status that ctest reports as a skip (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define CHECK_SKIP 77

/* $ELMO_FIXTURES when it names a directory; otherwise NULL, after printing the one line that
 * names the missing directory.  A test then runs only its checks that need no fixtures and
 * returns check_done(fx). */
static inline const char *check_fixtures(void) {
    const char *fx = getenv("ELMO_FIXTURES");
    struct stat st;
    if (fx && *fx && stat(fx, &st) == 0 && S_ISDIR(st.st_mode)) return fx;
    printf("SKIP: the fixtures directory %s is missing\n", fx && *fx ? fx : "(ELMO_FIXTURES unset)");
    return NULL;
}

/* The exit status: 1 after a failed check, else CHECK_SKIP when fx is NULL, else 0. */
static inline int check_done(const char *fx) {
    int rc = CHECK_REPORT();
    return rc == 0 && !fx ? CHECK_SKIP : rc;
}

#endif /* ELMO_CHECK_H */
