/* Small multiples, series styles and the provenance footer (see panels.h). */
#include "plot/panels.h"

#include "store/provenance.h"
#include "store/rows.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- keys */
/* The value of axis `name` in key "a=1 b=2" into val ("" when absent). */
static void key_value(const char *key, const char *name, char *val, size_t len) {
    val[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = key; p && *p;) {
        while (*p == ' ') p++;
        size_t tl = strcspn(p, " ");
        if (tl > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            snprintf(val, len, "%.*s", (int)(tl - nl - 1), p + nl + 1);
            return;
        }
        p += tl;
    }
}

/* key without the tokens of the axes in names[0..n) */
static void key_without(const char *key, const char *const *names, int n, char *buf, size_t len) {
    buf[0] = 0;
    size_t used = 0;
    for (const char *p = key; *p;) {
        while (*p == ' ') p++;
        size_t tl = strcspn(p, " ");
        int drop = 0;
        for (int i = 0; i < n && !drop; i++) {
            size_t nl = strlen(names[i]);
            drop = tl > nl && !strncmp(p, names[i], nl) && p[nl] == '=';
        }
        if (tl && !drop && used < len) used += (size_t)snprintf(buf + used, len - used, "%s%.*s", used ? " " : "", (int)tl, p);
        p += tl;
    }
}

/* Axis names appearing in the keys, in preference order (d, threads, causal, heads, then as they come). */
static int key_axes(int n, const char *const *keys, char names[][32], int max) {
    static const char *const preferred[] = {"d", "threads", "causal", "heads", "rank", "batch"};
    int count = 0;
    char val[64];
    for (int i = 0; i < 6 && count < max; i++)
        for (int s = 0; s < n; s++) {
            key_value(keys[s], preferred[i], val, sizeof val);
            if (val[0]) {
                snprintf(names[count++], 32, "%s", preferred[i]);
                break;
            }
        }
    for (int s = 0; s < n; s++)
        for (const char *p = keys[s]; *p;) {
            while (*p == ' ') p++;
            size_t tl = strcspn(p, " "), nl = strcspn(p, "=");
            if (tl && nl < tl && nl < 32) {
                int seen = 0;
                for (int i = 0; i < count && !seen; i++) seen = strlen(names[i]) == nl && !strncmp(names[i], p, nl);
                if (!seen && count < max) snprintf(names[count++], 32, "%.*s", (int)nl, p);
            }
            p += tl;
        }
    return count;
}

/* The group of each series by the values of axes names[0..na): group ids 0.., returns the number of groups and
   the largest group's size in *largest. */
static int group_by(int n, const char *const *keys, const char *const *names, int na, int *group, int *largest) {
    char (*sig)[200] = malloc((size_t)n * sizeof *sig);
    int groups = 0;
    *largest = 0;
    if (!sig) return -1;
    for (int s = 0; s < n; s++) {
        sig[s][0] = 0;
        for (int a = 0; a < na; a++) {
            char val[64];
            key_value(keys[s], names[a], val, sizeof val);
            size_t used = strlen(sig[s]);
            snprintf(sig[s] + used, sizeof sig[s] - used, "%s%s=%s", a ? " " : "", names[a], val[0] ? val : "-");
        }
        group[s] = -1;
        for (int t = 0; t < s && group[s] < 0; t++)
            if (!strcmp(sig[s], sig[t])) group[s] = group[t];
        if (group[s] < 0) group[s] = groups++;
    }
    for (int g = 0; g < groups; g++) {
        int size = 0;
        for (int s = 0; s < n; s++) size += group[s] == g;
        if (size > *largest) *largest = size;
    }
    free(sig);
    return groups;
}

static void kernel_group(const char *kernel, char *buf, size_t len) {
    const char *dot = strrchr(kernel, '.');
    snprintf(buf, len, "%.*s", dot ? (int)(dot - kernel) : (int)strlen(kernel), kernel);
}

/* ---------------------------------------------------------------------------------------------- make */
struct mb_panels *mb_panels_make(int n, const char *const *kernels, const char *const *keys) {
    struct mb_panels *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_series = n;
    int m = n ? n : 1;
    p->panel = calloc((size_t)m, sizeof *p->panel);
    p->style = calloc((size_t)m, sizeof *p->style);
    p->label = calloc((size_t)m, sizeof *p->label);
    int *group = calloc((size_t)m, sizeof *group);
    if (!p->panel || !p->style || !p->label || !group) return free(group), mb_panels_free(p), NULL;

