/* mechbench plot F.h5 [--x AXIS] [--y time|gflops|error|memory|all] [--by kernel] [--out PREFIX]
 *                     [--crossover KERNEL_A,KERNEL_B]
 *
 * Measured rows (verdict pass or fail) are grouped into series, one per kernel and combination of the axes that
 * vary in the file (rows.h), and drawn by one gnuplot process fed a generated script on a pipe: every series is
 * an inline `$sN << EOD` data block, every plot is drawn twice (pngcairo, svg) to temporary names that are
 * renamed once gnuplot succeeded. Nothing but the images lands in the output directory.
 *
 * Data block columns: 1 x, 2 median s, 3 min s, 4 max s, 5 GFLOP/s, 6 rel_l2 vs own formula, 7 rel_l2 vs the
 * exact mechanism (approximations only), 8 bytes (workspace + inputs/outputs), 9 rel_l2 vs the exact mechanism
 * for every kernel (own error for exact kernels: the y of the Pareto plot), 10 task score. NaN marks a missing
 * value.
 */
#include "cli/cli.h"

#include "cli/args.h"
#include "analysis/crossover.h"
#include "store/outfile.h"
#include "store/rows.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot/roofline.h"

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
    "                  GFLOP/s measured) under the sgemm and STREAM roofs of `mechbench machine` (--machine FILE)\n"
    "  --scaling       instead: speedup and parallel efficiency over the threads axis (PREFIX_scaling)\n"
    "The written image paths are printed one per line.\n";

enum plot_kind { PLOT_TIME, PLOT_GFLOPS, PLOT_ERROR, PLOT_MEMORY, PLOT_PARETO, PLOT_TASK, PLOT_COUNT };

static const struct {
    const char *name, *ylabel;
    int log_y;
} kinds[PLOT_COUNT] = {
    [PLOT_TIME] = {"time", "time per run (s)", 1},
    [PLOT_GFLOPS] = {"gflops", "GFLOP/s", 0},
    [PLOT_ERROR] = {"error", "relative L2 error", 1},
    [PLOT_MEMORY] = {"memory", "bytes", 1},
    [PLOT_PARETO] = {"pareto", "relative L2 error vs the exact mechanism", 1},
    [PLOT_TASK] = {"task", "task score (e.g. recall accuracy)", 0},
};

/* ---------------------------------------------------------------------------------------------- helpers */

