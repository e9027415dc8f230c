/* Option parsing shared by the subcommands (see cli_args.h). */
#include "cli/args.h"

#include "run/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mb_cli_fail(const char *command, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mechbench %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int parse_axis(struct mb_cli_parse *c, int axis, const char *value) {
    const struct mb_axis_info *info = &mb_axes[axis];
    double v;
    if (info->kind == MB_BOOL && (!strcmp(value, "true") || !strcmp(value, "yes"))) v = 1;
    else if (info->kind == MB_BOOL && (!strcmp(value, "false") || !strcmp(value, "no"))) v = 0;
    else if (mb_parse_number(value, &v))
        return mb_cli_fail(c->command, 2, "--%s '%s' is not a number", info->name, value);
    if (info->kind != MB_REAL && (v != floor(v) || v < 0 || v > 9.0e15))
        return mb_cli_fail(c->command, 2, "--%s %s: expected a whole number >= 0", info->name, value);
    if (info->kind == MB_BOOL && v > 1)
        return mb_cli_fail(c->command, 2, "--%s %s: expected 0 or 1", info->name, value);
    mb_point_set(c->point, (enum mb_axis)axis, v);
    c->axes_set |= UINT64_C(1) << axis;
    return 0;
}

static int parse_opt(struct mb_cli_parse *c, const struct mb_opt *o, const char *value) {
    double v;
    switch (o->kind) {
    case MB_OPT_FLAG:
        *(int *)o->target = 1;
        return 0;
    case MB_OPT_STRING:
        if (o->repeatable) {
            char err[256];
            if (o->on_repeat(value, o->ctx, err, sizeof err)) return mb_cli_fail(c->command, 2, "%s", err);
        } else {
            *(const char **)o->target = value;
        }
        return 0;
    case MB_OPT_INT:
        if (mb_parse_number(value, &v) || v != floor(v) || v < 0 || v > 9.0e15)
            return mb_cli_fail(c->command, 2, "--%s '%s': expected a whole number >= 0", o->name, value);
        *(int64_t *)o->target = (int64_t)v;
        return 0;
    case MB_OPT_REAL:
        if (mb_parse_number(value, &v) || v < 0)
            return mb_cli_fail(c->command, 2, "--%s '%s': expected a number >= 0", o->name, value);
        *(double *)o->target = v;
        return 0;
    case MB_OPT_BYTES:
        if (mb_parse_bytes(value, &v) || v <= 0)
            return mb_cli_fail(c->command, 2, "--%s '%s': expected a size in bytes such as 512M or 8G", o->name, value);
        if (v > mb_physical_memory()) /* every buffer is zeroed: a budget above RAM ends in the OOM killer */
            return mb_cli_fail(c->command, 2, "--%s %s exceeds this machine's memory (%.1f GiB)", o->name, value,
                               mb_physical_memory() / 1073741824.0);
        *(double *)o->target = v;
        return 0;
    }
    return 0;
}

int mb_cli_same_file(const char *in, const char *out) {
    struct stat a, b;
    return stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int mb_cli_check_out(const char *command, const char *out) {
    struct stat st;
    if (!out[0]) return mb_cli_fail(command, 2, "--out needs a file name");
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return mb_cli_fail(command, 2, "--out %s is a directory: give a file name (%s/NAME)", out, out);
    if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) /* outputs are renamed into place: it would replace a device */
        return mb_cli_fail(command, 2, "--out %s is not a regular file", out);
    return 0;
}

int mb_cli_parse(struct mb_cli_parse *c, int argc, char **argv) {
    c->n_positional = 0;
    c->axes_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 3;
        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            if (c->n_positional == (int)(sizeof c->positional / sizeof c->positional[0]))
                return mb_cli_fail(c->command, 2, "too many arguments (at most 64): '%s'", arg);
            c->positional[c->n_positional++] = arg;
            continue;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '='), *value = NULL;
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len >= sizeof name) return mb_cli_fail(c->command, 2, "unknown option %s", arg);
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        if (eq) value = eq + 1;

        const struct mb_opt *o = NULL;
        for (int j = 0; j < c->n_opts; j++)
            if (!strcmp(c->opts[j].name, name)) o = &c->opts[j];
        int axis = c->point ? mb_axis_lookup(name) : -1;
        if (!o && axis < 0)
            return mb_cli_fail(c->command, 2, "unknown option --%s (see mechbench %s --help)", name, c->command);
        /* a BOOL axis is a flag (--causal) unless a number or a truth word follows: --causal 0, --causal 2 (refused) */
        double next;
        int bool_value = axis >= 0 && mb_axes[axis].kind == MB_BOOL && i + 1 < argc &&
                         (!mb_parse_number(argv[i + 1], &next) || !strcmp(argv[i + 1], "true") ||
                          !strcmp(argv[i + 1], "false") || !strcmp(argv[i + 1], "yes") || !strcmp(argv[i + 1], "no"));
        int is_flag = (o && o->kind == MB_OPT_FLAG) ||
                      (axis >= 0 && mb_axes[axis].kind == MB_BOOL && !value && !bool_value);
        if (is_flag) {
            if (value && o) return mb_cli_fail(c->command, 2, "--%s takes no value", name);
            value = "1";
        } else if (!value) {
            if (i + 1 >= argc) return mb_cli_fail(c->command, 2, "--%s needs a value", name);
            value = argv[++i];
        }
        int rc = o ? parse_opt(c, o, value) : parse_axis(c, axis, value);
        if (rc) return rc;
    }
    return 0;
}
