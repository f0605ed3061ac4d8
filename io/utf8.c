/*
 * utf8.c: UTF-8 validation and whitespace splitting with Python's str.split() semantics.
 *
 * Whitespace is what Python's str.isspace() accepts: \t \n \v \f \r, \x1c-\x1f, space, U+0085,
 * U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000.  Their UTF-8 forms
 * start with an ASCII byte or with a lead byte (C2, E1, E2, E3), never with a continuation byte,
 * so scanning byte by byte cannot match inside another character.
 */
#include "io/utf8.h"

#include <stdint.h>
#include <string.h>

#include "io/corpus.h"

size_t elmo__utf8_check(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time. */
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (b >= 0xc2 && b <= 0xdf) n = 2;
        else if (b >= 0xe0 && b <= 0xef) {
            n = 3;
            if (b == 0xe0) lo = 0xa0;       /* overlong */
            else if (b == 0xed) hi = 0x9f;  /* surrogates U+D800..U+DFFF */
        } else if (b >= 0xf0 && b <= 0xf4) {
            n = 4;
            if (b == 0xf0) lo = 0x90;       /* overlong */
            else if (b == 0xf4) hi = 0x8f;  /* above U+10FFFF */
        } else return i;                    /* continuation byte, C0, C1, F5..FF */
        if (len - i < n) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf) return i;
        i += n;
    }
    return len;
}

bool elmo_utf8_valid(const char *s, size_t len) {
    return elmo__utf8_check(s, len) == len;
}

/*
 * Two passes, so that a call whose array is too small leaves text untouched and can be
 * repeated: the first finds the token starts (and counts past max_tok), the second, run only
 * when all tokens fit, writes a NUL at the end of each token.
 */
int elmo_split_whitespace(char *text, char **tok, int max_tok) {
    unsigned char *p = (unsigned char *)text;
    unsigned char *end = p + strlen(text);
    int n = 0;
    while (p < end) {
        size_t w = elmo__ws_len(p, end);
        if (w) {
            p += w;
            continue;
        }
        if (n < max_tok) tok[n] = (char *)p;
        n++;
        while (p < end && !elmo__ws_len(p, end)) p++;
    }
    if (n > max_tok) return n;
    for (int i = 0; i < n; i++) {
        unsigned char *q = (unsigned char *)tok[i];
        while (q < end && !elmo__ws_len(q, end)) q++;
        *q = '\0';
    }
    return n;
}