static int on_path(const char *program) {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    char candidate[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(candidate, sizeof candidate, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", program);
        if (access(candidate, X_OK) == 0) return 1;
        path += len;
        if (*path == ':') path++;
    }
    return 0;
}

/* A gnuplot single-quoted string: only ' needs escaping (doubled). */
static void gp_string(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* A data value; NaN when missing or when it cannot be drawn on a log axis. */
static void gp_value(FILE *f, double v, int log_axis) {
    if (!isfinite(v) || (log_axis && v <= 0)) fputs(" NaN", f);
    else fprintf(f, " %.10g", v);
}

static int is_power_of_two(double v) {
    int e;
    return v > 0 && frexp(v, &e) == 0.5;
}

static const char *x_label(int axis, char *buf, size_t len) {
    if (axis == MB_AXIS_n) return "sequence length n (tokens)";
    snprintf(buf, len, "%s (%s)", mb_axes[axis].name, mb_axes[axis].help);
    return buf;
}

/* Does the series approximate another mechanism (its error vs the exact mechanism differs from its own)? */
static int is_approximation(const struct mb_series *s) {
    const struct mb_kernel *k = mb_kernel_find(s->kernel);
    if (k && k->approximates && k->approximates[0]) return 1;
    for (int i = 0; i < s->count; i++)
        if (s->rows[i]->exact.checked > 0 && s->rows[i]->exact.rel_l2 != s->rows[i]->own.rel_l2) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- script */

struct plot_job {
    const char *prefix;
    int x_axis;
    int want[PLOT_COUNT];
    char title[640];
    const struct mb_series_set *set;
    /* outputs: [kind][0 png, 1 svg] */
    char final[PLOT_COUNT][2][4096];
    char temp[PLOT_COUNT][2][4200];
};

static void write_data_blocks(FILE *f, const struct mb_series_set *set) {
    for (int s = 0; s < set->count; s++) {
        const struct mb_series *se = &set->series[s];
        int approx = is_approximation(se);
        fprintf(f, "# %s\n$s%d << EOD\n", se->label, s);
        for (int i = 0; i < se->count; i++) {
            const struct mb_row *r = se->rows[i];
            fprintf(f, "%.10g", mb_row_x(r, set->x_axis));
            gp_value(f, r->time_median, 1);
            gp_value(f, r->time_min, 1);
            gp_value(f, r->time_max, 1);
            gp_value(f, r->gflops, 0);
            gp_value(f, r->own.checked > 0 ? r->own.rel_l2 : NAN, 1);
            gp_value(f, approx && r->exact.checked > 0 ? r->exact.rel_l2 : NAN, 1);
            gp_value(f, r->workspace_bytes + r->input_bytes, 1);
            gp_value(f, r->exact.checked > 0 ? r->exact.rel_l2 : NAN, 1);
            gp_value(f, r->task_score, 0);
            fputc('\n', f);
        }
        fputs("EOD\n", f);
    }
}

/* x axis scale: log (base 2 when every x is a power of two) when x > 0 spans a factor of 4 or more. */
static void write_x_scale(FILE *f, const struct mb_series_set *set) {
    double lo = INFINITY, hi = -INFINITY;
    int pow2 = 1;
    for (int s = 0; s < set->count; s++)
        for (int i = 0; i < set->series[s].count; i++) {
            double x = mb_row_x(set->series[s].rows[i], set->x_axis);
            lo = fmin(lo, x);
            hi = fmax(hi, x);
            pow2 &= is_power_of_two(x);
        }
    if (lo > 0 && hi >= 4 * lo) fprintf(f, "set logscale x %d\n", pow2 ? 2 : 10);
    else fputs("unset logscale x\n", f);
}

static void write_plot_command(FILE *f, const struct mb_series_set *set, enum plot_kind kind) {
    static const int point_types[] = {7, 5, 9, 11, 13, 15, 4, 6, 8, 10, 12, 14};
    const int n_pt = (int)(sizeof point_types / sizeof point_types[0]);
    fputs("plot", f);
    int first = 1;
    for (int s = 0; s < set->count; s++) {
        const struct mb_series *se = &set->series[s];
        int lc = s % 8 + 1, pt = point_types[s % n_pt];
        fprintf(f, "%s \\\n  $s%d ", first ? "" : ",", s);
        first = 0;
        switch (kind) {
        case PLOT_TIME: fprintf(f, "using 1:2:3:4 with yerrorlines lc %d pt %d ps 0.8 title ", lc, pt); break;
        case PLOT_GFLOPS: fprintf(f, "using 1:5 with linespoints lc %d pt %d ps 0.8 title ", lc, pt); break;
        case PLOT_ERROR: fprintf(f, "using 1:6 with linespoints lc %d pt %d ps 0.8 title ", lc, pt); break;
        case PLOT_MEMORY: fprintf(f, "using 1:8 with linespoints lc %d pt %d ps 0.8 title ", lc, pt); break;
        case PLOT_PARETO: fprintf(f, "using 2:9 with linespoints lc %d pt %d ps 0.8 title ", lc, pt); break;
        case PLOT_TASK: fprintf(f, "using 1:10 with linespoints lc %d pt %d ps 0.8 title ", lc, pt); break;
        default: break;
        }
        gp_string(f, se->label);
        if (kind == PLOT_ERROR && is_approximation(se)) {
            char title[sizeof se->label + 16];
            snprintf(title, sizeof title, "%s vs exact", se->label);
            fprintf(f, ", \\\n  $s%d using 1:7 with linespoints lc %d dt 2 pt %d ps 0.8 title ", s, lc, pt);
            gp_string(f, title);
        }
    }
    fputc('\n', f);
}

/* Tall enough for the legend: one line per series (and per "vs exact" twin). */
static int canvas_height(const struct mb_series_set *set) {
    int lines = 0;
    for (int s = 0; s < set->count; s++) lines += 1 + is_approximation(&set->series[s]);
    return lines * 18 + 150 > 800 ? lines * 18 + 150 : 800;
}

static void write_script(FILE *f, const struct plot_job *job) {
    char xbuf[256];
    fputs("# generated by mechbench plot\nset encoding utf8\n", f);
    write_data_blocks(f, job->set);
    fputs("set title ", f);
    gp_string(f, job->title);
    fputs(" noenhanced\nset key outside right top noenhanced\nset grid\n", f);
    for (int k = 0; k < PLOT_COUNT; k++) {
        if (!job->want[k]) continue;
        fprintf(f, "\n# %s\n", kinds[k].name);
        if (k == PLOT_PARETO) { /* x is the time, y the error: the trade-off curve of each kernel */
            fputs("set logscale x 10\nset xlabel 'time per run (s)'\n", f);
        } else {
            write_x_scale(f, job->set);
            fputs("set xlabel ", f);
            gp_string(f, x_label(job->x_axis, xbuf, sizeof xbuf));
            fputc('\n', f);
        }
        fputs(kinds[k].log_y ? "set logscale y 10\nset format y '%g'\n" : "unset logscale y\nset format y '%g'\n", f);
        fputs("set ylabel ", f);
        gp_string(f, kinds[k].ylabel);
        fprintf(f, "\nset terminal pngcairo size 1200,%d noenhanced font 'sans,11'\nset output ", canvas_height(job->set));
        gp_string(f, job->temp[k][0]);
        fputc('\n', f);
        write_plot_command(f, job->set, (enum plot_kind)k);
        fprintf(f, "set terminal svg size 1200,%d dynamic noenhanced font 'sans,11'\nset output ", canvas_height(job->set));
        gp_string(f, job->temp[k][1]);
        fputs("\nreplot\nunset output\n", f);
    }
}

/* ---------------------------------------------------------------------------------------------- gnuplot */

/* Last non-empty line of a file (gnuplot's error message). */
static void last_line(const char *path, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[strspn(line, " \t^")]) snprintf(buf, len, "%.*s", (int)(len - 1), line);
    }
    fclose(f);
}

static void remove_temps(const struct plot_job *job) {
    for (int k = 0; k < PLOT_COUNT; k++)
        if (job->want[k]) unlink(job->temp[k][0]), unlink(job->temp[k][1]);
}

/* Run gnuplot on the script, then move the images into place. */
static int run_gnuplot(struct plot_job *job, char *err, size_t errlen) {
    char *script = NULL;
    size_t script_len = 0;
    FILE *mem = open_memstream(&script, &script_len);
    if (!mem) return mb_errorf(err, errlen, "out of memory");
    write_script(mem, job);
    if (fclose(mem) != 0) {
        free(script);
        return mb_errorf(err, errlen, "out of memory");
    }

    char errpath[] = "/tmp/mechbench-gnuplot-XXXXXX";
    int fd = mkstemp(errpath);
    if (fd < 0) {
        free(script);
        return mb_errorf(err, errlen, "cannot create a temporary file: %s", strerror(errno));
    }
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "gnuplot 2>%s", errpath);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN); /* gnuplot dying early must not kill us */
    FILE *gp = popen(cmd, "w");
    int status = -1;
    if (gp) {
        fwrite(script, 1, script_len, gp);
        status = pclose(gp);
    }
    signal(SIGPIPE, old_pipe);
    free(script);

    char why[512];
    last_line(errpath, why, sizeof why);
    unlink(errpath);
    if (status != 0) {
        remove_temps(job);
        if (!gp) return mb_errorf(err, errlen, "cannot run gnuplot: %s", strerror(errno));
        return mb_errorf(err, errlen, "gnuplot failed (%s)",
                         why[0] ? why
                         : WIFEXITED(status) ? "exit status"
                                             : "killed");
    }
    for (int k = 0; k < PLOT_COUNT; k++) {
        if (!job->want[k]) continue;
        for (int t = 0; t < 2; t++)
            if (access(job->temp[k][t], R_OK) != 0) {
                remove_temps(job);
                return mb_errorf(err, errlen, "gnuplot did not write %s%s%s", job->final[k][t], why[0] ? ": " : "",
                                 why);
            }
    }
    for (int k = 0; k < PLOT_COUNT; k++) {
        if (!job->want[k]) continue;
        for (int t = 0; t < 2; t++)
            if (rename(job->temp[k][t], job->final[k][t]) != 0) {
                int e = errno;
                remove_temps(job);
                return mb_errorf(err, errlen, "cannot write %s: %s", job->final[k][t], strerror(e));
            }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- crossover */

struct kernel_rows {
    const struct mb_row **rows;
    int64_t count;
    uint64_t vary; /* axes varying among them, x excluded */
    int params_vary;
};

static int select_kernel(const struct mb_row *const *measured, int64_t n, const char *kernel, int x_axis,
                         struct kernel_rows *out) {
    out->rows = malloc((size_t)(n ? n : 1) * sizeof *out->rows);
    out->count = 0;
    if (!out->rows) return -1;
    for (int64_t i = 0; i < n; i++)
        if (strcmp(measured[i]->kernel, kernel) == 0) out->rows[out->count++] = measured[i];
    out->vary = mb_rows_varying(out->rows, out->count, &out->params_vary) & ~(UINT64_C(1) << x_axis);
    return 0;
}

/* Do series a (of kernel A) and b (of kernel B) sit at the same point of the axes both kernels vary? */
static int series_match(const struct mb_series *a, const struct mb_series *b, const struct kernel_rows *ka,
                        const struct kernel_rows *kb) {
    uint64_t both = ka->vary & kb->vary;
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if ((both & (UINT64_C(1) << ax)) && mb_point_get(&a->rows[0]->point, (enum mb_axis)ax) !=
                                                mb_point_get(&b->rows[0]->point, (enum mb_axis)ax))
            return 0;
    return !(ka->params_vary && kb->params_vary) || strcmp(a->rows[0]->point.params, b->rows[0]->point.params) == 0;
}

static void format_x(int axis, double x, char *buf, size_t len) {
    if (mb_axes[axis].kind == MB_REAL) snprintf(buf, len, "%.3g", x);
    else snprintf(buf, len, "%.0f", x);
}

/* One line for a pair of matched series. */
static void print_crossover(const char *a, const char *b, const struct mb_series *sa, const struct mb_series *sb,
                            const struct kernel_rows *ka, const struct kernel_rows *kb, int x_axis) {
    int n = 0, i = 0, j = 0;
    int cap = sa->count < sb->count ? sa->count : sb->count;
    double *x = malloc((size_t)(cap ? cap : 1) * 3 * sizeof *x), *ta = x + cap, *tb = x + 2 * cap;
    if (!x) return;
    while (i < sa->count && j < sb->count) { /* both sorted by x: merge on common x */
        double xa = mb_row_x(sa->rows[i], x_axis), xb = mb_row_x(sb->rows[j], x_axis);
        if (xa < xb) i++;
        else if (xb < xa) j++;
        else {
            x[n] = xa;
            ta[n] = sa->rows[i++]->time_median;
            tb[n++] = sb->rows[j++]->time_median;
        }
    }
    char key[400], key_b[200], where[440], xs[32], x0[32], x1[32];
    mb_series_key(&sa->rows[0]->point, ka->vary, ka->params_vary, key, sizeof key);
    mb_series_key(&sb->rows[0]->point, kb->vary & ~ka->vary, kb->params_vary && !ka->params_vary, key_b,
                  sizeof key_b);
    if (key_b[0]) snprintf(key + strlen(key), sizeof key - strlen(key), "%s%s", key[0] ? " " : "", key_b);
    snprintf(where, sizeof where, "%s%s%s", key[0] ? " [" : "", key, key[0] ? "]" : "");
    const char *xname = mb_axes[x_axis].name;
    struct mb_crossover c;
    if (n == 0) {
        printf("crossover %s vs %s%s: no common %s values\n", a, b, where, xname);
    } else if (mb_crossover_find(x, ta, tb, n, &c) != 0) {
        printf("crossover %s vs %s%s: cannot compute (times must be positive)\n", a, b, where);
    } else if (c.found) {
        format_x(x_axis, c.x, xs, sizeof xs);
        printf("crossover %s vs %s%s: %s* = %s (%s faster above)", a, b, where, xname, xs, c.b_faster_above ? b : a);
        if (c.crossings > 1) printf(" [the curves cross %d times: noisy timings below]", c.crossings);
        printf("\n");
    } else {
        mb_axis_value_format(x_axis, x[0], x0, sizeof x0);
        mb_axis_value_format(x_axis, x[n - 1], x1, sizeof x1);
        char verdict[MB_NAME_LEN + 32];
        if (c.faster) snprintf(verdict, sizeof verdict, "%s faster everywhere", c.faster > 0 ? b : a);
        else snprintf(verdict, sizeof verdict, "equal everywhere");
        printf("crossover %s vs %s%s: no crossover in %s = %s..%s (%s)\n", a, b, where, xname, x0, x1, verdict);
    }
    free(x);
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
    struct kernel_rows ka = {0}, kb = {0};
    struct mb_series_set sa = {0}, sb = {0};
    int rc = 0;
    if (select_kernel(measured, n, a, x_axis, &ka) || select_kernel(measured, n, b, x_axis, &kb)) {
        rc = mb_cli_fail("plot", 1, "out of memory");
    } else if (mb_series_group(ka.rows, ka.count, x_axis, ka.vary, ka.params_vary, &sa, err, sizeof err) ||
               mb_series_group(kb.rows, kb.count, x_axis, kb.vary, kb.params_vary, &sb, err, sizeof err)) {
        rc = mb_cli_fail("plot", 1, "%s", err);
    } else {
        for (int i = 0; i < sa.count; i++)
            for (int j = 0; j < sb.count; j++)
                if (series_match(&sa.series[i], &sb.series[j], &ka, &kb))
                    print_crossover(a, b, &sa.series[i], &sb.series[j], &ka, &kb, x_axis);
    }
    mb_series_free(&sa);
    mb_series_free(&sb);
    free(ka.rows);
    free(kb.rows);
    return rc;
}

/* ---------------------------------------------------------------------------------------------- command */

static int parse_kinds(const char *spec, int *want) {
    memset(want, 0, PLOT_COUNT * sizeof *want);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        if (strcmp(tok, "all") == 0) { /* the pareto view is asked for by name (it wants --x rank) */
            for (int k = 0; k < PLOT_COUNT; k++) want[k] = k != PLOT_PARETO && k != PLOT_TASK;
            found = 1;
        }
        for (int k = 0; k < PLOT_COUNT; k++)
            if (strcmp(tok, kinds[k].name) == 0) want[k] = found = 1;
        if (!found) return -1;
    }
    for (int k = 0; k < PLOT_COUNT; k++)
        if (want[k]) return 0;
    return -1;
}

