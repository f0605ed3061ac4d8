/*
 * sense.h: the arithmetic of the word-sense picture (`elmo wsd`, README "The word-sense
 * picture"): which tokens are occurrences of the target word, and how well the vectors of its
 * occurrences separate by sense.  Pure compute, libc only; nothing here is collective.
 */
#ifndef ELMO_MODEL_SENSE_H
#define ELMO_MODEL_SENSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when the token tok[0..len) is an occurrence of word.  Both are compared in ASCII lower
 * case after stripping ASCII punctuation from both ends of the token ("Work," matches work).
 * With forms, inflections by simple suffix rules match too: the word + s, es, ed or ing
 * (work: works, worked, working); for a word ending in e, the word + s or d, or the word without
 * its e + ing or ed (like: likes, liked, liking).  No other morphology (no doubled consonants,
 * no y -> ies, no irregular forms).
 */
bool elmo_wsd_match(const char *word, const char *tok, size_t len, bool forms);

/* How well labelled points separate by sense, in the full-dimensional space. */
struct elmo_separation {
    int n_points;           /* labelled points used (sense >= 0) */
    int n_senses;           /* distinct senses among them */
    double centroid_dist;   /* mean euclidean distance over the pairs of sense centroids */
    double spread;          /* mean euclidean distance of a point to its own sense centroid */
    double ratio;           /* centroid_dist / spread (INFINITY when spread is 0) */
    int nn_correct;         /* points whose nearest other point (cosine) has the same sense */
    double nn_accuracy;     /* nn_correct / n_points */
    double majority;        /* share of the largest sense, for reading nn_accuracy */
};

/*
 * Computes the separation of the n rows of X (n, d; leading dimension ldx) with sense[i] in
 * 0..n_senses_max-1, or -1 for an unlabelled row (left out).  The nearest neighbour is taken by
 * cosine similarity, leave one out (a point is never its own neighbour); on ties the earlier
 * row wins; a zero vector has similarity 0 with everything.  Returns 0 and fills *out, or
 * ELMO_ERR_ARG when fewer than 2 points or 2 senses are labelled (*out then holds the counts,
 * the figures are NAN).  Not collective.
 */
int elmo_sense_separation(const float *X, int n, int d, int ldx, const int *sense,
                          int n_senses_max, struct elmo_separation *out);

#endif /* ELMO_MODEL_SENSE_H */
