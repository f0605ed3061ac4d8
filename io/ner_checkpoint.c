/*
 * ner_checkpoint.c: train-ner's checkpoint file (see ner_checkpoint.h).
 */
#include "io/ner_checkpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/outfile.h"
#include "io/sha256.h"
#include "model/status.h"

int elmo_ner_ckpt_write(const char *path, const struct elmo_ner_ckpt_head *h,
                        const struct elmo_ner_epoch *elog, const struct elmo_tagger *t,
                        const struct elmo_tagger *best, const struct elmo_optim *adam) {
    char tmp[ELMO_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    const void *part[6] = {h, elog, t->block, best->block, adam->state, adam->state + adam->n};
    size_t len[6] = {sizeof *h,
                     sizeof *elog * (size_t)h->epochs_done,
                     sizeof(float) * h->n_floats,
                     sizeof(float) * h->n_floats,
                     sizeof(float) * h->n_floats,
                     sizeof(float) * h->n_floats};
    struct elmo_sha256 sum;
    uint8_t digest[32];
    elmo_sha256_init(&sum);
    bool bad = false;
    for (int i = 0; i < 6 && !bad; i++) {
        elmo_sha256_update(&sum, part[i], len[i]);
        bad = len[i] > 0 && fwrite(part[i], 1, len[i], f) != len[i];
    }
    elmo_sha256_final(&sum, digest);
    bad = bad || fwrite(digest, sizeof digest, 1, f) != 1;
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return elmo_commit_file(tmp, path);
}

int elmo_ner_ckpt_read(const char *path, int max_epochs, struct elmo_ner_ckpt_head *h,
                       struct elmo_ner_epoch *elog, struct elmo_tagger *t, struct elmo_tagger *best,
                       struct elmo_optim *adam) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = 1;
    struct elmo_sha256 sum;
    uint8_t digest[32], stored[32];
    elmo_sha256_init(&sum);
    if (fread(h, sizeof *h, 1, f) != 1 ||
        memcmp(h->magic, ELMO_NER_CKPT_MAGIC, sizeof ELMO_NER_CKPT_MAGIC) != 0 ||
        h->n_floats != t->n_floats || h->epochs_done < 1 || h->epochs_done > max_epochs) {
        rc = elmo_error(ELMO_ERR_MISMATCH,
                        "%s is not a checkpoint of this job (another model "
                        "size, more epochs than asked, or not a checkpoint); delete it or rerun "
                        "with --overwrite",
                        path);
    } else {
        elmo_sha256_update(&sum, h, sizeof *h);
        void *part[5] = {elog, t->block, best->block, adam->state, adam->state + adam->n};
        size_t len[5] = {sizeof *elog * (size_t)h->epochs_done, sizeof(float) * h->n_floats,
                         sizeof(float) * h->n_floats, sizeof(float) * h->n_floats,
                         sizeof(float) * h->n_floats};
        for (int i = 0; i < 5 && rc == 1; i++) {
            if (fread(part[i], 1, len[i], f) != len[i]) rc = 0;
            else elmo_sha256_update(&sum, part[i], len[i]);
        }
        elmo_sha256_final(&sum, digest);
        if (rc != 1 || fread(stored, sizeof stored, 1, f) != 1 ||
            memcmp(stored, digest, sizeof digest) != 0 || fgetc(f) != EOF)
            rc = elmo_error(ELMO_ERR_FORMAT,
                            "%s is damaged (short, or its checksum does not "
                            "match); delete it to start over",
                            path);
    }
    fclose(f);
    return rc;
}
