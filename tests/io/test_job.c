/*
 * test_job.c: the job system: defaults, every key type from YAML and from flags, the exact
 * FILE:LINE:COLUMN of every kind of YAML error, flags on top of a loaded job, outputs lists,
 * validation, the YAML round trip, every job file in the repository's jobs/, and the flags of
 * the commands that are not jobs (tools), parsed through the same table.
 */
#include "io/job.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/status.h"
#include "tests/check.h"

static int load(struct elmo_job *job, const char *text) {
    return elmo_job_load_string(job, text, strlen(text), "t.yaml");
}

/* Loading text fails with ELMO_ERR_YAML and exactly the message want. */
#define CHECK_YAML_ERROR(text, want)                      \
    do {                                                  \
        struct elmo_job bad_;                             \
        CHECK_INT_EQ(load(&bad_, (text)), ELMO_ERR_YAML); \
        CHECK_STR_EQ(elmo_errmsg(), (want));              \
        CHECK(bad_.yaml_text == NULL);                    \
        elmo_job_free(&bad_);                             \
    } while (0)

/* Loading text fails with ELMO_ERR_YAML; the message starts with prefix and holds part. */
#define CHECK_YAML_ERROR_AT(text, prefix, part)                                      \
    do {                                                                             \
        struct elmo_job bad_;                                                        \
        CHECK_INT_EQ(load(&bad_, (text)), ELMO_ERR_YAML);                            \
        const char *msg_ = elmo_errmsg();                                            \
        CHECK(strncmp(msg_, (prefix), strlen(prefix)) == 0 && strstr(msg_, (part))); \
        if (strncmp(msg_, (prefix), strlen(prefix)) != 0 || !strstr(msg_, (part)))   \
            fprintf(stderr, "    message: %s\n", msg_);                              \
        elmo_job_free(&bad_);                                                        \
    } while (0)

/* Parsing flags for kind fails with ELMO_ERR_ARG and exactly the message want. */
#define CHECK_ARGS_ERROR(kind, want, ...)                                                      \
    do {                                                                                       \
        char *argv_[] = {__VA_ARGS__};                                                         \
        struct elmo_job bad_;                                                                  \
        int n_ = 0;                                                                            \
        CHECK_INT_EQ(elmo_job_parse_args(&bad_, (kind), (int)(sizeof argv_ / sizeof argv_[0]), \
                                         argv_, NULL, 0, &n_),                                 \
                     ELMO_ERR_ARG);                                                            \
        CHECK_STR_EQ(elmo_errmsg(), (want));                                                   \
        elmo_job_free(&bad_);                                                                  \
    } while (0)

static void test_defaults(void) {
    struct elmo_job job;
    elmo_job_default(&job, ELMO_JOB_EMBED);
    CHECK_INT_EQ(job.kind, ELMO_JOB_EMBED);
    CHECK_INT_EQ(job.batch_tokens, 4096);
    CHECK_INT_EQ(job.max_sentence_tokens, 1000);
    CHECK_INT_EQ(job.threads, 1);
    CHECK_INT_EQ(job.shard_tokens, 20000);
    CHECK_INT_EQ(job.streams, 0);
    CHECK_INT_EQ(job.compress, 0);
    CHECK_INT_EQ(job.precision, ELMO_PREC_F32);
    CHECK_INT_EQ(job.input_format, ELMO_INPUT_AUTO); /* detected unless given */
    CHECK_INT_EQ(job.long_sentences, ELMO_LONG_SPLIT);
    /* the three layers (elmo is rebuilt from them by a reader) and the sentence vectors */
    CHECK_INT_EQ(job.outputs, ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2 |
                                  ELMO_OUT_DEFAULT);
    CHECK_NEAR(job.gamma, 1.0, 0);
    CHECK_INT_EQ(job.n_mix_weights, 0);
    CHECK(!job.layer_norm);
    CHECK(job.cache);
    CHECK(job.dedup);
    CHECK_INT_EQ(job.dedup_mib, 64);
    CHECK(job.progress);
    CHECK_STR_EQ(job.text_field, "text");
    CHECK_STR_EQ(job.tokens_field, "");
    CHECK_STR_EQ(job.id_field, "id");
    CHECK_STR_EQ(job.input, "");
    CHECK(job.yaml_text == NULL);

    elmo_job_default(&job, ELMO_JOB_TRAIN_NER);
    CHECK_INT_EQ(job.epochs, 6);
    CHECK_INT_EQ(job.seed, 1);
    CHECK_INT_EQ(job.threads, 1);
    elmo_job_default(&job, ELMO_JOB_PRETRAIN);
    CHECK_INT_EQ(job.epochs, 6);
    CHECK_INT_EQ(job.seed, 1);
    elmo_job_default(&job, ELMO_JOB_ANNOTATE);
    CHECK_STR_EQ(job.format, "jsonl");
    CHECK_INT_EQ(job.batch_tokens, 4096);
}

