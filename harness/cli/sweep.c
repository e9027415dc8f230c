/* mechbench sweep EXPERIMENT.ini: run an experiment into an HDF5 file (see harness/sweep.c). */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/experiment.h"
#include "run/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mb_cmd_sweep(int argc, char **argv) {
    const char *out = NULL;
    struct mb_sweep_opts so = {.budget = -1};
    const struct mb_opt opts[] = {
        MB_OPT("out", MB_OPT_STRING, &out),          MB_OPT("resume", MB_OPT_FLAG, &so.resume), MB_OPT("force", MB_OPT_FLAG, &so.force),
        MB_OPT("max-mem", MB_OPT_BYTES, &so.max_mem), MB_OPT("budget", MB_OPT_REAL, &so.budget), MB_OPT("quiet", MB_OPT_FLAG, &so.quiet),
    };
    struct mb_cli_parse c = {.command = "sweep", .opts = opts, .n_opts = 6};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench sweep EXPERIMENT.ini [--out F.h5] [--resume|--force] [--max-mem BYTES]\n"
               "                       [--budget SECONDS] [--quiet]\n"
               "  Measure every (kernel, point) of the experiment; each finished point is appended and flushed.\n"
               "  --out      results file (default: the experiment's out, else results/NAME.h5)\n"
               "  --resume   keep the points already in the file (same kernel source) and measure the rest\n"
               "  --force    replace an existing file\n"
               "  --max-mem  skip points whose inputs + workspace exceed this (default: the .ini, else half of RAM)\n"
               "  --budget   seconds for the whole sweep; points predicted to overrun are recorded as skipped\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional != 1) return mb_cli_fail("sweep", 2, "expected one experiment file (.ini)");
    if (so.resume && so.force) return mb_cli_fail("sweep", 2, "--resume and --force exclude each other");

    struct mb_experiment e;
    char err[512];
    if (mb_experiment_load(c.positional[0], &e, err, sizeof err)) return mb_cli_fail("sweep", 2, "%s", err);
    char path[600];
    if (out) snprintf(path, sizeof path, "%s", out);
    else if (e.out[0]) snprintf(path, sizeof path, "%s", e.out);
    else snprintf(path, sizeof path, "results/%s.h5", e.name);
    so.out = path;
    rc = mb_sweep_run(&e, &so, err, sizeof err);
    mb_experiment_free(&e);
    if (rc) mb_cli_fail("sweep", rc, "%s", err);
    return rc;
}
