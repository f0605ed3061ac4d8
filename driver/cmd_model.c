/*
 * cmd_model.c: `elmo model synth`: writes DIR/options.json + DIR/weights.hdf5 of a published
 * shape (or of any options file) with seeded random weights, in the official layout, so that
 * speed and scale can be measured without downloading the real models.  Rank 0 writes; the
 * other ranks have nothing to do.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver/commands.h"
#include "io/weights.h"
#include "model/bilm.h"
#include "model/status.h"

static void usage(FILE *f) {
    fprintf(f, "usage: elmo model synth (--shape small|medium|original|fixture | --options F)\n"
               "                        [--seed N] --out DIR\n"
               "  Writes DIR/options.json and DIR/weights.hdf5: a model of that shape with seeded\n"
               "  uniform random weights (same seed, same bytes), in the official file layout.\n"
               "  --shape    a published shape (elmo-spec section 12); fixture = the allennlp\n"
               "             test fixture's shape\n"
               "  --options  take the shape from an options.json instead\n"
               "  --seed     random seed (default 1)\n"
               "  --out      output directory (created if missing)\n");
}

/* mkdir -p */
static int make_dirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return elmo_error(ELMO_ERR_ARG, "%s: path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return elmo_error(ELMO_ERR_IO, "%s: cannot create directory: %s", buf,
                                  strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return ELMO_OK;
}

static int synth(const char *shape, const char *options, unsigned long long seed, const char *out) {
    struct elmo_options opt;
    if (options) ELMO_TRY(elmo_options_load(options, &opt));
    else ELMO_TRY(elmo_options_preset(shape, &opt));
    ELMO_TRY(make_dirs(out));
    char opath[4200], wpath[4200];
    snprintf(opath, sizeof opath, "%s/options.json", out);
    snprintf(wpath, sizeof wpath, "%s/weights.hdf5", out);
    struct elmo_model m;
    ELMO_TRY(elmo_model_init(&m, &opt));
    elmo_model_randomize(&m, (uint64_t)seed);
    int rc = elmo_options_save(opath, &opt);
    if (rc == 0) rc = elmo_weights_save(wpath, &m);
    elmo_model_free(&m);
    ELMO_TRY(rc);
    size_t n = elmo_options_param_count(&opt);
    printf("wrote %s\nwrote %s\n", opath, wpath);
    printf("model: %s, seed %llu: E %d, F %d, highway %d, D %d, P %d, L %d; "
           "%zu parameters (%.1f MiB float32)\n",
           options ? options : shape, seed, opt.E, opt.F, opt.n_highway, opt.D, opt.P, opt.L, n,
           (double)n * 4.0 / (1024.0 * 1024.0));
    return ELMO_OK;
}

int elmo_cmd_model(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (elmo_rank() == 0) usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ELMO_EXIT_USAGE : ELMO_EXIT_OK;
    }
    if (strcmp(argv[1], "synth") != 0) {
        if (elmo_rank() == 0)
            fprintf(stderr, "elmo model: unknown subcommand '%s' (only synth)\n", argv[1]);
        return ELMO_EXIT_USAGE;
    }
    static const struct option longopts[] = {
        {"shape", required_argument, NULL, 's'}, {"options", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'r'},  {"out", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *shape = NULL, *options = NULL, *out = NULL;
    unsigned long long seed = 1;
    int c;
    optind = 1;
    opterr = elmo_rank() == 0;
    while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': shape = optarg; break;
        case 'o': options = optarg; break;
        case 'd': out = optarg; break;
        case 'r': {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || optarg[0] == '-') {
                if (elmo_rank() == 0)
                    fprintf(stderr, "elmo model synth: --seed '%s' is not a number\n", optarg);
                return ELMO_EXIT_USAGE;
            }
            break;
        }
        case 'h':
            if (elmo_rank() == 0) usage(stdout);
            return ELMO_EXIT_OK;
        default:
            if (elmo_rank() == 0) usage(stderr);
            return ELMO_EXIT_USAGE;
        }
    }
    if (optind < argc - 1 || !out || (!shape) == (!options)) {
        if (elmo_rank() == 0) {
            fprintf(stderr, "elmo model synth: %s\n",
                    optind < argc - 1 ? "unexpected argument"
                    : !out            ? "--out DIR is required"
                                      : "give exactly one of --shape and --options");
            usage(stderr);
        }
        return ELMO_EXIT_USAGE;
    }
    if (elmo_rank() != 0) return ELMO_EXIT_OK;
    int rc = synth(shape, options, seed, out);
    if (rc < 0) fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    return elmo_exit_code(rc);
}