static void test_kinds(void) {
    const char *names[] = {"embed", "annotate", "train-ner", "eval-ner", "wsd", "pretrain"};
    for (int k = 0; k < ELMO_JOB__COUNT; k++) {
        enum elmo_job_kind kind = ELMO_JOB__COUNT;
        CHECK_STR_EQ(elmo_job_kind_name((enum elmo_job_kind)k), names[k]);
        CHECK_OK(elmo_job_kind_parse(names[k], &kind));
        CHECK_INT_EQ(kind, k);
    }
    enum elmo_job_kind kind;
    CHECK_INT_EQ(elmo_job_kind_parse("train_ner", &kind), ELMO_ERR_ARG);
    CHECK_STR_EQ(elmo_errmsg(), "unknown job kind 'train_ner' (did you mean 'train-ner'?)");
    CHECK_INT_EQ(elmo_job_kind_parse("xyzzy", &kind), ELMO_ERR_ARG);
    CHECK_STR_EQ(elmo_errmsg(), "unknown job kind 'xyzzy' (expected embed, annotate, train-ner, "
                                "eval-ner, wsd or pretrain)");
    /* the tools' key sets are named in the same list, but are no job kinds */
    CHECK_STR_EQ(elmo_job_kind_name(ELMO_TOOL_MERGE), "merge");
    CHECK_STR_EQ(elmo_job_kind_name(ELMO_KIND__COUNT), "unknown");
    CHECK_INT_EQ(elmo_job_kind_parse("merge", &kind), ELMO_ERR_ARG);
    CHECK_YAML_ERROR("kind: bench\n", "t.yaml:1:7: unknown job kind 'bench' (expected embed, "
                                      "annotate, train-ner, eval-ner, wsd or pretrain)");
    char text[128];
    elmo_job_kinds_text("and", text, sizeof text);
    CHECK_STR_EQ(text, "embed, annotate, train-ner, eval-ner, wsd and pretrain");
}

/* The flags of the commands that are not jobs go through the same key table. */
static void test_tool_flags(void) {
    struct elmo_job t;
    int n = 0;
    char *bargv[] = {"--shape=fixture", "--tokens", "500", "--no-cache", "--seed", "7"};
    CHECK_OK(elmo_job_parse_args(&t, ELMO_TOOL_BENCH, 6, bargv, NULL, 0, &n));
    CHECK_STR_EQ(t.shape, "fixture");
    CHECK(t.tokens == 500 && t.seed == 7 && !t.cache);
    CHECK_INT_EQ(t.threads, 1);
    CHECK_INT_EQ(t.batch_tokens, 4096);
    CHECK_STR_EQ(t.input, "");
    elmo_job_free(&t);
    CHECK_ARGS_ERROR(ELMO_TOOL_BENCH, "--tokens must be in 0..1099511627776, got 1099511627777",
                     "--tokens", "1099511627777");
    CHECK_ARGS_ERROR(ELMO_TOOL_BENCH, "--threads must be in 1..64, got 65", "--threads", "65");
    CHECK_ARGS_ERROR(ELMO_TOOL_BENCH, "unknown flag --tokenz for elmo bench (did you mean "
                                      "--tokens?)", "--tokenz", "3");
    CHECK_ARGS_ERROR(ELMO_TOOL_MERGE, "--format is not a flag of elmo merge (it belongs to "
                                      "annotate and export)", "--format", "x");
    CHECK_ARGS_ERROR(ELMO_TOOL_EXPORT, "--format expects one of allennlp, got 'hdf5'", "--format",
                     "hdf5");
    /* a tool's flag is no job's */
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "unknown flag --check for elmo embed (elmo embed --help "
                                     "lists the flags)", "--check");

    char *margv[] = {"a.h5", "--output", "o.h5", "b.h5"}, *pos[4];
    CHECK_OK(elmo_job_parse_args(&t, ELMO_TOOL_MERGE, 4, margv, pos, 4, &n));
    CHECK_STR_EQ(t.output, "o.h5");
    CHECK_INT_EQ(n, 2);
    CHECK(n == 2 && !strcmp(pos[0], "a.h5") && !strcmp(pos[1], "b.h5"));
    char *iargv[] = {"--check", "s.h5"};
    CHECK_OK(elmo_job_parse_args(&t, ELMO_TOOL_INFO, 2, iargv, pos, 4, &n));
    CHECK(t.check && n == 1);
    elmo_job_default(&t, ELMO_TOOL_EXPORT);
    CHECK_STR_EQ(t.format, "allennlp");
    elmo_job_default(&t, ELMO_TOOL_MODEL);
    CHECK(t.seed == 1 && !t.shape[0]);
}

