/*
 * fuzz_gzip.c: compressed corpora through the corpus reader (text format).  Any input must be
 * read without a crash, ending at the end of the stream or with an I/O error that names the
 * file.  When the input is a clean gzip stream (one or more members, each decoded to its end by
 * zlib's inflate here, and nothing after the last), the records must equal those of the
 * decompressed bytes read as a plain file; members followed by bytes that are not another member
 * must be refused, never read as a silent end of input.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/corpus.h"
#include "io/gz.h"
#include "model/status.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_OUT (16u << 20)

/*
 * Decompresses every gzip member at the start of data; false unless all decode cleanly.
 * *trailing: bytes after the last member that are not another member.
 */
static bool gunzip(const unsigned char *data, size_t size, unsigned char **out, size_t *out_len,
                   bool *trailing) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
    size_t cap = 4096, len = 0, pos = 0;
    unsigned char *buf = elmo_xmalloc(cap);
    bool ok = true;
    while (ok && size - pos >= 2 && data[pos] == 0x1f && data[pos + 1] == 0x8b) {
        inflateReset(&zs);
        zs.next_in = (unsigned char *)data + pos;
        zs.avail_in = (uInt)(size - pos);
        int zrc;
        do {
            if (len == cap) {
                if (cap >= MAX_OUT) {
                    ok = false;
                    break;
                }
                cap *= 2;
                buf = elmo_xrealloc(buf, cap);
            }
            zs.next_out = buf + len;
            zs.avail_out = (uInt)(cap - len);
            zrc = inflate(&zs, Z_NO_FLUSH);
            len = cap - zs.avail_out;
        } while (zrc == Z_OK || (zrc == Z_BUF_ERROR && zs.avail_out == 0));
        if (!ok || zrc != Z_STREAM_END) ok = false;
        pos = size - zs.avail_in;
    }
    inflateEnd(&zs);
    *trailing = pos < size;
    *out = buf;
    *out_len = len;
    return ok;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_TEXT};
    const char *path = fuzz_scratch_write(data, size);
    bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    bool compressed = size > 0 && elmo_gz_magic_codec(data, size < 4 ? size : 4) != NULL;
    FUZZ_ASSERT(elmo_corpus_is_stream(path) == compressed, "is_stream %d for magic %d",
                (int)elmo_corpus_is_stream(path), (int)compressed);
    struct fuzz_recs recs = {0};
    int rc = fuzz_read_records(path, &opts, 0, -1, 1, &recs);
    if (rc < 0)
        FUZZ_ASSERT(rc == ELMO_ERR_IO && strstr(elmo_errmsg(), path) != NULL,
                    "status %d: %s", rc, elmo_errmsg());
    unsigned char *plain = NULL;
    size_t plain_len = 0;
    bool trailing = false;
    bool clean = gz && gunzip(data, size, &plain, &plain_len, &trailing);
    if (clean && trailing) {
        FUZZ_ASSERT(rc < 0, "data after the last gzip member was ignored");
    } else if (clean) {
        FUZZ_ASSERT(rc == 0, "a clean gzip stream failed: %s", elmo_errmsg());
        if (!(plain_len >= 2 && plain[0] == 0x1f && plain[1] == 0x8b)) {
            struct fuzz_recs flat;
            fuzz_check_corpus(plain, plain_len, &opts, &flat);
            fuzz_recs_same(&recs, &flat, "gzip vs the decompressed file");
            fuzz_recs_free(&flat);
        }
    }
    free(plain);
    fuzz_recs_free(&recs);
    return 0;
}
