/*
 * commands.c: the table of `elmo`'s commands.  Dispatch (main.c), the `elmo --help` listing,
 * `elmo CMD --help`, the stop-flag polling and the job kind -> run function mapping of
 * `elmo run` all read it.  A command is named by its key set (io/job.c holds the one list of
 * kind names and the key table every command's flags are parsed through); only `run`, which
 * has no key set, carries a name of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "model/status.h"

/* The listing of `elmo --help` follows the table's order.  The table is aligned by hand. */
/* clang-format off */
static const struct elmo_command commands[] = {
    {.name = "run", .keys = -1, .args = "JOB.yaml", .tool = elmo_cmd_run, .polls = true,
     .summary = "run a job file; flags before or after the file override its keys",
     .usage = "usage: elmo run [--key value ...] JOB.yaml [--key value ...]\n"
              "  Runs a job file; its `kind:` key picks the job.\n"
              "  Flags before or after the file override the file's keys (elmo KIND --help "
              "lists them).\n"},
    {.keys = ELMO_JOB_EMBED, .job = elmo_embed_run, .polls = true,
     .summary = "embed a corpus into an HDF5 store"},
    {.keys = ELMO_TOOL_EXPORT, .tool = elmo_cmd_export, .polls = true,
     .summary = "convert a store: export --format allennlp STORE OUT.hdf5",
     .usage = "usage: elmo export --format allennlp STORE.h5 OUT.hdf5\n"
              "  Writes the layout of `allennlp elmo`: float32 datasets \"0\"..\"N-1\" of shape "
              "(3, n, 2P)\n  when the store has the three layers (word_emb, lstm_outputs1, "
              "lstm_outputs2: the\n  default outputs) or `all`, else (n, 2P) from `top` or "
              "`average`, plus\n  \"sentence_to_index\" (JSON {sentence: \"index\"}).  The store "
              "must be complete and valid.\n  OUT is written as OUT.partial and renamed when "
              "whole: an existing OUT survives\n  any failure or signal (exit 3).  OUT must be a "
              "regular file, not the store.\n"},
    {.keys = ELMO_TOOL_INFO, .tool = elmo_cmd_info, .polls = false,
     .summary = "summarise a store: info STORE.h5",
     .usage = "usage: elmo info [--check] STORE.h5\n"
              "  Prints a store's complete flag, counts, outputs with their shapes, precision,\n"
              "  state regime, weights sha256 and the version that wrote it; when STORE.journal\n"
              "  exists, the progress of the run writing it (K of M shards done).  The store is\n"
              "  validated (counts, offsets, shapes) before anything is printed.\n"
              "  Exit 0 when it is a store (complete or not) or a run in progress, 1 otherwise.\n"},
    {.keys = ELMO_TOOL_MERGE, .tool = elmo_cmd_merge, .polls = true,
     .summary = "join slice stores in order: merge --output OUT.h5 IN0.h5 ...",
     .usage = "usage: [mpirun -n N] elmo merge --output OUT.h5 SLICE0.h5 SLICE1.h5 ...\n"
              "  Joins the stores of `elmo embed --slice k/N` (k = 0..N-1, given in that order,\n"
              "  each once, all of one input) into the store of a single run.  The slices must\n"
              "  be complete and valid and share outputs, P, precision, weights, options and mix\n"
              "  settings.  OUT is written as OUT.partial and renamed when complete; an existing\n"
              "  OUT survives any failure or signal (exit 3).  OUT must be a regular file (or\n"
              "  absent) and none of the inputs.\n"},
    {.keys = ELMO_TOOL_MODEL, .args = "synth", .tool = elmo_cmd_model, .polls = false,
     .summary = "write a model of a published shape with seeded random weights",
     .usage = "usage: elmo model synth (--shape small|medium|original|fixture | --options F)\n"
              "                        [--seed N] --out DIR\n"
              "  Writes DIR/options.json and DIR/weights.hdf5: a model of that shape with seeded\n"
              "  uniform random weights (same seed, same bytes), in the official file layout.\n"},
    {.keys = ELMO_TOOL_BENCH, .tool = elmo_cmd_bench, .polls = false,
     .summary = "measure tokens/s on synthetic models",
     .usage = "usage: [mpiexec -n N] elmo bench [--shape small|medium|original|fixture]\n"
              "                  [--input FILE] [--tokens N] [--threads N] [--batch-tokens N]\n"
              "                  [--no-cache] [--seed N]\n"
              "  Speed of the stateless forward pass with seeded random weights of a published\n"
              "  shape, on a corpus, batched as the embed job does.\n"},
    {.keys = ELMO_TOOL_CACHE, .tool = elmo_cmd_cache, .polls = false,
     .summary = "list elmo's cache of packed weights; --prune removes the unusable ones",
     .usage = "usage: elmo cache [--prune]\n"
              "  Lists the packed copies of weight files kept in $ELMO_CACHE_DIR (default\n"
              "  ${XDG_CACHE_HOME:-~/.cache}/elmo): size, state and weight file.  A copy is live\n"
              "  while its weight file is unchanged; stale when the file changed since, orphan\n"
              "  when it is gone, damaged when its header is.  --prune removes the copies that\n"
              "  are not live (and files left by an interrupted write); jobs remake what they\n"
              "  need.  Nothing else in the directory is touched.\n"},
    {.keys = ELMO_JOB_TRAIN_NER, .job = elmo_train_ner_run, .polls = true,
     .summary = "train the BiLSTM NER tagger on ELMo features"},
    {.keys = ELMO_JOB_EVAL_NER, .job = elmo_eval_ner_run, .polls = true,
     .summary = "evaluate a tagger like conlleval"},
    {.keys = ELMO_JOB_ANNOTATE, .job = elmo_annotate_run, .polls = true,
     .summary = "tag tweet archives into JSONL spans or CoNLL"},
    {.keys = ELMO_JOB_WSD, .job = elmo_wsd_run, .polls = true,
     .summary = "the word-sense picture: PCA of a word's vectors per layer"},
    {.keys = ELMO_JOB_PRETRAIN, .job = elmo_pretrain_run, .polls = true,
     .summary = "train a biLM from scratch on a corpus"},
};
/* clang-format on */

