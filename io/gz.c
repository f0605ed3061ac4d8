/*
 * gz.c: strict plain/gzip input (gz.h), on zlib's inflate.
 */
#include "io/gz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "model/status.h"

#define RAW_BUFFER (1 << 17)

struct elmo_gz {
    int fd;
    char *name;
    unsigned char *raw;      /* (RAW_BUFFER) compressed or plain bytes read ahead */
    size_t raw_pos, raw_len;
    bool raw_eof;
    int64_t raw_offset;      /* bytes of the file before raw[0] */
    bool gzip;
    bool in_member;          /* inside a gzip member (inflate initialised for it) */
    bool done;               /* the end was reached cleanly */
    z_stream z;
    bool z_init;
    /* getline's look-ahead of decompressed bytes */
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
    while (!g->raw_eof && avail(g) < 2)
        if (refill(g) < 0) {
            elmo_gz_close(g);
            return NULL;
        }
    g->gzip = avail(g) >= 2 && g->raw[0] == 0x1f && g->raw[1] == 0x8b;
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

int elmo_gz_compressed(const struct elmo_gz *g) { return g->gzip; }

/* Starts the next member at raw_pos, or ends the input; 1 started, 0 clean end, < 0 error. */
static int next_member(struct elmo_gz *g) {
    while (!g->raw_eof && avail(g) < 2) ELMO_TRY(refill(g));
    if (avail(g) == 0) return 0;
    int64_t at = g->raw_offset + (int64_t)g->raw_pos;
    if (avail(g) < 2 || g->raw[g->raw_pos] != 0x1f || g->raw[g->raw_pos + 1] != 0x8b)
        return elmo_error(ELMO_ERR_IO,
                          "%s: byte %lld: data after the end of a gzip member is not another "
                          "gzip member (a damaged file, or something appended to it)",
                          g->name, (long long)at);
    if (!g->z_init) {
        memset(&g->z, 0, sizeof g->z);
        if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
            return elmo_error(ELMO_ERR_NOMEM, "%s: cannot start zlib", g->name);
        g->z_init = true;
    } else if (inflateReset(&g->z) != Z_OK) {
        return elmo_error(ELMO_ERR_STATE, "%s: cannot reset zlib", g->name);
    }
    g->in_member = true;
    return 1;
}

ssize_t elmo_gz_read(struct elmo_gz *g, void *buf, size_t n) {
    if (g->done || n == 0) return 0;
    if (!g->gzip) {
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
        g->z.next_in = g->raw + g->raw_pos;
        g->z.avail_in = (uInt)avail(g);
        g->z.next_out = buf;
        g->z.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
        uInt out_before = g->z.avail_out;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        g->raw_pos = g->raw_len - g->z.avail_in;
        size_t got = out_before - g->z.avail_out;
        int64_t at = g->raw_offset + (int64_t)g->raw_pos;
        if (zr == Z_STREAM_END) g->in_member = false;
        else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT)
            return elmo_error(ELMO_ERR_IO, "%s: byte %lld: damaged gzip data: %s", g->name,
                              (long long)at, g->z.msg ? g->z.msg : "invalid");
        else if (zr == Z_MEM_ERROR)
            return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory in zlib", g->name);
        else if (got == 0 && avail(g) == 0 && g->raw_eof)
            return elmo_error(ELMO_ERR_IO,
                              "%s: byte %lld: the gzip stream ends in the middle of a member "
                              "(a truncated file)",
                              g->name, (long long)at);
        if (got > 0) return (ssize_t)got;
    }
}

int elmo_gz_getline(struct elmo_gz *g, char **buf, size_t *cap, size_t *len) {
    size_t n = 0;
    if (!g->out) {
        g->out = malloc(RAW_BUFFER);
        if (!g->out) return elmo_error(ELMO_ERR_NOMEM, "out of memory reading %s", g->name);
    }
    for (;;) {
        if (g->out_pos == g->out_len) {
            ssize_t k = elmo_gz_read(g, g->out, RAW_BUFFER);
            if (k < 0) return (int)k;
            if (k == 0) {
                if (n == 0) return 0;
                break;
            }
            g->out_pos = 0, g->out_len = (size_t)k;
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
    if (g->fd >= 0) close(g->fd);
    free(g->raw);
    free(g->name);
    free(g->out);
    free(g);
}
