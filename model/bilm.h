/*
 * bilm.h: the ELMo biLM: options, weights, and the forward pass (see ../shared/docs/elmo-spec.md).
 *
 * Dimension letters, used in every shape comment of model/:
 *   E = char embedding dim, F = sum of CNN filter counts, P = lstm projection dim,
 *   D = lstm cell dim, L = lstm layers, C = ELMO_MAXC (50) chars per token,
 *   B = sentences in a batch, T = positions of a sentence including <S> and </S>,
 *   N = real tokens (T - 2), V = words in a set of word types.
 *
 * The split between the immutable struct elmo_model (weights; shareable between threads) and
 * the per-worker struct elmo_bilm_ws (scratch sized once; no allocation in the batch loop)
 * follows whisper's context/state.  Nothing here is collective: model/ knows no MPI.
 */
#ifndef ELMO_BILM_H
#define ELMO_BILM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELMO_MAXC 50          /* characters per token (max_characters_per_token) */
#define ELMO_MAX_BYTES 48     /* UTF-8 bytes kept of a token (ELMO_MAXC - 2) */
#define ELMO_NCHARS 262       /* rows of the char table, including the zero row 0 */
#define ELMO_MAX_FILTERS 16
#define ELMO_MAX_HIGHWAY 8
#define ELMO_MAX_LAYERS 8

/* Shifted char ids (after the +1 of elmo-spec 3.1). */
enum elmo_char_id {
    ELMO_CHAR_BOS = 257,  /* begin-of-sentence char */
    ELMO_CHAR_EOS = 258,  /* end-of-sentence char */
    ELMO_CHAR_BOW = 259,  /* begin of word */
    ELMO_CHAR_EOW = 260,  /* end of word */
    ELMO_CHAR_PAD = 261,  /* padding inside a token */
};

enum elmo_activation { ELMO_ACT_RELU = 0, ELMO_ACT_TANH = 1 };

/* options.json, as in elmo-spec section 1.  Filled by io/weights.c (elmo_options_* there). */
struct elmo_options {
    int E;                                /* char_cnn.embedding.dim */
    int n_filters;                        /* number of [width, count] entries */
    int filter_width[ELMO_MAX_FILTERS];   /* width of group i */
    int filter_count[ELMO_MAX_FILTERS];   /* output channels of group i */
    int F;                                /* sum of filter_count */
    int n_highway;                        /* H */
    int n_characters;                     /* 262 for inference (261 accepted for training files) */
    int max_chars;                        /* max_characters_per_token, must be 50 */
    enum elmo_activation activation;      /* CNN activation (highway is always relu) */
    int D;                                /* lstm.dim */
    int P;                                /* lstm.projection_dim */
    int L;                                /* lstm.n_layers */
    float cell_clip;                      /* 0 = no clipping */
    float proj_clip;                      /* 0 = no clipping */
    bool skip;                            /* use_skip_connections */
    bool has_cnn_proj;                    /* CNN_proj present (F != P or the file has it) */
    bool has_lstm_proj;                   /* W_P_0 present (P < D or the file has it) */
};

/* Weights of one LSTM (direction d, layer l).  P_in = P for every layer. */
struct elmo_lstm_weights {
    float *w;   /* (P_in + P, 4D) rows 0..P_in-1 act on x, the rest on h; gates i, j, f, o */
    float *b;   /* (4D) gate bias, without the +1 forget bias */
    float *wp;  /* (D, P) state projection, or NULL when has_lstm_proj is false (then P == D) */
};

/*
 * All weights in one 64-byte aligned block; the named pointers are views into it.  The order
 * of the block is the order of elmo_model_params(), so a gradient block of the same layout
 * can be reduced with one MPI_Allreduce.
 */