static void test_outputs(void) {
    unsigned bits = 0;
    CHECK_OK(elmo_outputs_parse("all", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_ALL);
    CHECK_OK(elmo_outputs_parse("top", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_TOP);
    CHECK_OK(elmo_outputs_parse("average", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_AVERAGE);
    CHECK_OK(elmo_outputs_parse("word_emb,lstm_outputs1,lstm_outputs2,elmo,default", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2 | ELMO_OUT_ELMO |
                           ELMO_OUT_DEFAULT);
    CHECK_OK(elmo_outputs_parse(" elmo , default ", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_ELMO | ELMO_OUT_DEFAULT);
    CHECK_OK(elmo_outputs_parse("elmo,elmo", &bits));
    CHECK_INT_EQ(bits, ELMO_OUT_ELMO);
    bits = 77;
    CHECK_INT_EQ(elmo_outputs_parse("elmo,lstm3", &bits), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "unknown output 'lstm3'") != NULL);
    CHECK_INT_EQ(bits, 77);
    CHECK_INT_EQ(elmo_outputs_parse("", &bits), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_outputs_parse("elmo,,default", &bits), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_outputs_parse("elmo,", &bits), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_outputs_parse("ALL", &bits), ELMO_ERR_ARG);
}

static const char full_embed[] = "# a full embed job\n"
                                 "kind: embed\n"
                                 "options: m/options.json\n"
                                 "weights: /abs/weights.hdf5\n"
                                 "model: models/small\n"
                                 "input: '-'\n"
                                 "input_format: jsonl\n"
                                 "text_field: full_text\n"
                                 "tokens_field: \"toks\"\n"
                                 "id_field: id_str\n"
                                 "output: out/e.h5\n"
                                 "outputs: [word_emb, elmo]\n"
                                 "precision: f16\n"
                                 "compress: 9\n"
                                 "reject_file: out/rej.tsv\n"
                                 "streams: 3\n"
                                 "batch_tokens: 128\n"
                                 "max_sentence_tokens: 50\n"
                                 "long_sentences: truncate\n"
                                 "threads: 2\n"
                                 "shard_tokens: 500\n"
                                 "mix_weights:\n"
                                 "  - 0.5\n"
                                 "  - -1\n"
                                 "  - 2.25\n"
                                 "gamma: 0.75\n"
                                 "layer_norm: yes\n"
                                 "cache: off\n"
                                 "progress: False\n";

static void test_full_embed(void) {
    struct elmo_job job;
    CHECK_OK(load(&job, full_embed));
    CHECK_INT_EQ(job.kind, ELMO_JOB_EMBED);
    CHECK_STR_EQ(job.source, "t.yaml");
    CHECK_STR_EQ(job.yaml_text, full_embed);
    CHECK_STR_EQ(job.options, "m/options.json"); /* from a string: paths as written */
    CHECK_STR_EQ(job.weights, "/abs/weights.hdf5");
    CHECK_STR_EQ(job.model, "models/small");
    CHECK_STR_EQ(job.input, "-");
    CHECK_INT_EQ(job.input_format, ELMO_INPUT_JSONL);
    CHECK_STR_EQ(job.text_field, "full_text");
    CHECK_STR_EQ(job.tokens_field, "toks");
    CHECK_STR_EQ(job.id_field, "id_str");
    CHECK_STR_EQ(job.output, "out/e.h5");
    CHECK_INT_EQ(job.outputs, ELMO_OUT_WORD_EMB | ELMO_OUT_ELMO);
    CHECK_INT_EQ(job.precision, ELMO_PREC_F16);
    CHECK_INT_EQ(job.compress, 9);
    CHECK_STR_EQ(job.reject_file, "out/rej.tsv");
    CHECK_INT_EQ(job.streams, 3);
    CHECK_INT_EQ(job.batch_tokens, 128);
    CHECK_INT_EQ(job.max_sentence_tokens, 50);
    CHECK_INT_EQ(job.long_sentences, ELMO_LONG_TRUNCATE);
    CHECK_INT_EQ(job.threads, 2);
    CHECK_INT_EQ(job.shard_tokens, 500);
    CHECK_INT_EQ(job.n_mix_weights, 3);
    CHECK_NEAR(job.mix_weights[0], 0.5, 0);
    CHECK_NEAR(job.mix_weights[1], -1.0, 0);
    CHECK_NEAR(job.mix_weights[2], 2.25, 0);
    CHECK_NEAR(job.gamma, 0.75, 0);
    CHECK(job.layer_norm);
    CHECK(!job.cache);
    CHECK(!job.progress);
    CHECK_OK(elmo_job_validate(&job));

    /* The job as YAML loads back to the same job. */
    char *yaml = elmo_job_to_yaml(&job);
    CHECK(yaml != NULL && strstr(yaml, "kind: embed\n") != NULL);
    CHECK(strstr(yaml, "mix_weights: [0.5, -1, 2.25]\n") != NULL);
    CHECK(strstr(yaml, "outputs: word_emb,elmo\n") != NULL);
    struct elmo_job again;
    CHECK_OK(elmo_job_load_string(&again, yaml, strlen(yaml), "t.yaml"));
    char *yaml2 = elmo_job_to_yaml(&again);
    CHECK_STR_EQ(yaml2, yaml);
    CHECK_STR_EQ(again.input, "-");
    CHECK_INT_EQ(again.outputs, job.outputs);
    CHECK_INT_EQ(again.n_mix_weights, 3);
    free(yaml);
    free(yaml2);
    elmo_job_free(&again);
    elmo_job_free(&job);
    CHECK(job.yaml_text == NULL);
    elmo_job_free(&job); /* twice is fine */
}

static void test_value_forms(void) {
    struct elmo_job job;
    /* Scalar lists, nulls back to defaults, flow sequences, u64 and choice keys. */
    CHECK_OK(load(&job, "kind: embed\nmix_weights: 0.1,0.2, 0.3\noutputs: all\n"
                        "text_field: ~\nthreads:\ngamma: 2\nlayer_norm: ON\n"));
    CHECK_INT_EQ(job.n_mix_weights, 3);
    CHECK_NEAR(job.mix_weights[2], 0.3f, 0);
    CHECK_INT_EQ(job.outputs, ELMO_OUT_ALL);
    CHECK_STR_EQ(job.text_field, "text");
    CHECK_INT_EQ(job.threads, 1);
    CHECK_NEAR(job.gamma, 2.0, 0);
    CHECK(job.layer_norm);
    elmo_job_free(&job);

    CHECK_OK(load(&job, "kind: embed\nmix_weights: []\noutputs: [top, average]\n"));
    CHECK_INT_EQ(job.n_mix_weights, 0);
    CHECK_INT_EQ(job.outputs, ELMO_OUT_TOP | ELMO_OUT_AVERAGE);
    elmo_job_free(&job);

    CHECK_OK(load(&job, "{kind: train-ner, seed: 18446744073709551615, epochs: 1,\n"
                        " train: a.txt, dev: b.txt, test: c.txt, out: t.h5}\n"));
    CHECK_INT_EQ(job.kind, ELMO_JOB_TRAIN_NER);
    CHECK(job.seed == UINT64_MAX);
    CHECK_INT_EQ(job.epochs, 1);
    CHECK_STR_EQ(job.dev, "b.txt");
    elmo_job_free(&job);

    CHECK_OK(load(&job, "kind: annotate\nformat: conll\ntagger: t.h5\nout: '-'\n"));
    CHECK_STR_EQ(job.format, "conll");
    CHECK_STR_EQ(job.out, "-");
    elmo_job_free(&job);

    /* kind need not come first; comments and a document marker are fine. */
    CHECK_OK(load(&job, "---\nthreads: 3 # three\nkind: wsd\n...\n"));
    CHECK_INT_EQ(job.kind, ELMO_JOB_WSD);
    CHECK_INT_EQ(job.threads, 3);
    elmo_job_free(&job);
}

/* A file of deeply nested brackets is refused at once, not parsed in quadratic time. */
static void test_nesting_limit(void) {
    const size_t levels = 200000;
    char *text = malloc(2 * levels + 32);
    CHECK(text != NULL);
    if (!text) return;
    size_t n = (size_t)sprintf(text, "kind: embed\nx: ");
    for (size_t i = 0; i < levels; i++) text[n++] = '[';
    for (size_t i = 0; i < levels; i++) text[n++] = ']';
    text[n] = '\0';
    struct elmo_job job;
    CHECK_INT_EQ(elmo_job_load_string(&job, text, n, "deep.yaml"), ELMO_ERR_YAML);
    CHECK_STR_EQ(elmo_errmsg(), "deep.yaml:2:35: collections nested deeper than 32 levels");
    elmo_job_free(&job);
    free(text);
    /* a mapping in a sequence in a mapping is far from the limit */
    CHECK_OK(load(&job, "kind: embed\nmix_weights: [1, 2, 3]\n"));
    elmo_job_free(&job);
}

static void test_yaml_errors(void) {
    CHECK_YAML_ERROR("kind: embed\ninput: in.txt\noutput: out.h5\nbatch_tokenz: 10\n",
                     "t.yaml:4:1: unknown key 'batch_tokenz' for a job of kind embed "
                     "(did you mean 'batch_tokens'?)");
    CHECK_YAML_ERROR("kind: embed\nbatch-tokens: 10\n",
                     "t.yaml:2:1: unknown key 'batch-tokens' for a job of kind embed "
                     "(did you mean 'batch_tokens'?)");
    CHECK_YAML_ERROR("kind: embed\nflux_capacitor: 1\n",
                     "t.yaml:2:1: unknown key 'flux_capacitor' for a job of kind embed "
                     "(elmo embed --help lists the keys, spelled as flags)");
    CHECK_YAML_ERROR("kind: embed\n  # indented comment\nepochs: 3\n",
                     "t.yaml:3:1: key 'epochs' is not used by a job of kind embed "
                     "(it belongs to train-ner and pretrain)");
    CHECK_YAML_ERROR("kind: embed\nbatch_tokens: lots\n",
                     "t.yaml:2:15: batch_tokens expects an integer, got 'lots'");
    CHECK_YAML_ERROR("kind: embed\nbatch_tokens: 4096.5\n",
                     "t.yaml:2:15: batch_tokens expects an integer, got '4096.5'");
    CHECK_YAML_ERROR("kind: embed\nbatch_tokens: \"4096\"\n",
                     "t.yaml:2:15: batch_tokens expects an integer, got the quoted string "
                     "\"4096\"");
    CHECK_YAML_ERROR("kind: embed\nthreads:\n  a: 1\n",
                     "t.yaml:3:3: threads expects an integer, got a mapping");
    CHECK_YAML_ERROR("kind: embed\nthreads: [1, 2]\n",
                     "t.yaml:2:10: threads expects an integer, got a list");
    CHECK_YAML_ERROR("kind: embed\ninput: {a: b}\n",
                     "t.yaml:2:8: input expects a path or a list of paths, got a mapping");
    CHECK_YAML_ERROR("kind: embed\ncompress: 12\n",
                     "t.yaml:2:11: compress must be in 0..9, got 12");
    CHECK_YAML_ERROR("kind: embed\nthreads: 0\n", "t.yaml:2:10: threads must be in 1..1024, got 0");
    CHECK_YAML_ERROR("kind: embed\nstreams: -1\n",
                     "t.yaml:2:10: streams must be in 0..1000000, got -1");
    CHECK_YAML_ERROR("kind: embed\ngamma: .nan\n",
                     "t.yaml:2:8: gamma expects a finite number, got '.nan'");
    CHECK_YAML_ERROR("kind: embed\ngamma: 1e300\n",
                     "t.yaml:2:8: gamma must be in -1000000..1000000, got 1e+300");
    CHECK_YAML_ERROR("kind: embed\ncache: maybe\n",
                     "t.yaml:2:8: cache expects true or false, got 'maybe'");
    CHECK_YAML_ERROR("kind: embed\nprecision: f64\n",
                     "t.yaml:2:12: precision expects one of f32|f16, got 'f64'");
    CHECK_YAML_ERROR("kind: embed\ninput_format: csv\n",
                     "t.yaml:2:15: input_format expects one of text|conll|jsonl|auto, got 'csv'");
    CHECK_YAML_ERROR("kind: annotate\nformat: xml\n",
                     "t.yaml:2:9: format expects one of jsonl|conll, got 'xml'");
    CHECK_YAML_ERROR_AT("kind: embed\noutputs: word_emb,foo\n", "t.yaml:2:10: outputs ",
                        "unknown output 'foo'");
    CHECK_YAML_ERROR_AT("kind: embed\noutputs:\n  - elmo\n  - lstm3\n", "t.yaml:4:5: outputs ",
                        "unknown output 'lstm3'");
    CHECK_YAML_ERROR("kind: embed\noutputs: []\n", "t.yaml:2:10: outputs: the list is empty");
    CHECK_YAML_ERROR("kind: embed\nmix_weights: [1, [2]]\n",
                     "t.yaml:2:18: mix_weights expects a list of numbers, got a list in the list");
    CHECK_YAML_ERROR("kind: embed\nmix_weights: [1, x]\n",
                     "t.yaml:2:18: mix_weights expects a list of numbers, got 'x'");
    CHECK_YAML_ERROR("kind: embed\nmix_weights: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
                     "t.yaml:2:39: mix_weights takes at most 8 values");
    CHECK_YAML_ERROR("kind: embed\nmix_weights: 1,2,\n",
                     "t.yaml:2:14: mix_weights ends with a comma: '1,2,'");
    /* finite as a double, infinite as the float it is stored in (found by fuzz_job) */
    CHECK_YAML_ERROR("kind: embed\nmix_weights: [0.5, -1, 2e61]\n",
                     "t.yaml:2:24: mix_weights expects a list of numbers, got '2e61'");
    CHECK_YAML_ERROR("kind: embed\nmix_weights: 1,-4e38\n",
                     "t.yaml:2:14: mix_weights expects a list of numbers, got '-4e38'");
    CHECK_YAML_ERROR("kind: train-ner\nseed: -5\n",
                     "t.yaml:2:7: seed expects a non-negative integer, got '-5'");
    CHECK_YAML_ERROR("kind: embed\ninput: a.txt\nthreads: 2\ninput: b.txt\n",
                     "t.yaml:4:1: duplicate key 'input' (first at 2:1)");
    CHECK_YAML_ERROR("kind: embed\nkind: wsd\n", "t.yaml:2:1: duplicate key 'kind' (first at 1:1)");
    CHECK_YAML_ERROR("input: a.txt\nthreads: 2\n",
                     "t.yaml:1:1: missing `kind:` (embed, annotate, train-ner, eval-ner, wsd or "
                     "pretrain)");
    CHECK_YAML_ERROR("threads: 2\nkind: embedd\n",
                     "t.yaml:2:7: unknown job kind 'embedd' (did you mean 'embed'?)");
    CHECK_YAML_ERROR("kind: [embed]\n", "t.yaml:1:7: kind expects a name, got a list");
    CHECK_YAML_ERROR("- kind: embed\n",
                     "t.yaml:1:1: a job is a mapping of `key: value` lines, got a list");
    CHECK_YAML_ERROR("embed\n",
                     "t.yaml:1:1: a job is a mapping of `key: value` lines, got a scalar");
    CHECK_YAML_ERROR("", "t.yaml:1:1: empty job: expected `kind:` and keys");
    CHECK_YAML_ERROR("# only a comment\n", "t.yaml:1:1: empty job: expected `kind:` and keys");
    CHECK_YAML_ERROR("kind: embed\n[a, b]: 1\n", "t.yaml:2:1: a key must be a name, got a list");
    CHECK_YAML_ERROR("kind: embed\n---\nkind: wsd\n",
                     "t.yaml:3:1: a job file holds one YAML document");

    /* Syntax errors: libyaml's problem at its mark, with its context. */
    CHECK_YAML_ERROR("kind: embed\n  input: a.txt\n",
                     "t.yaml:2:8: mapping values are not allowed in this context");
    CHECK_YAML_ERROR("kind: embed\ninput: [a.txt\nthreads: 2\n",
                     "t.yaml:3:8: did not find expected ',' or ']' (while parsing a flow sequence "
                     "at 2:8)");
    CHECK_YAML_ERROR("kind: embed\n\tthreads: 2\n",
                     "t.yaml:2:1: found a tab character that violates indentation (while "
                     "scanning a plain scalar at 1:7)");
    CHECK_YAML_ERROR("kind: embed\ninput: \"a.txt\nthreads: 2\n",
                     "t.yaml:4:1: found unexpected end of stream (while scanning a quoted scalar "
                     "at 2:8)");
    CHECK_YAML_ERROR("kind: embed\ninput: *nowhere\n", "t.yaml:2:8: found undefined alias");
    CHECK_YAML_ERROR("kind: embed\ninput: caf\xc3\xa9 \xff\n",
                     "t.yaml:2:13: invalid leading UTF-8 octet (byte 0xFF)");

    /* Strings that do not fit their field. */
    char text[400];
    snprintf(text, sizeof text, "kind: embed\ntext_field: %0200d\n", 7);
    CHECK_YAML_ERROR(text, "t.yaml:2:13: text_field is too long (200 bytes, at most 127)");

    /* A missing file is an I/O error that names it. */
    struct elmo_job job;
    CHECK_INT_EQ(elmo_job_load(&job, "/nonexistent/job.yaml"), ELMO_ERR_IO);
    CHECK(strncmp(elmo_errmsg(), "/nonexistent/job.yaml: ", 23) == 0);
    elmo_job_free(&job);
}

/* Writes text to dir/name; returns 0 or -1. */
static int write_file(const char *dir, const char *name, const char *text) {
    char path[ELMO_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_paths(void) {
    char dir[] = "/tmp/elmo-test-job-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_INT_EQ(write_file(dir, "j.yaml",
                            "kind: embed\n"
                            "options: ../m/options.json\n"
                            "weights: /abs/w.hdf5\n"
                            "input: '-'\n"
                            "output: out.h5\n"
                            "text_field: not/a/path\n"),
                 0);
    char path[ELMO_PATH_MAX], want[ELMO_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/j.yaml", dir);
    struct elmo_job job;
    CHECK_OK(elmo_job_load(&job, path));
    snprintf(want, sizeof want, "%s/../m/options.json", dir);
    CHECK_STR_EQ(job.options, want);
    CHECK_STR_EQ(job.weights, "/abs/w.hdf5");
    CHECK_STR_EQ(job.input, "-");
    snprintf(want, sizeof want, "%s/out.h5", dir);
    CHECK_STR_EQ(job.output, want);
    CHECK_STR_EQ(job.text_field, "not/a/path");
    CHECK_STR_EQ(job.source, path);
    CHECK(job.yaml_text && strstr(job.yaml_text, "options: ../m/options.json") != NULL);

    /* Errors in a file name the file as given. */
    CHECK_INT_EQ(write_file(dir, "bad.yaml", "kind: embed\n\n# comment\n  batch_tokenz: 5\n"), 0);
    char bad[ELMO_PATH_MAX];
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    struct elmo_job b;
    CHECK_INT_EQ(elmo_job_load(&b, bad), ELMO_ERR_YAML);
    snprintf(want, sizeof want, "%s:4:3: ", bad);
    CHECK(strncmp(elmo_errmsg(), want, strlen(want)) == 0);
    elmo_job_free(&b);

    /* resolve_model: DIR/options.json + DIR/weights.hdf5, and the default reject file. */
    elmo_job_free(&job);
    elmo_job_default(&job, ELMO_JOB_EMBED);
    snprintf(job.model, sizeof job.model, "models/small");
    snprintf(job.output, sizeof job.output, "e.h5");
    elmo_job_resolve_model(&job);
    CHECK_STR_EQ(job.options, "models/small/options.json");
    CHECK_STR_EQ(job.weights, "models/small/weights.hdf5");
    CHECK_STR_EQ(job.reject_file, "e.h5.rejects.tsv");
    snprintf(job.weights, sizeof job.weights, "w.hdf5");
    snprintf(job.reject_file, sizeof job.reject_file, "r.tsv");
    elmo_job_resolve_model(&job);
    CHECK_STR_EQ(job.weights, "w.hdf5");
    CHECK_STR_EQ(job.reject_file, "r.tsv");

    snprintf(path, sizeof path, "%s/j.yaml", dir);
    unlink(path);
    unlink(bad);
    rmdir(dir);
}

static void test_flags(void) {
    struct elmo_job job;
    char *argv[] = {"--input",
                    "-",
                    "--output=o.h5",
                    "--batch-tokens",
                    "100",
                    "--no-cache",
                    "--layer-norm",
                    "--outputs",
                    "all",
                    "--input-format",
                    "jsonl",
                    "--precision",
                    "f16",
                    "--streams",
                    "3",
                    "--compress=5",
                    "--mix-weights",
                    "0.1,-0.2,0.3",
                    "--gamma",
                    "-0.5",
                    "--text_field",
                    "body",
                    "--model",
                    "m",
                    "--progress=no",
                    "--long-sentences",
                    "truncate"};
    int n = -1;
    CHECK_OK(elmo_job_parse_args(&job, ELMO_JOB_EMBED, (int)(sizeof argv / sizeof argv[0]), argv,
                                 NULL, 0, &n));
    CHECK_INT_EQ(n, 0);
    CHECK_STR_EQ(job.source, "<command line>");
    CHECK_STR_EQ(job.input, "-");
    CHECK_STR_EQ(job.output, "o.h5");
    CHECK_INT_EQ(job.batch_tokens, 100);
    CHECK(!job.cache);
    CHECK(job.layer_norm);
    CHECK(!job.progress);
    CHECK_INT_EQ(job.outputs, ELMO_OUT_ALL);
    CHECK_INT_EQ(job.input_format, ELMO_INPUT_JSONL);
    CHECK_INT_EQ(job.precision, ELMO_PREC_F16);
    CHECK_INT_EQ(job.streams, 3);
    CHECK_INT_EQ(job.compress, 5);
    CHECK_INT_EQ(job.n_mix_weights, 3);
    CHECK_NEAR(job.mix_weights[1], -0.2f, 0);
    CHECK_NEAR(job.gamma, -0.5, 0);
    CHECK_STR_EQ(job.text_field, "body");
    CHECK_STR_EQ(job.model, "m");
    CHECK_INT_EQ(job.long_sentences, ELMO_LONG_TRUNCATE);
    CHECK_INT_EQ(job.threads, 1); /* untouched: default */
    elmo_job_resolve_model(&job);
    CHECK_STR_EQ(job.options, "m/options.json");
    CHECK_OK(elmo_job_validate(&job));
    elmo_job_free(&job);

    /* Positional arguments, and -- */
    char *pargv[] = {"a.txt", "--threads", "2", "--", "--b", "-"};
    char *pos[4];
    CHECK_OK(elmo_job_parse_args(&job, ELMO_JOB_EMBED, 6, pargv, pos, 4, &n));
    CHECK_INT_EQ(n, 3);
    CHECK_STR_EQ(pos[0], "a.txt");
    CHECK_STR_EQ(pos[1], "--b");
    CHECK_STR_EQ(pos[2], "-");
    CHECK_INT_EQ(job.threads, 2);

    /* Kind-specific flags. */
    char *targv[] = {"--epochs", "3", "--seed", "42", "--train", "t.txt", "--out", "o.h5"};
    CHECK_OK(elmo_job_parse_args(&job, ELMO_JOB_TRAIN_NER, 8, targv, NULL, 0, &n));
    CHECK_INT_EQ(job.epochs, 3);
    CHECK_INT_EQ(job.seed, 42);

    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "unknown flag --batch-tokenz for elmo embed (did you mean --batch-tokens?)",
                     "--batch-tokenz", "5");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "unknown flag --frobnicate for elmo embed (elmo embed "
                     "--help lists the flags)",
                     "--frobnicate");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "--epochs is not a flag of elmo embed (it belongs to train-ner and pretrain)",
                     "--epochs", "3");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--threads expects an integer, got 'x'", "--threads", "x");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--compress must be in 0..9, got 10", "--compress=10");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--input needs a value (a path or a list of paths)", "--input");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--input needs a value (a path or a list of paths)", "--input", "--threads", "2");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--precision expects one of f32|f16, got 'f8'", "--precision",
                     "f8");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--no-cache takes no value", "--no-cache=true");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--cache expects true or false, got 'maybe'", "--cache=maybe");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED, "--mix-weights expects a list of numbers, got 'a'",
                     "--mix-weights", "1,a");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "unknown flag --no-threads for elmo embed (elmo embed "
                     "--help lists the flags)",
                     "--no-threads");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "unknown flag -t (flags are --key value; elmo embed --help lists them)", "-t",
                     "2");
    CHECK_ARGS_ERROR(ELMO_JOB_EMBED,
                     "unexpected argument 'x.txt' (elmo embed takes flags only; "
                     "elmo embed --help lists them)",
                     "x.txt");
    char *oargv[] = {"--outputs", "elmo,nope"};
    CHECK_INT_EQ(elmo_job_parse_args(&job, ELMO_JOB_EMBED, 2, oargv, NULL, 0, &n), ELMO_ERR_ARG);
    CHECK(strncmp(elmo_errmsg(), "--outputs has an unknown output 'nope'", 38) == 0);
}

