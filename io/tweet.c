/*
 * tweet.c: tweet records of API v1.1 and v2 (jansson), HTML unescaping, and the tweet
 * tokenizer (see tweet.h for the rules).
 */
#include "io/tweet.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/utf8.h"
#include "model/status.h"

/* ================================ Records ================================ */

void elmo_tweets_free(struct elmo_tweet *tw, int n) {
    for (int i = 0; i < n; i++) {
        free(tw[i].id);
        free(tw[i].text);
    }
    free(tw);
}

/* An id: a string, or an integer printed in decimal; NULL when absent or of another type. */
static char *id_of(json_t *v) {
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        return elmo_xstrdup(json_string_value(v));
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return elmo_xstrdup(buf);
    }
    return NULL;
}

/* Stands for a string that holds a \u0000: C strings would cut it there, so it is refused. */
static const char nul_text[] = "";

/* The string at a.b (NULL when any step is missing or not of the right type; nul_text when it
 * holds a NUL). */
static const char *str_at(json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(o, a);
    if (b) v = json_is_object(v) ? json_object_get(v, b) : NULL;
    if (!json_is_string(v)) return NULL;
    const char *t = json_string_value(v);
    return strlen(t) == json_string_length(v) ? t : nul_text;
}

/* The untruncated text of a v1.1 or v2 tweet object (no retweet handling). */
static const char *full_text(json_t *o, const char *text_field) {
    const char *t = str_at(o, "extended_tweet", "full_text");
    if (!t) t = str_at(o, "note_tweet", "text");
    if (!t) t = str_at(o, "full_text", NULL);
    if (!t) t = str_at(o, "text", NULL);
    if (!t && text_field && text_field[0]) t = str_at(o, text_field, NULL);
    return t;
}

/* Fills one tweet from a tweet object; 0, or -1 with why. */
static int one_tweet(json_t *o, const char *text_field, const char *id_field, struct elmo_tweet *tw,
                     char *why, size_t wn) {
    char *text = NULL;
    json_t *rs = json_object_get(o, "retweeted_status");
    if (json_is_object(rs)) {
        const char *inner = full_text(rs, text_field);
        const char *user = str_at(rs, "user", "screen_name");
        if (inner == nul_text || user == nul_text) {
            snprintf(why, wn, "the retweeted text or user holds a \\u0000 (NUL) character");
            return -1;
        }
        if (inner && user) {
            size_t n = strlen(inner) + strlen(user) + 8;
            text = elmo_xmalloc(n);
            snprintf(text, n, "RT @%s: %s", user, inner);
        }
    }
    if (!text) {
        const char *t = full_text(o, text_field);
        json_t *tv = json_object_get(o, "text");
        if (!t) {
            snprintf(why, wn,
                     tv && !json_is_string(tv) ? "the text field is not a string"
                                               : "a tweet without text");
            return -1;
        }
        if (t == nul_text) {
            snprintf(why, wn, "the text holds a \\u0000 (NUL) character");
            return -1;
        }
        text = elmo_xstrdup(t);
    }
    char *id = id_of(json_object_get(o, "id_str"));
    if (!id) id = id_of(json_object_get(o, "id"));
    if (!id && id_field && id_field[0]) id = id_of(json_object_get(o, id_field));
    if (!id) id = elmo_xstrdup("");
    tw->id = id;
    tw->text = text;
    size_t len = elmo_html_unescape(text, strlen(text));
    (void)len;
    return 0;
}

static const char *const notices[] = {"delete",        "limit",      "scrub_geo", "status_withheld",
                                      "user_withheld", "disconnect", "warning",   NULL};

