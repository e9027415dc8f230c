/* Subcommands about kernels: list, describe, run (one point, printed), eval (a kernel on the user's tensors). */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/row_schema.h"
#include "run/runner.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void format_axes(uint64_t mask, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < MB_AXIS_COUNT && used < len; a++)
        if (mask & (UINT64_C(1) << a)) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", mb_axes[a].name);
            if (w > 0) used += (size_t)w;
        }
}

/* Markdown table text: '|' escaped. */
static void md(const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') putchar('\\');
        putchar(*s);
    }
}

/* The README's kernel table (`make readme` writes it between the README's markers; a test compares them). */
static void print_markdown(const struct mb_kernel *const *ks, int n) {
    printf("| kernel | mechanism (its oracle) | implementation | complexity | rank axis | parameters |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const struct mb_kernel *k = ks[i];
        const struct mb_mechanism *m = mb_family_mechanism(k->family, k->mechanism);
        printf("| `%s`", k->name);
        if (k->aliases) printf(" (alias `%s`)", k->aliases);
        printf(" | ");
        md(m ? m->formula : k->mechanism);
        if (k->approximates) printf(" (approximates %s)", k->approximates);
        else printf(" (exact)");
        printf(" | ");
        md(k->summary);
        printf(" | ");
        md(k->complexity);
        printf(" | ");
        md(k->rank_meaning ? k->rank_meaning : "none");
        printf(" | ");
        for (int j = 0; j < k->n_params; j++) printf("%s`%s`", j ? ", " : "", k->params[j].name);
        if (!k->n_params) printf("-");
        printf(" |\n");
    }
}

