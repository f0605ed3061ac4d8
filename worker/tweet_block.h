/*
 * tweet_block.h: annotate's per-rank unit of work: a block of a round's tweets in the form
 * rank 0 sends out, and its tagging on the rank that receives it.
 *
 * Form: per tweet, its token count in decimal, then its tokens as the model sees them (&, <
 * and > escaped again as &amp; &lt; &gt;, as in the Twitter API data the taggers were trained
 * on), each NUL-terminated.  Tweets without tokens are carried (count 0) but not tagged.
 */
#ifndef ELMO_WORKER_TWEET_BLOCK_H
#define ELMO_WORKER_TWEET_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "io/tweet.h"
#include "worker/dedup.h"
#include "worker/tagging.h"

struct elmo_tweet_block {
    char *blob; /* owned */
    size_t len, cap;
};

/* Appends a tweet: the first n_tok token spans sp of text. */
void elmo_tweet_block_add(struct elmo_tweet_block *b, const char *text, const struct elmo_span *sp,
                          int n_tok);
void elmo_tweet_block_free(struct elmo_tweet_block *b);

/*
 * Tags a received block blob[0..n) that holds n_tok tokens: tags and score (n_tok each) get
 * each token's tag id and its probability, in the block's order.  With a sentence cache d
 * (NULL: none), a tweet whose tokens equal those of a tweet tagged earlier on this rank, or
 * earlier in the block, gets that tweet's tags and scores, bytes for bytes, without being
 * tagged again; reused[0] and reused[1] are increased by the tweets and tokens copied so.
 * Returns 0, ELMO_ERR_STATE when the block does not hold n_tok tokens, or a status of
 * elmo_tagging_tag.  Not collective.
 */
int elmo_tweet_block_tag(struct elmo_tagging *r, struct elmo_dedup *d, const char *blob,
                         size_t n, int n_tok, int32_t *tags, float *score, int64_t reused[2]);

#endif /* ELMO_WORKER_TWEET_BLOCK_H */