static void test_override(void) {
    struct elmo_job job;
    CHECK_OK(load(&job, "kind: embed\noptions: o.json\nweights: w.hdf5\ninput: in.txt\n"
                        "output: out.h5\nbatch_tokens: 100\ncache: false\n"));
    char *yaml_text = job.yaml_text;
    char *argv[] = {"--threads", "4", "--cache", "--output", "other.h5"};
    int n;
    CHECK_OK(elmo_job_apply_args(&job, 5, argv, NULL, 0, &n));
    CHECK_INT_EQ(job.kind, ELMO_JOB_EMBED);
    CHECK_INT_EQ(job.batch_tokens, 100); /* from the file */
    CHECK_INT_EQ(job.threads, 4);        /* overridden */
    CHECK(job.cache);
    CHECK_STR_EQ(job.input, "in.txt");
    CHECK_STR_EQ(job.output, "other.h5");
    CHECK_STR_EQ(job.options, "o.json");
    CHECK_STR_EQ(job.source, "t.yaml");
    CHECK(job.yaml_text == yaml_text);

    /* --model replaces the file's options and weights... */
    char *margv[] = {"--model", "dir"};
    CHECK_OK(elmo_job_apply_args(&job, 2, margv, NULL, 0, &n));
    elmo_job_resolve_model(&job);
    CHECK_STR_EQ(job.options, "dir/options.json");
    CHECK_STR_EQ(job.weights, "dir/weights.hdf5");
    /* ...unless they are given with it. */
    char *m2argv[] = {"--weights", "x.hdf5", "--model", "d2"};
    CHECK_OK(elmo_job_apply_args(&job, 4, m2argv, NULL, 0, &n));
    elmo_job_resolve_model(&job);
    CHECK_STR_EQ(job.options, "d2/options.json");
    CHECK_STR_EQ(job.weights, "x.hdf5");

    /* A train-ner job takes train-ner flags only. */
    char *eargv[] = {"--epochs", "2"};
    CHECK_INT_EQ(elmo_job_apply_args(&job, 2, eargv, NULL, 0, &n), ELMO_ERR_ARG);
    elmo_job_free(&job);
}

