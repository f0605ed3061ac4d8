/*
 * glove.h: GloVe word vectors in the text format (`word v1 ... vD` per line, no header), for
 * the context-free baseline of the tagger (design 8).  Lookups lowercase ASCII letters first
 * (GloVe-Twitter is lowercased); a word that is not in the file has no vector (the caller uses
 * zeros).  Not collective; lookups are thread-safe after loading.
 */
#ifndef ELMO_GLOVE_H
#define ELMO_GLOVE_H

#include <stddef.h>
#include <stdint.h>

struct elmo_glove {
    int dim;       /* D */
    int64_t n;     /* words */
    float *vec;    /* (n, D) */
    char *words;   /* NUL-terminated words, one after another */
    size_t words_bytes; /* bytes of words, the last NUL included */
    int64_t *word; /* (n) offset of word i in words */
    int64_t *slot; /* (cap) hash table: word index + 1, 0 = empty */
    int64_t cap;   /* power of two */
};

/*
 * Reads a GloVe text file (plain or gzip).  Every line must have the same number of values.
 * Returns 0, ELMO_ERR_IO or ELMO_ERR_FORMAT ("PATH:LINE: cause").  Free with elmo_glove_free.
 */
int elmo_glove_load(const char *path, struct elmo_glove *g);
void elmo_glove_free(struct elmo_glove *g);

/*
 * The same table from rows kept elsewhere (a tagger file): n vectors of dim values (vec, row i
 * the vector of word i), words the n NUL-terminated words one after another (words_bytes
 * bytes).  Copies everything.  Returns 0 or ELMO_ERR_FORMAT (names and rows do not match).
 */
int elmo_glove_from_rows(struct elmo_glove *g, int dim, int64_t n, const char *words,
                         size_t words_bytes, const float *vec);

/* The vector of word (ASCII letters lowercased), or NULL. */
const float *elmo_glove_lookup(const struct elmo_glove *g, const char *word);

#endif /* ELMO_GLOVE_H */
