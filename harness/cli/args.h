/* Shared option parsing for the subcommands: `--name value`, `--name=value`, flags, and one `--AXIS value`
 * option per axis of harness/axes.def. Errors are one line naming the bad value and what is allowed. */
#ifndef MB_CLI_ARGS_H
#define MB_CLI_ARGS_H

#include "core/mechbench.h"

enum mb_opt_kind { MB_OPT_FLAG, MB_OPT_STRING, MB_OPT_INT, MB_OPT_REAL, MB_OPT_BYTES };

struct mb_opt {
    const char *name;        /* without the leading -- */
    enum mb_opt_kind kind;
    void *target;            /* int* (flag), const char** (string), int64_t*, double* (real, bytes) */
    int repeatable;          /* strings only: each occurrence is passed to on_repeat */
    int (*on_repeat)(const char *value, void *ctx, char *err, size_t errlen);
    void *ctx;
};

#define MB_OPT(name_, kind_, target_) {.name = (name_), .kind = (kind_), .target = (target_)}
#define MB_OPT_REPEAT(name_, fn_, ctx_) \
    {.name = (name_), .kind = MB_OPT_STRING, .repeatable = 1, .on_repeat = (fn_), .ctx = (ctx_)}

struct mb_cli_parse {
    const char *command;          /* for messages */
    const struct mb_opt *opts; int n_opts;
    struct mb_point *point;       /* NULL: no axis options */
    uint64_t axes_set;            /* out: axes given on the command line */
    const char *positional[64]; int n_positional; /* out */
};

/* Returns 0, 2 on a usage error (message printed as "mechbench CMD: ..."), or 3 when --help was asked. */
int mb_cli_parse(struct mb_cli_parse *c, int argc, char **argv);
/* "mechbench CMD: message" on stderr; returns code. */
int mb_cli_fail(const char *command, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 1 when out names an existing file that is the same file as in (same device and inode: any spelling, links). */
int mb_cli_same_file(const char *in, const char *out);
/* An output file name must be a name: refuses "", an existing directory and an existing non-regular file (a device:
   outputs are renamed into place). Returns 0 or 2 (message printed). */
int mb_cli_check_out(const char *command, const char *out);

#endif
