/* mechbench sweep EXPERIMENT.ini: run an experiment into an HDF5 file (see harness/run/sweep.c); the summary
 * table goes to stdout, progress to stderr. */
#include "cli/args.h"
#include "cli/commands.h"
#include "run/experiment.h"
#include "run/mpi_sweep.h"
#include "run/runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void format_duration(double s, char *buf, size_t len) {
    if (s < 60) snprintf(buf, len, "%.0fs", s);
    else if (s < 3600) snprintf(buf, len, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(buf, len, "%.0fh%02.0fm", floor(s / 3600), fmod(s / 60, 60));
}

static void print_summary_header(void) {
    printf("%-28s %-40s %12s %10s %10s %10s %s\n", "kernel", "point", "median", "GFLOP/s", "err(own)", "err(exact)",
           "verdict");
}

static void print_summary_row(const struct mb_row *r) {
    char point[160];
    mb_point_format(&r->point, ~UINT64_C(0), point, sizeof point);
    if (r->verdict == MB_PASS || r->verdict == MB_FAIL)
        printf("%-28s %-40s %10.4gms %10.2f %10.2e %10.2e %s\n", r->kernel, point, r->time_median * 1e3, r->gflops,
               r->own.rel_l2, r->exact.rel_l2, mb_verdict_names[r->verdict]);
    else
        printf("%-28s %-40s %12s %10s %10s %10s %s: %s\n", r->kernel, point, "-", "-", "-", "-",
               mb_verdict_names[r->verdict], r->message);
}

void mb_cli_sweep_report(void *ctx, const struct mb_sweep_event *ev) {
    const struct mb_cli_sweep_report *o = ctx;
    const struct mb_row *row = ev->row;
    char point[160], eta[32];
    switch (ev->kind) {
    case MB_SWEEP_RESUMED:
        fprintf(stderr, "resume: %lld of %lld points already in %s\n", (long long)ev->stored, (long long)ev->total,
                ev->out);
        break;
    case MB_SWEEP_POINT:
        if (o->quiet) break;
        format_duration(ev->eta, eta, sizeof eta);
        mb_point_format(&row->point, ~UINT64_C(0), point, sizeof point);
        if (row->verdict <= MB_FAIL)
            fprintf(stderr, "[%lld/%lld] %s %s: %.4g ms, %.2f GFLOP/s, err %.2e %s | ETA %s\n", (long long)ev->done,
                    (long long)ev->todo, row->kernel, point, row->time_median * 1e3, row->gflops, row->own.rel_l2,
                    mb_verdict_names[row->verdict], eta);
        else
            fprintf(stderr, "[%lld/%lld] %s %s: %s (%s) | ETA %s\n", (long long)ev->done, (long long)ev->todo,
                    row->kernel, point, mb_verdict_names[row->verdict], row->message, eta);
        break;
    case MB_SWEEP_NOTE:
        fprintf(stderr, "mechbench sweep: %s\n", ev->message);
        break;
    case MB_SWEEP_FINISHED:
        if (o->table && ev->done) {
            print_summary_header();
            for (int64_t i = 0; i < ev->done; i++) print_summary_row(&ev->rows[i]);
        }
        if (ev->complete)
            fprintf(stderr, "%lld points measured, %lld already present, in %.1f s -> %s\n", (long long)ev->done,
                    (long long)ev->stored, ev->elapsed, ev->out);
        break;
    }
}

