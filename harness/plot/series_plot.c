/* The plots of a results file (see series_plot.h).
 *
 * One gnuplot script draws every wanted kind: every series is an inline `$sN << EOD` data block, every plot is
 * drawn as PNG and SVG (plot/gnuplot.h).
 *
 * Data block columns: 1 x, 2 median s, 3 min s, 4 max s, 5 GFLOP/s, 6 rel_l2 vs own formula, 7 rel_l2 vs the
 * exact mechanism (approximations only), 8 bytes (workspace + inputs/outputs), 9 rel_l2 vs the exact mechanism
 * for every kernel (own error for exact kernels: the y of the Pareto plot), 10 task score. NaN marks a missing
 * value.
 */
#include "plot/series_plot.h"

#include "plot/gnuplot.h"
#include "plot/panels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mb_plot_kind_names[MB_PLOT_KIND_COUNT] = {
    [MB_PLOT_TIME] = "time",     [MB_PLOT_GFLOPS] = "gflops", [MB_PLOT_ERROR] = "error",
    [MB_PLOT_MEMORY] = "memory", [MB_PLOT_PARETO] = "pareto", [MB_PLOT_TASK] = "task",
};

static const struct {
    const char *ylabel;
    int log_y;
} kinds[MB_PLOT_KIND_COUNT] = {
    [MB_PLOT_TIME] = {"time per run (s)", 1},
    [MB_PLOT_GFLOPS] = {"GFLOP/s", 0},
    [MB_PLOT_ERROR] = {"relative L2 error", 1},
    [MB_PLOT_MEMORY] = {"bytes", 1},
    [MB_PLOT_PARETO] = {"relative L2 error vs the exact mechanism", 1},
    [MB_PLOT_TASK] = {"task score (e.g. recall accuracy)", 0},
};

/* ---------------------------------------------------------------------------------------------- options */

int mb_plot_kinds_parse(const char *spec, int want[MB_PLOT_KIND_COUNT]) {
    memset(want, 0, MB_PLOT_KIND_COUNT * sizeof *want);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        if (strcmp(tok, "all") == 0) { /* the pareto view is asked for by name (it wants --x rank) */
            for (int k = 0; k < MB_PLOT_KIND_COUNT; k++) want[k] = k != MB_PLOT_PARETO && k != MB_PLOT_TASK;
            found = 1;
        }
        for (int k = 0; k < MB_PLOT_KIND_COUNT; k++)
            if (strcmp(tok, mb_plot_kind_names[k]) == 0) want[k] = found = 1;
        if (!found) return -1;
    }
    for (int k = 0; k < MB_PLOT_KIND_COUNT; k++)
        if (want[k]) return 0;
    return -1;
}

int mb_row_filter_add(struct mb_row_filter *f, const char *text, char *err, size_t errlen) {
    const char *eq = strchr(text, '=');
    char name[64];
    if (!eq || (size_t)(eq - text) >= sizeof name)
        return mb_errorf(err, errlen, "--where '%s': expected AXIS=VALUE, e.g. causal=0", text);
    snprintf(name, sizeof name, "%.*s", (int)(eq - text), text);
    int axis = mb_axis_lookup(name);
    double v;
    if (axis < 0) return mb_errorf(err, errlen, "--where '%s': unknown axis '%s'", text, name);
    if (mb_parse_number(eq + 1, &v)) return mb_errorf(err, errlen, "--where '%s': '%s' is not a number", text, eq + 1);
    if (f->count == MB_PLOT_MAX_WHERE) return mb_errorf(err, errlen, "--where: at most %d conditions", MB_PLOT_MAX_WHERE);
    f->axis[f->count] = axis;
    f->value[f->count++] = v;
    return 0;
}

int mb_row_filter_match(const struct mb_row *r, const struct mb_row_filter *f) {
    for (int i = 0; i < f->count; i++)
        if (mb_point_get(&r->point, (enum mb_axis)f->axis[i]) != f->value[i]) return 0;
    return !f->kernels || mb_name_matches(f->kernels, r->kernel);
}

void mb_plot_axis_names(uint64_t mask, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++)
        if (mask & (UINT64_C(1) << a))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", mb_axes[a].name);
    if (!buf[0]) snprintf(buf, len, "none");
}

/* ---------------------------------------------------------------------------------------------- load */

