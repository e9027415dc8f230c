/* `mechbench TOOL ...`: run a family's tool (mechbench.h "tools", e.g. `params`, the peft family's fine-tuning
 * calculator) and print its report: the title, one aligned row per quantity (label, value, unit and detail), then
 * the stated assumptions; the report's grids (e.g. `rf --erf`) are drawn as heat maps (plot/heatmap.h) and their
 * files named (a grid whose path ends in ".h5", `features apply --out dense.h5`, is data, not a picture: it is
 * written as the float32 dataset "dense", rows x cols, row r first, attributes title, x_label, y_label, by the
 * store's atomic writer, so a failed run leaves no file); its raw text lines (`tfrecord cat`) are printed as they come. Errors are one line "mechbench TOOL: ..."
 * and exit 2, or exit 1 when the report marks the input as bad (a heat map that cannot be drawn: exit 1). */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/mechbench.h"
#include "plot/gnuplot.h"
#include "plot/heatmap.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void print_line(void *ctx, const char *text) {
    (void)ctx;
    fputs(text, stdout);
    fputc('\n', stdout);
}

static int is_h5(const char *path) {
    const size_t len = strlen(path);
    return len > 3 && !strcmp(path + len - 3, ".h5");
}

/* A data grid as the float32 dataset "dense" of path (atomic: written to a temporary, renamed on success). */
static int write_grid_h5(const struct mb_report_grid *g, char *err, size_t errlen) {
    const int64_t count = (int64_t)g->rows * g->cols;
    struct mb_tensor t = {.name = "dense", .ndim = 2, .shape = {g->rows, g->cols}, .dims = "records,values",
                          .data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float))};
    if (!t.data) return mb_errorf(err, errlen, "%s: out of memory", g->path);
    for (int64_t i = 0; i < count; i++) t.data[i] = (float)g->values[i];
    char attrs[512];
    snprintf(attrs, sizeof attrs, "title=%s\nx_label=%s\ny_label=%s\n", g->title, g->x_label, g->y_label);
    const int rc = mb_h5_write_tensors(g->path, &t, 1, attrs, err, errlen);
    free(t.data);
    if (!rc) printf("wrote %s (dense: %d x %d float32)\n", g->path, g->rows, g->cols);
    return rc;
}

/* The value of --out (--out X or --out=X), or NULL. */
static const char *out_option(int argc, char **argv) {
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
    }
    return out;
}

int mb_cmd_tool(int argc, char **argv) {
    const struct mb_tool *tool = mb_tool_find(argv[0]);
    if (!tool) {
        fprintf(stderr, "mechbench: no tool '%s'\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: mechbench %s", tool->usage);
            return 0;
        }
    const char *out = out_option(argc, argv); /* a tool's output never replaces one of its inputs */
    int rc = out ? mb_cli_check_out(tool->name, out) : 0;
    if (rc) return rc;
    for (int i = 1; out && i < argc; i++)
        if (argv[i] != out && argv[i][0] != '-' && mb_cli_same_file(argv[i], out))
            return mb_cli_fail(tool->name, 2, "--out %s is the input file %s itself: write to another file", out,
                               argv[i]);
    for (int i = 1; i < argc; i++) { /* tools read regular files: /dev/zero or a FIFO would never end */
        struct stat st;
        if (argv[i][0] != '-' && stat(argv[i], &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            return mb_cli_fail(tool->name, 2, "%s is not a regular file", argv[i]);
    }
    static struct mb_report report; /* 20 kB: off the stack */
    char err[768];
    report.line = print_line;
    if (tool->run(argc, argv, &report, err, sizeof err)) {
        fflush(stdout);
        fprintf(stderr, "mechbench %s: %s\n", tool->name, err);
        return report.failed ? 1 : 2;
    }
    if (!report.title[0] && !report.n_rows) return 0; /* a tool whose output is its text lines */
    printf("%s\n", report.title);
    for (int i = 0; i < report.n_rows; i++) {
        const struct mb_report_row *r = &report.rows[i];
        printf("  %-30s %-20s %s\n", r->label, r->value, r->unit);
    }
    if (report.n_notes) printf("assumptions:\n");
    for (int i = 0; i < report.n_notes; i++) printf("  - %s\n", report.notes[i]);
    int status = 0, n_plots = 0;
    for (int i = 0; i < report.n_grids; i++) n_plots += !is_h5(report.grids[i].path);
    for (int i = 0; !status && i < report.n_grids; i++)
        if (is_h5(report.grids[i].path) && write_grid_h5(&report.grids[i], err, sizeof err)) {
            fprintf(stderr, "mechbench %s: %s\n", tool->name, err);
            status = 1;
        }
    if (!status && n_plots && !mb_gnuplot_available()) {
        fprintf(stderr, "mechbench %s: gnuplot not found on PATH: no heat map drawn\n", tool->name);
        status = 1;
    }
    for (int i = 0; !status && i < report.n_grids; i++) {
        const struct mb_report_grid *g = &report.grids[i];
        if (is_h5(g->path)) continue;
        const struct mb_heatmap h = {.title = g->title, .x_label = g->x_label, .y_label = g->y_label,
                                     .value_label = g->value_label, .values = g->values, .rows = g->rows,
                                     .cols = g->cols, .x0 = g->x0, .y0 = g->y0};
        if (mb_plot_heatmap(g->path, &h, err, sizeof err)) {
            fprintf(stderr, "mechbench %s: %s\n", tool->name, err);
            status = 1;
        } else printf("wrote %s.png and %s.svg\n", g->path, g->path);
    }
    mb_report_free(&report);
    return status;
}
