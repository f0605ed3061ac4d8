/*
 * ner_shared.c: what the NER jobs share (see ner_shared.h).
 */
#include "driver/ner_shared.h"

#include <errno.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/node_model.h"
#include "io/outfile.h"
#include "model/status.h"
#include "worker/ner_step.h"

int elmo__tagging_open(struct elmo_tagging *r, const struct elmo_job *job, int max_len) {
    ELMO_TRY(elmo_agree(elmo_tagging_load(r, job)));
    ELMO_TRY(elmo_agree(elmo_rank() == 0 ? elmo_tagging_verify(r, job) : 0));
    int rc = elmo_tagging_needs_bilm(r) ? elmo_node_model_load(r->options, r->weights, &r->m) : 0;
    if (rc == 0) rc = elmo_agree(elmo_tagging_prepare(r, job, max_len));
    if (rc < 0) elmo_tagging_close(r);
    return rc;
}

/* Sentence lengths of d as int32. */
int32_t *elmo__ner_lengths(const struct elmo_ner_data *d) {
    int32_t *len = elmo_xmalloc(sizeof(int32_t) * (size_t)(d->n_sent > 0 ? d->n_sent : 1));
    for (int s = 0; s < d->n_sent; s++) len[s] = (int32_t)(d->offset[s + 1] - d->offset[s]);
    return len;
}

/*
 * Gathers per-token tag ids of every rank's sentence block [s0, s1) to rank 0 (all: the
 * d->n_tok ids in order, rank 0 only).  Collective.
 */
int elmo__ner_gather_tags(const struct elmo_ner_data *d, const int32_t *mine, int32_t *all) {
    int size = elmo_size();
    int *counts = elmo_xmalloc(sizeof(int) * (size_t)size),
        *displs = elmo_xmalloc(sizeof(int) * (size_t)size);
    for (int r = 0; r < size; r++) {
        int64_t a, b;
        elmo_ner_block(d->n_sent, r, size, &a, &b);
        counts[r] = (int)(d->offset[b] - d->offset[a]);
        displs[r] = (int)d->offset[a];
    }
    int me = elmo_rank();
    ELMO_MPI(MPI_Gatherv(mine, counts[me], MPI_INT32_T, all, counts, displs, MPI_INT32_T, 0,
                         MPI_COMM_WORLD));
    free(counts);
    free(displs);
    return 0;
}

/* Scores predicted tag ids against d's gold tags; writes `token gold guess` lines when f. */
int elmo__ner_score_tags(const struct elmo_ner_data *d, const struct elmo_tagset *ts,
                         const int32_t *tags, struct elmo_conll_eval *ev, FILE *f) {
    elmo_conll_eval_init(ev);
    const char **guess = elmo_xmalloc(sizeof(char *) * (size_t)(d->n_tok > 0 ? d->n_tok : 1));
    for (int64_t i = 0; i < d->n_tok; i++) guess[i] = ts->name[tags[i]];
    int rc = 0;
    for (int s = 0; s < d->n_sent && rc == 0; s++) {
        int64_t a = d->offset[s], b = d->offset[s + 1];
        rc = elmo_conll_eval_add(ev, (int)(b - a), (const char *const *)d->tag + a, guess + a);
        if (f) {
            for (int64_t i = a; i < b; i++)
                fprintf(f, "%s %s %s\n", d->tok[i], d->tag[i], guess[i]);
            fputc('\n', f);
        }
    }
    free(guess);
    return rc;
}

/* Writes text to path aside (PATH.partial) and renames it into place when complete. */
int elmo__ner_write_text(const char *path, const char *text) {
    char tmp[ELMO_PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp)
        return elmo_error(ELMO_ERR_ARG, "path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", tmp, strerror(errno));
    int bad = fputs(text, f) < 0;
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return elmo_commit_file(tmp, path);
}

/*
 * Rank 0, before any work: every file the job writes (each prefix + suffix: OUT + ".conll", or
 * DIR/ + "tagger.h5") must be none of its inputs (by device and inode) and a regular file or
 * absent.
 */
int elmo__ner_check_outputs(const struct elmo_job *job, const char *prefix,
                            const char *const *suffixes, int n_suf) {
    if (!job->out[0]) return 0;
    const char *inputs[] = {job->train, job->dev,   job->test,   job->input,
                            job->tagger, job->options, job->weights, job->glove};
    const int n_in = (int)(sizeof inputs / sizeof inputs[0]);
    for (int i = 0; i < n_suf; i++) {
        char path[ELMO_PATH_MAX + 64];
        if (snprintf(path, sizeof path, "%s%s", prefix, suffixes[i]) >= (int)sizeof path)
            return elmo_error(ELMO_ERR_ARG, "`out` is too long: %s", job->out);
        ELMO_TRY(elmo_check_output_path("out", path, inputs, n_in));
    }
    return 0;
}
