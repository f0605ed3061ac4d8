/*
 * ner_shared.c: the NER jobs' collective opening of a tagger, and their clock (see
 * ner_shared.h).
 */
#include "driver/ner_shared.h"

#include <time.h>

#include "driver/commands.h"
#include "model/status.h"

double elmo__ner_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int elmo__tagging_open(struct elmo_tagging *r, const struct elmo_job *job, int max_len) {
    ELMO_TRY(elmo_agree(elmo_tagging_load(r, job)));
    ELMO_TRY(elmo_agree(elmo_rank() == 0 ? elmo_tagging_verify(r, job) : 0));
    int rc = elmo_agree(elmo_tagging_prepare(r, job, max_len));
    if (rc < 0) elmo_tagging_close(r);
    return rc;
}
