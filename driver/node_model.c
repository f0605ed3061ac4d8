/*
 * node_model.c: the biLM in one shared window per node (node_model.h).
 *
 * The window holds [weight block | packed copies], allocated on the node's rank 0 and mapped
 * by the others (MPI_Win_shared_query).  Each rank writes its share of the datasets, then of
 * the packed matrices; between the two phases and before any forward pass the ranks publish
 * their writes as the MPI-3 memory model asks for a shared window in a passive-target epoch:
 * MPI_Win_sync, a barrier of the node, MPI_Win_sync.  After that the window is only read.
 *
 * The window's [char table | packed copies] is also the image kept in the packed cache
 * (io/pack_cache.h): node rank 0 writes it there after packing, and a later load whose weight
 * file has the same identity maps that file instead (the page cache holds the node's one copy),
 * once every rank has checked its share of the image's blocks.  The weight file is then mapped
 * for the views only, not read.
 */
#define _DEFAULT_SOURCE /* madvise */
#include "driver/node_model.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "driver/collective.h"
#include "io/hash_cache.h"
#include "io/pack_cache.h"
#include "io/rank_log.h"
#include "io/weights.h"
#include "model/clock.h"
#include "model/status.h"

/* The memory of one loaded model (the model's release context). */
struct node_window {
    MPI_Win win;
    bool has_win;                /* else the model views img */
    struct elmo_weights_map map; /* the weight file, when the raw tensors are views into it */
    struct elmo_pack_image img;  /* the packed cache's image, when the model views it */
};

/* Collective over the node when there is a window: ends the epoch and frees it; ends the
 * mappings (elmo_model_free's hook). */
static void release_window(void *ctx) {
    struct node_window *w = ctx;
    if (w->has_win) {
        ELMO_MPI(MPI_Win_unlock_all(w->win));
        ELMO_MPI(MPI_Win_free(&w->win));
    }
    elmo_weights_unmap(&w->map);
    elmo_pack_cache_unmap(&w->img);
    free(w);
}

/* Collective over the node: every rank's writes to the window are seen by every rank. */
static void publish(MPI_Win win, MPI_Comm node) {
    ELMO_MPI(MPI_Win_sync(win));
    ELMO_MPI(MPI_Barrier(node));
    ELMO_MPI(MPI_Win_sync(win));
}

/*
 * Collective over the node: a window of bytes on node rank 0, mapped by every rank, opened
 * for passive access by all (lock_all); returns its start rounded up to 64 bytes (the same
 * offset in every process: the mappings are page-aligned).  A failure stops every rank
 * (Open MPI refuses a window larger than the room in /dev/shm on rank 0 alone, and the other
 * ranks would wait in the call for ever).
 */
static char *allocate(MPI_Comm node, int node_rank, size_t bytes, MPI_Win *win) {
    MPI_Aint size = node_rank == 0 ? (MPI_Aint)(bytes + 64) : 0, got = 0;
    int disp = 0;
    void *mine = NULL, *base = NULL;
    ELMO_MPI(MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, node, &mine, win));
    ELMO_MPI(MPI_Win_set_errhandler(*win, MPI_ERRORS_RETURN));
    ELMO_MPI(MPI_Win_shared_query(*win, 0, &got, &disp, &base));
    ELMO_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, *win));
    return (char *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
}

/* madvise(MADV_POPULATE_WRITE) over [lo, hi) rounded out to pages: 0, or -1 when it fails. */
static int populate_range(uintptr_t lo, uintptr_t hi) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = 4096;
    lo = lo & ~(page - 1), hi = (hi + page - 1) & ~(page - 1);
    if (hi > lo && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0 && errno != EINVAL)
        return -1;
#else
    (void)lo, (void)hi;
#endif
    return 0;
}

/*
 * Maps this rank's share of the window's pages in one call (MADV_POPULATE_WRITE) instead of
 * one page fault per page while reading and packing; the ranks' shares together cover it.
 * Returns -1 when the pages cannot be had (a /dev/shm smaller than the model: writing them
 * would kill the process with SIGBUS), else 0, also where the kernel does not know the advice
 * (the pages then fault in as they are written).
 */
static int populate(char *base, size_t bytes, int node_rank, int node_size) {
    const uintptr_t b = (uintptr_t)base;
    const size_t share = bytes / (size_t)node_size;
    uintptr_t lo = b + share * (size_t)node_rank;
    uintptr_t hi = node_rank + 1 == node_size ? b + bytes : b + share * (size_t)(node_rank + 1);
    return populate_range(lo, hi);
}

