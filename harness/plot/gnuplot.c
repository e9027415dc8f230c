/* The one gnuplot module (see gnuplot.h). */
#include "plot/gnuplot.h"

#include "core/mechbench.h"
#include "store/outfile.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int mb_gnuplot_available(void) {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    char candidate[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(candidate, sizeof candidate, "%.*s/gnuplot", (int)(len ? len : 1), len ? path : ".");
        if (access(candidate, X_OK) == 0) return 1;
        path += len;
        if (*path == ':') path++;
    }
    return 0;
}

int mb_gnuplot_begin(struct mb_gnuplot *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->files = calloc(MB_GNUPLOT_MAX_FIGURES, sizeof *g->files);
    g->script = g->files ? open_memstream(&g->text, &g->len) : NULL;
    if (!g->script) {
        free(g->files);
        g->files = NULL;
        return mb_errorf(err, errlen, "out of memory");
    }
    fputs("set encoding utf8\n", g->script);
    return 0;
}

void mb_gnuplot_data_begin(struct mb_gnuplot *g, const char *name) { fprintf(g->script, "$%s << EOD\n", name); }

void mb_gnuplot_data_end(struct mb_gnuplot *g) { fputs("EOD\n", g->script); }

void mb_gnuplot_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

void mb_gnuplot_value(FILE *f, double v, int log_axis) {
    if (!isfinite(v) || (log_axis && v <= 0)) fputs(" NaN", f);
    else fprintf(f, " %.10g", v);
}

/* "size W,H[ dynamic] noenhanced[ font 'F']" */
static void terminal(FILE *f, const char *name, const struct mb_gnuplot_canvas *c, int dynamic) {
    fprintf(f, "set terminal %s size %d,%d%s noenhanced", name, c->width, c->height, dynamic ? " dynamic" : "");
    if (c->font) {
        fputs(" font ", f);
        mb_gnuplot_quote(f, c->font);
    }
    fputc('\n', f);
}

int mb_gnuplot_figure_begin(struct mb_gnuplot *g, const char *path, const struct mb_gnuplot_canvas *canvas, char *err,
                            size_t errlen) {
    if (g->n_figures == MB_GNUPLOT_MAX_FIGURES)
        return mb_errorf(err, errlen, "more than %d figures in one gnuplot script", MB_GNUPLOT_MAX_FIGURES);
    struct mb_gnuplot_files *fl = &g->files[g->n_figures];
    for (int t = 0; t < 2; t++) {
        if ((size_t)snprintf(fl->out[t], sizeof fl->out[t], "%s.%s", path, t ? "svg" : "png") >= sizeof fl->out[t])
            return mb_errorf(err, errlen, "output path too long: %s", path);
        mb_outfile_temp_name(fl->out[t], fl->temp[t], sizeof fl->temp[t]);
    }
    if (mb_make_parent_dirs(fl->out[0], err, errlen)) return -1;
    terminal(g->script, "pngcairo", canvas, 0);
    fputs("set output ", g->script);
    mb_gnuplot_quote(g->script, fl->temp[0]);
    fputc('\n', g->script);
    /* the SVG terminal, for figure_end */
    g->canvas = *canvas;
    g->n_figures++;
    return 0;
}

void mb_gnuplot_figure_end(struct mb_gnuplot *g) {
    const struct mb_gnuplot_files *fl = &g->files[g->n_figures - 1];
    terminal(g->script, "svg", &g->canvas, 1);
    fputs("set output ", g->script);
    mb_gnuplot_quote(g->script, fl->temp[1]);
    fputs("\nreplot\nunset output\n", g->script);
}

int mb_gnuplot_figure_text(struct mb_gnuplot *g, const char *path, const struct mb_gnuplot_canvas *canvas,
                           const char *commands, char *err, size_t errlen) {
    if (mb_gnuplot_figure_begin(g, path, canvas, err, errlen)) return -1;
    fputs(commands, g->script);
    const struct mb_gnuplot_files *fl = &g->files[g->n_figures - 1];
    terminal(g->script, "svg", canvas, 1);
    fputs("set output ", g->script);
    mb_gnuplot_quote(g->script, fl->temp[1]);
    fputc('\n', g->script);
    fputs(commands, g->script);
    fputs("unset output\n", g->script);
    return 0;
}

const char *mb_gnuplot_output(const struct mb_gnuplot *g, int figure, int svg) { return g->files[figure].out[svg != 0]; }

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

static int empty_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && st.st_size == 0;
}

static void remove_temps(const struct mb_gnuplot *g) {
    for (int i = 0; i < g->n_figures; i++) unlink(g->files[i].temp[0]), unlink(g->files[i].temp[1]);
}

int mb_gnuplot_run(struct mb_gnuplot *g, char *err, size_t errlen) {
    if (!g->script) return mb_errorf(err, errlen, "no gnuplot script to run");
    int closed = fclose(g->script);
    g->script = NULL;
    if (closed != 0) return mb_errorf(err, errlen, "out of memory");

    char errpath[] = "/tmp/mechbench-gnuplot-XXXXXX";
    int fd = mkstemp(errpath);
    if (fd < 0) return mb_errorf(err, errlen, "cannot create a temporary file: %s", strerror(errno));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "gnuplot >/dev/null 2>%s", errpath);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN); /* gnuplot dying early must not kill us */
    FILE *gp = popen(cmd, "w");
    int popen_errno = errno, status = -1;
    if (gp) {
        fwrite(g->text, 1, g->len, gp);
        status = pclose(gp);
    }
    signal(SIGPIPE, old_pipe);
    free(g->text);
    g->text = NULL;

    char why[512];
    last_line(errpath, why, sizeof why);
    unlink(errpath);
    if (status != 0) {
        remove_temps(g);
        if (!gp) return mb_errorf(err, errlen, "cannot run gnuplot: %s", strerror(popen_errno));
        return mb_errorf(err, errlen, "gnuplot failed (%s)",
                         why[0]                ? why
                         : WIFEXITED(status) ? "exit status"
                                               : "killed");
    }
    for (int i = 0; i < g->n_figures; i++)
        for (int t = 0; t < 2; t++)
            if (access(g->files[i].temp[t], R_OK) != 0) {
                remove_temps(g);
                return mb_errorf(err, errlen, "gnuplot did not write %s%s%s", g->files[i].out[t], why[0] ? ": " : "",
                                 why);
            } else if (empty_file(g->files[i].temp[t])) { /* a full disk: cairo writes nothing, gnuplot exits 0 */
                remove_temps(g);
                return mb_errorf(err, errlen, "gnuplot wrote an empty %s (is the disk full?)%s%s", g->files[i].out[t],
                                 why[0] ? ": " : "", why);
            }
    for (int i = 0; i < g->n_figures; i++)
        for (int t = 0; t < 2; t++)
            if (rename(g->files[i].temp[t], g->files[i].out[t]) != 0) {
                int e = errno;
                remove_temps(g);
                return mb_errorf(err, errlen, "cannot write %s: %s", g->files[i].out[t], strerror(e));
            }
    return 0;
}

void mb_gnuplot_free(struct mb_gnuplot *g) {
    if (g->script) fclose(g->script);
    g->script = NULL;
    free(g->text);
    g->text = NULL;
    free(g->files);
    g->files = NULL;
}