struct elmo_model {
    struct elmo_options opt;
    float *block;                         /* owner of every tensor below */
    size_t n_params;                      /* floats in block */
    float *char_embed;                    /* (ELMO_NCHARS, E); row 0 is zero, file rows start at 1 */
    float *cnn_w[ELMO_MAX_FILTERS];       /* (w_i, E, n_i) = file (1, w_i, E, n_i) */
    float *cnn_b[ELMO_MAX_FILTERS];       /* (n_i) */
    float *hw_carry_w[ELMO_MAX_HIGHWAY];  /* (F, F) gate on the nonlinear branch */
    float *hw_carry_b[ELMO_MAX_HIGHWAY];  /* (F) */
    float *hw_tr_w[ELMO_MAX_HIGHWAY];     /* (F, F) */
    float *hw_tr_b[ELMO_MAX_HIGHWAY];     /* (F) */
    float *proj_w;                        /* (F, P), NULL when has_cnn_proj is false (F == P) */
    float *proj_b;                        /* (P) */
    struct elmo_lstm_weights lstm[2][ELMO_MAX_LAYERS]; /* [direction][layer], 0 = forward */
    struct elmo_packed *packed;           /* copies of the weights packed for the row-stable
                                             GEMM (model/pack.c), or NULL; owned, see
                                             elmo_model_pack */
    bool borrowed;                        /* block is the caller's (elmo_model_init_at) */
    void (*release)(void *ctx);           /* called by elmo_model_free when not NULL: gives the
                                             caller's memory back (e.g. a shared window) */
    void *release_ctx;
};

/* One named tensor of the model, as stored in the official weight file. */
struct elmo_param {
    char name[96];      /* HDF5 dataset path, e.g. "RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/W_0" */
    float *data;        /* view into model->block (char_embed: starts at row 1) */
    int ndim;
    int64_t dims[4];    /* shape in the file, e.g. (1, w, E, n) for CNN/W_cnn_i */
};

/* Checks the options for values this implementation supports; names the bad key. */
int elmo_options_check(const struct elmo_options *opt);

/*
 * Fills opt with a published shape (elmo-spec section 12): "small", "medium", "original", or
 * "fixture" (the allennlp test fixture's shape).  Returns 0 or ELMO_ERR_ARG for another name.
 */
int elmo_options_preset(const char *name, struct elmo_options *opt);

/*
 * Allocates the weight block for opt (zeroed) and points every tensor into it.
 * Returns 0 or ELMO_ERR_NOMEM.  Free with elmo_model_free().  Not collective.
 */
int elmo_model_init(struct elmo_model *m, const struct elmo_options *opt);

/* Floats of the weight block of a model of these options (what elmo_model_init allocates). */
size_t elmo_model_block_floats(const struct elmo_options *opt);

/*
 * As elmo_model_init, but the tensors are views into mem (elmo_model_block_floats(opt) floats,
 * 64-byte aligned, owned by the caller, neither zeroed nor freed here), e.g. memory shared by
 * the processes of a node.  Returns 0 or ELMO_ERR_ARG.  Not collective.
 */
int elmo_model_init_at(struct elmo_model *m, const struct elmo_options *opt, float *mem);

/*
 * As elmo_model_init_at, but only the char table is in mem (ELMO_NCHARS * E floats, 64-byte
 * aligned, the caller's; it becomes the model's block): every other tensor is the view
 * tensors[i] given in elmo_model_params order (tensors[0], char_embed's file rows, is not
 * used), e.g. into a mapping of the weight file, kept by the caller while m lives.  Returns 0
 * or ELMO_ERR_ARG.  Not collective.
 */
int elmo_model_init_views(struct elmo_model *m, const struct elmo_options *opt, float *mem,
                          float *const *tensors);

/*
 * Frees the block (unless borrowed) and the packed copies (unless they are in caller memory),
 * then calls m->release when set; accepts a zeroed model and may be called twice.  Collective
 * when m->release is (see the caller that set it).
 */
void elmo_model_free(struct elmo_model *m);

/*
 * (Re)builds m->packed, the weights of every product of the forward pass packed once for the
 * row-stable GEMM (gemm.h): about as many bytes again as the weight block.  elmo_bilm_ws_init
 * calls it when m->packed is NULL, so callers only need it after changing weights that were
 * already packed (elmo_model_randomize drops the packed copies itself).  Returns 0 or
 * ELMO_ERR_NOMEM.  Not thread-safe with a forward pass on the same model.
 */
int elmo_model_pack(struct elmo_model *m);

/* Frees m->packed (the next elmo_bilm_ws_init packs again). */
void elmo_model_unpack(struct elmo_model *m);