int mb_cmd_list(int argc, char **argv) {
    const char *family = NULL;
    int markdown = 0;
    const struct mb_opt opts[] = {MB_OPT("family", MB_OPT_STRING, &family), MB_OPT("markdown", MB_OPT_FLAG, &markdown)};
    struct mb_cli_parse c = {.command = "list", .opts = opts, .n_opts = 2};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench list [--family F] [--markdown]\n  Every registered kernel: family, exact or "
               "approximation, axes read, rank meaning, complexity.\n  --markdown: the README's kernel table "
               "(family parameters are listed by describe).\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional) return mb_cli_fail("list", 2, "unexpected argument '%s'", c.positional[0]);
    size_t flen = family ? strlen(family) : 0;
    int known = 0; /* a family or a prefix of family names: "ssm" lists ssm.mamba, ssm.s4 ... */
    for (int i = 0; family && i < mb_n_families; i++)
        known |= !strcmp(mb_families[i]->name, family) ||
                 (!strncmp(mb_families[i]->name, family, flen) && mb_families[i]->name[flen] == '.');
    if (family && !known) {
        char names[256] = "";
        for (int i = 0; i < mb_n_families; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", mb_families[i]->name);
        return mb_cli_fail("list", 2, "unknown family '%s' (families: %s)", family, names);
    }
    const struct mb_kernel *selected[1024];
    int n_selected = 0;
    for (int i = 0; i < mb_n_kernels && n_selected < 1024; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (!family || !strcmp(k->family->name, family) ||
            (!strncmp(k->family->name, family, flen) && k->family->name[flen] == '.'))
            selected[n_selected++] = k;
    }
    if (markdown) {
        print_markdown(selected, n_selected);
        return 0;
    }
    printf("%-28s %-10s %-18s %-32s %-18s %s\n", "kernel", "family", "kind", "axes", "rank", "complexity");
    for (int i = 0; i < n_selected; i++) {
        const struct mb_kernel *k = selected[i];
        char kind[64], axes[128];
        if (k->approximates) snprintf(kind, sizeof kind, "approx(%s)", k->approximates);
        else snprintf(kind, sizeof kind, "exact");
        format_axes(k->axes, axes, sizeof axes);
        printf("%-28s %-10s %-18s %-32s %-18.18s %s\n", k->name, k->family->name, kind, axes,
               k->rank_meaning ? k->rank_meaning : "-", k->complexity);
        if (k->aliases) printf("%-28s alias of %s\n", k->aliases, k->name);
    }
    return 0;
}

static const struct mb_kernel *find_kernel(const char *command, const char *name) {
    const struct mb_kernel *k = mb_kernel_find(name);
    if (!k) mb_cli_fail(command, 2, "unknown kernel '%s' (see mechbench list)", name);
    return k;
}

static void print_tensor(const char *role, const struct mb_tensor *t) {
    printf("  %-6s %-6s (%s) = (", role, t->name, t->dims);
    for (int i = 0; i < t->ndim; i++) printf("%s%lld", i ? ", " : "", (long long)t->shape[i]);
    printf(") float32\n");
}

int mb_cmd_describe(int argc, char **argv) {
    struct mb_cli_parse c = {.command = "describe"};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench describe KERNEL\n  Math, axes, inputs and outputs (names, shapes), models, source.\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional != 1) return mb_cli_fail("describe", 2, "expected one kernel name (see mechbench list)");
    const struct mb_kernel *k = find_kernel("describe", c.positional[0]);
    if (!k) return 2;
    const struct mb_family *f = k->family;
    const struct mb_mechanism *m = mb_family_mechanism(f, k->mechanism);
    printf("%s\n  %s\n\n", k->name, k->summary);
    if (k->aliases) printf("aliases      %s (the same kernel, measured once under %s)\n", k->aliases, k->name);
    printf("family       %s: %s\n", f->name, f->summary);
    printf("mechanism    %s: %s\n", k->mechanism, m ? m->formula : "?");
    if (k->approximates) {
        const struct mb_mechanism *e = mb_family_mechanism(f, k->approximates);
        printf("approximates %s: %s\n", k->approximates, e ? e->formula : "?");
    } else {
        printf("exact        yes (checked against the double-precision oracle of %s)\n", k->mechanism);
    }
    printf("complexity   %s\n", k->complexity);
    printf("tolerance    rel_l2 <= %g vs its own oracle\n", k->tolerance > 0 ? k->tolerance : (m ? m->tolerance : 0));
    printf("rank         %s\n", k->rank_meaning ? k->rank_meaning : "not read");
    printf("source       %s (hash %s)\n", k->source, k->source_hash);
    printf("isa          %s copy (the best this CPU runs; MB_ISA=portable|avx2|avx512 caps it)\n", mb_isa_name());
    printf("\naxes (default, allowed range):\n");
    struct mb_point p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < f->n_axes; i++) {
        const struct mb_axis_rule *r = &f->axes[i];
        if (!(k->axes & (UINT64_C(1) << r->axis))) continue;
        printf("  --%-12s %-8g %g..%g  %s\n", mb_axes[r->axis].name, r->def, r->min, r->max,
               r->axis == MB_AXIS_n && k->family->n_meaning ? k->family->n_meaning : mb_axes[r->axis].help);
    }
    printf("  --%-12s %-8d %d..%d  %s\n", "threads", 1, 1, 1024, mb_axes[MB_AXIS_threads].help);
    const struct mb_param_decl *lists[2] = {f->params, k->params};
    const int counts[2] = {f->n_params, k->n_params};
    printf("\nparameters (--param key=value; stored normalised in params):\n");
    if (!counts[0] && !counts[1]) printf("  none\n");
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            char line[512];
            mb_param_describe(&lists[l][i], line, sizeof line);
            printf("  %s\n", line);
        }
    mb_point_complete(k, &p, 0);
    struct mb_workload w = {.family = f, .point = p};
    char err[256];
    if (f->layout(&w, err, sizeof err) == 0) {
        char point[160];
        mb_point_format(&p, k->axes, point, sizeof point);
        printf("\ntensors at the default point (%s), PyTorch layout:\n", point);
        for (int i = 0; i < w.n_inputs; i++) print_tensor("input", &w.inputs[i]);
        for (int i = 0; i < w.n_outputs; i++) print_tensor("output", &w.outputs[i]);
        printf("\nmodels at that point: %.4g FLOP, %.4g bytes moved, %.4g bytes of workspace\n", mb_kernel_flops(k, &p),
               mb_kernel_bytes(k, &p), mb_kernel_workspace(k, &p));
    }
    return 0;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* Peak resident memory of the work between rss_mark and rss_peak (Linux): writing "5" to /proc/self/clear_refs resets
   the high-water mark VmHWM to the current VmRSS, so VmHWM afterwards minus VmRSS at the mark is the peak increase.
   Every buffer is zeroed (mb_alloc), so this is what the workload and the kernel really hold, models aside. */
