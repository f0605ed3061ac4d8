/*
 * job.h: a job, as read from a YAML file (`elmo run JOB.yaml`) or from command-line flags
 * (`elmo embed --options F ...`).  A YAML key and its flag share one name: key `input_format`
 * is flag `--input-format` (underscores become dashes).  Every key, its type, range, default
 * and help text live in one table (io/job.c), which the YAML loader, the flag parser and
 * `elmo COMMAND --help` all read.
 */
#ifndef ELMO_JOB_H
#define ELMO_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/outputs.h"

/*
 * The key sets of the key table: first the job kinds (a job file's `kind:`, the commands that
 * run a job), then the flags of the commands that are not jobs (tools).  Every one is named in
 * one list (io/job.c, elmo_job_kind_name), which the command table (driver/commands.c) and
 * every message use.
 */
enum elmo_job_kind {
    ELMO_JOB_EMBED = 0,
    ELMO_JOB_ANNOTATE,
    ELMO_JOB_TRAIN_NER,
    ELMO_JOB_EVAL_NER,
    ELMO_JOB_WSD,
    ELMO_JOB_PRETRAIN,
    ELMO_JOB__COUNT, /* the job kinds end here; the tools' key sets follow */
    ELMO_TOOL_BENCH = ELMO_JOB__COUNT,
    ELMO_TOOL_MODEL,
    ELMO_TOOL_MERGE,
    ELMO_TOOL_EXPORT,
    ELMO_TOOL_INFO,
    ELMO_TOOL_CACHE,
    ELMO_KIND__COUNT
};

/* AUTO: not given; the job detects it from the input's name or first bytes (never conll). */
enum elmo_input_format { ELMO_INPUT_TEXT = 0, ELMO_INPUT_CONLL, ELMO_INPUT_JSONL, ELMO_INPUT_AUTO };
enum elmo_precision { ELMO_PREC_F32 = 0, ELMO_PREC_F16 };
enum elmo_long_policy { ELMO_LONG_SPLIT = 0, ELMO_LONG_TRUNCATE };

#define ELMO_PATH_MAX 4096

struct elmo_job {
    enum elmo_job_kind kind;
    char source[ELMO_PATH_MAX];      /* the YAML path, or "<command line>" */
    char *yaml_text;                 /* the job as run (YAML text, owned), for store attributes */

    /* model */
    char options[ELMO_PATH_MAX];     /* options.json path */
    char weights[ELMO_PATH_MAX];     /* weight HDF5 path */
    char model[ELMO_PATH_MAX];       /* shorthand dir: DIR/options.json + DIR/weights.hdf5 */
    char model_source[64];           /* "" when given; "default, WHERE" for a shipped model */

    /* input */
    char input[ELMO_PATH_MAX];       /* "-" = stdin; several paths or globs: one per line */
    enum elmo_input_format input_format;
    char text_field[128];            /* jsonl: field with untokenized text (default "text") */
    char tokens_field[128];          /* jsonl: field with a token array (default "", unused) */
    char id_field[128];              /* jsonl: field with the record id (default "id") */

    /* output */
    char output[ELMO_PATH_MAX];
    unsigned outputs;                /* elmo_output_bits; default word_emb|lstm1|lstm2|elmo|default */
    enum elmo_precision precision;   /* f32 (default) or f16 (storage only) */
    int compress;                    /* deflate level 0..9, 0 = none (default) */
    char reject_file[ELMO_PATH_MAX]; /* default: OUTPUT.rejects.tsv */
    float max_reject_fraction;       /* above this share of rejected records the job fails */
    bool overwrite;                  /* redo a complete output (default: say so and stop) */
    bool keep_nonfinite;             /* embed: write inf/nan (counted) instead of failing */

