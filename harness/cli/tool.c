/* `mechbench TOOL ...`: run a family's tool (mechbench.h "tools", e.g. `params`, the peft family's fine-tuning
 * calculator) and print its report: the title, one aligned row per quantity (label, value, unit and detail), then
 * the stated assumptions. Errors are one line "mechbench TOOL: ..." and exit 2. */
#include "cli/commands.h"
#include "core/mechbench.h"

#include <stdio.h>
#include <string.h>

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
    if (tool->run(argc, argv, &report, err, sizeof err)) {
        fprintf(stderr, "mechbench %s: %s\n", tool->name, err);
        return 2;
    }
    printf("%s\n", report.title);
    for (int i = 0; i < report.n_rows; i++) {
        const struct mb_report_row *r = &report.rows[i];
        printf("  %-30s %-20s %s\n", r->label, r->value, r->unit);
    }
    if (report.n_notes) printf("assumptions:\n");
    for (int i = 0; i < report.n_notes; i++) printf("  - %s\n", report.notes[i]);
    return 0;
}
