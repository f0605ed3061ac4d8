/*
 * fuzz_job.c: YAML job files (elmo_job_load_string).  Any input must be refused with
 * ELMO_ERR_YAML (or NOMEM) and a "NAME:LINE:COLUMN: cause" message, or accepted; an accepted
 * job written back as YAML (elmo_job_to_yaml, the store's job_yaml attribute) must load again
 * and write the same YAML.
 */
#include <stdlib.h>
#include <string.h>

#include "io/job.h"
#include "model/status.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct elmo_job job;
    memset(&job, 0, sizeof job);
    int rc = elmo_job_load_string(&job, (const char *)data, size, "fuzz.yaml");
    if (rc < 0) {
        FUZZ_ASSERT(rc == ELMO_ERR_YAML || rc == ELMO_ERR_NOMEM, "unexpected status %d: %s", rc,
                    elmo_errmsg());
        FUZZ_ASSERT(strncmp(elmo_errmsg(), "fuzz.yaml:", 10) == 0,
                    "message without NAME:LINE:COLUMN: %s", elmo_errmsg());
        FUZZ_ASSERT(job.yaml_text == NULL, "a failed load keeps its text");
        return 0;
    }
    char *yaml = elmo_job_to_yaml(&job);
    struct elmo_job back;
    memset(&back, 0, sizeof back);
    FUZZ_ASSERT(elmo_job_load_string(&back, yaml, strlen(yaml), "fuzz.yaml") == 0,
                "the written job does not load: %s\n%s", elmo_errmsg(), yaml);
    FUZZ_ASSERT(back.kind == job.kind, "kind %d vs %d", back.kind, job.kind);
    char *again = elmo_job_to_yaml(&back);
    FUZZ_ASSERT(strcmp(yaml, again) == 0, "the round trip changed the job:\n%s\n---\n%s", yaml,
                again);
    free(again);
    free(yaml);
    elmo_job_free(&back);
    elmo_job_free(&job);
    return 0;
}
