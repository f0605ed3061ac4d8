/*
 * pack_cache.c: packed-weight images kept in files (pack_cache.h).
 */
#define _DEFAULT_SOURCE     /* gethostname, madvise */
#define _XOPEN_SOURCE   700 /* posix_fadvise */
#include "io/pack_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/hash_cache.h"
#include "io/outfile.h"
#include "model/fnv.h"
#include "model/status.h"

#define MAGIC        "elmo packed 1\n"
/* Floats per checksummed block (4 MiB). */
#define BLOCK_FLOATS ((size_t)1 << 20)
/* The largest header a reader accepts. */
#define HEADER_MAX   ((size_t)1 << 20)

/* The header's fixed part (64 bytes). */
struct fixed {
    char magic[16];
    uint64_t header_bytes, floats, block_floats, nblocks, key_bytes, header_sum;
};

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* The header's checksum: FNV-1a over its bytes with the header_sum field taken as 0. */
static uint64_t header_sum(const unsigned char *h, size_t n) {
    const size_t at = offsetof(struct fixed, header_sum);
    static const unsigned char zero[8];
    uint64_t s = elmo_fnv64_fold(ELMO_FNV64_OFFSET, h, at);
    s = elmo_fnv64_fold(s, zero, 8);
    return elmo_fnv64_fold(s, h + at + 8, n - at - 8);
}

/*
 * Reads and checks the header of the open image file fd (st its stat): NULL with f and *h (its
 * header_bytes bytes, owned) set, else why not (*h NULL; *foreign set when the file does not
 * start with an image's magic).
 */
static const char *read_header(int fd, const struct stat *st, struct fixed *f, unsigned char **h,
                               bool *foreign) {
    *h = NULL;
    *foreign = false;
    if (pread(fd, f, sizeof *f, 0) != (ssize_t)sizeof *f) {
        *foreign = true;
        return "it cannot be read";
    }
    if (memcmp(f->magic, MAGIC, sizeof MAGIC - 1) != 0) {
        *foreign = true;
        return "it is not a packed image";
    }
    if (f->header_bytes % 4096 != 0 || f->header_bytes < sizeof *f ||
        f->header_bytes > HEADER_MAX || f->block_floats == 0 || f->key_bytes > f->header_bytes ||
        f->nblocks > f->header_bytes / 8 ||
        f->nblocks != (f->floats + f->block_floats - 1) / f->block_floats ||
        sizeof *f + round_up(f->key_bytes, 8) + 8 * f->nblocks > f->header_bytes ||
        f->floats > ((uint64_t)1 << 40) || (uint64_t)st->st_size != f->header_bytes + 4 * f->floats)
        return "its header is damaged or the file is truncated";
    if ((*h = malloc(f->header_bytes)) == NULL) return "out of memory";
    if (pread(fd, *h, f->header_bytes, 0) != (ssize_t)f->header_bytes ||
        header_sum(*h, f->header_bytes) != f->header_sum) {
        free(*h);
        *h = NULL;
        return "its header is damaged";
    }
    return NULL;
}