int mb_series_plot_load(struct mb_series_plot *p, const char *file, const struct mb_row_filter *filter, int x_axis,
                        char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->x_axis = x_axis;
    if (mb_results_load(file, &p->results, err, errlen)) return 1;
    const struct mb_results *res = &p->results;
    p->rows = malloc((size_t)(res->count ? res->count : 1) * sizeof *p->rows);
    if (!p->rows) return mb_errorf(err, errlen, "out of memory"), 1;
    for (int64_t i = 0; i < res->count; i++)
        if (mb_row_measured(&res->rows[i]) && (!filter || mb_row_filter_match(&res->rows[i], filter)))
            p->rows[p->count++] = &res->rows[i];
    int filtered = filter && (filter->count || filter->kernels);
    if (p->count == 0)
        return mb_errorf(err, errlen, "%s has no measured points (verdict pass or fail)%s to plot", file,
                         filtered ? " matching --where/--kernels" : ""), 1;
    int params_vary = 0;
    uint64_t vary = mb_rows_varying(p->rows, p->count, &params_vary);
    if (!(vary & (UINT64_C(1) << x_axis))) {
        char names[512];
        mb_plot_axis_names(vary, names, sizeof names);
        return mb_errorf(err, errlen, "axis %s does not vary in %s (varying axes: %s; choose one with --x)",
                         mb_axes[x_axis].name, file, names), 2;
    }
    if (mb_series_group(p->rows, p->count, x_axis, vary, params_vary, &p->set, err, errlen)) return 1;

    char experiment[128], cpu[128], cores[32];
    mb_store_attr(res->store, "experiment", experiment, sizeof experiment);
    mb_store_attr(res->store, "cpu_model", cpu, sizeof cpu);
    mb_store_attr(res->store, "cores", cores, sizeof cores);
    snprintf(p->title, sizeof p->title, "%s — %s, %s cores", experiment[0] ? experiment : file,
             cpu[0] ? cpu : "unknown CPU", cores[0] ? cores : "?");
    mb_plot_footer_text(res->store, p->rows, p->count, p->footer, sizeof p->footer);
    return 0;
}

void mb_series_plot_free(struct mb_series_plot *p) {
    mb_series_free(&p->set);
    free(p->rows);
    p->rows = NULL;
    mb_results_close(&p->results);
}

void mb_series_plot_path(const char *prefix, enum mb_plot_kind kind, int svg, char *buf, size_t len) {
    snprintf(buf, len, "%s_%s.%s", prefix, mb_plot_kind_names[kind], svg ? "svg" : "png");
}

/* ---------------------------------------------------------------------------------------------- script */

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

