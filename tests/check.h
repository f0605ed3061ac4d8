/*
 * check.h: a tiny test framework in the spirit of redis's testhelp.h and libuv's ASSERT_*.
 * Each failed check prints file:line, both expressions and both values, and counts a failure;
 * CHECK_REPORT() prints "N passed, N failed" and returns the exit status.
 */
#ifndef ELMO_CHECK_H
#define ELMO_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

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

#endif /* ELMO_CHECK_H */
