/* A tool's report (mechbench.h "tools"): rows of label, value, unit and notes, filled by the tool, printed by cli. */
#include "core/mechbench.h"

#include <stdarg.h>
#include <stdio.h>

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
