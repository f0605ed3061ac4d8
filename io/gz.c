/*
 * gz.c: strict plain/gzip/bzip2/zstd input (gz.h), on zlib's inflate, libbz2 and libzstd.
 *
 * One loop serves every codec: a member (a gzip member, a bzip2 stream, a zstd frame) is
 * started only at its codec's magic bytes, decoded until the codec reports its end, and then
 * either the input ends there or the next member starts; running out of input inside a member
 * is a truncated file.
 */
#include "io/gz.h"

#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "model/status.h"

#define RAW_BUFFER (1 << 17)

enum codec { CODEC_PLAIN = 0, CODEC_GZIP, CODEC_BZIP2, CODEC_ZSTD };

static const char *const codec_names[] = {"plain", "gzip", "bzip2", "zstd"};

struct elmo_gz {
    int fd;
    char *name;
    unsigned char *raw;      /* (RAW_BUFFER) compressed or plain bytes read ahead */
    size_t raw_pos, raw_len;
    bool raw_eof;
    int64_t raw_offset;      /* bytes of the file before raw[0] */
    enum codec codec;
    bool in_member;          /* inside a member (the decoder initialised for it) */
    bool done;               /* the end was reached cleanly */
    z_stream z;              /* gzip */
    bool z_init;
    bz_stream bz;            /* bzip2: initialised per stream */
    bool bz_init;
    ZSTD_DStream *zs;        /* zstd */
    /* look-ahead of decompressed bytes (getline and peek) */
    char *out;
    size_t out_pos, out_len;
};