    /* forward pass */
    int streams;                     /* 0 = stateless (default), S > 0 = stateful streams */
    int batch_tokens;                /* token budget per batch (default 4096) */
    int max_sentence_tokens;         /* cap per sentence (default 1000) */
    enum elmo_long_policy long_sentences; /* split (default) or truncate */
    int threads;                     /* BLAS threads per rank (default 1) */
    int shard_tokens;                /* target tokens per shard (default 20000) */
    char slice[32];                  /* "K/N": only the K-th of N groups of shards ("" = all) */
    float mix_weights[8];            /* `elmo` pre-softmax layer weights (default 0) */
    int n_mix_weights;               /* how many were given (0 = default) */
    float gamma;                     /* `elmo` scale (default 1) */
    bool layer_norm;                 /* layer norm in the mix (default false) */
    bool cache;                      /* word-type cache of token vectors (default true) */
    bool dedup;                      /* stateless: equal sentences computed once (default true) */
    int dedup_mib;                   /* the sentence cache's budget per rank, MiB (default 64) */
    bool progress;                   /* progress on stderr (default true) */

    /* NER / wsd / pretrain keys are added by their issues. */
    char tagger[ELMO_PATH_MAX];
    char train[ELMO_PATH_MAX];
    char dev[ELMO_PATH_MAX];
    char test[ELMO_PATH_MAX];
    char out[ELMO_PATH_MAX];
    char format[32];                 /* output format: jsonl|conll (annotate), allennlp (export) */
    char keep_fields[512];           /* annotate: input fields copied to the output, "a,b,c" */
    int epochs;
    uint64_t seed;

    /* wsd: the word-sense picture */
    char word[128];                  /* the target word (default "work") */
    char sentences[ELMO_PATH_MAX];   /* sentences holding it (empty: the tutorial's five) */
    char senses[ELMO_PATH_MAX];      /* one sense label per sentence (empty: none) */
    char store[ELMO_PATH_MAX];       /* an embedding store to read instead of sentences */
    bool match_forms;                /* also match -s/-es/-ed/-ing/-d forms (default true) */
    int max_points;                  /* at most this many occurrences drawn (default 500) */
    /* NER: train-ner, eval-ner, annotate */
    char features[16];               /* tagger input: elmo (default) | glove | elmo+glove */
    char glove[ELMO_PATH_MAX];       /* GloVe text vectors (features glove) */
    float lr;                        /* Adam learning rate of the first epoch (0.005) */
    float lr_decay;                  /* factor per epoch (1/sqrt 2) */
    int batch_size;                  /* sentences per step (32) */
    int hidden;                      /* BiLSTM units per direction (256) */
    float dropout_keep;              /* keep probability on the BiLSTM input and output (0.7) */
    float clip;                      /* per-tensor gradient norm clip (1.0; 0 = none) */
    bool mask_urls_users;            /* <URL>/<USR> replacement before the features (true) */
    char ner_output[16];             /* the tagger's output layer: softmax (default) | crf */
    bool ortho;                      /* orthographic inputs after the mix (false) */
    int patience;                    /* stop after N epochs without a better dev F1 (0: never) */
    /* pretrain: biLM pretraining; also uses options, train, dev, out, epochs, seed,
     * lr, batch_size, clip, batch_tokens, max_sentence_tokens, long_sentences */
    char corpus[ELMO_PATH_MAX];      /* training text, one sentence per line (plain or .gz) */
    int vocab_size;                  /* softmax rows with <S>, </S>, <UNK> (20000) */
    float heldout_fraction;          /* sentences held out when dev is empty (0.05) */
    int unroll_steps;                /* positions per window, truncated BPTT (20) */
    char optimizer[16];              /* adagrad (default) | adam */
    float dropout;                   /* drop probability of the LSTM inputs and output (0.1) */
    char softmax[16];                /* auto (default) | full | sampled */
    int n_negative_samples;          /* sampled softmax candidates per step (4096) */
    int checkpoint_steps;            /* also checkpoint every N steps (0 = after each epoch) */
    bool resume;                     /* continue from OUT/checkpoint.h5 when present (true) */
    int max_steps;                   /* stop after this many steps in all (0 = no limit) */
    /* tools: bench and model (also seed, threads, batch_tokens, cache, input, options, out),
     * info; merge and export use output and format */
    char shape[32];                  /* a published model shape (model/bilm.h presets) */
    uint64_t tokens;                 /* bench: stop after this many tokens (0 = all) */
    bool check;                      /* info: exit 0 only for a complete, valid store */
    bool prune;                      /* cache: remove the packed copies no job can use */
};

