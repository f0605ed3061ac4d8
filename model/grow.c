/*
 * grow.c: doubling growth of arrays (see grow.h).
 */
#include "model/grow.h"

#include <stdint.h>
#include <stdlib.h>

#include "model/status.h"

/* The doubled capacity (in elements) that holds need, or 0 when its bytes overflow size_t. */
static size_t next_cap(size_t cap, size_t need, size_t elem) {
    size_t c = cap > ELMO_GROW_MIN ? cap : ELMO_GROW_MIN;
    while (c < need) c = c > SIZE_MAX / 2 ? need : c * 2;
    return elem && c > SIZE_MAX / elem ? 0 : c;
}

int elmo_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap && *p) return ELMO_OK;
    size_t c = next_cap(*cap, need, elem);
    void *q = c ? realloc(*p, c * elem) : NULL;
    if (!q)
        return elmo_error(ELMO_ERR_NOMEM, "out of memory for %zu bytes",
                          c ? c * elem : SIZE_MAX);
    *p = q;
    *cap = c;
    return ELMO_OK;
}

void elmo_xgrow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap && *p) return;
    size_t c = next_cap(*cap, need, elem);
    *p = elmo_xrealloc(*p, c ? c * elem : SIZE_MAX);
    *cap = c;
}

int elmo_grow_scratch(void **p, size_t *cap, size_t need, size_t elem, const char *what) {
    if (need <= *cap && *p) return ELMO_OK;
    size_t c = next_cap(*cap, need, elem);
    void *q = c ? elmo_aligned_alloc(c * elem, what) : NULL;
    if (!q) return c ? ELMO_ERR_NOMEM : elmo_error(ELMO_ERR_NOMEM, "out of memory for %s", what);
    free(*p);
    *p = q;
    *cap = c;
    return ELMO_OK;
}