/* Packed matrices of a model of these options, and the floats of their one block. */
int elmo_model_pack_items(const struct elmo_options *opt);
size_t elmo_model_packed_floats(const struct elmo_options *opt);

/*
 * Builds m->packed as views into mem (elmo_model_packed_floats floats, 64-byte aligned, owned
 * by the caller and not freed by elmo_model_free) and writes the packed matrices of this part
 * only: the items are split over nparts parts by elmo_split_work on their sizes, so nparts
 * callers with parts 0..nparts-1 on one shared mem together write all of it, each a share of
 * about 1/nparts of the bytes.  The views of every item are set whatever the part.  Reads only
 * the tensors of its items from m->block.  Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM.
 */
int elmo_model_pack_at(struct elmo_model *m, float *mem, int part, int nparts);

/*
 * Builds m->packed as views into mem, which already holds what elmo_model_pack_at wrote for a
 * model of m's options (every part; 64-byte aligned; read only, never written).  Returns 0,
 * ELMO_ERR_ARG or ELMO_ERR_NOMEM.
 */
int elmo_model_pack_view(struct elmo_model *m, const float *mem);

/*
 * Names in buf (cap bytes) the packed layout of a model of these options: a hash of how this
 * build packs a tiny seeded model (so any change to the packing changes the name), the tile
 * width and the shape; packed weights are valid for one name only.  Returns 0, or -1 when cap
 * is too small (or the tiny model could not be packed).
 */
int elmo_model_pack_tag(const struct elmo_options *opt, char *buf, size_t cap);

/*
 * Splits n items of these sizes over nparts workers: owner[i] gets the part of item i (each
 * item in order to the least loaded part so far, the lowest on a tie).  Same inputs, same
 * split, on every process.
 */
void elmo_split_work(int n, const size_t *size, int nparts, int *owner);

/*
 * Lists the model's tensors in file layout, in block order.  Writes at most cap entries to out
 * and returns the total count (call with out = NULL to count).
 */
int elmo_model_params(const struct elmo_model *m, struct elmo_param *out, int cap);

/* Number of floats of one tensor (the product of its dims). */
size_t elmo_param_numel(const struct elmo_param *p);

/* Fills every weight with seeded uniform values of a sensible scale (for synth and tests). */
void elmo_model_randomize(struct elmo_model *m, uint64_t seed);

/* Parameter count of a model of these options (what the file holds, without the zero row). */
size_t elmo_options_param_count(const struct elmo_options *opt);

/* Forward FLOPs per token (multiply-add = 2) for the full character path of this model. */
double elmo_options_flops_per_token(const struct elmo_options *opt);

/*
 * Character ids of one token (elmo-spec 3.1), already +1 shifted: out[0..ELMO_MAXC-1].
 * tok is len bytes of UTF-8 (not NUL-terminated); "<S>" and "</S>" give the boundary patterns.
 */
void elmo_char_ids(const char *tok, size_t len, int32_t out[ELMO_MAXC]);

/* The <S> and </S> patterns. */
void elmo_char_ids_bos(int32_t out[ELMO_MAXC]);
void elmo_char_ids_eos(int32_t out[ELMO_MAXC]);

/*
 * Per-worker scratch.  Sized once by elmo_bilm_ws_init for at most max_rows sentences per batch
 * and at most max_positions positions per batch counted with <S> and </S> (sum of T), and
 * max_words words per elmo_token_embed call.  The forward pass never allocates.
 */
/*
 * Where the forward pass's time goes: seconds (wall clock) and FLOPs done, summed over the
 * calls since elmo_bilm_ws_init (the caller may zero them at any time).  Costs two clock reads
 * per phase and step.
 */
struct elmo_fwd_times {
    double cnn;      /* char embeddings, convolutions, max-pool, activation */
    double highway;  /* highway layers */
    double proj;     /* projection to P */
    double lstm_in;  /* LSTM input projections x W_0[:P] + B of all positions */
    double recur;    /* LSTM steps: h W_0[P:], the cell, the state projection */
    double other;    /* the rest of elmo_bilm_forward (layout, <S>/</S>, output copies) */
    double flops;    /* FLOPs of the products actually run (multiply-add = 2) */
};