static void write_data_blocks(struct mb_gnuplot *g, const struct mb_series_set *set) {
    FILE *f = g->script;
    for (int s = 0; s < set->count; s++) {
        const struct mb_series *se = &set->series[s];
        int approx = is_approximation(se);
        char name[32];
        snprintf(name, sizeof name, "s%d", s);
        fprintf(f, "# %s\n", se->label);
        mb_gnuplot_data_begin(g, name);
        for (int i = 0; i < se->count; i++) {
            const struct mb_row *r = se->rows[i];
            fprintf(f, "%.10g", mb_row_x(r, set->x_axis));
            mb_gnuplot_value(f, r->time_median, 1);
            mb_gnuplot_value(f, r->time_min, 1);
            mb_gnuplot_value(f, r->time_max, 1);
            mb_gnuplot_value(f, r->gflops, 0);
            mb_gnuplot_value(f, r->own.checked > 0 ? r->own.rel_l2 : NAN, 1);
            mb_gnuplot_value(f, approx && r->exact.checked > 0 ? r->exact.rel_l2 : NAN, 1);
            mb_gnuplot_value(f, r->workspace_bytes + r->input_bytes, 1);
            mb_gnuplot_value(f, r->exact.checked > 0 ? r->exact.rel_l2 : NAN, 1);
            mb_gnuplot_value(f, r->task_score, 0);
            fputc('\n', f);
        }
        mb_gnuplot_data_end(g);
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
    fputs("set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06\n", f); /* no mark on the frame */
}

/* What a panel of one plot kind draws (mb_panels_write's context). */
struct panel_ctx {
    const struct mb_series_set *set;
    const struct mb_panels *pan;
    enum mb_plot_kind kind;
};

/* Panel i's plot command: its series, each in its own style, titled by its panel label. */
static void write_plot_command(FILE *f, int panel, const void *ctx) {
    const struct panel_ctx *c = ctx;
    const struct mb_series_set *set = c->set;
    const struct mb_panels *pan = c->pan;
    const enum mb_plot_kind kind = c->kind;
    fputs("plot", f);
    int first = 1;
    for (int s = 0; s < set->count; s++) {
        if (pan->panel[s] != panel) continue;
        const struct mb_series *se = &set->series[s];
        fprintf(f, "%s \\\n  $s%d ", first ? "" : ",", s);
        first = 0;
        switch (kind) {
        case MB_PLOT_TIME: fputs("using 1:2:3:4 with yerrorlines", f); break;
        case MB_PLOT_GFLOPS: fputs("using 1:5 with linespoints", f); break;
        case MB_PLOT_ERROR: fputs("using 1:6 with linespoints", f); break;
        case MB_PLOT_MEMORY: fputs("using 1:8 with linespoints", f); break;
        case MB_PLOT_PARETO: fputs("using 2:9 with linespoints", f); break;
        case MB_PLOT_TASK: fputs("using 1:10 with linespoints", f); break;
        default: break;
        }
        mb_plot_style(f, pan->style[s], 0);
        fputs(" ps 0.8 lw 1.5 title ", f);
        mb_gnuplot_quote(f, pan->label[s]);
        if (kind == MB_PLOT_ERROR && is_approximation(se)) { /* the same colour and points, dotted */
            char title[sizeof pan->label[0] + 16];
            snprintf(title, sizeof title, "%s vs exact", pan->label[s]);
            fprintf(f, ", \\\n  $s%d using 1:7 with linespoints", s);
            mb_plot_style(f, pan->style[s], 3);
            fputs(" ps 0.8 lw 1.5 title ", f);
            mb_gnuplot_quote(f, title);
        }
    }
    if (first) fputs(" NaN notitle", f); /* an empty panel */
    fputc('\n', f);
}

int mb_series_plot_draw(const struct mb_series_plot *p, const char *prefix, const int want[MB_PLOT_KIND_COUNT],
                        char *err, size_t errlen) {
    const struct mb_series_set *set = &p->set;
    const char **kernels = calloc((size_t)(set->count ? set->count : 1), sizeof *kernels),
               **keys = calloc((size_t)(set->count ? set->count : 1), sizeof *keys);
    if (!kernels || !keys) return free(kernels), free(keys), mb_errorf(err, errlen, "out of memory");
    for (int s = 0; s < set->count; s++) { /* the label is "kernel axes params": the key is what follows the kernel */
        const char *label = set->series[s].label;
        size_t kl = strlen(set->series[s].kernel);
        keys[s] = strncmp(label, set->series[s].kernel, kl) ? "" : label + kl + (label[kl] == ' ');
        kernels[s] = set->series[s].kernel;
    }
    struct mb_panels *pan = mb_panels_make(set->count, kernels, keys);
    free(kernels);
    free(keys);
    if (!pan) return mb_errorf(err, errlen, "out of memory");
    struct mb_gnuplot g;
    if (mb_gnuplot_begin(&g, err, errlen)) return mb_panels_free(pan), -1;
    const struct mb_gnuplot_canvas canvas = mb_panels_canvas(pan);
    char xbuf[256], path[4096];
    fputs("# generated by mechbench plot\n", g.script);
    write_data_blocks(&g, set);
    fputs("set grid\n", g.script);
    int rc = 0;
    for (int k = 0; k < MB_PLOT_KIND_COUNT && !rc; k++) {
        if (!want[k]) continue;
        char *body = NULL;
        size_t body_len = 0;
        FILE *f = open_memstream(&body, &body_len);
        if (!f) {
            rc = mb_errorf(err, errlen, "out of memory");
            break;
        }
        fprintf(f, "\n# %s\n", mb_plot_kind_names[k]);
        if (k == MB_PLOT_PARETO) { /* x is the time, y the error: the trade-off curve of each kernel */
            fputs("set logscale x 10\nset xlabel 'time per run (s)'\n", f);
        } else {
            write_x_scale(f, set);
            fputs("set xlabel ", f);
            mb_gnuplot_quote(f, x_label(p->x_axis, xbuf, sizeof xbuf));
            fputc('\n', f);
        }
        fputs(kinds[k].log_y ? "set logscale y 10\nset format y '%g'\n" : "unset logscale y\nset format y '%g'\n", f);
        fputs("set ylabel ", f);
        mb_gnuplot_quote(f, kinds[k].ylabel);
        fputc('\n', f);
        const struct panel_ctx ctx = {set, pan, (enum mb_plot_kind)k};
        mb_panels_write(f, pan, p->title, p->footer, write_plot_command, &ctx);
        fclose(f);
        snprintf(path, sizeof path, "%s_%s", prefix, mb_plot_kind_names[k]);
        rc = mb_gnuplot_figure_text(&g, path, &canvas, body, err, errlen);
        free(body);
    }
    if (!rc) rc = mb_gnuplot_run(&g, err, errlen);
    mb_gnuplot_free(&g);
    mb_panels_free(pan);
    return rc;
}
