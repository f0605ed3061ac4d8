/*
 * tweet.h: tweets as archives hold them, and a tweet tokenizer for the NER tagger.
 *
 * Records.  A JSON Lines record is one of
 *   - a Twitter API v1.1 object: the id is `id_str` (else `id`); the text of a retweet is
 *     "RT @" + retweeted_status.user.screen_name + ": " + the retweeted tweet's full text (as
 *     v1.1 builds it, but never truncated), otherwise `extended_tweet.full_text`, else
 *     `full_text`, else `text` (a truncated tweet's `text` is not used when the full text is
 *     there);
 *   - a v2 object (`id`, `text`, and `note_tweet.text` for long tweets), or a v2 response line
 *     {"data": [...]} or {"data": {...}} that holds one or more tweets;
 *   - a notice without a tweet: `delete`, `limit`, `scrub_geo`, `status_withheld`,
 *     `user_withheld`, `disconnect`, `warning`, or a v2 line with `errors` and no `data`:
 *     skipped (counted, not rejected);
 *   - anything else: rejected with a reason (broken JSON, not an object, no text field, a
 *     text that is not a string).  A generic object with the configured text field (and id
 *     field) is read too.
 * Texts are then HTML-unescaped (the API escapes &, < and > in tweet text).
 *
 * Tokens.  Whitespace (Python's, plus U+200B and U+FEFF) separates tokens; URLs
 * (http://, https://, www.), @mentions, #hashtags, emoji sequences (flags, keycaps, skin
 * tones, ZWJ sequences, variation selectors, tag sequences), ASCII emoticons and numbers
 * (13.3, 1,000, 6:30, 30%, 1st, 10pm) stay whole; words keep inner hyphens, apostrophes,
 * dots, ampersands and slashes (don't, Wi-Fi, U.S., AT&T, MD101LL/A) as in the training data,
 * except that a final 's is split off (Obama 's, it 's), as the training data does; runs of
 * the same punctuation and runs of . ! ? are one token (!!!, ..., ?!), every other
 * punctuation or symbol character is a token of its own.  Not collective; thread-safe.
 */
#ifndef ELMO_TWEET_H
#define ELMO_TWEET_H

#include <stddef.h>
#include <stdint.h>

struct elmo_tweet {
    char *id;   /* owned */
    char *text; /* owned, UTF-8, HTML-unescaped */
};

enum elmo_tweet_status {
    ELMO_TWEET_OK = 0,     /* tweets were found */
    ELMO_TWEET_SKIP = 1,   /* a notice without a tweet */
    ELMO_TWEET_REJECT = 2, /* not readable; why says why */
};

/*
 * Parses one JSON Lines record (len bytes, no newline).  text_field / id_field: the fields of
 * a generic object (defaults "text" / "id").  On ELMO_TWEET_OK, *tw is an array of *n tweets
 * (free with elmo_tweets_free).  On ELMO_TWEET_REJECT, why (wn bytes) holds the reason.
 */
enum elmo_tweet_status elmo_tweet_parse_json(const char *line, size_t len, const char *text_field,
                                             const char *id_field, struct elmo_tweet **tw, int *n,
                                             char *why, size_t wn);

void elmo_tweets_free(struct elmo_tweet *tw, int n);

/*
 * Unescapes HTML entities in place: &amp; &lt; &gt; &quot; &#39; &apos; and numeric
 * &#NNN; / &#xHH; (valid scalar values only); others are left as they are.  Returns the new
 * length; s is NUL-terminated after it.
 */
size_t elmo_html_unescape(char *s, size_t len);

/* A token: bytes [start, end) of the text. */
struct elmo_span {
    int32_t start, end;
};

/*
 * Tokenizes text (len bytes of UTF-8).  Writes at most cap spans and returns the number of
 * tokens (call again with a bigger array when it exceeds cap).
 */
int elmo_tweet_tokenize(const char *text, size_t len, struct elmo_span *spans, int cap);

#endif /* ELMO_TWEET_H */
