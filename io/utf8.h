/*
 * utf8.h: internal UTF-8 helpers shared by the corpus readers (and, later, the tweet tokenizer).
 * The public entry points elmo_utf8_valid() and elmo_split_whitespace() are declared in
 * io/corpus.h; these are the length-bounded forms they are built on.  Not collective.
 */
#ifndef ELMO_UTF8_H
#define ELMO_UTF8_H

#include <stddef.h>

/*
 * Returns the offset of the first byte of s[0..len) that does not begin a valid UTF-8 sequence
 * (overlongs, surrogates and code points above U+10FFFF are invalid), or len when all is valid.
 */
size_t elmo__utf8_check(const char *s, size_t len);

/*
 * Returns the length in bytes (1..3) of the whitespace character that starts at p, as Python's
 * str.isspace() defines whitespace, or 0 when p (before end) does not start one.  Safe on
 * invalid UTF-8: it only matches exact byte sequences and never reads at or past end.
 */
static inline size_t elmo__ws_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    if (b < 0x80) return (b == ' ' || (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x1f));
    if (end - p < 2) return 0;
    if (b == 0xc2) return (p[1] == 0x85 || p[1] == 0xa0) ? 2 : 0;   /* U+0085, U+00A0 */
    if (end - p < 3) return 0;
    if (b == 0xe1) return (p[1] == 0x9a && p[2] == 0x80) ? 3 : 0;   /* U+1680 */
    if (b == 0xe2) {
        if (p[1] == 0x80) {                                          /* U+2000..U+200A, */
            unsigned char c = p[2];                                  /* U+2028, U+2029, U+202F */
            return ((c >= 0x80 && c <= 0x8a) || c == 0xa8 || c == 0xa9 || c == 0xaf) ? 3 : 0;
        }
        return (p[1] == 0x81 && p[2] == 0x9f) ? 3 : 0;               /* U+205F */
    }
    if (b == 0xe3) return (p[1] == 0x80 && p[2] == 0x80) ? 3 : 0;   /* U+3000 */
    return 0;
}

#endif /* ELMO_UTF8_H */
