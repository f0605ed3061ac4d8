/*
 * test_charids.c: character ids (elmo-spec 3.1): the reference test vectors, truncation of a
 * long token to 48 bytes, a multi-byte UTF-8 character cut at byte 48, and the boundaries.
 */
#include <string.h>

#include "model/bilm.h"
#include "model/status.h"
#include "tests/check.h"

/* Checks ids against the listed prefix, then PAD (261) to the end. */
static void expect(const char *tok, size_t len, const int32_t *want, int n) {
    int32_t ids[ELMO_MAXC];
    elmo_char_ids(tok, len, ids);
    int bad = 0;
    for (int i = 0; i < ELMO_MAXC; i++) {
        int32_t w = i < n ? want[i] : ELMO_CHAR_PAD;
        if (ids[i] != w) {
            if (!bad)
                fprintf(stderr, "token '%.*s': id %d is %d, want %d\n", (int)len, tok, i,
                        (int)ids[i], (int)w);
            bad++;
        }
    }
    CHECK_INT_EQ(bad, 0);
}

int main(void) {
    /* the reference vectors (after the +1 shift) */
    expect("<S>", 3, (const int32_t[]){259, 257, 260}, 3);
    expect("</S>", 4, (const int32_t[]){259, 258, 260}, 3);
    expect("Second", 6, (const int32_t[]){259, 84, 102, 100, 112, 111, 101, 260}, 8);
    expect(".", 1, (const int32_t[]){259, 47, 260}, 3);
    expect("\xC4\x80t", 3, (const int32_t[]){259, 197, 129, 117, 260}, 5);
    /* the boundary helpers give the same patterns */
    int32_t a[ELMO_MAXC], b[ELMO_MAXC];
    elmo_char_ids_bos(a);
    elmo_char_ids("<S>", 3, b);
    CHECK(!memcmp(a, b, sizeof a));
    elmo_char_ids_eos(a);
    elmo_char_ids("</S>", 4, b);
    CHECK(!memcmp(a, b, sizeof a));
    /* only the exact literals are boundaries */
    expect("<S>x", 4, (const int32_t[]){259, 61, 84, 63, 121, 260}, 6);
    expect("<s>", 3, (const int32_t[]){259, 61, 116, 63, 260}, 5);
    /* a token is not NUL-terminated: len decides */
    expect("abcdef", 3, (const int32_t[]){259, 98, 99, 100, 260}, 5);

    /* 60 bytes: the first 48 are kept, then EOW; no PAD left */
    char tok[61];
    for (int i = 0; i < 60; i++) tok[i] = (char)('a' + i % 26);
    tok[60] = '\0';
    int32_t want[ELMO_MAXC];
    want[0] = ELMO_CHAR_BOW;
    for (int i = 0; i < ELMO_MAX_BYTES; i++) want[1 + i] = (unsigned char)tok[i] + 1;
    want[49] = ELMO_CHAR_EOW;
    expect(tok, 60, want, ELMO_MAXC);
    /* exactly 48 and 49 bytes */
    expect(tok, 48, want, ELMO_MAXC);
    expect(tok, 49, want, ELMO_MAXC);
    int32_t want47[ELMO_MAXC];
    memcpy(want47, want, sizeof want47);
    want47[48] = ELMO_CHAR_EOW;
    expect(tok, 47, want47, 49);

    /* a 2-byte character across byte 48: 47 ASCII bytes, then C3 A9 ("é"), then more */
    char mb[64];
    memset(mb, 'x', 47);
    mb[47] = (char)0xC3;
    mb[48] = (char)0xA9;
    memcpy(mb + 49, "yz", 2);
    int32_t wmb[ELMO_MAXC];
    wmb[0] = ELMO_CHAR_BOW;
    for (int i = 0; i < 47; i++) wmb[1 + i] = 'x' + 1;
    wmb[48] = 0xC3 + 1; /* the lead byte survives, its continuation byte is cut */
    wmb[49] = ELMO_CHAR_EOW;
    expect(mb, 51, wmb, ELMO_MAXC);
    /* a 4-byte emoji starting at byte 46 keeps 2 of its bytes */
    char em[64];
    memset(em, 'x', 46);
    memcpy(em + 46, "\xF0\x9F\x98\x80", 4);
    int32_t wem[ELMO_MAXC];
    wem[0] = ELMO_CHAR_BOW;
    for (int i = 0; i < 46; i++) wem[1 + i] = 'x' + 1;
    wem[47] = 0xF0 + 1;
    wem[48] = 0x9F + 1;
    wem[49] = ELMO_CHAR_EOW;
    expect(em, 50, wem, ELMO_MAXC);
    /* all ids are in 1..261 and byte 0xFF maps to 256 */
    expect("\xFF", 1, (const int32_t[]){259, 256, 260}, 3);
    /* an empty token is BOW EOW */
    expect("", 0, (const int32_t[]){259, 260}, 2);
    return CHECK_REPORT();
}
