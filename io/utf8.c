/*
 * utf8.c: UTF-8 validation, decoding and encoding, and whitespace splitting with Python's
 * str.split() semantics.
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

/*
 * The length (1..4) of the valid sequence at p[0..n), or 0.  Bytes are looked at in order and
 * the first that does not fit ends the look, so a NUL terminator is never read past.
 */
static inline size_t seq_len(const unsigned char *p, size_t n) {
    unsigned char b = p[0];
    if (b < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (b >= 0xc2 && b <= 0xdf) k = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        k = 3;
        if (b == 0xe0) lo = 0xa0;       /* overlong */
        else if (b == 0xed) hi = 0x9f;  /* surrogates U+D800..U+DFFF */
    } else if (b >= 0xf0 && b <= 0xf4) {
        k = 4;
        if (b == 0xf0) lo = 0x90;       /* overlong */
        else if (b == 0xf4) hi = 0x8f;  /* above U+10FFFF */
    } else return 0;                    /* continuation byte, C0, C1, F5..FF */
    if (n < 2 || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (i >= n || p[i] < 0x80 || p[i] > 0xbf) return 0;
    return k;
}

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
        size_t k = seq_len(p + i, len - i);
        if (!k) return i;
        i += k;
    }
    return len;
}

int elmo_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
    size_t k = n ? seq_len(p, n) : 0;
    if (!k) {
        *cp = 0xfffd;
        return 0;
    }
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t c = p[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++) c = (c << 6) | (p[i] & 0x3fu);
    *cp = c;
    return (int)k;
}

int elmo_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int64_t elmo_utf8_count(const char *s, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
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
