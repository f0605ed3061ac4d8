/*
 * conlleval.h: chunk-level evaluation exactly as the CoNLL-2000 script conlleval.pl
 * (version 2004-01-26; ner.md section 5), re-implemented from its documented rules.
 *
 * Tags are `PREFIX-TYPE` split at the first hyphen (types may hold hyphens: geo-loc), or `O`.
 * Prefixes B, I, E, S and O are understood (IOB1, IOB2, IOE, IOBES).  A chunk starts at B or
 * S, at I or E after O (or after E/S, which close their chunk), and wherever the type changes;
 * it ends before B, S, O, after E or S, and wherever the type changes.  So an I-X without a
 * B-X before it starts a chunk, in the gold and the guess alike.  A chunk is correct when the
 * gold and the guess start it at the same token with the same type and end it at the same
 * token.  Sentences are separate: each starts and ends as if surrounded by O (conlleval's
 * boundary lines), and boundaries are not counted as tokens.
 *
 * Numbers: precision = correct / found_guessed, recall = correct / found_gold, FB1 =
 * 2PR / (P + R), in percent, 0 when undefined; overall numbers are micro (over all chunks);
 * accuracy is token-level tag agreement.  Not collective.
 */
#ifndef ELMO_CONLLEVAL_H
#define ELMO_CONLLEVAL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define ELMO_CONLL_MAX_TYPES 128

struct elmo_conll_type {
    char name[64];
    int64_t correct; /* correct chunks of this type */
    int64_t guessed; /* chunks of this type in the guess */
    int64_t gold;    /* chunks of this type in the gold */
};

struct elmo_conll_eval {
    int64_t tokens;       /* tokens counted (boundaries excluded) */
    int64_t correct_tags; /* tokens whose guessed tag equals the gold tag */
    int64_t correct;      /* correct chunks */
    int64_t guessed;      /* chunks in the guess */
    int64_t gold;         /* chunks in the gold */
    int n_types;          /* types seen in the gold or the guess, in order of appearance */
    struct elmo_conll_type type[ELMO_CONLL_MAX_TYPES];
};

/* The scores, in percent. */
struct elmo_conll_score {
    double precision, recall, f1, accuracy;
};

void elmo_conll_eval_init(struct elmo_conll_eval *ev);

/*
 * Adds one sentence of n tokens: gold[i] and guess[i] are tags.  Returns 0, or ELMO_ERR_RANGE
 * when a new type would exceed ELMO_CONLL_MAX_TYPES.
 */
int elmo_conll_eval_add(struct elmo_conll_eval *ev, int n, const char *const *gold,
                        const char *const *guess);

/* Overall scores, or those of type t (0 <= t < n_types). */
struct elmo_conll_score elmo_conll_overall(const struct elmo_conll_eval *ev);
struct elmo_conll_score elmo_conll_type_score(const struct elmo_conll_eval *ev, int t);

/*
 * Prints the table as conlleval does: "processed N tokens with G phrases; found: F phrases;
 * correct: C.", the overall line, then one line per type in byte order of the type names.
 */
void elmo_conll_eval_print(const struct elmo_conll_eval *ev, FILE *f);

/*
 * The scores as one JSON object (owned string; free it): tokens, phrases, found, correct,
 * accuracy, precision, recall, f1, and "types": {type: {precision, recall, f1, found, gold,
 * correct}}.
 */
char *elmo_conll_eval_json(const struct elmo_conll_eval *ev);

/* The same scores as a jansson object (new reference), for a caller that nests them. */
json_t *elmo_conll_eval_object(const struct elmo_conll_eval *ev);

#endif /* ELMO_CONLLEVAL_H */