enum elmo_tweet_status elmo_tweet_parse_json(const char *line, size_t len, const char *text_field,
                                             const char *id_field, struct elmo_tweet **tw, int *n,
                                             char *why, size_t wn) {
    *tw = NULL;
    *n = 0;
    json_error_t err;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!o) {
        snprintf(why, wn, "broken JSON at byte %d: %s", err.position + 1, err.text);
        return ELMO_TWEET_REJECT;
    }
    enum elmo_tweet_status st = ELMO_TWEET_OK;
    if (!json_is_object(o)) {
        snprintf(why, wn, "not a JSON object");
        st = ELMO_TWEET_REJECT;
        goto out;
    }
    json_t *data = json_object_get(o, "data");
    if (data && (json_is_array(data) || json_is_object(data))) {
        /* a v2 response: one tweet or many */
        size_t k = json_is_array(data) ? json_array_size(data) : 1;
        if (k == 0) {
            st = ELMO_TWEET_SKIP;
            goto out;
        }
        struct elmo_tweet *arr = elmo_xcalloc(k, sizeof *arr);
        for (size_t i = 0; i < k; i++) {
            json_t *t = json_is_array(data) ? json_array_get(data, i) : data;
            char sub[200];
            if (!json_is_object(t) ||
                one_tweet(t, text_field, id_field, &arr[i], sub, sizeof sub) < 0) {
                snprintf(why, wn, "data[%zu]: %s", i,
                         json_is_object(t) ? sub : "not a tweet object");
                elmo_tweets_free(arr, (int)i);
                st = ELMO_TWEET_REJECT;
                goto out;
            }
        }
        *tw = arr;
        *n = (int)k;
        goto out;
    }
    bool has_text = full_text(o, text_field) || json_object_get(o, "retweeted_status") ||
                    json_object_get(o, "text");
    if (!has_text) {
        for (int i = 0; notices[i]; i++)
            if (json_object_get(o, notices[i])) {
                st = ELMO_TWEET_SKIP;
                goto out;
            }
        if (json_object_get(o, "errors")) {
            st = ELMO_TWEET_SKIP;
            goto out;
        }
    }
    struct elmo_tweet *one = elmo_xcalloc(1, sizeof *one);
    if (one_tweet(o, text_field, id_field, one, why, wn) < 0) {
        free(one);
        st = ELMO_TWEET_REJECT;
        goto out;
    }
    *tw = one;
    *n = 1;
out:
    json_decref(o);
    return st;
}

/* ============================== HTML entities ============================== */

size_t elmo_html_unescape(char *s, size_t len) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t r = 0, w = 0;
    while (r < len) {
        if (s[r] != '&') {
            s[w++] = s[r++];
            continue;
        }
        size_t rest = len - r - 1;
        const char *p = s + r + 1;
        bool done = false;
        for (size_t i = 0; i < sizeof named / sizeof named[0] && !done; i++) {
            size_t l = strlen(named[i].name);
            if (rest >= l && !memcmp(p, named[i].name, l)) {
                s[w++] = named[i].c;
                r += 1 + l;
                done = true;
            }
        }
        if (!done && rest >= 3 && p[0] == '#') {
            bool hex = p[1] == 'x' || p[1] == 'X';
            size_t i = hex ? 2 : 1, start = i;
            uint32_t cp = 0;
            while (i < rest && i - start < 8 &&
                   (hex ? isxdigit((unsigned char)p[i]) : isdigit((unsigned char)p[i]))) {
                int d = isdigit((unsigned char)p[i]) ? p[i] - '0'
                                                     : (tolower((unsigned char)p[i]) - 'a' + 10);
                cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
                i++;
            }
            if (i > start && i < rest + 1 && i < rest && p[i] == ';' && cp > 0 && cp <= 0x10FFFF &&
                !(cp >= 0xD800 && cp <= 0xDFFF)) {
                char enc[4];
                int l = elmo_utf8_encode(cp, enc);
                memcpy(s + w, enc, (size_t)l); /* never longer than the entity */
                w += (size_t)l;
                r += 1 + i + 1;
                done = true;
            }
        }
        if (!done) s[w++] = s[r++];
    }
    s[w] = '\0';
    return w;
}

/* ================================ Tokenizer ================================ */

static bool is_regional(uint32_t c) { return c >= 0x1F1E6 && c <= 0x1F1FF; }

/* Characters that follow an emoji and belong to it. */
static bool is_emoji_mod(uint32_t c) {
    return c == 0xFE0F || c == 0xFE0E || (c >= 0x1F3FB && c <= 0x1F3FF) || c == 0x20E3 ||
           (c >= 0xE0020 && c <= 0xE007F);
}

/* Emoji (and pictographic symbols) that start an emoji sequence. */
static bool is_emoji(uint32_t c) {
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
           (c >= 0x2300 && c <= 0x23FF) || (c >= 0x2B00 && c <= 0x2BFF) ||
           (c >= 0x2190 && c <= 0x21FF) || (c >= 0x25A0 && c <= 0x25FF) || c == 0x2934 ||
           c == 0x2935 || c == 0x3030 || c == 0x303D || c == 0x3297 || c == 0x3299 || c == 0x00A9 ||
           c == 0x00AE || c == 0x203C || c == 0x2049 || c == 0x2122 || c == 0x2139 || c == 0x24C2;
}

