/*
 * fuzz_options.c: options.json (elmo_options_parse).  Any input must be refused with a status
 * and a message naming the origin, or accepted as options that pass elmo_options_check and
 * survive a round trip: elmo_options_to_json, parsed again, gives the same options.
 */
#include <stdlib.h>
#include <string.h>

#include "io/weights.h"
#include "model/status.h"
#include "tests/fuzz/fuzz_util.h"

static void same_options(const struct elmo_options *a, const struct elmo_options *b) {
    FUZZ_ASSERT(a->D == b->D && a->P == b->P && a->L == b->L && a->E == b->E && a->F == b->F,
                "dims %d %d %d %d %d vs %d %d %d %d %d", a->D, a->P, a->L, a->E, a->F, b->D, b->P,
                b->L, b->E, b->F);
    FUZZ_ASSERT(a->cell_clip == b->cell_clip && a->proj_clip == b->proj_clip,
                "clips %g %g vs %g %g", a->cell_clip, a->proj_clip, b->cell_clip, b->proj_clip);
    FUZZ_ASSERT(a->skip == b->skip && a->activation == b->activation &&
                    a->n_highway == b->n_highway && a->n_characters == b->n_characters &&
                    a->max_chars == b->max_chars && a->has_cnn_proj == b->has_cnn_proj &&
                    a->has_lstm_proj == b->has_lstm_proj && a->n_filters == b->n_filters,
                "scalar options differ");
    for (int i = 0; i < a->n_filters; i++)
        FUZZ_ASSERT(a->filter_width[i] == b->filter_width[i] &&
                        a->filter_count[i] == b->filter_count[i],
                    "filter %d differs", i);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    char *text = elmo_xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct elmo_options opt;
    int rc = elmo_options_parse(text, "fuzz.json", &opt);
    free(text);
    if (rc < 0) {
        FUZZ_ASSERT(rc == ELMO_ERR_FORMAT || rc == ELMO_ERR_RANGE || rc == ELMO_ERR_ARG,
                    "unexpected status %d", rc);
        FUZZ_ASSERT(strstr(elmo_errmsg(), "fuzz.json") != NULL, "message without the origin: %s",
                    elmo_errmsg());
        return 0;
    }
    FUZZ_ASSERT(elmo_options_check(&opt) == 0, "accepted options fail the check: %s",
                elmo_errmsg());
    char *json;
    FUZZ_ASSERT(elmo_options_to_json(&opt, &json) == 0, "cannot write accepted options: %s",
                elmo_errmsg());
    struct elmo_options back;
    FUZZ_ASSERT(elmo_options_parse(json, "round trip", &back) == 0,
                "the written options do not parse: %s\n%s", elmo_errmsg(), json);
    same_options(&opt, &back);
    free(json);
    return 0;
}
