/*
 * glove.c: GloVe text vectors and an open-addressing table over them (see glove.h).
 */
#include "io/glove.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gz.h"
#include "model/status.h"

void elmo_glove_free(struct elmo_glove *g) {
    free(g->vec);
    free(g->words);
    free(g->word);
    free(g->slot);
    memset(g, 0, sizeof *g);
}

static uint64_t hash_lower(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211ull;
    return h;
}

/* strcmp of a against b lowercased (b's ASCII letters). */
static int eq_lower(const char *stored, const char *w) {
    for (; *stored && *w; stored++, w++)
        if (*stored != (char)tolower((unsigned char)*w)) return 0;
    return *stored == *w;
}

/* The hash table over g's words. */
static void build_index(struct elmo_glove *g) {
    g->cap = 1;
    while (g->cap < 2 * g->n) g->cap *= 2;
    g->slot = elmo_xcalloc((size_t)g->cap, sizeof(int64_t));
    for (int64_t i = 0; i < g->n; i++) {
        const char *w = g->words + g->word[i];
        int64_t h = (int64_t)(hash_lower(w) & (uint64_t)(g->cap - 1));
        int dup = 0;
        while (g->slot[h]) {
            if (!strcmp(g->words + g->word[g->slot[h] - 1], w)) dup = 1;
            h = (h + 1) & (g->cap - 1);
        }
        if (!dup) g->slot[h] = i + 1; /* the first of duplicate words wins */
    }
}

int elmo_glove_from_rows(struct elmo_glove *g, int dim, int64_t n, const char *words,
                         size_t words_bytes, const float *vec) {
    memset(g, 0, sizeof *g);
    ELMO_CHECK(dim >= 1 && n >= 1 && words_bytes >= (size_t)n && words[words_bytes - 1] == '\0',
               ELMO_ERR_FORMAT, "GloVe rows: %lld words of %d values in %zu bytes of names",
               (long long)n, dim, words_bytes);
    g->words = elmo_xmalloc(words_bytes);
    memcpy(g->words, words, words_bytes);
    g->word = elmo_xmalloc(sizeof(int64_t) * (size_t)n);
    int64_t k = 0;
    for (size_t at = 0; at < words_bytes && k <= n; at += strlen(words + at) + 1) {
        if (k < n) g->word[k] = (int64_t)at;
        k++;
    }
    if (k != n) {
        elmo_glove_free(g);
        return elmo_error(ELMO_ERR_FORMAT, "GloVe rows: %lld names for %lld vectors",
                          (long long)k, (long long)n);
    }
    g->vec = elmo_xmalloc(sizeof(float) * (size_t)n * (size_t)dim);
    memcpy(g->vec, vec, sizeof(float) * (size_t)n * (size_t)dim);
    g->dim = dim;
    g->n = n;
    g->words_bytes = words_bytes;
    build_index(g);
    return 0;
}

int elmo_glove_load(const char *path, struct elmo_glove *g) {
    memset(g, 0, sizeof *g);
    struct elmo_gz *f = elmo_gz_open(path);
    if (!f) return ELMO_ERR_IO; /* elmo_gz_open named the file */
    int rc = 0;
    size_t lcap = 0, wcap = 1 << 16, wlen = 0, len = 0;
    int64_t vcap = 0, lineno = 0;
    char *line = NULL;
    g->words = elmo_xmalloc(wcap);
    for (;;) {
        int got = elmo_gz_getline(f, &line, &lcap, &len);
        if (got < 0) {
            rc = elmo_error_prefix(got, "%s:%lld: ", path, (long long)lineno + 1);
            goto cleanup;
        }
        if (got == 0) break;
        lineno++;
        while (len && line[len - 1] == '\r') line[--len] = '\0';
        if (len == 0) continue;
        char *sp = strchr(line, ' ');
        if (!sp)
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s:%lld: expected `word v1 ... vD`", path,
                      (long long)lineno);
        *sp = '\0';
        /* count values */
        int dim = 0;
        float tmp[4096];
        char *p = sp + 1, *end;
        for (;;) {
            while (*p == ' ') p++;
            if (!*p) break;
            errno = 0;
            float v = strtof(p, &end);
            if (end == p || dim >= 4096)
                ELMO_FAIL(ELMO_ERR_FORMAT, "%s:%lld: bad value '%.20s'", path, (long long)lineno,
                          p);
            tmp[dim++] = v;
            p = end;
        }
        if (g->dim == 0) g->dim = dim;
        if (dim != g->dim)
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s:%lld: %d values, the first line has %d", path,
                      (long long)lineno, dim, g->dim);
        if (g->n == vcap) {
            vcap = vcap ? 2 * vcap : 16384;
            g->vec = elmo_xrealloc(g->vec, sizeof(float) * (size_t)vcap * (size_t)g->dim);
            g->word = elmo_xrealloc(g->word, sizeof(int64_t) * (size_t)vcap);
        }
        memcpy(g->vec + (size_t)g->n * g->dim, tmp, sizeof(float) * (size_t)dim);
        size_t l = strlen(line) + 1;
        while (wlen + l > wcap) g->words = elmo_xrealloc(g->words, wcap *= 2);
        memcpy(g->words + wlen, line, l);
        g->word[g->n++] = (int64_t)wlen;
        wlen += l;
    }
    if (g->n == 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: no vectors", path);
    g->words_bytes = wlen;
    build_index(g);
cleanup:
    free(line);
    elmo_gz_close(f);
    if (rc < 0) elmo_glove_free(g);
    return rc;
}

const float *elmo_glove_lookup(const struct elmo_glove *g, const char *word) {
    if (!g->slot) return NULL;
    int64_t h = (int64_t)(hash_lower(word) & (uint64_t)(g->cap - 1));
    while (g->slot[h]) {
        int64_t i = g->slot[h] - 1;
        if (eq_lower(g->words + g->word[i], word)) return g->vec + (size_t)i * g->dim;
        h = (h + 1) & (g->cap - 1);
    }
    return NULL;
}