/* Reads more raw bytes after the unconsumed ones; 0, or a negative status. */
static int refill(struct elmo_gz *g) {
    if (g->raw_pos > 0) {
        memmove(g->raw, g->raw + g->raw_pos, g->raw_len - g->raw_pos);
        g->raw_offset += (int64_t)g->raw_pos;
        g->raw_len -= g->raw_pos;
        g->raw_pos = 0;
    }
    while (!g->raw_eof && g->raw_len < RAW_BUFFER) {
        ssize_t n = read(g->fd, g->raw + g->raw_len, RAW_BUFFER - g->raw_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return elmo_error(ELMO_ERR_IO, "%s: read error: %s", g->name, strerror(errno));
        if (n == 0) g->raw_eof = true;
        g->raw_len += (size_t)n;
        break;
    }
    return 0;
}

static size_t avail(const struct elmo_gz *g) { return g->raw_len - g->raw_pos; }

/* The codec whose magic starts b[0..n), or CODEC_PLAIN. */
static enum codec magic_codec(const unsigned char *b, size_t n) {
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return CODEC_GZIP;
    if (n >= 4 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9')
        return CODEC_BZIP2;
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return CODEC_ZSTD;
    return CODEC_PLAIN;
}

/* A zstd skippable frame: magic 0x184D2A50..0x184D2A5F, little-endian. */
static bool zstd_skippable(const unsigned char *b, size_t n) {
    return n >= 4 && (b[0] & 0xF0) == 0x50 && b[1] == 0x2A && b[2] == 0x4D && b[3] == 0x18;
}

const char *elmo_gz_magic_codec(const void *b, size_t n) {
    enum codec c = magic_codec(b, n);
    return c == CODEC_PLAIN ? NULL : codec_names[c];
}

/* Makes at least want raw bytes available unless the input ends first. */
static int want_raw(struct elmo_gz *g, size_t want) {
    while (!g->raw_eof && avail(g) < want) ELMO_TRY(refill(g));
    return 0;
}

struct elmo_gz *elmo_gz_fdopen(int fd, const char *name) {
    struct elmo_gz *g = calloc(1, sizeof *g);
    unsigned char *raw = malloc(RAW_BUFFER);
    char *nm = strdup(name ? name : "<input>");
    if (!g || !raw || !nm) {
        free(g), free(raw), free(nm);
        close(fd);
        elmo_error(ELMO_ERR_NOMEM, "out of memory opening %s", name ? name : "<input>");
        return NULL;
    }
    g->fd = fd, g->raw = raw, g->name = nm;
    if (want_raw(g, 4) < 0) {
        elmo_gz_close(g);
        return NULL;
    }
    g->codec = magic_codec(g->raw, avail(g));
    return g;
}

struct elmo_gz *elmo_gz_open(const char *path) {
    bool in = !strcmp(path, "-");
    int fd = in ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        elmo_error(ELMO_ERR_IO, "%s: %s", in ? "<stdin>" : path, strerror(errno));
        return NULL;
    }
    return elmo_gz_fdopen(fd, in ? "<stdin>" : path);
}

int elmo_gz_compressed(const struct elmo_gz *g) { return g->codec != CODEC_PLAIN; }

const char *elmo_gz_codec(const struct elmo_gz *g) { return codec_names[g->codec]; }

/* Starts the next member at raw_pos, or ends the input; 1 started, 0 clean end, < 0 error. */
static int next_member(struct elmo_gz *g) {
    ELMO_TRY(want_raw(g, 4));
    if (avail(g) == 0) return 0;
    int64_t at = g->raw_offset + (int64_t)g->raw_pos;
    const unsigned char *b = g->raw + g->raw_pos;
    bool ok = magic_codec(b, avail(g)) == g->codec ||
              (g->codec == CODEC_ZSTD && zstd_skippable(b, avail(g)));
    if (!ok)
        return elmo_error(ELMO_ERR_IO,
                          "%s: byte %lld: data after the end of a %s member is not another "
                          "%s member (a damaged file, or something appended to it)",
                          g->name, (long long)at, codec_names[g->codec], codec_names[g->codec]);
    switch (g->codec) {
    case CODEC_GZIP:
        if (!g->z_init) {
            memset(&g->z, 0, sizeof g->z);
            if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
                return elmo_error(ELMO_ERR_NOMEM, "%s: cannot start zlib", g->name);
            g->z_init = true;
        } else if (inflateReset(&g->z) != Z_OK) {
            return elmo_error(ELMO_ERR_STATE, "%s: cannot reset zlib", g->name);
        }
        break;
    case CODEC_BZIP2:
        if (g->bz_init) BZ2_bzDecompressEnd(&g->bz);
        g->bz_init = false;
        memset(&g->bz, 0, sizeof g->bz);
        if (BZ2_bzDecompressInit(&g->bz, 0, 0) != BZ_OK)
            return elmo_error(ELMO_ERR_NOMEM, "%s: cannot start libbz2", g->name);
        g->bz_init = true;
        break;
    case CODEC_ZSTD:
        if (!g->zs) {
            g->zs = ZSTD_createDStream();
            if (!g->zs) return elmo_error(ELMO_ERR_NOMEM, "%s: cannot start libzstd", g->name);
        }
        if (ZSTD_isError(ZSTD_initDStream(g->zs)))
            return elmo_error(ELMO_ERR_STATE, "%s: cannot reset libzstd", g->name);
        break;
    case CODEC_PLAIN: break;
    }
    g->in_member = true;
    return 1;
}

/*
 * One decoding step of the current member from raw[raw_pos..) into buf[0..n): consumes input,
 * sets *got, and returns 1 at the member's end, 0 otherwise, or a negative status naming the
 * compressed byte offset of a damaged member.
 */
static int decode_step(struct elmo_gz *g, void *buf, size_t n, size_t *got) {
    size_t in_n = avail(g), out_n = n > (1u << 30) ? (1u << 30) : n;
    int end = 0;
    const char *why = NULL;
    *got = 0;
    switch (g->codec) {
    case CODEC_GZIP: {
        g->z.next_in = g->raw + g->raw_pos;
        g->z.avail_in = (uInt)in_n;
        g->z.next_out = buf;
        g->z.avail_out = (uInt)out_n;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        g->raw_pos += in_n - g->z.avail_in;
        *got = out_n - g->z.avail_out;
        if (zr == Z_STREAM_END) end = 1;
        else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) why = g->z.msg ? g->z.msg : "invalid";
        else if (zr == Z_MEM_ERROR)
            return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory in zlib", g->name);
        break;
    }
    case CODEC_BZIP2: {
        g->bz.next_in = (char *)(g->raw + g->raw_pos);
        g->bz.avail_in = (unsigned)in_n;
        g->bz.next_out = buf;
        g->bz.avail_out = (unsigned)out_n;
        int br = BZ2_bzDecompress(&g->bz);
        g->raw_pos += in_n - g->bz.avail_in;
        *got = out_n - g->bz.avail_out;
        if (br == BZ_STREAM_END) end = 1;
        else if (br == BZ_MEM_ERROR)
            return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory in libbz2", g->name);
        else if (br != BZ_OK) why = br == BZ_DATA_ERROR_MAGIC ? "bad magic" : "invalid data";
        break;
    }
    case CODEC_ZSTD: {
        ZSTD_inBuffer in = {g->raw + g->raw_pos, in_n, 0};
        ZSTD_outBuffer out = {buf, out_n, 0};
        size_t zr = ZSTD_decompressStream(g->zs, &out, &in);
        g->raw_pos += in.pos;
        *got = out.pos;
        if (ZSTD_isError(zr)) why = ZSTD_getErrorName(zr);
        else if (zr == 0) end = 1;
        break;
    }
    case CODEC_PLAIN: break;
    }
    if (why)
        return elmo_error(ELMO_ERR_IO, "%s: byte %lld: damaged %s data: %s", g->name,
                          (long long)(g->raw_offset + (int64_t)g->raw_pos), codec_names[g->codec],
                          why);
    return end;
}

