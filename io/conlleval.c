/*
 * conlleval.c: the CoNLL chunk evaluation (see conlleval.h), token by token as conlleval.pl
 * walks its input, with a boundary (gold O, guess O, not counted) after every sentence.
 */
#include "io/conlleval.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/status.h"

/* A tag split at its first hyphen: prefix ("B", "I", "O", ...) and type ("" for none). */
struct tag {
    char prefix;      /* first byte of the prefix; 0 for an empty or longer prefix */
    const char *type; /* after the hyphen, or "" */
    size_t type_len;
};

static struct tag split_tag(const char *s) {
    struct tag t;
    const char *h = strchr(s, '-');
    size_t plen = h ? (size_t)(h - s) : strlen(s);
    t.prefix = plen == 1 ? s[0] : 0;
    t.type = h ? h + 1 : "";
    t.type_len = strlen(t.type);
    return t;
}

static bool same_type(struct tag a, struct tag b) {
    return a.type_len == b.type_len && memcmp(a.type, b.type, a.type_len) == 0;
}

static bool is(struct tag t, char c) { return t.prefix == c; }

/* conlleval's startOfChunk(prevTag, tag, prevType, type). */
static bool chunk_start(struct tag p, struct tag t) {
    if (is(t, 'B') || is(t, 'S')) return true;
    if ((is(p, 'O') || is(p, 'E') || is(p, 'S')) && (is(t, 'I') || is(t, 'E'))) return true;
    if (!is(t, 'O') && !is(t, '.') && !same_type(p, t)) return true;
    return false;
}

/* conlleval's endOfChunk(prevTag, tag, prevType, type). */
static bool chunk_end(struct tag p, struct tag t) {
    if ((is(p, 'B') || is(p, 'I')) && (is(t, 'B') || is(t, 'S') || is(t, 'O'))) return true;
    if (is(p, 'E') || is(p, 'S')) return true;
    if (!is(p, 'O') && !is(p, '.') && !same_type(p, t)) return true;
    return false;
}

void elmo_conll_eval_init(struct elmo_conll_eval *ev) { memset(ev, 0, sizeof *ev); }

/* The index of a type, added when new; -1 when the table is full. */
static int type_index(struct elmo_conll_eval *ev, struct tag t) {
    for (int i = 0; i < ev->n_types; i++)
        if (strlen(ev->type[i].name) == t.type_len &&
            memcmp(ev->type[i].name, t.type, t.type_len) == 0)
            return i;
    if (ev->n_types >= ELMO_CONLL_MAX_TYPES) return -1;
    struct elmo_conll_type *ty = &ev->type[ev->n_types];
    memset(ty, 0, sizeof *ty);
    size_t n = t.type_len < sizeof ty->name - 1 ? t.type_len : sizeof ty->name - 1;
    memcpy(ty->name, t.type, n);
    return ev->n_types++;
}

int elmo_conll_eval_add(struct elmo_conll_eval *ev, int n, const char *const *gold,
                        const char *const *guess) {
    const struct tag outside = {'O', "", 0};
    struct tag lc = outside, lg = outside;
    bool in_correct = false;
    for (int i = 0; i <= n; i++) {
        bool boundary = i == n;
        struct tag c = boundary ? outside : split_tag(gold[i]);
        struct tag g = boundary ? outside : split_tag(guess[i]);
        bool end_c = chunk_end(lc, c), end_g = chunk_end(lg, g);
        bool start_c = chunk_start(lc, c), start_g = chunk_start(lg, g);
        if (in_correct) {
            if (end_c && end_g && same_type(lg, lc)) {
                int ti = type_index(ev, lc);
                if (ti < 0) goto full;
                in_correct = false;
                ev->correct++;
                ev->type[ti].correct++;
            } else if (end_c != end_g || !same_type(g, c)) {
                in_correct = false;
            }
        }
        if (start_c && start_g && same_type(g, c)) in_correct = true;
        if (start_c) {
            int ti = type_index(ev, c);
            if (ti < 0) goto full;
            ev->gold++;
            ev->type[ti].gold++;
        }
        if (start_g) {
            int ti = type_index(ev, g);
            if (ti < 0) goto full;
            ev->guessed++;
            ev->type[ti].guessed++;
        }
        if (!boundary) {
            if (strcmp(gold[i], guess[i]) == 0) ev->correct_tags++;
            ev->tokens++;
        }
        lc = c, lg = g;
    }
    /* the boundary closes every chunk, so in_correct is false here */
    return 0;
full:
    return elmo_error(ELMO_ERR_RANGE, "conlleval: more than %d entity types", ELMO_CONLL_MAX_TYPES);
}

