/* A tool's report (mechbench.h "tools"): rows of label, value, unit, notes and grids, filled by the tool, printed
 * (and the grids drawn) by cli. */
#include "core/mechbench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mb_report_row(struct mb_report *r, const char *label, const char *unit, const char *fmt, ...) {
    if (r->n_rows >= MB_REPORT_MAX_ROWS) return;
    struct mb_report_row *row = &r->rows[r->n_rows++];
    snprintf(row->label, sizeof row->label, "%s", label);
    snprintf(row->unit, sizeof row->unit, "%s", unit ? unit : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->value, sizeof row->value, fmt, ap);
    va_end(ap);
}

void mb_report_note(struct mb_report *r, const char *fmt, ...) {
    if (r->n_notes >= MB_REPORT_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->n_notes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

struct mb_report_grid *mb_report_grid(struct mb_report *r, const char *path, const char *title, int rows, int cols) {
    if (r->n_grids >= MB_REPORT_MAX_GRIDS || rows < 1 || cols < 1) return NULL;
    struct mb_report_grid *g = &r->grids[r->n_grids];
    memset(g, 0, sizeof *g);
    if (!(g->values = calloc((size_t)rows * (size_t)cols, sizeof *g->values))) return NULL;
    snprintf(g->path, sizeof g->path, "%s", path);
    snprintf(g->title, sizeof g->title, "%s", title);
    g->rows = rows, g->cols = cols;
    r->n_grids++;
    return g;
}

void mb_report_line(struct mb_report *r, const char *fmt, ...) {
    char small[1024], *line = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof small) { /* a long line: format it again into the heap */
        if (!(line = malloc((size_t)n + 1))) return;
        va_start(ap, fmt);
        vsnprintf(line, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (r->line) r->line(r->line_ctx, line);
    else if (r->text_len + (size_t)n + 2 <= r->text_cap || (r->text = realloc(r->text, r->text_cap = 2 * (r->text_cap + (size_t)n + 2)))) {
        memcpy(r->text + r->text_len, line, (size_t)n);
        r->text_len += (size_t)n;
        r->text[r->text_len++] = '\n';
        r->text[r->text_len] = 0;
    }
    if (line != small) free(line);
}

void mb_report_free(struct mb_report *r) {
    free(r->text);
    r->text = NULL, r->text_len = r->text_cap = 0;
    for (int i = 0; i < r->n_grids; i++) {
        free(r->grids[i].values);
        r->grids[i].values = NULL;
    }
    r->n_grids = 0;
}
