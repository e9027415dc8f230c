/* The subcommands of `mechbench` (argv[0] is the subcommand name). Each prints its own errors as one line
 * "mechbench CMD: ..." and returns the exit code: 0 ok, 1 failure, 2 usage error, 130 interrupted. */
#ifndef MB_COMMANDS_H
#define MB_COMMANDS_H

int mb_cmd_list(int argc, char **argv);
int mb_cmd_describe(int argc, char **argv);
int mb_cmd_run(int argc, char **argv);
int mb_cmd_eval(int argc, char **argv);
int mb_cmd_sweep(int argc, char **argv);
int mb_cmd_merge(int argc, char **argv);     /* harness/cli/merge.c */
int mb_cmd_claims(int argc, char **argv);   /* harness/cli_claims.c */
int mb_cmd_compare(int argc, char **argv);  /* harness/cli_compare.c */
int mb_cmd_fit(int argc, char **argv);      /* harness/cli_compare.c */
int mb_cmd_machine(int argc, char **argv);  /* harness/cli_machine.c */
int mb_cmd_tool(int argc, char **argv);     /* harness/cli/tool.c: a family's tool, argv[0] its name (`params`) */

/* A sweep's events as `mechbench sweep` shows them (harness/cli/sweep.c), for mb_sweep_opts.on_event with ctx a
   struct mb_cli_sweep_report: progress lines on stderr (not when quiet), the summary table on stdout (when
   table), the resume and final lines on stderr. */
struct mb_sweep_event;
struct mb_cli_sweep_report {
    int quiet;
    int table;
};
void mb_cli_sweep_report(void *ctx, const struct mb_sweep_event *ev);

#endif