/* Reads decompressed bytes past the look-ahead: > 0, 0 at the end, or a negative status. */
static ssize_t decode(struct elmo_gz *g, void *buf, size_t n) {
    if (g->done || n == 0) return 0;
    if (g->codec == CODEC_PLAIN) {
        if (avail(g) == 0 && !g->raw_eof) ELMO_TRY(refill(g));
        size_t k = avail(g) < n ? avail(g) : n;
        memcpy(buf, g->raw + g->raw_pos, k);
        g->raw_pos += k;
        if (k == 0) g->done = true;
        return (ssize_t)k;
    }
    for (;;) {
        if (!g->in_member) {
            int r = next_member(g);
            if (r < 0) return r;
            if (r == 0) {
                g->done = true;
                return 0;
            }
        }
        if (avail(g) == 0 && !g->raw_eof) ELMO_TRY(refill(g));
        size_t got = 0;
        int end = decode_step(g, buf, n, &got);
        if (end < 0) return end;
        if (end) g->in_member = false;
        else if (got == 0 && avail(g) == 0 && g->raw_eof)
            return elmo_error(ELMO_ERR_IO,
                              "%s: byte %lld: the %s stream ends in the middle of a member "
                              "(a truncated file)",
                              g->name, (long long)(g->raw_offset + (int64_t)g->raw_pos),
                              codec_names[g->codec]);
        if (got > 0) return (ssize_t)got;
    }
}

/* Refills the look-ahead when it is used up: 0 (out_len == out_pos at the end) or < 0. */
static int fill_ahead(struct elmo_gz *g) {
    if (!g->out) {
        g->out = malloc(RAW_BUFFER);
        if (!g->out) return elmo_error(ELMO_ERR_NOMEM, "out of memory reading %s", g->name);
    }
    if (g->out_pos < g->out_len) return 0;
    ssize_t k = decode(g, g->out, RAW_BUFFER);
    if (k < 0) return (int)k;
    g->out_pos = 0, g->out_len = (size_t)k;
    return 0;
}

ssize_t elmo_gz_read(struct elmo_gz *g, void *buf, size_t n) {
    if (g->out && g->out_pos < g->out_len) {
        size_t k = g->out_len - g->out_pos < n ? g->out_len - g->out_pos : n;
        memcpy(buf, g->out + g->out_pos, k);
        g->out_pos += k;
        return (ssize_t)k;
    }
    return decode(g, buf, n);
}

int elmo_gz_peek(struct elmo_gz *g, const char **p, size_t *n) {
    ELMO_TRY(fill_ahead(g));
    *p = g->out + g->out_pos;
    *n = g->out_len - g->out_pos;
    return 0;
}

int elmo_gz_getline(struct elmo_gz *g, char **buf, size_t *cap, size_t *len) {
    size_t n = 0;
    for (;;) {
        ELMO_TRY(fill_ahead(g));
        if (g->out_pos == g->out_len) {
            if (n == 0) return 0;
            break;
        }
        const char *s = g->out + g->out_pos;
        size_t m = g->out_len - g->out_pos;
        const char *nl = memchr(s, '\n', m);
        size_t take = nl ? (size_t)(nl - s) : m;
        if (n + take + 1 > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < n + take + 1) c *= 2;
            char *b = realloc(*buf, c);
            if (!b) return elmo_error(ELMO_ERR_NOMEM, "out of memory for a line of %s", g->name);
            *buf = b, *cap = c;
        }
        memcpy(*buf + n, s, take);
        n += take;
        g->out_pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = '\0';
    *len = n;
    return 1;
}

void elmo_gz_close(struct elmo_gz *g) {
    if (!g) return;
    if (g->z_init) inflateEnd(&g->z);
    if (g->bz_init) BZ2_bzDecompressEnd(&g->bz);
    if (g->zs) ZSTD_freeDStream(g->zs);
    if (g->fd >= 0) close(g->fd);
    free(g->raw);
    free(g->name);
    free(g->out);
    free(g);
}