/* Letters, digits, marks and '_': what words, hashtags and numbers are made of. */
static bool is_word(uint32_t c) {
    if (c < 0x80) return isalnum((int)c) || c == '_';
    if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7) return false;
    if (is_emoji(c) || is_emoji_mod(c)) return false;
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x2E00 && c <= 0x2E7F) ||
        (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE10 && c <= 0xFE1F) ||
        (c >= 0xFE30 && c <= 0xFE6F) || (c >= 0xFF01 && c <= 0xFF0F) ||
        (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
        (c >= 0xFF5B && c <= 0xFF65) || (c >= 0xFFF0 && c <= 0xFFFF) ||
        (c >= 0xE0000 && c <= 0xE007F) || c == 0xFFFD)
        return false;
    return true;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_alpha(uint32_t c) { return c < 0x80 ? isalpha((int)c) != 0 : is_word(c); }

/* Length of the separator at p: whitespace, U+200B, U+FEFF, or a control character. */
static size_t sep_len(const unsigned char *p, const unsigned char *end) {
    size_t n = elmo__ws_len(p, end);
    if (n) return n;
    if (p[0] < 0x20 || p[0] == 0x7F) return 1;
    if (end - p >= 3 && p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x8B) return 3;
    if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) return 3;
    return 0;
}

struct scan {
    const unsigned char *s, *end;
};

/* The code point at offset i (0 when at or past the end); *n gets its length. */
static uint32_t at(const struct scan *sc, size_t i, int *n) {
    if (sc->s + i >= sc->end) {
        if (n) *n = 0;
        return 0;
    }
    uint32_t c;
    int l = elmo_utf8_decode(sc->s + i, (size_t)(sc->end - (sc->s + i)), &c);
    if (l == 0) l = 1; /* an invalid byte: U+FFFD */
    if (n) *n = l;
    return c;
}

/* End of an emoji sequence that starts at i (which holds an emoji or regional indicator). */
static size_t emoji_end(const struct scan *sc, size_t i) {
    int n;
    uint32_t c = at(sc, i, &n);
    i += (size_t)n;
    if (is_regional(c)) {
        uint32_t d = at(sc, i, &n);
        if (is_regional(d)) i += (size_t)n;
    }
    for (;;) {
        uint32_t d = at(sc, i, &n);
        if (n && is_emoji_mod(d)) {
            i += (size_t)n;
            continue;
        }
        if (n && d == 0x200D) {
            int m;
            uint32_t e = at(sc, i + (size_t)n, &m);
            if (m && (is_emoji(e) || is_regional(e))) {
                i += (size_t)n + (size_t)m;
                continue;
            }
        }
        break;
    }
    return i;
}

static const char *const emoticons[] = {
    ":'-(", ":'(", ":')", ":-)", ":-(", ":-D", ":-P", ":-p", ":-/", ":-|", ":-*", ";-)",
    ";-D",  "</3", "^_^", "-_-", "o_O", "O_o", "T_T", "<3",  ":)",  ":(",  ":D",  ":P",
    ":p",   ":/",  ":|",  ":*",  ":o",  ":O",  ":S",  ":s",  ":3",  ":]",  ":[",  ";)",
    ";D",   ";(",  "=)",  "=(",  "=D",  "xD",  "XD",  "^^",  NULL};

/* Length of an emoticon at i, or 0. */
static size_t emoticon_len(const struct scan *sc, size_t i) {
    size_t avail = (size_t)(sc->end - sc->s) - i;
    size_t best = 0;
    for (int k = 0; emoticons[k]; k++) {
        size_t l = strlen(emoticons[k]);
        if (l > avail || l <= best || memcmp(sc->s + i, emoticons[k], l) != 0) continue;
        /* one ending in a letter or digit must not run into a word (":Design") */
        unsigned char last = (unsigned char)emoticons[k][l - 1];
        if (isalnum(last)) {
            int n;
            uint32_t nx = at(sc, i + l, &n);
            if (n && is_word(nx)) continue;
        }
        best = l;
    }
    return best;
}

static bool ascii_prefix_ci(const struct scan *sc, size_t i, const char *p) {
    size_t l = strlen(p);
    return (size_t)(sc->end - sc->s) - i >= l && !strncasecmp((const char *)sc->s + i, p, l);
}

