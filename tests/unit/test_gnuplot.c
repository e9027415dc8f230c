/* The gnuplot module: quoting, missing values, one run for several figures written atomically, failures that
 * leave nothing behind; and the option parsing of the results-file plots. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/gnuplot.h"
#include "plot/series_plot.h"

static char *captured(void (*write)(FILE *f)) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    write(f);
    fclose(f);
    return text;
}

static void quotes(FILE *f) { mb_gnuplot_quote(f, "it's a 'label'"); }
static void values(FILE *f) {
    mb_gnuplot_value(f, 0.5, 1);
    mb_gnuplot_value(f, 0, 1);
    mb_gnuplot_value(f, 0, 0);
    mb_gnuplot_value(f, -1, 0);
    mb_gnuplot_value(f, NAN, 0);
    mb_gnuplot_value(f, INFINITY, 0);
}

Test(gnuplot, quotes_and_missing_values) {
    char *q = captured(quotes), *v = captured(values);
    cr_assert_str_eq(q, "'it''s a ''label'''");
    cr_assert_str_eq(v, " 0.5 NaN 0 -1 NaN NaN");
    free(q);
    free(v);
}

/* Files in dir whose name starts with '.' (the temporaries) and in all. */
static void count_files(const char *dir, int *hidden, int *all) {
    *hidden = *all = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        (*all)++;
        *hidden += e->d_name[0] == '.';
    }
    closedir(d);
}

static int starts_with(const char *path, const char *magic) {
    char buf[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, strlen(magic), f);
    fclose(f);
    return got == strlen(magic) && memcmp(buf, magic, got) == 0;
}

Test(gnuplot, one_run_draws_every_figure_as_png_and_svg, .timeout = 60) {
    cr_assert(mb_gnuplot_available(), "gnuplot is a dependency (make deps)");
    char dir[] = "/tmp/mb-gnuplot-test-XXXXXX", sub[64], path[128], err[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/new/dir", dir); /* made by the module */
    struct mb_gnuplot g;
    cr_assert_eq(mb_gnuplot_begin(&g, err, sizeof err), 0, "%s", err);
    mb_gnuplot_data_begin(&g, "d");
    fputs("1 1\n2 4\n3 9\n", g.script);
    mb_gnuplot_data_end(&g);
    const struct mb_gnuplot_canvas canvas = {.width = 400, .height = 300, .font = "sans,9"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/fig%d", sub, i);
        fprintf(g.script, "set title 'figure %d'\n", i);
        cr_assert_eq(mb_gnuplot_figure_begin(&g, path, &canvas, err, sizeof err), 0, "%s", err);
        fputs("plot $d using 1:2 with linespoints title 'y'\n", g.script);
        mb_gnuplot_figure_end(&g);
    }
    cr_assert_eq(mb_gnuplot_run(&g, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/fig%d.png", sub, i);
        cr_assert_str_eq(mb_gnuplot_output(&g, i, 0), path);
        cr_assert(starts_with(path, "\x89PNG\r\n"), "%s", path);
        snprintf(path, sizeof path, "%s/fig%d.svg", sub, i);
        cr_assert_str_eq(mb_gnuplot_output(&g, i, 1), path);
        cr_assert(starts_with(path, "<?xml"), "%s", path);
    }
    mb_gnuplot_free(&g);
    int hidden, all;
    count_files(sub, &hidden, &all);
    cr_assert_eq(all, 4);
    cr_assert_eq(hidden, 0, "temporaries left behind");

    /* a script error: -1 with gnuplot's message, no image, no temporary */
    cr_assert_eq(mb_gnuplot_begin(&g, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/bad", sub);
    cr_assert_eq(mb_gnuplot_figure_begin(&g, path, &canvas, err, sizeof err), 0, "%s", err);
    fputs("plot $no_such_block using 1:2\n", g.script);
    mb_gnuplot_figure_end(&g);
    cr_assert_eq(mb_gnuplot_run(&g, err, sizeof err), -1);
    cr_assert(strstr(err, "gnuplot failed") != NULL, "%s", err);
    cr_assert(strchr(err, '\n') == NULL, "one line: %s", err);
    mb_gnuplot_free(&g);
    count_files(sub, &hidden, &all);
    cr_assert_eq(all, 4);
    cr_assert_eq(hidden, 0);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(gnuplot, too_many_figures_is_an_error) {
    struct mb_gnuplot g;
    char err[256], path[64];
    const struct mb_gnuplot_canvas canvas = {.width = 100, .height = 100};
    cr_assert_eq(mb_gnuplot_begin(&g, err, sizeof err), 0);
    int rc = 0;
    for (int i = 0; i <= MB_GNUPLOT_MAX_FIGURES && rc == 0; i++) {
        snprintf(path, sizeof path, "/tmp/mb-never-%d", i);
        rc = mb_gnuplot_figure_begin(&g, path, &canvas, err, sizeof err);
        if (rc == 0) mb_gnuplot_figure_end(&g);
    }
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "figures") != NULL, "%s", err);
    mb_gnuplot_free(&g); /* never run: nothing drawn */
}

Test(series_plot, kinds_and_filters) {
    int want[MB_PLOT_KIND_COUNT];
    cr_assert_eq(mb_plot_kinds_parse("all", want), 0);
    cr_assert(want[MB_PLOT_TIME] && want[MB_PLOT_GFLOPS] && want[MB_PLOT_ERROR] && want[MB_PLOT_MEMORY]);
    cr_assert(!want[MB_PLOT_PARETO] && !want[MB_PLOT_TASK]);
    cr_assert_eq(mb_plot_kinds_parse("pareto,task", want), 0);
    cr_assert(want[MB_PLOT_PARETO] && want[MB_PLOT_TASK] && !want[MB_PLOT_TIME]);
    cr_assert_eq(mb_plot_kinds_parse("time,bogus", want), -1);
    cr_assert_eq(mb_plot_kinds_parse("", want), -1);

    char path[64];
    mb_series_plot_path("plots/demo", MB_PLOT_GFLOPS, 1, path, sizeof path);
    cr_assert_str_eq(path, "plots/demo_gflops.svg");

    struct mb_row_filter f = {0};
    char err[256];
    cr_assert_eq(mb_row_filter_add(&f, "causal=1", err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_row_filter_add(&f, "nope=1", err, sizeof err), -1);
    cr_assert(strstr(err, "unknown axis 'nope'") != NULL, "%s", err);
    cr_assert_eq(mb_row_filter_add(&f, "n=x", err, sizeof err), -1);
    cr_assert(strstr(err, "not a number") != NULL, "%s", err);
    struct mb_row r = {0};
    snprintf(r.kernel, sizeof r.kernel, "attention.linear.elu");
    r.point.causal = 1;
    cr_assert(mb_row_filter_match(&r, &f));
    f.kernels = "attention.softmax.*";
    cr_assert_not(mb_row_filter_match(&r, &f));
    f.kernels = "attention.linear.*";
    cr_assert(mb_row_filter_match(&r, &f));
    r.point.causal = 0;
    cr_assert_not(mb_row_filter_match(&r, &f));
}
