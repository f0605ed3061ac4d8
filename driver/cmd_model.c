/*
 * cmd_model.c: `elmo model synth`: writes DIR/options.json + DIR/weights.hdf5 of a published
 * shape (or of any options file) with seeded random weights, in the official layout, so that
 * speed and scale can be measured without downloading the real models.  Rank 0 writes; the
 * other ranks have nothing to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/outfile.h"
#include "io/weights.h"
#include "model/bilm.h"
#include "model/status.h"

static int synth(const char *shape, const char *options, unsigned long long seed, const char *out) {
    struct elmo_options opt;
    if (options) ELMO_TRY(elmo_options_load(options, &opt));
    else ELMO_TRY(elmo_options_preset(shape, &opt));
    ELMO_TRY(elmo_make_dirs(out));
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

/* Prints the error and the usage on rank 0; returns the usage exit code. */
static int usage_error(const char *what) {
    if (elmo_rank() == 0) {
        fprintf(stderr, "elmo model synth: %s\n", what);
        elmo_command_help(elmo_command_of_kind(ELMO_TOOL_MODEL), stderr);
    }
    return ELMO_EXIT_USAGE;
}

int elmo_cmd_model(int argc, char **argv) {
    if (argc < 2) {
        if (elmo_rank() == 0) elmo_command_help(elmo_command_of_kind(ELMO_TOOL_MODEL), stderr);
        return ELMO_EXIT_USAGE;
    }
    if (strcmp(argv[1], "synth") != 0) {
        if (elmo_rank() == 0)
            fprintf(stderr, "elmo model: unknown subcommand '%s' (only synth)\n", argv[1]);
        return ELMO_EXIT_USAGE;
    }
    struct elmo_job flags;
    int code = elmo_tool_flags(ELMO_TOOL_MODEL, argc - 1, argv + 1, &flags, NULL, NULL);
    if (code) return code;
    if (!flags.out[0]) return usage_error("--out DIR is required");
    if (!flags.shape[0] == !flags.options[0])
        return usage_error("give exactly one of --shape and --options");
    if (elmo_rank() != 0) return ELMO_EXIT_OK;
    int rc = synth(flags.shape[0] ? flags.shape : NULL, flags.options[0] ? flags.options : NULL,
                   (unsigned long long)flags.seed, flags.out);
    if (rc < 0) fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    return elmo_exit_code(rc);
}