#define N_COMMANDS (sizeof commands / sizeof commands[0])

const char *elmo_command_name(const struct elmo_command *c) {
    return c->keys < 0 ? c->name : elmo_job_kind_name((enum elmo_job_kind)c->keys);
}

const struct elmo_command *elmo_command_find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, elmo_command_name(&commands[i]))) return &commands[i];
    return NULL;
}

const struct elmo_command *elmo_command_of_kind(enum elmo_job_kind kind) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].keys == (int)kind) return &commands[i];
    return NULL;
}

void elmo_commands_usage(FILE *f) {
    char kinds[128];
    elmo_job_kinds_text("or", kinds, sizeof kinds);
    fprintf(f,
            "elmo %s: ELMo contextual word embeddings and Twitter NER, in C, at cluster scale\n"
            "\n"
            "usage: [mpirun -n N] elmo COMMAND [ARGS]\n"
            "\n"
            "commands:\n",
            ELMO_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct elmo_command *c = &commands[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", elmo_command_name(c), c->args ? " " : "",
                 c->args ? c->args : "");
        fprintf(f, "  %-18s %s\n", left, c->summary);
    }
    fprintf(f,
            "\n"
            "  Job kinds (a job file's `kind:`; elmo KIND --flags runs one without a file):\n"
            "    %s.\n"
            "  elmo COMMAND --help lists a command's flags; a flag --some-key is YAML key "
            "some_key.\n"
            "  elmo --version prints the version.\n",
            kinds);
}

void elmo_command_help(const struct elmo_command *c, FILE *f) {
    if (c->keys >= 0 && c->keys < ELMO_JOB__COUNT) {
        elmo_job_print_help(f, (enum elmo_job_kind)c->keys, "elmo");
        return;
    }
    fputs(c->usage, f);
    if (c->keys < 0) {
        char kinds[128];
        elmo_job_kinds_text("or", kinds, sizeof kinds);
        fprintf(f, "  Job kinds: %s.\n", kinds);
        return;
    }
    fprintf(f, "\nFlags of elmo %s:\n\n", elmo_command_name(c));
    elmo_job_print_flags(f, (enum elmo_job_kind)c->keys);
}

static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

int elmo_command_main(const struct elmo_command *c, int argc, char **argv) {
    if (wants_help(argc, argv)) {
        if (elmo_rank() == 0) elmo_command_help(c, stdout);
        return ELMO_EXIT_OK;
    }
    if (c->tool) return c->tool(argc, argv);
    return elmo_cmd_job((enum elmo_job_kind)c->keys, argc, argv);
}

int elmo_tool_flags(enum elmo_job_kind keys, int argc, char **argv, struct elmo_job *opts,
                    char **positional, int *n_positional) {
    int rc = elmo_job_parse_args(opts, keys, argc - 1, argv + 1, positional, positional ? argc : 0,
                                 n_positional);
    elmo_job_free(opts); /* flags own no memory; the settings stay readable */
    if (rc == 0) return 0;
    if (elmo_rank() == 0) fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    return ELMO_EXIT_USAGE;
}
