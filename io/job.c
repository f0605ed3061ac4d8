/* job.c: placeholder; the YAML/flag job loader replaces this file. */
#include "io/job.h"

#include <stdlib.h>
#include <string.h>

#include "model/status.h"

void elmo_job_default(struct elmo_job *job, enum elmo_job_kind kind) {
    memset(job, 0, sizeof *job);
    job->kind = kind;
}
int elmo_job_load(struct elmo_job *job, const char *path) {
    elmo_job_default(job, ELMO_JOB_EMBED);
    return elmo_error(ELMO_ERR_NOTIMPL, "%s: job files are not supported yet", path);
}
int elmo_job_parse_args(struct elmo_job *job, enum elmo_job_kind kind, int argc, char **argv,
                        char **positional, int max_positional, int *n_positional) {
    elmo_job_default(job, kind);
    return elmo_error(ELMO_ERR_NOTIMPL, "flags are not supported yet");
}
int elmo_job_validate(const struct elmo_job *job) { return 0; }
void elmo_job_resolve_model(struct elmo_job *job) {}
void elmo_job_print_help(enum elmo_job_kind kind, const char *prog) {}
void elmo_job_free(struct elmo_job *job) { free(job->yaml_text); job->yaml_text = NULL; }
const char *elmo_job_kind_name(enum elmo_job_kind kind) { return "job"; }