/* End of a URL starting at i: up to a separator, without trailing punctuation. */
static size_t url_end(const struct scan *sc, size_t i) {
    size_t j = i, len = (size_t)(sc->end - sc->s);
    while (j < len && !sep_len(sc->s + j, sc->end)) j++;
    for (;;) {
        if (j <= i + 1) break;
        unsigned char c = sc->s[j - 1];
        if (strchr(".,;:!?'\"]}>", c) && c) {
            j--;
            continue;
        }
        if (c == ')') {
            int open = 0, close = 0;
            for (size_t k = i; k < j; k++) open += sc->s[k] == '(', close += sc->s[k] == ')';
            if (close > open) {
                j--;
                continue;
            }
        }
        /* U+2026 (…): a truncated tweet's ellipsis */
        if (j >= i + 3 && sc->s[j - 3] == 0xE2 && sc->s[j - 2] == 0x80 && sc->s[j - 1] == 0xA6) {
            j -= 3;
            continue;
        }
        break;
    }
    return j;
}

/* End of a word (letters, digits, inner joiners) starting at i. */
static size_t word_end(const struct scan *sc, size_t i) {
    int n;
    size_t j = i;
    uint32_t prev = 0;
    for (;;) {
        uint32_t c = at(sc, j, &n);
        if (!n) break;
        if (is_word(c)) {
            prev = c;
            j += (size_t)n;
            continue;
        }
        /* a joiner between two word characters */
        int m;
        uint32_t nx = at(sc, j + (size_t)n, &m);
        if (!m || !is_word(nx)) break;
        bool ok = false;
        switch (c) {
        case '-':
        case '.':
        case '&':
        case '/':
        case '\'':
        case 0x2019: ok = true; break;
        case ',':
        case ':': ok = is_digit(prev) && is_digit(nx); break;
        default: ok = false;
        }
        if (!ok) break;
        j += (size_t)n;
    }
    /* 30% */
    if (j > i && is_digit(prev) && at(sc, j, &n) == '%') j += 1;
    /* an abbreviation with its final dot: U.S. e.g. a.m. */
    if (j > i && at(sc, j, &n) == '.') {
        bool abbr = true;
        size_t k = i;
        int parts = 0;
        while (k < j) {
            int l;
            uint32_t c = at(sc, k, &l);
            if (!is_alpha(c)) {
                abbr = false;
                break;
            }
            k += (size_t)l;
            parts++;
            if (k < j) {
                if (sc->s[k] != '.') {
                    abbr = false;
                    break;
                }
                k++;
            }
        }
        if (abbr && parts >= 2) j += 1;
    }
    /* w/ */
    if (j == i + 1 && (sc->s[i] == 'w' || sc->s[i] == 'W') && at(sc, j, &n) == '/') {
        uint32_t nx = at(sc, j + 1, &n);
        if (!n || !is_word(nx)) j += 1;
    }
    return j;
}

/* Appends a span (when there is room) and counts it. */
static void push(struct elmo_span *sp, int cap, int *count, size_t a, size_t b) {
    if (*count < cap) sp[*count] = (struct elmo_span){(int32_t)a, (int32_t)b};
    (*count)++;
}

static bool url_start(const struct scan *sc, size_t i) {
    return ascii_prefix_ci(sc, i, "http://") || ascii_prefix_ci(sc, i, "https://") ||
           ascii_prefix_ci(sc, i, "www.");
}

/* End of the @mention at i, or i + 1 when no name follows the @. */
static size_t mention_end(const struct scan *sc, size_t i) {
    size_t j = i + 1;
    while (sc->s + j < sc->end && (isalnum(sc->s[j]) || sc->s[j] == '_')) j++;
    return j;
}

/* End of the #hashtag at i, or i + 1 when no word character follows the #. */
static size_t hashtag_end(const struct scan *sc, size_t i) {
    size_t j = i + 1;
    int m;
    for (;;) {
        uint32_t d = at(sc, j, &m);
        if (!m || !is_word(d)) break;
        j += (size_t)m;
    }
    return j;
}

/* End of the keycap (1️⃣ #️⃣) at i, or 0 when there is none. */
static size_t keycap_end(const struct scan *sc, size_t i) {
    size_t k = i + 1;
    int m;
    uint32_t nx = at(sc, k, &m);
    if (nx == 0xFE0F) k += (size_t)m, nx = at(sc, k, &m);
    return nx == 0x20E3 ? k + (size_t)m : 0;
}

