/*
 * cmd_run.c: `elmo run JOB.yaml` and `elmo KIND --flags`: load a job, then run it by kind
 * (the command table maps a kind to its run function).  `elmo CMD --help` is answered before.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/hash_cache.h"
#include "io/sha256.h"
#include "model/status.h"

/*
 * Rank 0 says which model the job runs (on stderr: stdout may carry the job's output), with
 * the sha256 prefix of a shipped default (a given model's hash is in the job's own records).
 */
static void say_model(const struct elmo_job *job) {
    if (elmo_rank() != 0) return;
    bool tagger = job->kind == ELMO_JOB_ANNOTATE || job->kind == ELMO_JOB_EVAL_NER;
    bool bilm = elmo_job_runs_bilm(job);
    if (!tagger && !bilm) return;
    const char *path = tagger ? job->tagger : job->weights;
    char sha[65] = "";
    if (job->model_source[0] && elmo_file_sha256_cached(path, sha) != 0) sha[0] = '\0';
    if (tagger)
        fprintf(stderr, "elmo %s: tagger %s%s%s%s%.12s%s\n", elmo_job_kind_name(job->kind), path,
                job->model_source[0] ? " (" : "", job->model_source, sha[0] ? "; sha256 " : "", sha,
                job->model_source[0] ? ")" : "");
    else
        fprintf(stderr, "elmo %s: model %s + %s%s%s%s%.12s%s\n", elmo_job_kind_name(job->kind),
                job->options, job->weights, job->model_source[0] ? " (" : "", job->model_source,
                sha[0] ? "; sha256 " : "", sha, job->model_source[0] ? ")" : "");
}

int elmo_job_run(struct elmo_job *job) {
    say_model(job);
    const struct elmo_command *c = elmo_command_of_kind(job->kind);
    if (!c || !c->job) return elmo_error(ELMO_ERR_ARG, "unknown job kind %d", (int)job->kind);
    return c->job(job);
}

/*
 * Whether a flag of run's arguments stands alone, taking no value: `--name=value`, or a switch
 * (`--overwrite`, `--no-progress`).  The job's kind is known only once its file is read, so a
 * flag counts as a switch when some kind accepts it without a value.
 */
static bool flag_stands_alone(char *arg) {
    if (strchr(arg, '=')) return true;
    struct elmo_job probe;
    bool alone = false;
    for (int kind = 0; kind < ELMO_JOB__COUNT && !alone; kind++) {
        int npos = 0;
        alone = elmo_job_parse_args(&probe, (enum elmo_job_kind)kind, 1, &arg, NULL, 0, &npos) == 0;
        elmo_job_free(&probe);
    }
    elmo_error_clear();
    return alone;
}

/*
 * The index of the job file among run's arguments: the first that is neither a flag nor the
 * value of the flag before it (a flag's value is the next argument unless that starts with
 * --, as elmo_job_apply_args reads it), so flags may come before or after the file.  0 when
 * every argument is a flag or a value.
 */
static int job_file_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) return i + 1 < argc ? i + 1 : 0;
        if (strncmp(argv[i], "--", 2) != 0) return i;
        if (!flag_stands_alone(argv[i]) && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            i++; /* its value */
    }
    return 0;
}

int elmo_cmd_run(int argc, char **argv) {
    int at = argc >= 2 ? job_file_arg(argc, argv) : 0;
    if (at == 0) {
        if (elmo_rank() == 0) elmo_command_help(elmo_command_find("run"), stderr);
        return ELMO_EXIT_USAGE;
    }
    struct elmo_job job;
    int rc = elmo_job_load(&job, argv[at]);
    if (rc == 0 && argc > 2) {
        /* Overrides: the flags around the file, in order, change only the keys they name. */
        char **flags = elmo_xcalloc((size_t)argc, sizeof *flags);
        int nflags = 0, npos = 0;
        for (int i = 1; i < argc; i++)
            if (i != at && !(i == at - 1 && !strcmp(argv[i], "--"))) flags[nflags++] = argv[i];
        rc = elmo_job_apply_args(&job, nflags, flags, NULL, 0, &npos);
        free(flags);
    }
    if (rc == 0) {
        elmo_job_resolve_model(&job);
        rc = elmo_job_validate(&job);
    }
    if (rc == 0) rc = elmo_job_check_out_dirs(&job);
    if (rc == 0) rc = elmo_job_run(&job);
    elmo_job_free(&job);
    return elmo_finish(rc);
}

int elmo_cmd_job(enum elmo_job_kind kind, int argc, char **argv) {
    struct elmo_job job;
    int npos = 0;
    int rc = elmo_job_parse_args(&job, kind, argc - 1, argv + 1, NULL, 0, &npos);
    if (rc == 0) {
        elmo_job_resolve_model(&job);
        rc = elmo_job_validate(&job);
    }
    if (rc == 0) rc = elmo_job_check_out_dirs(&job);
    if (rc == 0) rc = elmo_job_run(&job);
    elmo_job_free(&job);
    return elmo_finish(rc);
}
