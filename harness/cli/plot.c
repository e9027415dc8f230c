/* mechbench plot F.h5 [--x AXIS] [--y time|gflops|error|memory|all] [--by kernel] [--out PREFIX]
 *                     [--crossover KERNEL_A,KERNEL_B] [--roofline|--scaling]
 *
 * Arguments in, results out: the plots are built by harness/plot/ (series_plot.c, roofline.c, all drawn through
 * gnuplot.c), the crossovers computed by harness/analysis/crossover.c; this file prints what they return.
 */
#include "cli/cli.h"

#include "analysis/crossover.h"
#include "cli/args.h"
#include "plot/gnuplot.h"
#include "plot/roofline.h"
#include "plot/series_plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mechbench plot F.h5 [--x AXIS] [--y time|gflops|error|memory|all] [--by kernel] [--out PREFIX]\n"
    "                           [--crossover KERNEL_A,KERNEL_B] [--roofline [--machine results/machine.h5]] [--scaling]\n"
    "\n"
    "Draw the measured points of a results file with gnuplot, one PNG and one SVG per quantity:\n"
    "  PREFIX_time     median time per run, min..max error bars (log-log)\n"
    "  PREFIX_gflops   GFLOP/s from the kernel's FLOP model (log x)\n"
    "  PREFIX_error    relative L2 error vs the kernel's own formula; dashed: vs the exact mechanism it\n"
    "                  approximates (log-log)\n"
    "  PREFIX_memory   modelled workspace + input/output bytes (log-log)\n"
    "  PREFIX_pareto   error vs the exact mechanism against time, one point per x value (e.g. --x rank):\n"
    "                  the accuracy/speed trade-off of approximations (log-log; not part of all)\n"
    "  PREFIX_task     the family's task score, e.g. recall accuracy on inputs=recall (not part of all)\n"
    "One series per kernel and combination of the other axes that vary in the file.\n"
    "  --x AXIS        x axis (default n); any axis of `mechbench list`\n"
    "  --y KINDS       time, gflops, error, memory, pareto, task, all (default: all but pareto and task), or a\n"
    "                  comma list\n"
    "  --by kernel     series per kernel (the only grouping)\n"
    "  --out PREFIX    image path prefix (default plots/<file name without .h5>)\n"
    "  --where A=V     only rows whose axis A equals V (repeatable), e.g. --where causal=0\n"
    "  --kernels GLOBS only these kernels (comma-separated globs; peer.* for the PyTorch peer rows)\n"
    "  --crossover A,B print where kernel B becomes faster than kernel A along x, for each combination of\n"
    "                  the other varying axes\n"
    "  --roofline      instead: every point on this machine's roofline (intensity = FLOP / byte models,\n"
    "                  GFLOP/s measured) under the FMA-peak and STREAM roofs of `mechbench machine` (--machine FILE)\n"
    "  --scaling       instead: speedup and parallel efficiency over the threads axis (PREFIX_scaling)\n"
    "The written image paths are printed one per line.\n";

/* ---------------------------------------------------------------------------------------------- crossover */

static void format_x(int axis, double x, char *buf, size_t len) {
    if (mb_axes[axis].kind == MB_REAL) snprintf(buf, len, "%.3g", x);
    else snprintf(buf, len, "%.0f", x);
}

/* One line per matched pair of series. */
static void print_crossover(const char *a, const char *b, const struct mb_crossover_pair *p, int x_axis) {
    char where[440], xs[32], x0[32], x1[32];
    snprintf(where, sizeof where, "%s%s%s", p->key[0] ? " [" : "", p->key, p->key[0] ? "]" : "");
    const char *xname = mb_axes[x_axis].name;
    const struct mb_crossover *c = &p->c;
    if (p->common == 0) {
        printf("crossover %s vs %s%s: no common %s values\n", a, b, where, xname);
    } else if (p->status != 0) {
        printf("crossover %s vs %s%s: cannot compute (times must be positive)\n", a, b, where);
    } else if (c->found) {
        format_x(x_axis, c->x, xs, sizeof xs);
        mb_axis_value_format(x_axis, c->x_below, x0, sizeof x0);
        mb_axis_value_format(x_axis, c->x_above, x1, sizeof x1);
        printf("crossover %s vs %s%s: %s* = %s, between the measured %s = %s and %s (%s faster above)", a, b, where,
               xname, xs, xname, x0, x1, c->b_faster_above ? b : a);
        if (c->crossings > 1) printf(" [the curves cross %d times: noisy timings below]", c->crossings);
        printf("\n");
    } else {
        mb_axis_value_format(x_axis, p->x_first, x0, sizeof x0);
        mb_axis_value_format(x_axis, p->x_last, x1, sizeof x1);
        char verdict[MB_NAME_LEN + 32];
        if (c->faster) snprintf(verdict, sizeof verdict, "%s faster everywhere", c->faster > 0 ? b : a);
        else snprintf(verdict, sizeof verdict, "equal everywhere");
        printf("crossover %s vs %s%s: no crossover in %s = %s..%s (%s)\n", a, b, where, xname, x0, x1, verdict);
    }
}

