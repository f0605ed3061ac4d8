/*
 * batcher.c: length-sorted batching under a token budget.
 */
#include "worker/batcher.h"

#include <stdlib.h>

static const int32_t *sort_len;

static int by_length_desc(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (sort_len[a] != sort_len[b]) return sort_len[a] > sort_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/*
 * The greedy cut of order[0 .. m) into batches of at most lim positions and max_rows rows (a
 * sentence longer than lim alone in its batch): the fewest batches within those limits.
 * Writes starts when not NULL; returns the number of batches.
 */
static int cut(int m, const int32_t *order, const int32_t *n_tok, long lim, int max_rows,
               int32_t *starts) {
    int nb = 0, rows = 0;
    long used = 0;
    if (starts) starts[0] = 0;
    for (int k = 0; k < m; k++) {
        long need = (long)n_tok[order[k]] + 2;
        if (rows > 0 && (used + need > lim || rows >= max_rows)) {
            nb++;
            if (starts) starts[nb] = k;
            rows = 0;
            used = 0;
        }
        rows++;
        used += need;
    }
    if (m > 0) {
        nb++;
        if (starts) starts[nb] = m;
    }
    return nb;
}

int elmo_batcher_plan(int n, const int32_t *n_tok, int budget, int max_rows, int32_t *order,
                      int32_t *starts) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (n_tok[i] > 0) order[m++] = i;
    sort_len = n_tok;
    qsort(order, (size_t)m, sizeof *order, by_length_desc);
    /* the fewest batches under the budget, then the smallest position limit that still cuts
       that many: the batch count is monotone in the limit, so a binary search finds it */
    const int nb = cut(m, order, n_tok, budget, max_rows, NULL);
    long lo = 1, hi = budget;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (cut(m, order, n_tok, mid, max_rows, NULL) <= nb) hi = mid;
        else lo = mid + 1;
    }
    return cut(m, order, n_tok, hi, max_rows, starts);
}