/*
 * Collective over the node: whether every rank got its share of the pages.  When they all
 * did, each rank then maps the pages the others allocated (no zeroing left, so this is
 * cheap), as its reads and packing write all over the window.
 */
static bool pages_ok(char *base, size_t bytes, MPI_Comm node, int node_rank, int node_size) {
    int bad = populate(base, bytes, node_rank, node_size) < 0, any = 0;
    ELMO_MPI(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, node));
    if (!any && node_size > 1) (void)populate_range((uintptr_t)base, (uintptr_t)base + bytes);
    return !any;
}

/* Every rank: the options, settled and checked against the weight file (no data read). */
static int read_shape(const char *options_path, const char *weights_path,
                      struct elmo_options *opt) {
    ELMO_TRY(elmo_options_load(options_path, opt));
    return elmo_weights_check(weights_path, opt);
}

/* CPU seconds of this process (the log's load-independent figure). */
static double cpu_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Collective over the node: this rank's share of the datasets (with mapped weights, only the
 * char table, copied by node rank 0), then of the packed copies; t gets the wall seconds of
 * both phases, then this rank's CPU seconds of both (added to what t holds).
 */
static int fill(struct elmo_model *m, const char *weights_path, bool mapped, float *const *tensors,
                float *packed, MPI_Win win, MPI_Comm node, int node_rank, int node_size,
                double t[4]) {
    double t0 = elmo_now(), c0 = cpu_now();
    const size_t E = (size_t)m->opt.E;
    int lrc = 0;
    if (node_rank == 0) memset(m->char_embed, 0, sizeof(float) * E); /* row 0 */
    if (!mapped) lrc = elmo_weights_read_part(weights_path, m, node_rank, node_size);
    else if (node_rank == 0)
        memcpy(m->char_embed + E, tensors[0], sizeof(float) * E * (ELMO_NCHARS - 1));
    t[2] += cpu_now() - c0;
    publish(win, node);
    ELMO_TRY(elmo_agree(lrc));
    t[0] += elmo_now() - t0;
    t0 = elmo_now(), c0 = cpu_now();
    lrc = elmo_model_pack_at(m, packed, node_rank, node_size);
    t[3] += cpu_now() - c0;
    publish(win, node);
    t[1] += elmo_now() - t0;
    return elmo_agree(lrc);
}

/* Gives the weight file's pages back to the page cache (the views fault them in again). */
static void drop_pages(const struct elmo_weights_map *map) {
    if (map->base) (void)madvise(map->base, map->size, MADV_DONTNEED);
}

/*
 * Collective over the node: maps the weight file where its datasets lie in it as floats
 * (this rank checks its share for NaN/Inf unless check is false); *mapped says whether every
 * rank could, else the mapping is ended and the datasets are to be read.  t as in fill.
 */
static int map_weights(const char *weights_path, const struct elmo_options *opt,
                       struct elmo_weights_map *map, float **tensors, MPI_Comm node, int node_rank,
                       int node_size, bool check, bool *mapped, double t[4]) {
    double t0 = elmo_now(), c0 = cpu_now();
    int rc =
        elmo_weights_map_part(weights_path, opt, check ? node_rank : -1, node_size, map, tensors);
    int mine = map->base != NULL, all = 0;
    t[2] += cpu_now() - c0;
    rc = elmo_agree(rc);
    ELMO_MPI(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, node));
    /* checked; the pages stay mapped for the packing, which reads much of what was checked,
       and are given back after it */
    if (rc < 0 || !all) elmo_weights_unmap(map);
    *mapped = rc == 0 && all;
    t[0] += elmo_now() - t0;
    return rc;
}

/* Where the packed image of a weight file is cached and what it must be made for. */
struct cache_entry {
    char file[PATH_MAX + 96]; /* "" when the cache is off */
    char key[PATH_MAX + 1024];
};

/* The cache entry of weights_path for a model of opt whose image starts with nb floats. */
static void cache_entry_of(const char *weights_path, const struct elmo_options *opt, size_t nb,
                           struct cache_entry *c) {
    char tag[512];
    size_t n;
    if (elmo_model_pack_tag(opt, tag, sizeof tag) != 0 ||
        elmo_cache_entry(weights_path, "packed-", ".bin", c->file, sizeof c->file, c->key,
                         sizeof c->key) != 0 ||
        (n = strlen(c->key), snprintf(c->key + n, sizeof c->key - n, " %s chars=%zu", tag, nb) >=
                                 (int)(sizeof c->key - n)))
        c->file[0] = c->key[0] = '\0';
}

