/*
 * cmd_eval_ner.c: the eval-ner job.  Every rank loads the tagger and its features' model, tags
 * a contiguous block of sentences, and rank 0 gathers the tags and scores them like conlleval;
 * with `out`, rank 0 also writes OUT (the scores as JSON) and OUT.conll (the predictions).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/ner_shared.h"
#include "io/conlleval.h"
#include "io/ner_data.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"
#include "worker/ner_step.h"

int elmo_eval_ner_run(struct elmo_job *job) {
    const char *input = job->input[0] ? job->input : job->test;
    int rank = elmo_rank(), size = elmo_size(), rc = 0;
    struct elmo_ner_data d;
    struct elmo_tagging rt;
    memset(&rt, 0, sizeof rt);
    elmo_blas_set_threads(job->threads);
    static const char *const eval_outputs[] = {"", ".partial", ".conll"};
    ELMO_TRY(elmo_agree(rank == 0 ? elmo__ner_check_outputs(job, job->out, eval_outputs, 3) : 0));
    ELMO_TRY(elmo_agree(elmo_ner_data_read(input, false, &d)));
    double t0 = elmo_now();
    rc = elmo__tagging_open(&rt, job, d.max_len > 0 ? d.max_len : 1);
    if (rc < 0) {
        elmo_ner_data_free(&d);
        return rc;
    }
    int32_t *len = elmo__ner_lengths(&d);
    int64_t s0, s1;
    elmo_ner_block(d.n_sent, rank, size, &s0, &s1);
    int64_t t_a = d.offset[s0], t_b = d.offset[s1];
    int32_t *mine = elmo_xmalloc(sizeof(int32_t) * (size_t)(t_b - t_a + 1));
    int32_t *all = rank == 0 ? elmo_xmalloc(sizeof(int32_t) * (size_t)(d.n_tok + 1)) : NULL;
    int lrc = elmo_tagging_tag(&rt, (int)(s1 - s0), len + s0, (const char *const *)d.tok + t_a,
                               mine, NULL);
    ELMO_CALL(elmo_agree(lrc));
    /* a stop signal on any rank while tagging: nothing is written (exit 3) */
    int any_sig = elmo_stop_agreed();
    if (any_sig)
        ELMO_FAIL(ELMO_ERR_INTERRUPTED,
                  "interrupted by signal %d; nothing was written: rerun the same job", any_sig);
    ELMO_CALL(elmo__ner_gather_tags(&d, mine, all));
    if (rank == 0) {
        struct elmo_conll_eval ev;
        char pred[ELMO_PATH_MAX + 16];
        FILE *pf = NULL;
        lrc = 0;
        if (job->out[0]) {
            snprintf(pred, sizeof pred, "%s.conll", job->out);
            pf = fopen(pred, "w");
            if (!pf) lrc = elmo_error(ELMO_ERR_IO, "%s: %s", pred, strerror(errno));
        }
        if (lrc == 0) lrc = elmo__ner_score_tags(&d, &rt.meta.tags, all, &ev, pf);
        if (pf && fclose(pf) != 0 && lrc == 0)
            lrc = elmo_error(ELMO_ERR_IO, "%s: write failed", pred);
        if (lrc == 0) {
            elmo_conll_eval_print(&ev, stdout);
            fflush(stdout);
            if (job->out[0]) {
                char *js = elmo_conll_eval_json(&ev);
                lrc = elmo__ner_write_text(job->out, js);
                free(js);
            }
            double dt = elmo_now() - t0;
            fprintf(stderr,
                    "eval-ner: %d sentences, %" PRId64 " tokens tagged in %.2f s on %d rank%s "
                    "(%s features)%s%s%s\n",
                    d.n_sent, d.n_tok, dt, size, size > 1 ? "s" : "", rt.meta.features,
                    job->out[0] ? "; wrote " : "", job->out, job->out[0] ? " and its .conll" : "");
        }
    }
    ELMO_CALL(elmo_agree(lrc));
cleanup:
    free(mine);
    free(all);
    free(len);
    elmo_tagging_close(&rt);
    elmo_ner_data_free(&d);
    return rc;
}
