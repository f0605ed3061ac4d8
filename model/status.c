/*
 * status.c: status messages, the thread-local error message, and checked allocation.
 */
#include "model/status.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errbuf[2048];
static _Thread_local int errcode;

const char *elmo_strerror(int status) {
    switch (status) {
#define ELMO__STATUS_STR(name, code, msg) \
    case code: return msg;
        ELMO_STATUS_MAP(ELMO__STATUS_STR)
#undef ELMO__STATUS_STR
    }
    return "unknown status";
}

const char *elmo_status_name(int status) {
    switch (status) {
#define ELMO__STATUS_NAME(name, code, msg) \
    case code: return #name;
        ELMO_STATUS_MAP(ELMO__STATUS_NAME)
#undef ELMO__STATUS_NAME
    }
    return "UNKNOWN";
}

int elmo_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    errcode = code;
    return code;
}

int elmo_error_prefix(int code, const char *fmt, ...) {
    char prefix[1024];
    char old[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (errbuf[0] == '\0') snprintf(old, sizeof old, "%s", elmo_strerror(code));
    else snprintf(old, sizeof old, "%s", errbuf);
    size_t np = strlen(prefix);
    if (np >= sizeof errbuf) np = sizeof errbuf - 1;
    memcpy(errbuf, prefix, np);
    size_t no = strlen(old);
    if (np + no >= sizeof errbuf) no = sizeof errbuf - 1 - np;
    memcpy(errbuf + np, old, no);
    errbuf[np + no] = '\0';
    errcode = code;
    return code;
}

const char *elmo_errmsg(void) {
    if (errbuf[0] == '\0') return elmo_strerror(errcode);
    return errbuf;
}

void elmo_error_clear(void) {
    errbuf[0] = '\0';
    errcode = 0;
}

static void (*oom_hook)(void);

void elmo_set_oom_hook(void (*hook)(void)) { oom_hook = hook; }

/* Out of memory in an allocation that may not fail: a clean failure (exit 1), never an abort. */
static void oom(size_t size) {
    elmo_error(ELMO_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    if (oom_hook) oom_hook();
    fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    exit(1);
}

void *elmo_xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) oom(size);
    return p;
}

void *elmo_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *elmo_xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) oom(size);
    return q;
}

char *elmo_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = elmo_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void *elmo_malloc(size_t size, const char *what) {
    void *p = malloc(size ? size : 1);
    if (!p) elmo_error(ELMO_ERR_NOMEM, "out of memory: %zu bytes for %s", size, what);
    return p;
}

void *elmo_calloc(size_t n, size_t size, const char *what) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) elmo_error(ELMO_ERR_NOMEM, "out of memory: %zu x %zu bytes for %s", n, size, what);
    return p;
}

void *elmo_aligned_alloc(size_t size, const char *what) {
    void *p = NULL;
    size_t n = (size + 63) / 64 * 64;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) {
        elmo_error(ELMO_ERR_NOMEM, "out of memory: %zu bytes for %s", size, what);
        return NULL;
    }
    return p;
}

#ifndef NDEBUG
void elmo__assert_fail(const char *expr, const char *file, int line, const char *func) {
    fprintf(stderr, "elmo: assertion failed at %s:%d in %s(): %s\n", file, line, func, expr);
    abort();
}
#endif

static volatile sig_atomic_t stop_sig;

int elmo_stop_signal(void) { return (int)stop_sig; }
void elmo_stop_request(int sig) {
    if (!stop_sig) stop_sig = sig;
}
void elmo_stop_reset(void) { stop_sig = 0; }

static volatile sig_atomic_t stop_polled;

void elmo_stop_enable(void) { stop_polled = 1; }
int elmo_stop_enabled(void) { return (int)stop_polled; }