int mb_cmd_sweep(int argc, char **argv) {
    const char *out = NULL, *shard = NULL;
    int share_node = 0;
    struct mb_sweep_opts so = {.budget = -1};
    struct mb_cli_sweep_report report = {.table = 1};
    int64_t rounds = -1; /* -1: not given */
    const struct mb_opt opts[] = {
        MB_OPT("out", MB_OPT_STRING, &out),          MB_OPT("resume", MB_OPT_FLAG, &so.resume), MB_OPT("force", MB_OPT_FLAG, &so.force),
        MB_OPT("max-mem", MB_OPT_BYTES, &so.max_mem), MB_OPT("budget", MB_OPT_REAL, &so.budget), MB_OPT("quiet", MB_OPT_FLAG, &report.quiet),
        MB_OPT("rounds", MB_OPT_INT, &rounds),
        MB_OPT("shard", MB_OPT_STRING, &shard),      MB_OPT("mpi-share-node", MB_OPT_FLAG, &share_node),
    };
    struct mb_cli_parse c = {.command = "sweep", .opts = opts, .n_opts = 9};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench sweep EXPERIMENT.ini [--out F.h5] [--resume|--force] [--max-mem BYTES]\n"
               "                       [--budget SECONDS] [--rounds R] [--quiet] [--shard i/N] [--mpi-share-node]\n"
               "       mpirun -np K mechbench-mpi sweep EXPERIMENT.ini [same options]\n"
               "  Measure every (kernel, point) of the experiment; each finished point is appended and flushed.\n"
               "  --out      results file (default: the experiment's out, else results/NAME.h5)\n"
               "  --resume   keep the points already in the file (same kernel source) and measure the rest\n"
               "  --force    replace an existing file\n"
               "  --max-mem  skip points whose inputs + workspace exceed this (default: the .ini, else half of RAM)\n"
               "  --budget   seconds for the whole sweep; points predicted to overrun are recorded as skipped\n"
               "  --rounds   measure every point in R interleaved rounds (all points, then all again; default: the\n"
               "             .ini's rounds, else 1); each round is its own row (column round), readers merge them\n"
               "  --shard    i/N: measure only part i of N (deterministic, balanced by modelled cost); join the\n"
               "             N files with `mechbench merge`\n"
               "  --mpi-share-node  under MPI, let ranks that share a host all measure (default: one per host)\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional != 1) return mb_cli_fail("sweep", 2, "expected one experiment file (.ini)");
    if (so.resume && so.force) return mb_cli_fail("sweep", 2, "--resume and --force exclude each other");
    if (rounds != -1 && (rounds < 1 || rounds > 100))
        return mb_cli_fail("sweep", 2, "--rounds %lld is out of range (1..100)", (long long)rounds);
    so.rounds = rounds > 0 ? (int)rounds : 0;
    if (shard) { /* i and N through the one number parser (decimal only, as every other number) */
        char i_text[32] = "";
        const char *slash = strchr(shard, '/');
        double i = 0, n = 0;
        if (slash && (size_t)(slash - shard) < sizeof i_text)
            snprintf(i_text, sizeof i_text, "%.*s", (int)(slash - shard), shard);
        if (!slash || mb_parse_number(i_text, &i) || mb_parse_number(slash + 1, &n) || i != floor(i) ||
            n != floor(n) || n < 1 || n > 1e6 || i < 1 || i > n)
            return mb_cli_fail("sweep", 2, "--shard '%s': expected i/N with 1 <= i <= N (e.g. 2/8)", shard);
        so.shard = (int)i;
        so.n_shards = (int)n;
    }
    const int ranks = mb_mpi_launched_size();
    if (ranks > 1 && !mb_mpi_built())
        return mb_cli_fail("sweep", 2, "started by mpirun with %d ranks, but this mechbench has no MPI: run "
                           "mechbench-mpi (make mechbench-mpi)", ranks);

    struct mb_experiment e;
    char err[512];
    if (mb_experiment_load(c.positional[0], &e, err, sizeof err)) return mb_cli_fail("sweep", 2, "%s", err);
    char path[600];
    if (out) snprintf(path, sizeof path, "%s", out);
    else if (e.out[0]) snprintf(path, sizeof path, "%s", e.out);
    else snprintf(path, sizeof path, "results/%s.h5", e.name);
    if ((rc = mb_cli_check_out("sweep", path))) return mb_experiment_free(&e), rc;
    if (mb_cli_same_file(c.positional[0], path))
        return mb_experiment_free(&e), mb_cli_fail("sweep", 2, "--out %s is the experiment file itself: write the "
                                                   "results to another file", path);
    so.out = path;
    so.on_event = mb_cli_sweep_report;
    so.ctx = &report;
    if (ranks > 1 && mb_mpi_built()) {
        int root = 1;
        rc = mb_mpi_sweep_run(&e, &so, share_node, &root, err, sizeof err);
        mb_experiment_free(&e);
        if (rc) mb_cli_fail("sweep", rc, "%s", err);
        mb_mpi_end(rc);
        return rc;
    }
    rc = mb_sweep_run(&e, &so, err, sizeof err);
    mb_experiment_free(&e);
    if (rc) mb_cli_fail("sweep", rc, "%s", err);
    return rc;
}