struct elmo_bilm_ws {
    int max_rows, max_positions, max_words;
    float *arena;       /* one block; the fields below are views */
    size_t arena_floats;
    float *bos;         /* (P) token embedding of <S> */
    float *eos;         /* (P) token embedding of </S> */
    void *priv;         /* implementation-private views into arena */
    struct elmo_fwd_times times; /* timers of the calls on this workspace */
};

/*
 * Sizes the arena for m and computes ws->bos / ws->eos; packs m's weights first when m->packed
 * is NULL (elmo_model_pack; under a lock, so workers may share one model).  The LSTM input
 * projections of a batch dominate: 32 D bytes per position (128 KB for the original model).
 * The token vectors are computed in chunks of 256 words, so max_words does not change the size.
 * Returns 0, ELMO_ERR_ARG or ELMO_ERR_NOMEM.  Free with elmo_bilm_ws_free.  Not collective.
 */
int elmo_bilm_ws_init(struct elmo_bilm_ws *ws, const struct elmo_model *m, int max_rows,
                      int max_positions, int max_words);
void elmo_bilm_ws_free(struct elmo_bilm_ws *ws);

/*
 * Context-free token vectors (char CNN, highway, projection): layer 0 / `word_emb`.
 *   ids: (V, C) shifted char ids (0..261; an all-zero row is a padding token); out: (V, P).
 *   Any V works (the words go through in chunks); ws->max_words is advisory.
 * A row's result depends on that row alone (bit-identical whatever V and the neighbours are).
 */
void elmo_token_embed(const struct elmo_model *m, struct elmo_bilm_ws *ws, int V,
                      const int32_t *ids, float *out);

/*
 * Size in floats of one stream's carried LSTM state: 2 directions x L layers x (D + P),
 * laid out as for d in (forward, backward), for l in 0..L-1: c (D), then h (P, without the
 * skip connection).  All zeros is the initial state of a stream.
 */
size_t elmo_stream_state_floats(const struct elmo_options *opt);

/*
 * The biLSTM over a batch of B sentences (elmo-spec sections 5-8).
 *   n_tok:  (B) real tokens of each sentence (N_b >= 1; the caller leaves empty ones out.
 *           N_b = 0 is accepted and runs <S> </S>, advancing that row's state, as allennlp).
 *   tok:    (sum N_b, P) token vectors of the real tokens, sentences one after another;
 *           <S>/</S> are added here from ws->bos / ws->eos.
 *   state:  NULL for the stateless regime (zero initial state), or B pointers, each to one
 *           stream's state of elmo_stream_state_floats() floats, read as the initial state and
 *           overwritten with the final state (forward: after </S>; backward: after <S>).
 *           Two rows must not share a stream.
 *   out:    L pointers; out[l] is (sum N_b, 2P): [forward ; backward] output of layer l+1 at
 *           the real tokens (with the skip connection for l >= 1 when opt.skip), <S>/</S> dropped.
 * Requires B <= max_rows and sum(N_b + 2) <= max_positions.  In the stateless regime a row's
 * outputs do not depend on the other rows (bit-identical whatever the batch).
 */
void elmo_bilm_forward(const struct elmo_model *m, struct elmo_bilm_ws *ws, int B,
                       const int32_t *n_tok, const float *tok, float *const *state,
                       float *const *out);

/*
 * The `elmo` scalar mix over K = L + 1 layers of one sentence (elmo-spec 7.1, design 8):
 *   layers[k]: (N, 2P) with layer 0 = [word_emb; word_emb]; s: (K) pre-softmax weights;
 *   out = gamma * sum_k softmax(s)_k * norm(layers[k]), norm = identity, or layer norm with one
 *   mean/variance per layer over the N x 2P values of this sentence (eps 1e-12) when layer_norm.
 */
void elmo_scalar_mix(int K, int N, int dim, const float *const *layers, const float *s,
                     float gamma, bool layer_norm, float *out);

/* Layer 0 of the mix from N token vectors tok (N, P): out (N, 2P) = [tok; tok] row by row. */
void elmo_layer0(int N, int P, const float *tok, float *out);

#endif /* ELMO_BILM_H */
