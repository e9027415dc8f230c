/* mechbench merge A.h5 B.h5 ... --out ALL.h5: join the shards of one experiment (harness/store/merge.c). */
#include "cli/args.h"
#include "cli/commands.h"
#include "store/merge.h"

#include <stdio.h>

int mb_cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int force = 0;
    const struct mb_opt opts[] = {MB_OPT("out", MB_OPT_STRING, &out), MB_OPT("force", MB_OPT_FLAG, &force)};
    struct mb_cli_parse c = {.command = "merge", .opts = opts, .n_opts = 2};
    int rc = mb_cli_parse(&c, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench merge A.h5 B.h5 ... --out ALL.h5 [--force]\n"
               "  Join results files of one experiment (the shards of `sweep --shard i/N`, or MPI runs) into one.\n"
               "  Refused: files of different experiments (name, .ini text or seed) and a (kernel, point) present in\n"
               "  two files. Every file's provenance is kept under /shards/I and its hosts under /hosts; samples\n"
               "  follow their rows. ALL.h5 appears only when complete.\n"
               "  --out    the merged file (required)\n"
               "  --force  replace an existing --out\n");
        return 0;
    }
    if (rc) return rc;
    if (!out) return mb_cli_fail("merge", 2, "--out ALL.h5 is required");
    if (c.n_positional < 1) return mb_cli_fail("merge", 2, "expected one or more results files to merge");
    for (int i = 0; i < c.n_positional; i++)
        if (mb_cli_same_file(c.positional[i], out))
            return mb_cli_fail("merge", 2, "--out %s is the input %s (write the merge to a new file)", out,
                               c.positional[i]);
    struct mb_merge_report rep;
    char err[1024];
    if (mb_merge(c.positional, c.n_positional, out, force, &rep, err, sizeof err)) return mb_cli_fail("merge", 1, "%s", err);
    fprintf(stderr, "merged %d files: %lld rows, %lld samples -> %s\n", rep.inputs, (long long)rep.rows,
            (long long)rep.samples, out);
    return 0;
}