    /* 1. the axes that split the series (none when they fit one panel) */
    char names[16][32];
    const char *chosen[2] = {0};
    int n_chosen = 0, n_axes = n > MB_PANEL_SERIES ? key_axes(n, keys, names, 16) : 0, largest = n;
    for (int a = 0; a < n_axes && largest > MB_PANEL_SERIES; a++) {
        const char *one[1] = {names[a]};
        int big, g = group_by(n, keys, one, 1, group, &big);
        if (g > 1 && g <= MB_PANEL_MAX && big < largest) chosen[0] = names[a], n_chosen = 1, largest = big;
    }
    for (int a = 0; a < n_axes && largest > MB_PANEL_SERIES; a++)
        for (int b = a + 1; b < n_axes && largest > MB_PANEL_SERIES; b++) {
            const char *two[2] = {names[a], names[b]};
            int big, g = group_by(n, keys, two, 2, group, &big);
            if (g <= MB_PANEL_MAX && big < largest) chosen[0] = names[a], chosen[1] = names[b], n_chosen = 2, largest = big;
        }
    int groups = group_by(n, keys, chosen, n_chosen, group, &largest);

    /* 2. panels: each group, split further by kernel group into chunks of at most MB_PANEL_SERIES */
    for (int g = 0; g < groups && p->n_panels < MB_PANEL_MAX; g++) {
        int size = 0, first = -1;
        for (int s = 0; s < n; s++)
            if (group[s] == g) size += 1, first = first < 0 ? s : first;
        char axes_title[200] = "";
        if (n_chosen) { /* the chosen axes' tokens */
            for (int a = 0; a < n_chosen; a++) {
                char val[64];
                key_value(keys[first], chosen[a], val, sizeof val);
                size_t used = strlen(axes_title);
                if (val[0]) snprintf(axes_title + used, sizeof axes_title - used, "%s%s=%s", used ? " " : "", chosen[a], val);
            }
        }
        if (size <= MB_PANEL_SERIES) {
            for (int s = 0; s < n; s++)
                if (group[s] == g) p->panel[s] = p->n_panels;
            snprintf(p->title[p->n_panels++], sizeof p->title[0], "%s", axes_title);
            continue;
        }
        /* by kernel group, in the order the series come (sorted by kernel name by their makers) */
        int in_panel = 0;
        char last_family[128] = "", families[200] = "";
        for (int s = 0; s < n; s++) {
            if (group[s] != g) continue;
            char family[128];
            kernel_group(kernels[s], family, sizeof family);
            int family_size = 0;
            for (int t = s; t < n; t++) {
                char ft[128];
                kernel_group(kernels[t], ft, sizeof ft);
                family_size += group[t] == g && !strcmp(ft, family);
            }
            int new_family = strcmp(family, last_family) != 0;
            if (in_panel == MB_PANEL_SERIES || (new_family && in_panel && in_panel + family_size > MB_PANEL_SERIES)) {
                if (p->n_panels + 1 >= MB_PANEL_MAX) break;
                snprintf(p->title[p->n_panels], sizeof p->title[0], "%s%s%s", axes_title, axes_title[0] ? "  " : "", families);
                p->n_panels++;
                in_panel = 0;
                families[0] = 0;
                last_family[0] = 0;
                new_family = 1;
            }
            if (new_family) {
                size_t used = strlen(families);
                snprintf(families + used, sizeof families - used, "%s%s.*", used ? ", " : "", family);
                snprintf(last_family, sizeof last_family, "%s", family);
            }
            p->panel[s] = p->n_panels;
            in_panel++;
        }
        snprintf(p->title[p->n_panels], sizeof p->title[0], "%s%s%s", axes_title, axes_title[0] ? "  " : "", families);
        p->n_panels++;
    }
    for (int s = 0; s < n; s++) /* beyond MB_PANEL_MAX panels: the rest joins the last one */
        if (p->panel[s] >= p->n_panels) p->panel[s] = p->n_panels - 1;
    if (p->n_panels == 0) p->n_panels = 1;
    p->cols = p->n_panels <= 3 ? p->n_panels : p->n_panels == 4 ? 2 : 3;
    p->rows = (p->n_panels + p->cols - 1) / p->cols;

    /* 3. labels (what the panel title does not say) and one style per distinct label */
    for (int s = 0; s < n; s++) {
        char rest[200];
        key_without(keys[s], chosen, n_chosen, rest, sizeof rest);
        snprintf(p->label[s], sizeof p->label[0], "%s%s%s", kernels[s], rest[0] ? " " : "", rest);
        p->style[s] = -1;
        for (int t = 0; t < s && p->style[s] < 0; t++)
            if (!strcmp(p->label[s], p->label[t])) p->style[s] = p->style[t];
        if (p->style[s] < 0) {
            int styles = 0;
            for (int t = 0; t < s; t++) styles = p->style[t] + 1 > styles ? p->style[t] + 1 : styles;
            p->style[s] = styles;
        }
    }
    free(group);
    return p;
}

void mb_panels_free(struct mb_panels *p) {
    if (!p) return;
    free(p->panel);
    free(p->style);
    free(p->label);
    free(p);
}

