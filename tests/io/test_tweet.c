/*
 * test_tweet.c: tweet records (API v1.1 and v2, notices, rejects), HTML unescaping, and the
 * tweet tokenizer (URLs, @mentions, #hashtags, emoji with ZWJ and skin tones, emoticons,
 * numbers, 's, punctuation runs), with offsets checked by slicing the text.
 */
#include <stdlib.h>
#include <string.h>

#include "io/tweet.h"
#include "io/utf8.h"
#include "model/status.h"
#include "tests/check.h"

/* The tokens of text joined by " | ". */
static const char *toks(const char *text) {
    static char out[4096];
    struct elmo_span sp[256];
    int n = elmo_tweet_tokenize(text, strlen(text), sp, 256);
    out[0] = '\0';
    for (int i = 0; i < n && i < 256; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof out - l, "%s%.*s", i ? " | " : "", sp[i].end - sp[i].start,
                 text + sp[i].start);
    }
    return out;
}

static void test_tokenizer(void) {
    CHECK_STR_EQ(toks("RT @TheValarium: Online ticket sales for Ghostland Observatory extended "
                      "until 6 PM EST due to high demand. Get them before they sell out..."),
                 "RT | @TheValarium | : | Online | ticket | sales | for | Ghostland | Observatory "
                 "| extended | until | 6 | PM | EST | due | to | high | demand | . | Get | them | "
                 "before | they | sell | out | ...");
    /* URLs whole, without trailing punctuation or the ellipsis of a truncated tweet */
    CHECK_STR_EQ(toks("see http://t.co/2zgQ99nmuf, and https://t.co/eQm… (www.cnn.com/a_b)"),
                 "see | http://t.co/2zgQ99nmuf | , | and | https://t.co/eQm | … | ( | "
                 "www.cnn.com/a_b | )");
    CHECK_STR_EQ(toks("http://en.wikipedia.org/wiki/Foo_(bar)."),
                 "http://en.wikipedia.org/wiki/Foo_(bar) | .");
    /* mentions, hashtags (Unicode letters too), the possessive */
    CHECK_STR_EQ(toks("“@HuffingtonPost: #ChattanoogaShooting #Ünïcödé_2 @a_b's #5WordLove"),
                 "“ | @HuffingtonPost | : | #ChattanoogaShooting | #Ünïcödé_2 | @a_b | 's | "
                 "#5WordLove");
    CHECK_STR_EQ(toks("Obama's speech, he's here; Mother’s Day"),
                 "Obama | 's | speech | , | he | 's | here | ; | Mother | ’s | Day");
    CHECK_STR_EQ(toks("I'm sure you don't can't"), "I'm | sure | you | don't | can't");
    /* numbers and words with inner joiners */
    CHECK_STR_EQ(toks("13.3\" 1,000 6:30pm 30% 1st 10th-12th 5-year-old $5 -2 U.S. e.g. AT&T"),
                 "13.3 | \" | 1,000 | 6:30pm | 30% | 1st | 10th-12th | 5-year-old | $ | 5 | - | "
                 "2 | U.S. | e.g. | AT&T");
    CHECK_STR_EQ(toks("MD101LL/A w/ Wi-Fi and/or end."),
                 "MD101LL/A | w/ | Wi-Fi | and/or | end | .");
    /* punctuation runs */
    CHECK_STR_EQ(toks("wow!!! really?! ok.... -- (yes)"),
                 "wow | !!! | really | ?! | ok | .... | -- | ( | yes | )");
    /* emoticons */
    CHECK_STR_EQ(toks("love it :) <3 :D :Design xD ;-) :'("),
                 "love | it | :) | <3 | :D | : | Design | xD | ;-) | :'(");
    /* emoji: single, with skin tone, ZWJ family, flag, keycap, heart with VS16, runs */
    CHECK_STR_EQ(toks("ok👍🏽 👨‍👩‍👧‍👦 🇬🇧🇫🇷 1️⃣ ❤️ 😂😂 "
                      "👩🏾‍💻!"),
                 "ok | 👍🏽 | 👨‍👩‍👧‍👦 | 🇬🇧 | 🇫🇷 | 1️⃣ | ❤️ | 😂 | 😂 | 👩🏾‍💻 | "
                 "!");
    /* separators: Unicode spaces, zero-width space, controls */
    CHECK_STR_EQ(toks("a\u00a0b\u200bc\u3000d\te\x01"
                      "f"),
                 "a | b | c | d | e | f");
    CHECK_STR_EQ(toks(""), "");
    CHECK_STR_EQ(toks("   "), "");
    /* CJK and other scripts stay words */
    CHECK_STR_EQ(toks("東京 Москва, مرحبا"), "東京 | Москва | , | مرحبا");

    /* the count can exceed the array; spans cover exact code point slices */
    struct elmo_span sp[2];
    CHECK_INT_EQ(elmo_tweet_tokenize("a b c d", 7, sp, 2), 4);
    CHECK_INT_EQ(sp[1].start, 2);
    const char *t = "é👍🏽x";
    CHECK_INT_EQ(elmo_utf8_count(t, strlen(t)), 4);
    CHECK_INT_EQ(elmo_utf8_count(t, 2), 1);
}