int elmo_pack_cache_map(const char *file, const char *key, size_t floats,
                        struct elmo_pack_image *img, char *why, size_t cap) {
    memset(img, 0, sizeof *img);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "%s", errno == ENOENT ? "none" : strerror(errno));
        return 0;
    }
    struct stat st;
    struct fixed f;
    unsigned char *h = NULL;
    bool foreign;
    const size_t klen = strlen(key);
    const char *bad =
        fstat(fd, &st) != 0 ? "it cannot be read" : read_header(fd, &st, &f, &h, &foreign);
    if (!bad && (f.floats != floats || f.key_bytes != klen || memcmp(h + sizeof f, key, klen)))
        bad = "it was made for another weight file or layout";
    void *p = MAP_FAILED;
    char map_err[160];
    if (!bad) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(map_err, sizeof map_err, "it cannot be mapped: %s", strerror(errno));
            bad = map_err;
        }
        /* the block checksums are read from the mapping: the header checked is the one mapped */
        else if (memcmp(p, h, f.header_bytes) != 0)
            bad = "its header is damaged";
    }
    close(fd);
    free(h);
    if (bad) {
        if (p != MAP_FAILED) munmap(p, (size_t)st.st_size);
        snprintf(why, cap, "%s", bad);
        return 0;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(p, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    img->map = p;
    img->map_bytes = (size_t)st.st_size;
    img->data = (const float *)((const char *)p + f.header_bytes);
    img->floats = floats;
    img->block_floats = f.block_floats;
    img->nblocks = f.nblocks;
    img->sums = (const uint64_t *)((const char *)p + sizeof f + round_up(klen, 8));
    img->dev = st.st_dev;
    img->ino = st.st_ino;
    return 1;
}

long elmo_pack_cache_check(const struct elmo_pack_image *img, int part, int nparts) {
    for (size_t b = (size_t)part; b < img->nblocks; b += (size_t)nparts) {
        const size_t lo = b * img->block_floats;
        const size_t n =
            img->floats - lo < img->block_floats ? img->floats - lo : img->block_floats;
        if (elmo_fnv64_fold(ELMO_FNV64_OFFSET, img->data + lo, n * sizeof(float)) != img->sums[b])
            return (long)b;
    }
    return -1;
}

void elmo_pack_cache_unmap(struct elmo_pack_image *img) {
    if (img->map) munmap(img->map, img->map_bytes);
    memset(img, 0, sizeof *img);
}

void elmo_pack_cache_prefault(const struct elmo_pack_image *img) {
#ifdef MADV_POPULATE_READ
    if (img->map) (void)madvise(img->map, img->map_bytes, MADV_POPULATE_READ);
#else
    (void)img;
#endif
}

long long elmo_pack_cache_pmd_bytes(const struct elmo_pack_image *img) {
    FILE *f = img->map ? fopen("/proc/self/smaps", "r") : NULL;
    if (!f) return -1;
    char line[512];
    long long kb = -1;
    bool ours = false;
    const uintptr_t start = (uintptr_t)img->map;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char dash;
        /* a VMA's first line: "lo-hi perms ..." in hex; its fields follow */
        if (sscanf(line, "%llx%c%llx ", &lo, &dash, &hi) == 3 && dash == '-') {
            if (ours) break;
            ours = lo == start;
        } else if (ours && sscanf(line, "FilePmdMapped: %lld kB", &kb) == 1) break;
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

void elmo_pack_cache_evict(const char *file) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* Writes all n bytes of buf to fd; 0 or -1 (errno set). */
static int write_all(int fd, const void *buf, size_t n) {
    const char *b = buf;
    while (n > 0) {
        ssize_t w = write(fd, b, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int elmo_pack_cache_write(const char *file, const char *key, const float *data, size_t floats,
                          char *why, size_t cap) {
    char dir[PATH_MAX], host[64] = "host", tmp[PATH_MAX + 160];
    const char *slash = strrchr(file, '/');
    const size_t dlen = slash ? (size_t)(slash - file) : 0;
    if (dlen >= sizeof dir) {
        snprintf(why, cap, "the path is too long");
        return -1;
    }
    memcpy(dir, file, dlen);
    dir[dlen] = '\0';
    if (dlen > 0 && elmo_make_dirs_mode(dir, 0700) != ELMO_OK) {
        snprintf(why, cap, "%s", elmo_errmsg());
        elmo_error_clear();
        return -1;
    }
    (void)gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (snprintf(tmp, sizeof tmp, "%s.%s.%ld.tmp", file, host, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(why, cap, "the path is too long");
        return -1;
    }
    const size_t klen = strlen(key), nblocks = (floats + BLOCK_FLOATS - 1) / BLOCK_FLOATS;
    struct fixed f = {
        .floats = floats, .block_floats = BLOCK_FLOATS, .nblocks = nblocks, .key_bytes = klen};
    memcpy(f.magic, MAGIC, sizeof MAGIC - 1);
    f.header_bytes = round_up(sizeof f + round_up(klen, 8) + 8 * nblocks, 4096);
    unsigned char *h = calloc(1, f.header_bytes);
    if (!h) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    uint64_t *sums = (uint64_t *)(h + sizeof f + round_up(klen, 8));
    memcpy(h + sizeof f, key, klen);
    for (size_t b = 0; b < nblocks; b++) {
        const size_t lo = b * BLOCK_FLOATS;
        const size_t n = floats - lo < BLOCK_FLOATS ? floats - lo : BLOCK_FLOATS;
        sums[b] = elmo_fnv64_fold(ELMO_FNV64_OFFSET, data + lo, n * sizeof(float));
    }
    memcpy(h, &f, sizeof f);
    f.header_sum = header_sum(h, f.header_bytes);
    memcpy(h, &f, sizeof f);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, cap, "%s: %s", tmp, strerror(errno));
        free(h);
        return -1;
    }
    const char *step = NULL;
    int err = 0;
    if (write_all(fd, h, f.header_bytes) != 0 || write_all(fd, data, floats * sizeof(float)) != 0)
        step = "writing", err = errno;
    if (close(fd) != 0 && !step) step = "closing", err = errno;
    if (!step && rename(tmp, file) != 0) step = "renaming", err = errno;
    if (step) {
        snprintf(why, cap, "%s %s: %s", step, tmp, strerror(err));
        unlink(tmp); /* this call created it (O_EXCL) */
    }
    free(h);
    return step ? -1 : 0;
}

enum elmo_pack_state elmo_pack_cache_state(const char *file, char *path, size_t cap,
                                           long long *bytes) {
    path[0] = '\0';
    *bytes = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ELMO_PACK_FOREIGN;
    struct stat st;
    struct fixed f;
    unsigned char *h = NULL;
    bool foreign = true;
    const char *bad = fstat(fd, &st) != 0 ? "?" : read_header(fd, &st, &f, &h, &foreign);
    close(fd);
    if (bad && foreign) return ELMO_PACK_FOREIGN;
    *bytes = (long long)st.st_size;
    if (bad) return ELMO_PACK_DAMAGED;
    /* the key: the identity line (elmo_cache_entry), " ", the layout's name */
    char *key = calloc(1, f.key_bytes + 1), *at, *layout = NULL;
    if (!key) {
        free(h);
        return ELMO_PACK_DAMAGED;
    }
    memcpy(key, h + sizeof f, f.key_bytes);
    free(h);
    for (char *p = key; (p = strstr(p, " layout=")) != NULL; p++) layout = p;
    at = strstr(key, " path=");
    if (!layout || !at || at > layout) {
        free(key);
        return ELMO_PACK_DAMAGED;
    }
    *layout = '\0';
    snprintf(path, cap, "%s", at + 6);
    char entry[PATH_MAX + 96], ident[PATH_MAX + 256];
    const char *mine = strrchr(file, '/'), *theirs;
    mine = mine ? mine + 1 : file;
    enum elmo_pack_state state = ELMO_PACK_STALE;
    if (elmo_cache_entry(path, "packed-", ".bin", entry, sizeof entry, ident, sizeof ident) == 0 &&
        (theirs = strrchr(entry, '/')) != NULL && !strcmp(theirs + 1, mine) && !strcmp(ident, key))
        state = ELMO_PACK_LIVE;
    else if (stat(path, &st) != 0) state = ELMO_PACK_ORPHAN;
    free(key);
    return state;
}
