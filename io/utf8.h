/*
 * utf8.h: the one UTF-8 module: validation, decoding, encoding, counting code points and
 * Python's whitespace, for the corpus readers, the tweet tokenizer, the store's JSON and the
 * SVG plots.  elmo_utf8_valid() and elmo_split_whitespace(), built on these, are declared in
 * io/corpus.h.  Valid UTF-8 here is what Python decodes strictly: no overlongs, no surrogates,
 * nothing above U+10FFFF.  Not collective.
 */
#ifndef ELMO_UTF8_H
#define ELMO_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns the offset of the first byte of s[0..len) that does not begin a valid UTF-8 sequence
 * (overlongs, surrogates and code points above U+10FFFF are invalid), or len when all is valid.
 */
size_t elmo__utf8_check(const char *s, size_t len);

/*
 * Decodes the sequence that starts p (n bytes available, bytes read in order, so a NUL ends a
 * sequence): returns its length 1..4 and sets *cp, or returns 0 and sets *cp to U+FFFD when p
 * does not start a valid sequence (callers then skip one byte).
 */
int elmo_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/* Writes code point cp (at most U+10FFFF, not a surrogate) as UTF-8; returns its length 1..4. */
int elmo_utf8_encode(uint32_t cp, char *out);

/* Code points in s[0..n): the bytes that are not continuation bytes. */
int64_t elmo_utf8_count(const char *s, size_t n);

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
