/*
 * node_model.h: the biLM loaded once per node.  The ranks of a node (MPI_COMM_TYPE_SHARED)
 * hold one copy of the weight block and of its packed copies in an MPI-3 shared window; they
 * read the weight file's datasets and pack the matrices together (each a share of the bytes,
 * model/ and io/weights.h split the work by size), and every rank's struct elmo_model points
 * into the window.  The start-up does not grow with the rank count, and neither does the
 * memory the model takes on a node.
 */
#ifndef ELMO_NODE_MODEL_H
#define ELMO_NODE_MODEL_H

#include "model/bilm.h"

/*
 * Collective over MPI_COMM_WORLD: loads options_path + weights_path into m (overwritten) as
 * views into the node's shared window, packed and ready for elmo_bilm_ws_init.  The window is
 * given back by elmo_model_free(m), which is then collective over the node's ranks (every
 * rank frees its model at the same step, before MPI_Finalize).  Without MPI running, it is
 * elmo_model_load.  Returns 0 or a status agreed over the ranks (elmo_agree: the rank that
 * failed first holds the cause, the others ELMO_ERR_REPORTED); on failure m holds nothing.
 */
int elmo_node_model_load(const char *options_path, const char *weights_path, struct elmo_model *m);

#endif /* ELMO_NODE_MODEL_H */
