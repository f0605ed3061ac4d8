/*
 * main.c: the `elmo` program: subcommand dispatch, MPI start-up and shut-down.
 *
 * `elmo --help` and `elmo --version` run without MPI; every other command initialises MPI
 * (a singleton run needs no mpirun) so that the same binary serves 1 or N ranks.
 */
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/commands.h"
#include "model/gemm.h"
#include "model/status.h"

static void usage(FILE *f) {
    fprintf(f,
            "elmo %s: ELMo contextual word embeddings and Twitter NER, in C, at cluster scale\n"
            "\n"
            "usage: [mpirun -n N] elmo COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  run JOB.yaml       run a job file (kind: embed, annotate, train-ner, eval-ner,\n"
            "                     wsd, pretrain); flags after the file override its keys\n"
            "  embed              embed a corpus into an HDF5 store (elmo embed --help)\n"
            "  export             convert a store: export --format allennlp STORE OUT.hdf5\n"
            "  info               summarise a store: info STORE.h5\n"
            "  merge              join slice stores in order: merge --output OUT.h5 IN0.h5 ...\n"
            "  model synth        write a model of a published shape with seeded random weights\n"
            "  bench              measure tokens/s on synthetic models\n"
            "  train-ner          train the BiLSTM NER tagger on ELMo features\n"
            "  eval-ner           evaluate a tagger like conlleval\n"
            "  annotate           tag tweet archives into JSONL spans or CoNLL\n"
            "  wsd                the word-sense picture: PCA of a word's vectors per layer\n"
            "  pretrain           train a biLM from scratch on a corpus\n"
            "\n"
            "  elmo COMMAND --help lists a command's flags; a flag --some-key is YAML key some_key.\n"
            "  elmo --version prints the version.\n",
            ELMO_VERSION);
}

static int world_rank = 0, world_size = 1, mpi_up = 0;

int elmo_rank(void) { return world_rank; }
int elmo_size(void) { return world_size; }

int elmo_agree(int rc) {
    int mine = rc < 0 ? world_rank : INT_MAX, first = INT_MAX;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "MPI_Allreduce failed while agreeing on a status");
        elmo_die(ELMO_ERR_MPI);
    }
    if (first == INT_MAX) return 0;
    return world_rank == first ? rc : ELMO_ERR_REPORTED;
}

int elmo_stop_agreed(void) {
    int mine = elmo_stop_signal(), any = mine;
    if (world_size > 1 &&
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "MPI_Allreduce of the stop flag failed");
        elmo_die(ELMO_ERR_MPI);
    }
    return any;
}

int elmo_exit_code(int status) {
    switch (status) {
    case ELMO_OK: return ELMO_EXIT_OK;
    case ELMO_ERR_ARG:
    case ELMO_ERR_YAML: return ELMO_EXIT_USAGE;
    case ELMO_ERR_INTERRUPTED: return ELMO_EXIT_INTERRUPTED;
    default: return ELMO_EXIT_FAIL;
    }
}

_Noreturn void elmo_die(int status) {
    if (world_size > 1)
        fprintf(stderr, "elmo: error (rank %d of %d): %s\n", world_rank, world_size,
                elmo_errmsg());
    else fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    fflush(stderr);
    elmo_rank_log("error: %s", elmo_errmsg());
    if (mpi_up) MPI_Abort(MPI_COMM_WORLD, elmo_exit_code(status));
    exit(elmo_exit_code(status));
}

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    int kind;  /* job kind for elmo_cmd_job, or -1 */
    int polls; /* stops cleanly on SIGINT/SIGTERM/SIGUSR1 (exit 3) */
};

static const struct command commands[] = {
    {"run", elmo_cmd_run, -1, 1},
    {"embed", NULL, ELMO_JOB_EMBED, 1},
    {"annotate", NULL, ELMO_JOB_ANNOTATE, 1},
    {"train-ner", NULL, ELMO_JOB_TRAIN_NER, 1},
    {"eval-ner", NULL, ELMO_JOB_EVAL_NER, 1},
    {"wsd", NULL, ELMO_JOB_WSD, 1},
    {"pretrain", NULL, ELMO_JOB_PRETRAIN, 1},
    {"export", elmo_cmd_export, -1, 1},
    {"info", elmo_cmd_info, -1, 0},
    {"merge", elmo_cmd_merge, -1, 1},
    {"model", elmo_cmd_model, -1, 0},
    {"bench", elmo_cmd_bench, -1, 0},
};

/* A polling command records the signal and stops at its next unit; any other dies of it. */
static void on_stop_signal(int sig) {
    if (elmo_stop_enabled()) {
        elmo_stop_request(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * OpenBLAS starts its thread pool when the library loads, before main, with one thread per core
 * unless OPENBLAS_NUM_THREADS says otherwise: under a small address-space limit that start can
 * hang, and the threads would compete with MPI ranks.  The program sets the pool to one thread
 * and runs itself again once, so the pool is sized before MPI or any job starts; a job's
 * `threads` key raises the count later.  Returns only when no re-execution was needed or possible.
 */
static void size_blas_pool(char **argv) {
    if (getenv("OPENBLAS_NUM_THREADS") || getenv("ELMO_BLAS_SIZED")) return;
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0 || setenv("ELMO_BLAS_SIZED", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* no /proc: go on with OpenBLAS's own pool size (the job sets the count it uses) */
}

/* An allocation that may not fail did: one message, then every rank stops (exit 1). */
static void on_oom(void) { elmo_die(ELMO_ERR_NOMEM); }

/* Every job stops the same way on SIGINT, SIGTERM and SIGUSR1; SIGXFSZ becomes EFBIG. */
static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

int main(int argc, char **argv) {
    size_blas_pool(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ELMO_EXIT_USAGE : ELMO_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("elmo %s (BLAS kernel %s)\n", ELMO_VERSION, elmo_blas_corename());
        return ELMO_EXIT_OK;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "elmo: unknown command '%s' (elmo --help lists them)\n", argv[1]);
        return ELMO_EXIT_USAGE;
    }

    /* a signal during start-up is kept for the job's first stop point */
    if (cmd->polls) elmo_stop_enable();
    install_signals();
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "elmo: error: MPI_Init failed\n");
        return ELMO_EXIT_FAIL;
    }
    mpi_up = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* Errors of MPI calls come back as codes that the callers check and report. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    install_signals(); /* again after MPI_Init, which may install handlers of its own */
    elmo_set_oom_hook(on_oom);

    int code;
    if (cmd->fn) code = cmd->fn(argc - 1, argv + 1);
    else code = elmo_cmd_job((enum elmo_job_kind)cmd->kind, argc - 1, argv + 1);

    MPI_Finalize();
    return code;
}