/* "A,B" into a and b; 0 or -1. */
static int parse_crossover(const char *spec, char *a, char *b, size_t len) {
    const char *comma = strchr(spec, ',');
    if (!comma || comma == spec || !comma[1] || strchr(comma + 1, ',') || (size_t)(comma - spec) >= len ||
        strlen(comma + 1) >= len)
        return -1;
    snprintf(a, len, "%.*s", (int)(comma - spec), spec);
    snprintf(b, len, "%s", comma + 1);
    return 0;
}

static int has_kernel(const struct mb_row *const *rows, int64_t n, const char *kernel) {
    for (int64_t i = 0; i < n; i++)
        if (strcmp(rows[i]->kernel, kernel) == 0) return 1;
    return 0;
}

/* Print the crossovers of b against a for every matching pair of their series. */
static int crossovers(const struct mb_row *const *measured, int64_t n, int x_axis, const char *a, const char *b) {
    char err[256];
    struct mb_crossover_pair *pairs;
    int n_pairs;
    if (mb_crossover_pairs(measured, n, x_axis, a, b, &pairs, &n_pairs, err, sizeof err))
        return mb_cli_fail("plot", 1, "%s", err);
    for (int i = 0; i < n_pairs; i++) print_crossover(a, b, &pairs[i], x_axis);
    free(pairs);
    return 0;
}

/* ---------------------------------------------------------------------------------------------- command */

/* plots/<base name of file without .h5> */
static void default_prefix(const char *file, char *buf, size_t len) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".h5") == 0) n -= 3;
    snprintf(buf, len, "plots/%.*s", (int)n, base);
}

static int add_where(const char *text, void *ctx, char *err, size_t errlen) {
    return mb_row_filter_add(ctx, text, err, errlen);
}

/* --roofline / --scaling: PREFIX_roofline / PREFIX_scaling. */
static int plot_special(const char *file, const char *out, int roofline, const char *machine) {
    char prefix[4000], err[1024];
    if (out) snprintf(prefix, sizeof prefix, "%s", out);
    else default_prefix(file, prefix, sizeof prefix);
    snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), "%s", roofline ? "_roofline" : "_scaling");
    int bad;
    if (roofline) {
        bad = mb_plot_roofline(file, machine, prefix, err, sizeof err);
    } else {
        struct mb_scaling_row *rows;
        int n_rows;
        bad = mb_plot_scaling(file, prefix, &rows, &n_rows, err, sizeof err);
        if (n_rows) printf("%-60s %8s %10s %8s %10s\n", "series", "threads", "median", "speedup", "efficiency");
        for (int i = 0; i < n_rows; i++)
            printf("%-60s %8g %8.4gms %8.2f %9.0f%%\n", rows[i].series, rows[i].threads, rows[i].median * 1e3,
                   rows[i].speedup, 100 * rows[i].speedup / rows[i].threads);
        free(rows);
    }
    if (bad) return mb_cli_fail("plot", 1, "%s", err);
    printf("%s.png %s.svg\n", prefix, prefix);
    return 0;
}