/* End of the 's at i (the apostrophe being n bytes long), or 0 when there is none. */
static size_t possessive_end(const struct scan *sc, size_t i, int n) {
    size_t k = i + (size_t)n;
    int m;
    uint32_t d = at(sc, k, &m);
    if (!m || (d != 's' && d != 'S')) return 0;
    uint32_t e = at(sc, k + 1, &m);
    return !m || !is_word(e) ? k + 1 : 0;
}

static bool is_stop(uint32_t d) { return d == '.' || d == '!' || d == '?' || d == 0x2026; }

/* End of the run of . ! ? and … at i. */
static size_t stop_run_end(const struct scan *sc, size_t i) {
    size_t j = i;
    int m;
    for (;;) {
        uint32_t d = at(sc, j, &m);
        if (!m || !is_stop(d)) break;
        j += (size_t)m;
    }
    return j;
}

/* End of the run of the same byte as at i. */
static size_t same_run_end(const struct scan *sc, size_t i) {
    size_t j = i + 1;
    while (sc->s + j < sc->end && sc->s[j] == sc->s[i]) j++;
    return j;
}

/* End of the character at i (n bytes long) with its variation selector. */
static size_t char_end(const struct scan *sc, size_t i, int n) {
    size_t j = i + (size_t)n;
    int m;
    uint32_t nx = at(sc, j, &m);
    if (m && (nx == 0xFE0F || nx == 0xFE0E)) j += (size_t)m;
    return j;
}

/* Bytes of the 's (ASCII or U+2019 apostrophe) that ends the word [i, j), or 0. */
static size_t possessive_cut(const struct scan *sc, size_t i, size_t j) {
    const unsigned char *s = sc->s;
    if (j >= i + 3 && (s[j - 1] == 's' || s[j - 1] == 'S') && s[j - 2] == '\'') return 2;
    if (j >= i + 5 && (s[j - 1] == 's' || s[j - 1] == 'S') && s[j - 4] == 0xE2 &&
        s[j - 3] == 0x80 && s[j - 2] == 0x99)
        return 4;
    return 0;
}

/*
 * End of the token at i (which starts no separator), by the first rule that matches: URLs,
 * @mentions, #hashtags, keycaps, emoji sequences, emoticons, words and numbers (*word set),
 * 's right after a mention, a hashtag or a URL-free word, runs of . ! ? and …, runs of the
 * same ASCII punctuation, and any other character with its variation selector.
 */
static size_t token_end(const struct scan *sc, size_t i, bool *word) {
    int n;
    uint32_t c = at(sc, i, &n);
    size_t j;
    *word = false;
    if (url_start(sc, i)) return url_end(sc, i);
    if (c == '@' && (j = mention_end(sc, i)) > i + 1) return j;
    if (c == '#' && (j = hashtag_end(sc, i)) > i + 1) return j;
    if ((is_digit(c) || c == '#' || c == '*') && (j = keycap_end(sc, i)) != 0) return j;
    if (is_emoji(c) || is_regional(c) || (c >= 0x1F3FB && c <= 0x1F3FF)) return emoji_end(sc, i);
    if ((j = emoticon_len(sc, i)) != 0) return i + j;
    if (is_word(c)) {
        *word = true;
        return word_end(sc, i);
    }
    if ((c == '\'' || c == 0x2019) && i > 0 && !sep_len(sc->s + i - 1, sc->end) &&
        (j = possessive_end(sc, i, n)) != 0)
        return j;
    if (is_stop(c)) return stop_run_end(sc, i);
    if (c < 0x80) return same_run_end(sc, i);
    return char_end(sc, i, n);
}

int elmo_tweet_tokenize(const char *text, size_t len, struct elmo_span *spans, int cap) {
    struct scan sc = {(const unsigned char *)text, (const unsigned char *)text + len};
    size_t i = 0;
    int count = 0;
    while (i < len) {
        size_t sl = sep_len(sc.s + i, sc.end);
        if (sl) {
            i += sl;
            continue;
        }
        bool word;
        size_t j = token_end(&sc, i, &word);
        size_t cut = word ? possessive_cut(&sc, i, j) : 0; /* words split off their 's */
        if (cut && j - cut > i) {
            push(spans, cap, &count, i, j - cut);
            push(spans, cap, &count, j - cut, j);
        } else {
            push(spans, cap, &count, i, j);
        }
        i = j;
    }
    return count;
}