/* plots/<base name of file without .h5> */
static void default_prefix(const char *file, char *buf, size_t len) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".h5") == 0) n -= 3;
    snprintf(buf, len, "plots/%.*s", (int)n, base);
}

static void axis_names(uint64_t mask, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++)
        if (mask & (UINT64_C(1) << a))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", mb_axes[a].name);
    if (!buf[0]) snprintf(buf, len, "none");
}

/* --where AXIS=VALUE (repeatable) and --kernels GLOBS: which measured rows are drawn. */
#define MAX_WHERE 8
struct row_filter {
    int count;
    int axis[MAX_WHERE];
    double value[MAX_WHERE];
    const char *kernels;
};

static int add_where(const char *text, void *ctx, char *err, size_t errlen) {
    struct row_filter *f = ctx;
    const char *eq = strchr(text, '=');
    char name[64], *end;
    if (!eq || (size_t)(eq - text) >= sizeof name)
        return mb_errorf(err, errlen, "--where '%s': expected AXIS=VALUE, e.g. causal=0", text);
    snprintf(name, sizeof name, "%.*s", (int)(eq - text), text);
    int axis = mb_axis_lookup(name);
    double v = strtod(eq + 1, &end);
    if (axis < 0) return mb_errorf(err, errlen, "--where '%s': unknown axis '%s'", text, name);
    if (end == eq + 1 || *end) return mb_errorf(err, errlen, "--where '%s': '%s' is not a number", text, eq + 1);
    if (f->count == MAX_WHERE) return mb_errorf(err, errlen, "--where: at most %d conditions", MAX_WHERE);
    f->axis[f->count] = axis;
    f->value[f->count++] = v;
    return 0;
}