/*
 * Collective over the node: maps the node's image of the model from the packed cache into
 * w->img when every rank mapped the same intact file (each checks a share of its blocks).
 * Returns whether it did; says in the log why not (node rank 0, or the rank that found a
 * damaged block).  t[0] gets the wall seconds, t[2] this rank's CPU seconds.
 */
static bool cached_image(const struct cache_entry *c, size_t floats, struct node_window *w,
                         MPI_Comm node, int node_rank, int node_size, double t[4]) {
    double t0 = elmo_now(), c0 = cpu_now();
    char why[256] = "";
    int all = 0;
    for (int pass = 0; pass < 2; pass++) {
        int ok =
            c->file[0] && elmo_pack_cache_map(c->file, c->key, floats, &w->img, why, sizeof why);
        /* one file on every rank: a file renamed over it meanwhile would be another's image */
        uint64_t id[2] = {ok ? (uint64_t)w->img.dev : 0, ok ? (uint64_t)w->img.ino : 0};
        ELMO_MPI(MPI_Bcast(id, 2, MPI_UINT64_T, 0, node));
        if (ok && (id[0] != (uint64_t)w->img.dev || id[1] != (uint64_t)w->img.ino)) ok = 0;
        ELMO_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, node));
        if (!all || pass == 1) break;
        /* an image the page cache holds in small pages (part of it was evicted and read back)
           costs the products a TLB miss every 4 KiB: then it is read again, in 2 MiB pages */
        int again = 0;
        long long pmd = -1;
        if (node_rank == 0) {
            elmo_pack_cache_prefault(&w->img);
            pmd = elmo_pack_cache_pmd_bytes(&w->img);
            again = pmd >= 0 && w->img.map_bytes >= ((size_t)8 << 20) &&
                    (double)pmd < 0.9 * (double)w->img.map_bytes;
        }
        ELMO_MPI(MPI_Bcast(&again, 1, MPI_INT, 0, node));
        if (!again) break;
        if (node_rank == 0)
            elmo_rank_log("packed cache %s: %.0f of %.0f MiB in 2 MiB pages: read again", c->file,
                          (double)pmd / 1048576.0, (double)w->img.map_bytes / 1048576.0);
        elmo_pack_cache_unmap(&w->img);
        ELMO_MPI(MPI_Barrier(node));
        if (node_rank == 0) elmo_pack_cache_evict(c->file);
        ELMO_MPI(MPI_Barrier(node));
    }
    if (c->file[0] && !all && node_rank == 0)
        elmo_rank_log("packed cache %s: not used (%s): packing", c->file,
                      why[0] ? why : "another rank could not map it");
    if (all) {
        long bad = elmo_pack_cache_check(&w->img, node_rank, node_size);
        if (bad >= 0)
            elmo_rank_log("packed cache %s: block %ld does not match its checksum (damaged): "
                          "packing again",
                          c->file, bad);
        int ok = bad < 0;
        ELMO_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, node));
    }
    if (!all) elmo_pack_cache_unmap(&w->img);
    t[0] += elmo_now() - t0, t[2] += cpu_now() - c0;
    return all;
}

/* Node rank 0, after packing: the window's image into the cache when the weight file kept the
 * identity the image was made from (the cache is optional: a failure is only logged). */
static void cache_image(const char *weights_path, const struct elmo_options *opt,
                        const struct cache_entry *c, const float *image, size_t nb, size_t floats) {
    struct cache_entry now;
    cache_entry_of(weights_path, opt, nb, &now);
    if (!c->file[0] || strcmp(now.key, c->key) != 0) return;
    char why[PATH_MAX + 256];
    double t0 = elmo_now();
    if (elmo_pack_cache_write(c->file, c->key, image, floats, why, sizeof why) == 0)
        elmo_rank_log("packed cache: wrote %s (%.0f MiB) in %.2f s", c->file,
                      (double)floats * sizeof(float) / 1048576.0, elmo_now() - t0);
    else elmo_rank_log("packed cache: could not write %s: %s", c->file, why);
}