static void test_validate(void) {
    struct elmo_job job;
    elmo_job_default(&job, ELMO_JOB_EMBED);
    snprintf(job.source, sizeof job.source, "<command line>");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "needs a model") && strstr(elmo_errmsg(), "--model DIR"));
    snprintf(job.options, sizeof job.options, "o.json");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strncmp(elmo_errmsg(),
                  "<command line>: a job of kind embed needs `weights` (YAML key "
                  "`weights:` or flag --weights FILE)",
                  95) == 0);
    snprintf(job.weights, sizeof job.weights, "w.hdf5");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "needs `input`") && strstr(elmo_errmsg(), "--input FILE"));
    snprintf(job.input, sizeof job.input, "in.txt");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "needs `output`") && strstr(elmo_errmsg(), "--output FILE"));
    snprintf(job.output, sizeof job.output, "in.txt");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    snprintf(job.output, sizeof job.output, "out.h5");
    CHECK_OK(elmo_job_validate(&job));
    job.outputs = 0;
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);

    elmo_job_default(&job, ELMO_JOB_TRAIN_NER);
    snprintf(job.model, sizeof job.model, "m");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "needs `train`") && strstr(elmo_errmsg(), "--train FILE"));
    elmo_job_default(&job, ELMO_JOB_PRETRAIN);
    snprintf(job.train, sizeof job.train, "c.txt");
    CHECK_INT_EQ(elmo_job_validate(&job), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "needs `out`") && strstr(elmo_errmsg(), "--out DIR"));
}