static int row_selected(const struct mb_row *r, const struct row_filter *f) {
    for (int i = 0; i < f->count; i++)
        if (mb_point_get(&r->point, (enum mb_axis)f->axis[i]) != f->value[i]) return 0;
    return !f->kernels || mb_name_matches(f->kernels, r->kernel);
}

int mb_cli_plot(int argc, char **argv) {
    const char *x_name = "n", *y_spec = "all", *by = "kernel", *out = NULL, *cross = NULL;
    struct row_filter filter = {0};
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
    if (!on_path("gnuplot")) return mb_cli_fail("plot", 1, "gnuplot not found (install gnuplot-nox or run make deps)");
    if (cli.n_positional == 0)
        return mb_cli_fail("plot", 2, "missing results file (usage: mechbench plot F.h5 [--x n] [--y all])");
    if (cli.n_positional > 1)
        return mb_cli_fail("plot", 2, "unexpected argument '%s' (one results file at a time)", cli.positional[1]);
    const char *file = cli.positional[0];
    if (roofline || scaling) { /* harness/plot_roofline.c */
        char special[4000], special_err[1024];
        if (out) snprintf(special, sizeof special, "%s", out);
        else default_prefix(file, special, sizeof special);
        snprintf(special + strlen(special), sizeof special - strlen(special), "%s", roofline ? "_roofline" : "_scaling");
        if (roofline && scaling) return mb_cli_fail("plot", 2, "--roofline and --scaling: one at a time");
        int bad = roofline ? mb_plot_roofline(file, machine, special, special_err, sizeof special_err)
                           : mb_plot_scaling(file, special, special_err, sizeof special_err);
        return bad ? mb_cli_fail("plot", 1, "%s", special_err) : 0;
    }
    char cross_a[MB_NAME_LEN] = "", cross_b[MB_NAME_LEN] = "";
    if (cross && parse_crossover(cross, cross_a, cross_b, sizeof cross_a))
        return mb_cli_fail("plot", 2, "--crossover '%s': expected two kernel names KERNEL_A,KERNEL_B", cross);

    struct plot_job *job = calloc(1, sizeof *job);
    if (!job) return mb_cli_fail("plot", 1, "out of memory");
    job->x_axis = mb_axis_lookup(x_name);
    char names[512];
    if (job->x_axis < 0) {
        axis_names(~UINT64_C(0) >> (64 - MB_AXIS_COUNT), names, sizeof names);
        free(job);
        return mb_cli_fail("plot", 2, "unknown axis --x '%s' (allowed: %s)", x_name, names);
    }
    if (parse_kinds(y_spec, job->want)) {
        free(job);
        return mb_cli_fail("plot", 2, "unknown --y '%s' (allowed: time, gflops, error, memory, pareto, task, all, or a comma list)",
                           y_spec);
    }
    if (strcmp(by, "kernel") != 0) {
        free(job);
        return mb_cli_fail("plot", 2, "unknown --by '%s' (allowed: kernel)", by);
    }
    char prefix[4000];
    if (out && !*out) {
        free(job);
        return mb_cli_fail("plot", 2, "--out needs a path prefix");
    }
    if (out) snprintf(prefix, sizeof prefix, "%s", out);
    else default_prefix(file, prefix, sizeof prefix);

    char err[1024];
    struct mb_results res;
    if (mb_results_load(file, &res, err, sizeof err)) {
        free(job);
        return mb_cli_fail("plot", 1, "%s", err);
    }
    const struct mb_row **measured = malloc((size_t)(res.count ? res.count : 1) * sizeof *measured);
    int64_t n = 0;
    for (int64_t i = 0; measured && i < res.count; i++)
        if (mb_row_measured(&res.rows[i]) && row_selected(&res.rows[i], &filter)) measured[n++] = &res.rows[i];
    struct mb_series_set set = {0};
    int params_vary = 0;
    uint64_t vary = n ? mb_rows_varying(measured, n, &params_vary) : 0;
    if (!measured) rc = mb_cli_fail("plot", 1, "out of memory");
    else if (n == 0)
        rc = mb_cli_fail("plot", 1, "%s has no measured points (verdict pass or fail)%s to plot", file,
                         filter.count || filter.kernels ? " matching --where/--kernels" : "");
    else if (!(vary & (UINT64_C(1) << job->x_axis))) {
        axis_names(vary, names, sizeof names);
        rc = mb_cli_fail("plot", 2, "axis %s does not vary in %s (varying axes: %s; choose one with --x)", x_name, file,
                         names);
    } else if (cross && !has_kernel(measured, n, cross_a)) {
        rc = mb_cli_fail("plot", 2, "--crossover: kernel %s has no measured points in %s%s", cross_a, file,
                         filter.count || filter.kernels ? " matching --where/--kernels" : "");
    } else if (cross && !has_kernel(measured, n, cross_b)) {
        rc = mb_cli_fail("plot", 2, "--crossover: kernel %s has no measured points in %s%s", cross_b, file,
                         filter.count || filter.kernels ? " matching --where/--kernels" : "");
    } else if (mb_series_group(measured, n, job->x_axis, vary, params_vary, &set, err, sizeof err)) {
        rc = mb_cli_fail("plot", 1, "%s", err);
    }

    if (rc == 0) {
        char experiment[128], cpu[128], cores[32];
        mb_store_attr(res.store, "experiment", experiment, sizeof experiment);
        mb_store_attr(res.store, "cpu_model", cpu, sizeof cpu);
        mb_store_attr(res.store, "cores", cores, sizeof cores);
        snprintf(job->title, sizeof job->title, "%s — %s, %s cores", experiment[0] ? experiment : file,
                 cpu[0] ? cpu : "unknown CPU", cores[0] ? cores : "?");
        job->prefix = prefix;
        job->set = &set;
        for (int k = 0; k < PLOT_COUNT; k++)
            for (int t = 0; t < 2; t++) {
                snprintf(job->final[k][t], sizeof job->final[k][t], "%s_%s.%s", prefix, kinds[k].name,
                         t ? "svg" : "png");
                mb_outfile_temp_name(job->final[k][t], job->temp[k][t], sizeof job->temp[k][t]);
            }
        if (mb_make_parent_dirs(job->final[0][0], err, sizeof err) || run_gnuplot(job, err, sizeof err)) {
            rc = mb_cli_fail("plot", 1, "%s", err);
        } else {
            for (int k = 0; k < PLOT_COUNT; k++)
                if (job->want[k]) printf("%s\n%s\n", job->final[k][0], job->final[k][1]);
        }
    }
    if (rc == 0 && cross) rc = crossovers(measured, n, job->x_axis, cross_a, cross_b);

    mb_series_free(&set);
    free(measured);
    mb_results_close(&res);
    free(job);
    return rc;
}