static struct elmo_conll_score score(int64_t correct, int64_t guessed, int64_t gold) {
    struct elmo_conll_score s = {0, 0, 0, 0};
    s.precision = guessed > 0 ? 100.0 * (double)correct / (double)guessed : 0.0;
    s.recall = gold > 0 ? 100.0 * (double)correct / (double)gold : 0.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
    return s;
}

struct elmo_conll_score elmo_conll_overall(const struct elmo_conll_eval *ev) {
    struct elmo_conll_score s = score(ev->correct, ev->guessed, ev->gold);
    s.accuracy = ev->tokens > 0 ? 100.0 * (double)ev->correct_tags / (double)ev->tokens : 0.0;
    return s;
}

struct elmo_conll_score elmo_conll_type_score(const struct elmo_conll_eval *ev, int t) {
    return score(ev->type[t].correct, ev->type[t].guessed, ev->type[t].gold);
}

/* Type indices in byte order of their names. */
static void sorted_types(const struct elmo_conll_eval *ev, int *idx) {
    for (int i = 0; i < ev->n_types; i++) idx[i] = i;
    for (int i = 1; i < ev->n_types; i++) {
        int x = idx[i], j = i - 1;
        while (j >= 0 && strcmp(ev->type[idx[j]].name, ev->type[x].name) > 0) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = x;
    }
}

void elmo_conll_eval_print(const struct elmo_conll_eval *ev, FILE *f) {
    struct elmo_conll_score s = elmo_conll_overall(ev);
    fprintf(f, "processed %lld tokens with %lld phrases; found: %lld phrases; correct: %lld.\n",
            (long long)ev->tokens, (long long)ev->gold, (long long)ev->guessed,
            (long long)ev->correct);
    if (ev->tokens > 0)
        fprintf(f, "accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f\n",
                s.accuracy, s.precision, s.recall, s.f1);
    int idx[ELMO_CONLL_MAX_TYPES];
    sorted_types(ev, idx);
    for (int i = 0; i < ev->n_types; i++) {
        const struct elmo_conll_type *ty = &ev->type[idx[i]];
        struct elmo_conll_score t = elmo_conll_type_score(ev, idx[i]);
        fprintf(f, "%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %lld\n", ty->name,
                t.precision, t.recall, t.f1, (long long)ty->guessed);
    }
}

json_t *elmo_conll_eval_object(const struct elmo_conll_eval *ev) {
    struct elmo_conll_score s = elmo_conll_overall(ev);
    json_t *o = json_object(), *types = json_object();
    json_object_set_new(o, "tokens", json_integer(ev->tokens));
    json_object_set_new(o, "phrases", json_integer(ev->gold));
    json_object_set_new(o, "found", json_integer(ev->guessed));
    json_object_set_new(o, "correct", json_integer(ev->correct));
    json_object_set_new(o, "accuracy", json_real(s.accuracy));
    json_object_set_new(o, "precision", json_real(s.precision));
    json_object_set_new(o, "recall", json_real(s.recall));
    json_object_set_new(o, "f1", json_real(s.f1));
    int idx[ELMO_CONLL_MAX_TYPES];
    sorted_types(ev, idx);
    for (int i = 0; i < ev->n_types; i++) {
        const struct elmo_conll_type *ty = &ev->type[idx[i]];
        struct elmo_conll_score t = elmo_conll_type_score(ev, idx[i]);
        json_t *e = json_object();
        json_object_set_new(e, "precision", json_real(t.precision));
        json_object_set_new(e, "recall", json_real(t.recall));
        json_object_set_new(e, "f1", json_real(t.f1));
        json_object_set_new(e, "found", json_integer(ty->guessed));
        json_object_set_new(e, "gold", json_integer(ty->gold));
        json_object_set_new(e, "correct", json_integer(ty->correct));
        json_object_set_new(types, ty->name, e);
    }
    json_object_set_new(o, "types", types);
    return o;
}

char *elmo_conll_eval_json(const struct elmo_conll_eval *ev) {
    json_t *o = elmo_conll_eval_object(ev);
    char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!text) text = elmo_xstrdup("{}");
    return text;
}