static double status_bytes(const char *key) { /* a "Vm...: N kB" line of /proc/self/status, or -1 */
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    const size_t len = strlen(key);
    while (v < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, key, len) && line[len] == ':') v = 1024.0 * strtod(line + len + 1, NULL);
    fclose(f);
    return v;
}

static double rss_mark(void) { /* the current RSS with the high-water mark reset to it, or -1 */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    const int ok = fputs("5", f) >= 0;
    if (fclose(f) || !ok) return -1;
    return status_bytes("VmRSS");
}

static double rss_peak(double mark) { return mark < 0 ? NAN : status_bytes("VmHWM") - mark; }

/* The row as one JSON object with the /points columns (row_schema.h), plus the repetition samples and the measured
   peak RSS increase (not a column: `run` measures it, a sweep does not). */
static void print_row_json(FILE *f, const struct mb_row *r, double peak_rss) {
    char buf[MB_MESSAGE_LEN + MB_PARAMS_LEN];
    fputc('{', f);
    for (int i = 0; i < mb_row_column_count(); i++) {
        const struct mb_column c = mb_row_column(i);
        mb_row_cell(r, &c, buf, sizeof buf);
        fprintf(f, "%s\"%s\": ", i ? ", " : "", c.name);
        if (c.type == MB_COL_STR || c.type == MB_COL_VERDICT) json_string(f, buf);
        else if (c.type == MB_COL_F64 && !isfinite(*(const double *)((const char *)r + c.offset))) fputs("null", f);
        else fputs(buf, f);
    }
    fprintf(f, ", \"samples\": [");
    for (int i = 0; i < r->n_samples; i++) fprintf(f, "%s%.9g", i ? ", " : "", r->samples[i]);
    fprintf(f, "], \"peak_rss_bytes\": ");
    if (isfinite(peak_rss)) fprintf(f, "%.0f}\n", peak_rss);
    else fprintf(f, "null}\n");
}

static void print_row_text(const struct mb_row *r, const struct mb_kernel *k, double peak_rss) {
    char point[200];
    mb_point_format(&r->point, k->axes | MB_AXIS_BIT(threads), point, sizeof point);
    printf("%s  %s\n", r->kernel, point);
    printf("  time      median %.6g ms  (mean %.6g, min %.6g, max %.6g, cv %.1f%%; %lld reps x %lld iters)\n",
           r->time_median * 1e3, r->time_mean * 1e3, r->time_min * 1e3, r->time_max * 1e3, 100 * r->time_cv,
           (long long)r->repetitions, (long long)r->iterations);
    printf("  speed     %.2f GFLOP/s  %.2f GB/s  (models: %.4g FLOP, %.4g bytes)\n", r->gflops, r->gbps, r->flops,
           r->bytes);
    if (r->items_unit[0])
        printf("  items     %.4g %s/s  (model: %.4g %s per run)\n", r->items_per_second, r->items_unit, r->items,
               r->items_unit);
    printf("  memory    %.4g MB workspace, %.4g MB inputs+outputs (models); measured peak RSS +%.4g MB\n",
           r->workspace_bytes / 1e6, r->input_bytes / 1e6, peak_rss / 1e6);
    printf("  error     rel_l2 %.3e  max_abs %.3e  vs own oracle (%s, %lld values checked, tolerance %.1e)\n",
           r->own.rel_l2, r->own.max_abs, k->mechanism, (long long)r->own.checked, r->tolerance);
    if (k->approximates)
        printf("            rel_l2 %.3e  max_abs %.3e  vs exact %s\n", r->exact.rel_l2, r->exact.max_abs,
               k->approximates);
    printf("  verdict   %s%s%s\n", mb_verdict_names[r->verdict], r->message[0] ? ": " : "", r->message);
}

