/* mechbench: one binary, one subcommand per job (DESIGN.md "CLI"). */
#include "cli/cli.h"
#include "cli/commands.h"
#include "store/store.h"
#include "core/isa.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mechbench.h"

/* A contract violation (a bug) aborts in the library with its message kept; print it on the way out. */
static void on_abort(int sig) {
    (void)sig;
    size_t len = strnlen(mb_contract_message, sizeof mb_contract_message);
    if (len && write(STDERR_FILENO, "mechbench: ", 11) > 0 && write(STDERR_FILENO, mb_contract_message, len) > 0)
        (void)!write(STDERR_FILENO, "\n", 1);
}

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"list", mb_cmd_list, "list [--family F]                      kernels: family, axes, exact/approx, complexity"},
    {"describe", mb_cmd_describe, "describe KERNEL                        math, axes, inputs/outputs, models, source"},
    {"run", mb_cmd_run, "run KERNEL [--n N --d D ... --json]     measure one point, print it"},
    {"sweep", mb_cmd_sweep, "sweep EXP.ini [--out F.h5] [--resume|--force] [--max-mem B] [--budget S] [--shard i/N]"},
    {"merge", mb_cmd_merge, "merge A.h5 B.h5 ... --out ALL.h5         join shards of one experiment into one file"},
    {"eval", mb_cmd_eval, "eval KERNEL --in IN.h5 --out OUT.h5    run a kernel on your tensors (PyTorch layout)"},
    {"plot", mb_cli_plot, "plot F.h5 [--x n --y time|gflops|error|memory|all] [--out PREFIX]"},
    {"export", mb_cli_export, "export F.h5 --format tsv|csv|json [--out FILE]"},
    {"claims", mb_cmd_claims, "claims [ID...] [--force] [--list]        reproduce paper claims: measured vs paper, verdicts"},
    {"compare", mb_cmd_compare, "compare A.h5 B.h5 [--threshold 0.05]    per-point ratios, Mann-Whitney U, regression exit code"},
    {"fit", mb_cmd_fit, "fit F.h5 [--select aic|cv] [--all]      complexity fit c0 + c1 n + c2 n log n + c3 n^2"},
    {"machine", mb_cmd_machine, "machine                                 FMA peak, sgemm, STREAM bandwidth, exp (roofline)"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

/* The families' tools are subcommands too (mechbench.h "tools"): each listed with its usage's first line. */
static void usage(FILE *f) {
    fprintf(f, "mechbench: benchmark and research harness for sequence-model mechanisms\n\nusage:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  mechbench %s\n", commands[i].usage);
    for (int fam = 0; fam < mb_n_families; fam++)
        for (int i = 0; i < mb_families[fam]->n_tools; i++) {
            const struct mb_tool *t = &mb_families[fam]->tools[i];
            fprintf(f, "  mechbench %.*s\n              %s\n", (int)strcspn(t->usage, "\n"), t->usage, t->summary);
        }
    fprintf(f, "\n`mechbench COMMAND --help` for details.\n");
}

int main(int argc, char **argv) {
    signal(SIGABRT, on_abort);
    mb_store_library_init();
    if (mb_isa_error()) { /* MB_ISA names an unknown ISA or one this CPU lacks (core/isa.h) */
        fprintf(stderr, "mechbench: %s\n", mb_isa_error());
        return 2;
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; argc >= 2 && i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    if (argc >= 2 && mb_tool_find(argv[1])) return mb_cmd_tool(argc - 1, argv + 1);
    char names[512];
    size_t used = 0;
    for (int i = 0; i < N_COMMANDS && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", commands[i].name);
    for (int fam = 0; fam < mb_n_families && used < sizeof names; fam++)
        for (int i = 0; i < mb_families[fam]->n_tools && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, ", %s", mb_families[fam]->tools[i].name);
    if (argc < 2) fprintf(stderr, "mechbench: no command given (commands: %s; `mechbench --help` for usage)\n", names);
    else fprintf(stderr, "mechbench: unknown command '%s' (commands: %s)\n", argv[1], names);
    return 2;
}
