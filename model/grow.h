/*
 * grow.h: growing arrays by doubling, the one copy for every buffer that grows as it fills.
 *
 * An array is a pointer and its capacity in elements.  A call asks for at least `need`
 * elements; when the capacity is short it doubles (from ELMO_GROW_MIN elements at least) until
 * `need` fits, so appending n elements one at a time costs O(n).  After a successful call *p is
 * never NULL, even for need 0 (so memcpy into it is defined).  Not collective.
 */
#ifndef ELMO_GROW_H
#define ELMO_GROW_H

#include <stddef.h>

/* The smallest capacity a growing array is given (in elements). */
#define ELMO_GROW_MIN 16

/*
 * Grows *p (elements of elem bytes, contents kept, as realloc) to hold at least need elements.
 * Returns 0, or ELMO_ERR_NOMEM with "out of memory for N bytes" recorded (*p and *cap left as
 * they were).
 */
int elmo_grow(void **p, size_t *cap, size_t need, size_t elem);

/* The same for allocations that never fail: the program stops as elmo_xrealloc does. */
void elmo_xgrow(void **p, size_t *cap, size_t need, size_t elem);

/*
 * Grows a 64-byte aligned scratch buffer (see elmo_aligned_alloc) to at least need elements.
 * Its contents are NOT kept: a grown buffer is a fresh one.  Returns 0, or ELMO_ERR_NOMEM with
 * a message naming what.
 */
int elmo_grow_scratch(void **p, size_t *cap, size_t need, size_t elem, const char *what);

#endif /* ELMO_GROW_H */
