/*
 * collective.c: rank agreement, stopping, exit codes and the checked MPI calls (collective.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "io/rank_log.h"
#include "model/status.h"

/* The largest piece one MPI call moves: counts are int. */
#define CHUNK ((size_t)1 << 30)

static int world_rank = 0, world_size = 1, mpi_up = 0;

int elmo_rank(void) { return world_rank; }
int elmo_size(void) { return world_size; }

int elmo_mpi_start(int *argc, char ***argv) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    mpi_up = 1;
    /* Errors of MPI calls come back as codes that ELMO_MPI checks and reports. */
    ELMO_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    ELMO_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
    ELMO_MPI(MPI_Comm_size(MPI_COMM_WORLD, &world_size));
    return 0;
}

void elmo_mpi_end(void) {
    if (mpi_up) MPI_Finalize();
    mpi_up = 0;
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

/* "elmo: error: MESSAGE", naming the rank when asked to and under mpirun. */
static void print_error(bool name_rank) {
    if (name_rank && world_size > 1)
        fprintf(stderr, "elmo: error (rank %d of %d): %s\n", world_rank, world_size, elmo_errmsg());
    else fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
}

_Noreturn void elmo_abort(int exit_code) {
    fflush(stderr);
    if (mpi_up) MPI_Abort(MPI_COMM_WORLD, exit_code);
    exit(exit_code);
}

_Noreturn void elmo_die(int status) {
    print_error(true);
    elmo_rank_log("error: %s", elmo_errmsg());
    elmo_abort(elmo_exit_code(status));
}

_Noreturn void elmo_await_abort(int exit_code) {
    if (mpi_up) MPI_Barrier(MPI_COMM_WORLD); /* unchecked: it ends in the other rank's abort */
    exit(exit_code);
}

void elmo__mpi_check(int err, const char *call, const char *func, const char *file, int line) {
    if (err == MPI_SUCCESS) return;
    char why[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(err, why, &len) != MPI_SUCCESS) snprintf(why, sizeof why, "code %d", err);
    const char *name_end = strchr(call, '('), *base = strrchr(file, '/');
    /* the file as driver/x.c: its folder and name */
    for (const char *p = base; p && p > file;)
        if (*--p == '/') {
            base = p;
            break;
        }
    elmo_error(ELMO_ERR_MPI, "%.*s failed in %s (%s:%d): %s",
               name_end ? (int)(name_end - call) : (int)strlen(call), call, func,
               base ? base + 1 : file, line, why);
    elmo_die(ELMO_ERR_MPI);
}

/* Collective: the lowest rank where failed is true, INT_MAX when none. */
static int lowest_rank_where(bool failed) {
    int mine = failed ? world_rank : INT_MAX, first = mine;
    if (world_size > 1) ELMO_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    return first;
}

int elmo_agree(int rc) {
    int first = lowest_rank_where(rc < 0);
    if (first == INT_MAX) return 0;
    return world_rank == first ? rc : ELMO_ERR_REPORTED;
}

int elmo_agree_all(int rc, void (*say)(void)) {
    int first = lowest_rank_where(rc < 0);
    if (first == INT_MAX) return 0;
    if (first == world_rank && say) say();
    int code = rc;
    if (world_size > 1) ELMO_MPI(MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD));
    return code < 0 ? code : ELMO_ERR_REPORTED;
}

int elmo_finish(int rc) {
    bool cause = rc < 0 && rc != ELMO_ERR_REPORTED;
    int first = lowest_rank_where(cause);
    if (cause && world_rank == first) print_error(world_rank > 0);
    else if (rc < 0 && first == INT_MAX && world_rank == 0)
        fprintf(stderr, "elmo: error: failed on another rank\n");
    if (cause) elmo_rank_log("error: %s", elmo_errmsg());
    else if (rc < 0) elmo_rank_log("stopped: failed on another rank");
    elmo_rank_log_close();
    return elmo_exit_code(rc);
}

int elmo_rank0_exit(int exit_code) { return elmo_bcast_int(exit_code); }

int elmo_stop_agreed(void) {
    int mine = elmo_stop_signal(), any = mine;
    if (world_size > 1) ELMO_MPI(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return any;
}

void elmo_bcast(void *buf, size_t bytes) {
    if (world_size == 1) return;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t k = bytes - off < CHUNK ? bytes - off : CHUNK;
        ELMO_MPI(MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
}

int elmo_bcast_int(int v) {
    elmo_bcast(&v, sizeof v);
    return v;
}

void elmo_allreduce_sum(float *g, size_t n) {
    if (world_size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        ELMO_MPI(MPI_Allreduce(MPI_IN_PLACE, g + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
}

/* FNV-1a over the bytes of n floats, continuing from h. */
static uint64_t hash_floats(uint64_t h, const float *x, size_t n) {
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

bool elmo_same_weights(const float *a, size_t na, const float *b, size_t nb, uint64_t *lo,
                       uint64_t *hi) {
    uint64_t h = hash_floats(1469598103934665603ull, a, na);
    if (b) h = hash_floats(h, b, nb);
    *lo = *hi = h;
    if (world_size > 1) {
        ELMO_MPI(MPI_Allreduce(&h, lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD));
        ELMO_MPI(MPI_Allreduce(&h, hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
    }
    return *lo == *hi;
}
