/* `mechbench TOOL ...`: run a family's tool (mechbench.h "tools", e.g. `params`, the peft family's fine-tuning
 * calculator) and print its report: the title, one aligned row per quantity (label, value, unit and detail), then
 * the stated assumptions; the report's grids (e.g. `rf --erf`) are drawn as heat maps (plot/heatmap.h) and their
 * files named; its raw text lines (`tfrecord cat`) are printed as they come. Errors are one line "mechbench TOOL: ..."
 * and exit 2, or exit 1 when the report marks the input as bad (a heat map that cannot be drawn: exit 1). */
#include "cli/commands.h"
#include "core/mechbench.h"
#include "plot/gnuplot.h"
#include "plot/heatmap.h"

#include <stdio.h>
#include <string.h>

static void print_line(void *ctx, const char *text) {
    (void)ctx;
    fputs(text, stdout);
    fputc('\n', stdout);
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
    int status = 0;
    if (report.n_grids && !mb_gnuplot_available()) {
        fprintf(stderr, "mechbench %s: gnuplot not found on PATH: no heat map drawn\n", tool->name);
        status = 1;
    }
    for (int i = 0; !status && i < report.n_grids; i++) {
        const struct mb_report_grid *g = &report.grids[i];
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