/* Fills a job with the defaults of its kind.  Not collective. */
void elmo_job_default(struct elmo_job *job, enum elmo_job_kind kind);

/*
 * Loads a YAML job file.  The top-level mapping must hold `kind:` and keys of that kind only.
 * Unknown keys, wrong types and out-of-range values fail with ELMO_ERR_YAML and a message
 * "FILE:LINE:COLUMN: cause".  Fills *job (defaults first).  Free with elmo_job_free().
 */
int elmo_job_load(struct elmo_job *job, const char *path);

/* Same, from a string (for tests and stdin); name is used in messages. */
int elmo_job_load_string(struct elmo_job *job, const char *text, size_t len, const char *name);

/*
 * Parses flags `--key value` / `--key=value` / `--flag` / `--no-flag` for a job of the given
 * kind (defaults first, then elmo_job_apply_args), starting at argv[0].  Unknown flags and bad
 * values fail with ELMO_ERR_ARG naming the flag.  Positional arguments are returned in
 * positional (at most max_positional).
 */
int elmo_job_parse_args(struct elmo_job *job, enum elmo_job_kind kind, int argc, char **argv,
                        char **positional, int max_positional, int *n_positional);

/*
 * Applies flags (same syntax as elmo_job_parse_args) on top of an existing job, e.g. one loaded
 * from YAML: keys not named keep their values.  `--model DIR` clears options and weights unless
 * they are given in the same call.  The job's kind decides which flags exist.
 */
int elmo_job_apply_args(struct elmo_job *job, int argc, char **argv, char **positional,
                        int max_positional, int *n_positional);

/* Checks cross-key rules after loading (e.g. input and output given); names the key. */
int elmo_job_validate(const struct elmo_job *job);

/* Checks on the file system (every rank, before any work): each file the job writes has an
   existing directory; the error names the job source, the key, the directory and the path.
   (train-ner's `out` is a run directory that the job creates.) */
int elmo_job_check_out_dirs(const struct elmo_job *job);

/* Whether the job runs a biLM named by options/weights/model (embed, wsd without a store,
 * train-ner with ELMo features): those kinds fall back to the shipped default biLM. */
bool elmo_job_runs_bilm(const struct elmo_job *job);

/*
 * Resolves `model: DIR` into options/weights when those are empty, a `tagger` that is a
 * directory into DIR/tagger.h5, and an empty reject_file into OUTPUT.rejects.tsv (annotate
 * without output: OUT.rejects.tsv).
 */
void elmo_job_resolve_model(struct elmo_job *job);

/* Prints `elmo KIND --help` of a job kind: its usage, then elmo_job_print_flags. */
void elmo_job_print_help(FILE *f, enum elmo_job_kind kind, const char *prog);

/* Prints every key of a key set (job kind or tool) as a flag with type, default and help. */
void elmo_job_print_flags(FILE *f, enum elmo_job_kind kind);

/* Writes the job as YAML (the job as run; every key of its kind). Returns an owned string. */
char *elmo_job_to_yaml(const struct elmo_job *job);

void elmo_job_free(struct elmo_job *job);

/* The name of a job kind or a tool's key set ("train-ner", "merge"); "unknown" past the end. */
const char *elmo_job_kind_name(enum elmo_job_kind kind);

/* A job kind from its name (tools are no job kinds); ELMO_ERR_ARG with "did you mean". */
int elmo_job_kind_parse(const char *name, enum elmo_job_kind *kind);

/* The job kinds as text, "embed, annotate, ... and pretrain" with `last` ("and", "or"). */
void elmo_job_kinds_text(const char *last, char *out, size_t n);

/* Parses an `outputs` value ("all", "top", "average", or a comma list); 0 or ELMO_ERR_ARG. */
int elmo_outputs_parse(const char *text, unsigned *bits);

#endif /* ELMO_JOB_H */
