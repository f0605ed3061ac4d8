/*
 * store_export.h: a finished store in the layout `allennlp elmo` writes (elmo-spec.md section
 * 10): one float32 dataset per sentence, keyed "0".."N-1", of shape (3, n, 2P) from
 * /embeddings/all or from the three layers stored apart (word_emb, lstm_outputs1,
 * lstm_outputs2), or (n, 2P) from top or average, plus "sentence_to_index", a (1,)
 * variable-length string holding json.dumps({stripped sentence text: "index", ...}).
 */
#ifndef ELMO_STORE_EXPORT_H
#define ELMO_STORE_EXPORT_H

#include <stdbool.h>

/*
 * Writes the export of the complete store at `store` to `out`, following the output discipline
 * of io/outfile.h: the store is opened, validated and read as far as it can be before OUT is
 * touched; OUT must be a regular file (or absent) and none of the store's files; OUT.lock is
 * held, OUT.partial written and renamed over OUT only once whole, so an earlier OUT survives
 * every failure and every stop signal (polled per sentence: ELMO_ERR_INTERRUPTED).  A failure
 * after the partial was created says in its message that the partial was removed.
 *
 * *broken is set when HDF5 failed to close OUT.partial (a full disk, a file size limit): HDF5
 * 1.10 then keeps a half-freed file that its shutdown closes again and crashes on, so the caller
 * must end the process without that shutdown once the error is printed.  Serial (one process).
 */
int elmo_store_export_allennlp(const char *store, const char *out, bool *broken);

#endif /* ELMO_STORE_EXPORT_H */
