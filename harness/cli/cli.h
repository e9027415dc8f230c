/* Subcommands that read results files. harness/main.c dispatches `mechbench plot ...` and `mechbench export ...`
 * here with argv[0] = "plot" / "export". Errors are one line "mechbench CMD: ..." on stderr; the return value is
 * the exit code: 0 ok, 1 failure, 2 usage error. --help prints usage and returns 0. */
#ifndef MB_CLI_H
#define MB_CLI_H

int mb_cli_plot(int argc, char **argv);
int mb_cli_export(int argc, char **argv);

#endif