int elmo_node_model_load(const char *options_path, const char *weights_path, struct elmo_model *m) {
    int up = 0, down = 0;
    if (MPI_Initialized(&up) != MPI_SUCCESS || MPI_Finalized(&down) != MPI_SUCCESS || !up || down)
        return elmo_model_load(options_path, weights_path, m);
    memset(m, 0, sizeof *m);
    struct elmo_options opt;
    ELMO_TRY(elmo_agree(read_shape(options_path, weights_path, &opt)));
    MPI_Comm node;
    int node_rank = 0, node_size = 1;
    ELMO_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    ELMO_MPI(MPI_Comm_rank(node, &node_rank));
    ELMO_MPI(MPI_Comm_size(node, &node_size));
    struct node_window *w = elmo_xcalloc(1, sizeof *w);
    float *tensors[1 + 2 * ELMO_MAX_FILTERS + 4 * ELMO_MAX_HIGHWAY + 2 + 6 * ELMO_MAX_LAYERS];
    double t[6] = {0, 0, 0, 0, 0, 0}; /* see fill; then the window's wall and CPU seconds */
    /* with mapped weights the image is [char table | packed copies] */
    const size_t nc = ((size_t)ELMO_NCHARS * (size_t)opt.E + 15) / 16 * 16;
    const size_t np = elmo_model_packed_floats(&opt);
    struct cache_entry ce;
    cache_entry_of(weights_path, &opt, nc, &ce);
    bool hit = cached_image(&ce, nc + np, w, node, node_rank, node_size, t), mapped = false;
    /* a cached image stands for the NaN check of the file it was packed from */
    int rc = map_weights(weights_path, &opt, &w->map, tensors, node, node_rank, node_size, !hit,
                         &mapped, t);
    if (rc == 0 && hit && mapped) {
        rc = elmo_agree(elmo_model_init_views(m, &opt, (float *)w->img.data, tensors));
        m->release = release_window; /* from here elmo_model_free ends the mappings */
        m->release_ctx = w;
        if (rc == 0) rc = elmo_agree(elmo_model_pack_view(m, w->img.data + nc));
        ELMO_MPI(MPI_Comm_free(&node));
        if (rc < 0) {
            elmo_model_free(m);
            return rc;
        }
        elmo_rank_log("model %s: packed image mapped from the cache and checked in %.2f s (this "
                      "rank's share: %.2f s CPU), by the %d rank%s of this node into one shared "
                      "copy of %.0f MiB (the page cache's)",
                      weights_path, t[0], t[2], node_size, node_size > 1 ? "s" : "",
                      (double)(nc + np) * sizeof(float) / 1048576.0);
        return 0;
    }
    if (hit) { /* the weights are to be read (and checked): no image of them is kept */
        elmo_pack_cache_unmap(&w->img);
        ce.file[0] = '\0';
    }
    if (rc < 0) {
        free(w);
        ELMO_MPI(MPI_Comm_free(&node));
        return rc;
    }
    /* mapped: the window holds the char table and the packed copies, not the raw weights */
    const size_t nb = mapped ? nc : elmo_model_block_floats(&opt);
    double t0 = elmo_now(), c0 = cpu_now();
    float *block = (float *)allocate(node, node_rank, (nb + np) * sizeof(float), &w->win);
    w->has_win = true;
    if (!pages_ok((char *)block, (nb + np) * sizeof(float), node, node_rank, node_size)) {
        elmo_rank_log("model %s: no room for a shared copy of %.0f MiB (/dev/shm?): one copy "
                      "per rank",
                      weights_path, (double)(nb + np) * sizeof(float) / 1048576.0);
        release_window(w);
        ELMO_MPI(MPI_Comm_free(&node));
        return elmo_agree(elmo_model_load(options_path, weights_path, m));
    }
    t[4] = elmo_now() - t0, t[5] = cpu_now() - c0;
    rc = elmo_agree(mapped ? elmo_model_init_views(m, &opt, block, tensors)
                           : elmo_model_init_at(m, &opt, block));
    m->release = release_window; /* from here elmo_model_free gives the window back */
    m->release_ctx = w;
    if (rc == 0)
        rc = fill(m, weights_path, mapped, tensors, block + nb, w->win, node, node_rank, node_size,
                  t);
    ELMO_MPI(MPI_Comm_free(&node));
    if (rc < 0) {
        elmo_model_free(m);
        return rc;
    }
    drop_pages(&w->map);
    elmo_rank_log("model %s: %s %.2f s, window %.2f s, packed %.2f s (this rank's share: %.2f + "
                  "%.2f + %.2f s CPU), by the %d rank%s of this node into one shared copy of "
                  "%.0f MiB",
                  weights_path, mapped ? "mapped" : "read", t[0], t[4], t[1], t[2], t[5], t[3],
                  node_size, node_size > 1 ? "s" : "",
                  (double)(nb + np) * sizeof(float) / 1048576.0);
    if (node_rank == 0 && mapped) cache_image(weights_path, &opt, &ce, block, nc, nc + np);
    return 0;
}