/* --param key=value: collected as text; split_params sorts them into axes and declared parameters. */
static int add_param(const char *value, void *ctx, char *err, size_t errlen) {
    struct mb_point *p = ctx;
    if (!strchr(value, '=')) return mb_errorf(err, errlen, "--param '%s': expected key=value", value);
    size_t used = strlen(p->params);
    if (used + strlen(value) + 2 > sizeof p->params)
        return mb_errorf(err, errlen, "--param '%.40s%s': the parameters are longer than %d characters in all", value,
                         strlen(value) > 40 ? "..." : "", MB_PARAMS_LEN - 1);
    snprintf(p->params + used, sizeof p->params - used, "%s%s", used ? ";" : "", value);
    return 0;
}

/* --param keys that k declares are parameters; other keys naming an axis set that axis (--param causal=1). Then
   the parameters are parsed strictly. Returns 0 or -1 with a message. */
static int split_params(const struct mb_kernel *k, struct mb_point *p, uint64_t *axes_set, char *err, size_t errlen) {
    char given[MB_PARAMS_LEN], rest[MB_PARAMS_LEN] = "";
    snprintf(given, sizeof given, "%s", p->params);
    size_t used = 0;
    for (char *item = strtok(given, ";"); item; item = strtok(NULL, ";")) {
        char *eq = strchr(item, '=');
        *eq = '\0';
        const char *value = eq + 1;
        int axis = mb_axis_lookup(item);
        if (!mb_param_decl_of(k, item) && axis >= 0) {
            double v;
            if (mb_parse_number(value, &v))
                return mb_errorf(err, errlen, "--param %s: '%s' is not a number", item, value);
            mb_point_set(p, (enum mb_axis)axis, v);
            *axes_set |= UINT64_C(1) << axis;
            continue;
        }
        used += (size_t)snprintf(rest + used, sizeof rest - used, "%s%s=%s", used ? ";" : "", item, value);
    }
    return mb_params_parse(k, rest, 0, p, err, errlen);
}

int mb_cmd_run(int argc, char **argv) {
    struct mb_run_opts o;
    mb_run_opts_default(&o);
    int64_t reps = o.repetitions, seed = (int64_t)o.seed, check_rows = o.check_rows;
    int json = 0;
    struct mb_point p;
    memset(&p, 0, sizeof p);
    const struct mb_opt opts[] = {
        MB_OPT("reps", MB_OPT_INT, &reps),      MB_OPT("min-time", MB_OPT_REAL, &o.min_time), MB_OPT("seed", MB_OPT_INT, &seed),
        MB_OPT("check-rows", MB_OPT_INT, &check_rows), MB_OPT("max-mem", MB_OPT_BYTES, &o.max_mem), MB_OPT("json", MB_OPT_FLAG, &json),
        MB_OPT_REPEAT("param", add_param, &p),
    };
    struct mb_cli_parse c = {.command = "run", .opts = opts, .n_opts = 7, .point = &p};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench run KERNEL [--n N --d D --heads H --batch B --rank R --causal --threads T ...]\n"
               "                     [--reps 5] [--min-time 0.05] [--seed 42] [--check-rows 256] [--max-mem 12G]\n"
               "                     [--param key=value]... [--json]\n"
               "  Measure one point: time (Google Benchmark), GFLOP/s, GB/s, error vs the oracle.\n"
               "  Axes not given take the family defaults (mechbench describe KERNEL). --json prints the full row.\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional != 1) return mb_cli_fail("run", 2, "expected one kernel name (see mechbench list)");
    const struct mb_kernel *k = find_kernel("run", c.positional[0]);
    if (!k) return 2;
    if (reps < 1 || reps > 1000) return mb_cli_fail("run", 2, "--reps %lld is out of range (1..1000)", (long long)reps);
    if (o.min_time <= 0 || o.min_time > 60)
        return mb_cli_fail("run", 2, "--min-time %g is out of range (0 < s <= 60)", o.min_time);
    o.repetitions = (int)reps;
    o.seed = (uint64_t)seed;
    o.check_rows = check_rows;
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if ((c.axes_set & (UINT64_C(1) << a)) && a != MB_AXIS_threads && !(k->axes & (UINT64_C(1) << a)))
            return mb_cli_fail("run", 2, "%s does not read axis %s (it reads: see mechbench describe %s)", k->name,
                               mb_axes[a].name, k->name);
    char err[256];
    if (split_params(k, &p, &c.axes_set, err, sizeof err)) return mb_cli_fail("run", 2, "%s", err);
    mb_point_complete(k, &p, c.axes_set);

    struct mb_row row;
    mb_row_init(&row, k, &p);
    rc = mb_row_admit(&row, k, &o, err, sizeof err);
    if (rc < 0) return mb_cli_fail("run", 2, "%s", err);
    if (rc > 0) return mb_cli_fail("run", 1, "%s at this point: %s", mb_verdict_names[row.verdict], row.message);
    double *samples = calloc((size_t)o.repetitions, sizeof *samples);
    if (!samples) return mb_cli_fail("run", 1, "out of memory");
    /* the peak covers workload creation, setup, the timed runs, teardown and the oracle checks */
    const double mark = rss_mark();
    struct mb_workload w;
    if (mb_workload_create(&w, k->family, &p, o.seed, err, sizeof err)) {
        free(samples);
        return mb_cli_fail("run", 1, "%s", err);
    }
    mb_measure(&row, k, &w, &o, samples);
    const double peak_rss = rss_peak(mark);
    mb_workload_free(&w);
    if (json) print_row_json(stdout, &row, peak_rss);
    else print_row_text(&row, k, peak_rss);
    free(samples);
    if (row.verdict == MB_ERROR) return mb_cli_fail("run", 1, "%s", row.message);
    return row.verdict == MB_PASS ? 0 : 1;
}

