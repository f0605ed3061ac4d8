/*
 * part.h: a shard's results, staged durably before the final store is written.
 *
 * A rank that finishes a shard writes PARTS_DIR/shard-NNNNNN.part (via a .tmp file, fsync and
 * rename), then the shard is journalled; a rerun after a crash skips journalled shards and the
 * final merge reads every part into a fresh store.  All numbers are little-endian as on the
 * machine that wrote them (parts never leave the job's directory).
 *
 * Layout: struct elmo_part_header, then the arrays below in this order, then the outputs:
 *   rec_ent   (n_rec + 1) int64   entries of record r: [rec_ent[r], rec_ent[r+1])
 *   ent_line  (n_ent)     int64   1-based input line of each entry
 *   ent_id    (n_ent + 1) int64   byte ranges in id_blob
 *   ent_text  (n_ent + 1) int64   byte ranges in text_blob
 *   ent_tok   (n_ent + 1) int64   token ranges (local) of each entry
 *   tok_text  (n_tok + 1) int64   byte ranges in tok_blob
 *   id_blob, text_blob, tok_blob  bytes (each padded to 8 bytes)
 *   outputs   for each output bit in increasing order: rows x width float32, where rows is
 *             n_ent for `default` and n_tok otherwise, width P for word_emb, 3 x 2P for all,
 *             2P for the rest.
 */
#ifndef ELMO_PART_H
#define ELMO_PART_H

#include <stdint.h>

#include "io/store.h"

#define ELMO_PART_MAGIC "ELMOPRT1"

struct elmo_part_header {
    char magic[8];
    uint32_t version;
    uint32_t P;
    uint32_t outputs;
    uint32_t reserved;
    int64_t shard;
    int64_t n_rec, n_ent, n_tok;
    int64_t id_bytes, text_bytes, tok_bytes;
    int64_t n_reject, n_empty, n_split, n_truncated, n_cut_tokens;
    int64_t cache_hits, cache_lookups;
    uint64_t checksum;   /* elmo_part_checksum of the whole file with this field taken as 0 */
    int64_t n_nonfinite; /* output values that are inf or nan (or overflow float16) */
    int64_t pad[2];
};

/*
 * The checksum of a part file: 64-bit FNV-1a over the file's bytes taken as little-endian
 * 64-bit words (a tail of fewer than 8 bytes byte by byte), with the header's checksum field
 * read as 0.  The writer stores it in the header and rank 0 in the journal; a part is trusted
 * (on resume, and before the merge copies it) only when its size and checksum match both.
 * Reads size bytes of fd from offset 0.  Returns 0 or ELMO_ERR_IO / ELMO_ERR_FORMAT naming
 * path.  Implemented in worker/shard.c.  Not collective.
 */
int elmo_part_checksum(int fd, int64_t size, uint64_t *sum, const char *path);

/* Reads n bytes of fd from byte off into dst (retrying short reads).  Returns 0, or
 * ELMO_ERR_IO / ELMO_ERR_FORMAT (the file ends first) naming path.  Not collective. */
int elmo_part_read_at(int fd, void *dst, int64_t n, int64_t off, const char *path);

/*
 * Verifies the part at path against what the journal recorded: its size, the checksum in its
 * header and the checksum of its bytes.  Returns 0, or ELMO_ERR_FORMAT with a message naming
 * the file and what differs (ELMO_ERR_IO when it cannot be read).  Not collective.
 */
int elmo_part_verify(const char *path, int64_t size, uint64_t sum);

/* Byte offsets of each section; computed from the header. */
struct elmo_part_layout {
    int64_t rec_ent, ent_line, ent_id, ent_text, ent_tok, tok_text;
    int64_t id_blob, text_blob, tok_blob;
    int64_t out[8];  /* offset of output bit k (0 when absent) */
    int64_t total;
};

void elmo_part_layout(const struct elmo_part_header *h, struct elmo_part_layout *lay);

/* An open part for reading (the index arrays in memory, outputs read on demand). */
struct elmo_part {
    struct elmo_part_header h;
    struct elmo_part_layout lay;
    int fd;
    int64_t *rec_ent, *ent_line, *ent_id, *ent_text, *ent_tok, *tok_text;
    uint8_t *id_blob, *text_blob, *tok_blob;
};

/* Opens a part, checks its magic and size, reads the index and blobs.  Not collective. */
int elmo_part_open(struct elmo_part *p, const char *path);

/* Reads rows [row0, row0 + n) of output bit k into dst (n x width floats). */
int elmo_part_read_rows(const struct elmo_part *p, unsigned bit, int64_t row0, int64_t n,
                        float *dst);

void elmo_part_close(struct elmo_part *p);

/* ---- direct writes: a shard's rows straight into STORE.partial ------------------------ */

/*
 * What the counting pass gives a shard (tokenize only, no biLM), and as prefix sums over the
 * shards before it, where its rows start in the store.  Only n_ent, n_tok and the three byte
 * counts place rows; the rest are the totals the summary and the reject reconciliation need.
 */
struct elmo_shard_count {
    int64_t n_rec, n_ent, n_tok, id_bytes, text_bytes, tok_bytes;
    int64_t n_reject, n_empty, n_split, n_truncated, n_cut_tokens;
};
#define ELMO_SHARD_COUNT_FIELDS 11 /* int64 fields of struct elmo_shard_count */

/*
 * A store open for direct writes: the file (open read-write: a shard's checksum is read back),
 * where every dataset's rows are, and every shard's counts and first rows.  Shard i writes
 * rows [first[i], first[i] + count[i]) of every dataset: entries for the sentence datasets and
 * `default`, tokens for token datasets, bytes for the blobs.
 */
struct elmo_direct {
    int fd;
    const char *path;
    struct elmo_store_map map;
    const struct elmo_shard_count *count; /* (shards) */
    const struct elmo_shard_count *first; /* (shards) */
    int half;                             /* embeddings are float16 */
};

/* The byte ranges shard i writes, in the fixed order of the datasets; returns how many. */
int elmo_direct_ranges(const struct elmo_direct *d, int64_t i, int64_t ranges[][2]);

/*
 * The checksum of what shard i wrote: elmo_part_checksum's hash over its ranges, read back in
 * their fixed order; *bytes is their total length.  The writer journals both; a resume trusts
 * the shard only when they match again (elmo_direct_verify).  Not collective.
 */
int elmo_direct_checksum(const struct elmo_direct *d, int64_t i, int64_t *bytes, uint64_t *sum);
int elmo_direct_verify(const struct elmo_direct *d, int64_t i, int64_t bytes, uint64_t sum);

#endif /* ELMO_PART_H */