/* ---------------------------------------------------------------------------------------------- drawing */
struct mb_gnuplot_canvas mb_panels_canvas(const struct mb_panels *p) {
    if (p->n_panels <= 1) return (struct mb_gnuplot_canvas){.width = 1000, .height = 720, .font = "sans,10"};
    return (struct mb_gnuplot_canvas){.width = 620 * p->cols, .height = 470 * p->rows + 70, .font = "sans,10"};
}

enum { FOOTER_PX = 28, TITLE_PX = 34 };

void mb_panels_place(FILE *f, const struct mb_panels *p, int i, const char *title, const char *footer) {
    const struct mb_gnuplot_canvas c = mb_panels_canvas(p);
    const double bottom = (double)FOOTER_PX / c.height, top = title ? (double)TITLE_PX / c.height : 0.0;
    const double w = 1.0 / p->cols, h = (1.0 - bottom - top) / p->rows;
    const int row = i / p->cols, col = i % p->cols;
    fputs("unset arrow\nunset object\nunset label\n", f);
    fprintf(f, "set origin %.5f,%.5f\nset size %.5f,%.5f\n", col * w, bottom + (p->rows - 1 - row) * h, w, h);
    fputs("set key outside below center horizontal maxcols 2 Left reverse noenhanced samplen 3 spacing 1.1 font ',9'\n", f);
    fputs("set title ", f);
    mb_gnuplot_quote(f, p->title[i]);
    fputs(" noenhanced\n", f);
    if (i == 0 && title) {
        fputs("set label 901 ", f);
        mb_gnuplot_quote(f, title);
        fprintf(f, " at screen 0.5,%.5f center front noenhanced font ',12'\n", 1.0 - 0.5 * top);
    }
    if (i == 0 && footer && footer[0]) {
        fputs("set label 902 ", f);
        mb_gnuplot_quote(f, footer);
        fprintf(f, " at screen 0.005,%.5f left front noenhanced font ',9' textcolor rgb '#555555'\n", 0.45 * bottom);
    }
}

void mb_panels_write(FILE *f, const struct mb_panels *p, const char *title, const char *footer,
                     void (*plot_panel)(FILE *f, int panel, const void *ctx), const void *ctx) {
    fputs("set multiplot\n", f);
    for (int i = 0; i < p->n_panels; i++) {
        mb_panels_place(f, p, i, title, footer);
        plot_panel(f, i, ctx);
    }
    fputs("unset multiplot\n", f);
}

void mb_plot_style(FILE *f, int s, int dash) {
    /* Okabe-Ito's colour-blind-safe colours (yellow replaced by a dark grey) */
    static const char *const colours[8] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                           "#e69f00", "#56b4e9", "#000000", "#7f7f7f"};
    static const int dashes[3] = {1, 2, 4};
    static const int points[12] = {7, 5, 9, 11, 13, 15, 6, 4, 8, 10, 12, 14};
    if (s < 0) s = 0;
    fprintf(f, " lc rgb '%s' dt %d pt %d", colours[s % 8], dash > 0 ? dash : dashes[(s / 8) % 3], points[s % 12]);
}

void mb_plot_footer_text(struct mb_store *store, const struct mb_row *const *rows, int64_t n, char *buf, size_t len) {
    char cpu[160] = "", created[64] = "", threads[96] = "";
    if (store) {
        mb_store_attr(store, "cpu_model", cpu, sizeof cpu);
        mb_store_attr(store, "created", created, sizeof created);
    } else { /* no results file (a probe): this machine, now */
        struct mb_provenance *prov = malloc(sizeof *prov);
        if (prov) {
            mb_provenance_collect(prov);
            const char *v = mb_provenance_get(prov, "cpu_model");
            snprintf(cpu, sizeof cpu, "%s", v ? v : "");
            v = mb_provenance_get(prov, "created");
            snprintf(created, sizeof created, "%s", v ? v : "");
            free(prov);
        }
    }
    /* the distinct thread counts, ascending */
    int64_t last = 0;
    size_t used = 0;
    for (;;) {
        int64_t next = INT64_MAX;
        for (int64_t i = 0; i < n; i++)
            if (rows[i]->point.threads > last && rows[i]->point.threads < next) next = rows[i]->point.threads;
        if (next == INT64_MAX || used >= sizeof threads) break;
        used += (size_t)snprintf(threads + used, sizeof threads - used, "%s%lld", used ? ", " : "", (long long)next);
        last = next;
    }
    char when[64];
    if (strlen(created) >= 16) snprintf(when, sizeof when, "%.10s %.5s UTC", created, created + 11);
    else snprintf(when, sizeof when, "%s", created[0] ? created : "date unknown");
    if (threads[0]) snprintf(buf, len, "%s  |  threads %s  |  measured %s", cpu[0] ? cpu : "this machine", threads, when);
    else snprintf(buf, len, "%s  |  computed %s", cpu[0] ? cpu : "this machine", when); /* no rows: a probe, a tool */
}
