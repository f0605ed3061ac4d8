/*
 * shard.h: the per-rank embed loop.  A shard (a byte range of the input in the stateless
 * regime, or a whole stream in the streams regime) is read, split into entries, batched by
 * token budget, run through the biLM, and staged as a part file (worker/part.h).  Not
 * collective: ranks call it independently on the shards they are handed.
 */
#ifndef ELMO_WORKER_SHARD_H
#define ELMO_WORKER_SHARD_H

#include <stdint.h>
#include <stdio.h>

#include "io/corpus.h"
#include "io/job.h"
#include "model/bilm.h"
#include "worker/dedup.h"
#include "worker/forward.h"
#include "worker/part.h"

/* What a shard covers. */
struct elmo_shard {
    int64_t id;          /* shard number (= stream number in the streams regime) */
    int64_t begin, end;  /* byte range of the input (stateless); 0, -1 for a stream */
    int64_t first_line;  /* 1-based line at begin */
    int stream;          /* -1 (stateless) or the first stream s0 of the group */
    int n_streams;       /* streams of the group: records r with s0 <= r % S < s0 + n_streams */
};

/* Streams run in groups of up to this many, in lockstep (one row per stream per step). */
#define ELMO_STREAM_GROUP 32

/* Called after every batch with the tokens it covered (rank 0 polls its queue there). */
typedef void (*elmo_batch_cb)(void *arg, int64_t sentences, int64_t tokens);

struct elmo_embed_ctx {
    const struct elmo_job *job;
    const struct elmo_model *m;
    struct elmo_corpus_opts copts;
    struct elmo_forward fwd;  /* the forward path, sized from the job */
    unsigned outputs;         /* what the parts hold (enum elmo_output_bits) */
    elmo_batch_cb on_batch;
    void *cb_arg;
    float *state;             /* streams: (ELMO_STREAM_GROUP, state floats) carried states */
    int64_t tokens_done, sentences_done;
    int64_t n_nonfinite; /* output values that were inf/nan or overflow float16 (kept or not) */
    int64_t part_bytes;  /* the last part written: its size and checksum (worker/part.h) */
    uint64_t part_checksum;
    double t_read, t_write; /* seconds on this rank: reading shards, writing part files */
    /* stateless with job->dedup: the sentences this rank computed (worker/dedup.h), and the
     * entries (and their tokens) copied from an equal one instead of computed */
    struct elmo_dedup dedup;
    int64_t dup_sentences, dup_tokens;
    const int32_t *dup_next; /* the shard running: the next entry equal to entry e, or -1 */
    char *dup_buf;           /* rows read back from the store for a reused entry */
    size_t dup_cap;
    struct elmo_direct *direct; /* set: shards write into the store, not into part files */
};

/* Sizes everything from the job (batch_tokens, max_sentence_tokens, outputs, cache, dedup). */
int elmo_embed_ctx_init(struct elmo_embed_ctx *ctx, const struct elmo_job *job,
                        const struct elmo_model *m);
void elmo_embed_ctx_free(struct elmo_embed_ctx *ctx);

/*
 * Processes one shard of job->input into part_path (written as part_path.tmp, fsynced and
 * renamed), or with ctx->direct set into its rows of the store (fdatasynced; part_path unused;
 * ctx->part_bytes and ctx->part_checksum are then elmo_direct_checksum's), and appends its rejected records to rej_path ("LINE\tREASON" lines, created even
 * when empty).  S is job->streams.  Returns 0 (ctx->part_bytes and ctx->part_checksum describe
 * the part) or a status with a message naming the file: the input line of a non-finite value
 * (ELMO_ERR_NAN, unless job->keep_nonfinite), a plain input cut short of the shard's range.
 */
int elmo_embed_shard(struct elmo_embed_ctx *ctx, const char *input, const struct elmo_shard *sh,
                     const char *part_path, const char *rej_path);

/*
 * The counting pass: reads shard sh of input into entries as elmo_embed_shard does (rejects
 * counted, not written; no biLM) and fills *c.  Not collective.
 */
int elmo_embed_count(struct elmo_embed_ctx *ctx, const char *input, const struct elmo_shard *sh,
                     struct elmo_shard_count *c);

#endif /* ELMO_WORKER_SHARD_H */
