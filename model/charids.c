/*
 * charids.c: text to character ids (elmo-spec 3.1).  A token's UTF-8 bytes are cut to 48
 * (a multi-byte character may be cut), framed by begin/end-of-word, padded to 50, and shifted
 * by +1 so that 0 can mean "no token".  The literal tokens <S> and </S> become the sentence
 * boundary patterns.
 */
#include <string.h>

#include "model/bilm.h"

static void boundary(int32_t out[ELMO_MAXC], int32_t mark) {
    out[0] = ELMO_CHAR_BOW;
    out[1] = mark;
    out[2] = ELMO_CHAR_EOW;
    for (int i = 3; i < ELMO_MAXC; i++) out[i] = ELMO_CHAR_PAD;
}

void elmo_char_ids_bos(int32_t out[ELMO_MAXC]) { boundary(out, ELMO_CHAR_BOS); }

void elmo_char_ids_eos(int32_t out[ELMO_MAXC]) { boundary(out, ELMO_CHAR_EOS); }

void elmo_char_ids(const char *tok, size_t len, int32_t out[ELMO_MAXC]) {
    if (len == 3 && memcmp(tok, "<S>", 3) == 0) {
        elmo_char_ids_bos(out);
        return;
    }
    if (len == 4 && memcmp(tok, "</S>", 4) == 0) {
        elmo_char_ids_eos(out);
        return;
    }
    size_t n = len < ELMO_MAX_BYTES ? len : ELMO_MAX_BYTES;
    const unsigned char *b = (const unsigned char *)tok;
    out[0] = ELMO_CHAR_BOW;
    for (size_t i = 0; i < n; i++) out[1 + i] = (int32_t)b[i] + 1;
    out[1 + n] = ELMO_CHAR_EOW;
    for (size_t i = n + 2; i < ELMO_MAXC; i++) out[i] = ELMO_CHAR_PAD;
}
