/*
 * batcher.h: the token-budget batcher: groups sentences of similar length into batches whose
 * positions (tokens + <S> + </S>) stay under a budget, so memory is bounded whatever the input.
 */
#ifndef ELMO_BATCHER_H
#define ELMO_BATCHER_H

#include <stdint.h>

/*
 * Orders sentence indices 0..n-1 by length (longest first, ties by index) and cuts them into
 * the fewest batches of at most max_rows sentences and at most budget positions (sum of
 * n_tok + 2; a longer sentence alone), made as even as that count allows: the largest batch
 * holds as few positions as any cut into that many batches can (so a plan never ends on one
 * small batch whose narrow products run slowly).
 * order: (n) out, the sentence index of each slot; starts: (n + 1) out, batch b covers
 * order[starts[b] .. starts[b+1]).  Returns the number of batches.  Empty sentences
 * (n_tok == 0) are left out (they get an empty entry and no model work).
 */
int elmo_batcher_plan(int n, const int32_t *n_tok, int budget, int max_rows, int32_t *order,
                      int32_t *starts);

#endif /* ELMO_BATCHER_H */