int mb_cmd_eval(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int allow_nonfinite = 0;
    struct mb_point p;
    memset(&p, 0, sizeof p);
    struct mb_run_opts limits;
    mb_run_opts_default(&limits);
    const struct mb_opt opts[] = {MB_OPT("in", MB_OPT_STRING, &in), MB_OPT("out", MB_OPT_STRING, &out),
                                  MB_OPT_REPEAT("param", add_param, &p),
                                  MB_OPT("allow-nonfinite", MB_OPT_FLAG, &allow_nonfinite),
                                  MB_OPT("max-mem", MB_OPT_BYTES, &limits.max_mem)};
    struct mb_cli_parse c = {.command = "eval", .opts = opts, .n_opts = 5, .point = &p};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench eval KERNEL --in IN.h5 --out OUT.h5 [--param key=value]... [--AXIS value]\n"
               "  Run KERNEL once on float32 tensors read from IN.h5 (PyTorch layouts and names; attention: q, k, v\n"
               "  of shape (batch, heads, n, d)) and write its outputs (attention: out) to OUT.h5.\n"
               "  Axes the shapes do not fix come from --param (e.g. --param causal=1) or --AXIS options.\n"
               "  Inputs holding NaN or Inf are refused unless --allow-nonfinite; inputs larger than --max-mem\n"
               "  (default: run's) are refused before anything is read.\n");
        return 0;
    }
    if (rc) return rc;
    if (c.n_positional != 1) return mb_cli_fail("eval", 2, "expected one kernel name (see mechbench list)");
    if (!in || !out) return mb_cli_fail("eval", 2, "--in and --out are required");
    if ((rc = mb_cli_check_out("eval", out))) return rc;
    if (mb_cli_same_file(in, out))
        return mb_cli_fail("eval", 2, "--out %s is the input file itself: write the outputs to another file", out);
    const struct mb_kernel *k = find_kernel("eval", c.positional[0]);
    if (!k) return 2;

    char err[512];
    uint64_t axes_set = c.axes_set;
    if (split_params(k, &p, &axes_set, err, sizeof err)) return mb_cli_fail("eval", 2, "%s", err);
    struct mb_workload w;
    memset(&w, 0, sizeof w);
    w.family = k->family;
    w.point = p;
    mb_point_complete(k, &w.point, 0);
    if (k->family->choose_inputs) { /* the family picks among the namings it accepts from what the file holds */
        char present[512];
        if (mb_h5_root_names(in, present, sizeof present, err, sizeof err)) return mb_cli_fail("eval", 1, "%s", err);
        if (k->family->choose_inputs(&w, present, err, sizeof err)) return mb_cli_fail("eval", 2, "%s", err);
        if (!w.point.n_values && mb_params_parse(k, w.point.params, 0, &w.point, err, sizeof err))
            return mb_cli_fail("eval", 2, "%s", err);
    }
    if (k->family->layout(&w, err, sizeof err)) return mb_cli_fail("eval", 2, "%s", err);
    double input_bytes = 0; /* the shapes first: nothing is allocated for a file that declares too much */
    for (int i = 0; i < w.n_inputs; i++) {
        struct mb_tensor shape = {.name = w.inputs[i].name};
        if (mb_h5_tensor_shape(in, &shape, err, sizeof err)) return mb_cli_fail("eval", 1, "%s", err);
        input_bytes += 4.0 * (double)mb_tensor_numel(&shape);
    }
    if (input_bytes > limits.max_mem)
        return mb_cli_fail("eval", 1, "%s: the inputs hold %.3g bytes as float32, more than --max-mem %.3g", in,
                           input_bytes, limits.max_mem);
    for (int i = 0; i < w.n_inputs; i++) {
        w.inputs[i].data = NULL;
        int64_t first = -1, bad = 0;
        if (mb_h5_read_tensor(in, &w.inputs[i], err, sizeof err) ||
            (!allow_nonfinite && (bad = mb_tensor_count_nonfinite(&w.inputs[i], &first)) > 0)) {
            if (bad)
                snprintf(err, sizeof err, "%s: '%s' holds %lld NaN or Inf values (the first at element %lld); "
                         "--allow-nonfinite runs anyway", in, w.inputs[i].name, (long long)bad, (long long)first);
            mb_workload_free(&w);
            return mb_cli_fail("eval", 1, "%s", err);
        }
    }
    rc = k->family->point_from_inputs(&w, err, sizeof err);
    /* a size given on the command line must agree with the shapes (real axes such as alpha are not sizes: a dataset
       may override them, as LoRA's `scaling` does --alpha) */
    for (int a = 0; !rc && a < MB_AXIS_COUNT; a++)
        if ((c.axes_set & (UINT64_C(1) << a)) && mb_axes[a].kind == MB_INT &&
            mb_point_get(&w.point, a) != mb_point_get(&p, a)) {
            mb_workload_free(&w);
            return mb_cli_fail("eval", 2, "--%s %g contradicts the inputs in %s (their shapes give %s = %g)",
                               mb_axes[a].name, mb_point_get(&p, a), in, mb_axes[a].name, mb_point_get(&w.point, a));
        }
    if (!rc && !w.point.n_values) rc = mb_params_parse(k, w.point.params, 0, &w.point, err, sizeof err);
    struct mb_row row;
    if (!rc) {
        mb_row_init(&row, k, &w.point);
        rc = mb_row_admit(&row, k, &limits, err, sizeof err);
        if (rc > 0) snprintf(err, sizeof err, "%s: %s", mb_verdict_names[row.verdict], row.message);
    }
    if (!rc) rc = mb_workload_alloc(&w, err, sizeof err);
    if (!rc) rc = mb_run_once(k, &w, err, sizeof err);
    if (!rc) {
        char attrs[512], point[200];
        mb_point_format(&w.point, k->axes, point, sizeof point);
        snprintf(attrs, sizeof attrs, "kernel=%s\npoint=%s\nsource_hash=%s\n", k->name, point, k->source_hash);
        rc = mb_h5_write_tensors(out, w.outputs, w.n_outputs, attrs, err, sizeof err);
    }
    mb_workload_free(&w);
    if (rc) return mb_cli_fail("eval", 1, "%s", err);
    return 0;
}