static void test_unescape(void) {
    char s[128];
    snprintf(s, sizeof s,
             "a &amp; b &lt;3 &gt; &quot;q&quot; &#39;x&#39; &apos; &#x1F600; &#233;"
             " &amp;amp; &foo; &#xD800; &#0; & &#65");
    size_t n = elmo_html_unescape(s, strlen(s));
    CHECK_STR_EQ(s, "a & b <3 > \"q\" 'x' ' 😀 é &amp; &foo; &#xD800; &#0; & &#65");
    CHECK_INT_EQ(n, strlen(s));
}

/* Parses one line; returns the status and the tweets in *tw / *n. */
static enum elmo_tweet_status parse(const char *line, struct elmo_tweet **tw, int *n, char *why) {
    return elmo_tweet_parse_json(line, strlen(line), "text", "id", tw, n, why, 256);
}

static void test_records(void) {
    struct elmo_tweet *tw;
    int n;
    char why[256];
    /* v1.1, truncated, with extended_tweet: the full text, unescaped; id_str wins */
    CHECK_INT_EQ(parse("{\"id\": 12, \"id_str\": \"12\", \"truncated\": true, \"text\": \"short "
                       "&amp; cut\\u2026\", \"extended_tweet\": {\"full_text\": \"short &amp; "
                       "long \\ud83d\\ude00\"}}",
                       &tw, &n, why),
                 ELMO_TWEET_OK);
    CHECK_INT_EQ(n, 1);
    CHECK_STR_EQ(tw[0].id, "12");
    CHECK_STR_EQ(tw[0].text, "short & long 😀");
    elmo_tweets_free(tw, n);
    /* a \u0000 would cut the text in C: the record is rejected, naming the cause */
    CHECK_INT_EQ(parse("{\"id\": 8, \"text\": \"before\\u0000after\"}", &tw, &n, why),
                 ELMO_TWEET_REJECT);
    CHECK(strstr(why, "NUL") != NULL);
    CHECK_INT_EQ(parse("{\"id\": 9, \"text\": \"RT\", \"retweeted_status\": {\"text\": "
                       "\"a\\u0000b\", \"user\": {\"screen_name\": \"bob\"}}}",
                       &tw, &n, why),
                 ELMO_TWEET_REJECT);
    /* a tweet without an id has none (annotate writes null), never a made-up one */
    CHECK_INT_EQ(parse("{\"text\": \"no id here\"}", &tw, &n, why), ELMO_TWEET_OK);
    CHECK_STR_EQ(tw[0].id, "");
    elmo_tweets_free(tw, n);
    /* v1.1 tweet_mode=extended: full_text */
    CHECK_INT_EQ(parse("{\"id\": 7, \"full_text\": \"x &lt; y\"}", &tw, &n, why), ELMO_TWEET_OK);
    CHECK_STR_EQ(tw[0].id, "7");
    CHECK_STR_EQ(tw[0].text, "x < y");
    elmo_tweets_free(tw, n);
    /* v1.1 retweet: RT @user: + the retweeted tweet's full text */
    CHECK_INT_EQ(parse("{\"id_str\": \"3\", \"text\": \"RT @bob: trunc\\u2026\", "
                       "\"retweeted_status\": {\"id_str\": \"1\", \"text\": \"trunc\", "
                       "\"extended_tweet\": {\"full_text\": \"trunc no more\"}, \"user\": "
                       "{\"screen_name\": \"bob\"}}}",
                       &tw, &n, why),
                 ELMO_TWEET_OK);
    CHECK_STR_EQ(tw[0].id, "3");
    CHECK_STR_EQ(tw[0].text, "RT @bob: trunc no more");
    elmo_tweets_free(tw, n);
    /* v2 response with two tweets; note_tweet for the long one */
    CHECK_INT_EQ(parse("{\"data\": [{\"id\": \"100\", \"text\": \"a\"}, {\"id\": \"101\", "
                       "\"text\": \"b\", \"note_tweet\": {\"text\": \"b long\"}}], "
                       "\"meta\": {\"result_count\": 2}}",
                       &tw, &n, why),
                 ELMO_TWEET_OK);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(tw[1].id, "101");
    CHECK_STR_EQ(tw[1].text, "b long");
    elmo_tweets_free(tw, n);
    CHECK_INT_EQ(parse("{\"data\": {\"id\": \"5\", \"text\": \"single\"}}", &tw, &n, why),
                 ELMO_TWEET_OK);
    CHECK_STR_EQ(tw[0].text, "single");
    elmo_tweets_free(tw, n);
    /* notices are skipped */
    CHECK_INT_EQ(parse("{\"delete\": {\"status\": {\"id\": 1}}}", &tw, &n, why), ELMO_TWEET_SKIP);
    CHECK_INT_EQ(parse("{\"limit\": {\"track\": 3}}", &tw, &n, why), ELMO_TWEET_SKIP);
    CHECK_INT_EQ(parse("{\"errors\": [{\"title\": \"Not Found\"}]}", &tw, &n, why),
                 ELMO_TWEET_SKIP);
    CHECK_INT_EQ(parse("{\"data\": []}", &tw, &n, why), ELMO_TWEET_SKIP);
    CHECK_INT_EQ(n, 0);
    /* rejects */
    CHECK_INT_EQ(parse("{\"id\": 1, \"text\": ", &tw, &n, why), ELMO_TWEET_REJECT);
    CHECK(strncmp(why, "broken JSON", 11) == 0);
    CHECK_INT_EQ(parse("[1, 2]", &tw, &n, why), ELMO_TWEET_REJECT);
    CHECK_STR_EQ(why, "not a JSON object");
    CHECK_INT_EQ(parse("{\"id_str\": \"9\", \"user\": {}}", &tw, &n, why), ELMO_TWEET_REJECT);
    CHECK_STR_EQ(why, "a tweet without text");
    CHECK_INT_EQ(parse("{\"id\": \"9\", \"text\": 5}", &tw, &n, why), ELMO_TWEET_REJECT);
    CHECK_STR_EQ(why, "the text field is not a string");
    CHECK_INT_EQ(
        parse("{\"data\": [{\"id\": \"1\", \"text\": \"ok\"}, {\"id\": \"2\"}]}", &tw, &n, why),
        ELMO_TWEET_REJECT);
    CHECK_STR_EQ(why, "data[1]: a tweet without text");
    /* a generic record with other field names */
    const char *generic = "{\"key\": 4, \"body\": \"hi\"}";
    CHECK_INT_EQ(
        elmo_tweet_parse_json(generic, strlen(generic), "body", "key", &tw, &n, why, sizeof why),
        ELMO_TWEET_OK);
    if (n != 1) return;
    CHECK_STR_EQ(tw[0].id, "4");
    CHECK_STR_EQ(tw[0].text, "hi");
    elmo_tweets_free(tw, n);
}

int main(void) {
    test_tokenizer();
    test_unescape();
    test_records();
    return CHECK_REPORT();
}
