/*
 * pack_cache.h: the image a node builds when it loads a model (the char table and the packed
 * weights, driver/node_model.c), kept in a file so that the next job maps it from the page
 * cache instead of packing the weights again.
 *
 * One file per weight file path, in the hash cache's directory (hash_cache.h; ELMO_CACHE_DIR
 * "off" turns both off): "packed-<sha256 of the weight file's absolute path>.bin".  A header of
 * header_bytes (a multiple of 4096, so the image is page-aligned), then the image's floats:
 *
 *     magic "elmo packed 1\n" (16 bytes), then little-endian uint64: header_bytes, floats,
 *     block_floats, nblocks, key_bytes, header_sum; the key (key_bytes, no NUL, zero padded
 *     to a multiple of 8); nblocks block checksums (uint64); zeros up to header_bytes.
 *
 * The key is the caller's: the weight file's identity (elmo_cache_entry) and the layout the
 * image was packed for.  An image is used only when its key and size are the caller's, the
 * header's own checksum (header_sum, taken with that field as 0) holds, and every block of the
 * image matches its checksum (64-bit FNV-1a, model/fnv.h).  Files are written aside and renamed,
 * so a reader maps a whole old file or a whole new one; a file truncated in place while mapped
 * would make reading it fail (SIGBUS), as for the weight file itself (io/weights.h).
 */
#ifndef ELMO_PACK_CACHE_H
#define ELMO_PACK_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A mapped image (elmo_pack_cache_map). */
struct elmo_pack_image {
    void *map; /* the whole file, read-only */
    size_t map_bytes;
    const float *data; /* the image: 4096-byte aligned */
    size_t floats;
    size_t block_floats;
    size_t nblocks;
    const uint64_t *sums; /* (nblocks) in the header, 8-byte aligned */
    dev_t dev;            /* the file mapped */
    ino_t ino;
};

/*
 * Maps file when it holds an image of key with exactly floats floats and an intact header;
 * the blocks are not checked yet (elmo_pack_cache_check).  Returns 1 (img set), or 0 with why
 * (cap bytes) saying why not: "none" when there is no such file, else a reason ("made for
 * another weight file or layout", "its header is damaged", ...); img is then empty.  Records
 * no error: the cache is optional.
 */
int elmo_pack_cache_map(const char *file, const char *key, size_t floats,
                        struct elmo_pack_image *img, char *why, size_t cap);

/*
 * Checks the blocks part, part + nparts, ... of img against their checksums, so that nparts
 * callers together read the image once.  Returns -1 when they all match, else the index of
 * the first that does not.
 */
long elmo_pack_cache_check(const struct elmo_pack_image *img, int part, int nparts);

/* Ends the mapping (accepts an empty image). */
void elmo_pack_cache_unmap(struct elmo_pack_image *img);

/*
 * Large pages: elmo_pack_cache_map advises its mapping as huge pages, so that pages the page
 * cache lacks are read in 2 MiB folios and mapped 2 MiB at a time (where the file system and
 * kernel support it).  Pages already cached in small folios stay small; these three let a
 * loader see that and have them read again.  All are best effort (failures change nothing).
 */
/* Maps every page of img in this process (reading what the page cache lacks). */
void elmo_pack_cache_prefault(const struct elmo_pack_image *img);
/* Bytes of img's mapping this process maps with 2 MiB pages (its /proc/self/smaps entry's
   FilePmdMapped), or -1 when unknown. */
long long elmo_pack_cache_pmd_bytes(const struct elmo_pack_image *img);
/* Drops file's cached pages that no process maps, so that they are read again. */
void elmo_pack_cache_evict(const char *file);

/*
 * Writes the floats at data as the image of key into file: to a file beside it, then renamed
 * over it (its directory made private, 0700, when missing).  Returns 0, or -1 with the reason
 * in why (cap bytes); the cache is optional: no error is recorded, and the file beside it is
 * removed.
 */
int elmo_pack_cache_write(const char *file, const char *key, const float *data, size_t floats,
                          char *why, size_t cap);

/* What a "packed-<64 hex>.bin" file of the cache directory is (elmo_pack_cache_state). */
enum elmo_pack_state {
    ELMO_PACK_LIVE,    /* its weight file still has the identity it was made from */
    ELMO_PACK_STALE,   /* the weight file changed since: no job will use it */
    ELMO_PACK_ORPHAN,  /* the weight file is gone */
    ELMO_PACK_DAMAGED, /* an image's magic, but its header is damaged or the file truncated */
    ELMO_PACK_FOREIGN  /* not an image (never removed) */
};

/*
 * The state of an image file; the weight file it names goes to path (cap bytes, "" when it
 * cannot be read) and the file's size to *bytes.  Reads the header only.
 */
enum elmo_pack_state elmo_pack_cache_state(const char *file, char *path, size_t cap,
                                           long long *bytes);

#endif /* ELMO_PACK_CACHE_H */
