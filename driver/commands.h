/*
 * commands.h: the subcommands of `elmo`.  Each elmo_cmd_* takes the arguments after the
 * command name (argv[0] is the command name) and returns a process exit code
 * (see README "Exit codes").  Commands marked collective run on every rank of MPI_COMM_WORLD.
 */
#ifndef ELMO_COMMANDS_H
#define ELMO_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "io/job.h"

/*
 * One command of `elmo` (driver/commands.c holds the table).  A job command runs a job of its
 * kind (elmo_cmd_job, then `job`); the others (run and the tools) run `tool`.
 */
struct elmo_command {
    const char *name;    /* run only: every other command is named by its key set */
    int keys;            /* its key set (enum elmo_job_kind: a job kind or a tool); -1: none */
    const char *args;    /* shown after the name in `elmo --help` ("JOB.yaml"), or NULL */
    const char *summary; /* its line in `elmo --help` */
    const char *usage;   /* run and tools: the text of --help before the flags */
    int (*tool)(int argc, char **argv); /* argv[0] is the command name; returns an exit code */
    int (*job)(struct elmo_job *job);   /* a job kind: runs a validated job; a status code */
    bool polls;                         /* stops cleanly on SIGINT/SIGTERM/SIGUSR1 (exit 3) */
};

/* The command of this name, or of this key set (job kind or tool); NULL when there is none. */
const struct elmo_command *elmo_command_find(const char *name);
const struct elmo_command *elmo_command_of_kind(enum elmo_job_kind kind);
const char *elmo_command_name(const struct elmo_command *c);

void elmo_commands_usage(FILE *f);                             /* `elmo --help` */
void elmo_command_help(const struct elmo_command *c, FILE *f); /* `elmo CMD --help` */

/* Runs a command after MPI is up: its help when an argument is --help or -h, else the command.
   argv[0] is the command name.  Returns an exit code. */
int elmo_command_main(const struct elmo_command *c, int argc, char **argv);

/*
 * Parses a tool's flags (argv[1..]; argv[0] is the command name) through the key table into
 * opts, defaults of key set `keys` first.  positional (room for argc entries) receives the
 * other arguments in order; NULL: the tool takes none, and one is an error.  Returns 0, or
 * ELMO_EXIT_USAGE after rank 0 printed the error.  Not collective.
 */
int elmo_tool_flags(enum elmo_job_kind keys, int argc, char **argv, struct elmo_job *opts,
                    char **positional, int *n_positional);

/* Runs a loaded job of any kind.  Collective.  Returns a status code. */
int elmo_job_run(struct elmo_job *job);

int elmo_cmd_run(int argc, char **argv);       /* elmo run JOB.yaml [--flag overrides] */
int elmo_cmd_job(enum elmo_job_kind kind, int argc, char **argv); /* elmo embed|annotate|... */
int elmo_cmd_export(int argc, char **argv);    /* elmo export --format allennlp STORE OUT */
int elmo_cmd_info(int argc, char **argv);      /* elmo info STORE */
int elmo_cmd_merge(int argc, char **argv);     /* elmo merge --output OUT IN0 IN1 ...; collective */
int elmo_cmd_model(int argc, char **argv);     /* elmo model synth --shape S --seed N --out DIR */
int elmo_cmd_bench(int argc, char **argv);     /* elmo bench [--shape S] [--input F] */
int elmo_cmd_cache(int argc, char **argv);     /* elmo cache [--prune] */

/* Job kinds implemented in their own files; each returns a status code.  Collective. */
int elmo_embed_run(struct elmo_job *job);
int elmo_pretrain_run(struct elmo_job *job); /* biLM pretraining; driver/cmd_pretrain.c */
int elmo_train_ner_run(struct elmo_job *job); /* driver/cmd_train_ner.c */
int elmo_eval_ner_run(struct elmo_job *job);  /* driver/cmd_eval_ner.c */
int elmo_annotate_run(struct elmo_job *job);  /* driver/cmd_annotate.c */
int elmo_wsd_run(struct elmo_job *job); /* rank 0 works; the other ranks return 0 at once */

#endif /* ELMO_COMMANDS_H */