int mb_cli_plot(int argc, char **argv) {
    const char *x_name = "n", *y_spec = "all", *by = "kernel", *out = NULL, *cross = NULL;
    struct mb_row_filter filter = {0};
    const char *machine = "results/machine.h5";
    int roofline = 0, scaling = 0;
    const struct mb_opt opts[] = {
        {.name = "x", .kind = MB_OPT_STRING, .target = &x_name},
        {.name = "y", .kind = MB_OPT_STRING, .target = &y_spec},
        {.name = "by", .kind = MB_OPT_STRING, .target = &by},
        {.name = "out", .kind = MB_OPT_STRING, .target = &out},
        {.name = "crossover", .kind = MB_OPT_STRING, .target = &cross},
        {.name = "roofline", .kind = MB_OPT_FLAG, .target = &roofline},
        {.name = "scaling", .kind = MB_OPT_FLAG, .target = &scaling},
        {.name = "machine", .kind = MB_OPT_STRING, .target = &machine},
        {.name = "kernels", .kind = MB_OPT_STRING, .target = &filter.kernels},
        MB_OPT_REPEAT("where", add_where, &filter),
    };
    struct mb_cli_parse cli = {.command = "plot", .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc) return rc;
    if (!mb_gnuplot_available()) return mb_cli_fail("plot", 1, "gnuplot not found (install gnuplot-nox or run make deps)");
    if (cli.n_positional == 0)
        return mb_cli_fail("plot", 2, "missing results file (usage: mechbench plot F.h5 [--x n] [--y all])");
    if (cli.n_positional > 1)
        return mb_cli_fail("plot", 2, "unexpected argument '%s' (one results file at a time)", cli.positional[1]);
    const char *file = cli.positional[0];
    if (roofline && scaling) return mb_cli_fail("plot", 2, "--roofline and --scaling: one at a time");
    if (roofline || scaling) return plot_special(file, out, roofline, machine);
    char cross_a[MB_NAME_LEN] = "", cross_b[MB_NAME_LEN] = "";
    if (cross && parse_crossover(cross, cross_a, cross_b, sizeof cross_a))
        return mb_cli_fail("plot", 2, "--crossover '%s': expected two kernel names KERNEL_A,KERNEL_B", cross);

    int x_axis = mb_axis_lookup(x_name), want[MB_PLOT_KIND_COUNT];
    char names[512];
    if (x_axis < 0) {
        mb_plot_axis_names(~UINT64_C(0) >> (64 - MB_AXIS_COUNT), names, sizeof names);
        return mb_cli_fail("plot", 2, "unknown axis --x '%s' (allowed: %s)", x_name, names);
    }
    if (mb_plot_kinds_parse(y_spec, want))
        return mb_cli_fail("plot", 2, "unknown --y '%s' (allowed: time, gflops, error, memory, pareto, task, all, or a comma list)",
                           y_spec);
    if (strcmp(by, "kernel") != 0) return mb_cli_fail("plot", 2, "unknown --by '%s' (allowed: kernel)", by);
    char prefix[4000];
    if (out && !*out) return mb_cli_fail("plot", 2, "--out needs a path prefix");
    if (out) snprintf(prefix, sizeof prefix, "%s", out);
    else default_prefix(file, prefix, sizeof prefix);

    char err[1024];
    struct mb_series_plot p;
    const char *matching = filter.count || filter.kernels ? " matching --where/--kernels" : "";
    rc = mb_series_plot_load(&p, file, &filter, x_axis, err, sizeof err);
    if (rc) rc = mb_cli_fail("plot", rc, "%s", err);
    else if (cross && !has_kernel(p.rows, p.count, cross_a))
        rc = mb_cli_fail("plot", 2, "--crossover: kernel %s has no measured points in %s%s", cross_a, file, matching);
    else if (cross && !has_kernel(p.rows, p.count, cross_b))
        rc = mb_cli_fail("plot", 2, "--crossover: kernel %s has no measured points in %s%s", cross_b, file, matching);
    else if (mb_series_plot_draw(&p, prefix, want, err, sizeof err))
        rc = mb_cli_fail("plot", 1, "%s", err);
    else {
        char path[4096];
        for (int k = 0; k < MB_PLOT_KIND_COUNT; k++)
            for (int t = 0; t < 2 && want[k]; t++) {
                mb_series_plot_path(prefix, (enum mb_plot_kind)k, t, path, sizeof path);
                printf("%s\n", path);
            }
    }
    if (rc == 0 && cross) rc = crossovers(p.rows, p.count, x_axis, cross_a, cross_b);
    mb_series_plot_free(&p);
    return rc;
}
