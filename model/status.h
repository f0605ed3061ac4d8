/*
 * status.h: the one status enum of the project, its messages, and the checking macros.
 *
 * Fallible functions return int: 0 (ELMO_OK) on success, a negative ELMO_ERR_* on failure.
 * The enum and elmo_strerror() come from one X-macro table, so code and text cannot drift.
 * The detailed reason (file, line, dataset, cause) is kept in a thread-local message that
 * elmo_error() sets and elmo_errmsg() returns; the caller that finally reports the failure
 * prints that message once.
 */
#ifndef ELMO_STATUS_H
#define ELMO_STATUS_H

#include <stddef.h>

#define ELMO_STATUS_MAP(XX)                                           \
    XX(OK, 0, "success")                                              \
    XX(ERR_NOMEM, -1, "out of memory")                                \
    XX(ERR_IO, -2, "input/output error")                              \
    XX(ERR_FORMAT, -3, "malformed input")                             \
    XX(ERR_SHAPE, -4, "shape does not match the options")             \
    XX(ERR_ARG, -5, "invalid argument")                               \
    XX(ERR_HDF5, -6, "HDF5 error")                                    \
    XX(ERR_MPI, -7, "MPI error")                                      \
    XX(ERR_YAML, -8, "invalid job file")                              \
    XX(ERR_RANGE, -9, "value out of range")                           \
    XX(ERR_NAN, -10, "non-finite value")                              \
    XX(ERR_STATE, -11, "inconsistent state")                          \
    XX(ERR_NOTIMPL, -12, "not implemented yet")                       \
    XX(ERR_INTERRUPTED, -13, "interrupted by a signal")               \
    XX(ERR_MISMATCH, -14, "does not match the existing journal")     \
    XX(ERR_REPORTED, -15, "failed on another rank (reported there)")

enum elmo_status {
#define ELMO__STATUS_ENUM(name, code, msg) ELMO_##name = code,
    ELMO_STATUS_MAP(ELMO__STATUS_ENUM)
#undef ELMO__STATUS_ENUM
};

/* Returns the fixed message of a status code ("unknown status" for others). */
const char *elmo_strerror(int status);

/* Returns the short name of a status code, e.g. "ERR_IO". */
const char *elmo_status_name(int status);

/*
 * Records a detailed message for the current thread and returns code, so that
 * `return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));` both records and fails.
 */
int elmo_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context to the current message ("while loading X: ") and returns code. */
int elmo_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current thread's last detailed message, or elmo_strerror of the last code. */
const char *elmo_errmsg(void);

/* Clears the current thread's message. */
void elmo_error_clear(void);

/*
 * Allocation that never returns NULL: on failure the program stops with exit code 1 and a
 * message naming the size (through the hook when one is set: the driver's stops every MPI rank).
 */
void elmo_set_oom_hook(void (*hook)(void));
void *elmo_xmalloc(size_t size);
void *elmo_xcalloc(size_t n, size_t size);
void *elmo_xrealloc(void *p, size_t size);
char *elmo_xstrdup(const char *s);

/* Allocation that may fail: returns NULL and records ELMO_ERR_NOMEM with what was asked for. */
void *elmo_malloc(size_t size, const char *what);
void *elmo_calloc(size_t n, size_t size, const char *what);

/* 64-byte aligned allocation for weight blocks and scratch arenas; free with free(). */
void *elmo_aligned_alloc(size_t size, const char *what);

/* Propagate a failure: `ELMO_TRY(f(x));` returns f's negative status. */
#define ELMO_TRY(expr)                    \
    do {                                  \
        int elmo__rc = (expr);            \
        if (elmo__rc < 0) return elmo__rc; \
    } while (0)

/* Inside a function with `int rc` and a `cleanup:` label: run, and on failure jump. */
#define ELMO_CALL(expr)            \
    do {                           \
        rc = (expr);               \
        if (rc < 0) goto cleanup;  \
    } while (0)

/* Check user input (always on): on failure record the message and return the code. */
#define ELMO_CHECK(cond, code, ...)                                \
    do {                                                           \
        if (!(cond)) return elmo_error((code), __VA_ARGS__);       \
    } while (0)

/* Same, for functions with `int rc` and a `cleanup:` label. */
#define ELMO_FAIL(code, ...)                      \
    do {                                          \
        rc = elmo_error((code), __VA_ARGS__);     \
        goto cleanup;                             \
    } while (0)

/* Internal invariants: compiled out under NDEBUG; never put side effects inside. */
#ifdef NDEBUG
#define ELMO_ASSERT(x) ((void)0)
#else
void elmo__assert_fail(const char *expr, const char *file, int line, const char *func);
#define ELMO_ASSERT(x) ((x) ? (void)0 : elmo__assert_fail(#x, __FILE__, __LINE__, __func__))
#endif


/*
 * Process-wide stop request.  driver/main.c installs handlers for SIGINT, SIGTERM and SIGUSR1
 * that record the signal here; long loops (shards, epochs, steps, rounds) poll it, finish or
 * abandon their current unit, leave their journal or checkpoint consistent and return
 * ELMO_ERR_INTERRUPTED (exit code 3).  0 when no signal arrived.
 */
int elmo_stop_signal(void);
void elmo_stop_request(int sig); /* async-signal-safe */
void elmo_stop_reset(void);      /* tests only */

/*
 * A command whose loops poll elmo_stop_signal() says so before its work; until then (and for
 * commands that never poll) a stop signal keeps its default action and ends the process.
 */
void elmo_stop_enable(void);
int elmo_stop_enabled(void); /* async-signal-safe */

#endif /* ELMO_STATUS_H */