/* Every YAML file in the repository's jobs/ loads, resolves and validates. */
static void test_repo_jobs(void) {
    const char *src = getenv("ELMO_SOURCE_DIR");
    CHECK(src != NULL);
    if (!src) return;
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/jobs", src);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return;
    int found = 0, embed_seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char path[ELMO_PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct elmo_job job;
        int rc = elmo_job_load(&job, path);
        CHECK_OK(rc);
        if (rc == 0) {
            elmo_job_resolve_model(&job);
            CHECK_OK(elmo_job_validate(&job));
            char *yaml = elmo_job_to_yaml(&job);
            struct elmo_job again;
            CHECK_OK(elmo_job_load_string(&again, yaml, strlen(yaml), path));
            free(yaml);
            elmo_job_free(&again);
        }
        if (!strcmp(e->d_name, "embed.yaml")) {
            embed_seen = 1;
            CHECK_INT_EQ(job.kind, ELMO_JOB_EMBED);
            CHECK(access(job.options, R_OK) == 0); /* the fixture model, relative to jobs/ */
            CHECK(access(job.weights, R_OK) == 0);
            CHECK(access(job.input, R_OK) == 0);
            CHECK(strstr(job.output, "/build/demo/embeddings.h5") != NULL);
        }
        elmo_job_free(&job);
        found++;
    }
    closedir(d);
    CHECK(found >= 6);
    CHECK(embed_seen);
}

int main(void) {
    test_nesting_limit();
    test_defaults();
    test_kinds();
    test_tool_flags();
    test_outputs();
    test_full_embed();
    test_value_forms();
    test_yaml_errors();
    test_paths();
    test_flags();
    test_override();
    test_validate();
    test_repo_jobs();
    return CHECK_REPORT();
}
